"""Anomalies of a table against its schema, and the sentence that stops a run."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from mlops_suite.data import validation as v
from mlops_suite.data.schema import infer_schema
from mlops_suite.data.validation import Anomaly, raise_for_anomalies, validate
from mlops_suite.errors import MlopsError, SchemaError, ValidationError


@pytest.fixture
def schema(penguins: pd.DataFrame) -> dict:
    return infer_schema(penguins)


def _only(anomalies: list[Anomaly], kind: str) -> Anomaly:
    found = [a for a in anomalies if a.kind == kind]
    assert len(found) == 1, anomalies
    return found[0]


def test_clean_data_has_no_anomalies(penguins: pd.DataFrame, schema: dict) -> None:
    assert validate(penguins, schema, label="species", task="classification") == []


def test_empty_data_is_blocking(penguins: pd.DataFrame, schema: dict) -> None:
    anomalies = validate(penguins.iloc[:0], schema)

    empty = _only(anomalies, v.EMPTY_DATA)
    assert empty.blocking and empty.count == 0 and empty.column is None
    assert empty.message == "there are 0 rows; the schema expects at least one row"
    assert len(anomalies) == 1


def test_missing_required_column(penguins: pd.DataFrame, schema: dict) -> None:
    anomaly = _only(
        validate(penguins.drop(columns=["island"]), schema), v.MISSING_COLUMN
    )

    assert (anomaly.column, anomaly.count, anomaly.blocking) == ("island", 344, True)
    assert "required column 'island' is absent from all 344 rows" in anomaly.message


def test_missing_optional_column_is_a_warning(
    penguins: pd.DataFrame, schema: dict
) -> None:
    for column in schema["columns"]:
        if column["name"] == "year":
            column["required"] = False

    anomaly = _only(validate(penguins.drop(columns=["year"]), schema), v.MISSING_COLUMN)

    assert not anomaly.blocking
    assert "optional column 'year'" in anomaly.message


def test_extra_column_is_a_warning(penguins: pd.DataFrame, schema: dict) -> None:
    anomaly = _only(validate(penguins.assign(tag="x"), schema), v.EXTRA_COLUMN)

    assert (anomaly.column, anomaly.count, anomaly.blocking) == ("tag", 344, False)
    assert "not in the schema" in anomaly.message
    assert "8 columns" in anomaly.expected


def test_non_numeric_values_are_counted_with_an_example(
    penguins: pd.DataFrame, schema: dict
) -> None:
    data = penguins.astype({"bill_length_mm": object})
    data.loc[[5, 9, 20], "bill_length_mm"] = ["abc", "n/a?", "12,5"]

    anomaly = _only(validate(data, schema), v.NON_NUMERIC)

    assert (anomaly.column, anomaly.count, anomaly.blocking) == (
        "bill_length_mm",
        3,
        True,
    )
    assert anomaly.message == (
        "column 'bill_length_mm' has 3 non-numeric values (e.g. 'abc'); "
        "the schema expects numbers"
    )


def test_text_in_a_numeric_column_is_a_wrong_type(
    penguins: pd.DataFrame, schema: dict
) -> None:
    data = penguins.assign(body_mass_g="heavy")

    anomaly = _only(validate(data, schema), v.WRONG_TYPE)

    assert (anomaly.column, anomaly.count, anomaly.blocking) == (
        "body_mass_g",
        344,
        True,
    )
    assert "holds text in 344 rows (e.g. 'heavy')" in anomaly.message
    assert anomaly.expected == "the schema expects numbers"


def test_numbers_in_a_categorical_column_are_a_wrong_type(
    penguins: pd.DataFrame, schema: dict
) -> None:
    data = penguins.assign(island=np.arange(len(penguins)) % 3)

    anomaly = _only(validate(data, schema), v.WRONG_TYPE)

    assert (anomaly.column, anomaly.count, anomaly.blocking) == ("island", 344, True)
    assert "holds numbers in 344 rows (e.g. 0)" in anomaly.message
    assert "categories" in anomaly.expected


def test_booleans_with_gaps_in_a_categorical_column_are_a_wrong_type(
    penguins: pd.DataFrame, schema: dict
) -> None:
    flags = [None if i % 10 == 0 else i % 2 == 0 for i in range(len(penguins))]
    data = penguins.assign(sex=pd.Series(flags, dtype=object))

    anomaly = _only(validate(data, schema), v.WRONG_TYPE)

    assert (anomaly.column, anomaly.count, anomaly.blocking) == ("sex", 309, True)
    assert "holds booleans in 309 rows" in anomaly.message
    assert "categories" in anomaly.expected


def test_text_in_a_boolean_column_is_a_wrong_type(mixed_frame: pd.DataFrame) -> None:
    schema = infer_schema(mixed_frame)
    data = mixed_frame.assign(member=np.where(mixed_frame["member"], "yes", "no"))

    anomaly = _only(validate(data, schema), v.WRONG_TYPE)

    assert (anomaly.column, anomaly.count) == ("member", 240)
    assert anomaly.expected == "the schema expects booleans"


def test_out_of_range_warns_unless_the_schema_says_blocking(
    penguins: pd.DataFrame, schema: dict
) -> None:
    data = penguins.copy()
    data.loc[[0, 1], "flipper_length_mm"] = [500.0, 10.0]

    warning = _only(validate(data, schema), v.OUT_OF_RANGE)
    for column in schema["columns"]:
        column["range_blocking"] = column["name"] == "flipper_length_mm"
    blocking = _only(validate(data, schema), v.OUT_OF_RANGE)

    assert (warning.column, warning.count, warning.blocking) == (
        "flipper_length_mm",
        2,
        False,
    )
    assert blocking.blocking
    assert "e.g. 500.0" in warning.message
    assert warning.expected == "the schema expects values from 172 to 231"


def test_unseen_categories_block_above_the_tolerance(
    penguins: pd.DataFrame, schema: dict
) -> None:
    data = penguins.copy()
    data.loc[[0, 1, 2, 3], "island"] = "Atlantis"
    share = 4 / 344

    strict = _only(validate(data, schema), v.UNSEEN_CATEGORY)
    tolerant = _only(
        validate(data, schema, unseen_tolerance=share + 0.001), v.UNSEEN_CATEGORY
    )
    for column in schema["columns"]:
        column["max_unseen_fraction"] = 0.5
    by_schema = _only(validate(data, schema), v.UNSEEN_CATEGORY)

    assert (strict.column, strict.count, strict.blocking) == ("island", 4, True)
    assert "'Atlantis'" in strict.message
    assert "1.16%" in strict.message
    assert not tolerant.blocking
    assert not by_schema.blocking


def test_missing_rate_above_the_bound_is_blocking(
    penguins: pd.DataFrame, schema: dict
) -> None:
    data = penguins.copy()
    data.loc[:39, "island"] = None

    anomaly = _only(validate(data, schema), v.MISSING_VALUES)

    assert (anomaly.column, anomaly.count, anomaly.blocking) == ("island", 40, True)
    assert "has 40 missing values (11.6% of 344 rows)" in anomaly.message
    assert anomaly.expected == "the schema allows at most 5% missing"


def test_entirely_missing_feature_is_blocking_even_if_allowed(
    penguins: pd.DataFrame, schema: dict
) -> None:
    for column in schema["columns"]:
        column["max_missing_fraction"] = 1.0

    anomalies = validate(penguins.assign(sex=None), schema)

    anomaly = _only(anomalies, v.ALL_MISSING)
    assert (anomaly.column, anomaly.count, anomaly.blocking) == ("sex", 344, True)
    assert "feature 'sex' is missing in all 344 rows" in anomaly.message


def test_a_schema_inferred_from_an_empty_column_rejects_it() -> None:
    frame = pd.DataFrame({"x": [1.0, 2.0, 3.0], "gap": [np.nan] * 3})

    anomalies = validate(frame, infer_schema(frame))

    assert [a.kind for a in anomalies if a.blocking] == [v.ALL_MISSING]


def test_label_checks(penguins: pd.DataFrame, schema: dict) -> None:
    absent = _only(
        validate(penguins.drop(columns=["species"]), schema, label="species"),
        v.LABEL_MISSING,
    )
    gaps = penguins.copy()
    gaps.loc[[3, 4], "species"] = None
    missing = _only(validate(gaps, schema, label="species"), v.LABEL_MISSING_VALUES)
    adelie = penguins[penguins["species"] == "Adelie"]
    single = _only(
        validate(adelie, schema, label="species", task="classification"),
        v.SINGLE_CLASS,
    )

    assert (absent.count, absent.blocking) == (344, True)
    assert "label column 'species' is absent" in absent.message
    assert (missing.count, missing.blocking) == (2, True)
    assert "is missing in 2 of 344 rows" in missing.message
    assert (single.count, single.blocking) == (152, True)
    assert "single class ('Adelie') in all 152 labelled rows" in single.message
    # Missing label rows are reported once, not also as a missing-rate anomaly.
    assert not [a for a in validate(gaps, schema, label="species") if a.blocking][1:]


def test_regression_label_must_be_numeric(penguins: pd.DataFrame) -> None:
    schema = infer_schema(penguins)
    data = penguins.astype({"body_mass_g": object})
    data.loc[0, "body_mass_g"] = "heavy"

    anomalies = validate(data, schema, label="body_mass_g", task="regression")

    anomaly = _only(anomalies, v.LABEL_NOT_NUMERIC)
    assert (anomaly.column, anomaly.count) == ("body_mass_g", 1)


def test_float_zero_one_label_has_two_classes(mixed_frame: pd.DataFrame) -> None:
    schema = infer_schema(mixed_frame)

    anomalies = validate(mixed_frame, schema, label="churned", task="classification")

    assert anomalies == []


def test_anomalies_are_json_ready(penguins: pd.DataFrame, schema: dict) -> None:
    anomaly = validate(penguins.assign(tag=1), schema)[0]

    assert anomaly.to_dict() == {
        "column": "tag",
        "kind": "extra_column",
        "count": 344,
        "expected": "the schema lists only its 8 columns",
        "blocking": False,
        "message": "column 'tag' (344 rows) is not in the schema; "
        "the schema lists only its 8 columns",
    }
    with pytest.raises(dataclasses.FrozenInstanceError):
        anomaly.count = 1  # type: ignore[misc]


def test_bad_arguments_are_refused(penguins: pd.DataFrame, schema: dict) -> None:
    with pytest.raises(SchemaError):
        validate(penguins, {"columns": "all"})
    with pytest.raises(MlopsError, match="task 'clustering' is unknown"):
        validate(penguins, schema, label="species", task="clustering")


def test_raise_names_first_blocking_anomaly_and_how_many_more(
    penguins: pd.DataFrame, schema: dict
) -> None:
    data = penguins.astype({"bill_length_mm": object}).assign(tag=0)
    data.loc[[1, 2, 5], "bill_length_mm"] = "abc"
    data.loc[0, "island"] = "Atlantis"
    data.loc[:100, "sex"] = None

    anomalies = validate(data, schema)
    with pytest.raises(ValidationError) as raised:
        raise_for_anomalies(anomalies, "data.csv")

    assert str(raised.value) == (
        "column 'island' has 1 row (0.291%) with categories outside the domain "
        "(e.g. 'Atlantis') in data.csv; the schema allows at most 0% of rows with "
        "unseen categories (and 2 more blocking anomalies)"
    )


def test_raise_with_one_blocking_anomaly_reads_as_the_example(
    penguins: pd.DataFrame, schema: dict
) -> None:
    data = penguins.astype({"bill_length_mm": object})
    data.loc[[1, 2, 5], "bill_length_mm"] = "abc"

    with pytest.raises(ValidationError) as raised:
        raise_for_anomalies(validate(data, schema), "data.csv")

    assert str(raised.value) == (
        "column 'bill_length_mm' has 3 non-numeric values (e.g. 'abc') in data.csv; "
        "the schema expects numbers"
    )


def test_warnings_alone_do_not_raise(penguins: pd.DataFrame, schema: dict) -> None:
    anomalies = validate(penguins.assign(tag=0), schema)

    assert anomalies and not any(a.blocking for a in anomalies)
    raise_for_anomalies(anomalies, "data.csv")
