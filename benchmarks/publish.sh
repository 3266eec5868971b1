#!/usr/bin/env bash
# The publish-ready Hub folders genrec-beauty / genrec-sports / genrec-yelp: each is the data set's headline
# random-id run (among recipes with 3 seeds within the 60-minute budget, the best on mean validation NDCG@10, and
# its best seed; benchmarks/headline.py), with the best sequential-id run as its companion (its numbers only), the
# SASRec runs on the same split (benchmarks/results/sasrec-DATA*.json) as references, the recipe's other seeds
# where they exist and its pre-registered seed ensembles once all are scored (benchmarks/ensemble_plans.json),
# exported by `genrec-hf push --no-upload` into runs/hub/REPO_NAME (weights, tokenizer, remote code, card with the
# numbers). Where runs/ holds a re-training of the headline seed (runs/ is git-ignored: a new machine trains it again,
# and seeded runs repeat exactly only on one CPU type), the card gives the weights' own scores and the recorded ones
# (benchmarks/results/NAME.json, --recorded), and averages the recorded ones over seeds, as the README does.
# Upload one with `hf upload ORG/REPO_NAME runs/hub/REPO_NAME` or `genrec-hf push RUN --repo ORG/REPO_NAME ...`.
# Usage: bash benchmarks/publish.sh [ORG]   (the org only appears in the cards' usage snippets)
set -euo pipefail
cd "$(dirname "$0")/.."
org="${1:-genrec-hf}"

status=0
for data in beauty sports yelp; do
  if ! name=$(python benchmarks/headline.py "$data" random); then
    status=1
    continue
  fi
  run="runs/$name"
  if [[ ! -f "$run/metrics.json" ]]; then
    seed=0
    [[ "$name" =~ -seed([0-9]+)$ ]] && seed="${BASH_REMATCH[1]}"
    echo "genrec-$data: $run has no metrics.json; train it first: bash benchmarks/runs.sh ${name%-seed*} $seed" >&2
    status=1
    continue
  fi
  companion=()
  sequential=$(python benchmarks/headline.py "$data" sequential --min-seeds 1 2>/dev/null || true)
  # its run folder where this machine has it, else its recorded JSON (the card needs only its numbers)
  if [[ -n "$sequential" && -f "runs/$sequential/metrics.json" ]]; then
    companion=(--companion "runs/$sequential")
  elif [[ -n "$sequential" && -f "benchmarks/results/$sequential.json" ]]; then
    companion=(--companion "benchmarks/results/$sequential.json")
  fi
  # every SASRec run of the data set (sasrec-DATA.json and its re-runs sasrec-DATA-*.json), each its own card rows
  for reference in benchmarks/results/sasrec-"$data".json benchmarks/results/sasrec-"$data"-*.json; do
    [[ -f "$reference" ]] && companion+=(--reference "$reference")
  done
  # the headline's recipe under its other seeds (NAME, NAME-seedN): the card adds their mean ± std
  recipe="${name%-seed*}"
  for other in "benchmarks/results/$recipe.json" benchmarks/results/"$recipe"-seed*.json; do
    [[ -f "$other" && "$other" != "benchmarks/results/$name.json" ]] && companion+=(--seed-run "$other")
  done
  # the recorded result of this very run: where run/ holds a re-training (another machine), the card gives both
  [[ -f "benchmarks/results/$name.json" ]] && companion+=(--recorded "benchmarks/results/$name.json")
  # the recipe's pre-registered ensembles (benchmarks/ensemble_plans.json), once all of them are scored
  while IFS= read -r ensemble; do
    companion+=(--ensemble "$ensemble")
  done < <(python benchmarks/headline.py "$data" random --plan-ensembles)
  python -m genrec_hf push "$run" --repo "$org/genrec-$data" --no-upload --folder "runs/hub/genrec-$data" \
    "${companion[@]}"
done
exit "$status"
