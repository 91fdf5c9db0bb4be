"""Batch scoring component: score a table with a registered model."""

from kfp.dsl import Metrics, Output


def batch_predict(
    registry_uri: str,
    model_name: str,
    version: int,
    data_uri: str,
    output_uri: str,
    keep_columns: str,
    batch_rows: int,
    scoring: Output[Metrics],
) -> int:
    """Scores a table with a registered model into Parquet that monitoring reads.

    The model file is checked against its recorded sha256; the table is read in
    batches; the output folder gets Parquet files in the payload sink's schema
    (request id, row, features, prediction, ``proba_<class>``, the table's other
    columns), published only once every row was scored.

    Args:
        registry_uri: The model registry (a path or fsspec URI).
        model_name: The registered model's name.
        version: The version to score with; 0 for the champion.
        data_uri: The table: a CSV or Parquet file, or a folder of Parquet files.
        output_uri: The folder to write to.
        keep_columns: Comma-separated non-feature columns to keep; empty for all.
        batch_rows: Rows scored (and written) per file.
        scoring: Rows scored, the version used and the files written.

    Returns:
        The number of rows scored.
    """
    from mlops_suite.components.step import failing_clearly
    from mlops_suite.scoring import score_version

    with failing_clearly("batch_predict"):
        used, result = score_version(
            registry_uri,
            model_name,
            data_uri,
            output_uri,
            version=version,
            keep_columns=[name for name in keep_columns.split(",") if name] or None,
            batch_rows=batch_rows,
        )
    scoring.log_metric("rows", result.rows)
    scoring.log_metric("version", used)
    scoring.metadata.update({"output_uri": output_uri, "request_id": result.run_id})
    print(f"scored {result.rows} rows with {model_name} v{used} into {output_uri}")
    return result.rows
