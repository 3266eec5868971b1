"""Publishing: the model card tells the truth and parses back; `push` sends one complete commit; the pushed
folder loads from an offline Hub cache with every Auto class and the pipeline, without genrec_hf."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest
from huggingface_hub import CommitOperationAdd, CommitOperationDelete, EvalResult, ModelCard

from genrec_hf.cli import main
from genrec_hf.hub import PushError, export_run, model_card, pipeline_excludes_history, push_run, read_seed_runs

from .conftest import HIDE_GENREC_HF, build_hf_cache, run_python

EXPECTED_FILES = {
    "README.md", "config.json", "generation_config.json", "model.safetensors", "tokenizer.json",
    "tokenizer_config.json", "genrec_id_map.json", "configuration_genrec.py", "modeling_genrec.py",
    "tokenization_genrec.py", "generation_genrec.py", "pipeline_genrec.py", "training_curves.png",
    "genrec_metrics.json",
}


class RecordingHfApi:
    """Stands in for huggingface_hub.HfApi at the network boundary: records calls, sends nothing."""

    def __init__(self, remote_files=(".gitattributes",)):
        self.calls, self.remote_files = [], list(remote_files)

    def create_repo(self, repo_id, **kwargs):
        self.calls.append(("create_repo", repo_id, kwargs))

    def create_branch(self, repo_id, **kwargs):
        self.calls.append(("create_branch", repo_id, kwargs))

    def list_repo_files(self, repo_id, **kwargs):
        self.calls.append(("list_repo_files", repo_id, kwargs))
        return self.remote_files

    def create_commit(self, repo_id, operations, **kwargs):
        self.calls.append(("create_commit", repo_id, kwargs))
        self.operations = operations
        return type("CommitInfo", (), {"commit_url": f"https://hub/{repo_id}/commit/1", "pr_url": None})()


def test_card_metadata_is_what_a_hub_user_expects(trained_run):
    output, _ = trained_run
    card = model_card(output, "org/genrec-tiny")
    data = card.data
    assert data.library_name == "transformers" and data.license == "apache-2.0"
    assert {"recommendation", "sequential-recommendation", "genrec", "bart"} <= set(data.tags)
    assert data.datasets and data.metrics == ["hit_rate", "ndcg"]
    for section in ("## How to use", "## Training data and preprocessing", "## Training procedure",
                    "## Evaluation", "## Limitations", "## Citation", "trust_remote_code=True", "2407.21191"):
        assert section in card.content


def test_card_numbers_are_the_runs_numbers(trained_run):
    output, results = trained_run
    card = model_card(output, "org/genrec-tiny")
    values = {r.metric_type: r.metric_value for r in card.data.eval_results}
    assert values["hr@10"] == pytest.approx(results["test"]["hr@10"], abs=1e-6)
    assert values["ndcg@20"] == pytest.approx(results["test"]["ndcg@20"], abs=1e-6)
    assert {r.dataset_config for r in card.data.eval_results} == {"random-ids"}
    rule = results["baselines"]["max_history_plus_k"]["test"]
    row = f"| max(history)+k rule, `random` ids (no learning) | {rule['hr@1']:.4f} | {rule['hr@5']:.4f}"
    assert row in card.content


def test_card_states_the_learning_rate_schedule_the_run_used(trained_run, tmp_path):
    output, results = trained_run
    assert results["options"]["lr_scheduler"] == "linear"
    assert "linear schedule with 5% warm-up" in model_card(output, "org/genrec-tiny").content
    assert "cosine schedule with 5% warm-up" in card_with_options(output, tmp_path, lr_scheduler="cosine")


def card_with_options(output, tmp_path, **options) -> str:
    """The card of a copy of the run whose recorded options are changed as given."""
    variant = tmp_path / "variant-run"
    shutil.copytree(output, variant)
    metrics = json.loads((variant / "metrics.json").read_text())
    metrics["options"].update(options)
    (variant / "metrics.json").write_text(json.dumps(metrics))
    return model_card(variant, "org/genrec-tiny").content


def test_card_states_when_the_cloze_masked_the_last_item_more_often(trained_run, tmp_path):
    output, _ = trained_run
    assert "BERT4Rec" not in model_card(output, "org/genrec-tiny").content  # the paper's cloze
    assert ("item's tokens); in 50% of the histories the masked item was the most recent one, so the input ended in "
            "`[MASK]` as in fine-tuning") in card_with_options(output, tmp_path, cloze_last_item_probability=0.5)


def test_card_states_when_fine_tuning_started_from_shrunk_pretrained_weights(trained_run, tmp_path):
    output, _ = trained_run
    assert "Warm start shrunk" not in model_card(output, "org/genrec-tiny").content
    assert ("- Warm start shrunk: fine-tuning started from 0.5 x the pretrained weights + 0.5 x a fresh "
            "initialisation") in card_with_options(output, tmp_path, pretrained_weight=0.5)


def test_card_states_where_the_training_budget_stopped_a_stage(trained_run, tmp_path):
    output, _ = trained_run
    assert "Training budget" not in model_card(output, "org/genrec-tiny").content  # the run had none
    cut = tmp_path / "cut-run"
    shutil.copytree(output, cut)
    metrics = json.loads((cut / "metrics.json").read_text())
    metrics["options"]["budget_min"] = 60
    metrics["budget"] = {"stopped": {"finetune": 1.5}, "skipped": []}
    (cut / "metrics.json").write_text(json.dumps(metrics))
    assert ("- Training budget: 60 min of wall time for pretraining and fine-tuning (`--budget-min`; the final "
            "scoring not counted): finetune stopped at epoch 1.5 of 2.") in model_card(cut, "org/genrec-tiny").content


def test_card_parses_back_and_its_eval_results_round_trip(trained_run, tmp_path):
    output, _ = trained_run
    card = model_card(output, "org/genrec-tiny")
    card.save(tmp_path / "README.md")
    parsed = ModelCard.load(tmp_path / "README.md")
    assert parsed.data.eval_results == card.data.eval_results
    assert all(isinstance(r, EvalResult) for r in parsed.data.eval_results)
    assert parsed.data.to_dict() == card.data.to_dict()


def test_card_sets_both_protocols_side_by_side(trained_run, tmp_path):
    output, _ = trained_run
    companion = tmp_path / "sequential-run"
    companion.mkdir()
    metrics = json.loads((output / "metrics.json").read_text())
    metrics["data"]["ids"] = "sequential"
    metrics["test"] = {k: v / 2 if isinstance(v, float) else v for k, v in metrics["test"].items()}
    (companion / "metrics.json").write_text(json.dumps(metrics))
    card = model_card(output, "org/genrec-tiny", companions=[companion])
    configs = {r.dataset_config: r for r in card.data.eval_results if r.metric_type == "hr@10"}
    assert set(configs) == {"random-ids", "sequential-ids"}
    assert configs["sequential-ids"].metric_value == pytest.approx(metrics["test"]["hr@10"], abs=1e-6)
    with pytest.raises(ValueError, match="same id protocol"):
        model_card(output, "org/genrec-tiny", companions=[output])


def test_a_companion_can_be_a_recorded_results_json_without_its_run_folder(trained_run, tmp_path):
    # benchmarks/publish.sh falls back to benchmarks/results/NAME.json when runs/NAME is gone with a machine
    output, _ = trained_run
    metrics = json.loads((output / "metrics.json").read_text())
    metrics["data"]["ids"] = "sequential"
    metrics["checkpoint"] = "runs/beauty-sequential-small/checkpoint"
    metrics["test"]["hr@10"] = 0.0123
    recorded = tmp_path / "beauty-sequential-small.json"
    recorded.write_text(json.dumps({**metrics, "command": "python benchmarks/train.py ...", "benchmark": "x"}))
    card = model_card(output, "org/genrec-tiny", companions=[recorded])
    sequential = [r for r in card.data.eval_results if r.dataset_config == "sequential-ids" and r.metric_type == "hr@10"]
    assert [r.metric_value for r in sequential] == [pytest.approx(0.0123)]
    assert "companion run `beauty-sequential-small`, `sequential` ids" in card.content


@pytest.mark.parametrize("item_codes, users, phrase", [
    ("decimal", True, None),
    ("collaborative", True, "collaborative codes"),
    ("independent", True, "one token per item"),
    ("decimal", False, "item-only model"),
])
def test_card_says_how_items_are_spelled_and_whether_users_are_read(trained_run, tmp_path, item_codes, users,
                                                                    phrase):
    output, _ = trained_run
    variant = tmp_path / "variant"
    variant.mkdir()
    metrics = json.loads((output / "metrics.json").read_text())
    metrics["options"].update(item_codes=item_codes, users=users)
    (variant / "metrics.json").write_text(json.dumps(metrics))
    text = model_card(variant, "org/genrec-tiny").text
    for other in ("collaborative codes", "one token per item", "item-only model"):
        assert (other in text) == (other == phrase)


@pytest.mark.parametrize("users, limitation", [(["u1"], "A new user is"), ([], "the model reads no user")])
def test_card_limitations_speak_of_users_only_when_the_model_reads_them(trained_run, tmp_path, users, limitation):
    output, _ = trained_run
    variant = tmp_path / "variant"
    (variant / "checkpoint").mkdir(parents=True)
    (variant / "metrics.json").write_text((output / "metrics.json").read_text())
    (variant / "checkpoint" / "genrec_id_map.json").write_text(json.dumps({"items": ["i1", "i2"], "users": users}))
    limitations = model_card(variant, "org/genrec-tiny").text.split("## Limitations")[1]
    assert limitation in limitations
    assert ("user" in limitations.split("**The sequential-id leak**")[0].replace("reads no user", "")) == bool(users)


@pytest.mark.parametrize("override, value, sentence", [
    ("item_id_embedding", False, "No item-ID embedding"),
    ("positions_from_end", True, "Encoder positions counted from the end"),
    ("decoder_start_from_mask", True, "Decoder started from the `[MASK]`"),
    ("decoder_start_from_last_item", True, "Decoder started from the most recent item"),
    ("history_item_bias", True, "History item bias: one learned number"),
    ("successor_item_bias", 20, "Successor item bias: 20 learned numbers"),
])
@pytest.mark.parametrize("changed", [True, False])
def test_card_says_when_the_model_departs_from_the_papers_input(trained_run, tmp_path, override, value, sentence,
                                                                 changed):
    output, _ = trained_run
    variant = tmp_path / "variant"
    shutil.copytree(output, variant)
    metrics = json.loads((variant / "metrics.json").read_text())
    metrics["options"]["config_overrides"][override] = value if changed else not value
    (variant / "metrics.json").write_text(json.dumps(metrics))
    training = model_card(variant, "org/genrec-tiny").text.split("## Limitations")[0]
    assert (sentence in training) == changed


def with_validation_ndcg10(output, tmp_path, kept: float, excluded: float):
    """A copy of a finished run whose validation NDCG@10 with and without history items is the one given."""
    variant = tmp_path / f"variant-{kept}-{excluded}"
    shutil.copytree(output, variant)
    metrics = json.loads((variant / "metrics.json").read_text())
    metrics["validation"]["ndcg@10"] = kept
    metrics["history_excluded"]["validation"]["ndcg@10"] = excluded
    (variant / "metrics.json").write_text(json.dumps(metrics))
    return variant, metrics


def test_pipeline_default_for_history_items_is_decided_on_validation_not_test():
    def run(kept, excluded, test_kept=0.01, test_excluded=0.05):
        return {"validation": {"ndcg@10": kept}, "test": {"ndcg@10": test_kept},
                "history_excluded": {"validation": {"ndcg@10": excluded}, "test": {"ndcg@10": test_excluded}}}
    assert pipeline_excludes_history(run(0.03, 0.04)) is True
    assert pipeline_excludes_history(run(0.036, 0.021)) is False  # yelp: users come back to items
    assert pipeline_excludes_history(run(0.03, 0.03)) is True
    assert pipeline_excludes_history({"validation": {"ndcg@10": 0.03}}) is True  # never scored without them


def test_card_and_export_of_a_model_whose_users_come_back_to_items_keep_history_items(trained_run, tmp_path):
    output, _ = trained_run
    variant, metrics = with_validation_ndcg10(output, tmp_path, kept=0.0363, excluded=0.0206)
    card = model_card(variant, "org/genrec-tiny")
    kept_row = "| **this model**, `random` ids (the pipeline's default) |"
    assert kept_row in card.content
    assert "| **this model**, `random` ids, history items excluded |" in card.content
    assert "NDCG@10 0.0206 against 0.0363" in card.content and "history items kept" in card.content
    folder = export_run(variant, tmp_path / "folder", "org/genrec-tiny")
    assert json.loads((folder / "config.json").read_text())["exclude_history"] is False
    other, _ = with_validation_ndcg10(output, tmp_path, kept=0.03, excluded=0.04)
    folder = export_run(other, tmp_path / "other-folder", "org/genrec-tiny")
    assert json.loads((folder / "config.json").read_text())["exclude_history"] is True


def test_card_gives_the_history_excluded_scores_the_pipeline_delivers(trained_run, tmp_path):
    output, results = with_validation_ndcg10(*trained_run[:1], tmp_path, kept=0.03, excluded=0.04)
    card = model_card(output, "org/genrec-tiny")
    excluded = results["history_excluded"]["test"]
    row = (f"| **this model**, `random` ids, history items excluded (the pipeline's default) | {excluded['hr@1']:.4f} | "
           f"{excluded['hr@5']:.4f}")
    assert row in card.content and "exclude_history=False" in card.content
    hr10 = [r.metric_value for r in card.data.eval_results if r.metric_type == "hr@10"]
    assert hr10 == [pytest.approx(results["test"]["hr@10"], abs=1e-6)]  # model-index: the paper protocol only


def _seed_variant(output, tmp_path, seed, hr10, options=None):
    """The recorded JSON of the trained run's recipe under another seed (benchmarks/train.py's copy)."""
    metrics = json.loads((output / "metrics.json").read_text())
    metrics["options"].update({"seed": seed, "threads": 2, **(options or {})})
    metrics["test"]["hr@10"] = hr10
    path = tmp_path / f"run-seed{seed}.json"
    path.write_text(json.dumps(metrics))
    return path


def test_card_gives_the_recipe_over_seeds_as_mean_and_std(trained_run, tmp_path):
    output, results = trained_run
    others = [_seed_variant(output, tmp_path, 1, results["test"]["hr@10"] + 0.02),
              _seed_variant(output, tmp_path, 2, results["test"]["hr@10"] + 0.04)]
    card = model_card(output, "org/genrec-tiny", seed_runs=others).content
    row = next(line for line in card.splitlines() if line.startswith("| this recipe, 3 seeds (0, 1, 2): mean ± std"))
    assert f"| {results['test']['hr@10'] + 0.02:.4f} ± 0.0200 |" in row
    assert "trained 3 times" in card


@pytest.mark.parametrize("change, message", [
    (dict(finetune_epochs=7), "differs in finetune_epochs"),
    (dict(seed=0), "seed runs repeat a seed"),
])
def test_card_refuses_seed_runs_of_another_recipe_or_the_same_seed(trained_run, tmp_path, change, message):
    output, results = trained_run
    other = _seed_variant(output, tmp_path, 1, 0.1, change)
    with pytest.raises(ValueError, match=message):
        model_card(output, "org/genrec-tiny", seed_runs=[other])


@pytest.mark.parametrize("recorded_default, message", [(True, None), (False, "differs in average_epochs")])
def test_a_seed_run_recorded_before_an_option_existed_counts_as_its_default(trained_run, tmp_path, recorded_default,
                                                                           message):
    output, _ = trained_run
    other = _seed_variant(output, tmp_path, 1, 0.1)
    older = json.loads(other.read_text())
    del older["options"]["average_epochs"]  # a run from before the option: it averaged nothing, the default
    other.write_text(json.dumps(older))
    metrics = json.loads((output / "metrics.json").read_text())
    if not recorded_default:
        metrics["options"]["average_epochs"] = 5
    if message is None:
        assert len(read_seed_runs(metrics, [other])) == 1
    else:
        with pytest.raises(ValueError, match=message):
            read_seed_runs(metrics, [other])


def _record_of_this_seed(output, tmp_path, hr10, **changes):
    """The project's result JSON of the trained run's own recipe and seed, from an earlier training elsewhere."""
    metrics = json.loads((output / "metrics.json").read_text())
    metrics["test"]["hr@10"] = hr10
    metrics.update(git_commit="3f95a65", machine={**metrics.get("machine", {}), "cpu_model": "AMD EPYC"})
    for key, value in changes.items():
        metrics["options"][key] = value
    path = tmp_path / "run-record.json"
    path.write_text(json.dumps(metrics))
    return path


def test_card_of_a_re_training_gives_the_recorded_run_and_averages_the_record_over_seeds(trained_run, tmp_path):
    output, results = trained_run
    mine = results["test"]["hr@10"]
    record = _record_of_this_seed(output, tmp_path, mine + 0.01)
    others = [_seed_variant(output, tmp_path, 1, mine + 0.03)]
    card = model_card(output, "org/genrec-tiny", seed_runs=others, recorded=record)
    lines = card.content.splitlines()
    row = next(line for line in lines if line.startswith("| recorded training of this seed (commit `3f95a65`)"))
    assert f"| {mine + 0.01:.4f} |" in row
    seeds = next(line for line in lines if line.startswith("| this recipe, 2 seeds (0, 1): mean ± std"))
    assert f"| {mine + 0.02:.4f} ± {0.02 / 2 ** 0.5:.4f} |" in seeds  # the record's seed 0, not this re-training
    assert "a re-training of seed 0" in card.content and "AMD EPYC" in card.content
    assert {r.metric_value for r in card.data.eval_results if r.metric_type == "hr@10"} == {round(mine, 6)}


def test_a_record_that_scores_what_this_training_scores_adds_nothing_to_the_card(trained_run, tmp_path):
    output, results = trained_run
    repeat = _record_of_this_seed(output, tmp_path, results["test"]["hr@10"])  # another commit, the same scores
    for record in (output / "metrics.json", repeat):
        card = model_card(output, "org/genrec-tiny", recorded=record).content
        assert "recorded training" not in card and "re-training" not in card


@pytest.mark.parametrize("change, message", [
    (dict(seed=1), "the record of seed 1, this model is seed 0"),
    (dict(finetune_epochs=7), "differs in finetune_epochs"),
])
def test_card_refuses_a_record_of_another_seed_or_recipe(trained_run, tmp_path, change, message):
    output, _ = trained_run
    with pytest.raises(ValueError, match=message):
        model_card(output, "org/genrec-tiny", recorded=_record_of_this_seed(output, tmp_path, 0.1, **change))


def test_card_names_the_cpu_the_model_was_trained_on(trained_run):
    output, results = trained_run
    cpu = results["machine"]["cpu_model"]
    assert cpu and f"CPU cores ({cpu}), no GPU" in model_card(output, "org/genrec-tiny").content


def _ensemble(output, tmp_path, seeds, hr10, **changes):
    """An ensemble results JSON as benchmarks/ensemble.py writes it, of the trained run's recipe (members named
    after its folder, `-seedN` for the other seeds)."""
    metrics = json.loads((output / "metrics.json").read_text())
    members = [output.name if seed == 0 else f"{output.name}-seed{seed}" for seed in seeds]
    result = {"data": metrics["data"], "ensemble": {"members": members, "seeds": list(seeds)},
              "training_s": 1500.0 * len(seeds), "budget_min": 60, "within_budget": True,
              "test": {**metrics["test"], "hr@10": hr10}, **changes}
    path = tmp_path / f"ensemble-seeds{'-'.join(map(str, seeds))}.json"
    path.write_text(json.dumps(result))
    return path


def test_card_gives_the_recipe_ensembled_over_seeds_beside_this_model(trained_run, tmp_path):
    output, results = trained_run
    pairs = [_ensemble(output, tmp_path, (0, 3), 0.30), _ensemble(output, tmp_path, (1, 4), 0.34)]
    folder = tmp_path / "folder"
    assert main(["push", str(output), "--repo", "org/genrec-tiny", "--folder", str(folder), "--no-upload",
                 "--ensemble", str(pairs[0]), "--ensemble", str(pairs[1])]) == 0
    card = ModelCard.load(folder / "README.md")
    row = next(line for line in card.content.splitlines()
               if line.startswith("| this recipe, 2 models ensembled (seeds 0+3, 1+4; mean item probability): mean ± std"))
    assert "| 0.3200 ± 0.0283 |" in row
    assert "holds one model of the recipe (seed 0, a member of 0+3)" in card.content and "50.0 min" in card.content
    assert "within the 60-min budget" in card.content
    hr10 = [r.metric_value for r in card.data.eval_results if r.metric_type == "hr@10"]
    assert hr10 == [pytest.approx(results["test"]["hr@10"], abs=1e-6)]  # model-index: this model, not the ensemble


def test_card_says_when_an_ensemble_overran_the_budget(trained_run, tmp_path):
    output, _ = trained_run
    late = _ensemble(output, tmp_path, (1, 3), 0.3, training_s=3700.0, within_budget=False)
    card = model_card(output, "org/genrec-tiny", ensembles=[late]).content
    assert "(seed 0, a member of none of them)" in card
    assert "61.7 min on the hardware above, 1 of 1 over the 60-min budget." in card
    row = next(line for line in card.splitlines() if line.startswith("| this recipe, 2 models ensembled"))
    assert "mean ± std" not in row and "| 0.3000 |" in row


def _member_check(seed, recorded, recomputed):
    """One member's check in an ensemble JSON: its recorded run's scores and its loaded checkpoint's."""
    return {"seed": seed, "recorded": {"validation": recorded, "test": recorded},
            "recomputed": {"validation": recomputed, "test": recomputed}}


