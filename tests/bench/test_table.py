"""The benchmark's table and sizes: ratios, verdicts, skipped figures, scaling."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"


def _load(name: str) -> ModuleType:
    # The bench scripts import each other by name, as `python bench/x.py` does.
    spec = importlib.util.spec_from_file_location(name, BENCH / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


table = _load("table")
sizes = _load("sizes")


def test_a_figure_stands_beside_its_baseline_with_the_ratio_and_verdict() -> None:
    figures = [
        table.Figure(
            "drift, whole process",
            3.0,
            "s",
            "pyarrow read",
            1.25,
            target="<= 2x",
            met=False,
        ),
        table.Figure(
            "ONNX, 1 row", 0.05, "ms", "scikit-learn", 5.0, target=">= 10x", met=True
        ),
        table.Figure("peak RSS", 0.4321, "GB"),
    ]

    lines = table.format_table(figures).splitlines()

    assert lines[0].split() == ["figure", "value", "baseline", "ratio", "target"]
    assert set(lines[1]) <= {"-", " "}
    assert lines[2].split("  ")[0] == "drift, whole process"
    assert "3.00 s" in lines[2] and "pyarrow read: 1.25 s" in lines[2]
    assert "2.40x" in lines[2] and lines[2].endswith("MISSED")
    assert "0.0100x (1/100)" in lines[3] and lines[3].endswith("ok")
    assert lines[4].split() == ["peak", "RSS", "0.432", "GB", "-"]
    # Columns line up: every row's value starts where the header's does.
    start = lines[0].index("value")
    assert {line[start - 2 : start] for line in lines[2:]} == {"  "}


def test_a_skipped_figure_says_why_under_the_table() -> None:
    skipped = table.Figure(
        "CBPE", None, "s", "NannyML", note="skipped: make bench-nannyml"
    )

    text = table.format_table([skipped])

    row = text.splitlines()[2]
    assert row.split()[:3] == ["CBPE", "-", "NannyML"]
    assert row.endswith("skipped")
    assert text.endswith("CBPE: skipped: make bench-nannyml")


@pytest.mark.parametrize(
    ("value", "shown"),
    [(1234.5, "1,234"), (12.345, "12.3"), (0.0512, "0.0512"), (0.0, "0")],
)
def test_numbers_keep_three_significant_digits(value: float, shown: str) -> None:
    assert table.number(value) == shown


def test_sizes_scale_unless_set_one_by_one(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BENCH_SCALE", "0.01")
    monkeypatch.setenv("BENCH_PIPELINE_ROWS", "5000,20_000")

    assert sizes.rows("DRIFT_ROWS", 1_000_000) == 10_000
    assert sizes.rows("CBPE_ROWS", 1_000_000, minimum=50_000) == 50_000
    assert sizes.row_list("PIPELINE_ROWS", (100_000, 1_000_000)) == [5_000, 20_000]


def test_a_size_that_is_not_a_count_stops_with_its_name(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("BENCH_DRIFT_ROWS", "a million")

    with pytest.raises(SystemExit, match="BENCH_DRIFT_ROWS='a million' is not a row"):
        sizes.rows("DRIFT_ROWS", 1_000_000)
