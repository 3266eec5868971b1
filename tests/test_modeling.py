"""GenRec models: ID embeddings (paper eq. 2), generation, save/load through the Auto classes, from_bart."""

from __future__ import annotations

import pytest
import torch
from transformers import (
    AutoConfig,
    AutoModel,
    AutoModelForSeq2SeqLM,
    AutoTokenizer,
    BartConfig,
    BartForConditionalGeneration,
    BartTokenizer,
)

from genrec_hf import (
    GenRecConfig,
    GenRecForConditionalGeneration,
    GenRecModel,
    GenRecTokenizer,
    check_compatible,
)

from .conftest import TINY


def encode(tokenizer, **kwargs):
    histories = [["B0001X", "B0002X", "B0030X"], ["B0100X", "B0007X"]]
    return tokenizer.encode_histories(histories, users=["alice", 42], return_tensors="pt", **kwargs)


def encoder_output(model, batch, **overrides):
    inputs = {k: batch[k] for k in ("input_ids", "attention_mask", "user_ids", "item_ids")}
    inputs.update(overrides)
    return model.get_encoder()(**inputs).last_hidden_state


def test_item_ids_change_the_encoder_output(model, tokenizer):
    batch = encode(tokenizer)
    shuffled = batch["item_ids"].clone()
    shuffled[shuffled > 0] = 55
    assert not torch.allclose(encoder_output(model, batch), encoder_output(model, batch, item_ids=shuffled))


def test_user_ids_change_the_encoder_output(model, tokenizer):
    batch = encode(tokenizer)
    other_user = batch["user_ids"].clone()
    other_user[other_user > 0] = 2
    assert not torch.allclose(encoder_output(model, batch), encoder_output(model, batch, user_ids=other_user))


def test_id_zero_contributes_nothing(model, tokenizer):
    batch = encode(tokenizer)
    zeros = torch.zeros_like(batch["item_ids"])
    without = encoder_output(model, batch, user_ids=None, item_ids=None)
    torch.testing.assert_close(encoder_output(model, batch, user_ids=zeros, item_ids=zeros), without)
    assert not model.model.encoder.embed_items.weight[0].any()


def test_encoder_input_is_the_sum_of_token_position_user_and_item_embeddings(model, tokenizer):
    batch = encode(tokenizer)
    encoder = model.model.encoder
    seen = {}
    handle = encoder.layernorm_embedding.register_forward_hook(lambda m, args, out: seen.setdefault("x", args[0]))
    encoder_output(model, batch)
    handle.remove()
    ids = batch["input_ids"]
    expected = (encoder.embed_tokens(ids) + encoder.embed_positions(ids) + encoder.embed_users(batch["user_ids"])
                + encoder.embed_items(batch["item_ids"]))
    torch.testing.assert_close(seen["x"], expected)


def test_decoder_shares_the_token_embeddings_and_has_no_id_tables(model):
    assert model.model.decoder.embed_tokens.weight is model.model.shared.weight
    assert model.model.encoder.embed_tokens.weight is model.model.shared.weight
    assert not any("embed_users" in n or "embed_items" in n for n, _ in model.model.decoder.named_parameters())


def test_generate_runs_the_encoder_once_and_never_feeds_ids_to_the_decoder(model, tokenizer):
    batch = encode(tokenizer)
    encoder_calls, decoder_kwargs = [], []
    h1 = model.model.encoder.register_forward_pre_hook(
        lambda m, args, kwargs: encoder_calls.append(set(kwargs)), with_kwargs=True)
    h2 = model.model.decoder.register_forward_pre_hook(
        lambda m, args, kwargs: decoder_kwargs.append(set(kwargs)), with_kwargs=True)
    prepared = []
    original = model.prepare_inputs_for_generation
    model.prepare_inputs_for_generation = lambda *args, **kwargs: prepared.append(set(kwargs)) or original(*args, **kwargs)
    try:
        model.generate(**batch)
    finally:
        h1.remove(), h2.remove()
        del model.prepare_inputs_for_generation
    assert len(encoder_calls) == 1 and {"user_ids", "item_ids"} <= encoder_calls[0]
    assert len(decoder_kwargs) >= 2  # one call per decoding step
    for keys in decoder_kwargs + prepared:
        assert not keys & {"user_ids", "item_ids"}


