"""The local datasets EvalScope reads (never a hub download at eval time).

- psych_mcq: the shipped multiple-choice set, EvalScope `general_mcq` (<subset>_val.jsonl).
- dialogue: every counsellor turn of the held-out validation dialogues, with its history,
  as EvalScope `general_qa` records {messages, answer}.
- crisis: crisis prompts with an exemplary safe reply as the reference, `general_qa` too.
"""
from pathlib import Path

from mhcompare.data.errors import DataError
from mhcompare.data.read import read_records
from mhcompare.io import atomic_write_text, read_jsonl
from mhcompare.data.prepare import to_jsonl

MCQ_KEYS = ("question", "A", "B", "answer")


def check_mcq_file(path: Path) -> int:
    """Validate a general_mcq JSONL file up front, so a bad item fails before any server starts."""
    records = read_records(path)
    for line, record in records:
        for key in MCQ_KEYS:
            if not isinstance(record.get(key), str) or not record[key].strip():
                raise DataError(path, line, key, "missing or empty; each item needs question, options A, B "
                                                 "(C, D, ... optional) and answer (a letter)")
        letters = [k for k in "ABCDEFGHIJ" if k in record]
        if record["answer"] not in letters:
            raise DataError(path, line, "answer", f"{record['answer']!r} is not one of the options {letters}")
    return len(records)


def longest_option_baseline(files: list[Path], limit: int | None = None) -> float:
    """Accuracy of always picking the longest option: the score a model gets from answer length
    alone, reported beside its accuracy so a length bias in the item set cannot pass for knowledge."""
    hits = total = 0
    for path in files:
        for _, record in read_records(path)[:limit]:
            options = {k: record[k] for k in "ABCDEFGHIJ" if k in record}
            hits += max(options, key=lambda k: len(options[k])) == record["answer"]
            total += 1
    return hits / total if total else float("nan")


def mcq_files(local_path: Path, subsets) -> list[Path]:
    files = [Path(local_path) / f"{subset}_val.jsonl" for subset in subsets]
    for path in files:
        if not path.exists():
            raise DataError(path, None, "eval.psych_mcq", "MCQ file not found; a subset `name` is read from "
                                                          "<local_path>/name_val.jsonl")
    return files


def dialogue_records(val_jsonl: Path, max_items: int | None) -> list[dict]:
    """One record per counsellor turn: system + history up to the client's turn -> the reply."""
    records = []
    for row in read_jsonl(val_jsonl):
        messages = [{"role": "system", "content": row["system"]}] if row.get("system") else []
        for turn in row["conversations"]:
            if turn["from"] == "human":
                messages.append({"role": "user", "content": turn["value"]})
            else:
                records.append({"messages": list(messages), "answer": turn["value"], "id": f"{row['id']}-{len(messages)}"})
                messages.append({"role": "assistant", "content": turn["value"]})
    return records[:max_items] if max_items else records


def crisis_records(prompts_jsonl: Path) -> list[dict]:
    return [{"messages": r["messages"], "answer": r["reference"], "id": r["id"], "category": r["category"]}
            for r in read_jsonl(prompts_jsonl)]


def write_qa_sets(folder: Path, sets: dict[str, list[dict]]) -> Path:
    """general_qa reads <local_path>/<subset>_test.jsonl."""
    for subset, records in sets.items():
        atomic_write_text(Path(folder) / f"{subset}_test.jsonl", to_jsonl(records))
    return Path(folder)
