"""The model's features from its metadata, and the Arrow type of each logged column."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from mlops_suite.errors import MlopsError
from mlops_suite.monitoring.payloads.columns import (
    ModelColumns,
    column_array,
    load_model_columns,
)

FEATURES = [
    {"name": "bill_length_mm", "type": "numeric"},
    {"name": "island", "type": "categorical"},
    {"name": "member", "type": "boolean"},
]


def write_metadata(folder: Path, metadata: Any) -> Path:
    folder.mkdir(exist_ok=True)
    path = folder / "metadata.json"
    path.write_text(json.dumps(metadata))
    return path


def test_features_and_task_come_from_the_file_or_its_folder(tmp_path: Path) -> None:
    path = write_metadata(
        tmp_path / "model", {"features": FEATURES, "task": "regression"}
    )
    expected = ModelColumns(
        features=(
            ("bill_length_mm", "numeric"),
            ("island", "categorical"),
            ("member", "boolean"),
        ),
        task="regression",
    )
    assert load_model_columns(path) == expected
    assert load_model_columns(path.parent) == expected


def test_a_classifiers_classes_name_its_probability_columns(tmp_path: Path) -> None:
    path = write_metadata(
        tmp_path / "model",
        {"features": FEATURES, "task": "classification", "classes": [0, 1, 2]},
    )
    model = load_model_columns(path)
    assert model.classes == (0, 1, 2)
    assert model.probability_columns == ("proba_0", "proba_1", "proba_2")
    regression = write_metadata(
        tmp_path / "other", {"features": FEATURES, "classes": None}
    )
    assert load_model_columns(regression).probability_columns == ()


@pytest.mark.parametrize(
    ("metadata", "reason"),
    [
        ({"task": "regression"}, "has no 'features' list; expected"),
        (
            {"features": [{"name": "x", "type": "text"}]},
            "lists feature {'name': 'x', 'type': 'text'}; expected a name and a type",
        ),
        (
            {"features": [{"name": "row", "type": "numeric"}]},
            "names a feature 'row', a column the sink adds itself; expected none of",
        ),
        (
            {
                "features": [{"name": "proba_yes", "type": "numeric"}],
                "classes": ["no", "yes"],
            },
            "names a feature 'proba_yes', the column the sink fills with that "
            "class's probability; rename the feature.",
        ),
        (
            {"features": FEATURES, "classes": ["no", "no"]},
            "lists classes ['no', 'no']; expected a list of distinct class values",
        ),
    ],
    ids=[
        "no features",
        "unknown kind",
        "reserved name",
        "probability column name",
        "repeated class",
    ],
)
def test_bad_metadata_is_refused_in_one_sentence_naming_the_file(
    tmp_path: Path, metadata: Any, reason: str
) -> None:
    path = write_metadata(tmp_path / "model", metadata)
    with pytest.raises(MlopsError) as refused:
        load_model_columns(path)
    message = str(refused.value)
    assert message.startswith(f"Model metadata {path} ")
    assert reason in message
    assert "\n" not in message


def test_missing_or_unreadable_metadata_names_the_file(tmp_path: Path) -> None:
    missing = tmp_path / "missing.json"
    with pytest.raises(MlopsError, match="does not exist; expected the model's"):
        load_model_columns(missing)
    broken = tmp_path / "broken.json"
    broken.write_text("{")
    with pytest.raises(MlopsError, match=r"broken\.json cannot be read"):
        load_model_columns(broken)


def test_numeric_columns_are_float64_and_unparsable_text_is_missing() -> None:
    array = column_array([1, 2.5, "3.5", "n/a", None, True], "numeric")
    assert array.type == pa.float64()
    assert array.to_pylist() == [1.0, 2.5, 3.5, None, None, 1.0]


def test_boolean_columns_accept_words_and_zero_or_one() -> None:
    array = column_array([True, "false", " TRUE ", 0, 1, 2, "yes", None], "boolean")
    assert array.type == pa.bool_()
    assert array.to_pylist() == [True, False, True, False, True, None, None, None]


def test_categorical_columns_are_text_and_lists_become_json() -> None:
    array = column_array(
        ["Dream", 3, [0.9, 0.1], {"b": 1, "a": 2}, None], "categorical"
    )
    assert array.type == pa.string()
    assert array.to_pylist() == ["Dream", "3", "[0.9, 0.1]", '{"a": 2, "b": 1}', None]


@pytest.mark.parametrize(
    ("values", "arrow_type"),
    [
        ([True, None, False], pa.bool_()),
        ([1, None, 2.5], pa.float64()),
        ([1, "a"], pa.string()),
        ([None, None], pa.null()),
    ],
    ids=["booleans", "numbers", "mixed", "nothing"],
)
def test_without_a_kind_the_type_follows_the_values(
    values: list[Any], arrow_type: pa.DataType
) -> None:
    assert column_array(values, None).type == arrow_type
