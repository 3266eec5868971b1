"""GenRecTrainer, the ranking metric as an evaluate module, and the end-to-end train/evaluate commands."""

from __future__ import annotations

import json
import logging

import evaluate
import pytest
import torch
from datasets import Dataset
from transformers import Seq2SeqTrainingArguments, pipeline

from genrec_hf import GenRecConfig, ranking_metrics
from genrec_hf.cli import main
from genrec_hf.metrics import RANKING_METRIC_PATH
from genrec_hf.synthetic import synthetic_interactions
from genrec_hf.trainer import EpochSeededLengthSampler, GenRecTrainer
from genrec_hf.training import TrainOptions, train_genrec

from .conftest import TINY


def test_the_evaluate_module_gives_the_hand_computed_values():
    metric = evaluate.load(RANKING_METRIC_PATH)
    got = metric.compute(predictions=[[3, 1, 2], [5, 6, 7], [9, 8, 4]], references=[1, 7, 4], ks=[1, 2, 3])
    # ranks 2, 3, 3: NDCG = 1 / log2(rank + 1)
    assert got["hr@1"] == 0.0 and got["hr@2"] == pytest.approx(1 / 3) and got["hr@3"] == 1.0
    assert got["ndcg@2"] == pytest.approx((1 / 1.584962500721156) / 3)
    assert got["ndcg@3"] == pytest.approx((1 / 1.584962500721156 + 0.5 + 0.5) / 3)
    assert metric.compute(predictions=[["a", "b"]], references=["b"], ks=[2]) == ranking_metrics([["a", "b"]], ["b"],
                                                                                                 ks=(2,))


def test_trainer_needs_a_genrec_tokenizer(model, tmp_path):
    with pytest.raises(ValueError, match="processing_class=<a GenRecTokenizer>"):
        GenRecTrainer(model=model, args=Seq2SeqTrainingArguments(output_dir=str(tmp_path), report_to=[]))


def test_trainer_refuses_a_mismatched_tokenizer(model, tmp_path):
    from genrec_hf import GenRecTokenizer

    other = GenRecTokenizer.from_catalogue(items=range(1, 50), users=["alice", "bob", 42], model_max_length=64)
    with pytest.raises(ValueError, match="the model has 120 items, the tokenizer 49"):
        GenRecTrainer(model=model, args=Seq2SeqTrainingArguments(output_dir=str(tmp_path), report_to=[]),
                      processing_class=other)


def test_evaluation_set_needs_history_and_target(model, tokenizer, tmp_path):
    trainer = GenRecTrainer(model=model, args=Seq2SeqTrainingArguments(output_dir=str(tmp_path), report_to=[]),
                            processing_class=tokenizer)
    with pytest.raises(ValueError, match=r"lacks column\(s\) \['target'\]"):
        trainer.evaluate(Dataset.from_dict({"user": ["alice"], "history": [["B0001X"]]}))


def test_evaluation_scores_every_user_once_in_input_order(model, tokenizer, tmp_path):
    rows = Dataset.from_dict({"user": ["alice", None, "bob"], "history": [["B0001X"], ["B0002X", "B0003X"], ["B0009X"]],
                              "target": ["B0002X", "B0004X", "B0010X"]})
    trainer = GenRecTrainer(model=model, args=Seq2SeqTrainingArguments(output_dir=str(tmp_path), report_to=[]),
                            processing_class=tokenizer, eval_batch_size=2)
    metrics = trainer.evaluate(rows)
    assert metrics["eval_users"] == 3
    assert set(metrics) >= {"eval_hr@1", "eval_hr@5", "eval_hr@10", "eval_hr@20", "eval_ndcg@5", "eval_ndcg@10",
                            "eval_ndcg@20"}


def test_excluding_history_forbids_items_older_than_the_token_window(model, tokenizer):
    from genrec_hf.trainer import recommend_rows

    history = [f"B{n:04d}X" for n in range(1, 41)]  # 40 items: far more than 16 tokens hold
    assert len(set(tokenizer.encode_histories([history], max_length=16)["item_ids"][0]) - {0}) < 40
    # every item but the 40 of the history: the 80 best are exactly the others only if all 40 are excluded
    ranked = recommend_rows(model, tokenizer, [None], [history], top_k=80, max_length=16, exclude_history=True,
                            progress=False)[0]
    assert len(ranked) == 80
    assert not {item for item, _ in ranked} & {tokenizer.item_to_id(item) for item in history}


def test_a_run_reports_scores_with_the_history_excluded_beside_the_headline(trained_run):
    _, results = trained_run
    for split in ("validation", "test"):
        excluded = results["history_excluded"][split]
        assert excluded["users"] == results[split]["users"] == 40
        assert set(excluded) == set(results[split])


def test_end_to_end_run_writes_checkpoint_metrics_and_curves(trained_run):
    output, results = trained_run
    assert (output / "checkpoint" / "model.safetensors").exists()
    assert (output / "training_curves.png").stat().st_size > 10_000
    saved = json.loads((output / "metrics.json").read_text())
    assert saved["test"]["users"] == 40 and saved["validation"]["users"] == 40
    assert set(saved["baselines"]) == {"max_history_plus_k", "most_popular"}
    assert saved["data"]["ids"] == "random"
    assert {"setup_s", "pretrain_s", "finetune_s", "evaluate_s", "total_s"} <= set(saved["timings"])
    assert saved["versions"]["transformers"] and saved["machine"]["cpus"]
    assert any("loss" in log for log in saved["history"]["finetune"])


def test_model_selection_never_looks_at_the_test_split(trained_run):
    _, results = trained_run
    for stage in ("pretrain", "finetune"):
        logged = {key for log in results["history"][stage] for key in log}
        assert "eval_hr@10" in logged and not any(key.startswith("test_") for key in logged)
        assert {log["eval_users"] for log in results["history"][stage] if "eval_users" in log} == {10}


