"""Publishing a training run on the Hugging Face Hub: a model card from ``metrics.json``, one self-contained
folder (weights, config, tokenizer, remote code, pipeline, generation config, card), then one commit.

Everything up to the upload works offline. The upload is the only network step: it goes through
``huggingface_hub.HfApi`` (the token comes from ``HF_TOKEN`` or ``hf auth login``), and when the Hub cannot be
reached the finished folder stays on disk and the error says how to retry.
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from huggingface_hub import CommitOperationAdd, CommitOperationDelete, EvalResult, HfApi, ModelCard, ModelCardData
from huggingface_hub.errors import HfHubHTTPError, HTTPError

from .hub_cards import DATASETS_PATH, TEMPLATE_PATH
from .provenance import write_folder_atomic

METRICS = ("hr@1", "hr@5", "hr@10", "hr@20", "ndcg@5", "ndcg@10", "ndcg@20")
METRIC_NAMES = {m: m.upper() for m in METRICS}
TAGS = ["recommendation", "sequential-recommendation", "genrec", "bart"]
PROTOCOLS = {
    "sequential": "the data set's own item ids, as in the paper; they were assigned in order of first appearance "
                  "and leak the answer (see Limitations)",
    "random": "items and users renumbered by a seeded random permutation before anything else, so the ids carry "
              "no order to exploit",
}


class PushError(RuntimeError):
    """The Hub could not be reached or refused the upload; the exported folder is intact."""


def read_run(run_dir: str | Path) -> dict[str, Any]:
    """A run's ``metrics.json`` (``run_dir`` is the run folder, or the JSON itself, e.g. the copy
    ``benchmarks/train.py`` records), with a clear error when it is not a finished run."""
    path = Path(run_dir) if Path(run_dir).suffix == ".json" else Path(run_dir) / "metrics.json"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: not found; a run folder is what `genrec-hf train` writes "
                                "(checkpoint/, metrics.json, training_curves.png)")
    try:
        metrics = json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise ValueError(f"{path}: not valid JSON ({error})") from error
    for key in ("data", "options", "model", "test"):
        if key not in metrics:
            raise ValueError(f"{path}: has no '{key}' entry; is it a genrec-hf run's metrics.json?")
    return metrics


def read_reference(path: str | Path) -> dict[str, Any]:
    """Another model's results on the same split (e.g. ``benchmarks/sasrec_recbole.py``'s JSON) for the card.

    It needs ``model`` (a name) and ``test`` (metrics; RecBole's ``hit@k`` are read as ``hr@k``); the same model's
    test scores with the history's items forbidden (``history_excluded.test``), where recorded, get a row too.
    """
    path = Path(path)
    try:
        reference = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as error:
        raise ValueError(f"{path}: not a readable results JSON ({error})") from error
    if not isinstance(reference.get("model"), str) or not isinstance(reference.get("test"), dict):
        raise ValueError(f"{path}: a reference results JSON needs a 'model' name and 'test' metrics")
    excluded = reference.get("history_excluded")
    if excluded is not None:
        if not isinstance(excluded, dict) or not isinstance(excluded.get("test"), dict):
            raise ValueError(f"{path}: 'history_excluded' must hold 'test' metrics, got {excluded!r}")
        excluded = excluded["test"]

    def metrics(scores: dict) -> dict[str, float]:
        return {key.replace("hit@", "hr@"): float(value) for key, value in scores.items()
                if isinstance(value, (int, float))}

    test = metrics(reference["test"])
    label = reference["model"]
    if reference.get("epochs_limit"):
        label += f", {reference['epochs_limit']}-epoch limit"
    if reference.get("budget_min"):
        label += f", {reference['budget_min']:g}-min budget"
    # a budget-bound run's epoch count depends on the host's speed: it tells two runs of one command apart
    curve = reference.get("curve")
    if isinstance(reference.get("best_epoch"), int) and isinstance(curve, list) and curve:
        label += f" (epoch {reference['best_epoch']} of {len(curve)})"
    source = str(reference.get("data", {}).get("source", ""))
    return {"label": label, "test": test, "history_excluded": None if excluded is None else metrics(excluded),
            "dataset": Path(source).parent.name if source else None, "path": str(path)}


# Options that change how a run is executed or logged, not what it trains: runs that differ only in these (and the
# seed) are one recipe.
RUN_ONLY_OPTIONS = frozenset({"seed", "threads", "resume", "overwrite", "logging_steps", "save_steps",
                              "eval_batch_size"})


def read_seed_runs(metrics: dict[str, Any], seed_runs: Sequence[str | Path]) -> list[dict[str, Any]]:
    """The same recipe as ``metrics`` trained under other seeds (run folders or their recorded JSONs).

    Refuses a run of another data set, id protocol or recipe, naming the options that differ, and a repeated seed.

    Example:

    ```python
    >>> import json, tempfile
    >>> from pathlib import Path
    >>> run = {"data": {"source": "../shared/data/beauty/sequential_data.txt", "ids": "random"},
    ...        "options": {"seed": 0, "finetune_epochs": 20}, "model": {}, "test": {"ndcg@10": 0.031}}
    >>> other = Path(tempfile.mkdtemp()) / "run-seed1.json"
    >>> _ = other.write_text(json.dumps({**run, "options": {"seed": 1, "finetune_epochs": 8}}))
    >>> read_seed_runs(run, [other])
    Traceback (most recent call last):
    ValueError: ...run-seed1.json: not the same recipe under another seed; it differs in finetune_epochs

    ```
    """
    runs = []
    for path in seed_runs:
        other = read_run(path)
        differ = _recipe_differences(metrics, other)
        if differ:
            raise ValueError(f"{path}: not the same recipe under another seed; it differs in {', '.join(differ)}")
        runs.append(other)
    seeds = [run["options"]["seed"] for run in [metrics, *runs]]
    if len(set(seeds)) < len(seeds):
        raise ValueError(f"seed runs repeat a seed: {sorted(seeds)}")
    return runs


def _recipe_differences(run: dict[str, Any], other: dict[str, Any]) -> list[str]:
    """The recipe options (data set, id protocol, training options but those of ``RUN_ONLY_OPTIONS``) in which two
    runs differ."""
    import dataclasses

    from .training import TrainOptions

    # An option added after a run was recorded is absent from its JSON: that run had the option's default behaviour.
    defaults = {f.name: f.default for f in dataclasses.fields(TrainOptions) if f.default is not dataclasses.MISSING}

    def recipe(metrics: dict[str, Any]) -> dict[str, Any]:
        options = {**defaults, **metrics["options"]}
        options = {k: v for k, v in options.items() if k not in RUN_ONLY_OPTIONS}
        return {"data set": _dataset_key(metrics), "ids": metrics["data"]["ids"], **options}

    mine, theirs = recipe(run), recipe(other)
    return sorted(k for k in mine.keys() | theirs.keys() if mine.get(k) != theirs.get(k))


def read_recorded(metrics: dict[str, Any], recorded: str | Path) -> dict[str, Any] | None:
    """The project's record of this very run (same recipe, same seed), when ``metrics`` is a re-training of it.

    A seeded run repeats exactly on one CPU type but not across types, so a checkpoint trained again for export
    (on another machine) scores a little differently from the run the project's results and README report. The
    card then shows both, says which one the weights are, and averages the record over seeds. Returns ``None``
    when the record scores what this training scores (the same training, or a repeat on the same CPU type).

    Example:

    ```python
    >>> import json, tempfile
    >>> from pathlib import Path
    >>> run = {"data": {"source": "../shared/data/beauty/sequential_data.txt", "ids": "random"},
    ...        "options": {"seed": 2}, "model": {}, "test": {"ndcg@10": 0.0510}, "git_commit": "d8b2abb"}
    >>> record = Path(tempfile.mkdtemp()) / "run-seed2.json"
    >>> _ = record.write_text(json.dumps({**run, "test": {"ndcg@10": 0.0506}, "git_commit": "3f95a65"}))
    >>> read_recorded(run, record)["test"]
    {'ndcg@10': 0.0506}
    >>> _ = record.write_text(json.dumps({**run, "options": {"seed": 1}}))
    >>> read_recorded(run, record)
    Traceback (most recent call last):
    ValueError: ...run-seed2.json: the record of seed 1, this model is seed 2

    ```
    """
    record = read_run(recorded)
    differ = _recipe_differences(metrics, record)
    if differ:
        raise ValueError(f"{recorded}: not the record of this model's recipe; it differs in {', '.join(differ)}")
    if record["options"].get("seed") != metrics["options"].get("seed"):
        raise ValueError(f"{recorded}: the record of seed {record['options'].get('seed')}, this model is seed "
                         f"{metrics['options'].get('seed')}")
    if record["test"] == metrics["test"]:
        return None
    return record


def _recipe_name(run_name: str) -> str:
    """``NAME-seed3`` -> ``NAME``: benchmarks/runs.sh names a recipe's runs under other seeds so."""
    return re.sub(r"-seed\d+$", "", run_name)


def retrained_members(ensemble: dict[str, Any], tolerance: float = 1e-4) -> list[dict[str, Any]]:
    """The members of a scored ensemble (``benchmarks/ensemble.py``) whose loaded checkpoint is not the recorded run.

    ensemble.py scores each member again from its candidate list; the same weights give the recorded metrics to
    float rounding (under 1e-6 here). A larger gap means the run folder holds a re-training (runs/ is not kept
    between machines, and a seeded run repeats exactly only on one CPU type): the ensemble is still of that
    recipe and seed, but not of the weights whose scores the results tables give for it.

    Example:

    ```python
    >>> scores = {"hr@5": 0.03, "ndcg@5": 0.02, "hr@10": 0.05, "ndcg@10": 0.03}
    >>> same = {"validation": scores, "test": scores}
    >>> other = {"validation": scores, "test": {**scores, "hr@10": 0.048}}
    >>> pair = {"members": [{"seed": 0, "recorded": same, "recomputed": other},
    ...                     {"seed": 3, "recorded": same, "recomputed": same}]}
    >>> [member["seed"] for member in retrained_members(pair)]
    [0]

    ```
    """
    keys = ("hr@5", "ndcg@5", "hr@10", "ndcg@10")
    return [member for member in ensemble["members"]
            if any(abs(member["recorded"][split][key] - member["recomputed"][split][key]) > tolerance
                   for split in ("validation", "test") for key in keys)]


def read_ensembles(metrics: dict[str, Any], ensembles: Sequence[str | Path]) -> list[dict[str, Any]]:
    """This model's recipe ensembled over seeds: the result JSONs of ``benchmarks/ensemble.py``, for the card.

    Each must be of the same data set and id protocol as ``metrics`` and of its recipe (members named
    ``RUN`` or ``RUN-seedN`` after this run's folder), all of one size, none repeated.

    Example:

    ```python
    >>> import json, tempfile
    >>> from pathlib import Path
    >>> run = {"data": {"source": "../shared/data/beauty/sequential_data.txt", "ids": "random"},
    ...        "checkpoint": "runs/beauty-x-seed1/checkpoint", "options": {}, "model": {}, "test": {}}
    >>> other = Path(tempfile.mkdtemp()) / "ensemble.json"
    >>> _ = other.write_text(json.dumps({"data": run["data"], "test": {"hr@10": 0.08},
    ...     "ensemble": {"members": ["beauty-y", "beauty-y-seed3"], "seeds": [0, 3]}}))
    >>> read_ensembles(run, [other])
    Traceback (most recent call last):
    ValueError: ...ensemble.json: an ensemble of `beauty-y`, not of this model's recipe `beauty-x`

    ```
    """
    recipe = _recipe_name(Path(str(metrics.get("checkpoint", ""))).parent.name)
    results, seen = [], set()
    for path in ensembles:
        path = Path(path)
        try:
            result = json.loads(path.read_text())
            members, seeds = result["ensemble"]["members"], result["ensemble"]["seeds"]
            test, data = result["test"], (result["data"]["source"], result["data"]["ids"])
            if not isinstance(test, dict) or not members or len(members) != len(seeds):
                raise TypeError("it needs 'test' metrics and as many 'ensemble' seeds as members")
            # the member checks (recorded and recomputed scores), where the JSON has them
            retrained = retrained_members(result) if "members" in result else []
        except (OSError, json.JSONDecodeError, KeyError, TypeError) as error:
            raise ValueError(f"{path}: not an ensemble results JSON of benchmarks/ensemble.py ({error})") from error
        if (_dataset_key(result), data[1]) != (_dataset_key(metrics), metrics["data"]["ids"]):
            raise ValueError(f"{path}: an ensemble on {_dataset_key(result)} with {data[1]} ids; this model is on "
                             f"{_dataset_key(metrics)} with {metrics['data']['ids']} ids")
        theirs = {_recipe_name(member) for member in members}
        if theirs != {recipe}:
            raise ValueError(f"{path}: an ensemble of {', '.join(f'`{r}`' for r in sorted(theirs))}, not of this "
                             f"model's recipe `{recipe}`")
        key = tuple(sorted(seeds))
        if key in seen:
            raise ValueError(f"{path}: the ensemble of seeds {'+'.join(map(str, key))} is given twice")
        seen.add(key)
        results.append({"path": str(path), "seeds": list(seeds), "test": test,
                        "training_s": result.get("training_s"), "budget_min": result.get("budget_min"),
                        "within_budget": result.get("within_budget"),
                        "retrained": {member["seed"]: member["recomputed"]["test"] for member in retrained}})
    if len({len(result["seeds"]) for result in results}) > 1:
        raise ValueError("ensembles of different sizes: give one size, the card averages over them")
    return results


def _ensemble_row(ensembles: Sequence[dict[str, Any]]) -> str:
    """Mean ± sample standard deviation over ensembles (the value itself for one)."""
    import statistics

    combos = ", ".join("+".join(map(str, e["seeds"])) for e in ensembles)
    cells = []
    for metric in METRICS:
        values = [e["test"][metric] for e in ensembles if metric in e["test"]]
        if len(values) < len(ensembles):
            cells.append("-")
        elif len(values) == 1:
            cells.append(_fmt(values[0]))
        else:
            cells.append(f"{statistics.mean(values):.4f} ± {statistics.stdev(values):.4f}")
    summary = ": mean ± std" if len(ensembles) > 1 else ""
    size = len(ensembles[0]["seeds"])
    retrained = sorted({seed for e in ensembles for seed in e.get("retrained", {})})
    marked = f"; seed{'s' if len(retrained) > 1 else ''} {', '.join(map(str, retrained))} re-trained" if retrained else ""
    return (f"| this recipe, {size} models ensembled (seeds {combos}; mean item probability{marked}){summary} | "
            + " | ".join(cells) + " |")


def _retrained_note(ensembles: Sequence[dict[str, Any]], metrics: dict[str, Any]) -> str:
    """Which ensembled seeds are re-trainings, and whether this model is the one ensembled, by its test scores."""
    retrained = {}
    for ensemble in ensembles:
        retrained.update(ensemble.get("retrained", {}))
    if not retrained:
        return ""
    seeds = sorted(retrained)
    note = (f" Seed{'s' if len(seeds) > 1 else ''} {', '.join(map(str, seeds))} of the ensembles "
            + ("are re-trainings: the checkpoints ensembled score otherwise than the project's records of those seeds,"
               if len(seeds) > 1 else "is a re-training: the checkpoint ensembled scores otherwise than the project's "
               "record of that seed,") + " whose scores the other rows use")
    seed = metrics["options"].get("seed")
    if seed in retrained:
        same = all(abs(retrained[seed][key] - metrics["test"].get(key, float("nan"))) <= 1e-4
                   for key in ("hr@5", "ndcg@5", "hr@10", "ndcg@10"))
        note += (f"; seed {seed} there scores as this model does (test NDCG@10 {retrained[seed]['ndcg@10']:.4f}): "
                 "it is the model in this repository" if same else
                 f"; seed {seed} there (test NDCG@10 {retrained[seed]['ndcg@10']:.4f}) is not this model either "
                 f"(test NDCG@10 {metrics['test'].get('ndcg@10', float('nan')):.4f})")
    return note + "."


def _seed_row(runs: Sequence[dict[str, Any]]) -> str:
    """Mean ± sample standard deviation of the test metrics over seeds."""
    import statistics

    seeds = ", ".join(str(s) for s in sorted(run["options"]["seed"] for run in runs))
    cells = []
    for metric in METRICS:
        values = [run["test"][metric] for run in runs if metric in run["test"]]
        cells.append(f"{statistics.mean(values):.4f} ± {statistics.stdev(values):.4f}" if len(values) == len(runs)
                     else "-")
    return f"| this recipe, {len(runs)} seeds ({seeds}): mean ± std | " + " | ".join(cells) + " |"


def _dataset_key(metrics: dict[str, Any]) -> str:
    source = str(metrics["data"]["source"])
    return Path(source).parent.name if source.endswith(".txt") else Path(source).stem or source


def _dataset_facts(key: str) -> dict[str, Any]:
    known = json.loads(DATASETS_PATH.read_text())
    if key in known:
        return {"key": key, "dataset_id": f"p5-{key}" if key != "yelp" else "p5-yelp", **known[key]}
    return {"key": key, "dataset_id": key, "pretty_name": key, "description": f"The `{key}` interaction data.",
            "source": key, "raw_ids": "the data's own user and item ids", "license_note": "that of the data",
            "paper": {}}


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"


def _row(name: str, values: dict[str, float]) -> str:
    return f"| {name} | " + " | ".join(_fmt(values.get(m)) for m in METRICS) + " |"


def eval_results(runs: Sequence[dict[str, Any]]) -> list[EvalResult]:
    """``model-index`` entries: every test metric of every run, one dataset config per id protocol.

    Example:

    ```python
    >>> run = {"data": {"source": "../shared/data/beauty/sequential_data.txt", "ids": "random"},
    ...        "test": {"hr@10": 0.05, "users": 22363}}
    >>> [(r.dataset_name, r.dataset_config, r.metric_type, r.metric_value) for r in eval_results([run])]
    [('Amazon Beauty', 'random-ids', 'hr@10', 0.05)]

    ```
    """
    results = []
    for metrics in runs:
        facts = _dataset_facts(_dataset_key(metrics))
        for metric in METRICS:
            if metric not in metrics["test"]:
                continue
            results.append(EvalResult(
                task_type="sequential-recommendation",
                task_name="Next-item recommendation (leave-one-out, all-item ranking)",
                dataset_type=facts["dataset_id"],
                dataset_name=facts["pretty_name"],
                dataset_config=f"{metrics['data']['ids']}-ids",
                dataset_split="test",
                metric_type=metric,
                metric_name=METRIC_NAMES[metric],
                metric_value=round(float(metrics["test"][metric]), 6),
            ))
    return results


def pipeline_excludes_history(metrics: dict[str, Any]) -> bool:
    """Whether a run's model should leave the history's items out of its recommendations by default.

    Decided on validation, never on test: it keeps them where forbidding them scored lower NDCG@10 there (users
    who come back to items, as on yelp). A run scored only with history kept gets the default, True.

    Example:

    ```python
    >>> yelp = {"validation": {"ndcg@10": 0.0363}, "history_excluded": {"validation": {"ndcg@10": 0.0206}}}
    >>> pipeline_excludes_history(yelp), pipeline_excludes_history({"validation": {"ndcg@10": 0.0363}})
    (False, True)

    ```
    """
    kept = metrics.get("validation", {}).get("ndcg@10")
    excluded = (metrics.get("history_excluded") or {}).get("validation", {}).get("ndcg@10")
    if not isinstance(kept, (int, float)) or not isinstance(excluded, (int, float)):
        return True
    return excluded >= kept


def results_table(runs: Sequence[dict[str, Any]], paper: dict[str, dict[str, float]],
                  published: dict[str, dict[str, float]] | None = None,
                  references: Sequence[dict[str, Any]] = (), seed_runs: Sequence[dict[str, Any]] = (),
                  ensembles: Sequence[dict[str, Any]] = (), recorded: dict[str, Any] | None = None) -> str:
    """Markdown: this model under each protocol (and its recipe over seeds, with ``seed_runs`` from
    :func:`read_seed_runs`, and ensembled, with ``ensembles`` from :func:`read_ensembles`), other models trained on
    the same split (``references``, from :func:`read_reference`), the baselines of the same split, the paper's
    numbers and the best published results on the same files. With ``recorded`` (from :func:`read_recorded`),
    this model is a re-training: the record of its seed gets its own row and stands for that seed over seeds."""
    lines = ["| model | " + " | ".join(METRIC_NAMES[m] for m in METRICS) + " |", "|---" * (len(METRICS) + 1) + "|"]
    for index, metrics in enumerate(runs):
        name = Path(str(metrics.get("checkpoint", "?"))).parent.name
        who = "**this model**" if index == 0 else f"companion run `{name}`"
        excluded = metrics.get("history_excluded", {}).get("test")
        default = " (the pipeline's default)"
        keeps = index == 0 and excluded and not pipeline_excludes_history(metrics)
        lines.append(_row(f"{who}, `{metrics['data']['ids']}` ids{default if keeps else ''}", metrics["test"]))
        if index == 0 and excluded:
            lines.append(_row(f"{who}, `{metrics['data']['ids']}` ids, history items excluded"
                              f"{'' if keeps else default}", excluded))
        if index == 0 and recorded:
            lines.append(_row(f"recorded training of this seed (commit `{str(recorded.get('git_commit'))[:7]}`), "
                              f"`{recorded['data']['ids']}` ids", recorded["test"]))
        if index == 0 and seed_runs:
            lines.append(_seed_row([recorded or metrics, *seed_runs]))
        if index == 0 and ensembles:
            lines.append(_ensemble_row(ensembles))
    for reference in references:
        lines.append(_row(f"{reference['label']}, same split (any ids)", reference["test"]))
        if reference.get("history_excluded"):
            lines.append(_row(f"{reference['label']}, same split (any ids), history items excluded",
                              reference["history_excluded"]))
    for metrics in runs:
        ids = metrics["data"]["ids"]
        for name, label in (("max_history_plus_k", "max(history)+k rule"), ("most_popular", "most popular")):
            baseline = metrics.get("baselines", {}).get(name, {}).get("test")
            if baseline:
                lines.append(_row(f"{label}, `{ids}` ids (no learning)", baseline))
    for name, values in paper.items():
        lines.append(_row(f"{name}, `sequential` ids", values))
    for name, values in (published or {}).items():
        lines.append(_row(f"best published: {name}", values))
    return "\n".join(lines)


def model_card(run_dir: str | Path, repo_id: str, companions: Sequence[str | Path] = (),
               license: str = "apache-2.0", references: Sequence[str | Path] = (),
               seed_runs: Sequence[str | Path] = (), ensembles: Sequence[str | Path] = (),
               recorded: str | Path | None = None) -> ModelCard:
    """The model card of a run (and of ``companions``: the same data set under the other id protocol; of
    ``references``: results JSONs of other models trained on the same split, see :func:`read_reference`; of
    ``seed_runs``: the same recipe under other seeds, see :func:`read_seed_runs`; of ``ensembles``: that
    recipe's seeds ensembled, see :func:`read_ensembles`; and of ``recorded``: the project's record of this run's
    recipe and seed when this run is a re-training of it, see :func:`read_recorded`).

    Every number comes from the runs' ``metrics.json`` files and the reference JSONs, except the paper's and the
    published ones, which are quoted from ``hub_cards/datasets.json``.

    Example:

    ```python
    >>> card = model_card("runs/beauty-random-small-prefixes", "org/genrec-beauty")  # doctest: +SKIP
    >>> card.data.eval_results[0].metric_type  # doctest: +SKIP
    'hr@1'

    ```
    """
    metrics = read_run(run_dir)
    runs = [metrics] + [read_run(c) for c in companions]
    others = [read_reference(r) for r in references]
    seeds = read_seed_runs(metrics, seed_runs)
    fused = read_ensembles(metrics, ensembles)
    record = read_recorded(metrics, recorded) if recorded is not None else None
    keys = {_dataset_key(m) for m in runs}
    if len(keys) > 1:
        raise ValueError(f"a card describes one data set, the runs cover {sorted(keys)}")
    for other in others:
        if other["dataset"] not in (None, *keys):
            raise ValueError(f"{other['path']}: its results are on {other['dataset']}, this card is on "
                             f"{sorted(keys)[0]}")
    protocols = [m["data"]["ids"] for m in runs]
    if len(set(protocols)) < len(protocols):
        raise ValueError(f"two runs with the same id protocol ({protocols}); give one run per protocol")
    facts = _dataset_facts(keys.pop())
    options, model = metrics["options"], metrics["model"]
    config = dict(model["config"], parameters=model["parameters"])
    config.setdefault("decoder_layers", config.get("encoder_layers"))
    card_data = ModelCardData(
        license=license,
        library_name="transformers",
        tags=TAGS,
        datasets=[facts["dataset_id"]],
        metrics=["hit_rate", "ndcg"],
        model_name=repo_id.split("/")[-1],
        eval_results=eval_results(runs),
    )
    training = [
        f"- Model: GenRec `{options['preset']}` preset ({model['parameters']:,} parameters), trained from scratch.",
        f"- Pretraining: {options['pretrain_epochs']} epochs of the single-item cloze task (one random item of each "
        "training history replaced by `[MASK]`, drawn afresh every epoch from a seeded generator; the label is that "
        "item's tokens)" + (f"; in {options['cloze_last_item_probability']:.0%} of the histories the masked item was "
                            "the most recent one, so the input ended in `[MASK]` as in fine-tuning (BERT4Rec's; "
                            "`--cloze-last-item-probability`)" if options.get("cloze_last_item_probability") else "")
        + "." if options["pretrain_epochs"] else "- No pretraining (the paper's ablation).",
        (f"- Fine-tuning: {options['finetune_epochs']} epochs with `[MASK]` appended to the history and the next item "
         "as the label" + (", on every prefix of each training sequence" if options.get("prefixes") else
                           ", on the last training item of each user") + "."
         if options["finetune_epochs"] else "- No fine-tuning."),
        f"- AdamW, learning rate {options['learning_rate']}"
        + (f" (fine-tuning {options['finetune_learning_rate']})" if options.get("finetune_learning_rate") else "")
        + f", weight decay {options['weight_decay']}, {options.get('lr_scheduler', 'linear')} schedule with "
        f"{options['warmup_ratio']:.0%} warm-up, "
        f"batch size {options['batch_size']}, label smoothing {options['config_overrides'].get('label_smoothing', 0)}"
        f", seed {options['seed']}.",
        f"- Model selection on validation {'NDCG@10'} ({options.get('eval_users') or 'all'} validation users per "
        "epoch); the pretrained model is a candidate too. The test split is scored once, at the end.",
    ]
    if options.get("item_codes") == "collaborative":
        training.insert(1, "- Item tokens: collaborative codes (each item spelled by its path of k-means clusters over a "
                           "low-rank factorisation of the training interactions; `genrec_hf.indexing`), not its "
                           "decimal id.")
    if options.get("item_codes") == "independent":
        training.insert(1, "- Item tokens: one token per item (independent indexing), not its decimal id's digits: a "
                           "history item is one encoder position, and the output layer, tied to the token "
                           "embeddings, scores every item in one decoding step.")
    if options["config_overrides"].get("item_id_embedding") is False:
        training.insert(1, "- No item-ID embedding: an item token's input is its token embedding plus its position "
                           "(the paper adds an item-ID embedding too).")
    budget = metrics.get("budget") or {}
    if options.get("budget_min"):
        cut = [f"{stage} stopped at epoch {epoch:g} of {options[f'{stage}_epochs']}"
               for stage, epoch in budget.get("stopped", {}).items()]
        cut += [f"{stage} skipped (the budget was spent)" for stage in budget.get("skipped", [])]
        training.append(f"- Training budget: {options['budget_min']:g} min of wall time for pretraining and fine-tuning "
                        "(`--budget-min`; the final scoring not counted): "
                        + ("; ".join(cut) if cut else "every epoch fitted") + ".")
    if options["config_overrides"].get("positions_from_end"):
        training.insert(1, "- Encoder positions counted from the end: the `[MASK]` and the most recent item sit at the same "
                           "positions whatever the history's length (BART and the paper count from the first token).")
    if options["config_overrides"].get("decoder_start_from_mask"):
        training.insert(1, "- Decoder started from the `[MASK]`: the encoder's state there is added to the decoder's start "
                           "token, so decoding starts from what the encoder read at the `[MASK]` (BART and the paper "
                           "start from the same token embedding for every history).")
    if options["config_overrides"].get("decoder_start_from_last_item"):
        training.insert(1, "- Decoder started from the most recent item: the encoder's state at the token before the "
                           "`[MASK]` is added to the decoder's start token, so the last item reaches the output along "
                           "the residual stream, as in SASRec.")
    if options["config_overrides"].get("history_item_bias"):
        training.insert(1, "- History item bias: one learned number shifts the first decoding step's logit of every "
                           "item already in the history, so the model learns how often users take an item again "
                           "(the paper's model has no such term).")
    if options["config_overrides"].get("successor_item_bias"):
        training.insert(1, f"- Successor item bias: {options['config_overrides']['successor_item_bias']} learned numbers "
                           "shift the first decoding step's logits of the items numbered right after the history's "
                           "highest item id. This reads the catalogue's numbering: on the paper's sequential ids it "
                           "uses the leak that the max(history)+k rule uses, so it means nothing on shuffled ids.")
    if not options.get("users", True):
        training.insert(1, "- Users: none. This is an item-only model: the paper's user token and user-ID embedding "
                           "are left out, so a recommendation depends on the history alone (pass no `user`).")
    if options.get("pretrained_weight", 1) != 1 and options["pretrain_epochs"]:
        training.append(f"- Warm start shrunk: fine-tuning started from {options['pretrained_weight']:g} x the pretrained "
                        f"weights + {1 - options['pretrained_weight']:g} x a fresh initialisation "
                        "(`--pretrained-weight`; shrink and perturb, Ash & Adams 2020).")
    if options.get("average_epochs"):
        training.append(f"- Checkpoint averaging: at each fine-tuning validation the average of the weights at the "
                        f"last {options['average_epochs']} epoch ends was a candidate too (`--average-epochs`).")
    selected = metrics.get("selected_model") or {}
    if selected.get("stage"):
        training.append(f"- Selected: the {selected['stage']} model"
                        + (f" ({selected['note']})" if selected.get("note") else "") + ".")
    machine = metrics.get("machine", {})
    hardware = machine.get("accelerator") or (f"{machine.get('cpus', '?')} CPU cores"
                                              + (f" ({machine['cpu_model']})" if machine.get("cpu_model") else "")
                                              + ", no GPU")
    hardware += f", {machine.get('torch_threads', '?')} torch threads"
    total = metrics.get("timings", {}).get("total_s")
    notes = ["Rows marked `sequential` ids use the data set's own ids, the paper's protocol; `random` ids are the "
             "same interactions with users and items renumbered. The paper's rows are quoted from its Tables 1 and 3 "
             "(bart-base on a GPU; HR@1, HR@20 and NDCG@20 not reported); its fine-tuning also saw each user's "
             "validation item, ours does not. The best published rows are leave-one-out, all-item results on the same "
             "files, under their authors' own id protocols."]
    if metrics.get("history_excluded"):
        notes.append("The row `history items excluded` scores the same model with every item of the user's history "
                     "forbidden; the other rows, like the paper and RecBole's evaluation of sequential models, keep "
                     "them among the candidates.")
        if pipeline_excludes_history(metrics):
            notes.append("`pipeline(\"genrec\")` leaves history items out unless `exclude_history=False`.")
        else:
            notes.append("`pipeline(\"genrec\")` keeps history items among its recommendations with this model "
                         "(`exclude_history` is False in its config; pass `exclude_history=True` to leave them out): "
                         "leaving them out scored lower on validation, NDCG@10 "
                         f"{metrics['history_excluded']['validation']['ndcg@10']:.4f} against "
                         f"{metrics['validation']['ndcg@10']:.4f}, as its users come back to items they had.")
    if record:
        theirs = record.get("machine", {})
        notes.append(f"This model is a re-training of seed {options.get('seed')} of its recipe (commit "
                     f"`{str(metrics.get('git_commit'))[:7]}`, {machine.get('cpu_model') or 'CPU not recorded'}); "
                     "the project's results record that seed's earlier training (commit "
                     f"`{str(record.get('git_commit'))[:7]}`, {theirs.get('cpu_model') or 'CPU not recorded'}), "
                     "whose test scores the row `recorded training of this seed` gives"
                     + (" and the seeds row uses" if seeds else "") + ". A seeded run repeats exactly on one CPU "
                     "type, not across types, so the two trainings score a little differently; the weights here are "
                     "this model's.")
    if seeds:
        notes.append(f"The seeds row is this model's recipe trained {len(seeds) + 1} times, each seed drawing the "
                     "initialisation, the batch order" + (" and the random-id renumbering" if len(
                         {run["data"].get("id_seed") for run in [metrics, *seeds]}) > 1 else "")
                     + "; this model is the one of them chosen on validation.")
    if fused:
        seed = options.get("seed")
        mine = [e for e in fused if seed in e["seeds"]]
        note = (f"The ensemble row is not this model alone: {len(fused[0]['seeds'])} models of its recipe trained under "
                "different seeds, each ranking with its own tokenizer, fused by the mean of their item probabilities "
                "(`genrec_hf.ensemble.GenRecEnsemble`). This repository holds one model of the recipe (seed "
                f"{seed}, " + (f"a member of {' and '.join('+'.join(map(str, e['seeds'])) for e in mine)}" if mine
                               else "a member of none of them") + "); an ensemble needs its other members too.")
        minutes = sorted(e["training_s"] / 60 for e in fused if e["training_s"])
        if minutes:
            span = f"{minutes[0]:.1f}" + (f"-{minutes[-1]:.1f}" if minutes[-1] > minutes[0] else "")
            note += f" An ensemble costs its members' training together: {span} min on the hardware above"
            budget, over = fused[0]["budget_min"], sum(e["within_budget"] is False for e in fused)
            if budget:
                note += (f", {over} of {len(fused)} over the {budget:g}-min budget" if over
                         else f", within the {budget:g}-min budget")
            note += "."
        note += _retrained_note(fused, metrics)
        notes.append(note)
    if others:
        notes.append("Rows marked `same split` are other models trained by us on exactly this model's training "
                     "split and scored on its test split with all-item ranking; their benchmark JSON gives the "
                     "settings and the budget.")
    if len(runs) > 1:
        notes.append("A companion run is a separate model trained by genrec-hf on the same data under the other id "
                     "protocol; its numbers appear so that both protocols sit side by side.")
    if "sequential" not in protocols:
        notes.append("This card has no `sequential`-ids run of this model, so its paper rows have no direct "
                     "counterpart here.")
    return ModelCard.from_template(
        card_data,
        template_path=str(TEMPLATE_PATH),
        model_name=repo_id.split("/")[-1],
        repo_id=repo_id,
        dataset=facts,
        model=config,
        ids=metrics["data"]["ids"],
        ids_meaning=PROTOCOLS.get(metrics["data"]["ids"], metrics["data"]["ids"]),
        top_k=options.get("top_k", 20),
        exclude_history=pipeline_excludes_history(metrics),
        max_length=options.get("max_length"),
        training_summary=f"{options['pretrain_epochs']} cloze pretraining + {options['finetune_epochs']} fine-tuning "
                         "epochs" + (" (prefixes)" if options.get("prefixes") else ""),
        training_details="\n".join(training),
        hardware=hardware,
        wall_time=f"{total / 60:.0f} min (training and evaluation)" if total else "not recorded",
        git_commit=metrics.get("git_commit") or "unknown",
        test_users=int(metrics["test"].get("users", 0)),
        results_table=results_table(runs, facts.get("paper", {}), facts.get("published", {}), others, seeds,
                                    fused, record),
        results_notes=" ".join(notes),
        **_examples(Path(run_dir) / "checkpoint"),
    )


def _examples(checkpoint: Path) -> dict[str, Any]:
    """Two real item ids and a user id of the catalogue, for the card's code examples."""
    id_map = checkpoint / "genrec_id_map.json"
    items, users = ["ITEM_A", "ITEM_B"], ["USER_ID"]
    if id_map.is_file():
        catalogue = json.loads(id_map.read_text())
        items = [str(i) for i in catalogue.get("items", [])[:2]] or items
        users = [str(u) for u in catalogue.get("users", [])[:1]]  # none: an item-only model
    return {"example_items": items, "example_user": users[0] if users else None}


def export_run(run_dir: str | Path, folder: str | Path, repo_id: str, companions: Sequence[str | Path] = (),
               overwrite: bool = False, license: str = "apache-2.0", references: Sequence[str | Path] = (),
               seed_runs: Sequence[str | Path] = (), ensembles: Sequence[str | Path] = (),
               recorded: str | Path | None = None) -> Path:
    """Write the folder a Hub repository holds, and return it.

    Model (safetensors) and config with the full ``auto_map`` and ``custom_pipelines`` (and ``exclude_history``, the
    pipeline's default, from :func:`pipeline_excludes_history`), the remote-code modules
    (model, tokenizer, generation, pipeline), the tokenizer with its raw-id map, a generation config for
    top-``num_recommendations`` beam search, the model card (``README.md``), the training curves and the run's
    ``metrics.json`` (as ``genrec_metrics.json``). The folder appears only when complete (built beside it, then
    renamed), so a crash never leaves a half-written export.
    """
    from .modeling import GenRecForConditionalGeneration
    from .tokenization import GenRecTokenizer

    run_dir, folder = Path(run_dir), Path(folder)
    checkpoint = run_dir / "checkpoint"
    if not checkpoint.is_dir():
        raise FileNotFoundError(f"{checkpoint}: no checkpoint folder in this run")
    card = model_card(run_dir, repo_id, companions, license=license, references=references, seed_runs=seed_runs,
                      ensembles=ensembles, recorded=recorded)
    if folder.exists() and not overwrite:
        raise FileExistsError(f"{folder} exists; pass overwrite=True to replace it")
    model = GenRecForConditionalGeneration.from_pretrained(checkpoint)
    tokenizer = GenRecTokenizer.from_pretrained(checkpoint)
    tokenizer.check_model_config(model.config)
    model.generation_config = GenRecForConditionalGeneration.default_generation_config(model.config)
    model.config.exclude_history = pipeline_excludes_history(json.loads((run_dir / "metrics.json").read_text()))

    def write(staging: Path) -> None:
        model.save_pretrained(staging)
        tokenizer.save_pretrained(staging)
        card.save(staging / "README.md")
        curves = run_dir / "training_curves.png"
        if curves.is_file():
            shutil.copyfile(curves, staging / "training_curves.png")
        shutil.copyfile(run_dir / "metrics.json", staging / "genrec_metrics.json")

    write_folder_atomic(folder, write)
    return folder


def push_run(
    run_dir: str | Path,
    repo_id: str,
    *,
    folder: str | Path | None = None,
    companions: Sequence[str | Path] = (),
    private: bool = False,
    revision: str | None = None,
    create_pr: bool = False,
    token: str | None = None,
    commit_message: str | None = None,
    upload: bool = True,
    overwrite: bool = True,
    license: str = "apache-2.0",
    references: Sequence[str | Path] = (),
    seed_runs: Sequence[str | Path] = (),
    ensembles: Sequence[str | Path] = (),
    recorded: str | Path | None = None,
    api: HfApi | None = None,
) -> dict[str, Any]:
    """Export a run (see :func:`export_run`) and upload it as one commit to ``repo_id``.

    The commit adds every file of the folder and deletes files the repository holds that the folder does not
    (a stale weight or code file would otherwise still be served). ``private``, ``revision`` and ``create_pr``
    pass through to ``HfApi``. Returns ``{"folder", "repo_id", "commit_url", "pr_url"}`` (URLs ``None`` without
    ``upload``).
    """
    folder = Path(folder) if folder is not None else Path(run_dir) / "hub" / repo_id.replace("/", "--")
    export_run(run_dir, folder, repo_id, companions, overwrite=overwrite, license=license, references=references,
               seed_runs=seed_runs, ensembles=ensembles, recorded=recorded)
    result: dict[str, Any] = {"folder": str(folder), "repo_id": repo_id, "commit_url": None, "pr_url": None}
    if not upload:
        return result
    api = api or HfApi(token=token)
    local = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())
    try:
        api.create_repo(repo_id, repo_type="model", private=private, exist_ok=True)
        if revision and not create_pr:
            api.create_branch(repo_id, branch=revision, exist_ok=True)
        remote = set(api.list_repo_files(repo_id, revision=revision))
        operations: list[Any] = [CommitOperationAdd(path_in_repo=name, path_or_fileobj=str(folder / name))
                                 for name in local]
        operations += [CommitOperationDelete(path_in_repo=name) for name in sorted(remote - set(local))
                       if name != ".gitattributes"]
        info = api.create_commit(repo_id, operations=operations, revision=revision, create_pr=create_pr,
                                 commit_message=commit_message or f"GenRec model from {Path(run_dir).name}")
    except HfHubHTTPError as error:
        raise PushError(f"the Hub refused the upload to {repo_id}: {error}. Check the token (HF_TOKEN or "
                        f"`hf auth login`) and your rights on the repository; the folder {folder} is complete, "
                        f"retry with `hf upload {repo_id} {folder}`") from error
    except (HTTPError, OSError) as error:
        raise PushError(f"could not reach the Hugging Face Hub to upload {repo_id} ({type(error).__name__}: "
                        f"{error}); the folder {folder} is complete, retry when online with "
                        f"`hf upload {repo_id} {folder}` or the same command") from error
    result["commit_url"] = getattr(info, "commit_url", None)
    result["pr_url"] = getattr(info, "pr_url", None)
    return result


__all__ = ["PushError", "eval_results", "export_run", "model_card", "push_run", "read_ensembles", "read_reference",
           "read_recorded", "read_run", "read_seed_runs", "results_table", "retrained_members"]
