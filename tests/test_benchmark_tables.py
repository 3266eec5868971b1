"""The README's results tables come from benchmarks/results/*.json through benchmarks/make_tables.py."""

from pathlib import Path

import pytest

from .conftest import benchmark_module

@pytest.fixture(scope="module")
def tables():
    return benchmark_module("make_tables")


def genrec_run(name: str, seed: int, hr10: float, evals: list[tuple[str, float, float]] | None = None) -> dict:
    """A results JSON as benchmarks/train.py writes it, cut down to what the tables read."""
    history = {"pretrain": [], "finetune": []}
    for stage, elapsed, ndcg in evals or []:
        history[stage].append({"eval_ndcg@10": ndcg, "elapsed_s": elapsed, "epoch": 1.0})
    return {
        "benchmark": {"name": name, "wall_time_s": 100.0},
        "data": {"source": "../shared/data/beauty/sequential_data.txt", "ids": "random"},
        "options": {"seed": seed, "pretrain_epochs": 1, "finetune_epochs": 1, "prefixes": True},
        "machine": {"cpus": 2, "torch_threads": 2},
        "test": {"hr@5": 0.01, "ndcg@5": 0.01, "hr@10": hr10, "ndcg@10": 0.01, "hr@20": 0.02},
        "baselines": {"most_popular": {"test": {"hr@10": 0.005}}},
        "timings": {"pretrain_s": 600.0, "finetune_s": 600.0, "evaluate_s": 60.0},
        "history": history,
    }


def seed_runs(name: str, count: int) -> list[dict]:
    """Seeds 0..count-1 of one recipe, named as benchmarks/runs.sh names them (``NAME``, ``NAME-seed1``, ...)."""
    return [genrec_run(name + ("" if seed == 0 else f"-seed{seed}"), seed, 0.03) for seed in range(count)]


def test_runs_that_differ_only_by_seed_share_one_row_with_mean_and_std(tables):
    runs = [genrec_run("beauty-x", 0, 0.030), genrec_run("beauty-x-seed1", 1, 0.034),
            genrec_run("beauty-x-seed2", 2, 0.032)]
    table = tables.render(runs)
    rows = [line for line in table.splitlines() if line.startswith("| `beauty-x`")]
    assert len(rows) == 1
    assert "3 seeds: 0, 1, 2" in rows[0] and "0.0320 ± 0.0020" in rows[0]


def member_checks(names: list[str], seeds: tuple[int, ...], retrained: tuple[int, ...] = ()) -> list[dict]:
    """An ensemble JSON's members: each one's recorded scores beside those its loaded checkpoint gave, which
    differ for the ``retrained`` seeds (their run folders held a re-training)."""
    scores = {"hr@5": 0.03, "ndcg@5": 0.02, "hr@10": 0.05, "ndcg@10": 0.025}
    return [{"name": name, "seed": seed, "recorded": {"validation": scores, "test": scores},
             "recomputed": {"validation": scores,
                            "test": {**scores, "ndcg@10": 0.024} if seed in retrained else scores}}
            for name, seed in zip(names, seeds)]


def seed_ensemble(seeds: tuple[int, ...], ndcg10: float, training_s: float = 3000.0,
                  retrained: tuple[int, ...] = ()) -> dict:
    """A results JSON as benchmarks/ensemble.py writes it, cut down to what the tables read; the ``retrained``
    seeds' checkpoints score otherwise than their recorded runs."""
    names = ["beauty-x" + (f"-seed{seed}" if seed else "") for seed in seeds]
    return {"ensemble": {"members": names, "seeds": list(seeds)}, "data": {"source": "../shared/data/beauty/x.txt",
                                                                            "ids": "random"},
            "machine": {"cpus": 2, "torch_threads": 2}, "training_s": training_s, "budget_min": 60,
            "within_budget": training_s <= 3600, "members": member_checks(names, seeds, retrained),
            "test": {"hr@5": 0.05, "ndcg@5": 0.035, "hr@10": 0.07, "ndcg@10": ndcg10, "hr@20": 0.1}}


def test_seed_ensembles_of_one_size_share_a_row_that_says_their_members_overlap(tables):
    pairs = [seed_ensemble((0, 1), 0.042), seed_ensemble((0, 2), 0.044), seed_ensemble((1, 2), 0.046)]
    table = tables.render([genrec_run("beauty-x", 0, 0.03)], ensembles=pairs + [seed_ensemble((0, 1, 2), 0.05, 4500)])
    (pair_row,) = [line for line in table.splitlines() if line.startswith("| ensemble of 2 seeds")]
    assert "3 ensembles: 0+1, 0+2, 1+2, sharing members;" in pair_row and "0.0440 ± 0.0020" in pair_row
    assert "| 50 min training |" in pair_row
    (triple_row,) = [line for line in table.splitlines() if line.startswith("| ensemble of 3 seeds")]
    assert "(1 over the 60-min budget)" in triple_row and "sharing members" not in triple_row


