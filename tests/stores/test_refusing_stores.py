"""An object store that cannot be reached, or refuses: one sentence, nothing written.

Each case names the URI and what was attempted, exits 1 (commands) or raises a
:class:`~mlops_suite.errors.MlopsError` (the API), and leaves the registry as it was:
no version folder, no claim, the champion unchanged.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from object_stores import ObjectStore, forget_clients, free_port

from mlops_suite.cli import main
from mlops_suite.data.ingest import read_table
from mlops_suite.errors import DataError, RegistryError
from mlops_suite.registry import ModelRegistry

pytestmark = pytest.mark.stores
MODEL = "penguins"


def one_sentence(text: str) -> str:
    lines = text.strip().splitlines()
    assert len(lines) == 1, text
    assert "Traceback" not in text
    return lines[0]


def test_a_closed_port_is_named_in_one_sentence(
    store: ObjectStore,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    closed = f"http://127.0.0.1:{free_port()}"
    variable = "AWS_ENDPOINT_URL" if store.scheme == "s3" else "STORAGE_EMULATOR_HOST"
    monkeypatch.setenv(variable, closed)
    forget_clients()
    uri = store.uri("registry")

    code = main(["registry", "list", "--registry", uri, "--model-name", MODEL])

    captured = capsys.readouterr()
    error = one_sentence(captured.err)
    assert code == 1 and captured.out == ""
    assert uri in error and "unreachable" in error
    assert closed.removeprefix("http://") in error  # the address that was tried


def test_a_missing_bucket_registers_nothing_and_says_which(
    store: ObjectStore, model_folders: list[Path]
) -> None:
    uri = f"{store.scheme}://no-such-bucket-{store.prefix}/registry"

    with pytest.raises(RegistryError) as raised:
        ModelRegistry(uri).register(MODEL, model_folders[0], lineage={})

    message = one_sentence(str(raised.value))
    assert uri in message and "does not exist" in message
    assert not store.filesystem().exists(f"no-such-bucket-{store.prefix}")


@pytest.mark.parametrize(
    "command",
    [
        ["serve", "--port", "0"],
        ["registry", "list"],
        ["manifest", "--storage-uri", "s3://x/r", "--overlay", "kind", "--output"],
    ],
    ids=["serve", "registry-list", "manifest"],
)
def test_commands_reading_a_missing_bucket_say_so_in_one_sentence(
    store: ObjectStore,
    command: list[str],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    uri = f"{store.scheme}://no-such-bucket-{store.prefix}/registry"
    if command[-1] == "--output":
        command = [*command, str(tmp_path / "deploy")]

    code = main([*command, "--registry", uri, "--model-name", MODEL])

    captured = capsys.readouterr()
    error = one_sentence(captured.err)
    assert code == 1 and captured.out == ""
    assert uri in error and "does not exist" in error
    assert not (tmp_path / "deploy").exists()


def test_reading_data_from_a_missing_bucket_names_the_file(
    store: ObjectStore,
) -> None:
    uri = f"{store.scheme}://no-such-bucket-{store.prefix}/data/penguins.csv"

    with pytest.raises(DataError) as raised:
        read_table(uri)

    assert uri in one_sentence(str(raised.value))


def test_read_only_keys_register_nothing_and_keep_the_champion(
    s3_iam: ObjectStore,
    model_folders: list[Path],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    uri = s3_iam.uri("registry")
    ModelRegistry(uri).register(MODEL, model_folders[0], lineage={})
    s3_iam.act_as("reader", monkeypatch)
    registry = ModelRegistry(uri)

    with pytest.raises(RegistryError) as raised:
        registry.register(MODEL, model_folders[1], lineage={})
    message = one_sentence(str(raised.value))
    assert f"publish {MODEL} v2 in registry {uri}" in message
    assert "Access Denied" in message and "nothing was registered" in message

    # Reading is allowed: the registry is as it was, nothing of v2 was left.
    assert registry.versions(MODEL) == [1]
    assert registry.champion(MODEL).version == 1  # type: ignore[union-attr]
    stored = s3_iam.filesystem().find(s3_iam.path("registry", MODEL))
    assert stored and not [path for path in stored if "v2" in path]


def test_a_model_write_refused_after_the_claim_leaves_no_version(
    s3_iam: ObjectStore,
    model_folders: list[Path],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    uri = s3_iam.uri("registry")
    ModelRegistry(uri).register(MODEL, model_folders[0], lineage={})
    s3_iam.act_as("claimer", monkeypatch)
    registry = ModelRegistry(uri)

    with pytest.raises(RegistryError) as raised:
        registry.register(MODEL, model_folders[1], lineage={})

    message = one_sentence(str(raised.value))
    assert f"publish {MODEL} v2 in registry {uri}" in message
    assert "nothing was registered" in message
    assert registry.versions(MODEL) == [1]
    assert registry.champion(MODEL).version == 1  # type: ignore[union-attr]
    stored = s3_iam.filesystem().find(s3_iam.path("registry", MODEL))
    # Only the claim is left: it retires the number, and v3 comes next.
    assert [path for path in stored if "v2" in path] == [
        path for path in stored if "/.claims/v2/" in path
    ]
    assert any("/.claims/v2/" in path for path in stored)
    s3_iam.act_as("writer", monkeypatch)
    assert ModelRegistry(uri).register(MODEL, model_folders[1], lineage={}).version == 3


def test_unknown_keys_are_refused_in_one_sentence(
    s3_iam: ObjectStore,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    uri = s3_iam.uri("registry")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAWRONGWRONGWRONG0")
    forget_clients()

    code = main(["registry", "list", "--registry", uri, "--model-name", MODEL])

    error = one_sentence(capsys.readouterr().err)
    assert code == 1 and uri in error
