"""On a CUDA device the recommendations are the CPU's. Skipped without one; benchmarks/device.sh runs them on a GPU
machine before its long runs (CI has no GPU)."""

from __future__ import annotations

import pytest
import torch
from transformers import pipeline

from genrec_hf import GenRecConfig, GenRecForConditionalGeneration, GenRecTokenizer
from genrec_hf.modeling.generation_genrec import recommend_batch

from .conftest import TINY

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


@pytest.fixture
def catalogue_model():
    tokenizer = GenRecTokenizer.from_catalogue(items=[f"sku{n}" for n in range(1, 131)], users=["u"],
                                               model_max_length=64)
    torch.manual_seed(0)
    model = GenRecForConditionalGeneration(GenRecConfig.from_preset("small", tokenizer, **TINY)).eval()
    return tokenizer, model


def test_beam_search_with_history_excluded_scores_on_the_gpu_as_on_the_cpu(catalogue_model):
    tokenizer, model = catalogue_model
    histories = [[f"sku{n}" for n in range(1, 40)], ["sku7", "sku12"]]
    batch = tokenizer.encode_histories(histories, return_tensors="pt")
    excluded = [[tokenizer.item_to_id(i) for i in history] for history in histories]
    on_cpu = recommend_batch(model, tokenizer, batch, top_k=20, excluded_items=excluded)
    on_gpu = recommend_batch(model.to("cuda"), tokenizer, batch, top_k=20, excluded_items=excluded)
    for cpu_ranked, gpu_ranked, history_ids in zip(on_cpu, on_gpu, excluded):
        gpu_items = [item for item, _ in gpu_ranked]
        assert len(set(gpu_items)) == 20 and not set(gpu_items) & set(history_ids)
        assert torch.allclose(torch.tensor([s for _, s in gpu_ranked]), torch.tensor([s for _, s in cpu_ranked]),
                              atol=1e-4)


def test_the_pipeline_on_device_0_recommends_what_it_does_on_the_cpu(catalogue_model, tmp_path):
    tokenizer, model = catalogue_model
    model.save_pretrained(tmp_path)
    tokenizer.save_pretrained(tmp_path)
    history = ["sku3", "sku9", "sku27"]
    on_gpu = pipeline("genrec", model=str(tmp_path), device=0)
    assert on_gpu.model.device.type == "cuda"
    on_cpu = pipeline("genrec", model=str(tmp_path), device="cpu")
    gpu_scores = [r["score"] for r in on_gpu(history, top_k=10)]
    cpu_scores = [r["score"] for r in on_cpu(history, top_k=10)]
    assert torch.allclose(torch.tensor(gpu_scores), torch.tensor(cpu_scores), atol=1e-4)
