"""The quick-start job and the pieces it is made of (synthetic data, collator, metrics)."""

from __future__ import annotations

import json
import math

import pytest

from genrec_hf import NextItemCollator, ranking_metrics
from genrec_hf.cli import main
from genrec_hf.synthetic import synthetic_interactions


def test_metrics_match_hand_computed_values():
    ranked = [["a", "b", "c"], ["x", "y", "z"], ["q", "r", "t"], ["t", "t", "u"]]
    targets = ["a", "z", "nope", "u"]
    got = ranking_metrics(ranked, targets, ks=(1, 2, 3))
    # ranks: 1, 3, miss, 3 (a repeated item still takes its slot)
    assert got["hr@1"] == 0.25 and got["hr@2"] == 0.25 and got["hr@3"] == 0.75
    assert got["ndcg@2"] == pytest.approx(1 / 4)
    assert got["ndcg@3"] == pytest.approx((1 + 2 / math.log2(4)) / 4)


@pytest.mark.parametrize("ranked, targets, message", [
    ([["a"]], ["a", "b"], "1 ranked lists for 2 targets"),
    ([], [], "no users"),
])
def test_metrics_reject_bad_input(ranked, targets, message):
    with pytest.raises(ValueError, match=message):
        ranking_metrics(ranked, targets)


def test_synthetic_data_is_seeded_and_sequential():
    first, again = synthetic_interactions(seed=3), synthetic_interactions(seed=3)
    assert first == again and first != synthetic_interactions(seed=4)
    # real structure: most transitions repeat a fixed item -> next item map
    transitions = {}
    for _, history in first:
        for a, b in zip(history, history[1:]):
            transitions.setdefault(a, []).append(b)
    top_share = sum(max(map(nexts.count, nexts)) for nexts in transitions.values()) / sum(map(len, transitions.values()))
    assert top_share > 0.6


def test_collator_rejects_mixed_batches(tokenizer):
    collator = NextItemCollator(tokenizer)
    with pytest.raises(ValueError, match="some examples have a target"):
        collator([{"history": ["B0001X"], "target": "B0002X"}, {"history": ["B0003X"]}])
    with pytest.raises(ValueError, match="empty batch"):
        collator([])


def test_quickstart_cli_trains_saves_and_scores(tmp_path, monkeypatch, capsys):
    import genrec_hf.quickstart as quickstart

    real_run = quickstart.run
    monkeypatch.setattr(quickstart, "run", lambda **kw: real_run(**kw, num_users=24, num_items=24))
    assert main(["quickstart", "--output", str(tmp_path), "--epochs", "1"]) == 0
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert {"hr@1", "hr@5", "hr@10", "hr@20", "ndcg@5", "ndcg@10", "ndcg@20"} <= set(metrics["test"])
    assert metrics["test"]["users"] == 24
    assert (tmp_path / "checkpoint" / "model.safetensors").exists()
    out = capsys.readouterr().out
    assert "top-5" in out and "baseline most_popular" in out


def test_cli_rejects_unknown_commands(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["fly"])
    assert exit_info.value.code == 2
    assert "invalid choice" in capsys.readouterr().err
