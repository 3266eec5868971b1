"""Data collators that turn examples into GenRec model inputs (for ``Trainer`` and ``DataLoader``)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from transformers import BatchEncoding

from .tokenization import GenRecTokenizer


@dataclass
class NextItemCollator:
    """Fine-tuning and inference: ``[MASK]`` appended after the history; the label is the next item.

    Examples are dicts with ``history`` (item ids, oldest first), optionally ``user`` and ``target``.

    Example:

    ```python
    >>> from genrec_hf import GenRecTokenizer, NextItemCollator
    >>> tok = GenRecTokenizer.from_catalogue(items=["a", "b", "c"], users=["u"])
    >>> batch = NextItemCollator(tok)([{"user": "u", "history": ["a", "b"], "target": "c"}])
    >>> sorted(batch), tok.decode_items(batch["labels"])
    (['attention_mask', 'input_ids', 'item_ids', 'labels', 'user_ids'], ['c'])

    ```
    """

    tokenizer: GenRecTokenizer
    max_length: int | None = None
    is_indexed: bool = False
    unknown_id_policy: str | None = None

    def __call__(self, examples: Sequence[dict[str, Any]]) -> BatchEncoding:
        if not examples:
            raise ValueError("cannot collate an empty batch")
        with_target = ["target" in e and e["target"] is not None for e in examples]
        if any(with_target) and not all(with_target):
            raise ValueError("some examples have a target and some do not; a batch must be one or the other")
        return self.tokenizer.encode_histories(
            [e["history"] for e in examples],
            users=[e.get("user") for e in examples],
            targets=[e["target"] for e in examples] if all(with_target) else None,
            is_indexed=self.is_indexed,
            max_length=self.max_length,
            return_tensors="pt",
            unknown_id_policy=self.unknown_id_policy,
        )
