"""Record a run stopped before it finished (diverged and killed, or out of time): what it had learned by then.

Usage: python benchmarks/stopped_run.py NAME --reason "TEXT" [--run-dir runs/NAME]

A killed ``benchmarks/runs.sh`` run writes no results JSON, and the issue asks for failures on record too. This
reads the newest complete checkpoint's ``trainer_state.json`` in each stage of the run folder (its validation
curve, losses, gradient norms and learning rates, as the Trainer logged them) and writes
benchmarks/results/stopped-NAME.json with the reason, the run's ``runs.sh`` arguments, the provenance of this
recording (top level) and that of the training itself (``starts``: commit, machine and options of each start, from
the run folder's ``starts.json``; None for runs from before it existed).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

from genrec_hf.provenance import environment, write_json_atomic
from genrec_hf.training import complete_checkpoints

RESULTS = Path(__file__).resolve().parent / "results"
ROOT = RESULTS.parent.parent


def stage_record(stage_dir: Path) -> dict | None:
    """The newest complete checkpoint's logged history of one stage, split into validations and training logs."""
    checkpoints = complete_checkpoints(stage_dir)
    if not checkpoints:
        return None
    state = json.loads((checkpoints[-1] / "trainer_state.json").read_text())
    history = state["log_history"]
    return {
        "checkpoint": str(checkpoints[-1].relative_to(ROOT) if checkpoints[-1].is_relative_to(ROOT)
                          else checkpoints[-1]),
        "epoch": state["epoch"], "global_step": state["global_step"], "max_steps": state["max_steps"],
        "validation": [entry for entry in history if "eval_ndcg@10" in entry],
        "training": [{key: entry[key] for key in ("step", "epoch", "loss", "grad_norm", "learning_rate")
                      if key in entry} for entry in history if "loss" in entry],
    }


def runs_sh_arguments(name: str) -> str | None:
    """What ``bash benchmarks/runs.sh NAME`` runs (its dry-run line), or None if runs.sh does not know the name."""
    import re

    base, seed = re.fullmatch(r"(.*?)(?:-seed(\d+))?", name).groups()
    result = subprocess.run(["bash", str(ROOT / "benchmarks" / "runs.sh"), base, seed or "0"], capture_output=True,
                            text=True, env={**os.environ, "RUNS_DRY": "1"}, cwd=ROOT, timeout=30)
    return (" ".join(result.stdout.split()) or None) if result.returncode == 0 else None


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("name", help="the run's name as runs.sh records it (NAME or NAME-seedN)")
    parser.add_argument("--reason", required=True, help="why it was stopped, with what was seen")
    parser.add_argument("--run-dir", help="its run folder (default runs/NAME)")
    args = parser.parse_args(argv)
    run_dir = Path(args.run_dir) if args.run_dir else ROOT / "runs" / args.name
    stages = {stage: record for stage in ("pretrain", "finetune")
              if (record := stage_record(run_dir / stage)) is not None}
    if not stages:
        parser.error(f"{run_dir}: no complete checkpoint in pretrain/ or finetune/ to read a history from")
    starts = run_dir / "starts.json"  # what trained the checkpoints (commit, machine, options), if the run wrote it
    result = {**environment(), "stopped": {"name": args.name, "reason": args.reason, "run_dir": str(args.run_dir or
                                                                                                   f"runs/{args.name}"),
                                           "runs_sh": runs_sh_arguments(args.name)}, "stages": stages,
              "starts": json.loads(starts.read_text())["starts"] if starts.is_file() else None}
    path = RESULTS / f"stopped-{args.name}.json"
    write_json_atomic(path, result)
    for stage, record in stages.items():
        curve = ", ".join(f"{entry['eval_ndcg@10']:.4f}" for entry in record["validation"])
        print(f"{stage}: stopped at epoch {record['epoch']:.2f} (step {record['global_step']} of "
              f"{record['max_steps']}); validation NDCG@10 by epoch: {curve}")
    for start in result["starts"] or ():
        print(f"trained from commit {start.get('git_commit')} on {start.get('machine', {}).get('cpu_model')}")
    print(f"recorded {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
