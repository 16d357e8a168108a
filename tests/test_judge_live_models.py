"""A live blind chat with two real models: tiny_qwen and tiny_llama, trained here for a few steps
and served by `swift deploy` (transformers backend, CPU) as the study serves its models, driven in
headless Chromium: three turns streamed from both, a rating, the export and the analysis. The
replies are a tiny model's gibberish, so this checks the path (a real OpenAI-compatible streaming
server, its chunk format, its served names kept from the rater); test_judge_live_browser.py checks
the exact text and redaction with scripted servers. About a minute of CPU: two short trainings
(~20 s each) and two servers (~7 s each to answer)."""
import contextlib
import os
import re

import httpx
import pandas as pd
import pytest
from conftest import compose_config, run_py
from support.browser import ADMIN_TOKEN, CHROMIUM, chromium, invite
from support.live_chat import live_app, send_turn

from mhcompare.serving.server import served_model

MODELS = ("tiny_qwen", "tiny_llama")
FAST_TRAIN = ["data.max_rows=64", "train.effective_batch_size=8", "train.swift.max_length=512",
              "train.swift.eval_steps=100", "train.swift.save_steps=100"]
DIMENSIONS = ["professionalism", "empathy", "practicality", "safety"]
pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not os.path.exists(CHROMIUM),
                                 reason="needs Debian's chromium: bash scripts/install_chromium.sh")]


@pytest.fixture(scope="module")
def served(tmp_path_factory, tiny_cache):
    """Both tiny models trained and served on loopback: {model: Endpoint}; stopped afterwards."""
    outputs = tmp_path_factory.mktemp("models")
    with contextlib.ExitStack() as stack:
        endpoints = {}
        for model in MODELS:
            out = run_py(f"model={model}", f"paths.outputs={outputs}", f"paths.cache={tiny_cache}", "tracking=none",
                         f"hydra.run.dir={outputs / 'hydra'}", "stage=[prepare,train]", *FAST_TRAIN)
            assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
            cfg = compose_config([f"model={model}", "tracking=none", "stage=eval"], outputs=outputs, cache=tiny_cache)
            endpoints[model] = stack.enter_context(served_model(cfg, log_path=outputs / f"{model}-server.log"))
        yield endpoints


def test_a_live_chat_with_two_tiny_models_served_by_swift_deploy(tmp_path, served):
    outputs = tmp_path / "outputs"
    outputs.mkdir()
    ports = [re.search(r":(\d+)/", e.base_url).group(1) for e in served.values()]
    secrets = [*MODELS, *(e.model for e in served.values()), "seed0", "qwen", "Qwen", "llama", "Llama", "Meta",
               *(f"127.0.0.1:{p}" for p in ports)]
    with live_app(outputs, "exp", served, "judge.live.max_turns=3", "judge.live.sessions_per_rater=1",
                  "judge.live.max_tokens=64", "judge.live.timeout_s=60") as base, chromium() as browser:
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        seen_html = []
        page.goto(f"{base}/login")
        page.fill("#token", invite(base, "live-rater"))
        page.click("button[type=submit]")
        page.wait_for_url(f"{base}/live")  # no transcripts in this study: the rater starts with live chats
        page.click("form.live-start button")
        page.wait_for_selector("form.live-message textarea")
        chunks = {"A": 0, "B": 0}
        for k, message in enumerate(["我最近总是睡不好。", "一躺下就想工作的事。", "谢谢，我试试看。"], start=1):
            page.fill("form.live-message textarea", message)
            page.click("form.live-message button[type=submit]")
            if k == 3:
                break
            page.wait_for_function("() => document.querySelector('.live-status').textContent.includes('已回复并保存')",
                                   timeout=60000)
            for side in chunks:
                reply = page.locator(f".transcript[data-side='{side}'] .turn.counsellor p").last
                assert "failed" not in reply.locator("..").get_attribute("class")  # both models answered
                chunks[side] += int(reply.get_attribute("data-chunks") or 0)
            seen_html.append(page.content())
        page.wait_for_selector("form.rating", timeout=60000)  # the third turn ended the chat
        seen_html.append(page.content())
        assert chunks["A"] >= 1 and chunks["B"] >= 1  # text arrived in pieces before each whole reply
        for side in "AB":
            assert len(page.locator(f".transcript[data-side='{side}'] .turn.counsellor:not(.failed) p").all()) == 3
        for label in "AB":
            for d in DIMENSIONS:
                page.check(f"input[name='{label}.{d}'][value='{4 if label == 'A' else 2}']")
        page.check("input[name=preference][value=A]")
        page.click("form.rating button[type=submit]")
        page.wait_for_url(f"{base}/live")
        assert page.inner_text(".progress-text") == "已完成 1 / 1"
        seen_html.append(page.content())
        bodies = [page.request.get(f"{base}/api/live").text()]
        with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {invite(base, 'api')}"}) as client:
            turn = send_turn(client, client.post("/api/live").json()["session"]["session_id"], "我睡不好")
        assert "event: delta" in turn["body"] and turn["body"].count("event: reply") == 2
        bodies.append(turn["body"])  # the event stream as sent (Chromium keeps no copy of a streamed body)
        for text in [*seen_html, *bodies]:
            for secret in secrets:
                assert secret not in text, secret
        export = httpx.get(f"{base}/api/admin/export.json", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}).json()

    assert {s["model"] for s in export["scores"]} == set(MODELS) and {s["source"] for s in export["scores"]} == {"live"}
    a_model = next(s["model"] for s in export["scores"] if s["shown_on"] == "left")
    assert export["votes"][0]["winner"] == a_model
    rows = [r for r in export["live_turns"] if r["rater"] == "live-rater"]
    assert len(rows) == 6 and not any(r["failed"] for r in rows) and all(r["first_token_s"] > 0 for r in rows)
    assert {r["model"] for r in rows} == set(MODELS)
    result = run_py("stage=judge_analysis", "experiment_name=exp", f"paths.outputs={outputs}",
                    f"hydra.run.dir={tmp_path / 'hydra'}", "judge.analysis.bootstrap=200", timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    by_source = pd.read_csv(outputs / "exp" / "report" / "human_judge" / "source_scores.csv")
    live = by_source[(by_source["source"] == "live") & (by_source["dimension"] == "empathy")].set_index("model")
    assert live["mean"].to_dict() == {a_model: 4, next(m for m in MODELS if m != a_model): 2}
