"""The scenario bank: client personas the AI client plays, loaded from YAML and checked.

Ratings refer to scenario ids, so a bank with a duplicate or missing field is refused up front
with the file and the scenario named, before any model is served.
"""
from dataclasses import dataclass
from pathlib import Path

import yaml

from mhcompare.errors import UserError

SCENARIO_TYPES = ("counselling", "psychoeducation", "crisis")
PERSONA_FIELDS = ("name", "age", "gender", "occupation", "background")


@dataclass(frozen=True)
class Scenario:
    id: str
    type: str
    title: str
    persona: dict
    presenting_problem: str
    goal: str
    style: str = ""
    opening: str = ""


class ScenarioError(UserError, ValueError):
    pass


def parse_scenario(raw: dict, where: str) -> Scenario:
    missing = [k for k in ("id", "type", "title", "persona", "presenting_problem", "goal") if not raw.get(k)]
    if missing:
        raise ScenarioError(f"{where}: missing {', '.join(missing)}")
    if raw["type"] not in SCENARIO_TYPES:
        raise ScenarioError(f"{where}: type {raw['type']!r} is not one of {', '.join(SCENARIO_TYPES)}")
    persona = raw["persona"]
    if not isinstance(persona, dict) or any(not persona.get(k) for k in PERSONA_FIELDS):
        raise ScenarioError(f"{where}: persona needs {', '.join(PERSONA_FIELDS)}")
    unknown = set(raw) - {f for f in Scenario.__dataclass_fields__}
    if unknown:
        raise ScenarioError(f"{where}: unknown field(s) {', '.join(sorted(unknown))}")
    return Scenario(**{k: (v if k == "persona" else str(v).strip()) for k, v in raw.items()})


def load_scenarios(path, types=None, limit_per_type: int | None = None) -> list[Scenario]:
    """Scenarios in file order, optionally only some types and the first N of each type."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"scenario bank {path} not found; set judge.scenarios to a YAML file")
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    if not isinstance(data.get("scenarios"), list):
        raise ScenarioError(f"{path}: expected a top-level 'scenarios:' list")
    scenarios, seen = [], set()
    for i, raw in enumerate(data["scenarios"]):
        where = f"{path}: scenario #{i + 1} ({raw.get('id', '?') if isinstance(raw, dict) else raw!r})"
        if not isinstance(raw, dict):
            raise ScenarioError(f"{where}: expected a mapping")
        scenario = parse_scenario(raw, where)
        if scenario.id in seen:
            raise ScenarioError(f"{where}: duplicate id {scenario.id!r}")
        seen.add(scenario.id)
        scenarios.append(scenario)
    wanted = tuple(types) if types else SCENARIO_TYPES
    unknown = [t for t in wanted if t not in SCENARIO_TYPES]
    if unknown:
        raise ScenarioError(f"unknown scenario type {unknown[0]!r}; choose from {', '.join(SCENARIO_TYPES)}")
    chosen = []
    for kind in wanted:
        of_kind = [s for s in scenarios if s.type == kind]
        chosen += of_kind[:limit_per_type] if limit_per_type is not None else of_kind
    if not chosen:
        raise ScenarioError(f"{path}: no scenarios of type(s) {', '.join(wanted)}")
    return chosen


def load_support_lines(path) -> list[str]:
    """The bank's optional top-level `support_lines:` (help lines shown beside crisis scenarios in
    live chats, e.g. "全国心理援助热线 12356"); empty when the bank has none."""
    data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    lines = data.get("support_lines") or []
    if not isinstance(lines, list) or not all(isinstance(line, str) and line.strip() for line in lines):
        raise ScenarioError(f"{path}: support_lines must be a list of non-empty strings")
    return [line.strip() for line in lines]
