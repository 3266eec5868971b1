"""Regenerate the README's results tables from benchmarks/results/*.json (never typed by hand).

Usage: python benchmarks/make_tables.py [--check]
Rewrites the blocks between <!-- results:start --> and <!-- results:end --> (every run) and between
<!-- scoreboard:start --> and <!-- scoreboard:end --> (issue 7's targets against the runs that answer them) in
README.md; with --check, exits 1 if the README is out of date instead.
"""

from __future__ import annotations

import json
import re
import statistics
import sys
from pathlib import Path
from typing import Callable, Iterable

from genrec_hf.hub import retrained_members

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
START, END = "<!-- results:start -->", "<!-- results:end -->"
BOARD_START, BOARD_END = "<!-- scoreboard:start -->", "<!-- scoreboard:end -->"  # render_scoreboard's place
METRICS = ("hr@5", "ndcg@5", "hr@10", "ndcg@10", "hr@20")
ITEM_SPELLING = {"collaborative": "collaborative codes", "independent": "one token per item"}
TARGET_METRICS = ("hr@5", "ndcg@5", "hr@10", "ndcg@10")  # the targets

sys.path.insert(0, str(Path(__file__).resolve().parent))  # run as a script or imported by path (tests)
from headline import best_recipe, counts_for  # noqa: E402


def model_inputs(options: dict) -> str:
    """What beside the id protocol a run's model reads: its size where not small, its item spelling, whether it sees
    users."""
    parts = [f"{options['preset']} size"] if options.get("preset", "small") != "small" else []
    parts += [ITEM_SPELLING[options["item_codes"]]] if options.get("item_codes") in ITEM_SPELLING else []
    if not options.get("users", True):
        parts.append("no users")
    if options.get("config_overrides", {}).get("item_id_embedding") is False:
        parts.append("no item-ID embedding")
    if options.get("config_overrides", {}).get("positions_from_end"):
        parts.append("positions from the end")
    starts = [name for key, name in (("decoder_start_from_mask", "the [MASK]"),
                                     ("decoder_start_from_last_item", "the last item"))
              if options.get("config_overrides", {}).get(key)]
    if starts:
        parts.append("decoder started from " + " and ".join(starts))
    if options.get("config_overrides", {}).get("history_item_bias"):
        parts.append("learned history item bias")
    if options.get("config_overrides", {}).get("successor_item_bias"):
        parts.append(f"learned bias for the {options['config_overrides']['successor_item_bias']} items after the "
                     f"history's highest id (reads the id order)")
    return f" ({', '.join(parts)})" if parts else ""



def paper_rows(kind: str = "paper", tables: bool = False) -> dict[str, dict[str, tuple[float, ...]]]:
    """Published numbers, from the one place they are quoted (hub_cards/datasets.json): the GenRec paper's Tables
    1 and 3 (``paper``; labels name the table with ``tables``), or the best leave-one-out all-item results known
    on the same files (``published``)."""
    facts = json.loads((ROOT / "hub_cards" / "datasets.json").read_text())

    def label(text: str) -> str:
        return text if tables else text.replace(" Table 1", "").replace(" Table 3", "")

    return {name: {label(text): tuple(values[m] for m in TARGET_METRICS) for text, values in entry.get(kind, {}).items()}
            for name, entry in facts.items()}


def dataset_name(result: dict) -> str:
    return Path(result["data"]["source"]).parent.name or result["data"]["source"]


def fmt(value: float | None) -> str:
    return "" if value is None else f"{value:.4f}"


def machine_label(machine: dict) -> str:
    """"2 CPUs" and, where the run recorded it, the CPU model: hosts of one machine type differ in speed. A run on
    an accelerator names it first."""
    model = machine.get("cpu_model")
    cpus = f"{machine['cpus']} CPUs" + (f" ({model})" if model else "")
    return f"{machine['accelerator']} + {cpus}" if machine.get("accelerator") else cpus


def per_seed_cell(group: list[dict], cell: Callable[[dict], str]) -> str:
    """A cell for a row of seeds: one value where the seeds agree, else each value with the seeds it holds for, since
    a bare list of values (or seed 0's alone) would not say which seed ran how."""
    seeds_by_value: dict[str, list[int]] = {}
    for run in group:
        seeds_by_value.setdefault(cell(run), []).append(run["options"]["seed"])
    if len(seeds_by_value) == 1:
        return next(iter(seeds_by_value))
    return "; ".join(f"{value} (seed{'s' if len(seeds) > 1 else ''} {', '.join(map(str, sorted(seeds)))})"
                     for value, seeds in seeds_by_value.items())


