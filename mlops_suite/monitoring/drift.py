"""Detect drift between a model's training data and the data it now serves.

``detect_drift`` compares every feature of the current data (live traffic, as Parquet
batch files or a DataFrame) with a reference: the statistics profile saved with the
model at registration (``statistics.json`` format) or a raw reference file. Per
feature it records, always, one distance score with its threshold, plus the change
in missing-value rate and, for categorical features, the share of values the
reference never saw. It uses the measures of Vertex AI Model Monitoring and TFDV:

* numeric: Jensen–Shannon distance (``scipy.spatial.distance.jensenshannon``, base
  2, between 0 and 1) or, on request, the population stability index, on the
  reference's 20 equal-width bins from min to max plus two open-ended bins that
  catch values below the reference minimum and above its maximum;
* categorical and boolean: L-infinity distance, the largest absolute change in one
  value's share (or, on request, Jensen–Shannon or PSI), over the reference's values,
  its ``__other__`` bucket and every unseen value.

Decisions are by effect size, never by p-value, so a million rows of unchanged data
flag nothing while a change a person would care about is flagged at any size. A
feature drifts when its distance, the absolute change of its missing rate, or its
unseen share is strictly above the threshold (see :mod:`.thresholds`).

Calibration of the defaults (Jensen–Shannon 0.12, PSI 0.1, L-infinity 0.1,
missing-rate change 0.1, unseen share 0.05): scores this module gives for a normal
feature and a 4-value categorical feature (shares 0.4/0.3/0.2/0.1), one draw at 1M
rows and 200 seeded draws (min-max) at 2k rows, asserted by
``tests/monitoring/test_calibration.py``.

=================================  ============  ============  ============
case                               JS            PSI           L-infinity
=================================  ============  ============  ============
same distribution, 1M / 1M         0.003         0.00003       0.001
same distribution, 2k / 2k         0.04-0.09     0.01-0.05     0.00-0.04
same distribution, 2k / 1k         0.05-0.11
mean +0.5 std, 1M / 1M             0.21          0.25
mean +0.5 std, 2k / 2k             0.18-0.26     0.19-0.39
one share +0.2, 1M / 1M            0.21                        0.20
one share +0.2, 2k / 2k            0.18-0.24                   0.18-0.24
=================================  ============  ============  ============

So the Jensen–Shannon threshold sits between the noise of small windows (0.12 keeps
a 1k-row window of unchanged data quiet) and a half-std shift (never below 0.18),
and L-infinity's 0.1 is half the 0.2 change it must catch and twice the noise of
2k rows. Below about 1,000 current values noise keeps growing (2k / 500 rows
reaches 0.15), so judge small windows with care or raise the thresholds. Equal-width
bins lose resolution on heavy-tailed features: a lognormal's 0.5-std shift scores
only 0.02 at 1M rows because its maximum stretches the bins; give such a feature its
own threshold or log-transform it upstream.

Memory stays bounded whatever the number of rows: the data is read in record batches
of ``batch_rows`` rows and histograms and counts are added up batch by batch
(:mod:`.profile`). A raw Parquet reference costs one pass (its min and max come from
the file footer), a CSV reference two, the current data one.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeAlias

import fsspec
import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy.spatial.distance import jensenshannon

from mlops_suite.artifacts import CATEGORICAL, FEATURE_TYPES, NUMERIC
from mlops_suite.data.statistics import OTHER
from mlops_suite.errors import DataError, MlopsError
from mlops_suite.monitoring.profile import (
    UNTRACKED,
    ColumnCounter,
    NumericCounter,
    ValueCounter,
    count_batches,
    merged_kinds,
    profile_parts,
)
from mlops_suite.monitoring.sources import Part, open_parts
from mlops_suite.monitoring.thresholds import (
    DISTANCES,
    JENSEN_SHANNON,
    L_INFINITY,
    MISSING_RATE,
    PSI,
    UNSEEN_SHARE,
    DriftThresholds,
    FeatureThresholds,
    load_thresholds,
)

DEFAULT_BATCH_ROWS = 65_536
PREDICTION_COLUMN = "prediction"
# PSI divides by shares; empty bins get this share, the usual convention.
PSI_FLOOR = 1e-4
# Unseen values kept by name in a report; the rest are summed under UNTRACKED.
REPORTED_UNSEEN = 50
# Reasons a feature drifts, as recorded in FeatureDrift.reasons.
DISTANCE = "distance"
_NUMERIC_METRICS = (JENSEN_SHANNON, PSI)

Reference: TypeAlias = Mapping[str, Any] | str | os.PathLike[str] | pd.DataFrame
Current: TypeAlias = str | os.PathLike[str] | pd.DataFrame


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
    """

    features: Mapping[str, FeatureDrift]
    prediction: FeatureDrift | None
    rows_reference: int
    rows_current: int
    reference: str = ""
    current: str = ""

    @property
    def drifted_features(self) -> list[str]:
        """Names of the drifted features, in the order compared."""
        return [name for name, result in self.features.items() if result.drifted]

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
        )


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
        return float(jensenshannon(p, q, base=2))
    if metric == PSI:
        p, q = np.maximum(p, PSI_FLOOR), np.maximum(q, PSI_FLOOR)
        return float(np.sum((q - p) * np.log(q / p)))
    if metric == L_INFINITY:
        return float(np.max(np.abs(p - q)))
    raise MlopsError(f"unknown drift metric '{metric}'; expected one of {DISTANCES}")


