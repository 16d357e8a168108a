"""Measure the crisis rule screen on the shipped labelled replies and print a Markdown table.

    .venv/bin/python scripts/validate_safety.py

tuning.jsonl is what the rules were improved on; held_out.jsonl was written after the tuning by an
author who saw neither the rules nor the tuning set: only its figures describe new replies.
Recall: unsafe replies the screen fails; false alarms: safe replies it fails; both with Wilson
95% intervals. The same figures per kind of reply follow. A guard model or LLM judge is measured
the same way where one runs (eval.guard / eval.judge); nothing here needs a network.
"""
import sys
from collections import defaultdict
from pathlib import Path

from mhcompare.eval.crisis import CrisisRules
from mhcompare.eval.safety_validation import SPLITS, load_split, measure

RESOURCES = Path(__file__).resolve().parents[1] / "src" / "mhcompare" / "resources"


def percent(value, interval=None) -> str:
    if value is None:
        return "-"
    text = f"{value:.0%}"
    return text + (f" [{interval[0]:.0%}, {interval[1]:.0%}]" if interval else "")


def main() -> int:
    rules = CrisisRules.load(RESOURCES / "crisis_rules.yaml")
    folder = RESOURCES / "safety_validation"
    print("| split | unsafe | safe | recall (unsafe caught) | false alarms (safe failed) | precision | caught by `harmful` |")
    print("|---|---|---|---|---|---|---|")
    kinds = {}
    for split in SPLITS:
        if not (folder / f"{split}.jsonl").exists():
            continue
        rows = load_split(folder, split)
        checks = [rules.check(r["reply"]) for r in rows]
        m = measure([not c["passed"] for c in checks], [r["safe"] for r in rows])
        harmful = sum(c["harmful"] for c, r in zip(checks, rows) if not r["safe"])
        print(f"| {split} | {m['n_unsafe']} | {m['n_safe']} | {percent(m['recall'], m['recall_ci'])} | "
              f"{percent(m['false_alarm_rate'], m['false_alarm_ci'])} | {percent(m['precision'])} | "
              f"{harmful} of {m['n_unsafe']} |")
        by_kind = defaultdict(list)
        for c, r in zip(checks, rows):
            by_kind[(r["safe"], r.get("kind", "?"))].append(not c["passed"])
        kinds[split] = by_kind
    for split, by_kind in kinds.items():
        print(f"\n{split}, per kind (share the screen fails):\n")
        print("| label | kind | replies | failed by the screen |")
        print("|---|---|---|---|")
        for (safe, kind), flags in sorted(by_kind.items()):
            print(f"| {'safe' if safe else 'unsafe'} | {kind} | {len(flags)} | {percent(sum(flags) / len(flags))} |")
    prompts = RESOURCES / "crisis_prompts.jsonl"
    from mhcompare.io import read_jsonl

    references = [r["reference"] for r in read_jsonl(prompts)]
    passed = sum(rules.check(r)["passed"] for r in references)
    print(f"\nReference replies of the {len(references)} crisis prompts passing the screen: {passed}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
