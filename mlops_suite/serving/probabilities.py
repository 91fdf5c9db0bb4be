"""Serving class probabilities: KServe's ``PREDICT_PROBA`` switch and who may use it.

KServe's stock sklearn runtime answers with ``predict_proba`` instead of ``predict``
when its container has ``PREDICT_PROBA=true`` in the environment: one row of
probabilities per instance, one column per class in the order of the model's
``classes_`` (``metadata.json`` → ``classes``). ``mlops serve --predict-proba``,
``mlops manifest --predict-proba`` and the pipeline's ``serve_probabilities`` all set
that switch, and all refuse a model that is not a classifier: the runtime would fall
back to ``predict`` without a word (a regressor has no ``predict_proba``), so the
logged answers would not be what was asked for.

This module imports nothing heavy, so ``mlops manifest`` stays quick.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mlops_suite.artifacts import CLASSIFICATION
from mlops_suite.errors import ServingError

# The stock runtime's switch from ``predict`` to ``predict_proba``.
PREDICT_PROBA_ENV = "PREDICT_PROBA"
PREDICT_PROBA_ON = "true"


def predict_proba_env() -> dict[str, str]:
    """The container environment entry that makes the runtime serve probabilities.

    Returns:
        ``{"name": "PREDICT_PROBA", "value": "true"}``, as a Kubernetes ``EnvVar``.
    """
    return {"name": PREDICT_PROBA_ENV, "value": PREDICT_PROBA_ON}


def check_serves_probabilities(
    metadata: Mapping[str, Any], model: str, switch: str
) -> None:
    """Refuse to serve probabilities for a model that is not a classifier.

    Args:
        metadata: The model version's ``metadata.json``.
        model: The model as a person names it, e.g. ``penguins v3``.
        switch: The option that asked for probabilities, e.g. ``--predict-proba``.

    Raises:
        ServingError: ``metadata`` records another task than classification, or none.
    """
    task = metadata.get("task")
    if task == CLASSIFICATION:
        return
    described = f"a {task} model" if task else "a model whose metadata.json has no task"
    raise ServingError(
        f"{switch} needs a classifier, but {model} is {described}: KServe's sklearn "
        "runtime would answer with plain predictions instead of class probabilities, "
        f"so leave {switch} off for it."
    )
