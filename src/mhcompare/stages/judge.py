"""stage=judge: simulated counselling sessions with this run's fine-tuned model, for blind rating.

    scenario bank + served (model, seed) + AI client -> judge/conversations.jsonl, metrics.json, done.json

The transcripts keep the model's name in their records; the rating app keeps it server-side, and
raters only ever see anonymous items. With judge.llm_judge.enabled, an LLM also scores each one.
"""
import hashlib
import json
import logging
import os
import statistics
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from mhcompare import artifacts
from mhcompare.config import config_hash, to_plain
from mhcompare.io import atomic_write_text, read_json
from mhcompare.judge.simulate.endpoint import ChatEndpoint
from mhcompare.serving.adapter_check import adapter_check_metrics
from mhcompare.judge.simulate.generate import generate_conversations
from mhcompare.judge.simulate.llm_judge import score_transcript
from mhcompare.judge.rubric import load_rubric
from mhcompare.judge.scenarios import load_scenarios

log = logging.getLogger(__name__)
GENERATION_KEYS = ("scenario_types", "scenarios_per_type", "turns", "counsellor", "client", "llm_judge", "rubric")


def fingerprint(cfg) -> dict:
    """What the transcripts depend on: the generation settings, the bank's text, the trained adapter."""
    bank = hashlib.sha256(Path(cfg.judge.scenarios).read_bytes()).hexdigest()[:16]
    train = artifacts.read_done(artifacts.stage_dir(cfg, "train")) or {}
    settings = {k: to_plain(cfg.judge.get(k)) for k in GENERATION_KEYS}
    return {"config": config_hash(settings, cfg.model.name, cfg.seed), "scenarios": bank,
            "train": train.get("fingerprint")}


class PartialConversations:
    """Conversations of an unfinished stage=judge, kept one per line as each completes (fsynced),
    so an interrupted run pays the AI client and the served model only for what is missing. The
    first line holds the fingerprint they were made under: a file from other settings is dropped."""

    def __init__(self, path: Path, fingerprint: dict):
        self.path, self.lock = Path(path), threading.Lock()
        header = {"fingerprint": fingerprint}
        self.records = {}
        if self.path.exists():
            lines = []
            for line in self.path.read_text(encoding="utf-8").splitlines():
                try:
                    lines.append(json.loads(line))
                except json.JSONDecodeError:  # the line being written when the run was killed
                    break
            if lines and lines[0] == header:
                self.records = {r["conversation_id"]: r for r in lines[1:]}
        if not self.records:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.path.write_text(json.dumps(header) + "\n", encoding="utf-8")

    def add(self, record: dict) -> None:
        with self.lock, open(self.path, "a", encoding="utf-8") as f:
            f.write(json.dumps(record, ensure_ascii=False) + "\n")
            f.flush()
            os.fsync(f.fileno())

    def discard(self) -> None:
        self.path.unlink(missing_ok=True)


def llm_metrics(records: list[dict], rubric) -> dict:
    scored = [r["llm_judge"]["scores"] for r in records if "scores" in r.get("llm_judge", {})]
    metrics = {"judge.llm.scored": len(scored), "judge.llm.failures": len(records) - len(scored)}
    for d in rubric:
        metrics[f"judge.llm.{d.key}.mean"] = statistics.fmean(s[d.key] for s in scored) if scored else None
    return metrics


def served_base_as_client(cfg, endpoint) -> ChatEndpoint:
    """The AI client played by the base model the serving layer serves beside the adapter."""
    from mhcompare.errors import ConfigError
    from mhcompare.serving.commands import base_name

    node = cfg.judge.client
    if not cfg.model.serving.get("adapter_by_name", True):
        raise ConfigError(f"judge.client.base_url=served: {cfg.model.name} is served without its base model "
                          "beside the adapter (model.serving.adapter_by_name=false); give the client its own base_url")
    if endpoint.adapter_check is None:
        raise ConfigError("judge.client.base_url=served needs a model this stage serves itself (the base model "
                          "plays the client); with eval.serving.backend=external give the client's own base_url")
    return ChatEndpoint(base_url=endpoint.base_url, model=base_name(endpoint.model), api_key=None,
                        temperature=float(node.temperature), max_tokens=int(node.max_tokens),
                        timeout_s=float(node.timeout_s), max_retries=int(node.max_retries))


@dataclass
class Cast:
    """Who takes part, resolved before the server starts: the personas, the rubric, the AI client
    (None while it is to be played by the served base model) and the LLM judge (None when off)."""
    scenarios: list
    rubric: list
    client: ChatEndpoint | None
    llm_judge: ChatEndpoint | None
    served_client: bool

    def scenario(self, record: dict):
        """The scenario a conversation played."""
        return self.by_id[record["scenario_id"]]

    def __post_init__(self):
        self.by_id = {s.id: s for s in self.scenarios}


@dataclass
class Talked:
    """What the served sessions left: the conversations, the endpoint used per role (their usage is
    this run's cost), the served model's adapter check, and the conversations kept as they finished."""
    records: list[dict]
    endpoints: dict
    adapter_check: object
    kept: PartialConversations


