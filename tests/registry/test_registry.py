"""The model registry: versions, champion, integrity, atomicity, concurrency."""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import sys
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import joblib
import numpy as np
import pytest

import mlops_suite.registry.store as registry_store
from mlops_suite import __version__
from mlops_suite.artifacts import (
    CHAMPION_FILE,
    METADATA_FILE,
    MODEL_CARD_FILE,
    MODEL_FILE,
)
from mlops_suite.errors import (
    ModelFolderError,
    ModelIntegrityError,
    ModelNameError,
    RegistryError,
)
from mlops_suite.model_card import build_model_card
from mlops_suite.registry import (
    LINEAGE_KEYS,
    MAX_NAME_LENGTH,
    ModelRegistry,
    validate_model_name,
)

NAME = "penguins-rf"
SCHEMA = {"columns": [{"name": "x1", "type": "numeric", "dtype": "float64"}]}
STATISTICS = {"num_rows": 6, "columns": [{"name": "x1", "type": "numeric"}]}


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _lineage(run: str = "run-1") -> dict[str, object]:
    return {"pipeline_run_id": run, "metrics": {"roc_auc": 0.97}}


@pytest.fixture
def registry(tmp_path: Path) -> ModelRegistry:
    return ModelRegistry(tmp_path / "registry")


# ------------------------------------------------------------------ registering


def test_versions_count_from_one_and_each_new_version_becomes_champion(
    registry: ModelRegistry, make_model_folder: Callable[..., Path]
) -> None:
    first, second = make_model_folder(c=1.0), make_model_folder(c=0.1)

    one = registry.register(NAME, first, lineage=_lineage())
    two = registry.register(NAME, second, lineage=_lineage("run-2"))

    assert (one.version, one.created, two.version, two.created) == (1, True, 2, True)
    assert registry.versions(NAME) == [1, 2]
    assert registry.latest_version(NAME) == 2
    assert registry.models() == [NAME]
    champion = registry.champion(NAME)
    assert champion is not None
    assert champion.version == 2
    assert champion.model_sha256 == _sha(second / MODEL_FILE)
    assert champion.previous_version == 1
    assert two.uri == registry.version_uri(NAME, 2)
    assert Path(two.uri) == Path(registry.uri).absolute() / NAME / "v2"
    assert sorted(p.name for p in Path(two.uri).iterdir()) == [
        METADATA_FILE,
        MODEL_FILE,
        MODEL_CARD_FILE,
    ]


def test_version_metadata_holds_model_metadata_lineage_schema_and_statistics(
    registry: ModelRegistry, make_model_folder: Callable[..., Path]
) -> None:
    folder = make_model_folder()
    model_meta = json.loads((folder / METADATA_FILE).read_text())

    registry.register(
        NAME, folder, lineage=_lineage(), schema=SCHEMA, statistics=STATISTICS
    )

    meta = registry.metadata(NAME, 1)
    assert meta["version"] == 1
    assert meta["features"] == model_meta["features"]
    assert meta["classes"] == ["a", "b"]
    assert meta["schema"] == SCHEMA
    assert meta["statistics"] == STATISTICS
    lineage = registry.lineage(NAME)  # the champion's by default
    assert lineage == meta["lineage"]
    assert set(LINEAGE_KEYS) <= set(lineage)
    assert lineage["pipeline_run_id"] == "run-1"
    assert lineage["metrics"] == {"roc_auc": 0.97}
    assert lineage["model_sha256"] == model_meta["model_sha256"]
    assert lineage["data_sha256"] == model_meta["data_sha256"]
    assert lineage["hyperparameters"] == {"C": 1.0}
    assert lineage["package_version"] == __version__
    assert lineage["registered_at"].endswith("+00:00")
    assert lineage["approval_reason"] is None  # not given: present, but unknown
    assert "explanation" not in meta  # none given


def test_every_version_has_a_model_card_built_from_its_metadata(
    registry: ModelRegistry, make_model_folder: Callable[..., Path]
) -> None:
    explanation = {
        "metric": "roc_auc",
        "permutation_importance": {
            "x1": {"mean": 0.3, "std": 0.02},
            "x2": {"mean": 0.01, "std": 0.01},
        },
    }
    registry.register(
        NAME,
        make_model_folder(),
        lineage={**_lineage(), "intended_use": "Ranking penguins for a demo."},
        statistics=STATISTICS,
        explanation=explanation,
    )

    meta = registry.metadata(NAME, 1)
    card = (Path(registry.version_uri(NAME, 1)) / MODEL_CARD_FILE).read_text()
    assert meta["explanation"] == explanation
    assert card == build_model_card(meta, model_name=NAME)
    assert card.startswith(f"# Model card: {NAME} v1\n")
    assert "Ranking penguins for a demo." in card
    assert "| 1 | x1 | 0.3000 | 0.0200 |" in card


