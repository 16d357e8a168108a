"""stage=fetch: one copy of each model with a manifest; repairs in the copy; jobs without it stop."""
import hashlib
import shutil
import subprocess
import sys
import threading

import pytest

from conftest import REPO, run_py
from mhcompare.fetch.manifest import MANIFEST
from mhcompare.fetch.repairs import RepairError, apply_repairs, baichuan_tokenizer_order
from mhcompare.io import read_json
from support.real_models import fixture_dir, runtime_python

FETCH = ["stage=fetch", "tracking=none"]


def said(result) -> str:
    """What run.py printed: Hydra logs to stdout, errors go to stderr."""
    return result.stdout + result.stderr


def sha(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def writable_copy(src, dst):
    shutil.copytree(src, dst)
    for path in [dst, *dst.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    return dst


@pytest.mark.slow
def test_the_baichuan2_repair_makes_the_published_tokenizer_load_and_a_second_repair_changes_nothing(
        tmp_path, runtimes_root):
    """On the original tokenization_baichuan.py, in the runtime Baichuan2 uses (transformers 4.41.2)."""
    folder = writable_copy(fixture_dir("baichuan"), tmp_path / "baichuan2")
    python = runtime_python(runtimes_root, "baichuan")
    load = ("import sys, sentencepiece as spm\nfrom transformers import AutoTokenizer\n"
            "t = AutoTokenizer.from_pretrained(sys.argv[1], trust_remote_code=True, use_fast=False)\n"
            "sp = spm.SentencePieceProcessor(model_file=sys.argv[1] + '/tokenizer.model')\n"
            "text = '我最近总是睡不着，心里很乱。'\n"
            "assert t.encode(text, add_special_tokens=False) == sp.encode(text), 'ids differ from SentencePiece'\n"
            "print('LOADED', t.vocab_size)\n")
    before = subprocess.run([python, "-c", load, str(folder)], capture_output=True, text=True, timeout=300)
    assert before.returncode != 0 and "object has no attribute 'sp_model'" in before.stderr

    record = baichuan_tokenizer_order(folder)
    assert record["sha256_before"] == sha(fixture_dir("baichuan") / "tokenization_baichuan.py")
    assert record["sha256_after"] == sha(folder / "tokenization_baichuan.py") != record["sha256_before"]
    after = subprocess.run([python, "-c", load, str(folder)], capture_output=True, text=True, timeout=300)
    assert after.returncode == 0 and "LOADED 125696" in after.stdout, after.stderr[-2000:]

    repaired = (folder / "tokenization_baichuan.py").read_bytes()
    assert apply_repairs(folder, ["baichuan_tokenizer_order"]) == []
    assert (folder / "tokenization_baichuan.py").read_bytes() == repaired


def test_a_file_that_is_neither_published_nor_repaired_is_refused(tmp_path):
    (tmp_path / "tokenization_baichuan.py").write_text("class BaichuanTokenizer:\n    pass\n")
    with pytest.raises(RepairError, match="tokenization_baichuan.py: neither the published nor the repaired"):
        baichuan_tokenizer_order(tmp_path)
    with pytest.raises(RepairError, match="unknown repair 'nope'"):
        apply_repairs(tmp_path, ["nope"])


def test_fetch_from_a_folder_writes_a_manifest_repairs_the_copy_and_never_the_source(tmp_path):
    source = fixture_dir("baichuan")  # read-only, as a colleague's shared copy would be
    source_sha = sha(source / "tokenization_baichuan.py")
    models = tmp_path / "models"
    out = run_py("model=baichuan", f"model.source={source}", f"paths.models={models}", f"paths.outputs={tmp_path}",
                 *FETCH)
    assert out.returncode == 0, out.stderr[-3000:]
    target = models / "baichuan"
    manifest = read_json(target / MANIFEST)
    assert manifest["request"] == {"kind": "local", "path": str(source), "repairs": ["baichuan_tokenizer_order"]}
    assert [r["file"] for r in manifest["repairs"]] == ["tokenization_baichuan.py"]
    assert sha(source / "tokenization_baichuan.py") == source_sha, "the source was edited"
    assert sha(target / "tokenization_baichuan.py") == manifest["repairs"][0]["sha256_after"] != source_sha
    copied = sorted(p.name for p in target.iterdir() if p.name != MANIFEST)
    assert copied == sorted(manifest["files"]) == sorted(p.name for p in source.iterdir())
    assert all(manifest["files"][n]["sha256"] == sha(target / n) for n in copied)
    assert not list(models.glob(".baichuan.partial*"))

    again = run_py("model=baichuan", f"model.source={source}", f"paths.models={models}", f"paths.outputs={tmp_path}",
                   *FETCH)
    assert again.returncode == 0 and "baichuan is up to date" in said(again)
    assert read_json(target / MANIFEST) == manifest


def test_weights_are_linked_not_copied_and_a_changed_copy_is_noticed(tmp_path):
    source = tmp_path / "Qwen2.5-7B-Instruct"
    source.mkdir()
    shutil.copy(fixture_dir("qwen") / "config.json", source / "config.json")
    (source / "model-00001-of-00002.safetensors").write_bytes(b"\0" * 4096)
    (source / ".cache").mkdir()  # a hub client's bookkeeping is not part of the model
    (source / ".cache" / "x.lock").write_text("")
    models = tmp_path / "models"
    args = ["model=qwen", f"model.source={source}", f"paths.models={models}", f"paths.outputs={tmp_path}"]
    assert run_py(*args, *FETCH).returncode == 0
    weights = models / "qwen" / "model-00001-of-00002.safetensors"
    assert weights.stat().st_ino == (source / weights.name).stat().st_ino
    assert sorted(read_json(models / "qwen" / MANIFEST)["files"]) == ["config.json", weights.name]

    weights.unlink()
    broken = run_py(*args, "stage=train", "tracking=none")
    assert broken.returncode != 0
    assert "does not match its manifest" in said(broken) and "stage=fetch force=true" in said(broken)


def test_a_job_whose_model_was_never_fetched_stops_with_the_command_that_fetches_it(tmp_path):
    out = run_py("model=llama", f"paths.models={tmp_path / 'models'}", f"paths.outputs={tmp_path}",
                 "stage=train", "tracking=none")
    assert out.returncode != 0
    assert "Llama-3.1-8B-Instruct has not been fetched" in said(out)
    assert "python run.py model=llama stage=fetch" in said(out)
    assert not (tmp_path / "trial" / "llama" / "seed0" / "train" / "done.json").exists()


def test_jobs_fetching_the_same_model_at_once_take_turns(tmp_path):
    source = fixture_dir("llama")
    models = tmp_path / "models"
    results = [None, None]

    def fetch(i):
        results[i] = subprocess.run(
            [sys.executable, str(REPO / "run.py"), "model=llama", f"model.source={source}", f"paths.models={models}",
             f"paths.outputs={tmp_path / str(i)}", *FETCH], capture_output=True, text=True, timeout=300)

    threads = [threading.Thread(target=fetch, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(r.returncode == 0 for r in results), [r.stderr[-2000:] for r in results]
    logs = [said(r) for r in results]
    assert sum("fetch: copying" in log for log in logs) == 1, "the second job must find the work done"
    assert sum("llama is up to date" in log for log in logs) == 1
    assert sorted(read_json(models / "llama" / MANIFEST)["files"]) == sorted(p.name for p in source.iterdir())
