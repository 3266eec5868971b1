"""Every training run recorded in benchmarks/runs.sh is a valid `genrec-hf train` command for its data set.

A typo in a queued run would otherwise surface only when its slot on the CPU comes, after the run before it.
A run stopped before it finished is still recorded (benchmarks/stopped_run.py).
"""

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from genrec_hf.cli import _config_overrides, build_parser
from genrec_hf.training import TrainOptions

from .conftest import benchmark_module

ROOT = Path(__file__).resolve().parents[1]
RUNS = ROOT / "benchmarks" / "runs.sh"


def runs_sh(*args: str, dry: bool = True) -> subprocess.CompletedProcess:
    env = {**os.environ, "RUNS_DRY": "1"} if dry else dict(os.environ)
    return subprocess.run(["bash", str(RUNS), *args], capture_output=True, text=True, env=env, cwd=ROOT)


NAMES = runs_sh(dry=False).stdout.split()


def test_runs_sh_lists_the_recorded_runs():
    assert len(NAMES) > 20 and "beauty-random-small" in NAMES


@pytest.mark.parametrize("name", NAMES)
def test_each_run_parses_as_genrec_hf_train_on_its_own_data_set(name):
    printed = runs_sh(name)
    assert printed.returncode == 0, printed.stderr
    args = build_parser().parse_args(["train", *printed.stdout.split("\n")[:-1]])
    assert Path(args.data).name == name.split("-")[0]
    assert args.output == f"runs/{name}" and args.ids == name.split("-")[1]
    _config_overrides(args)  # the range checks the CLI runs before any work
    TrainOptions(weight_decay=args.weight_decay, warmup_ratio=args.warmup_ratio, lr_scheduler=args.lr_scheduler)


def test_a_seed_renames_the_run_and_seeds_model_and_renumbering():
    args = build_parser().parse_args(["train", *runs_sh("beauty-random-small", "3").stdout.split("\n")[:-1]])
    assert (args.seed, args.id_seed, args.output) == (3, 3, "runs/beauty-random-small-seed3")


@pytest.mark.parametrize("args, message", [(["no-such-run"], "unknown run: no-such-run"),
                                           (["beauty-random-small", "x"], "SEED must be a non-negative integer")])
def test_unknown_run_or_bad_seed_is_refused(args, message):
    printed = runs_sh(*args)
    assert printed.returncode == 2 and message in printed.stderr


DEVICE = ROOT / "benchmarks" / "device.sh"


