"""DDP on this CPU (gloo): the logged loss is the true mean, and evaluation counts every user once."""

from __future__ import annotations

import json
import os
import subprocess
import sys

COMMON = ["train", "--data", "synthetic", "--pretrain-epochs", "1", "--finetune-epochs", "1", "--eval-users", "50",
          "--threads", "1"]


def train(output, processes: int, batch_size: int) -> dict:
    if processes == 1:
        command = [sys.executable, "-m", "genrec_hf"]
    else:
        command = [sys.executable, "-m", "torch.distributed.run", f"--nproc_per_node={processes}",
                   "--master_port=29533", "-m", "genrec_hf"]
    result = subprocess.run([*command, *COMMON, "--batch-size", str(batch_size), "--output", str(output)],
                            capture_output=True, text=True, timeout=600, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads((output / "metrics.json").read_text())


def test_two_process_training_logs_the_true_mean_loss_and_scores_every_user_once(tmp_path):
    single = train(tmp_path / "one", processes=1, batch_size=32)
    double = train(tmp_path / "two", processes=2, batch_size=16)  # same global batch size
    for stage in ("pretrain", "finetune"):
        (one,) = [log["train_loss"] for log in single["history"][stage] if "train_loss" in log]
        (two,) = [log["train_loss"] for log in double["history"][stage] if "train_loss" in log]
        # not multiplied by the world size; the masks and batches differ a little between the two runs
        assert abs(two - one) / one < 0.1, (stage, one, two)
    assert double["validation"]["users"] == double["test"]["users"] == 400
    assert single["test"]["users"] == 400