def test_an_ensemble_row_names_the_seeds_whose_checkpoint_was_a_re_training(tables):
    pairs = [seed_ensemble((0, 3), 0.042, retrained=(0,)), seed_ensemble((1, 4), 0.044)]
    table = tables.render([genrec_run("beauty-x", 0, 0.03)], ensembles=pairs)
    (pair_row,) = [line for line in table.splitlines() if line.startswith("| ensemble of 2 seeds")]
    assert "; seed 0 re-trained: the checkpoint scored, not the recorded run's weights |" in pair_row
    faithful = tables.render([genrec_run("beauty-x", 0, 0.03)], ensembles=[seed_ensemble((1, 4), 0.044)])
    assert "re-trained" not in faithful


PLAN = {"recipe": "beauty-x", "ensembles": [[0, 3], [1, 4], [2, 5]], "registered": "commit abc1234"}


def test_a_pre_registered_plan_gets_its_own_row_over_its_ensembles_only(tables):
    pairs = {(0, 3): 0.040, (1, 4): 0.042, (2, 5): 0.044, (0, 1): 0.060, (3, 4): 0.070}
    table = tables.render([genrec_run("beauty-x", 0, 0.03)],
                          ensembles=[seed_ensemble(seeds, ndcg) for seeds, ndcg in pairs.items()], plans=[PLAN])
    rows = [line for line in table.splitlines() if "seeds of `beauty-x`" in line]
    assert len(rows) == 2 and rows[0].startswith("| **pre-registered** ensembles of 2 seeds")
    assert "(0+3, 1+4, 2+5; fixed in commit abc1234;" in rows[0] and "| 0.0420 ± 0.0020 |" in rows[0]
    assert "5 ensembles:" in rows[1] and "sharing members" in rows[1]


def test_a_plan_not_fully_scored_shows_what_is_missing_and_no_numbers(tables):
    table = tables.render([genrec_run("beauty-x", 0, 0.03)],
                          ensembles=[seed_ensemble((0, 3), 0.09), seed_ensemble((0, 1), 0.05)], plans=[PLAN])
    (planned,) = [line for line in table.splitlines() if line.startswith("| **pre-registered**")]
    assert "not yet scored: 1+4, 2+5" in planned and "0.09" not in planned
    assert planned.count("|") == table.splitlines()[2].count("|")  # as many cells as the header


def test_the_committed_plans_name_recipes_and_pairs_of_seeds(tables):
    plans = tables.read_plans()
    assert plans, "benchmarks/ensemble_plans.json holds the pre-registered ensembles"
    for plan in plans:
        assert plan["registered"] and plan["ensembles"]
        seeds = [seed for ensemble in plan["ensembles"] for seed in ensemble]
        assert len(seeds) == len(set(seeds)), "a plan's ensembles are disjoint"


def test_a_card_gets_the_ensembles_of_a_fully_scored_plan_and_no_others(tmp_path):
    import json

    planned_ensembles = benchmark_module("headline").planned_ensembles
    plans = tmp_path / "plans.json"
    plans.write_text(json.dumps({"plans": [PLAN]}))
    results = tmp_path / "results"
    results.mkdir()

    def score(seeds):
        path = results / f"ensemble-beauty-x-seeds{'-'.join(map(str, seeds))}.json"
        path.write_text(json.dumps(seed_ensemble(seeds, 0.04)))
        return path

    score((0, 1))  # not in the plan: could be picked after seeing its score
    planned = [score((0, 3)), score((1, 4))]
    assert planned_ensembles("beauty-x", results, plans) == [], "a plan shows only when all of it is scored"
    planned.append(score((2, 5)))
    assert planned_ensembles("beauty-x", results, plans) == planned
    assert planned_ensembles("beauty-y", results, plans) == []


def test_a_stage_the_budget_cut_short_shows_the_epochs_it_ran(tables):
    cut = genrec_run("beauty-x", 0, 0.030)
    cut["options"]["finetune_epochs"] = 12
    cut["budget"] = {"stopped": {"finetune": 11.0}, "skipped": []}
    whole = genrec_run("beauty-x-seed1", 1, 0.034)
    whole["options"]["finetune_epochs"] = 12
    row = next(line for line in tables.render([cut, whole]).splitlines() if line.startswith("| `beauty-x`"))
    assert "| 1 / 11 of 12 (budget) (seed 0); 12 (seed 1) (prefixes) |" in row


def test_seeds_of_which_only_some_kept_an_average_name_the_seeds_that_did(tables):
    """A row of seeds must not read as if every seed averaged its weights when one kept a single epoch."""
    seeds = seed_runs("beauty-x", 3)
    for run in seeds:
        run["options"]["finetune_epochs"] = 8
    for seed in (0, 2):
        seeds[seed]["selected_model"] = {"stage": "finetune", "checkpoint": None,
                                         "average": {"epochs": [4.0, 5.0, 6.0], "kept": True}}
    (row,) = [line for line in tables.render(seeds).splitlines() if line.startswith("| `beauty-x` (3 seeds")]
    assert "| 1 / 8 (average of epochs 4-6) (seeds 0, 2); 8 (seed 1) (prefixes) |" in row


@pytest.mark.parametrize("kept, cell", [(True, "| 1 / 20 (average of epochs 8-12) (prefixes) |"),
                                         (False, "| 1 / 20 (prefixes) |")])
