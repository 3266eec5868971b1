"""genrec-hf: GenRec, the generative sequential recommender, as a HuggingFace-native library.

``import genrec_hf`` registers GenRec with AutoConfig, AutoModel, AutoModelForSeq2SeqLM and
AutoTokenizer, so saved folders and Hub repos load through the Auto classes.
"""

from transformers import AutoConfig, AutoModel, AutoModelForSeq2SeqLM, AutoTokenizer
from transformers.pipelines import PIPELINE_REGISTRY

from .collators import ClozeCollator, NextItemCollator
from .metrics import ranking_metrics
from .modeling import (
    PRESETS,
    GenRecConfig,
    GenRecEncoder,
    GenRecForConditionalGeneration,
    GenRecModel,
    GenRecPipeline,
)
from .tokenization import GenRecTokenizer, raw_id_key

__version__ = "0.1.0"

AutoConfig.register("genrec", GenRecConfig, exist_ok=True)
AutoModel.register(GenRecConfig, GenRecModel, exist_ok=True)
AutoModelForSeq2SeqLM.register(GenRecConfig, GenRecForConditionalGeneration, exist_ok=True)
AutoTokenizer.register(GenRecConfig, fast_tokenizer_class=GenRecTokenizer, exist_ok=True)
# Registered with the Auto class (not the concrete model class) so a fresh process can resolve it.
PIPELINE_REGISTRY.register_pipeline("genrec", pipeline_class=GenRecPipeline, pt_model=AutoModelForSeq2SeqLM,
                                    type="text")


# Heavier pieces (Trainer, datasets) load on first use, so `import genrec_hf` stays quick.
_LAZY = {
    "GenRecTrainer": "trainer",
    "SetEpochCallback": "trainer",
    "TrainOptions": "training",
    "WallClockBudget": "training",
    "EpochAverage": "training",
    "shrink_toward_fresh_init": "training",
    "train_genrec": "training",
    "evaluate_checkpoint": "training",
    "GenRecEnsemble": "ensemble",
    "fuse_rankings": "ensemble",
    "load_p5": "data",
    "load_interactions": "data",
    "load_data": "data",
    "SequenceData": "data",
    "finetune_examples": "data",
    "model_card": "hub",
    "export_run": "hub",
    "push_run": "hub",
}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module 'genrec_hf' has no attribute {name!r}")


def check_compatible(model_or_config, tokenizer: GenRecTokenizer) -> None:
    """Raise ``ValueError`` if a model (or its config) and a tokenizer disagree on catalogue or vocabulary."""
    tokenizer.check_model_config(getattr(model_or_config, "config", model_or_config))


__all__ = [
    "GenRecConfig",
    "PRESETS",
    "GenRecEncoder",
    "GenRecModel",
    "GenRecForConditionalGeneration",
    "GenRecTokenizer",
    "GenRecPipeline",
    "raw_id_key",
    "check_compatible",
    "NextItemCollator",
    "ClozeCollator",
    "ranking_metrics",
    "__version__",
    *_LAZY,
]
