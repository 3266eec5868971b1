"""Collaborative item codes: distinct, co-bought items share leading tokens, built from training data only."""

from __future__ import annotations

import pytest

from genrec_hf import GenRecTokenizer
from genrec_hf.indexing import collaborative_codes


def test_codes_are_distinct_two_digit_paths(tiny_data):
    tokenizer = tiny_data.tokenizer()
    sequences = [[tokenizer.item_to_id(i) for i in items] for items in tiny_data.splits["train"]["items"]]
    codes = collaborative_codes(sequences, tokenizer.num_items, branching=4)
    assert len(codes) == tokenizer.num_items == len({tuple(c) for c in codes})
    assert all(0 <= c < 4 for code in codes for c in code)


def test_items_bought_together_share_their_first_token():
    group_a, group_b = [1, 2, 3, 4], [5, 6, 7, 8]
    sequences = [group_a[i:] + group_a[:i] for i in range(4)] * 3 + [group_b[i:] + group_b[:i] for i in range(4)] * 3
    codes = collaborative_codes(sequences, num_items=8, branching=2)
    assert len({codes[i - 1][0] for i in group_a}) == 1 and len({codes[i - 1][0] for i in group_b}) == 1
    assert codes[0][0] != codes[4][0]


def test_the_codes_come_from_the_training_split_only(tiny_data):
    tokenizer = tiny_data.tokenizer(item_codes="collaborative")
    plain = tiny_data.tokenizer()
    sequences = [[plain.item_to_id(i) for i in items] for items in tiny_data.splits["train"]["items"]]
    assert tokenizer.item_codes == collaborative_codes(sequences, plain.num_items, seed=tiny_data.seed)


def test_a_tokenizer_spells_items_by_their_codes_and_keeps_them_when_saved(tmp_path):
    tokenizer = GenRecTokenizer.from_catalogue(["a", "b", "c"], ["u"], item_codes=[[7, 1], [7, 2], [42]])
    assert tokenizer.convert_ids_to_tokens(tokenizer.item_token_ids[2]) == ["▁item", "_", "07", "02"]
    batch = tokenizer.encode_histories([["a", "c"]], users=["u"], targets=["b"], return_tensors="pt")
    assert tokenizer.decode_items(batch["labels"]) == ["b"]
    tokenizer.save_pretrained(tmp_path)
    again = GenRecTokenizer.from_pretrained(tmp_path)
    assert again.item_codes == [[7, 1], [7, 2], [42]] and again.item_token_ids == tokenizer.item_token_ids


@pytest.mark.parametrize("codes, message", [
    ([[1], [2]], "2 codes for 3 items"),
    ([[1], [1], [2]], "items 1 and 2 have the same code"),
    ([[1], [100], [2]], "numbers 0..99"),
    ([[1], [], [2]], "non-empty"),
])
def test_bad_codes_are_refused(codes, message):
    with pytest.raises(ValueError, match=message):
        GenRecTokenizer.from_catalogue(["a", "b", "c"], item_codes=codes)
