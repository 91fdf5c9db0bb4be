"""Score a model folder's Pipeline on held-out rows, overall and per slice.

Predictions are made on the V1 object array a KServe client would send (built by
:func:`mlops_suite.training.train.to_v1_instances`), so the numbers describe the model
as it is served, not a friendlier in-memory copy of it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import (
    accuracy_score,
    confusion_matrix,
    f1_score,
    log_loss,
    mean_absolute_error,
    mean_squared_error,
    r2_score,
    roc_auc_score,
    roc_curve,
)
from sklearn.pipeline import Pipeline

from mlops_suite.artifacts import BOOLEAN, CATEGORICAL, CLASSIFICATION
from mlops_suite.errors import DataError
from mlops_suite.tasks import check_task, primary_metric
from mlops_suite.training.train import MISSING_CATEGORY, to_v1_instances

# The KFP UI and the report draw at most this many ROC points; more adds bytes, not
# information.
MAX_ROC_POINTS = 200
# Regression reports plot at most this many (actual, predicted) pairs.
MAX_REGRESSION_POINTS = 1000

Metrics = dict[str, float | None]


@dataclass
class Evaluation:
    """What a model scored on a test split.

    Attributes:
        task: ``classification`` or ``regression``.
        label: The label column.
        n_rows: Rows scored.
        metrics: classification: accuracy, f1_macro, roc_auc (one-vs-rest macro when
            multiclass), log_loss; regression: rmse, mae, r2. None when undefined
            (e.g. ROC AUC with a single class present).
        classes: The model's classes (classification).
        confusion_matrix: ``{"labels": classes, "matrix": counts}``, rows being the
            true class and columns the predicted one.
        roc_curve: ``{"fpr", "tpr", "thresholds"}``; the positive class's curve when
            binary, the micro-averaged one-vs-rest curve when multiclass.
        slice_column: The feature the slices break down, or None.
        slices: ``{value: metrics + n_rows}`` per value of ``slice_column``.
        points: Regression: ``{"actual", "predicted"}``, a sample for plotting.
        explanation: What the model relies on, when computed
            (:func:`mlops_suite.evaluation.importance.explain`): the method, its
            metric and ``permutation_importance`` as ``{feature: {"mean", "std"}}``.
    """

    task: str
    label: str
    n_rows: int
    metrics: Metrics
    classes: list[Any] | None = None
    confusion_matrix: dict[str, Any] | None = None
    roc_curve: dict[str, list[float]] | None = None
    slice_column: str | None = None
    slices: dict[str, Metrics] = field(default_factory=dict)
    points: dict[str, list[float]] | None = None
    explanation: dict[str, Any] | None = None

    @property
    def primary_metric(self) -> str:
        """The name of the metric that ranks models for this task."""
        return primary_metric(self.task)[0]

    def to_dict(self) -> dict[str, Any]:
        """Returns plain JSON: numpy values as Python, NaN and infinities as None."""
        name, higher_is_better = primary_metric(self.task)
        payload = _json_ready(asdict(self))
        payload["primary_metric"] = name
        payload["higher_is_better"] = higher_is_better
        return payload

    @classmethod
    def from_dict(cls, payload: Mapping[str, Any]) -> Evaluation:
        """Rebuilds an evaluation from :meth:`to_dict`'s output (extra keys ignored)."""
        names = cls.__dataclass_fields__
        return cls(**{k: v for k, v in payload.items() if k in names})