def seeds_machine_label(group: list[dict]) -> str:
    """The machine cell of a row of seeds, each CPU model with its seeds where they differ: seeds trained on hosts of
    different speed make the mean wall time a mix."""
    return per_seed_cell(group, lambda run: f"{machine_label(run['machine'])}, {run['machine']['torch_threads']} threads")


def minutes(seconds: float | None) -> str:
    return "" if seconds is None else f"{seconds / 60:.0f} min"


def run_seconds(run: dict) -> float:
    """Set-up, training and evaluation time of a run, its stages summed (a resumed run counts the stages it loaded)."""
    timings = run.get("timings", {})
    stages = [timings[k] for k in ("setup_s", "pretrain_s", "finetune_s", "evaluate_s") if k in timings]
    return sum(stages) if stages else run["benchmark"]["wall_time_s"]


def epochs_cell(run: dict, stage: str) -> str:
    """A stage's epochs; where ``--budget-min`` ended it early, the epochs it ran of those it was given; where
    ``--average-epochs`` kept an average of its weights, which epochs."""
    planned = run["options"][f"{stage}_epochs"]
    budget = run.get("budget") or {}
    if stage in budget.get("skipped", []):
        return f"0 of {planned} (budget spent)"
    cell = f"{budget['stopped'][stage]:g} of {planned} (budget)" if stage in budget.get("stopped", {}) else str(planned)
    selected = run.get("selected_model") or {}
    average = selected.get("average") or {}
    if selected.get("stage") == stage and average.get("kept"):
        cell += f" (average of epochs {min(average['epochs']):g}-{max(average['epochs']):g})"
    return cell


def epochs_cells(group: list[dict], stage: str) -> str:
    """The stage's epochs for a row of seeds: one figure where they agree, else each with its seeds (a budget cut
    some, or only some kept an average)."""
    return per_seed_cell(group, lambda run: epochs_cell(run, stage))


def base_name(name: str) -> str:
    """``NAME-seed3`` -> ``NAME`` (``bash benchmarks/runs.sh NAME 3`` records the seed-3 run of NAME)."""
    return re.sub(r"-seed\d+$", "", name)


def seed_groups(runs: list[dict]) -> list[list[dict]]:
    """Runs of one recipe that differ only by seed, grouped (in name order)."""
    groups: dict[str, list[dict]] = {}
    for run in sorted(runs, key=lambda r: (r["data"]["ids"], r["benchmark"]["name"])):
        groups.setdefault(base_name(run["benchmark"]["name"]), []).append(run)
    return list(groups.values())


def mean_std(values: list[float | None]) -> str:
    """One value as is; several as mean ± sample standard deviation."""
    present = [v for v in values if v is not None]
    if not present:
        return ""
    if len(present) == 1:
        return fmt(present[0])
    return f"{statistics.mean(present):.4f} ± {statistics.stdev(present):.4f}"


def read_plans(path: Path = ROOT / "benchmarks" / "ensemble_plans.json") -> list[dict]:
    """Ensembles fixed before their members existed (benchmarks/ensemble_plans.json)."""
    return json.loads(path.read_text())["plans"] if path.exists() else []


def retrained_note(ensembles: list[dict]) -> str:
    """Where some members' checkpoints were re-trainings, not their recorded runs, a clause naming their seeds."""
    retrained = sorted({member["seed"] for result in ensembles for member in retrained_members(result)})
    if not retrained:
        return ""
    return (f"; seed{'s' if len(retrained) > 1 else ''} {', '.join(map(str, retrained))} re-trained: the checkpoint "
            f"scored, not the recorded run's weights")


def ensemble_row(label: str, group: list[dict]) -> str:
    """Mean ± std over ``group``; the time is the members' budgeted training, summed. Members whose checkpoint was
    a re-training, not the recorded run, are named in the label."""
    label += retrained_note(group)
    training = [result["training_s"] for result in group]
    over = sum(not result["within_budget"] for result in group)
    budget = f" ({over} over the {group[0]['budget_min']:g}-min budget)" if over else ""
    return (f"| {label} | {group[0]['data']['ids']} | as its members | "
            + " | ".join(mean_std([result["test"].get(m) for result in group]) for m in METRICS)
            + f" | {minutes(statistics.mean(training))} training{budget}"
              f" | {machine_label(group[0]['machine'])}, {group[0]['machine']['torch_threads']} threads |")


def combos(seed_lists: list[list[int]]) -> str:
    return ", ".join("+".join(map(str, seeds)) for seeds in seed_lists)


