"""Recognised benchmarks beside our own, run by EvalScope's own adapters on data fetched once.

    eval.benchmarks.<name> (conf/eval/default.yaml): the EvalScope benchmark, the ModelScope dataset
    its adapter reads, the local folder, subsets, homepage and licence; enabled: false by default
    stage=fetch ──ModelScope snapshot (repo_type=dataset), or a folder──> <paths.datasets>/<name>/ + manifest
    stage=eval  ──dataset_args {benchmark: {local_path, subset_list}}──> EvalScope reviews
                ──> eval/items/<name>_<subset>.jsonl (id, reply, correct or score), eval/benchmarks.json
                    (source, licence, revision) and these metrics, each reported on its own:

    eval.<name>.<subset>.accuracy               CMMLU, MMLU; SafetyBench over all seven categories
    eval.safety_bench.mental_health.accuracy    SafetyBench's Mental Health category alone
    eval.eq_bench.score                         EQ-Bench v2 as EvalScope scores it (official scale / 100), over
                                                the parseable answers only, with .parse_rate and .parse_gate_passed
                                                (the official 83.33%): not the official benchmark's run
    (each with .n and .failures: items scored, and items a metric could not score, never counted as 0,
    and .truncated: answers cut by max_tokens, counted and shown)

The local layouts EvalScope 1.14.1 reads (`local_path` replaces the adapter's dataset_id,
api/benchmark/meta.py:357; an existing path is loaded with `datasets.load_dataset(path, name=subset
or None, split=...)`, api/dataset/hub.py:104-140, exactly as a ModelScope snapshot in its cache is):
  cmmlu         one default config, split `test` (`dev` for few-shot); records question, choices
                ["(A) ...", ...], answer "(B)...", category = the subject; subsets are cut from
                `category` (benchmarks/cmmlu/cmmlu_adapter.py:136-151)
  mmlu          config `all` declared in the folder's README.md YAML `configs` (without it
                datasets says "BuilderConfig 'all' not found"), splits `test` and `dev` (5-shot by
                default: 5 dev items per selected subject); records question, subject, choices (list),
                answer (0-3) (benchmarks/mmlu/mmlu_adapter.py:109-131)
  safety_bench  data/<subset>/test.parquet with id, question, options (2-4), answer (0-based int),
                category (one of seven) (benchmarks/safety_bench/safety_bench_adapter.py:114-153)
  eq_bench      one default config, split `validation`; records prompt, reference_answer,
                reference_answer_fullscale (a dict or its text); a reply it cannot parse is
                `excluded`, not 0 (benchmarks/eq_bench/eq_bench_adapter.py:78, 116-175)
"""
from dataclasses import dataclass
from pathlib import Path

from omegaconf import OmegaConf

from mhcompare.errors import ConfigError, UserError
from mhcompare.eval.scores import accuracy_summary, item_metric, read_reviews, reviews_path, truncated_count

SAFETY_SUBSETS = ("zh", "en", "zh_subset")
MENTAL_HEALTH = "Mental Health"
# how an EvalScope benchmark's reviews are scored here; any other built-in is read as multiple choice
SCORING = {"safety_bench": "safety_bench", "eq_bench": "eq_bench"}
PRETTY = {"cmmlu": "CMMLU", "mmlu": "MMLU", "safety_bench": "SafetyBench", "eq_bench": "EQ-Bench"}
# how a benchmark is scored where that differs from its official runner (eval/benchmarks.json)
SCORED_BY = {"eq_bench": "EvalScope's EQ-Bench adapter, not the official runner: unparseable answers are left out "
                         "(no re-sampling at rising temperature), no 83.33% parse gate; see eval.eq_bench.parse_rate"}
EQ_BENCH_PARSE_GATE = 0.8333  # the official runner fails a run with fewer answers parseable


class BenchmarkDataMissing(UserError, FileNotFoundError):
    pass


