"""Infra validation: does the candidate answer correctly inside the serving runtime?

Like TFX's InfraValidator, the candidate model folder is loaded in the real serving
stack (KServe's sklearn runtime, reproduced by :mod:`mlops_suite.serving.runtime`)
in a separate process, and real requests are sent to it. The model is blessed only
when every served answer equals ``joblib.load(model_file).predict`` on the same rows
as a DataFrame in training column order.

Requests sent (rows are the first ``max_rows`` of the sample, features in the order
of ``metadata.json``):

* V1 ``POST /v1/models/<name>:predict`` with ``{"instances": rows}``, each row a JSON
  list (missing values as ``null``), once as one batch and once row by row, because
  the stock decoder turns a batch into an ``object`` array when a value is ``null``
  but into a string array when none is (see :mod:`mlops_suite.serving.runtime`);
* V2 ``POST /v2/models/<name>/infer`` with one input per feature and
  ``"parameters": {"content_type": "pd"}``, also as a batch and row by row.

What the V2 ``"pd"`` decoding (``InferRequest.as_dataframe`` in kserve 0.21) gives,
learned from the running server: for JSON requests the declared datatype is **not**
used to convert the data; each input's ``data`` list goes to ``pd.DataFrame`` as is
(only ``bytes`` values, which plain JSON cannot carry, are decoded as UTF-8), so the
column dtype is whatever pandas infers from the JSON values:

========  ==========================  =============================================
datatype  values sent                 column the model receives
========  ==========================  =============================================
FP64      floats, ``null``            ``float64``; ``null`` becomes ``NaN``
FP64      whole numbers only          ``int64`` (so this module sends ``2007.0``)
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
import os
import pickle
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mlops_suite.artifacts import BOOLEAN, CATEGORICAL, FEATURE_TYPES, NUMERIC
from mlops_suite.errors import DataError, MlopsError, ModelFolderError, ServingError
from mlops_suite.model_folder import (
    find_model_file,
    load_model_file,
    verify_model_file,
)
from mlops_suite.serving.runtime import PREDICT_PROBA_ENV, start_server_in_subprocess
from mlops_suite.serving.smoke import same_prediction
from mlops_suite.serving.unpickle_rule import refused_global

V2_DATATYPES = {NUMERIC: "FP64", BOOLEAN: "BOOL", CATEGORICAL: "BYTES"}
_BODY_EXCERPT = 200
# The server is local: reach it directly, whatever HTTP proxy the environment sets.
_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))


@dataclass(frozen=True)
class InfraValidationResult:
    """The verdict of :func:`infra_validate`.

    Attributes:
        blessed: True when the served model answered exactly like the in-process one.
        reason: One sentence that says why.
        checks: Every check run, in order, as ``{"name", "passed", "detail"}``.
    """

    blessed: bool
    reason: str
    checks: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """Return the result as a JSON-ready dict (for ``blessing.json``)."""
        return {"blessed": self.blessed, "reason": self.reason, "checks": self.checks}


@dataclass
class _Features:
    names: list[str]
    kinds: list[str]


def _check(name: str, passed: bool, detail: str) -> dict[str, Any]:
    return {"name": name, "passed": passed, "detail": detail}


def _verdict(
    checks: list[dict[str, Any]], blessed_reason: str
) -> InfraValidationResult:
    failed = [check for check in checks if not check["passed"]]
    if failed:
        return InfraValidationResult(False, failed[0]["detail"], checks)
    return InfraValidationResult(True, blessed_reason, checks)


def _features(metadata: dict[str, Any] | None, model_dir: Path) -> _Features:
    """Feature names and kinds from ``metadata.json``, or ServingError."""
    if metadata is None:
        raise ServingError(
            f"Model folder {model_dir} has no metadata.json, so the feature order "
            "and types for the requests are unknown."
        )
    features = metadata.get("features")
    if not isinstance(features, list) or not features:
        raise ServingError(
            f"{model_dir}/metadata.json has no non-empty 'features' list to build "
            "requests from."
        )
    names, kinds = [], []
    for position, feature in enumerate(features):
        kind = feature.get("type") if isinstance(feature, dict) else None
        name = feature.get("name") if isinstance(feature, dict) else None
        if not isinstance(name, str) or kind not in FEATURE_TYPES:
            raise ServingError(
                f"{model_dir}/metadata.json feature #{position} is {feature!r}, "
                f"expected {{'name': str, 'type': one of {list(FEATURE_TYPES)}}}."
            )
        names.append(name)
        kinds.append(kind)
    return _Features(names, kinds)


def _sample_frame(
    sample_df: pd.DataFrame, features: _Features, max_rows: int
) -> pd.DataFrame:
    """The rows to send: feature columns in training order, at most ``max_rows``."""
    if max_rows < 1:
        raise DataError(f"max_rows is {max_rows}, expected at least 1.")
    missing = [name for name in features.names if name not in sample_df.columns]
    if missing:
        raise DataError(
            f"The infra-validation sample lacks {len(missing)} feature column(s) "
            f"named in metadata.json: {', '.join(missing)}."
        )
    if sample_df.empty:
        raise DataError("The infra-validation sample has no rows to send.")
    return sample_df.loc[:, features.names].head(max_rows)


def _is_missing(value: Any) -> bool:
    if value is None:
        return True
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):  # list-like values are never "missing"
        return False


def _native(value: Any) -> Any:
    """A JSON-ready Python scalar: numpy scalars unwrapped, missing as None."""
    if _is_missing(value):
        return None
    if isinstance(value, np.generic):
        return value.item()
    return value


def _v1_rows(frame: pd.DataFrame) -> list[list[Any]]:
    return [
        [_native(value) for value in row]
        for row in frame.itertuples(index=False, name=None)
    ]


def _v2_value(value: Any, kind: str) -> Any:
    native = _native(value)
    if native is None:
        return None
    if kind == NUMERIC:
        # Whole numbers sent as JSON ints would decode to an int64 column.
        return float(native)
    if kind == BOOLEAN:
        return bool(native)
    return native


def _v2_body(frame: pd.DataFrame, features: _Features) -> dict[str, Any]:
    inputs = [
        {
            "name": name,
            "datatype": V2_DATATYPES[kind],
            "shape": [len(frame)],
            "data": [_v2_value(value, kind) for value in frame[name]],
        }
        for name, kind in zip(features.names, features.kinds, strict=True)
    ]
    return {"inputs": inputs, "parameters": {"content_type": "pd"}}


class _RequestFailed(Exception):
    """A request got no answer or a non-200 one; the message is one sentence."""


def _post_json(url: str, body: dict[str, Any], timeout_s: float) -> Any:
    data = json.dumps(body, allow_nan=False).encode("utf-8")
    request = urllib.request.Request(
        url, data=data, headers={"Content-Type": "application/json"}, method="POST"
    )
    try:
        with _DIRECT.open(request, timeout=timeout_s) as response:
            return json.loads(response.read().decode("utf-8"))
    except urllib.error.HTTPError as exc:
        excerpt = exc.read().decode("utf-8", errors="replace")[:_BODY_EXCERPT]
        raise _RequestFailed(f"HTTP {exc.code}: {excerpt.strip()}") from exc
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise _RequestFailed(f"no valid answer ({exc})") from exc


def _v1_predictions(answer: Any) -> list[Any]:
    if not isinstance(answer, dict) or not isinstance(answer.get("predictions"), list):
        raise _RequestFailed(f"answer without a 'predictions' list: {answer!r:.200}")
    return list(np.asarray(answer["predictions"], dtype=object).ravel())


def _v2_predictions(answer: Any) -> list[Any]:
    outputs = answer.get("outputs") if isinstance(answer, dict) else None
    if not isinstance(outputs, list) or not outputs or "data" not in outputs[0]:
        raise _RequestFailed(f"answer without an 'outputs' list: {answer!r:.200}")
    return list(np.asarray(outputs[0]["data"], dtype=object).ravel())


def _compare(
    label: str, served: Sequence[Any], expected: np.ndarray, index: pd.Index
) -> dict[str, Any] | None:
    """A failed check when ``served`` differs from ``expected``, else None."""
    rows = len(index)
    flat = [_native(value) for value in np.asarray(expected, dtype=object).ravel()]
    if len(served) != len(flat):
        return _check(
            label,
            False,
            f"{label} returned {len(served)} values for {rows} rows, expected "
            f"{len(flat)} like the in-process prediction.",
        )
    per_row = len(flat) // rows
    pairs = enumerate(zip(served, flat, strict=True))
    differing = sorted(
        {i // per_row for i, (s, e) in pairs if not same_prediction(e, s)}
    )
    if not differing:
        return None
    first = differing[0]
    window = slice(first * per_row, (first + 1) * per_row)
    shown_served = served[window] if per_row > 1 else served[first]
    shown_expected = flat[window] if per_row > 1 else flat[first]
    return _check(
        label,
        False,
        f"{label}: {len(differing)} of {rows} rows differ from the in-process "
        f"predictions, e.g. row {first} (index {index[first]!r}) served "
        f"{shown_served!r} instead of {shown_expected!r}.",
    )


def _run_protocol(
    label: str,
    send: Callable[[pd.DataFrame], list[Any]],
    frame: pd.DataFrame,
    expected: np.ndarray,
    row_by_row: bool,
) -> dict[str, Any]:
    """Send the rows (as one batch or one request per row) and compare the answers."""
    served: list[Any] = []
    batches = (
        [frame.iloc[position : position + 1] for position in range(len(frame))]
        if row_by_row
        else [frame]
    )
    for position, batch in enumerate(batches):
        try:
            served.extend(send(batch))
        except _RequestFailed as exc:
            which = f" for row {position}" if row_by_row else ""
            return _check(label, False, f"{label} request{which} failed with {exc}")
    mismatch = _compare(label, served, expected, frame.index)
    if mismatch is not None:
        return mismatch
    return _check(
        label, True, f"{label}: all {len(frame)} rows equal the in-process predictions."
    )


def _unpickle_rule_check(model_file: Path) -> dict[str, Any]:
    """Whether the file passes KServe's restricted unpickler, checked before loading."""
    try:
        refused = refused_global(model_file)
    except (OSError, pickle.UnpicklingError, EOFError, ValueError) as exc:
        return _check(
            "unpickle_rule",
            False,
            f"{model_file} cannot be read as a joblib pickle ({type(exc).__name__}).",
        )
    if refused:
        return _check(
            "unpickle_rule",
            False,
            f"{model_file} names {refused}, which KServe's sklearn server refuses to "
            "unpickle (it allows only classes of sklearn, numpy, scipy, pandas and "
            "joblib, and numpy's reconstruction helpers); build the pipeline from "
            "those classes only.",
        )
    return _check(
        "unpickle_rule",
        True,
        f"{model_file.name} passes KServe's restricted-unpickler rule.",
    )


