"""Which kind of feature a column holds."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mlops_suite.artifacts import BOOLEAN, CATEGORICAL, NUMERIC
from mlops_suite.data.kinds import column_kind, infer_task, to_numbers


@pytest.mark.parametrize(
    ("values", "dtype", "kind"),
    [
        ([1, 2, 3], "int64", NUMERIC),
        ([1.5, None, 3.0], "float64", NUMERIC),
        ([1, None, 3], "Int64", NUMERIC),
        ([True, False], "bool", BOOLEAN),
        ([True, None, False], "boolean", BOOLEAN),
        ([True, None, False], object, BOOLEAN),
        ([np.True_, np.False_, None], object, BOOLEAN),
        (["a", "b", None], object, CATEGORICAL),
        (["a", "b"], "category", CATEGORICAL),
        ([None, None], object, CATEGORICAL),
        ([None, None], "float64", NUMERIC),
        (["1", "2.5", None], object, NUMERIC),
        (["yes", True], object, CATEGORICAL),
    ],
)
def test_column_kind(values: list[object], dtype: object, kind: str) -> None:
    assert column_kind(pd.Series(values, dtype=dtype)) == kind


def test_text_numbers_with_a_few_typos_are_numeric() -> None:
    # 19 numbers and one typo: 95 % parse, so validation reports the typo instead.
    almost = pd.Series([str(i) for i in range(19)] + ["abc"], dtype=object)
    too_dirty = pd.Series([str(i) for i in range(18)] + ["abc", "def"], dtype=object)

    assert column_kind(almost) == NUMERIC
    assert column_kind(too_dirty) == CATEGORICAL


def test_to_numbers_marks_everything_a_model_cannot_use() -> None:
    values = pd.Series([" 3.5 ", "abc", None, "inf", True, 2], dtype=object)

    numbers = to_numbers(values)

    assert numbers.iloc[0] == 3.5
    assert numbers.iloc[5] == 2.0
    assert numbers.isna().tolist() == [False, True, True, True, True, False]


# ------------------------------------------------------------------ task inference
@pytest.mark.parametrize(
    ("values", "dtype", "expected"),
    [
        (["Adelie", "Gentoo", "Adelie"], object, "classification"),
        ([True, False, True], bool, "classification"),
        (["a", "b", "a"], "category", "classification"),
        ([2007, 2008, 2009, 2007], "int64", "classification"),
        (list(range(100)), "int64", "regression"),
        ([0.0, 1.0, np.nan, 1.0], "float64", "classification"),
        ([0.0, 1.0, 0.5], "float64", "regression"),
        ([3750.0, 3800.0, np.nan], "float64", "regression"),
        ([1.0, 2.0, 3.0], "float64", "regression"),
    ],
)
def test_infer_task(values: list, dtype: object, expected: str) -> None:
    assert infer_task(pd.Series(values, dtype=dtype)) == expected


def test_infer_task_on_the_fixtures(
    penguins: pd.DataFrame, mixed_frame: pd.DataFrame
) -> None:
    assert infer_task(penguins["species"]) == "classification"
    assert infer_task(penguins["body_mass_g"]) == "regression"
    assert infer_task(mixed_frame["churned"]) == "classification"
    assert infer_task(mixed_frame["income"]) == "regression"
