"""stage=judge end to end through run.py: the run's model is "served" by a scripted server
(eval.serving.backend=external), the AI client and the LLM judge are scripted servers too."""
import json

import pytest
from conftest import run_py
from support.scripted_server import ScriptedServer

from mhcompare.io import read_json, read_jsonl

SCORES = json.dumps({"professionalism": 4, "empathy": 5, "practicality": 3, "safety": 4, "rationale": "ok"})


@pytest.mark.slow
def test_stage_judge_writes_transcripts_metrics_and_resumes(tmp_path):
    outputs = tmp_path / "outputs"
    with ScriptedServer(default="我在听，请继续说。", model="tiny_qwen-seed0") as counsellor, \
            ScriptedServer(default="嗯，我还是很担心。", model="client") as client, \
            ScriptedServer(default=SCORES, model="judge") as judge:
        args = ["stage=judge", "model=tiny_qwen", "seed=0", "experiment_name=exp", f"paths.outputs={outputs}",
                f"hydra.run.dir={tmp_path / 'hydra'}", "eval.serving.backend=external",
                f"eval.serving.base_url={counsellor.base_url}", "eval.serving.model=tiny_qwen-seed0",
                f"judge.client.base_url={client.base_url}", "judge.client.model=client", "judge.client.api_key_env=null",
                "judge.llm_judge.enabled=true", f"judge.llm_judge.base_url={judge.base_url}",
                "judge.llm_judge.model=judge", "judge.scenarios_per_type=2", "judge.turns=2"]
        first = run_py(*args, timeout=300)
        assert first.returncode == 0, first.stderr[-3000:]
        again = run_py(*args, timeout=300)
        assert again.returncode == 0 and "is done; skipped" in again.stdout + again.stderr
    folder = outputs / "exp" / "tiny_qwen" / "seed0" / "judge"
    records = read_jsonl(folder / "conversations.jsonl")
    assert [r["scenario_type"] for r in records] == ["counselling"] * 2 + ["psychoeducation"] * 2 + ["crisis"] * 2
    for record in records:
        assert record["model"] == "tiny_qwen" and record["seed"] == 0
        assert [t["role"] for t in record["turns"]] == ["client", "counsellor"] * 2
        assert record["turns"][1]["content"] == "我在听，请继续说。"
        assert record["llm_judge"]["scores"]["empathy"] == 5
    assert len(counsellor.requests) == 12 and len(judge.requests) == 6  # nothing redone on the second run
    metrics = read_json(folder / "metrics.json")
    assert metrics["judge.conversations"] == 6 and metrics["judge.llm.failures"] == 0
    assert metrics["judge.llm.empathy.mean"] == 5
    # the cost record per role, as the servers counted it (the scripted server: characters)
    assert metrics["judge.usage.counsellor.requests"] == 12 and metrics["judge.usage.llm_judge.requests"] == 6
    assert metrics["judge.usage.counsellor.completion_tokens"] == 12 * len("我在听，请继续说。")
    assert metrics["judge.usage.client.requests"] == sum(1 for r in client.requests)
    assert read_json(folder / "done.json")["fingerprint"]["scenarios"]


@pytest.mark.slow
def test_an_interrupted_judge_stage_pays_only_for_the_missing_conversations(tmp_path):
    """The counsellor fails in the third of six conversations: the two finished ones are kept; the
    re-run asks the servers only for the four missing ones."""
    outputs = tmp_path / "outputs"

    def args(counsellor, client):
        return ["stage=judge", "model=tiny_qwen", "seed=0", "experiment_name=exp", f"paths.outputs={outputs}",
                f"hydra.run.dir={tmp_path / 'hydra'}", "eval.serving.backend=external",
                f"eval.serving.base_url={counsellor.base_url}", "eval.serving.model=tiny_qwen-seed0",
                f"judge.client.base_url={client.base_url}", "judge.client.model=client",
                "judge.client.api_key_env=null", "judge.scenarios_per_type=2", "judge.turns=2",
                "judge.concurrency=1", "judge.counsellor.max_retries=0"]

    with ScriptedServer(default="我在听。", model="tiny_qwen-seed0", fail_after=5) as counsellor, \
            ScriptedServer(default="嗯。", model="client") as client:
        first = run_py(*args(counsellor, client), timeout=300)
        assert first.returncode != 0
        folder = outputs / "exp" / "tiny_qwen" / "seed0" / "judge"
        kept = read_jsonl(folder / "conversations.partial.jsonl")
        assert len(kept) == 1 + 2  # the fingerprint line, then two finished conversations
        counsellor.fail_after, before = None, len(counsellor.requests)  # the server is back
        second = run_py(*args(counsellor, client), timeout=300)
        assert second.returncode == 0, second.stdout[-2000:] + second.stderr[-2000:]
        assert len(counsellor.requests) - before == 4 * 2  # four conversations of two turns, not six
    records = read_jsonl(folder / "conversations.jsonl")
    assert len(records) == 6 and [r["conversation_id"] for r in records[:2]] == [r["conversation_id"] for r in kept[1:]]
    assert not (folder / "conversations.partial.jsonl").exists()
    assert "2 conversations kept from an interrupted run" in second.stdout + second.stderr
