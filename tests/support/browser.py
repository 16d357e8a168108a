"""End-to-end helpers for the judge app: made-up conversations on disk, the app started as a user
starts it (`python run.py stage=judge_app`, stopped by its PID), Debian's headless Chromium driven
by Playwright (never Playwright's own browser download). The load generator is in load.py."""
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from mhcompare.judge.simulate.generate import conversation_id

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
ADMIN_TOKEN = "test-admin-token-0123456789abcdef"
SCENARIOS = [("co01-exam-anxiety", "counselling"), ("pe03-panic-attack", "psychoeducation"),
             ("cr01-suicidal-ideation", "crisis")]


def write_conversations(experiment_dir: Path, models: list[str], seeds=(0,), scenarios=SCENARIOS,
                        llm_scores=None) -> list[dict]:
    """conversations.jsonl files as stage=judge writes them; each counsellor names itself "Qwen",
    as real models do, which the app must redact before a rater sees it."""
    records = []
    for model in models:
        for seed in seeds:
            lines = []
            for scenario_id, kind in scenarios:
                record = {"conversation_id": conversation_id(experiment_dir.name, model, seed, scenario_id),
                          "scenario_id": scenario_id, "scenario_type": kind, "model": model, "seed": seed,
                          "scenario_title": f"场景 {scenario_id}", "presenting_problem": "最近睡不好。",
                          "turns": [{"role": "client", "content": "我最近很焦虑。"},
                                    {"role": "counsellor", "content": "我是 Qwen 助手，请慢慢说。"}]}
                if llm_scores is not None:
                    record["llm_judge"] = {"model": "judge", "scores": llm_scores(model, scenario_id)}
                lines.append(json.dumps(record, ensure_ascii=False))
                records.append(record)
            folder = experiment_dir / model / f"seed{seed}" / "judge"
            folder.mkdir(parents=True, exist_ok=True)
            (folder / "conversations.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return records


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def judge_app(outputs: Path, experiment: str, *overrides: str, startup_s: float = 60):
    """Run `python run.py stage=judge_app` on a free loopback port; yield its base URL."""
    port = free_port()
    env = {**os.environ, "MHC_JUDGE_ADMIN_TOKEN": ADMIN_TOKEN, "PYTHONUNBUFFERED": "1"}
    log = open(outputs / f"judge_app_{port}.log", "w")  # noqa: SIM115 - closed in the finally below
    proc = subprocess.Popen([sys.executable, str(REPO / "run.py"), "stage=judge_app",
                             f"experiment_name={experiment}", f"paths.outputs={outputs}",
                             f"hydra.run.dir={outputs / 'hydra'}", f"judge.app.port={port}", *overrides],
                            cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(f"{base}/login", proc, startup_s, lambda: (outputs / f"judge_app_{port}.log").read_text())
        yield base
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait()
        log.close()


def wait_until_up(url: str, process: subprocess.Popen, timeout_s: float, output=lambda: "") -> None:
    """Poll `url` until it answers 200; fail, with output(), if `process` exits first or time runs out."""
    deadline = time.time() + timeout_s
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"{process.args} exited ({process.returncode}):\n{output()}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(url, timeout=2).status_code == 200:
                return
        if time.time() > deadline:
            raise TimeoutError(f"{url} not up after {timeout_s}s")
        time.sleep(0.2)


def invite(base: str, name: str) -> str:
    response = httpx.post(f"{base}/api/admin/raters", json={"name": name},
                          headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
    response.raise_for_status()
    return response.json()["token"]


@contextlib.contextmanager
def chromium():
    """A headless Debian Chromium under Playwright."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()
