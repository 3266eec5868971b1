"""Data loading: P5 files, generic logs with k-core, leave-one-out without leakage, id protocols."""

from __future__ import annotations

import json

import pytest
import torch
from datasets import Dataset

from genrec_hf import ClozeCollator, NextItemCollator
from genrec_hf.data import finetune_examples, k_core, load_data, load_interactions, load_p5, max_history_baseline

P5_LINES = ["1 1 2 3 4 5", "2 6 7 2 8", "3 3 9 10 11 12 13"]


@pytest.fixture
def p5_folder(tmp_path):
    (tmp_path / "sequential_data.txt").write_text("\n".join(P5_LINES) + "\n")
    id2item = {str(i): f"ASIN{i:03d}" for i in range(1, 14)}
    id2user = {"1": "ALICE", "2": "BOB", "3": "CAROL"}
    (tmp_path / "datamaps.json").write_text(json.dumps({
        "id2item": id2item, "id2user": id2user, "item2id": {v: k for k, v in id2item.items()},
        "user2id": {v: k for k, v in id2user.items()}}))
    return tmp_path


def test_p5_leave_one_out_uses_the_raw_ids(p5_folder):
    data = load_p5(p5_folder)
    assert data.splits["test"][0] == {"user": "ALICE", "history": ["ASIN001", "ASIN002", "ASIN003", "ASIN004"],
                                      "target": "ASIN005"}
    assert data.splits["validation"][0] == {"user": "ALICE", "history": ["ASIN001", "ASIN002", "ASIN003"],
                                            "target": "ASIN004"}
    assert data.splits["train"][0] == {"user": "ALICE", "items": ["ASIN001", "ASIN002", "ASIN003"]}
    assert data.items[:3] == ["ASIN001", "ASIN002", "ASIN003"]  # sequential: the file's ids are the model ids
    assert data.tokenizer().item_to_id("ASIN013") == 13
    assert data.report["users"] == 3 and data.report["items"] == 13


def test_p5_without_datamaps_keeps_the_integers(tmp_path):
    (tmp_path / "sequential_data.txt").write_text("\n".join(P5_LINES))
    data = load_p5(tmp_path / "sequential_data.txt")
    assert data.splits["test"]["target"] == [5, 8, 13]


def test_random_protocol_is_a_seeded_permutation_and_raw_ids_round_trip(p5_folder):
    sequential, random_a, random_b = load_p5(p5_folder), load_p5(p5_folder, ids="random", seed=1), \
        load_p5(p5_folder, ids="random", seed=1)
    assert random_a.items == random_b.items and sorted(random_a.items) == sorted(sequential.items)
    assert random_a.items != sequential.items
    assert load_p5(p5_folder, ids="random", seed=2).items != random_a.items
    assert random_a.splits["test"]["target"] == sequential.splits["test"]["target"]  # rows hold raw ids
    tokenizer = random_a.tokenizer()
    for raw in sequential.items:
        assert tokenizer.id_to_item(tokenizer.item_to_id(raw)) == raw
    with pytest.raises(ValueError, match="ids='shuffled'"):
        load_p5(p5_folder, ids="shuffled")


@pytest.mark.parametrize("content, message", [
    ("1 1 2 3\n2 6 x 8\n", r"sequential_data.txt:2: 'x' is not an integer id"),
    ("1 1 2 3\n2\n", r"sequential_data.txt:2: a line needs a user id"),
    ("", r"sequential_data.txt: the file is empty"),
    ("1 1 2 3\n1 4 5 6\n", r"sequential_data.txt:2: user 1 already appeared on line 1"),
    ("1 0 2 3\n", r"sequential_data.txt:1: ids start at 1"),
])
def test_malformed_p5_files_name_file_and_line(tmp_path, content, message):
    (tmp_path / "sequential_data.txt").write_text(content)
    with pytest.raises(ValueError, match=message):
        load_p5(tmp_path)


def test_p5_datamaps_missing_an_item_is_an_error(p5_folder):
    datamaps = json.loads((p5_folder / "datamaps.json").read_text())
    del datamaps["id2item"]["7"]
    (p5_folder / "datamaps.json").write_text(json.dumps(datamaps))
    with pytest.raises(ValueError, match=r"item ids \[7\]"):
        load_p5(p5_folder)


def test_missing_p5_file_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="sequential_data.txt"):
        load_p5(tmp_path)


# --- generic logs ---------------------------------------------------------------------------------
def write_log(path, rows, header="user,item,timestamp"):
    path.write_text(header + "\n" + "\n".join(",".join(map(str, r)) for r in rows) + "\n")
    return path


def test_k_core_repeats_until_stable():
    # round 1 drops item w (1 interaction); that leaves user c with 1 item, dropped in round 2
    pairs = [("a", "x"), ("a", "y"), ("b", "x"), ("b", "y"), ("c", "x"), ("c", "w")]
    kept, rounds = k_core(pairs, 2)
    assert kept == [("a", "x"), ("a", "y"), ("b", "x"), ("b", "y")]
    assert rounds == [{"rows_removed": 1, "users_removed": 0, "items_removed": 1},
                      {"rows_removed": 1, "users_removed": 1, "items_removed": 0}]
    assert k_core(pairs, 3) == ([], [{"rows_removed": 6, "users_removed": 3, "items_removed": 2}])


