"""stage=fetch: one copy of each model with a manifest; repairs in the copy; jobs without it stop."""
import hashlib
import http.server
import json
import shutil
import subprocess
import sys
import threading
import zipfile

import pytest

from conftest import REPO, compose_config, run_py
from mhcompare.fetch.manifest import MANIFEST
from mhcompare.fetch.repairs import RepairError, apply_repairs, baichuan_tokenizer_order
from mhcompare.fetch.revision import hub_commit
from mhcompare.fetch.verify import check_model_folder, weight_problems
from mhcompare.io import read_json
from support.model_folders import (folder_without_weights, read_only_tree, runnable_folder, write_raw_safetensors,
                                   write_weights)
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
    source = read_only_tree(runnable_folder("baichuan", tmp_path / "Baichuan2-7B-Chat"))  # as a colleague's copy
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


def test_the_copy_owns_its_bytes_and_a_changed_copy_is_fetched_again_from_the_recorded_source(tmp_path):
    """Weights are copied (a reflink where the file system can), never hard-linked: writing into
    the copy leaves the source as it was; the advice on the changed copy repeats model.source."""
    source = runnable_folder("qwen", tmp_path / "Qwen2.5-7B-Instruct")
    (source / ".cache").mkdir()  # a hub client's bookkeeping is not part of the model
    (source / ".cache" / "x.lock").write_text("")
    source_weights = sha(source / "model.safetensors")
    models = tmp_path / "models"
    args = ["model=qwen", f"model.source={source}", f"paths.models={models}", f"paths.outputs={tmp_path}"]
    assert run_py(*args, *FETCH).returncode == 0
    weights = models / "qwen" / "model.safetensors"
    with open(weights, "r+b") as f:  # a user's edit of the copy, in place
        f.seek(200)
        f.write(b"edited")
    assert sha(source / "model.safetensors") == source_weights, "writing into the copy changed the source"
    assert weights.stat().st_ino != (source / weights.name).stat().st_ino
    manifest = read_json(models / "qwen" / MANIFEST)
    assert "copy_file_range" in manifest["copy"] and "never linked" in manifest["copy"]
    assert ".cache/x.lock" not in manifest["files"] and "model.safetensors" in manifest["files"]

    weights.unlink()
    broken = run_py(*args[:1], *args[2:], "stage=train", "tracking=none")  # model.source left at its default
    assert broken.returncode == 1 and "Traceback" not in said(broken)
    assert "does not match its manifest" in said(broken)
    assert f"python run.py model=qwen stage=fetch force=true model.source={source}" in said(broken)


def test_a_job_whose_model_was_never_fetched_stops_with_the_command_that_fetches_it(tmp_path):
    out = run_py("model=llama", f"paths.models={tmp_path / 'models'}", f"paths.outputs={tmp_path}",
                 "stage=train", "tracking=none")
    assert out.returncode != 0
    assert "Llama-3.1-8B-Instruct has not been fetched" in said(out)
    assert "python run.py model=llama stage=fetch" in said(out)
    assert not (tmp_path / "trial" / "llama" / "seed0" / "train" / "done.json").exists()


def test_jobs_fetching_the_same_model_at_once_take_turns(tmp_path):
    source = runnable_folder("llama", tmp_path / "Llama-3.1-8B-Instruct")
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


# --------------------------------------------------------------------------------- what fetch refuses

def model_cfg(name: str):
    return compose_config([f"model={name}"]).model


def refused(tmp_path, model: str, source) -> str:
    """Fetch `source` as `model`: the refusal, as a user sees it (exit status 1, no traceback)."""
    models = tmp_path / "models"
    out = run_py(f"model={model}", f"model.source={source}", f"paths.models={models}", f"paths.outputs={tmp_path}",
                 *FETCH)
    assert out.returncode == 1, said(out)[-3000:]
    assert "Traceback" not in said(out)
    assert not (models / model).exists() and not list(models.glob(f".{model}.partial*")), "a half-fetched folder"
    assert f"python run.py model={model} stage=fetch force=true model.source={source}" in said(out)
    return said(out)


def test_a_folder_without_weights_is_refused(tmp_path):
    message = refused(tmp_path, "qwen", folder_without_weights("qwen", tmp_path / "Qwen2.5-7B-Instruct"))
    assert "Qwen2.5-7B-Instruct from" in message and "cannot be trained or served" in message
    assert "no weights: neither model.safetensors.index.json" in message


def test_a_qwen_folder_fetched_as_llama_is_refused(tmp_path):
    message = refused(tmp_path, "llama", runnable_folder("qwen", tmp_path / "Qwen2.5-7B-Instruct"))
    assert "config.json says architectures ['Qwen2ForCausalLM'] (expected LlamaForCausalLM)" in message
    assert "model_type 'qwen2' (expected 'llama')" in message
    assert "this folder holds another model than Llama-3.1-8B-Instruct" in message


