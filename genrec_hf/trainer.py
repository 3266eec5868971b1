"""GenRecTrainer: the HF Seq2SeqTrainer, evaluated by all-item ranking of constrained top-k beams."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import math

import torch
from datasets import Dataset
from tqdm.auto import tqdm
from transformers import Seq2SeqTrainer, TrainerCallback
from transformers.trainer_pt_utils import LengthGroupedSampler

from .metrics import ranking_metrics
from .modeling.generation_genrec import recommend_batch


def recommend_rows(
    model: Any,
    tokenizer: Any,
    users: Sequence[Any],
    histories: Sequence[Sequence[Any]],
    top_k: int = 20,
    batch_size: int = 64,
    exclude_history: bool = False,
    progress: bool = True,
    desc: str = "recommending",
    max_length: int | None = None,
) -> list[list[tuple[int, float]]]:
    """Top-``top_k`` ``(model item id, log-prob)`` for each (user, raw-id history), in batches."""
    model.eval()
    # Batches of similar length waste little on padding; results go back to the input order.
    order = sorted(range(len(histories)), key=lambda i: len(histories[i]))
    results: list[list[tuple[int, float]] | None] = [None] * len(histories)
    starts = range(0, len(order), batch_size)
    for start in tqdm(starts, desc=desc, disable=not progress, leave=False):
        rows = order[start:start + batch_size]
        batch = tokenizer.encode_histories([histories[i] for i in rows], users=[users[i] for i in rows],
                                           max_length=max_length, return_tensors="pt")
        excluded = None
        if exclude_history:  # the whole history, not only the most recent items that fit max_length
            excluded = [sorted({tokenizer.item_to_id(item) for item in histories[i]}) for i in rows]
        for row, ranked in zip(rows, recommend_batch(model, tokenizer, batch, top_k=top_k, excluded_items=excluded)):
            results[row] = ranked
    return results


def plain_lengths(lengths: Sequence[int] | torch.Tensor | None) -> list[int] | None:
    """``lengths`` as a plain list, which the sampler indexes once per example every epoch.

    The Trainer hands over ``dataset["length"]``, a lazy ``datasets`` Column in datasets 4+, where each index
    reads the Arrow table: building one epoch's batches took tens of seconds for beauty's 131k examples, against
    milliseconds from a list. ``column[:]`` reads it whole (and keeps a ``select``'s or ``shuffle``'s order).
    """
    if lengths is None or isinstance(lengths, list):
        return lengths
    if isinstance(lengths, torch.Tensor):
        return lengths.tolist()
    return list(lengths[:])


class EpochSeededLengthSampler(LengthGroupedSampler):
    """``group_by_length`` batches whose order is a pure function of ``(seed, epoch)``.

    The library's sampler draws its order from the global torch generator when an epoch starts, so a run
    resumed in the middle of an epoch would see a different order from the one it was killed in. Seeding by
    epoch makes the resumed epoch replay the same batches (the Trainer then skips the ones already done).
    """

    def __init__(self, *args: Any, seed: int = 0, lengths: Sequence[int] | None = None, **kwargs: Any):
        super().__init__(*args, lengths=plain_lengths(lengths), **kwargs)
        self.seed = seed
        self.set_epoch(0)

    def set_epoch(self, epoch: int) -> None:
        self.generator = torch.Generator().manual_seed(self.seed * 100_003 + int(epoch))


class SetEpochCallback(TrainerCallback):
    """Calls ``set_epoch(epoch)`` on the training collator and sampler at the start of every epoch.

    ``ClozeCollator`` draws its masks from ``(seed, epoch, example)``, so it must know the epoch.
    ``GenRecTrainer`` adds this callback itself; with another Trainer, pass ``callbacks=[SetEpochCallback()]``,
    or every epoch masks the same items.

    Example:

    ```python
    >>> from transformers import Trainer, TrainingArguments
    >>> from genrec_hf import SetEpochCallback
    >>> args = TrainingArguments("out", report_to=[])  # with model, data and a ClozeCollator:
    >>> trainer_kwargs = dict(args=args, callbacks=[SetEpochCallback()])

    ```
    """

    def on_epoch_begin(self, args: Any, state: Any, control: Any, train_dataloader: Any = None, **kwargs: Any) -> None:
        epoch = math.floor(state.epoch + 1e-6) if state.epoch else 0  # a resumed run starts mid-epoch (e.g. 2.4)
        batch_sampler = getattr(train_dataloader, "batch_sampler", None)
        parts = {id(p): p for p in (
            getattr(train_dataloader, "collate_fn", None), getattr(train_dataloader, "sampler", None),
            getattr(batch_sampler, "sampler", None),
            getattr(getattr(batch_sampler, "batch_sampler", None), "sampler", None),  # accelerate's shard wrapper
        ) if p is not None and hasattr(p, "set_epoch")}
        for part in parts.values():
            part.set_epoch(epoch)


class GenRecTrainer(Seq2SeqTrainer):
    """``Seq2SeqTrainer`` whose evaluation is the paper's all-item ranking (section 7.2).

    ``evaluate`` generates the top-``top_k`` catalogue items for every row (``user``, ``history``,
    ``target``) of the evaluation set by trie-constrained beam search and reports HR@{1,5,10,20} and
    NDCG@{5,10,20}. Under DDP each process scores a disjoint slice of the rows (no padding, so no user
    is dropped or counted twice) and the ranked lists are gathered before the metrics.

    Args (beyond ``Seq2SeqTrainer``'s):
        top_k: how many items to rank per user (20 in the paper).
        exclude_history: forbid items already in the history (off for the paper protocol).
        eval_batch_size: histories per generate call (default ``per_device_eval_batch_size``).
        eval_max_length: token budget of an evaluation history (default: the tokenizer's).
        logit_bias_lr_scale: the learning rate of the model's learned logit shifts (``history_logit_bias``,
            ``successor_logit_bias``) as a multiple of ``args.learning_rate``. Each is one number that may need to
            travel several units, and Adam moves a parameter by about the learning rate per step, so at the
            network's rate they are still growing when the network has converged.

    Example:

    ```python
    >>> import contextlib, io, tempfile
    >>> from datasets import Dataset
    >>> from transformers import Seq2SeqTrainingArguments
    >>> from genrec_hf import GenRecConfig, GenRecForConditionalGeneration, GenRecTokenizer, GenRecTrainer
    >>> tok = GenRecTokenizer.from_catalogue(items=[f"i{n}" for n in range(30)], users=["u"])
    >>> model = GenRecForConditionalGeneration(GenRecConfig.from_preset("small", tok))
    >>> trainer = GenRecTrainer(model=model, args=Seq2SeqTrainingArguments(tempfile.mkdtemp(), report_to=[]),
    ...                         processing_class=tok)
    >>> rows = Dataset.from_dict({"user": ["u"], "history": [["i1", "i2"]], "target": ["i3"]})
    >>> with contextlib.redirect_stdout(io.StringIO()):  # the Trainer prints its logs
    ...     metrics = trainer.evaluate(rows)
    >>> metrics["eval_users"], sorted(k for k in metrics if k.startswith("eval_hr"))
    (1, ['eval_hr@1', 'eval_hr@10', 'eval_hr@20', 'eval_hr@5'])

    ```
    """

    def __init__(self, *args: Any, top_k: int = 20, exclude_history: bool = False,
                 eval_batch_size: int | None = None, eval_max_length: int | None = None,
                 logit_bias_lr_scale: float = 1.0, **kwargs: Any):
        if not logit_bias_lr_scale > 0:  # also refuses NaN
            raise ValueError(f"logit_bias_lr_scale must be > 0, got {logit_bias_lr_scale}")
        self.logit_bias_lr_scale = logit_bias_lr_scale
        super().__init__(*args, **kwargs)
        if self.processing_class is None or not hasattr(self.processing_class, "encode_histories"):
            raise ValueError("GenRecTrainer needs processing_class=<a GenRecTokenizer>")
        self.processing_class.check_model_config(self.model.config)
        self.top_k = top_k
        self.exclude_history = exclude_history
        self.eval_batch_size = eval_batch_size or self.args.per_device_eval_batch_size
        self.eval_max_length = eval_max_length
        self.add_callback(SetEpochCallback())
        self._train_started: float | None = None

    def create_optimizer(self, model: Any = None) -> torch.optim.Optimizer:
        """The Trainer's optimizer, with the learned logit shifts in a group of their own at
        ``logit_bias_lr_scale`` times the learning rate (no weight decay, as the Trainer gives any bias)."""
        optimizer = super().create_optimizer(model)
        if self.logit_bias_lr_scale == 1.0:
            return optimizer
        shifts = [parameter for name, parameter in (self.model if model is None else model).named_parameters()
                  if name.endswith("_logit_bias") and parameter.requires_grad]
        if shifts and not any(group.get("logit_bias") for group in optimizer.param_groups):
            chosen = {id(parameter) for parameter in shifts}
            for group in optimizer.param_groups:
                group["params"] = [p for p in group["params"] if id(p) not in chosen]
            optimizer.add_param_group({"params": shifts, "weight_decay": 0.0, "logit_bias": True,
                                       "lr": self.args.learning_rate * self.logit_bias_lr_scale})
        return optimizer

    def train(self, *args: Any, **kwargs: Any) -> Any:
        self._train_started = time.perf_counter()  # evaluation logs carry the wall time since this moment
        return super().train(*args, **kwargs)

    def _issue_warnings_after_load(self, load_result: Any) -> None:
        """Keep transformers from calling tied weights missing when it loads the best checkpoint.

        safetensors stores a tied tensor once, so ``load_best_model_at_end`` finds the encoder's and decoder's
        token embeddings and ``lm_head`` "missing" and warns that they were not loaded (transformers #27972,
        #29128), though they share the loaded ``model.shared`` tensor. Only keys still sharing their source's
        storage are dropped from the warning; a broken tie is still reported.
        """
        model = self.accelerator.unwrap_model(self.model)
        tied = getattr(model, "all_tied_weights_keys", None) or {}
        parameters = dict(model.named_parameters(remove_duplicate=False))

        def still_tied(key: str) -> bool:
            source = tied.get(key)
            return (source is not None and source not in load_result.missing_keys and key in parameters
                    and source in parameters and parameters[key].data_ptr() == parameters[source].data_ptr())

        missing = [key for key in load_result.missing_keys if not still_tied(key)]
        super()._issue_warnings_after_load(load_result._replace(missing_keys=missing))

    def _get_train_sampler(self, train_dataset: Dataset | None = None) -> Any:
        sampler = super()._get_train_sampler(train_dataset)
        if type(sampler) is LengthGroupedSampler:  # the same batches, in an order seeded by epoch
            sampler = EpochSeededLengthSampler(sampler.batch_size, lengths=sampler.lengths,
                                               seed=self.args.data_seed if self.args.data_seed is not None
                                               else self.args.seed)
        return sampler

    def evaluate(
        self,
        eval_dataset: Dataset | None = None,
        ignore_keys: list[str] | None = None,
        metric_key_prefix: str = "eval",
        **gen_kwargs: Any,
    ) -> dict[str, float]:
        dataset = eval_dataset if eval_dataset is not None else self.eval_dataset
        if dataset is None:
            raise ValueError("GenRecTrainer.evaluate needs an eval_dataset with user, history and target columns")
        if isinstance(dataset, dict):
            raise ValueError("pass one evaluation Dataset, not a dict of them")
        missing = {"history", "target"} - set(dataset.column_names)
        if missing:
            raise ValueError(f"the evaluation set lacks column(s) {sorted(missing)}")
        started = time.perf_counter()
        rank, world = self.args.process_index, self.args.world_size
        indices = list(range(rank, len(dataset), world))
        shard = dataset.select(indices)
        users = shard["user"] if "user" in shard.column_names else [None] * len(shard)
        model = self.accelerator.unwrap_model(self.model)
        was_training = model.training
        ranked = recommend_rows(model, self.processing_class, users, shard["history"], top_k=self.top_k,
                                max_length=self.eval_max_length,
                                batch_size=self.eval_batch_size, exclude_history=self.exclude_history,
                                progress=self.is_local_process_zero() and not self.args.disable_tqdm,
                                desc=f"{metric_key_prefix}: ranking {len(dataset)} users")
        model.train(was_training)
        rows = [(index, [item for item, _ in items], self.processing_class.item_to_id(target))
                for index, items, target in zip(indices, ranked, shard["target"])]
        if world > 1:
            from accelerate.utils import gather_object

            rows = gather_object(rows)
        rows.sort(key=lambda row: row[0])
        if [row[0] for row in rows] != list(range(len(dataset))):
            raise RuntimeError(f"evaluation scored {len(rows)} rows for {len(dataset)} users")
        scores = ranking_metrics([row[1] for row in rows], [row[2] for row in rows])
        metrics = {f"{metric_key_prefix}_{name}": value for name, value in scores.items()}
        metrics[f"{metric_key_prefix}_users"] = len(rows)
        metrics[f"{metric_key_prefix}_runtime"] = round(time.perf_counter() - started, 3)
        logged = dict(metrics)
        if self._train_started is not None:  # for time-to-quality curves (benchmarks compare wall time)
            logged["elapsed_s"] = round(time.perf_counter() - self._train_started, 1)
        self.log(logged)  # log() adds the epoch to what it is given
        self.control = self.callback_handler.on_evaluate(self.args, self.state, self.control, metrics)
        return metrics
