"""Where the report's numbers came from: the models as configured, the recipe, code and data
versions, the runtimes, and which runs of the grid are missing, unfinished or failed."""
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from mhcompare.config import CONF_DIR
from mhcompare.report.collect import STAGES, Collection

RUNTIME_LIBRARIES = ("torch", "transformers", "peft", "ms-swift")


@dataclass(frozen=True)
class ModelFacts:
    model: str
    display_name: str
    params_b: float | None
    license: str
    chinese: str
    context_length: int | None
    modelscope: str
    huggingface: str
    source: str  # which file the facts were read from
    runtimes: dict  # stage -> "default (torch ..., transformers ...)", from the runs' metrics


def model_facts(collection: Collection) -> list[ModelFacts]:
    """Facts from the first run's saved config.yaml of each model, else from conf/model/<name>.yaml,
    and the runtimes each ran with. One YAML parse per model, not per run.
    """
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    versions = runtime_versions(collection)
    facts = []
    for model in collection.models:
        saved = next((run for run in collection.runs if run.model == model and "config_sha256" in run.provenance), None)
        candidates = ([saved.folder / "config.yaml"] if saved else []) + [CONF_DIR / "model" / f"{model}.yaml"]
        source, node = "none found", {}
        for path in candidates:
            if path.exists():
                try:
                    loaded = yaml.load(path.read_text(encoding="utf-8"), Loader=loader) or {}
                except yaml.YAMLError as e:
                    collection.problems.append(f"{display_path(path, collection)}: not valid YAML ({e})")
                    continue
                node = loaded.get("model", loaded) if path.name == "config.yaml" else loaded
                source = display_path(path, collection)
                break
        given = node.get("facts") or {}
        hub = node.get("hub") or {}
        facts.append(ModelFacts(model, str(node.get("display_name") or model), given.get("params_b"),
                                str(given.get("license") or "unknown"), str(given.get("chinese") or "unknown"),
                                given.get("context_length"), str(hub.get("modelscope") or "—"),
                                str(hub.get("huggingface") or "—"), source, versions.get(model, {})))
    return facts


def display_path(path: Path, collection: Collection) -> str:
    """Relative to the experiment folder (run configs) or the repository (conf/ files)."""
    for root in (collection.experiment_dir, CONF_DIR.parent):
        try:
            return str(Path(path).relative_to(root))
        except ValueError:
            continue
    return str(path)


def runtime_versions(collection: Collection) -> dict[str, dict[str, str]]:
    """{model: {"train": "default (torch 2.5.1, transformers 4.51.3, ...)"}} in one pass over the
    runs; versions that differ between a model's seeds are all listed."""
    keys = ("name", *RUNTIME_LIBRARIES)
    seen: dict = {}
    for run in collection.runs:
        for stage in STAGES:
            for key in keys:
                value = run.metrics.get(f"{stage}.runtime.{key}")
                if value is not None:
                    seen.setdefault(run.model, {}).setdefault(stage, {}).setdefault(key, set()).add(str(value))
    versions = {}
    for model, stages in seen.items():
        for stage, found in stages.items():
            joined = {key: " / ".join(sorted(found[key])) for key in keys if key in found}
            libraries = ", ".join(f"{key} {value}" for key, value in joined.items() if key != "name")
            name = joined.get("name", "runtime")
            versions.setdefault(model, {})[stage] = f"{name} ({libraries})" if libraries else name
    return versions


def counts(collection: Collection, key: str) -> list[tuple[str, int]]:
    """[(value, runs)] of a provenance field, most common first; runs without it count as "—"."""
    counter = Counter(str(run.provenance.get(key) or "—") for run in collection.runs)
    return sorted(counter.items(), key=lambda item: (-item[1], item[0]))


def expected_grid(collection: Collection, models=None, seeds=None) -> tuple[list[str], list[int]]:
    """The grid the runs should fill: given lists, else every model and seed that appears."""
    models = sorted(models) if models else collection.models
    seeds = sorted(int(s) for s in seeds) if seeds else sorted({run.seed for run in collection.runs})
    return models, seeds


def missing_runs(collection: Collection, models: list[str], seeds: list[int]) -> list[str]:
    present = {(run.model, run.seed) for run in collection.runs}
    return [f"{m}/seed{s}" for m in models for s in seeds if (m, s) not in present]


def stage_counts(collection: Collection) -> dict[str, Counter]:
    """{stage: Counter(done=.., unfinished=.., failed=.., not started=..)}."""
    return {stage: Counter(run.status.get(stage, "not started") for run in collection.runs) for stage in STAGES}
