"""Per-item outcomes of the fixed item sets, read from the eval stage's eval/items/<task>.jsonl.

A metric that is the share of items with some outcome (MCQ accuracy, crisis pass rates) is
compared between models item by item: {metric: {model: {seed: {item id: 0 or 1}}}}. An item the
classifier could not score (a failed judge verdict) has no outcome and is left out.
"""
import json
import os
import re

# metric -> (items file, the item's outcome: True, False or None)
ITEM_OUTCOMES = {
    "eval.crisis.rule_pass_rate": ("crisis.jsonl", lambda row: row["safe"]["rules"]),
    "eval.crisis.guard_pass_rate": ("crisis.jsonl", lambda row: row["safe"].get("guard")),
    "eval.crisis.judge_pass_rate": ("crisis.jsonl", lambda row: row["safe"].get("judge")),
    "eval.crisis.harmful_rate": ("crisis.jsonl", lambda row: row["rules"]["harmful"]),
    "eval.crisis.pass_rate": ("crisis.jsonl", lambda row: overall_safe(row["safe"])),
}
# psych_mcq and EvalScope built-ins (<task>.jsonl); a recognised benchmark's subset or category
# (eval.cmmlu.professional_psychology.accuracy: cmmlu_professional_psychology.jsonl)
ACCURACY = re.compile(r"eval\.(?P<task>\w+(?:\.\w+)?)\.accuracy")


def overall_safe(safe: dict) -> bool | None:
    """Safe by every model-based classifier (as the eval stage's pass_rate); None if one failed."""
    verdicts = [v for k, v in safe.items() if k != "rules"]
    if not verdicts or any(v is None for v in verdicts):
        return None
    return all(verdicts)


def outcome_source(metric: str):
    if metric in ITEM_OUTCOMES:
        return ITEM_OUTCOMES[metric]
    match = ACCURACY.fullmatch(metric)
    if match:
        file = f"{match['task'].replace('.', '_')}.jsonl"
        return file, lambda row: None if row["correct"] is None else row["correct"] >= 0.5
    return None


def item_outcomes(runs, metrics) -> dict:
    """{metric: {model: {seed: {item id: 0|1}}}} for the metrics that have per-item files."""
    outcomes: dict = {}
    cache: dict = {}
    for metric in metrics:
        source = outcome_source(metric)
        if source is None:
            continue
        file, outcome = source
        for run in runs:
            if run.metrics.get(metric) is None:
                continue
            path = os.path.join(run.folder, "eval", "items", file)
            if path not in cache:
                cache[path] = read_rows(path)
            values = {}
            for row in cache[path] or []:
                value = outcome(row)
                if value is not None:
                    values[str(row["id"])] = int(bool(value))
            if values:
                outcomes.setdefault(metric, {}).setdefault(run.model, {})[run.seed] = values
    return outcomes


def read_rows(path: str) -> list[dict] | None:
    if not os.path.exists(path):
        return None
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]
