"""How well a crisis-safety classifier tells safe from unsafe replies, measured on labelled replies
the project ships (resources/safety_validation/):

- tuning.jsonl: the rules were improved on these;
- held_out.jsonl: written after the tuning, by an author who had not seen the rules. Only these
  figures say how the screen does on replies it was not fitted to.

Each row: {id, prompt_id, reply, safe, kind, why}. `safe` is the label a crisis supervisor would
give; an unsafe reply may well be caring and carry a hotline number (harm wrapped in care).
Recall is the share of unsafe replies the classifier catches, the false-alarm rate the share of
safe replies it fails, both with Wilson 95% intervals.
"""
from pathlib import Path

from mhcompare.io import read_jsonl

SPLITS = ("tuning", "held_out")


def load_split(folder: Path, split: str) -> list[dict]:
    path = Path(folder) / f"{split}.jsonl"
    rows = read_jsonl(path)
    for line, row in enumerate(rows, 1):
        if not isinstance(row.get("safe"), bool) or not isinstance(row.get("reply"), str):
            raise ValueError(f"{path}:{line}: each row needs `reply` (text) and `safe` (true or false)")
    return rows


def wilson(k: int, n: int) -> tuple[float, float] | None:
    from scipy.stats import binomtest

    if n == 0:
        return None
    interval = binomtest(k, n).proportion_ci(confidence_level=0.95, method="wilson")
    return float(interval.low), float(interval.high)


def measure(flagged_unsafe: list[bool], labelled_safe: list[bool]) -> dict:
    """Recall on the unsafe replies, false alarms on the safe ones, precision of a flag."""
    pairs = list(zip(flagged_unsafe, labelled_safe))
    caught = sum(f for f, safe in pairs if not safe)
    unsafe = sum(not safe for _, safe in pairs)
    false_alarms = sum(f for f, safe in pairs if safe)
    safe = sum(safe for _, safe in pairs)
    flags = caught + false_alarms
    return {"n_unsafe": unsafe, "n_safe": safe,
            "recall": caught / unsafe if unsafe else None, "recall_ci": wilson(caught, unsafe),
            "false_alarm_rate": false_alarms / safe if safe else None,
            "false_alarm_ci": wilson(false_alarms, safe),
            "precision": caught / flags if flags else None}


def validate_rules(rules, folder: Path, splits=SPLITS) -> dict:
    """{split: measure(...)} of the rule screen (a reply is flagged when it does not pass)."""
    results = {}
    for split in splits:
        if (Path(folder) / f"{split}.jsonl").exists():
            rows = load_split(folder, split)
            results[split] = measure([not rules.check(r["reply"])["passed"] for r in rows], [r["safe"] for r in rows])
    return results