def ensemble_rows(ensembles: list[dict], plans: list[dict] | None = None) -> list[str]:
    """One row per recipe and ensemble size over every ensemble scored (benchmarks/ensemble.py), which may share
    members (3 pairs from 3 seeds); above it, one row per pre-registered plan of that recipe and size, over the
    plan's ensembles only (blank, with what is missing, until all are scored; a plan shows from the first scored
    ensemble of its recipe and size, since the table it belongs to is known from that)."""
    groups: dict[tuple[str, int], list[dict]] = {}
    for result in ensembles:
        members = result["ensemble"]["members"]
        groups.setdefault((base_name(members[0]), len(members)), []).append(result)
    lines = []
    for (recipe, size), group in sorted(groups.items()):
        by_seeds = {tuple(sorted(result["ensemble"]["seeds"])): result for result in group}
        for plan in plans or []:
            if plan["recipe"] != recipe or {len(seeds) for seeds in plan["ensembles"]} != {size}:
                continue
            wanted = [tuple(sorted(seeds)) for seeds in plan["ensembles"]]
            missing = [seeds for seeds in wanted if seeds not in by_seeds]
            label = (f"**pre-registered** ensembles of {size} seeds of `{recipe}` ({combos(plan['ensembles'])}; "
                     f"fixed in {plan['registered']}; mean item probability)")
            if missing:
                blank = " | ".join([""] * (len(METRICS) + 3))  # epochs, metrics, time, machine
                lines.append(f"| {label}: not yet scored: {combos(missing)} | {group[0]['data']['ids']} | {blank} |")
            else:
                lines.append(ensemble_row(label, [by_seeds[seeds] for seeds in wanted]))
        seeds = sorted({seed for result in group for seed in result["ensemble"]["seeds"]})
        shared = ", sharing members" if len(group) * size > len(seeds) else ""
        lines.append(ensemble_row(
            f"ensemble of {size} seeds of `{recipe}` ({len(group)} ensemble{'s' if len(group) > 1 else ''}: "
            f"{combos([result['ensemble']['seeds'] for result in group])}{shared}; mean item probability)",
            group))
    return lines


def render(results: list[dict], sasrec: list[dict] | None = None, ensembles: list[dict] | None = None,
           plans: list[dict] | None = None) -> str:
    lines = []
    by_data: dict[str, list[dict]] = {}
    for result in results:
        by_data.setdefault(dataset_name(result), []).append(result)
    seed_ensembles: dict[str, list[dict]] = {}
    for result in ensembles or []:
        seed_ensembles.setdefault(dataset_name(result), []).append(result)
    others: dict[str, list[dict]] = {}
    for result in sasrec or []:
        others.setdefault(dataset_name(result), []).append(result)
    for data, runs in sorted(by_data.items()):
        lines += [f"### {data} (test split, all-item ranking, top-20 beams)", "",
                  "| run | ids | pretrain / fine-tune epochs | HR@5 | NDCG@5 | HR@10 | NDCG@10 | HR@20 | wall time | machine |",
                  "|---|---|---|---|---|---|---|---|---|---|"]
        baselines: dict[tuple[str, str], list[dict]] = {}
        for group in seed_groups(runs):
            run = group[0]
            options = run["options"]
            seeds = sorted(r["options"]["seed"] for r in group)
            label = (f"`{base_name(run['benchmark']['name'])}`"
                     + (f" ({len(group)} seeds: {', '.join(map(str, seeds))})" if len(group) > 1 else ""))
            seconds = [run_seconds(r) for r in group]
            resumed = sorted({stage for r in group for stage in (r.get("resumed") or {})})
            lines.append(
                f"| {label} | {run['data']['ids']}"
                f"{model_inputs(options)} | "
                f"{epochs_cells(group, 'pretrain')} / "
                f"{epochs_cells(group, 'finetune')}{' (prefixes)' if options.get('prefixes') else ''} | "
                + " | ".join(mean_std([r["test"].get(m) for r in group]) for m in METRICS)
                + f" | {minutes(statistics.mean(seconds))}"
                  f"{' (resumed: ' + ', '.join(resumed) + ')' if resumed else ''}"
                  f" | {seeds_machine_label(group)} |")
            for member in group:
                for name, splits in member["baselines"].items():
                    baselines.setdefault((name, member["data"]["ids"]), []).append(splits["test"])
        lines += ensemble_rows(seed_ensembles.get(data, []), plans)
        for run in others.get(data, []):
            test = {m: run["test"].get(m.replace("hr@", "hit@")) for m in METRICS}
            lines.append(f"| `{run['name']}`: {run['model'].split(' (')[0]} (RecBole) | any | {run['best_epoch']} of "
                         f"{len(run['curve'])} epochs ({sasrec_limits(run)}) | "
                         + " | ".join(fmt(test.get(m)) for m in METRICS)
                         + f" | {minutes(run['wall_time_s'])} | {machine_label(run['machine'])}, "
                           f"{run['settings'].get('threads', run['machine']['torch_threads'])} threads |")
            if "history_excluded" in run:
                excluded = {m: run["history_excluded"]["test"].get(m.replace("hr@", "hit@")) for m in METRICS}
                lines.append(f"| `{run['name']}` with the history's items excluded at scoring (same model; where no "
                             f"target repeats a history item, no history bias added to it scores higher) | any | same | "
                             + " | ".join(fmt(excluded.get(m)) for m in METRICS) + " | - | same |")
        for (name, ids), tests in sorted(baselines.items()):
            label = {"max_history_plus_k": "max(history)+k rule", "most_popular": "most popular"}[name]
            unique = list({json.dumps(t, sort_keys=True): t for t in tests}.values())  # one per id renumbering
            lines.append(f"| {label} (no learning) | {ids} | - | "
                         + " | ".join(mean_std([t.get(m) for t in unique]) for m in METRICS) + " | - | - |")
        for name, values in paper_rows().get(data, {}).items():
            lines.append(f"| {name} | sequential | - | " + " | ".join(fmt(v) for v in values) + " |  | - | RTX 3090 |")
        for name, values in paper_rows("published").get(data, {}).items():
            lines.append(f"| best published: {name} | own | - | " + " | ".join(fmt(v) for v in values) + " |  | - | - |")
        lines.append("")
    lines.append("Generated by `python benchmarks/make_tables.py` from `benchmarks/results/*.json`; each JSON "
                 "holds the command, commit, machine, versions and training history of its run.")
    return "\n".join(lines)