def test_card_says_which_ensembled_seed_is_a_retraining_and_that_it_is_this_model(trained_run, tmp_path):
    output, results = trained_run
    mine = {key: results["test"][key] for key in ("hr@5", "ndcg@5", "hr@10", "ndcg@10")}
    recorded = {key: value + 0.002 for key, value in mine.items()}  # the record: an earlier training of seed 0
    pair = _ensemble(output, tmp_path, (0, 3), 0.3, members=[_member_check(0, recorded, mine),
                                                              _member_check(3, mine, mine)])
    card = model_card(output, "org/genrec-tiny", ensembles=[pair]).content
    row = next(line for line in card.splitlines() if line.startswith("| this recipe, 2 models ensembled"))
    assert "(seeds 0+3; mean item probability; seed 0 re-trained)" in row
    assert "Seed 0 of the ensembles is a re-training" in card
    assert "it is the model in this repository" in card


def test_card_says_when_a_retrained_ensembled_seed_is_another_training(trained_run, tmp_path):
    output, results = trained_run
    mine = {key: results["test"][key] for key in ("hr@5", "ndcg@5", "hr@10", "ndcg@10")}
    other = {key: value + 0.002 for key, value in mine.items()}
    pair = _ensemble(output, tmp_path, (0, 3), 0.3, members=[_member_check(0, mine, other),
                                                              _member_check(3, other, mine)])
    card = model_card(output, "org/genrec-tiny", ensembles=[pair]).content
    assert "Seeds 0, 3 of the ensembles are re-trainings" in card
    assert "is not this model either" in card and "the model in this repository" not in card


