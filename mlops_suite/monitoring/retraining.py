"""Decide whether the served model needs retraining, and say why.

The continuous-training loop asks one question of the latest window of served data:
has it moved away from what the champion was trained on (drift, against the training
data's profile registered with the champion), or has the champion got worse on it
(decay, when ground-truth labels have arrived)? Either one, or no champion at all,
means retrain; the reason names the features, scores and metrics behind the decision.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field, replace
from typing import Any

from mlops_suite.explanation import importance_of
from mlops_suite.monitoring.drift import detect_drift
from mlops_suite.monitoring.drift_report import DISTANCE, DriftReport, FeatureDrift
from mlops_suite.monitoring.thresholds import MISSING_RATE, UNSEEN_SHARE
from mlops_suite.registry import ModelRegistry


@dataclass(frozen=True)
class RetrainingDecision:
    """Whether to retrain, why, and the evidence.

    Attributes:
        retrain: True when the champion should be retrained.
        reason: One sentence naming what moved (or that nothing did).
        champion_version: The champion the data was compared with, if any.
        drift: The drift report, when there was a champion to compare with.
        decay: The decay report, when labels were given.
    """

    retrain: bool
    reason: str
    champion_version: int | None = None
    drift: DriftReport | None = None
    decay: dict[str, Any] | None = field(default=None)

    def to_dict(self) -> dict[str, Any]:
        """The decision as JSON-ready data."""
        return {
            "retrain": self.retrain,
            "reason": self.reason,
            "champion_version": self.champion_version,
            "drift": self.drift.to_dict() if self.drift else None,
            "decay": self.decay,
        }

    def to_html(self) -> str:
        """The HTML report: the drift report, or the reason alone without one."""
        if self.drift is not None:
            from mlops_suite.monitoring.report import render_drift_html

            return render_drift_html(self.drift)
        return f"<html><body><p>{html.escape(self.reason)}</p></body></html>"

    def to_markdown(self) -> str:
        """A short Markdown summary for the KFP UI and the Vertex console."""
        lines = [
            f"## {'Retrain' if self.retrain else 'No retraining'}",
            "",
            self.reason,
        ]
        if self.drift is not None:
            importance = self.drift.importance or {}
            extra = ["importance"] if importance else []
            head = ["feature", "metric", "score", "threshold", *extra, "drifted"]
            lines += ["", "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
            for name, result in self.drift.features.items():
                cells = [name, result.metric, f"{result.score:.4f}"]
                cells.append(f"{result.threshold:.4f}")
                if importance:
                    weight = importance.get(name)
                    cells.append("n/a" if weight is None else f"{weight:.4f}")
                cells.append("yes" if result.drifted else "no")
                lines.append("| " + " | ".join(cells) + " |")
        return "\n".join(lines) + "\n"


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
) -> RetrainingDecision:
    """Compares the latest window with the champion's training profile (and labels).

    Args:
        registry_uri: The model registry.
        model_name: The registered model's name.
        current: The latest window: a Parquet file, a folder of Parquet batches (as
            the payload sink writes them), a CSV file, or a DataFrame.
        thresholds: Drift thresholds (dict, JSON file or None for the defaults).
        labels: Ground truth for logged predictions (a file or DataFrame with
            ``request_id`` and ``label_column``), or None to skip the decay check.
        label_column: The labels' column.
        max_metric_drop: The relative drop of a live metric, against the metric
            recorded at approval, that counts as decay.
        force: Retrain whatever the data says; the evidence is still gathered and
            the reason still says what it showed.

    Returns:
        The decision.
    """
    decision = _decide(
        registry_uri,
        model_name,
        current,
        thresholds=thresholds,
        labels=labels,
        label_column=label_column,
        max_metric_drop=max_metric_drop,
    )
    if not force:
        return decision
    return replace(
        decision, retrain=True, reason=f"Retrain (forced). {decision.reason}"
    )


def _decide(
    registry_uri: str,
    model_name: str,
    current: Any,
    *,
    thresholds: Any,
    labels: Any,
    label_column: str,
    max_metric_drop: float,
) -> RetrainingDecision:
    """The decision the data alone makes."""
    registry = ModelRegistry(registry_uri)
    champion = registry.champion(model_name)
    if champion is None:
        return RetrainingDecision(
            True, f"Retrain: model {model_name!r} has no champion yet."
        )
    metadata = registry.metadata(model_name, champion.version)
    features = [feature["name"] for feature in metadata["features"]]
    drift = replace(
        detect_drift(
            metadata["statistics"], current, thresholds=thresholds, features=features
        ),
        importance=importance_of(metadata),
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
    reasons = []
    if drift.drifted_features:
        # The feature the model leans on most comes first.
        scored = ", ".join(
            f"{name} ({_why(drift.features[name])})"
            for name in drift.drifted_by_importance
        )
        reasons.append(f"drift in {scored}")
    if drift.prediction_drifted:
        reasons.append("the predictions drifted")
    if decay and decay.get("decayed"):
        worse = [
            f"{name} {entry['reference']:.3f} -> {entry['live']:.3f}"
            for name, entry in decay["metrics"].items()
            if entry.get("decayed")
        ]
        reasons.append(f"decay: {', '.join(worse)}")
    where = f"champion v{champion.version} on {drift.rows_current} rows"
    if reasons:
        reason = f"Retrain: {'; '.join(reasons)} ({where})."
    else:
        checked = "drift and decay" if decay else "drift"
        reason = f"No retraining: no {checked} beyond the thresholds ({where})."
    return RetrainingDecision(
        retrain=bool(reasons),
        reason=reason,
        champion_version=champion.version,
        drift=drift,
        decay=decay,
    )


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