def test_every_validation_log_carries_the_wall_time_since_its_stage_began(trained_run):
    _, results = trained_run
    for stage in ("pretrain", "finetune"):
        elapsed = [log["elapsed_s"] for log in results["history"][stage] if "eval_ndcg@10" in log]
        assert elapsed and elapsed == sorted(elapsed) and elapsed[0] > 0
        assert elapsed[-1] <= results["timings"][f"{stage}_s"]


def test_evaluate_command_rescores_the_checkpoint(trained_run, tmp_path, monkeypatch, capsys):
    output, results = trained_run
    import genrec_hf.synthetic as synthetic_module

    sequences = synthetic_interactions(num_users=40, num_items=30, num_topics=3, seed=0)

    monkeypatch.setattr(synthetic_module, "synthetic_interactions", lambda seed: sequences)
    target = tmp_path / "rescored.json"
    assert main(["evaluate", str(output / "checkpoint"), "--data", "synthetic", "--output", str(target)]) == 0
    rescored = json.loads(target.read_text())["test"]
    for key in ("hr@5", "hr@10", "ndcg@10"):
        assert rescored[key] == pytest.approx(results["test"][key])


def test_evaluate_command_scores_several_checkpoints_as_one_ensemble(trained_run, tmp_path, monkeypatch):
    output, results = trained_run
    import genrec_hf.synthetic as synthetic_module

    sequences = synthetic_interactions(num_users=40, num_items=30, num_topics=3, seed=0)
    monkeypatch.setattr(synthetic_module, "synthetic_interactions", lambda seed: sequences)
    target = tmp_path / "ensemble.json"
    checkpoint = str(output / "checkpoint")
    # a model beside itself: the mean of equal probabilities is the model's own ranking (same beam width)
    assert main(["evaluate", checkpoint, checkpoint, "--data", "synthetic", "--candidates", "20",
                 "--output", str(target)]) == 0
    ensemble = json.loads(target.read_text())
    assert ensemble["checkpoints"] == [checkpoint, checkpoint] and ensemble["test"]["users"] == 40
    for key in ("hr@5", "hr@10", "ndcg@10"):
        assert ensemble["test"][key] == pytest.approx(results["test"][key])


def test_evaluate_command_refuses_candidates_for_one_checkpoint(trained_run, capsys):
    output, _ = trained_run
    with pytest.raises(SystemExit):
        main(["evaluate", str(output / "checkpoint"), "--data", "synthetic", "--candidates", "50"])
    assert "pass several checkpoints" in capsys.readouterr().err


def test_evaluate_command_rejects_a_checkpoint_of_another_data_set(trained_run, capsys):
    output, _ = trained_run
    assert main(["evaluate", str(output / "checkpoint"), "--data", "synthetic"]) == 2
    assert "does not know" in capsys.readouterr().err


def test_train_command_reports_bad_data_without_a_traceback(tmp_path, capsys):
    (tmp_path / "sequential_data.txt").write_text("1 1 2 x\n")
    assert main(["train", "--data", str(tmp_path), "--output", str(tmp_path / "run")]) == 2
    assert "sequential_data.txt:1: 'x' is not an integer id" in capsys.readouterr().err


def test_fine_tuning_that_never_beats_the_pretrained_model_is_not_kept(tiny_data, tmp_path):
    options = TrainOptions(pretrain_epochs=3, finetune_epochs=1, batch_size=16, max_length=64, eval_users=40,
                           threads=1, learning_rate=3e-3, finetune_learning_rate=1000.0,  # fine-tuning explodes
                           config_overrides=dict(TINY))
    results = train_genrec(tiny_data, tmp_path, options)
    pretrained = [log["eval_ndcg@10"] for log in results["history"]["pretrain"] if "eval_ndcg@10" in log][-1]
    finetuned = [log["eval_ndcg@10"] for log in results["history"]["finetune"] if "eval_ndcg@10" in log]
    assert max(finetuned) < pretrained
    assert results["selected_model"]["stage"] == "pretrain"


def test_selected_model_names_the_fine_tuning_checkpoint_when_it_wins(trained_run):
    _, results = trained_run
    assert results["selected_model"]["stage"] in ("pretrain", "finetune")
    if results["selected_model"]["stage"] == "finetune":
        assert "checkpoint-" in results["selected_model"]["checkpoint"]


def test_an_item_only_run_gives_no_user_to_the_model(tiny_data, tmp_path):
    from genrec_hf import GenRecTokenizer
    from genrec_hf.hub import model_card

    options = TrainOptions(pretrain_epochs=1, finetune_epochs=1, batch_size=16, max_length=64, eval_users=10,
                           threads=1, users=False, config_overrides=dict(TINY))
    results = train_genrec(tiny_data, tmp_path, options)
    tokenizer = GenRecTokenizer.from_pretrained(tmp_path / "checkpoint")
    assert tokenizer.num_users == 0 and results["model"]["config"]["num_users"] == 0
    assert results["options"]["users"] is False and results["test"]["users"] == len(tiny_data.splits["test"])
    recommend = pipeline("genrec", model=str(tmp_path / "checkpoint"))
    history = tiny_data.splits["test"]["history"][0]
    alone = recommend(history, top_k=5)
    assert len(alone) == 5
    # a user given anyway is unknown to this model: it recommends from the history alone (and warns)
    assert recommend({"user": tiny_data.splits["test"]["user"][0], "history": history}, top_k=5) == alone
    card = model_card(tmp_path, "org/genrec-items-only").content
    assert "item-only model" in card and '"user":' not in card


