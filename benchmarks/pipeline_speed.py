"""Pipeline speed on a Beauty checkpoint: one-user latency (p50/p95) and batched throughput, beside plain
unconstrained ``model.generate`` beam search measured in the same run, plus a profile of where the time goes.

Usage: python benchmarks/pipeline_speed.py CHECKPOINT [--data ../shared/data/beauty] [--threads 1 2]
           [--users 200] [--batches 32] [--full-eval] [--name pipeline-speed]
Writes benchmarks/results/NAME.json.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import statistics
import sys
import time
from pathlib import Path

import torch
from transformers import pipeline

import genrec_hf  # noqa: F401  registers the "genrec" task
from genrec_hf.data import load_data
from genrec_hf.provenance import environment, write_json_atomic

RESULTS = Path(__file__).resolve().parent / "results"


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def latency(call, inputs: list) -> dict[str, float]:
    for element in inputs[:5]:  # warm-up
        call(element)
    times = []
    for element in inputs:
        started = time.perf_counter()
        call(element)
        times.append((time.perf_counter() - started) * 1000)
    return {"p50_ms": round(percentile(times, 0.5), 2), "p95_ms": round(percentile(times, 0.95), 2),
            "mean_ms": round(statistics.mean(times), 2), "users": len(times)}


def throughput(call, batches: list) -> dict[str, float]:
    call(batches[0])  # warm-up
    users = 0
    started = time.perf_counter()
    for batch in batches:
        call(batch)
        users += len(batch)
    seconds = time.perf_counter() - started
    return {"users_per_s": round(users / seconds, 1), "users": users, "seconds": round(seconds, 2)}


def profile(call, batch, top: int = 25) -> list[dict]:
    profiler = cProfile.Profile()
    profiler.enable()
    call(batch)
    profiler.disable()
    stream = io.StringIO()
    stats = pstats.Stats(profiler, stream=stream)
    total = stats.total_tt
    rows = []
    for (file, line, name), (_, calls, own, cumulative, _) in sorted(stats.stats.items(), key=lambda kv: -kv[1][3]):
        rows.append({"function": f"{Path(file).name}:{line}:{name}", "calls": calls,
                     "cumulative_share": round(cumulative / total, 3), "own_share": round(own / total, 3)})
        if len(rows) == top:
            break
    return rows


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("checkpoint")
    parser.add_argument("--data", default="../shared/data/beauty")
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--users", type=int, default=200, help="users for the one-user latency")
    parser.add_argument("--batches", type=int, default=32, help="batches of 64 for the throughput")
    parser.add_argument("--full-eval", action="store_true", help="also time the whole test-split evaluation")
    parser.add_argument("--name", default="pipeline-speed")
    args = parser.parse_args(argv)

    started = time.perf_counter()
    rec = pipeline("genrec", model=args.checkpoint)
    tokenizer, model = rec.tokenizer, rec.model
    data = load_data(args.data)
    test = data.splits["test"]
    rows = [{"user": u, "history": h} for u, h in zip(test["user"], test["history"])]
    singles = rows[: args.users]
    batches = [rows[i:i + 64] for i in range(0, 64 * args.batches, 64)]

    def plain_generate(elements):
        elements = elements if isinstance(elements, list) else [elements]
        batch = tokenizer.encode_histories([e["history"] for e in elements], users=[e["user"] for e in elements],
                                           return_tensors="pt")
        with torch.no_grad():
            return model.generate(**batch, num_beams=20, num_return_sequences=20)

    results = {**environment(), "checkpoint": args.checkpoint, "data": args.data, "by_threads": {}}
    for threads in args.threads:
        torch.set_num_threads(threads)
        entry = {
            "pipeline_one_user": latency(lambda e: rec(e), singles),
            "plain_generate_one_user": latency(plain_generate, singles),
            "pipeline_batch_64": throughput(lambda b: rec(b, batch_size=64), batches),
            "plain_generate_batch_64": throughput(plain_generate, batches),
            # all users in one call: the pipeline sorts them by history length before cutting batches of 64
            "pipeline_one_call_batch_size_64": throughput(lambda b: rec(b, batch_size=64),
                                                          [rows[64 * args.batches:64 * 2 * args.batches]] * 2),
        }
        entry["pipeline_vs_plain_latency_ratio"] = round(
            entry["pipeline_one_user"]["p50_ms"] / entry["plain_generate_one_user"]["p50_ms"], 2)
        entry["pipeline_vs_plain_throughput_ratio"] = round(
            entry["pipeline_batch_64"]["users_per_s"] / entry["plain_generate_batch_64"]["users_per_s"], 2)
        results["by_threads"][str(threads)] = entry
        print(threads, "threads:", entry, flush=True)
    torch.set_num_threads(max(args.threads))
    results["profile_batch_64"] = profile(lambda b: rec(b, batch_size=64), batches[0])
    results["profile_one_user"] = profile(lambda e: rec(e), singles[0])
    if args.full_eval:
        from genrec_hf.training import evaluate_checkpoint

        eval_started = time.perf_counter()
        scores = evaluate_checkpoint(args.checkpoint, data, splits=("test",))
        results["full_test_evaluation"] = {"users": scores["test"]["users"],
                                           "seconds": round(time.perf_counter() - eval_started, 1),
                                           "threads": torch.get_num_threads(),
                                           "metrics": {k: v for k, v in scores["test"].items() if "@" in k}}
    results["wall_time_s"] = round(time.perf_counter() - started, 1)
    results["command"] = "python benchmarks/pipeline_speed.py " + " ".join(argv)
    write_json_atomic(RESULTS / f"{args.name}.json", results)
    print(f"recorded benchmarks/results/{args.name}.json")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
