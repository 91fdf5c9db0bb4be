"""Infra validation: does the candidate answer correctly inside the serving runtime?

Like TFX's InfraValidator, the candidate model folder is loaded in the real serving
stack (KServe's sklearn runtime, reproduced by :mod:`mlops_suite.serving.runtime`)
in a separate process, and real requests are sent to it. The model is blessed only
when every served answer equals ``joblib.load(model_file).predict`` on the same rows
as a DataFrame in training column order (and, for a classifier, every served
probability its ``predict_proba``).

Requests sent (rows are the first ``max_rows`` of the sample, features in the order
of ``metadata.json``):

* V1 ``POST /v1/models/<name>:predict`` with ``{"instances": rows}``, each row a JSON
  list (missing values as ``null``), once as one batch and once row by row, because
  the stock decoder turns a batch into an ``object`` array when a value is ``null``
  but into a string array when none is (see :mod:`mlops_suite.serving.runtime`);
* V2 ``POST /v2/models/<name>/infer`` with one input per feature and
  ``"parameters": {"content_type": "pd"}``, also as a batch and row by row.

The requests are built by :mod:`mlops_suite.serving.sample_requests`, which says
what the stock decoders make of each value.

A classifier (a model with ``predict_proba``) is then served a second time with
``PREDICT_PROBA=true``, as ``mlops serve --predict-proba`` and the pipeline's
``serve_probabilities`` serve it, and the same four requests must answer
``predict_proba`` on the same rows within 1e-9 (absolute) per probability: float
noise, nothing a different model could hide in.
"""

from __future__ import annotations

import os
import pickle
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mlops_suite.artifacts import FEATURE_TYPES
from mlops_suite.errors import DataError, MlopsError, ModelFolderError, ServingError
from mlops_suite.model_folder import (
    find_model_file,
    load_model_file,
    verify_model_file,
)
from mlops_suite.serving.probabilities import PREDICT_PROBA_ENV, PREDICT_PROBA_ON
from mlops_suite.serving.sample_requests import (
    RequestFailed,
    is_missing,
    native,
    post_json,
    v1_answers,
    v1_instances,
    v2_answers,
    v2_body,
)
from mlops_suite.serving.server_process import ChildServer, server_group
from mlops_suite.serving.smoke import same_prediction
from mlops_suite.serving.unpickle_rule import refused_global

# Served probabilities may differ from in-process ones by float noise, no more.
PROBABILITY_ATOL = 1e-9


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


def same_probability(expected: Any, served: Any) -> bool:
    """Whether a served probability is the in-process one, within 1e-9 absolute.

    Args:
        expected: The in-process ``predict_proba`` value.
        served: What the server answered (decoded JSON); NaN travels as ``null``.

    Returns:
        True when both are numbers at most :data:`PROBABILITY_ATOL` apart, or both
        missing.
    """
    wanted = native(expected)
    if wanted is None or served is None:
        return wanted is None and (served is None or is_missing(served))
    if isinstance(served, bool) or not isinstance(served, int | float):
        return False
    return abs(float(served) - float(wanted)) <= PROBABILITY_ATOL


@dataclass(frozen=True)
class _Answers:
    """What the server is asked to answer with, and how each answer is judged.

    Attributes:
        noun: What the answers are, in messages.
        method: The model's method the in-process reference calls.
        same: Whether a served value equals the reference's ``(expected, served)``.
        switch: ``PREDICT_PROBA`` in the server's environment.
        suffix: Appended to every check's name.
        within: How close counts as equal, in messages.
    """

    noun: str
    method: str
    same: Callable[[Any, Any], bool]
    switch: str
    suffix: str = ""
    within: str = ""


_PREDICTIONS = _Answers("predictions", "predict", same_prediction, "false")
_PROBABILITIES = _Answers(
    "class probabilities",
    "predict_proba",
    same_probability,
    PREDICT_PROBA_ON,
    suffix=", predict_proba",
    within="1e-9",  # PROBABILITY_ATOL, as people write it
)


