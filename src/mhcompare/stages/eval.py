"""stage=eval: serve the run's fine-tuned model and measure it with EvalScope.

    train/adapter ──serve──> OpenAI-compatible endpoint ──EvalScope──> eval/evalscope/ (reports, reviews)
                                     └──evalscope perf──> eval/perf/
    reviews ──rules + LLM judge──> eval/metrics.json, eval/items/*.jsonl, done.json

Inputs are checked before the server starts; the server is stopped on exit, also on failure.
"""
import logging
import time
from statistics import fmean

from omegaconf import OmegaConf

from mhcompare import artifacts
from mhcompare.config import as_list, config_hash
from mhcompare.data.prepare import to_jsonl
from mhcompare.errors import ConfigError
from mhcompare.eval.crisis import CrisisRules
from mhcompare.eval.datasets import (check_mcq_file, crisis_records, dialogue_records, longest_option_baseline,
                                     mcq_files, write_qa_sets)
from mhcompare.eval.judge import LLMJudge, render_history
from mhcompare.eval.scores import mcq_scores, qa_scores, read_reviews, reviews_path
from mhcompare.io import atomic_write_text, read_json
from mhcompare.serving.adapter_check import adapter_check_metrics
from mhcompare.tracking import log_metrics

log = logging.getLogger(__name__)
TASKS = ("psych_mcq", "dialogue", "crisis", "perf")


def run(cfg) -> dict:
    out = artifacts.stage_dir(cfg, "eval")
    external = cfg.eval.serving.backend == "external"
    train_done = artifacts.read_done(artifacts.stage_dir(cfg, "train"))
    if train_done is None and not external:
        raise FileNotFoundError(f"no finished training in {artifacts.stage_dir(cfg, 'train')}; run "
                                f"python run.py model={cfg.model.name} seed={cfg.seed} stage=[train,eval]")
    tasks = as_list(cfg.eval.tasks)
    unknown = [t for t in tasks if t not in TASKS]
    if unknown:
        raise ConfigError(f"unknown eval task {unknown[0]!r}; choose from {', '.join(TASKS)}")
    evaluated = OmegaConf.to_container(cfg.eval, resolve=True)
    evaluated["serving"].pop("port", None)
    expected = {"config": config_hash(evaluated), "train": train_done["fingerprint"] if train_done else None}
    if not cfg.force and artifacts.is_done(out, expected):
        log.info("eval: %s is done; skipped (force=true redoes it)", out)
        return read_json(out / "metrics.json")

    started = time.time()
    for stale in ("done.json", "metrics.json"):  # from an earlier run with other inputs
        (out / stale).unlink(missing_ok=True)
    # every input is checked before the (slow) server starts
    judge = None
    if cfg.eval.judge.base_url:
        judge = LLMJudge(cfg.eval.judge.base_url, cfg.eval.judge.model, cfg.eval.judge.api_key_env,
                         float(cfg.eval.judge.timeout_s), cfg.eval.judge.dimensions)
        judge.check_reachable()
    dataset_args, qa_sets = {}, {}
    if "psych_mcq" in tasks:
        for path in mcq_files(cfg.eval.psych_mcq.local_path, cfg.eval.psych_mcq.subsets):
            check_mcq_file(path)
        dataset_args["general_mcq"] = {"local_path": str(cfg.eval.psych_mcq.local_path),
                                       "subset_list": list(cfg.eval.psych_mcq.subsets)}
    for name, builtin in (cfg.eval.builtin or {}).items():
        dataset_args[name] = {"local_path": str(builtin.local_path), "subset_list": list(builtin.subsets)}
    # every counsellor turn of the held-out dialogues: the dialogue task's items and perf's prompts
    held_out = dialogue_records(artifacts.data_dir(cfg) / "val.jsonl", None) if {"dialogue", "perf"} & set(tasks) else []
    if "dialogue" in tasks:
        qa_sets["dialogue"] = held_out[:cfg.eval.dialogue.max_items] if cfg.eval.dialogue.max_items else held_out
    if "crisis" in tasks:
        rules = CrisisRules.load(cfg.eval.crisis.rules)
        qa_sets["crisis"] = crisis_records(cfg.eval.crisis.prompts)
    if qa_sets:
        dataset_args["general_qa"] = {"local_path": str(write_qa_sets(out / "data", qa_sets)),
                                      "subset_list": sorted(qa_sets)}

    from mhcompare.serving import served_model

    work_dir = out / "evalscope"
    metrics = {}
    with served_model(cfg) as endpoint:
        if dataset_args:
            from mhcompare.eval.evalscope_run import run_evalscope
            run_evalscope(endpoint, dataset_args, work_dir, cfg.eval.generation, cfg.eval.eval_batch_size,
                          cfg.eval.limit)
        if "perf" in tasks:
            from mhcompare.eval.perf import run_perf
            prompts = [r["messages"][-1]["content"] for r in held_out]
            perf = run_perf(endpoint, prompts, cfg.eval.perf.concurrency, cfg.eval.perf.requests_per_level,
                            cfg.eval.perf.max_tokens, out / "perf")
            metrics.update({f"eval.perf.{k}": v for k, v in perf.items()})
        served = endpoint.model
        metrics.update(adapter_check_metrics("eval", endpoint.adapter_check))

    if "psych_mcq" in tasks:
        items = [i for subset in cfg.eval.psych_mcq.subsets
                 for i in read_reviews(reviews_path(work_dir, served, "general_mcq", subset))]
        metrics.update({f"eval.psych_mcq.{k}": v for k, v in mcq_scores(items).items()})
        files = mcq_files(cfg.eval.psych_mcq.local_path, cfg.eval.psych_mcq.subsets)
        metrics["eval.psych_mcq.longest_option_baseline"] = longest_option_baseline(files, cfg.eval.limit)
    for name, builtin in (cfg.eval.builtin or {}).items():
        items = [i for subset in builtin.subsets for i in read_reviews(reviews_path(work_dir, served, name, subset))]
        metrics.update({f"eval.{name}.{k}": v for k, v in mcq_scores(items).items()})
    if "dialogue" in tasks:
        metrics.update(score_dialogue(read_reviews(reviews_path(work_dir, served, "general_qa", "dialogue")),
                                      judge, out))
    if "crisis" in tasks:
        metrics.update(score_crisis(read_reviews(reviews_path(work_dir, served, "general_qa", "crisis")),
                                    qa_sets["crisis"], rules, judge, out))
    artifacts.write_metrics(out, metrics)
    log_metrics(cfg, "eval", metrics)
    artifacts.mark_done(out, expected, started)
    log.info("eval: %s seed %s -> %s", cfg.model.name, cfg.seed,
             ", ".join(f"{k}={v:.3g}" for k, v in metrics.items() if isinstance(v, float)))
    return metrics


