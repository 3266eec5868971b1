#!/usr/bin/env bash
# The issue-3 Beauty benchmark: the default small config, cloze pretraining + fine-tuning, both id protocols,
# on this 2-core CPU. One run after the other (never two heavy jobs at once). ~1 h each on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/.."
data="${DATA:-../shared/data/beauty}"
for ids in random sequential; do
  OMP_NUM_THREADS=2 python benchmarks/train.py "beauty-${ids}-small" -- \
    --data "$data" --ids "$ids" --output "runs/beauty-${ids}-small" \
    --pretrain-epochs 10 --finetune-epochs 10 --max-length 128 --eval-users 2000 --threads 2 --seed 0
done