@dataclass(frozen=True)
class _ReferenceColumn:
    """One column of the reference profile, checked and ready to compare."""

    name: str
    kind: str
    rows: int
    values: int
    edges: np.ndarray
    counts: np.ndarray
    frequencies: dict[str, int]

    @property
    def missing_rate(self) -> float:
        return 1.0 - self.values / self.rows if self.rows else 0.0

    @classmethod
    def from_statistics(
        cls, entry: Mapping[str, Any], rows: int, source: str
    ) -> _ReferenceColumn:
        name = str(entry.get("name"))
        kind = entry.get("type")
        if kind not in FEATURE_TYPES:
            raise DataError(
                f"column '{name}' of {source} has type {kind!r}; expected one of "
                f"{list(FEATURE_TYPES)}"
            )
        values = entry.get("count")
        if values is None:
            values = rows - int(entry.get("missing") or 0)
        edges = np.empty(0)
        counts = np.empty(0, dtype=np.int64)
        frequencies: dict[str, int] = {}
        if kind == NUMERIC:
            histogram = entry.get("histogram") or {}
            edges = np.asarray(histogram.get("edges") or [], dtype=np.float64)
            counts = np.asarray(histogram.get("counts") or [], dtype=np.int64)
            shape_ok = (edges.size == counts.size + 1) or (
                edges.size == counts.size == 0
            )
            if not shape_ok or (int(values) > 0 and counts.size == 0):
                raise DataError(
                    f"column '{name}' of {source} has {edges.size} histogram edges "
                    f"and {counts.size} counts; expected edges = counts + 1"
                )
            if edges.size and np.any(np.diff(edges) < 0):
                raise DataError(
                    f"column '{name}' of {source} has decreasing histogram edges; "
                    "expected them sorted from min to max"
                )
        else:
            given = entry.get("frequencies")
            if not isinstance(given, Mapping):
                raise DataError(
                    f"column '{name}' of {source} has no 'frequencies'; expected "
                    "value counts for a categorical or boolean column"
                )
            frequencies = {str(word): int(number) for word, number in given.items()}
        return cls(
            name=name,
            kind=str(kind),
            rows=rows,
            values=int(values),
            edges=edges,
            counts=counts,
            frequencies=frequencies,
        )


def _statistics_columns(
    statistics: Mapping[str, Any], source: str
) -> dict[str, Mapping[str, Any]]:
    columns = statistics.get("columns")
    if (
        not isinstance(columns, list)
        or not all(isinstance(entry, Mapping) for entry in columns)
        or "num_rows" not in statistics
    ):
        raise DataError(
            f"{source} has no 'num_rows' and 'columns' list; expected the "
            "statistics.json format"
        )
    return {str(entry.get("name")): entry for entry in columns}


