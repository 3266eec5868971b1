#!/usr/bin/env bash
# What fine-tuning on every prefix costs and gains: the same pretraining as beauty-random-small, then
# 3 fine-tuning epochs over every prefix of each training sequence (~7x the examples of the last-item mode).
set -euo pipefail
cd "$(dirname "$0")/.."
data="${DATA:-../shared/data/beauty}"
OMP_NUM_THREADS=2 python benchmarks/train.py "beauty-random-small-prefixes" -- \
  --data "$data" --ids random --output runs/beauty-random-small-prefixes \
  --pretrain-epochs 10 --finetune-epochs 3 --prefixes --max-length 128 --eval-users 2000 --threads 2 --seed 0
