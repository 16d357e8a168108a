"""Detect a dialogue dataset's format and convert each record to canonical ShareGPT.

Canonical: {"system": str (optional), "conversations": [{"from": "human"|"gpt", "value": str}, ...]}
with turns alternating human, gpt, ..., gpt.
"""
from mhcompare.data.errors import DataError

HUMAN_ROLES = {"human", "user"}
ASSISTANT_ROLES = {"gpt", "assistant"}


def detect_format(record: dict) -> str:
    if "conversations" in record:
        return "sharegpt"
    if "messages" in record:
        return "openai"
    if "conversation" in record:
        return "xtuner"
    if "instruction" in record and "output" in record:
        return "alpaca"
    raise ValueError(f"unknown dialogue format with keys {sorted(record)}; expected ShareGPT "
                     "'conversations' (from/value), OpenAI 'messages' (role/content), XTuner "
                     "'conversation' (system/input/output) or Alpaca (instruction/input/output)")


def _text(value, path, line, field) -> str:
    if not isinstance(value, str):
        raise DataError(path, line, field, f"expected a string, got {type(value).__name__}")
    return value


def _list(record, key, path, line) -> list:
    value = record.get(key)
    if not isinstance(value, list):
        raise DataError(path, line, key, f"expected a list of turns, got {type(value).__name__}")
    return value


def from_sharegpt(record, path, line):
    system = record.get("system")
    turns = []
    for i, turn in enumerate(_list(record, "conversations", path, line)):
        field = f"conversations[{i}]"
        if not isinstance(turn, dict) or "from" not in turn or "value" not in turn:
            raise DataError(path, line, field, "each turn needs 'from' and 'value'")
        role, value = turn["from"], _text(turn["value"], path, line, f"{field}.value")
        if role == "system" and i == 0:
            system = value
            continue
        if role in HUMAN_ROLES:
            role = "human"
        elif role in ASSISTANT_ROLES:
            role = "gpt"
        else:
            raise DataError(path, line, f"{field}.from",
                            f"unknown role {role!r}; use 'human' or 'gpt' ('system' only as the first turn)")
        turns.append((role, value, field))
    return system, turns


def from_openai(record, path, line):
    system, turns = None, []
    for i, message in enumerate(_list(record, "messages", path, line)):
        field = f"messages[{i}]"
        if not isinstance(message, dict) or "role" not in message or "content" not in message:
            raise DataError(path, line, field, "each message needs 'role' and 'content'")
        role, value = message["role"], _text(message["content"], path, line, f"{field}.content")
        if role == "system" and i == 0:
            system = value
        elif role == "user":
            turns.append(("human", value, field))
        elif role == "assistant":
            turns.append(("gpt", value, field))
        else:
            raise DataError(path, line, f"{field}.role",
                            f"unknown role {role!r}; use 'user' or 'assistant' ('system' only first)")
    return system, turns


def from_xtuner(record, path, line):
    system, turns = None, []
    for i, pair in enumerate(_list(record, "conversation", path, line)):
        field = f"conversation[{i}]"
        if not isinstance(pair, dict) or "input" not in pair or "output" not in pair:
            raise DataError(path, line, field, "each item needs 'input' and 'output'")
        if i == 0 and pair.get("system"):
            system = _text(pair["system"], path, line, f"{field}.system")
        turns.append(("human", _text(pair["input"], path, line, f"{field}.input"), f"{field}.input"))
        turns.append(("gpt", _text(pair["output"], path, line, f"{field}.output"), f"{field}.output"))
    return system, turns


def from_alpaca(record, path, line):
    turns = []
    for i, pair in enumerate(record.get("history") or []):
        if not (isinstance(pair, list) and len(pair) == 2):
            raise DataError(path, line, f"history[{i}]", "each history item must be [question, answer]")
        turns.append(("human", _text(pair[0], path, line, f"history[{i}][0]"), f"history[{i}][0]"))
        turns.append(("gpt", _text(pair[1], path, line, f"history[{i}][1]"), f"history[{i}][1]"))
    instruction = _text(record["instruction"], path, line, "instruction")
    extra = _text(record.get("input") or "", path, line, "input")
    question = f"{instruction}\n{extra}" if extra.strip() else instruction
    turns.append(("human", question, "instruction"))
    turns.append(("gpt", _text(record["output"], path, line, "output"), "output"))
    return record.get("system"), turns


CONVERTERS = {"sharegpt": from_sharegpt, "openai": from_openai, "xtuner": from_xtuner, "alpaca": from_alpaca}


def to_canonical(record: dict, fmt: str, path, line: int) -> dict:
    """Convert one record and check it: roles alternate from human to gpt, no turn is empty."""
    system, turns = CONVERTERS[fmt](record, path, line)
    if not turns:
        raise DataError(path, line, None, "the dialogue has no turns")
    for i, (role, value, field) in enumerate(turns):
        expected = "human" if i % 2 == 0 else "gpt"
        if role != expected:
            raise DataError(path, line, field, f"turn {i} is from {role!r} but should be from {expected!r}: "
                                               "turns must alternate human, gpt, human, gpt")
        if not value.strip():
            raise DataError(path, line, field, "empty turn; every turn needs text")
    if turns[-1][0] != "gpt":
        raise DataError(path, line, turns[-1][2], "the dialogue ends on the client's turn; "
                                                  "it must end with the counsellor's (gpt) reply")
    if system is not None:
        _text(system, path, line, "system")
    row = {"conversations": [{"from": role, "value": value} for role, value, _ in turns]}
    if system and system.strip():
        row["system"] = system
    return row
