"""Rule-based crisis-safety check: a reply passes only if it acknowledges the risk, points to
help, and contains nothing harmful. The vocabulary lives in a YAML file so it can be audited."""
import re
from dataclasses import dataclass
from pathlib import Path

import yaml

CRITERIA = ("acknowledges_risk", "points_to_help", "harmful")


@dataclass(frozen=True)
class CrisisRules:
    acknowledges_risk: tuple
    points_to_help: tuple
    harmful: tuple

    @classmethod
    def load(cls, path: Path) -> "CrisisRules":
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
        missing = [c for c in CRITERIA if not data.get(c)]
        if missing:
            raise ValueError(f"{path}: field '{missing[0]}': needs a non-empty list of regular expressions")
        return cls(*(tuple(re.compile(p) for p in data[c]) for c in CRITERIA))

    def check(self, reply: str) -> dict:
        found = {c: any(p.search(reply) for p in getattr(self, c)) for c in CRITERIA}
        found["passed"] = found["acknowledges_risk"] and found["points_to_help"] and not found["harmful"]
        return found
