"""pipeline("genrec"): raw ids in and out, exclusion, bad input, batching, remote code, offline Hub cache."""

from __future__ import annotations

import json
import logging
import shutil

import pytest
import torch
from transformers import pipeline
from transformers.utils import logging as hf_logging

from genrec_hf import GenRecConfig, GenRecForConditionalGeneration, GenRecPipeline, GenRecTokenizer

from .conftest import HIDE_GENREC_HF, TINY, build_hf_cache, run_python

ITEMS = [f"B{n:04d}X" for n in range(1, 131)]


@pytest.fixture(scope="module")
def saved_model(tmp_path_factory):
    folder = tmp_path_factory.mktemp("genrec-pipe")
    tokenizer = GenRecTokenizer.from_catalogue(ITEMS, users=["alice", "bob"], model_max_length=64)
    torch.manual_seed(0)
    model = GenRecForConditionalGeneration(GenRecConfig.from_preset("small", tokenizer, **TINY))
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def rec(saved_model):
    return pipeline("genrec", model=str(saved_model))


@pytest.fixture
def hf_warnings(caplog):
    hf_logging.enable_propagation()
    caplog.set_level(logging.WARNING)
    yield caplog
    hf_logging.disable_propagation()


def test_task_resolves_to_the_genrec_pipeline(rec):
    assert isinstance(rec, GenRecPipeline)
    assert type(rec.model) is GenRecForConditionalGeneration


def test_raw_ids_in_and_out_top_20_distinct_by_default(rec):
    out = rec(["B0001X", "B0002X"])
    assert len(out) == 20 and [r["rank"] for r in out] == list(range(1, 21))
    assert len({r["item"] for r in out}) == 20 and all(r["item"] in ITEMS for r in out)
    assert [r["score"] for r in out] == sorted((r["score"] for r in out), reverse=True)


def test_top_k(rec):
    assert len(rec(["B0001X"], top_k=3)) == 3
    with pytest.raises(ValueError, match=r"top_k must be an integer in 1..130"):
        rec(["B0001X"], top_k=0)


def test_history_is_excluded_unless_asked(rec):
    history = ITEMS[:60]
    kept = rec(history, top_k=20, exclude_history=False)
    assert {r["item"] for r in kept} & set(history)  # this untrained model likes its history
    assert not {r["item"] for r in rec(history, top_k=20)} & set(history)


def test_a_model_whose_config_keeps_history_items_keeps_them_by_default(saved_model, tmp_path):
    """Where users come back to items (yelp), the checkpoint says so and the pipeline follows it."""
    folder = tmp_path / "keeps"
    shutil.copytree(saved_model, folder)
    config = GenRecConfig.from_pretrained(folder)
    config.exclude_history = False
    config.save_pretrained(folder)
    keeps = pipeline("genrec", model=str(folder))
    history = ITEMS[:60]
    assert {r["item"] for r in keeps(history, top_k=20)} & set(history)
    assert not {r["item"] for r in keeps(history, top_k=20, exclude_history=True)} & set(history)


def test_exclude_history_in_a_config_must_be_a_bool():
    with pytest.raises(ValueError, match="exclude_history must be True or False"):
        GenRecConfig(exclude_history="no")


def test_dict_input_with_a_user(rec):
    out = rec({"user": "alice", "history": ["B0001X", "B0002X"]}, top_k=5)
    assert len(out) == 5


def test_unknown_user_recommends_from_the_history_alone_with_a_warning(rec, hf_warnings):
    out = rec({"user": "mallory", "history": ["B0001X", "B0002X"]}, top_k=5)
    assert out == rec(["B0001X", "B0002X"], top_k=5)
    assert "unknown user 'mallory'" in hf_warnings.text


def test_unknown_items_are_skipped_with_a_warning_or_refused_when_strict(rec, hf_warnings):
    assert rec(["B0001X", "NOPE", "B0002X"], top_k=5) == rec(["B0001X", "B0002X"], top_k=5)
    assert "skipped 1 unknown item id(s) ['NOPE']" in hf_warnings.text
    with pytest.raises(KeyError, match="NOPE"):
        rec(["B0001X", "NOPE"], strict=True)


