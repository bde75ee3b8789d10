#!/usr/bin/env bash
# Issue 16's device check: training speed by precision/layout/compile, the loader, evaluate_features at MSMT17 size,
# build_cvg at 50k nodes and a short two-stage run, as one table. No network. Under 8 minutes on one H200.
#   bash benchmarks/device_check.sh            # on the GPU
#   bash benchmarks/device_check.sh --smoke    # the same code path on the CPU, tiny sizes (under 2 minutes)
# More flags: --only train,loader,eval,cvg,stages; --compile (with --smoke: the compiled row too). See device_check.py.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -z "${VIRTUAL_ENV:-}" ] && [ -f .venv/bin/activate ]; then source .venv/bin/activate; fi
export PYTHONWARNINGS="${PYTHONWARNINGS:-ignore::FutureWarning}"
exec python benchmarks/device_check.py "$@"
