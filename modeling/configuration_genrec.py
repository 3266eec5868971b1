"""GenRec configuration: a BART configuration plus the user/item catalogue sizes.

Hub-portable: imports only transformers, so ``save_pretrained`` can ship it as remote code.
"""

from __future__ import annotations

from typing import Any

from transformers import BartConfig

UNKNOWN_ID_POLICIES = ("error", "unk", "skip")

# The two named presets. "small" trains on a 2-core CPU in minutes; "bart-base" is the paper's size
# (section 7.1: 6+6 layers, 12 heads, d_model 768, max input length 512).
PRESETS: dict[str, dict[str, Any]] = {
    "small": dict(
        d_model=128,
        encoder_layers=2,
        decoder_layers=2,
        encoder_attention_heads=4,
        decoder_attention_heads=4,
        encoder_ffn_dim=512,
        decoder_ffn_dim=512,
        max_position_embeddings=512,
        dropout=0.1,
    ),
    "bart-base": dict(
        d_model=768,
        encoder_layers=6,
        decoder_layers=6,
        encoder_attention_heads=12,
        decoder_attention_heads=12,
        encoder_ffn_dim=3072,
        decoder_ffn_dim=3072,
        max_position_embeddings=1024,
        dropout=0.1,
    ),
}


AUTO_MAP = {
    "AutoConfig": "configuration_genrec.GenRecConfig",
    "AutoModel": "modeling_genrec.GenRecModel",
    "AutoModelForSeq2SeqLM": "modeling_genrec.GenRecForConditionalGeneration",
}


# Where pipeline("genrec") finds its code in a saved folder (see GenRecConfig.to_dict).
CUSTOM_PIPELINES = {
    "genrec": {"impl": "pipeline_genrec.GenRecPipeline", "pt": ["AutoModelForSeq2SeqLM"], "type": "text"},
}


def _is_remote_code(cls: type) -> bool:
    """True for the copy of this class that transformers loaded from a folder with trust_remote_code."""
    return cls.__module__.startswith("transformers_modules")