def test_twenty_beam_generation_returns_twenty_sequences_per_history(model, tokenizer):
    batch = encode(tokenizer)
    sequences = model.generate(**batch, num_beams=20, num_return_sequences=20)
    assert sequences.shape[0] == 2 * 20
    assert model.generation_config.num_beams == 20 and model.generation_config.num_return_sequences == 20
    assert model.generate(**batch).shape == sequences.shape  # the same by default


def test_generation_is_deterministic(model, tokenizer):
    batch = encode(tokenizer)
    assert torch.equal(model.generate(**batch), model.generate(**batch))


def test_training_loss_reaches_the_id_tables(model, tokenizer):
    model.train()
    batch = encode(tokenizer, targets=["B0004X", "B0008X"])
    model(**batch).loss.backward()
    assert model.model.encoder.embed_items.weight.grad[1].abs().sum() > 0
    assert model.model.encoder.embed_users.weight.grad[3].abs().sum() > 0
    assert model.model.encoder.embed_items.weight.grad[0].abs().sum() == 0  # row 0 stays zero


def test_out_of_range_ids_are_a_clear_error(model, tokenizer):
    batch = encode(tokenizer)
    batch["item_ids"][0, 4] = 121
    with pytest.raises(ValueError, match="item_ids contains 121"):
        model(**batch, decoder_input_ids=torch.tensor([[2], [2]]))


def test_presets_have_the_documented_sizes():
    base = GenRecConfig.from_preset("bart-base", num_users=10, num_items=10)
    assert (base.encoder_layers, base.decoder_layers, base.encoder_attention_heads, base.d_model) == (6, 6, 12, 768)
    small = GenRecConfig.from_preset("small")
    assert small.d_model < base.d_model
    with pytest.raises(ValueError, match="unknown preset"):
        GenRecConfig.from_preset("huge")


def test_config_rejects_unknown_policy():
    with pytest.raises(ValueError, match="unknown_id_policy"):
        GenRecConfig(unknown_id_policy="guess")


# --- save / load ----------------------------------------------------------------------------------
@pytest.fixture
def saved(model, tokenizer, tmp_path):
    model.save_pretrained(tmp_path)
    tokenizer.save_pretrained(tmp_path)
    return tmp_path


def test_saved_folder_is_safetensors_with_remote_code_and_full_auto_map(saved):
    files = {p.name for p in saved.iterdir()}
    assert "model.safetensors" in files and not any(f.endswith((".bin", ".pt")) for f in files)
    assert {"modeling_genrec.py", "configuration_genrec.py", "tokenization_genrec.py", "genrec_id_map.json"} <= files
    config = AutoConfig.from_pretrained(saved)
    assert config.auto_map == {
        "AutoConfig": "configuration_genrec.GenRecConfig",
        "AutoModel": "modeling_genrec.GenRecModel",
        "AutoModelForSeq2SeqLM": "modeling_genrec.GenRecForConditionalGeneration",
    }


def test_auto_classes_reload_identical_logits(model, tokenizer, saved):
    batch = encode(tokenizer, targets=["B0004X", "B0008X"])
    expected = model(**batch)
    reloaded = AutoModelForSeq2SeqLM.from_pretrained(saved).eval()
    assert type(reloaded) is GenRecForConditionalGeneration
    assert torch.equal(reloaded(**batch).logits, expected.logits)
    bare = AutoModel.from_pretrained(saved).eval()
    assert type(bare) is GenRecModel
    labels = batch.pop("labels")
    decoder_input_ids = model.prepare_decoder_input_ids_from_labels(labels.clamp(min=1))
    assert torch.equal(bare(**batch, decoder_input_ids=decoder_input_ids).last_hidden_state,
                       model.model(**batch, decoder_input_ids=decoder_input_ids).last_hidden_state)
    assert type(AutoConfig.from_pretrained(saved)) is GenRecConfig
    loaded_tokenizer = AutoTokenizer.from_pretrained(saved)
    assert type(loaded_tokenizer) is GenRecTokenizer
    assert loaded_tokenizer.items.raw_ids == tokenizer.items.raw_ids
    assert torch.equal(reloaded.generate(**batch), model.generate(**batch))


def test_mismatched_tokenizer_and_model_are_a_clear_error(model):
    other = GenRecTokenizer.from_catalogue(items=[f"x{n}" for n in range(99)], users=["alice", "bob", 42])
    with pytest.raises(ValueError, match="the model has 120 items, the tokenizer 99"):
        check_compatible(model, other)


