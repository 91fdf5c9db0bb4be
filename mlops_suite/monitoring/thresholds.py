"""Monitoring thresholds: drift per measure and feature, columns left out, performance.

A thresholds file (or dict) looks like::

    {
      "default": {"jensenshannon": 0.12, "linf": 0.1, "missing_rate": 0.1},
      "features": {"income": 0.2, "region": {"linf": 0.15, "unseen_share": 0.0}},
      "ignore_features": ["year", "id"],
      "performance": {"accuracy": 0.85, "roc_auc": 0.8},
      "min_importance": 0.01
    }

Every key is optional. ``default`` replaces any of the built-in defaults
(:data:`DEFAULT_THRESHOLDS`). Under ``features`` a number is the threshold of that
feature's distance, whichever measure it uses; a dict sets any of ``threshold``
(same meaning), the measure names, ``missing_rate`` and ``unseen_share`` for that
feature alone. Every drift threshold is a number >= 0 and a feature drifts when a
value is strictly greater than it. See :mod:`mlops_suite.monitoring.drift` for how
the defaults were calibrated.

``ignore_features`` lists columns never compared (an id, a ``year`` that moves by
design); names that are not compared anyway are left alone. ``performance`` sets a
metric's threshold outright (``accuracy``, ``f1_macro``, ``roc_auc``, ``r2``: alert
below it; ``rmse``, ``mae``: alert above it) in place of the one derived from the
performance reference. ``min_importance`` is the share of the model's total
permutation importance below which a feature counts as one the model does not rely
on, whose drift alone does not call for retraining (:data:`DEFAULT_MIN_IMPORTANCE`).
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import fsspec

from mlops_suite.errors import MlopsError

JENSEN_SHANNON = "jensenshannon"
PSI = "psi"
L_INFINITY = "linf"
DISTANCES = (JENSEN_SHANNON, PSI, L_INFINITY)
MISSING_RATE = "missing_rate"
UNSEEN_SHARE = "unseen_share"

DEFAULT_THRESHOLDS: Mapping[str, float] = {
    JENSEN_SHANNON: 0.12,
    PSI: 0.1,
    L_INFINITY: 0.1,
    MISSING_RATE: 0.1,
    UNSEEN_SHARE: 0.05,
}
# The key under a feature that means "its distance's threshold, whatever measure".
THRESHOLD = "threshold"
_FEATURE_KEYS = (THRESHOLD, *DEFAULT_THRESHOLDS)
# A feature holding less than this share of the model's permutation importance is one
# the model does not rely on.
DEFAULT_MIN_IMPORTANCE = 0.01
# Metrics a performance threshold may be set for, and whether higher is better.
PERFORMANCE_METRICS: Mapping[str, bool] = {
    "accuracy": True,
    "f1_macro": True,
    "roc_auc": True,
    "r2": True,
    "rmse": False,
    "mae": False,
}
_UNIT_METRICS = ("accuracy", "f1_macro", "roc_auc")
_TOP_KEYS = ("default", "features", "ignore_features", "performance", "min_importance")


@dataclass(frozen=True)
class FeatureThresholds:
    """The three thresholds one feature is judged by.

    Attributes:
        distance: Threshold of the feature's distance score.
        missing_rate: Threshold of the absolute change in missing-value rate.
        unseen_share: Threshold of the share of values the reference never saw.
    """

    distance: float
    missing_rate: float
    unseen_share: float


@dataclass(frozen=True)
class DriftThresholds:
    """Default thresholds plus per-feature overrides, ignored columns, performance.

    Attributes:
        default: A threshold per measure name (all keys of DEFAULT_THRESHOLDS).
        features: Per-feature overrides, each a dict of ``_FEATURE_KEYS``.
        source: Where they came from, for messages.
        ignored: Columns never compared.
        performance: A threshold per metric, set by the user.
        min_importance: The share of the total permutation importance below which a
            feature's drift alone does not call for retraining.
    """

    default: Mapping[str, float] = field(
        default_factory=lambda: dict(DEFAULT_THRESHOLDS)
    )
    features: Mapping[str, Mapping[str, float]] = field(default_factory=dict)
    source: str = "the default thresholds"
    ignored: tuple[str, ...] = ()
    performance: Mapping[str, float] = field(default_factory=dict)
    min_importance: float = DEFAULT_MIN_IMPORTANCE

    def with_settings(
        self,
        *,
        ignore: Collection[str] = (),
        performance: Mapping[str, Any] | None = None,
    ) -> DriftThresholds:
        """The same thresholds, with more columns ignored and performance set.

        Args:
            ignore: Columns to leave out, besides those already ignored.
            performance: Metric thresholds; each replaces the file's for its metric.

        Returns:
            New thresholds.

        Raises:
            MlopsError: A column name is empty, or a performance threshold names an
                unknown metric or is not a number in its range.
        """
        names = [str(name).strip() for name in ignore]
        if any(not name for name in names):
            raise MlopsError(
                f"ignore_features holds an empty name ({list(ignore)!r}); expected "
                "column names separated by commas, e.g. year,id"
            )
        given = _performance(performance or {}, "the performance thresholds")
        return replace(
            self,
            ignored=tuple(dict.fromkeys([*self.ignored, *names])),
            performance={**self.performance, **given},
        )

    def compared(self, features: Collection[str]) -> list[str]:
        """``features`` without the ignored ones, in their order."""
        return [name for name in features if name not in self.ignored]

    def for_feature(self, name: str, metric: str) -> FeatureThresholds:
        """Resolve the thresholds of one feature measured with ``metric``."""
        override = self.features.get(name, {})
        distance = override.get(THRESHOLD, override.get(metric, self.default[metric]))
        return FeatureThresholds(
            distance=distance,
            missing_rate=override.get(MISSING_RATE, self.default[MISSING_RATE]),
            unseen_share=override.get(UNSEEN_SHARE, self.default[UNSEEN_SHARE]),
        )

    def check_features(self, compared: Collection[str]) -> None:
        """Refuse overrides for features that are not compared (a typo, usually).

        Raises:
            MlopsError: An override names a feature not in ``compared``.
        """
        for name in self.features:
            if name not in compared and name not in self.ignored:
                raise MlopsError(
                    f"{self.source} sets a threshold for feature '{name}', which is "
                    f"not compared; expected one of {sorted(compared)}"
                )


def load_thresholds(
    spec: Mapping[str, Any] | str | os.PathLike[str] | DriftThresholds | None,
) -> DriftThresholds:
    """Build thresholds from a dict, a JSON file (path or fsspec URI) or nothing.

    Args:
        spec: ``None`` for the defaults; a dict or JSON file in the format of this
            module's docstring; or ready ``DriftThresholds``.

    Returns:
        The thresholds, defaults filled in.

    Raises:
        MlopsError: The file cannot be read or is not JSON, or a key or value is not
            one this format allows.
    """
    if spec is None:
        return DriftThresholds()
    if isinstance(spec, DriftThresholds):
        return spec
    if isinstance(spec, Mapping):
        return _parse(spec, "the thresholds dict")
    location = os.fspath(spec)
    source = f"thresholds file '{location}'"
    try:
        with fsspec.open(location, "r", encoding="utf-8") as handle:
            payload = json.load(handle)
    except (OSError, ValueError) as exc:
        raise MlopsError(
            f"{source} cannot be read as JSON ({exc}); expected "
            '{"default": {...}, "features": {...}}'
        ) from exc
    if not isinstance(payload, Mapping):
        raise MlopsError(f"{source} holds {type(payload).__name__}; expected an object")
    return _parse(payload, source)


def _parse(spec: Mapping[str, Any], source: str) -> DriftThresholds:
    unknown = sorted(set(spec) - set(_TOP_KEYS))
    if unknown:
        raise MlopsError(
            f"{source} has unknown key '{unknown[0]}'; expected only "
            + ", ".join(f"'{key}'" for key in _TOP_KEYS)
        )
    default = dict(DEFAULT_THRESHOLDS)
    default.update(
        _numbers(
            spec.get("default") or {}, tuple(DEFAULT_THRESHOLDS), source, "default"
        )
    )
    features: dict[str, dict[str, float]] = {}
    given = spec.get("features") or {}
    if not isinstance(given, Mapping):
        raise MlopsError(f"{source}: 'features' is not an object; expected name: value")
    for name, value in given.items():
        where = f"feature '{name}'"
        if isinstance(value, Mapping):
            features[str(name)] = _numbers(value, _FEATURE_KEYS, source, where)
        else:
            features[str(name)] = {THRESHOLD: _number(value, source, where)}
    ignored = spec.get("ignore_features") or []
    if not isinstance(ignored, list) or not all(
        isinstance(name, str) and name.strip() for name in ignored
    ):
        raise MlopsError(
            f"{source}: 'ignore_features' is {ignored!r}; expected a list of column "
            'names, e.g. ["year", "id"]'
        )
    min_importance = spec.get("min_importance", DEFAULT_MIN_IMPORTANCE)
    if _number(min_importance, source, "'min_importance'") > 1:
        raise MlopsError(
            f"{source}: 'min_importance' is {min_importance!r}; expected a share of "
            "the total importance between 0 and 1"
        )
    return DriftThresholds(
        default=default,
        features=features,
        source=source,
        ignored=tuple(dict.fromkeys(name.strip() for name in ignored)),
        performance=_performance(spec.get("performance") or {}, source),
        min_importance=float(min_importance),
    )


def _performance(values: Any, source: str) -> dict[str, float]:
    """Metric thresholds, each a finite number ([0, 1] for scores of that range)."""
    if not isinstance(values, Mapping):
        raise MlopsError(
            f"{source}: 'performance' is not an object; expected metric: threshold"
        )
    result = {}
    for key, value in values.items():
        if key not in PERFORMANCE_METRICS:
            raise MlopsError(
                f"{source}: 'performance' has unknown metric '{key}'; expected one "
                f"of {list(PERFORMANCE_METRICS)}"
            )
        number = isinstance(value, int | float) and not isinstance(value, bool)
        bounded = key not in _UNIT_METRICS or (number and 0 <= value <= 1)
        if not number or not math.isfinite(value) or not bounded:
            expected = "between 0 and 1" if key in _UNIT_METRICS else "finite"
            raise MlopsError(
                f"{source}: performance threshold '{key}' is {value!r}; expected a "
                f"number {expected}"
            )
        result[str(key)] = float(value)
    return result


def _numbers(
    values: Any, allowed: tuple[str, ...], source: str, where: str
) -> dict[str, float]:
    if not isinstance(values, Mapping):
        raise MlopsError(f"{source}: {where} is not an object; expected measure: value")
    result = {}
    for key, value in values.items():
        if key not in allowed:
            raise MlopsError(
                f"{source}: {where} has unknown key '{key}'; expected one of "
                f"{list(allowed)}"
            )
        result[str(key)] = _number(value, source, f"{where} '{key}'")
    return result


def _number(value: Any, source: str, where: str) -> float:
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or value < 0
    ):
        raise MlopsError(
            f"{source}: {where} is {value!r}; expected a number greater than or "
            "equal to 0"
        )
    return float(value)


def split_names(text: str) -> list[str]:
    """Column names given as one comma-separated text (``year,id``).

    Args:
        text: The names, separated by commas; spaces around them are dropped.

    Returns:
        The names, in order; empty for an empty text.
    """
    return [name.strip() for name in (text or "").split(",") if name.strip()]


def parse_performance_thresholds(text: str) -> dict[str, float]:
    """Performance thresholds given as a JSON object text (``{"accuracy": 0.85}``).

    Args:
        text: The JSON object; empty for none.

    Returns:
        Metric -> threshold, checked as in a thresholds file.

    Raises:
        MlopsError: The text is not a JSON object of known metrics and numbers.
    """
    if not (text or "").strip():
        return {}
    source = "the performance thresholds"
    try:
        payload = json.loads(text)
    except ValueError as exc:
        raise MlopsError(
            f"{source} are not valid JSON ({exc}); expected an object such as "
            '{"accuracy": 0.85}'
        ) from None
    return _performance(payload, source)
