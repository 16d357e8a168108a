"""Token counts and chat-template parity, computed with each model's own tokenizer and ms-swift
template inside the model's runtime (its transformers may be years older than ours)."""
from pathlib import Path

# loaded by ms-swift in every runtime (--external_plugins / --custom_register_path)
SWIFT_PLUGIN = Path(__file__).resolve().parent / "swift_plugin.py"