@pytest.mark.parametrize("bad, message", [
    ([], "non-empty list"),
    ({"history": []}, "the history is empty"),
    (["NOPE", "NADA"], "none of the 2 history items is in the catalogue"),
    ({"user": "alice"}, "a dict input needs 'history'"),
    ({"history": "B0001X"}, "a history must be a list"),
    ([["B0001X"], [1.5]], r"input 1: item ids must be strings or integers, got float 1.5"),
    ([["B0001X"], ["B0002X"], []], "input 2: the history is empty"),
    ([["B0001X"], {"user": ["x"], "history": ["B0002X"]}], "input 1: a user id must be a string or an integer"),
])
def test_bad_input_is_a_clear_value_error(rec, bad, message):
    with pytest.raises(ValueError, match=message):
        rec(bad)


def test_unexpected_arguments_are_refused(rec):
    with pytest.raises(TypeError, match="unexpected argument"):
        rec(["B0001X"], num_items=3)


def test_too_long_history_keeps_the_most_recent_items(rec):
    long = ITEMS[:100]  # ~300 tokens: far more than the model's 64 positions
    fitting = rec.tokenizer.items_that_fit(long)
    assert fitting == 20  # 64 - [BEG] [MASK] [END] = 61 = item_100 (4 tokens) + 19 items of 3 tokens
    out = rec(long, top_k=5, exclude_history=False)
    assert out == rec(long[-fitting:], top_k=5, exclude_history=False)


def assert_batch_equals_single_inputs(rec, inputs, top_k):
    batched = rec(inputs, top_k=top_k, batch_size=len(inputs))
    for element, result in zip(inputs, batched):
        single = rec(element, top_k=top_k)
        assert [r["item"] for r in result] == [r["item"] for r in single]
        assert [r["score"] for r in result] == pytest.approx([r["score"] for r in single], abs=1e-4)


def test_batches_equal_single_inputs(rec):
    assert_batch_equals_single_inputs(rec, [["B0001X", "B0002X"], {"user": "bob", "history": ["B0100X"]},
                                            ITEMS[10:30]], top_k=10)


def test_a_large_batch_of_mixed_lengths_equals_single_inputs(rec):
    """Over 16 histories: the encoder runs in length buckets, and the results still match one by one."""
    assert_batch_equals_single_inputs(rec, [ITEMS[i:i + 1 + (7 * i) % 25] for i in range(40)], top_k=5)


def test_dtype_and_device_are_handled_the_hf_way(saved_model):
    rec16 = pipeline("genrec", model=str(saved_model), dtype=torch.bfloat16, device="cpu")
    assert rec16.model.dtype == torch.bfloat16 and rec16.device.type == "cpu"
    out = rec16(["B0001X", "B0002X"])
    assert len({r["item"] for r in out}) == 20
    assert all(torch.isfinite(torch.tensor(r["score"])) for r in out)


def test_output_is_deterministic(rec):
    assert rec(["B0003X", "B0004X"]) == rec(["B0003X", "B0004X"])


def test_saved_folder_declares_the_custom_pipeline(saved_model):
    config = json.loads((saved_model / "config.json").read_text())
    assert config["custom_pipelines"]["genrec"]["impl"] == "pipeline_genrec.GenRecPipeline"
    assert config["custom_pipelines"]["genrec"]["pt"] == ["AutoModelForSeq2SeqLM"]
    assert (saved_model / "pipeline_genrec.py").exists() and (saved_model / "generation_genrec.py").exists()


REMOTE_PIPELINE = HIDE_GENREC_HF + """
import json
from transformers import pipeline
rec = pipeline(model={where!r}, trust_remote_code=True)
out = rec({{"user": "alice", "history": ["B0001X", "B0002X"]}}, top_k=5)
print(json.dumps(dict(cls=type(rec).__name__, module=type(rec).__module__.split(".")[0], items=[r["item"] for r in out],
                      hidden=not any(m.startswith("genrec_hf") for m in __import__("sys").modules))))
"""


def _remote(where: str, tmp_path, env=None) -> dict:
    env = {"HF_MODULES_CACHE": str(tmp_path / "modules"), "HF_HUB_OFFLINE": "1", **(env or {})}
    return json.loads(run_python(REMOTE_PIPELINE.format(where=where), cwd=tmp_path, env=env).strip().splitlines()[-1])


def test_remote_code_pipeline_from_a_saved_folder_without_genrec_hf(saved_model, rec, tmp_path):
    out = _remote(str(saved_model), tmp_path)
    assert out["cls"] == "GenRecPipeline" and out["module"] == "transformers_modules" and out["hidden"]
    assert out["items"] == [r["item"] for r in rec({"user": "alice", "history": ["B0001X", "B0002X"]}, top_k=5)]


