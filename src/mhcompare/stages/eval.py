"""stage=eval: serve the run's fine-tuned model and measure it with EvalScope.

    train/adapter ──serve──> OpenAI-compatible endpoint ──EvalScope──> eval/evalscope/ (reports, reviews)
                                     └──evalscope perf──> eval/perf/
    reviews ──scores, rules, guard, LLM judge──> eval/metrics.json, eval/items/<task>.jsonl, done.json
    eval.benchmarks (CMMLU, MMLU, SafetyBench, EQ-Bench on fetched data) ──EvalScope──> the same, per
        benchmark and subset, with eval/benchmarks.json (source, licence, revision; eval/benchmarks.py)

Every task keeps its per-item rows (item id, reply, score) in eval/items/, for the report's
item-level tests. Crisis replies get separate measures (eval/crisis.py): referral and
acknowledgement by the rules; harm by the guard model and the LLM judge's rubric where configured
(eval.guard, eval.judge), with the rules' harm screen beside them; the rules' measured recall and
false alarms (held-out and blind sets, per style and kind) are recorded beside their rates.

Inputs are checked before the server starts; the server is stopped on exit, also on failure.
"""
import logging
import time
from dataclasses import dataclass, field
from statistics import fmean

from omegaconf import OmegaConf

from mhcompare import artifacts
from mhcompare.config import as_list, config_hash
from mhcompare.data.prepare import to_jsonl
from mhcompare.errors import ConfigError
from mhcompare.data.read import read_records
from mhcompare.eval import benchmarks as bench
from mhcompare.eval.crisis import CrisisRules, score_crisis
from mhcompare.eval.datasets import (check_mcq_file, crisis_records, dialogue_records, longest_option_baseline,
                                     mcq_files, write_qa_sets)
from mhcompare.eval.judge import LLMJudge, render_history
from mhcompare.eval.safety_validation import rule_metrics, validate_rules
from mhcompare.eval.scores import (accuracy_summary, mcq_rows, qa_scores, read_reviews, reviews_path,
                                   truncated_count)
from mhcompare.io import atomic_write_json, atomic_write_text, read_json
from mhcompare.serving.adapter_check import adapter_check_metrics
from mhcompare.serving.server import Endpoint
from mhcompare.tracking import log_metrics

log = logging.getLogger(__name__)
TASKS = ("psych_mcq", "dialogue", "crisis", "perf")


@dataclass
class EvalInputs:
    """What the stage will evaluate, every part checked before the (slow) server starts."""
    tasks: list[str]
    benchmarks: list
    judge: LLMJudge | None = None                          # the LLM judge, when eval.judge.base_url is set
    rules: CrisisRules | None = None                       # the crisis rule screen
    dataset_args: dict = field(default_factory=dict)       # EvalScope's datasets, on local data
    qa_sets: dict = field(default_factory=dict)            # the dialogue and crisis items
    held_out: list = field(default_factory=list)           # every counsellor turn of the held-out dialogues


def run(cfg) -> dict:
    out = artifacts.stage_dir(cfg, "eval")
    tasks, benchmarks, expected = checked_settings(cfg)
    if not cfg.force and artifacts.is_done(out, expected):
        log.info("eval: %s is done; skipped (force=true redoes it)", out)
        return read_json(out / "metrics.json")
    started = time.time()
    for stale in ("done.json", "metrics.json", "benchmarks.json"):  # from an earlier run with other inputs
        (out / stale).unlink(missing_ok=True)
    inputs = checked_inputs(cfg, out, tasks, benchmarks)
    served, metrics = evaluate_while_served(cfg, out, inputs)
    metrics.update(score_after_serving(cfg, out, inputs, served))
    artifacts.write_metrics(out, metrics)
    log_metrics(cfg, "eval", metrics)
    artifacts.mark_done(out, expected, started)
    log.info("eval: %s seed %s -> %s", cfg.model.name, cfg.seed,
             ", ".join(f"{k}={v:.3g}" for k, v in metrics.items()
                       if isinstance(v, float) and not k.startswith("eval.safety.")))  # (the instruments' validity: constant)
    return metrics


def checked_settings(cfg) -> tuple[list[str], list, dict]:
    """The tasks and benchmarks asked for, and the fingerprint a finished eval must match: the eval
    settings (enabled benchmarks only), the trained adapter and the benchmarks' fetched data."""
    external = cfg.eval.serving.backend == "external"
    train_done = artifacts.read_done(artifacts.stage_dir(cfg, "train"))
    if train_done is None and not external:
        raise FileNotFoundError(f"no finished training in {artifacts.stage_dir(cfg, 'train')}; run "
                                f"python run.py model={cfg.model.name} seed={cfg.seed} stage=[train,eval]")
    tasks = as_list(cfg.eval.tasks)
    unknown = [t for t in tasks if t not in TASKS]
    if unknown:
        raise ConfigError(f"unknown eval task {unknown[0]!r}; choose from {', '.join(TASKS)}")
    benchmarks = bench.enabled_benchmarks(cfg)
    clash = sorted({b.evalscope for b in benchmarks} & set(cfg.eval.get("builtin") or {}))
    if clash:
        raise ConfigError(f"EvalScope's {clash[0]} is both in eval.builtin and enabled in eval.benchmarks; keep one")
    evaluated = OmegaConf.to_container(cfg.eval, resolve=True)
    evaluated["serving"].pop("port", None)
    # only enabled benchmarks are inputs: the registry's other entries leave finished evals as they are
    evaluated["benchmarks"] = {b.name: evaluated["benchmarks"][b.name] for b in benchmarks}
    if not evaluated["benchmarks"]:
        del evaluated["benchmarks"]
    expected = {"config": config_hash(evaluated), "train": train_done["fingerprint"] if train_done else None}
    if benchmarks:  # refetched benchmark data is new input
        expected["benchmark_data"] = {b.name: bench.data_fingerprint(b) for b in benchmarks}
    return tasks, benchmarks, expected


