"""The ``genrec-hf`` command line: ``quickstart``, ``train``, ``evaluate``, ``push``."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def _data_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", required=True,
                        help="a P5 folder (e.g. ../shared/data/beauty), an interaction log (.csv/.tsv/.parquet) "
                             "or 'synthetic'")
    parser.add_argument("--ids", choices=("sequential", "random"), default="random",
                        help="id protocol: the data set's own ids (the paper's; they leak the answer) or a seeded "
                             "random renumbering")
    parser.add_argument("--id-seed", type=int, default=0, help="seed of the random renumbering")
    parser.add_argument("--user-column", default="user")
    parser.add_argument("--item-column", default="item")
    parser.add_argument("--time-column", default="timestamp", help="'' to keep the row order")
    parser.add_argument("--k-core", type=int, default=5)


def _load(args: argparse.Namespace):
    from .data import load_data

    return load_data(args.data, ids=args.ids, seed=args.id_seed, user_column=args.user_column,
                     item_column=args.item_column, time_column=args.time_column or None, k=args.k_core)


def _config_overrides(args: argparse.Namespace) -> dict[str, float]:
    overrides = {"label_smoothing": args.label_smoothing}
    for flag, field in (("dropout", "dropout"), ("attention-dropout", "attention_dropout")):
        value = getattr(args, field, None)
        if value is None:
            continue
        if not 0 <= value < 1:
            raise ValueError(f"--{flag} must be in [0, 1), got {value}")
        overrides[field] = value
    if getattr(args, "d_model", None) is not None:
        from .modeling import PRESETS

        heads = PRESETS[args.preset]["encoder_attention_heads"]
        if args.d_model <= 0 or args.d_model % heads:
            raise ValueError(f"--d-model must be a positive multiple of the {args.preset} preset's {heads} attention "
                             f"heads, got {args.d_model}")
        # the feed-forward width follows the model width (4x, as in both presets)
        overrides.update(d_model=args.d_model, encoder_ffn_dim=4 * args.d_model, decoder_ffn_dim=4 * args.d_model)
    if getattr(args, "no_item_id_embedding", False):
        overrides["item_id_embedding"] = False
    if getattr(args, "positions_from_end", False):
        overrides["positions_from_end"] = True
    if getattr(args, "decoder_start_from_mask", False):
        overrides["decoder_start_from_mask"] = True
    if getattr(args, "decoder_start_from_last_item", False):
        overrides["decoder_start_from_last_item"] = True
    if getattr(args, "history_item_bias", False):
        overrides["history_item_bias"] = True
    if getattr(args, "successor_item_bias", 0):
        if args.successor_item_bias < 0:
            raise ValueError(f"--successor-item-bias must be >= 0, got {args.successor_item_bias}")
        overrides["successor_item_bias"] = args.successor_item_bias
    if getattr(args, "layers", None) is not None:
        if args.layers <= 0:
            raise ValueError(f"--layers must be positive, got {args.layers}")
        overrides.update(encoder_layers=args.layers, decoder_layers=args.layers)
    return overrides


def build_parser() -> argparse.ArgumentParser:
    """The ``genrec-hf`` command line (its verbs and flags), apart from running it."""
    parser = argparse.ArgumentParser(prog="genrec-hf", description="GenRec generative sequential recommender")
    commands = parser.add_subparsers(dest="command", required=True)

    quick = commands.add_parser("quickstart", help="train a small GenRec on built-in synthetic data and recommend")
    quick.add_argument("--output", default="runs/quickstart", help="folder for the model and metrics.json")
    quick.add_argument("--epochs", type=int, default=8)
    quick.add_argument("--seed", type=int, default=0)
    quick.add_argument("--threads", type=int, default=1, help="torch threads (1 is fastest for the small model)")

    train = commands.add_parser("train", help="pretrain (cloze) and fine-tune GenRec, evaluate, save")
    _data_arguments(train)
    train.add_argument("--output", required=True, help="run folder: checkpoint/, metrics.json, training_curves.png")
    train.add_argument("--preset", choices=("small", "bart-base"), default="small")
    train.add_argument("--pretrain-epochs", type=int, default=10)
    train.add_argument("--finetune-epochs", type=int, default=10)
    train.add_argument("--no-pretrain", action="store_true", help="skip pretraining (the paper's ablation)")
    train.add_argument("--no-finetune", action="store_true", help="skip fine-tuning")
    train.add_argument("--prefixes", action="store_true",
                       help="fine-tune on every prefix of each training sequence, not only its last item")
    train.add_argument("--batch-size", type=int, default=64)
    train.add_argument("--lr", type=float, default=1e-3)
    train.add_argument("--finetune-lr", type=float, default=None, help="fine-tuning learning rate (default: --lr)")
    train.add_argument("--pretrained-weight", type=float, default=1.0, metavar="W",
                       help="fine-tuning starts from W x the pretrained weights + (1 - W) x a fresh seeded "
                            "initialisation, against the generalisation a warm start can cost (shrink and perturb, "
                            "Ash & Adams 2020; default 1: the pretrained model as it is)")
    train.add_argument("--cloze-last-item-probability", type=float, default=0.0, metavar="P",
                       help="share of pretraining sequences whose most recent item is the one masked, so the input "
                            "ends in [MASK] as in fine-tuning (BERT4Rec's; default 0: the paper's cloze, any item)")
    train.add_argument("--label-smoothing", type=float, default=0.0)
    train.add_argument("--weight-decay", type=float, default=0.01,
                       help="AdamW weight decay (not on biases and LayerNorms: the Trainer's rule)")
    train.add_argument("--warmup-ratio", type=float, default=0.05,
                       help="share of each stage's steps that warm the learning rate up from 0")
    train.add_argument("--lr-scheduler", choices=("linear", "cosine", "constant"), default="linear",
                       help="learning rate after the warm-up: linear or cosine decay to 0, or constant")
    train.add_argument("--logit-bias-lr-scale", type=float, default=1.0, metavar="X",
                       help="learning rate of the learned logit shifts (--history-item-bias, --successor-item-bias) "
                            "as a multiple of the stage's learning rate (default 1)")
    train.add_argument("--dropout", type=float, default=None,
                       help="dropout of the transformer layers (default: the preset's, 0.1)")
    train.add_argument("--attention-dropout", type=float, default=None,
                       help="dropout of the attention weights (default: the preset's, 0: BART's)")
    train.add_argument("--d-model", type=int, default=None,
                       help="model width, feed-forward 4x as wide (default: the preset's, 128 for small)")
    train.add_argument("--layers", type=int, default=None,
                       help="encoder and decoder layers each (default: the preset's, 2 for small)")
    train.add_argument("--max-length", type=int, default=512)
    train.add_argument("--eval-users", type=int, default=2000,
                       help="validation users scored each epoch for model selection (0 = all)")
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    train.add_argument("--save-steps", type=int, default=200,
                       help="pretraining checkpoint interval in steps (fine-tuning saves every epoch)")
    train.add_argument("--item-codes", choices=("decimal", "collaborative", "independent"), default="decimal",
                       help="spell items by their id's digits (the paper's), by collaborative codes built from the "
                            "training split (items bought by the same users share leading tokens), or by one "
                            "token per item (independent)")
    train.add_argument("--no-users", action="store_true",
                       help="item-only model: no user token or user-ID embedding (the paper feeds both)")
    train.add_argument("--no-item-id-embedding", action="store_true",
                       help="no item-ID embedding added to item tokens (the paper has one; with --item-codes "
                            "independent it duplicates each item's token embedding)")
    train.add_argument("--positions-from-end", action="store_true",
                       help="count encoder positions from the last token back, so the most recent item always has "
                            "the same position (BART and the paper count from the first)")
    train.add_argument("--decoder-start-from-mask", action="store_true",
                       help="add the encoder's state at the [MASK] to the decoder's start token, so the decoder starts "
                            "from what the encoder read there (BART and the paper start it from a fixed token)")
    train.add_argument("--decoder-start-from-last-item", action="store_true",
                       help="add the encoder's state at the most recent item (the token before the [MASK]) to the "
                            "decoder's start token, as SASRec scores from that item's position (with "
                            "--decoder-start-from-mask, both states)")
    train.add_argument("--history-item-bias", action="store_true",
                       help="learn one logit shift for the items already in the history, so the model learns how "
                            "often users take an item again (needs --item-codes independent)")
    train.add_argument("--successor-item-bias", type=int, default=0, metavar="K",
                       help="learn K logit shifts for the items numbered right after the history's highest item id "
                            "(max(history)+1 .. +K): reads the catalogue's numbering, which on the paper's "
                            "sequential ids leaks the answer (needs --item-codes independent; default 0: off)")
    train.add_argument("--average-epochs", type=int, default=0, metavar="K",
                       help="at each fine-tuning validation, also score the average of the weights at the last K "
                            "epoch ends; the best average is kept if it beats every epoch (checkpoint averaging; "
                            "0 = off)")
    train.add_argument("--budget-min", type=float, default=None,
                       help="wall-clock minutes for training (pretraining + fine-tuning with their validations; "
                            "the final scoring is not counted): a stage stops at the epoch end when another "
                            "epoch would not fit, and the best epoch so far on validation is kept")
    train.add_argument("--bf16", action="store_true", help="bfloat16 mixed precision (for GPUs that have it)")
    train.add_argument("--resume", action="store_true",
                       help="continue the run in --output from its newest complete checkpoint")
    train.add_argument("--overwrite", action="store_true", help="start over in an --output that holds a run")

    evaluate = commands.add_parser("evaluate", help="re-score a checkpoint (or the ensemble of several) on a data "
                                                    "set's leave-one-out split")
    evaluate.add_argument("checkpoints", nargs="+", metavar="checkpoint",
                          help="a checkpoint folder; several are scored as one ensemble (mean item probability)")
    evaluate.add_argument("--candidates", type=int,
                          help="with several checkpoints: items each lists before fusing (default 5 x top-20)")
    _data_arguments(evaluate)
    evaluate.add_argument("--splits", default="test", help="comma-separated: validation,test")
    evaluate.add_argument("--exclude-history", action="store_true")
    evaluate.add_argument("--output", help="write the metrics JSON here as well")
    push = commands.add_parser("push", help="export a run as a Hub model folder (card included) and upload it")
    push.add_argument("run", help="run folder written by `genrec-hf train`")
    push.add_argument("--repo", required=True, help="Hub repository id, e.g. org/genrec-beauty")
    push.add_argument("--folder", help="where to write the folder (default RUN/hub/ORG--NAME)")
    push.add_argument("--companion", action="append", default=[],
                      help="run folder of the same data set under the other id protocol, for the card")
    push.add_argument("--reference", action="append", default=[],
                      help="results JSON of another model trained on the same split (e.g. "
                           "benchmarks/results/sasrec-beauty.json), shown in the card's results table")
    push.add_argument("--seed-run", action="append", default=[],
                      help="the same recipe trained under another seed (run folder or its results JSON, e.g. "
                           "benchmarks/results/NAME-seed1.json); the card adds the mean ± std over the seeds")
    push.add_argument("--ensemble", action="append", default=[],
                      help="results JSON of this recipe's seeds ensembled (benchmarks/ensemble.py, e.g. "
                           "benchmarks/results/ensemble-NAME-seeds0-3.json); the card adds their mean ± std")
    push.add_argument("--recorded",
                      help="the project's results JSON of this run's recipe and seed when RUN is a re-training of "
                           "it (e.g. on another machine); the card gives both and averages the record over seeds")
    push.add_argument("--no-upload", action="store_true", help="write the folder only")
    push.add_argument("--private", action="store_true")
    push.add_argument("--revision", help="branch to commit to (created if missing)")
    push.add_argument("--create-pr", action="store_true", help="open a pull request instead of committing")
    push.add_argument("--token", help="Hub token (default: HF_TOKEN or `hf auth login`)")
    push.add_argument("--license", default="apache-2.0", help="licence of the weights, for the card")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)

    try:
        if args.command == "quickstart":
            from .quickstart import run

            from .training import describe

            results = run(output_dir=args.output, epochs=args.epochs, seed=args.seed, threads=args.threads)
            for example in results["examples"]:
                print(f"user {example['user']}: ... {example['last_items']} -> top-5 {example['top5']}"
                      f" (held out: {example['held_out']})")
            print(describe(results))
            for name, splits in results["baselines"].items():
                print(f"baseline {name} on test: hr@10 {splits['test']['hr@10']:.4f}, "
                      f"ndcg@10 {splits['test']['ndcg@10']:.4f}")
            print(f"checkpoint, metrics.json and training_curves.png in {args.output}")
        elif args.command == "train":
            from .training import TrainOptions, describe, train_genrec

            options = TrainOptions(
                preset=args.preset,
                pretrain_epochs=0 if args.no_pretrain else args.pretrain_epochs,
                finetune_epochs=0 if args.no_finetune else args.finetune_epochs,
                prefixes=args.prefixes, batch_size=args.batch_size, learning_rate=args.lr,
                finetune_learning_rate=args.finetune_lr, weight_decay=args.weight_decay,
                cloze_last_item_probability=args.cloze_last_item_probability,
                pretrained_weight=args.pretrained_weight,
                warmup_ratio=args.warmup_ratio, lr_scheduler=args.lr_scheduler,
                max_length=args.max_length, eval_users=args.eval_users or None, seed=args.seed,
                threads=args.threads, config_overrides=_config_overrides(args),
                save_steps=args.save_steps, resume=args.resume, overwrite=args.overwrite, bf16=args.bf16,
                item_codes=args.item_codes, users=not args.no_users, budget_min=args.budget_min,
                average_epochs=args.average_epochs, logit_bias_lr_scale=args.logit_bias_lr_scale,
            )
            from .provenance import git_commit

            commit = git_commit()  # before the data load, which can take minutes: the code this run started from
            results = train_genrec(_load(args), args.output, options, commit=commit)
            from accelerate import PartialState

            if PartialState().is_main_process:
                print(describe(results))
                print(f"checkpoint, metrics.json and training_curves.png in {args.output}")
        elif args.command == "evaluate":
            from .provenance import write_json_atomic
            from .training import evaluate_checkpoint

            splits = tuple(s.strip() for s in args.splits.split(",") if s.strip())
            bad = set(splits) - {"validation", "test"}
            if bad:
                parser.error(f"unknown split(s) {sorted(bad)}: choose from validation, test")
            for checkpoint in args.checkpoints:
                if not Path(checkpoint).is_dir():
                    parser.error(f"{checkpoint}: not a checkpoint folder")
            if args.candidates is not None and len(args.checkpoints) == 1:
                parser.error("--candidates is for an ensemble: pass several checkpoints")
            if len(args.checkpoints) == 1:
                results = evaluate_checkpoint(args.checkpoints[0], _load(args), splits=splits,
                                              exclude_history=args.exclude_history)
            else:
                from .ensemble import evaluate_ensemble

                results = evaluate_ensemble(args.checkpoints, _load(args), splits=splits,
                                            candidates=args.candidates, exclude_history=args.exclude_history)
            if args.output:
                write_json_atomic(args.output, results)
            print(json.dumps({s: results[s] for s in splits}, indent=2))
        elif args.command == "push":
            from .hub import push_run

            result = push_run(args.run, args.repo, folder=args.folder, companions=args.companion,
                              private=args.private, revision=args.revision, create_pr=args.create_pr,
                              token=args.token, upload=not args.no_upload, license=args.license,
                              references=args.reference, seed_runs=args.seed_run,
                              ensembles=args.ensemble, recorded=args.recorded)
            print(f"folder: {result['folder']}")
            if result["pr_url"] or result["commit_url"]:
                print(f"uploaded: {result['pr_url'] or result['commit_url']}")
    except (ValueError, KeyError, OSError, RuntimeError) as error:
        print(f"genrec-hf {args.command}: error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