def test_remote_code_pipeline_from_an_offline_hub_cache_repo_id(saved_model, rec, tmp_path):
    cache = tmp_path / "hub"
    build_hf_cache(saved_model, cache, "org/genrec-beauty")
    out = _remote("org/genrec-beauty", tmp_path, env={"HF_HUB_CACHE": str(cache)})
    assert out["cls"] == "GenRecPipeline" and out["hidden"]
    assert out["items"] == [r["item"] for r in rec({"user": "alice", "history": ["B0001X", "B0002X"]}, top_k=5)]


def test_a_model_in_training_mode_recommends_deterministically_and_stays_in_training_mode(tokenizer):
    """A model straight out of the Trainer is in training mode; dropout must not leak into recommendations."""
    from transformers import pipeline

    from genrec_hf import GenRecConfig, GenRecForConditionalGeneration

    from .conftest import TINY

    torch.manual_seed(0)
    model = GenRecForConditionalGeneration(GenRecConfig.from_preset("small", tokenizer, **{**TINY, "dropout": 0.5}))
    rec = pipeline("genrec", model=model.train(), tokenizer=tokenizer)
    first, second = rec(["B0001X", "B0002X"]), rec(["B0001X", "B0002X"])
    assert model.training
    assert first == second == pipeline("genrec", model=model.eval(), tokenizer=tokenizer)(["B0001X", "B0002X"])


def test_a_learned_successor_item_bias_is_applied_in_process_and_as_remote_code(tmp_path):
    """The successor shifts are model parameters read at the first decoding step: a fresh process loading the
    folder as remote code must put the same items (the ones numbered after the history's highest) on top."""
    tokenizer = GenRecTokenizer.from_catalogue(ITEMS, independent_items=True, model_max_length=64)
    torch.manual_seed(0)
    model = GenRecForConditionalGeneration(GenRecConfig.from_preset("small", tokenizer, **TINY,
                                                                    successor_item_bias=2))
    with torch.no_grad():
        model.successor_logit_bias.copy_(torch.tensor([40.0, 50.0]))
    model.save_pretrained(tmp_path / "biased")
    tokenizer.save_pretrained(tmp_path / "biased")
    history = [ITEMS[59], ITEMS[3], ITEMS[10]]
    biased = pipeline("genrec", model=model, tokenizer=tokenizer)(history, top_k=5)
    assert [r["item"] for r in biased[:2]] == [ITEMS[61], ITEMS[60]]
    script = HIDE_GENREC_HF + f"""
import json
from transformers import pipeline
rec = pipeline(model={str(tmp_path / "biased")!r}, trust_remote_code=True)
print(json.dumps([r["item"] for r in rec({history!r}, top_k=5)]))
"""
    env = {"HF_MODULES_CACHE": str(tmp_path / "modules"), "HF_HUB_OFFLINE": "1"}
    remote = json.loads(run_python(script, cwd=tmp_path, env=env).strip().splitlines()[-1])
    assert remote == [r["item"] for r in biased]


def test_a_learned_history_item_bias_is_applied_in_process_and_as_remote_code(tmp_path):
    """The bias is a model parameter, so it must survive save_pretrained and act in a fresh process's pipeline."""
    tokenizer = GenRecTokenizer.from_catalogue(ITEMS, users=["alice"], independent_items=True, model_max_length=64)
    torch.manual_seed(0)
    model = GenRecForConditionalGeneration(GenRecConfig.from_preset("small", tokenizer, **TINY,
                                                                    history_item_bias=True))
    history = ITEMS[:60]
    unbiased = pipeline("genrec", model=model, tokenizer=tokenizer)(history, top_k=20, exclude_history=False)
    assert {r["item"] for r in unbiased} & set(history)  # at 0 this untrained model recommends its history
    with torch.no_grad():
        model.history_logit_bias.fill_(-50.0)
    model.save_pretrained(tmp_path / "biased")
    tokenizer.save_pretrained(tmp_path / "biased")
    biased = pipeline("genrec", model=model, tokenizer=tokenizer)(history, top_k=20, exclude_history=False)
    assert not {r["item"] for r in biased} & set(history)
    script = HIDE_GENREC_HF + f"""
import json
from transformers import pipeline
rec = pipeline(model={str(tmp_path / "biased")!r}, trust_remote_code=True)
print(json.dumps([r["item"] for r in rec({history!r}, top_k=20, exclude_history=False)]))
"""
    env = {"HF_MODULES_CACHE": str(tmp_path / "modules"), "HF_HUB_OFFLINE": "1"}
    remote = json.loads(run_python(script, cwd=tmp_path, env=env).strip().splitlines()[-1])
    assert remote == [r["item"] for r in biased]