def test_an_item_only_checkpoint_is_rescored_on_data_that_names_users(tiny_data, tmp_path):
    from genrec_hf.training import evaluate_checkpoint

    options = TrainOptions(pretrain_epochs=0, finetune_epochs=1, batch_size=16, max_length=64, eval_users=10,
                           threads=1, users=False, config_overrides=dict(TINY))
    results = train_genrec(tiny_data, tmp_path, options)
    assert "user" in tiny_data.splits["test"].column_names
    rescored = evaluate_checkpoint(tmp_path / "checkpoint", tiny_data, splits=("test",))
    assert rescored["test"]["ndcg@10"] == pytest.approx(results["test"]["ndcg@10"])


@pytest.mark.parametrize("flag", ["--dropout", "--attention-dropout"])
def test_dropout_out_of_range_is_refused_before_any_work(tmp_path, capsys, flag):
    assert main(["train", "--data", "synthetic", "--output", str(tmp_path / "run"), flag, "1.5"]) == 2
    assert f"genrec-hf train: error: {flag} must be in [0, 1), got 1.5" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


def test_dropout_flag_reaches_the_model_config():
    import argparse

    from genrec_hf.cli import _config_overrides

    assert _config_overrides(argparse.Namespace(label_smoothing=0.1, dropout=0.3)) == {"label_smoothing": 0.1,
                                                                                      "dropout": 0.3}
    assert _config_overrides(argparse.Namespace(label_smoothing=0.0, dropout=None)) == {"label_smoothing": 0.0}


def test_attention_dropout_flag_reaches_the_model_config():
    import argparse

    from genrec_hf.cli import _config_overrides

    overrides = _config_overrides(argparse.Namespace(label_smoothing=0.0, dropout=0.3, attention_dropout=0.2))
    assert overrides == {"label_smoothing": 0.0, "dropout": 0.3, "attention_dropout": 0.2}
    config = GenRecConfig.from_preset("small", num_items=10, vocab_size=30, **overrides)
    assert (config.dropout, config.attention_dropout) == (0.3, 0.2)


def test_size_flags_set_width_feed_forward_and_depth_of_the_model():
    import argparse

    from genrec_hf.cli import _config_overrides

    args = argparse.Namespace(label_smoothing=0.0, dropout=None, preset="small", d_model=64, layers=3)
    overrides = _config_overrides(args)
    assert overrides == {"label_smoothing": 0.0, "d_model": 64, "encoder_ffn_dim": 256, "decoder_ffn_dim": 256,
                         "encoder_layers": 3, "decoder_layers": 3}
    config = GenRecConfig.from_preset("small", num_items=10, vocab_size=30, **overrides)
    assert (config.d_model, config.encoder_ffn_dim, config.encoder_layers, config.decoder_layers) == (64, 256, 3, 3)


@pytest.mark.parametrize("flags, message", [
    (["--d-model", "66"], "--d-model must be a positive multiple of the small preset's 4 attention heads, got 66"),
    (["--layers", "0"], "--layers must be positive, got 0"),
])
def test_impossible_model_size_is_refused_before_any_work(tmp_path, capsys, flags, message):
    assert main(["train", "--data", "synthetic", "--output", str(tmp_path / "run"), *flags]) == 2
    assert f"genrec-hf train: error: {message}" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("item_codes", ["collaborative", "independent"])
def test_training_end_to_end_with_each_item_spelling(tiny_data, tmp_path, item_codes):
    from genrec_hf.training import TrainOptions, train_genrec

    from .conftest import TINY

    options = TrainOptions(pretrain_epochs=1, finetune_epochs=1, batch_size=16, max_length=64, eval_users=10,
                           threads=1, item_codes=item_codes, config_overrides=dict(TINY))
    results = train_genrec(tiny_data, tmp_path, options)
    assert results["test"]["users"] == 40 and results["options"]["item_codes"] == item_codes
    rec = pipeline("genrec", model=str(tmp_path / "checkpoint"))
    history = tiny_data.splits["test"][0]["history"]
    out = rec(history, top_k=5)
    assert len({r["item"] for r in out}) == 5 and not {r["item"] for r in out} & set(history)


def test_no_item_id_embedding_flag_reaches_the_model_config():
    import argparse

    from genrec_hf.cli import _config_overrides

    args = argparse.Namespace(label_smoothing=0.0, dropout=None, no_item_id_embedding=True)
    assert _config_overrides(args) == {"label_smoothing": 0.0, "item_id_embedding": False}


def test_positions_from_end_flag_reaches_the_model_config():
    import argparse

    from genrec_hf.cli import _config_overrides

    args = argparse.Namespace(label_smoothing=0.0, dropout=None, positions_from_end=True)
    assert _config_overrides(args) == {"label_smoothing": 0.0, "positions_from_end": True}


def test_decoder_start_from_mask_flag_reaches_the_model_config():
    import argparse

    from genrec_hf.cli import _config_overrides

    args = argparse.Namespace(label_smoothing=0.0, dropout=None, decoder_start_from_mask=True)
    assert _config_overrides(args) == {"label_smoothing": 0.0, "decoder_start_from_mask": True}


def test_decoder_start_from_last_item_flag_reaches_the_model_config():
    from genrec_hf.cli import _config_overrides, build_parser

    args = build_parser().parse_args(["train", "--data", "d", "--output", "o", "--decoder-start-from-last-item"])
    assert _config_overrides(args)["decoder_start_from_last_item"] is True


@pytest.mark.parametrize("value", ["-0.1", "nan"])
def test_negative_weight_decay_is_refused_before_any_work(tmp_path, capsys, value):
    assert main(["train", "--data", "synthetic", "--output", str(tmp_path / "run"), "--weight-decay", value]) == 2
    assert f"genrec-hf train: error: weight_decay must be >= 0, got {float(value)}" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("value", ["-0.1", "1.5", "nan"])
def test_a_cloze_last_item_probability_outside_zero_to_one_is_refused_before_any_work(tmp_path, capsys, value):
    assert main(["train", "--data", "synthetic", "--output", str(tmp_path / "run"),
                 "--cloze-last-item-probability", value]) == 2
    assert (f"genrec-hf train: error: cloze_last_item_probability must be in [0, 1], got {float(value)}"
            in capsys.readouterr().err)
    assert not (tmp_path / "run").exists()


