"""Runs survive a kill: SIGKILL mid-epoch, then `--resume`, gives the uninterrupted run's weights and metrics;
outputs are complete or absent, never half-written."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from safetensors.torch import load_file

from genrec_hf.provenance import write_folder_atomic
from genrec_hf.training import complete_checkpoints

TRAIN = ["-m", "genrec_hf", "train", "--data", "synthetic", "--pretrain-epochs", "2", "--finetune-epochs", "2",
         "--save-steps", "5", "--batch-size", "16", "--eval-users", "50", "--threads", "1", "--seed", "0"]
ENV = {**os.environ, "OMP_NUM_THREADS": "1"}


def train(output: Path, *extra: str) -> subprocess.CompletedProcess:
    result = subprocess.run([sys.executable, *TRAIN, "--output", str(output), *extra], capture_output=True,
                            text=True, env=ENV, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    return result


def kill_when(output: Path, ready) -> None:
    """Start a run and SIGKILL it as soon as `ready(output)` holds."""
    process = subprocess.Popen([sys.executable, *TRAIN, "--output", str(output)], env=ENV,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while not ready(output):
        assert process.poll() is None, "the run ended before the kill point"
        assert time.time() < deadline, "the kill point never came"
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()


def same_weights(a: Path, b: Path) -> bool:
    first, second = load_file(a / "checkpoint" / "model.safetensors"), load_file(b / "checkpoint" / "model.safetensors")
    return first.keys() == second.keys() and all(first[k].equal(second[k]) for k in first)


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    output = tmp_path_factory.mktemp("uninterrupted")
    train(output)
    return output


def checkpoint_exists(stage: str, step: int):
    return lambda output: any(c.name == f"checkpoint-{step}" for c in complete_checkpoints(output / stage))


@pytest.mark.parametrize("stage, step", [("pretrain", 30), ("finetune", 25)])
def test_a_run_killed_mid_epoch_resumes_to_the_same_weights_and_metrics(uninterrupted, tmp_path, stage, step):
    """Pretraining epochs have 25 steps: checkpoint-30 is in the middle of the second epoch. Fine-tuning saves
    whole epochs (model selection needs them), so its kill falls after the first."""
    output = tmp_path / "run"
    kill_when(output, checkpoint_exists(stage, step))
    assert not (output / "metrics.json").exists() and not (output / "checkpoint").exists()
    train(output, "--resume")
    assert same_weights(uninterrupted, output)  # bitwise
    first, second = (json.loads((o / "metrics.json").read_text()) for o in (uninterrupted, output))
    for split in ("validation", "test"):
        assert {k: v for k, v in first[split].items() if k != "runtime"} == \
               {k: v for k, v in second[split].items() if k != "runtime"}
    assert second["resumed"][stage].startswith("resumed from checkpoint-")
    if stage == "finetune":
        assert second["resumed"]["pretrain"] == "loaded the finished stage"


def test_a_killed_run_keeps_what_trained_it_and_a_resume_adds_its_start(tmp_path):
    """A kill leaves checkpoints but no metrics.json; starts.json, written before training, names the commit,
    machine and options, and each --resume appends its own start."""
    output = tmp_path / "run"
    kill_when(output, checkpoint_exists("pretrain", 5))
    [start] = json.loads((output / "starts.json").read_text())["starts"]
    assert start["options"]["seed"] == 0 and start["options"]["resume"] is False
    assert "git_commit" in start and start["machine"]["cpus"] >= 1
    train(output, "--resume")
    first, second = json.loads((output / "starts.json").read_text())["starts"]
    assert first == start and second["options"]["resume"] is True
    assert second["git_commit"] == json.loads((output / "metrics.json").read_text())["git_commit"]


def test_a_folder_holding_only_starts_json_is_not_a_previous_run(tmp_path):
    """A run killed before its first checkpoint left nothing to resume: a new run starts there without
    --overwrite, and its starts.json holds only its own start."""
    output = tmp_path / "run"
    output.mkdir()
    (output / "starts.json").write_text(json.dumps({"starts": [{"git_commit": "old"}]}))
    train(output)
    [start] = json.loads((output / "starts.json").read_text())["starts"]
    assert start["git_commit"] != "old" and (output / "metrics.json").is_file()


def test_resume_of_a_finished_run_only_re_evaluates(uninterrupted, tmp_path):
    import shutil

    output = tmp_path / "run"
    shutil.copytree(uninterrupted, output)
    (output / "metrics.json").unlink()
    train(output, "--resume")
    assert same_weights(uninterrupted, output)
    assert json.loads((output / "metrics.json").read_text())["resumed"] == {
        "pretrain": "loaded the finished stage", "finetune": "loaded the finished stage"}


def test_a_previous_run_is_never_overwritten_silently(uninterrupted):
    result = subprocess.run([sys.executable, *TRAIN, "--output", str(uninterrupted)], capture_output=True, text=True,
                            env=ENV, timeout=300)
    assert result.returncode == 2
    assert "holds a previous run" in result.stderr and "--resume" in result.stderr and "Traceback" not in result.stderr


def test_a_checkpoint_cut_short_by_a_kill_is_not_resumed_from(tmp_path):
    for step, state in ((5, '{"global_step": 5}'), (10, '{"global_st')):  # the second was being written
        folder = tmp_path / f"checkpoint-{step}"
        folder.mkdir()
        (folder / "trainer_state.json").write_text(state)
    (tmp_path / "checkpoint-15").mkdir()  # killed before its trainer state
    assert [c.name for c in complete_checkpoints(tmp_path)] == ["checkpoint-5"]


def test_an_interrupted_atomic_save_leaves_nothing_behind(tmp_path):
    target = tmp_path / "checkpoint"

    def write_then_die(folder: Path) -> None:
        (folder / "config.json").write_text("{}")
        raise KeyboardInterrupt  # stands for the kill

    with pytest.raises(KeyboardInterrupt):
        write_folder_atomic(target, write_then_die)
    assert not target.exists() and list(tmp_path.iterdir()) == []
