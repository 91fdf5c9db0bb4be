"""Fixtures for the evaluation tests: penguin splits and models trained once."""

from __future__ import annotations

import pandas as pd
import pytest

from mlops_suite.training.train import TrainedModel, train_model


@pytest.fixture(scope="session")
def species_model(penguin_splits: tuple[pd.DataFrame, pd.DataFrame]) -> TrainedModel:
    """A random forest on species (3 classes), trained once for the session."""
    train, _ = penguin_splits
    return train_model(train, "species", estimator="random_forest", seed=0)


@pytest.fixture(scope="session")
def mass_splits(penguins: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Penguins with a known body mass, split 250 / the rest."""
    rows = penguins.dropna(subset=["body_mass_g"]).sample(frac=1.0, random_state=3)
    return rows.iloc[:250].copy(), rows.iloc[250:].copy()


@pytest.fixture(scope="session")
def mass_model(mass_splits: tuple[pd.DataFrame, pd.DataFrame]) -> TrainedModel:
    """A ridge regression of body mass, trained once for the session."""
    train, _ = mass_splits
    return train_model(train, "body_mass_g", seed=0)
