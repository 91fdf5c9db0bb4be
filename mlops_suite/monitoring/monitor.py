"""One monitoring check, as ``mlops monitor`` runs it: drift (and decay) as reports.

:func:`monitor` compares current data with a reference (a ``statistics.json``
profile, a registry version's ``metadata.json``, a registered version's metadata, or
a raw table), scores every feature, and, given labels for the logged predictions,
compares the live metrics with those recorded at approval. It writes ``drift.json``
and ``drift.html`` (and ``decay.json``) to a report folder, only once every check
has run, and returns what it found; the caller decides what an exit status means.

The current data may also be the objects KServe's logger writes to storage
(:mod:`.logger_storage`): they are read once, with the model's metadata naming
positional instances, and what could not be paired is counted in the summary.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlops_suite import atomic
from mlops_suite.errors import MlopsError
from mlops_suite.explanation import importance_of
from mlops_suite.monitoring.drift import detect_drift
from mlops_suite.monitoring.drift_report import DriftReport
from mlops_suite.monitoring.report import render_drift_html
from mlops_suite.monitoring.thresholds import load_thresholds

if TYPE_CHECKING:
    from mlops_suite.monitoring.chunking import Chunking
    from mlops_suite.monitoring.decay import DecayReport
    from mlops_suite.monitoring.monitored_model import MonitoredModel
    from mlops_suite.monitoring.sources import Part
    from mlops_suite.monitoring.timeline_result import Timeline

DRIFT_JSON = "drift.json"
DRIFT_HTML = "drift.html"
DECAY_JSON = "decay.json"
MONITORING_JSON = "monitoring.json"
MONITORING_HTML = "monitoring.html"


@dataclass(frozen=True)
class MonitorResult:
    """What one monitoring check found, and where its reports are.

    Attributes:
        drift: Every feature's drift score against the reference.
        decay: Live metrics against those at approval, when labels were given.
        drift_json: The drift report as JSON.
        drift_html: The drift report as HTML (overlaid histograms).
        decay_json: The decay report as JSON, when labels were given.
        traffic: What was read from KServe's logger storage and what could not be
            paired, when the current data was that.
    """

    drift: DriftReport
    decay: DecayReport | None
    drift_json: Path
    drift_html: Path
    decay_json: Path | None = None
    traffic: str | None = None

    @property
    def moved(self) -> bool:
        """Whether a feature (or the predictions) drifted, or a metric decayed."""
        decayed = self.decay is not None and self.decay.decayed
        return bool(self.drift.drifted or decayed)

    def summary(self) -> str:
        """One line per feature, the decay sentence (if any), then the verdict.

        With the model's importance, each line shows it and the drifted features
        are listed most important first.
        """
        lines = [self.traffic] if self.traffic else []
        importance = self.drift.importance or {}
        for name, feature in self.drift.features.items():
            mark = "DRIFT" if feature.drifted else "ok"
            weight = (
                f"  importance {importance[name]:.4f}" if name in importance else ""
            )
            lines.append(
                f"  {mark:<6} {name:<28} {feature.metric} {feature.score:.4f} "
                f"(threshold {feature.threshold:.4f}){weight}"
            )
        if self.decay is not None:
            lines.append(self.decay.summary())
        if self.drift.ignored:
            lines.append(f"Not compared: {', '.join(self.drift.ignored)}.")
        drifted = self.drift.drifted_by_importance
        count = len(self.drift.features)
        if drifted:
            lines.append(
                f"Drift in {len(drifted)} of {count} features: {', '.join(drifted)}."
            )
        else:
            lines.append(f"No drift in {count} features.")
        return "\n".join(lines)


def monitor(
    current: str,
    report_dir: str | Path,
    *,
    reference: str | None = None,
    metadata: Mapping[str, Any] | None = None,
    thresholds: str | None = None,
    labels: str | None = None,
    label_column: str = "label",
    max_drop: float = 0.05,
    ignore_features: Sequence[str] = (),
) -> MonitorResult:
    """Compares current data with a reference and writes the reports.

    Args:
        current: The data to check: a Parquet file, a folder of Parquet batches from
            the payload sink, a CSV file, or a folder of the objects KServe's logger
            writes to storage.
        report_dir: The folder that receives ``drift.json``, ``drift.html`` and,
            with labels, ``decay.json``.
        reference: A ``statistics.json`` profile, a registry version's
            ``metadata.json``, or a raw table; ignored when ``metadata`` is given.
        metadata: A registered version's metadata (``ModelRegistry.metadata``): its
            training profile is the reference, its features the columns compared,
            its approval metrics the baseline for decay.
        thresholds: A JSON file of drift thresholds; the defaults when None.
        labels: Ground truth for the logged predictions (``request_id`` and
            ``label_column``); needs ``metadata``. None skips the decay check.
        label_column: The labels' column.
        max_drop: The relative metric drop that counts as decay.
        ignore_features: Columns never compared, besides those the thresholds
            file ignores.

    Returns:
        What drifted or decayed, and where the reports are.

    Raises:
        MlopsError: Neither a reference nor metadata was given, labels came without
            metadata, or an input cannot be read or does not match the reference.
            Nothing is written then.
    """
    profile, features, version = _reference(reference, metadata)
    if labels and metadata is None:
        raise MlopsError("--labels needs --registry and --model-name for the metrics")
    data = _current(current, version)
    limits = load_thresholds(thresholds).with_settings(ignore=ignore_features)
    drift = detect_drift(profile, data, thresholds=limits, features=features)
    drift = replace(drift, importance=importance_of(version))
    decay = None
    if labels and metadata is not None:
        # Imported only here: scikit-learn's metrics are slow to import, and most
        # checks have no labels.
        from mlops_suite.monitoring.decay import decay_of_version

        decay = decay_of_version(
            data, labels, metadata, label_column=label_column, max_drop=max_drop
        )
    out = Path(report_dir)
    atomic.write_json(out / DRIFT_JSON, drift.to_dict())
    atomic.write_text(out / DRIFT_HTML, render_drift_html(drift))
    if decay is not None:
        atomic.write_json(out / DECAY_JSON, decay.to_dict())
    return MonitorResult(
        drift=drift,
        decay=decay,
        drift_json=out / DRIFT_JSON,
        drift_html=out / DRIFT_HTML,
        decay_json=out / DECAY_JSON if decay is not None else None,
        traffic=_traffic(data),
    )


@dataclass(frozen=True)
class TimelineResult:
    """What a chunked monitoring check found, and where its reports are.

    Attributes:
        timeline: Drift and performance of every chunk.
        monitoring_json: The timeline as JSON.
        monitoring_html: The timeline as HTML (summary, then timelines).
        traffic: What was read from KServe's logger storage and what could not be
            paired, when the current data was that.
    """

    timeline: Timeline
    monitoring_json: Path
    monitoring_html: Path
    traffic: str | None = None

    @property
    def moved(self) -> bool:
        """Whether a metric passed its threshold or a feature drifted in a chunk."""
        return bool(self.timeline.alerts)

    def summary(self) -> str:
        """The timeline's summary lines."""
        summary = self.timeline.summary()
        return f"{self.traffic}\n{summary}" if self.traffic else summary


