"""The registry's history: one object per event, append-only, nothing lost."""

from __future__ import annotations

import json
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import fsspec
import pytest

from mlops_suite.errors import RegistryError
from mlops_suite.registry import ModelRegistry
from mlops_suite.registry.history import HISTORY_DIR, version_status

NAME = "penguins"


def _lineage(run: str = "run-1") -> dict[str, object]:
    return {"pipeline_run_id": run, "approval_reason": "roc_auc 0.97 >= 0.75"}


@pytest.fixture(params=["local", "memory"])
def registry(
    request: pytest.FixtureRequest, tmp_path: Path, memory_registry_uri: str
) -> ModelRegistry:
    """The same tests on a local folder and on an object store (``memory://``)."""
    if request.param == "local":
        return ModelRegistry(tmp_path / "registry")
    return ModelRegistry(memory_registry_uri)


def _files(registry: ModelRegistry) -> dict[str, bytes]:
    """Every file of the registry (claims included), by path: a snapshot."""
    fs, root = fsspec.core.url_to_fs(registry.uri)
    return {path: fs.cat_file(path) for path in fs.find(root, withdirs=False)}


def test_registration_records_who_registered_and_promoted_what_and_why(
    registry: ModelRegistry, make_model_folder: Callable[..., Path]
) -> None:
    registry.register(NAME, make_model_folder(c=1.0), lineage=_lineage("run-1"))
    registry.register(NAME, make_model_folder(c=0.1), lineage=_lineage("run-2"))

    events = registry.events.read(NAME)

    assert [(e.seq, e.event, e.version, e.actor) for e in events] == [
        (1, "registered", 1, "run-1"),
        (2, "promoted", 1, "run-1"),
        (3, "registered", 2, "run-2"),
        (4, "promoted", 2, "run-2"),
    ]
    assert {e.reason for e in events} == {"roc_auc 0.97 >= 0.75"}
    assert events[0].details == {"status": "approved"}
    assert events[3].details == {"previous_version": 1}
    assert all(e.time.endswith("+00:00") for e in events)


def test_a_rollback_is_recorded_as_such_and_earlier_events_are_never_rewritten(
    registry: ModelRegistry, make_model_folder: Callable[..., Path]
) -> None:
    registry.register(NAME, make_model_folder(c=1.0), lineage=_lineage())
    registry.register(NAME, make_model_folder(c=0.1), lineage=_lineage())
    before = {
        path: content
        for path, content in _files(registry).items()
        if f"/{HISTORY_DIR}/" in path
    }

    registry.set_champion(NAME, 1, actor="ana", reason="v2 misbehaves in production")
    registry.set_champion(NAME, 1, actor="ana", reason="already champion")

    after = _files(registry)
    assert all(after[path] == content for path, content in before.items())
    last = registry.events.read(NAME)[-1]
    assert (last.seq, last.event, last.version, last.actor, last.reason) == (
        5,
        "rolled-back",
        1,
        "ana",
        "v2 misbehaves in production",
    )
    assert last.details == {"previous_version": 2}
    # Re-pointing the champion at itself changes nothing, so records nothing.
    assert len(registry.events.read(NAME)) == 5


def test_each_event_is_one_object_of_its_own(
    registry: ModelRegistry, make_model_folder: Callable[..., Path]
) -> None:
    registry.register(NAME, make_model_folder(), lineage=_lineage())

    events = {
        path.rsplit("/", 1)[-1]: json.loads(content)
        for path, content in _files(registry).items()
        if path.rsplit("/", 2)[-2] == HISTORY_DIR
    }

    assert sorted(name.rsplit("-", 1)[0] for name in events) == [
        "00000001-registered",
        "00000002-promoted",
    ]
    assert sorted(e["event"] for e in events.values()) == ["promoted", "registered"]
    assert all(
        set(e) >= {"time", "actor", "reason", "version"} for e in events.values()
    )


