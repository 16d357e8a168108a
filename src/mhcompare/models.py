"""Where a model's files are: the fetched copy (stage=fetch), or a tiny model we build."""
from pathlib import Path

from mhcompare.config import resource_path

# tiny models whose modelling code only runs in an older transformers: built inside their runtime
REMOTE_CODE_ARCHITECTURES = ("chatglm3",)


def build_remote_code_tiny_model(cfg, corpus: Path) -> Path:
    from mhcompare.runtimes import runtime_python
    from mhcompare.train.subprocess_run import run_streamed

    out_dir = Path(str(cfg.model.path)).resolve()
    if (out_dir / "config.json").exists():
        return out_dir
    python = runtime_python(cfg.runtimes.root, cfg.model.runtime, cfg.model.name)
    script = Path(__file__).resolve().parent / "tiny" / "remote_code.py"
    cmd = [python, str(script), cfg.model.tiny.architecture, str(out_dir), "--corpus", str(corpus),
           "--seed", str(cfg.model.tiny.seed)]
    result = run_streamed(cmd, out_dir.parent / f"{out_dir.name}.build.log")
    if result["returncode"] != 0:
        raise RuntimeError(f"building the tiny {cfg.model.tiny.architecture} model failed:\n{result['tail']}")
    return out_dir


def model_location(cfg) -> str:
    """The local folder of this run's model: a tiny demo model is built first; a real model must
    have been fetched (stage=fetch), else this stops with the command that fetches it."""
    if cfg.model.tiny:
        from mhcompare.tiny.build import ensure_tiny_model
        corpus = Path(resource_path("demo_dialogues.jsonl"))
        if cfg.model.tiny.architecture in REMOTE_CODE_ARCHITECTURES:
            return str(build_remote_code_tiny_model(cfg, corpus))
        return str(ensure_tiny_model(cfg.model, corpus).resolve())
    from mhcompare.fetch.manifest import fetched_model_dir
    return str(fetched_model_dir(cfg))
