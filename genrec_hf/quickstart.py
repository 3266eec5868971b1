"""The quick-start: train a small GenRec on the built-in synthetic data, score it, and recommend.

It is ``train_genrec`` (cloze pretraining, then fine-tuning on every prefix, model selection on validation,
test scored once, beside the no-learning baselines) on ``synthetic_interactions``, followed by
``pipeline("genrec")`` on the saved checkpoint.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from transformers import pipeline

from .data import leave_one_out
from .synthetic import synthetic_interactions
from .training import TrainOptions, train_genrec


def run(output_dir: str | Path = "runs/quickstart", epochs: int = 8, seed: int = 0, threads: int = 1,
        num_users: int = 400, num_items: int = 240) -> dict[str, Any]:
    """Train, evaluate and save to ``output_dir``; returns the metrics plus three example recommendations."""
    sequences = synthetic_interactions(num_users=num_users, num_items=num_items, seed=seed)
    items = sorted({item for _, history in sequences for item in history})
    data = leave_one_out(sequences, items, [user for user, _ in sequences], ids="random", seed=seed,
                         source="synthetic")
    options = TrainOptions(pretrain_epochs=2, finetune_epochs=epochs, prefixes=True, max_length=128, seed=seed,
                           threads=threads, eval_users=min(200, num_users), logging_steps=20,
                           overwrite=True)  # a demo: rerunning it starts over
    results = train_genrec(data, output_dir, options)
    rec = pipeline("genrec", model=str(Path(output_dir) / "checkpoint"))
    test = data.splits["test"]
    results["examples"] = [
        {"user": test[i]["user"], "last_items": test[i]["history"][-3:], "held_out": test[i]["target"],
         "top5": [r["item"] for r in rec({"user": test[i]["user"], "history": test[i]["history"]}, top_k=5,
                                         exclude_history=False)]}
        for i in range(3)
    ]
    return results
