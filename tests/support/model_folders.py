"""Model folders for fetch tests: a real model's files (../shared/fixtures/models: config,
tokenizer, remote code, no weights) plus tiny weight files written here with `safetensors`."""
import json
import shutil
import struct
from pathlib import Path

import numpy as np
from safetensors.numpy import save_file

from support.real_models import fixture_dir


def folder_without_weights(model: str, dst: Path) -> Path:
    """A writable copy of the model's real non-weight files."""
    shutil.copytree(fixture_dir(model), dst, ignore=shutil.ignore_patterns("SOURCE.md"))
    for path in [dst, *dst.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    return dst


def runnable_folder(model: str, dst: Path) -> Path:
    """The real files with a small, intact model.safetensors: a folder fetch accepts."""
    folder = folder_without_weights(model, dst)
    write_weights(folder / "model.safetensors", {"lm_head.weight": (64, 16)})
    return folder


def write_weights(path: Path, shapes: dict) -> Path:
    """A real safetensors file: float32 tensors of the given shapes, values 0..n."""
    save_file({name: np.arange(int(np.prod(shape)), dtype=np.float32).reshape(shape)
               for name, shape in shapes.items()}, str(path))
    return path


def write_raw_safetensors(path: Path, header: dict, data: bytes) -> Path:
    """A safetensors file with exactly this header and data, right or wrong."""
    raw = json.dumps(header).encode("utf-8")
    path.write_bytes(struct.pack("<Q", len(raw)) + raw + data)
    return path


def read_only_tree(folder: Path) -> Path:
    """As a colleague's shared copy would be: no file or folder writable."""
    for path in [*folder.rglob("*"), folder]:
        path.chmod(0o555 if path.is_dir() else 0o444)
    return folder
