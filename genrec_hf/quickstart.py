"""The quick-start: train a small GenRec on the built-in synthetic data and recommend.

Leave-one-out as the paper: each user's last item is held out; training sees every prefix of the
rest (``[MASK]`` appended, label = next item). The trained model is scored on the held-out items by
all-item ranking of its top-20 beams, beside a most-popular baseline, and saved with its tokenizer.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from pathlib import Path
from typing import Any

import torch
from datasets import Dataset
from tqdm.auto import tqdm
from transformers import Trainer, TrainingArguments, set_seed

from .collators import NextItemCollator
from .metrics import ranking_metrics
from .modeling import GenRecConfig, GenRecForConditionalGeneration
from .synthetic import synthetic_interactions
from .tokenization import GenRecTokenizer


def prefix_examples(data: list[tuple[str, list[str]]]) -> list[dict[str, Any]]:
    """Every (prefix -> next item) pair of each training sequence (the history minus its last item)."""
    return [
        {"user": user, "history": history[:end], "target": history[end]}
        for user, history in data
        for end in range(1, len(history) - 1)
    ]


@torch.no_grad()
def recommend(model, tokenizer, users, histories, batch_size: int = 64, top_k: int = 20) -> list[list[Any]]:
    """Top-``top_k`` raw item ids per history, best first (invalid or repeated beams dropped)."""
    model.eval()
    ranked: list[list[Any]] = []
    for start in tqdm(range(0, len(histories), batch_size), desc="recommending", leave=False):
        batch = tokenizer.encode_histories(histories[start:start + batch_size], users=users[start:start + batch_size],
                                           return_tensors="pt")
        sequences = model.generate(**batch, num_beams=top_k, num_return_sequences=top_k)
        items = tokenizer.decode_items(sequences)
        for row in range(len(items) // top_k):
            beams = [i for i in items[row * top_k:(row + 1) * top_k] if i is not None]
            ranked.append(list(dict.fromkeys(beams)))
    return ranked


def run(output_dir: str | Path = "runs/quickstart", epochs: int = 8, seed: int = 0, threads: int = 1,
        num_users: int = 400, num_items: int = 240) -> dict[str, Any]:
    """Train, evaluate and save; returns the metrics written to ``output_dir/metrics.json``."""
    torch.set_num_threads(threads)
    set_seed(seed)
    started = time.perf_counter()
    output_dir = Path(output_dir)
    data = synthetic_interactions(num_users=num_users, num_items=num_items, seed=seed)
    tokenizer = GenRecTokenizer.from_catalogue(
        items=sorted({item for _, history in data for item in history}), users=[user for user, _ in data]
    )
    model = GenRecForConditionalGeneration(GenRecConfig.from_preset("small", tokenizer))
    train = Dataset.from_list(prefix_examples(data))
    args = TrainingArguments(
        output_dir=str(output_dir / "trainer"),
        num_train_epochs=epochs,
        per_device_train_batch_size=64,
        learning_rate=1e-3,
        warmup_steps=0.05,
        weight_decay=0.01,
        logging_steps=50,
        save_strategy="no",
        report_to=[],
        seed=seed,
        use_cpu=True,
        remove_unused_columns=False,
        dataloader_num_workers=0,
    )
    trainer = Trainer(model=model, args=args, train_dataset=train, data_collator=NextItemCollator(tokenizer))
    trainer.train()
    train_seconds = time.perf_counter() - started

    users = [user for user, _ in data]
    histories = [history[:-1] for _, history in data]
    targets = [history[-1] for _, history in data]
    ranked = recommend(model, tokenizer, users, histories)
    popularity = [item for item, _ in Counter(i for h in histories for i in h).most_common(20)]
    results = {
        "genrec": ranking_metrics(ranked, targets, ks=(1, 5, 10, 20)),
        "most_popular": ranking_metrics([popularity] * len(targets), targets, ks=(1, 5, 10, 20)),
        "train_examples": len(train),
        "users": len(users),
        "items": tokenizer.num_items,
        "train_seconds": round(train_seconds, 1),
        "total_seconds": round(time.perf_counter() - started, 1),
        "seed": seed,
        "threads": threads,
    }
    model.save_pretrained(output_dir / "model")
    tokenizer.save_pretrained(output_dir / "model")
    (output_dir / "metrics.json").write_text(json.dumps(results, indent=2))
    results["examples"] = [
        {"user": users[i], "last_items": histories[i][-3:], "held_out": targets[i], "top5": ranked[i][:5]}
        for i in range(3)
    ]
    return results
