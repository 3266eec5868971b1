"""GenRec model: BART whose encoder input also carries user-ID and item-ID embeddings (paper eq. 2).

    X_j = EMB(S_j) + POSEMB(j) + UIDEMB(UID(j)) + TIDEMB(TID(j))

The user and item tables are separate, and row 0 of each is fixed at zero, so tokens that belong to no
user or item (special tokens, ``[MASK]``, unknown ids) get no ID contribution. The decoder sees token
embeddings only (with ``decoder_start_from_mask`` / ``decoder_start_from_last_item``, its start token also gets
the encoder state at the ``[MASK]`` / at the most recent item; with ``history_item_bias``, its first step's logits
of the history's items get one learned shift; with ``successor_item_bias``, those of the items numbered right after
the history's highest item id get one learned shift each). Hub-portable: imports only torch, transformers and the
sibling config module.
"""

from __future__ import annotations

import inspect
import json
import math
import os
import struct
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch
from torch import nn
from transformers import BartForConditionalGeneration, BartModel, GenerationConfig
from transformers.modeling_outputs import BaseModelOutput, Seq2SeqLMOutput, Seq2SeqModelOutput
from transformers.models.bart.modeling_bart import (
    BartDecoder,
    BartEncoder,
    BartScaledWordEmbedding,
    shift_tokens_right,
)

from .configuration_genrec import GenRecConfig

# transformers 5.2x renamed BART's decoder-cache argument `past_key_values` to `cache`; pass whichever it takes.
CACHE_ARGUMENT = "cache" if "cache" in inspect.signature(BartModel.forward).parameters else "past_key_values"

if TYPE_CHECKING:  # never imported at run time; makes save_pretrained and the Hub ship these files too
    from .generation_genrec import recommend_batch  # noqa: F401
    from .pipeline_genrec import GenRecPipeline  # noqa: F401


def _check_id_range(ids: torch.Tensor, table: nn.Embedding, name: str) -> None:
    """A clear error instead of an opaque index error (or a silent wrong row on some devices)."""
    if ids.numel() == 0:
        return
    low, high = int(ids.min()), int(ids.max())
    if low < 0 or high >= table.num_embeddings:
        bad = low if low < 0 else high
        raise ValueError(
            f"{name} contains {bad}, outside 0..{table.num_embeddings - 1}: the model knows "
            f"{table.num_embeddings - 1} {name.split('_')[0]}s (does the tokenizer match the model?)"
        )


def mask_states(encoder_states: torch.Tensor, input_ids: torch.Tensor, mask_token_id: int,
                offsets: tuple[int, ...] = (0,)) -> torch.Tensor:
    """The sum of the encoder states ``offset`` tokens after each row's ``[MASK]`` (-1: the token before it),
    (batch, d_model); a clear error unless every row has exactly one ``[MASK]`` and each offset lands in the row."""
    is_mask = input_ids == mask_token_id
    counts = is_mask.sum(1)
    if not bool((counts == 1).all()):
        row = int((counts != 1).nonzero()[0, 0])
        raise ValueError(f"the decoder starts from the encoder state at the [MASK] (token "
                         f"{mask_token_id}), and row {row} of input_ids has {int(counts[row])}: every input needs "
                         f"exactly one (encode histories with append_mask=True, or mask one item)")
    mask_at = is_mask.long().argmax(1)
    rows = torch.arange(len(mask_at), device=mask_at.device)
    total = 0
    for offset in offsets:
        positions = mask_at + offset
        outside = (positions < 0) | (positions >= input_ids.shape[1])
        if bool(outside.any()):
            raise ValueError(f"row {int(outside.nonzero()[0, 0])} of input_ids has no token {offset:+d} from its "
                             f"[MASK]")
        total = total + encoder_states[rows, positions]
    return total


