"""A LoRA adapter as the serving runtime's PEFT reads it: converted where needed, and checked.

Adapters are written by the PEFT of the training runtime (peft 0.20 in `default`, 0.13.2 in
`legacy`) and read by the PEFT of the serving runtime (peft 0.14.0 in `lmdeploy`). A newer PEFT
writes keys an older one does not know, and peft 0.14's fallback for unknown keys filters them
against the wrong class (peft/config.py `from_peft_type` calls `_check_and_remove_unused_kwargs(cls,
...)` with `cls` = PeftConfig, not LoraConfig): it keeps only the base fields, so the adapter comes
back as a LoraConfig with `r=8, lora_alpha=8, target_modules=None`, and LMDeploy then fails at
`set().union(None)` (pytorch/models/patch.py `add_adapters`).

So before a server starts, `serve_as_trained` asks the serving runtime which LoraConfig fields its
PEFT knows and, where the trained config has others, serves a copy whose adapter_config.json leaves
them out (the weights are linked, not copied). A key is only left out when its value cannot change
what the adapter computes (unset, false, empty, or PEFT's own version stamp); any other stops the
serve with the key named. The serving runtime then loads the served folder exactly as the server
will (adapter_probe.py: PeftConfig.from_pretrained, and LMDeploy's rank and scaling per target where
LMDeploy serves), and rank, alpha, dropout, targets and scaling must be the trained ones.
"""
import json
import subprocess
from pathlib import Path

from mhcompare.errors import UserError
from mhcompare.io import atomic_dir, atomic_write_json, read_json

PROBE = Path(__file__).resolve().parent / "adapter_probe.py"
CONFIG = "adapter_config.json"
# written by PEFT itself: which version saved the file; says nothing about the adapter
METADATA_KEYS = ("peft_version",)
COMPARED = ("r", "lora_alpha", "lora_dropout", "target_modules", "use_rslora", "use_dora")


class AdapterConfigError(UserError, RuntimeError):
    pass


def probe(python: str, *args: str) -> dict:
    result = subprocess.run([python, str(PROBE), *args], capture_output=True, text=True, timeout=600)
    lines = result.stdout.strip().splitlines()
    if result.returncode != 0 or not lines:
        raise AdapterConfigError(f"the adapter probe failed in {python} (exit {result.returncode}):\n"
                                 f"{result.stderr[-2000:]}")
    return json.loads(lines[-1])


def neutral(key: str, value, config: dict) -> bool:
    """Leaving this key out cannot change what the adapter computes."""
    if value in (None, False, [], {}, "") or key in METADATA_KEYS:
        return True
    return key == "qalora_group_size" and not config.get("use_qalora")  # only read with use_qalora


def readable_config(config: dict, known_fields: list[str], reader: str, source: Path) -> dict:
    """The config without the keys the reader's PEFT does not know; stops where one matters."""
    unknown = {k: v for k, v in config.items() if k not in known_fields}
    mattering = {k: v for k, v in unknown.items() if not neutral(k, v, config)}
    if mattering:
        key, value = next(iter(mattering.items()))
        raise AdapterConfigError(f"{source / CONFIG} sets {key}={value!r}, which {reader} (the serving runtime) does "
                                 f"not know: it would serve a different adapter from the one trained. Serve this "
                                 f"model in its training runtime (model.serving.backend=transformers) or train "
                                 f"without {key}")
    return {k: v for k, v in config.items() if k not in unknown}


def serve_as_trained(adapter: Path, python: str, work: Path) -> tuple[Path, dict]:
    """(the adapter folder to hand a server running `python`, what that runtime loads from it,
    checked against the trained config). The trained folder where its PEFT knows every key, else a
    converted copy under `work` (rebuilt each time; weights linked, not copied)."""
    adapter = Path(adapter)
    config = read_json(adapter / CONFIG)
    loaded = probe(python, str(adapter))
    served = adapter
    if any(k not in loaded["fields"] for k in config):
        readable = readable_config(config, loaded["fields"], f"peft {loaded['peft']}", adapter)
        served = Path(work) / f"adapter-for-peft-{loaded['peft']}"
        with atomic_dir(served) as tmp:
            for item in adapter.iterdir():
                if item.name != CONFIG:
                    (tmp / item.name).symlink_to(item.resolve())
            atomic_write_json(tmp / CONFIG, readable)
        loaded = probe(python, str(served))
    return served, compare(config, loaded, served)


def compare(trained: dict, loaded: dict, served_adapter: Path) -> dict:
    """The loaded config against the trained one; AdapterConfigError naming each difference."""
    if "load_error" in loaded:
        raise AdapterConfigError(f"{served_adapter}: peft {loaded['peft']} (the serving runtime) cannot load the "
                                 f"adapter's config: {loaded['load_error']}")
    want = {k: trained.get(k) for k in COMPARED}
    want["target_modules"] = sorted(want["target_modules"]) if isinstance(want["target_modules"], list) \
        else want["target_modules"]
    differences = [f"{k}: trained {want[k]!r}, loaded {loaded.get(k)!r}" for k in COMPARED
                   if (loaded.get(k) or None) != (want[k] or None)]
    if "lmdeploy" in loaded:  # what LMDeploy's LoRA layers do not implement (pytorch/adapter/adapter.py)
        if trained.get("rank_pattern") or trained.get("alpha_pattern"):
            differences.append("rank_pattern/alpha_pattern are set; LMDeploy applies one rank and alpha to every layer")
        if trained.get("use_rslora") or trained.get("use_dora"):
            differences.append("rsLoRA/DoRA was trained; LMDeploy scales by alpha / r and has no DoRA")
    if "lmdeploy_error" in loaded:
        differences.append(f"LMDeploy cannot add the adapter: {loaded['lmdeploy_error']}")
    scaling = want["lora_alpha"] / want["r"] if want["r"] else None  # LMDeploy: alpha / r (no rsLoRA)
    for name, target in (loaded.get("lmdeploy_targets") or {}).items():
        if target["rank"] != want["r"] or abs(target["scaling"] - scaling) > 1e-9:
            differences.append(f"LMDeploy's {name}: rank {target['rank']} scaling {target['scaling']}, "
                               f"trained rank {want['r']} scaling {scaling}")
    reader = f"peft {loaded['peft']}" + (f" + lmdeploy {loaded['lmdeploy']}" if "lmdeploy" in loaded else "")
    if differences:
        raise AdapterConfigError(f"{served_adapter}: {reader} does not load the adapter as trained ("
                                 + "; ".join(differences) + ")")
    targets = want["target_modules"]
    return {"config_read_by": reader, "config_rank": want["r"], "config_alpha": want["lora_alpha"],
            "config_targets": len(targets) if isinstance(targets, list) else targets}
