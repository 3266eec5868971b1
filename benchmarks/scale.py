"""Cost against catalogue and log size: data preparation, tokenizer and trie, embedding memory, training step,
recommendation, on generated logs from 10k to 20M interactions (20 per user, 1 item per 100 interactions, so
the largest has 1M users and 200k items).

Usage: python benchmarks/scale.py [--sizes 10000 100000 1000000 10000000 20000000] [--steps 10] [--name scale]
Writes benchmarks/results/NAME.json and NAME.png. Each size runs in a fresh process, so its peak memory is its own.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


def generate(path: Path, interactions: int, seed: int = 0) -> dict[str, int]:
    """A log with `interactions` rows: users of 20 interactions, items drawn from a Zipf-like popularity."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(seed)
    users, items = interactions // 20, max(interactions // 100, 50)
    popularity = 1.0 / np.arange(1, items + 1) ** 0.8
    item = rng.choice(items, size=users * 20, p=popularity / popularity.sum())
    user = np.repeat(np.arange(users), 20)
    timestamp = np.tile(np.arange(20), users) + rng.integers(0, 3, size=users * 20)
    table = pa.table({"user": pa.array(np.char.add("u", user.astype(str))),
                      "item": pa.array(np.char.add("i", item.astype(str))),
                      "timestamp": timestamp})
    pq.write_table(table, path)
    return {"users": users, "items": items, "interactions": users * 20}


class StepTimer:
    """Wall time of each optimizer step after the first two (warm-up)."""

    def __new__(cls):
        from transformers import TrainerCallback

        class _Timer(TrainerCallback):
            def __init__(self):
                self.times, self.started = [], 0.0

            def on_step_begin(self, args, state, control, **kwargs):
                self.started = time.perf_counter()

            def on_step_end(self, args, state, control, **kwargs):
                if state.global_step > 2:
                    self.times.append(time.perf_counter() - self.started)

        return _Timer()