# --- from_bart ------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def tiny_bart(tmp_path_factory):
    """A tiny BART checkpoint with a byte-level BPE tokenizer, trained here: nothing is downloaded."""
    import json

    from tokenizers import ByteLevelBPETokenizer

    folder = tmp_path_factory.mktemp("tiny-bart")
    corpus = [f"user_{u} " + " ".join(f"item_{(u * 7 + k * 13) % 997}" for k in range(8)) for u in range(300)]
    bpe = ByteLevelBPETokenizer()
    bpe.train_from_iterator(corpus, vocab_size=400, special_tokens=["<s>", "<pad>", "</s>", "<unk>", "<mask>"])
    model_json = json.loads(bpe._tokenizer.to_str())["model"]
    merges = [tuple(m) if isinstance(m, list) else tuple(m.split(" ")) for m in model_json["merges"]]
    BartTokenizer(vocab=model_json["vocab"], merges=merges).save_pretrained(folder)
    torch.manual_seed(1)
    config = BartConfig(vocab_size=len(model_json["vocab"]), **{k: v for k, v in TINY.items()})
    BartForConditionalGeneration(config).save_pretrained(folder)
    return folder


def test_from_bart_keeps_the_bart_weights_and_adds_fresh_id_tables(tiny_bart):
    bart_tokenizer = AutoTokenizer.from_pretrained(tiny_bart)
    tokenizer = GenRecTokenizer.from_bart_tokenizer(bart_tokenizer, items=[f"p{n}" for n in range(50)], users=["u"],
                                                   model_max_length=64)
    model = GenRecForConditionalGeneration.from_bart(str(tiny_bart), tokenizer)
    bart = BartForConditionalGeneration.from_pretrained(tiny_bart)
    bart_state, state = bart.state_dict(), model.state_dict()
    assert set(state) - set(bart_state) == {"model.encoder.embed_users.weight", "model.encoder.embed_items.weight"}
    for name, tensor in bart_state.items():
        assert torch.equal(state[name], tensor), name
    assert model.model.encoder.embed_items.weight.shape == (51, TINY["d_model"])
    assert model.model.encoder.embed_users.weight.shape == (2, TINY["d_model"])
    assert model.lm_head.weight is model.model.shared.weight
    check_compatible(model, tokenizer)
    batch = tokenizer.encode_histories([["p1", "p2"]], users=["u"], return_tensors="pt")
    assert model.generate(**batch).shape[0] == 20


def test_bart_derived_tokenizer_tokenizes_a_word_alike_everywhere(tiny_bart):
    tokenizer = GenRecTokenizer.from_bart_tokenizer(AutoTokenizer.from_pretrained(tiny_bart), items=range(1, 60))
    batch = tokenizer.encode_histories([[3, 45]])
    assert tokenizer("item_3 item_45<mask>")["input_ids"] == batch["input_ids"][0]
    assert tokenizer.decode_items(tokenizer.item_labels(list(range(1, 60)))) == list(range(1, 60))


def test_preset_refuses_a_tokenizer_longer_than_the_model_positions(tokenizer):
    with pytest.raises(ValueError, match="model_max_length 64 exceeds the model's max_position_embeddings 32"):
        GenRecConfig.from_preset("small", tokenizer, **{**TINY, "max_position_embeddings": 32})


def test_too_long_input_is_a_clear_error(model):
    with pytest.raises(ValueError, match="the input has 65 tokens, the model at most max_position_embeddings=64"):
        model(input_ids=torch.ones(1, 65, dtype=torch.long), decoder_input_ids=torch.tensor([[2]]))


def test_loss_is_normalised_by_the_trainers_item_count(model, tokenizer):
    batch = encode(tokenizer, targets=["B0004X", "B0100X"])
    mean = model(**batch).loss
    tokens = int((batch["labels"] != -100).sum())
    torch.testing.assert_close(model(**batch, num_items_in_batch=tokens).loss, mean)
    torch.testing.assert_close(model(**batch, num_items_in_batch=2 * tokens).loss, mean / 2)
    assert GenRecForConditionalGeneration.accepts_loss_kwargs


def test_config_rejects_negative_catalogue_sizes():
    with pytest.raises(ValueError, match="num_items must be >= 0"):
        GenRecConfig(num_items=-1)


