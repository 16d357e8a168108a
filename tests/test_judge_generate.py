"""The conversation generator, end to end against two scripted OpenAI-compatible servers: one plays
the counsellor (the served model), one the AI client."""
import json

import pytest
from conftest import compose_config
from support.scripted_server import ScriptedServer

from mhcompare.judge.simulate.endpoint import ChatEndpoint
from mhcompare.judge.simulate.generate import conversation_id, generate_conversations
from mhcompare.judge.simulate.llm_judge import score_transcript
from mhcompare.judge.rubric import load_rubric
from mhcompare.judge.scenarios import load_scenarios

COUNSELLOR_PROMPT = "你是心理咨询师。"


@pytest.fixture
def scenarios():
    cfg = compose_config()
    return load_scenarios(cfg.judge.scenarios, ["counselling", "crisis"], limit_per_type=1)


def test_sessions_alternate_and_each_side_sees_its_own_seat(scenarios):
    counsellor_rules = [(r"心慌", "听起来你最近压力很大，能多说说吗？"), (r"不在了", "你提到不在了，你有伤害自己的想法吗？")]
    with ScriptedServer(rules=counsellor_rules, default="嗯，我在听。", model="served-lora") as counsellor, \
            ScriptedServer(rules=[(r"能多说说", "我每天都很紧张。")], default="是的。", model="ai-client") as client:
        records = generate_conversations(
            scenarios, ChatEndpoint(counsellor.base_url, "served-lora"), ChatEndpoint(client.base_url, "ai-client"),
            turns=3, seed=7, counsellor_system_prompt=COUNSELLOR_PROMPT, model="qwen", experiment="exp",
            concurrency=2)

    assert [r["scenario_id"] for r in records] == [s.id for s in scenarios]
    first = records[0]
    assert first["conversation_id"] == conversation_id("exp", "qwen", 7, scenarios[0].id)
    assert (first["model"], first["seed"], first["scenario_type"]) == ("qwen", 7, "counselling")
    assert [t["role"] for t in first["turns"]] == ["client", "counsellor"] * 3
    # the bank's opening line is said verbatim; later client lines come from the AI client
    assert first["turns"][0]["content"] == scenarios[0].opening
    assert first["turns"][1]["content"] == "听起来你最近压力很大，能多说说吗？"
    assert first["turns"][2]["content"] == "我每天都很紧张。"
    assert records[1]["turns"][1]["content"] == "你提到不在了，你有伤害自己的想法吗？"

    # the counsellor saw the counselling system prompt and the client's words as `user`
    last_counsellor = [r for r in counsellor.requests if r["messages"][1]["content"] == scenarios[0].opening][-1]
    assert last_counsellor["messages"][0] == {"role": "system", "content": COUNSELLOR_PROMPT}
    assert [m["role"] for m in last_counsellor["messages"][1:]] == ["user", "assistant"] * 2 + ["user"]
    assert last_counsellor["seed"] == 7 and last_counsellor["model"] == "served-lora"
    # the client played the persona, and saw the counsellor's words as `user`, its own as `assistant`
    client_request = next(r for r in client.requests if scenarios[0].persona["name"] in r["messages"][0]["content"])
    assert scenarios[0].presenting_problem in client_request["messages"][0]["content"]
    assert client_request["messages"][2] == {"role": "assistant", "content": scenarios[0].opening}
    assert client_request["messages"][3]["role"] == "user"
    assert len(counsellor.requests) == 6 and len(client.requests) == 4  # two openings came from the bank


def test_llm_judge_scores_on_the_rubric_and_records_unusable_replies(scenarios):
    rubric = load_rubric(compose_config().judge.rubric)
    turns = [{"role": "client", "content": "我很难受"}, {"role": "counsellor", "content": "我在这里陪你"}]
    good = json.dumps({"professionalism": 4, "empathy": 5, "practicality": 3, "safety": 4, "rationale": "温暖"},
                      ensure_ascii=False)
    with ScriptedServer(rules=[(r"我在这里陪你", f"好的：{good}")], default='{"empathy": 9}') as judge:
        endpoint = ChatEndpoint(judge.base_url, "judge-llm", temperature=0.0)
        verdict = score_transcript(endpoint, rubric, scenarios[0], turns)
        broken = score_transcript(endpoint, rubric, scenarios[0], [{"role": "client", "content": "x"}])
    assert verdict == {"model": "judge-llm", "rationale": "温暖",
                       "scores": {"professionalism": 4, "empathy": 5, "practicality": 3, "safety": 4}}
    assert "error" in broken and "scores" not in broken
    prompt = judge.requests[0]["messages"][0]["content"]
    assert all(d.anchors[4] in prompt for d in rubric)


def test_api_key_comes_only_from_the_named_environment_variable(monkeypatch):
    cfg = compose_config()
    monkeypatch.delenv("DEEPSEEK_API_KEY", raising=False)
    with pytest.raises(RuntimeError, match="export DEEPSEEK_API_KEY="):
        ChatEndpoint.from_config(cfg.judge.client)
    monkeypatch.setenv("DEEPSEEK_API_KEY", "sk-test")
    assert ChatEndpoint.from_config(cfg.judge.client).api_key == "sk-test"
