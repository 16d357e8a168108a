#!/usr/bin/env python
"""Build a tiny random-weight ChatGLM3-architecture model offline, as remote code, for tests.

    <glm runtime python> src/mhcompare/tiny/remote_code.py chatglm3 OUT_DIR --corpus FILE [--seed 0]

This file is run by path with the runtime's own interpreter (mhcompare is not installed there),
so it imports nothing from mhcompare; models.model_location calls it for `tiny.architecture: chatglm3`.

No hub access: the modelling code comes from the ChatGLM2 implementation that the `modelscope`
package ships (modelscope/models/nlp/chatglm2/; ChatGLM3-6B uses the same architecture,
`model_type: chatglm`, ChatGLMForConditionalGeneration), rewritten into standalone
`trust_remote_code` files (configuration_chatglm.py, modeling_chatglm.py, tokenization_chatglm.py)
with the modelscope-only parts taken out. The tokenizer gets ChatGLM3's role tokens
(<|system|>, <|user|>, <|assistant|>, <|observation|>) on top of ChatGLM2's specials, and a
SentencePiece model trained here on the bundled dialogues. Weights are random (seeded); the
sentencepiece trainer runs single-threaded, so the same inputs give the same files.

Run it with the interpreter of the `legacy` runtime (transformers 4.41.x, modelscope 1.30.0): the
files are rewritten by exact string replacement and the script stops if the shipped source no
longer matches. The result loads through ms-swift's `chatglm3` model type (its
get_model_tokenizer_chatglm path) with --model_type chatglm3 --template glm4 (ms-swift 3.x) /
chatglm4 (4.x).
"""
import argparse
import importlib.util
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

DEFAULT_CORPUS = Path(__file__).resolve().parents[1] / "resources" / "demo_dialogues.jsonl"
ROLE_TOKENS = ["<|system|>", "<|user|>", "<|assistant|>", "<|observation|>"]
SIZE = dict(num_layers=2, hidden_size=64, ffn_hidden_size=128, kv_channels=16, num_attention_heads=4,
            multi_query_group_num=2, seq_length=4096)


def _replace(text: str, old: str, new: str, name: str) -> str:
    if old not in text:
        raise RuntimeError(f"{name}: expected source text not found (modelscope changed?): {old[:60]!r}")
    return text.replace(old, new)


def modelscope_chatglm2_dir() -> Path:
    spec = importlib.util.find_spec("modelscope")
    if spec is None:
        raise RuntimeError("the modelscope package is not installed in this interpreter")
    src = Path(list(spec.submodule_search_locations)[0]) / "models" / "nlp" / "chatglm2"
    if not (src / "text_generation.py").exists():
        raise RuntimeError(f"{src} has no ChatGLM2 modelling code")
    return src


