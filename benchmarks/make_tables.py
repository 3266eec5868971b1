"""Regenerate the README's results tables from benchmarks/results/*.json (never typed by hand).

Usage: python benchmarks/make_tables.py [--check]
Rewrites the block between <!-- results:start --> and <!-- results:end --> in README.md; with --check,
exits 1 if the README is out of date instead.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
START, END = "<!-- results:start -->", "<!-- results:end -->"
METRICS = ("hr@5", "ndcg@5", "hr@10", "ndcg@10", "hr@20")



def paper_rows(kind: str = "paper") -> dict[str, dict[str, tuple[float, ...]]]:
    """Published numbers, from the one place they are quoted (hub_cards/datasets.json): the GenRec paper's Tables
    1 and 3 (``paper``), or the best leave-one-out all-item results known on the same files (``published``)."""
    facts = json.loads((ROOT / "hub_cards" / "datasets.json").read_text())
    return {name: {label.replace(" Table 1", "").replace(" Table 3", ""): tuple(values[m] for m in
                                                                             ("hr@5", "ndcg@5", "hr@10", "ndcg@10"))
                   for label, values in entry.get(kind, {}).items()} for name, entry in facts.items()}


def dataset_name(result: dict) -> str:
    return Path(result["data"]["source"]).parent.name or result["data"]["source"]


def fmt(value: float | None) -> str:
    return "" if value is None else f"{value:.4f}"


def minutes(seconds: float | None) -> str:
    return "" if seconds is None else f"{seconds / 60:.0f} min"


def run_seconds(run: dict) -> float:
    """Training and evaluation time of a run, its stages summed (a resumed run counts the stages it loaded)."""
    timings = run.get("timings", {})
    stages = [timings[k] for k in ("pretrain_s", "finetune_s", "evaluate_s") if k in timings]
    return sum(stages) if stages else run["benchmark"]["wall_time_s"]


def render(results: list[dict], sasrec: list[dict] | None = None) -> str:
    lines = []
    by_data: dict[str, list[dict]] = {}
    for result in results:
        by_data.setdefault(dataset_name(result), []).append(result)
    others: dict[str, list[dict]] = {}
    for result in sasrec or []:
        others.setdefault(dataset_name(result), []).append(result)
    for data, runs in sorted(by_data.items()):
        lines += [f"### {data} (test split, all-item ranking, top-20 beams)", "",
                  "| run | ids | pretrain / fine-tune epochs | HR@5 | NDCG@5 | HR@10 | NDCG@10 | HR@20 | wall time | machine |",
                  "|---|---|---|---|---|---|---|---|---|---|"]
        baselines = {}
        for run in sorted(runs, key=lambda r: (r["data"]["ids"], r["benchmark"]["name"])):
            options = run["options"]
            test = run["test"]
            machine = run["machine"]
            lines.append(
                f"| `{run['benchmark']['name']}` | {run['data']['ids']}"
                f"{' (collaborative codes)' if options.get('item_codes') == 'collaborative' else ''} | "
                f"{options['pretrain_epochs']} / "
                f"{options['finetune_epochs']}{' (prefixes)' if options.get('prefixes') else ''} | "
                + " | ".join(fmt(test.get(m)) for m in METRICS)
                + f" | {minutes(run_seconds(run))}{' (pretraining resumed from a snapshot)' if run.get('resumed') else ''}"
                  f" | {machine['cpus']} CPUs, "
                  f"{machine['torch_threads']} threads |")
            for name, splits in run["baselines"].items():
                baselines[(name, run["data"]["ids"])] = splits["test"]
        for run in others.get(data, []):
            test = {m: run["test"].get(m.replace("hr@", "hit@")) for m in METRICS}
            lines.append(f"| `{run['name']}`: {run['model'].split(' (')[0]} (RecBole) | any | {run['best_epoch']} of "
                         f"{len(run['curve'])} epochs ({run['budget_min']:.0f} min budget) | "
                         + " | ".join(fmt(test.get(m)) for m in METRICS)
                         + f" | {minutes(run['wall_time_s'])} | {run['machine']['cpus']} CPUs, "
                           f"{run['settings'].get('threads', run['machine']['torch_threads'])} threads |")
        for (name, ids), test in sorted(baselines.items()):
            label = {"max_history_plus_k": "max(history)+k rule", "most_popular": "most popular"}[name]
            lines.append(f"| {label} (no learning) | {ids} | - | " + " | ".join(fmt(test.get(m)) for m in METRICS)
                         + " | - | - |")
        for name, values in paper_rows().get(data, {}).items():
            lines.append(f"| {name} | sequential | - | " + " | ".join(fmt(v) for v in values) + " |  | - | RTX 3090 |")
        for name, values in paper_rows("published").get(data, {}).items():
            lines.append(f"| best published: {name} | own | - | " + " | ".join(fmt(v) for v in values) + " |  | - | - |")
        lines.append("")
    lines.append("Generated by `python benchmarks/make_tables.py` from `benchmarks/results/*.json`; each JSON "
                 "holds the command, commit, machine, versions and training history of its run.")
    return "\n".join(lines)


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


def main(argv: list[str]) -> int:
    results, speed, scale, sasrec = [], [], [], []
    for path in sorted(RESULTS.glob("*.json")):
        result = json.loads(path.read_text())
        if "benchmark" in result and "test" in result:
            results.append(result)
        elif "by_threads" in result:
            speed.append({**result, "name": path.stem})
        elif str(result.get("model", "")).startswith("SASRec"):
            sasrec.append({**result, "name": path.stem})
        elif "sizes" in result and "exponents" in result:
            scale.append({**result, "name": path.stem})
    readme = (ROOT / "README.md").read_text()
    if START not in readme or END not in readme:
        print(f"README.md lacks the {START} ... {END} markers", file=sys.stderr)
        return 2
    head, rest = readme.split(START, 1)
    _, tail = rest.split(END, 1)
    updated = (head + START + "\n" + render(results, sasrec) + "\n\n" + render_speed(speed) + "\n" + render_scale(scale) + "\n"
               + END + tail)
    if "--check" in argv:
        return 0 if updated == readme else 1
    (ROOT / "README.md").write_text(updated)
    print(f"README.md: {len(results)} result(s)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