def score_dialogue(items: list[dict], judge, out) -> dict:
    metrics = {f"eval.dialogue.{k}": v for k, v in qa_scores(items).items()}
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


def score_crisis(items: list[dict], records: list[dict], rules: CrisisRules, judge, out) -> dict:
    """Rules always; the judge too when configured. An item passes overall only if both agree it is safe."""
    rows = []
    for item in items:
        record = records[item["index"]]
        row = {"id": record["id"], "category": record["category"], "reply": item["prediction"],
               "rules": rules.check(item["prediction"])}
        if judge is not None:
            row["judge_safe"] = judge.judge_crisis(render_history(record["messages"]), item["prediction"])
        rows.append(row)
    atomic_write_text(out / "items" / "crisis.jsonl", to_jsonl(rows))
    n = len(rows)
    metrics = {"eval.crisis.n": n,
               "eval.crisis.rule_pass_rate": sum(r["rules"]["passed"] for r in rows) / n if n else None,
               "eval.crisis.harmful_rate": sum(r["rules"]["harmful"] for r in rows) / n if n else None}
    if judge is None:
        metrics["eval.crisis.pass_rate"] = metrics["eval.crisis.rule_pass_rate"]
        return metrics
    judged = [r for r in rows if r["judge_safe"] is not None]
    metrics["eval.crisis.judge.failures"] = n - len(judged)
    metrics["eval.crisis.judge_pass_rate"] = sum(r["judge_safe"] for r in judged) / len(judged) if judged else None
    metrics["eval.crisis.pass_rate"] = (sum(r["rules"]["passed"] and r["judge_safe"] for r in judged) / len(judged)
                                        if judged else None)
    return metrics
