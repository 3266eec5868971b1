"""Seed ensembles: members rank with their own tokenizers, the ensemble fuses item probabilities by raw id."""

from __future__ import annotations

import json
import math

import pytest
import torch

from genrec_hf import GenRecConfig, GenRecForConditionalGeneration, GenRecTokenizer
from genrec_hf.ensemble import GenRecEnsemble, fuse_rankings
from genrec_hf.hub import retrained_members
from genrec_hf.trainer import recommend_rows

from .conftest import TINY, benchmark_module

ITEMS = [f"sku{n}" for n in range(1, 41)]
HISTORIES = [["sku3", "sku17", "sku5"], ["sku40"], ["sku8", "sku9", "sku10", "sku11"]]


def member(order: list[str], seed: int = 0) -> tuple[GenRecForConditionalGeneration, GenRecTokenizer]:
    tokenizer = GenRecTokenizer.from_catalogue(order, [], model_max_length=64, independent_items=True)
    torch.manual_seed(seed)
    config = GenRecConfig.from_preset("small", tokenizer, **TINY, item_id_embedding=False)
    return GenRecForConditionalGeneration(config).eval(), tokenizer


def renumbered(model: GenRecForConditionalGeneration, tokenizer: GenRecTokenizer, order: list[str]):
    """The same model in raw-item space under another numbering: every item's vocabulary rows move to the token
    that the new numbering gives it (as two random-id seeds number one catalogue differently)."""
    other_model, other_tokenizer = member(order)
    old = [tokenizer.item_token_ids[tokenizer.item_to_id(item)][0] for item in ITEMS]
    new = [other_tokenizer.item_token_ids[other_tokenizer.item_to_id(item)][0] for item in ITEMS]
    state = {name: tensor.clone() for name, tensor in model.state_dict().items()}
    vocab = model.config.vocab_size
    for name, tensor in state.items():
        if tensor.shape[-1] == vocab and tensor.dim() == 2 and tensor.shape[0] == 1:  # final_logits_bias
            tensor[0, new] = model.state_dict()[name][0, old]
        elif tensor.shape[0] == vocab:  # token embeddings and the tied output layer
            tensor[new] = model.state_dict()[name][old]
    other_model.load_state_dict(state)
    return other_model.eval(), other_tokenizer


def raw_ranking(model, tokenizer, histories, top_k):
    ranked = recommend_rows(model, tokenizer, [None] * len(histories), histories, top_k=top_k, progress=False)
    return [[(tokenizer.id_to_item(item), score) for item, score in row] for row in ranked]


def test_fusion_ranks_by_mean_probability_and_counts_a_missing_item_as_zero():
    a = [("x", math.log(0.5)), ("y", math.log(0.3))]
    b = [("y", math.log(0.6)), ("z", math.log(0.2))]
    fused = fuse_rankings([a, b], top_k=2)
    assert [item for item, _ in fused] == ["y", "x"]
    assert [math.exp(score) for _, score in fused] == pytest.approx([0.45, 0.25])


def test_fusion_matches_raw_ids_across_their_spellings():
    fused = fuse_rankings([[(7, math.log(0.4))], [("7", math.log(0.2))]], top_k=1)  # one item, two spellings
    assert len(fused) == 1 and math.exp(fused[0][1]) == pytest.approx(0.3)


@pytest.mark.parametrize("rankings, top_k, message", [([], 5, "at least one"), ([[("x", 0.0)]], 0, "top_k")])
def test_fusion_refuses_no_members_or_no_items(rankings, top_k, message):
    with pytest.raises(ValueError, match=message):
        fuse_rankings(rankings, top_k=top_k)


