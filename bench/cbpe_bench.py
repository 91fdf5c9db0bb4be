"""Estimated performance (CBPE) side by side with NannyML's (run by ``make bench``).

The data is NannyML's own synthetic binary-classification sample (the
work-from-home data of its documentation, shipped inside the ``nannyml`` package):
50,000 reference rows with labels, 50,000 analysis rows whose labels come apart.

* **Accuracy of the estimates**: both libraries fit on the reference rows (ours:
  :func:`~mlops_suite.monitoring.calibrator.fit_calibrator`, what the evaluation
  step does on the test split) and estimate ROC AUC and accuracy for each chunk of
  5,000 analysis rows. For every chunk the table shows our estimate, NannyML's and
  the realized value from the labels, then each library's mean absolute error.
* **Speed**: both fit on the reference, then estimate every chunk of 1M rows (the
  analysis rows repeated 20 times), in memory, each in its own process; fit and
  estimate are timed apart, since ours fits once at training time and NannyML
  fits where it monitors. Our full timeline (``build_timeline`` reading a
  1M-row Parquet file: drift of the 7 features plus the estimates) is timed too.

NannyML is a ``bench`` extra (``pip install .[bench]``), never a runtime dependency:
it pulls in telemetry, plotly, lightgbm, xgboost, s3fs and gcsfs, which would change
the environment the suite's tests run in. So it runs in the running interpreter if
that has it, else in a virtualenv of its own, ``build/bench-nannyml``, which
``make bench-nannyml`` (``--install-nannyml``) creates once with the extra's
requirement pinned by ``constraints.txt`` like the suite; without either, the
comparison is skipped and says how to install it. NannyML's telemetry is switched
off (``NML_DISABLE_USAGE_LOGGING``).

Target: an error no larger than NannyML's, estimating at 10x its speed. Each timing
is the best of three runs; timings are printed, never asserted: a shared machine
makes them noisy.

``--memory-rows 10000000`` instead measures the peak RSS of a timeline of a 10M-row
log with 20 features (target < 1.5 GB): memory must not grow with the row count.

Usage::

    .venv/bin/python bench/cbpe_bench.py [--rows 1000000] [--chunk-size 5000]
    .venv/bin/python bench/cbpe_bench.py --memory-rows 10000000
    .venv/bin/python bench/cbpe_bench.py --install-nannyml
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import tomllib
from pathlib import Path

from table import Figure, print_table

ROOT = Path(__file__).resolve().parents[1]
NANNYML_VENV = ROOT / "build" / "bench-nannyml"
METRICS = ("roc_auc", "accuracy")
LABEL = "work_home_actual"
SPEED_TARGET = 10.0
# Each timing is the best of this many runs: other work on the machine only slows.
TIMING_RUNS = 3


# --------------------------------------------------------------- NannyML's side
def nannyml_worker(folder: Path, rows: int, chunk_size: int) -> None:
    """Run in NannyML's interpreter: export the data, estimate, time, write JSON."""
    os.environ["NML_DISABLE_USAGE_LOGGING"] = "1"
    import nannyml as nml
    import pandas as pd

    reference, analysis, targets = nml.load_synthetic_binary_classification_dataset()
    reference.to_parquet(folder / "reference.parquet")
    analysis.merge(targets, on="id").to_parquet(folder / "analysis.parquet")

    def cbpe() -> object:
        return nml.CBPE(
            y_pred_proba="y_pred_proba",
            y_pred="y_pred",
            y_true=LABEL,
            problem_type="classification_binary",
            metrics=list(METRICS),
            chunk_size=chunk_size,
        )

    estimator = cbpe()
    estimator.fit(reference)
    table = estimator.estimate(analysis).filter(period="analysis").to_df()
    estimates = {name: table[(name, "value")].tolist() for name in METRICS}

    repeats = -(-rows // len(analysis))
    big = pd.concat([analysis] * repeats, ignore_index=True).iloc[:rows]
    fit = estimate = float("inf")
    for _ in range(TIMING_RUNS):
        started = time.perf_counter()
        estimator = cbpe()
        estimator.fit(reference)
        fitted = time.perf_counter()
        estimator.estimate(big)
        fit = min(fit, fitted - started)
        estimate = min(estimate, time.perf_counter() - fitted)
    (folder / "nannyml.json").write_text(
        json.dumps(
            {
                "estimates": estimates,
                "fit": fit,
                "estimate": estimate,
                "version": nml.__version__,
            }
        )
    )


# How to get NannyML when neither this interpreter nor the bench venv has it.
INSTALL_HINT = "make bench-nannyml (or pip install '.[bench]')"


def nannyml_python() -> str | None:
    """An interpreter with NannyML: this one if it has it, else the bench venv's."""
    try:
        import nannyml  # noqa: F401
    except ImportError:
        pass
    else:
        return sys.executable
    python = NANNYML_VENV / "bin" / "python"
    probe = [str(python), "-c", "import nannyml, pyarrow"]
    if python.exists() and subprocess.run(probe, capture_output=True).returncode == 0:
        return str(python)
    return None


def install_nannyml() -> str:
    """Create ``build/bench-nannyml`` with the bench extra; return its interpreter."""
    python = NANNYML_VENV / "bin" / "python"
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"][
        "optional-dependencies"
    ]["bench"]
    print(f"installing {', '.join(extras)} into {NANNYML_VENV} (once) ...")
    subprocess.run([sys.executable, "-m", "venv", str(NANNYML_VENV)], check=True)
    subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", "-c", "constraints.txt"]
        + [*extras, "pyarrow"],
        check=True,
        cwd=ROOT,
    )
    return str(python)


