"""Training throughput that compares across models: real tokens (no padding) per second of training
steps (no evaluation, no checkpoint saves), and model FLOPs utilisation against the peak of the
device actually found.

Real tokens come from the statistics ms-swift logs of the dataset it trained on (its own
tokenization and truncation: mean length x rows, `swift_log.dataset_tokens`), spread evenly over
the optimizer steps of an epoch. transformers' `num_input_tokens_seen` counts every position of the
padded batch, so it grows with the per-device batch (2 for some models, 4 for others) and is kept
only as `train.tokens_per_s_with_padding`.

MFU (model FLOPs utilisation, PaLM's definition, Chowdhery et al. 2022, appendix B):

    FLOPs per token = 4 N + 12 L d T          tokens/s x FLOPs per token / peak FLOP/s

- N: parameters that multiply, i.e. all of the base model's minus the input embedding table (a
  lookup, no FLOPs); a tied output head multiplies with that table, so it counts then. LoRA freezes
  N: the forward pass costs 2N per token and the backward pass 2N for the input gradients, and no
  weight gradients (the LoRA matrices' own are negligible) — hence 4N where full training has 6N.
- 12 L d T: attention scores and their mix with the values (no weights, so forward 4 L d T and
  backward 8 L d T whatever is frozen), d = heads x head size, T = the sequence length. PaLM's
  convention counts the full T x T square (no halving for the causal mask), as most published MFUs
  do. Per token, averaged over sequences of different length, T is E[s^2] / E[s] = mean + sd^2 / mean,
  from the same statistics ms-swift logs.
- Gradient checkpointing's recomputation is not counted: MFU counts the model's work, not the
  implementation's.
- Peak: NVIDIA's datasheet dense BF16 tensor-core figure for the variant nvidia-smi names (the
  datasheets print it with sparsity; dense is half). A device this table does not know gets no MFU.
"""
import json
import math
import re
from pathlib import Path

from mhcompare.train.swift_log import safetensors_header

# (what nvidia-smi's name contains, the variant, dense BF16 FLOP/s); more specific names first
PEAK_DENSE_BF16 = (
    ("H100 NVL", "H100 NVL", 835.5e12),
    ("H100 PCIe", "H100 PCIe", 756.5e12),
    ("H100", "H100 SXM", 989.5e12),
    ("H200 NVL", "H200 NVL", 835.5e12),
    ("H200", "H200 SXM", 989.5e12),
    ("H800 PCIe", "H800 PCIe", 756.5e12),
    ("H800", "H800 SXM", 989.5e12),
    ("A100", "A100", 312e12),
    ("A800", "A800", 312e12),
)
PEAK_SOURCE = ("NVIDIA datasheets (H100, H200, A100): BF16 tensor core with sparsity / 2; "
               "nvidia-smi names the SXM parts 'H100 80GB HBM3' and 'H200'")
EMBEDDING_NAMES = re.compile(r"(embed_tokens|word_embeddings|wte|tok_embeddings)\.weight$")


def device_peak(name: str | None) -> tuple[str, float] | None:
    """(variant, dense BF16 FLOP/s) for a device name as nvidia-smi prints it, or None."""
    for key, variant, flops in PEAK_DENSE_BF16:
        if name and key in name:
            return variant, flops
    return None


def multiplying_parameters(model_dir: Path) -> int:
    """The base model's parameters minus its input embedding table (unless the output head is tied
    to it), from the safetensors headers alone."""
    config = json.loads((Path(model_dir) / "config.json").read_text(encoding="utf-8"))
    total = embedding = 0
    for path in sorted(Path(model_dir).glob("*.safetensors")):
        for name, info in safetensors_header(path).items():
            if name == "__metadata__":
                continue
            count = math.prod(info["shape"])
            total += count
            if EMBEDDING_NAMES.search(name):
                embedding += count
    return total if config.get("tie_word_embeddings") else total - embedding


def attention_width(config: dict) -> tuple[int, int]:
    """(layers, heads x head size) from a config.json of any of the five families."""
    layers = config.get("num_hidden_layers") or config.get("num_layers")
    heads = config.get("num_attention_heads")
    head_size = config.get("head_dim") or config.get("kv_channels")
    width = heads * head_size if heads and head_size else config["hidden_size"]
    return int(layers), int(width)


def flops_per_token(parameters: int, layers: int, width: int, mean_length: float, sd_length: float) -> float:
    """LoRA training FLOPs per token (module docstring): 4 N + 12 L d T, T = E[s^2] / E[s]."""
    effective_length = mean_length + sd_length ** 2 / mean_length
    return 4 * parameters + 12 * layers * width * effective_length


def mfu(tokens_per_s: float, per_token_flops: float, gpus: int, peak: float) -> float:
    return tokens_per_s * per_token_flops / (gpus * peak)
