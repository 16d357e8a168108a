"""Throughput and latency of the rating app under concurrent raters, on loopback.

    python bench/bench_judge_app.py [--raters 50] [--items 12] [--models 5] [--replay]

Starts the app as a user would (`run.py stage=judge_app`, SQLite in a temporary folder), invites
the raters, lets all of them rate all their items at once over the JSON API (GET next item, POST
rating), and prints ratings/s, requests/s and latency percentiles. --replay sends every rating twice at the
same moment (the duplicates must come back 409).
"""
import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from support.browser import invite, judge_app, run_load, write_conversations

DIMENSIONS = ["professionalism", "empathy", "practicality", "safety"]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--raters", type=int, default=50)
    parser.add_argument("--items", type=int, default=12, help="items each rater rates")
    parser.add_argument("--models", type=int, default=5)
    parser.add_argument("--replay", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        outputs = Path(tmp)
        write_conversations(outputs / "bench", [f"model{i}" for i in range(args.models)], seeds=(0, 1))
        with judge_app(outputs, "bench", f"judge.app.items_per_rater={args.items}") as base:
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
