"""Read EvalScope's per-item reviews and turn them into named scores with their item counts."""
from pathlib import Path
from statistics import fmean

from mhcompare.io import read_jsonl


def reviews_path(work_dir: Path, served_name: str, dataset: str, subset: str) -> Path:
    return Path(work_dir) / "reviews" / served_name / f"{dataset}_{subset}.jsonl"


def read_reviews(path: Path) -> list[dict]:
    """[{index, target, prediction, value, messages}] from one EvalScope review file."""
    if not Path(path).exists():
        raise FileNotFoundError(f"EvalScope wrote no reviews at {path}; see eval/evalscope/logs/eval_log.log")
    items = []
    for row in read_jsonl(path):
        score = row["sample_score"]["score"]
        # EvalScope keeps a metric that raised for an item as 0.0 and says so only here
        errors = (score.get("metadata") or {}).get("metric_errors") or {}
        items.append({"index": row["index"], "target": row["target"], "prediction": score.get("prediction") or "",
                      "value": score.get("value") or {}, "messages": row.get("messages", []),
                      "errors": {str(k): str(v) for k, v in errors.items()}, "file": str(path)})
    return sorted(items, key=lambda item: item["index"])


def item_metric(item: dict, key: str, metric: str) -> float | None:
    """One item's value of `key`; None where EvalScope recorded that `metric` failed for the item
    (its 0.0 there is not a score); a key that is missing is an error, never a 0."""
    if any(name.lower() == metric.lower() for name in item["errors"]):
        return None
    if key not in item["value"]:
        raise KeyError(f"{item['file']}: item {item['index']} has no {key!r} score (it has "
                       f"{', '.join(sorted(item['value'])) or 'none'}); did EvalScope rename its metrics?")
    return float(item["value"][key])


def mcq_scores(items: list[dict]) -> dict:
    values = [item_metric(i, "accuracy", "accuracy") for i in items]
    scored = [v for v in values if v is not None]
    return {"accuracy": fmean(scored) if scored else None, "n": len(scored), "failures": len(values) - len(scored)}


def qa_scores(items: list[dict]) -> dict:
    """Means over the items each metric could score, with the count it could not (e.g. BLEU on a
    reply without Chinese needs NLTK's punkt_tab data, which an offline machine lacks)."""
    scores = {"n": len(items)}
    for name, key, metric in (("rouge_l", "Rouge-L-F", "Rouge"), ("bleu4", "bleu-4", "BLEU")):
        values = [item_metric(i, key, metric) for i in items]
        scored = [v for v in values if v is not None]
        scores[name] = fmean(scored) if scored else None
        scores[f"{name}_failures"] = len(values) - len(scored)
    return scores
