"""What every backend shares: the one-line result and waiting for a run to end."""

from __future__ import annotations

import pytest

from mlops_suite.ops.submission import SubmitError, SubmitResult, wait_for_end


def test_summary_is_one_line_per_backend():
    kfp = SubmitResult("r-1", "http://kfp/#/runs/details/r-1", "RUNNING")
    assert kfp.summary() == (
        "Kubeflow Pipelines run r-1 is RUNNING: http://kfp/#/runs/details/r-1"
    )
    assert not kfp.failed
    vertex = SubmitResult("job-1", "https://console/x", "CANCELLED", backend="vertex")
    assert vertex.summary() == "Vertex AI run job-1 is CANCELLED: https://console/x"
    assert vertex.failed


def test_waiting_polls_until_a_terminal_state():
    states = iter(["RUNNING", "RUNNING", "SUCCEEDED"])
    seen = wait_for_end(
        lambda: next(states),
        "PENDING",
        frozenset({"SUCCEEDED", "FAILED"}),
        timeout_s=5,
        poll_interval_s=0,
        describe="Run r-1",
        url="http://kfp/r-1",
    )
    assert seen == "SUCCEEDED"
    assert next(states, None) is None


def test_a_run_already_over_is_not_polled():
    def poll() -> str:
        raise AssertionError("polled a finished run")

    state = wait_for_end(
        poll,
        "FAILED",
        frozenset({"SUCCEEDED", "FAILED"}),
        timeout_s=5,
        poll_interval_s=0,
        describe="Run r-1",
        url="http://kfp/r-1",
    )
    assert state == "FAILED"


def test_waiting_too_long_names_the_run_and_where_to_follow_it():
    with pytest.raises(SubmitError) as info:
        wait_for_end(
            lambda: "RUNNING",
            "PENDING",
            frozenset({"SUCCEEDED"}),
            timeout_s=0,
            poll_interval_s=0,
            describe="Run r-1 on http://kfp",
            url="http://kfp/#/runs/details/r-1",
        )
    assert str(info.value) == (
        "Run r-1 on http://kfp was still PENDING after 0 s; follow it at "
        "http://kfp/#/runs/details/r-1."
    )
