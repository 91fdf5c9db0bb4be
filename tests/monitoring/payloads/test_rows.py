"""A request and its response become one row per instance, typed as a batch file."""

from __future__ import annotations

from typing import Any

import pyarrow as pa
import pytest

from mlops_suite.monitoring.payloads.cloudevents import EventError
from mlops_suite.monitoring.payloads.columns import ModelColumns
from mlops_suite.monitoring.payloads.inference import LoggedEvent
from mlops_suite.monitoring.payloads.rows import RowBuilder

PENGUINS = ModelColumns(
    features=(("bill", "numeric"), ("island", "categorical"), ("member", "boolean")),
    task="classification",
)
CLASSIFIER = ModelColumns(
    features=PENGUINS.features,
    task="classification",
    classes=("Adelie", "Chinstrap", "Gentoo"),
)
RECEIVED = "2026-11-23T10:00:00+00:00"
BASE = [
    "request_id",
    "row",
    "received_at",
    "inference_service",
    "namespace",
    "endpoint",
    "model_name",
]


def request(
    rows: list[tuple[Any, ...]], columns: tuple[str, ...] | None = None
) -> LoggedEvent:
    return LoggedEvent(
        id="r-1",
        kind="request",
        received_at=RECEIVED,
        inference_service="penguins",
        namespace="kubeflow",
        endpoint="default",
        columns=columns,
        rows=tuple(rows),
    )


def response(predictions: list[Any], model_name: str | None = None) -> LoggedEvent:
    return LoggedEvent(
        id="r-1",
        kind="response",
        received_at=RECEIVED,
        inference_service="penguins",
        model_name=model_name,
        predictions=tuple(predictions),
    )


def test_a_pair_gives_one_row_per_instance_with_its_prediction() -> None:
    rows = RowBuilder(PENGUINS).rows(
        request([(41.0, "Dream", True), (50.5, "Biscoe", False)]),
        response(["Adelie", "Gentoo"], model_name="penguins-v2"),
    )
    assert rows == [
        {
            "request_id": "r-1",
            "row": 0,
            "received_at": RECEIVED,
            "inference_service": "penguins",
            "namespace": "kubeflow",
            "endpoint": "default",
            "model_name": "penguins-v2",
            "bill": 41.0,
            "island": "Dream",
            "member": True,
            "prediction": "Adelie",
        },
        {
            "request_id": "r-1",
            "row": 1,
            "received_at": RECEIVED,
            "inference_service": "penguins",
            "namespace": "kubeflow",
            "endpoint": "default",
            "model_name": "penguins-v2",
            "bill": 50.5,
            "island": "Biscoe",
            "member": False,
            "prediction": "Gentoo",
        },
    ]


def test_named_columns_land_in_training_order_and_a_missing_one_is_empty() -> None:
    (row,) = RowBuilder(PENGUINS).rows(
        request([("Dream", 41.0)], columns=("island", "bill")), None
    )
    features = {name: row[name] for name in ("bill", "island", "member")}
    assert features == {"bill": 41.0, "island": "Dream", "member": None}


def test_a_side_that_never_came_leaves_its_columns_empty() -> None:
    builder = RowBuilder(PENGUINS)
    (alone,) = builder.rows(request([(41.0, "Dream", True)]), None)
    assert alone["prediction"] is None
    assert alone["model_name"] == "penguins"  # the service name stands in
    (orphan,) = builder.rows(None, response(["Adelie"]))
    assert [orphan[name] for name in ("bill", "island", "member")] == [None] * 3
    assert orphan["prediction"] == "Adelie"


def test_without_metadata_positional_values_are_named_feature_i() -> None:
    (row,) = RowBuilder().rows(request([(1, 2)]), response([0]))
    assert (row["feature_0"], row["feature_1"]) == (1, 2)
    (named,) = RowBuilder().rows(request([(1,)], columns=("age",)), None)
    assert named["age"] == 1


@pytest.mark.parametrize(
    ("builder", "event", "reason"),
    [
        (
            RowBuilder(PENGUINS),
            request([(41.0, "Dream")]),
            "Request 'r-1' has 2 positional values per instance but the model's "
            "metadata lists 3 features; expected one value per feature in training "
            "order.",
        ),
        (
            RowBuilder(PENGUINS),
            request([(1, 2)], columns=("bill", "weight")),
            "Request 'r-1' has 2 named values per instance but the model's metadata "
            "lists 3 features;",
        ),
        (
            RowBuilder(),
            request([(1, 2)], columns=("age", "prediction")),
            "Request 'r-1' has an input named 'prediction', a column the sink adds "
            "itself; expected feature names only.",
        ),
    ],
    ids=["too few positional", "unknown names", "reserved name"],
)
def test_requests_that_do_not_fit_the_model_are_refused(
    builder: RowBuilder, event: LoggedEvent, reason: str
) -> None:
    with pytest.raises(EventError) as refused:
        builder.check(event)
    assert reason in str(refused.value)


def test_requests_that_fit_and_responses_pass_the_check() -> None:
    builder = RowBuilder(PENGUINS)
    builder.check(request([(41.0, "Dream", True)]))
    builder.check(request([("Dream",)], columns=("island",)))
    builder.check(response([1, 2, 3, 4]))


