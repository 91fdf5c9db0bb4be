"""Monitoring stage: data and prediction drift of served traffic against training.

``detect_drift`` compares live data (Parquet batch files from the request logger, or
a DataFrame) with the statistics profile registered with the model, or with a raw
reference table, reading in bounded batches; ``render_drift_html`` draws the report.
"""

from mlops_suite.monitoring.drift import (
    DEFAULT_BATCH_ROWS,
    PREDICTION_COLUMN,
    DriftReport,
    FeatureDrift,
    detect_drift,
    distribution_distance,
)
from mlops_suite.monitoring.report import render_drift_html
from mlops_suite.monitoring.thresholds import (
    DEFAULT_THRESHOLDS,
    DriftThresholds,
    load_thresholds,
)

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
