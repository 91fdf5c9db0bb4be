"""The local training pipeline against its core functions in one process.

Both run as whole processes, as a user starts them, on the same data and settings:

* pipeline: ``mlops run training`` (kfp.local, every step a process of its own);
* baseline: one fresh Python that calls the same core functions in the same order
  (ingest, statistics and schema with the profile page, validation, split, training,
  evaluation with permutation importance, performance reference and report, infra
  validation in KServe's runtime, approval, registration with the model card), the
  artifacts handed over in memory instead of through files and step processes.

It prints both wall times, their ratio (target <= 1.5x) and each process tree's peak
RSS (the largest single process, steps and model servers included), then the
in-process time of each stage, which says where the remaining time goes. It compares
on penguins and on a synthetic table (``--compare-rows``), then gives the pipeline's
wall time and peak RSS on synthetic tables of ``--sizes`` rows.
Timings are printed, never asserted: a shared machine makes them noisy.

Usage::

    .venv/bin/python bench/pipeline_bench.py [--compare-rows 100000]
        [--sizes 100000,1000000]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from measure import Measured, peak_rss_text, run_measured
from table import Figure, print_table

MLOPS = Path(sys.executable).with_name("mlops")
RATIO_TARGET = 1.5
# Passed to both runs, so neither depends on the other's defaults.
THRESHOLDS = {"min_roc_auc": 0.75, "min_r2": 0.2}
MAX_REGRESSION = 0.01
MODEL_NAME = "bench"
# Rows of a synthetic table written per step, so 1M rows stay small in memory.
CHUNK_ROWS = 250_000


def write_synthetic(path: Path, rows: int, seed: int = 0) -> str:
    """Write a labelled table of ``rows`` rows (numbers, categories, a flag, gaps).

    Three classes follow a linear score of the features with noise, so a logistic
    regression learns them well but not perfectly; 2% of some feature values are
    missing.

    Returns:
        The label column's name.
    """
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    writer = None
    try:
        for step, start in enumerate(range(0, rows, CHUNK_ROWS)):
            size = min(CHUNK_ROWS, rows - start)
            rng = np.random.default_rng(seed * 1_000_003 + step)
            numbers = rng.normal(size=(size, 6)) * [1, 2, 5, 10, 0.5, 3] + [
                0,
                1,
                2,
                50,
                0,
                7,
            ]
            region = rng.choice(["north", "south", "east", "west"], size)
            plan = rng.choice(["basic", "plus", "pro"], size, p=[0.5, 0.3, 0.2])
            active = rng.random(size) < 0.6
            score = (
                numbers[:, 0]
                - 0.4 * numbers[:, 1]
                + 0.1 * numbers[:, 3]
                + np.where(plan == "pro", 1.5, 0.0)
                + np.where(active, 0.8, -0.3)
                + rng.normal(scale=0.7, size=size)
            )
            label = np.select([score < 4.5, score < 6.0], ["low", "mid"], "high")
            columns: dict[str, Any] = {
                f"x{i}": pa.array(numbers[:, i], mask=rng.random(size) < 0.02)
                for i in range(6)
            }
            columns["region"] = pa.array(region, mask=rng.random(size) < 0.02)
            columns["plan"] = pa.array(plan)
            columns["active"] = pa.array(active)
            columns["tier"] = pa.array(label)
            table = pa.table(columns)
            if writer is None:
                writer = pq.ParquetWriter(path, table.schema)
            writer.write_table(table)
    finally:
        if writer is not None:
            writer.close()
    return "tier"


# ------------------------------------------------------------------ in process
class _Stages:
    """Wall time per stage of the in-process run."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        started = time.perf_counter()
        yield
        self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - started


