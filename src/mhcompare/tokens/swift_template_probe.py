#!/usr/bin/env python
"""Encode dialogues with a model's tokenizer and ms-swift template, inside the model's runtime.

    <runtime python> swift_template_probe.py lengths MODEL_DIR MODEL_TYPE TEMPLATE ROWS.jsonl OUT.json [SYSTEM]
    <runtime python> swift_template_probe.py parity  MODEL_DIR MODEL_TYPE TEMPLATE ROWS.jsonl OUT.json [SYSTEM]

SYSTEM, when given, replaces the template's default system prompt (ms-swift's `--system`), as
training and serving get it from `model.swift.system`.

Run by path with the runtime's own interpreter (mhcompare is not installed there), so it imports
nothing from mhcompare. Works with ms-swift 3.x (`swift.llm`) and 4.x (`swift`).

lengths: for every ShareGPT row, the number of tokens training feeds (the template in train mode,
system prompt and all turns).
parity: for every row and every client turn, three renderings of the history up to that turn:
  train    the training ids (train mode, whole dialogue); the prompt is the part before the reply
  swift    ms-swift's generation prompt (what `swift deploy` sends to the model)
  engine   the tokenizer's own chat template with add_generation_prompt (what LMDeploy's `hf`
           template and vLLM apply), or null where the tokenizer has none
"""
import json
import os
import sys

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


PLUGIN = os.path.join(os.path.dirname(os.path.abspath(__file__)), "swift_plugin.py")


def load(model_dir: str, model_type: str, template_type: str, default_system=None):
    import runpy
    runpy.run_path(PLUGIN)  # the templates training and serving load with --external_plugins
    try:  # ms-swift 3.x
        from swift.llm import get_model_tokenizer, get_template
        _, tokenizer = get_model_tokenizer(model_dir, load_model=False, model_type=model_type)
        template = get_template(template_type, tokenizer, default_system, max_length=None)
        modes = ("train", "pt")
    except ImportError:  # ms-swift 4.x
        from swift import get_processor, get_template
        tokenizer = get_processor(model_dir, model_type=model_type)
        template = get_template(tokenizer, default_system, template_type=template_type, max_length=10**9)
        modes = ("train", "transformers")
    return tokenizer, template, modes


def messages(row: dict, turns: int | None = None) -> list[dict]:
    """OpenAI-style messages of a ShareGPT row, optionally cut after the first `turns` turns."""
    result = [{"role": "system", "content": row["system"]}] if row.get("system") else []
    for turn in row["conversations"][:turns]:
        result.append({"role": "user" if turn["from"] == "human" else "assistant", "content": turn["value"]})
    return result


def encode(template, mode: str, msgs: list[dict]) -> list[int]:
    template.set_mode(mode)
    return list(template.encode({"messages": msgs})["input_ids"])


def engine_prompt(tokenizer, msgs: list[dict]):
    tokenizer = getattr(tokenizer, "tokenizer", tokenizer)  # a processor wraps the tokenizer
    if not getattr(tokenizer, "chat_template", None):
        return None
    ids = tokenizer.apply_chat_template(msgs, add_generation_prompt=True, tokenize=True)
    if isinstance(ids, dict) or hasattr(ids, "keys"):
        ids = ids["input_ids"]
    return [int(i) for i in ids]


def decode(tokenizer, ids):
    tokenizer = getattr(tokenizer, "tokenizer", tokenizer)
    return None if ids is None else tokenizer.decode(ids)


def main(argv) -> int:
    command, model_dir, model_type, template_type, rows_path, out_path = argv[:6]
    default_system = argv[6] if len(argv) > 6 else None
    with open(rows_path, encoding="utf-8") as f:
        rows = [json.loads(line) for line in f if line.strip()]
    tokenizer, template, (train_mode, infer_mode) = load(model_dir, model_type, template_type, default_system)
    if command == "lengths":
        result = {"lengths": [len(encode(template, train_mode, messages(r))) for r in rows]}
    elif command == "parity":
        cases = []
        for index, row in enumerate(rows):
            train = encode(template, train_mode, messages(row))
            for turn in range(0, len(row["conversations"]), 2):
                history = messages(row, turn + 1)  # ... up to and including this client turn
                swift = encode(template, infer_mode, history)
                engine = engine_prompt(tokenizer, history)
                cases.append({"row": index, "turn": turn // 2, "swift": swift, "engine": engine,
                              "swift_is_train_prefix": train[:len(swift)] == swift,
                              "swift_text": decode(tokenizer, swift), "engine_text": decode(tokenizer, engine)})
        result = {"cases": cases}
    else:
        raise SystemExit(f"unknown command {command!r}; use lengths or parity")
    tmp = out_path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(result, f, ensure_ascii=False)
    os.replace(tmp, out_path)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