def test_cloze_last_item_probability_reaches_the_pretraining_and_its_record(tmp_path):
    output = tmp_path / "run"
    assert main(["train", "--data", "synthetic", "--output", str(output), "--pretrain-epochs", "1",
                 "--no-finetune", "--cloze-last-item-probability", "0.25", "--d-model", "32", "--layers", "1",
                 "--eval-users", "20", "--threads", "1"]) == 0
    assert json.loads((output / "metrics.json").read_text())["options"]["cloze_last_item_probability"] == 0.25


@pytest.mark.parametrize("arguments, message", [
    (["--pretrained-weight", "0"], "pretrained_weight must be in (0, 1], got 0.0"),
    (["--pretrained-weight", "1.5"], "pretrained_weight must be in (0, 1], got 1.5"),
    (["--pretrained-weight", "nan"], "pretrained_weight must be in (0, 1], got nan"),
    (["--pretrained-weight", "0.5", "--no-pretrain"], "pretrained_weight 0.5 needs pretraining"),
])
def test_a_pretrained_weight_without_meaning_is_refused_before_any_work(tmp_path, capsys, arguments, message):
    assert main(["train", "--data", "synthetic", "--output", str(tmp_path / "run"), *arguments]) == 2
    assert f"genrec-hf train: error: {message}" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


def tiny_model():
    from genrec_hf import GenRecForConditionalGeneration

    return GenRecForConditionalGeneration(GenRecConfig.from_preset("small", num_items=30, vocab_size=60, **TINY))


def test_shrinking_moves_every_parameter_toward_a_seeded_fresh_initialisation():
    from genrec_hf import shrink_toward_fresh_init

    torch.manual_seed(1)
    model = tiny_model()
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.add_(1.0)  # stand-in for training: far from any initialisation
    trained = {name: p.clone() for name, p in model.named_parameters()}
    torch.manual_seed(7)
    fresh = dict(tiny_model().named_parameters())
    shrink_toward_fresh_init(model, weight=0.25, seed=7)
    for name, parameter in model.named_parameters():
        torch.testing.assert_close(parameter, 0.25 * trained[name] + 0.75 * fresh[name])


@pytest.mark.parametrize("weight", [-0.5, 1.5, float("nan")])
def test_shrinking_by_a_weight_outside_zero_to_one_is_refused(weight):
    from genrec_hf import shrink_toward_fresh_init

    with pytest.raises(ValueError, match="weight must be in"):
        shrink_toward_fresh_init(tiny_model(), weight=weight, seed=0)


def test_shrinking_is_reproducible_and_leaves_the_global_random_state_alone():
    from genrec_hf import shrink_toward_fresh_init

    torch.manual_seed(1)
    a, b = tiny_model(), tiny_model()
    b.load_state_dict(a.state_dict())
    state = torch.random.get_rng_state()
    shrink_toward_fresh_init(a, weight=0.5, seed=3)
    shrink_toward_fresh_init(b, weight=0.5, seed=3)
    assert torch.equal(torch.random.get_rng_state(), state)
    for (_, p), (_, q) in zip(a.named_parameters(), b.named_parameters()):
        assert torch.equal(p, q)


def test_shrinking_acts_between_pretraining_and_fine_tuning(tiny_data, tmp_path):
    def losses(weight):
        options = TrainOptions(pretrain_epochs=1, finetune_epochs=1, batch_size=16, max_length=64, eval_users=10,
                               threads=1, logging_steps=1, pretrained_weight=weight, config_overrides=dict(TINY))
        history = train_genrec(tiny_data, tmp_path / str(weight), options)["history"]
        return [[log["loss"] for log in history[stage] if "loss" in log] for stage in ("pretrain", "finetune")]

    (pretrain_kept, finetune_kept), (pretrain_shrunk, finetune_shrunk) = losses(1.0), losses(0.5)
    assert pretrain_kept == pretrain_shrunk
    assert finetune_kept[0] != finetune_shrunk[0]


def test_fine_tuning_from_shrunk_pretrained_weights_runs_and_is_recorded(tmp_path):
    output = tmp_path / "run"
    assert main(["train", "--data", "synthetic", "--output", str(output), "--pretrain-epochs", "1",
                 "--finetune-epochs", "1", "--pretrained-weight", "0.5", "--d-model", "32", "--layers", "1",
                 "--eval-users", "20", "--threads", "1"]) == 0
    assert json.loads((output / "metrics.json").read_text())["options"]["pretrained_weight"] == 0.5


def test_weight_decay_option_reaches_the_trainer_arguments(tmp_path):
    from genrec_hf.training import TrainOptions, _arguments

    for select in (False, True):  # pretraining and fine-tuning
        assert _arguments(tmp_path, TrainOptions(weight_decay=0.0), epochs=1, select=select).weight_decay == 0.0
    assert _arguments(tmp_path, TrainOptions(), epochs=1, select=True).weight_decay == 0.01


@pytest.mark.parametrize("flag, value, message", [
    ("--warmup-ratio", "1.0", "warmup_ratio must be in [0, 1), got 1.0"),
    ("--warmup-ratio", "-0.1", "warmup_ratio must be in [0, 1), got -0.1"),
    ("--lr-scheduler", "cosine_with_restarts", "invalid choice: 'cosine_with_restarts'"),
])
def test_bad_schedule_is_refused_before_any_work(tmp_path, capsys, flag, value, message):
    code = 2
    try:
        code = main(["train", "--data", "synthetic", "--output", str(tmp_path / "run"), flag, value])
    except SystemExit as exit:  # argparse refuses an unknown choice itself
        code = exit.code
    assert code == 2 and message in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


