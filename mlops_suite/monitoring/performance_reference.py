"""What a model's performance looks like on unseen rows: the yardstick for monitoring.

At training time (the evaluation step, which holds the test split) the model scores
the held-out rows; :func:`fit_reference` cuts them into chunks and records, per
metric, the mean and the standard deviation of the realized value across chunks,
and, for a classifier, fits the :class:`~.calibrator.Calibrator` performance is
estimated with. Registration stores the reference in ``metadata.json`` (key
``performance_reference``), with the approval gate's bounds, and the calibrator
beside it as ``calibration.json``.

At monitoring time a chunk of ``n`` rows is judged against it:

* its **sampling error** is the reference standard deviation scaled to its size,
  ``std * sqrt(chunk_rows / n)`` (a metric computed on ``n`` rows varies as
  ``1/sqrt(n)``), and the band around an estimate is three of those either side;
* its **threshold** is the reference mean minus three sampling errors (plus, for
  errors such as RMSE), or the approval gate's bound when that is more lenient: the
  lower of the two for scores, the higher for errors. An alert means performance
  fell further than chance explains and below what approval accepted.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from mlops_suite.artifacts import CLASSIFICATION, REGRESSION
from mlops_suite.errors import DataError
from mlops_suite.tasks import HIGHER_IS_BETTER, check_task

if TYPE_CHECKING:
    import pandas as pd

    from mlops_suite.evaluation.metrics import Metrics
    from mlops_suite.monitoring.calibrator import Calibrator

# The key of metadata.json that holds the reference.
REFERENCE_KEY = "performance_reference"
# Chunks the held-out rows are cut into, and the fewest rows worth a chunk.
REFERENCE_CHUNKS = 10
MIN_CHUNK_ROWS = 5
# Width of the band, and distance of the threshold, in sampling errors.
SIGMAS = 3.0
# Metrics monitored per task, in report order.
MONITORED: dict[str, tuple[str, ...]] = {
    CLASSIFICATION: ("accuracy", "f1_macro", "roc_auc"),
    REGRESSION: ("rmse", "mae", "r2"),
}


@dataclass(frozen=True)
class MetricSpread:
    """One metric's realized values on the reference chunks.

    Attributes:
        mean: Mean across the chunks where it is defined.
        std: Sample standard deviation across them; None with fewer than two.
        values: The value on each chunk (None where undefined, e.g. ROC AUC on a
            chunk holding one class).
    """

    mean: float | None
    std: float | None
    values: tuple[float | None, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {"mean": self.mean, "std": self.std, "values": list(self.values)}


@dataclass(frozen=True)
class PerformanceReference:
    """Realized performance across chunks of held-out rows, and approval's bounds.

    Attributes:
        task: ``classification`` or ``regression``.
        rows: Held-out rows scored.
        chunk_rows: Rows per reference chunk (the last may hold a few more).
        metrics: Per monitored metric, its spread across the chunks.
        approval_bounds: The approval gate's bound per metric (``min_roc_auc`` gives
            ``roc_auc``), recorded at registration; empty when approval set none.
        calibration: The calibrator's file in the version folder, or None.
    """

    task: str
    rows: int
    chunk_rows: int
    metrics: Mapping[str, MetricSpread]
    approval_bounds: Mapping[str, float] = field(default_factory=dict)
    calibration: str | None = None

    def sampling_error(self, metric: str, rows: int) -> float | None:
        """The standard deviation of ``metric`` expected on a chunk of ``rows``.

        Args:
            metric: A monitored metric.
            rows: The chunk's rows.

        Returns:
            The sampling error, or None when the reference has no spread for it.
        """
        spread = self.metrics.get(metric)
        if spread is None or spread.std is None or rows <= 0:
            return None
        return spread.std * math.sqrt(self.chunk_rows / rows)

    def threshold(self, metric: str, rows: int) -> float | None:
        """The value past which ``metric`` alerts on a chunk of ``rows``.

        Args:
            metric: A monitored metric.
            rows: The chunk's rows.

        Returns:
            For scores the lower, for errors the higher, of the reference mean
            -/+ three sampling errors and the approval bound; whichever exists, or
            None when neither does.
        """
        higher = HIGHER_IS_BETTER[metric]
        candidates = []
        spread = self.metrics.get(metric)
        error = self.sampling_error(metric, rows)
        if spread is not None and spread.mean is not None and error is not None:
            candidates.append(
                spread.mean - SIGMAS * error if higher else spread.mean + SIGMAS * error
            )
        if metric in self.approval_bounds:
            candidates.append(float(self.approval_bounds[metric]))
        if not candidates:
            return None
        return min(candidates) if higher else max(candidates)

    def with_approval(self, checks: Any) -> PerformanceReference:
        """The same reference, with the bounds of the approval gate's checks.

        Args:
            checks: The decision's ``checks`` (``blessing.json``): those named
                ``min_<metric>`` or ``max_<metric>`` give a bound.

        Returns:
            A new reference.
        """
        bounds = dict(self.approval_bounds)
        for check in checks or ():
            name, metric, bound = (
                check.get("name"),
                check.get("metric"),
                check.get("bound"),
            )
            monitored = metric in MONITORED.get(self.task, ())
            if monitored and str(name).startswith(("min_", "max_")) and _number(bound):
                bounds[str(metric)] = float(bound)
        return PerformanceReference(
            task=self.task,
            rows=self.rows,
            chunk_rows=self.chunk_rows,
            metrics=self.metrics,
            approval_bounds=bounds,
            calibration=self.calibration,
        )

    def to_dict(self) -> dict[str, Any]:
        """The reference as ``metadata.json`` records it."""
        return {
            "task": self.task,
            "rows": self.rows,
            "chunk_rows": self.chunk_rows,
            "metrics": {
                name: spread.to_dict() for name, spread in self.metrics.items()
            },
            "approval_bounds": dict(self.approval_bounds),
            "calibration": self.calibration,
        }

    @classmethod
    def from_dict(
        cls, payload: Any, source: str = "metadata.json"
    ) -> PerformanceReference:
        """Read a reference back from :meth:`to_dict` output.

        Args:
            payload: The parsed ``performance_reference``.
            source: Where it was read, for messages.

        Returns:
            The reference.

        Raises:
            DataError: The payload lacks a task, row counts or metrics.
        """
        try:
            metrics = {
                str(name): MetricSpread(
                    mean=_optional(entry.get("mean")),
                    std=_optional(entry.get("std")),
                    values=tuple(_optional(v) for v in entry.get("values", ())),
                )
                for name, entry in payload["metrics"].items()
            }
            return cls(
                task=check_task(str(payload["task"])),
                rows=int(payload["rows"]),
                chunk_rows=int(payload["chunk_rows"]),
                metrics=metrics,
                approval_bounds={
                    str(k): float(v)
                    for k, v in (payload.get("approval_bounds") or {}).items()
                },
                calibration=payload.get("calibration"),
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise DataError(
                f"the {REFERENCE_KEY} of {source} is malformed ({exc!r}); expected "
                "the task, rows, chunk_rows and metrics recorded at registration."
            ) from None


def fit_reference(
    pipeline: Any,
    metadata: Mapping[str, Any],
    held_out: pd.DataFrame,
    *,
    chunks: int = REFERENCE_CHUNKS,
    calibration_file: str = "calibration.json",
) -> tuple[PerformanceReference, Calibrator | None]:
    """Score held-out rows, record the spread of each metric, fit the calibrator.

    Rows are scored as served (KServe V1 instances), in their order, and cut into
    ``chunks`` consecutive chunks (fewer when that would leave fewer than 5 rows a
    chunk; with fewer than two chunks there is no spread).

    Args:
        pipeline: The model folder's fitted Pipeline.
        metadata: The model folder's metadata (features, label, task, classes).
        held_out: Labelled rows the model never saw (the test split).
        chunks: Chunks to cut the rows into.
        calibration_file: The name the calibrator is stored under.

    Returns:
        The reference, and the calibrator for a classifier (None for regression).

    Raises:
        DataError: The label column is missing or has missing values, a class is
            unknown to the model, or there are no rows.
    """
    # Fitting needs scikit-learn; reading a reference back (registration,
    # monitoring) does not, so those steps start without it.
    from mlops_suite.evaluation.metrics import (
        accuracy_and_f1,
        ovr_roc_auc,
        regression_metrics,
    )
    from mlops_suite.monitoring.calibrator import fit_calibrator
    from mlops_suite.training.train import to_v1_instances

    task = check_task(str(metadata["task"]))
    label = str(metadata["label"])
    if label not in held_out.columns or held_out.empty:
        raise DataError(
            f"the held-out rows have {len(held_out)} rows and columns "
            f"{list(held_out.columns)[:8]}; expected rows with the label {label!r}."
        )
    truth = held_out[label]
    if truth.isna().any():
        raise DataError(
            f"label {label!r} has {int(truth.isna().sum())} missing value(s) in the "
            "held-out rows; expected none."
        )
    X = np.array(to_v1_instances(held_out, metadata["features"]), dtype=object)
    rows = len(held_out)
    count = max(1, min(chunks, rows // MIN_CHUNK_ROWS))
    bounds = np.linspace(0, rows, count + 1).round().astype(int)
    pieces = [
        slice(int(a), int(b)) for a, b in zip(bounds[:-1], bounds[1:], strict=True)
    ]

    calibrator = None
    if task == CLASSIFICATION:
        classes = list(pipeline.classes_)
        index = {value: position for position, value in enumerate(classes)}
        unknown = sorted({str(v) for v in truth.tolist() if v not in index})
        if unknown:
            raise DataError(
                f"label {label!r} holds class(es) the model never saw "
                f"({', '.join(unknown[:5])}); expected {', '.join(map(str, classes))}."
            )
        y_idx = np.array([index[v] for v in truth.tolist()])
        proba = np.asarray(pipeline.predict_proba(X), dtype=np.float64)
        predicted = np.array([index[v] for v in pipeline.predict(X).tolist()])

        def score(piece: slice) -> Metrics:
            return {
                **accuracy_and_f1(y_idx[piece], predicted[piece]),
                "roc_auc": ovr_roc_auc(y_idx[piece], proba[piece]),
            }

        labels = [c.item() if isinstance(c, np.generic) else c for c in classes]
        calibrator = fit_calibrator(proba, y_idx, labels)
    else:
        actual = truth.to_numpy(dtype=np.float64)
        estimate = np.asarray(pipeline.predict(X), dtype=np.float64)

        def score(piece: slice) -> Metrics:
            return regression_metrics(actual[piece], estimate[piece])

    scored = [score(piece) for piece in pieces]
    metrics = {
        name: _spread([chunk.get(name) for chunk in scored]) for name in MONITORED[task]
    }
    reference = PerformanceReference(
        task=task,
        rows=rows,
        chunk_rows=rows // count,
        metrics=metrics,
        calibration=calibration_file if calibrator is not None else None,
    )
    return reference, calibrator


def _spread(values: list[float | None]) -> MetricSpread:
    defined = [float(v) for v in values if v is not None and math.isfinite(v)]
    mean = float(np.mean(defined)) if defined else None
    std = float(np.std(defined, ddof=1)) if len(defined) >= 2 else None
    return MetricSpread(mean=mean, std=std, values=tuple(values))


def _number(value: Any) -> bool:
    return (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and math.isfinite(float(value))
    )


def _optional(value: Any) -> float | None:
    return float(value) if _number(value) else None