def render_history_excluded(results: list[dict], sasrec: list[dict] | None = None) -> str:
    """Each recipe's test scores as recorded (history items may be recommended) beside the same model's with them
    forbidden, for the runs that record both (``history_excluded`` in their JSON), seeds pooled as in ``render``;
    SASRec runs (RecBole's metric names) that record both come last."""
    lines = []
    by_data: dict[str, list[dict]] = {}
    for run in results:
        if "history_excluded" in run:
            by_data.setdefault(dataset_name(run), []).append(run)
    others: dict[str, list[dict]] = {}
    for run in sasrec or []:
        if "history_excluded" in run:
            others.setdefault(dataset_name(run), []).append(run)
            by_data.setdefault(dataset_name(run), [])
    for data, runs in sorted(by_data.items()):
        lines += [f"### {data}: the same models with the history's items excluded (test split)", "",
                  "| run | seeds | HR@10 | NDCG@10 | HR@10, history excluded | NDCG@10, history excluded |",
                  "|---|---|---|---|---|---|"]
        for group in seed_groups(runs):
            seeds = ", ".join(str(r["options"]["seed"]) for r in sorted(group, key=lambda r: r["options"]["seed"]))
            lines.append(f"| `{base_name(group[0]['benchmark']['name'])}` | {seeds} | "
                         + " | ".join(mean_std([r["test"][m] for r in group]) for m in ("hr@10", "ndcg@10")) + " | "
                         + " | ".join(mean_std([r["history_excluded"]["test"][m] for r in group])
                                      for m in ("hr@10", "ndcg@10")) + " |")
        for run in others.get(data, []):
            lines.append(f"| `{run['name']}`: {run['model'].split(' (')[0]} (RecBole) | {run['settings']['seed']} | "
                         + " | ".join(fmt(run["test"][m]) for m in ("hit@10", "ndcg@10")) + " | "
                         + " | ".join(fmt(run["history_excluded"]["test"][m]) for m in ("hit@10", "ndcg@10")) + " |")
        lines += ["", "The headline tables keep history items among the candidates, as the paper does and as "
                      "RecBole's full-sort evaluation of sequential models (SASRec) does; `pipeline(\"genrec\")` "
                      "excludes them by default.", ""]
    return "\n".join(lines)


def sasrec_test(run: dict, excluded: bool = False) -> dict[str, float]:
    """A SASRec run's test scores under our metric names (RecBole says hit@k), as recorded or history-excluded."""
    test = run["history_excluded"]["test"] if excluded else run["test"]
    return {m: test[m.replace("hr@", "hit@")] for m in TARGET_METRICS}


def verdict(ours: list[dict[str, float]], target: tuple[float, ...], reference: bool = False) -> tuple[str, str]:
    """(seeds above the target on all four metrics, what that means): met when every seed is above on every
    metric; met by the mean when only the mean is; otherwise the metrics where the mean is not above. A
    ``reference`` (the rule beside the paper's rows) is no target: above, or below on those metrics."""
    above = sum(all(scores[m] > t for m, t in zip(TARGET_METRICS, target)) for scores in ours)
    mean = {m: statistics.mean(scores[m] for scores in ours) for m in TARGET_METRICS}
    short = [m.upper() for m, t in zip(TARGET_METRICS, target) if mean[m] <= t]
    if reference:
        state = "below on " + ", ".join(short) if short else "above on all four"
    elif above == len(ours):
        state = "**met**"
    elif not short:
        state = "met by the mean"
    else:
        state = "not met: below on " + ", ".join(short)
    return f"{above} of {len(ours)}", state


def plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


def slashed(values: Iterable[float]) -> str:
    return " / ".join(f"{v:.4f}".lstrip("0") for v in values)


def reads_id_order(run: dict) -> bool:
    """Whether a run's model reads the catalogue's numbering (``successor_item_bias``), which on sequential ids
    is the leak the max(history)+k rule uses."""
    return run.get("options", {}).get("config_overrides", {}).get("successor_item_bias", 0) > 0


def render_scoreboard(results: list[dict], sasrec: list[dict] | None = None, ensembles: list[dict] | None = None,
                      budget_min: float = 60) -> str:
    """Issue 7's targets, one row each, beside the run that answers it, all chosen on validation, never on test.

    Sequential ids (reproduce): the paper's Table 1 row against the best recipe with cloze pretraining, its
    Table 3 row against the best without, and the max(history)+k rule against the best of either, any seeds; runs
    whose model reads the ids' order (``successor_item_bias``: the leak the rule uses) answer rows of their own.
    Random ids (beat, 60 minutes on this CPU): the best published row, per metric, and SASRec trained here
    (per metric, the best of its runs; history-excluded against ours history-excluded) against the headline
    recipe of ``benchmarks/headline.py`` (at least 3 seeds), and again against every 2-seed ensemble of that
    recipe whose members' training fits the budget together (all of them: none is picked)."""
    lines = ["### Where issue 7 stands", "",
             "| data set | ids | target | target HR@5 / NDCG@5 / HR@10 / NDCG@10 | ours, chosen on validation | "
             "ours (mean) | above on all four | verdict |",
             "|---|---|---|---|---|---|---|---|"]
    for data in sorted({dataset_name(run) for run in results}):
        sequential = [run for run in results  # reproducing has no budget: any run, any machine
                      if "validation" in run and dataset_name(run) == data and run["data"]["ids"] == "sequential"]
        random_ids = [run for run in results if counts_for(run, data, "random", budget_min)]
        blind = [run for run in sequential if not reads_id_order(run)]
        reading = [run for run in sequential if reads_id_order(run)]
        pretrained = best_recipe([run for run in blind if run["options"].get("pretrain_epochs", 0) > 0])
        without = best_recipe([run for run in blind if run["options"].get("pretrain_epochs", 0) == 0])
        rule = [run["baselines"]["max_history_plus_k"]["test"] for run in sequential
                if "max_history_plus_k" in run.get("baselines", {})][:1]
        paper = list(paper_rows(tables=True).get(data, {}).items())
        published = list(paper_rows("published").get(data, {}).values())
        headline = best_recipe(random_ids, min_seeds=3)
        pairs = [] if not headline else [
            result for result in ensembles or [] if len(result["ensemble"]["members"]) == 2
            and result.get("within_budget") and dataset_name(result) == data
            and base_name(result["ensemble"]["members"][0]) == base_name(headline[0]["benchmark"]["name"])]
        others = [run for run in sasrec or [] if dataset_name(run) == data]
        targets = []  # (ids, label, values, answered by: "pretrained" / "without" / "sequential" / "headline", split)
        reads = " that reads the ids' order (the successor item bias: the rule's leak)"
        for (label, values), answer, stage in zip(paper, ("pretrained", "without"), ("with", "without")):
            targets.append(("sequential", f"{label}; ours {stage} cloze pretraining", values, answer, "test"))
            if reading:
                targets.append(("sequential", f"{label}; ours {stage} cloze pretraining{reads}", values,
                                f"{answer} reading", "test"))
        if rule:
            targets.append(("sequential", "beside them: the max(history)+k rule (no learning), same split",
                            tuple(rule[0][m] for m in TARGET_METRICS), "sequential", "test"))
            if reading:
                targets.append(("sequential", f"the max(history)+k rule, against ours{reads}",
                                tuple(rule[0][m] for m in TARGET_METRICS), "sequential reading", "test"))
        if published:
            targets.append(("random", f"best published, per metric (of {plural(len(published), 'row')})",
                            tuple(max(row[i] for row in published) for i in range(4)), "headline", "test"))
        if others:
            targets.append(("random", f"SASRec (RecBole) trained here, per metric (best of "
                                      f"{plural(len(others), 'run')})",
                            tuple(max(sasrec_test(run)[m] for run in others) for m in TARGET_METRICS), "headline",
                            "test"))
        excluded = [run for run in others if "history_excluded" in run]
        if excluded:
            targets.append(("random", "SASRec trained here, history items excluded at scoring on both sides (best of "
                                      f"{plural(len(excluded), 'run')})",
                            tuple(max(sasrec_test(run, True)[m] for run in excluded) for m in TARGET_METRICS),
                            "headline", "history_excluded"))
        answers = {"pretrained": pretrained, "without": without, "sequential": best_recipe(blind),
                   "headline": headline,
                   "pretrained reading": best_recipe([run for run in reading
                                                      if run["options"].get("pretrain_epochs", 0) > 0]),
                   "without reading": best_recipe([run for run in reading
                                                   if run["options"].get("pretrain_epochs", 0) == 0]),
                   "sequential reading": best_recipe(reading)}
        for ids, label, target, answer, split in targets:
            candidates = [("seed", answers[answer])] + ([("pair", pairs)] if answer == "headline" and pairs else [])
            for unit, runs in candidates:
                if runs and not all(split in run for run in runs):
                    continue  # not scored that way
                if not runs:
                    lines.append(f"| {data} | {ids} | {label} | {slashed(target)} | no run yet | | | not met |")
                    continue
                ours = [run[split]["test"] if split == "history_excluded" else run["test"] for run in runs]
                above, state = verdict(ours, target, reference=answer.startswith("sequential"))
                if unit == "seed":
                    name = f"`{base_name(runs[0]['benchmark']['name'])}` ({plural(len(runs), 'seed')})"
                else:
                    name = (f"every 2-seed ensemble of that recipe within the budget ({plural(len(runs), 'pair')}: "
                            + ", ".join("+".join(map(str, run["ensemble"]["seeds"])) for run in runs) + ")"
                            + retrained_note(runs))
                lines.append(f"| {data} | {ids} | {label} | {slashed(target)} | {name} | "
                             f"{slashed(statistics.mean(s[m] for s in ours) for m in TARGET_METRICS)} | {above} | "
                             f"{state} |")
    lines += ["", f"Chosen on validation NDCG@10, never on test: on sequential ids the best recipe (any seeds, any "
                  f"machine, any time) with and without cloze pretraining, and apart from them the best whose model "
                  f"reads the ids' order; on random ids the headline recipe of "
                  f"`benchmarks/headline.py` (at least 3 seeds, trained on the CPU within {budget_min:g} minutes), "
                  f"and every 2-seed ensemble of it whose two trainings together fit those minutes. SASRec's rows "
                  f"take, per metric, the best of every SASRec run here, whatever stopped it. **met**: every seed "
                  f"(or pair) above the target on all four metrics. The tables below give each run in full.", ""]
    return "\n".join(lines)


