"""Corrupt or mismatched inputs fail with an error that names the file, and leave no output that looks good."""

from __future__ import annotations

import os
import shutil

import pytest
from transformers import AutoModel, AutoModelForSeq2SeqLM, pipeline

from genrec_hf import GenRecTokenizer
from genrec_hf.cli import main
from genrec_hf.modeling.modeling_genrec import damaged_safetensors


@pytest.fixture
def truncated_checkpoint(trained_run, tmp_path):
    output, _ = trained_run
    folder = tmp_path / "checkpoint"
    shutil.copytree(output / "checkpoint", folder)
    weights = folder / "model.safetensors"
    with open(weights, "r+b") as handle:
        handle.truncate(os.path.getsize(weights) // 2)  # an interrupted copy
    return folder


@pytest.mark.parametrize("auto_class", [AutoModelForSeq2SeqLM, AutoModel])
def test_a_truncated_weights_file_is_named(truncated_checkpoint, auto_class):
    with pytest.raises(OSError, match=f"{truncated_checkpoint / 'model.safetensors'} is damaged or incomplete"):
        auto_class.from_pretrained(truncated_checkpoint)


def test_the_pipeline_names_a_truncated_weights_file(truncated_checkpoint):
    # transformers' pipeline() wraps load errors in a ValueError that quotes them
    with pytest.raises((OSError, ValueError), match="model.safetensors is damaged or incomplete"):
        pipeline("genrec", model=str(truncated_checkpoint))


def test_evaluate_command_reports_a_truncated_weights_file_without_a_traceback(truncated_checkpoint, capsys):
    assert main(["evaluate", str(truncated_checkpoint), "--data", "synthetic"]) == 2
    error = capsys.readouterr().err
    assert "model.safetensors is damaged or incomplete" in error and "Traceback" not in error


def test_an_intact_weights_file_passes_the_size_check(trained_run):
    output, _ = trained_run
    assert damaged_safetensors(str(output / "checkpoint")) == []


@pytest.fixture
def mismatched_checkpoint(trained_run, tmp_path):
    """A checkpoint folder whose tokenizer files come from another catalogue."""
    output, _ = trained_run
    folder = tmp_path / "checkpoint"
    shutil.copytree(output / "checkpoint", folder)
    other = GenRecTokenizer.from_catalogue(items=[f"x{n}" for n in range(50)], users=["u"], model_max_length=64)
    other.save_pretrained(folder)
    return folder


def test_a_tokenizer_that_does_not_match_the_model_is_named(mismatched_checkpoint):
    with pytest.raises(ValueError, match=rf"tokenizer and model do not match \(tokenizer from {mismatched_checkpoint}"):
        pipeline("genrec", model=str(mismatched_checkpoint))


def test_evaluate_command_refuses_a_mismatched_checkpoint(mismatched_checkpoint, capsys):
    assert main(["evaluate", str(mismatched_checkpoint), "--data", "synthetic"]) == 2
    error = capsys.readouterr().err
    assert "tokenizer and model do not match" in error and str(mismatched_checkpoint) in error


@pytest.mark.parametrize("name, content, message", [
    ("sequential_data.txt", "1 1 2 3\n2 2 3 4\n3 3 x 5\n4 1 2 3\n", "sequential_data.txt:3: 'x' is not an integer id"),
    ("log.csv", "user,item,timestamp\nu1,i1,1\nu1,i2,2\nu2,i1,3\nu2\nu2,i3,5\n", "log.csv: line 5 has 1 fields"),
    ("log.tsv", "user\titem\ttimestamp\nu1\ti1\t1\nu2\ti1\tnoon\nu2\ti3\t5\n", "log.tsv: line 3 has a non-numeric"),
])
def test_a_bad_line_in_the_middle_of_a_data_file_is_named_and_nothing_is_written(tmp_path, capsys, name, content,
                                                                                 message):
    data = tmp_path / name
    data.write_text(content)
    output = tmp_path / "run"
    source = str(tmp_path) if name == "sequential_data.txt" else str(data)
    assert main(["train", "--data", source, "--k-core", "1", "--output", str(output)]) == 2
    assert message in capsys.readouterr().err
    assert not output.exists()