# ------------------------------------------------------------------ our side
def our_estimates(folder: Path, chunk_size: int) -> tuple[dict, dict]:
    """Our estimates and the realized values per chunk of the analysis rows."""
    import pandas as pd

    from mlops_suite.evaluation.metrics import accuracy_and_f1, ovr_roc_auc
    from mlops_suite.monitoring.calibrator import fit_calibrator
    from mlops_suite.monitoring.estimation import estimate_performance

    reference = pd.read_parquet(folder / "reference.parquet")
    analysis = pd.read_parquet(folder / "analysis.parquet")
    calibrator = fit_calibrator(_proba(reference), reference[LABEL].to_numpy(), [0, 1])
    proba = _proba(analysis)
    calibrated = calibrator.calibrate(proba)
    predicted = analysis["y_pred"].to_numpy()
    truth = analysis[LABEL].to_numpy()
    ours: dict[str, list[float]] = {name: [] for name in METRICS}
    realized: dict[str, list[float]] = {name: [] for name in METRICS}
    for start in range(0, len(analysis), chunk_size):
        rows = slice(start, start + chunk_size)
        estimated = estimate_performance(proba[rows], calibrated[rows], predicted[rows])
        actual = {
            **accuracy_and_f1(truth[rows], predicted[rows]),
            "roc_auc": ovr_roc_auc(truth[rows], proba[rows]),
        }
        for name in METRICS:
            ours[name].append(float(estimated[name]))
            realized[name].append(float(actual[name]))
    print(f"our calibrator: {calibrator.method} (kept if it lowers the Brier score)")
    return ours, realized


