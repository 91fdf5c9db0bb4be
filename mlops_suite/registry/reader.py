"""Reading a model registry: versions, champion, metadata, verified copies.

:class:`RegistryReader` is the read side of :class:`~mlops_suite.registry.ModelRegistry`
(which adds registering, promoting and the ONNX export): listing versions, reading the
champion and a version's metadata, and handing out a version's files only after their
sha256 matched what was recorded.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import IO, Any

from mlops_suite.artifacts import (
    CHAMPION_FILE,
    METADATA_FILE,
    MODEL_FILE,
)
from mlops_suite.atomic import json_bytes, write_bytes
from mlops_suite.errors import ModelIntegrityError, RegistryError
from mlops_suite.model_folder import check_companion_name
from mlops_suite.registry.aliases import AliasFiles
from mlops_suite.registry.history import (
    EventLog,
)
from mlops_suite.registry.names import is_model_name, validate_model_name
from mlops_suite.registry.records import (
    Champion,
    parse_champion,
)
from mlops_suite.registry.runs import RunRecords
from mlops_suite.registry.store import (
    copy_hashing,
    open_store,
    reaching,
    version_dir,
)


class RegistryReader:
    """Reads versions, champion and lineage; every file read is checked (sha256).

    Args:
        uri: A folder path, ``file://`` URI, or fsspec URI.

    Raises:
        RegistryError: The URI's protocol is unknown or needs a package that is not
            installed.
    """

    def __init__(self, uri: str | os.PathLike[str]) -> None:
        self.uri = os.fspath(uri)
        self._store = open_store(self.uri)
        # Append-only: events are added, never rewritten (see history.py).
        self.events = EventLog(self._store)
        self.alias_files = AliasFiles(self._store, self.events)
        # What each pipeline run decided, for its exit step (see runs.py).
        self.runs = RunRecords(self._store)

    def __repr__(self) -> str:
        return f"ModelRegistry({self.uri!r})"

    # ----------------------------------------------------------------- reading

    def models(self) -> list[str]:
        """The names of the models in the registry, sorted."""
        with self._reaching("list the models"):
            entries = self._store.list_dir()
        return sorted(entry for entry in entries if is_model_name(entry))

    def versions(self, name: str) -> list[int]:
        """The published versions of ``name``, ascending; empty for an unknown model.

        Args:
            name: The model name.

        Returns:
            The version numbers.
        """
        validate_model_name(name)
        with self._reaching(f"list the versions of {name!r}"):
            return sorted(self._store.published_versions(name))

    def latest_version(self, name: str) -> int | None:
        """The highest published version of ``name``, or ``None`` when it has none."""
        return max(self.versions(name), default=None)

    def champion(self, name: str) -> Champion | None:
        """The champion of ``name``, or ``None`` when none was promoted yet.

        Args:
            name: The model name.

        Returns:
            The champion.

        Raises:
            RegistryError: ``champion.json`` is corrupt, or the registry is unreachable.
        """
        validate_model_name(name)
        try:
            with self._reaching(f"read the champion of {name!r}"):
                raw = self._store.read_bytes(name, CHAMPION_FILE)
        except FileNotFoundError:
            return None
        return parse_champion(raw, self._store.location(name, CHAMPION_FILE))

    def metadata(self, name: str, version: int) -> dict[str, Any]:
        """The metadata of one version: the model's own, plus version and lineage.

        Args:
            name: The model name.
            version: The version number.

        Returns:
            The parsed ``metadata.json`` (keys ``version``, ``lineage``, ``schema``,
            ``statistics`` besides the model folder's metadata).

        Raises:
            RegistryError: The model or version does not exist, or the file is corrupt
                or records another version.
        """
        validate_model_name(name)
        folder = version_dir(version)
        location = self._store.location(name, folder, METADATA_FILE)
        try:
            with self._reaching(f"read {name} v{version}"):
                raw = self._store.read_bytes(name, folder, METADATA_FILE)
        except FileNotFoundError:
            raise self._missing(name, version) from None
        try:
            parsed = json.loads(raw)
        except (ValueError, UnicodeDecodeError) as exc:
            raise RegistryError(f"{location} is not valid JSON ({exc}).") from None
        if not isinstance(parsed, dict):
            raise RegistryError(f"{location} does not hold a JSON object.")
        recorded = parsed.get("version", version)
        if recorded != version:
            raise RegistryError(
                f"{location} records version {recorded!r} but sits in folder "
                f"{folder}; the registry is inconsistent."
            )
        return parsed

    def lineage(self, name: str, version: int | None = None) -> dict[str, Any]:
        """Where a version came from (data and schema hashes, run, commit, metrics...).

        Args:
            name: The model name.
            version: The version; the champion by default.

        Returns:
            The version's ``lineage`` mapping.
        """
        version = self._resolve(name, version)
        return dict(self.metadata(name, version).get("lineage") or {})

    def version_uri(self, name: str, version: int) -> str:
        """Where a version's folder lives: a local path, or a URI like the registry's.

        This is what a serving runtime's ``storageUri`` points at; nothing is checked.

        Args:
            name: The model name.
            version: The version number.

        Returns:
            The folder's path or URI.
        """
        validate_model_name(name)
        return self._store.location(name, version_dir(version))

    def read_file(self, name: str, version: int, file_name: str) -> bytes:
        """A companion file of a version (see ``files`` of :meth:`register`).

        Args:
            name: The model name.
            version: The version number.
            file_name: The file, as recorded under ``files`` in ``metadata.json``.

        Returns:
            Its content, checked against the recorded sha256.

        Raises:
            RegistryError: The version records no such file, or it is missing.
            ModelIntegrityError: The file does not match its recorded sha256.
        """
        recorded = (self.metadata(name, version).get("files") or {}).get(file_name)
        location = self._store.location(name, version_dir(version), file_name)
        if not isinstance(recorded, str):
            raise RegistryError(
                f"{name} v{version} records no file {file_name!r} in its "
                f"{METADATA_FILE}; it was registered without one."
            )
        try:
            with self._reaching(f"read {location}"):
                data = self._store.read_bytes(name, version_dir(version), file_name)
        except FileNotFoundError:
            raise RegistryError(
                f"{location} is missing although {name} v{version} records it; the "
                "registry was changed by hand."
            ) from None
        if hashlib.sha256(data).hexdigest() != recorded:
            raise ModelIntegrityError(
                f"{location} does not match the sha256 {recorded[:12]}… its "
                f"{METADATA_FILE} records; the file was changed, so it is not used."
            )
        return data

    # ----------------------------------------------------------------- writing

    def verify(self, name: str, version: int) -> None:
        """Check a version's model file against the sha256 its metadata records.

        Args:
            name: The model name.
            version: The version.

        Raises:
            RegistryError: The version does not exist or records no sha256.
            ModelIntegrityError: The model file does not match it.
        """
        _, sha = self._recorded(name, version)
        self._verify(name, version, sha)

    def fetch(
        self,
        name: str,
        version: int | None = None,
        dest: str | os.PathLike[str] | None = None,
    ) -> str:
        """Download a version into a local model folder, verifying its sha256.

        Args:
            name: The model name.
            version: The version; the champion by default.
            dest: The local folder to write ``model.joblib``, its companion files
                and ``metadata.json`` into (created if needed); a new temporary
                folder by default.

        Returns:
            The local model folder.

        Raises:
            RegistryError: The model, version or champion does not exist.
            ModelIntegrityError: The downloaded file does not match its sha256; nothing
                is left in ``dest``.
        """
        version = self._resolve(name, version)
        meta, expected = self._recorded(name, version)
        created = dest is None
        folder = (
            Path(tempfile.mkdtemp(prefix=f"{name}-v{version}-"))
            if dest is None
            else Path(dest)
        )
        try:
            folder.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(
                dir=folder, prefix=f".{MODEL_FILE}.", suffix=".tmp"
            )
            try:
                with os.fdopen(fd, "wb") as out:
                    actual = self._copy_out(name, version, out)
                    out.flush()
                    os.fsync(out.fileno())
                self._check_sha(name, version, actual, expected)
                os.replace(tmp, folder / MODEL_FILE)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
            for file_name in meta.get("files") or {}:
                check_companion_name(file_name)
                write_bytes(
                    folder / file_name, self.read_file(name, version, file_name)
                )
            write_bytes(folder / METADATA_FILE, json_bytes(meta))
        except BaseException:
            if created:
                shutil.rmtree(folder, ignore_errors=True)
            raise
        return str(folder)

    def local_path(self, name: str, version: int | None = None) -> str:
        """The folder of a version in place, for registries on a local path.

        The model file is verified against its recorded sha256 before returning.

        Args:
            name: The model name.
            version: The version; the champion by default.

        Returns:
            The version's folder.

        Raises:
            RegistryError: The registry is not local, or the version does not exist.
            ModelIntegrityError: The model file does not match its sha256.
        """
        version = self._resolve(name, version)
        folder = self._store.local_dir(name, version_dir(version))
        if folder is None:
            raise RegistryError(
                f"Registry {self.uri} is not a local folder; use fetch({name!r}, "
                f"{version}) to download the version instead."
            )
        _, sha = self._recorded(name, version)
        self._verify(name, version, sha)
        return str(folder)

    @contextmanager
    def local_copy(self, name: str, version: int | None = None) -> Iterator[str]:
        """A local folder holding a version, for the length of a ``with`` block.

        In place when the registry is local; else a verified download into a
        temporary folder that is removed when the block ends.

        Args:
            name: The model name.
            version: The version; the champion by default.

        Yields:
            A folder with the version's ``model.joblib`` and ``metadata.json``.

        Raises:
            RegistryError: The version does not exist or cannot be read.
            ModelIntegrityError: The model file does not match its sha256.
        """
        if self._store.local_dir(name) is not None:
            yield self.local_path(name, version)
            return
        folder = self.fetch(name, version)
        try:
            yield folder
        finally:
            shutil.rmtree(folder, ignore_errors=True)

    # ----------------------------------------------------------------- internals

    def _resolve(self, name: str, version: int | None) -> int:
        """``version``, or the champion's when ``None``."""
        if version is not None:
            return version
        current = self.champion(name)
        if current is None:
            if not self.versions(name):
                raise self._unknown(name)
            raise RegistryError(
                f"Model {name!r} in registry {self.uri} has no champion; pass a "
                "version or run set_champion first."
            )
        return current.version

    def _copy_out(self, name: str, version: int, out: IO[bytes] | None) -> str:
        """Stream a version's model file into ``out`` (if given); return its sha256."""
        try:
            with self._reaching(f"read {name} v{version}"):
                with self._store.open_read(
                    name, version_dir(version), MODEL_FILE
                ) as src:
                    return copy_hashing(src, out)
        except FileNotFoundError:
            raise RegistryError(
                f"{self._store.location(name, version_dir(version), MODEL_FILE)} is "
                f"missing although {name} v{version} is published; the registry was "
                "changed by hand."
            ) from None

    def _verify(self, name: str, version: int, expected: str) -> None:
        actual = self._copy_out(name, version, None)
        self._check_sha(name, version, actual, expected)

    def _check_sha(self, name: str, version: int, actual: str, expected: str) -> None:
        if actual != expected:
            raise ModelIntegrityError(
                f"{self._store.location(name, version_dir(version), MODEL_FILE)} "
                f"({name} v{version}) has sha256 {actual[:12]}… but its "
                f"{METADATA_FILE} records {expected[:12]}…; the registered file was "
                "changed, so it is not used."
            )

    def _recorded(self, name: str, version: int) -> tuple[dict[str, Any], str]:
        """A version's metadata and the model sha256 it records."""
        meta = self.metadata(name, version)
        sha = meta.get("model_sha256")
        if not isinstance(sha, str) or not sha:
            location = self._store.location(name, version_dir(version), METADATA_FILE)
            raise RegistryError(
                f"{location} records no model_sha256, so the version cannot be "
                "verified."
            )
        return meta, sha

    def _missing(self, name: str, version: int) -> RegistryError:
        known = self.versions(name)
        if not known:
            return self._unknown(name)
        return RegistryError(
            f"Model {name!r} has no version {version} in registry {self.uri}; it has "
            f"version{'s' if len(known) > 1 else ''} {', '.join(map(str, known))}."
        )

    def _unknown(self, name: str) -> RegistryError:
        models = [model for model in self.models() if self.versions(model)]
        held = f"it holds {', '.join(models)}" if models else "it holds no models yet"
        return RegistryError(f"Model {name!r} is not in registry {self.uri}; {held}.")

    def _reaching(self, action: str) -> AbstractContextManager[None]:
        """Turn storage failures into one sentence; let meaningful ones through."""
        return reaching(self._store, action)
