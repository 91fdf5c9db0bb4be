"""Column statistics in the statistics.json contract."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from mlops_suite.data.statistics import MAX_FREQUENCIES, OTHER, compute_statistics


def _by_name(stats: dict) -> dict:
    return {column["name"]: column for column in stats["columns"]}


def test_penguins_numeric_statistics_match_pandas(penguins: pd.DataFrame) -> None:
    stats = compute_statistics(penguins)
    bill = _by_name(stats)["bill_length_mm"]
    series = penguins["bill_length_mm"]

    assert stats["num_rows"] == 344
    assert [c["name"] for c in stats["columns"]] == list(penguins.columns)
    assert bill["type"] == "numeric"
    assert bill["dtype"] == "float64"
    assert (bill["count"], bill["missing"]) == (342, 2)
    assert bill["missing_fraction"] == pytest.approx(2 / 344)
    assert bill["min"] == series.min() == 32.1
    assert bill["max"] == series.max() == 59.6
    assert bill["mean"] == pytest.approx(series.mean())
    assert bill["std"] == pytest.approx(series.std())
    for key, value in bill["quantiles"].items():
        assert value == pytest.approx(series.quantile(float(key)))
    edges, counts = bill["histogram"]["edges"], bill["histogram"]["counts"]
    assert len(edges) == 21 and len(counts) == 20
    assert edges[0] == 32.1 and edges[-1] == 59.6
    assert np.allclose(np.diff(edges), (59.6 - 32.1) / 20)
    assert sum(counts) == 342


def test_penguins_categorical_statistics_match_value_counts(
    penguins: pd.DataFrame,
) -> None:
    columns = _by_name(compute_statistics(penguins))

    assert columns["island"]["type"] == "categorical"
    assert columns["island"]["unique"] == 3
    assert columns["island"]["frequencies"] == {
        "Biscoe": 168,
        "Dream": 124,
        "Torgersen": 52,
    }
    assert columns["sex"]["count"] == 333
    assert columns["sex"]["missing"] == 11
    assert columns["year"]["type"] == "numeric"
    assert columns["year"]["dtype"] == "int64"


def test_boolean_columns_count_true_and_false(mixed_frame: pd.DataFrame) -> None:
    columns = _by_name(compute_statistics(mixed_frame))
    member = columns["member"]

    assert member["type"] == "boolean"
    assert member["frequencies"] == {
        "true": int(mixed_frame["member"].sum()),
        "false": int((~mixed_frame["member"]).sum()),
    }
    assert columns["churned"]["type"] == "numeric"
    assert columns["region"]["missing"] == 2
    assert columns["income"]["missing"] == 3


def test_object_column_of_true_false_and_none_is_boolean() -> None:
    frame = pd.DataFrame({"flag": [True, None, False, True]})

    flag = compute_statistics(frame)["columns"][0]

    assert flag["type"] == "boolean"
    assert flag["frequencies"] == {"true": 2, "false": 1}
    assert (flag["count"], flag["missing"]) == (3, 1)


def test_numbers_stored_as_text_are_numeric_and_typos_are_not_counted() -> None:
    values = [str(v) for v in range(1, 40)] + ["oops", None]
    frame = pd.DataFrame({"n": pd.Series(values, dtype=object)})

    column = compute_statistics(frame)["columns"][0]

    assert column["type"] == "numeric"
    assert column["dtype"] == "object"
    assert (column["count"], column["missing"]) == (39, 1)
    assert (column["min"], column["max"]) == (1.0, 39.0)


def test_all_missing_columns_keep_an_entry_without_nan() -> None:
    frame = pd.DataFrame(
        {"x": [np.nan, np.nan], "y": [None, None], "z": [1.0, 2.0]},
    )

    stats = compute_statistics(frame)
    columns = _by_name(stats)
    text = json.dumps(stats, allow_nan=False)

    assert "NaN" not in text
    assert columns["x"]["count"] == 0
    assert columns["x"]["missing_fraction"] == 1.0
    assert columns["x"]["mean"] is None
    assert columns["x"]["quantiles"]["0.5"] is None
    assert columns["y"]["type"] == "categorical"
    assert columns["y"]["frequencies"] == {}
    assert columns["y"]["missing_fraction"] == 1.0


def test_single_value_and_constant_columns() -> None:
    frame = pd.DataFrame({"one": [5.0, None, None], "same": [2.0, 2.0, 2.0]})

    columns = _by_name(compute_statistics(frame))

    assert columns["one"]["std"] is None
    assert columns["same"]["std"] == 0.0
    assert columns["same"]["histogram"]["counts"][-1] == 3
    assert sum(columns["same"]["histogram"]["counts"]) == 3
    json.dumps(columns, allow_nan=False)


def test_infinities_are_not_numbers_in_the_profile() -> None:
    frame = pd.DataFrame({"v": [1.0, np.inf, 3.0]})

    column = compute_statistics(frame)["columns"][0]

    assert (column["count"], column["missing"], column["max"]) == (2, 0, 3.0)
    json.dumps(column, allow_nan=False)


def test_frequencies_keep_the_top_values_and_sum_the_rest() -> None:
    values = [f"v{i:03d}" for i in range(150) for _ in range(2)] + ["top"] * 5
    column = compute_statistics(pd.DataFrame({"c": values}))["columns"][0]

    assert column["unique"] == 151
    assert len(column["frequencies"]) == MAX_FREQUENCIES + 1
    assert next(iter(column["frequencies"])) == "top"
    assert column["frequencies"][OTHER] == 2 * 51
    assert sum(column["frequencies"].values()) == len(values)