def test_a_run_that_kept_an_average_of_its_weights_names_the_epochs_averaged(tables, kept, cell):
    averaged = genrec_run("beauty-x", 0, 0.030)
    averaged["options"]["finetune_epochs"] = 20
    averaged["selected_model"] = {"stage": "finetune", "average": {"epochs": [8.0, 9.0, 10.0, 11.0, 12.0],
                                                                   "kept": kept}}
    row = next(line for line in tables.render([averaged]).splitlines() if line.startswith("| `beauty-x`"))
    assert cell in row


def test_a_resumed_run_names_the_stage_it_resumed(tables):
    """A run killed during fine-tuning and resumed must not claim its pretraining was resumed."""
    resumed = genrec_run("beauty-x", 0, 0.030)
    resumed["resumed"] = {"finetune": "loaded"}
    row = next(line for line in tables.render([resumed]).splitlines() if line.startswith("| `beauty-x`"))
    assert "(resumed: finetune)" in row and "pretraining resumed" not in row


def test_the_machine_column_names_the_cpu_model_where_the_run_recorded_it(tables):
    recorded = genrec_run("beauty-new", 0, 0.03)
    recorded["machine"]["cpu_model"] = "AMD EPYC"
    rows = {line.split(" | ")[0]: line for line in tables.render([recorded, genrec_run("beauty-old", 0, 0.03)])
            .splitlines() if line.startswith("| `beauty-")}
    assert rows["| `beauty-new`"].endswith("| 2 CPUs (AMD EPYC), 2 threads |")
    assert rows["| `beauty-old`"].endswith("| 2 CPUs, 2 threads |")


def test_seeds_trained_on_different_cpu_models_name_each_model_with_its_seeds(tables):
    """The row's wall time is a mean over its seeds: where hosts differed, the machine cell must say which ran which."""
    seeds = seed_runs("beauty-x", 3)
    for seed, run in enumerate(seeds):
        run["machine"]["cpu_model"] = "AMD EPYC" if seed == 0 else "Intel Xeon"
    (row,) = [line for line in tables.render(seeds).splitlines() if line.startswith("| `beauty-x` (3 seeds")]
    assert row.endswith("| 2 CPUs (AMD EPYC), 2 threads (seed 0); 2 CPUs (Intel Xeon), 2 threads (seeds 1, 2) |")


def test_seeds_on_one_cpu_model_share_one_machine_label(tables):
    seeds = seed_runs("beauty-x", 2)
    for run in seeds:
        run["machine"]["cpu_model"] = "Intel Xeon"
    (row,) = [line for line in tables.render(seeds).splitlines() if line.startswith("| `beauty-x` (2 seeds")]
    assert row.endswith("| 2 CPUs (Intel Xeon), 2 threads |")


def test_the_machine_column_names_the_accelerator_of_a_gpu_run(tables):
    gpu = genrec_run("beauty-gpu", 0, 0.03)
    gpu["machine"].update(cpus=16, accelerator="NVIDIA H200", torch_threads=4)
    (row,) = [line for line in tables.render([gpu]).splitlines() if line.startswith("| `beauty-gpu`")]
    assert row.endswith("| NVIDIA H200 + 16 CPUs, 4 threads |")


def test_time_to_quality_leaves_out_runs_on_an_accelerator(tables):
    evals = [("pretrain", 60.0, 0.005), ("finetune", 30.0, 0.012)]
    gpu = genrec_run("beauty-gpu", 0, 0.03, evals)
    gpu["machine"]["accelerator"] = "NVIDIA H200"
    text = tables.render_time_to_quality([gpu, genrec_run("beauty-cpu", 0, 0.03, evals)], [], write_plots=False)
    assert "`beauty-cpu`" in text and "`beauty-gpu`" not in text


def test_time_to_quality_leaves_out_runs_that_read_the_ids_order(tables):
    evals = [("finetune", 30.0, 0.05)]
    reading = genrec_run("beauty-succ", 0, 0.09, evals)
    reading["data"]["ids"] = "sequential"
    reading["options"]["config_overrides"] = {"successor_item_bias": 20}
    text = tables.render_time_to_quality([reading, genrec_run("beauty-blind", 0, 0.03, evals)], [], write_plots=False)
    assert "`beauty-blind`" in text and "`beauty-succ`" not in text


def test_history_excluded_scores_sit_beside_the_recorded_ones_for_runs_that_have_them(tables):
    with_both = [genrec_run("beauty-x", seed, 0.030 + seed / 1000) for seed in (0, 1)]
    for run in with_both:
        run["history_excluded"] = {"test": {**run["test"], "hr@10": run["test"]["hr@10"] + 0.01}}
    table = tables.render_history_excluded([*with_both, genrec_run("beauty-old", 0, 0.02)])
    rows = [line for line in table.splitlines() if line.startswith("| `")]
    assert rows == ["| `beauty-x` | 0, 1 | 0.0305 ± 0.0007 | 0.0100 ± 0.0000 | 0.0405 ± 0.0007 | 0.0100 ± 0.0000 |"]
    assert tables.render_history_excluded([genrec_run("beauty-old", 0, 0.02)]) == ""


