"""Simulated counselling sessions: an AI client plays a scenario's persona against a counsellor model.

Each side sees the conversation from its own seat: the counsellor gets the client's words as `user`
messages; the client gets the counsellor's words as `user` and its own as `assistant`. Pure over
endpoints, so tests drive it with scripted servers and stage=judge with a served fine-tuned model.
"""
import hashlib
import logging
from concurrent.futures import ThreadPoolExecutor

from mhcompare.judge.simulate.endpoint import ChatEndpoint
from mhcompare.judge.scenarios import Scenario
from mhcompare.progress import progress

log = logging.getLogger(__name__)

CLIENT_KICKOFF = "（咨询开始了。请你以来访者的身份先开口。）"


def client_system_prompt(scenario: Scenario) -> str:
    p = scenario.persona
    lines = [
        "你正在参与一次心理咨询的角色扮演，你扮演来访者，对方是心理咨询师。",
        f"你的身份：{p['name']}，{p['age']}岁，{p['gender']}，{p['occupation']}。",
        f"背景：{p['background']}",
        f"你目前的困扰：{scenario.presenting_problem}",
        f"你来咨询的目的：{scenario.goal}",
    ]
    if scenario.style:
        lines.append(f"你的说话方式：{scenario.style}")
    lines += [
        "要求：始终以来访者的身份、用第一人称说中文口语；每次只说一到三句话；",
        "根据咨询师的回应自然地推进，不要一次把所有信息都说出来；",
        "不要扮演咨询师，不要提到你是AI或在角色扮演，不要输出旁白或括号里的动作描写。",
    ]
    return "\n".join(lines)


def conversation_id(experiment: str, model: str, seed: int, scenario_id: str) -> str:
    """Stable across re-runs, so the rating database can import a file again without duplicates."""
    return hashlib.sha256(f"{experiment}/{model}/seed{seed}/{scenario_id}".encode()).hexdigest()[:20]


def converse(scenario: Scenario, counsellor: ChatEndpoint, client: ChatEndpoint, turns: int,
             counsellor_system_prompt: str, seed: int | None = None) -> list[dict]:
    """`turns` rounds of client message then counsellor reply, as [{role, content}, ...]."""
    transcript: list[dict] = []
    client_view = [{"role": "system", "content": client_system_prompt(scenario)},
                   {"role": "user", "content": CLIENT_KICKOFF}]
    counsellor_view = [{"role": "system", "content": counsellor_system_prompt}]
    for turn in range(turns):
        if turn == 0 and scenario.opening:
            said = scenario.opening
        else:
            said = client.chat(client_view, seed=seed)
        client_view.append({"role": "assistant", "content": said})
        counsellor_view.append({"role": "user", "content": said})
        transcript.append({"role": "client", "content": said})

        reply = counsellor.chat(counsellor_view, seed=seed)
        counsellor_view.append({"role": "assistant", "content": reply})
        client_view.append({"role": "user", "content": reply})
        transcript.append({"role": "counsellor", "content": reply})
    return transcript


def generate_conversations(scenarios: list[Scenario], counsellor: ChatEndpoint, client: ChatEndpoint, *,
                           turns: int, seed: int, counsellor_system_prompt: str, model: str,
                           experiment: str, concurrency: int = 1, finished: dict | None = None,
                           on_finish=None) -> list[dict]:
    """One conversation per scenario with this (model, seed)'s counsellor, in scenario order.
    `finished`: {conversation_id: record} kept from an interrupted run, not generated again;
    `on_finish(record)` is called as each new conversation completes (to keep it at once)."""
    if turns < 1:
        raise ValueError(f"judge.turns must be at least 1, got {turns}")
    finished = finished or {}

    def one(scenario: Scenario) -> dict:
        record_id = conversation_id(experiment, model, seed, scenario.id)
        if record_id in finished:
            return finished[record_id]
        record = {
            "conversation_id": record_id,
            "scenario_id": scenario.id,
            "scenario_type": scenario.type,
            "model": model,
            "seed": seed,
            "client_model": client.model,
            "turns": converse(scenario, counsellor, client, turns, counsellor_system_prompt, seed=seed),
        }
        if on_finish is not None:
            on_finish(record)
        return record

    with ThreadPoolExecutor(max_workers=max(1, concurrency)) as pool:
        return list(progress(pool.map(one, scenarios), len(scenarios), f"judge: {model} seed {seed} conversations",
                             log))
