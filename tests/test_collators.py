"""The cloze collators of the paper's Figure 2."""

from __future__ import annotations

import pytest
import torch

from genrec_hf import ClozeCollator, NextItemCollator

SEQUENCES = [{"user": "alice", "items": [f"B{n:04d}X" for n in range(1, 9)]},
             {"user": "bob", "items": [f"B{n:04d}X" for n in range(20, 26)]}]


def masked_positions(tokenizer, batch):
    return [tokenizer.decode_items(batch["labels"][row:row + 1])[0] for row in range(len(batch["labels"]))]


def test_exactly_one_item_per_sequence_is_masked_and_labelled(tokenizer):
    batch = ClozeCollator(tokenizer, seed=0)(SEQUENCES)
    assert ((batch["input_ids"] == tokenizer.mask_token_id).sum(dim=1) == 1).all()
    for row, example in enumerate(SEQUENCES):
        label = tokenizer.decode_items(batch["labels"][row:row + 1])[0]
        assert label in example["items"]
        # the masked item's id is gone from the input; all the others are still there
        present = set(batch["item_ids"][row].unique().tolist()) - {0}
        assert present == {tokenizer.item_to_id(i) for i in example["items"]} - {tokenizer.item_to_id(label)}


def epochs_of_masks(collator, tokenizer, sequences, epochs=6):
    masks = []
    for epoch in range(epochs):
        collator.set_epoch(epoch)
        masks.append(masked_positions(tokenizer, collator(sequences)))
    return masks


def test_masks_change_each_epoch_and_are_reproducible_under_a_seed(tokenizer):
    epochs_a = epochs_of_masks(ClozeCollator(tokenizer, seed=3), tokenizer, SEQUENCES)
    epochs_b = epochs_of_masks(ClozeCollator(tokenizer, seed=3), tokenizer, SEQUENCES)
    assert epochs_a == epochs_b
    assert len({tuple(e) for e in epochs_a}) > 1  # different items masked across epochs
    assert epochs_of_masks(ClozeCollator(tokenizer, seed=4), tokenizer, SEQUENCES) != epochs_a


def test_a_mask_depends_on_the_example_not_on_its_batch_or_call_order(tokenizer):
    """What makes a resumed run, or one split across processes, mask exactly like an uninterrupted one."""
    collator = ClozeCollator(tokenizer, seed=0, epoch=2)
    together = masked_positions(tokenizer, collator(SEQUENCES))
    collator(SEQUENCES)  # calls in between change nothing
    apart = [masked_positions(tokenizer, collator([example]))[0] for example in reversed(SEQUENCES)]
    assert together == apart[::-1]


def test_any_position_can_be_masked_including_the_first_and_last(tokenizer):
    collator = ClozeCollator(tokenizer, seed=0)
    seen = set(sum(epochs_of_masks(collator, tokenizer, SEQUENCES[:1], epochs=200), []))
    assert seen == set(SEQUENCES[0]["items"])


def test_the_masked_item_is_never_truncated_away(tokenizer):
    long = {"user": "alice", "items": [f"B{n:04d}X" for n in range(1, 121)]}
    collator = ClozeCollator(tokenizer, seed=0, max_length=30)
    fitting = tokenizer.items_that_fit(long["items"], "alice", append_mask=False, max_length=30)
    newest = set(long["items"][-fitting:])
    for epoch in range(50):
        collator.set_epoch(epoch)
        batch = collator([long])
        assert batch["input_ids"].shape[1] <= 30
        assert masked_positions(tokenizer, batch)[0] in newest


def test_the_papers_cloze_draws_the_masks_it_always_drew(tokenizer):
    """Pinned: adding last_item_probability (off by default) must not change which item a seed masks."""
    assert epochs_of_masks(ClozeCollator(tokenizer, seed=3), tokenizer, SEQUENCES) == [
        ["B0006X", "B0023X"], ["B0002X", "B0025X"], ["B0004X", "B0024X"],
        ["B0002X", "B0020X"], ["B0002X", "B0025X"], ["B0002X", "B0025X"]]


def test_masking_the_last_item_gives_the_fine_tuning_input(tokenizer):
    cloze = ClozeCollator(tokenizer, seed=0, last_item_probability=1.0)
    fine_tuning = NextItemCollator(tokenizer)([{"user": e["user"], "history": e["items"][:-1],
                                                "target": e["items"][-1]} for e in SEQUENCES])
    for epoch in range(3):
        cloze.set_epoch(epoch)
        batch = cloze(SEQUENCES)
        for key in ("input_ids", "attention_mask", "item_ids", "user_ids", "labels"):
            assert torch.equal(batch[key], fine_tuning[key]), key


def test_a_share_of_the_masks_falls_on_the_last_item_and_the_rest_anywhere(tokenizer):
    collator = ClozeCollator(tokenizer, seed=0, last_item_probability=0.5)
    masks = sum(epochs_of_masks(collator, tokenizer, SEQUENCES[:1], epochs=400), [])
    items = SEQUENCES[0]["items"]
    # half chosen as the last item, and 1 in 8 of the other half lands there too: 0.5625 expected
    assert 0.50 < masks.count(items[-1]) / len(masks) < 0.63
    assert set(masks) == set(items)
    assert epochs_of_masks(collator, tokenizer, SEQUENCES, epochs=4) == epochs_of_masks(
        ClozeCollator(tokenizer, seed=0, last_item_probability=0.5), tokenizer, SEQUENCES, epochs=4)


@pytest.mark.parametrize("probability", [-0.1, 1.5, float("nan")])
def test_a_last_item_probability_outside_zero_to_one_is_refused(tokenizer, probability):
    with pytest.raises(ValueError, match="last_item_probability must be in"):
        ClozeCollator(tokenizer, last_item_probability=probability)


def test_cloze_collator_rejects_examples_without_items(tokenizer):
    with pytest.raises(ValueError, match="example 0 has no 'items'"):
        ClozeCollator(tokenizer)([{"history": ["B0001X"]}])
    with pytest.raises(ValueError, match="empty batch"):
        ClozeCollator(tokenizer)([])


def test_next_item_collator_appends_the_mask_and_labels_the_next_item(tokenizer):
    batch = NextItemCollator(tokenizer)([{"user": "alice", "history": ["B0001X", "B0002X"], "target": "B0003X"}])
    tokens = tokenizer.convert_ids_to_tokens(batch["input_ids"][0])
    assert tokens[-2:] == ["[MASK]", "[END]"]
    assert tokenizer.decode_items(batch["labels"]) == ["B0003X"]
    assert isinstance(batch["input_ids"], torch.Tensor)


def test_a_plain_trainer_with_the_callback_masks_afresh_each_epoch(tokenizer, model, tmp_path):
    from datasets import Dataset
    from transformers import Trainer, TrainingArguments

    from genrec_hf import SetEpochCallback

    seen = []

    class Recording(ClozeCollator):
        def __call__(self, examples):
            seen.append(self.epoch)
            return super().__call__(examples)

    args = TrainingArguments(str(tmp_path), num_train_epochs=3, per_device_train_batch_size=2, report_to=[],
                             save_strategy="no", use_cpu=True, remove_unused_columns=False, disable_tqdm=True)
    Trainer(model=model, args=args, train_dataset=Dataset.from_list(SEQUENCES), data_collator=Recording(tokenizer),
            callbacks=[SetEpochCallback()]).train()
    assert sorted(set(seen)) == [0, 1, 2]