def _compare(
    label: str,
    served: Sequence[Any],
    expected: np.ndarray,
    index: pd.Index,
    answers: _Answers,
) -> dict[str, Any] | None:
    """A failed check when ``served`` differs from ``expected``, else None."""
    rows = len(index)
    flat = [native(value) for value in np.asarray(expected, dtype=object).ravel()]
    if len(served) != len(flat):
        return _check(
            label,
            False,
            f"{label} returned {len(served)} values for {rows} rows, expected "
            f"{len(flat)} like the in-process {answers.noun}.",
        )
    per_row = len(flat) // rows
    pairs = enumerate(zip(served, flat, strict=True))
    differing = sorted({i // per_row for i, (s, e) in pairs if not answers.same(e, s)})
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
        f"{answers.noun}{f' by more than {answers.within}' if answers.within else ''}"
        f", e.g. row {first} (index {index[first]!r}) served {shown_served!r} "
        f"instead of {shown_expected!r}.",
    )


def _run_protocol(
    label: str,
    send: Callable[[pd.DataFrame], list[Any]],
    frame: pd.DataFrame,
    expected: np.ndarray,
    row_by_row: bool,
    answers: _Answers,
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
        except RequestFailed as exc:
            which = f" for row {position}" if row_by_row else ""
            return _check(label, False, f"{label} request{which} failed with {exc}")
    mismatch = _compare(label, served, expected, frame.index, answers)
    if mismatch is not None:
        return mismatch
    return _check(
        label,
        True,
        f"{label}: all {len(frame)} rows equal the in-process {answers.noun}"
        f"{f' within {answers.within}' if answers.within else ''}.",
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


def _in_process(
    model: Any, file_name: str, frame: pd.DataFrame, answers: _Answers
) -> tuple[dict[str, Any], np.ndarray | None]:
    """The in-process reference answers and their check (None when it failed)."""
    name = f"{answers.method}_in_process"
    try:
        expected = np.asarray(getattr(model, answers.method)(frame))
    except Exception as exc:  # the candidate itself is broken, not the serving
        return _check(
            name,
            False,
            f"{file_name} cannot {answers.method} the sample in-process "
            f"({type(exc).__name__}: {exc}).",
        ), None
    done = f"{len(frame)} rows in-process"
    detail = (
        f"Predicted {done}."
        if answers is _PREDICTIONS
        else f"Computed the {answers.noun} of {done}."
    )
    return _check(name, True, detail), expected


def _served_checks(
    server: ChildServer,
    model_name: str,
    features: _Features,
    frame: pd.DataFrame,
    expected: np.ndarray,
    timeout_s: float,
    answers: _Answers,
) -> list[dict[str, Any]]:
    """Wait for the server, send V1 and V2 requests, compare with ``expected``."""
    v1_url_path = f"/v1/models/{model_name}:predict"
    v2_url_path = f"/v2/models/{model_name}/infer"
    server_start = f"server_start{answers.suffix}"
    try:
        url = server.base_url()
    except ServingError as exc:
        return [_check(server_start, False, str(exc))]
    took = time.monotonic() - server.started_at
    checks = [_check(server_start, True, f"The server was ready in {took:.1f} s.")]

    def send_v1(rows: pd.DataFrame) -> list[Any]:
        body = {"instances": v1_instances(rows)}
        return v1_answers(post_json(url + v1_url_path, body, timeout_s))

    def send_v2(rows: pd.DataFrame) -> list[Any]:
        body = v2_body(rows, features.kinds)
        return v2_answers(post_json(url + v2_url_path, body, timeout_s))

    for label, send, row_by_row in (
        ("V1 batch", send_v1, False),
        ("V2 batch", send_v2, False),
        ("V1 row by row", send_v1, True),
        ("V2 row by row", send_v2, True),
    ):
        checks.append(
            _run_protocol(
                label + answers.suffix, send, frame, expected, row_by_row, answers
            )
        )
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
    in the cluster) and asked over V1 and V2, as a batch and row by row. A
    classifier is then served again with ``PREDICT_PROBA=true`` and asked the same,
    its answers compared with ``predict_proba`` within 1e-9 absolute.

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
    frame = _sample_frame(sample_df, features, max_rows)
    # Each server is a fresh interpreter that imports kserve and scikit-learn for a
    # few seconds: it is launched now and loads while this process loads the model
    # and computes the reference answers; a check that fails first stops it unused.
    with server_group(
        folder, model_name, startup_timeout_s=float(timeout_s)
    ) as servers:
        predicting = servers.start({PREDICT_PROBA_ENV: _PREDICTIONS.switch})
        try:
            model = load_model_file(model_file)
        except MlopsError as exc:
            checks.append(_check("load_in_process", False, str(exc)))
            return _verdict(checks, "")
        checks.append(
            _check("load_in_process", True, f"{model_file.name} loads in-process.")
        )
        asked = [(_PREDICTIONS, predicting)]
        if hasattr(model, "predict_proba"):
            # A classifier: KServe serves its probabilities when PREDICT_PROBA=true.
            switch = {PREDICT_PROBA_ENV: _PROBABILITIES.switch}
            asked.append((_PROBABILITIES, servers.start(switch)))
        references = []
        for answers, server in asked:
            check, expected = _in_process(model, model_file.name, frame, answers)
            checks.append(check)
            if expected is None:
                return _verdict(checks, "")
            references.append((answers, expected, server))
        # The servers answer with what the in-process references computed.
        for answers, expected, server in references:
            checks.extend(
                _served_checks(
                    server, model_name, features, frame, expected, timeout_s, answers
                )
            )
            if not all(check["passed"] for check in checks):
                break  # the verdict names the first failure; the rest are stopped
    probabilities = (
        ", and its class probabilities (PREDICT_PROBA=true) within 1e-9"
        if len(references) > 1
        else ""
    )
    return _verdict(
        checks,
        f"{model_file.name} served by KServe's sklearn runtime answered {len(frame)} "
        "rows over V1 and V2, in one batch and row by row, exactly as in-process"
        f"{probabilities}.",
    )
