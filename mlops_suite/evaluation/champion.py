"""Re-score the current champion on the candidate's test split.

The approval gate compares a candidate with the champion on the *same* rows: the
champion's metrics recorded at its own registration came from another test split and
would make the comparison unfair.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mlops_suite.errors import MlopsError
from mlops_suite.model_folder import load_model
from mlops_suite.registry import ModelRegistry

if TYPE_CHECKING:
    import pandas as pd


@dataclass(frozen=True)
class ChampionScore:
    """The champion's metrics on the candidate's test split.

    Attributes:
        version: The champion's registry version.
        metrics: Its metrics on the candidate's test rows, or None when it cannot be
            scored on them (``problem`` says why).
        problem: Why the champion could not be scored; empty when it was.
    """

    version: int
    metrics: dict[str, Any] | None
    problem: str = ""


def rescore_champion(
    registry_uri: str, model_name: str, test: pd.DataFrame
) -> ChampionScore | None:
    """Fetches the champion (checking its hash) and evaluates it on ``test``.

    Args:
        registry_uri: The model registry.
        model_name: The registered model's name.
        test: The candidate's held-out rows, label included.

    Returns:
        The champion's score, or None when the model has no champion yet.

    Raises:
        RegistryError: The registry cannot be read or the champion's file does not
            match its recorded hash (a corrupted champion must stop the gate, not be
            silently skipped).
    """
    registry = ModelRegistry(registry_uri)
    champion = registry.champion(model_name)
    if champion is None:
        return None
    # Scoring needs scikit-learn: imported only when there is a champion to score,
    # so the first run's approval step starts without it.
    from mlops_suite.evaluation.metrics import evaluate

    with registry.local_copy(model_name, champion.version) as folder:
        loaded = load_model(folder)
    try:
        result = evaluate(loaded.pipeline, loaded.metadata, test)
    except MlopsError as error:
        # A champion trained on other columns (the data's schema moved on) cannot be
        # compared; the thresholds alone decide and the reason says so.
        return ChampionScore(champion.version, None, str(error))
    return ChampionScore(champion.version, result.to_dict()["metrics"])
