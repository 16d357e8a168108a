"""Throughput and latency of the rating app under concurrent raters, on loopback.

    python bench/bench_judge_app.py [--raters 50] [--items 12] [--models 5] [--replay]
                                    [--database-url URL|postgres] [--workers N]
    python bench/bench_judge_app.py --live [--raters 50] [--turns 3]

Starts the app as a user would (`run.py stage=judge_app`, SQLite in a temporary folder unless
--database-url names another database; `--database-url postgres` starts a throwaway PostgreSQL
from Debian's package, as the tests do, which needs root), with --workers uvicorn workers, invites
the raters, lets all of them rate all their items at once over the JSON API (GET next item, POST
rating), and prints ratings/s, requests/s and latency percentiles. --replay sends every rating twice at the
same moment (the duplicates must come back 409).

--live: every rater holds a live chat at once instead (start, --turns messages, end, rate) against
two scripted, fast streaming model servers on loopback; prints the time to first token through the
app (POST of the message to the first reply text in its event stream, either side; the app holds
back 24 characters of each reply for redaction) and the whole turn, p50 and p99.
"""
import argparse
import contextlib
import multiprocessing
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from support.browser import invite, judge_app, run_load, write_conversations
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


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--raters", type=int, default=50)
    parser.add_argument("--items", type=int, default=12, help="items each rater rates")
    parser.add_argument("--models", type=int, default=5)
    parser.add_argument("--replay", action="store_true")
    parser.add_argument("--live", action="store_true", help="live chats instead of transcript ratings")
    parser.add_argument("--turns", type=int, default=3, help="messages per live chat")
    parser.add_argument("--database-url", default=None,
                        help="a SQLAlchemy URL, or `postgres`: a throwaway local PostgreSQL (default: SQLite)")
    parser.add_argument("--workers", type=int, default=1, help="uvicorn workers (more than 1: not on SQLite)")
    args = parser.parse_args()
    if args.live:
        return bench_live(args.raters, args.turns)
    with tempfile.TemporaryDirectory() as tmp, contextlib.ExitStack() as stack:
        outputs = Path(tmp)
        overrides = [f"judge.app.items_per_rater={args.items}", f"judge.app.workers={args.workers}"]
        url = args.database_url
        if url == "postgres":
            url = fresh_database(stack.enter_context(postgres_server()), "bench")
        if url:
            overrides.append(f"judge.app.database_url='{url}'")
        print(f"database: {(url or 'sqlite').split(':')[0]}, {args.workers} worker(s)")
        write_conversations(outputs / "bench", [f"model{i}" for i in range(args.models)], seeds=(0, 1))
        with judge_app(outputs, "bench", *overrides) as base:
            tokens = [invite(base, f"rater{i}") for i in range(args.raters)]
            load = run_load(base, tokens, DIMENSIONS, replay=args.replay)
    statuses = ", ".join(f"{code}: {n}" for code, n in sorted(load["statuses"].items()))
    print(f"{args.raters} concurrent raters x {args.items} items: {load['requests']} requests in "
          f"{load['seconds']:.1f} s")
    ratings_per_s = len(load["stored"]) / load["seconds"]
    print(f"throughput: {ratings_per_s:.0f} ratings/s ({load['requests_per_s']:.0f} requests/s)")
    print(f"latency: p50 {load['p50_ms']:.1f} ms, p99 {load['p99_ms']:.1f} ms")
    print(f"status codes: {statuses}; ratings stored: {len(load['stored'])}")


if __name__ == "__main__":
    main()
