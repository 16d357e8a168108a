"""Throughput and latency of the rating app under concurrent raters, on loopback.

    python bench/bench_judge_app.py [--raters 50] [--items 20] [--models 5] [--rates 50,150,300] [--replay]
                                    [--database-url URL|postgres] [--workers N]
    python bench/bench_judge_app.py --live [--raters 50] [--turns 3]

Starts the app as a user would (`run.py stage=judge_app`, SQLite in a temporary folder unless
--database-url names another database; `--database-url postgres` starts a throwaway PostgreSQL
from Debian's package, as the tests do, which needs root), with --workers uvicorn workers, and
loads it over the JSON API (GET next item, POST rating) with tests/support/load.py, which shares
the machine's cores with the app. Three measurements, in one run:

  baseline     the HTTP stack alone (http_floor_app.py: uvicorn and FastAPI, an endpoint doing
               nothing) with --raters connections: the most requests/s this machine serves at all;
  saturation   --raters raters rate --items items each as fast as they are answered (closed loop):
               the most ratings/s the app takes, also as a ratio of the baseline (2 requests a rating);
  paced        for each of --rates, --raters fresh raters together start that many ratings a second
               (open loop, each rating timed from when it was due): latency at that load, the figure
               a rater feels. (A class of 50 people, each taking half a minute or more per
               conversation pair, starts about 2 ratings a second.)

In the closed loop, latency is mostly waiting in line: with every rater's request outstanding,
each waits about raters / (requests/s) (Little's law), whatever the app does; the paced run is the
one to read latency from. --replay sends every rating twice at the same moment (the duplicates
must come back 409).

--live: every rater holds a live chat at once instead (start, --turns messages, end, rate) against
two scripted, fast streaming model servers on loopback; prints the time to first token through the
app (POST of the message to the first reply text in its event stream, either side; the app holds
back 24 characters of each reply for redaction) and the whole turn, p50 and p99.
"""
import argparse
import contextlib
import multiprocessing
import os
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))

from support.browser import free_port, invite, judge_app, wait_until_up, write_conversations
from support.load import run_load, run_requests
from support.live_chat import StreamingServer, live_app, run_live_load
from support.postgres import fresh_database, postgres_server

DIMENSIONS = ["professionalism", "empathy", "practicality", "safety"]
REPLY = ("听起来你最近真的很辛苦，睡不好的时候白天也很难集中精神。我们可以先从今晚开始，"
         "看看入睡前半小时能做些什么让自己放松一点，比如放下手机、写下明天要做的事。你愿意试试吗？")


def serve_models(names: list[str], ready, stop) -> None:
    with contextlib.ExitStack() as stack:
        servers = [stack.enter_context(StreamingServer(default=REPLY, model=name)) for name in names]
        ready.put([server.base_url for server in servers])
        stop.wait()


@contextlib.contextmanager
def model_servers(names: list[str]):
    """The scripted model servers in a process of their own, so they do not share the load
    generator's interpreter lock: {name: object with base_url and model}."""
    ready, stop = multiprocessing.Queue(), multiprocessing.Event()
    process = multiprocessing.Process(target=serve_models, args=(names, ready, stop), daemon=True)
    process.start()
    try:
        urls = ready.get(timeout=30)
        yield {name: argparse.Namespace(base_url=url, model=name) for name, url in zip(names, urls, strict=True)}
    finally:
        stop.set()
        process.join(timeout=10)


def bench_live(raters: int, turns: int) -> None:
    with tempfile.TemporaryDirectory() as tmp, model_servers(["m1", "m2"]) as models, \
            live_app(Path(tmp), "bench", models, f"judge.live.max_turns={turns}",
                     "judge.live.sessions_per_rater=1") as base:
        tokens = [invite(base, f"rater{i}") for i in range(raters)]
        load = run_live_load(base, tokens, turns, DIMENSIONS)
    statuses = ", ".join(f"{code}: {n}" for code, n in sorted(load["turn_statuses"].items()))
    print(f"{raters} concurrent live sessions x {turns} turns: {load['turns']} turns in {load['seconds']:.1f} s "
          f"({load['turns'] / load['seconds']:.1f} turns/s, 2 model replies each)")
    print(f"time to first token through the app: p50 {load['ttft_p50_ms']:.0f} ms, p99 {load['ttft_p99_ms']:.0f} ms")
    print(f"whole turn (both replies stored): p50 {load['turn_p50_ms']:.0f} ms, p99 {load['turn_p99_ms']:.0f} ms")
    print(f"turn status codes: {statuses}; failed sides: {load['failed_sides']}; ratings: {dict(load['rated'])}")


