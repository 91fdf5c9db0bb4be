"""The two tasks a model is trained for, and which way each metric is better.

Shared by training, evaluation, approval and monitoring without importing any of
them: a step that only reads or compares metrics (approval without a champion,
registration) starts without loading scikit-learn.
"""

from __future__ import annotations

from mlops_suite.artifacts import CLASSIFICATION, REGRESSION, TASKS
from mlops_suite.errors import TrainingError

# Direction of every metric the evaluation stage reports.
HIGHER_IS_BETTER: dict[str, bool] = {
    "accuracy": True,
    "f1_macro": True,
    "roc_auc": True,
    "log_loss": False,
    "rmse": False,
    "mae": False,
    "r2": True,
}

_PRIMARY = {CLASSIFICATION: ("roc_auc", True), REGRESSION: ("rmse", False)}


def check_task(task: str) -> str:
    """Returns ``task`` when it is a known task.

    Raises:
        TrainingError: ``task`` is not ``classification`` or ``regression``.
    """
    if task not in TASKS:
        raise TrainingError(
            f"Task {task!r} is unknown; expected one of {', '.join(TASKS)}."
        )
    return task


def primary_metric(task: str) -> tuple[str, bool]:
    """Names the metric that ranks models for ``task``.

    Args:
        task: ``classification`` or ``regression``.

    Returns:
        ``(name, higher_is_better)``: ``("roc_auc", True)`` or ``("rmse", False)``.
    """
    return _PRIMARY[check_task(task)]
