"""End-to-end GenRec training: cloze pretraining, next-item fine-tuning, ranking evaluation, outputs.

Used by ``genrec-hf train``; every step is the HF Trainer (``GenRecTrainer``) with the cloze collators.
Model selection uses the validation split only; the test split is scored once, at the end.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch
from transformers import Seq2SeqTrainingArguments, TrainerCallback, set_seed

from .collators import ClozeCollator, NextItemCollator
from .data import SequenceData, finetune_examples, max_history_baseline
from .metrics import ranking_metrics
from .modeling import GenRecConfig, GenRecForConditionalGeneration
from .provenance import environment, write_folder_atomic, write_json_atomic
from .trainer import GenRecTrainer

SELECTION_METRIC = "ndcg@10"
# our names for the schedules after warm-up -> transformers' SchedulerType
LR_SCHEDULERS = {"linear": "linear", "cosine": "cosine", "constant": "constant_with_warmup"}


@dataclass
class TrainOptions:
    """What ``train_genrec`` does; every field lands in ``metrics.json``."""

    preset: str = "small"
    pretrain_epochs: int = 10
    finetune_epochs: int = 10
    prefixes: bool = False
    batch_size: int = 64
    eval_batch_size: int = 64
    learning_rate: float = 1e-3
    finetune_learning_rate: float | None = None  # None: learning_rate
    cloze_last_item_probability: float = 0.0  # share of pretraining sequences whose most recent item is the one
    # masked (BERT4Rec's; 0: the paper's cloze, any position alike)
    pretrained_weight: float = 1.0  # fine-tuning starts from this x the pretrained weights + the rest x a fresh
    # seeded initialisation (1: the pretrained model as it is); see shrink_toward_fresh_init
    weight_decay: float = 0.01
    warmup_ratio: float = 0.05  # share of each stage's steps spent warming the learning rate up from 0
    lr_scheduler: str = "linear"  # after warm-up: "linear" decay to 0, "cosine" decay, or "constant" (SASRec's Adam)
    logit_bias_lr_scale: float = 1.0  # learning rate of the learned logit shifts (history/successor item bias) as a
    # multiple of the stage's: single numbers that must travel several units
    max_length: int = 512
    seed: int = 0
    threads: int | None = None
    eval_users: int | None = 2000
    top_k: int = 20
    logging_steps: int = 50
    save_steps: int = 200  # pretraining checkpoint interval (fine-tuning saves each epoch, for model selection)
    item_codes: str = "decimal"  # how items are spelled: "decimal" ids (the paper's), "collaborative" codes, or
    # "independent" (one token per item)
    users: bool = True  # give the model each history's user (token + user-ID embedding, the paper's); False: items only
    bf16: bool = False  # bfloat16 mixed precision (GPUs with bf16; on a CPU without AMX it is slower)
    average_epochs: int = 0  # >= 2: each fine-tuning validation also scores the average of the weights at the
    # last k epoch ends, a model-selection candidate beside each epoch (checkpoint averaging); 0: off
    budget_min: float | None = None  # wall-clock minutes for setup + pretraining + fine-tuning (per-epoch validation
    # included, the final scoring not): a stage stops at the epoch end when another epoch would not fit
    resume: bool = False  # continue the run in output_dir from its newest complete checkpoint
    overwrite: bool = False  # start over in an output_dir that holds a previous run
    config_overrides: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.weight_decay >= 0:  # also refuses NaN
            raise ValueError(f"weight_decay must be >= 0, got {self.weight_decay}")
        if not self.logit_bias_lr_scale > 0:
            raise ValueError(f"logit_bias_lr_scale must be > 0, got {self.logit_bias_lr_scale}")
        if not 0 <= self.warmup_ratio < 1:
            raise ValueError(f"warmup_ratio must be in [0, 1), got {self.warmup_ratio}")
        if self.budget_min is not None and not self.budget_min > 0:
            raise ValueError(f"budget_min must be > 0 minutes, got {self.budget_min}")
        if self.average_epochs == 1 or self.average_epochs < 0:
            raise ValueError(f"average_epochs must be 0 (off) or at least 2 epochs to average, got {self.average_epochs}")
        if not 0 <= self.cloze_last_item_probability <= 1:
            raise ValueError(f"cloze_last_item_probability must be in [0, 1], got {self.cloze_last_item_probability}")
        if not 0 < self.pretrained_weight <= 1:
            raise ValueError(f"pretrained_weight must be in (0, 1], got {self.pretrained_weight}")
        if self.pretrained_weight != 1 and self.pretrain_epochs == 0:
            raise ValueError(f"pretrained_weight {self.pretrained_weight} needs pretraining: without it there are no "
                             "pretrained weights to shrink")
        if self.lr_scheduler not in LR_SCHEDULERS:
            raise ValueError(f"lr_scheduler must be one of {', '.join(LR_SCHEDULERS)}, got {self.lr_scheduler!r}")


class WallClockBudget(TrainerCallback):
    """Ends a stage before it runs past ``deadline`` (a ``time.perf_counter()`` value), keeping whole epochs.

    At the end of an epoch it stops when the epoch's validation plus another epoch would not fit, estimated
    from the slowest epoch and the slowest validation so far. Inside an epoch it stops when only the time of one
    validation is left (a host slower than the estimate); the Trainer then still validates and saves the partial
    epoch, which model selection may keep. ``stopped`` records the epoch (fractional) at which it stopped.
    ``train_genrec`` adds one per stage for ``TrainOptions(budget_min=...)``; with your own Trainer:
    ``trainer.add_callback(WallClockBudget(time.perf_counter() + 60 * 60))``.

    Example (a clock that moves only when told; epochs of 100 s with 10 s of validation, 250 s in all):

    ```python
    >>> from transformers import TrainerControl, TrainerState, TrainingArguments
    >>> now = [0.0]
    >>> budget = WallClockBudget(deadline=250.0, clock=lambda: now[0])
    >>> args = TrainingArguments("out", num_train_epochs=5, report_to=[], use_cpu=True)
    >>> state, control = TrainerState(), TrainerControl()
    >>> for epoch in (1, 2):
    ...     budget.on_epoch_begin(args, state, control)
    ...     now[0] += 100.0
    ...     state.epoch = float(epoch)
    ...     budget.on_epoch_end(args, state, control)
    ...     now[0] += 10.0
    >>> control.should_training_stop, budget.stopped  # at t=200 a third epoch and its validation would end past 250
    (True, 2.0)
    >>> WallClockBudget(deadline=float("nan"))
    Traceback (most recent call last):
    ...
    ValueError: deadline must be a finite clock value, got nan

    ```
    """

    def __init__(self, deadline: float, clock: Callable[[], float] = time.perf_counter):
        if not math.isfinite(deadline):
            raise ValueError(f"deadline must be a finite clock value, got {deadline}")
        self.deadline = deadline
        self.clock = clock
        self.stopped: float | None = None
        self.slowest_epoch = 0.0  # training steps of one epoch
        self.slowest_validation = 0.0  # from an epoch's end to the next one's start: validation and checkpoint
        self._epoch_began: float | None = None
        self._epoch_ended: float | None = None

    def _stop(self, state: Any, control: Any, needed_s: float) -> None:
        over = self.clock() + needed_s > self.deadline
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            flag = torch.tensor([float(over)])  # every process stops at the same step, or none does
            torch.distributed.all_reduce(flag, op=torch.distributed.ReduceOp.MAX)
            over = bool(flag.item())
        if over and not control.should_training_stop:
            control.should_training_stop = True
            self.stopped = round(float(state.epoch or 0.0), 3)

    def on_epoch_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        now = self.clock()
        if self._epoch_ended is not None:
            self.slowest_validation = max(self.slowest_validation, now - self._epoch_ended)
        self._epoch_began = now

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self._stop(state, control, self.slowest_validation)

    def on_epoch_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        now = self.clock()
        if self._epoch_began is not None:
            self.slowest_epoch = max(self.slowest_epoch, now - self._epoch_began)
        self._epoch_ended = now
        if round(state.epoch or 0) < args.num_train_epochs:  # the last epoch ends the stage anyway
            self._stop(state, control, 2 * self.slowest_validation + self.slowest_epoch)


class EpochAverage(TrainerCallback):
    """Checkpoint averaging: at each validation, also scores the average of the weights at the last ``epochs``
    epoch ends, and keeps the best such average.

    With a learning rate still well above 0 the weights oscillate from epoch to epoch, and their average often
    ranks better than any one of them (a budget that stops before the schedule ends leaves them there).
    ``score`` takes the model holding the averaged weights and returns the selection metric (``train_genrec``
    passes the Trainer's evaluation on the same validation users); the model gets its own weights back before the
    Trainer saves its checkpoint. ``best`` is then the best average so far (``epochs``, ``score``, ``weights``), a
    candidate beside the Trainer's best epoch. Snapshots are CPU copies of the parameters (tied ones once): it holds
    ``epochs`` + 1 copies of the model. An epoch cut short by a budget counts with the weights it ended on; a resumed
    run averages only the epochs trained since it resumed.

    Example (a one-weight "model" whose score is its weight):

    ```python
    >>> import torch
    >>> from transformers import TrainerControl, TrainerState, TrainingArguments
    >>> model = torch.nn.Linear(1, 1, bias=False)
    >>> average = EpochAverage(epochs=2, score=lambda model: model.weight.item())
    >>> args, state, control = TrainingArguments("out", report_to=[], use_cpu=True), TrainerState(), TrainerControl()
    >>> for epoch, weight in ((1, 1.0), (2, 5.0), (3, 0.0)):
    ...     _ = model.weight.data.fill_(weight)
    ...     state.epoch = float(epoch)
    ...     average.on_epoch_end(args, state, control, model=model)
    ...     average.on_evaluate(args, state, control, model=model, metrics={"eval_ndcg@10": weight})
    >>> model.weight.item(), average.scores  # the model keeps its own weights
    (0.0, [([1.0, 2.0], 3.0), ([2.0, 3.0], 2.5)])
    >>> average.best["epochs"], average.best["score"]
    ([1.0, 2.0], 3.0)

    ```
    """

    def __init__(self, epochs: int, score: Callable[[torch.nn.Module], float]):
        if epochs < 2:
            raise ValueError(f"averaging needs at least 2 epochs, got {epochs}")
        self.epochs = epochs
        self.score = score
        self.snapshots: list[dict[str, torch.Tensor]] = []
        self.epochs_seen: list[float] = []
        self.scores: list[tuple[list[float], float]] = []  # (epochs averaged, score) at each validation
        self.best: dict[str, Any] | None = None
        self._scoring = False

    def on_epoch_end(self, args: Any, state: Any, control: Any, model: Any = None, **kwargs: Any) -> None:
        self.snapshots.append(_parameters(model))
        self.epochs_seen.append(round(float(state.epoch or 0.0), 3))
        del self.snapshots[:-self.epochs], self.epochs_seen[:-self.epochs]

    def on_evaluate(self, args: Any, state: Any, control: Any, model: Any = None, metrics: Any = None,
                    **kwargs: Any) -> None:
        if self._scoring or len(self.snapshots) < 2 or not any(key.startswith("eval_") for key in metrics or {}):
            return  # its own scoring, too few epochs yet, or not the Trainer's per-epoch validation
        own = _parameters(model)
        self._scoring = True
        try:
            _load_parameters(model, average_parameters(self.snapshots))
            score = float(self.score(model))
            self.scores.append((list(self.epochs_seen), score))
            if self.best is None or score > self.best["score"]:
                self.best = {"epochs": list(self.epochs_seen), "score": score, "weights": _parameters(model)}
        finally:
            self._scoring = False
            _load_parameters(model, own)


def _parameters(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """CPU copies of the parameters (a tied parameter once)."""
    return {name: parameter.detach().to("cpu", copy=True) for name, parameter in model.named_parameters()}


@torch.no_grad()
def _load_parameters(model: torch.nn.Module, parameters: dict[str, torch.Tensor]) -> None:
    for name, parameter in model.named_parameters():
        parameter.copy_(parameters[name].to(parameter.device, parameter.dtype))


def average_parameters(snapshots: list[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    """The element-wise mean of parameter snapshots (computed in float32)."""
    if not snapshots:
        raise ValueError("no snapshots to average")
    return {name: torch.stack([snapshot[name].float() for snapshot in snapshots]).mean(0) for name in snapshots[0]}


@torch.no_grad()
def shrink_toward_fresh_init(model: GenRecForConditionalGeneration, weight: float, seed: int) -> None:
    """Every parameter becomes ``weight`` x itself + (1 - ``weight``) x the same parameter of a fresh initialisation
    of the model's config, drawn under ``seed`` (the global random state is left as it was).

    A warm start from weights trained on the same data can generalise worse than a fresh start (Ash & Adams, "On
    Warm-Starting Neural Network Training", NeurIPS 2020, whose shrink-and-perturb trick this follows: shrink the
    weights, perturb them with fresh noise). Moving toward a fresh initialisation rather than toward zero keeps
    layer-norm scales near 1.

    Example:

    ```python
    >>> import torch
    >>> from genrec_hf import GenRecConfig, GenRecForConditionalGeneration
    >>> config = GenRecConfig.from_preset("small", num_items=50, vocab_size=118)
    >>> model = GenRecForConditionalGeneration(config)
    >>> trained = model.get_input_embeddings().weight.clone()
    >>> shrink_toward_fresh_init(model, weight=0.5, seed=0)
    >>> _ = torch.manual_seed(0)
    >>> fresh = GenRecForConditionalGeneration(config).get_input_embeddings().weight
    >>> torch.allclose(model.get_input_embeddings().weight, (trained + fresh) / 2)
    True

    ```
    """
    if not 0 <= weight <= 1:
        raise ValueError(f"weight must be in [0, 1], got {weight}")
    if weight == 1:
        return
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        fresh = dict(type(model)(model.config).named_parameters())
    for name, parameter in model.named_parameters():
        parameter.mul_(weight).add_(fresh[name].to(parameter.device, parameter.dtype), alpha=1 - weight)


def _arguments(output_dir: Path, options: TrainOptions, epochs: int, select: bool) -> Seq2SeqTrainingArguments:
    learning_rate = options.learning_rate
    if select and options.finetune_learning_rate is not None:
        learning_rate = options.finetune_learning_rate
    return Seq2SeqTrainingArguments(
        output_dir=str(output_dir),
        num_train_epochs=epochs,
        per_device_train_batch_size=options.batch_size,
        per_device_eval_batch_size=options.eval_batch_size,
        learning_rate=learning_rate,
        weight_decay=options.weight_decay,
        warmup_steps=options.warmup_ratio,
        lr_scheduler_type=LR_SCHEDULERS[options.lr_scheduler],
        train_sampling_strategy="group_by_length",  # batches of similar length: far less padding on CPU
        length_column_name="length",
        eval_strategy="epoch",
        # checkpoints to resume from; model selection needs whole-epoch ones, pretraining saves every save_steps
        save_strategy="epoch" if select else "steps",
        save_steps=options.save_steps,
        save_total_limit=2,  # the newest may be half-written by a kill: keep the one before it
        load_best_model_at_end=select,
        metric_for_best_model=SELECTION_METRIC if select else None,
        greater_is_better=True,
        logging_strategy="steps",
        logging_steps=options.logging_steps,
        report_to=[],
        seed=options.seed,
        data_seed=options.seed,
        use_cpu=not torch.cuda.is_available(),
        bf16=options.bf16,
        remove_unused_columns=False,
        dataloader_num_workers=0,
    )


def _evaluation_arguments(output_dir: Path, batch_size: int) -> Seq2SeqTrainingArguments:
    return Seq2SeqTrainingArguments(output_dir=str(output_dir), per_device_eval_batch_size=batch_size,
                                    report_to=[], use_cpu=not torch.cuda.is_available())


def baselines(data: SequenceData, tokenizer: Any) -> dict[str, dict[str, dict[str, float]]]:
    """No-learning baselines on validation and test: max(history)+k (model ids) and most popular."""
    popular_counts = Counter(item for items in data.splits["train"]["items"] for item in items)
    popular = [tokenizer.item_to_id(item) for item, _ in popular_counts.most_common(20)]
    results: dict[str, dict[str, dict[str, float]]] = {"max_history_plus_k": {}, "most_popular": {}}
    for split in ("validation", "test"):
        rows = data.splits[split]
        histories = [[tokenizer.item_to_id(i) for i in h] for h in rows["history"]]
        targets = [tokenizer.item_to_id(t) for t in rows["target"]]
        results["max_history_plus_k"][split] = ranking_metrics(
            max_history_baseline(histories, tokenizer.num_items), targets)
        results["most_popular"][split] = ranking_metrics([popular] * len(targets), targets)
    return results


def plot_history(history: dict[str, list[dict[str, Any]]], path: Path, title: str) -> None:
    """Training loss and validation HR@10 / NDCG@10 per epoch, pretraining then fine-tuning."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (loss_axis, metric_axis) = plt.subplots(1, 2, figsize=(11, 4))
    offset = 0.0
    for stage, logs in history.items():
        losses = [(offset + log["epoch"], log["loss"]) for log in logs if "loss" in log and "epoch" in log]
        evals = [(offset + log["epoch"], log) for log in logs if "eval_hr@10" in log and "epoch" in log]
        if losses:
            loss_axis.plot(*zip(*losses), label=f"{stage} loss")
        for name, style in (("hr@10", "-o"), ("ndcg@10", "--s")):
            if evals:
                metric_axis.plot([e for e, _ in evals], [log[f"eval_{name}"] for _, log in evals], style,
                                 label=f"{stage} {name}")
        averages = [(offset + log["epoch"], log["average_ndcg@10"]) for log in logs
                    if "average_ndcg@10" in log and "epoch" in log]  # TrainOptions.average_epochs
        if averages:
            metric_axis.plot(*zip(*averages), ":^", label=f"{stage} ndcg@10, averaged weights")
        epochs = [log["epoch"] for log in logs if "epoch" in log]
        if epochs:
            offset += max(epochs)
            loss_axis.axvline(offset, color="grey", lw=0.5)
    loss_axis.set(xlabel="epoch (pretraining, then fine-tuning)", ylabel="training loss (token cross-entropy)")
    metric_axis.set(xlabel="epoch (pretraining, then fine-tuning)", ylabel="validation metric")
    for axis in (loss_axis, metric_axis):
        axis.grid(alpha=0.3)
        if axis.get_legend_handles_labels()[0]:
            axis.legend(fontsize=8)
    figure.suptitle(title)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


STAGE_DIRS = ("pretrain", "finetune", "evaluate")


def complete_checkpoints(stage_dir: Path) -> list[Path]:
    """Trainer checkpoints of a stage, oldest first, that a kill did not cut short.

    The Trainer writes ``trainer_state.json`` last, so a checkpoint is complete when that file parses.
    """
    found = []
    for folder in stage_dir.glob("checkpoint-*"):
        try:
            json.loads((folder / "trainer_state.json").read_text())
            step = int(folder.name.split("-")[-1])
        except (OSError, ValueError):
            continue
        found.append((step, folder))
    return [folder for _, folder in sorted(found)]


def _select_average(model: torch.nn.Module, averaging: EpochAverage, selected: dict[str, Any]) -> dict[str, Any]:
    """The best averaged weights replace ``model``'s (the best epoch's) if they scored higher on validation.
    Returns the new selection, which records the averages either way."""
    key = f"validation_{SELECTION_METRIC}"
    best = averaging.best
    if best is None:
        return {**selected, "average": {"note": "fewer than 2 epoch ends: nothing averaged"}}
    record = {"epochs": best["epochs"], key: best["score"],
              "kept": best["score"] > (selected[key] if selected[key] is not None else float("-inf")),
              "scores": [{"epochs": epochs, key: score} for epochs, score in averaging.scores]}
    if not record["kept"]:
        return {**selected, "average": record}
    _load_parameters(model, best["weights"])
    epochs = ", ".join(f"{epoch:g}" for epoch in best["epochs"])
    return {"stage": selected["stage"], "checkpoint": None, key: best["score"], "average": record,
            "note": f"the average of the weights at the ends of epochs {epochs}, above every single epoch"}


def _prepare_output_dir(output_dir: Path, options: TrainOptions) -> None:
    previous = [name for name in (*STAGE_DIRS, "checkpoint", "metrics.json") if (output_dir / name).exists()]
    if not previous or options.resume:
        return
    if not options.overwrite:
        raise FileExistsError(f"{output_dir} holds a previous run ({', '.join(previous)}): pass --resume to "
                              "continue it or --overwrite to start over")
    for name in previous:
        path = output_dir / name
        shutil.rmtree(path) if path.is_dir() else path.unlink()


def _record_start(output_dir: Path, provenance: dict[str, Any], options: TrainOptions) -> None:
    """Write what this start ran (commit, machine, versions, options) to ``starts.json`` before training.

    A run killed before its ``metrics.json`` keeps only checkpoints; this file still says which code and settings
    trained them (``benchmarks/stopped_run.py`` reads it). A resumed run appends its start to the list.
    """
    path = output_dir / "starts.json"
    starts = json.loads(path.read_text())["starts"] if options.resume and path.is_file() else []
    write_json_atomic(path, {"starts": [*starts, {**provenance, "options": asdict(options)}]})


def train_genrec(data: SequenceData, output_dir: str | Path, options: TrainOptions | None = None, *,
                 commit: str | None = None) -> dict[str, Any]:
    """Pretrain (cloze), fine-tune (appended ``[MASK]``), select on validation, score test once, save.

    Writes ``output_dir/starts.json`` (commit, machine, options) before training, then ``checkpoint`` (model +
    tokenizer, safetensors), ``metrics.json`` and ``training_curves.png``, each complete or not at all (written
    beside, then renamed); returns the metrics dictionary. With ``options.resume`` a killed run continues from its
    newest complete checkpoint: finished stages are loaded from their snapshot (``STAGE/final``), a stage in
    progress resumes in the middle of its epoch (pretraining, every ``save_steps``) or at its last epoch
    (fine-tuning), and the result is the one an uninterrupted run with the same seed gives
    (``tests/test_resume.py`` compares the weights).

    ``commit`` is the git commit to record when the caller took it earlier: the ``train`` command takes it before
    loading the data, so that a file edited during a long load does not mark the run ``-dirty``. By default it is
    the commit when training starts.

    Example (a tiny model on the built-in synthetic data):

    ```python
    >>> import contextlib, io, tempfile
    >>> from genrec_hf import TrainOptions, load_data, train_genrec
    >>> tiny = dict(d_model=32, encoder_layers=1, decoder_layers=1, encoder_ffn_dim=64, decoder_ffn_dim=64)
    >>> options = TrainOptions(pretrain_epochs=1, finetune_epochs=1, eval_users=50, max_length=128, threads=1,
    ...                        config_overrides=tiny)
    >>> with contextlib.redirect_stdout(io.StringIO()):  # the Trainer prints its logs
    ...     results = train_genrec(load_data("synthetic"), tempfile.mkdtemp(), options)
    >>> results["test"]["users"], sorted(results["baselines"])
    (400, ['max_history_plus_k', 'most_popular'])

    ```
    """
    from accelerate import PartialState

    options = options or TrainOptions()
    output_dir = Path(output_dir)
    state = PartialState()
    if state.is_main_process:
        output_dir.mkdir(parents=True, exist_ok=True)
        _prepare_output_dir(output_dir, options)
    state.wait_for_everyone()
    if options.threads:
        torch.set_num_threads(options.threads)
    set_seed(options.seed)
    started = time.perf_counter()
    provenance = environment()  # the commit and versions this run starts with
    if commit is not None:
        provenance["git_commit"] = commit
    if state.is_main_process:
        _record_start(output_dir, provenance, options)
    tokenizer = data.tokenizer(item_codes=options.item_codes, users=options.users,
                               model_max_length=options.max_length)
    config = GenRecConfig.from_preset(options.preset, tokenizer, **options.config_overrides)
    model = GenRecForConditionalGeneration(config)
    splits = dict(data.splits)
    if not options.users:  # an item-only model: no row carries a user (its tokenizer knows none)
        splits = {name: split.remove_columns("user") if "user" in split.column_names else split
                  for name, split in splits.items()}
    validation = splits["validation"]
    selection_set = validation
    if options.eval_users and options.eval_users < len(validation):
        selection_set = validation.shuffle(seed=options.seed).select(range(options.eval_users))
    history: dict[str, list[dict[str, Any]]] = {}
    timings: dict[str, float] = {}
    resumed: dict[str, str] = {}
    deadline = started + options.budget_min * 60 if options.budget_min else None
    budget: dict[str, Any] = {"stopped": {}, "skipped": []} if deadline else {}  # the minutes: options

    stages = []
    if options.pretrain_epochs > 0:
        stages.append(("pretrain", options.pretrain_epochs, splits["train"], ClozeCollator(
            tokenizer, seed=options.seed, max_length=options.max_length,
            last_item_probability=options.cloze_last_item_probability), False))
    if options.finetune_epochs > 0:
        examples = finetune_examples(splits["train"], prefixes=options.prefixes)
        stages.append(("finetune", options.finetune_epochs, examples, NextItemCollator(
            tokenizer, max_length=options.max_length), True))
    selected: dict[str, Any] = {}
    timings["setup_s"] = round(time.perf_counter() - started, 1)  # tokenizer (and item codes), model
    for stage, epochs, train_set, collator, select in stages:
        stage_started = time.perf_counter()
        stage_dir = output_dir / stage
        final = stage_dir / "final"
        if options.resume and (final / "stage.json").is_file():  # finished before the interruption
            model = GenRecForConditionalGeneration.from_pretrained(final)
            record = json.loads((final / "stage.json").read_text())
            history[stage], timings[f"{stage}_s"] = record["history"], record["seconds"]
            selected = record.get("selected", selected)
            resumed[stage] = "loaded the finished stage"
            continue
        before = None
        if select and history.get("pretrain"):
            # the pretrained model is a candidate too: fine-tuning must beat it on validation to replace it
            last_eval = [log for log in history["pretrain"] if f"eval_{SELECTION_METRIC}" in log][-1]
            before = last_eval[f"eval_{SELECTION_METRIC}"]
        if deadline is not None and history and time.perf_counter() >= deadline:
            budget["skipped"].append(stage)  # spent by an earlier stage (the first one always trains)
            if select and before is not None:
                selected = {"stage": "pretrain", "checkpoint": None, f"validation_{SELECTION_METRIC}": before,
                            "note": "fine-tuning skipped: pretraining spent the training budget"}
            continue
        if select and history.get("pretrain") and options.pretrained_weight != 1:
            # a resumed fine-tuning loads its checkpoint's weights over these, so this cannot apply twice
            shrink_toward_fresh_init(model, options.pretrained_weight, seed=options.seed + 1)
        column = "items" if "items" in train_set.column_names else "history"
        train_set = train_set.map(lambda batch, column=column: {"length": [len(x) for x in batch[column]]},
                                  batched=True, desc=f"{stage}: lengths")
        trainer = GenRecTrainer(
            model=model,
            args=_arguments(stage_dir, options, epochs, select),
            train_dataset=train_set,
            eval_dataset=selection_set,
            data_collator=collator,
            processing_class=tokenizer,
            top_k=options.top_k,
            logit_bias_lr_scale=options.logit_bias_lr_scale,
        )
        averaging = None
        if select and options.average_epochs:
            averaging = EpochAverage(options.average_epochs, score=lambda _, trainer=trainer: trainer.evaluate(
                selection_set, metric_key_prefix="average")[f"average_{SELECTION_METRIC}"])
            trainer.add_callback(averaging)
        clock = WallClockBudget(deadline) if deadline is not None else None
        if clock is not None:
            trainer.add_callback(clock)
        checkpoints = complete_checkpoints(stage_dir) if options.resume else []
        if checkpoints:
            resumed[stage] = f"resumed from {checkpoints[-1].name}"
        trainer.train(resume_from_checkpoint=str(checkpoints[-1]) if checkpoints else None)
        model = trainer.model
        if clock is not None and clock.stopped is not None:
            budget["stopped"][stage] = clock.stopped
        if select:
            selected = {"stage": stage, "checkpoint": trainer.state.best_model_checkpoint,
                        f"validation_{SELECTION_METRIC}": trainer.state.best_metric}
            if averaging is not None:
                selected = _select_average(trainer.model, averaging, selected)
            if before is not None and before > (selected[f"validation_{SELECTION_METRIC}"] or float("-inf")):
                model = GenRecForConditionalGeneration.from_pretrained(output_dir / "pretrain" / "final")
                selected = {"stage": "pretrain", "checkpoint": None, f"validation_{SELECTION_METRIC}": before,
                            "note": "no fine-tuning epoch beat the pretrained model on validation"}
        history[stage] = trainer.state.log_history  # with the averaged model's validation, if any
        seconds = round(time.perf_counter() - stage_started, 1)
        timings[f"{stage}_s"] = seconds
        if trainer.is_world_process_zero():
            record = {"history": history[stage], "seconds": seconds, "selected": selected}
            write_folder_atomic(final, lambda folder, model=model, record=record: (
                model.save_pretrained(folder), (folder / "stage.json").write_text(json.dumps(record, default=str))))
        state.wait_for_everyone()

    final_trainer = GenRecTrainer(model=model, args=_evaluation_arguments(output_dir / "evaluate",
                                                                          options.eval_batch_size),
                                  processing_class=tokenizer, top_k=options.top_k)
    eval_started = time.perf_counter()
    validation_metrics = final_trainer.evaluate(validation, metric_key_prefix="validation")
    test_metrics = final_trainer.evaluate(splits["test"], metric_key_prefix="test")  # once, at the end
    # The same model with the history's items forbidden, as the pipeline does by default: reported beside, never
    # used for model selection. The headline numbers keep them, as the paper and RecBole's full-sort evaluation
    # of sequential models (SASRec) do.
    final_trainer.exclude_history = True
    excluded = {split: final_trainer.evaluate(rows, metric_key_prefix=split)
                for split, rows in (("validation", validation), ("test", splits["test"]))}
    timings["evaluate_s"] = round(time.perf_counter() - eval_started, 1)
    timings["total_s"] = round(time.perf_counter() - started, 1)

    checkpoint = output_dir / "checkpoint"
    results = {
        **provenance,
        "data": {"source": data.source, "ids": data.ids, "id_seed": data.seed, "report": data.report},
        "options": asdict(options),
        "model": {"parameters": sum(p.numel() for p in model.parameters()),
                  "config": {k: getattr(config, k) for k in ("d_model", "encoder_layers", "decoder_layers",
                                                             "encoder_attention_heads", "encoder_ffn_dim",
                                                             "vocab_size", "num_users", "num_items",
                                                             "label_smoothing", "dropout", "attention_dropout",
                                                             "item_id_embedding", "positions_from_end",
                                                             "decoder_start_from_mask",
                                                             "decoder_start_from_last_item",
                                                             "history_item_bias", "successor_item_bias")},
                  # the learned shift of the history's items' logits (history_item_bias): < 0 avoids repeats
                  **({"history_logit_bias": round(model.history_logit_bias.item(), 4)}
                     if getattr(model, "history_logit_bias", None) is not None else {}),
                  # the learned shifts of items max(history)+1, +2, ... (successor_item_bias): > 0 reads the id order
                  **({"successor_logit_bias": [round(v, 4) for v in model.successor_logit_bias.tolist()]}
                     if getattr(model, "successor_logit_bias", None) is not None else {})},
        "validation": {k.removeprefix("validation_"): v for k, v in validation_metrics.items()},
        "test": {k.removeprefix("test_"): v for k, v in test_metrics.items()},
        "history_excluded": {split: {k.removeprefix(f"{split}_"): v for k, v in metrics.items()}
                             for split, metrics in excluded.items()},
        "baselines": baselines(data, tokenizer),
        "selected_model": selected,
        "timings": timings,
        **({"budget": budget} if budget else {}),
        "world_size": state.num_processes,
        "resumed": resumed,
        "history": history,
        "checkpoint": str(checkpoint),
    }
    if not final_trainer.is_world_process_zero():  # under DDP one process writes the outputs
        return results
    # checkpoint, then curves, then metrics.json: a run folder with metrics.json is complete
    write_folder_atomic(checkpoint, lambda folder: (model.save_pretrained(folder), tokenizer.save_pretrained(folder)))
    curves = output_dir / ".training_curves.png.partial.png"
    plot_history(history, curves, f"GenRec on {Path(data.source).parent.name or data.source} ({data.ids} ids)")
    os.replace(curves, output_dir / "training_curves.png")
    write_json_atomic(output_dir / "metrics.json", results)
    return results


def evaluate_checkpoint(checkpoint: str | Path, data: SequenceData, splits: tuple[str, ...] = ("test",),
                        batch_size: int = 64, top_k: int = 20, exclude_history: bool = False) -> dict[str, Any]:
    """Re-score a saved checkpoint on the given splits (the checkpoint's tokenizer defines the ids).

    Raises ``ValueError`` if the checkpoint's tokenizer does not know the data set's items.
    ``genrec-hf evaluate CHECKPOINT --data ...`` is this function; ``tests/test_training.py`` runs it on a
    checkpoint trained there (a doctest would need one).
    """
    from .tokenization import GenRecTokenizer

    tokenizer = GenRecTokenizer.from_pretrained(checkpoint)
    model = GenRecForConditionalGeneration.from_pretrained(checkpoint)
    tokenizer.check_model_config(model.config)
    unknown = {item for item in data.items if tokenizer.items.to_id(item) is None}
    if unknown:
        raise ValueError(f"{checkpoint}: its tokenizer does not know {len(unknown)} items of {data.source} "
                         f"(e.g. {sorted(map(str, unknown))[:3]}); was it trained on this data set?")
    trainer = GenRecTrainer(model=model, args=_evaluation_arguments(Path(checkpoint) / "evaluate", batch_size),
                            processing_class=tokenizer, top_k=top_k, exclude_history=exclude_history)
    results = {**environment(), "checkpoint": str(checkpoint), "data": data.source}
    for split in splits:
        rows = data.splits[split]
        if tokenizer.num_users == 0 and "user" in rows.column_names:  # an item-only model reads no user
            rows = rows.remove_columns("user")
        metrics = trainer.evaluate(rows, metric_key_prefix=split)
        results[split] = {k.removeprefix(f"{split}_"): v for k, v in metrics.items()}
    return results


def describe(results: dict[str, Any]) -> str:
    """A short human summary of a metrics dictionary."""
    lines = []
    for split in ("validation", "test"):
        if split in results:
            scores = results[split]
            lines.append(f"{split}: " + ", ".join(f"{k} {scores[k]:.4f}" for k in ("hr@5", "ndcg@5", "hr@10",
                                                                                   "ndcg@10") if k in scores))
    if "timings" in results:
        lines.append("timings: " + json.dumps(results["timings"]))
    return "\n".join(lines) if lines else json.dumps(results)[:500]


__all__ = ["TrainOptions", "WallClockBudget", "EpochAverage", "average_parameters", "train_genrec",
           "evaluate_checkpoint", "baselines", "plot_history", "describe"]
