"""Read EvalScope's per-item reviews and turn them into named scores with their item counts, and
the per-item rows (item id, reply, score) the report's item-level tests need."""
import re
from pathlib import Path
from statistics import fmean

from mhcompare.io import read_jsonl


def reviews_path(work_dir: Path, served_name: str, dataset: str, subset: str) -> Path:
    return Path(work_dir) / "reviews" / served_name / f"{dataset}_{subset}.jsonl"


def predictions_path(review: Path) -> Path:
    """EvalScope's predictions file beside a review file: <work_dir>/predictions/<model>/<dataset>_<subset>.jsonl."""
    review = Path(review)
    return review.parents[2] / "predictions" / review.parent.name / review.name


def truncated_indices(review: Path) -> set | None:
    """Items whose answer was cut by max_tokens (finish_reason "length", which EvalScope stores as
    stop_reason "max_tokens"); None when EvalScope wrote no predictions file to tell."""
    path = predictions_path(review)
    if not path.exists():
        return None
    cut = set()
    for row in read_jsonl(path):
        choices = (row.get("model_output") or {}).get("choices") or [{}]
        if choices[0].get("stop_reason") in ("max_tokens", "length", "model_length"):
            cut.add(row["index"])
    return cut


def read_reviews(path: Path) -> list[dict]:
    """[{index, target, prediction, value, status, messages, sample_metadata, truncated}] from one
    EvalScope review file; `truncated` (cut by max_tokens: counted and shown, never a silent wrong
    answer) is None where EvalScope left no predictions file."""
    if not Path(path).exists():
        raise FileNotFoundError(f"EvalScope wrote no reviews at {path}; see eval/evalscope/logs/eval_log.log")
    cut = truncated_indices(path)
    items = []
    for row in read_jsonl(path):
        score = row["sample_score"]["score"]
        # EvalScope keeps a metric that raised for an item as 0.0 and says so only here
        errors = (score.get("metadata") or {}).get("metric_errors") or {}
        items.append({"index": row["index"], "target": row["target"], "prediction": score.get("prediction") or "",
                      "value": score.get("value") or {}, "messages": row.get("messages", []),
                      # a score EvalScope could not give (EQ-Bench's unparseable reply) is `excluded`
                      "status": score.get("status") or "success", "explanation": score.get("explanation"),
                      "sample_metadata": row["sample_score"].get("sample_metadata") or {},
                      "errors": {str(k): str(v) for k, v in errors.items()}, "file": str(path),
                      "truncated": None if cut is None else row["index"] in cut})
    return sorted(items, key=lambda item: item["index"])


def item_metric(item: dict, key: str, metric: str) -> float | None:
    """One item's value of `key`; None where EvalScope recorded that `metric` failed for the item
    (its 0.0 there is not a score) or left the item out of its average (a status other than
    success, without the key); a key that is missing otherwise is an error, never a 0."""
    if any(name.lower() == metric.lower() for name in item["errors"]):
        return None
    if key not in item["value"] and item.get("status", "success") != "success":
        return None
    if key not in item["value"]:
        raise KeyError(f"{item['file']}: item {item['index']} has no {key!r} score (it has "
                       f"{', '.join(sorted(item['value'])) or 'none'}); did EvalScope rename its metrics?")
    return float(item["value"][key])


def mcq_rows(items: list[dict], records: list[dict]) -> list[dict]:
    """One row per answered item; records: the MCQ items in file order (EvalScope's review `index`)."""
    return [{"id": records[i["index"]].get("id", str(i["index"])), "domain": records[i["index"]].get("domain"),
             "answer": records[i["index"]]["answer"], "reply": i["prediction"],
             "correct": item_metric(i, "accuracy", "accuracy"), "truncated": i.get("truncated")} for i in items]


def truncated_count(rows: list[dict]) -> int | None:
    """Answers cut by max_tokens; None when unknown for any row (no predictions file)."""
    flags = [r.get("truncated") for r in rows]
    return None if any(f is None for f in flags) else sum(flags)


def accuracy_summary(rows: list[dict]) -> dict:
    """Accuracy over scored items, with `truncated`: answers cut by max_tokens, scored as EvalScope
    scored them (usually wrong) and counted here so that a short max_tokens cannot pass for ignorance."""
    scored = [r["correct"] for r in rows if r["correct"] is not None]
    return {"accuracy": fmean(scored) if scored else None, "n": len(scored), "failures": len(rows) - len(scored),
            "truncated": truncated_count(rows)}


CJK = r"\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
TOKEN = re.compile(rf"[{CJK}]|[^\s{CJK}\W]+|[^\s\w]", re.UNICODE)


def bleu_tokens(text: str) -> list[str]:
    """Chinese by character (the usual unit for Chinese BLEU), other scripts by word and punctuation
    mark; no tokenizer data needed, so nothing fails offline."""
    return TOKEN.findall(text.lower())


def cumulative_bleu4(reference: str, reply: str) -> float:
    """Sentence-level cumulative BLEU-4 (uniform weights over 1- to 4-grams, brevity penalty),
    smoothed with Chen & Cherry's method 1 so a reply without a matching 4-gram is not 0.
    EvalScope's `bleu-4` is the 4-gram-only term, which is not what papers call BLEU-4."""
    import warnings

    from nltk.translate.bleu_score import SmoothingFunction, sentence_bleu

    hypothesis = bleu_tokens(reply)
    if not hypothesis:
        return 0.0
    with warnings.catch_warnings():  # NLTK warns of "0 counts of 4-gram overlaps", which smoothing handles
        warnings.simplefilter("ignore", UserWarning)
        return float(sentence_bleu([bleu_tokens(reference)], hypothesis, weights=(0.25,) * 4,
                                   smoothing_function=SmoothingFunction().method1))


def qa_scores(items: list[dict], records: list[dict]) -> tuple[list[dict], dict]:
    """ROUGE-L F from EvalScope (a failure it recorded is counted, never a 0) and cumulative BLEU-4
    computed here, per item and as means. records: the task's items in file order."""
    rows = []
    for item in items:
        record = records[item["index"]]
        rows.append({"id": record.get("id", str(item["index"])), "reply": item["prediction"],
                     "rouge_l": item_metric(item, "Rouge-L-F", "Rouge"),
                     "bleu4": cumulative_bleu4(record["answer"], item["prediction"]), "truncated": item.get("truncated")})
    scores = {"n": len(rows), "truncated": truncated_count(rows)}
    for name in ("rouge_l", "bleu4"):
        scored = [r[name] for r in rows if r[name] is not None]
        scores[name] = fmean(scored) if scored else None
        scores[f"{name}_failures"] = len(rows) - len(scored)
    return rows, scores
