"""Export component: a registered version as ONNX, checked against its Pipeline."""

from kfp.dsl import Dataset, Input, Metrics, Output


def export_onnx(
    test: Input[Dataset],
    registry_uri: str,
    model_name: str,
    version: int,
    export: Output[Metrics],
) -> str:
    """Converts a registered version to ONNX after checking it answers the same.

    Converts the version's scikit-learn Pipeline with skl2onnx (one named input per
    feature), runs both on the test split with onnxruntime (identical labels,
    probabilities within 1e-4, regression within 1e-4 relative), and only then
    writes ``v<N>/onnx/`` (a Triton model repository for KServe's onnx runtime) and
    records the file's sha256, opset and parity in ``v<N>/metadata.json``. A version
    exported before is left as it is. A Pipeline that cannot be converted stops the
    step with one sentence naming the step; the version stays as it was.

    Args:
        test: The held-out rows parity is checked on.
        registry_uri: The model registry (a path or fsspec URI).
        model_name: The registered model's name.
        version: The registered version to export.
        export: The parity figures and whether this run wrote the export.

    Returns:
        The ONNX file's path relative to the version folder.
    """
    from mlops_suite.artifacts import DATASET_FILE
    from mlops_suite.components.step import failing_clearly
    from mlops_suite.data.ingest import read_dataset

    with failing_clearly("export_onnx"):
        from mlops_suite.onnx_export import export_onnx as export_version

        result = export_version(
            registry_uri,
            model_name,
            read_dataset(f"{test.path}/{DATASET_FILE}"),
            version=version,
        )
    record = result.record
    for name, value in record["parity"].items():
        if isinstance(value, int | float):
            export.log_metric(name, float(value))
    export.log_metric("created", 1.0 if result.created else 0.0)
    export.metadata.update(
        {"sha256": record["sha256"], "path": record["path"], "opset": record["opset"]}
    )
    print(
        f"{'exported' if result.created else 'already exported:'} {model_name} "
        f"v{result.version} -> {record['path']}"
    )
    return str(record["path"])
