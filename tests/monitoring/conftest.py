"""Synthetic tables with known drift, and helpers to store them as files."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from world import WorldModel, fit_world_model

# The features the drifted table changes, and by how much a person would notice.
DRIFTED = ["income", "color"]

COLORS = ["red", "green", "blue"]
CITIES = ["Paris", "Lyon", "Nice", "Lille", "Metz", "Brest"]


def make_table(
    rows: int,
    seed: int,
    *,
    drift: bool = False,
    prediction: bool = False,
) -> pd.DataFrame:
    """A table of 7 features of every kind; ``drift`` moves exactly ``DRIFTED``.

    ``income`` shifts by half a standard deviation and ``color``'s first value loses
    0.2 of share to the second; the other features keep their distribution.
    """
    rng = np.random.default_rng(seed)
    income = rng.normal(50_000, 10_000, rows) + (5_000 if drift else 0)
    colors = [0.3, 0.5, 0.2] if drift else [0.5, 0.3, 0.2]
    wait = rng.exponential(2.0, rows)
    wait[rng.random(rows) < 0.02] = np.nan
    table = pd.DataFrame(
        {
            "income": income,
            "wait": wait,
            "score": rng.uniform(0, 100, rows),
            "visits": rng.poisson(4, rows),
            "color": rng.choice(COLORS, rows, p=colors),
            "city": rng.choice(CITIES, rows),
            "member": rng.random(rows) < 0.3,
        }
    )
    if prediction:
        share = 0.7 if drift else 0.4
        table["prediction"] = np.where(rng.random(rows) < share, "yes", "no")
    return table


@pytest.fixture(scope="session")
def table() -> Callable[..., pd.DataFrame]:
    """``make_table``, for tests to build tables of any size and drift."""
    return make_table


@pytest.fixture(scope="session")
def drifted() -> list[str]:
    """The features ``make_table(..., drift=True)`` moves, in column order."""
    return list(DRIFTED)


@pytest.fixture
def write_parquet(tmp_path: Path) -> Callable[[pd.DataFrame, str], Path]:
    """Write a frame as ``tmp_path/<name>`` Parquet and return the path."""

    def write(frame: pd.DataFrame, name: str) -> Path:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        frame.to_parquet(path, index=False)
        return path

    return write


@pytest.fixture(scope="session")
def world_model() -> WorldModel:
    """A classifier trained on ``make_world``, with its reference and calibrator."""
    return fit_world_model()
