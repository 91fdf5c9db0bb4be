"""Feed table columns to the ONNX model, and prove it answers as the Pipeline does.

:func:`onnx_inputs` is the mapping documented in :mod:`mlops_suite.onnx_export`,
written once: the parity check, the benchmark and the tests feed the model with it,
and the README shows the same by hand. :func:`check_parity` runs both models on the
same rows (the test split) and refuses an export whose answers differ.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import onnxruntime
import pandas as pd

from mlops_suite.artifacts import BOOLEAN, CATEGORICAL, CLASSIFICATION
from mlops_suite.errors import ExportError
from mlops_suite.onnx_export.convert import (
    LABEL,
    MISSING_TEXT,
    PREDICTION,
    PROBABILITIES,
)
from mlops_suite.training.train import to_v1_instances

PROBABILITY_TOLERANCE = 1e-4
RELATIVE_TOLERANCE = 1e-4


@dataclass(frozen=True)
class Parity:
    """How the ONNX model's answers compare with the Pipeline's on the same rows.

    Attributes:
        rows: The rows both models answered.
        labels_identical: Classification: every predicted label is the same.
        label_mismatches: Classification: rows whose labels differ.
        max_probability_difference: Classification: the largest absolute
            difference of a class probability.
        max_relative_error: Regression: the largest difference relative to the
            Pipeline's prediction (see :func:`check_parity` for the scale).
        tolerance: The bound the differences were held to.
    """

    rows: int
    labels_identical: bool | None = None
    label_mismatches: int | None = None
    max_probability_difference: float | None = None
    max_relative_error: float | None = None
    tolerance: float = PROBABILITY_TOLERANCE

    def to_dict(self) -> dict[str, Any]:
        """The parity as recorded in ``metadata.json`` (unset fields left out)."""
        return {key: value for key, value in asdict(self).items() if value is not None}


def onnx_inputs(
    df: pd.DataFrame, features: Sequence[Mapping[str, str]]
) -> dict[str, np.ndarray]:
    """The ONNX model's inputs for a table: one ``(rows, 1)`` array per feature.

    Values are read the way training reads them
    (:func:`mlops_suite.training.train.to_v1_instances`): numeric columns become
    float64 with NaN for missing; categorical columns their text; boolean columns
    ``"True"``/``"False"``; a missing text value is ``""``.

    Args:
        df: Rows holding at least the feature columns.
        features: The metadata's ``{"name", "type"}`` features.

    Returns:
        Arrays by input name, ready for ``InferenceSession.run``.

    Raises:
        DataError: A feature column is absent or holds a value of the wrong kind.
    """
    rows = to_v1_instances(df, features)
    columns = list(zip(*rows, strict=True)) if rows else [() for _ in features]
    feed: dict[str, np.ndarray] = {}
    for feature, values in zip(features, columns, strict=True):
        if feature["type"] in (CATEGORICAL, BOOLEAN):
            text = [MISSING_TEXT if v is None else str(v) for v in values]
            feed[str(feature["name"])] = np.array(text, dtype=object).reshape(-1, 1)
        else:
            numbers = [np.nan if v is None else float(v) for v in values]
            feed[str(feature["name"])] = np.array(numbers, np.float64).reshape(-1, 1)
    return feed


def session(model_bytes: bytes) -> Any:
    """An onnxruntime session on the CPU for a serialized ONNX model."""
    return onnxruntime.InferenceSession(model_bytes, providers=["CPUExecutionProvider"])


def check_parity(
    model_bytes: bytes,
    pipeline: Any,
    metadata: Mapping[str, Any],
    outputs: Mapping[str, str],
    df: pd.DataFrame,
    where: str,
) -> Parity:
    """Run the ONNX model and the Pipeline on the same rows; refuse any difference.

    Classification: every label identical and every probability within
    :data:`PROBABILITY_TOLERANCE`. Regression: every prediction within
    :data:`RELATIVE_TOLERANCE` of the Pipeline's, relative to the larger of the
    prediction itself and the mean absolute prediction, so that float32 rounding
    of a prediction near zero is measured against the outputs' own scale.

    Args:
        model_bytes: The serialized ONNX model.
        pipeline: The Pipeline it was converted from.
        metadata: The model's metadata (``features``, ``task``).
        outputs: Output names by role, from the conversion.
        df: The rows to compare on, the test split.
        where: What is exported, for messages (``penguins v3``).

    Returns:
        The comparison, recorded in ``metadata.json``.

    Raises:
        ExportError: No rows, or the answers differ beyond the tolerance.
        DataError: A feature column is absent or holds a value of the wrong kind.
    """
    features = metadata["features"]
    if df.empty:
        raise ExportError(
            f"The test split for {where} has 0 rows; parity needs at least one."
        )
    names = [str(f["name"]) for f in features]
    X = pd.DataFrame(to_v1_instances(df, features), columns=names, dtype=object)
    runner, feed = session(model_bytes), onnx_inputs(df, features)
    if metadata.get("task") == CLASSIFICATION:
        labels, probabilities = runner.run(
            [outputs[LABEL], outputs[PROBABILITIES]], feed
        )
        return _classification_parity(pipeline, X, labels, probabilities, where)
    (predictions,) = runner.run([outputs[PREDICTION]], feed)
    return _regression_parity(pipeline, X, predictions, where)


def _classification_parity(
    pipeline: Any, X: pd.DataFrame, labels: Any, probabilities: Any, where: str
) -> Parity:
    expected = pipeline.predict(X)
    # Booleans come out of ONNX as 0/1, which compare equal to False/True.
    mismatches = sum(
        a != b
        for a, b in zip(
            np.asarray(labels).ravel().tolist(), expected.tolist(), strict=True
        )
    )
    difference = float(
        np.max(np.abs(np.asarray(probabilities) - pipeline.predict_proba(X)))
    )
    parity = Parity(
        rows=len(X),
        labels_identical=mismatches == 0,
        label_mismatches=int(mismatches),
        max_probability_difference=difference,
    )
    if mismatches or not difference <= PROBABILITY_TOLERANCE:
        raise ExportError(
            f"The ONNX model of {where} does not answer as the Pipeline does on "
            f"the {len(X)} test rows: {mismatches} label(s) differ and "
            f"probabilities differ by up to {difference:.3g} (tolerated: 0 and "
            f"{PROBABILITY_TOLERANCE:g}), so it is not exported."
        )
    return parity


def _regression_parity(
    pipeline: Any, X: pd.DataFrame, predictions: Any, where: str
) -> Parity:
    expected = np.asarray(pipeline.predict(X), dtype=np.float64).ravel()
    got = np.asarray(predictions, dtype=np.float64).ravel()
    scale = np.maximum(np.abs(expected), float(np.mean(np.abs(expected))) or 1.0)
    error = float(np.max(np.abs(got - expected) / scale))
    if not error <= RELATIVE_TOLERANCE:
        raise ExportError(
            f"The ONNX model of {where} does not answer as the Pipeline does on "
            f"the {len(X)} test rows: predictions differ by up to {error:.3g} "
            f"relative (tolerated: {RELATIVE_TOLERANCE:g}), so it is not exported."
        )
    return Parity(rows=len(X), max_relative_error=error, tolerance=RELATIVE_TOLERANCE)
