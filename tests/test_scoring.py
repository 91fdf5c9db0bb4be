"""Batch scoring: monitorable Parquet in the sink's schema, and nothing half-written."""

from __future__ import annotations

from pathlib import Path

import joblib
import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from mlops_suite.errors import DataError, ModelIntegrityError
from mlops_suite.model_folder import save_model
from mlops_suite.monitoring.drift import detect_drift
from mlops_suite.monitoring.payloads.columns import BASE_COLUMNS, PREDICTION_COLUMN
from mlops_suite.monitoring.sink.output import read_logged
from mlops_suite.scoring import score_table
from mlops_suite.training.train import train_model


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory, penguins: pd.DataFrame) -> Path:
    folder = tmp_path_factory.mktemp("model")
    save_model(train_model(penguins, "species"), folder)
    return folder


@pytest.fixture
def table(penguins: pd.DataFrame) -> pd.DataFrame:
    frame = penguins.drop(columns=["species"]).reset_index(drop=True)
    frame.insert(0, "penguin_id", [f"p{i}" for i in range(len(frame))])
    return frame


def test_scores_every_row_in_the_sinks_schema_keeping_other_columns(
    model_dir: Path, table: pd.DataFrame, tmp_path: Path, penguins: pd.DataFrame
) -> None:
    source = tmp_path / "in.parquet"
    table.to_parquet(source)
    result = score_table(
        model_dir, str(source), str(tmp_path / "out"), model_name="penguins",
        batch_rows=100,
    )  # fmt: skip
    assert result.rows == len(table) and len(result.files) == 4  # 344 rows / 100

    scored = read_logged(tmp_path / "out")
    pipeline = joblib.load(model_dir / "model.joblib")
    features = table.drop(columns=["penguin_id"])
    assert scored[PREDICTION_COLUMN].tolist() == pipeline.predict(features).tolist()
    classes = ["Adelie", "Chinstrap", "Gentoo"]
    proba = scored[[f"proba_{name}" for name in classes]].to_numpy()
    np.testing.assert_allclose(proba, pipeline.predict_proba(features), atol=1e-12)
    assert list(scored.columns[: len(BASE_COLUMNS)]) == list(BASE_COLUMNS)
    assert scored["penguin_id"].tolist() == table["penguin_id"].tolist()
    assert scored["row"].tolist() == list(range(len(table)))
    assert set(scored["request_id"]) == {result.run_id}
    # Monitoring reads it as it reads served traffic: the same rows do not drift.
    from mlops_suite.data.statistics import compute_statistics

    report = detect_drift(
        compute_statistics(penguins),
        str(tmp_path / "out"),
        features=list(features.columns),
    )
    assert not report.drifted_features


def test_keep_columns_chooses_what_is_carried(
    model_dir: Path, table: pd.DataFrame, tmp_path: Path
) -> None:
    table["note"] = "x"
    score_table(
        model_dir, table, str(tmp_path / "out"), model_name="penguins",
        keep_columns=["note"],
    )  # fmt: skip
    scored = read_logged(tmp_path / "out")
    assert "note" in scored.columns and "penguin_id" not in scored.columns
    with pytest.raises(DataError, match="no column 'colour' to keep"):
        score_table(
            model_dir, table, str(tmp_path / "o2"), model_name="penguins",
            keep_columns=["colour"],
        )  # fmt: skip


def test_a_value_of_the_wrong_kind_names_row_and_column_and_writes_nothing(
    model_dir: Path, table: pd.DataFrame, tmp_path: Path
) -> None:
    # A Parquet file whose numeric feature was written as text, with one typo.
    table["bill_length_mm"] = [
        None if pd.isna(v) else str(v) for v in table["bill_length_mm"]
    ]
    table.loc[250, "bill_length_mm"] = "forty"
    source = tmp_path / "in.parquet"
    table.to_parquet(source)
    out = tmp_path / "out"
    with pytest.raises(DataError) as caught:
        score_table(model_dir, str(source), str(out), model_name="p", batch_rows=100)
    message = str(caught.value)
    assert "Row 250" in message and "'bill_length_mm'" in message
    assert "'forty'" in message and "numeric" in message
    assert not out.exists()


