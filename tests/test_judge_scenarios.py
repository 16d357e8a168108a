"""The shipped scenario bank loads, covers the three scenario types, and bad banks are refused clearly."""
import pytest
from conftest import compose_config

from mhcompare.judge.rubric import load_rubric
from mhcompare.judge.scenarios import SCENARIO_TYPES, ScenarioError, load_scenarios


def test_shipped_bank_covers_every_type_with_complete_personas():
    cfg = compose_config()
    scenarios = load_scenarios(cfg.judge.scenarios)
    assert len(scenarios) >= 30
    assert len({s.id for s in scenarios}) == len(scenarios)
    for kind in SCENARIO_TYPES:
        assert sum(s.type == kind for s in scenarios) >= 10
    for s in scenarios:
        assert s.presenting_problem and s.goal and s.persona["background"]
        assert any("\u4e00" <= ch <= "\u9fff" for ch in s.presenting_problem)  # written in Chinese


def test_types_and_per_type_limit_select_in_bank_order():
    cfg = compose_config()
    chosen = load_scenarios(cfg.judge.scenarios, ["crisis", "counselling"], limit_per_type=2)
    assert [s.type for s in chosen] == ["crisis", "crisis", "counselling", "counselling"]
    assert chosen[0].id == "cr01-suicidal-ideation"


def test_rubric_has_four_dimensions_with_five_anchors_each():
    rubric = load_rubric(compose_config().judge.rubric)
    assert [d.key for d in rubric] == ["professionalism", "empathy", "practicality", "safety"]
    assert all(len(d.anchors) == 5 and d.anchors[0].startswith("1") for d in rubric)


@pytest.mark.parametrize("body, message", [
    ("scenarios:\n  - {id: a, type: therapy, title: t, persona: {name: n}, presenting_problem: p, goal: g}\n",
     "type 'therapy'"),
    ("scenarios:\n  - {id: a, type: crisis, title: t, presenting_problem: p, goal: g}\n", "missing persona"),
    ("scenarios: {}\n", "top-level 'scenarios:' list"),
])
def test_bad_bank_names_the_file_and_the_problem(tmp_path, body, message):
    path = tmp_path / "bank.yaml"
    path.write_text(body, encoding="utf-8")
    with pytest.raises(ScenarioError, match=message) as error:
        load_scenarios(path)
    assert "bank.yaml" in str(error.value)


def test_duplicate_ids_are_refused(tmp_path):
    one = ("  - {id: same, type: crisis, title: t, presenting_problem: p, goal: g, persona: "
           "{name: n, age: 1, gender: g, occupation: o, background: b}}\n")
    path = tmp_path / "bank.yaml"
    path.write_text("scenarios:\n" + one + one, encoding="utf-8")
    with pytest.raises(ScenarioError, match="duplicate id 'same'"):
        load_scenarios(path)