def test_card_names_no_retraining_when_the_ensembled_checkpoints_are_the_recorded_runs(trained_run, tmp_path):
    output, results = trained_run
    mine = {key: results["test"][key] for key in ("hr@5", "ndcg@5", "hr@10", "ndcg@10")}
    pair = _ensemble(output, tmp_path, (0, 3), 0.3, members=[_member_check(0, mine, mine),
                                                              _member_check(3, mine, mine)])
    card = model_card(output, "org/genrec-tiny", ensembles=[pair]).content
    about_ensembles = [line for line in card.splitlines() if "ensemble" in line]
    assert about_ensembles and not any("re-train" in line for line in about_ensembles)


@pytest.mark.parametrize("make, message", [
    (lambda o, t: [_ensemble(o, t, (0, 3), 0.3, ensemble={"members": ["other-recipe", "other-recipe-seed3"],
                                                          "seeds": [0, 3]})], "an ensemble of `other-recipe`"),
    (lambda o, t: [_ensemble(o, t, (0, 3), 0.3, data={"source": "../shared/data/yelp/sequential_data.txt",
                                                      "ids": "random"})], "an ensemble on yelp"),
    (lambda o, t: [_ensemble(o, t, (0, 3), 0.3), _ensemble(o, t, (3, 0), 0.3)], "seeds 0\\+3 is given twice"),
    (lambda o, t: [_ensemble(o, t, (0, 3), 0.3), _ensemble(o, t, (1, 4, 5), 0.3)], "ensembles of different sizes"),
    (lambda o, t: [_ensemble(o, t, (0, 3), 0.3, test=None)], "not an ensemble results JSON"),
    (lambda o, t: [_ensemble(o, t, (0, 3), 0.3, data={})], "not an ensemble results JSON"),
    (lambda o, t: [_ensemble(o, t, (0, 3), 0.3, members=[{"seed": 0}])], "not an ensemble results JSON"),
])
def test_card_refuses_an_ensemble_that_is_not_of_this_recipe_and_split(trained_run, tmp_path, make, message):
    output, _ = trained_run
    with pytest.raises(ValueError, match=message):
        model_card(output, "org/genrec-tiny", ensembles=make(output, tmp_path))


