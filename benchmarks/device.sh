#!/usr/bin/env bash
# GPU runs on a lent accelerator machine (see the README's Results): `bash benchmarks/device.sh NAME [NAME ...]`
# installs the wheels carried in .whl/ (or GENREC_WHEELS: genrec-hf's own and what the machine lacks), checks the
# whole path on CUDA with tests/test_gpu.py and a one-epoch quickstart (training, beam search, pipeline), then runs
# the named benchmarks/runs.sh entries side by side on the one GPU (small models leave it mostly idle, so they share
# it), each with OMP_NUM_THREADS threads and at most RUN_TIMEOUT_S seconds (default 480, so that the packing below
# happens inside a 10-minute call). Out, in $OUT (or ./device-out): device.log, the checks' logs, each run's
# gzipped log, and results.tar with the runs' result JSONs and curves, packed whatever failed.
# Data come from GENREC_DATA_ROOT (the shared data are not beside the checkout there: copy them to an ignored
# folder and carry it). GENREC_GIT_COMMIT names the commit where the copied tree has no .git. PYTHON names the
# interpreter (default python3), used for the checks and, as `python`, by runs.sh.
set -uo pipefail
cd "$(dirname "$0")/.."
root="$PWD"
out="${OUT:-device-out}"
mkdir -p "$out" && out="$(cd "$out" && pwd)"
declare -A seen=()
for name in "$@"; do  # a typo must not cost the device minutes of the checks below
  if [[ -z "$name" || -n "${seen[$name]+x}" ]] || ! RUNS_DRY=1 bash benchmarks/runs.sh "$name" >/dev/null 2>&1; then
    echo "device.sh: unknown, empty or repeated run '$name'" >&2
    exit 2
  fi
  seen[$name]=1
done
export PYTHONUNBUFFERED=1 TQDM_MININTERVAL=20 OMP_NUM_THREADS="${OMP_NUM_THREADS:-4}"
python="$(command -v "${PYTHON:-python3}")" || { echo "device.sh: no ${PYTHON:-python3}" >&2; exit 2; }
work="$(mktemp -d)"  # the checks run here: in the checkout, its genrec_hf/ folder would shadow the package
mkdir -p "$work/bin" && printf '#!/bin/sh\nexec "%s" "$@"\n' "$python" >"$work/bin/python" && chmod +x "$work/bin/python"
export PATH="$work/bin:$PATH"  # `python` is $python for runs.sh too (a wrapper: a symlink would lose a venv)

pack() {
  local files=() name f
  for name in "$@"; do
    for f in "benchmarks/results/$name.json" "benchmarks/results/$name.png"; do [[ -f "$f" ]] && files+=("$f"); done
    [[ -f "$out/$name.log" ]] && gzip -f "$out/$name.log"
  done
  tar -cf "$out/results.tar" --files-from /dev/null "${files[@]}"  # empty when no run left a result
}

{
  trap 'pack "$@"' EXIT
  wheels="${GENREC_WHEELS:-.whl}"
  if compgen -G "$wheels/*.whl" >/dev/null; then
    "$python" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$work/site" \
      "$wheels"/*.whl || { echo "wheel install failed"; exit 1; }
    export PYTHONPATH="$work/site${PYTHONPATH:+:$PYTHONPATH}"
  fi
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null || echo "no nvidia-smi"
  (cd "$work" && python -c "import torch, transformers, datasets, genrec_hf; print('torch', torch.__version__, 'cuda', torch.cuda.is_available(), 'transformers', transformers.__version__, 'datasets', datasets.__version__, 'genrec-hf', genrec_hf.__version__)") \
    || exit 1
  started=$SECONDS
  # the GPU tests, from a copy: pytest puts the tests' parent folder on sys.path
  cp -r tests "$work/"
  (cd "$work" && timeout 300 python -m pytest -q -p no:cacheprovider tests/test_gpu.py) >"$out/gpu-tests.log" 2>&1 \
    || { echo "GPU tests failed:"; tail -40 "$out/gpu-tests.log"; exit 1; }
  tail -1 "$out/gpu-tests.log"
  # a whole run in small: a failure here (or in the tests) stops before the long runs spend the device time
  (cd "$work" && timeout 180 python -m genrec_hf quickstart --output "$work/smoke" --epochs 1) >"$out/smoke.log" 2>&1 \
    || { echo "quickstart failed:"; tail -40 "$out/smoke.log"; exit 1; }
  tail -8 "$out/smoke.log"
  echo "checks: $((SECONDS - started)) s"
  pids=()
  for name in "$@"; do
    timeout "${RUN_TIMEOUT_S:-480}" bash benchmarks/runs.sh "$name" >"$out/$name.log" 2>&1 &
    pids+=($!)
  done
  status=0
  for pid in ${pids[@]+"${pids[@]}"}; do wait "$pid" || status=1; done
  echo "runs: $((SECONDS - started)) s, status $status"
  for name in "$@"; do echo "== $name"; grep -E "^(validation|test|timings|baseline)" "$out/$name.log" | tail -6; done
  exit $status
} 2>&1 | tee "$out/device.log"