def remote_code_files(src: Path) -> dict:
    """{file name: text} of standalone remote-code files rewritten from modelscope's ChatGLM2."""
    logger_hf = "from transformers.utils import logging\n\nlogger = logging.get_logger(__name__)\n"
    conf = (src / "configuration.py").read_text(encoding="utf-8")
    conf = _replace(conf, "from modelscope.utils import logger as logging\n\nlogger = logging.get_logger()\n",
                    logger_hf, "configuration")
    conf += "\n\nChatGLMConfig = ChatGLM2Config\n"

    model = (src / "text_generation.py").read_text(encoding="utf-8")
    for old, new in [
        ("from modelscope import Model, TorchModel\n", ""),
        ("from modelscope.metainfo import Models\n", ""),
        ("from modelscope.outputs import OutputKeys\n", ""),
        ("from modelscope.utils import logger as logging\n", "from transformers.utils import logging\n"),
        ("from modelscope.utils.constant import Tasks\n", ""),
        ("from ... import MODELS\n", ""),
        ("from .configuration import ChatGLM2Config\n", "from .configuration_chatglm import ChatGLM2Config\n"),
        ("logger = logging.get_logger()\n", "logger = logging.get_logger(__name__)\n"),
        ("class ChatGLMPreTrainedModel(TorchModel, PreTrainedModel):", "class ChatGLMPreTrainedModel(PreTrainedModel):"),
        ("        super().__init__(config.name_or_path, **kwargs)\n        super(Model, self).__init__(config)\n",
         "        super().__init__(config)\n"),
        ("super(Model, cls).from_pretrained(", "super().from_pretrained("),
        ("@MODELS.register_module(Tasks.chat, module_name=Models.chatglm2_6b)\n", ""),
        ("OutputKeys.RESPONSE", "'response'"),
        ("OutputKeys.HISTORY", "'history'"),
    ]:
        model = _replace(model, old, new, "modeling")
    model += "\n\nChatGLMForConditionalGeneration = ChatGLM2ForConditionalGeneration\n"

    tok = (src / "tokenization.py").read_text(encoding="utf-8")
    tok = _replace(tok, "import os\n", "import os\nimport re\nimport shutil\n", "tokenization")
    # ChatGLM3: role tokens are special tokens of the SentencePiece wrapper, split out of the text
    tok = _replace(tok, "        special_tokens = ['[MASK]', '[gMASK]', '[sMASK]', 'sop', 'eop']\n",
                   "        special_tokens = ['[MASK]', '[gMASK]', '[sMASK]', 'sop', 'eop'] + %r\n"
                   "        self.role_special_token_expression = '|'.join(re.escape(t) for t in %r)\n"
                   % (ROLE_TOKENS, ROLE_TOKENS), "tokenization")
    tok = _replace(tok, "    def tokenize(self, s: str):\n        return self.sp_model.EncodeAsPieces(s)\n",
                   "    def tokenize(self, s: str):\n"
                   "        pieces, last = [], 0\n"
                   "        for match in re.finditer(self.role_special_token_expression, s):\n"
                   "            if last < match.start():\n"
                   "                pieces.extend(self.sp_model.EncodeAsPieces(s[last:match.start()]))\n"
                   "            pieces.append(match.group(0))\n"
                   "            last = match.end()\n"
                   "        if last < len(s):\n"
                   "            pieces.extend(self.sp_model.EncodeAsPieces(s[last:]))\n"
                   "        return pieces\n", "tokenization")
    # upstream bug: save_vocabulary returned an undefined name; copy the model file as ChatGLM3 does
    tok = _replace(tok, "        return (vocab_file, )\n",
                   "        out = os.path.join(save_directory, (filename_prefix + '-' if filename_prefix else '')\n"
                   "                           + self.vocab_files_names['vocab_file'])\n"
                   "        if os.path.abspath(out) != os.path.abspath(self.vocab_file):\n"
                   "            shutil.copyfile(self.vocab_file, out)\n"
                   "        return (out, )\n", "tokenization")
    tok = _replace(tok, "class ChatGLM2Tokenizer(PreTrainedTokenizer):", "class ChatGLMTokenizer(PreTrainedTokenizer):",
                   "tokenization")
    tok += "\n\nChatGLM2Tokenizer = ChatGLMTokenizer\n"

    # imported lazily by the modelling code (int4/int8 weights only), yet transformers copies every
    # relative import of a remote-code module, so it has to be there
    quant = (src / "quantization.py").read_text(encoding="utf-8")
    quant = _replace(quant, "from modelscope.utils import logger as logging\n\nlogger = logging.get_logger()\n",
                     logger_hf, "quantization")
    return {"configuration_chatglm.py": conf, "modeling_chatglm.py": model, "tokenization_chatglm.py": tok,
            "quantization.py": quant}


def corpus_lines(corpus: Path):
    with open(corpus, encoding="utf-8") as f:
        for line in f:
            row = json.loads(line)
            if row.get("system"):
                yield row["system"]
            for turn in row["conversations"]:
                yield turn["value"]


def train_sentencepiece(corpus: Path, model_file: Path, vocab_size: int) -> None:
    """Written through model_writer, so no (temporary) path ends up inside the model file."""
    import io

    import sentencepiece as spm

    buffer = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(list(corpus_lines(corpus))), model_writer=buffer, vocab_size=vocab_size,
        model_type="bpe", byte_fallback=True, character_coverage=1.0, hard_vocab_limit=False,
        num_threads=1, unk_id=0, bos_id=1, eos_id=2, pad_id=-1, add_dummy_prefix=False,
        remove_extra_whitespaces=False, minloglevel=2)
    model_file.write_bytes(buffer.getvalue())


