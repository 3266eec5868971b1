"""benchmarks/sasrec_recbole.py: what stops a SASRec run, and which command lines it refuses before training.

RecBole is not a dependency of genrec-hf, so these run without it: the stop rule is plain Python and a refused
command line fails before RecBole is imported.
"""

import pytest

from .conftest import benchmark_module


@pytest.fixture(scope="module")
def sasrec():
    return benchmark_module("sasrec_recbole")


def test_a_budget_bound_run_goes_on_until_the_budget_is_spent(sasrec):
    assert sasrec.stop_reason(epoch=16, elapsed_s=3599.0, budget_min=60, epochs=None) is None
    assert sasrec.stop_reason(epoch=16, elapsed_s=3601.0, budget_min=60, epochs=None) == "budget"


def test_an_epoch_limit_stops_the_run_at_that_epoch_whatever_the_host_speed(sasrec):
    assert sasrec.stop_reason(epoch=16, elapsed_s=10.0, budget_min=float("inf"), epochs=17) is None
    assert sasrec.stop_reason(epoch=17, elapsed_s=10.0, budget_min=float("inf"), epochs=17) == "epochs"
    assert sasrec.stop_reason(epoch=17, elapsed_s=1e9, budget_min=float("inf"), epochs=17) == "epochs"


def test_with_both_limits_the_budget_can_stop_the_run_first(sasrec):
    assert sasrec.stop_reason(epoch=5, elapsed_s=3601.0, budget_min=60, epochs=17) == "budget"


@pytest.mark.parametrize("argv, message", [
    (["--epochs", "0"], "must be at least 1"),
    (["--budget-min", "0"], "--budget-min must be positive"),
    (["--budget-min", "nan"], "--budget-min must be positive"),
    (["--budget-min", "inf"], "needs --epochs"),
])
def test_a_run_that_could_not_stop_or_could_not_start_is_refused(sasrec, capsys, argv, message):
    with pytest.raises(SystemExit) as refused:
        sasrec.main(["run", "--dataset", "beauty", "--name", "x", *argv])
    assert refused.value.code == 2
    assert message in capsys.readouterr().err