def test_notebook_api_refuses_an_unknown_schedule():
    from genrec_hf.training import TrainOptions

    with pytest.raises(ValueError, match="lr_scheduler must be one of linear, cosine, constant"):
        TrainOptions(lr_scheduler="step")


@pytest.mark.parametrize("name, trainer_name", [("linear", "linear"), ("cosine", "cosine"),
                                                 ("constant", "constant_with_warmup")])
def test_schedule_and_warmup_reach_the_trainer_arguments(tmp_path, name, trainer_name):
    from genrec_hf.training import TrainOptions, _arguments

    for select in (False, True):  # pretraining and fine-tuning
        arguments = _arguments(tmp_path, TrainOptions(lr_scheduler=name, warmup_ratio=0.0), epochs=1, select=select)
        assert arguments.lr_scheduler_type.value == trainer_name and arguments.warmup_steps == 0


def test_constant_schedule_keeps_the_learning_rate_after_warmup(tmp_path):
    """What the Trainer builds from our names: constant stays at the peak, linear falls to 0 by the last step."""
    import torch
    from transformers import get_scheduler

    from genrec_hf.training import LR_SCHEDULERS

    rates = {}
    for name in ("constant", "linear"):
        optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
        schedule = get_scheduler(LR_SCHEDULERS[name], optimizer, num_warmup_steps=2, num_training_steps=10)
        for _ in range(9):
            optimizer.step()
            schedule.step()
        rates[name] = schedule.get_last_lr()[0]
    assert rates["constant"] == 1.0 and rates["linear"] == pytest.approx(1 / 8)


def test_the_cli_offers_exactly_the_schedules_training_knows():
    from genrec_hf.cli import build_parser
    from genrec_hf.training import LR_SCHEDULERS

    train = build_parser()._subparsers._group_actions[0].choices["train"]
    schedule = next(action for action in train._actions if action.dest == "lr_scheduler")
    assert tuple(schedule.choices) == tuple(LR_SCHEDULERS)


