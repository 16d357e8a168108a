"""Bring an experiment's generated conversations into the rating database, and make rating items.

Importing is idempotent (conversations are keyed by their stable id), so the app can re-import
on every start and pick up runs that finished since. Pairwise items pair two different models'
conversations on the same scenario and seed: the only difference a rater sees is the model.
"""
import itertools
from pathlib import Path

from sqlalchemy import select

from mhcompare.io import read_jsonl
from mhcompare.judge.store.db import Conversation, Item
from mhcompare.judge.scenarios import SCENARIO_TYPES

REQUIRED = ("conversation_id", "scenario_id", "scenario_type", "model", "seed", "turns")


def conversation_files(experiment_dir: Path) -> list[Path]:
    """outputs/<experiment>/<model>/seed<k>/judge/conversations.jsonl, in a stable order."""
    return sorted(Path(experiment_dir).glob("*/seed*/judge/conversations.jsonl"))


def check_record(record: dict, where: str) -> None:
    missing = [k for k in REQUIRED if k not in record]
    if missing:
        raise ValueError(f"{where}: missing {', '.join(missing)}; re-run stage=judge for that run")
    if record["scenario_type"] not in SCENARIO_TYPES:
        raise ValueError(f"{where}: unknown scenario_type {record['scenario_type']!r}")
    roles = {t.get("role") for t in record["turns"]}
    if not record["turns"] or not roles <= {"client", "counsellor"}:
        raise ValueError(f"{where}: turns must be a non-empty list of client/counsellor messages")


def import_conversations(session, experiment: str, files: list[Path]) -> int:
    """Add conversations not yet in the database; returns how many were new."""
    known = set(session.scalars(select(Conversation.conversation_id)))
    added = 0
    for path in files:
        for line_no, record in enumerate(read_jsonl(path), start=1):
            check_record(record, f"{path}:{line_no}")
            if record["conversation_id"] in known:
                continue
            session.add(Conversation(
                conversation_id=record["conversation_id"], experiment=experiment, model=str(record["model"]),
                seed=int(record["seed"]), scenario_id=record["scenario_id"], scenario_type=record["scenario_type"],
                scenario_title=record.get("scenario_title", ""), presenting_problem=record.get("presenting_problem", ""),
                turns=record["turns"], llm_judge=record.get("llm_judge")))
            known.add(record["conversation_id"])
            added += 1
    session.flush()
    return added


def build_items(session, mode: str) -> int:
    """Create the items for `mode` (single | pairwise) that do not exist yet; returns how many."""
    if mode not in ("single", "pairwise"):
        raise ValueError(f"judge.app.mode must be single or pairwise, got {mode!r}")
    existing = set(session.scalars(select(Item.natural_key)))
    conversations = session.scalars(select(Conversation).order_by(Conversation.id)).all()
    new = []
    if mode == "single":
        for c in conversations:
            new.append(Item(kind="single", natural_key=f"single:{c.conversation_id}", balance_key=c.model,
                            conversation_a_id=c.id))
    else:
        groups = itertools.groupby(sorted(conversations, key=lambda c: (c.scenario_id, c.seed, c.model)),
                                   key=lambda c: (c.scenario_id, c.seed))
        for _, group in groups:
            for a, b in itertools.combinations(list(group), 2):
                if a.model != b.model:
                    new.append(Item(kind="pair", natural_key=f"pair:{a.conversation_id}:{b.conversation_id}",
                                    balance_key=f"{a.model}|{b.model}", conversation_a_id=a.id,
                                    conversation_b_id=b.id))
    new = [item for item in new if item.natural_key not in existing]
    session.add_all(new)
    session.flush()
    return len(new)
