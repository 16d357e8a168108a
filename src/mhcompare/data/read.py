"""Read a dataset file (JSONL, or a JSON array) into records, each with its line number."""
import json
from pathlib import Path

from mhcompare.data.errors import DataError


def read_records(path: Path) -> list[tuple[int, dict]]:
    """[(line, record)] from a .jsonl file or a file holding one JSON array."""
    path = Path(path)
    if not path.exists():
        raise DataError(path, None, None, "file not found; set data.source to an existing file or a hub id")
    text = path.read_text(encoding="utf-8-sig")
    if not text.strip():
        raise DataError(path, None, None, "the file is empty; it should hold one JSON object per line "
                                          "or a JSON array of dialogues")
    records = _read_array(path, text) if text.lstrip().startswith("[") else _read_lines(path, text)
    if not records:
        raise DataError(path, None, None, "no dialogues found")
    return records


def _read_lines(path: Path, text: str) -> list[tuple[int, dict]]:
    records = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as e:
            raise DataError(path, number, None, f"not valid JSON ({e.msg} at column {e.colno}); "
                                                f"each line must be one JSON object") from e
        if not isinstance(record, dict):
            raise DataError(path, number, None, f"expected a JSON object, got {type(record).__name__}")
        records.append((number, record))
    return records


def _read_array(path: Path, text: str) -> list[tuple[int, dict]]:
    """Decode array items one by one so each keeps the line it starts on."""
    decoder = json.JSONDecoder()
    records, pos = [], text.index("[") + 1
    while True:
        while pos < len(text) and text[pos] in " \t\r\n,":
            pos += 1
        if pos >= len(text):
            raise DataError(path, text.count("\n", 0, pos) + 1, None, "the JSON array is not closed with ']'")
        if text[pos] == "]":
            return records
        line = text.count("\n", 0, pos) + 1
        try:
            record, pos = decoder.raw_decode(text, pos)
        except json.JSONDecodeError as e:
            raise DataError(path, e.lineno, None, f"not valid JSON ({e.msg} at column {e.colno})") from e
        if not isinstance(record, dict):
            raise DataError(path, line, None, f"expected a JSON object, got {type(record).__name__}")
        records.append((line, record))
