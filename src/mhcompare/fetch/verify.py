"""Is a model folder one that can run? The checks stage=fetch makes before it writes a manifest,
and that a pre-flight check can make on a fetched folder before anything is queued.

    check_model_folder(folder, model_cfg, runtimes_root=None) -> ["what is wrong, and where", ...]

Nothing here loads a tensor: weights are checked by reading each safetensors header (8 bytes of
little-endian header length, then JSON naming every tensor's dtype, shape and byte range) and
comparing the ranges with the file's size, so a 15 GB model is checked in milliseconds.

- weights: the files the index names (model.safetensors.index.json / pytorch_model.bin.index.json
  weight_map), or a single model.safetensors / pytorch_model.bin; each safetensors header readable,
  every tensor's byte range inside the file and as long as its dtype and shape say; every tensor
  the index places in a shard present in that shard's header; a .bin readable as an archive;
- architecture: config.json's `architectures`, `model_type` and the values of `model.expect.config`
  (the vocabulary size) as `model.expect` says;
- tokenizer: tokenizer_config.json and the other tokenizer JSON files parse, the remote code its
  auto_map names exists and parses, the vocabulary files that code names (VOCAB_FILES_NAMES) or a
  standard tokenizer needs exist, a SentencePiece model loads; then the tokenizer is loaded for
  real with AutoTokenizer: here when the model needs no remote code, else in the model's runtime
  when that runtime is built (its remote code needs the runtime's older transformers).
"""
import ast
import importlib.util
import json
import logging
import math
import struct
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

log = logging.getLogger(__name__)

SAFETENSORS_INDEX = "model.safetensors.index.json"
BIN_INDEX = "pytorch_model.bin.index.json"
SINGLE_WEIGHTS = ("model.safetensors", "pytorch_model.bin")
# bytes per element of each safetensors dtype
DTYPE_BYTES = {"F64": 8, "F32": 4, "F16": 2, "BF16": 2, "I64": 8, "I32": 4, "I16": 2, "I8": 1, "U64": 8, "U32": 4,
               "U16": 2, "U8": 1, "BOOL": 1, "F8_E4M3": 1, "F8_E5M2": 1, "F8_E8M0": 1}
MAX_HEADER_BYTES = 100 * 1024 * 1024  # the format's own limit
TOKENIZER_JSON = ("tokenizer_config.json", "tokenizer.json", "special_tokens_map.json", "vocab.json",
                  "added_tokens.json")


def check_model_folder(folder, model_cfg, runtimes_root=None) -> list[str]:
    """Every reason this folder cannot be trained or served as `model_cfg` (empty: none found)."""
    folder = Path(folder)
    if not (folder / "config.json").is_file():
        return [f"{folder}: no config.json; the folder must hold the model's config.json, tokenizer and weights"]
    problems = architecture_problems(folder, model_cfg) + weight_problems(folder)
    problems += tokenizer_file_problems(folder)
    if problems:  # loading the tokenizer takes seconds and would only repeat what is said
        return problems
    return tokenizer_load_problems(folder, model_cfg, runtimes_root)


def read_json_problem(path: Path):
    """(data, None) or (None, 'path: why it is not JSON')."""
    try:
        return json.loads(path.read_text(encoding="utf-8")), None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        return None, f"{path}: not readable as JSON ({error})"


# ---------------------------------------------------------------------------------------- architecture