@pytest.mark.parametrize("writers", [8])
def test_concurrent_writers_lose_no_event(
    registry: ModelRegistry, make_model_folder: Callable[..., Path], writers: int
) -> None:
    registry.register(NAME, make_model_folder(), lineage=_lineage())
    per_writer = 12

    def write(writer: int) -> None:
        for i in range(per_writer):
            registry.events.append(
                NAME, "deployed", version=1, actor=f"w{writer}", reason=str(i)
            )

    with ThreadPoolExecutor(max_workers=writers) as pool:
        list(pool.map(write, range(writers)))

    events = registry.events.read(NAME)
    written = {(e.actor, e.reason) for e in events if e.event == "deployed"}
    assert written == {
        (f"w{w}", str(i)) for w in range(writers) for i in range(per_writer)
    }
    assert len(events) == 2 + writers * per_writer
    # Each writer's own events keep their order.
    for w in range(writers):
        mine = [int(e.reason) for e in events if e.actor == f"w{w}"]
        assert mine == sorted(mine)


def test_concurrent_local_writers_claim_distinct_numbers(
    tmp_path: Path, make_model_folder: Callable[..., Path]
) -> None:
    # On a local folder the exclusive create is atomic, so no number is shared.
    registry = ModelRegistry(tmp_path / "registry")
    registry.register(NAME, make_model_folder(), lineage=_lineage())

    def write(writer: int) -> None:
        for _ in range(10):
            registry.events.append(NAME, "deployed", version=1, actor="w", reason="")

    with ThreadPoolExecutor(max_workers=6) as pool:
        list(pool.map(write, range(6)))

    numbers = [e.seq for e in registry.events.read(NAME)]
    assert numbers == list(range(1, 63))


def test_status_follows_registration_then_the_last_decision(
    make_model_folder: Callable[..., Path], tmp_path: Path
) -> None:
    registry = ModelRegistry(tmp_path / "registry")
    registry.register(NAME, make_model_folder(c=1.0), lineage={})
    registry.register(NAME, make_model_folder(c=0.1), lineage={}, approval="manual")
    events = registry.events.read(NAME)

    assert version_status(1, registry.lineage(NAME, 1), events) == "approved"
    assert version_status(2, registry.lineage(NAME, 2), events) == "pending"
    # A version registered before approval modes existed was approved by the gate.
    assert version_status(3, {}, []) == "approved"
    # Without its history (lost, or a crash before it was written), a manual
    # registration is still pending: the status starts from the version's lineage.
    assert version_status(2, {"approval_mode": "manual"}, []) == "pending"


def test_a_corrupt_event_is_named_in_one_sentence(
    tmp_path: Path, make_model_folder: Callable[..., Path]
) -> None:
    registry = ModelRegistry(tmp_path / "registry")
    registry.register(NAME, make_model_folder(), lineage={})
    event = sorted((tmp_path / "registry" / NAME / HISTORY_DIR).glob("*.json"))[0]
    event.write_text("{", encoding="utf-8")

    with pytest.raises(RegistryError, match=rf"History event .*{event.name} is not"):
        registry.events.read(NAME)


def test_a_registry_without_history_or_aliases_still_lists_and_serves(
    tmp_path: Path, make_model_folder: Callable[..., Path]
) -> None:
    import shutil

    from mlops_suite.registry import governance

    registry = ModelRegistry(tmp_path / "registry")
    registry.register(NAME, make_model_folder(c=1.0), lineage={})
    registry.register(NAME, make_model_folder(c=0.1), lineage={})
    # What a registry written before the history existed looks like.
    shutil.rmtree(tmp_path / "registry" / NAME / HISTORY_DIR)
    for version in (1, 2):
        meta_file = tmp_path / "registry" / NAME / f"v{version}" / "metadata.json"
        meta = json.loads(meta_file.read_text(encoding="utf-8"))
        del meta["lineage"]["approval_mode"]
        meta_file.write_text(json.dumps(meta), encoding="utf-8")

    states = governance.states(registry, NAME)

    assert [(s.version, s.status, s.aliases) for s in states] == [
        (1, "approved", ()),
        (2, "approved", ("champion",)),
    ]
    assert governance.history(registry, NAME) == []
    with registry.local_copy(NAME) as folder:
        assert Path(folder, "model.joblib").is_file()
    assert registry.set_champion(NAME, 1).version == 1
