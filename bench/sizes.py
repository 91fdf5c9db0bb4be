"""The benchmark's sizes: defaults for the full run, scaled or set by variables.

``BENCH_SCALE`` multiplies every row count (``make bench-quick`` sets it to a
small fraction); ``BENCH_<NAME>`` sets one size outright, whatever the scale.
"""

from __future__ import annotations

import os

SCALE_ENV = "BENCH_SCALE"


def scale() -> float:
    """The factor on every row count (1 unless ``BENCH_SCALE`` says otherwise)."""
    text = os.environ.get(SCALE_ENV, "").strip()
    if not text:
        return 1.0
    try:
        value = float(text)
    except ValueError:
        raise SystemExit(
            f"{SCALE_ENV}={text!r} is not a number; expected e.g. 0.01"
        ) from None
    if value <= 0:
        raise SystemExit(f"{SCALE_ENV}={text!r}; expected a number above 0")
    return value


def rows(name: str, default: int, minimum: int = 1_000) -> int:
    """A row count: ``BENCH_<name>`` if set, else ``default`` times the scale.

    Args:
        name: The size's name, e.g. ``DRIFT_ROWS`` (read from ``BENCH_DRIFT_ROWS``).
        default: The full run's row count.
        minimum: The smallest count a scaled run uses.
    """
    text = os.environ.get(f"BENCH_{name}", "").strip()
    if text:
        return _count(name, text)
    return max(minimum, round(default * scale()))


def row_list(name: str, defaults: tuple[int, ...], minimum: int = 1_000) -> list[int]:
    """Several row counts: ``BENCH_<name>`` as ``100000,1000000``, else scaled."""
    text = os.environ.get(f"BENCH_{name}", "").strip()
    if text:
        return [_count(name, part) for part in text.split(",") if part.strip()]
    return [max(minimum, round(value * scale())) for value in defaults]


def number(name: str, default: float) -> float:
    """A number (seconds, rounds): ``BENCH_<name>`` if set, else ``default``."""
    text = os.environ.get(f"BENCH_{name}", "").strip()
    if not text:
        return default
    try:
        return float(text)
    except ValueError:
        raise SystemExit(f"BENCH_{name}={text!r} is not a number") from None


def _count(name: str, text: str) -> int:
    try:
        value = int(text.replace("_", "").strip())
    except ValueError:
        raise SystemExit(
            f"BENCH_{name}={text!r} is not a row count; expected e.g. 100000"
        ) from None
    if value < 1:
        raise SystemExit(f"BENCH_{name}={text!r}; expected at least 1 row")
    return value