def architecture_problems(folder: Path, model_cfg) -> list[str]:
    """At most one problem: the model config.json describes against the one model.expect names."""
    config, problem = read_json_problem(folder / "config.json")
    if problem:
        return [problem]
    expect = model_cfg.get("expect") or {}
    wanted, found = list(expect.get("architectures") or []), list(config.get("architectures") or [])
    wrong = [f"architectures {found} (expected {' or '.join(wanted)})"] if wanted and not set(wanted) & set(found) else []
    if expect.get("model_type") and config.get("model_type") != expect.get("model_type"):
        wrong.append(f"model_type {config.get('model_type')!r} (expected {expect.get('model_type')!r})")
    if not wrong:
        wrong = [f"{key} {config.get(key)!r} (expected {value!r})"
                 for key, value in (expect.get("config") or {}).items() if config.get(key) != value]
    if not wrong:
        return []
    return [f"{folder / 'config.json'} says {', '.join(wrong)}: this folder holds another model than "
            f"{model_cfg.display_name} (model.expect in conf/model/{model_cfg.name}.yaml); give {model_cfg.name}'s "
            f"own folder in model.source, or fetch this folder as the model it holds (model=...)"]


# ---------------------------------------------------------------------------------------------- weights

def weight_problems(folder: Path) -> list[str]:
    """The weight files the folder's index (or the single-file convention) names, each intact."""
    for index_name in (SAFETENSORS_INDEX, BIN_INDEX):
        if (folder / index_name).is_file():
            return indexed_weight_problems(folder, index_name)
    for name in SINGLE_WEIGHTS:
        if (folder / name).is_file():
            return weight_file_problems(folder / name)[0]
    present = sorted(p.name for p in folder.iterdir() if p.suffix in (".safetensors", ".bin", ".pt", ".pth", ".gguf"))
    return [f"{folder}: no weights: neither {SAFETENSORS_INDEX} / {BIN_INDEX} nor {' / '.join(SINGLE_WEIGHTS)}"
            + (f" (found only {', '.join(present)}, which transformers does not read without an index)"
               if present else "") + "; copy the model's weight files into the folder"]


def indexed_weight_problems(folder: Path, index_name: str) -> list[str]:
    index, problem = read_json_problem(folder / index_name)
    if problem:
        return [problem]
    weight_map = index.get("weight_map") if isinstance(index, dict) else None
    if not isinstance(weight_map, dict) or not weight_map:
        return [f"{folder / index_name}: no weight_map; the index names no weight file"]
    shards = {}
    for tensor, shard in weight_map.items():
        shards.setdefault(shard, []).append(tensor)
    missing = sorted(s for s in shards if not (folder / s).is_file())
    problems = [f"{folder}: {len(missing)} of the {len(shards)} weight files {index_name} names are missing "
                f"({', '.join(missing[:3])}{', ...' if len(missing) > 3 else ''}); copy them into the folder"] \
        if missing else []
    for shard in sorted(set(shards) - set(missing)):
        shard_problems, tensors = weight_file_problems(folder / shard)
        problems += shard_problems
        absent = [t for t in shards[shard] if tensors is not None and t not in tensors]
        if absent:
            problems.append(f"{folder / shard}: {len(absent)} tensor(s) that {index_name} places in this file are "
                            f"not in it (e.g. {absent[0]}); the file and the index come from different versions")
    return problems


def weight_file_problems(path: Path):
    """(problems, tensor names or None when not knowable)."""
    if path.suffix == ".safetensors":
        return safetensors_problems(path)
    return bin_problems(path), None


def safetensors_problems(path: Path):
    """Read the header only: (problems, the names of its tensors)."""
    size = path.stat().st_size
    with open(path, "rb") as f:
        head = f.read(8)
        if len(head) < 8:
            return [f"{path}: {size} bytes, too short to be a safetensors file (truncated?); copy it again"], set()
        (header_bytes,) = struct.unpack("<Q", head)
        if header_bytes > min(MAX_HEADER_BYTES, size - 8):
            return [f"{path}: its header claims {header_bytes} bytes but the file has {size} "
                    f"(truncated, or not a safetensors file); copy it again"], set()
        raw = f.read(header_bytes)
    try:
        header = json.loads(raw.decode("utf-8"))
        if not isinstance(header, dict):
            raise ValueError("not a JSON object")
    except (UnicodeDecodeError, ValueError) as error:
        return [f"{path}: the safetensors header is not readable ({error}); the file is damaged, copy it again"], set()
    data_bytes = size - 8 - header_bytes
    tensors = {name: info for name, info in header.items() if name != "__metadata__"}
    for name, info in tensors.items():
        problem = tensor_problem(info, data_bytes)
        if problem:
            return [f"{path}: tensor {name} {problem} (the data part of the file has {data_bytes} bytes): "
                    f"the file is truncated or damaged; copy it again"], set(tensors)
    return [], set(tensors)


