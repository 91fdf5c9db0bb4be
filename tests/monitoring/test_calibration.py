"""The default thresholds against the cases the drift docstring documents.

Effect sizes, not p-values: a million rows of unchanged data must stay quiet, and a
half-standard-deviation shift or a 0.2 change of one value's share must be flagged
at 2k rows as at 1M.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mlops_suite.monitoring import detect_drift

SHARES = [0.4, 0.3, 0.2, 0.1]


def _frame(rows: int, seed: int, *, shift: float = 0.0, share: float = 0.0):
    rng = np.random.default_rng(seed)
    shares = [SHARES[0] - share, SHARES[1] + share, *SHARES[2:]]
    return pd.DataFrame(
        {
            "x": rng.normal(shift, 1.0, rows),
            "c": rng.choice(list("abcd"), rows, p=shares),
        }
    )


@pytest.fixture(scope="module")
def million():
    return _frame(1_000_000, 1)


def test_a_million_unchanged_rows_flag_nothing(million):
    report = detect_drift(million, _frame(1_000_000, 2))

    assert not report.drifted
    assert report.features["x"].score < 0.005
    assert report.features["c"].score < 0.003


def test_a_million_rows_with_real_changes_are_flagged(million):
    report = detect_drift(million, _frame(1_000_000, 2, shift=0.5, share=0.2))

    assert report.drifted_features == ["x", "c"]
    assert report.features["x"].score == pytest.approx(0.21, abs=0.01)
    assert report.features["c"].score == pytest.approx(0.2, abs=0.005)
    psi = detect_drift(million, _frame(1_000_000, 2, shift=0.5), numeric_metric="psi")
    assert psi.features["x"].score == pytest.approx(0.25, abs=0.02)


@pytest.mark.parametrize("seed", range(10))
def test_small_windows_separate_noise_from_change(seed):
    reference = _frame(2_000, 100 + seed)

    same = detect_drift(reference, _frame(2_000, 200 + seed))
    changed = detect_drift(reference, _frame(2_000, 200 + seed, shift=0.5, share=0.2))

    assert not same.drifted
    assert same.features["x"].score < 0.1
    assert changed.drifted_features == ["x", "c"]
    assert changed.features["x"].score > 0.17