def run(cfg) -> dict:
    out = artifacts.stage_dir(cfg, "judge")
    expected = fingerprint(cfg)
    if not cfg.force and artifacts.is_done(out, expected):
        log.info("judge: %s is done; skipped (force=true redoes it)", out)
        return read_json(out / "metrics.json")
    started = time.time()
    cast = read_cast(cfg)
    out.mkdir(parents=True, exist_ok=True)
    talked = talk_while_served(cfg, cast, out, expected)
    if cast.llm_judge is not None:
        score_with_llm_judge(cfg, cast, talked.records)
    metrics = write_outputs(cfg, out, cast, talked, started)
    artifacts.mark_done(out, expected, started)
    talked.kept.discard()
    log.info("judge: %d conversations -> %s", len(talked.records), out / "conversations.jsonl")
    return metrics


def read_cast(cfg) -> Cast:
    """Inputs checked: the scenario bank, the rubric, the client's and the LLM judge's settings."""
    scenarios = load_scenarios(cfg.judge.scenarios, cfg.judge.scenario_types, cfg.judge.scenarios_per_type)
    rubric = load_rubric(cfg.judge.rubric)
    # "served": the client is played by the base model of the server the stage starts (offline, e.g.
    # the demo's tiny model), else any OpenAI-compatible chat model (DeepSeek by default)
    served_client = str(cfg.judge.client.base_url) == "served"
    client = None if served_client else ChatEndpoint.from_config(cfg.judge.client)
    llm_judge = ChatEndpoint.from_config(cfg.judge.llm_judge) if cfg.judge.llm_judge.enabled else None
    return Cast(scenarios, rubric, client, llm_judge, served_client)


def talk_while_served(cfg, cast: Cast, out: Path, expected: dict) -> Talked:
    """Serve the run's model and let the client talk with it through every scenario (each
    conversation gets its scenario's title and presenting problem); conversations an interrupted
    run under the same settings finished are not asked for again."""
    from mhcompare.serving import served_model

    with served_model(cfg, log_path=out / "server.log") as endpoint:
        c = cfg.judge.counsellor
        counsellor = ChatEndpoint(base_url=endpoint.base_url, model=endpoint.model,
                                  temperature=float(c.temperature), max_tokens=int(c.max_tokens),
                                  timeout_s=float(c.timeout_s), max_retries=int(c.max_retries))
        client = served_base_as_client(cfg, endpoint) if cast.served_client else cast.client
        log.info("judge: %d scenarios x %d turns with %s seed %s (client %s)", len(cast.scenarios),
                 cfg.judge.turns, cfg.model.name, cfg.seed, client.model)
        kept = PartialConversations(out / "conversations.partial.jsonl", expected)
        if kept.records:
            log.info("judge: %d conversations kept from an interrupted run; not paid for again", len(kept.records))
        records = generate_conversations(cast.scenarios, counsellor, client, turns=int(cfg.judge.turns),
                                         seed=int(cfg.seed), counsellor_system_prompt=str(c.system_prompt),
                                         model=str(cfg.model.name), experiment=str(cfg.experiment_name),
                                         concurrency=int(cfg.judge.concurrency), finished=kept.records,
                                         on_finish=kept.add)
        adapter_check = endpoint.adapter_check
    for record in records:
        record["scenario_title"] = cast.scenario(record).title
        record["presenting_problem"] = cast.scenario(record).presenting_problem
    return Talked(records, {"counsellor": counsellor, "client": client, "llm_judge": cast.llm_judge},
                  adapter_check, kept)


def score_with_llm_judge(cfg, cast: Cast, records: list[dict]) -> None:
    with ThreadPoolExecutor(max_workers=max(1, int(cfg.judge.concurrency))) as pool:
        verdicts = pool.map(lambda r: score_transcript(cast.llm_judge, cast.rubric, cast.scenario(r), r["turns"],
                                                       seed=int(cfg.seed)), records)
        for record, verdict in zip(records, verdicts):
            record["llm_judge"] = verdict


def write_outputs(cfg, out: Path, cast: Cast, talked: Talked, started: float) -> dict:
    """conversations.jsonl and metrics.json: counts, reply lengths, LLM-judge means, and what this
    run cost per role (conversations kept from an interrupted run are not counted again)."""
    records = talked.records
    atomic_write_text(out / "conversations.jsonl",
                      "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records))
    replies = [len(t["content"]) for r in records for t in r["turns"] if t["role"] == "counsellor"]
    metrics = {"judge.conversations": len(records), "judge.turns": int(cfg.judge.turns),
               "judge.client_model": talked.endpoints["client"].model,
               "judge.counsellor_reply_chars.mean": statistics.fmean(replies) if replies else None,
               "judge.runtime_s": round(time.time() - started, 3)}
    if cast.llm_judge is not None:
        metrics.update(llm_metrics(records, cast.rubric))
    for role, endpoint_used in talked.endpoints.items():
        if endpoint_used is not None:
            for key in ("prompt_tokens", "completion_tokens", "requests"):
                metrics[f"judge.usage.{role}.{key}"] = endpoint_used.usage[key]
    metrics.update(adapter_check_metrics("judge", talked.adapter_check))
    artifacts.write_metrics(out, metrics)
    return metrics