class FakeClock:
    """Seconds that pass only when the test says so."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _budget_run(tmp_path, clock, deadline, epochs=5):
    from transformers import TrainerControl, TrainerState, TrainingArguments

    from genrec_hf.training import WallClockBudget

    budget = WallClockBudget(deadline, clock=clock)
    args = TrainingArguments(output_dir=str(tmp_path), num_train_epochs=epochs, report_to=[], use_cpu=True)
    return budget, args, TrainerState(), TrainerControl()


def _one_epoch(budget, args, state, control, clock, epoch, train_s, validation_s):
    budget.on_epoch_begin(args, state, control)
    clock.now += train_s
    state.epoch = float(epoch)
    budget.on_step_end(args, state, control)
    budget.on_epoch_end(args, state, control)
    clock.now += validation_s  # the Trainer validates and saves after on_epoch_end


def test_budget_stops_at_the_epoch_end_when_another_epoch_would_not_fit(tmp_path):
    clock = FakeClock()
    budget, args, state, control = _budget_run(tmp_path, clock, deadline=250.0)
    for epoch in (1, 2):  # 100 s of training + 10 s of validation each
        _one_epoch(budget, args, state, control, clock, epoch, train_s=100.0, validation_s=10.0)
        if control.should_training_stop:
            break
    # after epoch 2 (t=200), its validation and a third epoch need 10 + 100 + 10 s: past 250
    assert control.should_training_stop and budget.stopped == 2.0


def test_budget_lets_training_go_on_while_another_epoch_fits(tmp_path):
    clock = FakeClock()
    budget, args, state, control = _budget_run(tmp_path, clock, deadline=1000.0)
    for epoch in (1, 2, 3):
        _one_epoch(budget, args, state, control, clock, epoch, train_s=100.0, validation_s=10.0)
    assert not control.should_training_stop and budget.stopped is None


def test_budget_stops_inside_an_epoch_on_a_host_slower_than_the_estimate(tmp_path):
    clock = FakeClock()
    budget, args, state, control = _budget_run(tmp_path, clock, deadline=300.0)
    _one_epoch(budget, args, state, control, clock, 1, train_s=100.0, validation_s=10.0)
    budget.on_epoch_begin(args, state, control)
    clock.now, state.epoch = 285.0, 1.5  # the second epoch runs at half speed: 10 s of validation still fit
    budget.on_step_end(args, state, control)
    assert not control.should_training_stop
    clock.now, state.epoch = 291.0, 1.6
    budget.on_step_end(args, state, control)
    assert control.should_training_stop and budget.stopped == 1.6


def test_the_last_epoch_is_never_cut_for_the_budget_it_no_longer_needs(tmp_path):
    clock = FakeClock()
    budget, args, state, control = _budget_run(tmp_path, clock, deadline=115.0, epochs=1)
    _one_epoch(budget, args, state, control, clock, 1, train_s=100.0, validation_s=10.0)
    assert not control.should_training_stop


@pytest.mark.parametrize("value", ["0", "-5", "nan"])
def test_a_budget_that_is_not_positive_is_refused_before_any_work(tmp_path, capsys, value):
    assert main(["train", "--data", "synthetic", "--output", str(tmp_path / "run"), "--budget-min", value]) == 2
    assert f"budget_min must be > 0 minutes, got {float(value)}" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


def test_a_spent_budget_still_leaves_a_complete_run_folder(tiny_data, tmp_path):
    """A budget far too small: pretraining stops after its first step, fine-tuning is skipped, nothing is lost."""
    options = TrainOptions(pretrain_epochs=3, finetune_epochs=2, batch_size=16, max_length=64, eval_users=10,
                           threads=1, budget_min=1e-6, config_overrides=dict(TINY))
    results = train_genrec(tiny_data, tmp_path, options)
    assert results["budget"]["skipped"] == ["finetune"]
    assert results["selected_model"]["stage"] == "pretrain" and "budget" in results["selected_model"]["note"]
    assert 0 < results["budget"]["stopped"]["pretrain"] < 1  # a partial first epoch
    assert [log for log in results["history"]["pretrain"] if "eval_ndcg@10" in log]  # it was still validated
    assert json.loads((tmp_path / "metrics.json").read_text())["budget"] == results["budget"]
    assert (tmp_path / "checkpoint" / "model.safetensors").is_file()


def test_epoch_batches_come_from_a_plain_list_of_lengths_in_the_datasets_order():
    # datasets 4+ hands the Trainer a lazy Column; indexing it per example cost 25 s an epoch on beauty
    rows = Dataset.from_dict({"length": [5, 1, 9, 3, 7, 2, 8, 4, 6, 10]}).shuffle(seed=1)
    lengths = [row["length"] for row in rows]
    sampler = EpochSeededLengthSampler(4, lengths=rows["length"], seed=0)
    assert type(sampler.lengths) is list and sampler.lengths == lengths
    assert list(sampler) == list(EpochSeededLengthSampler(4, lengths=lengths, seed=0))


def test_the_trainer_samples_training_batches_from_plain_lengths(model, tokenizer, tmp_path):
    rows = Dataset.from_dict({"history": [["i1"], ["i1", "i2"], ["i2", "i3", "i1"]], "target": ["i2", "i3", "i2"]})
    rows = rows.map(lambda row: {"length": len(row["history"])})
    trainer = GenRecTrainer(model=model, processing_class=tokenizer, train_dataset=rows,
                            args=Seq2SeqTrainingArguments(output_dir=str(tmp_path), report_to=[], use_cpu=True,
                                                          train_sampling_strategy="group_by_length",
                                                          remove_unused_columns=False))
    sampler = trainer._get_train_sampler(rows)
    assert isinstance(sampler, EpochSeededLengthSampler)
    assert type(sampler.lengths) is list and sampler.lengths == [1, 2, 3]


class _Warnings(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


@pytest.fixture
def trainer_warnings():
    handler, logger = _Warnings(), logging.getLogger("transformers.trainer")
    logger.addHandler(handler)
    yield handler.messages
    logger.removeHandler(handler)


def test_loading_the_best_checkpoint_does_not_call_the_tied_embeddings_missing(tiny_data, tmp_path, trainer_warnings):
    options = TrainOptions(pretrain_epochs=1, finetune_epochs=2, batch_size=16, max_length=64, eval_users=10,
                           threads=1, config_overrides=dict(TINY))
    train_genrec(tiny_data, tmp_path, options)
    assert not [m for m in trainer_warnings if "missing keys" in m]


def test_a_weight_that_really_was_not_loaded_is_still_reported(model, tokenizer, tmp_path, trainer_warnings):
    from torch.nn.modules.module import _IncompatibleKeys

    trainer = GenRecTrainer(model=model, args=Seq2SeqTrainingArguments(output_dir=str(tmp_path), report_to=[]),
                            processing_class=tokenizer)
    tied = ["model.encoder.embed_tokens.weight", "model.decoder.embed_tokens.weight", "lm_head.weight"]
    trainer._issue_warnings_after_load(_IncompatibleKeys(tied, []))
    assert trainer_warnings == []
    trainer._issue_warnings_after_load(_IncompatibleKeys(["model.shared.weight", *tied], []))  # the source itself
    trainer._issue_warnings_after_load(_IncompatibleKeys(["model.encoder.layers.0.fc1.weight"], []))
    assert len(trainer_warnings) == 2
    assert all(key in trainer_warnings[0] for key in ["model.shared.weight", *tied])
    assert "fc1" in trainer_warnings[1]


def _epochs_with_averaging(model, tmp_path, weights_per_epoch, score, epochs=2):
    """Drive an EpochAverage as the Trainer does: epoch end, then the validation's on_evaluate."""
    import torch
    from transformers import TrainerControl, TrainerState, TrainingArguments

    from genrec_hf import EpochAverage

    average = EpochAverage(epochs=epochs, score=score)
    args = TrainingArguments(output_dir=str(tmp_path), report_to=[], use_cpu=True)
    state, control = TrainerState(), TrainerControl()
    for epoch, weights in enumerate(weights_per_epoch, start=1):
        with torch.no_grad():
            for name, parameter in model.named_parameters():
                parameter.copy_(weights[name])
        state.epoch = float(epoch)
        average.on_epoch_end(args, state, control, model=model)
        average.on_evaluate(args, state, control, model=model, metrics={"eval_ndcg@10": 0.0})
    return average


def _random_weights(model, count):
    import torch

    torch.manual_seed(1)
    return [{name: torch.randn_like(p) for name, p in model.named_parameters()} for _ in range(count)]


def test_each_validation_scores_the_mean_of_the_last_epoch_ends_and_the_model_keeps_its_own(model, tmp_path):
    import torch

    weights = _random_weights(model, 3)
    seen = []

    def score(scored):
        seen.append({name: p.detach().clone() for name, p in scored.named_parameters()})
        assert scored.lm_head.weight.data_ptr() == scored.model.shared.weight.data_ptr()  # ties kept
        return len(seen)

    average = _epochs_with_averaging(model, tmp_path, weights, score)
    assert average.scores == [([1.0, 2.0], 1.0), ([2.0, 3.0], 2.0)]  # epoch 1 alone is no average
    for name in weights[0]:
        torch.testing.assert_close(seen[0][name], (weights[0][name] + weights[1][name]) / 2)
        torch.testing.assert_close(seen[1][name], (weights[1][name] + weights[2][name]) / 2)
        assert torch.equal(dict(model.named_parameters())[name], weights[2][name])  # its own weights back
    assert average.best["epochs"] == [2.0, 3.0]
    torch.testing.assert_close(average.best["weights"]["model.shared.weight"], seen[1]["model.shared.weight"])


