"""Shared fixtures: tiny real objects (no mocks), one thread, nothing downloaded."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

torch.set_num_threads(1)  # tiny models: one thread is many times faster than two on this CPU

from genrec_hf import GenRecConfig, GenRecForConditionalGeneration, GenRecTokenizer  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
TINY = dict(d_model=16, encoder_layers=1, decoder_layers=1, encoder_attention_heads=2,
            decoder_attention_heads=2, encoder_ffn_dim=32, decoder_ffn_dim=32, max_position_embeddings=64)


@pytest.fixture
def tokenizer() -> GenRecTokenizer:
    items = [f"B{n:04d}X" for n in range(1, 121)]  # ASIN-like raw ids; model ids 1..120
    users = ["alice", "bob", 42]
    return GenRecTokenizer.from_catalogue(items, users, model_max_length=64)


@pytest.fixture
def model(tokenizer) -> GenRecForConditionalGeneration:
    torch.manual_seed(0)
    config = GenRecConfig.from_preset("small", tokenizer, **TINY)
    return GenRecForConditionalGeneration(config).eval()


def benchmark_module(name: str):
    """A script of benchmarks/ (not a package) imported by path, for testing its functions."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(name, REPO / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_python(code: str, cwd: Path, env: dict[str, str] | None = None, timeout: int = 300) -> str:
    """Run code in a fresh interpreter; fail with its output if it fails."""
    full_env = {**os.environ, "OMP_NUM_THREADS": "1", **(env or {})}
    full_env.pop("PYTHONPATH", None)
    result = subprocess.run([sys.executable, "-c", code], cwd=cwd, env=full_env, capture_output=True, text=True,
                            timeout=timeout)
    assert result.returncode == 0, f"subprocess failed:\nSTDOUT:\n{result.stdout}\nSTDERR:\n{result.stderr}"
    return result.stdout


# Prepended to subprocess code: makes `import genrec_hf` fail, as on a machine without the package.
HIDE_GENREC_HF = """
import sys
class _HideGenRec:
    def find_spec(self, name, path=None, target=None):
        if name == "genrec_hf" or name.startswith("genrec_hf."):
            raise ModuleNotFoundError("genrec_hf is hidden in this test")
        return None
sys.meta_path.insert(0, _HideGenRec())
"""


def build_hf_cache(folder: Path, cache: Path, repo_id: str, sha: str = "0123456789abcdef0123456789abcdef01234567"):
    """The layout huggingface_hub writes: blobs, snapshots/<sha>/<file> -> blob symlinks, refs/main."""
    repo = cache / ("models--" + repo_id.replace("/", "--"))
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(sha)
    snapshot = repo / "snapshots" / sha
    snapshot.mkdir(parents=True)
    (repo / "blobs").mkdir()
    for index, file in enumerate(sorted(folder.iterdir())):
        blob = repo / "blobs" / f"blob{index:04d}"
        shutil.copyfile(file, blob)
        (snapshot / file.name).symlink_to(Path("../../blobs") / blob.name)
    return repo


@pytest.fixture(scope="session")
def tiny_data():
    """Leave-one-out splits of 40 synthetic users over 30 items, random ids."""
    from genrec_hf.data import leave_one_out
    from genrec_hf.synthetic import synthetic_interactions

    sequences = synthetic_interactions(num_users=40, num_items=30, num_topics=3, seed=0)
    items = sorted({i for _, h in sequences for i in h})
    return leave_one_out(sequences, items, [u for u, _ in sequences], ids="random", seed=0, source="synthetic")


@pytest.fixture(scope="session")
def trained_run(tiny_data, tmp_path_factory):
    """A finished `train_genrec` run folder (checkpoint/, metrics.json, curves) of a tiny model, and its results."""
    from genrec_hf.training import TrainOptions, train_genrec

    output = tmp_path_factory.mktemp("run")
    options = TrainOptions(pretrain_epochs=1, finetune_epochs=2, batch_size=16, max_length=64, eval_users=10,
                           threads=1, logging_steps=2, config_overrides=dict(TINY))
    return output, train_genrec(tiny_data, output, options)
