"""The object-store tier: real S3 (moto) and GCS (emulator) servers on 127.0.0.1.

The servers and the ``store`` fixture (each store in turn) come from
``tests/support/object_stores.py``; this file adds penguin models to register.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from object_stores import (  # noqa: F401 - fixtures
    gcs,
    gcs_server,
    s3_iam,
    s3_iam_server,
    s3_server,
    store,
)

from mlops_suite.model_folder import save_model
from mlops_suite.training.train import train_model


@pytest.fixture(scope="session")
def model_folders(
    penguins: pd.DataFrame, tmp_path_factory: pytest.TempPathFactory
) -> list[Path]:
    """Three penguin models trained on different rows, so their files differ."""
    root = tmp_path_factory.mktemp("models")
    shuffled = penguins.sample(frac=1.0, random_state=3).reset_index(drop=True)
    folders = []
    for index, rows in enumerate((slice(0, 200), slice(100, 300), slice(50, 344))):
        folder = root / f"model-{index}"
        save_model(train_model(shuffled.iloc[rows], "species"), folder)
        folders.append(folder)
    return folders
