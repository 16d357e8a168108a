"""Pre-flight: every job of a request is checked before anything is queued or run.

A value that cannot work (`train.swift.learning_rate=abc`, `seed=-1`), a model not fetched, a
runtime not built or a request the Slurm partition cannot hold would otherwise show up inside
the job: after the queue wait, as a traceback hundreds of lines long. Both launchers
(hydra_plugins.mhcompare_launcher) and a single run (mhcompare.stages.run_stages) call
`check(...)` first; an invalid request stops in seconds with one message per problem, exit 1,
with nothing queued, run or recorded.

What is checked, per job:
- seed: a non-negative integer;
- the LoRA recipe: the shared effective-batch and packing rules (train.recipe), a few ranges no
  parser knows (a learning rate above 0, ...), and every `swift sft` argument the train stage
  would pass, parsed by ms-swift's own argument parser in this process (types, choices, unknown
  names). The recipe is shared by every model, so ms-swift 4's parser also checks the types the
  legacy runtime (ms-swift 3) gets, renamed for it by recipe.for_swift_version;
- the model fetched and its files as its manifest lists them (fetch.manifest.fetched_model_dir,
  the check every stage makes), unless the job fetches it first (`stage=[fetch,...]`);
- the runtimes its stages need built (mhcompare.runtimes), unless the job builds them first;
and for Slurm: the binaries there, the controller answering, the partition known and able to
hold the request (CPUs, memory, GPUs, time limit as sinfo reports them).

`dry_run=true` prints the jobs that would be queued (or run) and the ones skipped, with why,
and exits without queuing anything.
"""
import argparse
import functools
import importlib.util
import logging
import os
import shutil
from pathlib import Path

from mhcompare.config import as_list
from mhcompare.errors import UserError

log = logging.getLogger(__name__)

# stages that read the fetched model, and the ones that run in a runtime
NEEDS_MODEL = ("train", "eval", "judge")
NEEDS_TRAINING_RUNTIME = ("train",)
NEEDS_SERVING_RUNTIME = ("eval", "judge")
# ranges of recipe values that argument types alone do not catch: (name, test, what it must be)
RECIPE_RANGES = (
    ("learning_rate", lambda v: v > 0, "above 0"),
    ("num_train_epochs", lambda v: v > 0, "above 0"),
    ("lora_rank", lambda v: v >= 1, "1 or more"),
    ("lora_alpha", lambda v: v > 0, "above 0"),
    ("lora_dropout", lambda v: 0 <= v < 1, "in [0, 1)"),
    ("warmup_ratio", lambda v: 0 <= v <= 1, "in [0, 1]"),
    ("weight_decay", lambda v: v >= 0, "0 or more"),
    ("max_length", lambda v: v >= 1, "1 or more"),
)


class PreflightFailed(UserError):
    pass


def before(stages: list[str], first: str, later: tuple) -> bool:
    """Whether `first` runs in this job before every stage of `later` it runs."""
    if first not in stages:
        return False
    return all(stages.index(first) < stages.index(s) for s in later if s in stages)


def job_problems(cfg, gpus: int) -> list[str]:
    """What stops this (model, seed) job, each as a message saying what to do; [] when it can run."""
    from mhcompare.stages import EXPERIMENT_STAGES, STAGES

    stages = as_list(cfg.stage)
    unknown = [s for s in stages if s not in STAGES]
    if unknown:
        return [f"unknown stage {unknown[0]!r}; choose from {', '.join(STAGES)} (or a list such as "
                f"stage=[prepare,train])"]
    if all(s in EXPERIMENT_STAGES for s in stages):
        return []
    problems = []
    if not isinstance(cfg.seed, int) or isinstance(cfg.seed, bool) or cfg.seed < 0:
        problems.append(f"seed={cfg.seed!r}: a seed is a whole number 0 or more, e.g. seed=0 or -m seed=0,1,2")
    problems += experiment_problems(cfg)
    if "train" in stages:
        problems += recipe_problems(cfg, gpus)
    if any(s in stages for s in NEEDS_MODEL) and not cfg.model.tiny and not before(stages, "fetch", NEEDS_MODEL):
        problems += model_problems(cfg)
    if "eval" in stages and importlib.util.find_spec("evalscope") is None:
        problems.append("stage eval needs EvalScope, which this interpreter lacks: pip install -c "
                        "requirements/constraints.txt -e '.[train,eval]'")
    if not before(stages, "runtime", NEEDS_TRAINING_RUNTIME + NEEDS_SERVING_RUNTIME):
        problems += runtime_problems(cfg, stages, gpus)
    return problems


