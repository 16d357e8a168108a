"""An LLM scores a transcript on the same rubric the human raters use.

The model is asked for JSON only; a reply that is not JSON with every dimension scored 1-5 counts
as a failure (recorded, never guessed), so its agreement with humans is measured on real scores.
"""
import json
import re

from mhcompare.judge.simulate.endpoint import ChatEndpoint
from mhcompare.judge.rubric import SCALE, Dimension
from mhcompare.judge.scenarios import Scenario

ROLE_NAMES = {"client": "来访者", "counsellor": "咨询师"}


def judge_prompt(rubric: list[Dimension]) -> str:
    lines = ["你是心理咨询督导，请评价下面这段对话中“咨询师”的表现。逐项按 1-5 分打分，评分标准如下：", ""]
    for d in rubric:
        lines.append(f"【{d.key}｜{d.label}】{d.question}")
        lines += [f"  {a}" for a in d.anchors]
    keys = ", ".join(f'"{d.key}": <1-5的整数>' for d in rubric)
    lines += ["", f'只输出一个 JSON 对象，不要输出其他内容：{{{keys}, "rationale": "<一两句理由>"}}']
    return "\n".join(lines)


def transcript_text(scenario: Scenario, turns: list[dict]) -> str:
    head = f"场景：{scenario.title}（{scenario.type}）。来访者的困扰：{scenario.presenting_problem}"
    body = "\n".join(f"{ROLE_NAMES[t['role']]}：{t['content']}" for t in turns)
    return f"{head}\n\n对话：\n{body}"


def parse_scores(reply: str, rubric: list[Dimension]) -> dict:
    """{'scores': {dim: int}, 'rationale': str}; raises ValueError naming what was wrong."""
    match = re.search(r"\{.*\}", reply, re.DOTALL)
    if not match:
        raise ValueError("no JSON object in the reply")
    data = json.loads(match.group(0))
    scores = {}
    for d in rubric:
        value = data.get(d.key)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value not in SCALE:
            raise ValueError(f"{d.key}: {value!r} is not an integer 1-5")
        scores[d.key] = int(value)
    return {"scores": scores, "rationale": str(data.get("rationale", ""))}


def score_transcript(judge: ChatEndpoint, rubric: list[Dimension], scenario: Scenario, turns: list[dict],
                     seed: int | None = None) -> dict:
    """{'model', 'scores', 'rationale'} or {'model', 'error'} when the reply could not be used."""
    messages = [{"role": "system", "content": judge_prompt(rubric)},
                {"role": "user", "content": transcript_text(scenario, turns)}]
    from openai import OpenAIError

    try:
        reply = judge.chat(messages, seed=seed)
    except OpenAIError as e:  # after the client's own retries: record it, keep the conversation
        return {"model": judge.model, "error": f"request failed: {e}"}
    try:
        return {"model": judge.model, **parse_scores(reply, rubric)}
    except ValueError as e:  # includes json.JSONDecodeError
        return {"model": judge.model, "error": f"{e}; reply began: {reply[:200]!r}"}
