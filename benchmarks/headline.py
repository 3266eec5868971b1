"""The headline run of a data set under an id protocol, chosen on VALIDATION NDCG@10, never on test.

Runs of one recipe differ only by seed (``NAME``, ``NAME-seedN``). The headline recipe is the one with the best
mean validation NDCG@10 over its seeds, among recipes with at least ``--min-seeds`` seeds (the issue asks for 3 on
headline rows, so a lucky single seed cannot win); the headline run is that recipe's seed with the best validation
score (the one to publish; its card carries the recipe's mean ± std). Only runs that kept to the issue's 60-minute
budget on the CPU are counted (``--budget-min``; runs on a GPU are not). The budget is the issue's "pretraining +
fine-tuning": a run's set-up, pretraining and fine-tuning time with their per-epoch validations, not the final
scoring of the selected model (SASRec's budget in ``sasrec_recbole.py`` is counted the same way). Prints the run's
name.

    python benchmarks/headline.py beauty random                    # -> beauty-random-small-...-seed2
    python benchmarks/headline.py beauty sequential --min-seeds 1  # one-seed recipes compete too
    python benchmarks/headline.py beauty random --plan-ensembles   # its recipe's pre-registered ensembles' JSONs
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
from collections import Counter
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"
PLANS = RESULTS.parent / "ensemble_plans.json"


def training_seconds(result: dict) -> float:
    """Set-up, pretraining and fine-tuning time of a run: what the budget counts (the final scoring is not)."""
    timings = result["timings"]
    return timings["total_s"] - timings.get("evaluate_s", 0.0)


def within_budget(result: dict, budget_min: float) -> bool:
    """Whether a run kept to the budget, by its recorded training time.

    A run rescored after a kill (a later process only loaded its finished stages) is timed by the stage times
    it loaded, each recorded by the process that trained it. A run with a stage trained or continued in a later
    process is not a candidate: each process ran its own budget clock, so together they could exceed it.
    """
    resumed = result.get("resumed") or {}
    if not resumed:
        return training_seconds(result) <= budget_min * 60
    trained = [stage for stage in ("pretrain", "finetune") if result.get("history", {}).get(stage)]
    if any(how != "loaded the finished stage" for how in resumed.values()) or set(trained) - set(resumed):
        return False
    timings = result["timings"]
    seconds = timings.get("setup_s", 0.0) + sum(timings.get(f"{stage}_s", 0.0) for stage in trained)
    return seconds <= budget_min * 60


def counts_for(result: dict, dataset: str, ids: str, budget_min: float) -> bool:
    """Whether a training run's result competes for ``dataset``'s headline under ``ids``: its data set and id
    protocol, trained on the CPU within the budget (a GPU minute is not one of those)."""
    if "benchmark" not in result or "validation" not in result:
        return False
    if Path(result["data"]["source"]).parent.name != dataset or result["data"]["ids"] != ids:
        return False
    return within_budget(result, budget_min) and not result.get("machine", {}).get("accelerator")


def candidates(dataset: str, ids: str, budget_min: float, results: Path = RESULTS) -> list[dict]:
    runs = [json.loads(path.read_text()) for path in sorted(results.glob("*.json"))]
    return [run for run in runs if counts_for(run, dataset, ids, budget_min)]


def recipe(name: str) -> str:
    """``NAME-seed3`` -> ``NAME``: the runs of one recipe under different seeds."""
    return re.sub(r"-seed\d+$", "", name)


def best_recipe(runs: list[dict], min_seeds: int = 1) -> list[dict] | None:
    """The seeds of the recipe with the best mean validation NDCG@10 among those of ``runs`` with at least
    ``min_seeds`` seeds, best seed first; ``None`` where no recipe has that many."""
    recipes: dict[str, list[dict]] = {}
    for run in runs:
        recipes.setdefault(recipe(run["benchmark"]["name"]), []).append(run)
    eligible = [seeds for seeds in recipes.values() if len(seeds) >= min_seeds]
    if not eligible:
        return None
    best = max(eligible, key=lambda seeds: statistics.mean(r["validation"]["ndcg@10"] for r in seeds))
    return sorted(best, key=lambda r: -r["validation"]["ndcg@10"])


def headline(dataset: str, ids: str, budget_min: float = 60, results: Path = RESULTS, min_seeds: int = 3) -> str:
    runs = candidates(dataset, ids, budget_min, results)
    if not runs:
        raise SystemExit(f"no recorded {ids}-id run of {dataset} within {budget_min:g} minutes in {results}")
    seeds = best_recipe(runs, min_seeds)
    if seeds is None:
        most = max(Counter(recipe(run["benchmark"]["name"]) for run in runs).values())
        raise SystemExit(f"no {ids}-id recipe of {dataset} has {min_seeds} seeds within {budget_min:g} minutes "
                         f"(the most is {most}): bash benchmarks/runs.sh NAME SEED")
    return seeds[0]["benchmark"]["name"]


def planned_ensembles(recipe_name: str, results: Path = RESULTS, plans: Path = PLANS) -> list[Path]:
    """The result JSONs of the ensembles of ``recipe_name`` that a plan fixed before their members were trained
    (benchmarks/ensemble_plans.json), for its card: every ensemble of the first plan that is fully scored, or none.
    Ensembles scored outside a plan (the other pairs of the same seeds) are left out, since one could pick them
    after seeing their scores."""
    scored = {}
    for path in sorted(results.glob(f"ensemble-{recipe_name}-seeds*.json")):
        result = json.loads(path.read_text())
        if recipe(result["ensemble"]["members"][0]) == recipe_name:
            scored[tuple(sorted(result["ensemble"]["seeds"]))] = path
    for plan in json.loads(plans.read_text())["plans"] if plans.exists() else []:
        wanted = [tuple(sorted(seeds)) for seeds in plan["ensembles"]]
        if plan["recipe"] == recipe_name and all(seeds in scored for seeds in wanted):
            return [scored[seeds] for seeds in wanted]
    return []


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("dataset")
    parser.add_argument("ids", choices=("random", "sequential"))
    parser.add_argument("--budget-min", type=float, default=60)
    parser.add_argument("--min-seeds", type=int, default=3, help="seeds a recipe needs to compete (default 3)")
    parser.add_argument("--plan-ensembles", action="store_true",
                        help="print the result JSONs of the headline recipe's pre-registered ensembles, one per "
                             "line, once all of a plan's are scored (nothing before)")
    args = parser.parse_args(argv)
    if args.min_seeds < 1:
        parser.error(f"--min-seeds must be at least 1, got {args.min_seeds}")
    name = headline(args.dataset, args.ids, args.budget_min, min_seeds=args.min_seeds)
    if args.plan_ensembles:
        for path in planned_ensembles(recipe(name)):
            print(path)
    else:
        print(name)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