def experiment_problems(cfg) -> list[str]:
    """Tiny random-weight models and real ones never share an experiment's folder and report."""
    from mhcompare.config import DEMO_EXPERIMENT, REAL_MODELS_EXPERIMENT

    name = str(cfg.experiment_name)
    if not cfg.model.tiny and name == DEMO_EXPERIMENT:
        return [f"experiment_name={name} holds the tiny random-weight demo models; {cfg.model.name} is a real model: "
                f"use experiment=full, experiment_name={REAL_MODELS_EXPERIMENT} (the default for a real model), "
                f"or a name of your own"]
    if cfg.model.tiny and name in ("full", "smoke", REAL_MODELS_EXPERIMENT):
        return [f"{cfg.model.name} is a tiny random-weight model and experiment_name={name} holds real models' "
                f"results: use experiment_name={DEMO_EXPERIMENT} (its default) or a name of your own"]
    return []


def model_problems(cfg) -> list[str]:
    """The fetched copy as every stage finds it (fetch.manifest's own check, whatever it verifies)."""
    from mhcompare.fetch.manifest import fetched_model_dir

    try:
        fetched_model_dir(cfg)
    except UserError as missing:
        return [str(missing)]
    return []


def runtime_problems(cfg, stages: list[str], gpus: int) -> list[str]:
    from mhcompare.runtimes import DEFAULT, RuntimeMissing, runtime_python, runtimes_used

    names = []
    if any(s in stages for s in NEEDS_TRAINING_RUNTIME):
        names.append(str(cfg.model.runtime))
    if any(s in stages for s in NEEDS_SERVING_RUNTIME):
        names += runtimes_used(cfg, gpus)
    problems = []
    for name in dict.fromkeys(n for n in names if n != DEFAULT):
        try:
            runtime_python(cfg.runtimes.root, name, cfg.model.name)
        except RuntimeMissing as missing:
            problems.append(str(missing))
    return problems


def recipe_problems(cfg, gpus: int) -> list[str]:
    """The recipe as the train stage resolves it, its ranges, and ms-swift's parse of its arguments."""
    from mhcompare.errors import ConfigError
    from mhcompare.stages.train import build_swift_args
    from mhcompare.train.recipe import as_cli, resolve_recipe

    try:
        recipe, _ = resolve_recipe(cfg, gpus)
    except ConfigError as error:
        return [str(error)]
    except (ValueError, TypeError) as error:  # int('abc') of a batch size
        return [f"train: {error}"]
    argv = as_cli(build_swift_args(cfg, str(cfg.model.path), {"train": "train.jsonl", "val": "val.jsonl"},
                                   "swift-output", recipe))
    problems = list(swift_parse_problems(tuple(argv)))
    if problems:  # a value of the wrong type has no range to check
        return problems
    for name, ok, what in RECIPE_RANGES:
        value = recipe.get(name)
        if isinstance(value, (int, float)) and not isinstance(value, bool) and not ok(value):
            problems.append(f"train.swift.{name}={value}: must be {what}")
    return problems


@functools.lru_cache(maxsize=None)
def swift_parse_problems(argv: tuple) -> tuple[str, ...]:
    """`swift sft ARGV` as ms-swift parses it, without running it: each argument it refuses."""
    try:
        parser = swift_sft_parser()
    except ImportError as error:
        return (f"ms-swift is not installed in this interpreter ({error}); install the training extra: "
                f"pip install -e '.[train,eval]'",)
    problems = []
    argv = list(argv)
    while True:
        try:
            _, remaining = parser.parse_known_args(argv)
        except argparse.ArgumentError as error:
            problems.append(recipe_setting(error))
            if error.argument_name is None:
                break
            argv = drop_argument(argv, error.argument_name)
            continue
        problems += [f"train.swift.{r.lstrip('-')}: not an argument ms-swift's `swift sft` knows"
                     for r in remaining if r.startswith("--")]
        return tuple(problems)
    return tuple(problems)


def recipe_setting(error: argparse.ArgumentError) -> str:
    """`argument --learning_rate/--learning-rate: invalid float value: 'abc'` as the setting to change."""
    name = (error.argument_name or "").split("/")[0].lstrip("-")
    return f"train.swift.{name}: ms-swift refuses it: {error.message}" if name else f"ms-swift: {error}"


def drop_argument(argv: list[str], argument_name: str) -> list[str]:
    """argv without the refused argument and its values, to find the next problem."""
    flags = set(argument_name.split("/"))
    out, skipping = [], False
    for item in argv:
        if item in flags:
            skipping = True
            continue
        if skipping and not item.startswith("--"):
            continue
        skipping = False
        out.append(item)
    return out


