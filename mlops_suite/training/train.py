"""Fit the scikit-learn Pipeline that is served.

The Pipeline is built only from stock scikit-learn classes and ``numpy.asarray``,
because KServe's sklearn runtime and Vertex AI's prebuilt container unpickle it without
this package. Its first step turns any input into one object array, so a pandas
DataFrame (training, KServe's V2 "pd" form), the V1 ``np.array(rows, dtype=object)``
and the all-strings array KServe's V1 runtime builds when a batch holds no null take
the same path and give the same predictions; columns are then picked by position.
:mod:`mlops_suite.model_folder` writes the Pipeline and its metadata as a model folder.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import sklearn
from pandas.api import types as ptypes
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import (
    Binarizer,
    FunctionTransformer,
    OneHotEncoder,
    OrdinalEncoder,
    StandardScaler,
)
from sklearn.utils._param_validation import InvalidParameterError

from mlops_suite.artifacts import (
    BOOLEAN,
    CATEGORICAL,
    CLASSIFICATION,
    FEATURE_TYPES,
    NUMERIC,
    REGRESSION,
)
from mlops_suite.data.kinds import (
    column_kind,
    infer_task,
    is_bool_value,
    is_missing_value,
)
from mlops_suite.errors import DataError, SchemaError, TrainingError
from mlops_suite.tasks import check_task
from mlops_suite.training.estimators import (
    default_estimator,
    make_estimator,
    resolve_hyperparameters,
)

# Stands in for a missing category; one-hot encoded like any other value.
MISSING_CATEGORY = "__missing__"
_BOOLEAN_STRINGS = {"true": True, "false": False, "1": True, "0": False}
# How booleans read once turned to text, whichever form they arrived in; the false
# tokens come first so that a threshold between the two groups recovers the value.
_FALSE_TOKENS = ("False", "false", "0", "0.0")
_TRUE_TOKENS = ("True", "true", "1", "1.0")
_BOOLEAN_TOKENS = _FALSE_TOKENS + _TRUE_TOKENS

Feature = tuple[str, str]
FeatureSpec = Sequence[tuple[str, str]] | Sequence[Mapping[str, Any]]


@dataclass
class TrainedModel:
    """A fitted Pipeline and the metadata that goes next to it.

    Attributes:
        pipeline: Preprocessing and estimator, ready to pickle.
        metadata: The ``metadata.json`` content (see CONTRACTS "Model folder");
            ``model_sha256`` is added by
            :func:`mlops_suite.model_folder.save_model`.
    """

    pipeline: Pipeline
    metadata: dict[str, Any]


# ------------------------------------------------------------------ column kinds
def _is_number(value: Any) -> bool:
    return isinstance(
        value, int | float | np.integer | np.floating
    ) and not is_bool_value(value)


def feature_types(
    df: pd.DataFrame, label: str, schema: Mapping[str, Any] | None = None
) -> list[Feature]:
    """Names every feature column (all but the label) and its kind, in column order.

    Args:
        df: The training table.
        label: The label column, left out.
        schema: A parsed ``schema.json``; its ``type`` wins for the columns it lists,
            the others are inferred by :func:`mlops_suite.data.kinds.column_kind`,
            the rule statistics and validation use too.

    Returns:
        ``(name, kind)`` pairs, kind being ``numeric``, ``categorical`` or ``boolean``.

    Raises:
        SchemaError: The schema gives a column a type that is not a feature type.
    """
    declared: dict[str, str] = {}
    for column in (schema or {}).get("columns", []):
        kind = column.get("type")
        if kind not in FEATURE_TYPES:
            raise SchemaError(
                f"Schema column {column.get('name')!r} has type {kind!r}; expected "
                f"one of {', '.join(FEATURE_TYPES)}."
            )
        declared[str(column["name"])] = kind
    return [
        (str(name), declared.get(str(name)) or column_kind(df[name]))
        for name in df.columns
        if name != label
    ]


def _normalize_features(features: FeatureSpec) -> list[Feature]:
    normalized: list[Feature] = []
    for item in features:
        if isinstance(item, Mapping):
            normalized.append((str(item["name"]), str(item["type"])))
        else:
            name, kind = item
            normalized.append((str(name), str(kind)))
    return normalized


# ------------------------------------------------------------------ the V1 form
def _to_json_value(value: Any, kind: str, column: str) -> Any:
    if is_missing_value(value):
        return None
    if kind == CATEGORICAL:
        return value if isinstance(value, str) else str(value)
    if kind == BOOLEAN:
        if is_bool_value(value):
            return bool(value)
        if _is_number(value) and float(value) in (0.0, 1.0):
            return bool(value)
        if isinstance(value, str) and value.strip().lower() in _BOOLEAN_STRINGS:
            return _BOOLEAN_STRINGS[value.strip().lower()]
        raise DataError(
            f"Boolean column {column!r} holds {value!r}; expected true or false."
        )
    if is_bool_value(value):
        return float(value)
    if isinstance(value, int | np.integer):
        return int(value)
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise DataError(
            f"Numeric column {column!r} holds {value!r}; expected a number."
        ) from None
    return None if math.isnan(number) else number


def to_v1_instances(df: pd.DataFrame, features: FeatureSpec) -> list[list[Any]]:
    """Turns rows into KServe V1 ``instances``: JSON-ready lists in feature order.

    Missing values become None, numbers Python ints or floats, booleans Python bools,
    categories strings: what a client sends as ``{"instances": rows}``. The Pipeline
    predicts the same on ``np.array(rows, dtype=object)`` and on the plain
    ``np.array(rows)`` KServe's runtime builds (all strings when no value is None).

    Args:
        df: Rows holding at least the feature columns (others are ignored).
        features: ``(name, kind)`` pairs, or the metadata's ``{"name", "type"}``
            dicts, in training order.

    Returns:
        One list per row.

    Raises:
        DataError: A feature column is absent or holds a value of the wrong kind.
    """
    normalized = _normalize_features(features)
    absent = [name for name, _ in normalized if name not in df.columns]
    if absent:
        raise DataError(
            f"The data lacks {len(absent)} feature column(s) the model needs: "
            f"{', '.join(absent)}."
        )
    columns = [
        [_to_json_value(v, kind, name) for v in df[name].tolist()]
        for name, kind in normalized
    ]
    return [list(row) for row in zip(*columns, strict=True)] if columns else []


# ------------------------------------------------------------------ the Pipeline
def build_pipeline(
    features: FeatureSpec,
    task: str,
    estimator: str | None,
    params: Mapping[str, Any] | None,
    seed: int,
) -> Pipeline:
    """Builds the unfitted Pipeline: preprocessing by column position, then the model.

    numeric: median imputation and standard scaling; boolean: 1.0 for True (also
    "True", "true", 1, 1.0), 0.0 for False, the most frequent value for missing;
    categorical: NaN and None both become ``MISSING_CATEGORY``, then one-hot encoding
    that ignores unseen categories.

    Args:
        features: ``(name, kind)`` pairs in the order the model receives columns.
        task: ``classification`` or ``regression``.
        estimator: The estimator's name; None for the task's default.
        params: Hyperparameters overriding the estimator's defaults.
        seed: The estimator's ``random_state``.

    Returns:
        The Pipeline (steps ``to_array``, ``preprocess``, ``model``).

    Raises:
        TrainingError: Unknown task, estimator, hyperparameter or feature kind.
    """
    normalized = _normalize_features(features)
    positions: dict[str, list[int]] = {kind: [] for kind in FEATURE_TYPES}
    for index, (name, kind) in enumerate(normalized):
        if kind not in positions:
            raise TrainingError(
                f"Feature {name!r} has kind {kind!r}; expected one of "
                f"{', '.join(FEATURE_TYPES)}."
            )
        positions[kind].append(index)
    branches = {
        NUMERIC: Pipeline(
            [
                ("impute", SimpleImputer(strategy="median")),
                ("scale", StandardScaler()),
            ]
        ),
        BOOLEAN: Pipeline(
            [
                # KServe's V1 runtime calls np.array(instances) without a dtype, so a
                # batch without None arrives as strings ("True", "1.0"). Text is the
                # one form every input shares: match it against known tokens, send
                # anything else (None, nan, <NA>) to imputation, then cut to 0/1.
                ("to_text", _as_array("U")),
                (
                    "encode",
                    OrdinalEncoder(
                        categories=[list(_BOOLEAN_TOKENS)] * len(positions[BOOLEAN]),
                        handle_unknown="use_encoded_value",
                        unknown_value=np.nan,
                    ),
                ),
                ("impute", SimpleImputer(strategy="most_frequent")),
                ("to_float", Binarizer(threshold=len(_FALSE_TOKENS) - 0.5)),
            ]
        ),
        CATEGORICAL: Pipeline(
            [
                # NaN first: the None imputer rejects NaN in object arrays.
                (
                    "impute_nan",
                    SimpleImputer(
                        missing_values=np.nan,
                        strategy="constant",
                        fill_value=MISSING_CATEGORY,
                    ),
                ),
                (
                    "impute_none",
                    SimpleImputer(
                        missing_values=None,
                        strategy="constant",
                        fill_value=MISSING_CATEGORY,
                    ),
                ),
                (
                    "one_hot",
                    # Dense: HistGradientBoosting rejects sparse input.
                    OneHotEncoder(handle_unknown="ignore", sparse_output=False),
                ),
            ]
        ),
    }
    transformers = [
        (kind, branches[kind], positions[kind])
        for kind in FEATURE_TYPES
        if positions[kind]
    ]
    return Pipeline(
        [
            # DataFrames of any dtypes and V1 object arrays become the same object
            # array here, so the steps below never see feature names: no name
            # mismatch and no "fitted with/without feature names" warning.
            ("to_array", _as_array("O")),
            (
                "preprocess",
                ColumnTransformer(transformers, remainder="drop", sparse_threshold=0),
            ),
            ("model", make_estimator(estimator, check_task(task), params, seed)),
        ]
    )


def _as_array(dtype: str) -> FunctionTransformer:
    # A class, not a function: KServe's sklearn server unpickles a global under numpy
    # only when it is a class (see mlops_suite.serving.unpickle_rule), so
    # numpy.asarray is refused there. MaskedArray(X, dtype=...) converts any table or
    # array to that dtype without a mask, and every step below reads it as a plain
    # array. The dtype is a code ("O", "U"): plain strings in the pickle.
    return FunctionTransformer(
        np.ma.MaskedArray, kw_args={"dtype": dtype}, feature_names_out="one-to-one"
    )


def _json_scalar(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def _target_array(y: pd.Series, task: str) -> np.ndarray:
    # Rebuilt from Python values rather than viewed: a DataFrame read back from a
    # pickle or Parquet carries its own dtype instances, which classes_ would inherit
    # and which pickle then writes differently, breaking byte-identical models.
    values = y.tolist()
    if task == REGRESSION:
        return np.array(values, dtype=np.float64)
    if ptypes.is_bool_dtype(y.dtype) or ptypes.is_numeric_dtype(y.dtype):
        return np.array(values)
    return np.array(values, dtype=object)


def train_model(
    train_df: pd.DataFrame,
    label: str,
    *,
    task: str | None = None,
    estimator: str | None = None,
    params: Mapping[str, Any] | None = None,
    seed: int = 0,
    schema: Mapping[str, Any] | None = None,
    data_sha256: str = "",
) -> TrainedModel:
    """Fits the Pipeline on every column but the label.

    Args:
        train_df: The training rows.
        label: The column to predict.
        task: ``classification`` or ``regression``; None or empty to infer it.
        estimator: The estimator's name; None or empty for the task's default.
        params: Hyperparameters overriding the estimator's defaults.
        seed: The estimator's ``random_state``; same data, parameters and seed give
            the same model.
        schema: A parsed ``schema.json`` fixing each feature's kind.
        data_sha256: The training data's hash, recorded for lineage.

    Returns:
        The fitted Pipeline and its metadata.

    Raises:
        TrainingError: The label is absent, has missing values or a single class, is
            not numeric for regression; there is no feature, a feature is entirely
            missing, or the estimator or its hyperparameters are invalid.
    """
    if label not in train_df.columns:
        raise TrainingError(
            f"Label column {label!r} is not in the training data; columns are "
            f"{', '.join(map(str, train_df.columns))}."
        )
    if train_df.empty:
        raise TrainingError("The training data has 0 rows; expected at least 2.")
    y = train_df[label]
    n_missing = int(y.isna().sum())
    if n_missing:
        raise TrainingError(
            f"Label column {label!r} has {n_missing} missing value(s); expected none "
            "(drop or fill those rows before training)."
        )
    resolved_task = check_task(task or infer_task(y))
    if resolved_task == REGRESSION and (
        ptypes.is_bool_dtype(y.dtype) or not ptypes.is_numeric_dtype(y.dtype)
    ):
        raise TrainingError(
            f"Label column {label!r} has dtype {y.dtype}; regression needs numbers."
        )
    if resolved_task == CLASSIFICATION and y.nunique() < 2:
        raise TrainingError(
            f"Label column {label!r} holds a single class ({y.iloc[0]!r}); "
            "classification needs at least 2."
        )
    features = feature_types(train_df, label, schema)
    if not features:
        raise TrainingError(
            f"The training data has no feature column besides the label {label!r}."
        )
    rows = to_v1_instances(train_df, features)
    names = [name for name, _ in features]
    X = pd.DataFrame(rows, columns=names, dtype=object)
    empty = [name for name in names if X[name].isna().all()]
    if empty:
        raise TrainingError(
            f"Feature column(s) {', '.join(empty)} are entirely missing in "
            f"{len(X)} rows; drop them or supply values."
        )
    estimator_name = estimator or default_estimator(resolved_task)
    hyperparameters = resolve_hyperparameters(estimator_name, resolved_task, params)
    pipeline = build_pipeline(features, resolved_task, estimator_name, params, seed)
    target = _target_array(y, resolved_task)
    try:
        pipeline.fit(X, target)
    except InvalidParameterError as exc:
        reason = str(exc).splitlines()[0].rstrip(".")
        raise TrainingError(
            f"Estimator {estimator_name} rejected its hyperparameters: {reason}."
        ) from None
    classes = (
        [_json_scalar(c) for c in pipeline.classes_]
        if resolved_task == CLASSIFICATION
        else None
    )
    metadata: dict[str, Any] = {
        "features": [{"name": name, "type": kind} for name, kind in features],
        "label": label,
        "task": resolved_task,
        "classes": classes,
        "estimator": estimator_name,
        "hyperparameters": hyperparameters,
        "seed": seed,
        "sklearn_version": sklearn.__version__,
        "data_sha256": data_sha256,
    }
    return TrainedModel(pipeline=pipeline, metadata=metadata)
