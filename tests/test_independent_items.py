"""One token per item (independent indexing): short histories, one decoding step, same public behaviour."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch

from genrec_hf import GenRecConfig, GenRecForConditionalGeneration, GenRecTokenizer
from genrec_hf.modeling.generation_genrec import recommend_batch

from .conftest import REPO, TINY
from .test_generation import exact_item_scores


@pytest.fixture
def independent():
    tokenizer = GenRecTokenizer.from_catalogue([f"sku{n}" for n in range(1, 131)], ["alice", "bob"],
                                               model_max_length=64, independent_items=True)
    torch.manual_seed(0)
    model = GenRecForConditionalGeneration(GenRecConfig.from_preset("small", tokenizer, **TINY)).eval()
    return tokenizer, model


def test_every_item_is_one_token_and_users_stay_digit_chunks(independent):
    tokenizer, _ = independent
    assert all(len(tokenizer.item_token_ids[i]) == 1 for i in range(1, 131))
    assert len({tokenizer.item_token_ids[i][0] for i in range(1, 131)}) == 130
    batch = tokenizer.encode_histories([["sku12", "sku120"]], users=["bob"])
    assert tokenizer.convert_ids_to_tokens(batch["input_ids"][0]) == [
        "[BEG]", "▁user", "_", "2", "▁item_12", "▁item_120", "[MASK]", "[END]"]
    assert batch["item_ids"][0] == [0, 0, 0, 0, 12, 120, 0, 0]
    assert tokenizer.max_item_tokens == 2  # the item, then [END]


def test_every_item_round_trips_through_labels(independent):
    tokenizer, _ = independent
    items = [f"sku{n}" for n in range(1, 131)]
    assert tokenizer.decode_items(tokenizer.item_labels(items)) == items


def test_the_vocabulary_survives_save_and_auto_loading(independent, tmp_path):
    from transformers import AutoTokenizer

    tokenizer, _ = independent
    tokenizer.save_pretrained(tmp_path)
    again = AutoTokenizer.from_pretrained(tmp_path)
    assert len(again) == len(tokenizer) == 118 + 130
    assert again.item_token_ids == tokenizer.item_token_ids


def test_independent_items_exclude_item_codes():
    with pytest.raises(ValueError, match="cannot also spell items by item_codes"):
        GenRecTokenizer.from_catalogue(["a", "b"], item_codes=[[1], [2]], independent_items=True)


def test_the_model_output_layer_is_the_item_token_embedding(independent):
    _, model = independent
    assert model.get_output_embeddings().weight.data_ptr() == model.get_input_embeddings().weight.data_ptr()


def test_beams_over_the_whole_catalogue_give_its_exact_ranking(independent):
    tokenizer, model = independent
    batch = tokenizer.encode_histories([["sku1", "sku2", "sku3"], ["sku120"]], users=["alice", None],
                                       return_tensors="pt")
    for row, ranked in enumerate(recommend_batch(model, tokenizer, batch, top_k=130)):
        exact = exact_item_scores(model, tokenizer, batch, row)
        assert [item for item, _ in ranked] == sorted(exact, key=exact.get, reverse=True)
        assert all(score == pytest.approx(exact[item], abs=1e-4) for item, score in ranked)


def test_the_train_command_offers_independent_items():
    help_text = subprocess.run([sys.executable, "-m", "genrec_hf", "train", "--help"], cwd=REPO,
                               capture_output=True, text=True, check=True).stdout
    assert "independent" in help_text
