"""Benchmark ONNX Runtime against the scikit-learn Pipeline (run by ``make bench``).

Trains each named estimator on the penguins data (every feature kind, missing values),
registers it in a temporary registry and exports it with ``export_onnx``, which checks
parity on the test split. It then times, on the same prepared inputs:

* scikit-learn: ``Pipeline.predict_proba`` (``predict`` for regression) on the V1
  form KServe's sklearn runtime hands it, ``np.array(rows, dtype=object)``;
* ONNX Runtime: ``InferenceSession.run`` on one array per feature
  (:func:`mlops_suite.onnx_export.onnx_inputs`), one intra-op thread.

Both on one row at a time (every test row in turn) and on a 1000-row batch, each the
median of repeated calls. It prints both latencies, their ratio (target: ONNX Runtime
at least 10x faster on one row) and whether the answers are the same on every timed
row. Timings are printed, never asserted: a shared machine makes them noisy.

Usage::

    .venv/bin/python bench/onnx_bench.py [--estimators random_forest,...]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime
import pandas as pd
from palmerpenguins import load_penguins
from table import Figure, print_table

from mlops_suite.model_folder import save_model
from mlops_suite.onnx_export import export_onnx, onnx_inputs
from mlops_suite.registry import ModelRegistry
from mlops_suite.training.train import to_v1_instances, train_model

LABEL = "species"
SINGLE_ROW_TARGET = 10.0
BATCH_ROWS = 1000
# Per call, enough for a stable median and a few seconds per estimator.
SINGLE_ROW_CALLS = 300
BATCH_CALLS = 20


def _median_seconds(call: Callable[[], Any], calls: int) -> float:
    call()  # warm-up: first-call allocations are not latency
    times = []
    for _ in range(calls):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _rows_cycle(items: list[Any]) -> Callable[[], Any]:
    position = 0

    def following() -> Any:
        nonlocal position
        item = items[position % len(items)]
        position += 1
        return item

    return following


def bench_estimator(name: str, train: pd.DataFrame, test: pd.DataFrame) -> list[Figure]:
    """Export one estimator, then time and compare both models."""
    model = train_model(train, LABEL, estimator=name, seed=0)
    features = model.metadata["features"]
    with tempfile.TemporaryDirectory(prefix="onnx-bench-") as folder:
        save_model(model, f"{folder}/model")
        registry = ModelRegistry(f"{folder}/registry")
        registry.register("penguins", f"{folder}/model", lineage={})
        exported = export_onnx(f"{folder}/registry", "penguins", test)
        version_dir = Path(registry.version_uri("penguins", exported.version))
        payload = (version_dir / exported.record["path"]).read_bytes()
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    session = onnxruntime.InferenceSession(
        payload, options, providers=["CPUExecutionProvider"]
    )
    pipeline = model.pipeline
    proba = model.metadata["task"] == "classification"
    outputs = exported.record["outputs"]
    wanted = [outputs["probabilities"]] if proba else [outputs["prediction"]]
    sk_predict = pipeline.predict_proba if proba else pipeline.predict

    singles = [test.iloc[[i]] for i in range(len(test))]
    sk_inputs = [
        np.array(to_v1_instances(row, features), dtype=object) for row in singles
    ]
    ort_inputs = [onnx_inputs(row, features) for row in singles]
    batch = test.sample(BATCH_ROWS, replace=True, random_state=0)
    sk_batch = np.array(to_v1_instances(batch, features), dtype=object)
    ort_batch = onnx_inputs(batch, features)

    # The same answers on every timed input, before any timing.
    same = all(
        np.allclose(sk_predict(x), session.run(wanted, feed)[0], atol=1e-4)
        for x, feed in zip(sk_inputs, ort_inputs, strict=True)
    ) and np.allclose(
        sk_predict(sk_batch), session.run(wanted, ort_batch)[0], atol=1e-4
    )

    next_sk, next_ort = _rows_cycle(sk_inputs), _rows_cycle(ort_inputs)
    sk_one = _median_seconds(lambda: sk_predict(next_sk()), SINGLE_ROW_CALLS)
    ort_one = _median_seconds(
        lambda: session.run(wanted, next_ort()), SINGLE_ROW_CALLS * 10
    )
    sk_many = _median_seconds(lambda: sk_predict(sk_batch), BATCH_CALLS)
    ort_many = _median_seconds(lambda: session.run(wanted, ort_batch), BATCH_CALLS * 5)

    ratio_one, ratio_many = sk_one / ort_one, sk_many / ort_many
    verdict = "ok" if ratio_one >= SINGLE_ROW_TARGET else "BELOW TARGET"
    parity = exported.record["parity"]
    opset = ", ".join(
        f"{d or 'ai.onnx'} {v}" for d, v in exported.record["opset"].items()
    )
    print(f"{name} ({len(payload) / 1024:,.0f} KiB ONNX, opset {opset})")
    print(
        f"  parity on {parity['rows']} test rows: labels identical "
        f"{parity.get('labels_identical')}, max probability difference "
        f"{parity.get('max_probability_difference', 0):.2g}"
    )
    print(
        f"  1 row:     scikit-learn {sk_one * 1e3:8.3f} ms | onnxruntime "
        f"{ort_one * 1e3:8.3f} ms | {ratio_one:6.1f}x "
        f"(target >= {SINGLE_ROW_TARGET:g}x: {verdict})"
    )
    print(
        f"  {BATCH_ROWS} rows: scikit-learn {sk_many * 1e3:8.3f} ms | onnxruntime "
        f"{ort_many * 1e3:8.3f} ms | {ratio_many:6.1f}x"
    )
    print(f"  same answers on every timed input: {'yes' if same else 'NO'}")
    note = "" if same else "onnxruntime and scikit-learn answered differently"
    return [
        Figure(
            f"ONNX {name}, 1 row",
            ort_one * 1e3,
            "ms",
            "scikit-learn Pipeline",
            sk_one * 1e3,
            target=f">= {SINGLE_ROW_TARGET:g}x faster",
            met=ratio_one >= SINGLE_ROW_TARGET and same,
            note=note,
        ),
        Figure(
            f"ONNX {name}, {BATCH_ROWS} rows",
            ort_many * 1e3,
            "ms",
            "scikit-learn Pipeline",
            sk_many * 1e3,
            note=note,
        ),
    ]


def run(estimators: list[str]) -> list[Figure]:
    """Time each estimator's ONNX export against its Pipeline; print and return."""
    penguins = load_penguins().sample(frac=1.0, random_state=11).reset_index(drop=True)
    train, test = penguins.iloc[:240], penguins.iloc[240:].reset_index(drop=True)
    print(
        f"data: penguins, {len(train)} rows to train, {len(test)} test rows; "
        f"onnxruntime {onnxruntime.__version__}, 1 thread"
    )
    figures: list[Figure] = []
    for name in estimators:
        figures += bench_estimator(name, train, test)
    return figures


def main(argv: list[str] | None = None) -> None:
    """Parse the command line and run the benchmark."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--estimators",
        default="logistic_regression,random_forest,hist_gradient_boosting",
        help="comma-separated classifier names (default: %(default)s)",
    )
    args = parser.parse_args(argv)
    print_table(run([name.strip() for name in args.estimators.split(",")]))


if __name__ == "__main__":
    main()