def in_process(data: str, label: str, registry: str, workdir: str) -> None:
    """Run the pipeline's core functions in this process; print the stages as JSON."""
    timer = _Stages()
    with timer.stage("imports"):
        from mlops_suite.approval import approve
        from mlops_suite.data.ingest import ingest, read_dataset
        from mlops_suite.data.profile_view import render_profile_html
        from mlops_suite.data.schema import infer_schema
        from mlops_suite.data.split import split_for_training
        from mlops_suite.data.statistics import compute_statistics
        from mlops_suite.data.validation import raise_for_anomalies, validate
        from mlops_suite.evaluation.importance import explain
        from mlops_suite.evaluation.metrics import evaluate
        from mlops_suite.evaluation.report import render_evaluation_html
        from mlops_suite.model_card import build_model_card
        from mlops_suite.model_folder import save_model
        from mlops_suite.monitoring.performance_reference import (
            REFERENCE_KEY,
            fit_reference,
        )
        from mlops_suite.registration import register_approved
        from mlops_suite.registry import ModelRegistry
        from mlops_suite.serving.infra_validation import infra_validate
        from mlops_suite.training.train import train_model

    folder = Path(workdir)
    with timer.stage("ingest"):
        summary = ingest(data, folder / "dataset.parquet")
        frame = read_dataset(folder / "dataset.parquet")
    with timer.stage("profile"):
        statistics = compute_statistics(frame)
        schema = infer_schema(frame, statistics)
        render_profile_html(statistics, schema)
    with timer.stage("validate"):
        raise_for_anomalies(validate(frame, schema, label=label), source=data)
    with timer.stage("split"):
        task, parts = split_for_training(
            frame, label, "", test_fraction=0.2, validation_fraction=0.2, tune=False
        )
    with timer.stage("train"):
        trained = train_model(
            parts["train"],
            label,
            task=task,
            seed=0,
            schema=schema,
            data_sha256=summary.sha256,
        )
        model_dir = save_model(trained, folder / "model")
    test = parts["test"]
    with timer.stage("evaluate"):
        result = evaluate(trained.pipeline, trained.metadata, test)
        result.explanation = explain(trained.pipeline, trained.metadata, test, seed=0)
        reference, calibrator = fit_reference(trained.pipeline, trained.metadata, test)
        evaluation = result.to_dict()
        evaluation[REFERENCE_KEY] = reference.to_dict()
        render_evaluation_html(result, title="Evaluation")
    with timer.stage("infra_validate"):
        infra = infra_validate(model_dir, test, model_name=MODEL_NAME, max_rows=20)
    with timer.stage("approve"):
        decision = approve(
            task,
            evaluation["metrics"],
            test,
            registry_uri=registry,
            model_name=MODEL_NAME,
            thresholds=THRESHOLDS,
            max_regression=MAX_REGRESSION,
            infra=infra.to_dict(),
        )
    with timer.stage("register"):
        registered = register_approved(
            registry,
            MODEL_NAME,
            model_dir,
            decision=decision.to_dict(),
            metrics=evaluation["metrics"],
            schema=schema,
            statistics=statistics,
            evaluation=evaluation,
            performance_reference=evaluation[REFERENCE_KEY],
            calibration=calibrator.to_dict() if calibrator is not None else None,
        )
        metadata = ModelRegistry(registry).metadata(MODEL_NAME, registered.version)
        build_model_card(metadata, model_name=MODEL_NAME)
    print(json.dumps({"stages": timer.seconds, "approved": decision.approved}))


# ------------------------------------------------------------------ the runs
def _run_pipeline(data: str, label: str, folder: Path) -> Measured:
    command = [
        str(MLOPS),
        "run",
        "training",
        "--data",
        data,
        "--label",
        label,
        "--model-name",
        MODEL_NAME,
        "--registry",
        str(folder / "registry"),
        "--pipeline-root",
        str(folder / "pipeline-root"),
        "--thresholds",
        json.dumps(THRESHOLDS),
        "--max-regression",
        str(MAX_REGRESSION),
    ]
    measured = run_measured(command, cwd=folder)
    if "Registered" not in measured.output:
        print(f"  NOTE: the pipeline registered nothing:\n{measured.output}")
    return measured


def _run_in_process(data: str, label: str, folder: Path) -> tuple[Measured, dict]:
    (folder / "work").mkdir()
    command = [
        sys.executable,
        __file__,
        "--in-process",
        data,
        label,
        str(folder / "registry"),
        str(folder / "work"),
    ]
    measured = run_measured(command, cwd=folder)
    return measured, json.loads(measured.output.strip().splitlines()[-1])


