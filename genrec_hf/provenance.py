"""Where a result came from: command, git commit, machine, library versions; and atomic JSON writes."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import tempfile
from importlib import metadata
from pathlib import Path
from typing import Any

LIBRARIES = ("genrec-hf", "torch", "transformers", "tokenizers", "datasets", "huggingface_hub", "safetensors",
             "evaluate", "accelerate")


def git_commit(cwd: str | Path | None = None) -> str | None:
    """The current commit (with ``-dirty`` if the tree has uncommitted changes).

    Outside git (an installed wheel, a copied tree on a GPU machine) it is ``GENREC_GIT_COMMIT`` if set, else None.
    """
    cwd = Path(cwd or Path(__file__).resolve().parent)
    given = os.environ.get("GENREC_GIT_COMMIT") or None
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True, timeout=10)
        if commit.returncode != 0:
            return given
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=cwd,
                               capture_output=True, text=True, timeout=10).stdout.strip()
        return commit.stdout.strip() + ("-dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return given


def cpu_model(cpuinfo: str | Path = "/proc/cpuinfo") -> str | None:
    """The CPU's model name: hosts of one machine type differ in speed, and wall times are only comparable on one."""
    try:
        for line in Path(cpuinfo).read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name" and value.strip():
                return value.strip()
    except OSError:
        pass
    return platform.processor() or None


def environment() -> dict[str, Any]:
    """Machine and library versions for a results file."""
    versions = {}
    for name in LIBRARIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    try:
        import torch

        threads = torch.get_num_threads()
        accelerator = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    except ImportError:  # pragma: no cover - torch is a dependency
        threads, accelerator = None, None
    return {
        "command": " ".join([Path(sys.argv[0]).name] + sys.argv[1:]),
        "git_commit": git_commit(),
        "machine": {"platform": platform.platform(), "processor": platform.machine(), "cpus": os.cpu_count(),
                    "cpu_model": cpu_model(), "torch_threads": threads, "accelerator": accelerator,
                    "python": platform.python_version()},
        "versions": versions,
    }


def write_json_atomic(path: str | Path, payload: Any) -> None:
    """Write JSON so that a reader (or a kill) never sees a half-written file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile("w", dir=path.parent, prefix=f".{path.name}.", delete=False) as handle:
        json.dump(payload, handle, indent=2, default=str)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(handle.name, path)


def write_folder_atomic(folder: str | Path, write: Any) -> Path:
    """``write(staging_dir)`` beside ``folder``, then rename it into place: a reader (or a kill) never sees a
    half-written folder. An existing ``folder`` is replaced."""
    import shutil

    folder = Path(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=folder.parent))
    try:
        write(staging)
        if folder.exists():
            shutil.rmtree(folder)
        os.replace(staging, folder)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return folder

