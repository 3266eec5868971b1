"""Where a trained GenRec's hits come from: HR@10 and NDCG@10 by how often the target occurs in the training split.

    python benchmarks/popularity_buckets.py runs/NAME      # writes benchmarks/results/popularity-NAME.json

Test targets are rarer in training than validation targets on these splits (``target_rarity.py``), and every
model scores lower on test; this splits both splits' scores by target popularity, so a gap can be read per bucket
instead of as one number. It also reports how many of the top-10 slots hold items already in the history (the
pipeline excludes them by default; the paper's protocol does not), and the median training count of what the
model recommends against that of the targets. The data set is the run's own, read from its ``metrics.json``; rows
hold raw ids, which the checkpoint's tokenizer maps to its model ids under either id protocol.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections import Counter
from pathlib import Path

import torch

from genrec_hf import GenRecForConditionalGeneration, GenRecTokenizer, load_data
from genrec_hf.metrics import ranking_metrics
from genrec_hf.provenance import environment, write_json_atomic
from genrec_hf.trainer import recommend_rows

RESULTS = Path(__file__).resolve().parent / "results"
BUCKETS = ((0, 0), (1, 4), (5, 19), (20, 99), (100, None))  # training occurrences of the target, inclusive


def bucket_label(low: int, high: int | None) -> str:
    return f"{low}+" if high is None else (str(low) if low == high else f"{low}-{high}")


def bucket_of(count: int) -> str:
    for low, high in BUCKETS:
        if count >= low and (high is None or count <= high):
            return bucket_label(low, high)
    raise ValueError(count)


def by_bucket(ranked: list[list[int]], targets: list[int], counts: Counter) -> dict[str, dict[str, float]]:
    """HR@10 / NDCG@10 and the number of users, per popularity bucket of the target."""
    groups: dict[str, list[int]] = {}
    for index, target in enumerate(targets):
        groups.setdefault(bucket_of(counts[target]), []).append(index)
    table = {}
    for low, high in BUCKETS:
        label = bucket_label(low, high)
        rows = groups.get(label, [])
        if rows:
            scores = ranking_metrics([ranked[i] for i in rows], [targets[i] for i in rows], ks=(10,))
            table[label] = {"users": len(rows), "share": len(rows) / len(targets), "hr@10": scores["hr@10"],
                            "ndcg@10": scores["ndcg@10"]}
    return table


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run", help="a run folder written by genrec-hf train (its checkpoint/ is scored)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--name", help="results name (default popularity-RUN)")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    started = time.perf_counter()
    metrics_path = Path(args.run) / "metrics.json"
    if not metrics_path.is_file():
        raise SystemExit(f"{metrics_path}: not found; pass a finished run folder of genrec-hf train")
    run = json.loads(metrics_path.read_text())
    source = Path(run["data"]["source"])
    data = load_data(source.parent if source.suffix == ".txt" else source, ids=run["data"]["ids"],
                     seed=run["data"]["id_seed"])
    checkpoint = Path(args.run) / "checkpoint"
    tokenizer = GenRecTokenizer.from_pretrained(checkpoint)
    model = GenRecForConditionalGeneration.from_pretrained(checkpoint).eval()
    counts = Counter(tokenizer.item_to_id(item) for items in data.splits["train"]["items"] for item in items)
    users_seen = tokenizer.num_users > 0
    report = {}
    for split in ("validation", "test"):
        rows = data.splits[split]
        users = rows["user"] if users_seen else [None] * len(rows)
        ranked = [[item for item, _ in r] for r in recommend_rows(model, tokenizer, users, rows["history"],
                                                                  desc=f"{split}: ranking {len(rows)} users")]
        targets = [tokenizer.item_to_id(t) for t in rows["target"]]
        histories = [{tokenizer.item_to_id(i) for i in h} for h in rows["history"]]
        in_history = [sum(item in seen for item in top[:10]) for top, seen in zip(ranked, histories)]
        report[split] = {
            "all": ranking_metrics(ranked, targets, ks=(10,)),
            "by_target_training_count": by_bucket(ranked, targets, counts),
            "top10_slots_holding_history_items": sum(in_history) / (10 * len(rows)),
            "users_with_a_history_item_in_top10": sum(n > 0 for n in in_history) / len(rows),
            "median_training_count": {
                "targets": statistics.median(counts[t] for t in targets),
                "top10_recommendations": statistics.median(counts[i] for top in ranked for i in top[:10]),
            },
        }
        print(split, json.dumps(report[split], indent=1))
    name = args.name or f"popularity-{Path(args.run).name}"
    record = {**environment(), "command": "python benchmarks/popularity_buckets.py " + " ".join(argv),
              "run": Path(args.run).name, "data": run["data"], "run_options": run["options"],
              "buckets": [bucket_label(*b) for b in BUCKETS], "splits": report,
              "wall_time_s": round(time.perf_counter() - started, 1)}
    write_json_atomic(RESULTS / f"{name}.json", record)
    print(f"recorded benchmarks/results/{name}.json")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