def test_epoch_average_ignores_its_own_and_other_evaluations(model, tmp_path):
    from transformers import TrainerControl, TrainerState, TrainingArguments

    from genrec_hf import EpochAverage

    calls = []
    average = EpochAverage(epochs=2, score=lambda m: calls.append(1) or 0.0)
    args = TrainingArguments(output_dir=str(tmp_path), report_to=[], use_cpu=True)
    state, control = TrainerState(), TrainerControl()
    for epoch in (1, 2):
        state.epoch = float(epoch)
        average.on_epoch_end(args, state, control, model=model)
    average.on_evaluate(args, state, control, model=model, metrics={"test_ndcg@10": 0.1})  # a final scoring
    average.on_evaluate(args, state, control, model=model, metrics={"average_ndcg@10": 0.1})  # its own
    assert calls == []


def test_epoch_average_refuses_fewer_than_two_epochs():
    from genrec_hf import EpochAverage
    from genrec_hf.training import average_parameters

    with pytest.raises(ValueError, match="at least 2 epochs"):
        EpochAverage(epochs=1, score=lambda m: 0.0)
    with pytest.raises(ValueError, match="no snapshots"):
        average_parameters([])


@pytest.mark.parametrize("value", ["1", "-2"])
def test_averaging_fewer_than_two_epochs_is_refused_before_any_work(tmp_path, capsys, value):
    assert main(["train", "--data", "synthetic", "--output", str(tmp_path / "run"), "--average-epochs", value]) == 2
    assert f"average_epochs must be 0 (off) or at least 2 epochs to average, got {value}" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


def test_the_best_average_replaces_the_best_epoch_when_it_scores_higher(model, tmp_path):
    import torch

    from genrec_hf.training import _select_average

    average = _epochs_with_averaging(model, tmp_path, _random_weights(model, 3), score=lambda m: 0.5)
    selected = _select_average(model, average, {"stage": "finetune", "checkpoint": "x/checkpoint-3",
                                                 "validation_ndcg@10": 0.4})
    assert selected["checkpoint"] is None and selected["validation_ndcg@10"] == 0.5
    assert selected["average"]["kept"] and selected["average"]["epochs"] == [1.0, 2.0]  # the first of two ties
    assert "epochs 1, 2" in selected["note"]
    for name, parameter in model.named_parameters():
        assert torch.equal(parameter, average.best["weights"][name])


def test_the_best_epoch_stays_when_no_average_beats_it(model, tmp_path):
    import torch

    from genrec_hf.training import _select_average

    weights = _random_weights(model, 3)
    average = _epochs_with_averaging(model, tmp_path, weights, score=lambda m: 0.3)
    before = {"stage": "finetune", "checkpoint": "x/checkpoint-3", "validation_ndcg@10": 0.4}
    selected = _select_average(model, average, before)
    assert {k: v for k, v in selected.items() if k != "average"} == before
    assert selected["average"]["kept"] is False and len(selected["average"]["scores"]) == 2
    for name, parameter in model.named_parameters():
        assert torch.equal(parameter, weights[2][name])


def test_a_run_with_averaging_records_the_averages_in_selection_history_and_card(tiny_data, tmp_path):
    from genrec_hf.hub import model_card

    options = TrainOptions(pretrain_epochs=0, finetune_epochs=3, batch_size=16, max_length=64, eval_users=10,
                           threads=1, average_epochs=2, config_overrides=dict(TINY))
    results = train_genrec(tiny_data, tmp_path, options)
    average = results["selected_model"]["average"]
    logged = [(log["epoch"], log["average_ndcg@10"]) for log in results["history"]["finetune"]
              if "average_ndcg@10" in log]
    assert logged == [(2.0, average["scores"][0]["validation_ndcg@10"]),
                      (3.0, average["scores"][1]["validation_ndcg@10"])]
    assert [s["epochs"] for s in average["scores"]] == [[1.0, 2.0], [2.0, 3.0]]
    epochs = [log["eval_ndcg@10"] for log in results["history"]["finetune"] if "eval_ndcg@10" in log]
    assert results["selected_model"]["validation_ndcg@10"] == max(epochs + [score for _, score in logged])
    assert "Checkpoint averaging: at each fine-tuning validation the average of the weights at the last 2 epoch" \
        in model_card(tmp_path, "org/genrec-tiny").content


def test_averaging_changes_the_candidates_not_the_training(tiny_data, tmp_path):
    runs = []
    for average_epochs in (0, 2):
        options = TrainOptions(pretrain_epochs=0, finetune_epochs=3, batch_size=16, max_length=64, eval_users=10,
                               threads=1, logging_steps=1, average_epochs=average_epochs,
                               config_overrides=dict(TINY))
        results = train_genrec(tiny_data, tmp_path / str(average_epochs), options)
        runs.append([(log["epoch"], log.get("loss"), log.get("eval_ndcg@10")) for log in results["history"]["finetune"]
                     if "loss" in log or "eval_ndcg@10" in log])
    assert len([loss for _, loss, _ in runs[0] if loss is not None]) >= 6  # every step's loss, every epoch
    assert runs[0] == runs[1]


def test_a_run_with_the_history_item_bias_records_the_bias_it_learned(tiny_data, tmp_path):
    from genrec_hf import GenRecForConditionalGeneration

    options = TrainOptions(pretrain_epochs=0, finetune_epochs=1, batch_size=16, max_length=64, eval_users=10,
                           threads=1, users=False, item_codes="independent",
                           config_overrides=dict(TINY, history_item_bias=True))
    results = train_genrec(tiny_data, tmp_path, options)
    learned = results["model"]["history_logit_bias"]
    assert results["model"]["config"]["history_item_bias"] is True and learned != 0.0
    reloaded = GenRecForConditionalGeneration.from_pretrained(tmp_path / "checkpoint")
    assert reloaded.history_logit_bias.item() == pytest.approx(learned, abs=1e-4)


