"""Every `python run.py ...` command of README.md and docs/*.md, read from the documents themselves
(so documents and test cannot drift apart), composed as run.py composes it: the launcher, the
experiment name and the stages each resolves to. Commands documented for the cluster must reach
Slurm; the rest run here."""
import itertools
import re
import shlex

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.override_parser.overrides_parser import OverridesParser

from conftest import REPO
from mhcompare.config import CONF_DIR
from mhcompare.readonly import command_line

DOCUMENTS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
SLURM = "hydra_plugins.mhcompare_launcher.SlurmLauncher"
LOCAL = "hydra_plugins.mhcompare_launcher.LocalLauncher"
FIVE = ["qwen", "llama", "chatglm", "internlm", "baichuan"]

# the commands docs/slurm.md documents for the cluster, and what each must resolve to
SLURM_COMMANDS = {
    "python run.py experiment=full": {
        "experiment_name": "full", "stage": ["prepare", "train", "eval"], "models": FIVE, "seeds": [0, 1, 2]},
    "python run.py experiment=smoke": {
        "experiment_name": "smoke", "stage": ["prepare", "train", "eval"], "models": FIVE, "seeds": [0]},
    "python run.py -m model=qwen,llama,chatglm,internlm,baichuan seed=0,1,2 stage=[prepare,train,eval] "
    "hydra/launcher=slurm": {
        "experiment_name": "trial", "stage": ["prepare", "train", "eval"], "models": FIVE, "seeds": [0, 1, 2]},
    "python run.py experiment=full seed=0 model=qwen": {
        "experiment_name": "full", "stage": ["prepare", "train", "eval"], "models": ["qwen"], "seeds": [0]},
    "python run.py experiment=full dry_run=true": {
        "experiment_name": "full", "stage": ["prepare", "train", "eval"], "models": FIVE, "seeds": [0, 1, 2]},
    "python run.py experiment=full hydra.launcher.gpus_per_node=2": {
        "experiment_name": "full", "stage": ["prepare", "train", "eval"], "models": FIVE, "seeds": [0, 1, 2],
        "gpus_per_node": 2},
}


def documented_commands() -> list[tuple[str, str]]:
    """[(document name, command)] for every `python run.py` command: in code blocks (a `\\` at
    the end of a line continues it) and in inline code."""
    found = []
    for path in DOCUMENTS:
        text = path.read_text(encoding="utf-8").replace("\\\n", " ")
        for line in text.splitlines():
            stripped = line.strip()
            if stripped.startswith("python run.py") and line.startswith((" " * 4, "\t")):
                found.append((path.name, " ".join(shlex.split(stripped, comments=True))))
        for inline in re.findall(r"`(python run\.py[^`]*)`", text):
            found.append((path.name, " ".join(shlex.split(inline, comments=True))))
    return sorted(set(found))


def resolve(command: str) -> dict:
    """What run.py makes of the command: mode, launcher, experiment name, stages and the jobs."""
    argv = command_line(shlex.split(command)[1:])  # run.py's own adjustment of read-only commands
    args = argv[1:]
    multirun = any(a in ("-m", "--multirun") for a in args)
    overrides = [a for a in args if not a.startswith("-")]
    parsed = OverridesParser.create().parse_overrides(overrides)
    sweeps = {o.get_key_element(): [str(v) for v in o.sweep_iterator()] for o in parsed if o.is_sweep_override()}
    plain = [o.input_line for o in parsed if not o.is_sweep_override()]
    first = [f"{key}={values[0]}" for key, values in sweeps.items()]
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose(config_name="config", overrides=plain + first, return_hydra_config=True)
    params = {str(k): str(v).split(",") for k, v in (cfg.hydra.sweeper.params or {}).items()}
    # as Hydra's basic sweeper merges them: the command line's value of a key wins over the experiment's list
    params.update({o.get_key_element(): [str(o.value())] for o in parsed if not o.is_sweep_override()
                   and o.get_key_element() in params})
    params.update(sweeps)
    jobs = list(itertools.product(*params.values())) if params else [()]
    job_values = [dict(zip(params, job)) for job in jobs]
    stage = cfg.stage if isinstance(cfg.stage, str) else list(cfg.stage)
    return {"mode": "MULTIRUN" if multirun or str(cfg.hydra.mode) == "RunMode.MULTIRUN" else "RUN",
            "launcher": cfg.hydra.launcher._target_, "experiment_name": cfg.experiment_name,
            "stage": [stage] if isinstance(stage, str) else stage,
            "models": sorted({j.get("model", cfg.model.name) for j in job_values}, key=lambda m: (FIVE + [m]).index(m)),
            "seeds": sorted({int(j.get("seed", cfg.seed)) for j in job_values}),
            "gpus_per_node": cfg.hydra.launcher.get("gpus_per_node")}


def meant_for_slurm(command: str) -> bool:
    words = command.split()
    if "hydra/launcher=local" in words or any(w in words for w in ("--help", "--cfg", "-c", "--info")):
        return False
    stage = next((w.split("=", 1)[1] for w in words if w.startswith("stage=")), "")
    read_only = stage in ("status", "plan", "aggregate")
    return not read_only and ("hydra/launcher=slurm" in words or any(
        w in words for w in ("experiment=full", "experiment=smoke")))


COMMANDS = documented_commands()


def test_the_documents_hold_the_commands_this_test_reads():
    assert len(COMMANDS) >= 15, COMMANDS
    assert any(command == "python run.py experiment=full" for _, command in COMMANDS)


@pytest.mark.parametrize("document, command", COMMANDS, ids=[c for _, c in COMMANDS])
def test_every_documented_command_composes_to_the_launcher_it_is_meant_for(document, command):
    words = command.split()
    if any(w in words for w in ("--help", "--hydra-help", "--info")):
        pytest.skip("prints help; test_help_is_short_and_says_what_a_researcher_needs runs it")
    if "--cfg" in words:  # prints the config: it must compose, and launches nothing
        resolve(command.replace("--cfg job", "").replace("--cfg hydra", ""))
        return
    resolved = resolve(command)
    if meant_for_slurm(command):
        assert (resolved["mode"], resolved["launcher"]) == ("MULTIRUN", SLURM), (document, resolved)
    else:
        assert resolved["mode"] == "RUN" or resolved["launcher"] == LOCAL, (document, resolved)
    if command in SLURM_COMMANDS:
        expected = SLURM_COMMANDS[command]
        assert {k: resolved[k] for k in expected} == expected, (document, resolved)
    if not any(w.startswith(("experiment=", "experiment_name=")) for w in words):
        real = any(m in resolved["models"] for m in FIVE + ["qwen3guard"])
        assert resolved["experiment_name"] == ("trial" if real else "demo"), (document, resolved)


def test_every_slurm_command_of_the_table_is_documented_in_slurm_md():
    documented = {command for document, command in COMMANDS if document == "slurm.md"}
    assert set(SLURM_COMMANDS) <= documented, set(SLURM_COMMANDS) - documented


@pytest.mark.parametrize("command", ["python run.py stage=status experiment=full",
                                     "python run.py experiment=full stage=aggregate"])
def test_read_only_commands_of_an_experiment_run_once_here(command):
    resolved = resolve(command)
    assert resolved["mode"] == "RUN" and resolved["experiment_name"] == "full"
