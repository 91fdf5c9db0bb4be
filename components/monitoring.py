"""Monitoring component: has the served data moved away from the champion's?"""

from kfp.dsl import HTML, Artifact, Markdown, Metrics, Output, OutputPath


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
) -> bool:
    """Compares the latest window of data with the champion's training profile.

    Every feature's drift score is recorded, drifted or not. With labels, the live
    metrics are compared with those recorded at approval (decay).

    Args:
        current_uri: The latest window: a Parquet file, a folder of Parquet batches
            from the payload sink, or a CSV file.
        registry_uri: The model registry holding the champion and its profile.
        model_name: The registered model's name.
        thresholds_json: Drift thresholds as a JSON object; empty for the defaults.
        labels_uri: Ground truth for logged predictions (request_id + label column);
            empty to skip the decay check.
        label_column: The labels' column.
        force: Retrain whatever the data says.
        metrics: Each feature's drift score.
        report: Overlaid reference/current histograms, drifted features first.
        decision: What was decided and why.
        drift: The decision and both reports as ``drift.json``.
        reason: One sentence: what moved, or that nothing did.

    Returns:
        True when the model should be retrained.
    """
    import json

    from mlops_suite.components.step import failing_clearly, write_json, write_text
    from mlops_suite.monitoring.retraining import decide_retraining

    with failing_clearly("detect_drift"):
        result = decide_retraining(
            registry_uri,
            model_name,
            current_uri,
            thresholds=json.loads(thresholds_json) if thresholds_json else None,
            labels=labels_uri or None,
            label_column=label_column,
            force=force,
        )
    if result.drift is not None:
        for name, feature in result.drift.features.items():
            metrics.log_metric(f"drift_{name}", feature.score)
    write_text(report.path, result.to_html())
    write_text(decision.path, result.to_markdown())
    write_json(drift.path, "drift.json", result.to_dict())
    drift.metadata.update({"retrain": result.retrain, "reason": result.reason})
    write_text(reason, result.reason)
    print(result.reason)
    return result.retrain
