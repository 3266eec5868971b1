"""GenRec configuration and models (installed as ``genrec_hf.modeling``; Hub-portable files)."""

from .configuration_genrec import PRESETS, GenRecConfig
from .generation_genrec import ItemTrie, ItemTrieLogitsProcessor, recommend_batch
from .modeling_genrec import GenRecEncoder, GenRecForConditionalGeneration, GenRecModel
from .pipeline_genrec import GenRecPipeline

__all__ = ["GenRecConfig", "PRESETS", "GenRecEncoder", "GenRecModel", "GenRecForConditionalGeneration",
           "GenRecPipeline", "ItemTrie", "ItemTrieLogitsProcessor", "recommend_batch"]
