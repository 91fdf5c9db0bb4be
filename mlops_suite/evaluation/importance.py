"""What a model relies on: permutation importance of each original column.

The model folder's Pipeline takes the raw columns (preprocessing is inside it), so
shuffling one input column measures that column as a whole: a one-hot encoded
category counts once, under its own name, not once per category. Each column is
shuffled ``n_repeats`` times on the held-out rows and the drop of the primary metric
(ROC AUC, or negative RMSE, the score that ranks models) is its importance; a column
the model ignores scores about zero.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
from sklearn.inspection import permutation_importance
from sklearn.pipeline import Pipeline

from mlops_suite.artifacts import CLASSIFICATION
from mlops_suite.errors import DataError
from mlops_suite.evaluation.metrics import (
    class_indices,
    ovr_roc_auc,
    regression_metrics,
    served_rows,
)
from mlops_suite.explanation import PERMUTATION_IMPORTANCE
from mlops_suite.tasks import check_task, primary_metric

# Shuffles per column: enough for a standard deviation, cheap on a test split.
DEFAULT_REPEATS = 5
# Rows scored per shuffle; beyond this the estimate barely moves and time grows.
MAX_ROWS = 5000


def explain(
    pipeline: Pipeline,
    metadata: Mapping[str, Any],
    test_df: pd.DataFrame,
    *,
    n_repeats: int = DEFAULT_REPEATS,
    seed: int = 0,
    max_rows: int = MAX_ROWS,
) -> dict[str, Any] | None:
    """Permutation importance of every original column, scored with the primary metric.

    Args:
        pipeline: The model folder's Pipeline (raw columns in, predictions out).
        metadata: The model folder's metadata (features, label, task).
        test_df: Held-out rows with the feature and label columns.
        n_repeats: How many times each column is shuffled.
        seed: Seeds the shuffles; the same seed gives the same numbers.
        max_rows: At most this many rows are scored per shuffle (a seeded sample).

    Returns:
        ``{"method", "metric", "n_repeats", "n_rows", "seed",
        "permutation_importance": {feature: {"mean", "std"}}}``, where ``mean`` is
        the average drop of ``metric`` (higher is better) when the column is
        shuffled; None when the metric is undefined on these rows (e.g. a single
        class), so there is nothing to drop from.

    Raises:
        DataError: The rows cannot be scored (see
            :func:`~mlops_suite.evaluation.metrics.served_rows`), hold a class the
            model never saw, or the regression label is not numeric; or
            ``n_repeats`` is below 1.
    """
    if n_repeats < 1:
        raise DataError(f"n_repeats is {n_repeats}; expected at least 1 shuffle.")
    task = check_task(str(metadata["task"]))
    label = str(metadata["label"])
    names = [str(feature["name"]) for feature in metadata["features"]]
    X, y = served_rows(metadata, test_df)
    metric, higher_is_better = primary_metric(task)
    if task == CLASSIFICATION:
        target = class_indices(list(pipeline.classes_), y, label)

        def score(estimator: Any, rows: np.ndarray, truth: np.ndarray) -> float:
            proba = np.asarray(estimator.predict_proba(rows), dtype=float)
            value = ovr_roc_auc(truth, proba)
            return math.nan if value is None else value

    else:
        if not pd.api.types.is_numeric_dtype(y.dtype) or pd.api.types.is_bool_dtype(
            y.dtype
        ):
            raise DataError(
                f"Label column {label!r} has dtype {y.dtype}; regression needs numbers."
            )
        target = y.to_numpy(dtype=float)

        def score(estimator: Any, rows: np.ndarray, truth: np.ndarray) -> float:
            predicted = np.asarray(estimator.predict(rows), dtype=float)
            rmse = regression_metrics(truth, predicted)["rmse"]
            return math.nan if rmse is None else -rmse

    if not math.isfinite(score(pipeline, X, target)):
        return None
    n_rows = min(len(X), max_rows)
    result = permutation_importance(
        pipeline,
        X,
        target,
        scoring=score,
        n_repeats=n_repeats,
        random_state=seed,
        max_samples=n_rows,
    )
    importance = {
        name: {"mean": _number(mean), "std": _number(std)}
        for name, mean, std in zip(
            names, result.importances_mean, result.importances_std, strict=True
        )
    }
    return {
        "method": PERMUTATION_IMPORTANCE,
        "metric": metric if higher_is_better else f"neg_{metric}",
        "n_repeats": n_repeats,
        "n_rows": n_rows,
        "seed": seed,
        PERMUTATION_IMPORTANCE: importance,
    }


def _number(value: Any) -> float | None:
    # A shuffle can leave the metric undefined (a sample holding one class); say so
    # rather than report a made-up zero.
    number = float(value)
    return number if math.isfinite(number) else None
