"""The champion is re-scored on the candidate's test rows, wherever the registry is."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from mlops_suite.evaluation.champion import rescore_champion
from mlops_suite.model_folder import save_model
from mlops_suite.registry import ModelRegistry
from mlops_suite.training.train import train_model


@pytest.fixture
def registry_uri(tmp_path: Path) -> str:
    # On object stores (no local folder to read in place): tests/stores.
    return str(tmp_path / "registry")


def register(uri: str, frame: pd.DataFrame, tmp_path: Path) -> None:
    save_model(train_model(frame, "species"), tmp_path / "model")
    ModelRegistry(uri).register("penguins", str(tmp_path / "model"), lineage={})


def test_no_champion_means_nothing_to_compare(
    registry_uri: str, penguins: pd.DataFrame
) -> None:
    assert rescore_champion(registry_uri, "penguins", penguins) is None


def test_the_champion_is_scored_on_the_given_rows(
    registry_uri: str, penguins: pd.DataFrame, tmp_path: Path
) -> None:
    shuffled = penguins.sample(frac=1.0, random_state=0)
    register(registry_uri, shuffled.iloc[:250], tmp_path)
    score = rescore_champion(registry_uri, "penguins", shuffled.iloc[250:])
    assert score is not None and score.version == 1 and score.problem == ""
    assert score.metrics is not None and 0.9 < score.metrics["accuracy"] <= 1.0


def test_a_champion_trained_on_other_columns_is_not_compared(
    registry_uri: str, penguins: pd.DataFrame, tmp_path: Path
) -> None:
    register(registry_uri, penguins, tmp_path)
    score = rescore_champion(
        registry_uri, "penguins", penguins.drop(columns=["bill_length_mm"])
    )
    assert score is not None and score.metrics is None
    assert "bill_length_mm" in score.problem
