#!/usr/bin/env bash
# One GPU session: carried wheels, GPU kernel tests, then the prefill benchmark. Output under $OUT.
#   bash bench/gpu_session.sh [tests|bench|quick|all] [extra bench args...]
set -uo pipefail
what=${1:-all}; shift || true
out=${OUT:-/tmp/out}; mkdir -p "$out"
if ls .whl/*.whl >/dev/null 2>&1; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
  export PYTHONPATH=/tmp/site:$PWD
else
  export PYTHONPATH=$PWD
fi
export PYTHONUNBUFFERED=1 HYPOTHESIS_PROFILE=ci
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
python3 -c "import torch, triton; print('torch', torch.__version__, 'triton', triton.__version__)"
if [[ $what == tests || $what == all ]]; then
  READTWICE_AUTOTUNE=0 python3 -m pytest -q tests/synthetic/kernels -p no:cacheprovider ${PYTEST_ARGS:-} 2>&1 | tee "$out/gpu_tests.log" | tail -25
fi
if [[ $what == quick ]]; then
  python3 bench/prefill.py --quick --out "$out" "$@" 2>&1 | tee "$out/bench.log" | tail -45
fi
if [[ $what == bench || $what == all ]]; then
  python3 bench/prefill.py --out "$out" "$@" 2>&1 | tee "$out/bench.log" | tail -80
fi