def sasrec_results(path, dataset, hr10: float = 0.0539, epochs: int | None = None, **fields):
    """A results JSON as benchmarks/sasrec_recbole.py writes it (RecBole names HR@k hit@k), with ``fields`` set and
    a validation curve of ``epochs`` epochs."""
    recorded = {"model": "SASRec (RecBole 1.2.1, CE loss, full ranking)", "budget_min": 60,
                "data": {"source": f"runs/recbole/{dataset}/{dataset}.inter"},
                "test": {"hit@10": hr10, "ndcg@10": 0.0274, "hit@5": 0.0339}}
    if epochs is not None:
        recorded["curve"] = [{"epoch": e + 1, "validation_ndcg@10": 0.01} for e in range(epochs)]
    path.write_text(json.dumps({**recorded, **fields}))
    return path


def test_card_sets_a_model_trained_on_the_same_split_beside_this_one(trained_run, tmp_path):
    output, _ = trained_run
    dataset = json.loads((output / "metrics.json").read_text())["data"]["source"]
    reference = sasrec_results(tmp_path / "sasrec.json", dataset)
    card = model_card(output, "org/genrec-tiny", references=[reference])
    row = "| SASRec (RecBole 1.2.1, CE loss, full ranking), 60-min budget, same split (any ids) | - | 0.0339 | 0.0539 |"
    assert row in card.content
    assert {r.metric_value for r in card.data.eval_results}.isdisjoint({0.0539, 0.0274})  # not this model's