THRESHOLDS = (0.01, 0.02, 0.03)  # validation NDCG@10 levels of the time-to-quality table


def quality_curve(run: dict) -> list[tuple[float, float]]:
    """(seconds since training began, validation NDCG@10) after every epoch of a run.

    GenRec logs carry ``elapsed_s`` since their stage began (runs recorded before that field existed have no
    curve); the clock starts with the set-up (data, tokenizer and item codes, model: ``setup_s``, where recorded),
    and fine-tuning follows pretraining. SASRec's curve is RecBole's per-epoch validation, timed from its start
    (data preparation included).
    """
    if "curve" in run:
        return [(point["elapsed_s"], point["validation_ndcg@10"]) for point in run["curve"]]
    points, offset = [], run.get("timings", {}).get("setup_s", 0.0)
    for stage in ("pretrain", "finetune"):
        logs = run.get("history", {}).get(stage, [])
        evals = [log for log in logs if "eval_ndcg@10" in log]
        if evals and any("elapsed_s" not in log for log in evals):
            return []
        points += [(offset + log["elapsed_s"], log["eval_ndcg@10"]) for log in evals]
        offset += run.get("timings", {}).get(f"{stage}_s", 0.0)
    return points


def sasrec_limits(run: dict) -> str:
    """What stopped a SASRec run: its wall-time budget, a fixed epoch count, or both (whichever came first)."""
    limits = []
    if run.get("epochs_limit"):
        limits.append(f"{run['epochs_limit']}-epoch limit")
    limits.append(f"{run['budget_min']:.0f} min budget" if run.get("budget_min") else "no time budget")
    return ", ".join(limits)


def first_time_at(curve: list[tuple[float, float]], level: float) -> float | None:
    return next((seconds for seconds, value in curve if value >= level), None)


