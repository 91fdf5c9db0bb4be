"""What a drift check found: per feature, and for the whole table.

:func:`~mlops_suite.monitoring.drift.detect_drift` returns a :class:`DriftReport`;
its :meth:`~DriftReport.to_dict` is ``drift.json``, and :meth:`~DriftReport.from_dict`
reads it back (the HTML report and the retraining decision take either).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

# Reasons a feature drifts, as recorded in FeatureDrift.reasons (the other two are
# the threshold names MISSING_RATE and UNSEEN_SHARE of .thresholds).
DISTANCE = "distance"


@dataclass(frozen=True)
class FeatureDrift:
    """How one feature (or the prediction) moved between reference and current.

    Attributes:
        name: Column name.
        type: ``numeric``, ``categorical`` or ``boolean``.
        metric: ``jensenshannon``, ``psi`` or ``linf``.
        score: The distance; 0.0 when either side has no value to compare.
        threshold: The distance's threshold.
        drifted: Whether any check is above its threshold.
        reasons: The checks above their threshold: ``distance``, ``missing_rate``,
            ``unseen_share``.
        missing_rate_reference: Share of reference rows without a usable value.
        missing_rate_current: Same for the current data.
        missing_rate_threshold: Threshold of the absolute change of missing rate.
        unseen_share: Share of current values absent from the reference
            (categorical only; ``None`` for numeric and boolean features, and when
            the reference lumps rare values under ``__other__``).
        unseen_threshold: Threshold of ``unseen_share`` (``None`` when not used).
        out_of_range_share: Share of current values outside the reference's
            [min, max] (numeric only).
        values_reference: Usable reference values.
        values_current: Usable current values.
        edges: Numeric: the reference's bin edges; counts then have one slot below
            ``edges[0]``, one per bin, and one above ``edges[-1]``.
        categories: Categorical/boolean: the value of each count slot.
        reference_counts: Reference counts per slot.
        current_counts: Current counts per slot.
    """

    name: str
    type: str
    metric: str
    score: float
    threshold: float
    drifted: bool
    reasons: tuple[str, ...]
    missing_rate_reference: float
    missing_rate_current: float
    missing_rate_threshold: float
    unseen_share: float | None
    unseen_threshold: float | None
    out_of_range_share: float | None
    values_reference: int
    values_current: int
    edges: tuple[float, ...] | None = None
    categories: tuple[str, ...] | None = None
    reference_counts: tuple[int, ...] = ()
    current_counts: tuple[int, ...] = ()

    @property
    def missing_rate_change(self) -> float:
        """Current minus reference missing rate."""
        return self.missing_rate_current - self.missing_rate_reference

    def to_dict(self) -> dict[str, Any]:
        """Return the feature's result as a JSON-ready dict."""
        distribution: dict[str, Any] = (
            {"edges": list(self.edges)}
            if self.edges is not None
            else {"categories": list(self.categories or ())}
        )
        distribution["reference"] = list(self.reference_counts)
        distribution["current"] = list(self.current_counts)
        return {
            "type": self.type,
            "metric": self.metric,
            "score": self.score,
            "threshold": self.threshold,
            "drifted": self.drifted,
            "reasons": list(self.reasons),
            "missing_rate_reference": self.missing_rate_reference,
            "missing_rate_current": self.missing_rate_current,
            "missing_rate_change": self.missing_rate_change,
            "missing_rate_threshold": self.missing_rate_threshold,
            "unseen_share": self.unseen_share,
            "unseen_threshold": self.unseen_threshold,
            "out_of_range_share": self.out_of_range_share,
            "values_reference": self.values_reference,
            "values_current": self.values_current,
            "distribution": distribution,
        }

    @classmethod
    def from_dict(cls, name: str, payload: Mapping[str, Any]) -> FeatureDrift:
        """Rebuild a result from :meth:`to_dict` output."""
        distribution = payload.get("distribution") or {}
        edges = distribution.get("edges")
        categories = distribution.get("categories")
        return cls(
            name=name,
            type=payload["type"],
            metric=payload["metric"],
            score=float(payload["score"]),
            threshold=float(payload["threshold"]),
            drifted=bool(payload["drifted"]),
            reasons=tuple(payload.get("reasons", ())),
            missing_rate_reference=float(payload["missing_rate_reference"]),
            missing_rate_current=float(payload["missing_rate_current"]),
            missing_rate_threshold=float(payload["missing_rate_threshold"]),
            unseen_share=payload.get("unseen_share"),
            unseen_threshold=payload.get("unseen_threshold"),
            out_of_range_share=payload.get("out_of_range_share"),
            values_reference=int(payload.get("values_reference", 0)),
            values_current=int(payload.get("values_current", 0)),
            edges=tuple(edges) if edges is not None else None,
            categories=tuple(categories) if categories is not None else None,
            reference_counts=tuple(distribution.get("reference", ())),
            current_counts=tuple(distribution.get("current", ())),
        )


