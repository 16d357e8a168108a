#!/usr/bin/env bash
# The Human Judge loop offline, after `bash scripts/demo.sh`: each tiny fine-tuned model talks with
# an AI client played by the base model served beside it (no API key, no network), the rating app
# imports the transcripts, and a rater invitation is printed. The app then serves until Ctrl-C
# (MHC_JUDGE_DEMO_SERVE=0: stop once the invitation is printed, as the tests do).
set -euo pipefail
cd "$(dirname "$0")/.."
. "${MHC_VENV:-.venv}/bin/activate"
export HF_HUB_OFFLINE=1
PORT="${MHC_JUDGE_PORT:-8765}"

OUTPUTS="${MHC_OUTPUTS:-outputs}"
if ! ls "$OUTPUTS"/demo/tiny_*/seed0/train/done.json >/dev/null 2>&1; then
    echo "no trained demo models yet: run bash scripts/demo.sh first" >&2
    exit 1
fi
python run.py -m experiment_name=demo model=tiny_qwen,tiny_llama seed=0 stage=judge tracking=none \
    judge.client.base_url=served judge.client.api_key_env=null judge.scenarios_per_type=1 judge.turns=2 \
    judge.counsellor.max_tokens=64 judge.client.max_tokens=64 "$@"

# the organiser's token for this session only: in the environment, never in a file
export MHC_JUDGE_ADMIN_TOKEN="$(python -c 'import secrets; print(secrets.token_urlsafe(32))')"
python run.py experiment_name=demo stage=judge_app judge.app.port="$PORT" &
APP=$!
trap 'kill "$APP" 2>/dev/null; wait "$APP" 2>/dev/null || true' EXIT INT TERM
python - "$PORT" <<'EOF'
import json, os, sys, time, urllib.request

base = f"http://127.0.0.1:{sys.argv[1]}"
headers = {"Authorization": f"Bearer {os.environ['MHC_JUDGE_ADMIN_TOKEN']}", "Content-Type": "application/json"}
for _ in range(120):
    try:
        urllib.request.urlopen(f"{base}/login", timeout=2)
        break
    except OSError:
        time.sleep(0.5)
request = urllib.request.Request(f"{base}/api/admin/raters", data=json.dumps({"name": "demo rater"}).encode(),
                                 headers=headers, method="POST")
invitation = json.loads(urllib.request.urlopen(request, timeout=10).read())["token"]
check = urllib.request.Request(f"{base}/api/progress", headers={"Authorization": f"Bearer {invitation}"})
progress = json.loads(urllib.request.urlopen(check, timeout=10).read())
print(f"the invitation signs in; items for this rater: {progress}")
print(f"\nrating app: {base}/login\nrater invitation (sign in with it): {invitation}\n"
      f"organiser: {base}/admin (the admin token is in MHC_JUDGE_ADMIN_TOKEN of this shell)\n"
      "Ctrl-C stops the app; then: python run.py experiment_name=demo stage=judge_analysis\n", flush=True)
EOF
if [ "${MHC_JUDGE_DEMO_SERVE:-1}" = "1" ]; then
    wait "$APP"
fi
