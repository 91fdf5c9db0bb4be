"""The drift measures of one feature, and the decision they make.

Per feature, :func:`judge_feature` compares the current counts with the
reference's: one distance between the two distributions
(:func:`distribution_distance`: Jensen–Shannon, PSI or L-infinity), the change of
missing-value rate, and, for categorical features, the share of values the
reference never saw. Each is checked against its threshold (:mod:`.thresholds`);
:mod:`.drift` documents how the defaults were calibrated.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import numpy.typing as npt

from mlops_suite.artifacts import CATEGORICAL
from mlops_suite.data.statistics import OTHER
from mlops_suite.errors import MlopsError
from mlops_suite.monitoring.drift_report import DISTANCE, FeatureDrift
from mlops_suite.monitoring.profile import UNTRACKED, ColumnCounter, NumericCounter
from mlops_suite.monitoring.reference import ReferenceColumn
from mlops_suite.monitoring.thresholds import (
    DISTANCES,
    JENSEN_SHANNON,
    L_INFINITY,
    MISSING_RATE,
    PSI,
    UNSEEN_SHARE,
    FeatureThresholds,
)

# PSI divides by shares; empty bins get this share, the usual convention.
PSI_FLOOR = 1e-4
# Unseen values kept by name in a report; the rest are summed under UNTRACKED.
REPORTED_UNSEEN = 50


def distribution_distance(
    metric: str, reference: npt.ArrayLike, current: npt.ArrayLike
) -> float:
    """Distance between two histograms given as counts over the same slots.

    Args:
        metric: ``jensenshannon`` (base 2, in [0, 1]), ``psi`` (sum of
            ``(q - p) * ln(q / p)`` over shares, empty slots floored at 1e-4) or
            ``linf`` (largest absolute difference of shares).
        reference: Reference counts (or shares).
        current: Current counts (or shares), same length.

    Returns:
        The distance; 0.0 when either side is empty.
    """
    p = np.asarray(reference, dtype=np.float64)
    q = np.asarray(current, dtype=np.float64)
    if p.sum() <= 0 or q.sum() <= 0:
        return 0.0
    p, q = p / p.sum(), q / q.sum()
    if metric == JENSEN_SHANNON:
        return _jensen_shannon(p, q)
    if metric == PSI:
        p, q = np.maximum(p, PSI_FLOOR), np.maximum(q, PSI_FLOOR)
        return float(np.sum((q - p) * np.log(q / p)))
    if metric == L_INFINITY:
        return float(np.max(np.abs(p - q)))
    raise MlopsError(f"unknown drift metric '{metric}'; expected one of {DISTANCES}")


def _jensen_shannon(p: np.ndarray, q: np.ndarray) -> float:
    """Jensen–Shannon distance in base 2 between two share vectors, in [0, 1].

    The square root of the mean Kullback–Leibler divergence of each from their
    average, as ``scipy.spatial.distance.jensenshannon(p, q, base=2)`` computes it;
    written out here so that monitoring does not import SciPy (a quarter of
    ``mlops monitor``'s start).
    """
    m = (p + q) / 2.0

    def divergence(x: np.ndarray) -> float:
        # 0 * log(0 / m) counts as 0; m > 0 wherever x > 0.
        present = x > 0
        return float(np.sum(x[present] * np.log(x[present] / m[present])))

    js = (divergence(p) + divergence(q)) / np.log(2.0)
    return float(np.sqrt(max(js, 0.0) / 2.0))


def judge_feature(
    name: str,
    reference: ReferenceColumn,
    counter: ColumnCounter,
    metric: str,
    limits: FeatureThresholds,
) -> FeatureDrift:
    """Measure one feature's drift and judge it against its thresholds.

    Args:
        name: The current data's column name.
        reference: The reference column it is compared with.
        counter: The current column's counts, on the reference's bins (numeric) or
            values (categorical, boolean).
        metric: The distance: ``jensenshannon``, ``psi`` or ``linf``.
        limits: The feature's thresholds.

    Returns:
        The scores, the decision and the two distributions as reported.
    """
    missing_current = counter.missing / counter.rows if counter.rows else 0.0
    unseen_share: float | None = None
    out_of_range: float | None = None
    edges: tuple[float, ...] | None = None
    categories: tuple[str, ...] | None = None
    if isinstance(counter, NumericCounter):
        # The reference has nothing outside its own [min, max].
        reference_counts = (
            np.concatenate([[0], reference.counts, [0]])
            if reference.counts.size
            else np.zeros(0, dtype=np.int64)
        )
        current_counts = counter.counts
        score = (
            distribution_distance(metric, reference_counts, current_counts)
            if reference_counts.size
            else 0.0
        )
        if counter.values and current_counts.size:
            outside = int(current_counts[0] + current_counts[-1])
            out_of_range = outside / counter.values
        edges = tuple(float(edge) for edge in reference.edges)
        reference_list = [int(n) for n in reference_counts]
        current_list = [int(n) for n in current_counts]
    else:
        aligned, unseen = _align(reference.frequencies, counter.counts)
        ranked_unseen = sorted(unseen.items(), key=lambda item: (-item[1], item[0]))
        words = [*reference.frequencies, *(word for word, _ in ranked_unseen)]
        reference_full = [*reference.frequencies.values(), *([0] * len(unseen))]
        current_full = [*aligned.values(), *(number for _, number in ranked_unseen)]
        score = distribution_distance(metric, reference_full, current_full)
        if reference.kind == CATEGORICAL and OTHER not in reference.frequencies:
            total = sum(unseen.values())
            unseen_share = total / counter.values if counter.values else 0.0
        # Keep the report small: the largest unseen values by name, the rest summed.
        keep = len(reference.frequencies) + REPORTED_UNSEEN
        categories = tuple(words[:keep])
        reference_list = reference_full[:keep]
        current_list = current_full[:keep]
        if len(words) > keep:
            categories += (UNTRACKED,)
            reference_list.append(0)
            current_list.append(sum(current_full[keep:]))
    reasons = []
    if score > limits.distance:
        reasons.append(DISTANCE)
    if abs(missing_current - reference.missing_rate) > limits.missing_rate:
        reasons.append(MISSING_RATE)
    if unseen_share is not None and unseen_share > limits.unseen_share:
        reasons.append(UNSEEN_SHARE)
    return FeatureDrift(
        name=name,
        type=reference.kind,
        metric=metric,
        score=score,
        threshold=limits.distance,
        drifted=bool(reasons),
        reasons=tuple(reasons),
        missing_rate_reference=reference.missing_rate,
        missing_rate_current=missing_current,
        missing_rate_threshold=limits.missing_rate,
        unseen_share=unseen_share,
        unseen_threshold=limits.unseen_share if unseen_share is not None else None,
        out_of_range_share=out_of_range,
        values_reference=reference.values,
        values_current=counter.values,
        edges=edges,
        categories=categories,
        reference_counts=tuple(reference_list),
        current_counts=tuple(current_list),
    )


def _align(
    reference: Mapping[str, int], current: Mapping[str, int]
) -> tuple[dict[str, int], dict[str, int]]:
    """Put current counts on the reference's values; return them and the unseen.

    When the reference summed its rare values under ``__other__``, a value it does
    not list may be one of those, so it joins ``__other__`` instead of counting as
    unseen.
    """
    aligned = dict.fromkeys(reference, 0)
    unseen: dict[str, int] = {}
    lumped = OTHER in reference
    for word, number in current.items():
        if word in aligned and word != UNTRACKED:
            aligned[word] += number
        elif lumped:
            aligned[OTHER] += number
        else:
            unseen[word] = unseen.get(word, 0) + number
    return aligned, unseen
