"""benchmarks/popularity_buckets.py splits ranking scores by how often the target occurs in training."""

import json
from collections import Counter

import pytest

from .conftest import benchmark_module


@pytest.fixture(scope="module")
def buckets():
    return benchmark_module("popularity_buckets")


def test_every_training_count_falls_in_exactly_one_bucket(buckets):
    assert [buckets.bucket_of(n) for n in (0, 1, 4, 5, 19, 20, 99, 100, 5000)] == [
        "0", "1-4", "1-4", "5-19", "5-19", "20-99", "20-99", "100+", "100+"]


def test_scores_are_split_by_the_targets_training_count(buckets):
    counts = Counter({1: 200, 2: 3})  # item 1 popular, item 2 rare, item 3 never seen
    ranked = [[1, 2], [5, 6], [9, 3]]
    table = buckets.by_bucket(ranked, [1, 2, 3], counts)
    assert table["100+"] == {"users": 1, "share": pytest.approx(1 / 3), "hr@10": 1.0, "ndcg@10": 1.0}
    assert table["1-4"]["hr@10"] == 0.0 and table["0"]["ndcg@10"] == pytest.approx(1 / 1.584962500721156)
    assert set(table) == {"0", "1-4", "100+"}  # empty buckets are left out


def test_the_run_decides_the_data_and_renumbering_it_is_scored_on(buckets, trained_run, monkeypatch, tmp_path):
    output, results = trained_run
    import genrec_hf.synthetic as synthetic_module
    from genrec_hf.synthetic import synthetic_interactions

    sequences = synthetic_interactions(num_users=40, num_items=30, num_topics=3, seed=0)
    monkeypatch.setattr(synthetic_module, "synthetic_interactions", lambda seed: sequences)
    monkeypatch.setattr(buckets, "RESULTS", tmp_path)
    assert buckets.main([str(output), "--threads", "1", "--name", "pop"]) == 0
    record = json.loads((tmp_path / "pop.json").read_text())
    assert record["data"]["ids"] == results["data"]["ids"] and record["data"]["id_seed"] == results["data"]["id_seed"]
    test = record["splits"]["test"]
    assert test["all"]["hr@10"] == pytest.approx(results["test"]["hr@10"])  # the run's own test score
    assert sum(row["users"] for row in test["by_target_training_count"].values()) == 40


def test_a_folder_that_is_not_a_finished_run_is_refused_by_name(buckets, tmp_path):
    with pytest.raises(SystemExit, match="metrics.json: not found; pass a finished run folder"):
        buckets.main([str(tmp_path)])
