"""Commands that only read: they run once, in this process, and leave no multirun/ record.

    python run.py stage=status experiment=full       one table, not 15 jobs (the experiment asks for a sweep)
    python run.py stage=aggregate                    the report; no multirun/<date>/<time>/ folder
    python run.py model=qwen stage=train dry_run=true    the pre-flight check and the plan only
                                                     (a sweep's dry run is its launcher's, which leaves no record either)

and `--cfg job` prints its values resolved (`will_run:` then shows what will actually run).
"""
from hydra.core.override_parser.overrides_parser import OverridesParser

READ_ONLY_STAGES = ("status", "plan", "aggregate")
# one run here: no sweep, Hydra's log on the terminal only, no output folder of Hydra's own
AS_READ_ONLY = ["hydra.mode=RUN", "hydra.output_subdir=null", "hydra/job_logging=stdout", "hydra.run.dir=."]


def requested(overrides: list[str], key: str):
    """The value the command line gives `key` (None when it gives none or cannot be parsed)."""
    try:
        parsed = OverridesParser.create().parse_overrides([o for o in overrides if "=" in o])
    except Exception:  # noqa: BLE001 - Hydra itself reports a malformed override
        return None
    values = [o.value() for o in parsed if o.key_or_group == key and not o.is_sweep_override()]
    return values[-1] if values else None


def is_read_only(overrides: list[str]) -> bool:
    stage = requested(overrides, "stage")
    stages = [stage] if isinstance(stage, str) else list(stage or [])
    # the dry run of a single run; an experiment's asks for its sweep, which its launcher checks
    single_dry_run = requested(overrides, "dry_run") is True and requested(overrides, "experiment") is None
    return bool(stages) and all(s in READ_ONLY_STAGES for s in stages) or single_dry_run


def command_line(argv: list[str]) -> list[str]:
    """argv with what makes a read-only command leave no record (not for -m, which asks for a
    sweep: a dry run of a sweep is the launcher's, which removes the record itself)."""
    args = argv[1:]
    flags = [a for a in args if a.startswith("-")]
    if ("--cfg" in flags or "-c" in flags) and "job" in args and "--resolve" not in flags:
        return argv + ["--resolve"]
    if flags or not is_read_only(args):
        return argv
    return argv + AS_READ_ONLY
