"""End-to-end helpers for the judge app: made-up conversations on disk, the app started as a user
starts it (`python run.py stage=judge_app`, stopped by its PID), Debian's headless Chromium driven
by Playwright (never Playwright's own browser download), and a load generator of concurrent raters
shared by the load test and bench/bench_judge_app.py."""
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

from mhcompare.judge.generate import conversation_id

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
        deadline = time.time() + startup_s
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"judge app exited ({proc.returncode}):\n"
                                   f"{(outputs / f'judge_app_{port}.log').read_text()}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{base}/login", timeout=2).status_code == 200:
                    break
            if time.time() > deadline:
                raise TimeoutError(f"judge app not up on {base} after {startup_s}s")
            time.sleep(0.2)
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


def rate_everything(base: str, token: str, dimensions: list[str], replay: bool) -> dict:
    """One rater works through all their items over the JSON API; with `replay`, every rating is
    sent twice at the same moment, as a double-click or a retrying client would."""
    latencies, statuses, stored = [], [], []
    barrier = threading.Barrier(2) if replay else None
    with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=60) as client:
        def timed(method: str, path: str, **kwargs) -> httpx.Response:
            started = time.perf_counter()
            response = client.request(method, path, **kwargs)
            latencies.append(time.perf_counter() - started)
            statuses.append(response.status_code)
            return response

        def post(body: dict) -> httpx.Response:
            if barrier is not None:
                barrier.wait()
            return timed("POST", "/api/ratings", json=body)

        with ThreadPoolExecutor(max_workers=2) as pair:
            while (item := timed("GET", "/api/next").json()["item"]) is not None:
                body = {"assignment_id": item["assignment_id"], "comment": "ok",
                        "scores": {side: dict.fromkeys(dimensions, 3) for side in item["conversations"]}}
                responses = list(pair.map(post, [body] * (2 if replay else 1)))
                stored += [r.json()["rating_id"] for r in responses if r.status_code == 201]
    return {"latencies": latencies, "statuses": statuses, "stored": stored}


def run_load(base: str, tokens: list[str], dimensions: list[str], replay: bool = True) -> dict:
    """All raters at once; returns requests, seconds, requests/s, p50/p99 latency and status counts."""
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=len(tokens)) as pool:
        results = list(pool.map(lambda t: rate_everything(base, t, dimensions, replay), tokens))
    seconds = time.perf_counter() - started
    latencies = sorted(x for r in results for x in r["latencies"])
    return {"requests": len(latencies), "seconds": seconds, "requests_per_s": len(latencies) / seconds,
            "p50_ms": 1000 * latencies[len(latencies) // 2],
            "p99_ms": 1000 * latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))],
            "statuses": Counter(s for r in results for s in r["statuses"]),
            "stored": [x for r in results for x in r["stored"]]}
