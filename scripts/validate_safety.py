"""Measure the crisis-safety instruments on the shipped labelled replies; print Markdown tables.

    python scripts/validate_safety.py                        # the rules (no network needed)
    python scripts/validate_safety.py --rules OLD.yaml       # another version of the rules
    python scripts/validate_safety.py --guard-url http://127.0.0.1:8001/v1 --guard-model qwen3guard
    python scripts/validate_safety.py --judge-url https://api.example/v1 --judge-model m --judge-key-env KEY

The rules: the combined screen on tuning.jsonl (what they were improved on) and held_out.jsonl
(written after the tuning by an author who saw neither), then each measure apart on
blind_styles.jsonl, the measurement set (written by an independent author in the styles models
produce; the rules are never tuned on it): the harm screen (label `harmful`), referral (`refers`)
and engagement (`engages`), per style and per harm kind, with Wilson 95% intervals.

A guard or LLM judge, where one is reachable, is measured on the blind set the same way, for harm:
the guard with `Controversial` counted as unsafe and as safe, the judge by its harm rubric
(mhcompare.eval.judge.HARM_PROMPT). Nothing here runs a model by itself.
"""
import argparse
import sys
from collections import defaultdict
from pathlib import Path

from mhcompare.config import RESOURCES
from mhcompare.eval.crisis import GUARD_COVERS, CrisisRules, guard_unsafe
from mhcompare.eval.safety_validation import BLIND, SPLITS, by_group, load_labelled, load_split, measure, rule_measures

MEASURES = {"harm": "harmful", "refers": "refers", "engages": "engages"}


def percent(value, interval=None) -> str:
    if value is None:
        return "-"
    text = f"{value:.0%}"
    return text + (f" [{interval[0]:.0%}, {interval[1]:.0%}]" if interval else "")


def cell(m: dict, stat: str, n: str) -> str:
    return f"{percent(m[stat], m[f'{stat}_ci'])} (n={m[n]})" if m[n] else "-"


def print_table(title: str, table: dict, rows: list[dict]) -> None:
    """One line per style (then per harm kind): recall on the positives, false alarms on the negatives."""
    styles = sorted({r["style"] for r in rows})
    order = ["all", *styles, *sorted(g for g in table if g not in styles and g != "all")]
    print(f"\n{title}\n")
    print("| group | recall (label true, flagged) | false alarms (label false, flagged) |")
    print("|---|---|---|")
    for group in order:
        m = table[group]
        print(f"| {group} | {cell(m, 'recall', 'n_pos')} | {cell(m, 'false_alarm', 'n_neg')} |")


def old_splits(rules: CrisisRules, folder: Path) -> None:
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


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rules", type=Path, default=RESOURCES / "crisis_rules.yaml")
    parser.add_argument("--folder", type=Path, default=RESOURCES / "safety_validation")
    parser.add_argument("--guard-url"), parser.add_argument("--guard-model")
    parser.add_argument("--judge-url"), parser.add_argument("--judge-model"), parser.add_argument("--judge-key-env")
    args = parser.parse_args(argv)
    rules = CrisisRules.load(args.rules)
    old_splits(rules, args.folder)
    if not (args.folder / f"{BLIND}.jsonl").exists():
        print(f"\n{args.folder / BLIND}.jsonl is missing: no figures on the blind set")
        return 0
    rows = load_labelled(args.folder)
    for name, table in rule_measures(rules, rows).items():
        print_table(f"Rules, {name} (label `{MEASURES[name]}`), blind set ({len(rows)} replies):", table, rows)
    messages = [[{"role": "user", "content": r["client"]}] for r in rows]
    if args.guard_url:
        from mhcompare.eval.guard import GuardClient

        guard = GuardClient(args.guard_url, args.guard_model)
        guard.check_reachable()
        verdicts = [guard.classify(m, r["reply"]) for m, r in zip(messages, rows)]
        print(f"\nThe guard's categories cover {', '.join(GUARD_COVERS)}: read its recall on the other kinds as "
              f"what it was not built to see.")
        for strict in (True, False):
            print_table(f"Guard {args.guard_model}, harm, Controversial counted as {'unsafe' if strict else 'safe'}:",
                        by_group([guard_unsafe(v, strict) for v in verdicts], rows, "harmful"), rows)
    if args.judge_url:
        from mhcompare.eval.judge import LLMJudge, render_history

        judge = LLMJudge(args.judge_url, args.judge_model, args.judge_key_env, 120, ["safety"])
        judge.check_reachable()
        verdicts = [judge.judge_harm(render_history(m), r["reply"]) for m, r in zip(messages, rows)]
        print_table(f"LLM judge {args.judge_model}, harm rubric:",
                    by_group([None if v is None else bool(v["harm_kinds"]) for v in verdicts], rows, "harmful"), rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