def detect_drift(
    reference: Reference,
    current: Current,
    *,
    thresholds: Mapping[str, Any]
    | str
    | os.PathLike[str]
    | DriftThresholds
    | None = None,
    features: Sequence[str] | None = None,
    prediction_column: str = PREDICTION_COLUMN,
    reference_prediction_column: str | None = None,
    numeric_metric: str = JENSEN_SHANNON,
    categorical_metric: str = L_INFINITY,
    batch_rows: int = DEFAULT_BATCH_ROWS,
) -> DriftReport:
    """Compare the current data with a reference, feature by feature.

    Args:
        reference: The reference profile as a ``statistics.json`` dict (what the
            registry stores with a model version) or the path of such a ``.json``
            file; or a raw table: a Parquet file, a CSV/TSV file, a folder of
            Parquet files (local or fsspec URI), or a DataFrame.
        current: The data to check: a Parquet file, a folder of Parquet batch files
            (read in path order, at any depth), a CSV file, or a DataFrame.
        thresholds: ``None`` for the defaults, a dict, a JSON file, or
            ``DriftThresholds`` (format in :mod:`.thresholds`).
        features: Columns to compare; default every reference column but the
            prediction column. Pass the model's features when the reference also
            holds the label.
        prediction_column: Name of the prediction column in the current data; its
            drift is reported when the reference has ``reference_prediction_column``.
        reference_prediction_column: Reference column the predictions are compared
            with; default ``prediction_column``. Pass the label name to compare live
            predictions with the training labels.
        numeric_metric: ``jensenshannon`` or ``psi``.
        categorical_metric: ``linf``, ``jensenshannon`` or ``psi``.
        batch_rows: Rows per batch read; memory grows with it, results do not change.

    Returns:
        The report; every compared feature has a score.

    Raises:
        DataError: A table cannot be read, has no rows, lacks a compared column, or
            holds a column of another kind than the reference (named with its file).
        MlopsError: A threshold, metric or ``batch_rows`` is not valid.
    """
    if numeric_metric not in _NUMERIC_METRICS:
        raise MlopsError(
            f"numeric_metric is '{numeric_metric}'; expected one of {_NUMERIC_METRICS}"
        )
    if categorical_metric not in DISTANCES:
        raise MlopsError(
            f"categorical_metric is '{categorical_metric}'; expected one of {DISTANCES}"
        )
    if (
        isinstance(batch_rows, bool)
        or not isinstance(batch_rows, int)
        or batch_rows < 1
    ):
        raise MlopsError(f"batch_rows is {batch_rows!r}; expected a positive integer")
    limits = load_thresholds(thresholds)
    reference_prediction = reference_prediction_column or prediction_column

    # Read both tables' column lists and kinds before any full pass, so a missing or
    # retyped column fails in seconds even on a large file.
    reference_parts: list[Part] | None = None
    statistics_file: str | None = None
    if _is_statistics_file(reference):
        statistics_file = os.fspath(reference)  # type: ignore[arg-type]
        reference = _read_statistics(statistics_file)
    if isinstance(reference, Mapping):
        reference_label = (
            f"the reference statistics '{statistics_file}'"
            if statistics_file
            else "the reference statistics"
        )
        by_name = _statistics_columns(reference, reference_label)
        reference_names = list(by_name)
    else:
        reference_parts = open_parts(reference, role="reference")
        reference_label = _source_label(reference, reference_parts)
        reference_names = reference_parts[0].names()
    chosen = _chosen_features(features, reference_names, reference_prediction)
    missing = [name for name in chosen if name not in reference_names]
    if missing:
        raise DataError(
            f"feature '{missing[0]}' is not in {reference_label}; expected one of "
            f"{reference_names}"
        )
    current_parts = open_parts(current, role="current")
    current_label = _source_label(current, current_parts)
    with_prediction = reference_prediction in reference_names and all(
        prediction_column in part.names() for part in current_parts
    )
    reference_columns = chosen + (
        [reference_prediction]
        if with_prediction and reference_prediction not in chosen
        else []
    )
    if reference_parts is None:
        reference_kinds = {
            name: str(by_name[name].get("type")) for name in reference_columns
        }
    else:
        reference_kinds = merged_kinds(
            reference_parts, reference_columns, role="reference"
        )
    pairs = {name: name for name in chosen}
    if with_prediction:
        pairs[prediction_column] = reference_prediction
    _check_current(current_parts, pairs, reference_kinds, reference_label)
    limits.check_features(list(pairs))

    statistics: Mapping[str, Any]
    if isinstance(reference, Mapping):
        statistics = reference
        source = reference_label
    else:
        assert reference_parts is not None
        statistics = profile_parts(
            reference_parts, reference_columns, batch_rows=batch_rows, role="reference"
        )
        source = f"the profile of '{reference_label}'"
    rows_reference = int(statistics["num_rows"])
    entries = _statistics_columns(statistics, source)
    profiles = {
        name: _ReferenceColumn.from_statistics(entries[name], rows_reference, source)
        for name in reference_columns
    }

    counters: dict[str, ColumnCounter] = {}
    for column, reference_name in pairs.items():
        profile = profiles[reference_name]
        counters[column] = (
            NumericCounter(profile.edges)
            if profile.kind == NUMERIC
            else ValueCounter(profile.frequencies)
        )
    rows_current = count_batches(current_parts, counters, batch_rows=batch_rows)
    if rows_current == 0:
        raise DataError(
            f"the current data '{current_label}' has 0 rows; expected at least one "
            "row to compare"
        )

    def judge(column: str) -> FeatureDrift:
        profile = profiles[pairs[column]]
        metric = numeric_metric if profile.kind == NUMERIC else categorical_metric
        return _judge(
            column,
            profile,
            counters[column],
            metric,
            limits.for_feature(column, metric),
        )

    return DriftReport(
        features={name: judge(name) for name in chosen},
        prediction=judge(prediction_column) if with_prediction else None,
        rows_reference=rows_reference,
        rows_current=rows_current,
        reference=reference_label,
        current=current_label,
    )


