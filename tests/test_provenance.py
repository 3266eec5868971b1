"""What a results file records about where it ran."""

import platform

from genrec_hf.provenance import cpu_model, environment, git_commit


def test_cpu_model_is_read_from_cpuinfo(tmp_path):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nvendor_id\t: AuthenticAMD\nmodel name\t: AMD EPYC 9B14\n\nprocessor\t: 1\n"
                       "model name\t: AMD EPYC 9B14\n")
    assert cpu_model(cpuinfo) == "AMD EPYC 9B14"


def test_cpu_model_falls_back_to_the_platform_without_cpuinfo(tmp_path):
    assert cpu_model(tmp_path / "missing") == (platform.processor() or None)


def test_every_results_file_records_the_cpu_model_beside_the_core_count():
    machine = environment()["machine"]
    assert machine["cpu_model"] == cpu_model() and machine["cpus"] >= 1


def test_a_tree_outside_git_records_the_commit_it_was_given(tmp_path, monkeypatch):
    monkeypatch.setenv("GENREC_GIT_COMMIT", "0123abc")
    assert git_commit(tmp_path) == "0123abc"


def test_a_tree_outside_git_without_a_given_commit_records_none(tmp_path, monkeypatch):
    monkeypatch.delenv("GENREC_GIT_COMMIT", raising=False)
    assert git_commit(tmp_path) is None


def test_a_git_checkout_records_its_own_commit_not_the_given_one(monkeypatch):
    import subprocess
    from pathlib import Path

    import pytest

    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=Path(__file__).parent, capture_output=True, text=True)
    if head.returncode != 0:
        pytest.skip("the tests are not in a git checkout")
    monkeypatch.setenv("GENREC_GIT_COMMIT", "0123abc")
    assert git_commit(Path(__file__).parent).removesuffix("-dirty") == head.stdout.strip()