def test_a_member_numbered_differently_is_fused_by_raw_item_not_by_model_id():
    model, tokenizer = member(ITEMS)
    twin = renumbered(model, tokenizer, ITEMS[::-1])
    model_ids = [[i for i, _ in row] for row in recommend_rows(model, tokenizer, [None] * 3, HISTORIES, top_k=10,
                                                                 progress=False)]
    twin_ids = [[i for i, _ in row] for row in recommend_rows(*twin, [None] * 3, HISTORIES, top_k=10, progress=False)]
    assert twin_ids != model_ids  # the twin spells the same items with other ids
    alone = raw_ranking(model, tokenizer, HISTORIES, top_k=10)
    twin_alone = raw_ranking(*twin, HISTORIES, top_k=10)
    assert [[i for i, _ in row] for row in twin_alone] == [[i for i, _ in row] for row in alone]  # one function
    together = GenRecEnsemble([(model, tokenizer), twin]).recommend(HISTORIES, top_k=10, candidates=10,
                                                                    progress=False)
    assert [[item for item, _ in row] for row in together] == [[item for item, _ in row] for row in alone]
    for fused_row, alone_row in zip(together, alone):
        assert [s for _, s in fused_row] == pytest.approx([s for _, s in alone_row], abs=1e-5)


def test_an_ensemble_of_one_recommends_what_its_member_does():
    model, tokenizer = member(ITEMS[::-1], seed=3)
    alone = raw_ranking(model, tokenizer, HISTORIES, top_k=8)
    fused = GenRecEnsemble([(model, tokenizer)]).recommend(HISTORIES, top_k=8, candidates=8, progress=False)
    assert [[i for i, _ in row] for row in fused] == [[i for i, _ in row] for row in alone]


def test_two_different_members_give_the_mean_of_their_probabilities():
    first, second = member(ITEMS, seed=1), member(ITEMS[::-1], seed=2)
    everything = len(ITEMS)  # every item listed by both: the fusion is the exact mixture
    fused = GenRecEnsemble([first, second]).recommend(HISTORIES, top_k=5, candidates=everything, progress=False)
    for row, history in enumerate(HISTORIES):
        probabilities = {}
        for model, tokenizer in (first, second):
            for item, score in raw_ranking(model, tokenizer, [history], top_k=everything)[0]:
                probabilities[item] = probabilities.get(item, 0.0) + math.exp(score) / 2
        best = sorted(probabilities.items(), key=lambda pair: -pair[1])[:5]
        assert [math.exp(s) for _, s in fused[row]] == pytest.approx([p for _, p in best], rel=1e-5)


def test_members_must_rank_the_same_catalogue():
    with pytest.raises(ValueError, match="catalogue differs"):
        GenRecEnsemble([member(ITEMS), member(ITEMS[:-1])])


def test_an_ensemble_needs_a_member():
    with pytest.raises(ValueError, match="at least one"):
        GenRecEnsemble([])


def test_an_ensemble_of_checkpoints_of_another_data_set_is_refused(tmp_path):
    from genrec_hf.data import load_data
    from genrec_hf.ensemble import evaluate_ensemble

    model, tokenizer = member(ITEMS)  # knows sku1..sku40, not the synthetic catalogue
    model.save_pretrained(tmp_path / "a")
    tokenizer.save_pretrained(tmp_path / "a")
    with pytest.raises(ValueError, match="does not know"):
        evaluate_ensemble([tmp_path / "a", tmp_path / "a"], load_data("synthetic"))


def test_fewer_candidates_than_recommendations_is_refused():
    with pytest.raises(ValueError, match="candidates=5 must be >= top_k=10"):
        GenRecEnsemble([member(ITEMS)]).recommend(HISTORIES, top_k=10, candidates=5, progress=False)


def recorded_seeds(tmp_path, seeds=(0, 1, 2)):
    """Runs of one tiny recipe under several seeds, recorded as benchmarks/results JSONs with their checkpoints."""
    from genrec_hf.data import load_p5
    from genrec_hf.synthetic import synthetic_interactions
    from genrec_hf.training import TrainOptions, train_genrec

    folder = tmp_path / "data"
    folder.mkdir()
    sequences = synthetic_interactions(num_users=40, num_items=30, num_topics=3, seed=0)
    number = {item: n for n, item in enumerate(sorted({i for _, items in sequences for i in items}), start=1)}
    (folder / "sequential_data.txt").write_text(  # the P5 layout: integer user, then integer items
        "".join(f"{user} " + " ".join(str(number[i]) for i in items) + "\n"
                for user, (_, items) in enumerate(sequences, start=1)))
    results = tmp_path / "results"
    names = []
    for seed in seeds:  # each seed renumbers the catalogue differently, as runs.sh does
        name = "tiny-recipe" + (f"-seed{seed}" if seed else "")
        options = TrainOptions(pretrain_epochs=0, finetune_epochs=1, batch_size=16, max_length=64, eval_users=10,
                               threads=1, users=False, item_codes="independent", seed=seed,
                               config_overrides=dict(TINY))
        run = train_genrec(load_p5(folder, ids="random", seed=seed), tmp_path / name, options)
        run["benchmark"] = {"name": name}
        results.mkdir(exist_ok=True)
        (results / f"{name}.json").write_text(json.dumps(run, default=str))
        names.append(name)
    return results, names


