"""Data components: ingest, profile, validate and split a tabular dataset.

Each function is a KFP lightweight component body (the factory in
:mod:`mlops_suite.components.factory` decorates it with the suite's image). Bodies
import what they use because KFP ships only the function's source to the container,
and they do nothing but read artifacts, call :mod:`mlops_suite.data`, and write
outputs.
"""

from kfp.dsl import HTML, Artifact, Dataset, Input, Output


def ingest_data(source_uri: str, dataset: Output[Dataset]) -> None:
    """Reads a CSV or Parquet file and stores it as the pipeline's Parquet dataset.

    Args:
        source_uri: Where the data is: a local path or an fsspec URI (gs://, s3://,
            https://). The format is taken from the extension, else sniffed.
        dataset: The data as Parquet, with rows, columns and a sha256 content hash
            (the data version) in its metadata.
    """
    from mlops_suite.artifacts import DATASET_FILE
    from mlops_suite.components.step import artifact_file, failing_clearly
    from mlops_suite.data.ingest import ingest

    with failing_clearly("ingest_data"):
        summary = ingest(source_uri, artifact_file(dataset.path, DATASET_FILE))
    dataset.metadata.update(
        {
            "source_uri": source_uri,
            "rows": summary.rows,
            "columns": summary.columns,
            "sha256": summary.sha256,
        }
    )


def profile_data(
    dataset: Input[Dataset],
    statistics: Output[Artifact],
    schema: Output[Artifact],
    report: Output[HTML],
) -> None:
    """Computes per-column statistics and infers a schema from them.

    Args:
        dataset: The dataset to describe.
        statistics: Per-column counts, missing values, ranges, quantiles, histograms
            and category frequencies (``statistics.json``); the reference profile that
            monitoring compares live data against.
        schema: The inferred schema (``schema.json``): type, required, range, domain
            and allowed missing rate of every column.
        report: A readable view of the statistics and the schema.
    """
    from mlops_suite.artifacts import DATASET_FILE, SCHEMA_FILE, STATISTICS_FILE
    from mlops_suite.components.step import failing_clearly, write_json, write_text
    from mlops_suite.data.ingest import read_dataset
    from mlops_suite.data.profile_view import render_profile_html
    from mlops_suite.data.schema import infer_schema, schema_sha256
    from mlops_suite.data.statistics import compute_statistics

    with failing_clearly("profile_data"):
        frame = read_dataset(f"{dataset.path}/{DATASET_FILE}")
        stats = compute_statistics(frame)
        inferred = infer_schema(frame, stats)
    write_json(statistics.path, STATISTICS_FILE, stats)
    write_json(schema.path, SCHEMA_FILE, inferred)
    write_text(report.path, render_profile_html(stats, inferred))
    schema.metadata.update({"sha256": schema_sha256(inferred), "inferred": True})
    statistics.metadata["rows"] = stats["num_rows"]


def validate_data(
    dataset: Input[Dataset],
    inferred_schema: Input[Artifact],
    label: str,
    task: str,
    curated_schema_uri: str,
    unseen_tolerance: float,
    anomalies: Output[Artifact],
    schema: Output[Artifact],
) -> None:
    """Checks the dataset against a schema and stops on a blocking anomaly.

    Args:
        dataset: The dataset to check.
        inferred_schema: The schema inferred by ``profile_data``; used when no curated
            schema is given.
        label: The label column, which must be present, complete and (for
            classification) hold at least two classes.
        task: ``classification``, ``regression``, or empty to infer it from the label.
        curated_schema_uri: A curated ``schema.json`` to check against instead of the
            inferred one; empty for none.
        unseen_tolerance: The share of rows with unseen categories tolerated in
            every categorical column, replacing the schema's bounds; negative to use
            the schema's.
        anomalies: Every anomaly found, blocking or not (``anomalies.json``).
        schema: The schema the data was checked against, for the stages after.
    """
    from mlops_suite.artifacts import ANOMALIES_FILE, DATASET_FILE, SCHEMA_FILE
    from mlops_suite.components.step import failing_clearly, read_json, write_json
    from mlops_suite.data.ingest import read_dataset
    from mlops_suite.data.schema import load_schema, schema_sha256
    from mlops_suite.data.validation import raise_for_anomalies, validate

    with failing_clearly("validate_data"):
        frame = read_dataset(f"{dataset.path}/{DATASET_FILE}")
        if curated_schema_uri:
            used = load_schema(curated_schema_uri)
        else:
            used = read_json(inferred_schema.path, SCHEMA_FILE)
        found = validate(
            frame,
            used,
            label=label,
            task=task or None,
            unseen_tolerance=unseen_tolerance if unseen_tolerance >= 0 else None,
        )
        write_json(anomalies.path, ANOMALIES_FILE, [a.to_dict() for a in found])
        write_json(schema.path, SCHEMA_FILE, used)
        anomalies.metadata.update(
            {
                "count": len(found),
                "blocking": sum(1 for a in found if a.blocking),
            }
        )
        schema.metadata.update(
            {"sha256": schema_sha256(used), "curated": bool(curated_schema_uri)}
        )
        source = dataset.metadata.get("source_uri", dataset.uri)
        raise_for_anomalies(found, source=str(source))


def split_data(
    dataset: Input[Dataset],
    label: str,
    task: str,
    test_fraction: float,
    validation_fraction: float,
    tune: bool,
    seed: int,
    train: Output[Dataset],
    test: Output[Dataset],
    validation: Output[Dataset],
) -> str:
    """Splits the dataset into train, test and validation sets, deterministically.

    Args:
        dataset: The validated dataset.
        label: The label column.
        task: ``classification``, ``regression``, or empty to infer it from the label.
        test_fraction: The share of rows held out for evaluation and approval.
        validation_fraction: The share of rows held out for hyperparameter trials.
        tune: Whether trials will run; without them no validation rows are held out.
        seed: The random seed; the same seed gives the same split.
        train: Rows to fit the model on.
        test: Held-out rows for evaluation and the champion comparison.
        validation: Held-out rows for tuning (empty when validation_fraction is 0).

    Returns:
        The task, as given or inferred from the label.
    """
    from mlops_suite.artifacts import DATASET_FILE
    from mlops_suite.components.step import artifact_file, failing_clearly
    from mlops_suite.data.ingest import read_dataset, write_dataset
    from mlops_suite.data.split import split_for_training

    with failing_clearly("split_data"):
        resolved, parts = split_for_training(
            read_dataset(f"{dataset.path}/{DATASET_FILE}"),
            label,
            task,
            test_fraction=test_fraction,
            validation_fraction=validation_fraction,
            tune=tune,
            seed=seed,
        )
    sha256 = dataset.metadata.get("sha256", "")
    for name, artifact in (
        ("train", train),
        ("test", test),
        ("validation", validation),
    ):
        part = parts[name]
        write_dataset(part, artifact_file(artifact.path, DATASET_FILE))
        artifact.metadata.update({"rows": len(part), "source_sha256": sha256})
    return resolved
