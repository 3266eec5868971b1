"""GenRecTokenizer: per-token user/item ids, truncation, round-trips, saved catalogue, bad input."""

from __future__ import annotations

import pytest
import torch

from genrec_hf import GenRecTokenizer


def words_of(tokenizer, ids, id_row):
    """Group (token, id) pairs of one row by their user/item id."""
    groups: dict[int, list[str]] = {}
    for token, owner in zip(tokenizer.convert_ids_to_tokens(ids), id_row):
        if owner:
            groups.setdefault(owner, []).append(token)
    return groups


def test_every_sub_token_of_an_item_carries_its_item_id(tokenizer):
    batch = tokenizer.encode_histories([["B0001X", "B0012X", "B0120X"]], users=["bob"])
    ids, item_ids = batch["input_ids"][0], batch["item_ids"][0]
    assert words_of(tokenizer, ids, item_ids) == {
        1: ["▁item", "_", "1"],
        12: ["▁item", "_", "12"],
        120: ["▁item", "_", "12", "0"],
    }


def test_user_word_carries_user_id_and_nothing_else_does(tokenizer):
    batch = tokenizer.encode_histories([["B0001X"]], users=["bob"])
    tokens = tokenizer.convert_ids_to_tokens(batch["input_ids"][0])
    assert tokens[:4] == ["[BEG]", "▁user", "_", "2"]
    assert batch["user_ids"][0] == [0, 2, 2, 2] + [0] * (len(tokens) - 4)
    assert tokens[-2:] == ["[MASK]", "[END]"]
    assert batch["item_ids"][0][-2:] == [0, 0]


def test_batch_is_right_padded_with_zero_ids(tokenizer):
    batch = tokenizer.encode_histories([["B0001X"], ["B0002X", "B0003X", "B0004X"]], users=["alice", None],
                                       return_tensors="pt")
    assert batch["input_ids"].shape == batch["user_ids"].shape == batch["item_ids"].shape
    short = batch["attention_mask"][0]
    padding = short == 0
    assert padding.any()
    assert (batch["input_ids"][0][padding] == tokenizer.pad_token_id).all()
    assert (batch["user_ids"][0][padding] == 0).all() and (batch["item_ids"][0][padding] == 0).all()
    assert (batch["user_ids"][1] == 0).all()  # no user given: no user word, no user id


def test_batched_rows_equal_single_rows(tokenizer):
    histories = [["B0001X", "B0050X"], ["B0007X"], ["B0110X", "B0002X", "B0003X"]]
    users = ["alice", 42, None]
    batch = tokenizer.encode_histories(histories, users=users)
    for row, (history, user) in enumerate(zip(histories, users)):
        single = tokenizer.encode_histories([history], users=[user])
        length = sum(batch["attention_mask"][row])
        for key in ("input_ids", "user_ids", "item_ids"):
            assert batch[key][row][:length] == single[key][0]


def test_truncation_drops_the_oldest_items_whole(tokenizer):
    history = [f"B{n:04d}X" for n in range(100, 121)]  # 21 items of 4 tokens each
    batch = tokenizer.encode_histories([history], users=["alice"], max_length=30)
    ids, item_ids = batch["input_ids"][0], batch["item_ids"][0]
    assert len(ids) <= 30
    kept = words_of(tokenizer, ids, item_ids)
    # 30 - [BEG] - user (3) - [MASK] - [END] = 24 tokens = the 6 newest items, each complete
    assert sorted(kept) == list(range(115, 121))
    assert all(len(tokens) == 4 for tokens in kept.values())


def test_max_length_too_small_for_one_item_is_an_error(tokenizer):
    with pytest.raises(ValueError, match="cannot hold a single item"):
        tokenizer.encode_histories([["B0100X"]], users=["alice"], max_length=7)


def test_digit_chunks_keep_leading_zeros():
    tokenizer = GenRecTokenizer.from_catalogue(items=range(1, 1300))
    labels = tokenizer.item_labels([1205], is_indexed=True)[0]
    assert tokenizer.convert_ids_to_tokens(labels) == ["▁item", "_", "12", "05", "[END]"]
    assert tokenizer.decode(labels, skip_special_tokens=True) == "item_1205"


def test_every_id_of_a_20000_item_catalogue_round_trips():
    raw = [f"A{n:06d}" for n in range(20_000)]
    tokenizer = GenRecTokenizer.from_catalogue(items=raw)
    labels = tokenizer.item_labels(raw)
    assert tokenizer.decode_items(labels) == raw
    assert len({tuple(label) for label in labels}) == 20_000
    # the text path agrees with the table path
    texts = tokenizer.batch_decode(labels, skip_special_tokens=True)
    assert texts == [f"item_{i}" for i in range(1, 20_001)]