def peak_mb() -> float:
    """This process's peak resident memory. VmHWM, not ru_maxrss: Linux carries ru_maxrss over from the parent
    through fork and exec, so a child would report the generator's peak as its own."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure(path: Path, steps: int) -> dict:
    """One size, in this process: every stage's wall time and the process's peak memory after it."""
    import torch
    from transformers import Seq2SeqTrainingArguments

    from genrec_hf import ClozeCollator, GenRecConfig, GenRecForConditionalGeneration, GenRecTrainer, load_data
    from genrec_hf.modeling.generation_genrec import ItemTrie, recommend_batch

    torch.set_num_threads(1)
    out: dict = {"baseline_peak_mb": round(peak_mb(), 1)}

    started = time.perf_counter()
    data = load_data(str(path), ids="random", k=5)
    out["data_preparation_s"] = round(time.perf_counter() - started, 2)
    out["data_preparation_peak_mb"] = round(peak_mb(), 1)
    out["users"], out["items"], out["interactions"] = (data.report[k] for k in ("users", "items", "interactions"))

    started = time.perf_counter()
    tokenizer = data.tokenizer(model_max_length=128)
    out["tokenizer_s"] = round(time.perf_counter() - started, 2)
    started = time.perf_counter()
    token_ids = tokenizer.item_token_ids
    trie = ItemTrie(token_ids, tokenizer.eos_token_id, len(tokenizer))
    out["trie_build_s"] = round(time.perf_counter() - started, 2)
    out["trie_nodes"] = trie.num_nodes
    out["trie_tensor_mb"] = round(sum(t.numel() * t.element_size() for t in (
        trie.edge_keys, trie.edge_child, trie.offsets, trie.tokens, trie.token_child, trie.end_item,
        trie.subtree_items, trie.item_paths)) / 2**20, 2)
    out["trie_peak_mb"] = round(peak_mb(), 1)

    model = GenRecForConditionalGeneration(GenRecConfig.from_preset("small", tokenizer))
    encoder = model.get_encoder()
    tables = encoder.embed_users.weight.numel() + encoder.embed_items.weight.numel()
    out["parameters"] = sum(p.numel() for p in model.parameters())
    out["id_embedding_mb"] = round(tables * 4 / 2**20, 1)
    out["id_embedding_with_adamw_mb"] = round(tables * 4 * 4 / 2**20, 1)  # weights, gradients, two moments

    train = data.splits["train"].select(range(min(len(data.splits["train"]), 64 * (steps + 2))))
    with tempfile.TemporaryDirectory() as folder:
        args = Seq2SeqTrainingArguments(folder, max_steps=steps + 2, per_device_train_batch_size=64,
                                        learning_rate=1e-3, report_to=[], save_strategy="no", logging_steps=1,
                                        use_cpu=True, remove_unused_columns=False, disable_tqdm=True)
        trainer = GenRecTrainer(model=model, args=args, train_dataset=train, processing_class=tokenizer,
                                data_collator=ClozeCollator(tokenizer, max_length=128))
        timer = StepTimer()
        trainer.add_callback(timer)
        trainer.train()
    out["train_step_s"] = round(sum(timer.times) / len(timer.times), 4)
    out["train_peak_mb"] = round(peak_mb(), 1)

    model.eval()
    test = data.splits["test"].select(range(64))
    batch = tokenizer.encode_histories(test["history"], users=test["user"], return_tensors="pt")
    recommend_batch(model, tokenizer, batch, top_k=20)
    started = time.perf_counter()
    excluded = [[tokenizer.item_to_id(i) for i in history] for history in test["history"]]
    recommend_batch(model, tokenizer, batch, top_k=20, excluded_items=excluded)
    out["recommend_64_users_s"] = round(time.perf_counter() - started, 3)
    out["final_peak_mb"] = round(peak_mb(), 1)
    return out


def slope(sizes: list[float], values: list[float]) -> float | None:
    """Least-squares exponent b of value ~ size^b over the sizes >= 100k (1 = linear, 2 = quadratic)."""
    points = [(math.log(s), math.log(v)) for s, v in zip(sizes, values) if s >= 100_000 and v > 0]
    if len(points) < 2:
        return None
    mean_x = sum(x for x, _ in points) / len(points)
    mean_y = sum(y for _, y in points) / len(points)
    return round(sum((x - mean_x) * (y - mean_y) for x, y in points) / sum((x - mean_x) ** 2 for x, _ in points), 2)


def plot(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sizes = [r["interactions"] for r in rows]
    figure, (time_axis, memory_axis) = plt.subplots(1, 2, figsize=(12, 4.5))
    for key, label in (("data_preparation_s", "data preparation"), ("tokenizer_s", "tokenizer"),
                       ("trie_build_s", "item tokens + trie"), ("train_step_s", "training step (64)"),
                       ("recommend_64_users_s", "recommend 64 users")):
        time_axis.loglog(sizes, [max(r[key], 1e-4) for r in rows], "-o", label=label)
    for key, label in (("data_preparation_peak_mb", "peak after data preparation"),
                       ("train_peak_mb", "peak after training steps"), ("id_embedding_with_adamw_mb",
                                                                         "ID tables + AdamW state"),
                       ("trie_tensor_mb", "trie tensors")):
        memory_axis.loglog(sizes, [max(r[key], 1e-3) for r in rows], "-o", label=label)
    reference = [sizes[0], sizes[-1]]
    time_axis.loglog(reference, [rows[0]["data_preparation_s"], rows[0]["data_preparation_s"] * sizes[-1] / sizes[0]],
                     ":", color="grey", label="linear")
    time_axis.set(xlabel="interactions (users = /20, items = /100)", ylabel="seconds", title="time")
    memory_axis.set(xlabel="interactions", ylabel="MB", title="memory")
    for axis in (time_axis, memory_axis):
        axis.grid(alpha=0.3, which="both")
        axis.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000, 10_000_000, 20_000_000])
    parser.add_argument("--steps", type=int, default=10, help="timed training steps per size")
    parser.add_argument("--name", default="scale")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(measure(Path(args.child), args.steps)))
        return 0

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from genrec_hf.provenance import environment, write_json_atomic

    started = time.perf_counter()
    results = {**environment(), "command": "python benchmarks/scale.py " + " ".join(argv), "sizes": []}
    with tempfile.TemporaryDirectory() as folder:
        for size in args.sizes:
            path = Path(folder) / f"log-{size}.parquet"
            generated = generate(path, size)
            child = subprocess.run([sys.executable, __file__, "--child", str(path), "--steps", str(args.steps)],
                                   capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
            if child.returncode != 0:
                print(child.stderr[-3000:], file=sys.stderr)
                return 1
            row = {"generated": generated, **json.loads(child.stdout.strip().splitlines()[-1])}
            results["sizes"].append(row)
            print(json.dumps(row), flush=True)
            path.unlink()
    rows = results["sizes"]
    sizes = [r["interactions"] for r in rows]
    results["exponents"] = {key: slope(sizes, [r[key] for r in rows]) for key in (
        "data_preparation_s", "tokenizer_s", "trie_build_s", "trie_tensor_mb", "id_embedding_mb", "train_step_s",
        "recommend_64_users_s", "final_peak_mb")}
    results["wall_time_s"] = round(time.perf_counter() - started, 1)
    write_json_atomic(RESULTS / f"{args.name}.json", results)
    plot(rows, RESULTS / f"{args.name}.png")
    print(json.dumps(results["exponents"]))
    print(f"recorded benchmarks/results/{args.name}.json")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