def sasrec_run(test: dict, excluded: dict | None = None) -> dict:
    """A results JSON as benchmarks/sasrec_recbole.py writes it (RecBole's metric names), cut down."""
    run = {"name": "sasrec-beauty", "model": "SASRec (RecBole 1.2.1, CE loss, full ranking)",
           "data": {"source": "runs/recbole/beauty/beauty.inter"}, "machine": {"cpus": 2, "torch_threads": 2},
           "settings": {"seed": 0}, "budget_min": 60.0, "best_epoch": 3, "wall_time_s": 3600.0,
           "curve": [{"elapsed_s": 300.0, "validation_ndcg@10": 0.015}] * 4, "test": test}
    if excluded is not None:
        run["history_excluded"] = {"test": excluded, "selected_by": "validation NDCG@10, history kept"}
    return run


def test_sasrec_scored_with_history_excluded_gets_a_row_of_its_own_beside_its_recorded_one(tables):
    kept = {"hit@5": 0.02, "ndcg@5": 0.015, "hit@10": 0.04, "ndcg@10": 0.02, "hit@20": 0.06}
    excluded = {"hit@5": 0.03, "ndcg@5": 0.025, "hit@10": 0.05, "ndcg@10": 0.03, "hit@20": 0.07}
    table = tables.render([genrec_run("beauty-x", 0, 0.03)], sasrec=[sasrec_run(kept, excluded)])
    rows = [line for line in table.splitlines() if line.startswith("| `sasrec-beauty`")]
    assert len(rows) == 2
    assert "| 0.0200 | 0.0150 | 0.0400 | 0.0200 | 0.0600 |" in rows[0]
    assert "history's items excluded" in rows[1] and "| 0.0300 | 0.0250 | 0.0500 | 0.0300 | 0.0700 |" in rows[1]
    side_by_side = tables.render_history_excluded([], [sasrec_run(kept, excluded)])
    assert "| `sasrec-beauty`: SASRec (RecBole) | 0 | 0.0400 | 0.0200 | 0.0500 | 0.0300 |" in side_by_side


def test_sasrec_row_says_which_limits_bounded_its_training(tables):
    budget_bound = sasrec_run({"hit@10": 0.04})
    epoch_bound = {**sasrec_run({"hit@10": 0.05}), "name": "sasrec-beauty-e17", "budget_min": None,
                   "epochs_limit": 17}
    table = tables.render([genrec_run("beauty-x", 0, 0.03)], sasrec=[budget_bound, epoch_bound])
    assert "| `sasrec-beauty`: SASRec (RecBole) | any | 3 of 4 epochs (60 min budget) |" in table
    assert "| `sasrec-beauty-e17`: SASRec (RecBole) | any | 3 of 4 epochs (17-epoch limit, no time budget) |" in table


def test_sasrec_without_a_history_excluded_score_keeps_one_row(tables):
    table = tables.render([genrec_run("beauty-x", 0, 0.03)], sasrec=[sasrec_run({"hit@10": 0.04})])
    assert len([line for line in table.splitlines() if line.startswith("| `sasrec-beauty`")]) == 1
    assert tables.render_history_excluded([], [sasrec_run({"hit@10": 0.04})]) == ""


@pytest.mark.parametrize("options, label", [
    ({}, ""),
    ({"item_codes": "independent", "users": False}, " (one token per item, no users)"),
    ({"item_codes": "independent", "users": False, "config_overrides": {"item_id_embedding": False}},
     " (one token per item, no users, no item-ID embedding)"),
    ({"item_codes": "independent", "config_overrides": {"positions_from_end": True}},
     " (one token per item, positions from the end)"),
    ({"config_overrides": {"decoder_start_from_mask": True}}, " (decoder started from the [MASK])"),
    ({"config_overrides": {"decoder_start_from_last_item": True}}, " (decoder started from the last item)"),
    ({"config_overrides": {"decoder_start_from_mask": True, "decoder_start_from_last_item": True}},
     " (decoder started from the [MASK] and the last item)"),
    ({"item_codes": "independent", "config_overrides": {"history_item_bias": True}},
     " (one token per item, learned history item bias)"),
    ({"item_codes": "independent", "config_overrides": {"successor_item_bias": 20}},
     " (one token per item, learned bias for the 20 items after the history's highest id (reads the id order))"),
    ({"preset": "small"}, ""),
    ({"preset": "bart-base", "item_codes": "independent"}, " (bart-base size, one token per item)"),
])
def test_the_ids_column_names_what_the_model_reads(tables, options, label):
    assert tables.model_inputs(options) == label


def test_fine_tuning_times_follow_the_pretraining_time(tables):
    run = genrec_run("beauty-x", 0, 0.03, [("pretrain", 60.0, 0.005), ("finetune", 30.0, 0.012)])
    assert tables.quality_curve(run) == [(60.0, 0.005), (630.0, 0.012)]
    assert tables.first_time_at(tables.quality_curve(run), 0.01) == 630.0
    assert tables.first_time_at(tables.quality_curve(run), 0.02) is None


