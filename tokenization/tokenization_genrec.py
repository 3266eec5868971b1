"""GenRec tokenizer: user/item histories as text, with the per-token user and item ids of the paper.

A history ``[B004756YJA, B0020YLEYK]`` of user ``A1YJEY40YUW4SE`` becomes the text
``user_7 item_5 item_77 [MASK]`` (the numbers are the model's catalogue indices), tokenized as
``[BEG] ▁user _ 7 ▁item _ 5 ▁item _ 77 [MASK] [END]``. Beside ``input_ids`` the tokenizer returns, per
token, ``user_ids`` and ``item_ids``: every sub-token of ``item_5`` carries item id 5, every sub-token of
the user word carries the user id, every other token 0 (paper section 4.1, UID(j)/TID(j)).

Hub-portable: imports only tokenizers/transformers and never the modeling code.
"""

from __future__ import annotations

import copy
import json
import numbers
import os
from collections.abc import Iterable, Sequence
from typing import Any

from tokenizers import AddedToken, Regex, Tokenizer, decoders, pre_tokenizers, processors
from tokenizers.models import WordLevel
from transformers import BatchEncoding, PreTrainedTokenizerFast

ID_MAP_FILE = "genrec_id_map.json"
UNKNOWN_ID_POLICIES = ("error", "unk", "skip")
LABEL_PAD = -100
RawId = str | int


def raw_id_key(raw: Any) -> str:
    """The lookup key of a raw user/item identifier: strings as they are, integers as decimal strings.

    Integers and their decimal strings name the same id (``5`` and ``"5"``), so a catalogue read from a
    text file answers to either. Anything else (floats, None, bools, lists) is an error, not a guess.
    """
    if isinstance(raw, str):
        if not raw:
            raise ValueError("raw ids must be non-empty strings or integers, got an empty string")
        return raw
    if isinstance(raw, numbers.Integral) and not isinstance(raw, bool):
        return str(int(raw))
    raise ValueError(f"raw ids must be strings or integers, got {type(raw).__name__} {raw!r}")


def _plain(raw: Any) -> RawId:
    """A JSON-friendly copy of a raw id (numpy integers become Python ints)."""
    return raw if isinstance(raw, str) else int(raw)


class Catalogue:
    """A bijection between raw identifiers and the model's 1-based integer ids (0 = none)."""

    def __init__(self, raw_ids: Iterable[Any], kind: str):
        self.kind = kind
        self.raw_ids: list[RawId] = [_plain(r) for r in raw_ids]
        self.index: dict[str, int] = {}
        for position, raw in enumerate(self.raw_ids, start=1):
            key = raw_id_key(raw)
            if key in self.index:
                raise ValueError(f"duplicate {kind} id {raw!r} in the catalogue (positions {self.index[key]} and "
                                 f"{position})")
            self.index[key] = position

    def __len__(self) -> int:
        return len(self.raw_ids)

    def to_id(self, raw: Any) -> int | None:
        """The model id of ``raw``, or None if it is not in the catalogue."""
        return self.index.get(raw_id_key(raw))

    def to_raw(self, model_id: int) -> RawId:
        if not 1 <= model_id <= len(self.raw_ids):
            raise KeyError(f"{self.kind} id {model_id} is outside the catalogue 1..{len(self.raw_ids)}")
        return self.raw_ids[model_id - 1]


def digit_chunk_backend(independent_items: int = 0) -> Tokenizer:
    """The paper's default vocabulary: ``item_1234`` -> ``▁item``, ``_``, ``12``, ``34``.

    Numbers split into two-digit chunks from the left; a trailing odd digit is its own token, and
    chunks keep leading zeros (``1205`` -> ``12``, ``05``), so every id round-trips.

    ``independent_items=N`` adds one token per item, ``▁item_1`` .. ``▁item_N`` ("independent indexing",
    Hua et al. 2023): an item is then a single token, so histories are several times shorter and the
    decoder's output layer (tied to the token embeddings) scores every item at once. Users stay digit chunks.
    """
    specials = ["[BEG]", "[PAD]", "[END]", "[UNK]", "[MASK]"]  # BART's order: bos 0, pad 1, eos 2
    words = ["▁user", "▁item", "_"] + [str(d) for d in range(10)] + [f"{d:02d}" for d in range(100)]
    words += [f"▁item_{i}" for i in range(1, independent_items + 1)]
    vocab = {token: i for i, token in enumerate(specials + words)}
    backend = Tokenizer(WordLevel(vocab, unk_token="[UNK]"))
    splits = [pre_tokenizers.Split(Regex("_"), "isolated"), pre_tokenizers.Split(Regex(r"\d\d?"), "isolated")]
    if independent_items:  # a whole item word is one piece; user words split as before
        splits = [pre_tokenizers.Split(Regex(r"▁item_\d+|_|\d\d?"), "isolated")]
    backend.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.WhitespaceSplit(),
            pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always", split=False),
            *splits,
        ]
    )
    backend.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always", split=True)
    backend.add_special_tokens([AddedToken(token, special=True) for token in specials])
    backend.post_processor = processors.TemplateProcessing(
        single="[BEG] $A [END]",
        pair="[BEG] $A [END] $B [END]",
        special_tokens=[("[BEG]", vocab["[BEG]"]), ("[END]", vocab["[END]"])],
    )
    return backend