def test_a_response_of_another_length_cannot_pair() -> None:
    builder = RowBuilder(PENGUINS)
    pair = (request([(41.0, "Dream", True)] * 3), response(["x", "y"]))
    assert builder.pair_error(*pair) == (
        "Response 'r-1' has 2 predictions but its request has 3 instances; expected "
        "one prediction per instance."
    )
    assert builder.pair_error(pair[0], response(["x", "y", "z"])) is None


def test_a_batch_table_has_the_base_columns_then_typed_features() -> None:
    builder = RowBuilder(PENGUINS)
    rows = builder.rows(request([("41.5", "Dream", "true")]), response(["Adelie"]))
    table = builder.table(rows)
    assert table.column_names == [*BASE, "bill", "island", "member", "prediction"]
    assert table.schema.field("row").type == pa.int64()
    assert table.schema.field("received_at").type == pa.timestamp("us", tz="UTC")
    assert table.schema.field("request_id").type == pa.string()
    assert table.schema.field("bill").type == pa.float64()
    assert table.schema.field("member").type == pa.bool_()
    assert table.to_pylist()[0]["bill"] == 41.5
    assert table.to_pylist()[0]["member"] is True


def test_an_empty_side_keeps_the_metadata_types() -> None:
    # Every batch file has the same schema, even when no request came.
    builder = RowBuilder(PENGUINS)
    table = builder.table(builder.rows(None, response(["Adelie"])))
    assert table.schema.field("bill").type == pa.float64()
    assert table.schema.field("member").type == pa.bool_()


def test_regression_predictions_are_numbers_and_probabilities_are_text() -> None:
    regression = RowBuilder(
        ModelColumns(features=(("x", "numeric"),), task="regression")
    )
    table = regression.table(regression.rows(request([(1,)]), response(["2.5"])))
    assert table.schema.field("prediction").type == pa.float64()
    assert table.column("prediction").to_pylist() == [2.5]
    builder = RowBuilder()
    table = builder.table(builder.rows(request([(1,)]), response([[0.9, 0.1]])))
    assert table.column("prediction").to_pylist() == ["[0.9, 0.1]"]


def test_without_metadata_features_keep_the_order_they_were_first_seen() -> None:
    builder = RowBuilder()
    rows = builder.rows(request([(1,)], columns=("b",)), None)
    rows += builder.rows(request([(2, 3)], columns=("a", "b")), None)
    assert builder.table(rows).column_names == [*BASE, "b", "a", "prediction"]


def test_probabilities_give_a_column_per_class_and_predict_s_class() -> None:
    builder = RowBuilder(CLASSIFIER)
    answers = [[0.1, 0.7, 0.2], [0.4, 0.2, 0.4], [0.0, 0.5, 0.5], [1, 0, 0]]
    rows = builder.rows(request([(41.0, "Dream", True)] * 4), response(answers))
    # The highest probability wins; a tie goes to the first class, as in predict.
    assert [row["prediction"] for row in rows] == [
        "Chinstrap",
        "Adelie",
        "Chinstrap",
        "Adelie",
    ]
    assert [row["proba_Gentoo"] for row in rows] == [0.2, 0.4, 0.5, 0]
    table = builder.table(rows)
    assert table.column_names == [
        *BASE,
        "bill",
        "island",
        "member",
        "prediction",
        "proba_Adelie",
        "proba_Chinstrap",
        "proba_Gentoo",
    ]
    for name in ("proba_Adelie", "proba_Chinstrap", "proba_Gentoo"):
        assert table.schema.field(name).type == pa.float64()
    assert table.column("proba_Adelie").to_pylist() == [0.1, 0.4, 0.0, 1.0]
    assert table.schema.field("prediction").type == pa.string()


def test_class_answers_and_missing_probabilities_keep_columns_honest() -> None:
    builder = RowBuilder(CLASSIFIER)
    # A server answering classes adds no probability columns.
    plain = builder.table(
        builder.rows(request([(1.0, "Dream", True)]), response(["Gentoo"]))
    )
    assert plain.column_names[-1] == "prediction"
    # A probability missing (NaN travels as null) leaves the class unknown.
    rows = builder.rows(request([(1.0, "Dream", True)]), response([[0.5, None, 0.5]]))
    assert rows[0]["prediction"] is None and rows[0]["proba_Chinstrap"] is None
    # A request alone, in a batch with probabilities, has empty probabilities.
    rows += builder.rows(request([(2.0, "Biscoe", False)]), None)
    table = builder.table(rows)
    assert table.column("proba_Adelie").to_pylist() == [0.5, None]


@pytest.mark.parametrize(
    "answer",
    [[0.5, 0.5], [0.2, "0.3", 0.5], [0.2, True, 0.5]],
    ids=["two of three classes", "text", "boolean"],
)
def test_a_list_answer_that_is_not_one_probability_per_class_is_refused(
    answer: list[Any],
) -> None:
    with pytest.raises(EventError) as refused:
        RowBuilder(CLASSIFIER).check(response(["Adelie", answer]))
    assert str(refused.value) == (
        f"Response 'r-1' answers row 1 with {answer!r}, but the model's metadata "
        "lists 3 classes (Adelie, Chinstrap, Gentoo); expected one probability per "
        "class, in that order, or the predicted class."
    )
    RowBuilder(CLASSIFIER).check(response(["Adelie", [0.2, 0.3, 0.5]]))