def our_seconds(folder: Path, rows: int, chunk_size: int) -> tuple[float, float, float]:
    """Fit, then estimate ``rows`` rows in memory; and the timeline from Parquet."""
    import numpy as np
    import pandas as pd

    from mlops_suite.data.statistics import compute_statistics
    from mlops_suite.monitoring.calibrator import fit_calibrator
    from mlops_suite.monitoring.chunking import Chunking
    from mlops_suite.monitoring.estimation import ExpectedConfusion
    from mlops_suite.monitoring.monitored_model import MonitoredModel
    from mlops_suite.monitoring.performance_reference import (
        MetricSpread,
        PerformanceReference,
    )
    from mlops_suite.monitoring.timeline import build_timeline

    reference = pd.read_parquet(folder / "reference.parquet")
    analysis = pd.read_parquet(folder / "analysis.parquet")
    repeats = -(-rows // len(analysis))
    big = pd.concat([analysis] * repeats, ignore_index=True).iloc[:rows]

    fit = estimate = float("inf")
    for _ in range(TIMING_RUNS):
        started = time.perf_counter()
        calibrator = fit_calibrator(
            _proba(reference), reference[LABEL].to_numpy(), [0, 1]
        )
        fitted = time.perf_counter()
        proba = _proba(big)
        calibrated = calibrator.calibrate(proba)
        predicted = big["y_pred"].to_numpy().astype(np.intp)
        for start in range(0, rows, chunk_size):
            chunk = slice(start, start + chunk_size)
            tally = ExpectedConfusion(2)
            tally.add(proba[chunk], calibrated[chunk], predicted[chunk])
            tally.estimates()
        fit = min(fit, fitted - started)
        estimate = min(estimate, time.perf_counter() - fitted)

    features = [
        "distance_from_office",
        "salary_range",
        "gas_price_per_litre",
        "public_transportation_cost",
        "wfh_prev_workday",
        "workday",
        "tenure",
    ]
    logged = big[features].copy()
    logged["prediction"] = big["y_pred"]
    logged["proba_0"], logged["proba_1"] = proba[:, 0], proba[:, 1]
    path = folder / "log.parquet"
    logged.to_parquet(path)
    model = MonitoredModel(
        metadata={
            "task": "classification",
            "classes": [0, 1],
            "features": [{"name": name} for name in features],
        },
        name="work-from-home",
        reference=PerformanceReference(
            "classification", 50_000, chunk_size, {"roc_auc": MetricSpread(0.97, 0.004)}
        ),
        calibrator=calibrator,
    )
    statistics = compute_statistics(reference[features])
    timeline = float("inf")
    for _ in range(TIMING_RUNS):
        started = time.perf_counter()
        build_timeline(
            str(path),
            chunking=Chunking(size=chunk_size),
            statistics=statistics,
            model=model,
            features=features,
        )
        timeline = min(timeline, time.perf_counter() - started)
    return fit, estimate, timeline


def _proba(frame):  # type: ignore[no-untyped-def]
    import numpy as np

    score = frame["y_pred_proba"].to_numpy(dtype=np.float64)
    return np.column_stack([1.0 - score, score])


# ------------------------------------------------------------------ memory
MEMORY_FEATURES = 20
MEMORY_CHUNK_ROWS = 100_000
# Rows generated and written per step, so writing 10M rows stays small in memory.
WRITE_ROWS = 500_000
MEMORY_TARGET_GB = 1.5


def write_log(path: Path, rows: int) -> None:
    """A log of ``rows`` rows: 16 numeric, 4 categorical features, proba, prediction."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    writer = None
    for start in range(0, rows, WRITE_ROWS):
        size = min(WRITE_ROWS, rows - start)
        rng = np.random.default_rng(start)
        columns = {f"num_{i:02d}": rng.normal(i, 1 + i, size) for i in range(16)}
        for i in range(4):
            columns[f"cat_{i}"] = rng.choice(["a", "b", "c", "d"], size)
        score = rng.beta(2, 2, size)
        columns["proba_0"], columns["proba_1"] = 1 - score, score
        columns["prediction"] = (score > 0.5).astype(np.int64)
        table = pa.table(columns)
        if writer is None:
            writer = pq.ParquetWriter(path, table.schema)
        writer.write_table(table)
    assert writer is not None
    writer.close()


def memory_child(path: Path) -> None:
    """Run in a fresh process: the timeline of ``path``; print the peak RSS."""
    import resource

    import pyarrow.parquet as pq

    from mlops_suite.data.statistics import compute_statistics
    from mlops_suite.monitoring.calibrator import IDENTITY, Calibrator
    from mlops_suite.monitoring.chunking import Chunking
    from mlops_suite.monitoring.monitored_model import MonitoredModel
    from mlops_suite.monitoring.performance_reference import (
        MetricSpread,
        PerformanceReference,
    )
    from mlops_suite.monitoring.timeline import build_timeline

    first = next(pq.ParquetFile(path).iter_batches(batch_size=100_000)).to_pandas()
    features = [c for c in first.columns if c.startswith(("num_", "cat_"))]
    model = MonitoredModel(
        metadata={
            "task": "classification",
            "classes": [0, 1],
            "features": [{"name": name} for name in features],
        },
        name="memory",
        reference=PerformanceReference(
            "classification", 10_000, 1_000, {"accuracy": MetricSpread(0.7, 0.01)}
        ),
        calibrator=Calibrator(classes=(0, 1), method=IDENTITY),
    )
    statistics = compute_statistics(first[features])
    del first
    started = time.perf_counter()
    timeline = build_timeline(
        str(path),
        chunking=Chunking(size=MEMORY_CHUNK_ROWS),
        statistics=statistics,
        model=model,
        features=features,
    )
    seconds = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux
    print(
        json.dumps({"seconds": seconds, "peak": peak, "chunks": len(timeline.chunks)})
    )


def run_memory(rows: int) -> list[Figure]:
    """Write a ``rows``-row log and measure the timeline's peak RSS in a child."""
    with tempfile.TemporaryDirectory(prefix="cbpe-memory-") as tmp:
        path = Path(tmp) / "log.parquet"
        write_log(path, rows)
        found = subprocess.run(
            [sys.executable, __file__, "--memory-child", str(path)],
            check=True,
            capture_output=True,
            text=True,
        )
    result = json.loads(found.stdout.strip().splitlines()[-1])
    gigabytes = result["peak"] / 1e9
    print(
        f"timeline of {rows:,} rows x {MEMORY_FEATURES} features (+ proba, "
        f"prediction) in {result['chunks']} chunks of {MEMORY_CHUNK_ROWS:,}: "
        f"{result['seconds']:.1f} s, peak RSS {gigabytes:.2f} GB (target "
        f"< {MEMORY_TARGET_GB} GB)"
    )
    return [
        Figure(
            f"monitoring timeline (CBPE), {rows:,} rows, peak RSS",
            gigabytes,
            "GB",
            target=f"< {MEMORY_TARGET_GB:g} GB",
            met=gigabytes < MEMORY_TARGET_GB,
        )
    ]


# ------------------------------------------------------------------ report
def _mean_error(estimates: list[float], realized: list[float]) -> float:
    pairs = list(zip(estimates, realized, strict=True))
    return sum(abs(a - b) for a, b in pairs) / len(pairs)


def run(rows: int, chunk_size: int) -> list[Figure]:
    """Our CBPE against NannyML's: accuracy per chunk and speed; print and return.

    Skipped, with a figure that says how to install NannyML, when no interpreter
    here has it.
    """
    python = nannyml_python()
    if python is None:
        print(
            f"CBPE against NannyML: skipped, NannyML is not installed ({INSTALL_HINT})"
        )
        return [
            Figure(
                "CBPE estimate, per chunk",
                None,
                "s",
                "NannyML CBPE",
                note=f"skipped: NannyML is not installed; {INSTALL_HINT}",
            )
        ]
    with tempfile.TemporaryDirectory(prefix="cbpe-bench-") as tmp:
        folder = Path(tmp)
        subprocess.run(
            [python, __file__, "--nannyml-worker", str(folder)]
            + ["--rows", str(rows), "--chunk-size", str(chunk_size)],
            check=True,
            env={**os.environ, "NML_DISABLE_USAGE_LOGGING": "1"},
        )
        theirs = json.loads((folder / "nannyml.json").read_text())
        ours, realized = our_estimates(folder, chunk_size)
        fit, estimate, timeline = our_seconds(folder, rows, chunk_size)

    print(
        f"NannyML {theirs['version']} synthetic binary classification sample, "
        f"chunks of {chunk_size:,} analysis rows"
    )
    errors = {}
    for name in METRICS:
        print(f"\n{name}:")
        print(f"  {'chunk':>5}  {'ours':>8}  {'nannyml':>8}  {'realized':>8}")
        nannyml = theirs["estimates"][name]
        for index, (a, b, c) in enumerate(
            zip(ours[name], nannyml, realized[name], strict=True)
        ):
            print(f"  {index:>5}  {a:8.4f}  {b:8.4f}  {c:8.4f}")
        mine = _mean_error(ours[name], realized[name])
        other = _mean_error(nannyml, realized[name])
        errors[name] = (mine, other)
        print(f"  mean absolute error: ours {mine:.6f}, NannyML {other:.6f}")
    ratio = theirs["estimate"] / estimate if estimate else float("inf")
    total = (theirs["fit"] + theirs["estimate"]) / (fit + estimate)
    print(
        f"\nin memory, {rows:,} rows in chunks of {chunk_size:,}:\n"
        f"  fit on the 50,000 reference rows: ours {fit:.2f} s, NannyML "
        f"{theirs['fit']:.2f} s (ours runs once, at training time)\n"
        f"  estimate every chunk: ours {estimate:.2f} s, NannyML "
        f"{theirs['estimate']:.2f} s: {ratio:.1f}x faster (fit + estimate: "
        f"{total:.1f}x)"
    )
    print(
        f"our full timeline from Parquet ({rows:,} rows, drift of 7 features "
        f"and the estimates): {timeline:.2f} s"
    )
    figures = [
        Figure(
            f"CBPE {name} mean absolute error",
            errors[name][0],
            "",
            "NannyML CBPE",
            errors[name][1],
            target="<= NannyML's",
            met=errors[name][0] <= errors[name][1] + 1e-9,
        )
        for name in METRICS
    ]
    figures.append(
        Figure(
            f"CBPE estimate, {rows:,} rows",
            estimate,
            "s",
            "NannyML CBPE",
            theirs["estimate"],
            target=f">= {SPEED_TARGET:g}x faster",
            met=ratio >= SPEED_TARGET,
        )
    )
    figures.append(
        Figure(f"monitoring timeline from Parquet, {rows:,} rows", timeline, "s")
    )
    return figures


def main() -> None:
    """Parse the command line and run the benchmark."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--chunk-size", type=int, default=5_000)
    parser.add_argument(
        "--memory-rows",
        type=int,
        help="instead, the peak memory of a timeline of this many rows",
    )
    parser.add_argument(
        "--install-nannyml",
        action="store_true",
        help=f"create {NANNYML_VENV.relative_to(ROOT)} with the bench extra, then stop",
    )
    parser.add_argument("--nannyml-worker", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--memory-child", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.nannyml_worker is not None:
        nannyml_worker(args.nannyml_worker, args.rows, args.chunk_size)
    elif args.memory_child is not None:
        memory_child(args.memory_child)
    elif args.install_nannyml:
        print(f"NannyML is in {nannyml_python() or install_nannyml()}")
    elif args.memory_rows is not None:
        print_table(run_memory(args.memory_rows))
    else:
        print_table(run(args.rows, args.chunk_size))


if __name__ == "__main__":
    main()
