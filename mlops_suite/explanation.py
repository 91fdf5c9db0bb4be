"""The explanation a version records, and how readers rank it.

:func:`mlops_suite.evaluation.importance.explain` measures each original column's
permutation importance at evaluation; registration stores it in the version's
``metadata.json`` as ``explanation.permutation_importance``:
``{feature: {"mean": ..., "std": ...}}``. The evaluation report, the model card and
the drift report read it through this module, which imports nothing heavy, so the
monitoring side does not pay for scikit-learn to show a column of numbers.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

# The key of metadata.json's explanation, and of the method inside it.
EXPLANATION_KEY = "explanation"
PERMUTATION_IMPORTANCE = "permutation_importance"


def ranked_importance(
    explanation: Mapping[str, Any] | None,
) -> list[tuple[str, float, float]]:
    """The recorded permutation importance, most important first.

    Args:
        explanation: An ``explanation`` mapping, or None.

    Returns:
        ``(feature, mean, std)`` by decreasing mean, ties by name; a value recorded
        as null counts as 0; empty without an explanation.
    """
    recorded = (explanation or {}).get(PERMUTATION_IMPORTANCE)
    if not isinstance(recorded, Mapping):
        return []
    rows = [
        (str(name), float(entry.get("mean") or 0.0), float(entry.get("std") or 0.0))
        for name, entry in recorded.items()
        if isinstance(entry, Mapping)
    ]
    return sorted(rows, key=lambda row: (-row[1], row[0]))


def importance_of(metadata: Mapping[str, Any] | None) -> dict[str, float] | None:
    """Each feature's mean importance recorded in a version's metadata.

    Args:
        metadata: A version's ``metadata.json`` (or a model folder's), or None.

    Returns:
        ``{feature: mean}``, or None when the version records no explanation.
    """
    explanation = (metadata or {}).get(EXPLANATION_KEY)
    rows = ranked_importance(explanation if isinstance(explanation, Mapping) else None)
    return {name: mean for name, mean, _ in rows} or None


def negligible_features(
    importance: Mapping[str, float] | None, min_share: float
) -> list[str]:
    """The features the model does not rely on, by their permutation importance.

    A feature is negligible when shuffling it does not hurt the model (mean
    importance at most 0) or its importance is below ``min_share`` of the total of
    the positive ones: a pure-noise column, or a ``year`` the model learned nothing
    from. Importance is a drop of the primary metric, so shares compare features
    whatever the metric's unit (ROC AUC, or RMSE in the label's unit).

    Args:
        importance: ``{feature: mean}`` (:func:`importance_of`), or None.
        min_share: The share of the total importance (0 to 1) below which a
            feature is negligible.

    Returns:
        The negligible features, in the order given; empty without importance, so
        a version that records none treats every feature as one it relies on.
    """
    if not importance:
        return []
    total = sum(max(float(mean), 0.0) for mean in importance.values())
    return [
        name
        for name, mean in importance.items()
        if mean <= 0 or (total > 0 and mean / total < min_share)
    ]
