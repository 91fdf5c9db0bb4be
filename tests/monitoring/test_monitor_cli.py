"""``mlops monitor``: flags exactly the drifted features, exits as documented."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mlops_suite.cli import DRIFT_EXIT, main
from mlops_suite.data.statistics import compute_statistics


def frame(rng: np.random.Generator, n: int, *, shift: float = 0.0) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "age": rng.normal(40 + shift, 10, n),
            "income": rng.normal(50_000, 8_000, n),
            "plan": rng.choice(["basic", "plus", "pro"], n, p=[0.5, 0.3, 0.2]),
        }
    )


@pytest.fixture
def reference(tmp_path: Path) -> Path:
    path = tmp_path / "statistics.json"
    data = frame(np.random.default_rng(1), 20_000)
    path.write_text(json.dumps(compute_statistics(data)))
    return path


def monitor(tmp: Path, reference: Path, current: pd.DataFrame, *extra: str) -> int:
    current_path = tmp / "current.parquet"
    current.to_parquet(current_path)
    return main(
        [
            "monitor",
            "--reference",
            str(reference),
            "--current",
            str(current_path),
            "--report-dir",
            str(tmp / "report"),
            *extra,
        ]
    )


def test_flags_exactly_the_shifted_feature_and_fails_when_asked(
    tmp_path: Path, reference: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Half a standard deviation on age, nothing else.
    current = frame(np.random.default_rng(2), 20_000, shift=5.0)
    assert monitor(tmp_path, reference, current, "--fail-on-drift") == DRIFT_EXIT
    report = json.loads((tmp_path / "report" / "drift.json").read_text())
    assert report["drifted_features"] == ["age"]
    assert set(report["features"]) == {"age", "income", "plan"}
    assert all("score" in entry for entry in report["features"].values())
    assert "<svg" in (tmp_path / "report" / "drift.html").read_text()
    assert "Drift in 1 of 3 features: age." in capsys.readouterr().out


def test_same_distribution_flags_nothing(tmp_path: Path, reference: Path) -> None:
    current = frame(np.random.default_rng(3), 20_000)
    assert monitor(tmp_path, reference, current, "--fail-on-drift") == 0
    report = json.loads((tmp_path / "report" / "drift.json").read_text())
    assert report["drifted"] is False and report["drifted_features"] == []


def test_a_missing_column_is_one_sentence_naming_it(
    tmp_path: Path, reference: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    current = frame(np.random.default_rng(4), 1_000).drop(columns=["income"])
    assert monitor(tmp_path, reference, current) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "income" in err
    assert not (tmp_path / "report" / "drift.json").exists()


def test_ignore_features_leaves_a_column_out(
    tmp_path: Path, reference: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    current = frame(np.random.default_rng(5), 20_000, shift=5.0)
    code = monitor(
        tmp_path, reference, current, "--ignore-features", "age", "--fail-on-drift"
    )
    assert code == 0
    report = json.loads((tmp_path / "report" / "drift.json").read_text())
    assert set(report["features"]) == {"income", "plan"}
    assert report["ignored_features"] == ["age"]
    out = capsys.readouterr().out
    assert "Not compared: age." in out and "No drift in 2 features." in out