class GenRecTokenizer(PreTrainedTokenizerFast):
    """Fast tokenizer for GenRec that owns the raw-id <-> model-id catalogue of users and items.

    Build one from a catalogue with :meth:`from_catalogue` (the paper's digit-chunk vocabulary) or
    :meth:`from_bart_tokenizer` (a pretrained BART BPE, for the bart-init path). Encode histories of
    raw ids with :meth:`encode_histories`; turn generated sequences back into raw ids with
    :meth:`decode_items`.

    Example:

    ```python
    >>> from genrec_hf import GenRecTokenizer
    >>> tok = GenRecTokenizer.from_catalogue(items=["B01", "B02", "B03"], users=["alice"])
    >>> batch = tok.encode_histories([["B01", "B03"]], users=["alice"])
    >>> tok.convert_ids_to_tokens(batch["input_ids"][0])
    ['[BEG]', '▁user', '_', '1', '▁item', '_', '1', '▁item', '_', '3', '[MASK]', '[END]']
    >>> batch["item_ids"][0]
    [0, 0, 0, 0, 1, 1, 1, 3, 3, 3, 0, 0]
    >>> tok.decode_items([tok.item_labels(["B02"])[0]])
    ['B02']

    ```
    """

    vocab_files_names = {"tokenizer_file": "tokenizer.json", "id_map_file": ID_MAP_FILE}
    model_input_names = ["input_ids", "attention_mask", "user_ids", "item_ids"]
    padding_side = "right"

    def __init__(
        self,
        *args: Any,
        id_map_file: str | None = None,
        items: Iterable[RawId] | None = None,
        users: Iterable[RawId] | None = None,
        item_codes: Sequence[Sequence[int]] | None = None,
        unknown_id_policy: str = "error",
        **kwargs: Any,
    ):
        if unknown_id_policy not in UNKNOWN_ID_POLICIES:
            raise ValueError(f"unknown_id_policy={unknown_id_policy!r} is not one of {UNKNOWN_ID_POLICIES}")
        super().__init__(*args, unknown_id_policy=unknown_id_policy, **kwargs)
        self.unknown_id_policy = unknown_id_policy
        if id_map_file is not None:
            if items is not None or users is not None:
                raise ValueError("pass either id_map_file or items/users, not both")
            with open(id_map_file, encoding="utf-8") as handle:
                id_map = json.load(handle)
            items, users = id_map["items"], id_map["users"]
            item_codes = id_map.get("item_codes")
        self.items = Catalogue(items or [], "item")
        self.users = Catalogue(users or [], "user")
        self.item_codes = self._check_codes(item_codes) if item_codes is not None else None
        self._item_tokens: list[list[int]] | None = None
        self._item_by_tokens: dict[tuple[int, ...], int] | None = None

    # ----------------------------------------------------------------------------------------------
    # construction
    @classmethod
    def from_catalogue(
        cls,
        items: Iterable[RawId],
        users: Iterable[RawId] | None = None,
        *,
        model_max_length: int = 512,
        unknown_id_policy: str = "error",
        item_codes: Sequence[Sequence[int]] | None = None,
        independent_items: bool = False,
    ) -> "GenRecTokenizer":
        """A tokenizer with the paper's digit-chunk vocabulary (118 tokens) over the given catalogue.

        ``items`` and ``users`` are the raw identifiers; their order defines the model ids 1, 2, ...
        ``item_codes`` (optional, one per item in catalogue order, each a list of numbers 0..99) spell item
        ``i`` as its code, one token per number (``[3, 41, 7]`` -> ``03 41 07``), instead of its decimal id:
        with collaborative codes (``genrec_hf.indexing``) items that co-occur share leading tokens.
        ``independent_items=True`` gives every item a token of its own (``item_5`` -> ``▁item_5``), so an
        item is one encoder position and one decoding step; the vocabulary grows by the catalogue size.

        Example:

        ```python
        >>> tok = GenRecTokenizer.from_catalogue(items=["B01", "B02"], independent_items=True)
        >>> tok.convert_ids_to_tokens(tok.encode_histories([["B02", "B01"]])["input_ids"][0])
        ['[BEG]', '▁item_2', '▁item_1', '[MASK]', '[END]']

        ```
        """
        items = list(items)
        if independent_items and item_codes is not None:
            raise ValueError("independent_items gives each item its own token; it cannot also spell items by "
                             "item_codes")
        return cls(
            tokenizer_object=digit_chunk_backend(len(items) if independent_items else 0),
            items=items,
            users=users,
            item_codes=item_codes,
            bos_token="[BEG]",
            eos_token="[END]",
            pad_token="[PAD]",
            unk_token="[UNK]",
            mask_token="[MASK]",
            model_max_length=model_max_length,
            unknown_id_policy=unknown_id_policy,
        )

    @classmethod
    def from_bart_tokenizer(
        cls,
        bart_tokenizer: PreTrainedTokenizerFast,
        items: Iterable[RawId],
        users: Iterable[RawId] | None = None,
        *,
        model_max_length: int = 512,
        unknown_id_policy: str = "error",
    ) -> "GenRecTokenizer":
        """Derive a tokenizer from a pretrained BART tokenizer (the paper's bart-init path).

        The BPE vocabulary and special tokens are kept, so a BART checkpoint's embeddings line up.
        The byte-level pre-tokenizer gets ``add_prefix_space=True`` so that a word tokenizes the same at
        the start of a text and after a space.
        """
        backend = copy.deepcopy(bart_tokenizer.backend_tokenizer)
        if not isinstance(backend.pre_tokenizer, pre_tokenizers.ByteLevel):
            raise ValueError(
                f"expected a byte-level BPE (BART) tokenizer, got pre-tokenizer {type(backend.pre_tokenizer).__name__}"
            )
        backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=True)
        specials = {}
        for name in ("bos_token", "eos_token", "pad_token", "unk_token", "mask_token"):
            token = getattr(bart_tokenizer, name)
            if token is None:
                raise ValueError(f"the BART tokenizer has no {name}")
            specials[name] = str(token)
        return cls(
            tokenizer_object=backend,
            items=items,
            users=users,
            model_max_length=model_max_length,
            unknown_id_policy=unknown_id_policy,
            add_prefix_space=True,
            **specials,
        )

    @classmethod
    def convert_to_native_format(cls, trust_remote_code: bool = False, **kwargs: Any) -> dict[str, Any]:
        # tokenizer.json is the single source of truth for both vocabularies (digit chunks and BART BPE):
        # load it as is instead of letting the base class rebuild a BPE from an extracted vocab.
        return kwargs

    def _save_pretrained(self, save_directory, file_names, legacy_format=None, filename_prefix=None):
        file_names = super()._save_pretrained(save_directory, file_names, legacy_format, filename_prefix)
        prefix = filename_prefix + "-" if filename_prefix else ""
        id_map_path = os.path.join(str(save_directory), prefix + ID_MAP_FILE)
        with open(id_map_path, "w", encoding="utf-8") as handle:
            id_map = {"format": 1, "items": self.items.raw_ids, "users": self.users.raw_ids}
            if self.item_codes is not None:
                id_map["item_codes"] = self.item_codes
            json.dump(id_map, handle)
        return file_names + (id_map_path,)

    # ----------------------------------------------------------------------------------------------
    # catalogue
    @property
    def num_items(self) -> int:
        return len(self.items)

    @property
    def num_users(self) -> int:
        return len(self.users)

    def item_to_id(self, raw: RawId) -> int:
        """Model id of a raw item id; ``KeyError`` naming it if it is not in the catalogue."""
        model_id = self.items.to_id(raw)
        if model_id is None:
            raise KeyError(f"unknown item id {raw!r}: not in the tokenizer's catalogue of {self.num_items} items")
        return model_id

    def user_to_id(self, raw: RawId) -> int:
        """Model id of a raw user id; ``KeyError`` naming it if it is not a known user."""
        model_id = self.users.to_id(raw)
        if model_id is None:
            raise KeyError(f"unknown user id {raw!r}: not among the tokenizer's {self.num_users} users")
        return model_id

    def id_to_item(self, model_id: int) -> RawId:
        return self.items.to_raw(model_id)

    def id_to_user(self, model_id: int) -> RawId:
        return self.users.to_raw(model_id)

    def _check_codes(self, codes: Sequence[Sequence[int]]) -> list[list[int]]:
        codes = [[int(c) for c in code] for code in codes]
        if len(codes) != self.num_items:
            raise ValueError(f"item_codes has {len(codes)} codes for {self.num_items} items")
        seen: dict[tuple[int, ...], int] = {}
        for position, code in enumerate(codes, start=1):
            if not code or not all(0 <= c <= 99 for c in code):
                raise ValueError(f"item {position}: code {code} must be a non-empty list of numbers 0..99")
            if tuple(code) in seen:
                raise ValueError(f"items {seen[tuple(code)]} and {position} have the same code {code}")
            seen[tuple(code)] = position
        return codes

    @property
    def item_token_ids(self) -> list[list[int]]:
        """Token ids of every catalogue item (index 0 is empty), computed once: ``item_<id>`` in digit chunks,
        or ``item_<code>`` when the tokenizer has ``item_codes``."""
        if self._item_tokens is None:
            if self.item_codes is not None:
                words = ["item_" + "".join(f"{c:02d}" for c in code) for code in self.item_codes]
            else:
                words = [f"item_{i}" for i in range(1, self.num_items + 1)]
            encodings = self._tokenizer.encode_batch(words, add_special_tokens=False) if words else []
            self._item_tokens = [[]] + [encoding.ids for encoding in encodings]
        return self._item_tokens

    @property
    def max_item_tokens(self) -> int:
        """Length of the longest item's label (its tokens plus the end token)."""
        return max((len(tokens) for tokens in self.item_token_ids), default=0) + 1

    def _user_token_ids(self, user_ids: Sequence[int]) -> list[list[int]]:
        words = [f"user_{u}" for u in user_ids if u]
        encodings = iter(self._tokenizer.encode_batch(words, add_special_tokens=False)) if words else iter(())
        return [next(encodings).ids if u else [] for u in user_ids]

    def model_config_kwargs(self) -> dict[str, Any]:
        """The GenRecConfig fields this tokenizer determines (vocabulary, catalogue, special ids)."""
        return dict(
            vocab_size=len(self),
            num_users=self.num_users,
            num_items=self.num_items,
            pad_token_id=self.pad_token_id,
            bos_token_id=self.bos_token_id,
            eos_token_id=self.eos_token_id,
            decoder_start_token_id=self.eos_token_id,
            mask_token_id=self.mask_token_id,
            forced_eos_token_id=self.eos_token_id,
            max_item_tokens=self.max_item_tokens,
            unknown_id_policy=self.unknown_id_policy,
        )

    def check_model_config(self, config: Any) -> None:
        """Raise ``ValueError`` if a model config does not match this tokenizer's catalogue or vocabulary."""
        problems = []
        if getattr(config, "num_items", None) != self.num_items:
            problems.append(f"the model has {getattr(config, 'num_items', None)} items, the tokenizer {self.num_items}")
        if getattr(config, "num_users", None) != self.num_users:
            problems.append(f"the model has {getattr(config, 'num_users', None)} users, the tokenizer {self.num_users}")
        if getattr(config, "vocab_size", 0) < len(self):
            problems.append(f"the model's vocab_size {config.vocab_size} is smaller than the tokenizer's "
                            f"{len(self)} tokens")
        max_positions = getattr(config, "max_position_embeddings", None)
        if max_positions is not None and self.model_max_length > max_positions:
            problems.append(f"the tokenizer's model_max_length {self.model_max_length} exceeds the model's "
                            f"max_position_embeddings {max_positions}")
        for name in ("pad_token_id", "eos_token_id"):
            if getattr(config, name, None) != getattr(self, name):
                problems.append(f"{name}: model {getattr(config, name, None)}, tokenizer {getattr(self, name)}")
        reads_mask = (getattr(config, "decoder_start_from_mask", False)
                      or getattr(config, "decoder_start_from_last_item", False))
        if reads_mask and config.mask_token_id != self.mask_token_id:
            problems.append(f"mask_token_id: model {config.mask_token_id}, tokenizer {self.mask_token_id} (the model "
                            f"starts its decoder from the encoder state at the [MASK])")
        if problems:
            model_from = getattr(config, "_name_or_path", "") or getattr(config, "name_or_path", "")
            tokenizer_from = getattr(self, "name_or_path", "")
            where = "".join(f" ({side} from {origin})" for side, origin in
                            (("tokenizer", tokenizer_from), ("model", model_from)) if origin)
            raise ValueError(f"tokenizer and model do not match{where}: " + "; ".join(problems))

    # ----------------------------------------------------------------------------------------------
    # encoding
    def _resolve_items(self, history: Sequence[Any], index: int, is_indexed: bool, policy: str) -> list[int]:
        if isinstance(history, (str, bytes)) or not isinstance(history, Sequence):
            raise ValueError(f"history {index} must be a list of item ids, got {type(history).__name__} {history!r}")
        if len(history) == 0:
            raise ValueError(f"history {index} is empty: a recommendation needs at least one item")
        resolved = []
        for raw in history:
            if is_indexed:
                if isinstance(raw, bool) or not isinstance(raw, numbers.Integral) or not 1 <= raw <= self.num_items:
                    raise ValueError(f"history {index}: item id {raw!r} is not an integer in 1..{self.num_items}")
                resolved.append(int(raw))
                continue
            model_id = self.items.to_id(raw)
            if model_id is None:
                if policy == "error":
                    raise KeyError(
                        f"history {index}: unknown item id {raw!r} (not in the catalogue of {self.num_items} items; "
                        "pass unknown_id_policy='skip' or 'unk' to tolerate it)"
                    )
                if policy == "skip":
                    continue
                model_id = 0  # "unk": keeps its place as [UNK], no item embedding
            resolved.append(model_id)
        if not resolved:
            raise ValueError(f"history {index}: none of its {len(history)} items is in the catalogue")
        return resolved

    def _resolve_user(self, user: Any, index: int, is_indexed: bool, policy: str) -> int | None:
        """Model id of the user, 0 for an unknown user kept as [UNK], None for no user word at all."""
        if user is None:
            return None
        if is_indexed:
            if isinstance(user, bool) or not isinstance(user, numbers.Integral) or not 0 <= user <= self.num_users:
                raise ValueError(f"history {index}: user id {user!r} is not an integer in 0..{self.num_users}")
            return int(user) or None
        model_id = self.users.to_id(user)
        if model_id is None:
            if policy == "error":
                raise KeyError(
                    f"history {index}: unknown user id {user!r} (not among {self.num_users} users; "
                    "pass unknown_id_policy='skip' or 'unk' to recommend from the history alone)"
                )
            return 0 if policy == "unk" else None
        return model_id

    def encode_histories(
        self,
        histories: Sequence[Sequence[RawId]] | Sequence[RawId],
        users: Sequence[RawId | None] | None = None,
        *,
        targets: Sequence[RawId] | None = None,
        mask_positions: Sequence[int] | None = None,
        append_mask: bool = True,
        is_indexed: bool = False,
        max_length: int | None = None,
        padding: bool | str = "longest",
        return_tensors: str | None = None,
        unknown_id_policy: str | None = None,
    ) -> BatchEncoding:
        """Encode user histories into model inputs.

        Args:
            histories: one history (a list of item ids) or a list of them, oldest item first.
            users: one user id per history (or None entries / no list for anonymous histories).
            targets: optional next item per history; adds ``labels`` (its tokens, then ``[END]``).
            mask_positions: pretraining cloze: per history, the position of the item replaced by
                ``[MASK]``; its tokens become the label. Excludes ``append_mask`` and ``targets``.
            append_mask: append ``[MASK]`` after the history (fine-tuning and inference).
            is_indexed: ids are already model ids (1..num_items / 1..num_users), not raw ids.
            max_length: token budget per sequence (default ``model_max_length``). The OLDEST items are
                dropped to fit; an item is never cut in half.
            padding: ``"longest"``/True, ``"max_length"`` or False.
            return_tensors: ``"pt"``, ``"np"`` or None for lists.
            unknown_id_policy: overrides the tokenizer's ``"error"``/``"unk"``/``"skip"``.

        Returns:
            ``input_ids``, ``attention_mask``, ``user_ids``, ``item_ids`` (and ``labels``).
        """
        policy = unknown_id_policy or self.unknown_id_policy
        if policy not in UNKNOWN_ID_POLICIES:
            raise ValueError(f"unknown_id_policy={policy!r} is not one of {UNKNOWN_ID_POLICIES}")
        if isinstance(histories, (str, bytes)) or not isinstance(histories, Sequence):
            raise ValueError(f"histories must be a list of item-id lists, got {type(histories).__name__}")
        if histories and (isinstance(histories[0], (str, numbers.Integral))):
            histories = [histories]  # a single history
            if users is not None and (isinstance(users, (str, numbers.Integral))):
                users = [users]
            if targets is not None and isinstance(targets, (str, numbers.Integral)):
                targets = [targets]
        batch_size = len(histories)
        if batch_size == 0:
            raise ValueError("histories is empty")
        for name, values in (("users", users), ("targets", targets), ("mask_positions", mask_positions)):
            if values is not None and len(values) != batch_size:
                raise ValueError(f"{name} has {len(values)} entries for {batch_size} histories")
        if mask_positions is not None and (targets is not None or append_mask):
            raise ValueError("mask_positions (pretraining cloze) excludes targets and append_mask=True")
        max_length = max_length or self.model_max_length
        if padding is True:
            padding = "longest"

        item_tokens = self.item_token_ids
        item_lists = [self._resolve_items(h, b, is_indexed, policy) for b, h in enumerate(histories)]
        user_list = [self._resolve_user(u, b, is_indexed, policy) for b, u in enumerate(users or [None] * batch_size)]
        user_tokens = self._user_token_ids([u or 0 for u in user_list])
        target_ids = None
        if targets is not None:
            target_ids = [self._resolve_items([t], b, is_indexed, "error")[0] for b, t in enumerate(targets)]

        # special ids read once: attribute access on a transformers tokenizer is slow in this loop
        bos, eos, mask, unk = self.bos_token_id, self.eos_token_id, self.mask_token_id, self.unk_token_id
        rows: dict[str, list[list[int]]] = {k: [] for k in ("input_ids", "user_ids", "item_ids", "labels")}
        for b, items in enumerate(item_lists):
            user_id = user_list[b]
            user_part = user_tokens[b] if user_id else ([unk] if user_id == 0 else [])
            keep_from = len(items) - self._count_fitting(items, len(user_part), append_mask, max_length)
            if keep_from == len(items):
                raise ValueError(f"history {b}: max_length={max_length} cannot hold a single item")
            masked = None
            if mask_positions is not None:
                masked = mask_positions[b] % len(items) if -len(items) <= mask_positions[b] < len(items) else None
                if masked is None:
                    raise ValueError(f"history {b}: mask position {mask_positions[b]} outside a history of "
                                     f"{len(items)}")
                if masked < keep_from:
                    raise ValueError(
                        f"history {b}: mask position {mask_positions[b]} falls in the part dropped to fit max_length"
                    )
            ids = [bos] + user_part
            uids = [0] + [user_id or 0] * len(user_part)
            iids = [0] * len(ids)
            for position in range(keep_from, len(items)):
                item = items[position]
                if position == masked or item == 0:
                    ids.append(mask if position == masked else unk)
                    uids.append(0)
                    iids.append(0)
                    continue
                tokens = item_tokens[item]
                ids.extend(tokens)
                uids.extend([0] * len(tokens))
                iids.extend([item] * len(tokens))
            if append_mask:
                ids.append(mask)
                uids.append(0)
                iids.append(0)
            ids.append(eos)
            uids.append(0)
            iids.append(0)
            rows["input_ids"].append(ids)
            rows["user_ids"].append(uids)
            rows["item_ids"].append(iids)
            label_item = target_ids[b] if target_ids is not None else (items[masked] if masked is not None else None)
            if label_item is not None:
                if label_item == 0:
                    raise ValueError(f"history {b}: the masked item is unknown and cannot be a label")
                rows["labels"].append(item_tokens[label_item] + [eos])
        if not rows["labels"]:
            del rows["labels"]
        rows["attention_mask"] = [[1] * len(ids) for ids in rows["input_ids"]]
        return self._pad_rows(rows, padding, max_length, return_tensors)

    def _count_fitting(self, items: Sequence[int], user_tokens: int, append_mask: bool, max_length: int) -> int:
        """How many of the newest items fit beside [BEG], the user word, [MASK] and [END]."""
        item_tokens = self.item_token_ids
        budget = max_length - 2 - user_tokens - (1 if append_mask else 0)
        used = count = 0
        for item in reversed(items):
            used += len(item_tokens[item]) or 1  # an unknown item is one [UNK]
            if used > budget:
                break
            count += 1
        return count

    def items_that_fit(
        self,
        history: Sequence[RawId],
        user: RawId | None = None,
        *,
        append_mask: bool = True,
        is_indexed: bool = False,
        max_length: int | None = None,
        unknown_id_policy: str | None = None,
    ) -> int:
        """How many of the newest items of ``history`` ``encode_histories`` keeps within ``max_length``.

        A cloze collator picks its mask position among these, so the masked item is never truncated away.
        """
        policy = unknown_id_policy or self.unknown_id_policy
        items = self._resolve_items(history, 0, is_indexed, policy)
        user_id = self._resolve_user(user, 0, is_indexed, policy)
        user_tokens = len(self._user_token_ids([user_id])[0]) if user_id else (1 if user_id == 0 else 0)
        return self._count_fitting(items, user_tokens, append_mask, max_length or self.model_max_length)

    def _pad_rows(self, rows: dict[str, list[list[int]]], padding: bool | str, max_length: int, return_tensors):
        if padding in ("longest", "max_length"):
            for key, values in rows.items():
                fill = {"input_ids": self.pad_token_id, "labels": LABEL_PAD}.get(key, 0)
                width = max_length if padding == "max_length" and key != "labels" else max(map(len, values))
                rows[key] = [v + [fill] * (width - len(v)) for v in values]
        elif padding is not False:
            raise ValueError(f"padding must be 'longest', 'max_length', True or False, got {padding!r}")
        elif return_tensors is not None and len({len(v) for v in rows["input_ids"]}) > 1:
            raise ValueError("return_tensors needs padding when the sequences have different lengths")
        if return_tensors == "pt":  # direct: BatchEncoding's generic conversion re-flattens every list in Python
            import torch

            return BatchEncoding({key: torch.tensor(values, dtype=torch.long) for key, values in rows.items()})
        return BatchEncoding(rows, tensor_type=return_tensors)

    def item_labels(self, items: Sequence[RawId], *, is_indexed: bool = False) -> list[list[int]]:
        """Decoder label tokens (item tokens, then ``[END]``) for each item."""
        ids = [i if is_indexed else self.item_to_id(i) for i in items]
        return [self.item_token_ids[i] + [self.eos_token_id] for i in ids]

    # ----------------------------------------------------------------------------------------------
    # decoding
    def decode_items(self, sequences: Any, *, return_raw: bool = True) -> list[RawId | int | None]:
        """Map generated token sequences back to items: raw ids (or model ids with ``return_raw=False``).

        Leading start/``[BEG]`` tokens are skipped and the sequence ends at ``[END]`` or padding. A sequence
        that spells no catalogue item gives None.
        """
        if self._item_by_tokens is None:
            self._item_by_tokens = {tuple(t): i for i, t in enumerate(self.item_token_ids) if i}
        if hasattr(sequences, "tolist"):
            sequences = sequences.tolist()
        bos, eos, pad = self.bos_token_id, self.eos_token_id, self.pad_token_id
        skip = {bos, eos}
        stop = {eos, pad, LABEL_PAD}
        decoded: list[RawId | int | None] = []
        for sequence in sequences:
            start = 0
            while start < len(sequence) and sequence[start] in skip:
                start += 1
            tokens = []
            for token in sequence[start:]:
                if token in stop:
                    break
                tokens.append(token)
            item = self._item_by_tokens.get(tuple(tokens))
            decoded.append(None if item is None else (self.id_to_item(item) if return_raw else item))
        return decoded


GenRecTokenizer.register_for_auto_class("AutoTokenizer")

__all__ = ["GenRecTokenizer", "Catalogue", "raw_id_key", "digit_chunk_backend", "ID_MAP_FILE"]
