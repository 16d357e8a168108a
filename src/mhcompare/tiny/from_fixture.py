#!/usr/bin/env python
"""Build a tiny random-weight copy of a real model from its own files (everything but weights).

    <runtime python> src/mhcompare/tiny/from_fixture.py FIXTURE_DIR OUT_DIR [--seed 0]
    <runtime python> src/mhcompare/tiny/from_fixture.py FIXTURE_DIR OUT_DIR --real-size --dtype bfloat16 --device cuda

FIXTURE_DIR holds a model's real config, tokenizer and remote code (../shared/fixtures/models/<m>/,
or what scripts/fetch_model_files.py downloads). The copy keeps every file as it is: the real
tokenizer (vocabulary, special tokens, chat template) and the real modelling code, and shrinks
only the sizes in config.json (2 layers, hidden 64). Weights are random (seeded), made by the
model's own class (trust_remote_code where it has code), and saved as safetensors. Run it with
the interpreter of the model's runtime (its transformers is the one its code works with); it
imports nothing from mhcompare, and it never loads the tokenizer, so a broken published
tokenizer (Baichuan2's) is left for stage=fetch to repair.
"""
import argparse
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

# per config key family: the sizes that make a model tiny; vocabulary and special ids stay real
TINY_SIZES = {
    "hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2, "num_attention_heads": 4,
    "num_key_value_heads": 2,
    # ChatGLM's own names
    "num_layers": 2, "ffn_hidden_size": 128, "kv_channels": 16, "multi_query_group_num": 2,
}
SKIPPED = {"SOURCE.md"}
WEIGHTS = (".safetensors", ".bin", ".pt", ".pth", ".gguf")


def tiny_config(config: dict) -> dict:
    tiny = dict(config)
    for key, value in TINY_SIZES.items():
        if key in tiny:
            tiny[key] = value
    tiny["torch_dtype"] = "float32"
    return tiny


def initialise(model, seed: int):
    """Seeded random weights: matrices (embeddings, projections, the LM head, also Baichuan2's
    NormHead) N(0, 0.02), norm scales 1 (some remote code leaves them as torch.empty), biases 0."""
    import torch

    torch.manual_seed(seed)
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if parameter.dim() >= 2:
                parameter.normal_(0.0, 0.02)
            elif name.endswith("bias"):
                parameter.zero_()
            else:
                parameter.fill_(1.0)
    bad = [n for n, t in list(model.named_parameters()) + list(model.named_buffers())
           if t.is_floating_point() and not torch.isfinite(t).all()]
    if bad:
        raise RuntimeError(f"non-finite values after initialisation in {bad[:5]}")


def build(fixture: Path, out_dir: Path, seed: int = 0, real_size: bool = False, dtype: str = "float32",
          device: str = "cpu") -> Path:
    """real_size keeps the config's sizes (a random-weight model as large as the real one, for
    measuring speed and memory on a GPU); the weights are made on `device` in `dtype`."""
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    fixture, out_dir = Path(fixture).resolve(), Path(out_dir).resolve()
    original = json.loads((fixture / "config.json").read_text(encoding="utf-8"))
    config_text = dict(original, torch_dtype=dtype) if real_size else tiny_config(original)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f"building_{out_dir.name}_", dir=out_dir.parent))  # no dot: it names a Python module
    try:
        for path in sorted(fixture.iterdir()):
            if path.is_file() and path.name not in SKIPPED and not path.name.endswith(WEIGHTS):
                shutil.copy2(path, tmp / path.name)
        (tmp / "config.json").write_text(json.dumps(config_text, indent=2) + "\n", encoding="utf-8")
        remote = bool(original.get("auto_map"))
        config = AutoConfig.from_pretrained(str(tmp), trust_remote_code=remote)
        kwargs = {"trust_remote_code": True} if remote else {}
        if original.get("model_type") == "chatglm":
            kwargs["empty_init"] = False  # its code otherwise skips initialisation (torch.empty)
        torch.manual_seed(seed)
        with torch.device(device):
            model = AutoModelForCausalLM.from_config(config, torch_dtype=getattr(torch, dtype), **kwargs)
        initialise(model, seed)
        model.save_pretrained(str(tmp), safe_serialization=True)
        # save_pretrained rewrites these; the real files (auto_map, architectures, sampling defaults) win
        (tmp / "config.json").write_text(json.dumps(config_text, indent=2) + "\n", encoding="utf-8")
        if (fixture / "generation_config.json").exists():
            shutil.copy2(fixture / "generation_config.json", tmp / "generation_config.json")
        for path in tmp.iterdir():
            path.chmod(0o644)
        tmp.chmod(0o755)
        if out_dir.exists():
            shutil.rmtree(out_dir)
        os.rename(tmp, out_dir)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out_dir


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("fixture", type=Path)
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--real-size", action="store_true", help="keep the real layer count and widths")
    parser.add_argument("--dtype", default="float32", choices=["float32", "bfloat16", "float16"])
    parser.add_argument("--device", default="cpu", help="where the weights are made (cuda: fast at real size)")
    args = parser.parse_args(argv)
    print(build(args.fixture, args.out_dir, seed=args.seed, real_size=args.real_size, dtype=args.dtype,
                device=args.device))
    return 0


if __name__ == "__main__":
    sys.exit(main())
