"""Seed ensembles of recorded runs, scored on validation and test: one JSON per ensemble in benchmarks/results/.

Usage: python benchmarks/ensemble.py NAME NAME [NAME ...] [--sizes 2] [--candidates 50] [--threads 2]
                                     [--history-excluded]
e.g.   python benchmarks/ensemble.py beauty-random-...-e10 beauty-random-...-e10-seed1 beauty-random-...-e10-seed2

Each NAME is a run recorded as benchmarks/results/NAME.json whose run folder (its "checkpoint") is on this
machine; all must be runs of one data set and id protocol. Every member ranks each split once (its top
``--candidates`` items, with its own tokenizer: under random ids every seed numbers the catalogue differently);
every combination of ``--sizes`` members is then fused from those lists, with no further model passes, by the
mean of the members' item probabilities (``genrec_hf.ensemble``), and written to
benchmarks/results/ensemble-RECIPE-seedsA-B.json. An ensemble costs the training of all its members: the JSON
sums their budgeted training time (``headline.training_seconds``) and says whether the sum is within the issue's
60 minutes. Each member's own metrics, recomputed from its candidate list, are recorded beside the ones its run
reported, as a check that the loaded checkpoints are the scored ones; a warning names any member whose folder holds
a re-training instead, and the results tables say so beside its ensembles. With ``--history-excluded`` every member
ranks the test split a second time with its history's items forbidden, and each ensemble records those fused
scores as ``history_excluded`` (what the runs and SASRec record under that name).
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import time
from pathlib import Path

import torch

from genrec_hf.data import load_data
from genrec_hf.ensemble import GenRecEnsemble, fuse_rankings, raw_item_metrics
from genrec_hf.hub import retrained_members
from genrec_hf.provenance import environment, write_json_atomic

sys.path.insert(0, str(Path(__file__).resolve().parent))  # run as a script or imported by path (tests)
from headline import recipe, training_seconds  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
ROOT = RESULTS.parent.parent
SPLITS = ("validation", "test")


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("names", nargs="+", help="recorded runs (benchmarks/results/NAME.json)")
    parser.add_argument("--sizes", default="2", help="comma-separated ensemble sizes to score (default 2)")
    parser.add_argument("--candidates", type=int, default=50,
                        help="items each member lists before fusing (default 50; more is closer to the exact "
                             "mixture and slower: every candidate beam takes a decoder step)")
    parser.add_argument("--top-k", type=int, default=20)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--budget-min", type=float, default=60)
    parser.add_argument("--history-excluded", action="store_true",
                        help="also score the test split with each history's items forbidden (as the runs' "
                             "history_excluded), for comparison with SASRec scored that way")
    args = parser.parse_args(argv)
    sizes = sorted({int(size) for size in args.sizes.split(",")})
    if len(set(args.names)) != len(args.names):
        parser.error("a run is named twice")
    if len({recipe(name) for name in args.names}) != 1:
        parser.error("the runs are of different recipes: an ensemble here is one recipe under several seeds")
    if any(size < 2 or size > len(args.names) for size in sizes):
        parser.error(f"--sizes must lie in 2..{len(args.names)} (the runs named), got {args.sizes}")
    runs = []
    for name in args.names:
        path = RESULTS / f"{name}.json"
        if not path.exists():
            parser.error(f"{path}: no such recorded run")
        run = json.loads(path.read_text())
        checkpoint = ROOT / run["checkpoint"]
        if not (checkpoint / "config.json").exists():
            parser.error(f"{name}: its checkpoint {checkpoint} is not on this machine; train it first: "
                         f"bash benchmarks/runs.sh {recipe(name)} {run['options']['seed']}")
        runs.append((name, run, checkpoint))
    protocols = {(run["data"]["source"], run["data"]["ids"]) for _, run, _ in runs}
    if len(protocols) != 1:
        parser.error(f"the runs are of different data sets or id protocols: {sorted(protocols)}")
    torch.set_num_threads(args.threads)
    started = time.perf_counter()
    first = runs[0][1]
    # the split rows hold raw ids, the same under every renumbering; the members' tokenizers map them
    data = load_data(ROOT / first["data"]["source"], ids=first["data"]["ids"], seed=first["data"]["id_seed"])
    ensemble = GenRecEnsemble.from_pretrained([checkpoint for _, _, checkpoint in runs])
    lists, scoring_s = {}, {}
    for split in SPLITS:
        rows = data.splits[split]
        users = rows["user"] if "user" in rows.column_names else None
        split_started = time.perf_counter()
        lists[split] = ensemble.member_rankings(rows["history"], users, candidates=args.candidates)
        scoring_s[split] = round(time.perf_counter() - split_started, 1)
    targets = {split: data.splits[split]["target"] for split in SPLITS}
    excluded_lists = None
    if args.history_excluded:  # the test split again, each member forbidding the history's items in its search
        rows = data.splits["test"]
        users = rows["user"] if "user" in rows.column_names else None
        split_started = time.perf_counter()
        excluded_lists = ensemble.member_rankings(rows["history"], users, candidates=args.candidates,
                                                  exclude_history=True)
        scoring_s["test, history excluded"] = round(time.perf_counter() - split_started, 1)
    members = []
    for index, (name, run, checkpoint) in enumerate(runs):
        members.append({"name": name, "seed": run["options"]["seed"], "checkpoint": run["checkpoint"],
                        "training_s": round(training_seconds(run), 1),
                        "recorded": {split: run[split] for split in SPLITS},
                        "recomputed": {split: raw_item_metrics(lists[split][index], targets[split], args.top_k)
                                       for split in SPLITS}})
        if excluded_lists is not None:
            members[-1]["recorded"]["history_excluded"] = run.get("history_excluded", {}).get("test")
            members[-1]["recomputed"]["history_excluded"] = raw_item_metrics(excluded_lists[index], targets["test"],
                                                                            args.top_k)
    for member in retrained_members({"members": members}):
        scores = ", ".join(f"{split} NDCG@10 {member['recomputed'][split]['ndcg@10']:.4f} (recorded "
                           f"{member['recorded'][split]['ndcg@10']:.4f})" for split in SPLITS)
        print(f"warning: {member['name']}: its checkpoint {member['checkpoint']} scores {scores}: the folder holds a "
              f"re-training, not the recorded weights; the ensembles below are of that re-training (their JSONs keep "
              f"both scores)", file=sys.stderr)
    written = []
    for size in sizes:
        for chosen in itertools.combinations(range(len(runs)), size):
            result = {**environment(), "data": first["data"], "ensemble": {
                "members": [members[i]["name"] for i in chosen], "seeds": [members[i]["seed"] for i in chosen],
                "fusion": "mean of the members' item probabilities", "candidates": args.candidates,
                "top_k": args.top_k, "scoring_s": scoring_s, "wall_time_s": round(time.perf_counter() - started, 1),
                "command": "python benchmarks/ensemble.py " + " ".join(argv)}}
            result["training_s"] = round(sum(members[i]["training_s"] for i in chosen), 1)
            result["budget_min"] = args.budget_min
            result["within_budget"] = result["training_s"] <= args.budget_min * 60
            for split in SPLITS:
                fused = [fuse_rankings([lists[split][i][row] for i in chosen], top_k=args.top_k)
                         for row in range(len(targets[split]))]
                result[split] = raw_item_metrics(fused, targets[split], args.top_k)
            if excluded_lists is not None:
                fused = [fuse_rankings([excluded_lists[i][row] for i in chosen], top_k=args.top_k)
                         for row in range(len(targets["test"]))]
                result["history_excluded"] = {"test": raw_item_metrics(fused, targets["test"], args.top_k)}
            result["members"] = [members[i] for i in chosen]
            seeds = "-".join(str(members[i]["seed"]) for i in chosen)
            path = RESULTS / f"ensemble-{recipe(members[chosen[0]]['name'])}-seeds{seeds}.json"
            write_json_atomic(path, result)
            written.append(path)
            scores = result["test"]
            print(f"{path.name}: test " + " / ".join(f"{scores[k]:.4f}" for k in ("hr@5", "ndcg@5", "hr@10",
                                                                                  "ndcg@10"))
                  + f", validation ndcg@10 {result['validation']['ndcg@10']:.4f}, "
                  f"training {result['training_s'] / 60:.1f} min")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
