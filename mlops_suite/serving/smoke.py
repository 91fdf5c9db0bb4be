"""The smoke request: does a served model answer, and answer like the model itself?

:func:`v1_smoke_request` sends rows to a KServe V1 endpoint and compares the
predictions with the ones the model gives in process; a rollout calls it (through
``functools.partial``) once the new version is Ready.
"""

from __future__ import annotations

import json
import math
import numbers
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd
import requests

from mlops_suite.errors import DeploymentError, last_clause, snippet

# Served answers travel as JSON in shortest float repr, so they arrive exactly as the
# server computed them; what differs is the computing. Some estimators return float32
# (rounding near 6e-8 relative), and the cluster's runtime image may run another
# numpy/BLAS build than the step computing the reference, whose summation order can
# leave noise near 1e-12 on outputs that cancel to about zero from large terms (features
# in the thousands). 1e-6 relative and 1e-9 absolute absorb both with room to spare and
# stay far below any difference a wrong model makes.
PREDICTION_RTOL = 1e-6
PREDICTION_ATOL = 1e-9


def v1_smoke_request(
    url: str,
    model_name: str,
    instances: Sequence[Any],
    expected: Sequence[Any] | None = None,
    timeout_s: float = 10.0,
) -> list[Any]:
    """Send a KServe V1 predict request and check the answer.

    Args:
        url: The service URL (``http://host[:port]``); ``/v1/models/<name>:predict``
            is appended.
        model_name: The model name KServe serves under, which is the
            InferenceService name for the stock sklearn runtime.
        instances: Rows in the V1 form (lists of feature values in training order);
            NaN and pandas' missing values are sent as ``null``.
        expected: The predictions the model must return, row by row (numbers within
            :func:`same_prediction`), or ``None`` to only check that there is one
            per row.
        timeout_s: Timeout of the HTTP request.

    Returns:
        The predictions.

    Raises:
        DeploymentError: The server is unreachable, does not answer 200, answers
            without one prediction per row, or the predictions differ from
            ``expected``.
    """
    endpoint = f"{url.rstrip('/')}/v1/models/{model_name}:predict"
    rows = [_jsonable(row) for row in instances]
    try:
        response = requests.post(
            endpoint,
            data=json.dumps({"instances": rows}, allow_nan=False),
            headers={"Content-Type": "application/json"},
            timeout=timeout_s,
        )
    except requests.RequestException as exc:
        raise DeploymentError(
            f"The smoke request to {endpoint} got no answer "
            f"({type(exc).__name__}: {last_clause(exc)})."
        ) from exc
    if response.status_code != 200:
        raise DeploymentError(
            f"The smoke request to {endpoint} answered HTTP {response.status_code} "
            f"({snippet(response.text)}); expected 200 with predictions."
        )
    try:
        body = response.json()
    except ValueError as exc:
        raise DeploymentError(
            f"The smoke request to {endpoint} answered 200 but not JSON "
            f"({snippet(response.text)})."
        ) from exc
    predictions = body.get("predictions") if isinstance(body, dict) else None
    if not isinstance(predictions, list) or len(predictions) != len(rows):
        got = (
            f"{len(predictions)} predictions"
            if isinstance(predictions, list)
            else f"no 'predictions' list ({snippet(response.text)})"
        )
        raise DeploymentError(
            f"The smoke request to {endpoint} returned {got} for {len(rows)} rows; "
            "expected one prediction per row."
        )
    if expected is not None:
        wanted = _jsonable(expected)
        if len(wanted) != len(predictions):
            raise DeploymentError(
                f"The smoke check for {endpoint} expects {len(wanted)} predictions but "
                f"sent {len(rows)} rows; pass one expected prediction per row."
            )
        pairs = zip(wanted, predictions, strict=True)
        wrong = [i for i, (w, g) in enumerate(pairs) if not same_prediction(w, g)]
        if wrong:
            first = wrong[0]
            raise DeploymentError(
                f"The smoke request to {endpoint} returned predictions that differ "
                f"from the expected ones at {len(wrong)} of {len(rows)} rows (first: "
                f"row {first} expected {wanted[first]!r}, got {predictions[first]!r})."
            )
    return predictions


def _jsonable(value: Any) -> Any:
    """Numpy and pandas values as plain JSON values, missing ones as ``None``."""
    if hasattr(value, "tolist") and not isinstance(value, str | bytes):
        value = value.tolist()
    if isinstance(value, Mapping):
        return {str(key): _jsonable(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(item) for item in value]
    if isinstance(value, float) and math.isnan(value):
        return None
    if value is not None and pd.api.types.is_scalar(value) and pd.isna(value):
        return None
    return value


def same_prediction(expected: Any, served: Any) -> bool:
    """Whether a served prediction equals the one the model gives in process.

    Integers (class labels) and other values (strings, booleans, ``None``) must be
    equal; a float within :data:`PREDICTION_RTOL` relative or :data:`PREDICTION_ATOL`
    absolute, NaN matching only NaN; lists (multi-output rows) element by element.
    The smoke request and infra validation both judge answers with it.

    Args:
        expected: The in-process prediction, as a plain Python value.
        served: What the server answered (decoded JSON).

    Returns:
        True when they are the same prediction.
    """
    if _is_number(expected) and _is_number(served):
        if isinstance(expected, numbers.Integral) and isinstance(
            served, numbers.Integral
        ):
            return int(expected) == int(served)
        wanted, got = float(expected), float(served)
        if math.isnan(wanted) or math.isnan(got):
            return math.isnan(wanted) and math.isnan(got)
        return math.isclose(
            got, wanted, rel_tol=PREDICTION_RTOL, abs_tol=PREDICTION_ATOL
        )
    if isinstance(expected, list | tuple) and isinstance(served, list | tuple):
        return len(expected) == len(served) and all(
            same_prediction(e, s) for e, s in zip(expected, served, strict=True)
        )
    return bool(expected == served)


def _is_number(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)
