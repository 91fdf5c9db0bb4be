"""Requests built from sample rows for a local KServe server, and its answers.

Infra validation (:mod:`mlops_suite.serving.infra_validation`) sends a model's sample
rows over both protocols of the stock sklearn runtime:

* V1 ``{"instances": rows}``, each row a JSON list in training column order, missing
  values as ``null`` (:func:`v1_instances`);
* V2 one input per feature with ``"parameters": {"content_type": "pd"}``
  (:func:`v2_body`).

What the V2 ``"pd"`` decoding (``InferRequest.as_dataframe`` in kserve 0.21) gives,
learned from the running server: for JSON requests the declared datatype is **not**
used to convert the data; each input's ``data`` list goes to ``pd.DataFrame`` as is
(only ``bytes`` values, which plain JSON cannot carry, are decoded as UTF-8), so the
column dtype is whatever pandas infers from the JSON values:

========  ==========================  =============================================
datatype  values sent                 column the model receives
========  ==========================  =============================================
FP64      floats, ``null``            ``float64``; ``null`` becomes ``NaN``
FP64      whole numbers only          ``int64`` (so :func:`v2_body` sends ``2007.0``)
INT64     ints with a ``null``        ``float64`` with ``NaN``
BOOL      ``true``/``false``          ``bool``
BOOL      with a ``null``             ``object`` holding ``True``/``False``/``None``
BYTES     strings, ``null``           ``object`` of ``str``; ``null`` stays ``None``
any       the string ``"NaN"``        ``object`` holding the text ``'NaN'``
========  ==========================  =============================================

So missing values round-trip as ``null`` for every datatype: numeric columns get
``NaN`` exactly as in training, while categorical and boolean columns get ``None``
where the training DataFrame had ``NaN``; a model must impute both (the contract's
``SimpleImputer`` for ``np.nan`` then for ``None``). Numeric features are sent as FP64
floats, booleans as BOOL, categorical values as BYTES (non-string categories are sent
as their JSON value, which the decoder keeps).
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from mlops_suite.artifacts import BOOLEAN, CATEGORICAL, NUMERIC

V2_DATATYPES = {NUMERIC: "FP64", BOOLEAN: "BOOL", CATEGORICAL: "BYTES"}
_BODY_EXCERPT = 200
# The server is local: reach it directly, whatever HTTP proxy the environment sets.
_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def is_missing(value: Any) -> bool:
    """Whether a value is missing: ``None``, NaN or pandas' NA (lists never are).

    Args:
        value: Any cell or answer value.

    Returns:
        True when it is missing.
    """
    if value is None:
        return True
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):  # list-like values are never "missing"
        return False


def native(value: Any) -> Any:
    """A JSON-ready Python scalar: numpy scalars unwrapped, missing as None.

    Args:
        value: A cell of a DataFrame or an element of a numpy array.

    Returns:
        The plain Python value, or None.
    """
    if is_missing(value):
        return None
    if isinstance(value, np.generic):
        return value.item()
    return value


def v1_instances(frame: pd.DataFrame) -> list[list[Any]]:
    """The V1 ``instances`` of some rows: one JSON list per row, in column order.

    Args:
        frame: The rows, feature columns in training order.

    Returns:
        The rows as lists of plain values, missing ones as None.
    """
    return [
        [native(value) for value in row]
        for row in frame.itertuples(index=False, name=None)
    ]


def _v2_value(value: Any, kind: str) -> Any:
    plain = native(value)
    if plain is None:
        return None
    if kind == NUMERIC:
        # Whole numbers sent as JSON ints would decode to an int64 column.
        return float(plain)
    if kind == BOOLEAN:
        return bool(plain)
    return plain


def v2_body(frame: pd.DataFrame, kinds: Sequence[str]) -> dict[str, Any]:
    """A V2 ``"pd"`` request body: one input per feature column.

    Args:
        frame: The rows, feature columns in training order.
        kinds: Each column's feature kind (``numeric``, ``boolean``,
            ``categorical``), in the same order.

    Returns:
        ``{"inputs": [...], "parameters": {"content_type": "pd"}}``.
    """
    inputs = [
        {
            "name": name,
            "datatype": V2_DATATYPES[kind],
            "shape": [len(frame)],
            "data": [_v2_value(value, kind) for value in frame[name]],
        }
        for name, kind in zip(frame.columns, kinds, strict=True)
    ]
    return {"inputs": inputs, "parameters": {"content_type": "pd"}}


class RequestFailed(Exception):
    """A request got no answer or a non-200 one; the message is one sentence."""


def post_json(url: str, body: dict[str, Any], timeout_s: float) -> Any:
    """POST a JSON body to a local server, bypassing any proxy, and decode the answer.

    Args:
        url: The endpoint.
        body: The request body.
        timeout_s: How long the answer may take.

    Returns:
        The decoded JSON answer.

    Raises:
        RequestFailed: No answer, a non-200 answer (with an excerpt of its body) or
            an answer that is not JSON.
    """
    data = json.dumps(body, allow_nan=False).encode("utf-8")
    request = urllib.request.Request(
        url, data=data, headers={"Content-Type": "application/json"}, method="POST"
    )
    try:
        with _DIRECT.open(request, timeout=timeout_s) as response:
            return json.loads(response.read().decode("utf-8"))
    except urllib.error.HTTPError as exc:
        excerpt = exc.read().decode("utf-8", errors="replace")[:_BODY_EXCERPT]
        raise RequestFailed(f"HTTP {exc.code}: {excerpt.strip()}") from exc
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise RequestFailed(f"no valid answer ({exc})") from exc


def v1_answers(answer: Any) -> list[Any]:
    """The values of a V1 answer, flattened (a row of probabilities adds several).

    Args:
        answer: The decoded ``{"predictions": [...]}``.

    Returns:
        Every value, row after row.

    Raises:
        RequestFailed: The answer has no ``predictions`` list.
    """
    if not isinstance(answer, dict) or not isinstance(answer.get("predictions"), list):
        raise RequestFailed(f"answer without a 'predictions' list: {answer!r:.200}")
    return list(np.asarray(answer["predictions"], dtype=object).ravel())


def v2_answers(answer: Any) -> list[Any]:
    """The values of a V2 answer's first output, flattened.

    Args:
        answer: The decoded ``{"outputs": [{"data": [...]}, ...]}``.

    Returns:
        Every value of the first output, row after row.

    Raises:
        RequestFailed: The answer has no ``outputs`` list with data.
    """
    outputs = answer.get("outputs") if isinstance(answer, dict) else None
    if not isinstance(outputs, list) or not outputs or "data" not in outputs[0]:
        raise RequestFailed(f"answer without an 'outputs' list: {answer!r:.200}")
    return list(np.asarray(outputs[0]["data"], dtype=object).ravel())