def test_decode_items_reads_generated_sequences(tokenizer):
    label = tokenizer.item_labels(["B0077X"])[0]
    start = tokenizer.eos_token_id  # decoder start
    pad = tokenizer.pad_token_id
    generated = torch.tensor([[start] + label + [pad, pad],                      # [END] [PAD] [PAD]
                              [start, tokenizer.bos_token_id] + label + [pad],   # a [BEG] after the start
                              [start] + label[:2] + [tokenizer.eos_token_id, pad, pad, pad]])  # cut short
    assert tokenizer.decode_items(generated) == ["B0077X", "B0077X", None]
    assert tokenizer.decode_items(generated[:1], return_raw=False) == [77]


def test_text_and_history_encodings_agree(tokenizer):
    batch = tokenizer.encode_histories([["B0003X", "B0100X"]], users=["alice"])
    assert tokenizer("user_1 item_3 item_100 [MASK]")["input_ids"] == batch["input_ids"][0]


def test_cloze_mask_replaces_one_item_and_labels_it(tokenizer):
    batch = tokenizer.encode_histories([["B0001X", "B0002X", "B0003X"]], mask_positions=[1], append_mask=False)
    tokens = tokenizer.convert_ids_to_tokens(batch["input_ids"][0])
    assert tokens == ["[BEG]", "▁item", "_", "1", "[MASK]", "▁item", "_", "3", "[END]"]
    assert tokenizer.decode_items(batch["labels"]) == ["B0002X"]


def test_targets_become_padded_labels(tokenizer):
    batch = tokenizer.encode_histories([["B0001X"], ["B0002X"]], targets=["B0005X", "B0100X"], return_tensors="pt")
    assert batch["labels"].shape == (2, 5)
    assert batch["labels"][0, -1] == -100
    assert tokenizer.decode_items(batch["labels"]) == ["B0005X", "B0100X"]


def test_integer_and_string_forms_of_an_id_are_the_same_id(tokenizer):
    assert tokenizer.user_to_id(42) == tokenizer.user_to_id("42") == 3
    numeric = GenRecTokenizer.from_catalogue(items=[10, 20, 30])
    assert numeric.item_to_id("20") == 2 and numeric.id_to_item(2) == 20


def test_save_and_load_keep_the_catalogue(tokenizer, tmp_path):
    tokenizer.save_pretrained(tmp_path)
    loaded = GenRecTokenizer.from_pretrained(tmp_path)
    assert loaded.items.raw_ids == tokenizer.items.raw_ids
    assert loaded.users.raw_ids == ["alice", "bob", 42]
    history = [["B0001X", "B0099X"]]
    assert loaded.encode_histories(history, users=[42]) == tokenizer.encode_histories(history, users=[42])
    assert "items" not in (tmp_path / "tokenizer_config.json").read_text()  # the id map lives in its own file


# --- bad input ------------------------------------------------------------------------------------
def test_unknown_item_is_a_key_error_naming_it(tokenizer):
    with pytest.raises(KeyError, match="NOPE"):
        tokenizer.encode_histories([["B0001X", "NOPE"]])


def test_unknown_item_policies(tokenizer):
    unk = tokenizer.encode_histories([["B0001X", "NOPE"]], unknown_id_policy="unk")
    skip = tokenizer.encode_histories([["B0001X", "NOPE"]], unknown_id_policy="skip")
    assert tokenizer.unk_token_id in unk["input_ids"][0]
    assert unk["item_ids"][0][unk["input_ids"][0].index(tokenizer.unk_token_id)] == 0
    assert skip == tokenizer.encode_histories([["B0001X"]])


def test_unknown_user_is_an_error_unless_tolerated(tokenizer):
    with pytest.raises(KeyError, match="mallory"):
        tokenizer.encode_histories([["B0001X"]], users=["mallory"])
    skipped = tokenizer.encode_histories([["B0001X"]], users=["mallory"], unknown_id_policy="skip")
    assert skipped == tokenizer.encode_histories([["B0001X"]])


@pytest.mark.parametrize("history", [[], ["NOPE"]])
def test_empty_or_fully_unknown_history_is_a_value_error(tokenizer, history):
    with pytest.raises(ValueError, match="history 0"):
        tokenizer.encode_histories([history], unknown_id_policy="skip")


@pytest.mark.parametrize("bad", [1.5, None, True, ["B0001X"]])
def test_ids_that_are_not_strings_or_ints_are_rejected_by_value(tokenizer, bad):
    with pytest.raises(ValueError, match="strings or integers"):
        tokenizer.encode_histories([["B0001X", bad]])


def test_duplicate_ids_in_a_catalogue_are_rejected():
    with pytest.raises(ValueError, match="duplicate item id"):
        GenRecTokenizer.from_catalogue(items=["a", "b", "a"])
    with pytest.raises(ValueError, match="duplicate item id"):
        GenRecTokenizer.from_catalogue(items=[5, "5"])


def test_indexed_ids_out_of_range_are_rejected(tokenizer):
    with pytest.raises(ValueError, match="not an integer in 1..120"):
        tokenizer.encode_histories([[1, 121]], is_indexed=True)
