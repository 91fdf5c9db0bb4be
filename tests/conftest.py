"""Fixtures shared by every test tier: small tables a test can reason about, and a
webhook on 127.0.0.1 for the run-end notifications."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import numpy as np
import pandas as pd
import pytest


@pytest.fixture(scope="session")
def penguins() -> pd.DataFrame:
    """The Palmer penguins table, read from the installed ``palmerpenguins`` package."""
    from palmerpenguins import load_penguins

    return load_penguins()


@pytest.fixture(scope="session")
def penguin_splits(penguins: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Shuffled penguins: 240 rows to train on, the other 104 to predict."""
    shuffled = penguins.sample(frac=1.0, random_state=11).reset_index(drop=True)
    return shuffled.iloc[:240].copy(), shuffled.iloc[240:].copy()


@pytest.fixture
def mixed_frame() -> pd.DataFrame:
    """A table the demo never uses: numeric, boolean, string features; float 0/1 label.

    The label depends on ``income`` and ``member`` so a model can learn it; a few values
    are missing in every feature kind.
    """
    rng = np.random.default_rng(7)
    n = 240
    income = rng.normal(50_000, 12_000, n)
    member = rng.random(n) < 0.4
    region = rng.choice(["north", "south", "east", "west"], n)
    visits = rng.poisson(3, n).astype(float)
    score = income / 10_000 + member * 2.0 + rng.normal(0, 0.8, n)
    churned = (score > np.median(score)).astype(float)
    frame = pd.DataFrame(
        {
            "income": income,
            "member": member,
            "region": region,
            "visits": visits,
            "churned": churned,
        }
    )
    frame.loc[[3, 17, 42], "income"] = np.nan
    frame.loc[[5, 99], "region"] = None
    frame.loc[[8], "visits"] = np.nan
    return frame


@pytest.fixture(autouse=True)
def _logging_as_it_was() -> Iterator[None]:
    """Undo logging set up during a test: every logger's handlers and level.

    A command run in-process may configure logging for the life of its process
    (``mlops monitor sink`` does), and a library may attach a handler to whatever
    ``sys.stderr`` was when it first logged; in a test that is the test's captured
    stream, closed when the test ends, and every later record of that logger would
    print a "Logging error" traceback into another test's output.
    """
    before = _logging_state()
    yield
    manager = logging.Logger.manager
    for name, logger in [("", logging.getLogger()), *manager.loggerDict.items()]:
        if not isinstance(logger, logging.Logger):
            continue
        handlers, level = before.get(name, ([], logging.NOTSET))
        # pytest's own capture handlers come and go with each phase of the test.
        logger.handlers[:] = handlers + [h for h in logger.handlers if _pytest_owns(h)]
        logger.setLevel(level)


def _logging_state() -> dict[str, tuple[list[logging.Handler], int]]:
    """Each logger's handlers and level, by name (the root logger as "")."""
    manager = logging.Logger.manager
    state = {"": (list(logging.getLogger().handlers), logging.getLogger().level)}
    for name, logger in manager.loggerDict.items():
        if isinstance(logger, logging.Logger):
            state[name] = (list(logger.handlers), logger.level)
    return {
        name: ([h for h in handlers if not _pytest_owns(h)], level)
        for name, (handlers, level) in state.items()
    }


def _pytest_owns(handler: logging.Handler) -> bool:
    return type(handler).__module__.startswith("_pytest")


@pytest.fixture
def webhook() -> Iterator[Any]:
    """A webhook on 127.0.0.1 (``tests/support/webhook_receiver.py``), stopped after."""
    from webhook_receiver import receiving

    with receiving() as receiver:
        yield receiver
