"""Turn a dialogue dataset into the canonical, checked, de-duplicated, split JSONL files."""
import hashlib
import json
import random
import statistics
from pathlib import Path

from mhcompare.data.errors import DataError
from mhcompare.data.formats import detect_format, to_canonical
from mhcompare.data.read import read_records


def load_canonical(path: Path) -> tuple[str, list[dict], int]:
    """(format, canonical rows with exact duplicates removed, number of duplicates)."""
    records = read_records(path)
    first_line, first = records[0]
    try:
        fmt = detect_format(first)
    except ValueError as e:
        raise DataError(path, first_line, None, str(e)) from e
    rows, seen, duplicates = [], set(), 0
    for line, record in records:
        try:
            this_fmt = detect_format(record)
        except ValueError as e:
            raise DataError(path, line, None, str(e)) from e
        if this_fmt != fmt:
            raise DataError(path, line, None, f"record is {this_fmt} but the file starts as {fmt}; "
                                              "one file must use one format")
        row = to_canonical(record, fmt, path, line)
        key = json.dumps(row, ensure_ascii=False, sort_keys=True)
        if key in seen:
            duplicates += 1
            continue
        seen.add(key)
        row["id"] = hashlib.sha256(key.encode("utf-8")).hexdigest()[:16]
        rows.append(row)
    return fmt, rows, duplicates


def split_rows(rows: list[dict], val_ratio: float, seed: int) -> tuple[list[dict], list[dict]]:
    """Seeded shuffle, then the first round(n * val_ratio) rows (at least one) go to validation."""
    if not 0 < val_ratio < 1:
        raise ValueError(f"data.val_ratio must be between 0 and 1, got {val_ratio}")
    if len(rows) < 2:
        raise ValueError(f"{len(rows)} dialogue(s) cannot be split into train and validation")
    order = list(range(len(rows)))
    random.Random(seed).shuffle(order)
    n_val = max(1, round(len(rows) * val_ratio))
    val = [rows[i] for i in sorted(order[:n_val])]
    train = [rows[i] for i in sorted(order[n_val:])]
    return train, val


def to_jsonl(rows: list[dict]) -> str:
    return "".join(json.dumps(r, ensure_ascii=False, sort_keys=True) + "\n" for r in rows)


def describe(values: list[int]) -> dict:
    ordered = sorted(values)
    return {"mean": round(statistics.fmean(ordered), 2), "p50": ordered[len(ordered) // 2],
            "p95": ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))], "max": ordered[-1]}


def dialogue_text(row: dict) -> str:
    return "\n".join([row.get("system", "")] + [t["value"] for t in row["conversations"]])


def char_stats(rows: list[dict]) -> dict:
    return {"chars": describe([len(dialogue_text(r)) for r in rows]),
            "turns": describe([len(r["conversations"]) for r in rows])}