def tensor_problem(info, data_bytes: int) -> str | None:
    try:
        begin, end = (int(x) for x in info["data_offsets"])
        shape = [int(x) for x in info["shape"]]
        dtype = str(info["dtype"])
    except (KeyError, TypeError, ValueError):
        return "has no readable dtype, shape and data_offsets"
    if not 0 <= begin <= end:
        return f"has the byte range {begin}..{end}"
    if end > data_bytes:
        return f"ends at byte {end}, past the end of the file"
    if dtype in DTYPE_BYTES and end - begin != math.prod(shape) * DTYPE_BYTES[dtype]:
        return f"takes {end - begin} bytes where {dtype} {shape} needs {math.prod(shape) * DTYPE_BYTES[dtype]}"
    return None


def bin_problems(path: Path) -> list[str]:
    """A PyTorch .bin is a zip archive (torch >= 1.6) whose directory sits at its end, so a
    truncated one is unreadable; the older pickle format cannot be checked without loading it."""
    with open(path, "rb") as f:
        magic = f.read(2)
    if zipfile.is_zipfile(path):
        try:
            with zipfile.ZipFile(path) as archive:
                archive.infolist()
            return []
        except (zipfile.BadZipFile, OSError) as error:
            return [f"{path}: not a readable PyTorch archive ({error}); copy it again"]
    if magic[:1] == b"\x80":  # pickle protocol 2+: the pre-1.6 format
        return []
    return [f"{path}: neither a PyTorch zip archive nor a pickle (truncated or damaged); copy it again"]


# -------------------------------------------------------------------------------------------- tokenizer

def tokenizer_file_problems(folder: Path) -> list[str]:
    """The tokenizer's files exist and parse (without importing transformers)."""
    problems = []
    for name in TOKENIZER_JSON:
        if (folder / name).is_file():
            problem = read_json_problem(folder / name)[1]
            if problem:
                problems.append(problem)
    if problems:
        return problems
    config = read_json_problem(folder / "tokenizer_config.json")[0] or {}
    auto_map = (config.get("auto_map") or {}).get("AutoTokenizer")
    if auto_map:
        return remote_tokenizer_problems(folder, [c for c in auto_map if c]) + sentencepiece_problems(folder)
    standard = (["tokenizer.json"], ["tokenizer.model"], ["vocab.json", "merges.txt"], ["vocab.txt"])
    if not any(all((folder / n).is_file() for n in names) for names in standard):
        return [f"{folder}: no tokenizer files (tokenizer.json, tokenizer.model, vocab.json + merges.txt, or "
                f"vocab.txt) for {config.get('tokenizer_class') or 'its tokenizer'}; copy the model's tokenizer "
                f"files into the folder"]
    return sentencepiece_problems(folder)


def remote_tokenizer_problems(folder: Path, classes: list[str]) -> list[str]:
    """The modules tokenizer_config's auto_map names, and the files their VOCAB_FILES_NAMES name."""
    problems, missing = [], set()
    for reference in classes:
        module = reference.split("--")[-1].rsplit(".", 1)[0]
        path = folder / f"{module.replace('.', '/')}.py"
        if not path.is_file():
            problems.append(f"{folder}: tokenizer_config.json's auto_map names {reference} but {path.name} is "
                            f"not there; copy the model's remote code files into the folder")
            continue
        try:
            tree = ast.parse(path.read_text(encoding="utf-8"))
        except (SyntaxError, UnicodeDecodeError) as error:
            problems.append(f"{path}: not valid Python ({error}); copy it again")
            continue
        for name in vocab_files_named(tree):
            if not (folder / name).is_file() and name not in missing:
                missing.add(name)
                problems.append(f"{folder}: {path.name} reads {name} (VOCAB_FILES_NAMES) but it is not there; "
                                f"copy the model's tokenizer files into the folder")
    return problems


