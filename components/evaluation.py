"""Evaluation component: metrics on the held-out split, sliced, explained, reported."""

from kfp.dsl import (
    HTML,
    Artifact,
    ClassificationMetrics,
    Dataset,
    Input,
    Metrics,
    Model,
    Output,
)


def evaluate_model(
    model: Input[Model],
    test: Input[Dataset],
    slice_column: str,
    metrics: Output[Metrics],
    classification_metrics: Output[ClassificationMetrics],
    report: Output[HTML],
    evaluation: Output[Artifact],
    seed: int = 0,
) -> None:
    """Scores the model on the held-out test split and measures what it relies on.

    Each original column's permutation importance (the drop of the primary metric
    when the column is shuffled, repeated and seeded) is recorded with the metrics.

    Args:
        model: The trained model folder.
        test: Held-out rows the model never saw.
        slice_column: A categorical feature to break the metrics down by; empty for
            none.
        metrics: Accuracy, macro F1, ROC AUC and log loss (classification) or RMSE,
            MAE and R² (regression), shown by the KFP UI and the Vertex console.
        classification_metrics: The confusion matrix and ROC curve (classification
            only).
        report: Plots and tables of the same, for people.
        evaluation: Everything above as ``evaluation.json``, read by the approval gate
            and recorded at registration (the importance under ``explanation``), with
        seed: Seeds the shuffles of the permutation importance.
            the metrics' spread across chunks of the test split; and, for a
            classifier, ``calibration.json``, the calibrator of its probabilities.
            Registration stores both with the model, for monitoring.
        seed: Seeds the shuffles of the permutation importance.
    """
    from mlops_suite.artifacts import CALIBRATION_FILE, DATASET_FILE, EVALUATION_FILE
    from mlops_suite.components.step import failing_clearly, write_json, write_text
    from mlops_suite.data.ingest import read_dataset
    from mlops_suite.evaluation.importance import explain
    from mlops_suite.evaluation.metrics import evaluate
    from mlops_suite.evaluation.report import render_evaluation_html
    from mlops_suite.model_folder import load_model
    from mlops_suite.monitoring.performance_reference import (
        REFERENCE_KEY,
        fit_reference,
    )

    with failing_clearly("evaluate_model"):
        loaded = load_model(model.path)
        test_rows = read_dataset(f"{test.path}/{DATASET_FILE}")
        result = evaluate(
            loaded.pipeline,
            loaded.metadata,
            test_rows,
            slice_column=slice_column or None,
        )
        result.explanation = explain(
            loaded.pipeline, loaded.metadata, test_rows, seed=seed
        )
        reference, calibrator = fit_reference(
            loaded.pipeline, loaded.metadata, test_rows
        )
    payload = result.to_dict()
    payload[REFERENCE_KEY] = reference.to_dict()
    if calibrator is not None:
        write_json(evaluation.path, CALIBRATION_FILE, calibrator.to_dict())
    for name, value in payload["metrics"].items():
        if value is not None:
            metrics.log_metric(name, value)
    if payload.get("confusion_matrix"):
        matrix = payload["confusion_matrix"]
        classification_metrics.log_confusion_matrix(
            [str(label) for label in matrix["labels"]], matrix["matrix"]
        )
    if payload.get("roc_curve"):
        curve = payload["roc_curve"]
        classification_metrics.log_roc_curve(
            curve["fpr"], curve["tpr"], curve["thresholds"]
        )
    write_json(evaluation.path, EVALUATION_FILE, payload)
    write_text(report.path, render_evaluation_html(result, title="Evaluation"))