def test_a_truncated_safetensors_file_is_refused(tmp_path):
    folder = runnable_folder("qwen", tmp_path / "qwen")
    weights = folder / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-100])  # an interrupted copy
    problems = check_model_folder(folder, model_cfg("qwen"))
    assert problems == [f"{weights}: tensor lm_head.weight ends at byte 4096, past the end of the file (the data "
                        f"part of the file has 3996 bytes): the file is truncated or damaged; copy it again"]
    weights.write_bytes(weights.read_bytes()[:50])  # cut inside the header
    assert "its header claims" in check_model_folder(folder, model_cfg("qwen"))[0]
    weights.write_bytes(b"")
    assert "too short to be a safetensors file" in check_model_folder(folder, model_cfg("qwen"))[0]


def test_a_header_that_points_past_the_end_of_the_file_is_refused(tmp_path):
    folder = folder_without_weights("llama", tmp_path / "llama")
    write_raw_safetensors(folder / "model.safetensors",
                          {"a": {"dtype": "F32", "shape": [2, 2], "data_offsets": [0, 16]},
                           "b": {"dtype": "F32", "shape": [4], "data_offsets": [16, 32]}}, b"\0" * 24)
    assert check_model_folder(folder, model_cfg("llama")) == [
        f"{folder / 'model.safetensors'}: tensor b ends at byte 32, past the end of the file (the data part of the "
        f"file has 24 bytes): the file is truncated or damaged; copy it again"]
    write_raw_safetensors(folder / "model.safetensors",
                          {"a": {"dtype": "BF16", "shape": [2, 2], "data_offsets": [0, 16]}}, b"\0" * 16)
    assert "takes 16 bytes where BF16 [2, 2] needs 8" in check_model_folder(folder, model_cfg("llama"))[0]


def test_shards_are_checked_as_the_index_names_them(tmp_path):
    folder = folder_without_weights("qwen", tmp_path / "qwen")
    (folder / "model.safetensors.index.json").write_text(json.dumps({"weight_map": {
        "embed.weight": "model-00001-of-00002.safetensors", "lm_head.weight": "model-00002-of-00002.safetensors",
        "norm.weight": "model-00002-of-00002.safetensors"}}))
    write_weights(folder / "model-00001-of-00002.safetensors", {"embed.weight": (4, 4)})
    problems = check_model_folder(folder, model_cfg("qwen"))
    assert problems == [f"{folder}: 1 of the 2 weight files model.safetensors.index.json names are missing "
                        f"(model-00002-of-00002.safetensors); copy them into the folder"]
    write_weights(folder / "model-00002-of-00002.safetensors", {"lm_head.weight": (4, 4)})
    assert check_model_folder(folder, model_cfg("qwen")) == [
        f"{folder / 'model-00002-of-00002.safetensors'}: 1 tensor(s) that model.safetensors.index.json places in "
        f"this file are not in it (e.g. norm.weight); the file and the index come from different versions"]


