"""Install layout: genrec_hf is the one import root; docstring examples run."""

from __future__ import annotations

import doctest
import subprocess
import sys
import zipfile

import pytest

import genrec_hf
from genrec_hf import collators, data, ensemble, hub, indexing, synthetic, trainer, training
from genrec_hf.genrec_ranking import genrec_ranking
from genrec_hf.modeling import configuration_genrec, generation_genrec, modeling_genrec, pipeline_genrec
from genrec_hf.tokenization import tokenization_genrec

from .conftest import REPO, run_python


def test_portable_folders_install_under_genrec_hf_only(tmp_path):
    code = ("import importlib.util, genrec_hf.modeling, genrec_hf.tokenization\n"
            "print(importlib.util.find_spec('modeling'), importlib.util.find_spec('tokenization'))")
    assert run_python(code, cwd=tmp_path).strip() == "None None"


def test_wheel_holds_the_portable_files_under_genrec_hf(tmp_path):
    result = subprocess.run([sys.executable, "-m", "pip", "wheel", str(REPO), "--no-deps", "-q", "-w", str(tmp_path)],
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    (wheel,) = tmp_path.glob("genrec_hf-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "genrec_hf/modeling/modeling_genrec.py" in names
    assert "genrec_hf/modeling/configuration_genrec.py" in names
    assert "genrec_hf/tokenization/tokenization_genrec.py" in names
    assert not [n for n in names if n.startswith(("modeling/", "tokenization/", "tests/"))]
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    assert "genrec-hf = genrec_hf.cli:main" in zipfile.ZipFile(wheel).read(entry_points).decode()


@pytest.mark.parametrize("module", [configuration_genrec, modeling_genrec, tokenization_genrec, pipeline_genrec,
                                    generation_genrec, collators, data, ensemble, synthetic, genrec_ranking, trainer,
                                    training, hub, indexing, genrec_hf],
                         ids=lambda m: m.__name__)
def test_docstring_examples_run(module):
    failures, tried = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert failures == 0
    if module is not genrec_hf:
        assert tried > 0


def test_portable_files_import_only_torch_transformers_tokenizers_and_siblings():
    import ast

    # The standard library ships with every Python; anything else would be a dependency the Hub folder lacks.
    allowed = {"torch", "transformers", "tokenizers"} | set(sys.stdlib_module_names)

    for folder in ("modeling", "tokenization"):
        for path in (REPO / folder).glob("*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.Import):
                    roots = {alias.name.split(".")[0] for alias in node.names}
                elif isinstance(node, ast.ImportFrom) and node.level == 0:
                    roots = {node.module.split(".")[0]}
                else:
                    continue
                assert roots <= allowed, f"{path.name} imports {roots - allowed}"
            if folder == "tokenization":
                assert "modeling" not in path.read_text().replace("modeling code", "")


def test_readme_usage_example_runs(tmp_path):
    out = run_python((REPO / "examples" / "usage.py").read_text(), cwd=tmp_path)
    assert out.strip().splitlines()[-1] == "GenRecForConditionalGeneration GenRecTokenizer"
