"""stage=eval end to end: the tiny fine-tuned model served by `swift deploy` (transformers
backend) on the CPU, measured by EvalScope and `evalscope perf`; the server never outlives it."""
import json
import os
import re

import pytest

from conftest import run_py
from mhcompare.io import read_json
from support.processes import process_alive

pytestmark = pytest.mark.slow

FAST_TRAIN = ["data.max_rows=64", "train.effective_batch_size=8", "train.swift.max_length=512",
              "train.swift.eval_steps=100", "train.swift.save_steps=100"]
FAST_EVAL = ["eval.limit=6", "eval.dialogue.max_items=6", "eval.generation.max_tokens=16",
             "eval.perf.concurrency=[1,2]", "eval.perf.requests_per_level=4", "eval.perf.max_tokens=16"]


def server_pid(log_text: str) -> int:
    return int(re.search(r"# server pid (\d+)", log_text).group(1))


@pytest.fixture(scope="module")
def trained_outputs(tmp_path_factory, tiny_cache):
    outputs = tmp_path_factory.mktemp("outputs")
    common = ["model=tiny_qwen", f"paths.outputs={outputs}", f"paths.cache={tiny_cache}", "tracking=none"]
    out = run_py(*common, "stage=[prepare,train]", *FAST_TRAIN)
    assert out.returncode == 0, out.stderr[-3000:]
    return outputs, common


def test_eval_on_the_tiny_model_writes_every_score_and_stops_the_server(trained_outputs):
    outputs, common = trained_outputs
    out = run_py(*common, *FAST_TRAIN, "stage=eval", *FAST_EVAL)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    eval_dir = outputs / "demo" / "tiny_qwen" / "seed0" / "eval"
    metrics = read_json(eval_dir / "metrics.json")
    assert metrics["eval.psych_mcq.n"] == 6 and 0 <= metrics["eval.psych_mcq.accuracy"] <= 1
    assert metrics["eval.dialogue.n"] == 6 and metrics["eval.crisis.n"] == 6
    assert 0 <= metrics["eval.crisis.rule_pass_rate"] <= 1 and "eval.crisis.screen.recall" in metrics
    for level in (1, 2):
        assert metrics[f"eval.perf.c{level}.latency_s"] > 0 and metrics[f"eval.perf.c{level}.requests_per_s"] > 0
        assert metrics[f"eval.perf.c{level}.failed_requests"] == 0
    assert (eval_dir / "evalscope" / "reports").is_dir() and (eval_dir / "perf").is_dir()
    # a successful run logs no ERROR (EvalScope's own BLEU, which needs NLTK data offline, is not asked for)
    assert "ERROR" not in out.stdout + out.stderr, [l for l in (out.stdout + out.stderr).splitlines() if "ERROR" in l][:3]
    assert not process_alive(server_pid((eval_dir / "server.log").read_text()))


def test_the_server_is_stopped_when_evaluation_raises(trained_outputs):
    outputs, common = trained_outputs
    eval_dir = outputs / "demo" / "tiny_qwen" / "seed0" / "eval"
    (eval_dir / "server.log").unlink(missing_ok=True)
    # a built-in benchmark whose local data is missing makes EvalScope raise after the server is up
    out = run_py(*common, *FAST_TRAIN, "stage=eval", "force=true", *FAST_EVAL, "eval.tasks=[dialogue]",
                 "+eval.builtin.cmmlu.local_path=/nonexistent/cmmlu", "+eval.builtin.cmmlu.subsets=[professional_psychology]",
                 env_extra={"MODELSCOPE_OFFLINE": "1"})
    assert out.returncode != 0
    pid = server_pid((eval_dir / "server.log").read_text())
    assert not process_alive(pid), f"server {pid} outlived the failed eval"
    assert not (eval_dir / "done.json").exists()


def test_the_judge_loop_runs_offline_with_the_served_base_model_as_the_client(trained_outputs):
    """No API key: judge.client.base_url=served lets the base model beside the adapter play the
    client (the demo's tiny model on loopback)."""
    outputs, common = trained_outputs
    out = run_py(*common, *FAST_TRAIN, "stage=judge", "judge.client.base_url=served", "judge.client.api_key_env=null",
                 "judge.scenarios_per_type=1", "judge.turns=1", "judge.counsellor.max_tokens=16",
                 "judge.client.max_tokens=16", env_extra={"DEEPSEEK_API_KEY": ""})
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    judge_dir = outputs / "demo" / "tiny_qwen" / "seed0" / "judge"
    records = [json.loads(line) for line in (judge_dir / "conversations.jsonl").read_text().splitlines()]
    assert [r["scenario_type"] for r in records] == ["counselling", "psychoeducation", "crisis"]
    assert {r["client_model"] for r in records} == {"tiny_qwen-seed0-base"}
    assert all([t["role"] for t in r["turns"]] == ["client", "counsellor"] for r in records)
    assert "judge: tiny_qwen seed 0 conversations: 3 of 3" in out.stdout + out.stderr


def test_the_offline_judge_demo_ends_with_an_invitation_that_signs_in(tmp_path, tiny_cache):
    """scripts/demo_judge.sh after the demo's training: transcripts made with the served base model as
    the client, imported by the rating app, and a rater invitation that signs in (checked by the
    script against the running app)."""
    import socket
    import subprocess
    import urllib.request

    from conftest import REPO

    outputs = tmp_path / "outputs"
    for model in ("tiny_qwen", "tiny_llama"):
        out = run_py(f"model={model}", "seed=0", "experiment_name=demo", f"paths.outputs={outputs}",
                     f"paths.cache={tiny_cache}", "tracking=none", "stage=[prepare,train]", *FAST_TRAIN)
        assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "MHC_OUTPUTS": str(outputs), "MHC_CACHE": str(tiny_cache), "MHC_JUDGE_PORT": str(port),
           "MHC_JUDGE_DEMO_SERVE": "0", "MHC_VENV": str(REPO / ".venv"), "DEEPSEEK_API_KEY": ""}
    demo = subprocess.run(["bash", "scripts/demo_judge.sh", *FAST_TRAIN], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=900)
    text = demo.stdout + demo.stderr
    assert demo.returncode == 0, text[-4000:]
    invitation = re.search(r"rater invitation \(sign in with it\): (\S+)", text).group(1)
    assert f"rating app: http://127.0.0.1:{port}/login" in text
    for model in ("tiny_qwen", "tiny_llama"):
        assert (outputs / "demo" / model / "seed0" / "judge" / "conversations.jsonl").exists()
    assert "the invitation signs in; items for this rater:" in text
    assert "MHC_JUDGE_ADMIN_TOKEN=" not in text  # the token is never printed by the script
    assert len(invitation) >= 20
    # the app was stopped with the script: nothing answers on its port any more
    with pytest.raises(ConnectionRefusedError), socket.create_connection(("127.0.0.1", port), timeout=5):
        pass
