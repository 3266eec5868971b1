"""The README's usage example, runnable: build, recommend, save, reload through the Auto classes."""

import tempfile

import genrec_hf  # noqa: F401  registers GenRec with the Auto classes
from genrec_hf import GenRecConfig, GenRecForConditionalGeneration, GenRecTokenizer
from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

tokenizer = GenRecTokenizer.from_catalogue(items=["B004756YJA", "B0020YLEYK", "B00KHGIK54"], users=["A1YJEY40YUW4SE"])
model = GenRecForConditionalGeneration(GenRecConfig.from_preset("small", tokenizer))  # or "bart-base"
batch = tokenizer.encode_histories([["B004756YJA", "B0020YLEYK"]], users=["A1YJEY40YUW4SE"], return_tensors="pt")
sequences = model.generate(**batch)  # 20 beams, 20 sequences per history by default
print(tokenizer.decode_items(sequences))  # raw item ids (None for a beam that spells no item: untrained model)

with tempfile.TemporaryDirectory() as folder:
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    reloaded = AutoModelForSeq2SeqLM.from_pretrained(folder)
    print(type(reloaded).__name__, type(AutoTokenizer.from_pretrained(folder)).__name__)
