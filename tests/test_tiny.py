"""Tiny models: deterministic, and a second build never disturbs the first (sweep jobs race)."""
import hashlib

from mhcompare.config import resource_path
from mhcompare.tiny.build import build_tiny_model

SIZE = dict(vocab_size=512, hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2,
            num_key_value_heads=1, max_position_embeddings=512)
CORPUS = resource_path("demo_dialogues.jsonl")


def digest(folder):
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


def test_same_inputs_same_files_and_a_second_build_leaves_the_first_alone(tmp_path):
    a = build_tiny_model("llama", tmp_path / "a", CORPUS, SIZE, seed=3)
    b = build_tiny_model("llama", tmp_path / "b", CORPUS, SIZE, seed=3)
    assert digest(a) == digest(b)
    weights = a / "model.safetensors"
    inode = weights.stat().st_ino
    build_tiny_model("llama", a, CORPUS, SIZE, seed=3)
    assert weights.stat().st_ino == inode, "a finished tiny model must not be replaced under a running job"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a", "b"], "no temporary folder left behind"


def test_files_are_readable_by_older_transformers(tmp_path):
    import json

    folder = build_tiny_model("qwen2", tmp_path / "q", CORPUS, SIZE)
    assert json.loads((folder / "tokenizer_config.json").read_text())["tokenizer_class"] == "PreTrainedTokenizerFast"
    merges = json.loads((folder / "tokenizer.json").read_text())["model"]["merges"]
    assert merges and all(isinstance(m, str) and m.count(" ") == 1 for m in merges)
