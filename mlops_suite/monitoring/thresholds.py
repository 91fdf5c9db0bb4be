"""Drift thresholds: one default per measure, overridable per feature.

A thresholds file (or dict) looks like::

    {
      "default": {"jensenshannon": 0.12, "linf": 0.1, "missing_rate": 0.1},
      "features": {"income": 0.2, "region": {"linf": 0.15, "unseen_share": 0.0}}
    }

``default`` replaces any of the built-in defaults (:data:`DEFAULT_THRESHOLDS`).
Under ``features`` a number is the threshold of that feature's distance, whichever
measure it uses; a dict sets any of ``threshold`` (same meaning), the measure names,
``missing_rate`` and ``unseen_share`` for that feature alone. Every threshold is a
number >= 0 and a feature drifts when a value is strictly greater than it. See
:mod:`mlops_suite.monitoring.drift` for how the defaults were calibrated.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
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
    """Default thresholds plus per-feature overrides.

    Attributes:
        default: A threshold per measure name (all keys of DEFAULT_THRESHOLDS).
        features: Per-feature overrides, each a dict of ``_FEATURE_KEYS``.
        source: Where they came from, for messages.
    """

    default: Mapping[str, float] = field(
        default_factory=lambda: dict(DEFAULT_THRESHOLDS)
    )
    features: Mapping[str, Mapping[str, float]] = field(default_factory=dict)
    source: str = "the default thresholds"

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
            if name not in compared:
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
    unknown = sorted(set(spec) - {"default", "features"})
    if unknown:
        raise MlopsError(
            f"{source} has unknown key '{unknown[0]}'; expected only 'default' and "
            "'features'"
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
    return DriftThresholds(default=default, features=features, source=source)


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
