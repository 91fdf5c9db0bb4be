"""Monitoring stage: data and prediction drift of served traffic against training.

``detect_drift`` compares live data (Parquet batch files from the request logger, or
a DataFrame) with the statistics profile registered with the model, or with a raw
reference table, reading in bounded batches; ``render_drift_html`` draws the report.

The names below are imported on first use: ``mlops --help`` imports the sink's
flags from this package, and must not wait for pandas, SciPy and matplotlib.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mlops_suite.monitoring.drift import DEFAULT_BATCH_ROWS, detect_drift
    from mlops_suite.monitoring.drift_report import DriftReport, FeatureDrift
    from mlops_suite.monitoring.measures import distribution_distance
    from mlops_suite.monitoring.payloads.columns import PREDICTION_COLUMN
    from mlops_suite.monitoring.report import render_drift_html
    from mlops_suite.monitoring.thresholds import (
        DEFAULT_THRESHOLDS,
        DriftThresholds,
        load_thresholds,
    )

# Public name -> the module that defines it.
_EXPORTS = {
    "DEFAULT_BATCH_ROWS": "mlops_suite.monitoring.drift",
    "PREDICTION_COLUMN": "mlops_suite.monitoring.payloads.columns",
    "DriftReport": "mlops_suite.monitoring.drift_report",
    "FeatureDrift": "mlops_suite.monitoring.drift_report",
    "detect_drift": "mlops_suite.monitoring.drift",
    "distribution_distance": "mlops_suite.monitoring.measures",
    "render_drift_html": "mlops_suite.monitoring.report",
    "DEFAULT_THRESHOLDS": "mlops_suite.monitoring.thresholds",
    "DriftThresholds": "mlops_suite.monitoring.thresholds",
    "load_thresholds": "mlops_suite.monitoring.thresholds",
}

__all__ = [
    "DEFAULT_BATCH_ROWS",
    "DEFAULT_THRESHOLDS",
    "PREDICTION_COLUMN",
    "DriftReport",
    "DriftThresholds",
    "FeatureDrift",
    "detect_drift",
    "distribution_distance",
    "load_thresholds",
    "render_drift_html",
]


if not TYPE_CHECKING:  # mypy reads the imports above instead

    def __getattr__(name: str) -> Any:
        module = _EXPORTS.get(name)
        if module is None:
            raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module), name)
        globals()[name] = value  # later look-ups skip this function
        return value

    def __dir__() -> list[str]:
        return sorted({*globals(), *__all__})
