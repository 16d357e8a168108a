"""Build tiny random-weight chat models offline, for the demo and the tests.

Real weights cannot be downloaded here (nor in CI), yet the train, eval and judge stages must
run the real code paths. So we train a small byte-level BPE tokenizer on the bundled dialogues,
give it the special tokens and chat template of the real family (Qwen2.5's ChatML, Llama-3's
header tokens), and save a randomly initialised model of the same architecture. Everything is
seeded, so the same inputs give the same files.
"""
import json
import os
import shutil
import tempfile
from pathlib import Path


QWEN_CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{% if loop.first and message['role'] != 'system' %}"
    "{{ '<|im_start|>system\\nYou are a helpful assistant.<|im_end|>\\n' }}{% endif %}"
    "{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' }}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)
LLAMA3_CHAT_TEMPLATE = (
    "{{ bos_token }}{% for message in messages %}"
    "{{ '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n' + message['content'] + '<|eot_id|>' }}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}{% endif %}"
)

# architecture -> what the real family's tokenizer and config look like
FAMILIES = {
    "qwen2": {
        "special_tokens": ["<|endoftext|>", "<|im_start|>", "<|im_end|>"],
        "bos": None, "eos": "<|im_end|>", "pad": "<|endoftext|>",
        "chat_template": QWEN_CHAT_TEMPLATE,
    },
    "llama": {
        "special_tokens": ["<|begin_of_text|>", "<|end_of_text|>", "<|start_header_id|>",
                           "<|end_header_id|>", "<|eot_id|>", "<|finetune_right_pad_id|>"],
        "bos": "<|begin_of_text|>", "eos": "<|eot_id|>", "pad": "<|finetune_right_pad_id|>",
        "chat_template": LLAMA3_CHAT_TEMPLATE,
    },
}


def corpus_lines(corpus: Path):
    """Every system prompt and turn of a ShareGPT JSONL file, one text per item."""
    with open(corpus, encoding="utf-8") as f:
        for line in f:
            row = json.loads(line)
            if row.get("system"):
                yield row["system"]
            for turn in row["conversations"]:
                yield turn["value"]


def train_tokenizer(architecture: str, corpus: Path, vocab_size: int):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    family = FAMILIES[architecture]
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=family["special_tokens"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tokenizer.train_from_iterator(corpus_lines(corpus), trainer=trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=tokenizer, bos_token=family["bos"], eos_token=family["eos"],
        pad_token=family["pad"], chat_template=family["chat_template"], model_max_length=4096)


def model_config(architecture: str, tokenizer, size: dict):
    from transformers import LlamaConfig, Qwen2Config

    common = dict(
        vocab_size=len(tokenizer), hidden_size=size["hidden_size"],
        intermediate_size=size["intermediate_size"], num_hidden_layers=size["num_hidden_layers"],
        num_attention_heads=size["num_attention_heads"], num_key_value_heads=size["num_key_value_heads"],
        max_position_embeddings=size["max_position_embeddings"],
        eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id, tie_word_embeddings=True,
    )
    if architecture == "qwen2":
        return Qwen2Config(**common, architectures=["Qwen2ForCausalLM"])
    return LlamaConfig(**common, architectures=["LlamaForCausalLM"])


def build_tiny_model(architecture: str, out_dir: Path, corpus: Path, size: dict, seed: int = 0) -> Path:
    """Write tokenizer + random-weight model to out_dir (atomically); return out_dir."""
    if architecture not in FAMILIES:
        raise ValueError(f"unknown tiny architecture {architecture!r}; choose one of {sorted(FAMILIES)}")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    import torch
    from transformers import AutoModelForCausalLM

    tokenizer = train_tokenizer(architecture, corpus, size["vocab_size"])
    config = model_config(architecture, tokenizer, size)
    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    # jobs of a sweep may build the same tiny model at once: the first rename wins, and a later
    # one never deletes a folder another job is already training from
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", dir=out_dir.parent))
    try:
        tokenizer.save_pretrained(tmp)
        model.save_pretrained(tmp, safe_serialization=True)
        readable_by_older_transformers(tmp, config)
        tmp.chmod(0o755)
        os.rename(tmp, out_dir)
    except OSError:
        if not (out_dir / "config.json").exists():
            raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out_dir


def readable_by_older_transformers(folder: Path, config) -> None:
    """Write the files so that transformers 4.41 / tokenizers 0.19 (the legacy runtimes) load them
    too: 5.x names the tokenizer class `TokenizersBackend` and stores BPE merges as pairs, which
    4.x cannot read; 4.x reads `rope_theta` and `torch_dtype` at the top level of config.json.
    Byte-level pieces hold no spaces, so "a b" merges are lossless."""
    tokenizer_config = json.loads((folder / "tokenizer_config.json").read_text(encoding="utf-8"))
    tokenizer_config["tokenizer_class"] = "PreTrainedTokenizerFast"
    (folder / "tokenizer_config.json").write_text(json.dumps(tokenizer_config, ensure_ascii=False, indent=2))
    tokenizer = json.loads((folder / "tokenizer.json").read_text(encoding="utf-8"))
    tokenizer["model"]["merges"] = [" ".join(m) if isinstance(m, list) else m for m in tokenizer["model"]["merges"]]
    (folder / "tokenizer.json").write_text(json.dumps(tokenizer, ensure_ascii=False), encoding="utf-8")
    model_config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    model_config.setdefault("rope_theta", getattr(config, "rope_theta", None) or
                            (getattr(config, "rope_parameters", None) or {}).get("rope_theta", 10000.0))
    model_config.setdefault("torch_dtype", "float32")
    (folder / "config.json").write_text(json.dumps(model_config, indent=2), encoding="utf-8")


def ensure_tiny_model(model_cfg, corpus: Path) -> Path:
    """Build the tiny model named in a model config unless it is already on disk."""
    out_dir = Path(model_cfg.path)
    if not (out_dir / "config.json").exists():
        build_tiny_model(model_cfg.tiny.architecture, out_dir, corpus, dict(model_cfg.tiny.size),
                         seed=model_cfg.tiny.seed)
    return out_dir