def test_registered_model_predicts_like_the_original(
    registry: ModelRegistry,
    make_model_folder: Callable[..., Path],
    probe_rows: np.ndarray,
    tmp_path: Path,
) -> None:
    folder = make_model_folder()
    registry.register(NAME, folder, lineage=_lineage())

    fetched = Path(registry.fetch(NAME, dest=tmp_path / "serving"))

    original = joblib.load(folder / MODEL_FILE)
    served = joblib.load(fetched / MODEL_FILE)
    np.testing.assert_array_equal(
        served.predict(probe_rows), original.predict(probe_rows)
    )
    assert json.loads((fetched / METADATA_FILE).read_text())["version"] == 1


def test_identical_model_adds_no_version(
    registry: ModelRegistry, make_model_folder: Callable[..., Path], tmp_path: Path
) -> None:
    folder = make_model_folder()
    registry.register(NAME, folder, lineage=_lineage())
    champion_before = (Path(registry.uri) / NAME / CHAMPION_FILE).read_bytes()
    retrained = tmp_path / "same-bytes"
    retrained.mkdir()
    for name in (MODEL_FILE, METADATA_FILE):
        (retrained / name).write_bytes((folder / name).read_bytes())

    again = registry.register(NAME, retrained, lineage=_lineage("run-2"))

    assert (again.version, again.created) == (1, False)
    assert again.uri == registry.version_uri(NAME, 1)
    assert registry.versions(NAME) == [1]
    assert (Path(registry.uri) / NAME / CHAMPION_FILE).read_bytes() == champion_before