def render_time_to_quality(results: list[dict], sasrec: list[dict], write_plots: bool) -> str:
    """Wall time each run needed to reach fixed validation NDCG@10 levels, and a plot of the curves."""
    by_data: dict[str, list[tuple[str, dict, list[tuple[float, float]]]]] = {}
    for run in results:
        if run["machine"].get("accelerator"):
            continue  # its clock is not this CPU's: the comparison is with SASRec on the same CPU
        if reads_id_order(run):
            continue  # it reads the sequential ids' leak, which SASRec (random ids) is not handed
        curve = quality_curve(run)
        if curve:
            by_data.setdefault(dataset_name(run), []).append((f"GenRec `{run['benchmark']['name']}`", run, curve))
    for run in sasrec:
        by_data.setdefault(dataset_name(run), []).append((f"SASRec `{run['name']}`", run, quality_curve(run)))
    lines = []
    for data, entries in sorted(by_data.items()):
        if not any(label.startswith("GenRec") for label, _, _ in entries):
            continue  # nothing to compare SASRec with
        lines += [f"### Time to quality: {data} (validation NDCG@10 against wall time)", "",
                  "| run | threads | best validation NDCG@10 | "
                  + " | ".join(f"time to NDCG@10 {level:.2f}" for level in THRESHOLDS) + " |",
                  "|---|---|---|" + "---|" * len(THRESHOLDS)]
        for label, run, curve in entries:
            threads = run.get("settings", {}).get("threads") or run["machine"]["torch_threads"]
            times = [first_time_at(curve, level) for level in THRESHOLDS]
            lines.append(f"| {label} | {threads} | {max(v for _, v in curve):.4f} | "
                         + " | ".join("not reached" if t is None else f"{t / 60:.1f} min" for t in times) + " |")
        lines += ["", "GenRec validates on a fixed sample of validation users after every epoch (`--eval-users`), "
                      "SASRec on all of them; both clocks include that validation. Runs whose model reads the "
                      "ids' order (the successor item bias) are left out: they learn the sequential ids' leak. "
                      f"Plot: `benchmarks/results/time-to-quality-{data}.png` (the {PLOTTED_RECIPES} GenRec "
                      "recipes with the highest validation NDCG@10, each at its lowest seed, and SASRec).", ""]
        if write_plots:
            plot_curves(data, entries, RESULTS / f"time-to-quality-{data}.png")
    return "\n".join(lines)


PLOTTED_RECIPES = 8  # GenRec curves per plot; the table lists every run


def plotted(entries: list[tuple[str, dict, list[tuple[float, float]]]]) -> list[tuple[str, dict, list]]:
    """The curves worth a picture: one run per GenRec recipe (its lowest seed), the recipes with the highest best
    validation NDCG@10 first, at most ``PLOTTED_RECIPES`` of them, then every SASRec run."""
    recipes: dict[str, tuple[str, dict, list]] = {}
    for label, run, curve in entries:
        if not label.startswith("GenRec") or not curve:
            continue
        recipe = base_name(run["benchmark"]["name"])
        kept = recipes.get(recipe)
        if kept is None or run["options"]["seed"] < kept[1]["options"]["seed"]:
            recipes[recipe] = (label, run, curve)
    best = sorted(recipes.values(), key=lambda entry: -max(v for _, v in entry[2]))[:PLOTTED_RECIPES]
    return best + [entry for entry in entries if not entry[0].startswith("GenRec") and entry[2]]


def plot_curves(data: str, entries: list[tuple[str, dict, list[tuple[float, float]]]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    entries = plotted(entries)
    figure, axis = plt.subplots(figsize=(8, 4.5 + 0.22 * len(entries)))
    for label, _, curve in entries:
        axis.plot([t / 60 for t, _ in curve], [v for _, v in curve], marker="o", markersize=3,
                  label=label.replace("`", ""))
    for level in THRESHOLDS:
        axis.axhline(level, color="grey", linewidth=0.5, linestyle=":")
    axis.set_xlabel("wall time (min)")
    axis.set_ylabel("validation NDCG@10")
    axis.set_title(f"{data}: validation NDCG@10 against wall time (best {PLOTTED_RECIPES} GenRec recipes, one seed each)")
    axis.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.15), ncol=1, frameon=False)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def render_speed(results: list[dict]) -> str:
    lines = []
    for result in results:
        lines += [f"### Pipeline speed: `{Path(result['checkpoint']).parent.name}` on {result['data']} "
                  f"({result['machine']['cpus']} CPUs)", "",
                  "| torch threads | pipeline, 1 user p50 / p95 | plain generate, 1 user p50 | pipeline, calls of 64 "
                  "users | plain generate, calls of 64 | pipeline / plain throughput | pipeline, 1,024 users in one "
                  "call (batch_size=64) |",
                  "|---|---|---|---|---|---|---|"]
        for threads, entry in sorted(result["by_threads"].items()):
            one, plain_one = entry["pipeline_one_user"], entry["plain_generate_one_user"]
            batch, plain_batch = entry["pipeline_batch_64"], entry["plain_generate_batch_64"]
            one_call = entry.get("pipeline_one_call_batch_size_64")
            one_call = f"{one_call['users_per_s']:.0f} users/s" if one_call else "-"
            lines.append(f"| {threads} | {one['p50_ms']:.1f} / {one['p95_ms']:.1f} ms | {plain_one['p50_ms']:.1f} ms | "
                         f"{batch['users_per_s']:.0f} users/s | {plain_batch['users_per_s']:.0f} users/s | "
                         f"{entry['pipeline_vs_plain_throughput_ratio']:.2f} | {one_call} |")
        full = result.get("full_test_evaluation")
        if full:
            lines += ["", f"Whole test split ({full['users']} users, top-20 constrained beams, {full['threads']} threads): "
                          f"{full['seconds'] / 60:.1f} min."]
        lines += ["", "Plain generate = `model.generate(num_beams=20, num_return_sequences=20)` without the trie (its "
                      "beams need not be items). Generated from `benchmarks/results/"
                      f"{result['name']}.json` (`{result['command']}`).", ""]
    return "\n".join(lines)