def test_card_adds_the_reference_scored_with_history_excluded_where_it_records_that(trained_run, tmp_path):
    output, _ = trained_run
    dataset = json.loads((output / "metrics.json").read_text())["data"]["source"]
    reference = sasrec_results(tmp_path / "sasrec.json", dataset, history_excluded={
        "test": {"hit@10": 0.0612, "ndcg@10": 0.0301, "hit@5": 0.0401}})
    card = model_card(output, "org/genrec-tiny", references=[reference])
    label = "SASRec (RecBole 1.2.1, CE loss, full ranking), 60-min budget, same split (any ids)"
    assert f"| {label} | - | 0.0339 | 0.0539 |" in card.content
    assert f"| {label}, history items excluded | - | 0.0401 | 0.0612 |" in card.content


def test_card_tells_two_budget_bound_reference_runs_apart_by_their_epochs(trained_run, tmp_path):
    """A slower host fits fewer epochs in the same budget: both runs get a row, each naming its selected epoch."""
    output, _ = trained_run
    dataset = json.loads((output / "metrics.json").read_text())["data"]["source"]
    paths = [sasrec_results(tmp_path / f"sasrec-{name}.json", dataset, hr10=hr10, epochs=epochs, best_epoch=best)
             for name, epochs, best, hr10 in (("first", 17, 16, 0.0539), ("rerun", 15, 15, 0.0521))]
    card = model_card(output, "org/genrec-tiny", references=paths)
    label = "SASRec (RecBole 1.2.1, CE loss, full ranking), 60-min budget"
    assert f"| {label} (epoch 16 of 17), same split (any ids) | - | 0.0339 | 0.0539 |" in card.content
    assert f"| {label} (epoch 15 of 15), same split (any ids) | - | 0.0339 | 0.0521 |" in card.content


