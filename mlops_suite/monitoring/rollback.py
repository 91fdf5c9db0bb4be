"""Roll back to the previous champion when the champion fell and retraining failed.

Continuous training retrains when the champion's performance falls; the retrained
candidate still has to pass the approval gate. When it does not, the champion that
is known to have got worse would keep serving. :func:`roll_back_if_better` then
scores the champion and the previous champion (``previous_version`` in
``champion.json``) on the latest labelled window, with the same metric the approval
gate ranks models by (ROC AUC, or RMSE; accuracy when ROC AUC is undefined there),
and makes the previous one champion again only if it scores better. The registry
records it as a history event (``rolled-back``, by
:meth:`~mlops_suite.registry.ModelRegistry.set_champion`) with the pipeline run as
actor and both scores in the reason.

Without labels there is nothing to compare on, so it does nothing; nor when the
candidate was approved, the champion's performance did not fall, or there is no
previous champion in good standing.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from mlops_suite.artifacts import CLASSIFICATION
from mlops_suite.errors import MlopsError
from mlops_suite.evaluation.metrics import evaluate, primary_metric
from mlops_suite.monitoring.drift import DEFAULT_BATCH_ROWS
from mlops_suite.monitoring.label_join import LABEL, as_key, prepare_labels
from mlops_suite.monitoring.payloads.columns import REQUEST_ID_COLUMN, ROW_COLUMN
from mlops_suite.monitoring.sources import open_parts
from mlops_suite.registry import APPROVED, ModelRegistry
from mlops_suite.registry.history import version_status


@dataclass(frozen=True)
class RollbackResult:
    """Whether the champion was rolled back, why, and the scores behind it.

    Attributes:
        rolled_back: True when the previous champion is champion again.
        reason: One sentence: what was done, or why nothing was.
        champion_version: The champion that fell, when there was one.
        previous_version: The previous champion, when there was one.
        metric: The metric both were scored with, when they were.
        scores: Version (as text) -> its score on the labelled window.
        labelled_rows: Rows of the window whose label was joined.
    """

    rolled_back: bool
    reason: str
    champion_version: int | None = None
    previous_version: int | None = None
    metric: str | None = None
    scores: dict[str, float | None] = field(default_factory=dict)
    labelled_rows: int = 0

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {
            "rolled_back": self.rolled_back,
            "reason": self.reason,
            "champion_version": self.champion_version,
            "previous_version": self.previous_version,
            "metric": self.metric,
            "scores": dict(self.scores),
            "labelled_rows": self.labelled_rows,
        }


def roll_back_if_better(
    registry_uri: str,
    model_name: str,
    current: Any,
    labels: Any,
    *,
    candidate_rejected: bool,
    performance_fell: bool,
    actor: str,
    label_column: str = "label",
    decided_on: int | None = None,
    batch_rows: int = DEFAULT_BATCH_ROWS,
) -> RollbackResult:
    """Makes the previous champion champion again if it scores better.

    Args:
        registry_uri: The model registry.
        model_name: The registered model's name.
        current: The latest window of served data (a Parquet file, a folder of
            Parquet batches, a CSV file, or a DataFrame) with ``request_id``, and
            ``row`` when a request holds several instances.
        labels: Its ground truth (a file or DataFrame with ``request_id`` and
            ``label_column``); None or empty: nothing is done.
        candidate_rejected: Whether the run retrained and the approval gate refused
            the candidate.
        performance_fell: Whether the champion's performance fell past its
            threshold (the retraining decision's ``performance_fell``).
        actor: Who rolls back: the pipeline run id.
        label_column: The labels' column.
        decided_on: The champion the retraining decision judged; when the
            champion has changed since, nothing is done.
        batch_rows: Rows per batch read.

    Returns:
        What was done, or why nothing was.

    Raises:
        MlopsError: The labels or the window cannot be read, or the registry
            cannot be written.
        ModelIntegrityError: A model file does not match its recorded hash.
    """
    if labels is None or (isinstance(labels, str) and not labels.strip()):
        return RollbackResult(False, "No rollback: no labels to compare versions on.")
    if not candidate_rejected:
        return RollbackResult(
            False, "No rollback: no retrained candidate was refused by approval."
        )
    if not performance_fell:
        return RollbackResult(
            False, "No rollback: the champion's performance did not fall."
        )
    registry = ModelRegistry(registry_uri)
    champion = registry.champion(model_name)
    if champion is None:
        return RollbackResult(False, f"No rollback: {model_name} has no champion.")
    version = champion.version
    if decided_on is not None and decided_on != version:
        return RollbackResult(
            False,
            f"No rollback: the champion is v{version} now, not v{decided_on} whose "
            "performance fell.",
            champion_version=version,
        )
    previous = champion.previous_version
    if previous is None:
        return RollbackResult(
            False,
            f"No rollback: champion v{version} has no previous champion.",
            champion_version=version,
        )
    lineage = registry.metadata(model_name, previous).get("lineage") or {}
    status = version_status(previous, lineage, registry.events.read(model_name))
    if status != APPROVED:
        return RollbackResult(
            False,
            f"No rollback: the previous champion v{previous} is {status}.",
            champion_version=version,
            previous_version=previous,
        )
    return _compare_and_roll_back(
        registry,
        model_name,
        version,
        previous,
        current,
        labels,
        label_column=label_column,
        actor=actor,
        batch_rows=batch_rows,
    )


def _compare_and_roll_back(
    registry: ModelRegistry,
    name: str,
    version: int,
    previous: int,
    current: Any,
    labels: Any,
    *,
    label_column: str,
    actor: str,
    batch_rows: int,
) -> RollbackResult:
    """Score both versions on the labelled window; roll back if the previous wins."""
    from mlops_suite.model_folder import load_model

    loaded = {}
    for v in (version, previous):
        with registry.local_copy(name, v) as folder:
            loaded[v] = load_model(folder)
    task = str(loaded[version].metadata["task"])
    features = list(
        dict.fromkeys(
            str(feature["name"])
            for v in (version, previous)
            for feature in loaded[v].metadata["features"]
        )
    )
    window = _labelled_window(current, labels, features, task, label_column, batch_rows)
    if len(window) == 0:
        return RollbackResult(
            False,
            "No rollback: no row of the latest window has its label yet.",
            champion_version=version,
            previous_version=previous,
        )
    metrics: dict[int, Mapping[str, Any]] = {}
    for v, model in loaded.items():
        try:
            frame = _as_model_sees(window, model.metadata, task)
            metrics[v] = evaluate(model.pipeline, model.metadata, frame).metrics
        except MlopsError as error:
            return RollbackResult(
                False,
                f"No rollback: v{v} cannot be scored on the labelled window ({error}).",
                champion_version=version,
                previous_version=previous,
                labelled_rows=len(window),
            )
    metric, higher = _metric(task, metrics[version], metrics[previous])
    mine = _number(metrics[version].get(metric))
    theirs = _number(metrics[previous].get(metric))
    rows = len(window)
    compared = (
        f"on the latest {rows} labelled rows v{previous} scores {metric} "
        f"{_fmt(theirs)} against champion v{version}'s {_fmt(mine)}"
    )
    better = (
        mine is not None
        and theirs is not None
        and (theirs > mine if higher else theirs < mine)
    )
    reason = f"No rollback: {compared}."
    if better:
        reason = (
            f"Rolled back to v{previous}: champion v{version}'s performance fell and "
            f"the retrained candidate was not approved; {compared}."
        )
        registry.set_champion(name, previous, actor=actor, reason=reason)
    return RollbackResult(
        better,
        reason,
        champion_version=version,
        previous_version=previous,
        metric=metric,
        scores={str(version): mine, str(previous): theirs},
        labelled_rows=rows,
    )


def _labelled_window(
    current: Any,
    labels: Any,
    features: Sequence[str],
    task: str,
    label_column: str,
    batch_rows: int,
) -> pd.DataFrame:
    """The window's rows whose label is known: the features and the label.

    Only rows whose key is among the labels are kept, batch by batch, so memory
    grows with the labels, not with the window.
    """
    truth, truth_name = prepare_labels(
        labels, task=task, label_column=label_column, classes=None
    )
    parts = open_parts(current, role="current")
    names = set.intersection(*(set(part.names()) for part in parts))
    if REQUEST_ID_COLUMN not in names:
        raise MlopsError(
            f"the current data '{parts[0].label}' has no '{REQUEST_ID_COLUMN}' "
            f"column to join the {truth_name} on"
        )
    on_row = ROW_COLUMN in names and ROW_COLUMN in truth.columns
    keys = [REQUEST_ID_COLUMN, ROW_COLUMN] if on_row else [REQUEST_ID_COLUMN]
    by_key = truth.set_index(keys)[LABEL]
    if not by_key.index.is_unique:
        raise MlopsError(
            f"the {truth_name} holds several labels per request_id and the log has "
            f"no '{ROW_COLUMN}' column to tell them apart"
        )
    columns = keys + [name for name in features if name in names]
    pieces = []
    for part in parts:
        for batch in part.batches(columns, batch_rows):
            frame = pd.DataFrame({c: _values(batch[c]) for c in columns})
            frame[REQUEST_ID_COLUMN] = frame[REQUEST_ID_COLUMN].map(
                lambda value: as_key(value) if value is not None else ""
            )
            if on_row:
                frame[ROW_COLUMN] = pd.to_numeric(frame[ROW_COLUMN], errors="coerce")
                frame = frame.dropna(subset=[ROW_COLUMN])
                frame[ROW_COLUMN] = frame[ROW_COLUMN].astype("int64")
            index = (
                pd.MultiIndex.from_frame(frame[keys])
                if on_row
                else pd.Index(frame[REQUEST_ID_COLUMN])
            )
            found = by_key.reindex(index)
            known = found.notna().to_numpy()
            if known.any():
                kept = frame.loc[known].drop(columns=keys)
                kept[LABEL] = found.to_numpy()[known]
                pieces.append(kept)
    if not pieces:
        return pd.DataFrame(columns=[*features, LABEL])
    return pd.concat(pieces, ignore_index=True)


def _values(array: Any) -> pd.Series:
    series = array.to_pandas()
    # Parquet text arrives dictionary-encoded; categories differ between batches.
    if isinstance(series.dtype, pd.CategoricalDtype):
        series = series.astype(object)
    return series


def _as_model_sees(
    window: pd.DataFrame, metadata: Mapping[str, Any], task: str
) -> pd.DataFrame:
    """The window with the label under the model's label name, as its classes."""
    missing = [
        str(f["name"]) for f in metadata["features"] if f["name"] not in window.columns
    ]
    if missing:
        raise MlopsError(f"the window lacks its feature '{missing[0]}'")
    truth = window[LABEL]
    if task == CLASSIFICATION:
        classes = {as_key(value): value for value in metadata.get("classes") or []}
        unknown = sorted(set(truth) - set(classes))
        if unknown:
            raise MlopsError(f"the labels hold class(es) it never saw: {unknown[:5]}")
        truth = truth.map(classes)
    return window.drop(columns=[LABEL]).assign(**{str(metadata["label"]): truth})


def _metric(
    task: str, mine: Mapping[str, Any], theirs: Mapping[str, Any]
) -> tuple[str, bool]:
    """The approval gate's ranking metric, or accuracy where it is undefined."""
    name, higher = primary_metric(task)
    defined = all(_number(scores.get(name)) is not None for scores in (mine, theirs))
    if task == CLASSIFICATION and not defined:
        return "accuracy", True
    return name, higher


def _number(value: Any) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool):
        number = float(value)
        return number if math.isfinite(number) else None
    return None


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4f}"


def roll_back_after_run(
    decision: Mapping[str, Any],
    registered_version: int,
    registry_uri: str,
    model_name: str,
    current: Any,
    labels: Any,
    *,
    actor: str,
    label_column: str = "label",
) -> RollbackResult:
    """The continuous-training step: roll back after a refused retraining, if better.

    Args:
        decision: The retraining decision (``drift.json``): whether it retrained,
            whether performance fell, and the champion it judged.
        registered_version: The nested training run's ``version``: 0 when it did
            not retrain or its candidate was not approved.
        registry_uri: The model registry.
        model_name: The registered model's name.
        current: The latest window (as for :func:`roll_back_if_better`).
        labels: Its ground truth; None or empty: nothing is done.
        actor: The pipeline run id.
        label_column: The labels' column.

    Returns:
        What was done, or why nothing was.
    """
    if not decision.get("retrain"):
        return RollbackResult(False, "No rollback: the run did not retrain.")
    judged = decision.get("champion_version")
    return roll_back_if_better(
        registry_uri,
        model_name,
        current,
        labels,
        candidate_rejected=registered_version == 0,
        performance_fell=bool(decision.get("performance_fell")),
        actor=actor,
        label_column=label_column,
        decided_on=int(judged) if judged is not None else None,
    )
