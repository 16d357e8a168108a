"""stage=prepare: read, check, convert, de-duplicate and split the dataset once per experiment.

The prepared files are shared by every model and seed of the experiment (one split, so seeds
measure training variance only). Per model, token statistics with its own tokenizer and chat
template (ms-swift's, in the model's runtime: what training feeds) show how many dialogues
exceed max_length.
"""
import hashlib
import logging
import time

from mhcompare import artifacts
from mhcompare.config import config_hash
from mhcompare.data.prepare import char_stats, describe, load_canonical, split_rows, to_jsonl
from mhcompare.data.source import resolve_source
from mhcompare.fetch.manifest import ModelNotFetched
from mhcompare.io import atomic_write_json, atomic_write_text, file_sha256, read_json, read_jsonl
from mhcompare.models import model_location
from mhcompare.runtimes import library_versions, runtime_python
from mhcompare.tokens.counts import template_lengths
from mhcompare.train.recipe import for_swift_version

log = logging.getLogger(__name__)


def prepare_dataset(cfg) -> dict:
    """Write train.jsonl / val.jsonl / stats.json under the data folder; skip if already done."""
    out = artifacts.data_dir(cfg)
    source = resolve_source(cfg.data, cfg.paths.cache)
    fingerprint = {"config": config_hash(cfg.data), "source_sha256": file_sha256(source)}
    if not cfg.force and artifacts.is_done(out, fingerprint):
        log.info("prepare: %s is up to date", out)
        return read_json(out / "stats.json")
    started = time.time()
    fmt, rows, duplicates = load_canonical(source)
    if cfg.data.max_rows:
        rows = rows[: int(cfg.data.max_rows)]
    train, val = split_rows(rows, float(cfg.data.val_ratio), int(cfg.data.split_seed))
    train_text, val_text = to_jsonl(train), to_jsonl(val)
    atomic_write_text(out / "train.jsonl", train_text)
    atomic_write_text(out / "val.jsonl", val_text)
    stats = {"source": str(source), "format": fmt, "dialogues": len(rows), "duplicates_removed": duplicates,
             "train": len(train), "val": len(val), "data_hash": data_hash(train_text, val_text),
             **char_stats(rows)}
    atomic_write_json(out / "stats.json", stats)
    artifacts.mark_done(out, fingerprint, started, data_hash=stats["data_hash"])
    log.info("prepare: %s dialogues (%s format, %s duplicates removed) -> %s train / %s val in %s",
             len(rows), fmt, duplicates, len(train), len(val), out)
    return stats


def data_hash(train_text: str, val_text: str) -> str:
    return hashlib.sha256((train_text + "\0" + val_text).encode("utf-8")).hexdigest()[:16]


def prepared_files(cfg) -> dict:
    """The prepared train/val files and their hash, preparing them first if needed."""
    stats = prepare_dataset(cfg)
    out = artifacts.data_dir(cfg)
    return {"train": out / "train.jsonl", "val": out / "val.jsonl", "data_hash": stats["data_hash"]}


def run(cfg) -> dict:
    stats = prepare_dataset(cfg)
    try:
        location = model_location(cfg)
    except ModelNotFetched as missing:
        log.warning("prepare: token statistics for %s skipped: %s", cfg.model.name, missing)
        return stats
    out = artifacts.stage_dir(cfg, "prepare")
    train_rows = read_jsonl(artifacts.data_dir(cfg) / "train.jsonl")
    python = runtime_python(cfg.runtimes.root, cfg.model.runtime, cfg.model.name)
    # as training feeds them: this model's tokenizer and ms-swift template, in its runtime
    lengths = template_lengths(python, location, cfg.model.swift.model_type, swift_template(cfg, python),
                               train_rows, out, cfg.model.swift.get("system"))
    tokens = describe(lengths)
    max_length = int(cfg.train.swift.max_length)
    over = sum(n > max_length for n in lengths)
    metrics = {"prepare.dialogues": stats["dialogues"], "prepare.train": stats["train"], "prepare.val": stats["val"],
               "prepare.tokens_mean": tokens["mean"], "prepare.tokens_p95": tokens["p95"],
               "prepare.tokens_max": tokens["max"], "prepare.tokens_total": sum(lengths),
               # the same for every model: turns tokens/s into the tokenizer-free text bytes/s
               "prepare.text_bytes_total": sum(text_bytes(row) for row in train_rows),
               "prepare.over_max_length": over, "prepare.tokens_counted_with": "ms-swift template",
               "prepare.data_hash": stats["data_hash"]}
    artifacts.write_metrics(out, metrics)
    if over:
        log.warning("prepare: %s of %s training dialogues exceed max_length=%s tokens for %s and will be "
                    "dropped by ms-swift (truncation_strategy=delete)", over, len(train_rows), max_length,
                    cfg.model.name)
    return {**stats, **metrics}


def text_bytes(row: dict) -> int:
    """UTF-8 bytes of a dialogue's text (system prompt and every turn), as training reads it."""
    return len((row.get("system") or "").encode("utf-8")) + sum(len(turn["value"].encode("utf-8"))
                                                                 for turn in row["conversations"])


def swift_template(cfg, python: str) -> str:
    """The template name as the runtime's ms-swift knows it."""
    return for_swift_version({"template": cfg.model.swift.template}, library_versions(python)["ms-swift"])["template"]