def test_without_item_id_embedding_the_encoder_input_is_token_position_and_user(tokenizer):
    model = GenRecForConditionalGeneration(
        GenRecConfig.from_preset("small", tokenizer, **TINY, item_id_embedding=False)).eval()
    encoder = model.model.encoder
    assert encoder.embed_items is None
    assert not any("embed_items" in name for name, _ in model.named_parameters())
    batch = encode(tokenizer)
    seen = {}
    handle = encoder.layernorm_embedding.register_forward_hook(lambda m, args, out: seen.update(x=args[0]))
    with_item_ids = encoder_output(model, batch)
    handle.remove()
    ids = batch["input_ids"]
    torch.testing.assert_close(seen["x"], encoder.embed_tokens(ids) + encoder.embed_positions(ids)
                               + encoder.embed_users(batch["user_ids"]))
    torch.testing.assert_close(encoder_output(model, batch, item_ids=None), with_item_ids)


def test_a_model_without_item_id_embedding_reloads_without_one(tokenizer, tmp_path):
    model = GenRecForConditionalGeneration(
        GenRecConfig.from_preset("small", tokenizer, **TINY, item_id_embedding=False)).eval()
    model.save_pretrained(tmp_path)
    reloaded = AutoModelForSeq2SeqLM.from_pretrained(tmp_path).eval()
    assert reloaded.config.item_id_embedding is False and reloaded.model.encoder.embed_items is None
    batch = encode(tokenizer, targets=["B0004X", "B0008X"])
    assert torch.equal(reloaded(**batch).logits, model(**batch).logits)


def test_config_rejects_a_non_boolean_item_id_embedding():
    with pytest.raises(ValueError, match="item_id_embedding must be True or False, got 'no'"):
        GenRecConfig(num_items=5, item_id_embedding="no")


def from_end_model(tokenizer, positions_from_end=True):
    torch.manual_seed(0)
    return GenRecForConditionalGeneration(
        GenRecConfig.from_preset("small", tokenizer, **TINY, positions_from_end=positions_from_end)).eval()


def test_positions_from_end_read_the_position_table_backwards(tokenizer):
    from_end = from_end_model(tokenizer)
    from_start = from_end_model(tokenizer, positions_from_end=False)
    from_start.load_state_dict(from_end.state_dict())
    batch = tokenizer.encode_histories([["B0001X", "B0002X", "B0030X"]], users=["alice"], return_tensors="pt")
    length = batch["input_ids"].shape[1]
    table = from_start.model.encoder.embed_positions
    with torch.no_grad():  # row j of the from-start model := row length-1-j of the from-end one
        table.weight[table.offset:table.offset + length] = table.weight[table.offset:table.offset + length].flip(0)
    torch.testing.assert_close(encoder_output(from_end, batch), encoder_output(from_start, batch))
    assert not torch.allclose(encoder_output(from_end, batch), encoder_output(from_end_model(tokenizer, False), batch))


def left_padded(batch):
    """The same batch with its padding moved to the left of each row."""
    shifted = {}
    for key, value in batch.items():
        rows = []
        for row, mask in zip(value, batch["attention_mask"]):
            n = int(mask.sum())
            rows.append(torch.cat([row[n:], row[:n]]))
        shifted[key] = torch.stack(rows)
    return shifted


@pytest.mark.parametrize("positions_from_end", [True, False])
def test_with_positions_from_end_left_padding_encodes_as_right_padding(tokenizer, positions_from_end):
    model = from_end_model(tokenizer, positions_from_end)
    right = encode(tokenizer)
    left = left_padded(right)
    short = int(right["attention_mask"][1].sum())  # the second history is the shorter one
    same = torch.allclose(encoder_output(model, right)[1, :short], encoder_output(model, left)[1, -short:], atol=1e-5)
    assert same == positions_from_end
    torch.testing.assert_close(encoder_output(model, right)[0], encoder_output(model, left)[0])  # no padding


def test_a_model_with_positions_from_end_reloads_with_them(tokenizer, tmp_path):
    model = from_end_model(tokenizer)
    model.save_pretrained(tmp_path)
    reloaded = AutoModelForSeq2SeqLM.from_pretrained(tmp_path).eval()
    assert reloaded.config.positions_from_end is True
    batch = encode(tokenizer, targets=["B0004X", "B0008X"])
    assert torch.equal(reloaded(**batch).logits, model(**batch).logits)