@dataclass(frozen=True)
class DriftReport:
    """The drift of every compared feature, and of the prediction when present.

    Attributes:
        features: Per feature, in the order compared.
        prediction: The prediction column's drift, or ``None`` when the reference or
            the current data has no prediction column.
        rows_reference: Rows of the reference.
        rows_current: Rows of the current data.
        reference: What the reference was (a path, or "the reference statistics").
        current: What the current data was.
        importance: Each feature's mean permutation importance, when the model
            version compared with records one (``explanation`` in its metadata).
        ignored: Columns left out of the comparison by the thresholds
            (``ignore_features``).
    """

    features: Mapping[str, FeatureDrift]
    prediction: FeatureDrift | None
    rows_reference: int
    rows_current: int
    reference: str = ""
    current: str = ""
    importance: Mapping[str, float] | None = None
    ignored: tuple[str, ...] = ()

    @property
    def drifted_features(self) -> list[str]:
        """Names of the drifted features, in the order compared."""
        return [name for name, result in self.features.items() if result.drifted]

    @property
    def drifted_by_importance(self) -> list[str]:
        """Names of the drifted features, the most important to the model first.

        Without importance, or for features it does not cover, the order compared.
        """
        known = self.importance or {}
        order = {name: i for i, name in enumerate(self.drifted_features)}
        return sorted(
            self.drifted_features,
            key=lambda name: (name not in known, -known.get(name, 0.0), order[name]),
        )

    @property
    def prediction_drifted(self) -> bool:
        """Whether the prediction column drifted."""
        return self.prediction is not None and self.prediction.drifted

    @property
    def drifted(self) -> bool:
        """Whether any feature or the prediction drifted."""
        return bool(self.drifted_features) or self.prediction_drifted

    def to_dict(self) -> dict[str, Any]:
        """Return the report as a JSON-ready dict."""
        return {
            "features": {
                name: result.to_dict() for name, result in self.features.items()
            },
            "prediction": (
                {"name": self.prediction.name, **self.prediction.to_dict()}
                if self.prediction is not None
                else None
            ),
            "drifted": self.drifted,
            "drifted_features": self.drifted_features,
            "prediction_drifted": self.prediction_drifted,
            "rows_reference": self.rows_reference,
            "rows_current": self.rows_current,
            "reference": self.reference,
            "current": self.current,
            "importance": dict(self.importance) if self.importance else None,
            "ignored_features": list(self.ignored),
        }

    @classmethod
    def from_dict(cls, payload: Mapping[str, Any]) -> DriftReport:
        """Rebuild a report from :meth:`to_dict` output (e.g. a saved JSON file)."""
        prediction = payload.get("prediction")
        return cls(
            features={
                name: FeatureDrift.from_dict(name, entry)
                for name, entry in payload["features"].items()
            },
            prediction=(
                FeatureDrift.from_dict(prediction["name"], prediction)
                if prediction
                else None
            ),
            rows_reference=int(payload["rows_reference"]),
            rows_current=int(payload["rows_current"]),
            reference=str(payload.get("reference", "")),
            current=str(payload.get("current", "")),
            importance=payload.get("importance") or None,
            ignored=tuple(payload.get("ignored_features") or ()),
        )
