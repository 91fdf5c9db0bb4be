"""Decide whether the served model needs retraining, and say which signal decided.

The continuous-training loop asks of the latest window of served data, in order:

1. **Has the champion got worse?** With labels joined (at least 30 rows), the
   realized metrics against their thresholds; without, a classifier's metrics
   estimated from its calibrated probabilities (CBPE). The threshold of a metric is
   the one the user set (``performance`` in the thresholds file, or the
   ``performance_thresholds`` argument), else the one derived from the performance
   reference recorded at registration: the lower of the reference mean minus three
   standard deviations of its chunks' performance and the approval minimum (see
   :mod:`.performance_check`). A version registered without a
   reference falls back, with labels, to the decay check (a relative drop against
   the metrics recorded at approval). A regressor's performance is not estimated.
2. **Has the data moved in features that matter?** Drift against the training
   profile registered with the champion, of the features the model relies on: a
   feature with negligible permutation importance (below ``min_importance`` of the
   total, 1% by default) is reported when it drifts but does not call for retraining
   alone, and ``ignore_features`` leaves columns out altogether. A version that
   records no importance counts every feature. Drift of the predictions counts too.

No champion at all means retrain. The decision names the signal that decided
(:data:`DECIDED_BY`) and keeps the evidence: the performance check with each
estimate's band and threshold, the drift report, and the decay report.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from mlops_suite.artifacts import CLASSIFICATION
from mlops_suite.explanation import importance_of, negligible_features
from mlops_suite.monitoring.drift import detect_drift
from mlops_suite.monitoring.drift_report import DISTANCE, DriftReport, FeatureDrift
from mlops_suite.monitoring.performance_check import (
    ESTIMATED,
    REALIZED,
    PerformanceCheck,
    check_performance,
)
from mlops_suite.monitoring.thresholds import (
    DEFAULT_MIN_IMPORTANCE,
    MISSING_RATE,
    UNSEEN_SHARE,
    DriftThresholds,
    load_thresholds,
)
from mlops_suite.registry import ModelRegistry
from mlops_suite.registry.runs import RETRAINING_STEP, validate_run_id

NO_CHAMPION = "no_champion"
FORCED = "forced"
DRIFT = "drift"
NONE = "none"
# Every value of RetrainingDecision.decided_by.
DECIDED_BY = (ESTIMATED, REALIZED, DRIFT, NO_CHAMPION, FORCED, NONE)
_NO_DECAY = "no decay"


@dataclass(frozen=True)
class RetrainingDecision:
    """Whether to retrain, which signal decided, why, and the evidence.

    Attributes:
        retrain: True when the champion should be retrained.
        reason: One sentence naming what moved (or that nothing did).
        decided_by: The signal that decided, one of :data:`DECIDED_BY`:
            ``estimated_performance``, ``realized_performance``, ``drift``,
            ``no_champion``, ``forced``, or ``none`` (no retraining).
        champion_version: The champion the data was compared with, if any.
        drift: The drift report, when there was a champion to compare with.
        decay: The decay report, when labels were given.
        performance: The champion's performance on the window, estimated and
            realized, when there was a champion.
        performance_signal: ``estimated_performance`` or ``realized_performance``
            (the decay check, for a version without a performance reference), or
            None when performance could not be judged.
        performance_fell: Whether that signal fell past its threshold.
        negligible: Features whose drift was reported but does not count, the
            model relying on them too little.
        min_importance: The importance share below which a feature is negligible.
    """

    retrain: bool
    reason: str
    decided_by: str = NONE
    champion_version: int | None = None
    drift: DriftReport | None = None
    decay: dict[str, Any] | None = field(default=None)
    performance: PerformanceCheck | None = None
    performance_signal: str | None = None
    performance_fell: bool = False
    negligible: tuple[str, ...] = ()
    min_importance: float = DEFAULT_MIN_IMPORTANCE

    def to_dict(self) -> dict[str, Any]:
        """The decision as JSON-ready data (``drift.json``)."""
        return {
            "retrain": self.retrain,
            "reason": self.reason,
            "decided_by": self.decided_by,
            "champion_version": self.champion_version,
            "performance_signal": self.performance_signal,
            "performance_fell": self.performance_fell,
            "performance": self.performance.to_dict() if self.performance else None,
            "drift": self.drift.to_dict() if self.drift else None,
            "decay": self.decay,
            "ignored_features": list(self.drift.ignored) if self.drift else [],
            "negligible_features": list(self.negligible),
            "min_importance": self.min_importance,
        }

    def to_html(self) -> str:
        """The HTML report: verdict, performance, then the drift report."""
        from mlops_suite.monitoring.retraining_report import render_decision_html

        return render_decision_html(self)

    def to_markdown(self) -> str:
        """A short Markdown summary for the KFP UI and the Vertex console."""
        from mlops_suite.monitoring.retraining_report import render_decision_markdown

        return render_decision_markdown(self)


def decide_retraining(
    registry_uri: str,
    model_name: str,
    current: Any,
    *,
    thresholds: Any = None,
    labels: Any = None,
    label_column: str = "label",
    max_metric_drop: float = 0.05,
    force: bool = False,
    ignore_features: Sequence[str] = (),
    performance_thresholds: Mapping[str, Any] | None = None,
    pipeline_run_id: str = "",
) -> RetrainingDecision:
    """Judges the latest window: the champion's performance, then drift that matters.

    Args:
        registry_uri: The model registry.
        model_name: The registered model's name.
        current: The latest window: a Parquet file, a folder of Parquet batches (as
            the payload sink writes them), a CSV file, or a DataFrame.
        thresholds: Monitoring thresholds (dict, JSON file or None for the
            defaults): drift per feature, ``ignore_features``, ``performance``,
            ``min_importance`` (format in :mod:`.thresholds`).
        labels: Ground truth for logged predictions (a file or DataFrame with
            ``request_id`` and ``label_column``), or None: performance is then
            estimated, for a classifier.
        label_column: The labels' column.
        max_metric_drop: The relative drop of a live metric, against the metric
            recorded at approval, that counts as decay.
        force: Retrain whatever the data says; the evidence is still gathered and
            the reason still says what it showed.
        ignore_features: Columns never compared, besides those of ``thresholds``.
        performance_thresholds: A threshold per metric (``{"accuracy": 0.85}``),
            replacing those of ``thresholds`` and of the performance reference.
        pipeline_run_id: The run; when given, the decision is recorded in the
            registry (:mod:`mlops_suite.registry.runs`) for the run's exit step.

    Returns:
        The decision.

    Raises:
        MlopsError: A threshold is malformed, or the window or labels cannot be
            read or do not match the champion.
        RegistryError: The run id is not path-safe, or the decision could not be
            recorded.
    """
    if pipeline_run_id:  # refused before the window is read
        validate_run_id(pipeline_run_id)
    limits = load_thresholds(thresholds).with_settings(
        ignore=ignore_features, performance=performance_thresholds
    )
    decision = _decide(
        registry_uri,
        model_name,
        current,
        limits=limits,
        labels=labels,
        label_column=label_column,
        max_metric_drop=max_metric_drop,
    )
    if force:
        decision = replace(
            decision,
            retrain=True,
            decided_by=FORCED,
            reason=f"Retrain (forced). {decision.reason}",
        )
    if pipeline_run_id:
        ModelRegistry(registry_uri).runs.write(
            model_name,
            pipeline_run_id,
            RETRAINING_STEP,
            decision="retrain" if decision.retrain else "not-retrained",
            reason=decision.reason,
            champion_version=decision.champion_version,
        )
    return decision


def _decide(
    registry_uri: str,
    model_name: str,
    current: Any,
    *,
    limits: DriftThresholds,
    labels: Any,
    label_column: str,
    max_metric_drop: float,
) -> RetrainingDecision:
    """The decision the data alone makes."""
    from mlops_suite.monitoring.monitored_model import from_registry

    registry = ModelRegistry(registry_uri)
    champion = registry.champion(model_name)
    if champion is None:
        return RetrainingDecision(
            True,
            f"Retrain: model {model_name!r} has no champion yet.",
            decided_by=NO_CHAMPION,
        )
    metadata = registry.metadata(model_name, champion.version)
    features = [feature["name"] for feature in metadata["features"]]
    importance = importance_of(metadata)
    drift = replace(
        detect_drift(
            metadata["statistics"], current, thresholds=limits, features=features
        ),
        importance=importance,
    )
    decay = None
    if labels is not None:
        from mlops_suite.monitoring.decay import decay_of_version

        decay = decay_of_version(
            current,
            labels,
            metadata,
            label_column=label_column,
            max_drop=max_metric_drop,
        ).to_dict()
    model = from_registry(registry_uri, model_name, champion.version, metadata)
    performance = check_performance(
        current,
        model,
        labels=labels,
        label_column=label_column,
        thresholds=limits.performance,
    )
    signal, fell, judged = _performance_verdict(performance, decay)

    negligible = set(negligible_features(importance, limits.min_importance))
    drifted = drift.drifted_by_importance
    relied = [name for name in drifted if name not in negligible]
    harmless = [name for name in drifted if name in negligible]

    reasons = []
    if fell:
        reasons.append(judged)
    if relied:
        # The feature the model leans on most comes first.
        scored = ", ".join(f"{name} ({_why(drift.features[name])})" for name in relied)
        reasons.append(f"drift in {scored}")
    if drift.prediction_drifted:
        reasons.append("the predictions drifted")
    decided_by = NONE
    if fell and signal is not None:
        decided_by = signal
    elif reasons:
        decided_by = DRIFT

    where = f"champion v{champion.version} on {drift.rows_current} rows"
    notes = [_harmless(harmless, importance or {})] if harmless else []
    if reasons:
        if judged and not fell:
            notes.append(
                "no decay beyond the thresholds" if judged == _NO_DECAY else judged
            )
        reason = f"Retrain: {'; '.join(reasons + notes)} ({where})."
    else:
        if not drift.drifted_features:
            both = judged == _NO_DECAY
            checked = "drift and decay" if both else "drift"
            notes.insert(0, f"no {checked} beyond the thresholds")
            if judged and not both:
                notes.append(judged)
        elif judged:
            notes.append(
                "no decay beyond the thresholds" if judged == _NO_DECAY else judged
            )
        if signal is None and performance.task != CLASSIFICATION:
            notes.append("performance is not estimated for regression")
        reason = f"No retraining: {'; '.join(notes)} ({where})."
    return RetrainingDecision(
        retrain=bool(reasons),
        reason=reason,
        decided_by=decided_by,
        champion_version=champion.version,
        drift=drift,
        decay=decay,
        performance=performance,
        performance_signal=signal,
        performance_fell=fell,
        negligible=tuple(name for name in drift.features if name in negligible),
        min_importance=limits.min_importance,
    )


def _performance_verdict(
    performance: PerformanceCheck, decay: Mapping[str, Any] | None
) -> tuple[str | None, bool, str]:
    """The performance signal, whether it fell, and the words for it.

    With labels but no threshold for the realized metrics (a version registered
    without a performance reference), the decay check judges them.
    """
    if decay is not None and not performance.realized_judged:
        if decay.get("decayed"):
            worse = [
                f"{name} {entry['reference']:.3f} -> {entry['live']:.3f}"
                for name, entry in decay["metrics"].items()
                if entry.get("decayed")
            ]
            return REALIZED, True, f"decay: {', '.join(worse)}"
        return REALIZED, False, _NO_DECAY
    signal = performance.signal
    if signal is None:
        return None, False, ""
    return signal, performance.fell, performance.describe()


def _harmless(names: list[str], importance: Mapping[str, float]) -> str:
    """The drifted features the model does not rely on, with their importance."""
    listed = ", ".join(
        f"{name} (importance {importance.get(name, 0.0):.4f})" for name in names
    )
    them = "it" if len(names) == 1 else "them"
    return f"{listed} drifted, but the model does not rely on {them}"


def _why(feature: FeatureDrift) -> str:
    """What moved in one drifted feature, with the numbers behind it."""
    parts = []
    if DISTANCE in feature.reasons:
        parts.append(f"{feature.metric} {feature.score:.3f} > {feature.threshold:.3f}")
    if MISSING_RATE in feature.reasons:
        parts.append(
            f"missing {feature.missing_rate_reference:.0%} -> "
            f"{feature.missing_rate_current:.0%}"
        )
    if UNSEEN_SHARE in feature.reasons and feature.unseen_share is not None:
        parts.append(f"{feature.unseen_share:.0%} unseen categories")
    return "; ".join(parts) or f"{feature.metric} {feature.score:.3f}"