@functools.lru_cache(maxsize=1)
def swift_sft_parser():
    """ms-swift's own parser of `swift sft` (swift.utils.parse_args builds it the same way)."""
    quiet = os.environ.setdefault("LOG_LEVEL", "WARNING") == "WARNING"  # ms-swift logs its registry at import
    # ms-swift's logger sets the root logger's stream handlers to ERROR when imported, which would
    # silence this process's own log (the sweep summary among it): their levels are put back
    levels = {handler: handler.level for handler in logging.root.handlers}
    try:
        from swift.arguments import SftArguments
        from swift.utils.utils import _patch_get_type_hints
        from transformers import HfArgumentParser
    finally:
        if quiet:
            os.environ.pop("LOG_LEVEL", None)
        for handler, level in levels.items():
            handler.setLevel(level)

    with _patch_get_type_hints():
        parser = HfArgumentParser([SftArguments])
    parser.exit_on_error = False  # an ArgumentError to report, not a usage text and exit 2
    return parser


def slurm_problems(params: dict) -> list[str]:
    """Slurm there and answering, and the partition able to hold one job's request."""
    from mhcompare import slurm

    if not shutil.which("sbatch") or not shutil.which("sinfo"):
        return ["hydra/launcher=slurm (experiment=full and experiment=smoke use it): Slurm is not installed on "
                "this machine (no sbatch or sinfo on PATH). Run the command on the cluster's login node, or run "
                "the jobs here one after another with hydra/launcher=local"]
    answer = slurm.ask(["sinfo", "-h", "-o", "%P"])
    if answer.returncode != 0:
        reason = (answer.stderr.strip().splitlines() or ["no reason given"])[-1].removeprefix("sinfo: ")
        return [f"Slurm is installed but its controller does not answer (sinfo: {reason}); nothing was queued. "
                f"Check that slurmctld runs and that SLURM_CONF points at the cluster's slurm.conf, or ask the "
                f"cluster's admins"]
    partition = params.get("partition")
    if not partition:
        return []
    known = [p.strip().rstrip("*") for p in answer.stdout.splitlines() if p.strip()]
    if partition not in known:
        return [f"hydra.launcher.partition={partition}: Slurm has no such partition; it has {', '.join(known)}"]
    problems = []
    nodes = slurm.partition_nodes(partition)
    request = {"cpus_per_task": params.get("cpus_per_task"), "mem_gb": params.get("mem_gb"),
               "gpus_per_node": params.get("gpus_per_node"), "timeout_min": params.get("timeout_min")}
    for key, value in request.items():
        if value is None:
            continue
        most = max((node[key] for node in nodes), default=None)
        if most is not None and value > most:
            unit = {"mem_gb": " GB", "timeout_min": " min"}.get(key, "")
            problems.append(f"hydra.launcher.{key}={value}: partition {partition} offers at most {most:g}{unit} "
                            f"({slurm.partition_offer(partition)}); lower it, or choose another partition")
    return problems


def check(jobs: list, slurm_params: dict | None, gpus: int) -> None:
    """Stop with every problem of these jobs' configs (and of Slurm, when they go there)."""
    problems = {}
    for problem in slurm_problems(slurm_params) if slurm_params is not None else []:
        problems.setdefault(problem, [])
    for name, cfg in jobs:
        for problem in job_problems(cfg, gpus):
            problems.setdefault(problem, []).append(name)
    if problems:
        raise PreflightFailed(describe(problems, len(jobs)))


def describe(problems: dict[str, list[str]], jobs: int) -> str:
    """One paragraph per problem, with the jobs it concerns when it is not every job."""
    lines = [f"{len(problems)} problem(s) found before anything was queued or run; nothing was:"]
    for problem, names in problems.items():
        where = f"[{', '.join(names)}] " if names and len(names) < jobs else ""
        lines.append(f"  - {where}{problem}")
    return "\n".join(lines)


def job_name(cfg) -> str:
    return f"{cfg.model.name} seed{cfg.seed}"


def discard_record(sweep_dir: Path) -> None:
    """Remove the sweep record Hydra opened (only multirun.yaml in it) when nothing was launched,
    and the folders above it that this leaves empty (multirun/<date>/)."""
    sweep_dir = Path(sweep_dir)
    (sweep_dir / "multirun.yaml").unlink(missing_ok=True)
    for folder in (sweep_dir, sweep_dir.parent, sweep_dir.parent.parent):  # multirun/<date>/<time>
        try:
            folder.rmdir()
        except OSError:
            return


def print_plan(to_run: list[tuple[str, str]], skipped: list[tuple[str, str]], where: str) -> None:
    print(f"dry run: {len(to_run)} job(s) would be {where}, {len(skipped)} skipped; nothing was.", flush=True)
    for name, why in to_run:
        print(f"  {where:>7}  {name}  ({why})")
    for name, why in skipped:
        print(f"  skipped  {name}  ({why})")


def gpus_of(params: dict) -> int:
    value = params.get("gpus_per_node")
    return int(value) if isinstance(value, int) else 0