def vocab_files_named(tree) -> list[str]:
    """The file names a tokenizer module assigns to `VOCAB_FILES_NAMES` or a class's
    `vocab_files_names` as a dict literal; a fast tokenizer's tokenizer.json is optional (it is
    built from the slow one's files)."""
    names = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) in ("VOCAB_FILES_NAMES", "vocab_files_names")
                                                for t in node.targets):
            try:
                value = ast.literal_eval(node.value)
            except ValueError:
                continue
            if isinstance(value, dict):
                names += [str(Path(v)) for v in value.values() if isinstance(v, str) and v != "tokenizer.json"]
    return list(dict.fromkeys(names))


def sentencepiece_problems(folder: Path) -> list[str]:
    path = folder / "tokenizer.model"
    if not path.is_file():
        return []
    try:
        import sentencepiece
    except ImportError:
        return []
    try:
        sentencepiece.SentencePieceProcessor(model_file=str(path))
    except (OSError, RuntimeError) as error:
        return [f"{path}: not a loadable SentencePiece model ({str(error).strip()}); copy it again"]
    return []


LOAD_TOKENIZER = """import sys
from transformers import AutoTokenizer
tokenizer = AutoTokenizer.from_pretrained(sys.argv[1], trust_remote_code=sys.argv[2] == "1")
assert tokenizer("你好").input_ids, "the tokenizer encodes nothing"
"""


def tokenizer_load_problems(folder: Path, model_cfg, runtimes_root=None) -> list[str]:
    """Load the tokenizer with AutoTokenizer, as training and serving will: a model with remote code
    in its runtime, a model without in this interpreter. Skipped, and logged, where that runtime is
    not built yet (fetch runs before stage=runtime; the pre-flight check runs after) or this
    interpreter has no transformers (an install without the train extra)."""
    from mhcompare import runtimes

    remote = bool(model_cfg.get("trust_remote_code"))
    runtime = str(model_cfg.get("runtime") or runtimes.DEFAULT) if remote else runtimes.DEFAULT
    if runtime != runtimes.DEFAULT:
        if runtimes_root is None or not runtimes.is_current(runtimes_root, runtime):
            log.info("check: %s's tokenizer files are there; it is loaded once runtime %s is built", model_cfg.name,
                     runtime)
            return []
        python = runtimes.runtime_python(runtimes_root, runtime, str(model_cfg.name))
    elif importlib.util.find_spec("transformers") is None:
        log.info("check: %s's tokenizer files are there; not loaded (no transformers here)", model_cfg.name)
        return []
    else:
        python = sys.executable
    with tempfile.TemporaryDirectory(prefix="mhc-tokenizer-") as tmp:
        path = folder
        if "." in folder.name:  # transformers names the remote code's package after the folder: no dots there
            path = Path(tmp) / str(model_cfg.name)
            path.symlink_to(folder.resolve(), target_is_directory=True)
        result = subprocess.run([python, "-c", LOAD_TOKENIZER, str(path), "1" if remote else "0"],
                                capture_output=True, text=True, timeout=600)
    if result.returncode == 0:
        return []
    lines = [line for line in result.stderr.strip().splitlines() if line.strip()]
    return [f"{folder}: the tokenizer does not load with AutoTokenizer in the {runtime} runtime "
            f"({lines[-1] if lines else 'exit status ' + str(result.returncode)}); copy the model's tokenizer "
            f"files into the folder"]
