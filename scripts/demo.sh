#!/usr/bin/env bash
# The default demo: both tiny random-weight models x 2 seeds, prepared, LoRA-trained with ms-swift
# on the CPU and aggregated into outputs/demo/report/. No network, a few minutes.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
. "${MHC_VENV:-.venv}/bin/activate"
export HF_HUB_OFFLINE=1
python run.py experiment=demo "$@"
echo "report: outputs/demo/report/"