def start_states(encoder_states: torch.Tensor, input_ids: torch.Tensor, config: GenRecConfig) -> torch.Tensor | None:
    """What the decoder's start token gets added, (batch, d_model): the encoder state at the ``[MASK]``
    (``decoder_start_from_mask``) plus the one at the token before it, the most recent item's last token
    (``decoder_start_from_last_item``); ``None`` with neither option."""
    offsets = tuple(offset for offset, on in ((0, getattr(config, "decoder_start_from_mask", False)),
                                              (-1, getattr(config, "decoder_start_from_last_item", False))) if on)
    return mask_states(encoder_states, input_ids, config.mask_token_id, offsets) if offsets else None


def history_item_tokens(input_ids: torch.Tensor, item_ids: torch.Tensor | None, pad_token_id: int) -> torch.Tensor:
    """The input's item tokens, every other position (special tokens, users, the ``[MASK]``) the pad token."""
    if item_ids is None:
        raise ValueError("history_item_bias finds the history's items by their item_ids: pass item_ids as the "
                         "tokenizer returns them")
    if item_ids.shape != input_ids.shape:
        raise ValueError(f"item_ids has shape {tuple(item_ids.shape)}, input_ids {tuple(input_ids.shape)}")
    return torch.where(item_ids.to(input_ids.device) > 0, input_ids, torch.full_like(input_ids, pad_token_id))


def successor_item_tokens(input_ids: torch.Tensor, item_ids: torch.Tensor | None, num_items: int, count: int,
                          pad_token_id: int) -> torch.Tensor:
    """(batch, count): the tokens of the items numbered max(history)+1 .. max(history)+count, the pad token past
    the catalogue's end or where a history holds no known item.

    With one token per item the item tokens run in item-id order (``▁item_1``, ``▁item_2``, ...), so the token of
    item ``max + k`` is the token of item ``max`` plus ``k``.
    """
    if item_ids is None:
        raise ValueError("successor_item_bias finds the history's highest item id in item_ids: pass item_ids as "
                         "the tokenizer returns them")
    if item_ids.shape != input_ids.shape:
        raise ValueError(f"item_ids has shape {tuple(item_ids.shape)}, input_ids {tuple(input_ids.shape)}")
    item_ids = item_ids.to(input_ids.device)
    highest, where = item_ids.max(dim=1)
    highest_token = input_ids.gather(1, where[:, None])
    steps = torch.arange(1, count + 1, device=input_ids.device)
    valid = (highest[:, None] > 0) & (highest[:, None] + steps <= num_items)
    return torch.where(valid, highest_token + steps, torch.full_like(highest_token, pad_token_id))


def shifted_item_tokens(input_ids: torch.Tensor, item_ids: torch.Tensor | None,
                        config: GenRecConfig) -> tuple[torch.Tensor | None, torch.Tensor | None]:
    """What the learned first-step shifts act on: (:func:`history_item_tokens` with ``history_item_bias``,
    :func:`successor_item_tokens` with ``successor_item_bias``), each ``None`` without its option."""
    successors = getattr(config, "successor_item_bias", 0)
    return (history_item_tokens(input_ids, item_ids, config.pad_token_id)
            if getattr(config, "history_item_bias", False) else None,
            successor_item_tokens(input_ids, item_ids, config.num_items, successors, config.pad_token_id)
            if successors else None)


def history_marks(history_ids: torch.Tensor, vocab_size: int, pad_token_id: int) -> torch.Tensor:
    """(batch, vocab): 1.0 at each row's history item tokens, 0.0 elsewhere."""
    marks = torch.zeros(history_ids.shape[0], vocab_size, device=history_ids.device)
    marks.scatter_(1, history_ids, 1.0)
    marks[:, pad_token_id] = 0.0
    return marks