def test_card_names_the_epoch_limit_of_a_reference_trained_for_a_fixed_number_of_epochs(trained_run, tmp_path):
    output, _ = trained_run
    dataset = json.loads((output / "metrics.json").read_text())["data"]["source"]
    path = sasrec_results(tmp_path / "sasrec.json", dataset, epochs=17, budget_min=None, epochs_limit=17,
                          best_epoch=16)
    card = model_card(output, "org/genrec-tiny", references=[path])
    label = "SASRec (RecBole 1.2.1, CE loss, full ranking), 17-epoch limit (epoch 16 of 17)"
    assert f"| {label}, same split (any ids) | - | 0.0339 | 0.0539 |" in card.content


@pytest.mark.parametrize("excluded", [[0.05], {"test": None}, {"hit@10": 0.05}])
def test_card_refuses_a_reference_whose_history_excluded_scores_are_malformed(trained_run, tmp_path, excluded):
    output, _ = trained_run
    dataset = json.loads((output / "metrics.json").read_text())["data"]["source"]
    reference = sasrec_results(tmp_path / "sasrec.json", dataset)
    reference.write_text(json.dumps({**json.loads(reference.read_text()), "history_excluded": excluded}))
    with pytest.raises(ValueError, match="'history_excluded' must hold 'test' metrics"):
        model_card(output, "org/genrec-tiny", references=[reference])


