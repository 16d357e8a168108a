#!/usr/bin/env bash
# The whole test suite, slow tests included, with everything it needs installed first:
# the Python environment, Debian's Chromium (browser tests) and Slurm + munge + MariaDB (the
# one-node cluster the sweep tests start and stop themselves), Debian's PostgreSQL (the judge app's
# PostgreSQL tests start a throwaway server). Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
if [ "$(id -u)" = 0 ]; then
  bash scripts/install_chromium.sh
  bash scripts/slurm/install.sh
  bash scripts/install_postgres.sh
else
  echo "not root: Chromium, Slurm and PostgreSQL are not installed; their tests skip unless already present" >&2
fi
. "${MHC_VENV:-.venv}/bin/activate"
export HF_HUB_OFFLINE=1
python -m pytest "$@"
