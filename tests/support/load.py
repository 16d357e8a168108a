"""A load generator of concurrent raters for the rating app's JSON API, shared by the load test and
bench/bench_judge_app.py.

It has to share this machine's two cores with the app it measures, so it is kept light: one asyncio
loop, one keep-alive HTTP/1.1 connection per rater (two with `replay`), requests written and
responses read by hand (a status line, headers, a Content-Length body). An HTTP library with a
thread per rater (httpx) cost more CPU per rating than the app itself and so capped what could be
measured.

Two ways to load the app:
  closed loop (`ratings_per_s=None`): every rater sends the next request as soon as the last one is
      answered: the most the app can take. Latency here is mostly waiting in line (Little's law:
      50 requests always outstanding at N requests/s wait about 50/N s each).
  open loop (`ratings_per_s=R`): the raters together start R ratings a second on a fixed schedule,
      as people working at a pace do; each rating's first request is timed from when it was due,
      not from when it was sent, so a slow app cannot hide its backlog (no coordinated omission).
"""
import asyncio
import json
import random
import time
from collections import Counter
from urllib.parse import urlsplit


class Connection:
    """One keep-alive HTTP/1.1 connection on loopback."""

    def __init__(self, host: str, port: int, token: str):
        self.host, self.port = host, port
        self.head = f"Host: {host}:{port}\r\nAuthorization: Bearer {token}\r\n"
        self.reader = self.writer = None

    async def request(self, method: str, path: str, body: dict | None = None) -> tuple[int, dict]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        data = b"" if body is None else json.dumps(body).encode()
        kind = "Content-Type: application/json\r\n" if body is not None else ""
        self.writer.write(f"{method} {path} HTTP/1.1\r\n{self.head}{kind}Content-Length: {len(data)}\r\n\r\n"
                          .encode() + data)
        head = (await self.reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
        status = int(head[0].split(" ", 2)[1])
        headers = dict(line.split(": ", 1) for line in head[1:] if line)
        length = {k.lower(): v for k, v in headers.items()}.get("content-length")
        if length is None:
            raise RuntimeError(f"{method} {path}: response without Content-Length ({head[0]})")
        payload = await self.reader.readexactly(int(length))
        return status, (json.loads(payload) if payload else {})

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


async def rater(base: str, token: str, dimensions: list[str], replay: bool, interval_s: float | None,
                start: float) -> dict:
    """One rater works through all their items: GET /api/next, POST /api/ratings, until done. With
    `replay` every rating is sent twice at the same moment on two connections (a double click);
    with `interval_s` a new rating is due every interval_s seconds from `start`."""
    url = urlsplit(base)
    connections = [Connection(url.hostname, url.port, token) for _ in range(2 if replay else 1)]
    latencies, statuses, stored, late = [], [], [], []
    due = start

    async def timed(connection: Connection, method: str, path: str, body=None, since: float | None = None):
        sent = time.perf_counter()
        status, payload = await connection.request(method, path, body)
        latencies.append(time.perf_counter() - (sent if since is None else since))
        statuses.append(status)
        return status, payload

    try:
        while True:
            since = None
            if interval_s is not None:
                await asyncio.sleep(max(0.0, due - time.perf_counter()))
                since = due
                late.append(max(0.0, time.perf_counter() - due))
                due += interval_s
            status, answer = await timed(connections[0], "GET", "/api/next", since=since)
            if status != 200:
                raise RuntimeError(f"GET /api/next answered {status}: {answer}")
            item = answer["item"]
            if item is None:
                break
            body = {"assignment_id": item["assignment_id"], "comment": "ok",
                    "scores": {side: dict.fromkeys(dimensions, 3) for side in item["conversations"]}}
            answers = await asyncio.gather(*(timed(c, "POST", "/api/ratings", body) for c in connections))
            stored += [payload["rating_id"] for status, payload in answers if status == 201]
    finally:
        for connection in connections:
            connection.close()
    return {"latencies": latencies, "statuses": statuses, "stored": stored, "late": late}


def run_load(base: str, tokens: list[str], dimensions: list[str], replay: bool = False,
             ratings_per_s: float | None = None) -> dict:
    """All raters at once, closed loop, or open loop at `ratings_per_s` in all. Returns ratings
    stored, requests, seconds, requests/s, latency p50/p99, status counts and, open loop, how late
    the schedule ran at worst."""
    interval = None if ratings_per_s is None else len(tokens) / ratings_per_s

    async def everyone():
        start = time.perf_counter()
        phases = [0.0] * len(tokens) if interval is None else [random.uniform(0, interval) for _ in tokens]
        return await asyncio.gather(*(rater(base, t, dimensions, replay, interval, start + phase)
                                      for t, phase in zip(tokens, phases, strict=True)))

    started = time.perf_counter()
    results = asyncio.run(everyone())
    seconds = time.perf_counter() - started
    latencies = sorted(x for r in results for x in r["latencies"])
    late = [x for r in results for x in r["late"]]
    return {"requests": len(latencies), "seconds": seconds, "requests_per_s": len(latencies) / seconds,
            "p50_ms": 1000 * percentile(latencies, 0.50), "p99_ms": 1000 * percentile(latencies, 0.99),
            "statuses": Counter(s for r in results for s in r["statuses"]),
            "stored": [x for r in results for x in r["stored"]],
            "max_late_ms": 1000 * max(late, default=0.0)}


def percentile(ordered: list[float], q: float) -> float:
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def run_requests(base: str, path: str, connections: int, requests_each: int) -> dict:
    """GET `path` `requests_each` times on each of `connections` keep-alive connections at once, closed
    loop: requests/s and latency, for a baseline to compare the app with."""
    url = urlsplit(base)

    async def one() -> list[float]:
        connection, latencies = Connection(url.hostname, url.port, "-"), []
        try:
            for _ in range(requests_each):
                sent = time.perf_counter()
                status, _ = await connection.request("GET", path)
                if status != 200:
                    raise RuntimeError(f"GET {path} answered {status}")
                latencies.append(time.perf_counter() - sent)
        finally:
            connection.close()
        return latencies

    async def everyone():
        return await asyncio.gather(*(one() for _ in range(connections)))

    started = time.perf_counter()
    latencies = sorted(x for each in asyncio.run(everyone()) for x in each)
    seconds = time.perf_counter() - started
    return {"requests": len(latencies), "seconds": seconds, "requests_per_s": len(latencies) / seconds,
            "p50_ms": 1000 * percentile(latencies, 0.50), "p99_ms": 1000 * percentile(latencies, 0.99)}