def test_the_history_item_bias_flag_without_one_token_per_item_is_a_clear_error(tmp_path, capsys):
    assert main(["train", "--data", "synthetic", "--output", str(tmp_path / "run"), "--history-item-bias",
                 "--pretrain-epochs", "0", "--finetune-epochs", "1", "--threads", "1"]) == 2
    assert "history_item_bias needs one token per item" in capsys.readouterr().err


def test_a_run_with_the_successor_item_bias_records_the_biases_it_learned(tiny_data, tmp_path):
    from genrec_hf import GenRecForConditionalGeneration

    options = TrainOptions(pretrain_epochs=0, finetune_epochs=1, batch_size=16, max_length=64, eval_users=10,
                           threads=1, users=False, item_codes="independent",
                           config_overrides=dict(TINY, successor_item_bias=3))
    results = train_genrec(tiny_data, tmp_path, options)
    learned = results["model"]["successor_logit_bias"]
    assert results["model"]["config"]["successor_item_bias"] == 3 and len(learned) == 3 and any(learned)
    reloaded = GenRecForConditionalGeneration.from_pretrained(tmp_path / "checkpoint")
    assert reloaded.successor_logit_bias.tolist() == pytest.approx(learned, abs=1e-4)


@pytest.mark.parametrize("flag, message", [
    (["--successor-item-bias", "5"], "successor_item_bias needs one token per item"),
    (["--successor-item-bias", "-1", "--item-codes", "independent"], "--successor-item-bias must be >= 0"),
])
def test_a_bad_successor_item_bias_flag_is_a_clear_error(tmp_path, capsys, flag, message):
    assert main(["train", "--data", "synthetic", "--output", str(tmp_path / "run"), *flag,
                 "--pretrain-epochs", "0", "--finetune-epochs", "1", "--threads", "1"]) == 2
    assert message in capsys.readouterr().err


def test_the_learned_logit_shifts_train_at_their_own_learning_rate(tmp_path):
    """With logit_bias_lr_scale the history and successor shifts get a group of their own at that multiple of the
    learning rate; every other parameter keeps its group, and none is in two."""
    from genrec_hf import GenRecForConditionalGeneration, GenRecTokenizer

    tokenizer = GenRecTokenizer.from_catalogue(items=[f"sku{n}" for n in range(1, 31)], independent_items=True,
                                               model_max_length=64)
    model = GenRecForConditionalGeneration(GenRecConfig.from_preset(
        "small", tokenizer, **TINY, history_item_bias=True, successor_item_bias=3))
    groups = {}
    for scale in (1.0, 50.0):
        trainer = GenRecTrainer(model=model, processing_class=tokenizer, logit_bias_lr_scale=scale,
                                args=Seq2SeqTrainingArguments(str(tmp_path / str(scale)), learning_rate=1e-3,
                                                              report_to=[], use_cpu=True))
        groups[scale] = trainer.create_optimizer().param_groups
    shifts = {id(model.history_logit_bias), id(model.successor_logit_bias)}
    for scale, param_groups in groups.items():
        members = [id(p) for group in param_groups for p in group["params"]]
        assert len(members) == len(set(members)) == len(list(model.parameters()))
        own = [group for group in param_groups if {id(p) for p in group["params"]} == shifts]
        assert len(own) == (scale != 1.0)
        assert all(group["lr"] == pytest.approx(0.05) and group["weight_decay"] == 0.0 for group in own)
        assert all(group["lr"] == 1e-3 for group in param_groups if group not in own)
    with pytest.raises(ValueError, match="logit_bias_lr_scale must be > 0, got 0"):
        GenRecTrainer(model=model, processing_class=tokenizer, logit_bias_lr_scale=0,
                      args=Seq2SeqTrainingArguments(str(tmp_path / "zero"), report_to=[], use_cpu=True))


def test_the_logit_bias_learning_rate_scale_reaches_the_run_and_moves_the_shift_further(tiny_data, tmp_path):
    learned = {}
    for scale in (1.0, 30.0):
        options = TrainOptions(pretrain_epochs=0, finetune_epochs=1, batch_size=16, max_length=64, eval_users=10,
                               threads=1, users=False, item_codes="independent", logit_bias_lr_scale=scale,
                               config_overrides=dict(TINY, successor_item_bias=1))
        results = train_genrec(tiny_data, tmp_path / str(scale), options)
        assert results["options"]["logit_bias_lr_scale"] == scale
        learned[scale] = abs(results["model"]["successor_logit_bias"][0])
    assert learned[30.0] > 5 * learned[1.0]


@pytest.mark.parametrize("value", ["0", "-1", "nan"])
def test_a_bad_logit_bias_learning_rate_scale_is_refused_before_any_work(tmp_path, capsys, value):
    assert main(["train", "--data", "synthetic", "--output", str(tmp_path / "run"), "--logit-bias-lr-scale",
                 value]) == 2
    assert "logit_bias_lr_scale must be > 0" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


def test_train_command_records_the_commit_it_started_from_not_one_after_the_data_load(tmp_path, monkeypatch):
    # a README edited while a long data set loads used to mark the run "-dirty": the commit is now taken first
    import genrec_hf.cli
    import genrec_hf.provenance

    tree = {"state": "0123abc"}
    load = genrec_hf.cli._load

    def load_then_edit(args):
        data = load(args)
        tree["state"] = "0123abc-dirty"  # someone edits a tracked file while the data loads
        return data

    monkeypatch.setattr(genrec_hf.cli, "_load", load_then_edit)
    monkeypatch.setattr(genrec_hf.provenance, "git_commit", lambda cwd=None: tree["state"])
    output = tmp_path / "run"
    assert main(["train", "--data", "synthetic", "--output", str(output), "--no-pretrain", "--finetune-epochs", "1",
                 "--d-model", "32", "--layers", "1", "--eval-users", "20", "--threads", "1"]) == 0
    assert json.loads((output / "metrics.json").read_text())["git_commit"] == "0123abc"