def _json_ready(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _json_ready(v) for k, v in value.items()}
    if isinstance(value, list | tuple | np.ndarray):
        return [_json_ready(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _finite(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None


# ------------------------------------------------------------------ classification
def accuracy_and_f1(y_true: np.ndarray, y_pred: np.ndarray) -> Metrics:
    """Accuracy and macro F1 of predicted classes.

    The monitoring stage scores live predictions with this too, so live and
    approval-time numbers compare like with like.

    Args:
        y_true: True classes, as indices or as any other hashable values.
        y_pred: Predicted classes, coded as ``y_true`` is.

    Returns:
        ``{"accuracy", "f1_macro"}``; a class never predicted has an F1 of 0.
    """
    return {
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "f1_macro": float(f1_score(y_true, y_pred, average="macro", zero_division=0)),
    }


def ovr_roc_auc(y_idx: np.ndarray, proba: np.ndarray) -> float | None:
    """ROC AUC: the positive class's when binary, else the mean one-vs-rest AUC.

    The multiclass mean is sklearn's "ovr" macro when every class is present; a
    class absent from ``y_idx``, or the only one in it, is skipped instead of
    failing the whole run.

    Args:
        y_idx: True classes as indices into ``proba``'s columns.
        proba: Class probabilities, one column per class (finite).

    Returns:
        The AUC; None when no class can be scored or the AUC is not finite.
    """
    n_classes = proba.shape[1]
    scored = [k for k in range(n_classes) if 0 < int(np.sum(y_idx == k)) < len(y_idx)]
    if not scored:
        return None
    if n_classes == 2:
        return _finite(roc_auc_score(y_idx == 1, proba[:, 1]))
    return _finite(np.mean([roc_auc_score(y_idx == k, proba[:, k]) for k in scored]))


def class_log_loss(y_idx: np.ndarray, proba: np.ndarray) -> float | None:
    """Log loss of class probabilities, every class of ``proba`` counted.

    The monitoring stage scores live probabilities with this too.

    Args:
        y_idx: True classes as indices into ``proba``'s columns.
        proba: Class probabilities, one column per class (finite).

    Returns:
        The mean negative log-likelihood; None when not finite.
    """
    return _finite(log_loss(y_idx, proba, labels=list(range(proba.shape[1]))))


def _classification_metrics(
    y_idx: np.ndarray, pred_idx: np.ndarray, proba: np.ndarray
) -> Metrics:
    return {
        **accuracy_and_f1(y_idx, pred_idx),
        "roc_auc": ovr_roc_auc(y_idx, proba),
        "log_loss": class_log_loss(y_idx, proba),
    }


def _roc_points(y_idx: np.ndarray, proba: np.ndarray) -> dict[str, list[float]] | None:
    n_classes = proba.shape[1]
    if n_classes == 2:
        truth, score = (y_idx == 1), proba[:, 1]
    else:
        truth = (y_idx[:, None] == np.arange(n_classes)[None, :]).ravel()
        score = proba.ravel()
    if truth.all() or not truth.any():
        return None
    fpr, tpr, thresholds = roc_curve(truth, score)
    # The first threshold is +inf ("nothing is positive"), which JSON cannot carry;
    # the smallest float above 1.0 means the same for probabilities.
    thresholds = np.where(np.isinf(thresholds), np.nextafter(1.0, 2.0), thresholds)
    if len(fpr) > MAX_ROC_POINTS:
        keep = np.unique(
            np.linspace(0, len(fpr) - 1, MAX_ROC_POINTS).round().astype(int)
        )
        fpr, tpr, thresholds = fpr[keep], tpr[keep], thresholds[keep]
    return {
        "fpr": [float(v) for v in fpr],
        "tpr": [float(v) for v in tpr],
        "thresholds": [float(v) for v in thresholds],
    }


# ------------------------------------------------------------------ regression
def regression_metrics(y: np.ndarray, pred: np.ndarray) -> Metrics:
    """Root mean squared error, mean absolute error and R².

    The monitoring stage scores live predictions with this too.

    Args:
        y: True values.
        pred: Predicted values.

    Returns:
        ``{"rmse", "mae", "r2"}``; ``r2`` is None below 2 rows or when not finite.
    """
    return {
        "rmse": float(math.sqrt(mean_squared_error(y, pred))),
        "mae": float(mean_absolute_error(y, pred)),
        "r2": _finite(r2_score(y, pred)) if len(y) >= 2 else None,
    }


# ------------------------------------------------------------------ entry point
def _slice_keys(values: list[Any], kind: str) -> list[str]:
    if kind == BOOLEAN:
        return [MISSING_CATEGORY if v is None else str(v).lower() for v in values]
    return [MISSING_CATEGORY if v is None else str(v) for v in values]


def served_rows(
    metadata: Mapping[str, Any], test_df: pd.DataFrame
) -> tuple[np.ndarray, pd.Series]:
    """The feature rows as a KServe client sends them, and the labels.

    Args:
        metadata: The model folder's metadata (features, label).
        test_df: Held-out rows with the feature and label columns.

    Returns:
        ``(X, y)``: the V1 object array, one column per feature in the model's
        order, and the label column.

    Raises:
        DataError: The label is absent or has missing values, a feature is absent,
            or there are no rows.
    """
    label = str(metadata["label"])
    if label not in test_df.columns:
        raise DataError(f"Label column {label!r} is not in the evaluation data.")
    if test_df.empty:
        raise DataError("The evaluation data has 0 rows; expected at least 1.")
    y = test_df[label]
    n_missing = int(y.isna().sum())
    if n_missing:
        raise DataError(
            f"Label column {label!r} has {n_missing} missing value(s) in the "
            "evaluation data; expected none."
        )
    rows = to_v1_instances(test_df, list(metadata["features"]))
    return np.array(rows, dtype=object), y


def class_indices(classes: list[Any], y: pd.Series, label: str) -> np.ndarray:
    """The position of each row's class among the model's classes.

    Args:
        classes: The model's classes (``pipeline.classes_``).
        y: The true classes.
        label: The label column's name, for the error.

    Returns:
        One index into ``classes`` per row.

    Raises:
        DataError: A row holds a class the model never saw.
    """
    index = {c: i for i, c in enumerate(classes)}
    unseen = sorted({str(v) for v in y.tolist() if v not in index})
    if unseen:
        raise DataError(
            f"Label column {label!r} holds {len(unseen)} class(es) the model "
            f"never saw ({', '.join(unseen[:5])}); expected "
            f"{', '.join(map(str, classes))}."
        )
    return np.array([index[v] for v in y.tolist()])


def evaluate(
    pipeline: Pipeline,
    metadata: Mapping[str, Any],
    test_df: pd.DataFrame,
    *,
    slice_column: str | None = None,
) -> Evaluation:
    """Scores a fitted Pipeline on labelled rows, as served.

    Args:
        pipeline: The model folder's Pipeline.
        metadata: The model folder's metadata (features, label, task).
        test_df: Held-out rows with the feature and label columns.
        slice_column: A categorical or boolean feature to break the metrics down by.

    Returns:
        Metrics, confusion matrix and ROC curve (classification), plotting points
        (regression) and per-slice metrics.

    Raises:
        DataError: The label or a feature is absent, the label has missing values,
            is not numeric for regression, or holds a class the model never saw;
            there are no rows; or the slice column is not a categorical feature.
    """
    features = list(metadata["features"])
    label = str(metadata["label"])
    task = check_task(str(metadata["task"]))
    kinds = {str(f["name"]): str(f["type"]) for f in features}
    if slice_column is not None and kinds.get(slice_column) not in (
        CATEGORICAL,
        BOOLEAN,
    ):
        candidates = [n for n, k in kinds.items() if k in (CATEGORICAL, BOOLEAN)]
        raise DataError(
            f"Slice column {slice_column!r} is not a categorical or boolean feature "
            f"of the model; choose one of {', '.join(candidates) or '(none)'}."
        )
    X, y = served_rows(metadata, test_df)
    slice_keys: list[str] | None = None
    if slice_column is not None:
        position = list(kinds).index(slice_column)
        slice_keys = _slice_keys(X[:, position].tolist(), kinds[slice_column])

    if task == CLASSIFICATION:
        classes = list(pipeline.classes_)
        y_idx = class_indices(classes, y, label)
        proba = np.asarray(pipeline.predict_proba(X), dtype=float)
        index = {c: i for i, c in enumerate(classes)}
        pred_idx = np.array([index[v] for v in pipeline.predict(X).tolist()])
        labels = [c.item() if isinstance(c, np.generic) else c for c in classes]

        def score(mask: np.ndarray) -> Metrics:
            return _classification_metrics(y_idx[mask], pred_idx[mask], proba[mask])

        evaluation = Evaluation(
            task=task,
            label=label,
            n_rows=len(y_idx),
            metrics=score(np.ones(len(y_idx), dtype=bool)),
            classes=labels,
            confusion_matrix={
                "labels": list(labels),
                "matrix": confusion_matrix(
                    y_idx, pred_idx, labels=list(range(len(classes)))
                ).tolist(),
            },
            roc_curve=_roc_points(y_idx, proba),
        )
    else:
        if not pd.api.types.is_numeric_dtype(y.dtype) or pd.api.types.is_bool_dtype(
            y.dtype
        ):
            raise DataError(
                f"Label column {label!r} has dtype {y.dtype}; regression needs numbers."
            )
        actual = y.to_numpy(dtype=float)
        predicted = np.asarray(pipeline.predict(X), dtype=float)

        def score(mask: np.ndarray) -> Metrics:
            return regression_metrics(actual[mask], predicted[mask])

        step = max(1, math.ceil(len(actual) / MAX_REGRESSION_POINTS))
        evaluation = Evaluation(
            task=task,
            label=label,
            n_rows=len(actual),
            metrics=score(np.ones(len(actual), dtype=bool)),
            points={
                "actual": [float(v) for v in actual[::step]],
                "predicted": [float(v) for v in predicted[::step]],
            },
        )

    if slice_keys is not None:
        keys = np.array(slice_keys, dtype=object)
        evaluation.slice_column = slice_column
        for value in sorted(set(slice_keys)):
            mask = keys == value
            evaluation.slices[value] = {"n_rows": int(mask.sum()), **score(mask)}
    return evaluation
