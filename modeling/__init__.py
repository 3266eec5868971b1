"""GenRec configuration and models (installed as ``genrec_hf.modeling``; Hub-portable files)."""

from .configuration_genrec import PRESETS, GenRecConfig
from .modeling_genrec import GenRecEncoder, GenRecForConditionalGeneration, GenRecModel

__all__ = ["GenRecConfig", "PRESETS", "GenRecEncoder", "GenRecModel", "GenRecForConditionalGeneration"]