@dataclass(frozen=True)
class Benchmark:
    name: str
    evalscope: str
    dataset_id: str
    revision: str | None
    source: str
    local_path: Path
    subsets: tuple
    few_shot_num: int | None
    homepage: str
    licence: str

    @property
    def scoring(self) -> str:
        return SCORING.get(self.evalscope, "mcq")

    @property
    def pretty(self) -> str:
        return PRETTY.get(self.evalscope, self.evalscope)

    def fetch_hint(self) -> str:
        return (f"fetch it once on a node with network (with the same paths.datasets):\n"
                f"    python run.py stage=fetch eval.benchmarks.{self.name}.enabled=true\n"
                f"or from a folder you already have:\n"
                f"    python run.py stage=fetch eval.benchmarks.{self.name}.enabled=true "
                f"eval.benchmarks.{self.name}.source=/path/to/{self.name}")


def from_config(name: str, entry) -> Benchmark:
    entry = OmegaConf.to_container(entry, resolve=True) if not isinstance(entry, dict) else entry
    where = f"eval.benchmarks.{name}"
    for key in ("evalscope", "dataset_id", "local_path", "subsets"):
        if not entry.get(key):
            raise ConfigError(f"{where}.{key} is not set; see conf/eval/default.yaml for an example")
    subsets = tuple(str(s) for s in entry["subsets"])
    evalscope = str(entry["evalscope"])
    if evalscope == "safety_bench" and (len(subsets) != 1 or subsets[0] not in SAFETY_SUBSETS):
        raise ConfigError(f"{where}.subsets={list(subsets)}: SafetyBench's configurations are reported on their "
                          f"own; give one of {', '.join(SAFETY_SUBSETS)}, e.g. {where}.subsets=[zh]")
    if evalscope == "eq_bench" and subsets != ("default",):
        raise ConfigError(f"{where}.subsets={list(subsets)}: EQ-Bench has one subset; use {where}.subsets=[default]")
    few_shot = entry.get("few_shot_num")
    return Benchmark(name=name, evalscope=evalscope, dataset_id=str(entry["dataset_id"]),
                     revision=entry.get("revision"), source=str(entry.get("source") or "modelscope"),
                     local_path=Path(str(entry["local_path"])).expanduser(), subsets=subsets,
                     few_shot_num=None if few_shot is None else int(few_shot),
                     homepage=str(entry.get("homepage") or ""), licence=str(entry.get("licence") or "check"))


def enabled_benchmarks(cfg) -> list[Benchmark]:
    """The enabled entries of eval.benchmarks, checked; two for one EvalScope benchmark are refused."""
    benchmarks = [from_config(name, entry) for name, entry in (cfg.eval.get("benchmarks") or {}).items()
                  if entry.get("enabled")]
    seen = {}
    for bench in benchmarks:
        if bench.evalscope in seen:
            raise ConfigError(f"eval.benchmarks.{seen[bench.evalscope]} and eval.benchmarks.{bench.name} both run "
                              f"EvalScope's {bench.evalscope}; enable one (or merge their subsets)")
        seen[bench.evalscope] = bench.name
    return benchmarks


def check_data(bench: Benchmark) -> None:
    """Stops, naming the folder and the fetch command, when the benchmark's data is not there (or a
    fetched copy no longer matches its manifest)."""
    from mhcompare.fetch.manifest import manifest_path, missing_or_changed
    from mhcompare.io import read_json

    folder = bench.local_path
    if not folder.is_dir() or not any(folder.iterdir()):
        raise BenchmarkDataMissing(f"{bench.pretty} is enabled (eval.benchmarks.{bench.name}) but its data is not at "
                                   f"{folder}; {bench.fetch_hint()}")
    if manifest_path(folder).exists():
        bad = missing_or_changed(folder, read_json(manifest_path(folder)))
        if bad:
            raise BenchmarkDataMissing(f"{folder} does not match its manifest ({len(bad)} file(s) missing or changed, "
                                       f"e.g. {bad[0]}); fetch it again: python run.py stage=fetch "
                                       f"eval.benchmarks.{bench.name}.enabled=true force=true")


def data_fingerprint(bench: Benchmark) -> str | None:
    """The fetched copy's manifest checksum: refetched data makes the eval stage run again."""
    from mhcompare.fetch.manifest import manifest_path
    from mhcompare.io import file_sha256

    path = manifest_path(bench.local_path)
    return file_sha256(path) if path.exists() else None


def dataset_args(benchmarks: list[Benchmark]) -> dict:
    """EvalScope's dataset_args for these benchmarks: local data only."""
    args = {}
    for bench in benchmarks:
        args[bench.evalscope] = {"local_path": str(bench.local_path.resolve()), "subset_list": list(bench.subsets)}
        if bench.few_shot_num is not None:
            args[bench.evalscope]["few_shot_num"] = bench.few_shot_num
    return args


