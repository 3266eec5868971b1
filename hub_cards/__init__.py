"""Model-card templates for published GenRec checkpoints (filled by ``genrec_hf.hub``)."""

from pathlib import Path

TEMPLATE_PATH = Path(__file__).parent / "model_card_template.md"
DATASETS_PATH = Path(__file__).parent / "datasets.json"
