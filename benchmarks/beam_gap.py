"""Does beam search limit a trained GenRec? Top-20 quality by beam search against the exact ranking.

For a sample of validation users, ranks the catalogue three ways with the run's checkpoint:
  - trie-constrained beam search with B beams (B = 20 is what evaluation and the pipeline use), top 20 kept;
  - the exact ranking: every catalogue item by its true log-probability, top 20 kept (beam search with as many
    beams as items prunes nothing; tests/test_generation.py checks that this is the teacher-forced ranking).
If the exact ranking scores much higher, the search loses good items (a wider beam, or codes whose first
token is easier, would pay); if not, the model itself is the limit.

Usage: python benchmarks/beam_gap.py RUN_DIR [--users 300] [--beams 20 50 100] [--threads 2] [--name NAME]
Writes benchmarks/results/NAME.json (default beam-gap-RUN).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

from genrec_hf import GenRecForConditionalGeneration, GenRecTokenizer, load_data
from genrec_hf.metrics import ranking_metrics
from genrec_hf.provenance import environment, write_json_atomic
from genrec_hf.trainer import recommend_rows

RESULTS = Path(__file__).resolve().parent / "results"


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run")
    parser.add_argument("--users", type=int, default=300)
    parser.add_argument("--beams", type=int, nargs="+", default=[20, 50, 100])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--name")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    run = Path(args.run)
    metrics = json.loads((run / "metrics.json").read_text())
    data = load_data(metrics["data"]["source"], ids=metrics["data"]["ids"], seed=metrics["data"]["id_seed"])
    tokenizer = GenRecTokenizer.from_pretrained(run / "checkpoint")
    model = GenRecForConditionalGeneration.from_pretrained(run / "checkpoint").eval()
    rows = data.splits["validation"].shuffle(seed=args.seed).select(range(min(args.users, len(data.splits["validation"]))))
    targets = [tokenizer.item_to_id(t) for t in rows["target"]]
    results = {"run": str(run), "users": len(rows), "methods": {}}
    for beams in args.beams:
        started = time.perf_counter()
        ranked = recommend_rows(model, tokenizer, rows["user"], rows["history"], top_k=beams, desc=f"{beams} beams")
        results["methods"][f"beam_{beams}"] = {
            **ranking_metrics([[item for item, _ in r][:20] for r in ranked], targets),
            "seconds": round(time.perf_counter() - started, 2)}
        print(beams, "beams:", results["methods"][f"beam_{beams}"], flush=True)
    started = time.perf_counter()
    exact = recommend_rows(model, tokenizer, rows["user"], rows["history"], top_k=tokenizer.num_items, batch_size=2,
                           desc="exact ranking (all items)")
    results["methods"]["exact"] = {**ranking_metrics([[item for item, _ in r][:20] for r in exact], targets),
                                   "seconds": round(time.perf_counter() - started, 2)}
    print("exact:", results["methods"]["exact"], flush=True)
    name = args.name or f"beam-gap-{run.name}"
    results = {**environment(), "command": "python benchmarks/beam_gap.py " + " ".join(argv), **results}
    write_json_atomic(RESULTS / f"{name}.json", results)
    print(f"recorded benchmarks/results/{name}.json")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
