"""SASRec (RecBole 1.2.1, cross-entropy over all items) on the same leave-one-out split, under a wall-time budget.

RecBole needs numpy<2, so it lives in its own virtual environment, never in genrec-hf's dependencies:

    python3 -m venv ../recbole-venv && ../recbole-venv/bin/pip install torch==2.13.0 "recbole==1.2.1" "numpy<2" \
        "setuptools<81"

Two steps, one per environment:

    python benchmarks/sasrec_recbole.py export --data ../shared/data/beauty --out runs/recbole      # genrec-hf env
    TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1 ../recbole-venv/bin/python benchmarks/sasrec_recbole.py run \
        --dataset beauty --out runs/recbole --budget-min 60 --name sasrec-beauty                    # RecBole env

``export`` writes each user's full chronological sequence as RecBole atomic files (the timestamp is the
position), so RecBole's leave-one-out (``LS``, time order) holds out exactly our validation and test items.
SASRec reads item ids as opaque tokens, so the id protocol does not matter to it. ``run`` trains epoch by
epoch, scores full-ranking NDCG@10 on validation after each, stops at the budget, and scores the test split with
the best epoch. It writes benchmarks/results/NAME.json (validation curve against wall time included).

A budget-bound run trains as many epochs as the host's speed allows (15 on one host, 17 on another, same code and
seed). ``--epochs N`` stops after epoch N instead, so two hosts train the same model; with ``--budget-min inf``
the budget is not applied at all, and the JSON records which limit stopped the run.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"


def provenance_module():
    """genrec_hf/provenance.py without importing genrec_hf (not installed in the RecBole environment)."""
    spec = importlib.util.spec_from_file_location("provenance", ROOT / "genrec_hf" / "provenance.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def export(data_path: str, out: Path) -> Path:
    from genrec_hf.data import load_data

    data = load_data(data_path, ids="sequential")
    name = Path(data.source).parent.name or str(data.source)  # "beauty", or "synthetic"
    folder = out / name
    folder.mkdir(parents=True, exist_ok=True)
    lines = ["user_id:token\titem_id:token\ttimestamp:float"]
    for row in data.splits["test"]:
        for position, item in enumerate(row["history"] + [row["target"]]):
            lines.append(f"{row['user']}\t{item}\t{position}")
    (folder / f"{name}.inter").write_text("\n".join(lines) + "\n")
    print(f"wrote {folder / f'{name}.inter'}: {len(lines) - 1} interactions, {len(data.splits['test'])} users")
    return folder


def history_excluded_test(model, dataset_object, test_data, ks=(1, 5, 10, 20)) -> dict:
    """Hit@k / NDCG@k on the test split, scored twice: as RecBole scores it, and with the user's history forbidden.

    The first must equal RecBole's own test numbers (a check that this loop scores what RecBole scores).
    """
    import numpy
    import torch

    uid, iid, time_field = dataset_object.uid_field, dataset_object.iid_field, dataset_object.time_field
    users = dataset_object.inter_feat[uid].numpy()
    items = dataset_object.inter_feat[iid].numpy()
    order = numpy.lexsort((dataset_object.inter_feat[time_field].numpy(), users))
    sequences: dict[int, list[int]] = {}
    for index in order:
        sequences.setdefault(int(users[index]), []).append(int(items[index]))
    totals = {"kept": {}, "excluded": {}}
    count = 0
    model.eval()
    with torch.no_grad():
        for interaction, _, _, _ in test_data:
            scores = model.full_sort_predict(interaction).view(len(interaction), -1)
            scores[:, 0] = -numpy.inf  # RecBole's padding item
            targets = interaction[iid]
            for protocol in ("kept", "excluded"):
                if protocol == "excluded":
                    for row, user in enumerate(interaction[uid].tolist()):
                        sequence = sequences[user]
                        if sequence[-1] != int(targets[row]):
                            raise ValueError(f"user {user}: the test target is not the last item of the sequence")
                        scores[row, torch.tensor(sequence[:-1], dtype=torch.long)] = -numpy.inf
                target_scores = scores.gather(1, targets.view(-1, 1))
                ranks = (scores > target_scores).sum(dim=1)  # 0-based rank of the target
                ranks[torch.isinf(target_scores.view(-1))] = scores.shape[1]  # a forbidden target is never found
                for k in ks:
                    hit = (ranks < k).float()
                    totals[protocol][f"hit@{k}"] = totals[protocol].get(f"hit@{k}", 0.0) + float(hit.sum())
                    gain = hit / torch.log2(ranks.float() + 2)
                    totals[protocol][f"ndcg@{k}"] = totals[protocol].get(f"ndcg@{k}", 0.0) + float(gain.sum())
            count += len(interaction)
    return {protocol: {key: value / count for key, value in sorted(sums.items())} for protocol, sums in totals.items()}


def stop_reason(epoch: int, elapsed_s: float, budget_min: float, epochs: int | None) -> str | None:
    """Which limit ends training after ``epoch`` (1-based): "epochs", "budget", or None to go on."""
    if epochs is not None and epoch >= epochs:
        return "epochs"
    if elapsed_s > budget_min * 60:
        return "budget"
    return None


def run(dataset: str, out: Path, budget_min: float, name: str, seed: int, threads: int,
        epochs: int | None = None) -> dict:
    import torch
    from recbole.config import Config
    from recbole.data import create_dataset, data_preparation
    from recbole.model.sequential_recommender import SASRec
    from recbole.trainer import Trainer
    from recbole.utils import init_seed

    torch.set_num_threads(threads)
    started = time.perf_counter()
    settings = {
        "data_path": str(out), "dataset": dataset, "USER_ID_FIELD": "user_id", "ITEM_ID_FIELD": "item_id",
        "TIME_FIELD": "timestamp", "load_col": {"inter": ["user_id", "item_id", "timestamp"]},
        "user_inter_num_interval": "[0,inf)", "item_inter_num_interval": "[0,inf)",  # already 5-core
        "eval_args": {"split": {"LS": "valid_and_test"}, "order": "TO", "mode": "full", "group_by": "user"},
        "train_neg_sample_args": None, "loss_type": "CE", "metrics": ["Hit", "NDCG"], "topk": [1, 5, 10, 20],
        "valid_metric": "NDCG@10", "epochs": 100_000, "stopping_step": 100_000, "train_batch_size": 2048,
        "eval_batch_size": 4096, "MAX_ITEM_LIST_LENGTH": 50, "seed": seed, "reproducibility": True,
        "use_gpu": torch.cuda.is_available(), "checkpoint_dir": str(out / "saved" / name), "show_progress": False,
    }
    config = Config(model="SASRec", config_dict=settings)
    init_seed(config["seed"], config["reproducibility"])
    dataset_object = create_dataset(config)
    train_data, valid_data, test_data = data_preparation(config, dataset_object)
    model = SASRec(config, train_data._dataset).to(config["device"])
    trainer = Trainer(config, model)
    curve = []

    stopped_by = []

    class LimitReached(Exception):
        pass

    def after_epoch(epoch: int, valid_score: float) -> None:
        curve.append({"epoch": epoch + 1, "elapsed_s": round(time.perf_counter() - started, 1),
                      "validation_ndcg@10": float(valid_score)})
        print(json.dumps(curve[-1]), flush=True)
        reason = stop_reason(epoch + 1, time.perf_counter() - started, budget_min, epochs)
        if reason is not None:
            stopped_by.append(reason)
            raise LimitReached

    try:
        trainer.fit(train_data, valid_data, saved=True, show_progress=False, callback_fn=after_epoch)
    except LimitReached:
        pass
    test = trainer.evaluate(test_data, load_best_model=True, model_file=trainer.saved_model_file,
                            show_progress=False)
    rescored = history_excluded_test(trainer.model, dataset_object, test_data)
    for key, value in test.items():  # RecBole rounds to 4 digits
        if abs(rescored["kept"][key.lower()] - float(value)) > 1e-4 + 1e-9:
            raise RuntimeError(f"re-scoring disagrees with RecBole's test {key}: {rescored['kept'][key.lower()]} vs {value}")
    provenance = provenance_module().environment()
    import numpy
    import recbole

    provenance["versions"] = {"recbole": recbole.__version__, "torch": torch.__version__, "numpy": numpy.__version__}
    best = max(curve, key=lambda point: point["validation_ndcg@10"])
    return {
        **provenance,
        "model": "SASRec (RecBole 1.2.1, CE loss, full ranking)",
        "data": {"source": str(out / dataset / f"{dataset}.inter"), "ids": "any (opaque tokens)"},
        "settings": {k: v for k, v in settings.items() if k not in ("data_path", "checkpoint_dir")},
        "parameters": sum(p.numel() for p in model.parameters()),
        "budget_min": budget_min if budget_min != float("inf") else None,
        "epochs_limit": epochs,
        "stopped_by": stopped_by[0] if stopped_by else None,
        "test": {key.lower(): float(value) for key, value in test.items()},
        "history_excluded": {"test": rescored["excluded"], "selected_by": "validation NDCG@10, history kept"},
        "best_epoch": best["epoch"],
        "curve": curve,
        "wall_time_s": round(time.perf_counter() - started, 1),
    }


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    export_parser = commands.add_parser("export")
    export_parser.add_argument("--data", required=True)
    export_parser.add_argument("--out", default="runs/recbole")
    run_parser = commands.add_parser("run")
    run_parser.add_argument("--dataset", required=True)
    run_parser.add_argument("--out", default="runs/recbole")
    run_parser.add_argument("--budget-min", type=float, default=60, help="wall-time budget; inf for none")
    run_parser.add_argument("--epochs", type=positive_int, default=None,
                            help="stop after this many epochs (a host-independent length), or at the budget if sooner")
    run_parser.add_argument("--name", required=True)
    run_parser.add_argument("--seed", type=int, default=0)
    run_parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    if args.command == "export":
        export(args.data, Path(args.out))
        return 0
    if not args.budget_min > 0:
        parser.error(f"--budget-min must be positive (or inf), got {args.budget_min}")
    if args.budget_min == float("inf") and args.epochs is None:
        parser.error("--budget-min inf needs --epochs, or the run never stops")
    results = run(args.dataset, Path(args.out), args.budget_min, args.name, args.seed, args.threads, args.epochs)
    results["command"] = "python benchmarks/sasrec_recbole.py " + " ".join(argv)
    provenance_module().write_json_atomic(RESULTS / f"{args.name}.json", results)
    print(json.dumps(results["test"]))
    print(f"recorded benchmarks/results/{args.name}.json")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
