"""The LoRA recipe as ms-swift arguments: the shared train config, adapted per model and machine.

Fairness lives here: every model gets the same hyper-parameters and the same effective batch
(per-device batch x accumulation x GPUs); only the split between per-device batch and
accumulation may differ where a model's memory forces it.
"""
import json
from pathlib import Path

from omegaconf import OmegaConf

from mhcompare.config import to_plain
from mhcompare.errors import ConfigError
from mhcompare.data.prepare import to_jsonl
from mhcompare.io import atomic_write_text, read_jsonl


def resolve_recipe(cfg, gpus: int, flash_attn_installed: bool = True) -> tuple[dict, list[str]]:
    """(ms-swift arguments of the recipe, notes on what was adapted and why).

    flash_attn_installed: whether the model's runtime has the flash-attn package."""
    args = OmegaConf.to_container(cfg.train.swift, resolve=True)
    notes = []
    per_device = int(cfg.model.per_device_batch_size or cfg.train.per_device_batch_size)
    world = max(gpus, 1)
    effective = int(cfg.train.effective_batch_size)
    if effective % (per_device * world):
        raise ConfigError(f"train.effective_batch_size={effective} is not a multiple of per-device batch "
                         f"{per_device} x {world} GPU(s); change one of them so every model sees the same batch")
    args["per_device_train_batch_size"] = per_device
    args["per_device_eval_batch_size"] = per_device
    args["gradient_accumulation_steps"] = effective // (per_device * world)
    args["target_modules"] = to_plain(cfg.model.lora_target_modules)  # a name, or a list of module names
    if args.get("packing") and not cfg.model.supports_packing:
        # turning it off for this model alone would give it other steps and tokens per step
        raise ConfigError(f"train.swift.packing=true, but {cfg.model.name} cannot pack (its code takes no "
                         f"position_ids): models compared must share one rule; use train.swift.packing=false, "
                         f"or pack only a grid of models that all support it")
    if gpus == 0:
        fallback = OmegaConf.to_container(cfg.train.cpu_fallback, resolve=True)
        changed = {k: v for k, v in fallback.items() if args.get(k) != v}
        args.update(fallback)
        if changed:
            notes.append("no GPU: " + ", ".join(f"{k}={v}" for k, v in changed.items()))
    attn_impl, note = choose_attention(args.get("attn_impl"), list(cfg.model.attn_impls), cfg.model.name,
                                       flash_attn_installed and gpus > 0)
    args["attn_impl"] = attn_impl
    if note:
        notes.append(note)
    return args, notes


def choose_attention(wanted, accepted: list, model: str, flash_attn_usable: bool) -> tuple:
    """The recipe's attention implementation where the model's code accepts it (an implementation
    detail, never a hyper-parameter); else the best one it accepts. None leaves it to the model's
    own code (ChatGLM3 and Baichuan2 reject any setting and call SDPA themselves)."""
    usable = [a for a in accepted if a != "flash_attn" or flash_attn_usable]
    if wanted in usable:
        return wanted, None
    if not usable:
        raise ConfigError(f"model.attn_impls={accepted} for {model}: none usable here (flash_attn needs a GPU "
                         f"and the flash-attn package in the model's runtime); add a fallback such as eager")
    chosen = usable[0]
    why = ("the model's code accepts only " + ", ".join(str(a) for a in accepted)) if wanted not in accepted \
        else "flash-attn is not usable here (no GPU, or not installed in the runtime)"
    return chosen, f"attn_impl={chosen} instead of {wanted} for {model}: {why}"


def as_cli(args: dict) -> list[str]:
    """{'lora_rank': 8, 'target_modules': ['a','b'], 'packing': False} -> ['--lora_rank', '8', ...]."""
    argv = []
    for key, value in args.items():
        if value is None:
            continue
        argv.append(f"--{key}")
        if isinstance(value, bool):
            argv.append("true" if value else "false")
        elif isinstance(value, (list, tuple)):
            argv.extend(str(v) for v in value)
        elif isinstance(value, dict):
            argv.append(json.dumps(value))
        else:
            argv.append(str(value))
    return argv


# ms-swift 3.x names some arguments, and some of their values, differently from 4.x
SWIFT3_NAMES = {"tuner_type": "train_type", "external_plugins": "custom_register_path"}
SWIFT3_VALUES = {"template": {"chatglm4": "glm4"}, "infer_backend": {"transformers": "pt"}}


def for_swift_version(args: dict, swift_version: str | None) -> dict:
    """The same arguments, named the way the ms-swift inside the runtime expects them."""
    if swift_version is None:
        raise RuntimeError("ms-swift is not installed in this runtime; add it to its requirements")
    if int(swift_version.split(".")[0]) >= 4:
        return dict(args)
    return {SWIFT3_NAMES.get(k, k): SWIFT3_VALUES.get(k, {}).get(v, v) if isinstance(v, str) else v
            for k, v in args.items()}


def dataset_for_swift_version(files: dict, swift_version: str) -> dict:
    """The prepared train/val files as the runtime's ms-swift reads them.

    ms-swift 3.x drops a row's `system` field when its turns use from/value keys (only the
    user/assistant-pair form of its MessagesPreprocessor reads it; 4.x reads both), so the models of
    the legacy runtime trained without the system prompt the others saw. For 3.x the system prompt
    becomes the first turn ({"from": "system"}), which both dialects read as the system message;
    the data hash says so, so a run trained on the old form is not taken as done."""
    if swift_version is None or int(swift_version.split(".")[0]) >= 4:
        return files   # (no ms-swift: for_swift_version says so)
    converted = {"data_hash": files["data_hash"] + "+system-turn"}
    for split in ("train", "val"):
        source = Path(files[split])
        target = source.with_name(f"{source.stem}.swift3.jsonl")
        rows = [system_as_first_turn(row) for row in read_jsonl(source)]
        atomic_write_text(target, to_jsonl(rows))
        converted[split] = target
    return converted


def system_as_first_turn(row: dict) -> dict:
    system = row.get("system")
    turns = ([{"from": "system", "value": system}] if system else []) + list(row["conversations"])
    return {**{k: v for k, v in row.items() if k != "system"}, "conversations": turns}
