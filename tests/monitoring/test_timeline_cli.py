"""``mlops monitor --chunk-size/--chunk-period``: the timeline of a registered model."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from world import WorldModel, make_world

from mlops_suite.atomic import json_bytes
from mlops_suite.cli import DRIFT_EXIT, main
from mlops_suite.model_folder import save_model
from mlops_suite.registry import ModelRegistry


@pytest.fixture
def registry(tmp_path: Path, world_model: WorldModel) -> Path:
    folder = tmp_path / "model"
    save_model(world_model.trained, folder)
    root = tmp_path / "registry"
    ModelRegistry(root).register(
        "world",
        folder,
        lineage={"metrics": {"accuracy": 0.8}},
        statistics=world_model.statistics,
        files={"calibration.json": json_bytes(world_model.calibrator.to_dict())},
        extra_metadata={"performance_reference": world_model.reference.to_dict()},
    )
    return root


@pytest.fixture
def log(tmp_path: Path, world_model: WorldModel) -> tuple[Path, Path]:
    rows = pd.concat(
        [make_world(2000, 20), make_world(2000, 21, joint=0.95)], ignore_index=True
    )
    logged = world_model.serve(rows)
    logged["received_at"] = pd.Timestamp("2024-05-01", tz="UTC") + pd.to_timedelta(
        logged.index * 43, "s"
    )
    path = tmp_path / "log.parquet"
    logged.to_parquet(path)
    labels = tmp_path / "labels.csv"
    pd.DataFrame({"request_id": logged["request_id"], "label": rows["label"]}).to_csv(
        labels, index=False
    )
    return path, labels


def test_chunk_size_writes_the_timeline_with_estimates_and_realized_metrics(
    tmp_path: Path,
    registry: Path,
    log: tuple[Path, Path],
    capsys: pytest.CaptureFixture[str],
) -> None:
    current, labels = log
    report = tmp_path / "report"
    status = main(
        [
            "monitor",
            "--registry",
            str(registry),
            "--model-name",
            "world",
            "--current",
            str(current),
            "--labels",
            str(labels),
            "--chunk-size",
            "1000",
            "--report-dir",
            str(report),
            "--fail-on-drift",
        ]
    )
    assert status == DRIFT_EXIT
    payload = json.loads((report / "monitoring.json").read_text())
    assert [chunk["rows"] for chunk in payload["chunks"]] == [1000] * 4
    first = payload["chunks"][0]
    assert set(first) >= {"start", "end", "rows", "drift", "performance"}
    assert set(first["drift"]) == {"x1", "x2", "noise"}
    accuracy = first["performance"]["accuracy"]
    assert set(accuracy) >= {"estimated", "lower", "upper", "realized", "alert"}
    assert accuracy["realized"] is not None and not accuracy["alert"]
    alerted = {a["chunk"] for a in payload["alerts"] if a["kind"] == "performance"}
    assert alerted == {2, 3}
    html = (report / "monitoring.html").read_text()
    assert html.index("performance alert") < html.index("Performance per chunk")
    assert html.index("Performance per chunk") < html.index("Drift per chunk")
    assert not (report / "drift.json").exists()
    out = capsys.readouterr().out
    assert "ALERT  chunk 2" in out and "monitoring.html" in out


def test_chunk_period_from_a_version_folders_metadata(
    tmp_path: Path, registry: Path, log: tuple[Path, Path]
) -> None:
    current, _ = log
    report = tmp_path / "report"
    metadata = registry / "world" / "v1" / "metadata.json"
    args = ["monitor", "--reference", str(metadata), "--current", str(current)]
    assert main([*args, "--chunk-period", "1D", "--report-dir", str(report)]) == 0
    payload = json.loads((report / "monitoring.json").read_text())
    # 4000 rows 43 s apart span two UTC days.
    assert [chunk["start"][:10] for chunk in payload["chunks"]] == [
        "2024-05-01",
        "2024-05-02",
    ]
    assert payload["estimated"] is True
    assert payload["chunks"][0]["performance"]["accuracy"]["estimated"] > 0.7


def test_without_chunk_options_the_single_window_report_is_unchanged(
    tmp_path: Path, registry: Path, log: tuple[Path, Path]
) -> None:
    current, _ = log
    report = tmp_path / "report"
    args = ["monitor", "--registry", str(registry), "--model-name", "world"]
    assert main([*args, "--current", str(current), "--report-dir", str(report)]) == 0
    assert (report / "drift.json").exists() and (report / "drift.html").exists()
    assert not (report / "monitoring.json").exists()


def test_a_timestamp_column_without_a_period_is_refused(
    tmp_path: Path, registry: Path, log: tuple[Path, Path]
) -> None:
    current, _ = log
    args = ["monitor", "--registry", str(registry), "--model-name", "world"]
    status = main(
        [
            *args,
            "--current",
            str(current),
            "--report-dir",
            str(tmp_path / "r"),
            "--chunk-size",
            "10",
            "--timestamp-column",
            "received_at",
        ]
    )
    assert status == 1
