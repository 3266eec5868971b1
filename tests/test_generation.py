"""Trie-constrained generation: only catalogue items, distinct, optional history exclusion."""

from __future__ import annotations

import pytest
import torch

from genrec_hf import GenRecConfig, GenRecForConditionalGeneration, GenRecTokenizer
from genrec_hf.modeling.generation_genrec import ItemTrie, ItemTrieLogitsProcessor, recommend_batch

from .conftest import TINY


@pytest.fixture(params=[{}, {"decoder_start_from_mask": True}, {"decoder_start_from_last_item": True}],
                ids=["fixed-start", "start-from-mask", "start-from-last-item"])
def catalogue_model(request):
    # ids 1..130: item_12 is a token prefix of item_120..129, a case the trie must keep apart
    tokenizer = GenRecTokenizer.from_catalogue(items=[f"sku{n}" for n in range(1, 131)], users=["u"],
                                               model_max_length=64)
    torch.manual_seed(0)
    model = GenRecForConditionalGeneration(GenRecConfig.from_preset(
        "small", tokenizer, **TINY, **request.param)).eval()
    return tokenizer, model


def test_trie_walks_item_paths_and_leaves_on_anything_else(catalogue_model):
    tokenizer, _ = catalogue_model
    trie = ItemTrie(tokenizer.item_token_ids, tokenizer.eos_token_id, len(tokenizer))
    assert trie.num_items == 130
    item_12, item_120 = tokenizer.item_token_ids[12], tokenizer.item_token_ids[120]
    assert item_120[:len(item_12)] == item_12
    node = trie.walk(torch.tensor([item_12]))
    assert trie.end_item[node].item() == 12 and trie.subtree_items[node].item() == 11  # 12 and 120..129
    assert trie.walk(torch.tensor([[tokenizer.mask_token_id]])).item() == -1


def test_constrained_beams_are_distinct_catalogue_items(catalogue_model):
    tokenizer, model = catalogue_model
    batch = tokenizer.encode_histories([["sku1", "sku2"], ["sku120"]], users=["u", None], return_tensors="pt")
    results = recommend_batch(model, tokenizer, batch, top_k=20)
    for ranked in results:
        items = [item for item, _ in ranked]
        assert len(items) == 20 == len(set(items))
        assert all(1 <= item <= 130 for item in items)
        scores = [score for _, score in ranked]
        assert scores == sorted(scores, reverse=True)


def test_unconstrained_beams_of_an_untrained_model_are_mostly_not_items(catalogue_model):
    """Why the trie is needed: without it an untrained model spells token salad."""
    tokenizer, model = catalogue_model
    batch = tokenizer.encode_histories([["sku1", "sku2"]], return_tensors="pt")
    decoded = tokenizer.decode_items(model.generate(**batch))
    assert decoded.count(None) > 10


def test_excluded_history_items_never_come_back(catalogue_model):
    tokenizer, model = catalogue_model
    history = [f"sku{n}" for n in range(1, 60)] + ["sku12"]
    batch = tokenizer.encode_histories([history], return_tensors="pt")
    excluded = [[tokenizer.item_to_id(i) for i in history]]
    plain = [item for item, _ in recommend_batch(model, tokenizer, batch, top_k=20)[0]]
    assert set(plain) & set(excluded[0])  # the untrained model does like its history
    (ranked,) = recommend_batch(model, tokenizer, batch, top_k=20, excluded_items=excluded)
    items = [item for item, _ in ranked]
    assert len(items) == 20 == len(set(items)) and not set(items) & set(excluded[0])


def test_exclusion_of_all_but_five_items_returns_those_five(catalogue_model):
    tokenizer, model = catalogue_model
    batch = tokenizer.encode_histories([["sku1"]], return_tensors="pt")
    (ranked,) = recommend_batch(model, tokenizer, batch, top_k=20, excluded_items=[list(range(6, 131))])
    assert sorted(item for item, _ in ranked) == [1, 2, 3, 4, 5]


def test_processor_maps_beam_rows_to_their_input_row(catalogue_model):
    tokenizer, _ = catalogue_model
    trie = ItemTrie(tokenizer.item_token_ids, tokenizer.eos_token_id, len(tokenizer))
    processor = ItemTrieLogitsProcessor(trie, excluded_items=[[12], []], num_beams=2)
    prefix = [tokenizer.eos_token_id] + tokenizer.item_token_ids[12]
    scores = processor(torch.tensor([prefix] * 4), torch.zeros(4, len(tokenizer)))
    eos = tokenizer.eos_token_id
    assert scores[:2, eos].tolist() == [float("-inf")] * 2  # rows of input 0: item 12 excluded
    assert scores[2:, eos].tolist() == [0.0, 0.0]            # rows of input 1: allowed


