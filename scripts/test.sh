#!/usr/bin/env bash
# The whole test suite, slow tests included, with everything it needs installed first.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
. "${MHC_VENV:-.venv}/bin/activate"
export HF_HUB_OFFLINE=1
python -m pytest "$@"