def score(bench: Benchmark, work_dir: Path, served: str) -> tuple[dict, dict]:
    """(metrics, {items file name: rows}) from the benchmark's EvalScope reviews."""
    metrics, files = {}, {}
    for subset in bench.subsets:
        items = read_reviews(reviews_path(work_dir, served, bench.evalscope, subset))
        if bench.scoring == "eq_bench":
            rows = [{"id": str(i["index"]), "reply": i["prediction"],
                     "score": item_metric(i, "eq_bench_score", "eq_bench_score"),
                     "status": i["status"], "explanation": i["explanation"], "truncated": i["truncated"]}
                    for i in items]
            metrics.update(eq_bench_metrics(bench.name, rows))
            files[f"{bench.name}_{subset}.jsonl"] = rows
            continue
        rows = [mcq_row(bench, subset, i) for i in items]
        files[f"{bench.name}_{subset}.jsonl"] = rows
        metrics.update({f"eval.{bench.name}.{subset}.{k}": v for k, v in accuracy_summary(rows).items()})
        if bench.scoring == "safety_bench":
            unknown = [r["id"] for r in rows if not r["category"]]
            if unknown:
                raise KeyError(f"{reviews_path(work_dir, served, bench.evalscope, subset)}: item {unknown[0]} has "
                               f"no category in its sample_metadata; did EvalScope change SafetyBench's reviews?")
            mental = [r for r in rows if r["category"] == MENTAL_HEALTH]
            files[f"{bench.name}_mental_health.jsonl"] = mental
            metrics.update({f"eval.{bench.name}.mental_health.{k}": v for k, v in accuracy_summary(mental).items()})
    return metrics, files


def eq_bench_metrics(name: str, rows: list[dict]) -> dict:
    """EQ-Bench as EvalScope scores it, under EvalScope's name, with its parse rate beside it.
    EvalScope drops an unparseable answer and averages the rest; the official benchmark re-samples
    such answers at rising temperature and declares the run failed below 83.33% parseable. Neither
    is done here, so the score covers the parseable subset only: `parse_rate` says how large it
    is and `parse_gate_passed` whether the official gate would have let the run stand."""
    scored = [r["score"] for r in rows if r["score"] is not None]
    parse_rate = len(scored) / len(rows) if rows else None
    return {f"eval.{name}.score": sum(scored) / len(scored) if scored else None,
            f"eval.{name}.n": len(scored), f"eval.{name}.failures": len(rows) - len(scored),
            f"eval.{name}.parse_rate": parse_rate,
            f"eval.{name}.parse_gate_passed": None if parse_rate is None else parse_rate >= EQ_BENCH_PARSE_GATE,
            f"eval.{name}.truncated": truncated_count(rows)}


def mcq_row(bench: Benchmark, subset: str, item: dict) -> dict:
    target = item["target"][0] if isinstance(item["target"], list) and item["target"] else item["target"]
    row = {"id": str(item["index"]), "subset": subset, "answer": target, "reply": item["prediction"],
           "correct": item_metric(item, "accuracy", "accuracy"), "truncated": item["truncated"]}
    if bench.scoring == "safety_bench":
        metadata = item["sample_metadata"]
        row["id"] = str(metadata.get("original_id", item["index"]))
        row["category"] = metadata.get("category")
    return row


def provenance(bench: Benchmark) -> dict:
    """What eval/benchmarks.json records of a benchmark: where its data came from, under which licence."""
    from mhcompare.fetch.manifest import manifest_path
    from mhcompare.io import read_json

    path = manifest_path(bench.local_path)
    manifest = read_json(path) if path.exists() else {}
    return {"benchmark": bench.pretty, "evalscope": bench.evalscope, "dataset_id": bench.dataset_id,
            "homepage": bench.homepage, "licence": bench.licence,
            "scored_by": SCORED_BY.get(bench.evalscope, f"EvalScope's {bench.evalscope} adapter"),
            "subsets": list(bench.subsets),
            "few_shot_num": bench.few_shot_num, "local_path": str(bench.local_path),
            "fetched_from": manifest.get("request"), "revision": manifest.get("revision"),
            "fetched_at": manifest.get("fetched_at")}