def render_scale(results: list[dict]) -> str:
    lines = []
    for result in results:
        lines += [f"### Cost against size: generated logs ({result['machine']['cpus']} CPUs, 1 torch thread)", "",
                  "| interactions | users | items | data preparation | peak memory after it | tokenizer + item "
                  "tokens + trie | trie tensors | ID tables (+ AdamW state) | training step (64) | recommend 64 users |",
                  "|---|---|---|---|---|---|---|---|---|---|"]
        for row in result["sizes"]:
            lines.append(f"| {row['interactions']:,} | {row['users']:,} | {row['items']:,} | "
                         f"{row['data_preparation_s']:.2f} s | {row['data_preparation_peak_mb']:,.0f} MB | "
                         f"{row['tokenizer_s'] + row['trie_build_s']:.2f} s | {row['trie_tensor_mb']:.1f} MB | "
                         f"{row['id_embedding_mb']:,.0f} MB ({row['id_embedding_with_adamw_mb']:,.0f} MB) | "
                         f"{row['train_step_s'] * 1000:.0f} ms | {row['recommend_64_users_s'] * 1000:.0f} ms |")
        exponents = ", ".join(f"{key.removesuffix('_s').removesuffix('_mb').replace('_', ' ')} {value}"
                              for key, value in result["exponents"].items() if value is not None)
        lines += ["", f"Fitted exponents b of cost ~ size^b (sizes >= 100k; 1 = linear, 2 = quadratic): {exponents}.",
                  f"Plot: `benchmarks/results/{result['name']}.png`. Generated from `benchmarks/results/"
                  f"{result['name']}.json` (`{result['command']}`).", ""]
    return "\n".join(lines)


def fill(readme: str, start: str, end: str, text: str) -> str:
    """``readme`` with what lies between the ``start`` and ``end`` markers replaced by ``text``."""
    head, rest = readme.split(start, 1)
    _, tail = rest.split(end, 1)
    return head + start + "\n" + text + "\n" + end + tail


def main(argv: list[str]) -> int:
    if any(arg != "--check" for arg in argv):  # --help included: a typo must not rewrite the README
        print(__doc__.strip(), file=sys.stderr)
        return 0 if argv in (["--help"], ["-h"]) else 2
    results, speed, scale, sasrec, ensembles = [], [], [], [], []
    for path in sorted(RESULTS.glob("*.json")):
        result = json.loads(path.read_text())
        if "benchmark" in result and "test" in result:
            results.append(result)
        elif "ensemble" in result and "test" in result:
            ensembles.append(result)
        elif "by_threads" in result:
            speed.append({**result, "name": path.stem})
        elif str(result.get("model", "")).startswith("SASRec"):
            sasrec.append({**result, "name": path.stem})
        elif "sizes" in result and "exponents" in result:
            scale.append({**result, "name": path.stem})
    readme = (ROOT / "README.md").read_text()
    for start, end in ((START, END), (BOARD_START, BOARD_END)):
        if start not in readme or end not in readme:
            print(f"README.md lacks the {start} ... {end} markers", file=sys.stderr)
            return 2
    quality = render_time_to_quality(results, sasrec, write_plots="--check" not in argv)
    excluded = render_history_excluded(results, sasrec)
    blocks = [render(results, sasrec, ensembles, read_plans()) + "\n" + (excluded + "\n" if excluded else ""),
              quality + ("\n" if quality else "") + render_speed(speed),
              render_scale(scale)]
    updated = fill(readme, START, END, "\n".join(blocks))
    updated = fill(updated, BOARD_START, BOARD_END, render_scoreboard(results, sasrec, ensembles))
    if "--check" in argv:
        return 0 if updated == readme else 1
    (ROOT / "README.md").write_text(updated)
    print(f"README.md: {len(results)} result(s)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
