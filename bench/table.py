"""The benchmark's figures, each beside its baseline, and the table that prints them."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Figure:
    """One measured figure and what it is measured against, in the same run.

    Attributes:
        name: What was measured.
        value: The measurement in ``unit``; None when it was skipped.
        unit: ``s``, ``ms``, ``req/s``, ``GB``...; the baseline has the same unit.
        baseline: What the figure is compared with; empty when nothing is.
        baseline_value: The baseline's measurement in ``unit``.
        target: The target on the ratio figure / baseline, e.g. ``<= 2x``.
        met: Whether the target was met; None without a target.
        note: Why the figure was skipped, or a remark.
    """

    name: str
    value: float | None
    unit: str
    baseline: str = ""
    baseline_value: float | None = None
    target: str = ""
    met: bool | None = None
    note: str = ""

    @property
    def ratio(self) -> float | None:
        """The figure over its baseline; None without both."""
        if self.value is None or not self.baseline_value:
            return None
        return self.value / self.baseline_value


def number(value: float) -> str:
    """Three significant digits, without an exponent for everyday magnitudes."""
    if value == 0 or not math.isfinite(value):
        return f"{value:g}"
    digits = max(0, 2 - int(math.floor(math.log10(abs(value)))))
    return f"{value:,.{digits}f}"


def ratio_text(ratio: float | None) -> str:
    """``2.31x``; well below 1 also as a fraction, ``0.011x (1/92)``."""
    if ratio is None:
        return ""
    if 0 < ratio < 0.5:
        return f"{number(ratio)}x (1/{number(1 / ratio)})"
    return f"{number(ratio)}x"


def _verdict(figure: Figure) -> str:
    if figure.value is None:
        return "skipped"
    if figure.met is None:
        return ""
    return "ok" if figure.met else "MISSED"


def format_table(figures: Sequence[Figure]) -> str:
    """The figures as an aligned text table, one row each, then the skipped ones' notes.

    Columns: figure, value, baseline (name and value), ratio, target, verdict.
    """
    head = ("figure", "value", "baseline", "ratio", "target", "")
    rows = [head]
    for figure in figures:
        value = "-" if figure.value is None else f"{number(figure.value)} {figure.unit}"
        baseline = figure.baseline
        if figure.baseline_value is not None:
            baseline += f": {number(figure.baseline_value)} {figure.unit}"
        rows.append(
            (
                figure.name,
                value,
                baseline or "-",
                ratio_text(figure.ratio),
                figure.target,
                _verdict(figure),
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(head))]
    lines = [
        "  ".join(
            cell.ljust(width) for cell, width in zip(row, widths, strict=True)
        ).rstrip()
        for row in rows
    ]
    lines.insert(1, "  ".join("-" * width for width in widths).rstrip())
    notes = [f"{f.name}: {f.note}" for f in figures if f.note]
    return "\n".join(lines + ([""] + notes if notes else []))


def print_table(figures: Sequence[Figure]) -> None:
    """Print :func:`format_table` under a rule."""
    print()
    print(format_table(figures))