def test_interaction_log_is_sorted_by_time_per_user_and_reported(tmp_path):
    rows = [(u, f"i{(u * 3 + t) % 6}", 100 - t) for u in range(6) for t in range(5)]  # written newest first
    data = load_interactions(write_log(tmp_path / "log.csv", rows), k=2)
    user0 = next(r for r in data.splits["test"] if r["user"] == "0")
    assert user0["history"] + [user0["target"]] == [f"i{(0 + t) % 6}" for t in reversed(range(5))]
    assert data.report["k_core"] == 2 and data.report["source_rows"] == 30


def test_interaction_log_from_a_dataset_and_parquet(tmp_path):
    table = Dataset.from_dict({"uid": ["a"] * 3 + ["b"] * 3, "iid": [1, 2, 3, 1, 2, 3], "t": [1, 2, 3, 1, 2, 3]})
    data = load_interactions(table, user_column="uid", item_column="iid", time_column="t", k=1)
    assert data.splits["test"]["target"] == [3, 3]
    table.to_parquet(str(tmp_path / "log.parquet"))
    again = load_interactions(tmp_path / "log.parquet", user_column="uid", item_column="iid", time_column="t", k=1)
    assert again.splits["test"].to_list() == data.splits["test"].to_list()


@pytest.mark.parametrize("rows, header, message", [
    ([("a", "x", "yesterday")], "user,item,timestamp", r"log.csv: line 2 has a non-numeric 'timestamp': 'yesterday'"),
    ([("a", "x")], "user,item,timestamp", r"log.csv: line 2 has 2 fields, the header has 3"),
    ([("a", "x", 1)], "user,product,timestamp", r"missing column\(s\) \['item'\]"),
    ([], "user,item,timestamp", "a header but no rows"),
])
def test_bad_logs_name_file_and_line(tmp_path, rows, header, message):
    with pytest.raises(ValueError, match=message):
        load_interactions(write_log(tmp_path / "log.csv", rows, header), k=1)


def test_empty_log_file_is_an_error(tmp_path):
    (tmp_path / "log.csv").write_text("")
    with pytest.raises(ValueError, match="the file is empty"):
        load_interactions(tmp_path / "log.csv")


def test_nothing_surviving_k_core_is_an_error(tmp_path):
    with pytest.raises(ValueError, match="nothing survives 5-core"):
        load_interactions(write_log(tmp_path / "log.csv", [("a", "x", 1), ("b", "y", 2)]))


# --- no leakage -----------------------------------------------------------------------------------
def test_training_inputs_and_labels_never_contain_a_held_out_item(tmp_path):
    # every user's last two items are unique to that position, so any appearance would be a leak
    lines = [f"{u} " + " ".join(str(100 + (u * 5 + k) % 40) for k in range(6)) + f" {500 + 2 * u} {501 + 2 * u}"
             for u in range(1, 31)]
    (tmp_path / "sequential_data.txt").write_text("\n".join(lines))
    data = load_p5(tmp_path)
    tokenizer = data.tokenizer()
    validation_targets = {tokenizer.item_to_id(t) for t in data.splits["validation"]["target"]}
    test_targets = {tokenizer.item_to_id(t) for t in data.splits["test"]["target"]}
    pretrain = ClozeCollator(tokenizer, seed=0)(list(data.splits["train"]))
    finetune = NextItemCollator(tokenizer)(list(finetune_examples(data.splits["train"], prefixes=True)))
    for batch, forbidden in ((pretrain, validation_targets | test_targets), (finetune, test_targets | validation_targets)):
        seen = set(batch["item_ids"].unique().tolist())
        labels = set(tokenizer.decode_items(batch["labels"], return_raw=False))
        assert not (seen | labels) & forbidden
    # the validation rows never contain the test item either
    for row in data.splits["validation"]:
        assert tokenizer.item_to_id(row["target"]) not in test_targets
        assert not {tokenizer.item_to_id(i) for i in row["history"]} & test_targets


def test_finetune_examples_last_item_or_every_prefix():
    train = Dataset.from_dict({"user": ["u"], "items": [["a", "b", "c", "d"]]})
    last = finetune_examples(train)
    assert last.to_list() == [{"user": "u", "history": ["a", "b", "c"], "target": "d"}]
    every = finetune_examples(train, prefixes=True)
    assert [r["target"] for r in every] == ["b", "c", "d"]


def test_max_history_baseline_recommends_the_next_ids():
    assert max_history_baseline([[3, 7, 5]], num_items=10, top_k=5) == [[8, 9, 10]]


def test_load_data_dispatches_on_the_source(p5_folder, tmp_path):
    assert load_data(p5_folder).source.endswith("sequential_data.txt")
    assert load_data("synthetic").source == "synthetic"
    log = write_log(tmp_path / "log.tsv", [], "user\titem\ttimestamp")
    log.write_text("user\titem\ttimestamp\n" + "\n".join(f"u{u}\ti{(u + t) % 5}\t{t}" for u in range(5)
                                                           for t in range(5)))
    assert load_data(log, k=2).report["source_rows"] == 25
    with pytest.raises(ValueError, match="unsupported file type"):
        (tmp_path / "log.xlsx").write_text("x")
        load_data(tmp_path / "log.xlsx")


def test_collated_batches_work_with_a_dataloader(p5_folder):
    data = load_p5(p5_folder)
    loader = torch.utils.data.DataLoader(list(data.splits["train"]), batch_size=2,
                                         collate_fn=ClozeCollator(data.tokenizer(), seed=0))
    batches = list(loader)
    assert [b["input_ids"].shape[0] for b in batches] == [2, 1]
    assert all(set(b) == {"input_ids", "attention_mask", "user_ids", "item_ids", "labels"} for b in batches)
