"""``monitor``: one check of current data, written as reports, without the CLI."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from mlops_suite.data.statistics import compute_statistics
from mlops_suite.errors import MlopsError
from mlops_suite.monitoring.monitor import monitor

Table = Callable[..., pd.DataFrame]


def parquet(frame: pd.DataFrame, path: Path) -> str:
    frame.to_parquet(path)
    return str(path)


@pytest.fixture
def profile(table: Table, tmp_path: Path) -> str:
    path = tmp_path / "statistics.json"
    path.write_text(json.dumps(compute_statistics(table(5_000, 1))))
    return str(path)


def test_flags_the_drifted_features_and_writes_both_reports(
    table: Table, drifted: list[str], profile: str, tmp_path: Path
) -> None:
    current = parquet(table(5_000, 2, drift=True), tmp_path / "current.parquet")
    result = monitor(current, tmp_path / "report", reference=profile)
    assert sorted(result.drift.drifted_features) == sorted(drifted)
    assert result.moved and result.decay is None and result.decay_json is None
    written = json.loads(result.drift_json.read_text())
    assert sorted(written["drifted_features"]) == sorted(drifted)
    assert "<svg" in result.drift_html.read_text()
    lines = result.summary().splitlines()
    assert len(lines) == 7 + 1
    assert sum(line.lstrip().startswith("DRIFT ") for line in lines) == len(drifted)
    assert lines[-1].startswith(f"Drift in {len(drifted)} of 7 features: ")


def test_unchanged_data_has_not_moved(
    table: Table, profile: str, tmp_path: Path
) -> None:
    current = parquet(table(5_000, 3), tmp_path / "current.parquet")
    result = monitor(current, tmp_path / "report", reference=profile)
    assert not result.moved
    assert result.summary().splitlines()[-1] == "No drift in 7 features."


def registered_metadata(reference: pd.DataFrame, features: list[str]) -> dict[str, Any]:
    """What ``ModelRegistry.metadata`` returns, reduced to what monitoring reads."""
    return {
        "statistics": compute_statistics(reference),
        "features": [{"name": name} for name in features],
        "task": "classification",
        "classes": ["no", "yes"],
        "lineage": {"metrics": {"accuracy": 0.9, "f1_macro": 0.9}},
    }


def test_registered_metadata_is_the_reference_and_labels_show_decay(
    table: Table, tmp_path: Path
) -> None:
    features = ["income", "wait", "score"]
    metadata = registered_metadata(table(5_000, 1), features)
    served = table(600, 4, prediction=True)
    served["request_id"] = [f"req-{i}" for i in range(len(served))]
    # Every label contradicts the answer: accuracy falls from 0.9 to 0.
    labels = pd.DataFrame(
        {
            "request_id": served["request_id"],
            "label": np.where(served["prediction"] == "yes", "no", "yes"),
        }
    )
    labels_path = tmp_path / "labels.csv"
    labels.to_csv(labels_path, index=False)
    result = monitor(
        parquet(served, tmp_path / "current.parquet"),
        tmp_path / "report",
        metadata=metadata,
        labels=str(labels_path),
    )
    assert list(result.drift.features) == features
    assert not result.drift.drifted and result.moved
    assert result.decay is not None and "accuracy" in result.decay.decayed_metrics
    assert result.decay_json is not None
    assert json.loads(result.decay_json.read_text())["decayed"] is True
    assert result.summary().splitlines()[-2].startswith("The model decayed on 600 ")


def test_labels_without_a_registered_version_write_nothing(
    table: Table, profile: str, tmp_path: Path
) -> None:
    current = parquet(table(500, 2), tmp_path / "current.parquet")
    with pytest.raises(MlopsError, match="--labels needs --registry"):
        monitor(current, tmp_path / "report", reference=profile, labels="labels.csv")
    assert not (tmp_path / "report").exists()


def test_without_a_reference_says_what_to_give(tmp_path: Path) -> None:
    with pytest.raises(MlopsError, match="give --reference"):
        monitor(str(tmp_path / "current.parquet"), tmp_path / "report")


def test_a_version_registered_without_statistics_asks_for_a_reference(
    tmp_path: Path,
) -> None:
    from mlops_suite.errors import MlopsError
    from mlops_suite.monitoring.monitor import _reference

    with pytest.raises(MlopsError, match="without the training data's statistics"):
        _reference(None, {"version": 2, "features": [{"name": "x", "type": "numeric"}]})
    metadata = {"features": [{"name": "x", "type": "numeric"}]}
    assert _reference("ref.csv", metadata) == ("ref.csv", ["x"], metadata)


def test_a_version_with_an_explanation_lists_drift_by_importance(
    table: Table, drifted: list[str], tmp_path: Path
) -> None:
    metadata = registered_metadata(table(5_000, 1), ["income", "color", "score"])
    metadata["explanation"] = {
        "permutation_importance": {
            "income": {"mean": 0.02, "std": 0.01},
            "color": {"mean": 0.25, "std": 0.03},
            "score": {"mean": 0.0, "std": 0.0},
        }
    }
    current = parquet(table(5_000, 2, drift=True), tmp_path / "current.parquet")

    result = monitor(current, tmp_path / "report", metadata=metadata)

    assert result.drift.drifted_features == ["income", "color"]
    lines = result.summary().splitlines()
    assert lines[-1] == "Drift in 2 of 3 features: color, income."
    assert lines[0].endswith("importance 0.0200") and "income" in lines[0]
    written = json.loads(result.drift_json.read_text())
    assert written["importance"] == {"color": 0.25, "income": 0.02, "score": 0.0}
    assert "<th>importance</th>" in result.drift_html.read_text()