@dataclass
class GenRecEncoderOutput(BaseModelOutput):
    """BART's encoder output plus ``start_state``: what ``decoder_start_from_mask`` (the state at each row's
    ``[MASK]``) and ``decoder_start_from_last_item`` (the state at the token before it) add to the decoder's
    start token (``None`` with neither); and ``history_ids``, the input's item tokens (others the pad token),
    where ``history_item_bias`` shifts their first-step logits (``None`` without it); and ``successor_ids``, the
    tokens of the items numbered right after the history's highest item id, which ``successor_item_bias`` shifts
    (``None`` without it)."""

    start_state: torch.FloatTensor | None = None
    history_ids: torch.LongTensor | None = None
    successor_ids: torch.LongTensor | None = None


def damaged_safetensors(folder: str) -> list[str]:
    """The ``*.safetensors`` files in ``folder`` whose size disagrees with their own header (cut short or padded).

    A safetensors file is an 8-byte header length, a JSON header giving each tensor's byte range, then the
    bytes; a truncated copy or download fails this check without reading the tensors.
    """
    damaged = []
    for name in sorted(os.listdir(folder)) if os.path.isdir(folder) else []:
        if not name.endswith(".safetensors"):
            continue
        path = os.path.join(folder, name)
        try:
            with open(path, "rb") as handle:
                (header_length,) = struct.unpack("<Q", handle.read(8))
                header = json.loads(handle.read(header_length))
            end = max((entry["data_offsets"][1] for key, entry in header.items() if key != "__metadata__"), default=0)
            if os.path.getsize(path) != 8 + header_length + end:
                damaged.append(path)
        except (OSError, ValueError, KeyError, struct.error):
            damaged.append(path)
    return damaged


class _ClearLoadErrors:
    """``from_pretrained`` that names the damaged weights file instead of a bare deserialisation error."""

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path: Any, *args: Any, **kwargs: Any):
        try:
            return super().from_pretrained(pretrained_model_name_or_path, *args, **kwargs)
        except Exception as error:
            if "safetensor" not in f"{type(error).__name__} {error}".lower():
                raise
            folder = str(pretrained_model_name_or_path)
            if not os.path.isdir(folder):  # a Hub id: look in the local cache
                from transformers.utils.hub import try_to_load_from_cache

                cached = try_to_load_from_cache(folder, "model.safetensors", revision=kwargs.get("revision"))
                folder = os.path.dirname(cached) if isinstance(cached, str) else folder
            damaged = damaged_safetensors(folder) or [os.path.join(folder, "*.safetensors")]
            raise OSError(f"cannot load the weights of {pretrained_model_name_or_path}: {', '.join(damaged)} is "
                          f"damaged or incomplete ({error}); copy or download it again") from error