def test_config_rejects_a_non_boolean_positions_from_end():
    with pytest.raises(ValueError, match="positions_from_end must be True or False, got 1"):
        GenRecConfig(num_items=5, positions_from_end=1)


def mask_start_model(tokenizer, decoder_start_from_mask=True):
    torch.manual_seed(0)
    return GenRecForConditionalGeneration(GenRecConfig.from_preset(
        "small", tokenizer, **TINY, decoder_start_from_mask=decoder_start_from_mask)).eval()


def test_decoder_start_from_mask_adds_the_mask_state_to_the_start_token_only(tokenizer):
    """The same weights without the option, fed start embedding + [MASK] state by hand, give the same logits."""
    model = mask_start_model(tokenizer)
    plain = mask_start_model(tokenizer, decoder_start_from_mask=False)
    plain.load_state_dict(model.state_dict())
    batch = encode(tokenizer, targets=["B0004X", "B0008X"])
    states = encoder_output(model, batch)
    mask_state = states[batch["input_ids"] == tokenizer.mask_token_id]
    decoder_input_ids = model.prepare_decoder_input_ids_from_labels(batch["labels"])
    embeds = plain.get_decoder().embed_tokens(decoder_input_ids)
    embeds[:, 0] += mask_state
    inputs = {k: v for k, v in batch.items() if k != "labels"}
    by_hand = plain(**inputs, decoder_inputs_embeds=embeds).logits
    torch.testing.assert_close(model(**batch).logits, by_hand)
    assert not torch.allclose(model(**batch).logits, plain(**batch).logits)


def test_decoder_start_from_mask_reads_the_mask_where_the_cloze_puts_it(tokenizer):
    from genrec_hf import ClozeCollator

    model = mask_start_model(tokenizer)
    batch = ClozeCollator(tokenizer, seed=0)([{"user": "alice", "items": ["B0001X", "B0002X", "B0030X", "B0007X"]}])
    position = int((batch["input_ids"][0] == tokenizer.mask_token_id).nonzero())
    assert position < int(batch["attention_mask"][0].sum()) - 2  # not the last item: a cloze in the middle
    output = model.get_encoder()(**{k: batch[k] for k in ("input_ids", "attention_mask", "user_ids", "item_ids")})
    torch.testing.assert_close(output.start_state, output.last_hidden_state[:, position])
    assert torch.isfinite(model(**batch).loss)


def start_model(tokenizer, **starts):
    torch.manual_seed(0)
    return GenRecForConditionalGeneration(GenRecConfig.from_preset("small", tokenizer, **TINY, **starts)).eval()


@pytest.mark.parametrize("starts, offsets", [
    ({"decoder_start_from_last_item": True}, [-1]),
    ({"decoder_start_from_mask": True, "decoder_start_from_last_item": True}, [0, -1]),
])
def test_decoder_start_from_last_item_adds_the_state_before_the_mask(tokenizer, starts, offsets):
    """By hand: the start embedding plus the encoder state at the last item's token (and at the [MASK])."""
    model = start_model(tokenizer, **starts)
    plain = start_model(tokenizer)
    plain.load_state_dict(model.state_dict())
    batch = encode(tokenizer, targets=["B0004X", "B0008X"])
    states = encoder_output(model, batch)
    mask_at = (batch["input_ids"] == tokenizer.mask_token_id).long().argmax(1)
    rows = torch.arange(len(mask_at))
    last_item_tokens = batch["input_ids"][rows, mask_at - 1]
    assert last_item_tokens.tolist() == [tokenizer.item_token_ids[30][-1], tokenizer.item_token_ids[7][-1]]
    decoder_input_ids = model.prepare_decoder_input_ids_from_labels(batch["labels"])
    embeds = plain.get_decoder().embed_tokens(decoder_input_ids)
    for offset in offsets:
        embeds[:, 0] += states[rows, mask_at + offset]
    inputs = {k: v for k, v in batch.items() if k != "labels"}
    torch.testing.assert_close(model(**batch).logits, plain(**inputs, decoder_inputs_embeds=embeds).logits)


