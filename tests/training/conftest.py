"""Fixtures for the training tests: penguin splits and a model trained once."""

from __future__ import annotations

import pandas as pd
import pytest

from mlops_suite.training.train import TrainedModel, train_model


@pytest.fixture(scope="session")
def penguin_model(penguin_splits: tuple[pd.DataFrame, pd.DataFrame]) -> TrainedModel:
    """The default species classifier, trained once for the whole session."""
    train, _ = penguin_splits
    return train_model(train, "species", seed=0, data_sha256="abc123")