def build_chatglm3(out_dir: Path, corpus: Path, seed: int = 0, vocab_size: int = 2000) -> Path:
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    out_dir = Path(out_dir)
    tmp = Path(tempfile.mkdtemp(prefix="tiny_chatglm3_build_", dir=out_dir.parent if out_dir.parent.exists() else None))
    try:
        for name, text in remote_code_files(modelscope_chatglm2_dir()).items():
            (tmp / name).write_text(text, encoding="utf-8")
        train_sentencepiece(corpus, tmp / "tokenizer.model", vocab_size)
        import sentencepiece as spm
        n_sp = spm.SentencePieceProcessor(model_file=str(tmp / "tokenizer.model")).vocab_size()
        n_special = 5 + len(ROLE_TOKENS)
        ids = {tok: n_sp + 5 + i for i, tok in enumerate(ROLE_TOKENS)}
        padded = -(-(n_sp + n_special) // 64) * 64
        config = {
            "model_type": "chatglm", "architectures": ["ChatGLMModel"],
            "auto_map": {
                "AutoConfig": "configuration_chatglm.ChatGLMConfig",
                "AutoModel": "modeling_chatglm.ChatGLMForConditionalGeneration",
                "AutoModelForCausalLM": "modeling_chatglm.ChatGLMForConditionalGeneration",
                "AutoModelForSeq2SeqLM": "modeling_chatglm.ChatGLMForConditionalGeneration"},
            "add_bias_linear": False, "add_qkv_bias": True, "apply_query_key_layer_scaling": True,
            "apply_residual_connection_post_layernorm": False, "attention_dropout": 0.0,
            "attention_softmax_in_fp32": True, "bias_dropout_fusion": True, "fp32_residual_connection": False,
            "hidden_dropout": 0.0, "layernorm_epsilon": 1e-05, "multi_query_attention": True,
            "original_rope": True, "padded_vocab_size": padded, "post_layer_norm": True, "rmsnorm": True,
            "use_cache": True, "torch_dtype": "float32", "tie_word_embeddings": False,
            "eos_token_id": 2, "pad_token_id": 0, **SIZE,
        }
        (tmp / "config.json").write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
        # as the real chatglm3-6b ships it: eos/pad/unk given although the class defines them as
        # properties (ms-swift's get_model_tokenizer_chatglm works around that for transformers>=4.34)
        tokenizer_config = {
            "auto_map": {"AutoTokenizer": ["tokenization_chatglm.ChatGLMTokenizer", None]},
            "tokenizer_class": "ChatGLMTokenizer", "padding_side": "left", "remove_space": False,
            "do_lower_case": False, "clean_up_tokenization_spaces": False, "eos_token": "</s>",
            "pad_token": "<unk>", "unk_token": "<unk>", "model_max_length": SIZE["seq_length"],
        }
        (tmp / "tokenizer_config.json").write_text(json.dumps(tokenizer_config, indent=2) + "\n", encoding="utf-8")

        hf_config = AutoConfig.from_pretrained(str(tmp), trust_remote_code=True)
        torch.manual_seed(seed)
        model = AutoModelForCausalLM.from_config(hf_config, trust_remote_code=True, empty_init=False,
                                                 torch_dtype=torch.float32)
        with torch.no_grad():  # the upstream RMSNorm starts from torch.empty (real weights overwrite it)
            for module in model.modules():
                if type(module).__name__ in ("RMSNorm", "LayerNorm"):
                    module.weight.fill_(1.0)
                    if getattr(module, "bias", None) is not None:
                        module.bias.zero_()
        bad = [n for n, t in list(model.named_parameters()) + list(model.named_buffers()) if not torch.isfinite(t).all()]
        probe = torch.tensor([[ids["<|user|>"], 5, 6, 7, ids["<|assistant|>"], 8]])
        if bad or not torch.isfinite(model(input_ids=probe).logits).all():
            raise RuntimeError(f"tiny ChatGLM3 gives non-finite values (parameters: {bad})")
        model.save_pretrained(str(tmp), safe_serialization=True)
        # save_pretrained rewrites config.json; keep ours (auto_map, architectures as upstream)
        (tmp / "config.json").write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
        generation = {"eos_token_id": [2, ids["<|user|>"], ids["<|observation|>"]], "pad_token_id": 0,
                      "do_sample": True, "temperature": 0.8, "top_p": 0.8, "max_length": SIZE["seq_length"]}
        (tmp / "generation_config.json").write_text(json.dumps(generation, indent=2) + "\n", encoding="utf-8")
        tmp.chmod(0o755)
        if out_dir.exists():
            shutil.rmtree(out_dir)
        tmp.rename(out_dir)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out_dir


BUILDERS = {"chatglm3": build_chatglm3}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("architecture", choices=sorted(BUILDERS))
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    out = BUILDERS[args.architecture](args.out_dir.resolve(), args.corpus, seed=args.seed)
    print(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