def test_the_clock_starts_with_the_set_up_where_it_was_recorded(tables):
    run = genrec_run("beauty-x", 0, 0.03, [("pretrain", 60.0, 0.005), ("finetune", 30.0, 0.012)])
    run["timings"]["setup_s"] = 40.0
    assert tables.quality_curve(run) == [(100.0, 0.005), (670.0, 0.012)]


def test_a_run_recorded_without_wall_times_has_no_curve(tables):
    run = genrec_run("beauty-x", 0, 0.03)
    run["history"]["pretrain"] = [{"eval_ndcg@10": 0.01, "epoch": 1.0}]
    assert tables.quality_curve(run) == []


def test_time_to_quality_table_sets_genrec_beside_sasrec(tables, tmp_path, monkeypatch):
    monkeypatch.setattr(tables, "RESULTS", tmp_path)
    genrec = genrec_run("beauty-x", 0, 0.03, [("pretrain", 60.0, 0.005), ("finetune", 30.0, 0.012)])
    sasrec = {"name": "sasrec-beauty", "data": {"source": "runs/recbole/beauty/beauty.inter"},
              "machine": {"cpus": 2, "torch_threads": 2}, "settings": {"threads": 2},
              "curve": [{"elapsed_s": 300.0, "validation_ndcg@10": 0.015},
                        {"elapsed_s": 600.0, "validation_ndcg@10": 0.025}]}
    text = tables.render_time_to_quality([genrec], [sasrec], write_plots=True)
    assert "| GenRec `beauty-x` | 2 | 0.0120 | 10.5 min | not reached | not reached |" in text
    assert "| SASRec `sasrec-beauty` | 2 | 0.0250 | 5.0 min | 10.0 min | not reached |" in text
    assert (tmp_path / "time-to-quality-beauty.png").stat().st_size > 5_000


def test_the_time_to_quality_plot_keeps_one_seed_of_the_best_recipes_and_every_sasrec(tables, monkeypatch):
    monkeypatch.setattr(tables, "PLOTTED_RECIPES", 2)
    entries = []
    for recipe, best in (("beauty-a", 0.03), ("beauty-b", 0.05), ("beauty-c", 0.04)):
        for seed in (1, 0):
            run = genrec_run(recipe + (f"-seed{seed}" if seed else ""), seed, 0.03)
            entries.append((f"GenRec `{run['benchmark']['name']}`", run, [(60.0, 0.01), (120.0, best)]))
    entries.append(("SASRec `sasrec-beauty`", {}, [(300.0, 0.02)]))
    labels = [label for label, _, _ in tables.plotted(entries)]
    assert labels == ["GenRec `beauty-b`", "GenRec `beauty-c`", "SASRec `sasrec-beauty`"]


def test_readme_tables_match_the_recorded_results(tables):
    assert tables.main(["--check"]) == 0, "README.md is stale: run python benchmarks/make_tables.py"


@pytest.fixture(scope="module")
def headline():
    return benchmark_module("headline").headline


def write_run(folder: Path, name: str, validation: float, test: float, total_s: float = 1200.0,
              evaluate_s: float = 60.0, **extra) -> None:
    import json

    run = genrec_run(name, 0, test)
    run.update(validation={"ndcg@10": validation}, **extra)
    run["timings"].update(total_s=total_s, evaluate_s=evaluate_s)
    (folder / f"{name}.json").write_text(json.dumps(run))


def test_the_headline_run_is_chosen_on_validation_never_on_test(headline, tmp_path):
    write_run(tmp_path, "beauty-a", validation=0.030, test=0.020)
    write_run(tmp_path, "beauty-b", validation=0.025, test=0.050)
    assert headline("beauty", "random", results=tmp_path, min_seeds=1) == "beauty-a"


def test_the_budget_counts_training_not_the_final_scoring(headline, tmp_path):
    """The issue's 60 minutes are pretraining + fine-tuning: 55 min of training and 7 of scoring is in budget."""
    write_run(tmp_path, "beauty-scored-slowly", validation=0.05, test=0.05, total_s=62 * 60, evaluate_s=7 * 60)
    write_run(tmp_path, "beauty-weaker", validation=0.01, test=0.01)
    assert headline("beauty", "random", results=tmp_path, min_seeds=1) == "beauty-scored-slowly"


def test_runs_over_the_budget_or_resumed_cannot_be_the_headline(headline, tmp_path):
    write_run(tmp_path, "beauty-slow", validation=0.09, test=0.09, total_s=62 * 60, evaluate_s=60.0)
    write_run(tmp_path, "beauty-resumed", validation=0.08, test=0.08, resumed={"pretrain": "loaded"})
    write_run(tmp_path, "beauty-ok", validation=0.01, test=0.01)
    assert headline("beauty", "random", results=tmp_path, min_seeds=1) == "beauty-ok"
    with pytest.raises(SystemExit, match="no recorded sequential-id run of beauty"):
        headline("beauty", "sequential", results=tmp_path, min_seeds=1)


def test_a_run_on_a_gpu_cannot_be_the_headline_of_the_cpu_budget(headline, tmp_path):
    write_run(tmp_path, "beauty-gpu", validation=0.09, test=0.09,
              machine={"cpus": 16, "torch_threads": 4, "accelerator": "NVIDIA H200"})
    write_run(tmp_path, "beauty-cpu", validation=0.01, test=0.01)
    assert headline("beauty", "random", results=tmp_path, min_seeds=1) == "beauty-cpu"