def monitor_timeline(
    current: str,
    report_dir: str | Path,
    *,
    chunking: Chunking,
    reference: str | None = None,
    metadata: Mapping[str, Any] | None = None,
    model: MonitoredModel | None = None,
    thresholds: str | None = None,
    labels: str | None = None,
    label_column: str = "label",
    ignore_features: Sequence[str] = (),
) -> TimelineResult:
    """Judges the current data chunk by chunk and writes ``monitoring.json``/``.html``.

    Args:
        current: The data to check (as for :func:`monitor`).
        report_dir: The folder that receives ``monitoring.json`` and
            ``monitoring.html``.
        chunking: How to cut the rows into chunks.
        reference: As for :func:`monitor`; ignored when ``metadata`` is given.
        metadata: A registered version's metadata (as for :func:`monitor`).
        model: The model behind the traffic, for performance; None measures drift
            only.
        thresholds: A JSON file of drift thresholds; the defaults when None.
        labels: Ground truth for the logged predictions; needs ``model``.
        label_column: The labels' column.
        ignore_features: Columns never compared, besides those the thresholds
            file ignores.

    Returns:
        The timeline, and where its reports are.

    Raises:
        MlopsError: As :func:`monitor`; nothing is written then.
    """
    from mlops_suite.monitoring.timeline import build_timeline
    from mlops_suite.monitoring.timeline_report import render_timeline_html

    profile, features, version = _reference(reference, metadata)
    data = _current(current, version)
    if not isinstance(profile, Mapping):
        # A raw reference table becomes the same profile registration records.
        from mlops_suite.monitoring.drift import DEFAULT_BATCH_ROWS
        from mlops_suite.monitoring.payloads.columns import PREDICTION_COLUMN
        from mlops_suite.monitoring.profile import profile_parts
        from mlops_suite.monitoring.sources import open_parts

        parts = open_parts(profile, role="reference")
        names = features or [n for n in parts[0].names() if n != PREDICTION_COLUMN]
        profile = profile_parts(
            parts, names, batch_rows=DEFAULT_BATCH_ROWS, role="reference"
        )
    timeline = build_timeline(
        data,
        chunking=chunking,
        statistics=profile,
        model=model,
        features=features,
        thresholds=load_thresholds(thresholds).with_settings(ignore=ignore_features),
        labels=labels,
        label_column=label_column,
        reference_label=(
            f"the training profile of {model.name}"
            if metadata is not None and model is not None
            else reference or "the training profile"
        ),
    )
    out = Path(report_dir)
    atomic.write_json(out / MONITORING_JSON, timeline.to_dict())
    atomic.write_text(out / MONITORING_HTML, render_timeline_html(timeline))
    return TimelineResult(
        timeline=timeline,
        monitoring_json=out / MONITORING_JSON,
        monitoring_html=out / MONITORING_HTML,
        traffic=_traffic(data),
    )


