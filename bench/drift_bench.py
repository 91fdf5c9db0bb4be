"""Benchmark drift detection against a plain Parquet read (run by ``make bench``).

Writes a reference and a current Parquet file (16 numeric and 4 categorical columns,
some of them drifted) to a temporary folder, then, each in a fresh child process so
each peak RSS is that run's own:

* baseline: ``pyarrow.parquet.read_table`` of both files;
* drift: ``detect_drift(reference_file, current_file)``, the full report.

It prints both times, their ratio (target <= 3x) and the drift run's peak RSS.
``--memory-rows 10000000`` instead measures the peak RSS of a drift run on 10M-row
files (target < 1.5 GB): memory must not grow with the row count. Timings are
printed, never asserted: a shared machine makes them noisy.

Usage::

    .venv/bin/python bench/drift_bench.py [--rows 1000000] [--memory-rows N]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

NUMERIC_COLUMNS = 16
CATEGORICAL_COLUMNS = 4
# Rows generated and written per step, so writing 10M rows stays small in memory.
CHUNK_ROWS = 500_000
# Columns the current file changes, and how: the drift report should name these.
DRIFTED = {
    "num_00": "mean +0.5 std",
    "num_05": "std x1.5",
    "num_10": "40% missing",
    "cat_01": "share of one value +0.2",
    "cat_03": "new value in 15% of rows",
}
TIME_TARGET = 3.0
MEMORY_TARGET_GB = 1.5


def _chunk(rows: int, seed: int, drift: bool) -> pa.Table:
    rng = np.random.default_rng(seed)
    columns: dict[str, pa.Array] = {}
    for i in range(NUMERIC_COLUMNS):
        name = f"num_{i:02d}"
        if i % 4 == 0:
            values = rng.normal(i, 1.0 + i, rows)
            if drift and name == "num_00":
                values += 0.5 * (1.0 + i)
        elif i % 4 == 1:
            values = rng.gamma(2.0 + i, 1.0, rows)
            if drift and name == "num_05":
                values = (values - (2.0 + i)) * 1.5 + (2.0 + i)
        elif i % 4 == 2:
            values = rng.uniform(-i, i + 1.0, rows)
        else:
            values = rng.poisson(3 + i, rows).astype(np.float64)
        mask = None
        if drift and name == "num_10":
            mask = rng.random(rows) < 0.4
        columns[name] = pa.array(values, mask=mask)
    for j in range(CATEGORICAL_COLUMNS):
        name = f"cat_{j:02d}"
        words = np.array([f"value_{k:02d}" for k in range(8 + 8 * j)])
        weights = np.linspace(2.0, 1.0, words.size)
        if drift and name == "cat_01":
            weights = weights / weights.sum() * 0.8
            weights[0] += 0.2
        picked = words[rng.choice(words.size, rows, p=weights / weights.sum())]
        if drift and name == "cat_03":
            picked = np.where(rng.random(rows) < 0.15, "brand_new", picked)
        columns[name] = pa.array(picked)
    return pa.table(columns)


def write_table(path: Path, rows: int, seed: int, drift: bool) -> None:
    """Write a synthetic table chunk by chunk."""
    writer: pq.ParquetWriter | None = None
    try:
        for step, start in enumerate(range(0, rows, CHUNK_ROWS)):
            table = _chunk(min(CHUNK_ROWS, rows - start), seed * 100_003 + step, drift)
            if writer is None:
                writer = pq.ParquetWriter(path, table.schema)
            writer.write_table(table)
    finally:
        if writer is not None:
            writer.close()


@dataclass(frozen=True)
class Measurement:
    """What a child process reports about its job."""

    seconds: float
    peak_rss_bytes: int
    drifted: list[str]

    @property
    def peak_rss(self) -> str:
        """The peak RSS for people, in MB (10^6 bytes) and GB."""
        if self.peak_rss_bytes >= 10**9:
            return f"{self.peak_rss_bytes / 1e9:.2f} GB"
        return f"{self.peak_rss_bytes / 1e6:.0f} MB"


def _peak_rss_bytes() -> int:
    # Linux reports ru_maxrss in KiB.
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def child(mode: str, reference: str, current: str, repeat: int) -> None:
    """Run one measured job in this process and print its result as JSON.

    The job runs ``repeat`` times and the fastest run counts, so a neighbour's
    burst on a shared machine does not decide the ratio; the peak RSS is the
    process's, i.e. that of the largest run.
    """
    best = float("inf")
    drifted: list[str] = []
    if mode == "read":
        # Warm the page cache and Arrow's allocator, as the drift runs find them.
        pq.read_table(reference)
        pq.read_table(current)
    else:
        from mlops_suite.monitoring import detect_drift
    for _ in range(repeat):
        start = time.perf_counter()
        if mode == "read":
            for path in (reference, current):
                pq.read_table(path)
        else:
            drifted = detect_drift(reference, current).drifted_features
        best = min(best, time.perf_counter() - start)
    result = Measurement(best, _peak_rss_bytes(), drifted)
    print(json.dumps(asdict(result)))


def _measure(mode: str, reference: Path, current: Path, repeat: int) -> Measurement:
    command = [sys.executable, __file__, "--child", mode, str(reference), str(current)]
    output = subprocess.run(
        [*command, "--repeat", str(repeat)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return Measurement(**json.loads(output.strip().splitlines()[-1]))


def _files(folder: Path, rows: int) -> tuple[Path, Path]:
    reference, current = folder / "reference.parquet", folder / "current.parquet"
    start = time.perf_counter()
    write_table(reference, rows, seed=1, drift=False)
    write_table(current, rows, seed=2, drift=True)
    size = (reference.stat().st_size + current.stat().st_size) / 2**20
    print(
        f"data: {rows:,} rows x {NUMERIC_COLUMNS + CATEGORICAL_COLUMNS} columns "
        f"({NUMERIC_COLUMNS} numeric, {CATEGORICAL_COLUMNS} categorical), 2 files, "
        f"{size:,.0f} MiB, written in {time.perf_counter() - start:.1f} s"
    )
    print(f"expected drift: {', '.join(f'{k} ({v})' for k, v in DRIFTED.items())}")
    return reference, current


def run_speed(rows: int, repeat: int) -> None:
    """Time a plain read of both files and a full drift report on them."""
    with tempfile.TemporaryDirectory(prefix="drift-bench-") as folder:
        reference, current = _files(Path(folder), rows)
        read = _measure("read", reference, current, repeat)
        drift = _measure("drift", reference, current, repeat)
    ratio = drift.seconds / read.seconds
    print(
        f"baseline pyarrow read_table of both files: {read.seconds:.2f} s "
        f"(peak RSS {read.peak_rss})"
    )
    print(
        f"drift report on the same files:           {drift.seconds:.2f} s "
        f"(peak RSS {drift.peak_rss})"
    )
    verdict = "ok" if ratio <= TIME_TARGET else "ABOVE TARGET"
    print(
        f"time ratio drift / read: {ratio:.2f}x (target <= {TIME_TARGET:g}x: {verdict})"
    )
    print(f"drifted features found: {', '.join(drift.drifted) or 'none'}")


def run_memory(rows: int) -> None:
    """Measure the peak RSS of a drift run on ``rows``-row files."""
    with tempfile.TemporaryDirectory(prefix="drift-bench-") as folder:
        reference, current = _files(Path(folder), rows)
        drift = _measure("drift", reference, current, 1)
    verdict = "ok" if drift.peak_rss_bytes < MEMORY_TARGET_GB * 1e9 else "ABOVE TARGET"
    print(
        f"drift report on {rows:,} rows: {drift.seconds:.1f} s, peak RSS "
        f"{drift.peak_rss} (target < {MEMORY_TARGET_GB:g} GB: {verdict})"
    )
    print(f"drifted features found: {', '.join(drift.drifted) or 'none'}")


def main(argv: list[str] | None = None) -> None:
    """Parse the command line and run the benchmark."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows per file")
    parser.add_argument(
        "--memory-rows",
        type=int,
        default=None,
        help="measure only the peak RSS of a drift run on files of this many rows",
    )
    parser.add_argument(
        "--repeat", type=int, default=3, help="timed runs of each job; the best counts"
    )
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        mode, reference, current = args.child
        child(mode, reference, current, args.repeat)
    elif args.memory_rows:
        run_memory(args.memory_rows)
    else:
        run_speed(args.rows, args.repeat)


if __name__ == "__main__":
    main()