def test_the_headline_recipe_needs_three_seeds_so_one_lucky_seed_cannot_win(headline, tmp_path):
    write_run(tmp_path, "beauty-lucky", validation=0.09, test=0.09)
    for seed, validation in enumerate([0.030, 0.034, 0.032]):
        write_run(tmp_path, "beauty-steady" + (f"-seed{seed}" if seed else ""), validation=validation, test=0.01)
    assert headline("beauty", "random", results=tmp_path) == "beauty-steady-seed1"
    assert headline("beauty", "random", results=tmp_path, min_seeds=1) == "beauty-lucky"


def test_the_headline_recipe_is_the_best_on_mean_validation_not_on_its_best_seed(headline, tmp_path):
    for seed, validation in enumerate([0.040, 0.020, 0.020]):
        write_run(tmp_path, "beauty-spiky" + (f"-seed{seed}" if seed else ""), validation=validation, test=0.01)
    for seed, validation in enumerate([0.030, 0.031, 0.032]):
        write_run(tmp_path, "beauty-steady" + (f"-seed{seed}" if seed else ""), validation=validation, test=0.01)
    assert headline("beauty", "random", results=tmp_path) == "beauty-steady-seed2"


def test_without_a_recipe_of_enough_seeds_the_headline_says_what_to_run(headline, tmp_path):
    write_run(tmp_path, "beauty-a", validation=0.03, test=0.03)
    write_run(tmp_path, "beauty-a-seed1", validation=0.03, test=0.03)
    with pytest.raises(SystemExit, match=r"no random-id recipe of beauty has 3 seeds .* \(the most is 2\)"):
        headline("beauty", "random", results=tmp_path)


def write_rescored(folder: Path, name: str, validation: float, pretrain_s: float, finetune_s: float,
                   resumed: dict, trained: tuple = ("pretrain", "finetune")) -> None:
    """A run whose later process (after a kill) reloaded or retrained stages: its own total is that process's."""
    write_run(folder, name, validation=validation, test=validation, total_s=5.0, evaluate_s=4.0, resumed=resumed,
              history={stage: [{"eval_ndcg@10": validation, "elapsed_s": 1.0, "epoch": 1.0}] for stage in trained})
    run_file = folder / f"{name}.json"
    import json

    run = json.loads(run_file.read_text())
    run["timings"].update(setup_s=1.0, pretrain_s=pretrain_s, finetune_s=finetune_s)
    run_file.write_text(json.dumps(run))


def test_a_run_rescored_after_a_kill_is_timed_by_the_stages_it_loaded(headline, tmp_path):
    loaded = {"pretrain": "loaded the finished stage", "finetune": "loaded the finished stage"}
    write_rescored(tmp_path, "beauty-rescored", 0.05, pretrain_s=1200.0, finetune_s=2000.0, resumed=loaded)
    write_rescored(tmp_path, "beauty-rescored-slow", 0.08, pretrain_s=1200.0, finetune_s=2500.0, resumed=loaded)
    write_run(tmp_path, "beauty-weaker", validation=0.01, test=0.01)
    assert headline("beauty", "random", results=tmp_path, min_seeds=1) == "beauty-rescored"


def test_a_run_with_a_stage_trained_by_a_later_process_is_not_a_candidate(headline, tmp_path):
    """Pretraining loaded, fine-tuning trained afresh by the later process: two budget clocks, no total to trust."""
    write_rescored(tmp_path, "beauty-two-clocks", 0.08, pretrain_s=600.0, finetune_s=600.0,
                   resumed={"pretrain": "loaded the finished stage"})
    write_rescored(tmp_path, "beauty-continued", 0.07, pretrain_s=600.0, finetune_s=600.0,
                   resumed={"pretrain": "loaded the finished stage", "finetune": "resumed from checkpoint-400"})
    write_run(tmp_path, "beauty-weaker", validation=0.01, test=0.01)
    assert headline("beauty", "random", results=tmp_path, min_seeds=1) == "beauty-weaker"


def test_headline_command_refuses_fewer_than_one_seed(tmp_path, capsys):
    module = benchmark_module("headline")
    with pytest.raises(SystemExit):
        module.main(["beauty", "random", "--min-seeds", "0"])
    assert "--min-seeds must be at least 1" in capsys.readouterr().err


@pytest.mark.parametrize("argv", [["--help"], ["--chek"], ["--check", "extra"]])
def test_tables_refuse_other_arguments_without_touching_the_readme(tables, argv, capsys):
    readme = Path(tables.ROOT / "README.md")
    before = readme.stat().st_mtime_ns
    assert tables.main(argv) == (0 if argv == ["--help"] else 2)
    assert "Usage" in capsys.readouterr().err
    assert readme.stat().st_mtime_ns == before


