"""How a timeline gets each row's class probabilities, prediction and label.

The log decides: ``proba_<class>`` columns in every file are the probabilities; the
``prediction`` column, when present, is the served class (or value); without
probabilities the model scores the logged features, as KServe would (V1 instances),
once loaded. Labels are read once, normalised as the decay check does
(:func:`~.label_join.prepare_labels`), and looked up by ``request_id`` (and ``row``
when both sides have it) batch by batch.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from mlops_suite.artifacts import CLASSIFICATION
from mlops_suite.errors import DataError
from mlops_suite.monitoring.label_join import LABEL, as_key, prepare_labels
from mlops_suite.monitoring.monitored_model import MonitoredModel
from mlops_suite.monitoring.payloads.columns import (
    REQUEST_ID_COLUMN,
    ROW_COLUMN,
    probability_column,
)
from mlops_suite.monitoring.sources import Batch, Part
from mlops_suite.training.train import to_v1_instances

_KEY_SEPARATOR = "\x1f"


@dataclass
class ScoredBatch:
    """One batch's model outputs and labels, one entry per row.

    Attributes:
        scores: ``(rows, classes)`` probabilities as the model gave them.
        calibrated: The same, calibrated (when performance is estimated).
        predicted: The predicted class index (classification) or value.
        ok: Rows whose scores (or logged prediction) are usable.
        truth: The joined label: a class index (-1 when none) or a value (NaN).
    """

    scores: np.ndarray | None = None
    calibrated: np.ndarray | None = None
    predicted: np.ndarray | None = None
    ok: np.ndarray | None = None
    truth: np.ndarray | None = None


@dataclass
class ScoringPlan:
    """Which columns a batch needs, and how its rows are scored and labelled.

    Made once per timeline by :meth:`make` from the columns every file holds.

    Attributes:
        task: The model's task; None without a model.
        classes: The classifier's classes.
        estimate: Whether performance is estimated.
        note: How performance is (or why it is not) estimated, for reports.
        columns: The columns to read besides the compared features.
        model: The model; None measures drift only.
        probabilities: The logged ``proba_<class>`` columns, in class order; empty
            when the model scores the rows instead.
        prediction: The logged prediction column, when every file has it.
        labels: The joined labels by key (class index or value); None without.
        join_on_row: Whether labels are joined on ``row`` besides ``request_id``.
    """

    task: str | None
    classes: list[Any]
    estimate: bool
    note: str
    columns: list[str]
    model: MonitoredModel | None = None
    probabilities: list[str] = field(default_factory=list)
    prediction: str | None = None
    labels: pd.Series | None = None
    join_on_row: bool = False
    _pipeline: Any = None

    @classmethod
    def make(
        cls,
        parts: Sequence[Part],
        model: MonitoredModel | None,
        prediction_column: str,
        labels: Any,
        label_column: str,
    ) -> ScoringPlan:
        """Plan the scoring of a source.

        Args:
            parts: The current data's parts.
            model: The model, or None.
            prediction_column: The log's prediction column.
            labels: Ground truth (a DataFrame or a file), or None.
            label_column: The labels' column.

        Returns:
            The plan.

        Raises:
            DataError: The labels cannot be read or joined on this log.
        """
        if model is None:
            note = "No model given: drift only, no performance."
            return cls(task=None, classes=[], estimate=False, note=note, columns=[])
        task = model.task
        everywhere = set.intersection(*(set(part.names()) for part in parts))
        prediction = prediction_column if prediction_column in everywhere else None
        columns = [prediction] if prediction else []
        plan = cls(
            task=task,
            classes=model.classes,
            estimate=False,
            note="",
            columns=columns,
            model=model,
            prediction=prediction,
        )
        if task == CLASSIFICATION:
            wanted = [probability_column(value) for value in model.classes]
            logged = bool(wanted) and all(name in everywhere for name in wanted)
            if logged:
                plan.probabilities = wanted
                plan.columns += wanted
            if model.calibrator is None:
                plan.note = (
                    f"Performance not estimated: {model.name} was registered without "
                    "a calibrator (register it again to record one)."
                )
            elif not logged and model.folder is None:
                plan.note = (
                    "Performance not estimated: the log has no proba_<class> "
                    "columns and the model file is not at hand to score the rows."
                )
            else:
                plan.estimate = True
                source = "logged probabilities" if logged else "the model's scores"
                plan.note = f"Performance estimated (CBPE) from {source}."
            if not logged and (plan.estimate or labels is not None) and model.folder:
                plan._read_model_features()
        else:
            plan.note = (
                "Performance is not estimated for regression: without a calibrated "
                "confidence there is nothing to estimate it from; drift"
                + (" and realized metrics are" if labels is not None else " is")
                + " reported."
            )
            if prediction is None and labels is not None and model.folder:
                plan._read_model_features()
        if labels is not None:
            plan._labels(parts, labels, label_column, everywhere)
        return plan

    def _read_model_features(self) -> None:
        assert self.model is not None
        names = [str(feature["name"]) for feature in self.model.features]
        self.columns += [name for name in names if name not in self.columns]

    def _labels(
        self, parts: Sequence[Part], labels: Any, label_column: str, names: set[str]
    ) -> None:
        truth, truth_name = prepare_labels(
            labels,
            task=str(self.task),
            label_column=label_column,
            classes=self.classes if self.task == CLASSIFICATION else None,
        )
        if REQUEST_ID_COLUMN not in names:
            raise DataError(
                f"the current data '{parts[0].label}' has no '{REQUEST_ID_COLUMN}' "
                f"column to join the {truth_name} on"
            )
        self.join_on_row = ROW_COLUMN in names and ROW_COLUMN in truth.columns
        keys = truth[REQUEST_ID_COLUMN]
        if self.join_on_row:
            keys = keys + _KEY_SEPARATOR + truth[ROW_COLUMN].astype(str)
        index = pd.Index(keys)
        if not index.is_unique:
            raise DataError(
                f"the {truth_name} holds several labels per request_id and the log "
                f"has no '{ROW_COLUMN}' column to tell them apart"
            )
        if self.task == CLASSIFICATION:
            positions = {as_key(value): k for k, value in enumerate(self.classes)}
            values = truth[LABEL].map(positions).to_numpy(dtype=np.float64)
        else:
            values = truth[LABEL].to_numpy(dtype=np.float64)
        self.labels = pd.Series(values, index=index)
        self.columns += [REQUEST_ID_COLUMN] + ([ROW_COLUMN] if self.join_on_row else [])

    def score(self, batch: Batch, label: str) -> ScoredBatch:
        """The batch's scores, calibrated scores, predictions and joined labels.

        Args:
            batch: The batch's columns (those of :attr:`columns` among them).
            label: Its file, for messages.

        Returns:
            What the batch's rows scored.

        Raises:
            DataError: A logged prediction is not one of the model's classes, or a
                probability column does not hold numbers.
        """
        scored = ScoredBatch()
        if self.model is None:
            return scored
        if self.task == CLASSIFICATION:
            if self.probabilities:
                scored.scores = np.column_stack(
                    [_floats(batch[name], name, label) for name in self.probabilities]
                )
            elif self.estimate or self.labels is not None:
                if self.model.folder is not None:
                    scored.scores = self._pipeline_output(batch, proba=True)
            if scored.scores is not None:
                scored.ok = np.isfinite(scored.scores).all(axis=1)
                safe = np.where(scored.ok[:, None], scored.scores, 0.0)
                scored.scores = safe
                if self.estimate and self.model.calibrator is not None:
                    scored.calibrated = self.model.calibrator.calibrate(safe)
                scored.predicted = safe.argmax(axis=1)
            if self.prediction is not None:
                logged = self._class_indices(batch[self.prediction], label)
                if scored.predicted is None:
                    scored.predicted = np.where(logged >= 0, logged, 0)
                    scored.ok = logged >= 0
                else:
                    scored.predicted = np.where(logged >= 0, logged, scored.predicted)
        else:
            if self.prediction is not None:
                scored.predicted = _floats(
                    batch[self.prediction], self.prediction, label
                )
            elif self.labels is not None and self.model.folder is not None:
                scored.predicted = self._pipeline_output(batch, proba=False)
        if self.labels is not None:
            scored.truth = self._truth(batch)
        return scored

    def _pipeline_output(self, batch: Batch, *, proba: bool) -> np.ndarray:
        assert self.model is not None
        if self._pipeline is None:
            self._pipeline = self.model.load_pipeline()
        names = [str(f["name"]) for f in self.model.features]
        frame = pd.DataFrame({name: batch[name].to_pandas() for name in names})
        rows = np.array(to_v1_instances(frame, self.model.features), dtype=object)
        if proba:
            return np.asarray(self._pipeline.predict_proba(rows), dtype=np.float64)
        return np.asarray(self._pipeline.predict(rows), dtype=np.float64)

    def _class_indices(self, array: pa.Array, label: str) -> np.ndarray:
        """Logged predictions as class indices; -1 where missing."""
        if pa.types.is_dictionary(array.type):
            array = array.dictionary_decode()
        uniques = pc.unique(array)
        positions = {as_key(value): k for k, value in enumerate(self.classes)}
        lookup = []
        for value in uniques.to_pylist():
            if value is None:
                lookup.append(-1)
                continue
            position = positions.get(as_key(value))
            if position is None:
                raise DataError(
                    f"column '{self.prediction}' of '{label}' holds {value!r}, which "
                    f"is not one of the model's classes "
                    f"({', '.join(map(str, self.classes))})"
                )
            lookup.append(position)
        codes = pc.index_in(array, value_set=uniques).to_numpy(zero_copy_only=False)
        return np.asarray(lookup, dtype=np.intp)[codes.astype(np.intp)]

    def _truth(self, batch: Batch) -> np.ndarray:
        """The label joined to each row: a class index (-1 when none) or NaN."""
        assert self.labels is not None
        keys = pd.Series(batch[REQUEST_ID_COLUMN].to_pylist(), dtype=object)
        known = keys.notna()
        text = keys.map(lambda value: as_key(value) if value is not None else "")
        if self.join_on_row:
            rows = pd.to_numeric(batch[ROW_COLUMN].to_pandas(), errors="coerce")
            known &= rows.notna().to_numpy()
            text = text + _KEY_SEPARATOR + rows.fillna(-1).astype("int64").astype(str)
        found = self.labels.index.get_indexer(text)
        values = np.where(found >= 0, self.labels.to_numpy()[found], np.nan)
        values[~known.to_numpy()] = np.nan
        if self.task == CLASSIFICATION:
            return np.where(np.isnan(values), -1, values).astype(np.intp)
        return values


def _floats(array: pa.Array, column: str, label: str) -> np.ndarray:
    """A numeric column as float64, missing values as NaN."""
    if pa.types.is_null(array.type):
        return np.full(len(array), np.nan)
    if not (pa.types.is_integer(array.type) or pa.types.is_floating(array.type)):
        raise DataError(
            f"column '{column}' of '{label}' holds {array.type} values; expected "
            "numbers"
        )
    return np.asarray(
        pc.cast(array, pa.float64()).to_numpy(zero_copy_only=False), dtype=np.float64
    )
