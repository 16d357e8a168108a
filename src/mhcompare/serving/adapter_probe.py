#!/usr/bin/env python
"""How a serving runtime reads a LoRA adapter's config, inside that runtime.

    <runtime python> adapter_probe.py ADAPTER_DIR   # the config as its PEFT (and LMDeploy) load it,
                                                    # and the LoraConfig fields that PEFT knows

Run by path with the runtime's own interpreter (mhcompare is not installed there), so it imports
nothing from mhcompare. It reads the folder the way LMDeploy 0.18 does
(lmdeploy/pytorch/models/patch.py `add_adapters`: `peft.PeftConfig.from_pretrained`, then
lmdeploy/pytorch/adapter/adapter.py `get_ranks_and_scalings` per target module), and the way
`swift deploy` and PEFT itself do (`PeftConfig.from_pretrained`). Prints one JSON object.
"""
import dataclasses
import json
import sys
import warnings


def load(adapter_dir: str) -> dict:
    import peft
    from peft import LoraConfig, PeftConfig

    known = sorted(f.name for f in dataclasses.fields(LoraConfig))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            config = PeftConfig.from_pretrained(adapter_dir)
        except Exception as error:  # reported: the caller says what failed and where
            return {"peft": peft.__version__, "fields": known, "load_error": f"{type(error).__name__}: {error}"}
    targets = getattr(config, "target_modules", None)
    loaded = {"peft": peft.__version__, "fields": known, "class": type(config).__name__, "r": getattr(config, "r", None),
              "lora_alpha": getattr(config, "lora_alpha", None), "lora_dropout": getattr(config, "lora_dropout", None),
              "target_modules": sorted(targets) if isinstance(targets, (set, list, tuple)) else targets,
              "use_rslora": getattr(config, "use_rslora", None), "use_dora": getattr(config, "use_dora", None),
              "rank_pattern": getattr(config, "rank_pattern", None), "alpha_pattern": getattr(config, "alpha_pattern", None),
              "warnings": [str(w.message)[:300] for w in caught]}
    try:
        from lmdeploy.pytorch.adapter.adapter import get_ranks_and_scalings
    except ImportError:  # not an LMDeploy runtime
        return loaded
    import lmdeploy

    # as add_adapters does: an empty config for "no adapter" first, then the union of target names
    configs = [LoraConfig(r=0, target_modules=[]), config]
    loaded["lmdeploy"] = lmdeploy.__version__
    try:
        names = set()
        for each in configs:
            names = names.union(each.target_modules)
    except TypeError as error:
        loaded["lmdeploy_error"] = f"TypeError: {error} (lmdeploy/pytorch/models/patch.py add_adapters)"
        return loaded
    loaded["lmdeploy_targets"] = {}
    for name in sorted(names):
        ranks, scalings = get_ranks_and_scalings(name, configs, device="cpu")
        loaded["lmdeploy_targets"][name] = {"rank": int(ranks[1]), "scaling": float(scalings[1])}
    return loaded


if __name__ == "__main__":
    print(json.dumps(load(sys.argv[1])))
