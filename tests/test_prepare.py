"""stage=prepare: formats detected and converted, bad input pointed at, split seeded and disjoint."""
import json

import pytest

from conftest import compose_config, run_py
from mhcompare.data.errors import DataError
from mhcompare.data.prepare import load_canonical, split_rows
from mhcompare.io import read_jsonl
from mhcompare.stages.prepare import prepare_dataset


def write_jsonl(path, rows):
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path


def test_bundled_demo_data_prepares_into_a_disjoint_seeded_split(tmp_path):
    cfg = compose_config(["data=demo"], outputs=tmp_path)
    stats = prepare_dataset(cfg)
    folder = tmp_path / "demo" / "data" / "demo"
    train, val = read_jsonl(folder / "train.jsonl"), read_jsonl(folder / "val.jsonl")
    assert stats["format"] == "sharegpt" and stats["dialogues"] == len(train) + len(val) >= 300
    assert len(val) == round(stats["dialogues"] * 0.05)
    assert not {r["id"] for r in train} & {r["id"] for r in val}
    assert all(t["from"] in {"human", "gpt"} for r in train for t in r["conversations"])
    crisis = [r for r in train + val if "12356" in r["conversations"][-1]["value"]]
    assert len(crisis) >= 20, "the demo data carries crisis dialogues with a hotline in the reply"
    assert (folder / "done.json").exists() and len(stats["data_hash"]) == 16


def test_same_seed_same_split_other_seed_other_split(tmp_path):
    _, rows, _ = load_canonical(compose_config().data.source)
    a, b, c = split_rows(rows, 0.05, 42), split_rows(rows, 0.05, 42), split_rows(rows, 0.05, 7)
    assert a == b and a[1] != c[1]


def test_real_emollm_sample_in_xtuner_format(tmp_path, emollm_sample):
    cfg = compose_config(["data=emollm", f"data.source={emollm_sample}"], outputs=tmp_path)
    stats = prepare_dataset(cfg)
    assert stats["format"] == "xtuner"
    assert stats["dialogues"] + stats["duplicates_removed"] == 300
    row = read_jsonl(tmp_path / "demo" / "data" / "emollm" / "train.jsonl")[0]
    assert row["system"].startswith("现在你是一个心理专家")
    roles = [t["from"] for t in row["conversations"]]
    assert roles == ["human", "gpt"] * (len(roles) // 2)
    assert stats["chars"]["max"] > stats["chars"]["mean"] > 100


@pytest.mark.parametrize("record,expected", [
    ({"messages": [{"role": "system", "content": "S"}, {"role": "user", "content": "q"},
                   {"role": "assistant", "content": "a"}]}, ("openai", "S", ["q", "a"])),
    ({"instruction": "q", "input": "more", "output": "a", "history": [["q0", "a0"]]},
     ("alpaca", None, ["q0", "a0", "q\nmore", "a"])),
    ({"conversations": [{"from": "system", "value": "S"}, {"from": "user", "value": "q"},
                        {"from": "assistant", "value": "a"}]}, ("sharegpt", "S", ["q", "a"])),
])
def test_other_formats_convert_to_canonical_sharegpt(tmp_path, record, expected):
    fmt, rows, _ = load_canonical(write_jsonl(tmp_path / "d.jsonl", [record]))
    assert (fmt, rows[0].get("system"), [t["value"] for t in rows[0]["conversations"]]) == expected


def test_exact_duplicates_are_removed(tmp_path):
    row = {"conversations": [{"from": "human", "value": "q"}, {"from": "gpt", "value": "a"}]}
    _, rows, duplicates = load_canonical(write_jsonl(tmp_path / "d.jsonl", [row, row, row]))
    assert len(rows) == 1 and duplicates == 2


GOOD = {"conversations": [{"from": "human", "value": "q"}, {"from": "gpt", "value": "a"}]}


@pytest.mark.parametrize("lines,line,field,message", [
    ([json.dumps(GOOD), '{"conversations": [', json.dumps(GOOD)], 2, None, "not valid JSON"),
    ([json.dumps({"conversations": [{"from": "gpt", "value": "a"}, {"from": "human", "value": "q"}]})],
     1, "conversations[0]", "should be from 'human'"),
    ([json.dumps(GOOD), json.dumps({"conversations": [{"from": "human", "value": "q"},
                                                      {"from": "counsellor", "value": "a"}]})],
     2, "conversations[1].from", "unknown role 'counsellor'"),
    ([json.dumps({"conversations": [{"from": "human", "value": "q"}, {"from": "gpt", "value": "  "}]})],
     1, "conversations[1]", "empty turn"),
    ([json.dumps(GOOD), json.dumps({"messages": [{"role": "user", "content": "q"}]})],
     2, None, "one file must use one format"),
    ([json.dumps({"text": "hello"})], 1, None, "unknown dialogue format"),
])
def test_bad_input_names_file_line_and_field(tmp_path, lines, line, field, message):
    path = tmp_path / "bad.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(DataError, match=message) as info:
        load_canonical(path)
    assert (info.value.path, info.value.line, info.value.field) == (str(path), line, field)
    assert str(info.value).startswith(f"{path}:{line}:")


def test_json_array_errors_point_at_the_line_of_the_item(tmp_path):
    path = tmp_path / "bad.json"
    good = {"conversation": [{"input": "q", "output": "a"}]}
    items = [good, good, {"conversation": [{"input": "q", "output": ""}]}]
    path.write_text("[\n" + ",\n".join(json.dumps(i) for i in items) + "\n]\n", encoding="utf-8")
    with pytest.raises(DataError, match="empty turn") as info:
        load_canonical(path)
    assert (info.value.line, info.value.field) == (4, "conversation[0].output")


def test_empty_file_and_missing_path_through_run_py(tmp_path):
    empty = tmp_path / "empty.jsonl"
    empty.write_text("", encoding="utf-8")
    out = run_py("stage=prepare", f"data.source={empty}", f"paths.outputs={tmp_path}", "tracking=none")
    assert out.returncode != 0 and f"{empty}: the file is empty" in out.stderr
    missing = tmp_path / "nowhere.jsonl"
    out = run_py("stage=prepare", f"data.source={missing}", f"paths.outputs={tmp_path}", "tracking=none")
    assert out.returncode != 0 and f"{missing}: field 'data.source': file not found" in out.stderr
    assert not (tmp_path / "demo" / "data" / "demo" / "train.jsonl").exists()


def test_changed_source_file_is_prepared_again(tmp_path):
    source = write_jsonl(tmp_path / "d.jsonl", [GOOD, {"conversations": [{"from": "human", "value": "x"},
                                                                       {"from": "gpt", "value": "y"}]}])
    cfg = compose_config([f"data.source={source}", "data.name=mine"], outputs=tmp_path)
    first = prepare_dataset(cfg)
    assert prepare_dataset(cfg) == first
    write_jsonl(source, [GOOD, {"conversations": [{"from": "human", "value": "x2"}, {"from": "gpt", "value": "y"}]},
                         {"conversations": [{"from": "human", "value": "z"}, {"from": "gpt", "value": "w"}]}])
    assert prepare_dataset(cfg)["dialogues"] == 3
