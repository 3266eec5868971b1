"""The Trainer notebook runs top to bottom on the built-in synthetic data (executed with nbclient)."""

from __future__ import annotations

import json

import nbformat
from nbclient import NotebookClient

from .conftest import REPO

NOTEBOOK = REPO / "examples" / "finetune_with_trainer.ipynb"


def test_notebook_is_committed_without_outputs():
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    for cell in notebook.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None


def test_notebook_has_a_parameters_cell_for_the_data_set():
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    parameters = [c for c in notebook.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(parameters) == 1 and 'DATA = os.environ.get("GENREC_DATA", "synthetic")' in parameters[0].source


def test_notebook_runs_top_to_bottom_on_synthetic_data(tmp_path, monkeypatch):
    for name, value in {"GENREC_DATA": "synthetic", "GENREC_PRETRAIN_EPOCHS": "2", "GENREC_FINETUNE_EPOCHS": "1",
                        "GENREC_D_MODEL": "32", "GENREC_OUTPUT": str(tmp_path / "run"), "GENREC_THREADS": "1",
                        "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("GENREC_PUSH_TO", raising=False)
    monkeypatch.delenv("MPLBACKEND", raising=False)  # the kernel's inline backend captures the figure
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    NotebookClient(notebook, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    outputs = {index: "".join(o.get("text", "") for o in cell.outputs if o.output_type == "stream")
               for index, cell in enumerate(notebook.cells) if cell.cell_type == "code"}
    evaluation = next(text for text in outputs.values() if "GenRec (this notebook)" in text)
    assert "max_history_plus_k" in evaluation and "most_popular" in evaluation
    figures = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.outputs
               if o.output_type == "display_data" and "image/png" in o.get("data", {})]
    assert len(figures) == 1  # the curves
    recommendation = notebook.cells[-3].outputs[-1]["data"]["text/plain"]
    assert recommendation.count("'rank'") == 5
    assert (tmp_path / "run" / "model" / "model.safetensors").exists()
    assert json.loads((tmp_path / "run" / "model" / "config.json").read_text())["model_type"] == "genrec"
