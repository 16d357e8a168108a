"""The rating rubric: dimensions, each a 1-5 Likert scale with every anchor written out.

One rubric (from conf/judge/) is shown to raters and given to the LLM judge, so their scores
measure the same thing.
"""
import re
from dataclasses import dataclass

from mhcompare.config import to_plain

SCALE = (1, 2, 3, 4, 5)


@dataclass(frozen=True)
class Dimension:
    key: str
    label: str
    question: str
    anchors: tuple[str, ...]  # anchors[score - 1]


def load_rubric(rubric_cfg) -> list[Dimension]:
    dimensions = []
    for key, spec in to_plain(rubric_cfg).items():
        anchors = tuple(str(a) for a in spec.get("anchors", []))
        if len(anchors) != len(SCALE):
            raise ValueError(f"judge.rubric.{key}.anchors: write out {len(SCALE)} anchors (one per score 1-5), "
                             f"got {len(anchors)}")
        if not re.fullmatch(r"[a-z_]+", key):
            raise ValueError(f"judge.rubric: dimension name {key!r} must be lowercase letters and underscores")
        dimensions.append(Dimension(key, str(spec.get("label", key)), str(spec.get("question", "")), anchors))
    if not dimensions:
        raise ValueError("judge.rubric is empty; name at least one dimension")
    return dimensions

