#!/usr/bin/env python
"""Download the five models' files except their weights (configs, tokenizers, chat templates,
remote code), laid out as the tests expect them, for running the real-model tests anywhere:

    python scripts/fetch_model_files.py /data/model_files [--hub modelscope|huggingface]
    MHC_FIXTURES=/data/model_files bash scripts/test.sh

Needs hub access (this is the one place the test material comes from the network). The tests
then build tiny random-weight models from these files (src/mhcompare/tiny/from_fixture.py).
"""
import argparse
import sys
from pathlib import Path

from omegaconf import OmegaConf

REPO = Path(__file__).resolve().parents[1]
FOLDERS = {"qwen": "qwen2.5-7b-instruct", "llama": "llama-3.1-8b-instruct", "chatglm": "chatglm3-6b",
           "internlm": "internlm2-chat-7b", "baichuan": "baichuan2-7b-chat"}
WEIGHTS = ["*.safetensors", "*.bin", "*.pt", "*.pth", "*.gguf", "*.h5", "*.msgpack", "*.onnx", "original/*"]


def download(hub: str, repo_id: str, revision, target: Path) -> None:
    if hub == "modelscope":
        from modelscope import snapshot_download
        snapshot_download(repo_id, revision=revision, local_dir=str(target), ignore_file_pattern=WEIGHTS)
    else:
        from huggingface_hub import snapshot_download
        snapshot_download(repo_id, revision=revision, local_dir=str(target), ignore_patterns=WEIGHTS)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--hub", choices=["modelscope", "huggingface"], default="modelscope")
    args = parser.parse_args(argv)
    for model, folder in FOLDERS.items():
        hub = OmegaConf.load(REPO / "conf" / "model" / f"{model}.yaml").hub
        print(f"{model}: {hub[args.hub]} -> {args.out_dir / folder}", flush=True)
        download(args.hub, hub[args.hub], hub.revision, args.out_dir / folder)
    return 0


if __name__ == "__main__":
    sys.exit(main())