def _served_checks(
    folder: Path,
    model_name: str,
    features: _Features,
    frame: pd.DataFrame,
    expected: np.ndarray,
    timeout_s: float,
) -> list[dict[str, Any]]:
    """Start the server, send V1 and V2 requests, compare with ``expected``."""
    v1_url_path = f"/v1/models/{model_name}:predict"
    v2_url_path = f"/v2/models/{model_name}/infer"
    checks: list[dict[str, Any]] = []
    started = time.monotonic()
    try:
        # The in-process reference uses predict(); so must the server.
        with start_server_in_subprocess(
            folder,
            model_name,
            startup_timeout_s=timeout_s,
            env={PREDICT_PROBA_ENV: "false"},
        ) as base_url:
            checks.append(
                _check(
                    "server_start",
                    True,
                    f"The server was ready in {time.monotonic() - started:.1f} s.",
                )
            )

            def send_v1(rows: pd.DataFrame) -> list[Any]:
                body = {"instances": _v1_rows(rows)}
                answer = _post_json(base_url + v1_url_path, body, timeout_s)
                return _v1_predictions(answer)

            def send_v2(rows: pd.DataFrame) -> list[Any]:
                body = _v2_body(rows, features)
                answer = _post_json(base_url + v2_url_path, body, timeout_s)
                return _v2_predictions(answer)

            for label, send, row_by_row in (
                ("V1 batch", send_v1, False),
                ("V2 batch", send_v2, False),
                ("V1 row by row", send_v1, True),
                ("V2 row by row", send_v2, True),
            ):
                checks.append(_run_protocol(label, send, frame, expected, row_by_row))
    except ServingError as exc:
        checks.append(_check("server_start", False, str(exc)))
    return checks


