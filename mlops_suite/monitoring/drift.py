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

This module reads both sides and puts them together; the measures and the decision
per feature are in :mod:`.measures`, the checked reference profile in
:mod:`.reference`, and the report (``drift.json``) in :mod:`.drift_report`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any, TypeAlias

import pandas as pd

from mlops_suite.artifacts import NUMERIC
from mlops_suite.errors import DataError, MlopsError
from mlops_suite.monitoring.drift_report import DriftReport, FeatureDrift
from mlops_suite.monitoring.measures import judge_feature
from mlops_suite.monitoring.payloads.columns import PREDICTION_COLUMN
from mlops_suite.monitoring.profile import (
    ColumnCounter,
    NumericCounter,
    ValueCounter,
    count_batches,
    merged_kinds,
    profile_parts,
)
from mlops_suite.monitoring.reference import (
    ReferenceColumn,
    is_statistics_file,
    read_statistics,
    statistics_columns,
)
from mlops_suite.monitoring.sources import Part, open_parts
from mlops_suite.monitoring.thresholds import (
    DISTANCES,
    JENSEN_SHANNON,
    L_INFINITY,
    PSI,
    DriftThresholds,
    load_thresholds,
)

DEFAULT_BATCH_ROWS = 65_536
_NUMERIC_METRICS = (JENSEN_SHANNON, PSI)

Reference: TypeAlias = Mapping[str, Any] | str | os.PathLike[str] | pd.DataFrame
Current: TypeAlias = str | os.PathLike[str] | pd.DataFrame | Part


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
            holds the label. Columns the thresholds ignore are left out.
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
    if is_statistics_file(reference):
        statistics_file = os.fspath(reference)  # type: ignore[arg-type]
        reference = read_statistics(statistics_file)
    if isinstance(reference, Mapping):
        reference_label = (
            f"the reference statistics '{statistics_file}'"
            if statistics_file
            else "the reference statistics"
        )
        by_name = statistics_columns(reference, reference_label)
        reference_names = list(by_name)
    else:
        reference_parts = open_parts(reference, role="reference")
        reference_label = _source_label(reference, reference_parts)
        reference_names = reference_parts[0].names()
    chosen, left_out = _chosen_features(
        features, reference_names, reference_prediction, limits.ignored
    )
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
    check_current_columns(current_parts, pairs, reference_kinds, reference_label)
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
    entries = statistics_columns(statistics, source)
    profiles = {
        name: ReferenceColumn.from_statistics(entries[name], rows_reference, source)
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
        return judge_feature(
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
        ignored=left_out,
    )


def _chosen_features(
    features: Sequence[str] | None,
    reference_names: list[str],
    prediction: str,
    ignored: Sequence[str] = (),
) -> tuple[list[str], tuple[str, ...]]:
    """The columns to compare, and those of them the thresholds leave out."""
    if features is None:
        chosen = [name for name in reference_names if name != prediction]
    else:
        if isinstance(features, str):
            features = [features]
        chosen = list(dict.fromkeys(str(name) for name in features))
    left_out = tuple(name for name in chosen if name in ignored)
    chosen = [name for name in chosen if name not in ignored]
    if not chosen:
        note = f" (ignored: {', '.join(ignored)})" if ignored else ""
        raise MlopsError(
            "no feature to compare; expected at least one column besides the "
            f"prediction column '{prediction}'{note}"
        )
    return chosen, left_out


def _source_label(given: Any, parts: Sequence[Part]) -> str:
    if isinstance(given, pd.DataFrame | Part):
        return parts[0].label
    return os.fspath(given)


def check_current_columns(
    parts: Sequence[Part],
    pairs: Mapping[str, str],
    reference_kinds: Mapping[str, str],
    reference_label: str,
) -> None:
    """Check every part of the current data has the compared columns, of one kind.

    Args:
        parts: The current data's parts.
        pairs: Current column -> the reference column it is compared with.
        reference_kinds: Reference column -> its kind.
        reference_label: How messages name the reference.

    Raises:
        DataError: A part lacks a column or holds it with another kind.
    """
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
