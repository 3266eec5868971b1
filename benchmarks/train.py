"""Benchmark wrapper: run `genrec-hf train ...` and record its metrics under benchmarks/results/NAME.json.

Usage: python benchmarks/train.py NAME -- <genrec-hf train arguments>
e.g.   python benchmarks/train.py beauty-random-small -- --data ../shared/data/beauty --ids random \
           --output runs/beauty-random-small --max-length 128 --threads 2

The JSON is the run's metrics.json (command, git commit, machine, versions, wall time, options, validation
and test metrics, baselines, training history) plus this wrapper's command line; the run's training
curves are copied beside it as NAME.png.
"""

from __future__ import annotations

import json
import shutil
import sys
import time
from pathlib import Path

from genrec_hf.cli import main
from genrec_hf.provenance import write_json_atomic

RESULTS = Path(__file__).resolve().parent / "results"


def run(argv: list[str]) -> int:
    if len(argv) < 2 or argv[1] != "--":
        print(__doc__, file=sys.stderr)
        return 2
    name, train_args = argv[0], argv[2:]
    if "--output" not in train_args:
        print("benchmarks/train.py: pass --output RUN_DIR to genrec-hf train", file=sys.stderr)
        return 2
    output = Path(train_args[train_args.index("--output") + 1])
    started = time.perf_counter()
    code = main(["train", *train_args])
    if code != 0:
        return code
    results = json.loads((output / "metrics.json").read_text())
    results["benchmark"] = {"name": name, "command": "python benchmarks/train.py " + " ".join(argv),
                            "wall_time_s": round(time.perf_counter() - started, 1)}
    write_json_atomic(RESULTS / f"{name}.json", results)
    shutil.copyfile(output / "training_curves.png", RESULTS / f"{name}.png")
    print(f"recorded benchmarks/results/{name}.json")
    return 0


if __name__ == "__main__":
    sys.exit(run(sys.argv[1:]))