def test_top_k_beyond_the_catalogue_is_an_error(catalogue_model):
    tokenizer, model = catalogue_model
    batch = tokenizer.encode_histories([["sku1"]], return_tensors="pt")
    with pytest.raises(ValueError, match="top_k=131 exceeds the catalogue of 130 items"):
        recommend_batch(model, tokenizer, batch, top_k=131)


def test_skipping_the_cross_attention_reorder_changes_nothing(catalogue_model):
    tokenizer, model = catalogue_model
    batch = tokenizer.encode_histories([["sku1", "sku2"], ["sku120", "sku7", "sku9"], ["sku3"]], return_tensors="pt")
    fast = model.generate(**batch, return_dict_in_generate=True, output_scores=True)
    # the library's own reorder (self- and cross-attention caches) as the reference
    model._reorder_cache = lambda cache, beam_idx: cache.reorder_cache(beam_idx) or cache
    try:
        reference = model.generate(**batch, return_dict_in_generate=True, output_scores=True)
    finally:
        del model._reorder_cache
    assert torch.equal(fast.sequences, reference.sequences)
    torch.testing.assert_close(fast.sequences_scores, reference.sequences_scores)


def exact_item_scores(model, tokenizer, batch, row):
    """Every item's log-probability after the common prefix, by teacher forcing through the library's forward."""
    trie = ItemTrie(tokenizer.item_token_ids, tokenizer.eos_token_id, len(tokenizer))
    prompt = [model.config.decoder_start_token_id] + trie.common_prefix
    inputs = {key: batch[key][row:row + 1] for key in ("input_ids", "attention_mask", "user_ids", "item_ids")}
    scores = {}
    for item in range(1, tokenizer.num_items + 1):
        sequence = prompt + tokenizer.item_token_ids[item][len(trie.common_prefix):] + [tokenizer.eos_token_id]
        with torch.no_grad():
            logits = model(**inputs, decoder_input_ids=torch.tensor([sequence[:-1]])).logits[0]
        log_probs = torch.log_softmax(logits, dim=-1)
        scores[item] = sum(log_probs[i, sequence[i + 1]].item() for i in range(len(prompt) - 1, len(sequence) - 1))
    return scores


def test_beams_over_the_whole_catalogue_give_its_exact_ranking(catalogue_model):
    """With as many beams as items nothing is pruned: the result is every item, ranked by its true log-probability
    (the decoder's beam-shared arithmetic against the library's forward, padded histories included)."""
    tokenizer, model = catalogue_model
    batch = tokenizer.encode_histories([["sku1", "sku2", "sku3"], ["sku120"]], users=["u", None], return_tensors="pt")
    results = recommend_batch(model, tokenizer, batch, top_k=130)
    for row, ranked in enumerate(results):
        exact = exact_item_scores(model, tokenizer, batch, row)
        assert [item for item, _ in ranked] == sorted(exact, key=exact.get, reverse=True)
        for item, score in ranked:
            assert score == pytest.approx(exact[item], abs=1e-4)


def test_top_20_is_never_worse_than_generate_with_the_trie_processor(catalogue_model):
    """Same constraint, but the search stops only when no beam can still beat the 20th item, where generate's
    early stopping settles for worse ones; every returned score is the item's true log-probability."""
    from transformers import LogitsProcessorList

    tokenizer, model = catalogue_model
    trie = ItemTrie(tokenizer.item_token_ids, tokenizer.eos_token_id, len(tokenizer))
    assert tokenizer.convert_ids_to_tokens(trie.common_prefix) == ["▁item", "_"]
    batch = tokenizer.encode_histories([["sku1", "sku2"], ["sku120", "sku7"]], return_tensors="pt")
    fast = recommend_batch(model, tokenizer, batch, top_k=20)
    full = model.generate(**batch, return_dict_in_generate=True, output_scores=True,
                          logits_processor=LogitsProcessorList([ItemTrieLogitsProcessor(trie)]))
    items = tokenizer.decode_items(full.sequences, return_raw=False)
    for row, ranked in enumerate(fast):
        exact = exact_item_scores(model, tokenizer, batch, row)
        reference = [exact[item] for item in items[row * 20:(row + 1) * 20]]
        # generate's scores include the prefix; with the true [END] they are exact up to that constant
        offsets = [s - r for s, r in zip(full.sequences_scores[row * 20:(row + 1) * 20].tolist(), reference)]
        assert max(offsets) - min(offsets) < 1e-4
        assert [score for _, score in ranked] == pytest.approx([exact[item] for item, _ in ranked], abs=1e-4)
        assert all(mine >= theirs - 1e-4 for (_, mine), theirs in zip(ranked, reference))


