"""The ``genrec-hf`` command line."""

from __future__ import annotations

import argparse
import json
import sys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="genrec-hf", description="GenRec generative sequential recommender")
    commands = parser.add_subparsers(dest="command", required=True)
    quick = commands.add_parser("quickstart", help="train a small GenRec on built-in synthetic data and recommend")
    quick.add_argument("--output", default="runs/quickstart", help="folder for the model and metrics.json")
    quick.add_argument("--epochs", type=int, default=8)
    quick.add_argument("--seed", type=int, default=0)
    quick.add_argument("--threads", type=int, default=1, help="torch threads (1 is fastest for the small model)")
    args = parser.parse_args(argv)

    if args.command == "quickstart":
        from .quickstart import run

        results = run(output_dir=args.output, epochs=args.epochs, seed=args.seed, threads=args.threads)
        for example in results.pop("examples"):
            print(f"user {example['user']}: ... {example['last_items']} -> top-5 {example['top5']}"
                  f" (held out: {example['held_out']})")
        print(json.dumps(results, indent=2))
        print(f"model saved to {args.output}/model")
    return 0


if __name__ == "__main__":
    sys.exit(main())
