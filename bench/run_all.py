"""Every benchmark in one run, each figure beside its baseline (``make bench``).

Runs, in this order, each section measuring its figure and its baseline back to
back, then prints one table of all of them:

* drift: ``mlops monitor`` on 1M x 20 against a pyarrow read of both files, whole
  processes (``drift_bench.py``); its peak RSS at 10M rows;
* the local training pipeline against its core functions in one process, on
  penguins and on 100k synthetic rows; its wall time and peak RSS at 100k and 1M
  rows (``pipeline_bench.py``);
* ``mlops serve`` requests per second, single-row and 100-row V1, against kserve's
  ModelServer with a plain joblib model (``serve_bench.py``);
* ONNX Runtime's single-row and 1000-row latency against scikit-learn
  (``onnx_bench.py``);
* estimated performance (CBPE) against NannyML's, when NannyML is installed, and
  the monitoring timeline's peak RSS at 10M rows (``cbpe_bench.py``).

Sizes come from :mod:`sizes`: ``BENCH_SCALE`` scales every row count (``make
bench-quick`` runs at 1%), ``BENCH_<NAME>`` sets one (the names are printed first).
A section that fails is reported in the table and the others still run. Timings are
printed, never asserted: compare the ratios, measured back to back, more than the
seconds.
"""

from __future__ import annotations

import os
import platform
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, fields

import sizes
from table import Figure, format_table


@dataclass(frozen=True)
class Settings:
    """Every size of a run; each field is read from ``BENCH_<FIELD NAME>``."""

    drift_rows: int
    drift_memory_rows: int
    drift_repeat: int
    pipeline_compare_rows: int
    pipeline_rows: tuple[int, ...]
    serve_seconds: float
    serve_rounds: int
    onnx_estimators: tuple[str, ...]
    cbpe_rows: int
    cbpe_memory_rows: int

    @classmethod
    def from_environment(cls) -> Settings:
        """The full run's sizes, scaled by ``BENCH_SCALE``, or as set one by one."""
        quick = sizes.scale() < 1
        estimators = os.environ.get(
            "BENCH_ONNX_ESTIMATORS",
            "logistic_regression"
            if quick
            else "logistic_regression,random_forest,hist_gradient_boosting",
        )
        return cls(
            drift_rows=sizes.rows("DRIFT_ROWS", 1_000_000),
            drift_memory_rows=sizes.rows("DRIFT_MEMORY_ROWS", 10_000_000),
            drift_repeat=int(sizes.number("DRIFT_REPEAT", 3)),
            pipeline_compare_rows=sizes.rows("PIPELINE_COMPARE_ROWS", 100_000),
            pipeline_rows=tuple(sizes.row_list("PIPELINE_ROWS", (100_000, 1_000_000))),
            serve_seconds=sizes.number("SERVE_SECONDS", 1.0 if quick else 3.0),
            serve_rounds=int(sizes.number("SERVE_ROUNDS", 1 if quick else 2)),
            onnx_estimators=tuple(
                n.strip() for n in estimators.split(",") if n.strip()
            ),
            # NannyML's sample has 50,000 analysis rows: fewer would time nothing.
            cbpe_rows=sizes.rows("CBPE_ROWS", 1_000_000, minimum=50_000),
            cbpe_memory_rows=sizes.rows("CBPE_MEMORY_ROWS", 10_000_000),
        )

    def describe(self) -> str:
        """``BENCH_NAME=value`` for every field, as the variables that set them."""
        return ", ".join(
            f"BENCH_{field.name.upper()}={_shown(getattr(self, field.name))}"
            for field in fields(self)
        )


def _shown(value: object) -> str:
    if isinstance(value, tuple):
        return ",".join(str(item) for item in value)
    return str(value)


def _section(
    title: str, run: Callable[[], list[Figure]], figures: list[Figure]
) -> None:
    print(f"\n=== {title} ===", flush=True)
    started = time.perf_counter()
    try:
        figures += run()
    except Exception as error:  # one broken section must not hide the others
        traceback.print_exc()
        figures.append(
            Figure(title, None, "", note=f"failed: {type(error).__name__}: {error}")
        )
    print(f"({title}: {time.perf_counter() - started:.0f} s)", flush=True)


def main() -> None:
    """Run every section and print the table."""
    settings = Settings.from_environment()
    print(
        f"benchmark on {platform.node()}, {os.cpu_count()} CPUs, load average "
        f"{', '.join(f'{load:.1f}' for load in os.getloadavg())}; scale "
        f"{sizes.scale():g}"
    )
    print(f"sizes: {settings.describe()}")
    figures: list[Figure] = []
    started = time.perf_counter()

    import cbpe_bench
    import drift_bench
    import pipeline_bench
    import serve_bench

    def onnx() -> list[Figure]:
        import onnx_bench  # onnxruntime is the onnx extra: imported only here

        return onnx_bench.run(list(settings.onnx_estimators))

    _section(
        "drift against a pyarrow read",
        lambda: drift_bench.run_speed(settings.drift_rows, settings.drift_repeat),
        figures,
    )
    _section(
        "drift peak memory",
        lambda: drift_bench.run_memory(settings.drift_memory_rows),
        figures,
    )
    _section(
        "local training pipeline",
        lambda: pipeline_bench.run(
            settings.pipeline_compare_rows, list(settings.pipeline_rows)
        ),
        figures,
    )
    _section(
        "mlops serve against kserve's ModelServer",
        lambda: serve_bench.run(settings.serve_seconds, settings.serve_rounds),
        figures,
    )
    _section("ONNX Runtime against scikit-learn", onnx, figures)
    _section(
        "estimated performance (CBPE) against NannyML",
        lambda: cbpe_bench.run(settings.cbpe_rows, 5_000),
        figures,
    )
    _section(
        "monitoring timeline peak memory",
        lambda: cbpe_bench.run_memory(settings.cbpe_memory_rows),
        figures,
    )
    print(
        f"\n=== every figure beside its baseline, measured in this run "
        f"({(time.perf_counter() - started) / 60:.0f} min; load average now "
        f"{os.getloadavg()[0]:.1f}) ===\n"
    )
    print(format_table(figures))


if __name__ == "__main__":
    main()