class GenRecEncoder(BartEncoder):
    """BART encoder whose input embedding adds the user-ID and item-ID embeddings of each token."""

    def __init__(self, config: GenRecConfig):
        super().__init__(config)
        self.embed_users = nn.Embedding(config.num_users + 1, config.d_model, padding_idx=0)
        self.embed_items = (nn.Embedding(config.num_items + 1, config.d_model, padding_idx=0)
                            if config.item_id_embedding else None)
        self.post_init()

    def forward(
        self,
        input_ids: torch.LongTensor | None = None,
        attention_mask: torch.Tensor | None = None,
        user_ids: torch.LongTensor | None = None,
        item_ids: torch.LongTensor | None = None,
        inputs_embeds: torch.Tensor | None = None,
        **kwargs: Any,
    ) -> BaseModelOutput:
        if (input_ids is None) == (inputs_embeds is None):
            raise ValueError("pass exactly one of input_ids or inputs_embeds")
        length = (input_ids if input_ids is not None else inputs_embeds).shape[1]
        if length > self.config.max_position_embeddings:
            raise ValueError(
                f"the input has {length} tokens, the model at most max_position_embeddings="
                f"{self.config.max_position_embeddings}: encode with max_length <= that"
            )
        if inputs_embeds is None:
            _check_id_range(input_ids, self.embed_tokens, "input_ids")
            inputs_embeds = self.embed_tokens(input_ids)
        for ids, table, name in ((user_ids, self.embed_users, "user_ids"), (item_ids, self.embed_items, "item_ids")):
            if ids is None or table is None:  # no table: a model built without item-ID embeddings
                continue
            if ids.shape != inputs_embeds.shape[:2]:
                raise ValueError(f"{name} has shape {tuple(ids.shape)}, the input has {tuple(inputs_embeds.shape[:2])}")
            _check_id_range(ids, table, name)
            inputs_embeds = inputs_embeds + table(ids)
        if self.config.positions_from_end:
            inputs_embeds = inputs_embeds + self._positions_from_end_correction(attention_mask, inputs_embeds)
        # BART adds the positional embedding and runs the layers.
        output = super().forward(attention_mask=attention_mask, inputs_embeds=inputs_embeds, **kwargs)
        shifted = getattr(self.config, "history_item_bias", False) or getattr(self.config, "successor_item_bias", 0)
        if not (self.config.decoder_start_from_mask or self.config.decoder_start_from_last_item or shifted):
            return output
        if input_ids is None:
            raise ValueError("decoder_start_from_mask, decoder_start_from_last_item, history_item_bias and "
                             "successor_item_bias read input_ids: pass input_ids, not inputs_embeds")
        if isinstance(output, tuple):
            output = BaseModelOutput(*output)
        history_ids, successor_ids = shifted_item_tokens(input_ids, item_ids, self.config)
        return GenRecEncoderOutput(
            **output,
            start_state=start_states(output.last_hidden_state, input_ids, self.config),
            history_ids=history_ids,
            successor_ids=successor_ids,
        )

    def _positions_from_end_correction(self, attention_mask: torch.Tensor | None,
                                       inputs_embeds: torch.Tensor) -> torch.Tensor:
        """What turns BART's first-to-last positions into last-to-first ones once BART adds its own.

        BART's encoder adds ``embed_positions`` at 0, 1, 2, ... itself; adding (rows counted from the last real
        token) minus (those rows) here leaves exactly the former, and the gradients of the subtracted rows
        cancel. Counting real tokens from the right works for right and left padding alike; padding gets 0.
        """
        batch, length = inputs_embeds.shape[:2]
        mask = (torch.ones(batch, length, dtype=torch.long, device=inputs_embeds.device) if attention_mask is None
                else attention_mask.to(torch.long))
        from_end = (mask.flip(1).cumsum(1).flip(1) - 1).clamp(min=0) * mask
        from_start = torch.arange(length, device=inputs_embeds.device).expand(batch, -1)
        table, offset = self.embed_positions.weight, self.embed_positions.offset
        return nn.functional.embedding(from_end + offset, table) - nn.functional.embedding(from_start + offset, table)