def scored_run(name: str, seed: int, scores: tuple[float, float, float, float], validation: float,
               ids: str = "random", pretrain_epochs: int = 0) -> dict:
    """A beauty results JSON with its four target metrics on test, as the scoreboard reads it."""
    run = genrec_run(name, seed, scores[2])
    run["test"].update(zip(("hr@5", "ndcg@5", "hr@10", "ndcg@10"), scores))
    run["data"]["ids"] = ids
    run["options"]["pretrain_epochs"] = pretrain_epochs
    run["validation"] = {"ndcg@10": validation}
    run["timings"].update(total_s=1300.0)
    run["baselines"] = {"max_history_plus_k": {"test": {"hr@5": 0.045, "ndcg@5": 0.0447, "hr@10": 0.046,
                                                        "ndcg@10": 0.045}}}
    return run


def scoreboard_row(board: str, target: str) -> list[str]:
    rows = [line for line in board.splitlines() if f"| {target}" in line]
    assert len(rows) == 1, board
    return [cell.strip() for cell in rows[0].strip("|").split("|")]


ABOVE_PUBLISHED = (0.05, 0.035, 0.075, 0.042)  # beauty's best published, per metric: .0486 / .0340 / .0719 / .0414


def test_scoreboard_meets_a_target_only_when_every_seed_is_above_on_all_four_metrics(tables):
    seeds = [scored_run(f"beauty-x{'-seed%d' % s if s else ''}", s, ABOVE_PUBLISHED, 0.05) for s in range(3)]
    row = scoreboard_row(tables.render_scoreboard(seeds), "best published")
    assert row[4] == "`beauty-x` (3 seeds)" and row[6:] == ["3 of 3", "**met**"]
    seeds[2] = scored_run("beauty-x-seed2", 2, (0.05, 0.033, 0.075, 0.042), 0.05)  # one NDCG@5 below .0340
    assert scoreboard_row(tables.render_scoreboard(seeds), "best published")[6:] == ["2 of 3", "met by the mean"]
    seeds = [scored_run(f"beauty-x{'-seed%d' % s if s else ''}", s, (0.05, 0.030, 0.075, 0.042), 0.05)
             for s in range(3)]
    assert scoreboard_row(tables.render_scoreboard(seeds), "best published")[7] == "not met: below on NDCG@5"


def test_scoreboard_answers_random_ids_with_the_headline_recipe_not_a_lucky_two_seed_one(tables):
    three = [scored_run(f"beauty-three{'-seed%d' % s if s else ''}", s, (0.02, 0.01, 0.03, 0.02), 0.03)
             for s in range(3)]
    two = [scored_run(f"beauty-two{'-seed%d' % s if s else ''}", s, ABOVE_PUBLISHED, 0.06) for s in range(2)]
    row = scoreboard_row(tables.render_scoreboard(three + two), "best published")
    assert row[4] == "`beauty-three` (3 seeds)" and row[7].startswith("not met")


def test_scoreboard_sets_paper_table_1_against_pretrained_runs_and_table_3_against_the_rest(tables):
    pretrained = scored_run("beauty-pt", 0, (0.02, 0.01, 0.03, 0.02), 0.02, "sequential", pretrain_epochs=10)
    without = scored_run("beauty-nopt", 0, (0.06, 0.044, 0.085, 0.051), 0.06, "sequential")
    board = tables.render_scoreboard([pretrained, without])
    table_1, table_3 = scoreboard_row(board, "GenRec (paper Table 1)"), scoreboard_row(board, "GenRec w/o")
    assert table_1[4] == "`beauty-pt` (1 seed)" and table_1[7].startswith("not met")
    assert table_3[4] == "`beauty-nopt` (1 seed)" and table_3[7] == "**met**"
    rule = scoreboard_row(board, "beside them: the max(history)+k rule")
    assert rule[3] == ".0450 / .0447 / .0460 / .0450" and rule[4] == "`beauty-nopt` (1 seed)"
    assert rule[7] == "below on NDCG@5"  # a reference, not a target


def test_scoreboard_answers_the_paper_with_a_model_that_reads_the_id_order_only_in_rows_of_its_own(tables):
    """A run with the successor item bias uses the rule's leak: however good, it must not answer the rows of the
    models that cannot read the ids' order, and its own rows say what it reads."""
    blind = scored_run("beauty-nopt", 0, (0.06, 0.044, 0.085, 0.051), 0.06, "sequential")
    reading = scored_run("beauty-succ", 0, (0.09, 0.07, 0.11, 0.08), 0.09, "sequential")
    reading["options"]["config_overrides"] = {"successor_item_bias": 20}
    board = tables.render_scoreboard([blind, reading])
    assert scoreboard_row(board, "GenRec w/o pretraining (paper Table 3); ours without cloze pretraining |")[4] == \
        "`beauty-nopt` (1 seed)"
    leak = scoreboard_row(board, "GenRec w/o pretraining (paper Table 3); ours without cloze pretraining that reads")
    assert leak[2].endswith("(the successor item bias: the rule's leak)")
    assert leak[4] == "`beauty-succ` (1 seed)" and leak[7] == "**met**"
    assert scoreboard_row(board, "beside them: the max(history)+k rule")[4] == "`beauty-nopt` (1 seed)"
    assert scoreboard_row(board, "the max(history)+k rule, against ours that reads")[7] == "above on all four"
    assert "that reads" not in tables.render_scoreboard([blind])