def test_a_truncated_pytorch_bin_is_refused(tmp_path):
    """A .bin is a zip archive whose directory sits at its end (torch >= 1.6): cut, it is unreadable."""
    folder = folder_without_weights("qwen", tmp_path / "qwen")
    with zipfile.ZipFile(folder / "pytorch_model.bin", "w") as archive:
        archive.writestr("archive/data.pkl", b"\x80\x02}q\x00." + b"\0" * 4096)
        archive.writestr("archive/data/0", b"\1" * 4096)
    assert weight_problems(folder) == []
    whole = (folder / "pytorch_model.bin").read_bytes()
    (folder / "pytorch_model.bin").write_bytes(whole[: len(whole) // 2])
    assert weight_problems(folder) == [f"{folder / 'pytorch_model.bin'}: neither a PyTorch zip archive nor a pickle "
                                       f"(truncated or damaged); copy it again"]


def test_a_missing_or_unloadable_tokenizer_is_refused(tmp_path):
    llama = runnable_folder("llama", tmp_path / "llama")
    (llama / "tokenizer.json").unlink()
    assert check_model_folder(llama, model_cfg("llama")) == [
        f"{llama}: no tokenizer files (tokenizer.json, tokenizer.model, vocab.json + merges.txt, or vocab.txt) for "
        f"PreTrainedTokenizerFast; copy the model's tokenizer files into the folder"]
    chatglm = runnable_folder("chatglm", tmp_path / "chatglm")  # remote code: its own VOCAB_FILES_NAMES say
    (chatglm / "tokenizer.model").unlink()
    assert check_model_folder(chatglm, model_cfg("chatglm")) == [
        f"{chatglm}: tokenization_chatglm.py reads tokenizer.model (VOCAB_FILES_NAMES) but it is not there; "
        f"copy the model's tokenizer files into the folder"]
    (chatglm / "tokenizer.model").write_bytes(b"not a sentencepiece model")
    assert "not a loadable SentencePiece model" in check_model_folder(chatglm, model_cfg("chatglm"))[0]
    (chatglm / "tokenization_chatglm.py").unlink()
    assert "auto_map names tokenization_chatglm.ChatGLMTokenizer but tokenization_chatglm.py is not there" in \
        check_model_folder(chatglm, model_cfg("chatglm"))[0]

    qwen = runnable_folder("qwen", tmp_path / "qwen")  # every file there and JSON, but not a tokenizer
    (qwen / "tokenizer.json").write_text(json.dumps({"version": "1.0", "model": {"type": "Qwen9"}}))
    problems = check_model_folder(qwen, model_cfg("qwen"))
    assert len(problems) == 1 and "the tokenizer does not load with AutoTokenizer in the default runtime" in problems[0]


def test_the_real_files_with_intact_weights_pass_every_check(tmp_path):
    """What fetch accepts, for each of the five models: their real config, tokenizer and code."""
    for model in ("qwen", "llama", "chatglm", "internlm", "baichuan"):
        folder = runnable_folder(model, tmp_path / model)
        if model == "baichuan":
            apply_repairs(folder, ["baichuan_tokenizer_order"])
        assert check_model_folder(folder, model_cfg(model)) == [], model


def test_the_manifest_records_a_content_hash_for_a_folder_and_the_source_manifest_for_a_fetched_one(tmp_path):
    source = runnable_folder("qwen", tmp_path / "Qwen2.5-7B-Instruct")
    models = tmp_path / "models"
    assert run_py("model=qwen", f"model.source={source}", f"paths.models={models}", f"paths.outputs={tmp_path}",
                  *FETCH).returncode == 0
    manifest = read_json(models / "qwen" / MANIFEST)
    listing = "".join(f"{p.name}\t{sha(p)}\n" for p in sorted(source.iterdir()))
    assert manifest["revision"] == "sha256:" + hashlib.sha256(listing.encode()).hexdigest()
    assert "sha256 of the sorted list" in manifest["revision_from"]

    again = tmp_path / "models2"  # a colleague's fetched folder as the source: its revision carries over
    assert run_py("model=qwen", f"model.source={models / 'qwen'}", f"paths.models={again}",
                  f"paths.outputs={tmp_path}", *FETCH).returncode == 0
    assert read_json(again / "qwen" / MANIFEST)["revision"] == manifest["revision"]
    assert read_json(again / "qwen" / MANIFEST)["revision_from"] == f"the source folder's {MANIFEST}"


def test_a_hub_revision_is_resolved_to_its_commit(monkeypatch):
    """ModelScope's commits API, over HTTP from a stand-in endpoint (MODELSCOPE_ENDPOINT); a commit
    asked for is kept as it is; a branch name is never what comes back."""
    commit = "3b2c1d0e" * 5
    asked = []

    class Hub(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            asked.append(self.path)
            body = json.dumps({"Code": 200, "Success": True,
                               "Data": {"Commit": [{"Id": commit, "ShortId": commit[:8], "Title": "update"}]}})
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body.encode())

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Hub)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        monkeypatch.setenv("MODELSCOPE_ENDPOINT", f"http://127.0.0.1:{server.server_port}")
        assert hub_commit("modelscope", "Qwen/Qwen2.5-7B-Instruct", None) == commit
        assert hub_commit("modelscope", "CodyWhy/mh-sharegpt-20250820", "v1", "dataset") == commit
    finally:
        server.shutdown()
    assert asked == ["/api/v1/models/Qwen/Qwen2.5-7B-Instruct/commits?Ref=master&PageNumber=1&PageSize=1",
                     "/api/v1/datasets/CodyWhy/mh-sharegpt-20250820/commits?Ref=v1&PageNumber=1&PageSize=1"]
    assert hub_commit("modelscope", "Qwen/Qwen2.5-7B-Instruct", "a" * 40) == "a" * 40


@pytest.mark.slow
def test_a_remote_code_tokenizer_is_loaded_in_the_models_runtime(tmp_path, runtimes_root):
    """Baichuan2's published tokenizer does not load on its runtime's transformers until repaired:
    the check loads it there, as training will, and says so."""
    runtime_python(runtimes_root, "baichuan")  # the legacy runtime, built once per machine
    folder = runnable_folder("baichuan", tmp_path / "baichuan")
    problems = check_model_folder(folder, model_cfg("baichuan"), runtimes_root)
    assert len(problems) == 1 and "the tokenizer does not load with AutoTokenizer in the legacy runtime" in problems[0]
    assert "object has no attribute 'sp_model'" in problems[0]
    apply_repairs(folder, ["baichuan_tokenizer_order"])
    assert check_model_folder(folder, model_cfg("baichuan"), runtimes_root) == []
    # checked where fetch checks it, in the staging folder: InternLM2's fast tokenizer imports its
    # slow one relatively, which fails in a package named after a folder with dots in its name
    staging = runnable_folder("internlm", tmp_path / ".internlm.partial")
    assert check_model_folder(staging, model_cfg("internlm"), runtimes_root) == []