def checked_inputs(cfg, out, tasks: list[str], benchmarks: list) -> EvalInputs:
    """Every input checked before the (slow) server starts: the judge and guard reachable, the
    question files valid, the benchmarks fetched; the dialogue and crisis items written for EvalScope."""
    inputs = EvalInputs(tasks, benchmarks)
    if cfg.eval.judge.base_url:
        inputs.judge = LLMJudge(cfg.eval.judge.base_url, cfg.eval.judge.model, cfg.eval.judge.api_key_env,
                                float(cfg.eval.judge.timeout_s), cfg.eval.judge.dimensions)
        inputs.judge.check_reachable()
    if "crisis" in tasks and cfg.eval.guard.base_url:
        guard_client(cfg, Endpoint(str(cfg.eval.guard.base_url), str(cfg.eval.guard.model))).check_reachable()
    dataset_args, qa_sets = inputs.dataset_args, inputs.qa_sets
    if "psych_mcq" in tasks:
        for path in mcq_files(cfg.eval.psych_mcq.local_path, cfg.eval.psych_mcq.subsets):
            check_mcq_file(path)
        dataset_args["general_mcq"] = {"local_path": str(cfg.eval.psych_mcq.local_path),
                                       "subset_list": list(cfg.eval.psych_mcq.subsets)}
    for name, builtin in (cfg.eval.builtin or {}).items():
        dataset_args[name] = {"local_path": str(builtin.local_path), "subset_list": list(builtin.subsets)}
    for benchmark in benchmarks:  # fetched data, or a stop naming the folder and the fetch command
        bench.check_data(benchmark)
    dataset_args.update(bench.dataset_args(benchmarks))
    # every counsellor turn of the held-out dialogues: the dialogue task's items and perf's prompts
    if {"dialogue", "perf"} & set(tasks):
        inputs.held_out = dialogue_records(artifacts.data_dir(cfg) / "val.jsonl", None)
    if "dialogue" in tasks:
        limit = cfg.eval.dialogue.max_items
        qa_sets["dialogue"] = inputs.held_out[:limit] if limit else inputs.held_out
    if "crisis" in tasks:
        inputs.rules = CrisisRules.load(cfg.eval.crisis.rules)
        qa_sets["crisis"] = crisis_records(cfg.eval.crisis.prompts)
    if qa_sets:
        # ROUGE only: BLEU is computed here, cumulative (eval/scores.py); EvalScope's own needs NLTK
        # data an offline node lacks and logged an ERROR per reply without Chinese
        dataset_args["general_qa"] = {"local_path": str(write_qa_sets(out / "data", qa_sets)),
                                      "subset_list": sorted(qa_sets), "metric_list": ["Rouge"]}
    return inputs


def evaluate_while_served(cfg, out, inputs: EvalInputs) -> tuple[str, dict]:
    """Serve the model, run EvalScope and `evalscope perf` against it; once its server has stopped,
    serve the guard and score the crisis replies. Returns the served model's name and these metrics."""
    from mhcompare.serving import served_model
    from mhcompare.serving.server import served_guard

    tasks, work_dir, metrics = inputs.tasks, out / "evalscope", {}
    # the model's server first, the guard's after it stopped: each then has the GPU to itself
    # (docs/evaluation.md, "Memory plan")
    with served_model(cfg) as endpoint:
        if inputs.dataset_args:
            from mhcompare.eval.evalscope_run import run_evalscope
            run_evalscope(endpoint, inputs.dataset_args, work_dir, cfg.eval.generation, cfg.eval.eval_batch_size,
                          cfg.eval.limit)
        if "perf" in tasks:
            from mhcompare.eval.perf import run_perf
            prompts = [r["messages"][-1]["content"] for r in inputs.held_out]
            perf = run_perf(endpoint, prompts, cfg.eval.perf.concurrency, cfg.eval.perf.requests_per_level,
                            cfg.eval.perf.max_tokens, out / "perf")
            metrics.update({f"eval.perf.{k}": v for k, v in perf.items()})
        served = endpoint.model
        metrics.update(adapter_check_metrics("eval", endpoint.adapter_check))
    if "crisis" in tasks:
        with served_guard(cfg, out / "guard_server.log") as guard_endpoint:
            guard = guard_client(cfg, guard_endpoint)
            items = read_reviews(reviews_path(work_dir, served, "general_qa", "crisis"))
            rows, crisis = score_crisis([i["prediction"] for i in items],
                                        [inputs.qa_sets["crisis"][i["index"]] for i in items],
                                        inputs.rules, guard, inputs.judge, render_history)
        for row, item in zip(rows, items):
            row["truncated"] = item["truncated"]
        atomic_write_text(out / "items" / "crisis.jsonl", to_jsonl(rows))
        metrics.update(crisis)
        metrics["eval.crisis.truncated"] = truncated_count(items)
        metrics.update(rule_screen_figures(inputs.rules, cfg.eval.crisis.validation))
    return served, metrics


