"""What kind of feature a column holds: numeric, categorical or boolean.

Statistics, schema inference and validation must agree on a column's kind, so the
rule lives here once. The kind is about the values, not only the dtype: a CSV column
of numbers with a few typos is read by pandas as text, but it is still a numeric
column (validation then reports the typos), and a column of ``True``/``False`` with
gaps is read as ``object`` but is still boolean.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from pandas.api import types as ptypes

from mlops_suite.artifacts import (
    BOOLEAN,
    CATEGORICAL,
    CLASSIFICATION,
    NUMERIC,
    REGRESSION,
)

# A text column counts as numeric when at least this share of its non-missing values
# parse as finite numbers; the rest are then reported by validation as typos.
NUMERIC_TEXT_SHARE = 0.95
# An integer label with at most this many distinct values is a class label.
MAX_INTEGER_CLASSES = 20


def column_kind(series: pd.Series) -> str:
    """Classify a column as numeric, categorical or boolean.

    Rules, in order: a bool dtype (numpy or pandas nullable) is boolean; any other
    numeric dtype is numeric; an ``object`` column whose non-missing values are all
    ``True``/``False`` is boolean; an ``object`` column where at least 95 % of the
    non-missing values parse as finite numbers is numeric; everything else (strings,
    ``category``, dates, an all-missing ``object`` column) is categorical.

    Args:
        series: The column.

    Returns:
        One of ``artifacts.NUMERIC``, ``artifacts.CATEGORICAL``, ``artifacts.BOOLEAN``.
    """
    dtype = series.dtype
    if pd.api.types.is_bool_dtype(dtype):
        return BOOLEAN
    if pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_complex_dtype(
        dtype
    ):
        return NUMERIC
    if not pd.api.types.is_object_dtype(dtype):
        return CATEGORICAL
    values = series[series.notna()]
    if len(values) == 0:
        return CATEGORICAL
    if bool(values.map(is_bool_value).all()):
        return BOOLEAN
    parsed = int(to_numbers(values).notna().sum())
    if parsed / len(values) >= NUMERIC_TEXT_SHARE:
        return NUMERIC
    return CATEGORICAL


def to_numbers(series: pd.Series) -> pd.Series:
    """Convert a column to float64, with NaN where a value is not a finite number.

    Missing values, text that does not parse, booleans inside an ``object`` column and
    infinities all become NaN, so ``series.notna() & to_numbers(series).isna()`` marks
    exactly the values a model could not use as numbers.

    Args:
        series: The column, of any dtype.

    Returns:
        A float64 series with the same index.
    """
    if pd.api.types.is_bool_dtype(series.dtype):
        numbers = pd.Series(np.nan, index=series.index, dtype="float64")
    elif pd.api.types.is_numeric_dtype(series.dtype):
        numbers = series.astype("float64")
    else:
        # to_numeric would read True as 1.0; a boolean is not a number to a user.
        cleaned = series.where(~series.map(is_bool_value), None)
        numbers = pd.to_numeric(cleaned, errors="coerce").astype("float64")
    return numbers.where(np.isfinite(numbers))


def is_bool_value(value: object) -> bool:
    """Tell whether a cell holds a Python or numpy boolean."""
    return isinstance(value, bool | np.bool_)


def is_missing_value(value: object) -> bool:
    """Tell whether a cell is missing (``None``, ``NaN``, ``NaT``, ``pd.NA``).

    A list or array inside a cell is a value, not an elementwise question.
    """
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def infer_task(label: pd.Series) -> str:
    """Guesses the task from the label's values.

    Strings, booleans and categories are classes; so are integers with at most
    ``MAX_INTEGER_CLASSES`` distinct values and floats holding only 0.0 and 1.0
    (missing values ignored). Anything else is a quantity to regress.

    Args:
        label: The label column.

    Returns:
        ``classification`` or ``regression``.
    """
    dtype = label.dtype
    if (
        ptypes.is_bool_dtype(dtype)
        or isinstance(dtype, pd.CategoricalDtype)
        or ptypes.is_object_dtype(dtype)
        or ptypes.is_string_dtype(dtype)
    ):
        return CLASSIFICATION
    values = label.dropna()
    if ptypes.is_integer_dtype(dtype):
        if values.nunique() <= MAX_INTEGER_CLASSES:
            return CLASSIFICATION
        return REGRESSION
    if ptypes.is_float_dtype(dtype) and len(values) and values.isin([0.0, 1.0]).all():
        return CLASSIFICATION
    return REGRESSION