def infra_validate(
    model_dir: str | os.PathLike[str],
    sample_df: pd.DataFrame,
    *,
    model_name: str,
    max_rows: int = 20,
    timeout_s: float = 60,
) -> InfraValidationResult:
    """Serve the candidate in KServe's sklearn runtime and check its answers.

    The folder is checked (one model file, hash equal to ``metadata.json``), loaded
    in-process for the reference predictions, then served by a child process on
    127.0.0.1 (a pickle that needs a class the runtime cannot import fails there as
    in the cluster) and asked over V1 and V2, as a batch and row by row.

    Args:
        model_dir: The candidate model folder (model file plus ``metadata.json``).
        sample_df: Rows holding at least the model's feature columns (e.g. the test
            split); the first ``max_rows`` are sent.
        model_name: The name to serve the model under.
        max_rows: How many rows to send.
        timeout_s: Seconds the server may take to become ready; each request gets
            the same bound.

    Returns:
        The verdict: blessed or not, one sentence why, and every check.

    Raises:
        DataError: ``sample_df`` lacks a feature column or has no rows, or
            ``max_rows`` is below 1.
    """
    folder = Path(model_dir)
    checks: list[dict[str, Any]] = []
    try:
        model_file = find_model_file(folder)
    except ModelFolderError as exc:
        checks.append(_check("model_file", False, str(exc)))
        return _verdict(checks, "")
    checks.append(
        _check("model_file", True, f"{model_file.name} is the one model file.")
    )
    try:
        # Hash and metadata are read once here; the served child checks its own.
        features = _features(verify_model_file(folder, model_file), folder)
    except MlopsError as exc:
        checks.append(_check("metadata", False, str(exc)))
        return _verdict(checks, "")
    checks.append(
        _check(
            "metadata", True, f"{model_file.name} matches the sha256 in metadata.json."
        )
    )
    rule = _unpickle_rule_check(model_file)
    checks.append(rule)
    if not rule["passed"]:
        return _verdict(checks, "")
    try:
        model = load_model_file(model_file)
    except MlopsError as exc:
        checks.append(_check("load_in_process", False, str(exc)))
        return _verdict(checks, "")
    checks.append(
        _check("load_in_process", True, f"{model_file.name} loads in-process.")
    )

    frame = _sample_frame(sample_df, features, max_rows)
    try:
        expected = np.asarray(model.predict(frame))
    except Exception as exc:  # the candidate itself is broken, not the serving
        checks.append(
            _check(
                "predict_in_process",
                False,
                f"{model_file.name} cannot predict the sample in-process "
                f"({type(exc).__name__}: {exc}).",
            )
        )
        return _verdict(checks, "")
    checks.append(
        _check("predict_in_process", True, f"Predicted {len(frame)} rows in-process.")
    )

    checks.extend(
        _served_checks(folder, model_name, features, frame, expected, float(timeout_s))
    )
    return _verdict(
        checks,
        f"{model_file.name} served by KServe's sklearn runtime answered {len(frame)} "
        "rows over V1 and V2, in one batch and row by row, exactly as in-process.",
    )