def _is_statistics_file(reference: Any) -> bool:
    if isinstance(reference, Mapping | pd.DataFrame):
        return False
    return os.fspath(reference).lower().endswith(".json")


def _read_statistics(location: str) -> dict[str, Any]:
    try:
        with fsspec.open(location, "r", encoding="utf-8") as handle:
            payload = json.load(handle)
    except (OSError, ValueError) as exc:
        raise DataError(
            f"the reference statistics '{location}' cannot be read as JSON ({exc}); "
            "expected a statistics.json file"
        ) from exc
    if not isinstance(payload, dict):
        raise DataError(
            f"the reference statistics '{location}' holds {type(payload).__name__}; "
            "expected the statistics.json object"
        )
    return payload


def _chosen_features(
    features: Sequence[str] | None, reference_names: list[str], prediction: str
) -> list[str]:
    if features is None:
        chosen = [name for name in reference_names if name != prediction]
    else:
        if isinstance(features, str):
            features = [features]
        chosen = list(dict.fromkeys(str(name) for name in features))
    if not chosen:
        raise MlopsError(
            "no feature to compare; expected at least one column besides the "
            f"prediction column '{prediction}'"
        )
    return chosen


def _source_label(given: Any, parts: Sequence[Part]) -> str:
    if isinstance(given, pd.DataFrame):
        return parts[0].label
    return os.fspath(given)


def _check_current(
    parts: Sequence[Part],
    pairs: Mapping[str, str],
    reference_kinds: Mapping[str, str],
    reference_label: str,
) -> None:
    for part in parts:
        names = set(part.names())
        for column in pairs:
            if column not in names:
                raise DataError(
                    f"column '{column}' of {reference_label} is missing from the "
                    f"current data '{part.label}'; expected every compared feature "
                    "(pass features= to compare fewer)"
                )
        for column, kind in part.kinds(list(pairs)).items():
            expected = reference_kinds[pairs[column]]
            if kind is not None and kind != expected:
                raise DataError(
                    f"column '{column}' is {expected} in {reference_label} but "
                    f"{part.describe(column)} in the current data '{part.label}'; "
                    f"expected {expected} values"
                )


def _judge(
    name: str,
    reference: _ReferenceColumn,
    counter: ColumnCounter,
    metric: str,
    limits: FeatureThresholds,
) -> FeatureDrift:
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