class GenRecModel(_ClearLoadErrors, BartModel):
    """The bare GenRec encoder-decoder (hidden states, no LM head).

    Example:

    ```python
    >>> import torch
    >>> from genrec_hf import GenRecConfig, GenRecModel
    >>> model = GenRecModel(GenRecConfig.from_preset("small", num_users=3, num_items=10, vocab_size=118))
    >>> out = model(input_ids=torch.tensor([[0, 6, 7, 9, 4, 2]]), item_ids=torch.tensor([[0, 1, 1, 1, 0, 0]]),
    ...             decoder_input_ids=torch.tensor([[2]]))
    >>> tuple(out.last_hidden_state.shape)
    (1, 1, 128)

    ```
    """

    config_class = GenRecConfig
    # A seq2seq checkpoint also holds the LM head's bias; the bare model has no use for it.
    _keys_to_ignore_on_load_unexpected = ["final_logits_bias", "lm_head.weight"]

    def __init__(self, config: GenRecConfig):
        super(BartModel, self).__init__(config)  # BartPreTrainedModel: we build our own encoder
        embed_scale = math.sqrt(config.d_model) if config.scale_embedding else 1.0
        self.shared = BartScaledWordEmbedding(
            config.vocab_size, config.d_model, config.pad_token_id, embed_scale=embed_scale
        )
        self.encoder = GenRecEncoder(config)
        self.decoder = BartDecoder(config)
        self.post_init()

    def forward(
        self,
        input_ids: torch.LongTensor | None = None,
        attention_mask: torch.Tensor | None = None,
        user_ids: torch.LongTensor | None = None,
        item_ids: torch.LongTensor | None = None,
        decoder_input_ids: torch.LongTensor | None = None,
        decoder_attention_mask: torch.LongTensor | None = None,
        encoder_outputs: BaseModelOutput | tuple | None = None,
        cache: Any = None,
        past_key_values: Any = None,
        inputs_embeds: torch.Tensor | None = None,
        decoder_inputs_embeds: torch.Tensor | None = None,
        use_cache: bool | None = None,
        **kwargs: Any,
    ) -> Seq2SeqModelOutput:
        if encoder_outputs is None:
            encoder_outputs = self.encoder(
                input_ids=input_ids,
                attention_mask=attention_mask,
                user_ids=user_ids,
                item_ids=item_ids,
                inputs_embeds=inputs_embeds,
                **kwargs,
            )
        cache = cache if cache is not None else past_key_values
        starts_from_encoder = self.config.decoder_start_from_mask or self.config.decoder_start_from_last_item
        if starts_from_encoder and decoder_inputs_embeds is None:
            if decoder_input_ids is None and input_ids is not None:  # BART's default: the input, shifted right
                decoder_input_ids = shift_tokens_right(input_ids, self.config.pad_token_id,
                                                       self.config.decoder_start_token_id)
            decoder_inputs_embeds = self.decoder_start_embeds(decoder_input_ids, encoder_outputs, cache)
            decoder_input_ids = None
        return super().forward(
            input_ids=input_ids,
            attention_mask=attention_mask,
            decoder_input_ids=decoder_input_ids,
            decoder_attention_mask=decoder_attention_mask,
            encoder_outputs=encoder_outputs,
            **{CACHE_ARGUMENT: cache},
            decoder_inputs_embeds=decoder_inputs_embeds,
            use_cache=use_cache,
            **kwargs,
        )

    def decoder_start_embeds(self, decoder_input_ids: torch.LongTensor | None, encoder_outputs: Any,
                             cache: Any = None) -> torch.Tensor:
        """The decoder's token embeddings, the first (start) token's plus the encoder's ``start_state``.

        Only the step that holds the start token gets it: with a non-empty decoder cache, the start token was
        in an earlier step.
        """
        if decoder_input_ids is None:
            raise ValueError("a decoder started from the encoder needs decoder_input_ids (or labels)")
        start_state = getattr(encoder_outputs, "start_state", None) if not isinstance(encoder_outputs, tuple) else None
        if start_state is None:
            raise ValueError("a decoder started from the encoder needs the encoder output's start_state: pass "
                             "encoder_outputs as the GenRecEncoder returns them (return_dict=True), or input_ids "
                             "instead")
        embeds = self.decoder.embed_tokens(decoder_input_ids)
        if cache is None or cache.get_seq_length() == 0:
            start = nn.functional.pad(start_state.to(embeds.dtype).unsqueeze(1), (0, 0, 0, embeds.shape[1] - 1))
            embeds = embeds + start
        return embeds


