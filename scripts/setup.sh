#!/usr/bin/env bash
# Create the project's virtual environment (once) and install mhcompare with what the demo and
# the tests need. On a machine without a GPU it installs the CPU build of torch 2.13.0; on a GPU
# machine install the CUDA build of torch first (see README) and this script keeps it.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${MHC_VENV:-.venv}
if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV"
fi
# shellcheck disable=SC1091
. "$VENV/bin/activate"
if ! python -c "import torch" 2>/dev/null; then
  # A plain `pip install torch` would pull a multi-GB CUDA build; set MHC_TORCH_INDEX to e.g.
  # https://download.pytorch.org/whl/cpu where no local wheel is configured.
  pip install -q ${MHC_TORCH_INDEX:+--index-url "$MHC_TORCH_INDEX"} "torch==2.13.0"
fi
pip install -q -c requirements/constraints.txt -e ".[all]"
