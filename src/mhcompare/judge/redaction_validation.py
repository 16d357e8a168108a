"""How well blinding works on phrasings its rules were not written from.

resources/blinding_validation/ holds two sets by an author who saw neither the code nor the
shipped phrasings (its README says how they were made). Each identity text is one model turn; it
counts as blinded when none of its revealing substrings is left in what a rater would see, or when
the conversation would be held back from rating; where an item carries the client's turn before it
(`client_before`), that turn comes first, as in a real conversation. Each ordinary sentence is put through the
pipeline in its own role (a client's words are never redacted) and, to judge the rules themselves,
through the redactor as if a model had written it.
"""
import json
import re
from collections import Counter
from pathlib import Path

from mhcompare.judge.redaction import Redactor, fold
from mhcompare.wilson import wilson as wilson_interval

VALIDATION = Path(__file__).resolve().parents[1] / "resources" / "blinding_validation"


def load(name: str) -> list[dict]:
    path = VALIDATION / name
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def wilson(k: int, n: int) -> tuple[float, float]:
    """The 95% Wilson interval of k in n; (0, 1) where there are no cases."""
    return wilson_interval(k, n) or (0.0, 1.0)


def squeezed(text: str) -> str:
    return re.sub(r"[\W_]", "", fold(text)[0])


def reveals_left(shown: str, reveals: list[str]) -> list[str]:
    """The revealing substrings still in `shown`, as written or folded with separators removed."""
    return [r for r in reveals if r in shown or (squeezed(r) and squeezed(r) in squeezed(shown))]


def conversation(item: dict, role: str = "counsellor") -> list[dict]:
    """The item as a turn in its role, after the client's turn it answers where the set gives one
    (`client_before`)."""
    before = [{"role": "client", "content": item["client_before"]}] if item.get("client_before") else []
    return [*before, {"role": role, "content": item["text"]}]


def identity_recall(redactor: Redactor, items: list[dict]) -> dict:
    """Blinded = replaced (no reveal left) or held back; per style too."""
    replaced = held = 0
    by_style, of_style = Counter(), Counter()
    for item in items:
        blinded = redactor.blind(conversation(item))
        of_style[item["style"]] += 1
        if not reveals_left(blinded.turns[-1]["content"], item["reveals"]):
            replaced += 1
        elif blinded.held_back:
            held += 1
        else:
            continue
        by_style[item["style"]] += 1
    n, k = len(items), replaced + held
    return {"n": n, "blinded": k, "replaced": replaced, "held_back": held, "recall": k / max(1, n),
            "interval": wilson(k, n), "by_style": {s: (by_style[s], of_style[s]) for s in sorted(of_style)}}


def ordinary_changes(redactor: Redactor, items: list[dict]) -> dict:
    """Per role: sentences changed as raters would see them (pipeline), changed by the redactor
    itself (as if a model wrote them), and held back (a model turn the after-check holds)."""
    out = {}
    for role in sorted({i["role"] for i in items}):
        rows = [i for i in items if i["role"] == role]
        shown = [redactor.blind(conversation(i, role)) for i in rows]
        as_model = [redactor.blind(conversation(i)) for i in rows]
        out[role] = {"n": len(rows),
                     "changed": sum(b.turns[-1]["content"] != i["text"] for b, i in zip(shown, rows, strict=True)),
                     "changed_as_model": sum(b.turns[-1]["content"] != i["text"]
                                             for b, i in zip(as_model, rows, strict=True)),
                     "held_back_as_model": sum(b.held_back for b in as_model),
                     "changed_styles": sorted({i["style"] for b, i in zip(as_model, rows, strict=True)
                                               if b.turns[-1]["content"] != i["text"]})}
    return out