class GenRecForConditionalGeneration(_ClearLoadErrors, BartForConditionalGeneration):
    """GenRec with its LM head: trains on cloze labels and generates the top-k next items.

    ``generate`` runs the encoder once with ``user_ids``/``item_ids`` and beam-searches the decoder on
    token embeddings only; by default it returns ``config.num_recommendations`` (20) sequences per
    history, scored by their log-probability (``length_penalty=0``).

    Example:

    ```python
    >>> from genrec_hf import GenRecConfig, GenRecForConditionalGeneration, GenRecTokenizer
    >>> tok = GenRecTokenizer.from_catalogue(items=[f"i{n}" for n in range(30)], users=["u1"])
    >>> model = GenRecForConditionalGeneration(GenRecConfig.from_preset("small", tok))
    >>> batch = tok.encode_histories([["i1", "i2"]], users=["u1"], return_tensors="pt")
    >>> model.generate(**batch).shape[0]
    20

    ```
    """

    config_class = GenRecConfig
    # forward normalises its loss by the Trainer's `num_items_in_batch` (label tokens in the global batch),
    # which keeps the loss exact under gradient accumulation and DDP.
    accepts_loss_kwargs = True

    def __init__(self, config: GenRecConfig):
        super(BartForConditionalGeneration, self).__init__(config)  # BartPreTrainedModel
        self.model = GenRecModel(config)
        self.final_logits_bias = nn.Buffer(torch.zeros((1, self.model.shared.num_embeddings)))
        self.lm_head = nn.Linear(config.d_model, self.model.shared.num_embeddings, bias=False)
        # history_item_bias: one learned logit shift for the items already in the history (0: no preference)
        self.history_logit_bias = nn.Parameter(torch.zeros(1)) if config.history_item_bias else None
        # successor_item_bias: one learned logit shift for each of the items max(history)+1 .. +k
        successors = getattr(config, "successor_item_bias", 0)
        self.successor_logit_bias = nn.Parameter(torch.zeros(successors)) if successors else None
        self.post_init()
        self.generation_config = self.default_generation_config(config)

    @staticmethod
    def default_generation_config(config: GenRecConfig) -> GenerationConfig:
        """Beam search for the top ``num_recommendations`` items, one item per sequence."""
        return GenerationConfig(
            num_beams=config.num_recommendations,
            num_return_sequences=config.num_recommendations,
            max_new_tokens=config.max_item_tokens,
            early_stopping=True,
            length_penalty=0.0,
            do_sample=False,
            bos_token_id=config.bos_token_id,
            eos_token_id=config.eos_token_id,
            pad_token_id=config.pad_token_id,
            decoder_start_token_id=config.decoder_start_token_id,
            # no forced [END] at max_new_tokens: it would give the longest items their [END] for free
            # (log-probability 0), ranking them above equally likely shorter items
            forced_eos_token_id=None,
        )

    def forward(
        self,
        input_ids: torch.LongTensor | None = None,
        attention_mask: torch.Tensor | None = None,
        user_ids: torch.LongTensor | None = None,
        item_ids: torch.LongTensor | None = None,
        labels: torch.LongTensor | None = None,
        decoder_input_ids: torch.LongTensor | None = None,
        decoder_attention_mask: torch.LongTensor | None = None,
        encoder_outputs: BaseModelOutput | tuple | None = None,
        cache: Any = None,
        past_key_values: Any = None,
        inputs_embeds: torch.Tensor | None = None,
        decoder_inputs_embeds: torch.Tensor | None = None,
        use_cache: bool | None = None,
        **kwargs: Any,
    ) -> Seq2SeqLMOutput:
        """Seq2seq forward; with ``labels`` the loss is the token cross-entropy of the label items.

        ``num_items_in_batch`` (passed by the Trainer) turns the per-batch mean into sum / global count.
        """
        num_items_in_batch = kwargs.pop("num_items_in_batch", None)
        if labels is not None:
            use_cache = False
            if decoder_input_ids is None and decoder_inputs_embeds is None:
                decoder_input_ids = shift_tokens_right(
                    labels, self.config.pad_token_id, self.config.decoder_start_token_id
                )
        if encoder_outputs is None:
            encoder_outputs = self.model.encoder(
                input_ids=input_ids,
                attention_mask=attention_mask,
                user_ids=user_ids,
                item_ids=item_ids,
                inputs_embeds=inputs_embeds,
                **kwargs,
            )
        past = cache if cache is not None else past_key_values
        first_step = past is None or past.get_seq_length() == 0  # before the decoder adds this step to the cache
        outputs = super().forward(
            input_ids=input_ids,
            attention_mask=attention_mask,
            decoder_input_ids=decoder_input_ids,
            decoder_attention_mask=decoder_attention_mask,
            encoder_outputs=encoder_outputs,
            **{CACHE_ARGUMENT: past},
            decoder_inputs_embeds=decoder_inputs_embeds,
            use_cache=use_cache,
            **kwargs,
        )
        if (self.history_logit_bias is not None or self.successor_logit_bias is not None) and first_step:
            bias = self.first_step_bias(*self._bias_inputs(encoder_outputs)).to(outputs.logits.dtype)
            outputs.logits = torch.cat([outputs.logits[:, :1] + bias.unsqueeze(1), outputs.logits[:, 1:]], dim=1)
        if labels is not None:
            outputs.loss = self.label_loss(outputs.logits, labels, num_items_in_batch)
        return outputs

    def _bias_inputs(self, encoder_outputs: Any) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        """The encoder output's ``history_ids`` and ``successor_ids``, each where its option needs it."""
        needed = (("history_ids", "history_item_bias", self.history_logit_bias),
                  ("successor_ids", "successor_item_bias", self.successor_logit_bias))
        found = []
        for field, option, parameter in needed:
            value = None if isinstance(encoder_outputs, tuple) else getattr(encoder_outputs, field, None)
            if parameter is not None and value is None:
                raise ValueError(f"a model with {option} needs the encoder output's {field}: pass input_ids and "
                                 f"item_ids, or encoder_outputs as the GenRecEncoder returns them")
            found.append(value)
        return found[0], found[1]

    def first_step_bias(self, history_ids: torch.Tensor | None = None,
                        successor_ids: torch.Tensor | None = None) -> torch.Tensor | None:
        """What ``history_item_bias`` and ``successor_item_bias`` add to the first decoding step's logits,
        (batch, vocab): the learned bias at each row's history items (``history_ids``: the encoder output's, or
        :func:`history_item_tokens`) and the k-th learned bias at the item numbered k after the history's highest
        (``successor_ids``: the encoder output's, or :func:`successor_item_tokens`), 0 elsewhere; ``None`` with
        neither option."""
        bias = None
        vocab, pad = self.lm_head.out_features, self.config.pad_token_id
        if self.history_logit_bias is not None:
            bias = history_marks(history_ids, vocab, pad) * self.history_logit_bias
        if self.successor_logit_bias is not None:
            shifts = torch.zeros(successor_ids.shape[0], vocab, device=successor_ids.device,
                                 dtype=self.successor_logit_bias.dtype)
            shifts = shifts.scatter_add(1, successor_ids, self.successor_logit_bias.expand_as(successor_ids))
            shifts[:, pad] = 0.0
            bias = shifts if bias is None else bias + shifts
        return bias

    def label_loss(
        self, logits: torch.Tensor, labels: torch.Tensor, num_items_in_batch: torch.Tensor | int | None = None
    ) -> torch.Tensor:
        """Cross-entropy over label tokens (``-100`` ignored), with ``config.label_smoothing``."""
        labels = labels.to(logits.device)
        loss = nn.functional.cross_entropy(
            logits.reshape(-1, logits.shape[-1]).float(),
            labels.reshape(-1),
            ignore_index=-100,
            reduction="mean" if num_items_in_batch is None else "sum",
            label_smoothing=self.config.label_smoothing,
        )
        if num_items_in_batch is not None:
            loss = loss / torch.as_tensor(num_items_in_batch, device=loss.device)
        return loss

    def _reorder_cache(self, past_key_values: Any, beam_idx: torch.LongTensor) -> Any:
        """Beam-search cache reorder that leaves the cross-attention cache alone.

        Beam search only permutes beams within one input, and all beams of an input attend to the same encoder
        output, so every such permutation leaves the cross-attention keys/values unchanged. Skipping their copy
        removes the largest cost of decoding 20 beams (about 40% of a batch's time in the profile of
        benchmarks/pipeline_speed.py); the decoder's self-attention cache is reordered as usual.
        """
        self_attention = getattr(past_key_values, "self_attention_cache", None)
        if self_attention is None:
            past_key_values.reorder_cache(beam_idx)
        else:
            self_attention.reorder_cache(beam_idx)
        return past_key_values

    @torch.no_grad()
    def generate(
        self,
        inputs: torch.LongTensor | None = None,
        *,
        attention_mask: torch.Tensor | None = None,
        user_ids: torch.LongTensor | None = None,
        item_ids: torch.LongTensor | None = None,
        encoder_outputs: BaseModelOutput | None = None,
        **kwargs: Any,
    ):
        """``GenerationMixin.generate``, with the ID-aware encoder run once up front.

        ``user_ids``/``item_ids`` reach the encoder here and nowhere else: the decoding loop only gets
        ``encoder_outputs``, so no decoder step (and no beam expansion) ever sees them.
        """
        if "input_ids" in kwargs:
            if inputs is not None:
                raise ValueError("pass the input ids once, as `inputs` or `input_ids`")
            inputs = kwargs.pop("input_ids")
        if encoder_outputs is None:
            if inputs is None:
                raise ValueError("generate needs input_ids (or precomputed encoder_outputs)")
            encoder_outputs = self.get_encoder()(
                input_ids=inputs,
                attention_mask=attention_mask,
                user_ids=user_ids,
                item_ids=item_ids,
                return_dict=True,
            )
        elif user_ids is not None or item_ids is not None:
            raise ValueError("user_ids/item_ids are encoder inputs; they cannot be combined with encoder_outputs")
        return super().generate(inputs, attention_mask=attention_mask, encoder_outputs=encoder_outputs, **kwargs)

    @classmethod
    def from_bart(
        cls, bart_name_or_path: str, tokenizer: Any, **config_overrides: Any
    ) -> "GenRecForConditionalGeneration":
        """Start GenRec from a pretrained BART checkpoint, as the paper does (``facebook/bart-base``).

        Copies every BART weight, resizes the vocabulary to ``len(tokenizer)`` and adds fresh user/item
        ID tables sized from the tokenizer's catalogue. ``tokenizer`` is a ``GenRecTokenizer``, normally
        made with ``GenRecTokenizer.from_bart_tokenizer`` from the same checkpoint.
        """
        bart = BartForConditionalGeneration.from_pretrained(bart_name_or_path)
        if bart.config.vocab_size != len(tokenizer):
            bart.resize_token_embeddings(len(tokenizer), mean_resizing=False)
        bart_fields = bart.config.to_dict()
        for key in ("model_type", "architectures", "auto_map", "transformers_version", "_name_or_path"):
            bart_fields.pop(key, None)
        bart_fields.update(tokenizer.model_config_kwargs())
        bart_fields.update(config_overrides)
        model = cls(GenRecConfig(**bart_fields))
        missing, unexpected = model.load_state_dict(bart.state_dict(), strict=False)
        fresh = {"model.encoder.embed_users.weight", "model.encoder.embed_items.weight"}
        if set(missing) - fresh or unexpected:
            raise ValueError(
                f"{bart_name_or_path} does not fit GenRec: missing {sorted(set(missing) - fresh)}, "
                f"unexpected {sorted(unexpected)}"
            )
        model.tie_weights()
        return model


GenRecConfig.register_for_auto_class()
GenRecModel.register_for_auto_class("AutoModel")
GenRecForConditionalGeneration.register_for_auto_class("AutoModelForSeq2SeqLM")

__all__ = ["GenRecEncoder", "GenRecModel", "GenRecForConditionalGeneration"]