def test_card_refuses_a_reference_from_another_data_set(trained_run, tmp_path):
    output, _ = trained_run
    with pytest.raises(ValueError, match="its results are on beauty"):
        model_card(output, "org/genrec-tiny", references=[sasrec_results(tmp_path / "sasrec.json", "beauty")])
    (tmp_path / "broken.json").write_text("{")
    with pytest.raises(ValueError, match="not a readable results JSON"):
        model_card(output, "org/genrec-tiny", references=[tmp_path / "broken.json"])


def test_a_folder_that_is_not_a_run_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="metrics.json: not found"):
        model_card(tmp_path, "org/x")
    (tmp_path / "metrics.json").write_text("{not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        model_card(tmp_path, "org/x")


def test_push_sends_every_file_in_one_commit_and_drops_stale_ones(trained_run, tmp_path):
    output, _ = trained_run
    api = RecordingHfApi(remote_files=[".gitattributes", "pytorch_model.bin", "README.md"])
    result = push_run(output, "org/genrec-tiny", folder=tmp_path / "folder", private=True, revision="v1",
                      api=api)
    assert [name for name, *_ in api.calls] == ["create_repo", "create_branch", "list_repo_files", "create_commit"]
    assert api.calls[0][2]["private"] is True
    assert api.calls[1][2] == {"branch": "v1", "exist_ok": True}
    assert api.calls[3][2]["revision"] == "v1" and api.calls[3][2]["create_pr"] is False
    added = {op.path_in_repo for op in api.operations if isinstance(op, CommitOperationAdd)}
    deleted = {op.path_in_repo for op in api.operations if isinstance(op, CommitOperationDelete)}
    assert added == EXPECTED_FILES == {p.name for p in (tmp_path / "folder").iterdir()}
    assert deleted == {"pytorch_model.bin"}  # a stale weight file would otherwise still be served
    assert result["commit_url"] == "https://hub/org/genrec-tiny/commit/1"


def test_create_pr_opens_a_pull_request_without_creating_a_branch(trained_run, tmp_path):
    output, _ = trained_run
    api = RecordingHfApi()
    push_run(output, "org/genrec-tiny", folder=tmp_path / "folder", create_pr=True, api=api)
    assert [name for name, *_ in api.calls] == ["create_repo", "list_repo_files", "create_commit"]
    assert api.calls[-1][2]["create_pr"] is True


def test_exported_config_and_generation_config_are_complete(trained_run, tmp_path):
    output, _ = trained_run
    folder = export_run(output, tmp_path / "folder", "org/genrec-tiny")
    config = json.loads((folder / "config.json").read_text())
    assert set(config["auto_map"]) == {"AutoConfig", "AutoModel", "AutoModelForSeq2SeqLM"}
    assert config["custom_pipelines"]["genrec"]["impl"] == "pipeline_genrec.GenRecPipeline"
    generation = json.loads((folder / "generation_config.json").read_text())
    assert generation["num_beams"] == generation["num_return_sequences"] == 20
    assert json.loads((folder / "tokenizer_config.json").read_text())["auto_map"]["AutoTokenizer"]
    with pytest.raises(FileExistsError, match="exists"):
        export_run(output, folder, "org/genrec-tiny")


def test_push_without_network_fails_with_a_clear_message_and_keeps_the_folder(trained_run, tmp_path):
    output, _ = trained_run
    env = {**os.environ, "HF_ENDPOINT": "http://127.0.0.1:9", "HF_TOKEN": "hf_unused", "OMP_NUM_THREADS": "1"}
    folder = tmp_path / "folder"
    result = subprocess.run([sys.executable, "-m", "genrec_hf", "push", str(output), "--repo", "org/genrec-tiny",
                             "--folder", str(folder)], capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 2
    assert "could not reach the Hugging Face Hub" in result.stderr and "Traceback" not in result.stderr
    assert {p.name for p in folder.iterdir()} == EXPECTED_FILES


def test_push_error_is_raised_in_python_too(trained_run, tmp_path):
    from huggingface_hub import HfApi

    output, _ = trained_run
    with pytest.raises(PushError, match="retry"):
        push_run(output, "org/genrec-tiny", folder=tmp_path / "f", api=HfApi(endpoint="http://127.0.0.1:9",
                                                                              token="hf_unused"))


def test_push_command_without_upload_writes_the_folder(trained_run, tmp_path, capsys):
    output, _ = trained_run
    assert main(["push", str(output), "--repo", "org/genrec-tiny", "--folder", str(tmp_path / "f"),
                 "--no-upload"]) == 0
    assert f"folder: {tmp_path / 'f'}" in capsys.readouterr().out


def test_push_command_passes_the_record_of_a_re_trained_run_to_the_card(trained_run, tmp_path):
    output, results = trained_run
    record = _record_of_this_seed(output, tmp_path, results["test"]["hr@10"] + 0.01)
    assert main(["push", str(output), "--repo", "org/genrec-tiny", "--folder", str(tmp_path / "f"),
                 "--no-upload", "--recorded", str(record)]) == 0
    assert "| recorded training of this seed" in (tmp_path / "f" / "README.md").read_text()


def test_push_command_with_a_missing_record_says_so_and_writes_nothing(trained_run, tmp_path, capsys):
    output, _ = trained_run
    assert main(["push", str(output), "--repo", "org/genrec-tiny", "--folder", str(tmp_path / "f"), "--no-upload",
                 "--recorded", str(tmp_path / "nowhere.json")]) == 2
    assert "nowhere.json: not found" in capsys.readouterr().err
    assert not (tmp_path / "f").exists()


LOAD_EVERYTHING = """
import json
from transformers import AutoConfig, AutoModel, AutoModelForSeq2SeqLM, AutoTokenizer, pipeline
repo = "org/genrec-tiny"
objects = [AutoConfig.from_pretrained(repo, trust_remote_code=True),
           AutoTokenizer.from_pretrained(repo, trust_remote_code=True),
           AutoModel.from_pretrained(repo, trust_remote_code=True),
           AutoModelForSeq2SeqLM.from_pretrained(repo, trust_remote_code=True)]
rec = pipeline(model=repo, trust_remote_code=True)
history = {history!r}
out = rec(history, exclude_history=True)
print(json.dumps(dict(classes=[type(o).__name__ for o in objects], pipeline=type(rec).__name__,
                      n=len(out), items=[r["item"] for r in out], exclude_history=objects[0].exclude_history,
                      genrec_hf_imported=any(m.startswith("genrec_hf") for m in __import__("sys").modules))))
"""


def test_pushed_folder_loads_from_an_offline_hub_cache_without_genrec_hf(trained_run, tmp_path):
    output, _ = trained_run
    api = RecordingHfApi()
    push_run(output, "org/genrec-tiny", folder=tmp_path / "folder", api=api)
    sent = tmp_path / "sent"  # exactly what the commit carried
    sent.mkdir()
    for op in api.operations:
        (sent / op.path_in_repo).write_bytes(open(op.path_or_fileobj, "rb").read())
    build_hf_cache(sent, tmp_path / "cache", "org/genrec-tiny")
    history = _some_history(output)
    code = HIDE_GENREC_HF + LOAD_EVERYTHING.format(history=history)
    out = json.loads(run_python(code, cwd=tmp_path, env={"HF_HUB_CACHE": str(tmp_path / "cache"),
                                                         "HF_HUB_OFFLINE": "1",
                                                         "HF_MODULES_CACHE": str(tmp_path / "modules")})
                     .strip().splitlines()[-1])
    assert out["classes"] == ["GenRecConfig", "GenRecTokenizer", "GenRecModel", "GenRecForConditionalGeneration"]
    assert out["pipeline"] == "GenRecPipeline" and out["n"] == 20
    assert not set(out["items"]) & set(history) and not out["genrec_hf_imported"]
    assert out["exclude_history"] is json.loads((sent / "config.json").read_text())["exclude_history"]


def _some_history(output):
    items = json.loads((output / "checkpoint" / "genrec_id_map.json").read_text())["items"]
    return [str(i) if not isinstance(i, int) else i for i in items[:3]]
