"""Saved folders and Hub repos load in fresh processes: with genrec_hf, and without it via remote code."""

from __future__ import annotations

from pathlib import Path

import pytest

from .conftest import HIDE_GENREC_HF, build_hf_cache, run_python

LOAD_AND_GENERATE = """
import json, torch
from transformers import AutoConfig, AutoModel, AutoModelForSeq2SeqLM, AutoTokenizer
kwargs = dict(trust_remote_code=True) if {remote} else {{}}
tokenizer = AutoTokenizer.from_pretrained({where!r}, **kwargs)
model = AutoModelForSeq2SeqLM.from_pretrained({where!r}, **kwargs).eval()
bare = AutoModel.from_pretrained({where!r}, **kwargs)
config = AutoConfig.from_pretrained({where!r}, **kwargs)
batch = tokenizer.encode_histories([["B0001X", "B0002X"]], users=["alice"], return_tensors="pt")
sequences = model.generate(**batch)
logits = model(**batch, decoder_input_ids=torch.tensor([[2]])).logits
print(json.dumps(dict(
    classes=[type(o).__name__ for o in (tokenizer, model, bare, config)],
    modules=sorted({{type(o).__module__.split(".")[0] for o in (tokenizer, model, bare, config)}}),
    num_sequences=sequences.shape[0],
    logits=logits[0, 0, :5].tolist(),
    genrec_hf_imported=any(m.startswith("genrec_hf") for m in __import__("sys").modules),
)))
"""


@pytest.fixture
def saved(model, tokenizer, tmp_path):
    folder = tmp_path / "genrec-beauty"
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def expected_logits(model, tokenizer):
    import torch

    batch = tokenizer.encode_histories([["B0001X", "B0002X"]], users=["alice"], return_tensors="pt")
    return model(**batch, decoder_input_ids=torch.tensor([[2]])).logits[0, 0, :5].tolist()


def load_in_fresh_process(where: str, cwd: Path, remote: bool, env=None) -> dict:
    import json

    code = (HIDE_GENREC_HF if remote else "import genrec_hf\n") + LOAD_AND_GENERATE.format(where=where, remote=remote)
    return json.loads(run_python(code, cwd=cwd, env=env).strip().splitlines()[-1])


def test_saved_folder_loads_with_remote_code_where_genrec_hf_is_not_importable(saved, model, tokenizer, tmp_path):
    out = load_in_fresh_process(str(saved), cwd=tmp_path, remote=True,
                                env={"HF_MODULES_CACHE": str(tmp_path / "modules"), "HF_HUB_OFFLINE": "1"})
    assert out["classes"] == ["GenRecTokenizer", "GenRecForConditionalGeneration", "GenRecModel", "GenRecConfig"]
    assert out["modules"] == ["transformers_modules"]  # the shipped code, not an installed package
    assert not out["genrec_hf_imported"]
    assert out["num_sequences"] == 20
    assert out["logits"] == pytest.approx(expected_logits(model, tokenizer), abs=1e-6)


def test_hidden_genrec_hf_really_is_hidden(tmp_path):
    out = run_python(HIDE_GENREC_HF + "\ntry:\n import genrec_hf\nexcept ModuleNotFoundError:\n print('hidden')",
                     cwd=tmp_path)
    assert out.strip() == "hidden"


@pytest.mark.parametrize("remote", [False, True], ids=["import-genrec_hf", "trust_remote_code"])
def test_repo_id_resolves_offline_from_a_real_hf_cache(saved, model, tokenizer, tmp_path, remote):
    cache = tmp_path / "hub-cache"
    build_hf_cache(saved, cache, "org/genrec-beauty")
    env = {"HF_HUB_CACHE": str(cache), "HF_HUB_OFFLINE": "1", "HF_MODULES_CACHE": str(tmp_path / "modules")}
    out = load_in_fresh_process("org/genrec-beauty", cwd=tmp_path, remote=remote, env=env)
    assert out["classes"] == ["GenRecTokenizer", "GenRecForConditionalGeneration", "GenRecModel", "GenRecConfig"]
    assert out["genrec_hf_imported"] is (not remote)
    assert out["num_sequences"] == 20
    assert out["logits"] == pytest.approx(expected_logits(model, tokenizer), abs=1e-6)


def test_offline_cache_miss_is_an_error_not_a_download(tmp_path):
    env = {"HF_HUB_CACHE": str(tmp_path / "empty"), "HF_HUB_OFFLINE": "1"}
    code = ("import genrec_hf\nfrom transformers import AutoConfig\n"
            "try:\n AutoConfig.from_pretrained('org/genrec-missing')\nexcept OSError as e:\n print('OSError')")
    assert run_python(code, cwd=tmp_path, env=env).strip().endswith("OSError")