def _current(current: str, metadata: Mapping[str, Any] | None) -> str | Part:
    """The current data: KServe's logger storage read once, or the path as given.

    The served model's metadata names positional instances and types the columns,
    as the sink's ``--metadata`` does.
    """
    from mlops_suite.monitoring import logger_storage

    found = logger_storage.find_logged_objects(current)
    if found is None:
        return current
    from mlops_suite.monitoring.payloads.columns import model_columns

    model = (
        model_columns(metadata, f"of model version {metadata.get('version', '?')}")
        if metadata is not None
        else None
    )
    return logger_storage.read_logged_objects(found, model)


def _traffic(data: str | Part) -> str | None:
    from mlops_suite.monitoring.logger_storage import LoggerStoragePart

    return data.summary() if isinstance(data, LoggerStoragePart) else None


def _reference(
    reference: str | None, metadata: Mapping[str, Any] | None
) -> tuple[Any, list[str] | None, Mapping[str, Any] | None]:
    """The reference profile (or table), the model's features and its version's
    metadata, the last two when known."""
    features = [f["name"] for f in metadata["features"]] if metadata else None
    if metadata is not None and metadata.get("statistics"):
        return metadata["statistics"], features, metadata
    if metadata is not None and not reference:
        raise MlopsError(
            f"model version {metadata.get('version', '?')} was registered without the "
            "training data's statistics; pass --reference with the training data or "
            "its statistics.json"
        )
    if not reference:
        raise MlopsError("give --reference PATH or --registry DIR --model-name NAME")
    if reference.endswith(".json"):
        try:
            with open(reference, encoding="utf-8") as handle:
                loaded = json.load(handle)
        except (OSError, json.JSONDecodeError) as error:
            raise MlopsError(
                f"cannot read the reference {reference}: {error}"
            ) from None
        # A registry version's metadata.json carries the profile under "statistics".
        if isinstance(loaded, dict) and "statistics" in loaded:
            features = [f["name"] for f in loaded["features"]]
            return loaded["statistics"], features, loaded
        return loaded, features, metadata
    return reference, features, metadata