def test_encoding_in_length_buckets_changes_no_row(catalogue_model):
    from genrec_hf.modeling.generation_genrec import encode_in_length_buckets

    tokenizer, model = catalogue_model
    histories = [[f"sku{n}" for n in range(1, length + 1)] for length in (9, 1, 5, 2, 7, 3)]
    batch = tokenizer.encode_histories(histories, return_tensors="pt")
    inputs = {key: batch[key] for key in ("input_ids", "attention_mask", "user_ids", "item_ids")}
    with torch.no_grad():
        reference = model.get_encoder()(**inputs).last_hidden_state
        bucketed = encode_in_length_buckets(model.get_encoder(), inputs, bucket_size=2)
    real = batch["attention_mask"].bool()
    torch.testing.assert_close(bucketed[real], reference[real], atol=1e-5, rtol=1e-5)


def test_excluding_an_item_outside_the_catalogue_is_a_clear_error(catalogue_model):
    tokenizer, model = catalogue_model
    batch = tokenizer.encode_histories([["sku1"]], return_tensors="pt")
    with pytest.raises(ValueError, match=r"excluded item ids must be in 1..130"):
        recommend_batch(model, tokenizer, batch, top_k=5, excluded_items=[[131]])


def test_generation_passes_the_decoder_cache_under_the_name_transformers_takes(catalogue_model):
    """transformers 5.2x renamed `past_key_values` to `cache` and warns on the old name (removal announced)."""
    import warnings

    tokenizer, model = catalogue_model
    batch = tokenizer.encode_histories([["sku1", "sku2"]], users=["u"], return_tensors="pt")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model.generate(**batch, num_beams=4, num_return_sequences=4, max_new_tokens=6)
    assert not [w for w in caught if "past_key_values" in str(w.message)]


def one_token_items_model(**overrides):
    """A tiny model over 30 one-token items (sku1..sku30), as the learned logit shifts need."""
    tokenizer = GenRecTokenizer.from_catalogue(items=[f"sku{n}" for n in range(1, 31)], users=["u"],
                                               independent_items=True, model_max_length=64)
    torch.manual_seed(0)
    model = GenRecForConditionalGeneration(GenRecConfig.from_preset(
        "small", tokenizer, **TINY, decoder_start_from_last_item=True, **overrides)).eval()
    return tokenizer, model


def ranked_as_forward_and_generate(model, tokenizer, histories):
    """The fast beam search's top 30 per history, checked against the forward pass's exact scores and the
    library's generate under the item trie."""
    from transformers import LogitsProcessorList

    batch = tokenizer.encode_histories(histories, users=["u", None], return_tensors="pt")
    results = recommend_batch(model, tokenizer, batch, top_k=30)
    trie = ItemTrie(tokenizer.item_token_ids, tokenizer.eos_token_id, len(tokenizer))
    full = model.generate(**batch, num_beams=30, num_return_sequences=30, return_dict_in_generate=True,
                          logits_processor=LogitsProcessorList([ItemTrieLogitsProcessor(trie)]))
    generated = tokenizer.decode_items(full.sequences, return_raw=False)
    for row, ranked in enumerate(results):
        exact = exact_item_scores(model, tokenizer, batch, row)
        assert [item for item, _ in ranked] == sorted(exact, key=exact.get, reverse=True)
        assert [score for _, score in ranked] == pytest.approx([exact[item] for item, _ in ranked], abs=1e-4)
        assert generated[row * 30:(row + 1) * 30] == [item for item, _ in ranked]
    return results


@pytest.mark.parametrize("bias", [4.0, -4.0])
def test_beam_search_ranks_by_the_forward_pass_with_the_learned_history_item_bias(bias):
    """The fast beam search and the library's generate apply history_item_bias as the forward pass does: a
    positive bias lifts the history's items to the top, a negative one sinks them."""
    tokenizer, model = one_token_items_model(history_item_bias=True)
    with torch.no_grad():
        model.history_logit_bias.fill_(bias)
    histories = [["sku1", "sku2", "sku3"], ["sku20"]]
    for row, ranked in enumerate(ranked_as_forward_and_generate(model, tokenizer, histories)):
        history = {tokenizer.item_to_id(item) for item in histories[row]}
        top = {item for item, _ in ranked[:len(history)]}
        assert (top == history) if bias > 0 else not (top & history)


def test_beam_search_ranks_by_the_forward_pass_with_the_learned_successor_item_bias():
    """The fast beam search and the library's generate apply successor_item_bias as the forward pass does: large
    shifts put the items after the history's highest id on top, in the order of their shifts."""
    tokenizer, model = one_token_items_model(history_item_bias=True, successor_item_bias=3)
    with torch.no_grad():
        model.successor_logit_bias.copy_(torch.tensor([30.0, 10.0, 20.0]))
    results = ranked_as_forward_and_generate(model, tokenizer, [["sku12", "sku3"], ["sku29"]])
    assert [item for item, _ in results[0][:3]] == [tokenizer.item_to_id(i) for i in ("sku13", "sku15", "sku14")]
    assert results[1][0][0] == tokenizer.item_to_id("sku30")  # the catalogue ends there: one successor only