def test_decoder_start_from_last_item_refuses_a_mask_with_no_token_before_it(tokenizer):
    model = start_model(tokenizer, decoder_start_from_last_item=True)
    input_ids = torch.tensor([[tokenizer.mask_token_id, tokenizer.eos_token_id]])
    with pytest.raises(ValueError, match="row 0 of input_ids has no token -1 from its \\[MASK\\]"):
        model.get_encoder()(input_ids=input_ids, attention_mask=torch.ones_like(input_ids))


def test_decoder_start_from_last_item_needs_the_mask_token_id():
    with pytest.raises(ValueError, match="decoder_start_from_last_item finds the \\[MASK\\]"):
        GenRecConfig(num_items=5, decoder_start_from_last_item=True)


def test_decoder_start_from_mask_refuses_an_input_without_a_mask(tokenizer):
    model = mask_start_model(tokenizer)
    batch = encode(tokenizer, append_mask=False)
    with pytest.raises(ValueError, match="row 0 of input_ids has 0: every input needs exactly one"):
        model.generate(**batch)


def test_decoder_start_from_mask_needs_the_mask_token_id():
    with pytest.raises(ValueError, match="set mask_token_id too"):
        GenRecConfig(num_items=5, decoder_start_from_mask=True)


def test_a_model_started_from_the_mask_reloads_with_it(tokenizer, tmp_path):
    model = mask_start_model(tokenizer)
    model.save_pretrained(tmp_path)
    reloaded = AutoModelForSeq2SeqLM.from_pretrained(tmp_path).eval()
    assert reloaded.config.decoder_start_from_mask is True
    assert reloaded.config.mask_token_id == tokenizer.mask_token_id
    batch = encode(tokenizer, targets=["B0004X", "B0008X"])
    assert torch.equal(reloaded(**batch).logits, model(**batch).logits)


def test_a_tokenizer_with_another_mask_id_does_not_fit_a_model_started_from_the_mask(tokenizer):
    config = GenRecConfig.from_preset("small", tokenizer, **TINY, decoder_start_from_mask=True)
    config.mask_token_id = tokenizer.mask_token_id + 1
    with pytest.raises(ValueError, match="mask_token_id: model"):
        tokenizer.check_model_config(config)


def test_the_bare_model_started_from_the_mask_decodes_the_shifted_input_by_default(tokenizer):
    from transformers.models.bart.modeling_bart import shift_tokens_right

    torch.manual_seed(0)
    model = GenRecModel(GenRecConfig.from_preset("small", tokenizer, **TINY, decoder_start_from_mask=True)).eval()
    batch = {k: v for k, v in encode(tokenizer).items() if k != "labels"}
    shifted = shift_tokens_right(batch["input_ids"], tokenizer.pad_token_id, model.config.decoder_start_token_id)
    torch.testing.assert_close(model(**batch).last_hidden_state,
                               model(**batch, decoder_input_ids=shifted).last_hidden_state)


def history_bias_model(bias=None, **overrides):
    """A tiny model whose items are one token each (what history_item_bias needs), its bias set to ``bias``."""
    tokenizer = GenRecTokenizer.from_catalogue(items=[f"sku{n}" for n in range(1, 31)], users=["u"],
                                               independent_items=True, model_max_length=64)
    torch.manual_seed(0)
    model = GenRecForConditionalGeneration(GenRecConfig.from_preset("small", tokenizer, **TINY, **overrides)).eval()
    if bias is not None:
        with torch.no_grad():
            model.history_logit_bias.fill_(bias)
    return tokenizer, model


def test_history_item_bias_shifts_the_first_step_logits_of_the_history_items_only():
    tokenizer, model = history_bias_model(2.5, history_item_bias=True)
    _, plain = history_bias_model()
    plain.load_state_dict({k: v for k, v in model.state_dict().items() if k != "history_logit_bias"})
    batch = tokenizer.encode_histories([["sku1", "sku2", "sku3"], ["sku7"]], users=["u", None], targets=["sku4", "sku9"],
                                       return_tensors="pt")
    shift = model(**batch).logits - plain(**batch).logits
    expected = torch.zeros_like(shift[:, 0])
    for row, items in enumerate([["sku1", "sku2", "sku3"], ["sku7"]]):
        expected[row, [tokenizer.item_token_ids[tokenizer.item_to_id(i)][0] for i in items]] = 2.5
    torch.testing.assert_close(shift[:, 0], expected)  # not the user, the [MASK] nor the special tokens
    assert torch.equal(shift[:, 1:], torch.zeros_like(shift[:, 1:]))  # later steps ([END]) untouched


