"""How often each split's target is rare in the training split: one measured reason test scores sit below
validation scores for every model on these leave-one-out splits.

    python benchmarks/target_rarity.py beauty sports yelp     # writes benchmarks/results/target-rarity.json

For each data set and split: the share of targets seen fewer than ``--rare-below`` times in the training split,
never seen there, and equal to an item already in the history. Item counts do not depend on the id protocol.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from pathlib import Path

from genrec_hf.data import load_data
from genrec_hf.provenance import environment, write_json_atomic

RESULTS = Path(__file__).resolve().parent / "results"
DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def target_rarity(name: str, rare_below: int) -> dict[str, dict[str, float]]:
    data = load_data(str(DATA / name), ids="sequential")
    counts = Counter(item for items in data.splits["train"]["items"] for item in items)
    shares = {}
    for split in ("validation", "test"):
        rows = data.splits[split]
        n = len(rows)
        shares[split] = {
            "users": n,
            f"target_seen_below_{rare_below}": sum(counts[t] < rare_below for t in rows["target"]) / n,
            "target_unseen_in_train": sum(counts[t] == 0 for t in rows["target"]) / n,
            "target_in_history": sum(t in h for h, t in zip(rows["history"], rows["target"])) / n,
        }
    return shares


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("datasets", nargs="+", help="folders under ../shared/data")
    parser.add_argument("--rare-below", type=int, default=5)
    args = parser.parse_args(argv)
    start = time.perf_counter()
    results = {name: target_rarity(name, args.rare_below) for name in args.datasets}
    for name, shares in results.items():
        for split, row in shares.items():
            print(name, split, {k: round(v, 4) for k, v in row.items()})
    record = {**environment(), "command": "python benchmarks/target_rarity.py " + " ".join(argv),
              "wall_time_s": round(time.perf_counter() - start, 1), "rare_below": args.rare_below,
              "datasets": results}
    write_json_atomic(RESULTS / "target-rarity.json", record)
    print("recorded benchmarks/results/target-rarity.json")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
