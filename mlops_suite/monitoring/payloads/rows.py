"""Pair a request with its response into rows, and rows into an Arrow table.

A request without a response (the model failed, or the logger logs requests only)
gives rows with an empty prediction; a response without a request gives rows with
empty features.

A classifier served with ``PREDICT_PROBA=true`` answers each instance with a list of
probabilities, one per class in the order of ``metadata.json``'s ``classes``. Such a
row gets a ``proba_<class>`` column per class and, as ``prediction``, the class
scikit-learn's ``predict`` chooses: the first class with the highest probability.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

import pyarrow as pa

from mlops_suite.artifacts import NUMERIC, REGRESSION
from mlops_suite.monitoring.payloads.cloudevents import EventError, shown_id
from mlops_suite.monitoring.payloads.columns import (
    BASE_COLUMNS,
    ENDPOINT_COLUMN,
    INFERENCE_SERVICE_COLUMN,
    MODEL_NAME_COLUMN,
    NAMESPACE_COLUMN,
    POSITIONAL_PREFIX,
    PREDICTION_COLUMN,
    RECEIVED_AT_COLUMN,
    REQUEST_ID_COLUMN,
    RESERVED_COLUMNS,
    ROW_COLUMN,
    ModelColumns,
    column_array,
)
from mlops_suite.monitoring.payloads.inference import REQUEST, LoggedEvent

# What a probability may be in a logged answer (booleans excluded where checked).
_NUMBER = (int, float)

_TEXT_COLUMNS = {
    REQUEST_ID_COLUMN,
    INFERENCE_SERVICE_COLUMN,
    NAMESPACE_COLUMN,
    ENDPOINT_COLUMN,
    MODEL_NAME_COLUMN,
}


class RowBuilder:
    """Pairs of logged events to rows, and rows to an Arrow table.

    Args:
        model: The served model's features and task; ``None`` to name positional
            values ``feature_<i>`` and infer column types per batch.
    """

    def __init__(self, model: ModelColumns | None = None):
        self.model = model
        self._names = [name for name, _ in model.features] if model else []
        self._kinds = dict(model.features) if model else {}
        self._classes = model.classes if model and model.classes else ()
        self._probabilities = model.probability_columns if model else ()

    def check(self, event: LoggedEvent) -> None:
        """Refuse an event whose values cannot be mapped to the model's columns.

        Args:
            event: A decoded event.

        Raises:
            EventError: Positional instances have another number of values than
                the model has features, named columns neither match the feature
                names nor their count, (without metadata) a column name is one
                the sink adds itself, or a classifier's response row is a list
                but not one probability (a number or null) per class.
        """
        if event.kind != REQUEST:
            self._check_probabilities(event)
            return
        if not event.rows:
            return
        shown = shown_id(event.id)
        width = len(event.rows[0])
        if self.model is None:
            clashes = [name for name in event.columns or () if name in RESERVED_COLUMNS]
            if clashes:
                raise EventError(
                    f"Request '{shown}' has an input named '{clashes[0]}', a column "
                    "the sink adds itself; expected feature names only."
                )
            return
        if event.columns is not None and set(event.columns) <= set(self._names):
            return
        if width != len(self._names):
            form = "positional" if event.columns is None else "named"
            raise EventError(
                f"Request '{shown}' has {width} {form} values per instance but the "
                f"model's metadata lists {len(self._names)} features; expected one "
                "value per feature in training order."
            )

    def _check_probabilities(self, response: LoggedEvent) -> None:
        if not self._classes:
            return
        for index, answer in enumerate(response.predictions):
            if not isinstance(answer, list) or self._is_probabilities(answer):
                continue
            raise EventError(
                f"Response '{shown_id(response.id)}' answers row {index} with "
                f"{answer!r:.120}, but the model's metadata lists "
                f"{len(self._classes)} classes "
                f"({', '.join(map(str, self._classes[:5]))}); expected one "
                "probability per class, in that order, or the predicted class."
            )

    def _is_probabilities(self, answer: list[Any]) -> bool:
        return len(answer) == len(self._classes) and all(
            value is None
            or (isinstance(value, _NUMBER) and not isinstance(value, bool))
            for value in answer
        )

    def _predicted(self, probabilities: list[Any]) -> Any:
        """The class ``predict`` answers: the first with the highest probability."""
        if any(value is None for value in probabilities):
            return None
        best = max(range(len(probabilities)), key=probabilities.__getitem__)
        return self._classes[best]

    def _prediction(self, answer: Any) -> dict[str, Any]:
        """The prediction columns of one answer: the class, and its probabilities."""
        # A list that does not fit (a journal written for another version's
        # metadata) is kept as it came, as JSON text.
        if (
            isinstance(answer, list)
            and self._classes
            and self._is_probabilities(answer)
        ):
            columns = dict(zip(self._probabilities, answer, strict=True))
            return {PREDICTION_COLUMN: self._predicted(answer), **columns}
        return {PREDICTION_COLUMN: answer}

    def _features(self, event: LoggedEvent | None, index: int) -> dict[str, Any]:
        if event is None or index >= len(event.rows):
            return dict.fromkeys(self._names)
        values = event.rows[index]
        columns = event.columns
        if self.model is None:
            names = columns or tuple(
                f"{POSITIONAL_PREFIX}{i}" for i in range(len(values))
            )
            return dict(zip(names, values, strict=False))
        if columns is not None and set(columns) <= set(self._names):
            named = dict(zip(columns, values, strict=False))
            return {name: named.get(name) for name in self._names}
        padded = list(values[: len(self._names)])
        padded += [None] * (len(self._names) - len(padded))
        return dict(zip(self._names, padded, strict=True))

    def rows(
        self, request: LoggedEvent | None, response: LoggedEvent | None
    ) -> list[dict[str, Any]]:
        """Rows for a request and its response; either side may be missing.

        Args:
            request: The request event, or ``None`` when it never arrived.
            response: The response event, or ``None`` when it never arrived.

        Returns:
            One dict per instance: the base columns, the features and the
            prediction (``None`` where a side is missing), plus the
            ``proba_<class>`` columns of an answer that holds probabilities.
        """
        first = request or response
        if first is None:
            return []
        count = request.size if request is not None else first.size
        predictions = response.predictions if response is not None else ()
        model_name = (
            (response.model_name if response is not None else None)
            or first.inference_service
            or (response.inference_service if response is not None else None)
        )
        rows = []
        for index in range(count):
            row: dict[str, Any] = {
                REQUEST_ID_COLUMN: first.id,
                ROW_COLUMN: index,
                RECEIVED_AT_COLUMN: first.received_at,
                INFERENCE_SERVICE_COLUMN: first.inference_service,
                NAMESPACE_COLUMN: first.namespace,
                ENDPOINT_COLUMN: first.endpoint,
                MODEL_NAME_COLUMN: model_name,
            }
            row.update(self._features(request, index))
            row.update(
                self._prediction(predictions[index])
                if index < len(predictions)
                else {PREDICTION_COLUMN: None}
            )
            rows.append(row)
        return rows

    def pair_error(self, request: LoggedEvent, response: LoggedEvent) -> str | None:
        """Why a request and a response with the same id cannot be paired, if so."""
        if request.size != response.size:
            return (
                f"Response '{shown_id(request.id)}' has {response.size} predictions "
                f"but its request has {request.size} instances; expected one "
                "prediction per instance."
            )
        return None

    def table(self, rows: Iterable[Mapping[str, Any]]) -> pa.Table:
        """Build the Arrow table of a batch of rows.

        Args:
            rows: Rows from :meth:`rows`.

        Returns:
            The base columns, the features (metadata order, or first-seen order),
            ``prediction`` and, when a row holds probabilities, the float64
            ``proba_<class>`` columns in class order; features and prediction typed
            by the metadata when known.
        """
        rows = list(rows)
        feature_names: dict[str, None] = dict.fromkeys(self._names)
        derived = set(self._probabilities)
        for row in rows:
            for name in row:
                if name not in RESERVED_COLUMNS and name not in derived:
                    feature_names.setdefault(name)
        received = [datetime.fromisoformat(row[RECEIVED_AT_COLUMN]) for row in rows]
        arrays: dict[str, pa.Array] = {}
        for name in BASE_COLUMNS:
            if name == ROW_COLUMN:
                arrays[name] = pa.array([row[name] for row in rows], type=pa.int64())
            elif name == RECEIVED_AT_COLUMN:
                arrays[name] = pa.array(received, type=pa.timestamp("us", tz="UTC"))
            else:
                assert name in _TEXT_COLUMNS
                arrays[name] = pa.array([row.get(name) for row in rows], pa.string())
        for name in feature_names:
            arrays[name] = column_array(
                [row.get(name) for row in rows], self._kinds.get(name)
            )
        task = self.model.task if self.model else None
        predictions = [row.get(PREDICTION_COLUMN) for row in rows]
        numeric = task == REGRESSION and not any(
            isinstance(value, list) for value in predictions
        )
        arrays[PREDICTION_COLUMN] = column_array(
            predictions, NUMERIC if numeric else None
        )
        if any(name in row for row in rows for name in self._probabilities):
            for name in self._probabilities:
                arrays[name] = column_array([row.get(name) for row in rows], NUMERIC)
        return pa.table(arrays)