class GenRecConfig(BartConfig):
    r"""Configuration of a GenRec model: BART sizes plus the user and item catalogue.

    Id 0 of the user and item tables is reserved for tokens that belong to no user or item (special
    tokens, the ``[MASK]``, unknown ids), so a catalogue of ``num_items`` items uses item ids
    ``1..num_items``.

    Args:
        num_users: number of known users (the user-ID table has ``num_users + 1`` rows).
        num_items: number of catalogue items (the item-ID table has ``num_items + 1`` rows).
        unknown_id_policy: what the pipeline and trainer do with a raw id outside the catalogue:
            ``"error"`` raises, ``"unk"`` keeps its place as ``[UNK]`` with ID 0, ``"skip"`` drops it.
        max_item_tokens: tokens one item takes in the decoder (sets the generation length).
        num_recommendations: how many items ``generate`` returns per history by default (beam width).
        exclude_history: whether ``pipeline("genrec")`` leaves the history's items out of its recommendations by
            default. Right where users rarely come back to an item (beauty, sports); wrong where they do (yelp),
            so an export sets it from the run's validation scores with and without them.
        label_smoothing: label smoothing of the training cross-entropy.
        item_id_embedding: add an item-ID embedding to every token of an item (the paper's). With one token per
            item it only duplicates that token's embedding, so it can be turned off; ``item_ids`` are then
            accepted and not read.
        positions_from_end: number encoder positions backwards from the last real token (``[END]``), so the
            ``[MASK]`` and the most recent item sit at the same positions whatever the history's length and
            padding. BART, and the paper, count from the first token.
        decoder_start_from_mask: add the encoder's state at the ``[MASK]`` to the decoder's start token, so the
            decoder's first query already holds what the encoder read there (BERT4Rec's readout, inside GenRec's
            decoder). BART, and the paper, start every decoder from the same token embedding, whatever the
            history. Needs ``mask_token_id`` and exactly one ``[MASK]`` per input.
        decoder_start_from_last_item: add the encoder's state at the token before the ``[MASK]`` (the most
            recent item's last token) to the decoder's start token, so the most recent item reaches the output
            through the residual stream (SASRec reads its scores from that item's own position). With
            ``decoder_start_from_mask`` both states are added. Needs ``mask_token_id``.
        history_item_bias: learn one number added to the first decoding step's logit of every item in the
            history, so the model can learn how often users take an item again (none do in beauty and sports,
            some do in yelp) instead of spending top slots on what they already have. Needs one token per item
            (``max_item_tokens == 2``: its token and ``[END]``) and ``item_ids`` in the input.
        successor_item_bias: ``k > 0`` learns ``k`` numbers, the i-th added to the first decoding step's logit of
            the item whose id is the history's highest plus i. It reads the catalogue's numbering: where ids are
            given in order of first appearance (the paper's data sets, or a shop numbering new products as they
            come) the next new item is often the one after the newest the user has seen, which the paper's
            decimal item tokens let BART learn and the no-learning max(history)+k rule exploits. On shuffled ids
            it carries nothing and should learn about 0. Needs one token per item, as ``history_item_bias``.
        mask_token_id: the tokenizer's ``[MASK]`` id (set by ``from_preset`` from the tokenizer).

    Example:

    ```python
    >>> from genrec_hf import GenRecConfig
    >>> config = GenRecConfig.from_preset("small", num_users=100, num_items=500, vocab_size=118)
    >>> (config.d_model, config.encoder_layers, config.num_items)
    (128, 2, 500)
    >>> GenRecConfig.from_preset("small", num_items=500, vocab_size=118, positions_from_end="yes")
    Traceback (most recent call last):
    ...
    ValueError: positions_from_end must be True or False, got 'yes'
    >>> GenRecConfig.from_preset("small", num_items=500, vocab_size=510, max_item_tokens=2,
    ...                          history_item_bias=True).history_item_bias
    True
    >>> GenRecConfig.from_preset("small", num_items=500, vocab_size=118, history_item_bias=True)
    Traceback (most recent call last):
    ...
    ValueError: history_item_bias needs one token per item (max_item_tokens=2: ...
    >>> GenRecConfig.from_preset("small", num_items=500, vocab_size=510, max_item_tokens=2,
    ...                          successor_item_bias=-1)
    Traceback (most recent call last):
    ...
    ValueError: successor_item_bias must be an int >= 0 (how many items after the history's highest), got -1

    ```
    """

    model_type = "genrec"

    num_users: int = 0
    num_items: int = 0
    unknown_id_policy: str = "error"
    max_item_tokens: int = 8
    num_recommendations: int = 20
    exclude_history: bool = True
    label_smoothing: float = 0.0
    item_id_embedding: bool = True
    positions_from_end: bool = False
    decoder_start_from_mask: bool = False
    decoder_start_from_last_item: bool = False
    history_item_bias: bool = False
    successor_item_bias: int = 0
    mask_token_id: int | None = None

    def __post_init__(self, **kwargs):
        super().__post_init__(**kwargs)
        # Where each Auto class finds GenRec in a saved folder, so it loads with trust_remote_code=True
        # (save_pretrained alone would record only the class being saved).
        self.auto_map = {**AUTO_MAP, **(getattr(self, "auto_map", None) or {})}
        # transformers.pipeline() insists on trust_remote_code=True for any config that lists custom_pipelines,
        # even where genrec_hf is installed and registered the "genrec" task itself. So the installed class
        # keeps the entry out of the live config and writes it only into saved files (to_dict); the copy
        # loaded as remote code keeps it, which is how pipeline() finds the shipped code.
        if not _is_remote_code(type(self)):
            self.__dict__.pop("custom_pipelines", None)
        if self.unknown_id_policy not in UNKNOWN_ID_POLICIES:
            raise ValueError(
                f"unknown_id_policy={self.unknown_id_policy!r} is not one of {UNKNOWN_ID_POLICIES}"
            )
        for name in ("item_id_embedding", "positions_from_end", "decoder_start_from_mask",
                     "decoder_start_from_last_item", "history_item_bias", "exclude_history"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"{name} must be True or False, got {getattr(self, name)!r}")
        for name in ("num_users", "num_items"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        for name in ("decoder_start_from_mask", "decoder_start_from_last_item"):
            if getattr(self, name) and self.mask_token_id is None:
                raise ValueError(f"{name} finds the [MASK] in the input: set mask_token_id too (from_preset with a "
                                 f"tokenizer sets it)")
        successors = self.successor_item_bias
        if isinstance(successors, bool) or not isinstance(successors, int) or successors < 0:
            raise ValueError(f"successor_item_bias must be an int >= 0 (how many items after the history's highest), "
                             f"got {successors!r}")
        for name, on in (("history_item_bias", self.history_item_bias), ("successor_item_bias", successors)):
            if on and self.max_item_tokens != 2:
                raise ValueError(f"{name} needs one token per item (max_item_tokens=2: the item's token and [END]), "
                                 f"got max_item_tokens={self.max_item_tokens}: use a tokenizer with "
                                 f"independent_items=True (--item-codes independent)")

    def to_dict(self) -> dict[str, Any]:
        output = super().to_dict()
        output["custom_pipelines"] = {**CUSTOM_PIPELINES, **output.get("custom_pipelines", {})}
        return output

    @classmethod
    def from_preset(cls, name: str, tokenizer: Any = None, **overrides: Any) -> "GenRecConfig":
        """Build a config from a named preset (``"small"`` or ``"bart-base"``).

        With ``tokenizer`` (a ``GenRecTokenizer``), the vocabulary size, catalogue sizes, special token ids
        and item length are taken from it, so model and tokenizer agree by construction.
        """
        if name not in PRESETS:
            raise ValueError(f"unknown preset {name!r}; choose one of {sorted(PRESETS)}")
        kwargs: dict[str, Any] = dict(PRESETS[name])
        if tokenizer is not None:
            kwargs.update(tokenizer.model_config_kwargs())
        kwargs.update(overrides)
        config = cls(**kwargs)
        if tokenizer is not None:
            tokenizer.check_model_config(config)
        return config


__all__ = ["GenRecConfig", "PRESETS", "UNKNOWN_ID_POLICIES", "CUSTOM_PIPELINES"]
