"""Rollback: the previous champion returns when it scores better on the labelled window.

Two world models with known rules: v1 learned the world as it was (``x2`` weighs
-1.5), v2, the champion, learned a passing rule (+1.5). A window that follows v1's
rule makes v2 fall and v1 win; one that follows v2's rule does not.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from world import WorldModel, fit_world_model, make_world, register_world_model

from mlops_suite.monitoring.retraining import decide_retraining
from mlops_suite.monitoring.rollback import roll_back_if_better
from mlops_suite.registry import ModelRegistry


@pytest.fixture(scope="module")
def passing_rule() -> WorldModel:
    return fit_world_model(x2_weight=1.5)


@pytest.fixture
def registry(tmp_path: Path, world_model: WorldModel, passing_rule: WorldModel) -> str:
    root = str(tmp_path / "registry")
    register_world_model(root, tmp_path / "v1", world_model)
    register_world_model(root, tmp_path / "v2", passing_rule, x2_weight=1.5)
    return root


def champion_of(registry: str) -> int | None:
    champion = ModelRegistry(registry).champion("world")
    return champion.version if champion is not None else None


def window(model: WorldModel, x2_weight: float) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A window served by ``model`` from a world of that rule, and its labels."""
    rows = make_world(2000, 50, x2_weight=x2_weight)
    logged = model.serve(rows)
    labels = pd.DataFrame({"request_id": logged["request_id"], "label": rows["label"]})
    return logged, labels


def test_the_previous_champion_returns_when_it_scores_better(
    registry: str, passing_rule: WorldModel
) -> None:
    logged, labels = window(passing_rule, x2_weight=-1.5)
    decision = decide_retraining(registry, "world", logged, labels=labels)
    assert decision.decided_by == "realized_performance" and decision.performance_fell

    result = roll_back_if_better(
        registry,
        "world",
        logged,
        labels,
        candidate_rejected=True,
        performance_fell=decision.performance_fell,
        actor="run-42",
        decided_on=decision.champion_version,
    )

    assert result.rolled_back and result.metric == "roc_auc"
    mine, theirs = result.scores["2"], result.scores["1"]
    assert mine is not None and theirs is not None and theirs > mine
    assert result.reason.startswith("Rolled back to v1")
    store = ModelRegistry(registry)
    champion = store.champion("world")
    assert champion is not None and champion.version == 1
    event = store.events.read("world")[-1]
    assert (event.event, event.version, event.actor) == ("rolled-back", 1, "run-42")
    assert event.details["previous_version"] == 2
    # Both scores are in the history's reason.
    assert f"{result.scores['1']:.4f}" in event.reason
    assert f"{result.scores['2']:.4f}" in event.reason


def test_no_rollback_when_the_champion_still_scores_better(
    registry: str, passing_rule: WorldModel
) -> None:
    logged, labels = window(passing_rule, x2_weight=1.5)
    result = roll_back_if_better(
        registry,
        "world",
        logged,
        labels,
        candidate_rejected=True,
        performance_fell=True,  # as if it had fallen: the scores still decide
        actor="run-43",
    )
    assert not result.rolled_back
    mine, theirs = result.scores["2"], result.scores["1"]
    assert mine is not None and theirs is not None and mine > theirs
    assert result.reason.startswith("No rollback: on the latest 2000 labelled rows")
    store = ModelRegistry(registry)
    assert champion_of(registry) == 2
    assert all(e.event != "rolled-back" for e in store.events.read("world"))


@pytest.mark.parametrize(
    ("labelled", "rejected", "fell", "why"),
    [
        (False, True, True, "no labels"),
        (True, False, True, "no retrained candidate was refused"),
        (True, True, False, "did not fall"),
    ],
)
def test_nothing_happens_without_labels_a_refusal_or_a_fall(
    registry: str,
    passing_rule: WorldModel,
    labelled: bool,
    rejected: bool,
    fell: bool,
    why: str,
) -> None:
    logged, labels = window(passing_rule, x2_weight=-1.5)
    result = roll_back_if_better(
        registry,
        "world",
        logged,
        labels if labelled else "",
        candidate_rejected=rejected,
        performance_fell=fell,
        actor="run-44",
    )
    assert not result.rolled_back and why in result.reason
    assert champion_of(registry) == 2


def test_no_rollback_without_a_previous_champion_or_after_a_change(
    tmp_path: Path, world_model: WorldModel, passing_rule: WorldModel
) -> None:
    root = str(tmp_path / "registry")
    register_world_model(root, tmp_path / "v1", world_model)
    logged, labels = window(world_model, x2_weight=1.5)

    def roll_back(decided_on: int | None = None) -> str:
        result = roll_back_if_better(
            root,
            "world",
            logged,
            labels,
            candidate_rejected=True,
            performance_fell=True,
            actor="run-45",
            decided_on=decided_on,
        )
        assert not result.rolled_back
        return result.reason

    assert "no previous champion" in roll_back()
    register_world_model(root, tmp_path / "v2", passing_rule, x2_weight=1.5)
    assert "the champion is v2 now, not v1" in roll_back(decided_on=1)
