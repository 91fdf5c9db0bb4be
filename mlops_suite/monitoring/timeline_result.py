"""What a monitoring timeline found, chunk by chunk: ``monitoring.json``.

:func:`~mlops_suite.monitoring.timeline.build_timeline` returns a :class:`Timeline`;
:meth:`Timeline.to_dict` is ``monitoring.json``::

    {"chunks": [{"start": ..., "end": ..., "rows": ...,
                 "drift": {feature: {"score", "threshold", "drifted", ...}},
                 "performance": {metric: {"estimated", "lower", "upper",
                                          "realized", "threshold", "alert"}}}],
     "alerts": [...], ...}

A chunk's ``start`` and ``end`` are ISO times for chunks by period, and the first
and last row (0-based, in read order) for chunks by size.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

PERFORMANCE = "performance"
DRIFT = "drift"


@dataclass(frozen=True)
class ChunkDrift:
    """One feature's drift in one chunk.

    Attributes:
        metric: ``jensenshannon``, ``psi`` or ``linf``.
        score: The distance to the reference.
        threshold: The distance's threshold.
        drifted: Whether any drift check (distance, missing rate, unseen values)
            is above its threshold.
        reasons: The checks above their threshold.
    """

    metric: str
    score: float
    threshold: float
    drifted: bool
    reasons: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {
            "score": self.score,
            "threshold": self.threshold,
            "drifted": self.drifted,
            "metric": self.metric,
            "reasons": list(self.reasons),
        }


@dataclass(frozen=True)
class MetricPoint:
    """One metric in one chunk: estimated, with its band, and realized.

    Attributes:
        estimated: The CBPE estimate; None for regression or when not estimable.
        lower: The estimate minus three sampling errors (clipped to [0, 1]).
        upper: The estimate plus three sampling errors.
        realized: The metric on the chunk's labelled rows; None without labels.
        threshold: The value past which the metric alerts (below it for scores,
            above it for errors); None without a reference.
        alert: Whether the estimate, or the realized value on enough labelled
            rows, is past the threshold.
        higher_is_better: The metric's direction.
    """

    estimated: float | None
    lower: float | None
    upper: float | None
    realized: float | None
    threshold: float | None
    alert: bool
    higher_is_better: bool = True

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {
            "estimated": self.estimated,
            "lower": self.lower,
            "upper": self.upper,
            "realized": self.realized,
            "threshold": self.threshold,
            "alert": self.alert,
        }


@dataclass(frozen=True)
class ChunkResult:
    """Drift and performance of one chunk.

    Attributes:
        start: First time (ISO) or row of the chunk.
        end: Last time (ISO, exclusive end of the period) or row of the chunk.
        rows: Rows in the chunk.
        scored_rows: Rows whose class probabilities were known (estimation).
        labelled_rows: Rows whose label was joined.
        drift: Per feature.
        performance: Per metric.
    """

    start: str | int
    end: str | int
    rows: int
    scored_rows: int
    labelled_rows: int
    drift: Mapping[str, ChunkDrift]
    performance: Mapping[str, MetricPoint]

    @property
    def drifted_features(self) -> list[str]:
        """Features that drifted in this chunk."""
        return [name for name, result in self.drift.items() if result.drifted]

    @property
    def alerting_metrics(self) -> list[str]:
        """Metrics past their threshold in this chunk."""
        return [name for name, point in self.performance.items() if point.alert]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {
            "start": self.start,
            "end": self.end,
            "rows": self.rows,
            "scored_rows": self.scored_rows,
            "labelled_rows": self.labelled_rows,
            "drift": {name: entry.to_dict() for name, entry in self.drift.items()},
            "performance": {
                name: point.to_dict() for name, point in self.performance.items()
            },
        }


@dataclass(frozen=True)
class Timeline:
    """Every chunk of the current data, judged against the model's reference.

    Attributes:
        chunks: In time (or row) order.
        task: The model's task, or None when no model is known.
        chunking: How the rows were cut, e.g. ``every 5000 rows``.
        estimated: Whether performance was estimated.
        note: Why performance was not estimated, or how it was; shown in reports.
        current: What the current data was.
        reference: What the drift reference was.
        model: The model, e.g. ``penguins v3``; empty when none.
    """

    chunks: Sequence[ChunkResult]
    task: str | None
    chunking: str
    estimated: bool
    note: str = ""
    current: str = ""
    reference: str = ""
    model: str = ""
    metrics: Sequence[str] = field(default_factory=tuple)

    @property
    def alerts(self) -> list[dict[str, Any]]:
        """Every metric past its threshold and every drifted feature, by chunk."""
        found: list[dict[str, Any]] = []
        for index, chunk in enumerate(self.chunks):
            where = {"chunk": index, "start": chunk.start, "end": chunk.end}
            for name in chunk.alerting_metrics:
                point = chunk.performance[name]
                found.append(
                    {
                        **where,
                        "kind": PERFORMANCE,
                        "metric": name,
                        "estimated": point.estimated,
                        "realized": point.realized,
                        "threshold": point.threshold,
                    }
                )
            for name in chunk.drifted_features:
                entry = chunk.drift[name]
                found.append(
                    {
                        **where,
                        "kind": DRIFT,
                        "feature": name,
                        "score": entry.score,
                        "threshold": entry.threshold,
                        "reasons": list(entry.reasons),
                    }
                )
        return found

    @property
    def performance_alerts(self) -> list[dict[str, Any]]:
        """The alerts of metrics past their threshold."""
        return [alert for alert in self.alerts if alert["kind"] == PERFORMANCE]

    @property
    def drift_alerts(self) -> list[dict[str, Any]]:
        """The alerts of drifted features."""
        return [alert for alert in self.alerts if alert["kind"] == DRIFT]

    def to_dict(self) -> dict[str, Any]:
        """``monitoring.json``."""
        return {
            "chunks": [chunk.to_dict() for chunk in self.chunks],
            "alerts": self.alerts,
            "task": self.task,
            "chunking": self.chunking,
            "estimated": self.estimated,
            "note": self.note,
            "current": self.current,
            "reference": self.reference,
            "model": self.model,
        }

    def summary(self) -> str:
        """A few lines: chunks, performance alerts, drift alerts, the note."""
        lines = [
            f"{len(self.chunks)} chunks ({self.chunking}), "
            f"{sum(chunk.rows for chunk in self.chunks):,} rows."
        ]
        for alert in self.performance_alerts:
            value = (
                alert["estimated"]
                if alert["estimated"] is not None
                else alert["realized"]
            )
            lines.append(
                f"  ALERT  chunk {alert['chunk']} ({alert['start']}): "
                f"{alert['metric']} {_fmt(value)} past its threshold "
                f"{_fmt(alert['threshold'])}"
            )
        drifting = sorted({alert["feature"] for alert in self.drift_alerts})
        if drifting:
            chunks = len({alert["chunk"] for alert in self.drift_alerts})
            lines.append(
                f"  Drift in {chunks} of {len(self.chunks)} chunks: "
                f"{', '.join(drifting)}."
            )
        if not self.performance_alerts:
            what = "estimated or realized" if self.estimated else "realized"
            lines.append(f"  No {what} performance past its threshold.")
        if self.note:
            lines.append(f"  {self.note}")
        return "\n".join(lines)


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4f}"
