"""Data collators that turn examples into GenRec model inputs (for ``Trainer`` and ``DataLoader``)."""

from __future__ import annotations

import random
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


@dataclass
class ClozeCollator:
    """Pretraining (paper section 4.2, Figure 2): exactly ONE item of each sequence, anywhere in it, is
    replaced by ``[MASK]``; the label is that item's tokens.

    Examples are dicts with ``items`` (a training sequence, oldest first) and optionally ``user``. The mask
    position is a pure function of ``(seed, epoch, example)``: each epoch masks a different item of a sequence,
    and the same seed and epoch always mask the same one, whatever the batch, the process (DDP) or a resumed
    run. ``GenRecTrainer`` calls :meth:`set_epoch` at the start of every epoch; with another Trainer add
    ``genrec_hf.SetEpochCallback()`` to its callbacks, and a hand-written loop calls it itself, as with PyTorch's
    ``DistributedSampler``. When a sequence is longer than ``max_length``, the position is
    drawn among the items that survive truncation.

    ``last_item_probability`` masks the most recent item instead in that share of the sequences (drawn from the
    same keyed generator), as BERT4Rec does (RecBole's ``ft_ratio``, 0.5 there): the input then ends in ``[MASK]``,
    the fine-tuning task's shape.
    0 (the default, the paper's) masks every position alike and draws exactly the positions it always did.

    Example:

    ```python
    >>> from genrec_hf import ClozeCollator, GenRecTokenizer
    >>> tok = GenRecTokenizer.from_catalogue(items=["a", "b", "c"], users=["u"])
    >>> collator = ClozeCollator(tok, seed=0)
    >>> batch = collator([{"user": "u", "items": ["a", "b", "c"]}])
    >>> (batch["input_ids"] == tok.mask_token_id).sum().item(), tok.decode_items(batch["labels"])
    (1, ['a'])
    >>> collator.set_epoch(1)
    >>> tok.decode_items(collator([{"user": "u", "items": ["a", "b", "c"]}])["labels"])
    ['c']
    >>> last = ClozeCollator(tok, seed=0, last_item_probability=1.0)  # BERT4Rec's fine-tuning-shaped samples
    >>> tok.decode_items(last([{"user": "u", "items": ["a", "b", "c"]}])["labels"])
    ['c']
    >>> ClozeCollator(tok, last_item_probability=2.0)
    Traceback (most recent call last):
    ...
    ValueError: last_item_probability must be in [0, 1], got 2.0

    ```
    """

    tokenizer: GenRecTokenizer
    seed: int = 0
    max_length: int | None = None
    is_indexed: bool = False
    epoch: int = 0
    last_item_probability: float = 0.0

    def __post_init__(self) -> None:
        if not 0 <= self.last_item_probability <= 1:  # also refuses NaN
            raise ValueError(f"last_item_probability must be in [0, 1], got {self.last_item_probability}")

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def mask_position(self, example: dict[str, Any], fitting: int) -> int:
        """Index among the last ``fitting`` items of the example, from a generator keyed by seed, epoch and example."""
        key = f"{self.seed}|{self.epoch}|{example.get('user')!r}|{','.join(map(str, example['items']))}"
        generator = random.Random(key)
        if self.last_item_probability and generator.random() < self.last_item_probability:
            return len(example["items"]) - 1
        return len(example["items"]) - fitting + generator.randrange(fitting)

    def __call__(self, examples: Sequence[dict[str, Any]]) -> BatchEncoding:
        if not examples:
            raise ValueError("cannot collate an empty batch")
        positions = []
        for index, example in enumerate(examples):
            if "items" not in example:
                raise ValueError(f"example {index} has no 'items' (the training sequence to mask)")
            fitting = self.tokenizer.items_that_fit(example["items"], example.get("user"), append_mask=False,
                                                    is_indexed=self.is_indexed, max_length=self.max_length,
                                                    unknown_id_policy="error")
            positions.append(self.mask_position(example, fitting))
        return self.tokenizer.encode_histories(
            [e["items"] for e in examples],
            users=[e.get("user") for e in examples],
            mask_positions=positions,
            append_mask=False,
            is_indexed=self.is_indexed,
            max_length=self.max_length,
            return_tensors="pt",
            unknown_id_policy="error",
        )