def test_the_benchmark_scores_every_pair_of_recorded_seeds(tmp_path, monkeypatch, capsys):
    results, names = recorded_seeds(tmp_path)
    ensemble = benchmark_module("ensemble")
    monkeypatch.setattr(ensemble, "RESULTS", results)
    assert ensemble.main([*names, "--sizes", "2,3", "--threads", "1"]) == 0
    written = sorted(path.name for path in results.glob("ensemble-*.json"))
    assert written == sorted(["ensemble-tiny-recipe-seeds0-1.json", "ensemble-tiny-recipe-seeds0-2.json",
                              "ensemble-tiny-recipe-seeds1-2.json", "ensemble-tiny-recipe-seeds0-1-2.json"])
    pair = json.loads((results / "ensemble-tiny-recipe-seeds0-2.json").read_text())
    assert pair["ensemble"]["seeds"] == [0, 2] and pair["test"]["users"] == 40
    assert pair["training_s"] == pytest.approx(sum(m["training_s"] for m in pair["members"]), abs=0.2)
    for recorded in pair["members"]:  # the loaded checkpoints are the scored ones
        assert recorded["recomputed"]["test"]["ndcg@10"] == pytest.approx(recorded["recorded"]["test"]["ndcg@10"])
    assert "git_commit" in pair and "versions" in pair and "seeds0-2" in capsys.readouterr().out
    assert "history_excluded" not in pair  # only on request: it ranks the test split a second time


def test_the_benchmark_scores_ensembles_with_history_items_excluded_on_request(tmp_path, monkeypatch):
    results, names = recorded_seeds(tmp_path, seeds=(0, 1))
    ensemble = benchmark_module("ensemble")
    monkeypatch.setattr(ensemble, "RESULTS", results)
    assert ensemble.main([*names, "--threads", "1", "--history-excluded"]) == 0
    pair = json.loads((results / "ensemble-tiny-recipe-seeds0-1.json").read_text())
    assert pair["history_excluded"]["test"]["users"] == 40 and "test, history excluded" in pair["ensemble"]["scoring_s"]
    for recorded in pair["members"]:  # each member's history-excluded ranking is the one its run scored
        assert recorded["recomputed"]["history_excluded"]["ndcg@10"] == pytest.approx(
            recorded["recorded"]["history_excluded"]["ndcg@10"])


def test_the_benchmark_warns_when_a_run_folder_holds_other_weights_than_its_recorded_run(tmp_path, monkeypatch,
                                                                                        capsys):
    results, names = recorded_seeds(tmp_path, seeds=(0, 1))
    recorded = json.loads((results / f"{names[1]}.json").read_text())
    recorded["test"]["ndcg@10"] += 0.01  # as if runs/ now held a re-training that scores otherwise
    (results / f"{names[1]}.json").write_text(json.dumps(recorded))
    ensemble = benchmark_module("ensemble")
    monkeypatch.setattr(ensemble, "RESULTS", results)
    assert ensemble.main([*names, "--threads", "1"]) == 0
    warning = capsys.readouterr().err
    assert f"warning: {names[1]}:" in warning and "re-training" in warning and names[0] + ":" not in warning
    pair = json.loads((results / "ensemble-tiny-recipe-seeds0-1.json").read_text())
    assert [member["seed"] for member in retrained_members(pair)] == [1]


def test_the_benchmark_refuses_runs_of_different_recipes(capsys):
    ensemble = benchmark_module("ensemble")
    with pytest.raises(SystemExit):
        ensemble.main(["beauty-a", "sports-b"])
    assert "different recipes" in capsys.readouterr().err
