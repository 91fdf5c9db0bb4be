"""The tasks and the direction of each metric."""

from __future__ import annotations

import pytest

from mlops_suite.errors import TrainingError
from mlops_suite.tasks import HIGHER_IS_BETTER, check_task, primary_metric


def test_primary_metrics() -> None:
    assert primary_metric("classification") == ("roc_auc", True)
    assert primary_metric("regression") == ("rmse", False)


def test_an_unknown_task_is_refused_in_one_sentence() -> None:
    with pytest.raises(TrainingError) as caught:
        check_task("ranking")

    assert str(caught.value) == (
        "Task 'ranking' is unknown; expected one of classification, regression."
    )


def test_every_primary_metric_has_a_direction() -> None:
    for task in ("classification", "regression"):
        name, higher = primary_metric(task)
        assert HIGHER_IS_BETTER[name] is higher
