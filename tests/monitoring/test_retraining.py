"""The continuous-training decision: retrain on drift, on decay, when forced, or not."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from mlops_suite.data.statistics import compute_statistics
from mlops_suite.model_folder import save_model
from mlops_suite.monitoring.retraining import decide_retraining
from mlops_suite.registry import ModelRegistry
from mlops_suite.training.train import train_model


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory, penguins: pd.DataFrame) -> str:
    root = tmp_path_factory.mktemp("registry")
    model_dir = tmp_path_factory.mktemp("model")
    save_model(train_model(penguins, "species"), model_dir)
    ModelRegistry(str(root)).register(
        "penguins",
        str(model_dir),
        lineage={"metrics": {"accuracy": 0.99, "f1_macro": 0.99}},
        statistics=compute_statistics(penguins),
    )
    return str(root)


def features(penguins: pd.DataFrame) -> pd.DataFrame:
    return penguins.drop(columns=["species"])


def test_no_champion_means_retrain(tmp_path: Path, penguins: pd.DataFrame) -> None:
    decision = decide_retraining(str(tmp_path), "penguins", features(penguins))
    assert decision.retrain and decision.drift is None
    assert "no champion" in decision.reason
    assert "<p>" in decision.to_html() and "no champion" in decision.to_html()


def test_the_training_data_itself_does_not_drift(
    registry: str, penguins: pd.DataFrame
) -> None:
    decision = decide_retraining(registry, "penguins", features(penguins))
    assert not decision.retrain
    assert decision.reason.startswith("No retraining: no drift")
    assert decision.champion_version == 1
    assert decision.to_dict()["retrain"] is False


def test_a_shifted_feature_is_named_in_the_reason(
    registry: str, penguins: pd.DataFrame
) -> None:
    moved = features(penguins)
    moved["body_mass_g"] = moved["body_mass_g"] + 2 * moved["body_mass_g"].std()
    decision = decide_retraining(registry, "penguins", moved)
    assert decision.retrain
    assert "body_mass_g" in decision.reason and "bill_length_mm" not in decision.reason
    assert decision.drift is not None
    assert decision.drift.drifted_features == ["body_mass_g"]
    assert "| body_mass_g |" in decision.to_markdown()
    assert "importance" not in decision.to_markdown()  # the version has none


def test_force_retrains_and_still_says_what_the_data_showed(
    registry: str, penguins: pd.DataFrame
) -> None:
    decision = decide_retraining(registry, "penguins", features(penguins), force=True)
    assert decision.retrain
    assert decision.reason.startswith("Retrain (forced). No retraining: no drift")
    assert decision.to_dict()["retrain"] is True


def test_decay_from_late_labels_decides(registry: str, penguins: pd.DataFrame) -> None:
    # Served predictions that are all wrong, with the truth arriving later.
    window = features(penguins).reset_index(drop=True)
    window["request_id"] = [f"r{i}" for i in range(len(window))]
    window["prediction"] = "Gentoo"
    truth = pd.DataFrame(
        {"request_id": window["request_id"], "species": penguins["species"].values}
    )
    decision = decide_retraining(
        registry, "penguins", window, labels=truth, label_column="species"
    )
    assert decision.retrain and "decay: accuracy" in decision.reason
    assert decision.decay is not None and decision.decay["decayed"]


def test_drifted_features_are_named_most_important_first(
    tmp_path: Path, penguins: pd.DataFrame
) -> None:
    model_dir = tmp_path / "model"
    save_model(train_model(penguins, "species"), model_dir)
    ModelRegistry(str(tmp_path / "registry")).register(
        "penguins",
        str(model_dir),
        lineage={},
        statistics=compute_statistics(penguins),
        explanation={
            "permutation_importance": {
                "bill_length_mm": {"mean": 0.01, "std": 0.0},
                "body_mass_g": {"mean": 0.2, "std": 0.01},
            }
        },
    )
    moved = features(penguins)
    for column in ("bill_length_mm", "body_mass_g"):
        moved[column] = moved[column] + 2 * moved[column].std()

    decision = decide_retraining(str(tmp_path / "registry"), "penguins", moved)

    assert decision.drift is not None
    assert decision.drift.drifted_features == ["bill_length_mm", "body_mass_g"]
    assert decision.reason.index("body_mass_g") < decision.reason.index(
        "bill_length_mm"
    )
    markdown = decision.to_markdown()
    assert "| threshold | importance | drifted |" in markdown
    assert "| 0.2000 | yes |" in markdown


def test_the_decision_is_recorded_for_the_runs_exit_step(
    registry: str, penguins: pd.DataFrame
) -> None:
    decision = decide_retraining(
        registry, "penguins", features(penguins), pipeline_run_id="run-5"
    )

    recorded = ModelRegistry(registry).runs.read("penguins", "run-5")["retraining"]
    assert not decision.retrain and recorded.decision == "not-retrained"
    assert recorded.reason == decision.reason and recorded.champion_version == 1
