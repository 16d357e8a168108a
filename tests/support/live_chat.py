"""Helpers for the live chat: model servers that stream (slowly if asked) and fail on cue, the app
started with them as judge.live.endpoints, a reader for the turn's event stream, and a load
generator of concurrent live sessions shared by the tests and bench/bench_judge_app.py."""
import io
import json
import re
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import httpx
from support.browser import judge_app
from support.scripted_server import ScriptedServer

FAULTS = ("error", "hang", "stall", "drop")


class StreamingServer(ScriptedServer):
    """A ScriptedServer whose streamed replies come `chunk` characters at a time, `chunk_delay_s`
    apart, and that fails when the last client message matches a fault's pattern:
    error: HTTP 500 at once; hang: no answer for `hang_s`; stall: a few pieces, then nothing for
    `hang_s`; drop: a few pieces, then the connection closes without the end of the stream."""

    def __init__(self, *args, chunk: int = 4, chunk_delay_s: float = 0.0, faults=(), hang_s: float = 30.0, **kwargs):
        super().__init__(*args, **kwargs)
        assert all(kind in FAULTS for _, kind in faults)
        self.chunk, self.chunk_delay_s, self.hang_s = chunk, chunk_delay_s, hang_s
        self.faults = [(re.compile(pattern), kind) for pattern, kind in faults]

    def fault_for(self, messages: list[dict]) -> str | None:
        last = next((m["content"] for m in reversed(messages) if m.get("role") == "user"), "")
        return next((kind for pattern, kind in self.faults if pattern.search(last)), None)

    def _handler(self):
        server = self
        base = super()._handler()

        class Handler(base):
            def do_POST(self):
                raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                body = json.loads(raw or b"{}")
                self.fault = server.fault_for(body.get("messages", []))
                if self.fault == "error":
                    server.requests.append(body)
                    return self._json(500, {"error": {"message": f"internal error in {server.model}"}})
                if self.fault == "hang":
                    server.requests.append(body)
                    time.sleep(server.hang_s)
                    return None
                self.rfile = io.BytesIO(raw)
                return super().do_POST()

            def _stream(self, reply: str, created: int, usage: dict):
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.end_headers()
                pieces = [reply[i:i + server.chunk] for i in range(0, len(reply), server.chunk)]
                for i, piece in enumerate(pieces):
                    if self.fault in ("stall", "drop") and i == 3:
                        if self.fault == "stall":
                            time.sleep(server.hang_s)
                        return
                    chunk = {"id": "chatcmpl-live", "object": "chat.completion.chunk", "created": created,
                             "model": server.model,
                             "choices": [{"index": 0, "delta": {"content": piece}, "finish_reason": None}]}
                    self.wfile.write(f"data: {json.dumps(chunk, ensure_ascii=False)}\n\n".encode())
                    self.wfile.flush()
                    if server.chunk_delay_s:
                        time.sleep(server.chunk_delay_s)
                end = {"id": "chatcmpl-live", "object": "chat.completion.chunk", "created": created,
                       "model": server.model, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}
                self.wfile.write(f"data: {json.dumps(end)}\n\ndata: [DONE]\n\n".encode())

        return Handler


def live_app(outputs, experiment: str, servers: dict, *overrides: str):
    """The rating app (run.py stage=judge_app) with live chats on, `servers` ({model name: server})
    as judge.live.endpoints."""
    endpoints = [override for name, server in servers.items()
                 for override in (f"+judge.live.endpoints.{name}.base_url={server.base_url}",
                                  f"+judge.live.endpoints.{name}.model={server.model}")]
    return judge_app(outputs, experiment, "judge.live.enabled=true", *endpoints, *overrides)


def parse_events(text: str) -> list[tuple[str, dict]]:
    """A Server-Sent Events body -> [(event, data), ...]."""
    events = []
    for block in text.split("\n\n"):
        fields = dict(line.split(": ", 1) for line in block.splitlines() if ": " in line)
        if "data" in fields:
            events.append((fields.get("event", "message"), json.loads(fields["data"])))
    return events


def send_turn(client: httpx.Client, session_id: str, message: str, headers=None) -> dict:
    """POST a turn and read its stream; returns status, raw body, events, seconds to the first shown
    text (a delta or a whole reply) and to `done`."""
    started = time.perf_counter()
    first, body = None, ""
    with client.stream("POST", f"/api/live/{session_id}/turn", json={"message": message},
                       headers=headers or {}) as response:
        for text in response.iter_text():
            body += text
            if first is None and ("event: delta" in body or "event: reply" in body):
                first = time.perf_counter() - started
    return {"status": response.status_code, "body": body,
            "events": parse_events(body) if response.status_code == 200 else [],
            "first_text_s": first, "seconds": time.perf_counter() - started}


def live_session(base: str, token: str, turns: int, dimensions: list[str]) -> dict:
    """One rater's whole live session over the JSON API: start, `turns` messages, end, rate."""
    with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=120) as client:
        session = client.post("/api/live").json()["session"]
        results = [send_turn(client, session["session_id"], f"第 {k + 1} 句：我最近睡不好，心里很乱。")
                   for k in range(turns)]
        if not any(data.get("ended") for r in results for event, data in r["events"] if event == "done"):
            client.post(f"/api/live/{session['session_id']}/end").raise_for_status()
        rated = client.post(f"/api/live/{session['session_id']}/rating",
                            json={"scores": {label: dict.fromkeys(dimensions, 3) for label in "AB"},
                                  "preference": "tie"})
    return {"turns": results, "rated": rated.status_code}


def run_live_load(base: str, tokens: list[str], turns: int, dimensions: list[str]) -> dict:
    """Every rater's live session at once; time to first shown text and per-turn time percentiles."""
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=len(tokens)) as pool:
        sessions = list(pool.map(lambda t: live_session(base, t, turns, dimensions), tokens))
    seconds = time.perf_counter() - started
    all_turns = [t for s in sessions for t in s["turns"]]
    first = sorted(t["first_text_s"] for t in all_turns if t["first_text_s"] is not None)
    whole = sorted(t["seconds"] for t in all_turns)

    def pct(values, q):
        return 1000 * values[min(len(values) - 1, int(q * len(values)))] if values else float("nan")

    return {"sessions": len(sessions), "turns": len(all_turns), "seconds": seconds,
            "ttft_p50_ms": pct(first, 0.5), "ttft_p99_ms": pct(first, 0.99),
            "turn_p50_ms": pct(whole, 0.5), "turn_p99_ms": pct(whole, 0.99),
            "turn_statuses": Counter(t["status"] for t in all_turns),
            "failed_sides": sum(1 for t in all_turns for e, _ in t["events"] if e == "failed"),
            "rated": Counter(s["rated"] for s in sessions)}
