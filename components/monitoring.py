"""Monitoring components: retrain the champion? Roll it back?"""

from typing import NamedTuple

from kfp.dsl import HTML, Artifact, Input, Markdown, Metrics, Output, OutputPath


def detect_drift(
    current_uri: str,
    registry_uri: str,
    model_name: str,
    thresholds_json: str,
    labels_uri: str,
    label_column: str,
    force: bool,
    metrics: Output[Metrics],
    report: Output[HTML],
    decision: Output[Markdown],
    drift: Output[Artifact],
    reason: OutputPath(str),  # type: ignore[valid-type]
    ignore_features: str = "",
    performance_thresholds_json: str = "",
    pipeline_run_id: str = "",
) -> bool:
    """Decides whether to retrain the champion on the latest window of data.

    In order: the champion's performance (realized on labelled rows, or a
    classifier's estimated from its calibrated probabilities) against its threshold;
    then drift, against the champion's training profile, of the features the model
    relies on (permutation importance). Every feature's drift score is recorded,
    drifted or not, and the decision names the signal that decided.

    Args:
        current_uri: The latest window: a Parquet file, a folder of Parquet batches
            from the payload sink, or a CSV file.
        registry_uri: The model registry holding the champion and its profile.
        model_name: The registered model's name.
        thresholds_json: Monitoring thresholds as a JSON object (drift per feature,
            ignore_features, performance, min_importance); empty for the defaults.
        labels_uri: Ground truth for logged predictions (request_id + label column);
            empty to judge estimated performance only.
        label_column: The labels' column.
        force: Retrain whatever the data says.
        metrics: Each feature's drift score.
        report: The decision, the performance with its band and threshold, and
            overlaid reference/current histograms, drifted features first.
        decision: What was decided, by which signal, and why.
        drift: The decision and its evidence as ``drift.json``.
        reason: One sentence: what moved, or that nothing did.
        ignore_features: Columns never compared, separated by commas (year,id).
        performance_thresholds_json: A threshold per metric as a JSON object, e.g.
            {"accuracy": 0.85}; empty for those of the performance reference.
        pipeline_run_id: This run; when given, the decision (retrain or
            not-retrained) and its reason are recorded in the registry under
            ``runs/<run id>/``, where the run's exit step reads them. Empty to
            record nothing.

    Returns:
        True when the model should be retrained.
    """
    import json

    from mlops_suite.components.step import failing_clearly, write_json, write_text
    from mlops_suite.monitoring.retraining import decide_retraining
    from mlops_suite.monitoring.thresholds import (
        parse_performance_thresholds,
        split_names,
    )

    with failing_clearly("detect_drift"):
        result = decide_retraining(
            registry_uri,
            model_name,
            current_uri,
            thresholds=json.loads(thresholds_json) if thresholds_json else None,
            labels=labels_uri or None,
            label_column=label_column,
            force=force,
            ignore_features=split_names(ignore_features),
            performance_thresholds=parse_performance_thresholds(
                performance_thresholds_json
            ),
            pipeline_run_id=pipeline_run_id,
        )
    if result.drift is not None:
        for name, feature in result.drift.features.items():
            metrics.log_metric(f"drift_{name}", feature.score)
    if result.performance is not None:
        for name, check in result.performance.metrics.items():
            if check.estimated is not None:
                metrics.log_metric(f"estimated_{name}", check.estimated)
            if check.realized is not None:
                metrics.log_metric(f"realized_{name}", check.realized)
    write_text(report.path, result.to_html())
    write_text(decision.path, result.to_markdown())
    write_json(drift.path, "drift.json", result.to_dict())
    drift.metadata.update(
        {
            "retrain": result.retrain,
            "reason": result.reason,
            "decided_by": result.decided_by,
        }
    )
    write_text(reason, result.reason)
    print(result.reason)
    return result.retrain


def roll_back_champion(
    decision: Input[Artifact],
    version: int,
    current_uri: str,
    labels_uri: str,
    label_column: str,
    registry_uri: str,
    model_name: str,
    pipeline_run_id: str,
    rollback: Output[Artifact],
) -> NamedTuple(  # type: ignore[valid-type]
    "Rollback", [("rolled_back", bool), ("reason", str)]
):
    """Rolls back to the previous champion when it scores better on labelled data.

    Only after a run whose decision found the champion's performance fallen and
    whose retrained candidate the approval gate refused; then the champion and the
    previous champion are scored on the latest window's labelled rows, and the
    previous one becomes champion again if it scores better (a ``rolled-back``
    history event, with this run as actor and both scores in the reason). Without
    labels it does nothing.

    Args:
        decision: The retraining decision (``drift.json`` of detect_drift).
        version: The training run's registered version; 0 when it did not retrain
            or its candidate was not approved.
        current_uri: The latest window of served data.
        labels_uri: Ground truth for logged predictions; empty to do nothing.
        label_column: The labels' column.
        registry_uri: The model registry.
        model_name: The registered model's name.
        pipeline_run_id: This run, the actor of the history event.
        rollback: What was done and the scores, as ``rollback.json``.

    Returns:
        ``rolled_back``: whether the previous champion is champion again;
        ``reason``: one sentence saying what was done, or why nothing was.
    """
    from collections import namedtuple

    from mlops_suite.components.step import failing_clearly, read_json, write_json
    from mlops_suite.monitoring.rollback import roll_back_after_run

    with failing_clearly("roll_back_champion"):
        result = roll_back_after_run(
            read_json(decision.path, "drift.json"),
            version,
            registry_uri,
            model_name,
            current_uri,
            labels_uri or None,
            actor=pipeline_run_id,
            label_column=label_column,
        )
    write_json(rollback.path, "rollback.json", result.to_dict())
    rollback.metadata.update({"rolled_back": result.rolled_back})
    print(result.reason)
    Rollback = namedtuple("Rollback", ["rolled_back", "reason"])
    return Rollback(result.rolled_back, result.reason)
