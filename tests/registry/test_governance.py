"""People in the loop: approval, rejection, aliases, and the rules they follow."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import fsspec
import pytest

from mlops_suite.errors import RegistryError
from mlops_suite.registry import ModelRegistry, governance

NAME = "penguins"


@pytest.fixture(params=["local", "memory"])
def registry(
    request: pytest.FixtureRequest, tmp_path: Path, memory_registry_uri: str
) -> ModelRegistry:
    if request.param == "local":
        return ModelRegistry(tmp_path / "registry")
    return ModelRegistry(memory_registry_uri)


@pytest.fixture
def pending(
    registry: ModelRegistry, make_model_folder: Callable[..., Path]
) -> ModelRegistry:
    """v1 champion (auto), v2 pending challenger (manual)."""
    registry.register(NAME, make_model_folder(c=1.0), lineage={"pipeline_run_id": "r1"})
    registry.register(
        NAME,
        make_model_folder(c=0.1),
        lineage={"pipeline_run_id": "r2", "approval_reason": "passed the gate"},
        approval="manual",
    )
    return registry


def _files(registry: ModelRegistry) -> dict[str, bytes]:
    fs, root = fsspec.core.url_to_fs(registry.uri)
    return {path: fs.cat_file(path) for path in fs.find(root, withdirs=False)}


def _champion(registry: ModelRegistry) -> int | None:
    champion = registry.champion(NAME)
    return champion.version if champion else None


def test_an_unknown_approval_mode_is_one_sentence_and_registers_nothing(
    registry: ModelRegistry, make_model_folder: Callable[..., Path]
) -> None:
    with pytest.raises(RegistryError, match=r"approval is 'later'; expected 'auto'"):
        registry.register(NAME, make_model_folder(), lineage={}, approval="later")
    assert registry.versions(NAME) == []


def test_a_manual_registration_is_a_pending_challenger_and_leaves_the_champion(
    pending: ModelRegistry,
) -> None:
    assert _champion(pending) == 1
    assert pending.lineage(NAME, 2)["approval_mode"] == "manual"
    assert governance.aliases(pending, NAME) == {"champion": 1, "challenger": 2}
    assert governance.status(pending, NAME, 2) == "pending"
    events = [(e.event, e.version, e.actor) for e in governance.history(pending, NAME)]
    assert events[-2:] == [("registered", 2, "r2"), ("alias-set", 2, "r2")]
    assert governance.history(pending, NAME)[-2].details == {"status": "pending"}


def test_a_pending_version_never_becomes_champion_by_promotion(
    pending: ModelRegistry,
) -> None:
    before = _files(pending)

    with pytest.raises(
        RegistryError, match=r"v2 is pending approval.*registry approve"
    ):
        pending.set_champion(NAME, 2, actor="bob", reason="impatient")

    assert _files(pending) == before


def test_approval_makes_the_pending_version_champion_and_records_who_and_why(
    pending: ModelRegistry,
) -> None:
    champion = governance.approve(
        pending, NAME, 2, by="ana", reason="reviewed the slices"
    )

    assert champion.version == 2 and champion.previous_version == 1
    assert _champion(pending) == 2
    assert governance.status(pending, NAME, 2) == "approved"
    # The decision is made: the challenger alias is gone.
    assert governance.aliases(pending, NAME) == {"champion": 2}
    tail = [
        (e.event, e.version, e.actor, e.reason)
        for e in governance.history(pending, NAME)[-3:]
    ]
    assert tail == [
        ("approved", 2, "ana", "reviewed the slices"),
        ("promoted", 2, "ana", "reviewed the slices"),
        ("alias-removed", 2, "ana", "approved: reviewed the slices"),
    ]


def _card(registry: ModelRegistry, version: int) -> str:
    with fsspec.open(f"{registry.version_uri(NAME, version)}/model_card.md") as card:
        return str(card.read().decode())


def test_the_model_card_says_who_decided_and_why(
    pending: ModelRegistry, make_model_folder: Callable[..., Path]
) -> None:
    assert "- **How:** waiting for a person (manual approval)" in _card(pending, 2)
    pending.register(NAME, make_model_folder(c=3.0), lineage={}, approval="manual")

    governance.approve(pending, NAME, 2, by="ana", reason="reviewed the slices")
    governance.reject(pending, NAME, 3, by="bob", reason="unfair on a slice")

    approved, rejected = _card(pending, 2), _card(pending, 3)
    assert "- **Status:** approved" in approved
    assert "- **How:** approved by ana on " in approved
    assert "- **Why:** reviewed the slices" in approved
    assert "- **The gate:** passed the gate" in approved
    assert "- **Status:** rejected" in rejected
    assert "- **How:** rejected by bob on " in rejected
    assert "- **Why:** unfair on a slice" in rejected
    # The card is the only file the decision rewrote in the version folders.
    assert pending.metadata(NAME, 2)["version"] == 2


def test_a_rejected_version_never_becomes_champion(pending: ModelRegistry) -> None:
    event = governance.reject(pending, NAME, 2, by="ana", reason="unfair on a slice")

    assert (event.event, event.actor, event.reason) == (
        "rejected",
        "ana",
        "unfair on a slice",
    )
    assert governance.status(pending, NAME, 2) == "rejected"
    assert governance.aliases(pending, NAME) == {"champion": 1}
    before = _files(pending)
    with pytest.raises(RegistryError, match=r"v2 was rejected by ana .*never becomes"):
        pending.set_champion(NAME, 2)
    with pytest.raises(
        RegistryError,
        match=r"^penguins v2 was rejected \(by ana on .*: unfair on a slice\), so it "
        r"cannot be approved; nothing was changed\.$",
    ):
        governance.approve(pending, NAME, 2, by="bob", reason="overrule")
    with pytest.raises(RegistryError, match=r"already rejected"):
        governance.reject(pending, NAME, 2, by="bob", reason="again")
    assert _files(pending) == before


@pytest.mark.parametrize(
    ("version", "by", "reason", "message"),
    [
        (9, "ana", "ok", r"^Model 'penguins' has no version 9 in registry .*; it has "),
        (
            1,
            "ana",
            "ok",
            r"^penguins v1 is already the champion; nothing was changed\.$",
        ),
        (2, "", "ok", r"say who you are \(--by\) and why \(--reason\)"),
        (2, "ana", " ", r"say who you are \(--by\) and why \(--reason\)"),
    ],
)
def test_a_refused_approval_is_one_sentence_and_changes_nothing(
    pending: ModelRegistry, version: int, by: str, reason: str, message: str
) -> None:
    before = _files(pending)

    with pytest.raises(RegistryError, match=message) as refused:
        governance.approve(pending, NAME, version, by=by, reason=reason)

    assert "\n" not in str(refused.value)
    assert _files(pending) == before


def test_the_champion_cannot_be_rejected(pending: ModelRegistry) -> None:
    before = _files(pending)
    with pytest.raises(RegistryError, match=r"v1 is the champion; promote another"):
        governance.reject(pending, NAME, 1, by="ana", reason="old")
    assert _files(pending) == before


def test_an_approved_older_version_can_be_approved_back_and_rolled_back_to(
    pending: ModelRegistry,
) -> None:
    governance.approve(pending, NAME, 2, by="ana", reason="better")

    governance.approve(pending, NAME, 1, by="ana", reason="v2 drifts")

    assert _champion(pending) == 1
    assert governance.history(pending, NAME)[-1].event == "rolled-back"


def test_aliases_are_set_moved_and_removed_with_their_history(
    pending: ModelRegistry,
) -> None:
    governance.set_alias(pending, NAME, "staging", 1, by="ana", reason="stage it")
    moved = governance.set_alias(pending, NAME, "staging", 2, by="bob", reason="newer")

    assert moved.details == {"alias": "staging", "previous_version": 1}
    assert governance.resolve_alias(pending, NAME, "staging") == 2
    assert governance.aliases(pending, NAME) == {
        "champion": 1,
        "challenger": 2,
        "staging": 2,
    }
    removed = governance.remove_alias(pending, NAME, "staging", by="ana", reason="")
    assert (removed.event, removed.version) == ("alias-removed", 2)
    assert "staging" not in governance.aliases(pending, NAME)
    assert [s.aliases for s in governance.states(pending, NAME)] == [
        ("champion",),
        ("challenger",),
    ]


def test_an_unknown_alias_is_one_sentence_listing_the_aliases_that_exist(
    pending: ModelRegistry,
) -> None:
    with pytest.raises(
        RegistryError,
        match=r"^Model 'penguins' has no alias 'staging' in registry .*; its aliases "
        r"are champion \(v1\), challenger \(v2\)\.$",
    ):
        governance.resolve_alias(pending, NAME, "staging")
    before = _files(pending)
    with pytest.raises(RegistryError, match=r"no alias 'staging'.*its aliases are"):
        governance.remove_alias(pending, NAME, "staging", by="ana", reason="")
    assert _files(pending) == before


@pytest.mark.parametrize(
    ("alias", "version", "message"),
    [
        ("champion", 2, r"champion alias moves only by approval or promotion"),
        ("Staging!", 1, r"Alias 'Staging!' is not valid"),
        ("staging", 7, r"has no version 7"),
    ],
)
def test_a_refused_alias_change_is_one_sentence_and_changes_nothing(
    pending: ModelRegistry, alias: str, version: int, message: str
) -> None:
    before = _files(pending)
    with pytest.raises(RegistryError, match=message):
        governance.set_alias(pending, NAME, alias, version, by="ana", reason="")
    assert _files(pending) == before


def test_concurrent_alias_changes_keep_every_alias_and_every_event(
    pending: ModelRegistry,
) -> None:
    names = [f"env-{i}" for i in range(8)]

    def move(alias: str) -> None:
        for version in (1, 2, 1):
            governance.set_alias(pending, NAME, alias, version, by=alias, reason="")

    with ThreadPoolExecutor(max_workers=len(names)) as pool:
        list(pool.map(move, names))

    aliases = governance.aliases(pending, NAME)
    assert {alias: aliases[alias] for alias in names} == dict.fromkeys(names, 1)
    moves = [e for e in governance.history(pending, NAME) if e.actor in names]
    assert len(moves) == 3 * len(names)


def test_a_deployment_is_recorded_with_where_it_went(pending: ModelRegistry) -> None:
    event = governance.record_deployment(
        pending, NAME, 1, where="kserve/penguins", actor="run-7", reason="approved"
    )
    assert (event.event, event.details) == ("deployed", {"where": "kserve/penguins"})
    assert governance.history(pending, NAME)[-1] == event
