#!/usr/bin/env bash
# Debian's headless-capable Chromium for the judge app's browser tests (Playwright drives it via
# executable_path=/usr/bin/chromium; Playwright's own browser download is never used).
# Idempotent: does nothing when /usr/bin/chromium is already there.
set -euo pipefail
if [ -x /usr/bin/chromium ]; then
  exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  SUDO="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q chromium
