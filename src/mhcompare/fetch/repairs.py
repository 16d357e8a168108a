"""Known defects of published model files, repaired in the fetched copy (never in the source).

Each repair is idempotent: it returns None when the file is already right, and stops with the
file's name when the file looks like neither the broken nor the repaired version.
"""
import hashlib
from pathlib import Path

from mhcompare.errors import UserError


class RepairError(UserError, RuntimeError):
    pass


# Baichuan2's tokenization_baichuan.py calls super().__init__() before self.sp_model exists;
# from transformers 4.34 PreTrainedTokenizer.__init__ reads the vocabulary, so loading fails with
# "'BaichuanTokenizer' object has no attribute 'sp_model'" (baichuan-inc/Baichuan2 #204, #269).
# The fix the community uses: load the SentencePiece model before calling super().__init__().
BAICHUAN_SP_LINES = ("        self.sp_model = spm.SentencePieceProcessor(**self.sp_model_kwargs)\n"
                     "        self.sp_model.Load(vocab_file)\n")
BAICHUAN_SUPER = "        super().__init__(\n"


def baichuan_tokenizer_order(folder: Path) -> dict | None:
    path = Path(folder) / "tokenization_baichuan.py"
    if not path.exists():
        raise RepairError(f"{path}: not found; the baichuan_tokenizer_order repair needs Baichuan2's tokenizer code")
    text = path.read_text(encoding="utf-8")
    sp_at, super_at = text.find(BAICHUAN_SP_LINES), text.find(BAICHUAN_SUPER)
    if sp_at == -1 or super_at == -1:
        raise RepairError(f"{path}: neither the published nor the repaired BaichuanTokenizer.__init__ "
                          "(expected the two self.sp_model lines and super().__init__); check the file by hand")
    if sp_at < super_at:
        return None  # already loads the SentencePiece model first
    repaired = text[:super_at] + BAICHUAN_SP_LINES + text[super_at:sp_at] + text[sp_at + len(BAICHUAN_SP_LINES):]
    before = hashlib.sha256(text.encode("utf-8")).hexdigest()
    tmp = path.with_suffix(".py.tmp")
    tmp.write_text(repaired, encoding="utf-8")
    tmp.replace(path)
    return {"repair": "baichuan_tokenizer_order", "file": path.name, "sha256_before": before,
            "sha256_after": hashlib.sha256(repaired.encode("utf-8")).hexdigest(),
            "what": "load the SentencePiece model before PreTrainedTokenizer.__init__ (Baichuan2 #204/#269)"}


REPAIRS = {"baichuan_tokenizer_order": baichuan_tokenizer_order}


def apply_repairs(folder: Path, names) -> list[dict]:
    """Run the named repairs on a folder; the records of the ones that changed something."""
    unknown = [n for n in names if n not in REPAIRS]
    if unknown:
        raise RepairError(f"unknown repair {unknown[0]!r} in model.repairs; known: {', '.join(REPAIRS)}")
    return [record for record in (REPAIRS[n](folder) for n in names) if record is not None]
