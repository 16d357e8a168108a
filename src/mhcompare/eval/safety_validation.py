"""How well the crisis-safety instruments do, measured on labelled replies the project ships
(resources/safety_validation/):

- tuning.jsonl: the rules were improved on these;
- held_out.jsonl: written after the tuning, by an author who had not seen the rules;
- blind_styles.jsonl: the measurement set, written by an independent author who saw neither the
  rules nor the other sets, in the styles models really produce (harm wrapped in concern and a
  hotline, help run down while named, risk-assessment questions, means restriction, mixed
  Chinese-English, ...). Rules are never tuned on it. Each row {id, category, client, reply,
  harmful, harm_kind, refers, engages, style, why} labels each measure apart: harm (and its
  kind), names concrete help (`refers`), engages with the risk (`engages`).

tuning/held_out rows: {id, prompt_id, reply, safe, kind, why}. `safe` is the label a crisis supervisor would
give; an unsafe reply may well be caring and carry a hotline number (harm wrapped in care).
Recall is the share of unsafe replies the classifier catches, the false-alarm rate the share of
safe replies it fails, both with Wilson 95% intervals.
"""
from pathlib import Path

from mhcompare.io import read_jsonl
from mhcompare.wilson import wilson

SPLITS = ("tuning", "held_out")
BLIND = "blind_styles"
LABELS = ("harmful", "refers", "engages")
# measure -> (its label in blind_styles.jsonl, what the rules' check says)
RULE_MEASURES = {"harm": ("harmful", "harmful"), "refers": ("refers", "refers"), "engages": ("engages", "acknowledges_risk")}


def load_split(folder: Path, split: str) -> list[dict]:
    path = Path(folder) / f"{split}.jsonl"
    rows = read_jsonl(path)
    for line, row in enumerate(rows, 1):
        if not isinstance(row.get("safe"), bool) or not isinstance(row.get("reply"), str):
            raise ValueError(f"{path}:{line}: each row needs `reply` (text) and `safe` (true or false)")
    return rows


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


def load_labelled(folder: Path, name: str = BLIND) -> list[dict]:
    """The blind set's rows, checked: a missing or non-boolean label stops with its line."""
    path = Path(folder) / f"{name}.jsonl"
    rows = read_jsonl(path)
    for line, row in enumerate(rows, 1):
        bad = [k for k in LABELS if not isinstance(row.get(k), bool)]
        if bad or not isinstance(row.get("reply"), str) or not row.get("style"):
            raise ValueError(f"{path}:{line}: each row needs `reply`, `style` and true/false "
                             f"{', '.join(LABELS)} ({', '.join(bad) or 'reply/style'} missing)")
    return rows


def detection(flags: list, labels: list[bool]) -> dict:
    """Recall (positives flagged) and false alarms (negatives flagged), with Wilson intervals; an
    instrument's failed verdict (None) is left out and counted."""
    pairs = [(f, y) for f, y in zip(flags, labels) if f is not None]
    pos = [f for f, y in pairs if y]
    neg = [f for f, y in pairs if not y]
    return {"recall": sum(pos) / len(pos) if pos else None, "recall_ci": wilson(sum(pos), len(pos)),
            "n_pos": len(pos), "false_alarm": sum(neg) / len(neg) if neg else None,
            "false_alarm_ci": wilson(sum(neg), len(neg)), "n_neg": len(neg),
            "failures": len(flags) - len(pairs)}


def by_group(flags: list, rows: list[dict], label: str) -> dict:
    """{"all" | style | harm kind: detection(...)}: per style, and per harm kind for the harm label."""
    labels = [r[label] for r in rows]
    groups = {"all": list(range(len(rows)))}
    for i, row in enumerate(rows):
        groups.setdefault(row["style"], []).append(i)
        if label == "harmful" and row["harmful"] and row.get("harm_kind"):
            groups.setdefault(row["harm_kind"], []).append(i)
    return {g: detection([flags[i] for i in index], [labels[i] for i in index]) for g, index in groups.items()}


def as_metrics(prefix: str, measure: str, table: dict) -> dict:
    """Flat metrics: <prefix>.<measure>_recall[_<group>] with _low, _high and _n; the same for
    false_alarm. Groups without positives (or negatives) give no recall (or false alarm)."""
    metrics = {}
    for group, m in table.items():
        tail = "" if group == "all" else f"_{group}"
        for stat, n in (("recall", "n_pos"), ("false_alarm", "n_neg")):
            if not m[n]:
                continue
            name = f"{prefix}.{measure}_{stat}{tail}"
            metrics.update({name: m[stat], f"{name}_low": m[f"{stat}_ci"][0], f"{name}_high": m[f"{stat}_ci"][1],
                            f"{name}_n": m[n]})
    return metrics


def rule_measures(rules, rows: list[dict]) -> dict:
    """{measure: by_group(...)} of the rules on labelled rows: the harm screen, referral, engagement."""
    checks = [rules.check(r["reply"]) for r in rows]
    return {measure: by_group([c[found] for c in checks], rows, label)
            for measure, (label, found) in RULE_MEASURES.items()}


def rule_metrics(rules, folder: Path) -> dict:
    """eval.safety.rules.* on the blind set, for every eval run's metrics; {} where it is absent."""
    if not (Path(folder) / f"{BLIND}.jsonl").exists():
        return {}
    rows = load_labelled(folder)
    metrics = {"eval.safety.rules.n": len(rows)}
    for measure, table in rule_measures(rules, rows).items():
        metrics.update(as_metrics("eval.safety.rules", measure, table))
    return metrics