def _line(what: str, measured: Measured) -> str:
    return (
        f"  {what:<52} {measured.seconds:6.1f} s (CPU {measured.cpu_seconds:5.1f} s), "
        f"peak RSS {peak_rss_text(measured.peak_rss)}"
    )


def compare(data: str, label: str, name: str) -> tuple[list[Figure], Measured]:
    """Run the pipeline and the in-process baseline on ``data``; print and return
    the figure and the pipeline's measurement."""
    with tempfile.TemporaryDirectory(prefix="pipeline-bench-") as tmp:
        one, two = Path(tmp, "pipeline"), Path(tmp, "in-process")
        one.mkdir()
        two.mkdir()
        pipeline = _run_pipeline(data, label, one)
        baseline, result = _run_in_process(data, label, two)
    print(f"training on {name}:")
    print(_line("mlops run training (kfp.local, a process per step):", pipeline))
    print(_line("the same core functions in one process:", baseline))
    stages = ", ".join(f"{k} {v:.1f}" for k, v in result["stages"].items())
    print(f"  in-process stages (s): {stages}")
    figure = Figure(
        f"local training pipeline, {name}",
        pipeline.seconds,
        "s",
        "core functions in one process",
        baseline.seconds,
        target=f"<= {RATIO_TARGET:g}x",
        met=pipeline.seconds <= RATIO_TARGET * baseline.seconds,
    )
    return [figure], pipeline


def _sized_figures(rows: int, pipeline: Measured) -> list[Figure]:
    return [
        Figure(f"training pipeline, {rows:,} rows", pipeline.seconds, "s"),
        Figure(
            f"training pipeline peak RSS, {rows:,} rows", pipeline.peak_rss / 1e9, "GB"
        ),
    ]


def sized(rows: int) -> list[Figure]:
    """Time the pipeline alone on a synthetic table of ``rows`` rows."""
    with tempfile.TemporaryDirectory(prefix="pipeline-bench-") as tmp:
        folder = Path(tmp)
        data = folder / "table.parquet"
        label = write_synthetic(data, rows)
        pipeline = _run_pipeline(str(data), label, folder)
    print("training pipeline alone:")
    print(_line(f"on {rows:,} synthetic rows:", pipeline))
    return _sized_figures(rows, pipeline)


def run(compare_rows: int, sizes: list[int]) -> list[Figure]:
    """The pipeline against the baseline on penguins and on ``compare_rows``
    synthetic rows (0: none), then the pipeline's time and peak RSS at ``sizes``
    (the comparison's run counts for its size)."""
    path = subprocess.run(
        [str(MLOPS), "demo-data"], capture_output=True, text=True, check=True
    ).stdout.strip()
    figures, _ = compare(path, "species", "penguins")
    measured: dict[int, Measured] = {}
    if compare_rows:
        with tempfile.TemporaryDirectory(prefix="pipeline-bench-") as tmp:
            table = Path(tmp) / "table.parquet"
            label = write_synthetic(table, compare_rows)
            found, measured[compare_rows] = compare(
                str(table), label, f"{compare_rows:,} synthetic rows"
            )
        figures += found
    for rows in sizes:
        if rows in measured:
            figures += _sized_figures(rows, measured[rows])
        else:
            figures += sized(rows)
    return figures


def main(argv: list[str] | None = None) -> None:
    """Parse the command line and run the benchmark."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--compare-rows",
        type=int,
        default=100_000,
        help="also compare on a synthetic table of this many rows (0: none)",
    )
    parser.add_argument(
        "--sizes",
        default="100000,1000000",
        help="row counts to time the pipeline at (default: %(default)s)",
    )
    parser.add_argument("--in-process", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.in_process:
        in_process(*args.in_process)
        return
    sizes = [int(n) for n in args.sizes.split(",") if n.strip()]
    print_table(run(args.compare_rows, sizes))


if __name__ == "__main__":
    main()