def test_scoreboard_sets_sasrec_history_excluded_against_ours_history_excluded(tables):
    kept = {"hit@5": 0.03, "ndcg@5": 0.02, "hit@10": 0.05, "ndcg@10": 0.025}
    excluded = {"hit@5": 0.06, "ndcg@5": 0.045, "hit@10": 0.08, "ndcg@10": 0.05}
    seeds = [scored_run(f"beauty-x{'-seed%d' % s if s else ''}", s, ABOVE_PUBLISHED, 0.05) for s in range(3)]
    for run in seeds:
        run["history_excluded"] = {"test": {"hr@5": 0.061, "ndcg@5": 0.046, "hr@10": 0.081, "ndcg@10": 0.051}}
    board = tables.render_scoreboard(seeds, sasrec=[sasrec_run(kept, excluded)])
    assert scoreboard_row(board, "SASRec (RecBole) trained here")[3] == ".0300 / .0200 / .0500 / .0250"
    row = scoreboard_row(board, "SASRec trained here, history items excluded")
    assert row[3] == ".0600 / .0450 / .0800 / .0500" and row[5] == ".0610 / .0460 / .0810 / .0510"
    assert row[7] == "**met**"


def test_tables_refuse_a_readme_without_the_scoreboard_markers(tables, monkeypatch, tmp_path, capsys):
    readme = (tables.ROOT / "README.md").read_text()
    (tmp_path / "README.md").write_text(readme.replace(tables.BOARD_START, ""))
    monkeypatch.setattr(tables, "ROOT", tmp_path)
    assert tables.main(["--check"]) == 2
    assert "scoreboard:start" in capsys.readouterr().err


def test_scoreboard_reproduction_rows_count_runs_on_any_machine_but_beat_rows_only_the_cpu_budget(tables):
    on_gpu = scored_run("beauty-gpu", 0, ABOVE_PUBLISHED, 0.08, "sequential")
    on_gpu["machine"]["accelerator"] = "NVIDIA H200"
    board = tables.render_scoreboard([on_gpu] + [
        {**scored_run(f"beauty-gpu-random{'-seed%d' % s if s else ''}", s, ABOVE_PUBLISHED, 0.08),
         "machine": on_gpu["machine"]} for s in range(3)])
    assert scoreboard_row(board, "GenRec w/o")[4] == "`beauty-gpu` (1 seed)"
    assert scoreboard_row(board, "best published")[4:] == ["no run yet", "", "", "not met"]


def scored_pair(seeds: tuple[int, int], scores: tuple[float, float, float, float], within_budget: bool = True,
                recipe: str = "beauty-x", retrained: tuple[int, ...] = ()) -> dict:
    """An ensemble JSON as benchmarks/ensemble.py writes it, cut down to what the scoreboard reads."""
    members = [recipe + (f"-seed{seed}" if seed else "") for seed in seeds]
    return {"data": {"source": "../shared/data/beauty/sequential_data.txt", "ids": "random"},
            "ensemble": {"members": members, "seeds": list(seeds)}, "within_budget": within_budget,
            "members": member_checks(members, seeds, retrained),
            "test": dict(zip(("hr@5", "ndcg@5", "hr@10", "ndcg@10"), scores))}


def test_scoreboard_sets_every_in_budget_pair_of_the_headline_recipe_against_the_beat_targets(tables):
    seeds = [scored_run(f"beauty-x{'-seed%d' % s if s else ''}", s, (0.02, 0.01, 0.03, 0.02), 0.05) for s in range(3)]
    pairs = [scored_pair((0, 1), ABOVE_PUBLISHED), scored_pair((0, 2), (0.05, 0.030, 0.075, 0.042)),
             scored_pair((1, 2), ABOVE_PUBLISHED, within_budget=False),  # two trainings over the 60 minutes
             scored_pair((0, 1), ABOVE_PUBLISHED, recipe="beauty-other")]
    board = tables.render_scoreboard(seeds, ensembles=pairs)
    rows = [line for line in board.splitlines() if "| best published" in line]
    assert len(rows) == 2 and "`beauty-x` (3 seeds)" in rows[0]
    cells = [cell.strip() for cell in rows[1].strip("|").split("|")]
    assert cells[4] == "every 2-seed ensemble of that recipe within the budget (2 pairs: 0+1, 0+2)"
    assert cells[6:] == ["1 of 2", "not met: below on NDCG@5"]


def test_scoreboard_names_the_seeds_whose_checkpoint_in_a_pair_was_a_re_training(tables):
    seeds = [scored_run(f"beauty-x{'-seed%d' % s if s else ''}", s, (0.02, 0.01, 0.03, 0.02), 0.05) for s in range(3)]
    board = tables.render_scoreboard(seeds, ensembles=[scored_pair((0, 1), ABOVE_PUBLISHED, retrained=(0,))])
    (row,) = [line for line in board.splitlines() if "| best published" in line and "ensemble" in line]
    assert [cell.strip() for cell in row.strip("|").split("|")][4] == (
        "every 2-seed ensemble of that recipe within the budget (1 pair: 0+1); seed 0 re-trained: the checkpoint "
        "scored, not the recorded run's weights")