def test_crash_while_publishing_leaves_no_version_and_champion_unchanged(
    registry: ModelRegistry,
    make_model_folder: Callable[..., Path],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    registry.register(NAME, make_model_folder(c=1.0), lineage=_lineage())
    model_root = Path(registry.uri) / NAME
    champion_before = (model_root / CHAMPION_FILE).read_bytes()

    def crash(src: object, dst: object) -> None:
        raise OSError(5, "simulated crash during rename")

    monkeypatch.setattr(os, "rename", crash)
    with pytest.raises(RegistryError, match=r"v2 .*simulated crash.*nothing was"):
        registry.register(NAME, make_model_folder(c=0.1), lineage=_lineage())
    monkeypatch.undo()

    assert registry.versions(NAME) == [1]
    assert sorted(p.name for p in model_root.iterdir()) == [
        CHAMPION_FILE,
        "history",
        "v1",
    ]
    assert (model_root / CHAMPION_FILE).read_bytes() == champion_before


def test_failed_champion_update_keeps_the_old_champion_file_whole(
    registry: ModelRegistry,
    make_model_folder: Callable[..., Path],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    registry.register(NAME, make_model_folder(c=1.0), lineage=_lineage())
    model_root = Path(registry.uri) / NAME
    champion_before = (model_root / CHAMPION_FILE).read_bytes()
    real_replace = os.replace

    def replace(src: str, dst: str) -> None:
        if Path(dst).name == CHAMPION_FILE:
            raise OSError(28, "simulated full disk")
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", replace)
    with pytest.raises(
        RegistryError,
        match=r"mlops registry promote --model-name penguins-rf --version 2",
    ):
        registry.register(NAME, make_model_folder(c=0.1), lineage=_lineage())
    monkeypatch.undo()

    # The old pointer is intact and no temporary file is left beside it; v2 is a
    # complete version that can be promoted by hand.
    assert (model_root / CHAMPION_FILE).read_bytes() == champion_before
    assert sorted(p.name for p in model_root.iterdir()) == [
        CHAMPION_FILE,
        "history",
        "v1",
        "v2",
    ]
    assert registry.set_champion(NAME, 2).version == 2


def test_tampered_model_is_refused_and_nothing_is_registered(
    registry: ModelRegistry, make_model_folder: Callable[..., Path]
) -> None:
    folder = make_model_folder()
    with (folder / MODEL_FILE).open("ab") as handle:
        handle.write(b"tampered")

    with pytest.raises(ModelIntegrityError, match=r"model\.joblib has sha256"):
        registry.register(NAME, folder, lineage=_lineage())

    assert registry.versions(NAME) == []
    assert registry.champion(NAME) is None


def test_lineage_with_another_models_sha_is_refused(
    registry: ModelRegistry, make_model_folder: Callable[..., Path]
) -> None:
    with pytest.raises(ModelIntegrityError, match="model_sha256 'abc'"):
        registry.register(NAME, make_model_folder(), lineage={"model_sha256": "abc"})
    assert registry.versions(NAME) == []


def test_folder_without_metadata_is_refused(
    registry: ModelRegistry, make_model_folder: Callable[..., Path]
) -> None:
    folder = make_model_folder()
    (folder / METADATA_FILE).unlink()
    with pytest.raises(ModelFolderError, match=r"lacks metadata\.json"):
        registry.register(NAME, folder, lineage={})


def test_folder_with_a_second_model_file_is_refused(
    registry: ModelRegistry, make_model_folder: Callable[..., Path]
) -> None:
    # KServe would refuse to choose between them, so the registry does too.
    folder = make_model_folder()
    (folder / "backup.pkl").write_bytes((folder / MODEL_FILE).read_bytes())
    with pytest.raises(ModelFolderError, match="holds 2 model files.*backup.pkl"):
        registry.register(NAME, folder, lineage={})
    assert registry.versions(NAME) == []


# ------------------------------------------------------------------ concurrency


def test_racing_registrations_take_distinct_versions(
    registry: ModelRegistry,
    make_model_folder: Callable[..., Path],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Hold both registrations inside staging until both have picked a number, so
    # they pick the same one and must resolve the collision.
    barrier = threading.Barrier(2, timeout=20)
    staged: list[str] = []
    real_staged_dir = registry_store.staged_dir

    @contextmanager
    def racing(path: Path) -> Iterator[Path]:
        with real_staged_dir(path) as staging:
            staged.append(Path(path).name)
            if len(staged) <= 2:
                barrier.wait()
            yield staging

    monkeypatch.setattr(registry_store, "staged_dir", racing)
    folders = [make_model_folder(c=1.0), make_model_folder(c=0.1)]
    with ThreadPoolExecutor(max_workers=2) as pool:
        results = list(
            pool.map(lambda f: registry.register(NAME, f, lineage=_lineage()), folders)
        )

    assert staged[:2] == ["v1", "v1"]  # both really went for v1
    assert sorted(r.version for r in results) == [1, 2]
    assert registry.versions(NAME) == [1, 2]
    shas = {registry.metadata(NAME, v)["model_sha256"] for v in (1, 2)}
    assert shas == {_sha(f / MODEL_FILE) for f in folders}


def _register_in_child(
    uri: str, folders: list[str], start: object, results: object
) -> None:
    start.wait()  # type: ignore[attr-defined]
    for folder in folders:
        version = ModelRegistry(uri).register(NAME, folder, lineage={}).version
        results.put(version)  # type: ignore[attr-defined]


def test_concurrent_processes_take_distinct_versions(
    registry: ModelRegistry, make_model_folder: Callable[..., Path]
) -> None:
    context = multiprocessing.get_context("fork")
    start, results = context.Barrier(2), context.Queue()
    batches = [
        [str(make_model_folder(c=c)) for c in (1.0, 0.5)],
        [str(make_model_folder(c=c)) for c in (0.1, 0.05)],
    ]
    children = [
        context.Process(
            target=_register_in_child, args=(registry.uri, batch, start, results)
        )
        for batch in batches
    ]
    for child in children:
        child.start()
    for child in children:
        child.join(timeout=60)
    assert [child.exitcode for child in children] == [0, 0]

    versions = sorted(results.get(timeout=5) for _ in range(4))
    assert versions == [1, 2, 3, 4]
    assert registry.versions(NAME) == [1, 2, 3, 4]


# ------------------------------------------------------------------ reading back


def test_fetch_defaults_to_the_champion_and_can_fetch_any_version(
    registry: ModelRegistry, make_model_folder: Callable[..., Path], tmp_path: Path
) -> None:
    first, second = make_model_folder(c=1.0), make_model_folder(c=0.1)
    registry.register(NAME, first, lineage=_lineage())
    registry.register(NAME, second, lineage=_lineage())

    champion_dir = Path(registry.fetch(NAME, dest=tmp_path / "champion"))
    old_dir = Path(registry.fetch(NAME, 1, tmp_path / "old"))
    temporary = Path(registry.fetch(NAME, 1))  # no dest: a fresh temporary folder

    assert _sha(champion_dir / MODEL_FILE) == _sha(second / MODEL_FILE)
    assert _sha(old_dir / MODEL_FILE) == _sha(first / MODEL_FILE)
    assert _sha(temporary / MODEL_FILE) == _sha(first / MODEL_FILE)
    assert sorted(p.name for p in champion_dir.iterdir()) == [METADATA_FILE, MODEL_FILE]


def test_fetch_of_a_changed_registry_file_fails_and_leaves_nothing(
    registry: ModelRegistry, make_model_folder: Callable[..., Path], tmp_path: Path
) -> None:
    registry.register(NAME, make_model_folder(), lineage=_lineage())
    stored = Path(registry.version_uri(NAME, 1)) / MODEL_FILE
    stored.write_bytes(stored.read_bytes() + b"x")
    dest = tmp_path / "dest"

    with pytest.raises(ModelIntegrityError, match=r"model\.joblib \(penguins-rf v1\)"):
        registry.fetch(NAME, 1, dest)
    with pytest.raises(ModelIntegrityError, match="penguins-rf v1"):
        registry.local_path(NAME, 1)
    with pytest.raises(ModelIntegrityError):
        registry.set_champion(NAME, 1)
    assert list(dest.iterdir()) == []


def test_version_without_a_recorded_sha_is_never_served(
    registry: ModelRegistry, make_model_folder: Callable[..., Path], tmp_path: Path
) -> None:
    registry.register(NAME, make_model_folder(), lineage=_lineage())
    meta_file = Path(registry.version_uri(NAME, 1)) / METADATA_FILE
    meta = json.loads(meta_file.read_text())
    del meta["model_sha256"]
    meta_file.write_text(json.dumps(meta))

    unverifiable = rf"{METADATA_FILE} records no model_sha256"
    with pytest.raises(RegistryError, match=unverifiable):
        registry.fetch(NAME, dest=tmp_path / "dest")
    with pytest.raises(RegistryError, match=unverifiable):
        registry.local_path(NAME)
    with pytest.raises(RegistryError, match=unverifiable):
        registry.set_champion(NAME, 1)
    assert not (tmp_path / "dest" / MODEL_FILE).exists()


def test_local_path_returns_the_verified_folder_in_place(
    registry: ModelRegistry, make_model_folder: Callable[..., Path]
) -> None:
    registry.register(NAME, make_model_folder(), lineage=_lineage())

    assert Path(registry.local_path(NAME)) == Path(registry.version_uri(NAME, 1))


def test_set_champion_rolls_back_and_refuses_unknown_versions(
    registry: ModelRegistry, make_model_folder: Callable[..., Path], tmp_path: Path
) -> None:
    first = make_model_folder(c=1.0)
    registry.register(NAME, first, lineage=_lineage())
    registry.register(NAME, make_model_folder(c=0.1), lineage=_lineage())

    rolled_back = registry.set_champion(NAME, 1)

    assert (rolled_back.version, rolled_back.previous_version) == (1, 2)
    assert registry.champion(NAME) == rolled_back
    served = Path(registry.fetch(NAME, dest=tmp_path / "serving"))
    assert _sha(served / MODEL_FILE) == _sha(first / MODEL_FILE)
    with pytest.raises(RegistryError, match=r"no version 9 .*versions 1, 2\."):
        registry.set_champion(NAME, 9)
    assert registry.champion(NAME) == rolled_back


# ------------------------------------------------------------------ errors


@pytest.mark.parametrize(
    "name",
    ["Penguins", "penguins_rf", "-penguins", "penguins-", "9lives", ""],
)
def test_model_names_must_be_kubernetes_names(
    registry: ModelRegistry, make_model_folder: Callable[..., Path], name: str
) -> None:
    with pytest.raises(ModelNameError, match="lowercase letters, digits and '-'"):
        registry.register(name, make_model_folder(), lineage={})
    assert registry.models() == []


def test_valid_model_names_pass() -> None:
    assert validate_model_name("penguins-rf-2") == "penguins-rf-2"
    assert validate_model_name("a" * MAX_NAME_LENGTH) == "a" * MAX_NAME_LENGTH


def test_a_name_too_long_to_deploy_is_refused_in_one_sentence(
    registry: ModelRegistry, make_model_folder: Callable[..., Path]
) -> None:
    # Valid as a Kubernetes label (at most 63), but KServe's "-predictor" suffix
    # would push the InferenceService's Service name past 63.
    name = "penguins-" + "x" * 51
    assert len(name) == 60
    with pytest.raises(ModelNameError) as caught:
        registry.register(name, make_model_folder(), lineage={})
    message = str(caught.value)
    assert name in message and "60 characters" in message and "53" in message
    assert "\n" not in message and message.count(". ") == 0
    assert registry.models() == []


def test_a_name_of_the_longest_deployable_length_registers(
    registry: ModelRegistry, make_model_folder: Callable[..., Path]
) -> None:
    name = "penguins-" + "x" * 44
    assert len(name) == MAX_NAME_LENGTH == 53

    registered = registry.register(name, make_model_folder(), lineage={})

    assert (registered.version, registered.created) == (1, True)
    assert registry.models() == [name]


def test_metadata_of_another_version_is_refused(
    registry: ModelRegistry, make_model_folder: Callable[..., Path]
) -> None:
    registry.register(NAME, make_model_folder(), lineage={})
    path = Path(registry.version_uri(NAME, 1)) / METADATA_FILE
    path.write_text(json.dumps({**json.loads(path.read_text()), "version": 2}))
    with pytest.raises(RegistryError, match="records version 2 but sits in folder v1"):
        registry.metadata(NAME, 1)


def test_unknown_model_and_missing_version_are_named(
    registry: ModelRegistry, make_model_folder: Callable[..., Path], tmp_path: Path
) -> None:
    assert registry.versions("nothing-here") == []
    assert registry.champion("nothing-here") is None
    assert registry.latest_version("nothing-here") is None
    with pytest.raises(
        RegistryError, match="'nothing-here' is not in registry .*no models"
    ):
        registry.fetch("nothing-here", dest=tmp_path / "x")

    registry.register(NAME, make_model_folder(), lineage={})

    with pytest.raises(
        RegistryError, match=f"'other' is not in registry .*holds {NAME}"
    ):
        registry.metadata("other", 1)
    with pytest.raises(RegistryError, match=r"has no version 3 .*it has version 1\."):
        registry.metadata(NAME, 3)
    with pytest.raises(RegistryError, match="Version 0 is not valid"):
        registry.version_uri(NAME, 0)


def test_corrupt_champion_file_is_named_and_set_champion_repairs_it(
    registry: ModelRegistry, make_model_folder: Callable[..., Path]
) -> None:
    registry.register(NAME, make_model_folder(), lineage={})
    pointer = Path(registry.uri) / NAME / CHAMPION_FILE
    pointer.write_text('{"version": "latest"')

    with pytest.raises(RegistryError, match=rf"{CHAMPION_FILE} is corrupt"):
        registry.champion(NAME)
    with pytest.raises(RegistryError, match=str(pointer)):
        registry.register(NAME, make_model_folder(c=0.1), lineage={})

    assert registry.set_champion(NAME, 1).version == 1
    champion = registry.champion(NAME)
    assert champion is not None and champion.version == 1


def test_registry_path_that_is_a_file_is_unreachable(tmp_path: Path) -> None:
    blocker = tmp_path / "registry"
    blocker.write_text("not a folder")

    with pytest.raises(RegistryError, match="unreachable: .* is a file"):
        ModelRegistry(blocker).versions(NAME)


@pytest.mark.parametrize(
    ("uri", "package"), [("gs://b/r", "gcsfs"), ("s3://b/r", "s3fs")]
)
def test_object_store_uri_names_the_missing_package(
    uri: str, package: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # As on a machine without the package (the stores extra installs both): no
    # module to import, and no class fsspec remembers from an earlier import.
    remembered = sys.modules["fsspec.registry"]._registry
    monkeypatch.setitem(sys.modules, package, None)
    for protocol in ("gs", "gcs", "s3", "s3a"):
        monkeypatch.delitem(remembered, protocol, raising=False)
    with pytest.raises(RegistryError, match=f"needs the {package} package"):
        ModelRegistry(uri)


def test_unknown_protocol_is_named() -> None:
    with pytest.raises(RegistryError, match="unknown protocol 'nosuch'"):
        ModelRegistry("nosuch://bucket/registry")