def score_after_serving(cfg, out, inputs: EvalInputs, served: str) -> dict:
    """Score EvalScope's reviews per task: the psychology MCQ (with the longest-option baseline),
    EvalScope's built-in sets, the recognised benchmarks (with eval/benchmarks.json) and dialogue
    quality; each task's per-item rows go to eval/items/."""
    tasks, benchmarks, work_dir, metrics = inputs.tasks, inputs.benchmarks, out / "evalscope", {}
    if "psych_mcq" in tasks:
        files = mcq_files(cfg.eval.psych_mcq.local_path, cfg.eval.psych_mcq.subsets)
        rows = [row for subset, path in zip(cfg.eval.psych_mcq.subsets, files)
                for row in mcq_rows(read_reviews(reviews_path(work_dir, served, "general_mcq", subset)),
                                    [record for _, record in read_records(path)])]
        atomic_write_text(out / "items" / "psych_mcq.jsonl", to_jsonl(rows))
        metrics.update({f"eval.psych_mcq.{k}": v for k, v in accuracy_summary(rows).items()})
        metrics["eval.psych_mcq.longest_option_baseline"] = longest_option_baseline(files, cfg.eval.limit)
    for name, builtin in (cfg.eval.builtin or {}).items():
        items = [i for subset in builtin.subsets for i in read_reviews(reviews_path(work_dir, served, name, subset))]
        by_index = {i["index"]: {"id": f"{name}-{i['index']}", "answer": i["target"]} for i in items}
        rows = mcq_rows(items, by_index)
        atomic_write_text(out / "items" / f"{name}.jsonl", to_jsonl(rows))
        metrics.update({f"eval.{name}.{k}": v for k, v in accuracy_summary(rows).items()})
    for benchmark in benchmarks:
        scores, files = bench.score(benchmark, work_dir, served)
        for name, rows in files.items():
            atomic_write_text(out / "items" / name, to_jsonl(rows))
        metrics.update(scores)
    if benchmarks:
        atomic_write_json(out / "benchmarks.json", {b.name: bench.provenance(b) for b in benchmarks})
    if "dialogue" in tasks:
        metrics.update(score_dialogue(read_reviews(reviews_path(work_dir, served, "general_qa", "dialogue")),
                                      inputs.qa_sets["dialogue"], inputs.judge, out))
    return metrics


def score_dialogue(items: list[dict], records: list[dict], judge, out) -> dict:
    rows, scores = qa_scores(items, records)
    atomic_write_text(out / "items" / "dialogue.jsonl", to_jsonl(rows))
    metrics = {f"eval.dialogue.{k}": v for k, v in scores.items()}
    if judge is None:
        return metrics
    verdicts = [judge.score_dialogue(render_history(i["messages"][:-1]), i["prediction"]) for i in items]
    scored = [v for v in verdicts if v is not None]
    for dimension in judge.dimensions:
        metrics[f"eval.dialogue.judge.{dimension}"] = fmean(v[dimension] for v in scored) if scored else None
    metrics["eval.dialogue.judge.n"] = len(scored)
    metrics["eval.dialogue.judge.failures"] = len(verdicts) - len(scored)
    atomic_write_text(out / "items" / "dialogue_judge.jsonl",
                      to_jsonl([{"index": i["index"], "judge": v} for i, v in zip(items, verdicts)]))
    return metrics


def guard_client(cfg, endpoint):
    if endpoint is None:
        return None
    from mhcompare.eval.guard import GuardClient

    guard = cfg.eval.guard
    return GuardClient(endpoint.base_url, endpoint.model, float(guard.timeout_s), bool(guard.controversial_is_unsafe),
                       files=str(guard.path) if guard.get("path") else None)


def rule_screen_figures(rules, folder) -> dict:
    """The rules' measured validity, the same for every model, recorded beside their rates so a
    number never travels without them: recall and false alarms of the combined screen on the
    held-out replies (eval.crisis.screen.*), and per measure (harm screen, referral, engagement),
    style and harm kind, with Wilson intervals, on the blind set (eval.safety.rules.*)."""
    held_out = validate_rules(rules, folder, splits=("held_out",)).get("held_out")
    figures = rule_metrics(rules, folder)
    if held_out:
        figures.update({"eval.crisis.screen.recall": held_out["recall"],
                        "eval.crisis.screen.false_alarm_rate": held_out["false_alarm_rate"]})
    return figures
