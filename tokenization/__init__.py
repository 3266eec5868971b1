"""GenRec tokenizer (installed as ``genrec_hf.tokenization``; Hub-portable file)."""

from .tokenization_genrec import GenRecTokenizer, raw_id_key

__all__ = ["GenRecTokenizer", "raw_id_key"]
