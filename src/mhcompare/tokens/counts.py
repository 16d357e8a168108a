"""Run the template probe (swift_template_probe.py) in a model's runtime and read its answer."""
import json
import os
import tempfile
from pathlib import Path

from mhcompare.data.prepare import to_jsonl
from mhcompare.train.subprocess_run import check_not_stopped, run_streamed

PROBE = Path(__file__).resolve().parent / "swift_template_probe.py"


class ProbeError(RuntimeError):
    pass


def run_probe(python: str, command: str, model_dir: str, model_type: str, template: str, rows: list[dict],
              work_dir: Path, system: str | None = None) -> dict:
    work_dir = Path(work_dir)
    work_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=work_dir) as tmp:
        rows_path, out_path = Path(tmp) / "rows.jsonl", Path(tmp) / "out.json"
        rows_path.write_text(to_jsonl(rows), encoding="utf-8")
        log_path = work_dir / f"template_{command}.log"
        cmd = [python, str(PROBE), command, model_dir, model_type, template, str(rows_path), str(out_path)]
        result = run_streamed(cmd + ([system] if system is not None else []), log_path, env={**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"})
        check_not_stopped(result["returncode"], "token counting")
        if result["returncode"] != 0:
            raise ProbeError(f"encoding with {template} (ms-swift template, {model_type}) failed in {python}; "
                             f"log: {log_path}\n--- last lines ---\n{result['tail']}")
        return json.loads(out_path.read_text(encoding="utf-8"))


def template_lengths(python: str, model_dir: str, model_type: str, template: str, rows: list[dict],
                     work_dir: Path, system: str | None = None) -> list[int]:
    """Tokens per dialogue as training feeds them: the model's tokenizer and ms-swift template."""
    return run_probe(python, "lengths", model_dir, model_type, template, rows, work_dir, system)["lengths"]