def test_history_item_bias_is_learned_and_saved(tmp_path):
    tokenizer, model = history_bias_model(history_item_bias=True)
    batch = tokenizer.encode_histories([["sku1", "sku2"]], targets=["sku2"], return_tensors="pt")
    model(**batch).loss.backward()
    assert model.history_logit_bias.grad.item() < 0  # the target repeats a history item: the bias should rise
    with torch.no_grad():
        model.history_logit_bias.fill_(-1.25)
    model.save_pretrained(tmp_path)
    reloaded = AutoModelForSeq2SeqLM.from_pretrained(tmp_path)
    assert reloaded.config.history_item_bias is True and reloaded.history_logit_bias.item() == -1.25


def test_history_item_bias_needs_one_token_per_item_and_the_item_ids(tokenizer):
    with pytest.raises(ValueError, match="history_item_bias needs one token per item .*independent_items=True"):
        GenRecConfig.from_preset("small", tokenizer, **TINY, history_item_bias=True)
    one_token, model = history_bias_model(history_item_bias=True)
    batch = one_token.encode_histories([["sku1"]], targets=["sku2"], return_tensors="pt")
    del batch["item_ids"]
    with pytest.raises(ValueError, match="history_item_bias finds the history's items by their item_ids"):
        model(**batch)


def test_successor_item_bias_shifts_the_items_numbered_after_the_historys_highest_id():
    """Item k after the highest id in the history (not the last one read) gets the k-th bias; ids past the
    catalogue's end get nothing, and nor does anything else."""
    tokenizer, model = history_bias_model(successor_item_bias=3)
    _, plain = history_bias_model()
    plain.load_state_dict({k: v for k, v in model.state_dict().items() if k != "successor_logit_bias"})
    with torch.no_grad():
        model.successor_logit_bias.copy_(torch.tensor([3.0, 2.0, 1.0]))
    histories = [["sku9", "sku12", "sku4"], ["sku29"]]
    batch = tokenizer.encode_histories(histories, users=["u", None], targets=["sku13", "sku30"], return_tensors="pt")
    shift = model(**batch).logits - plain(**batch).logits
    expected = torch.zeros_like(shift[:, 0])
    for row, shifted in enumerate([{"sku13": 3.0, "sku14": 2.0, "sku15": 1.0}, {"sku30": 3.0}]):
        for item, value in shifted.items():
            expected[row, tokenizer.item_token_ids[tokenizer.item_to_id(item)][0]] = value
    torch.testing.assert_close(shift[:, 0], expected)
    assert torch.equal(shift[:, 1:], torch.zeros_like(shift[:, 1:]))


def test_successor_item_bias_is_learned_and_saved_beside_the_history_item_bias(tmp_path):
    tokenizer, model = history_bias_model(history_item_bias=True, successor_item_bias=2)
    batch = tokenizer.encode_histories([["sku3", "sku5"]], targets=["sku6"], return_tensors="pt")
    model(**batch).loss.backward()
    first, second = model.successor_logit_bias.grad.tolist()
    assert first < 0 < second  # the target is max(history)+1: its bias should rise, the +2 one's fall
    with torch.no_grad():
        model.successor_logit_bias.copy_(torch.tensor([1.5, -0.5]))
    model.save_pretrained(tmp_path)
    reloaded = AutoModelForSeq2SeqLM.from_pretrained(tmp_path)
    assert reloaded.config.successor_item_bias == 2
    assert reloaded.successor_logit_bias.tolist() == [1.5, -0.5]


def test_successor_item_bias_needs_one_token_per_item_a_count_and_the_item_ids(tokenizer):
    with pytest.raises(ValueError, match="successor_item_bias needs one token per item"):
        GenRecConfig.from_preset("small", tokenizer, **TINY, successor_item_bias=2)
    with pytest.raises(ValueError, match="successor_item_bias must be an int >= 0"):
        history_bias_model(successor_item_bias=True)
    one_token, model = history_bias_model(successor_item_bias=2)
    batch = one_token.encode_histories([["sku1"]], targets=["sku2"], return_tensors="pt")
    del batch["item_ids"]
    with pytest.raises(ValueError, match="successor_item_bias finds the history's highest item id in item_ids"):
        model(**batch)