def bench_floor(raters: int) -> dict:
    """The baseline: the bare HTTP stack, served like the app, loaded by the same client."""
    port = free_port()
    command = [sys.executable, "-m", "uvicorn", "--app-dir", str(HERE), "http_floor_app:app", "--host", "127.0.0.1",
               "--port", str(port), "--loop", "auto", "--http", "httptools", "--log-level", "warning"]
    with subprocess.Popen(command) as process:
        try:
            base = f"http://127.0.0.1:{port}"
            wait_until_up(f"{base}/ping", process, 60)
            return run_requests(base, "/ping", raters, 100)
        finally:
            process.terminate()


def status_codes(load: dict) -> str:
    return ", ".join(f"{code}: {n}" for code, n in sorted(load["statuses"].items()))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--raters", type=int, default=50)
    parser.add_argument("--items", type=int, default=20, help="items each rater rates")
    parser.add_argument("--models", type=int, default=5)
    parser.add_argument("--rates", default="50,150,300", help="ratings/s the paced raters start in all, one run each")
    parser.add_argument("--replay", action="store_true")
    parser.add_argument("--live", action="store_true", help="live chats instead of transcript ratings")
    parser.add_argument("--turns", type=int, default=3, help="messages per live chat")
    parser.add_argument("--database-url", default=None,
                        help="a SQLAlchemy URL, or `postgres`: a throwaway local PostgreSQL (default: SQLite)")
    parser.add_argument("--workers", type=int, default=1, help="uvicorn workers (more than 1: not on SQLite)")
    args = parser.parse_args()
    if args.live:
        return bench_live(args.raters, args.turns)
    floor = bench_floor(args.raters)
    with tempfile.TemporaryDirectory() as tmp, contextlib.ExitStack() as stack:
        outputs = Path(tmp)
        overrides = [f"judge.app.items_per_rater={args.items}", f"judge.app.workers={args.workers}"]
        url = args.database_url
        if url == "postgres":
            url = fresh_database(stack.enter_context(postgres_server()), "bench")
        if url:
            overrides.append(f"judge.app.database_url='{url}'")
        write_conversations(outputs / "bench", [f"model{i}" for i in range(args.models)], seeds=(0, 1))
        with judge_app(outputs, "bench", *overrides) as base:
            tokens = [invite(base, f"rater{i}") for i in range(args.raters)]
            saturated = run_load(base, tokens, DIMENSIONS, replay=args.replay)
            paced = {}
            for rate in [float(r) for r in args.rates.split(",")]:
                tokens = [invite(base, f"paced{rate:g}_{i}") for i in range(args.raters)]
                paced[rate] = run_load(base, tokens, DIMENSIONS, replay=args.replay, ratings_per_s=rate)
    print(f"database: {(url or 'sqlite').split(':')[0]}, {args.workers} worker(s); {args.raters} raters x "
          f"{args.items} items; load generator on the same {os.cpu_count()} cores")
    print(f"baseline, the HTTP stack alone: {floor['requests_per_s']:.0f} requests/s "
          f"(p50 {floor['p50_ms']:.1f} ms, p99 {floor['p99_ms']:.1f} ms)")
    ratings_per_s = len(saturated["stored"]) / saturated["seconds"]
    print(f"saturation (closed loop): {len(saturated['stored'])} ratings in {saturated['seconds']:.1f} s = "
          f"{ratings_per_s:.0f} ratings/s ({saturated['requests_per_s']:.0f} requests/s); latency p50 "
          f"{saturated['p50_ms']:.1f} ms, p99 {saturated['p99_ms']:.1f} ms; status codes {status_codes(saturated)}")
    print(f"  = {2 * ratings_per_s / floor['requests_per_s']:.2f}x the baseline's request rate")
    for rate, load in paced.items():
        kept = "kept" if load["max_late_ms"] < 100 else "NOT kept"
        print(f"paced at {rate:g} ratings/s (open loop): {len(load['stored'])} ratings, latency p50 "
              f"{load['p50_ms']:.1f} ms, p99 {load['p99_ms']:.1f} ms; schedule {kept} (at most "
              f"{load['max_late_ms']:.0f} ms behind); status codes {status_codes(load)}")


if __name__ == "__main__":
    main()
