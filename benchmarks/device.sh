#!/usr/bin/env bash
# GPU runs on a lent accelerator machine (see the README's Results): `bash benchmarks/device.sh NAME [NAME ...]`
# installs the wheels carried in .whl/ (or GENREC_WHEELS; genrec-hf's own and what the machine lacks), checks the whole path on CUDA
# with tests/test_gpu.py and a one-epoch quickstart (training, beam search, pipeline), then runs the named benchmarks/runs.sh entries
# side by side on the one GPU (small models leave it mostly idle, so they share it), each with OMP_NUM_THREADS
# threads. The result JSONs, curves and logs are packed into $OUT/results.tar (or ./device-out without $OUT).
# Data come from GENREC_DATA_ROOT (the shared data are not beside the checkout there: copy them to an ignored
# folder and carry it). GENREC_GIT_COMMIT names the commit where the copied tree has no .git.
set -uo pipefail
cd "$(dirname "$0")/.."
out="${OUT:-device-out}"
mkdir -p "$out"
for name in "$@"; do  # a typo must not cost the device minutes of the checks below
  RUNS_DRY=1 bash benchmarks/runs.sh "$name" >/dev/null || { echo "device.sh: unknown run $name" >&2; exit 2; }
done
# PYTHONSAFEPATH: the checkout's genrec_hf/ folder must not shadow the installed package (its modeling/ lies elsewhere)
export PYTHONSAFEPATH=1 PYTHONUNBUFFERED=1 TQDM_MININTERVAL=20 OMP_NUM_THREADS="${OMP_NUM_THREADS:-4}"
log="$out/device.log"
{
  wheels="${GENREC_WHEELS:-.whl}"
  if compgen -G "$wheels/*.whl" >/dev/null; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site "$wheels"/*.whl \
      || { echo "wheel install failed"; exit 1; }
    export PYTHONPATH=/tmp/site${PYTHONPATH:+:$PYTHONPATH}
  fi
  if ! command -v python >/dev/null; then  # runs.sh calls `python`; such machines may have python3 alone
    mkdir -p /tmp/bin && ln -sf "$(command -v python3)" /tmp/bin/python && export PATH=/tmp/bin:$PATH
  fi
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
  python3 -c "import torch, transformers, datasets, genrec_hf; print('torch', torch.__version__, 'cuda', torch.cuda.is_available(), 'transformers', transformers.__version__, 'datasets', datasets.__version__, 'genrec-hf', genrec_hf.__version__)" \
    || exit 1
  started=$SECONDS
  # the GPU tests, from a copy: pytest puts the tests' parent folder on sys.path, where genrec_hf/ would shadow
  rm -rf /tmp/gpu-tests && mkdir -p /tmp/gpu-tests && cp -r tests /tmp/gpu-tests/
  (cd /tmp/gpu-tests && timeout 300 python3 -m pytest -q -p no:cacheprovider tests/test_gpu.py) >"$out/gpu-tests.log" 2>&1 \
    || { echo "GPU tests failed:"; tail -40 "$out/gpu-tests.log"; exit 1; }
  tail -1 "$out/gpu-tests.log"
  # a whole run in small: a failure here (or in the tests) stops before the long runs spend the device time
  timeout 180 python3 -m genrec_hf quickstart --output /tmp/smoke --epochs 1 >"$out/smoke.log" 2>&1 \
    || { echo "quickstart on the GPU failed:"; tail -40 "$out/smoke.log"; exit 1; }
  tail -8 "$out/smoke.log"
  echo "smoke check: $((SECONDS - started)) s"
  pids=()
  for name in "$@"; do
    bash benchmarks/runs.sh "$name" >"$out/$name.log" 2>&1 &
    pids+=($!)
  done
  status=0
  for pid in "${pids[@]}"; do wait "$pid" || status=1; done
  echo "runs: $((SECONDS - started)) s, status $status"
  for name in "$@"; do echo "== $name"; grep -E "^(validation|test|timings|baseline)" "$out/$name.log" | tail -6; done
  files=()
  for name in "$@"; do
    for f in "benchmarks/results/$name.json" "benchmarks/results/$name.png"; do [[ -f "$f" ]] && files+=("$f"); done
  done
  tar -cf "$out/results.tar" --files-from /dev/null "${files[@]}"  # empty when no run left a result
  for name in "$@"; do gzip -f "$out/$name.log"; done
  exit $status
} 2>&1 | tee "$log"
