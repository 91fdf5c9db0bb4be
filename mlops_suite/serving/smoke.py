"""The smoke request: does a served model answer, and answer like the model itself?

:func:`v1_smoke_request` sends rows to a KServe V1 endpoint and compares the
predictions with the ones the model gives in process; a rollout calls it (through
``functools.partial``) once the new version is Ready.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd
import requests

from mlops_suite.errors import DeploymentError, last_clause, snippet


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
            a relative 1e-6), or ``None`` to only check that there is one per row.
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
        wrong = [i for i, (w, g) in enumerate(pairs) if not _same(w, g)]
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


def _same(wanted: Any, got: Any) -> bool:
    numbers = (int, float)
    if (
        isinstance(wanted, numbers)
        and isinstance(got, numbers)
        and not isinstance(wanted, bool)
        and not isinstance(got, bool)
    ):
        return math.isclose(wanted, got, rel_tol=1e-6, abs_tol=1e-9)
    if isinstance(wanted, list) and isinstance(got, list):
        return len(wanted) == len(got) and all(
            _same(a, b) for a, b in zip(wanted, got, strict=True)
        )
    return bool(wanted == got)
