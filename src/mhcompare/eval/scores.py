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
        items.append({"index": row["index"], "target": row["target"], "prediction": score.get("prediction") or "",
                      "value": score.get("value") or {}, "messages": row.get("messages", [])})
    return sorted(items, key=lambda item: item["index"])


def mcq_scores(items: list[dict]) -> dict:
    values = [float(i["value"].get("accuracy", i["value"].get("acc", 0.0))) for i in items]
    return {"accuracy": fmean(values) if values else float("nan"), "n": len(values)}


def qa_scores(items: list[dict]) -> dict:
    return {"rouge_l": fmean(float(i["value"].get("Rouge-L-F", 0.0)) for i in items) if items else float("nan"),
            "bleu4": fmean(float(i["value"].get("bleu-4", 0.0)) for i in items) if items else float("nan"),
            "n": len(items)}
