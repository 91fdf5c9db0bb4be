"""Check a table against its schema and report every anomaly a person should see.

``validate`` never raises on bad data: it lists anomalies, each saying which column,
how many rows and what was expected, and whether it must stop the pipeline
(``blocking``). ``raise_for_anomalies`` turns the first blocking one into the one
sentence the user reads.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any

import pandas as pd

from mlops_suite.artifacts import (
    BOOLEAN,
    CATEGORICAL,
    CLASSIFICATION,
    NUMERIC,
    REGRESSION,
    TASKS,
)
from mlops_suite.data.kinds import column_kind, is_bool_value, to_numbers
from mlops_suite.data.schema import check_schema
from mlops_suite.errors import MlopsError, ValidationError

# Anomaly kinds, as written to anomalies.json.
EMPTY_DATA = "empty_data"
MISSING_COLUMN = "missing_column"
EXTRA_COLUMN = "extra_column"
WRONG_TYPE = "wrong_type"
NON_NUMERIC = "non_numeric"
OUT_OF_RANGE = "out_of_range"
UNSEEN_CATEGORY = "unseen_category"
MISSING_VALUES = "missing_values"
ALL_MISSING = "all_missing"
LABEL_MISSING = "label_missing"
LABEL_MISSING_VALUES = "label_missing_values"
LABEL_NOT_NUMERIC = "label_not_numeric"
SINGLE_CLASS = "single_class"

# How to name what a column holds, and what the schema expects of it.
_HOLDS = {NUMERIC: "numbers", CATEGORICAL: "text", BOOLEAN: "booleans"}
_EXPECTS = {NUMERIC: "numbers", CATEGORICAL: "categories (text)", BOOLEAN: "booleans"}


@dataclass(frozen=True)
class Anomaly:
    """One way the data differs from its schema.

    Attributes:
        column: The column concerned, or None for the whole table.
        kind: One of the kind constants of this module (``NON_NUMERIC``...).
        count: How many rows are affected.
        expected: What the schema or the task expects, as a phrase.
        blocking: Whether the pipeline must stop.
        message: ``"<finding>; <expected>"``, one sentence naming column and count.
    """

    column: str | None
    kind: str
    count: int
    expected: str
    blocking: bool
    message: str

    def to_dict(self) -> dict[str, Any]:
        """Return the anomaly as a JSON-ready dict."""
        return asdict(self)


def validate(
    df: pd.DataFrame,
    schema: dict[str, Any],
    *,
    label: str | None = None,
    task: str | None = None,
    unseen_tolerance: float | None = None,
) -> list[Anomaly]:
    """List every anomaly of a table against a schema.

    Checked: empty table; required columns absent (optional ones: warning); columns
    the schema does not list (warning); wrong kind of values (blocking); values that
    are not finite numbers in a numeric column (blocking); numbers outside the
    schema's min/max (warning, blocking when the column has ``range_blocking:
    true``); rows with categories outside the domain (blocking above the column's
    ``max_unseen_fraction``, warning below); missing rate above
    ``max_missing_fraction`` (blocking); a feature missing in every row (blocking).
    With ``label``: label column absent, label values missing, a classification label
    with one class, a regression label that is not numeric (all blocking).

    Args:
        df: The table to check.
        schema: A schema as produced by ``infer_schema`` or ``load_schema``.
        label: The label column, when the table is for training or evaluation.
        task: ``"classification"`` or ``"regression"``; enables the label checks
            specific to the task.
        unseen_tolerance: A share of rows with unseen categories to allow in every
            categorical column, overriding the schema's ``max_unseen_fraction``.

    Returns:
        Anomalies: table-level and label ones first, then columns in schema order,
        then extra columns.

    Raises:
        SchemaError: ``schema`` is malformed.
        MlopsError: ``task`` is not a known task.
    """
    check_schema(schema)
    if task is not None and task not in TASKS:
        raise MlopsError(
            f"task {task!r} is unknown; expected one of {', '.join(TASKS)}"
        )
    rows = len(df)
    anomalies: list[Anomaly] = []
    if rows == 0:
        anomalies.append(
            _anomaly(
                None,
                EMPTY_DATA,
                0,
                True,
                "there are 0 rows",
                "the schema expects at least one row",
            )
        )
    if label is not None:
        anomalies.extend(_label_anomalies(df, label, task))
    columns = schema["columns"]
    for spec in columns:
        name = spec["name"]
        if name not in df.columns:
            if name != label:
                anomalies.append(_absent(spec, rows))
            continue
        if rows:
            anomalies.extend(
                _column_anomalies(df[name], spec, name == label, unseen_tolerance)
            )
    listed = {spec["name"] for spec in columns}
    for name in df.columns:
        if name not in listed and name != label:
            anomalies.append(
                _anomaly(
                    str(name),
                    EXTRA_COLUMN,
                    rows,
                    False,
                    f"column '{name}' ({_n(rows, 'row')}) is not in the schema",
                    f"the schema lists only its {len(columns)} columns",
                )
            )
    return anomalies


def raise_for_anomalies(anomalies: Iterable[Anomaly], source: str) -> None:
    """Stop with the first blocking anomaly, if any.

    Args:
        anomalies: What ``validate`` returned.
        source: The data's name for the message, e.g. its file name.

    Raises:
        ValidationError: One sentence: the first blocking anomaly's column, row count
            and expectation, located in ``source``, plus how many more blocking
            anomalies there are.
    """
    blocking = [anomaly for anomaly in anomalies if anomaly.blocking]
    if not blocking:
        return
    first = blocking[0]
    tail = f"; {first.expected}"
    finding = first.message.removesuffix(tail)
    if finding == first.message:
        # Not built by validate: keep its message whole, still name the source.
        sentence = f"{first.message} (in {source})"
    else:
        sentence = f"{finding} in {source}{tail}"
    more = len(blocking) - 1
    if more:
        noun = "anomaly" if more == 1 else "anomalies"
        sentence += f" (and {more} more blocking {noun})"
    raise ValidationError(sentence)


def _anomaly(
    column: str | None,
    kind: str,
    count: int,
    blocking: bool,
    finding: str,
    expected: str,
) -> Anomaly:
    return Anomaly(column, kind, count, expected, blocking, f"{finding}; {expected}")


def _absent(spec: dict[str, Any], rows: int) -> Anomaly:
    name = spec["name"]
    if spec.get("required", True):
        return _anomaly(
            name,
            MISSING_COLUMN,
            rows,
            True,
            f"required column '{name}' is absent from all {_n(rows, 'row')}",
            "the schema requires it",
        )
    return _anomaly(
        name,
        MISSING_COLUMN,
        rows,
        False,
        f"optional column '{name}' is absent from all {_n(rows, 'row')}",
        "the schema lists it as optional",
    )


def _label_anomalies(df: pd.DataFrame, label: str, task: str | None) -> list[Anomaly]:
    rows = len(df)
    if label not in df.columns:
        return [
            _anomaly(
                label,
                LABEL_MISSING,
                rows,
                True,
                f"label column '{label}' is absent from all {_n(rows, 'row')}",
                "training and evaluation need the label",
            )
        ]
    if rows == 0:
        return []
    series = df[label]
    found: list[Anomaly] = []
    missing = int(series.isna().sum())
    if missing:
        found.append(
            _anomaly(
                label,
                LABEL_MISSING_VALUES,
                missing,
                True,
                f"label '{label}' is missing in {missing} of {_n(rows, 'row')}",
                "every row needs a label",
            )
        )
    present = series[series.notna()]
    if task == CLASSIFICATION and len(present):
        classes = present.astype(str).unique()
        if len(classes) < 2:
            found.append(
                _anomaly(
                    label,
                    SINGLE_CLASS,
                    len(present),
                    True,
                    f"label '{label}' has a single class ({classes[0]!r}) in all "
                    f"{_n(len(present), 'labelled row')}",
                    "classification needs at least 2 classes",
                )
            )
    if task == REGRESSION and len(present):
        bad = present[to_numbers(present).isna()]
        if len(bad):
            found.append(
                _anomaly(
                    label,
                    LABEL_NOT_NUMERIC,
                    len(bad),
                    True,
                    f"label '{label}' has {_n(len(bad), 'non-numeric value')} "
                    f"(e.g. {_show(bad.iloc[0])})",
                    "regression needs a numeric label",
                )
            )
    return found


def _column_anomalies(
    series: pd.Series,
    spec: dict[str, Any],
    is_label: bool,
    unseen_tolerance: float | None,
) -> list[Anomaly]:
    name = spec["name"]
    rows = len(series)
    missing = int(series.isna().sum())
    found: list[Anomaly] = []
    if not is_label:
        bound = spec.get("max_missing_fraction")
        if missing == rows:
            found.append(
                _anomaly(
                    name,
                    ALL_MISSING,
                    rows,
                    True,
                    f"feature '{name}' is missing in all {_n(rows, 'row')}",
                    "the schema expects values in this column",
                )
            )
            return found
        if bound is not None and missing / rows > bound:
            found.append(
                _anomaly(
                    name,
                    MISSING_VALUES,
                    missing,
                    True,
                    f"column '{name}' has {_n(missing, 'missing value')} "
                    f"({_pct(missing / rows)} of {_n(rows, 'row')})",
                    f"the schema allows at most {_pct(bound)} missing",
                )
            )
    present = series[series.notna()]
    if len(present) == 0:
        return found
    expected_kind = spec["type"]
    actual_kind = column_kind(series)
    if expected_kind == NUMERIC:
        found.extend(_numeric_anomalies(present, spec, actual_kind))
    elif expected_kind == CATEGORICAL:
        found.extend(
            _categorical_anomalies(present, spec, actual_kind, unseen_tolerance, rows)
        )
    elif actual_kind != BOOLEAN:
        bad = present[~present.map(is_bool_value)]
        bad = bad if len(bad) else present
        found.append(_wrong_type(name, actual_kind, bad, BOOLEAN))
    return found


def _numeric_anomalies(
    present: pd.Series, spec: dict[str, Any], actual_kind: str
) -> list[Anomaly]:
    name = spec["name"]
    numbers = to_numbers(present)
    bad = present[numbers.isna()]
    if actual_kind != NUMERIC:
        return [_wrong_type(name, actual_kind, bad if len(bad) else present, NUMERIC)]
    found = []
    if len(bad):
        found.append(
            _anomaly(
                name,
                NON_NUMERIC,
                len(bad),
                True,
                f"column '{name}' has {_n(len(bad), 'non-numeric value')} "
                f"(e.g. {_show(bad.iloc[0])})",
                "the schema expects numbers",
            )
        )
    low, high = spec.get("min"), spec.get("max")
    outside = pd.Series(False, index=numbers.index)
    if low is not None:
        outside |= numbers < low
    if high is not None:
        outside |= numbers > high
    if outside.any():
        count = int(outside.sum())
        blocking = bool(spec.get("range_blocking", False))
        found.append(
            _anomaly(
                name,
                OUT_OF_RANGE,
                count,
                blocking,
                f"column '{name}' has {_n(count, 'value')} outside the range "
                f"(e.g. {_show(numbers[outside].iloc[0])})",
                f"the schema expects values {_range(low, high)}",
            )
        )
    return found


def _categorical_anomalies(
    present: pd.Series,
    spec: dict[str, Any],
    actual_kind: str,
    unseen_tolerance: float | None,
    rows: int,
) -> list[Anomaly]:
    name = spec["name"]
    # Digits stored as text are valid category labels; only true numbers or booleans
    # mean the column is not the one the schema describes.
    if actual_kind == BOOLEAN or pd.api.types.is_numeric_dtype(present.dtype):
        return [_wrong_type(name, actual_kind, present, CATEGORICAL)]
    domain = spec.get("domain")
    if domain is None:
        return []
    unseen = present[~present.astype(str).isin(set(domain))]
    if len(unseen) == 0:
        return []
    tolerance = (
        unseen_tolerance
        if unseen_tolerance is not None
        else float(spec.get("max_unseen_fraction", 0.0))
    )
    share = len(unseen) / rows
    examples = ", ".join(_show(value) for value in unseen.astype(str).unique()[:3])
    return [
        _anomaly(
            name,
            UNSEEN_CATEGORY,
            len(unseen),
            share > tolerance,
            f"column '{name}' has {_n(len(unseen), 'row')} ({_pct(share)}) with "
            f"categories outside the domain (e.g. {examples})",
            f"the schema allows at most {_pct(tolerance)} of rows with unseen "
            "categories",
        )
    ]


def _wrong_type(name: str, actual: str, bad: pd.Series, expected: str) -> Anomaly:
    return _anomaly(
        name,
        WRONG_TYPE,
        len(bad),
        True,
        f"column '{name}' holds {_HOLDS[actual]} in {_n(len(bad), 'row')} "
        f"(e.g. {_show(bad.iloc[0])})",
        f"the schema expects {_EXPECTS[expected]}",
    )


def _show(value: Any) -> str:
    if isinstance(value, str):
        shown = value if len(value) <= 40 else value[:37] + "..."
        return repr(shown)
    if hasattr(value, "item"):
        value = value.item()
    return repr(value)


def _n(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def _pct(fraction: float) -> str:
    return f"{fraction * 100:.3g}%"


def _range(low: float | None, high: float | None) -> str:
    if low is not None and high is not None:
        return f"from {low:g} to {high:g}"
    if low is not None:
        return f"of at least {low:g}"
    return f"of at most {high:g}"