def test_a_run_ends_cleanly_when_runs_sh_is_edited_while_it_trains(tmp_path):
    """A recipe added to runs.sh during a 40-minute run must not turn that run's exit into a syntax error."""
    (tmp_path / "benchmarks").mkdir()
    script = tmp_path / "benchmarks" / "runs.sh"
    shutil.copyfile(RUNS, script)
    # stands in for the training: it edits runs.sh as a person adding a recipe would, then finishes
    (tmp_path / "benchmarks" / "train.py").write_text(
        "import pathlib, sys\n"
        "script = pathlib.Path(__file__).with_name('runs.sh')\n"
        "text = script.read_text()\n"
        "script.write_text(text.replace('declare -A RUNS=(\\n', 'declare -A RUNS=(\\n  # ' + 'x' * 5000 + '\\n', 1))\n"
        "print('trained', sys.argv[1])\n")
    done = subprocess.run(["bash", str(script), NAMES[0]], capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"trained {NAMES[0]}\n"
    assert "x" * 5000 in script.read_text()  # the edit happened during the run


def device_sh(*names: str, out: Path, wheels: Path, timeout: int = 60) -> subprocess.CompletedProcess:
    """benchmarks/device.sh with this test's Python (its venv) and a wheel folder of the test's choosing."""
    import sys

    env = {**os.environ, "OUT": str(out), "OMP_NUM_THREADS": "1", "PYTHON": sys.executable,
           "GENREC_WHEELS": str(wheels)}
    return subprocess.run(["bash", str(DEVICE), *names], capture_output=True, text=True, cwd=ROOT, env=env,
                          timeout=timeout)


@pytest.mark.parametrize("names", [["beauty-random-small", "no-such-run"], ["beauty-random-small", ""],
                                   ["beauty-random-small", "beauty-random-small"]],
                         ids=["unknown", "empty", "repeated"])
def test_device_script_refuses_a_bad_run_list_before_any_check(tmp_path, names):
    result = device_sh(*names, out=tmp_path / "out", wheels=tmp_path)
    assert result.returncode == 2 and "device.sh: unknown, empty or repeated run" in result.stderr
    assert not (tmp_path / "out" / "device.log").exists()


def test_device_script_checks_and_packs_on_this_machine(tmp_path):
    """The GPU tests (skipped without CUDA), the one-epoch quickstart and the packing: the script a lent GPU
    machine runs cannot rot between the sessions that have one."""
    import torch

    result = device_sh(out=tmp_path / "out", wheels=tmp_path, timeout=300)  # no wheels: the package is installed
    log = (tmp_path / "out" / "device.log").read_text()
    assert result.returncode == 0, log
    assert ("2 passed" if torch.cuda.is_available() else "2 skipped") in (tmp_path / "out" / "gpu-tests.log").read_text()
    assert "checkpoint, metrics.json and training_curves.png in" in log
    assert (tmp_path / "out" / "results.tar").exists()


def test_device_script_fails_and_still_packs_when_a_check_fails(tmp_path):
    (tmp_path / "broken-0.1-py3-none-any.whl").write_text("not a wheel")
    result = device_sh(out=tmp_path / "out", wheels=tmp_path)
    assert result.returncode == 1
    assert "wheel install failed" in (tmp_path / "out" / "device.log").read_text()
    assert (tmp_path / "out" / "results.tar").exists()


def test_a_stopped_run_is_recorded_from_its_newest_complete_checkpoint(tmp_path, monkeypatch, capsys):
    stopped = benchmark_module("stopped_run")
    stage = tmp_path / "runs" / "beauty-x" / "finetune"
    history = [{"step": 50, "epoch": 0.5, "loss": 9.8, "grad_norm": 5.8, "learning_rate": 1e-4},
               {"step": 100, "epoch": 1.0, "eval_ndcg@10": 0.0042, "elapsed_s": 60.0}]
    for step, logs in ((100, history), (50, history[:1])):
        (stage / f"checkpoint-{step}").mkdir(parents=True)
        (stage / f"checkpoint-{step}" / "trainer_state.json").write_text(json.dumps(
            {"log_history": logs, "epoch": step / 100, "global_step": step, "max_steps": 800}))
    (stage / "checkpoint-150").mkdir()  # cut short by the kill: no trainer_state.json, not read
    monkeypatch.setattr(stopped, "RESULTS", tmp_path / "results")
    assert stopped.main(["beauty-x", "--reason", "diverged", "--run-dir", str(tmp_path / "runs" / "beauty-x")]) == 0
    record = json.loads((tmp_path / "results" / "stopped-beauty-x.json").read_text())
    assert record["stopped"]["reason"] == "diverged" and record["stopped"]["runs_sh"] is None  # not a runs.sh name
    finetune = record["stages"]["finetune"]
    assert finetune["global_step"] == 100 and finetune["validation"][0]["eval_ndcg@10"] == 0.0042
    assert finetune["training"] == [history[0]] and "git_commit" in record
    assert record["starts"] is None  # this run folder has no starts.json (runs from before it existed)
    assert "0.0042" in capsys.readouterr().out


def test_a_stopped_run_records_the_commit_and_machine_that_trained_it(tmp_path, monkeypatch, capsys):
    """The recording's own commit can be later than the training's: the run folder's starts.json says which."""
    stopped = benchmark_module("stopped_run")
    run = tmp_path / "runs" / "beauty-x"
    (run / "finetune" / "checkpoint-100").mkdir(parents=True)
    (run / "finetune" / "checkpoint-100" / "trainer_state.json").write_text(json.dumps(
        {"log_history": [], "epoch": 1.0, "global_step": 100, "max_steps": 800}))
    start = {"git_commit": "0db7eec", "machine": {"cpu_model": "Intel(R) Xeon(R) Processor"}, "options": {"seed": 0}}
    (run / "starts.json").write_text(json.dumps({"starts": [start]}))
    monkeypatch.setattr(stopped, "RESULTS", tmp_path / "results")
    assert stopped.main(["beauty-x", "--reason", "slow", "--run-dir", str(run)]) == 0
    assert json.loads((tmp_path / "results" / "stopped-beauty-x.json").read_text())["starts"] == [start]
    assert "trained from commit 0db7eec on Intel(R) Xeon(R) Processor" in capsys.readouterr().out


def test_a_stopped_run_without_a_checkpoint_is_refused(tmp_path, capsys):
    stopped = benchmark_module("stopped_run")
    with pytest.raises(SystemExit):
        stopped.main(["beauty-x", "--reason", "x", "--run-dir", str(tmp_path)])
    assert "no complete checkpoint" in capsys.readouterr().err