def test_a_missing_feature_column_is_one_sentence(
    model_dir: Path, table: pd.DataFrame, tmp_path: Path
) -> None:
    source = tmp_path / "in.csv"
    table.drop(columns=["island"]).to_csv(source, index=False)
    with pytest.raises(DataError, match="has no column 'island', a feature"):
        score_table(model_dir, str(source), str(tmp_path / "out"), model_name="p")
    assert not (tmp_path / "out").exists()


def test_a_model_file_changed_after_registration_is_refused(
    model_dir: Path, table: pd.DataFrame, tmp_path: Path
) -> None:
    import shutil

    copy = Path(shutil.copytree(model_dir, tmp_path / "model"))
    with open(copy / "model.joblib", "ab") as handle:
        handle.write(b"tampered")
    with pytest.raises(ModelIntegrityError):
        score_table(copy, table, str(tmp_path / "out"), model_name="penguins")


def test_output_files_are_typed_like_the_sinks(
    model_dir: Path, table: pd.DataFrame, tmp_path: Path
) -> None:
    score_table(model_dir, table, str(tmp_path / "out"), model_name="penguins")
    schema = pq.read_schema(next((tmp_path / "out").glob("*.parquet")))
    assert str(schema.field("row").type) == "int64"
    assert str(schema.field("received_at").type) == "timestamp[us, tz=UTC]"
    assert str(schema.field("bill_length_mm").type) == "double"
    assert str(schema.field("island").type) == "string"


def test_mlops_predict_scores_the_champion_into_a_folder_monitor_reads(
    model_dir: Path,
    table: pd.DataFrame,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from mlops_suite.cli import main
    from mlops_suite.data.statistics import compute_statistics
    from mlops_suite.registry import ModelRegistry

    registry = tmp_path / "registry"
    ModelRegistry(str(registry)).register(
        "penguins",
        str(model_dir),
        lineage={},
        statistics=compute_statistics(table.drop(columns=["penguin_id"])),
    )
    source = tmp_path / "in.csv"
    table.to_csv(source, index=False)
    argv = ["--registry", str(registry), "--model-name", "penguins"]
    code = main(
        ["predict", *argv, "--data", str(source), "--output", str(tmp_path / "out")]
    )
    assert code == 0
    assert f"scored {len(table)} rows" in capsys.readouterr().out
    report = tmp_path / "report"
    assert (
        main(
            [
                "monitor",
                *argv,
                "--current",
                str(tmp_path / "out"),
                "--report-dir",
                str(report),
            ]
        )
        == 0
    )
    assert (report / "drift.json").exists()


@pytest.mark.slow
def test_the_batch_scoring_pipeline_runs_locally(
    model_dir: Path, table: pd.DataFrame, tmp_path: Path
) -> None:
    from mlops_suite.ops.local_run import run_locally
    from mlops_suite.pipelines.batch_scoring import build_batch_scoring_pipeline
    from mlops_suite.registry import ModelRegistry

    registry = tmp_path / "registry"
    ModelRegistry(str(registry)).register("penguins", str(model_dir), lineage={})
    source = tmp_path / "in.parquet"
    table.to_parquet(source)
    run = run_locally(
        build_batch_scoring_pipeline(),
        {
            "registry_uri": str(registry),
            "model_name": "penguins",
            "data_uri": str(source),
            "output_uri": str(tmp_path / "out"),
            "keep_columns": "penguin_id",
        },
        pipeline_root=tmp_path / "root",
    )
    assert run.outputs["Output"] == len(table)
    scored = read_logged(tmp_path / "out")
    assert scored["penguin_id"].tolist() == table["penguin_id"].tolist()
