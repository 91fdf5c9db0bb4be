"""The model registry: immutable, numbered versions of a model and a champion pointer.

Layout, on a local folder or any fsspec URI (``gs://``, ``s3://``, ``memory://``)::

    <registry>/<model-name>/v<N>/model.joblib
    <registry>/<model-name>/v<N>/metadata.json   model metadata + version, lineage,
                                                 schema, statistics
    <registry>/<model-name>/champion.json        {"version", "model_sha256",
                                                 "updated_at", "previous_version"}

A version is never modified once published, and a reader never sees half of one: on a
local folder it is built under a temporary name and renamed into place (the rename is
also what makes two concurrent registrations take different numbers); on an object
store the number is claimed with an exclusive create of ``<model-name>/.claims/v<N>``
and ``metadata.json`` is written last, so a version exists once its metadata does.
``champion.json`` is replaced atomically (write then rename locally, one object put on
object stores). Every model file is checked against the sha256 recorded for it, both
when it is registered and when it is read back.
"""

from __future__ import annotations

import errno
import hashlib
import json
import logging
import os
import re
import shutil
import tempfile
from abc import ABC, abstractmethod
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import fsspec

from mlops_suite import __version__
from mlops_suite.artifacts import (
    CHAMPION_FILE,
    METADATA_FILE,
    MODEL_FILE,
    VERSION_PREFIX,
)
from mlops_suite.atomic import json_bytes, staged_dir, write_bytes
from mlops_suite.errors import MlopsError, ModelIntegrityError, RegistryError
from mlops_suite.provenance import git_commit

_LOG = logging.getLogger(__name__)

# A model name becomes a Kubernetes object name (InferenceService): an RFC 1035 label.
MAX_NAME_LENGTH = 63
_NAME = re.compile(r"[a-z]([-a-z0-9]*[a-z0-9])?")
_VERSION_DIR = re.compile(rf"{re.escape(VERSION_PREFIX)}([1-9][0-9]*)")

# Every version's lineage holds these keys (None when unknown), so readers can rely on
# its shape.
LINEAGE_KEYS = (
    "data_sha256",
    "schema_sha256",
    "hyperparameters",
    "metrics",
    "approval_reason",
    "package_version",
    "git_commit",
    "component_image",
    "pipeline_run_id",
    "registered_at",
    "model_sha256",
)

# Object stores have no rename: version numbers are claimed here by exclusive create.
_CLAIMS_DIR = ".claims"
# Packages fsspec needs per protocol, for an error that says what to install.
_PACKAGES = {
    "gs": "gcsfs",
    "gcs": "gcsfs",
    "s3": "s3fs",
    "s3a": "s3fs",
    "az": "adlfs",
    "abfs": "adlfs",
    "abfss": "adlfs",
}
_CHUNK = 1 << 20
# Each retry re-reads the versions, so only as many concurrent writers as this can
# starve a registration.
_MAX_ATTEMPTS = 100


@dataclass(frozen=True)
class Champion:
    """The version currently promoted for serving.

    Attributes:
        version: The champion's version number.
        model_sha256: The sha256 of its ``model.joblib``.
        updated_at: When the champion last changed (ISO 8601, UTC).
        previous_version: The champion before it, the natural rollback target.
    """

    version: int
    model_sha256: str
    updated_at: str
    previous_version: int | None = None

    def to_dict(self) -> dict[str, Any]:
        """The champion as written to ``champion.json``."""
        return asdict(self)


@dataclass(frozen=True)
class Registration:
    """The outcome of :meth:`ModelRegistry.register`.

    Attributes:
        version: The new version, or the champion's when the model was identical.
        created: Whether a new version was added.
        uri: Where the version lives (:meth:`ModelRegistry.version_uri`).
    """

    version: int
    created: bool
    uri: str


def validate_model_name(name: str) -> str:
    """Check that ``name`` can name a registered model and its Kubernetes objects.

    Args:
        name: The model name.

    Returns:
        The name, unchanged.

    Raises:
        RegistryError: The name is not 1-63 lowercase letters, digits and '-',
            starting with a letter and ending with a letter or digit.
    """
    if (
        not isinstance(name, str)
        or len(name) > MAX_NAME_LENGTH
        or not _NAME.fullmatch(name)
    ):
        raise RegistryError(
            f"Model name {name!r} is not valid: use 1-{MAX_NAME_LENGTH} lowercase "
            "letters, digits and '-', starting with a letter and ending with a letter "
            "or digit, since it also names Kubernetes objects."
        )
    return name


class ModelRegistry:
    """Versions, champion and lineage of models, on a local folder or an fsspec URI.

    Args:
        uri: A folder path, ``file://`` URI, or fsspec URI such as
            ``gs://bucket/registry`` (needs gcsfs) or ``s3://bucket/registry`` (needs
            s3fs). Nothing is contacted until the first call.

    Raises:
        RegistryError: The URI's protocol is unknown or needs a package that is not
            installed.
    """

    def __init__(self, uri: str | os.PathLike[str]) -> None:
        self.uri = os.fspath(uri)
        self._store = _open_store(self.uri)

    def __repr__(self) -> str:
        return f"ModelRegistry({self.uri!r})"

    # ----------------------------------------------------------------- reading

    def models(self) -> list[str]:
        """The names of the models in the registry, sorted."""
        with self._reaching("list the models"):
            entries = self._store.list_dir()
        return sorted(entry for entry in entries if _NAME.fullmatch(entry))

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
        return _parse_champion(raw, self._store.location(name, CHAMPION_FILE))

    def metadata(self, name: str, version: int) -> dict[str, Any]:
        """The metadata of one version: the model's own, plus version and lineage.

        Args:
            name: The model name.
            version: The version number.

        Returns:
            The parsed ``metadata.json`` (keys ``version``, ``lineage``, ``schema``,
            ``statistics`` besides the model folder's metadata).

        Raises:
            RegistryError: The model or version does not exist, or the file is corrupt.
        """
        validate_model_name(name)
        folder = _version_dir(version)
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
        return self._store.location(name, _version_dir(version))

    # ----------------------------------------------------------------- writing

    def register(
        self,
        name: str,
        model_dir: str | os.PathLike[str],
        *,
        lineage: dict[str, Any],
        schema: dict[str, Any] | None = None,
        statistics: dict[str, Any] | None = None,
        make_champion: bool = True,
    ) -> Registration:
        """Add a model folder as the next version of ``name``.

        The model file is verified against the sha256 in the folder's metadata, copied
        with that metadata (plus ``version``, ``lineage``, ``schema``,
        ``statistics``) into ``<name>/v<N>/`` with N = highest + 1, then made champion.
        A model byte-identical to the champion adds no version.

        Args:
            name: The model name (lowercase letters, digits, '-'; at most 63).
            model_dir: A model folder: ``model.joblib`` and ``metadata.json``.
            lineage: Facts about the run (see :data:`LINEAGE_KEYS`). Missing
                ``data_sha256``, ``hyperparameters``, ``package_version`` and
                ``git_commit`` are filled in; ``registered_at`` and ``model_sha256``
                are always set by the registry; other missing keys are ``None``.
            schema: The schema the training data was validated against.
            statistics: The training data's profile (the reference for monitoring).
            make_champion: Whether to point ``champion.json`` at the new version.

        Returns:
            The version and whether it was created.

        Raises:
            ModelIntegrityError: ``model.joblib`` does not match its recorded sha256.
            RegistryError: The name or folder is invalid, the registry is unreachable,
                or the champion could not be updated after the version was published.
        """
        validate_model_name(name)
        folder = Path(model_dir)
        model_file, model_meta, sha = _read_model_folder(folder)
        given_sha = lineage.get("model_sha256")
        if given_sha not in (None, sha):
            raise ModelIntegrityError(
                f"The lineage given for {folder} records model_sha256 {given_sha!r} "
                f"but {model_file} has sha256 {sha}; refusing to register it."
            )

        current = self.champion(name)
        if current is not None and current.model_sha256 == sha:
            return Registration(
                version=current.version,
                created=False,
                uri=self.version_uri(name, current.version),
            )

        record = dict(model_meta)
        record.update(
            lineage=_complete_lineage(lineage, model_meta, sha),
            schema=schema,
            statistics=statistics,
        )
        version = self._publish(name, model_file, sha, record)
        if make_champion:
            previous = current.version if current is not None else None
            try:
                self._write_champion(name, version, sha, previous)
            except Exception as exc:
                raise RegistryError(
                    f"Registered {name} v{version} in {self.uri} but could not "
                    f"update {CHAMPION_FILE} ({exc}), so the champion is unchanged; "
                    f"promote it with `mlops registry promote --model-name {name} "
                    f"--version {version}`."
                ) from exc
        return Registration(
            version=version, created=True, uri=self.version_uri(name, version)
        )

    def set_champion(self, name: str, version: int) -> Champion:
        """Point ``champion.json`` at an existing version (promote or roll back).

        The version's model file is verified first, so a damaged version never
        becomes champion. A corrupt ``champion.json`` is simply replaced.

        Args:
            name: The model name.
            version: The version to promote.

        Returns:
            The new champion.

        Raises:
            RegistryError: The model or version does not exist.
            ModelIntegrityError: The version's model file does not match its sha256.
        """
        _, sha = self._recorded(name, version)
        self._verify(name, version, sha)
        try:
            current = self.champion(name)
        except RegistryError:
            current = None  # a corrupt pointer is what set_champion repairs
        previous = current.version if current and current.version != version else None
        with self._reaching(f"update the champion of {name!r}"):
            return self._write_champion(name, version, sha, previous)

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
            dest: The local folder to write ``model.joblib`` and ``metadata.json``
                into (created if needed); a new temporary folder by default.

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
        folder = self._store.local_dir(name, _version_dir(version))
        if folder is None:
            raise RegistryError(
                f"Registry {self.uri} is not a local folder; use fetch({name!r}, "
                f"{version}) to download the version instead."
            )
        _, sha = self._recorded(name, version)
        self._verify(name, version, sha)
        return str(folder)

    def local_folder(self, name: str, version: int | None = None) -> str:
        """A local folder holding a version: in place when the registry is local,
        else a verified download into a new temporary folder.

        Args:
            name: The model name.
            version: The version; the champion by default.

        Returns:
            A folder with the version's ``model.joblib`` and ``metadata.json``.

        Raises:
            RegistryError: The version does not exist or cannot be read.
            ModelIntegrityError: The model file does not match its sha256.
        """
        if self._store.local_dir(name) is not None:
            return self.local_path(name, version)
        return self.fetch(name, version)

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

    def _publish(
        self, name: str, model_file: Path, sha: str, record: dict[str, Any]
    ) -> int:
        for _ in range(_MAX_ATTEMPTS):
            with self._reaching(f"list the versions of {name!r}"):
                version = max(self._store.taken_versions(name), default=0) + 1
            record["version"] = version
            try:
                self._store.publish(name, version, model_file, sha, json_bytes(record))
            except _VersionTaken:
                continue  # another registration won this number: take the next one
            except MlopsError:
                raise
            except self._store.failures as exc:
                raise RegistryError(
                    f"Could not publish {name} v{version} in registry {self.uri} "
                    f"({exc}); nothing was registered."
                ) from exc
            return version
        raise RegistryError(
            f"Could not claim a version number for {name!r} in registry {self.uri} "
            f"after {_MAX_ATTEMPTS} attempts; too many registrations ran at once."
        )

    def _write_champion(
        self, name: str, version: int, sha: str, previous: int | None
    ) -> Champion:
        champion = Champion(
            version=version,
            model_sha256=sha,
            updated_at=_now(),
            previous_version=previous,
        )
        self._store.replace_file(json_bytes(champion.to_dict()), name, CHAMPION_FILE)
        return champion

    def _copy_out(self, name: str, version: int, out: IO[bytes] | None) -> str:
        """Stream a version's model file into ``out`` (if given); return its sha256."""
        try:
            with self._reaching(f"read {name} v{version}"):
                with self._store.open_read(
                    name, _version_dir(version), MODEL_FILE
                ) as src:
                    return _copy_hashing(src, out)
        except FileNotFoundError:
            raise RegistryError(
                f"{self._store.location(name, _version_dir(version), MODEL_FILE)} is "
                f"missing although {name} v{version} is published; the registry was "
                "changed by hand."
            ) from None

    def _verify(self, name: str, version: int, expected: str) -> None:
        actual = self._copy_out(name, version, None)
        self._check_sha(name, version, actual, expected)

    def _check_sha(self, name: str, version: int, actual: str, expected: str) -> None:
        if actual != expected:
            raise ModelIntegrityError(
                f"{self._store.location(name, _version_dir(version), MODEL_FILE)} "
                f"({name} v{version}) has sha256 {actual[:12]}… but its "
                f"{METADATA_FILE} records {expected[:12]}…; the registered file was "
                "changed, so it is not used."
            )

    def _recorded(self, name: str, version: int) -> tuple[dict[str, Any], str]:
        """A version's metadata and the model sha256 it records."""
        meta = self.metadata(name, version)
        sha = meta.get("model_sha256")
        if not isinstance(sha, str) or not sha:
            location = self._store.location(name, _version_dir(version), METADATA_FILE)
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

    @contextmanager
    def _reaching(self, action: str) -> Iterator[None]:
        """Turn storage failures into one sentence; let meaningful ones through."""
        try:
            yield
        except (MlopsError, FileNotFoundError, _VersionTaken):
            raise
        except self._store.failures as exc:
            raise RegistryError(
                f"Could not {action} in registry {self.uri}: the registry is "
                f"unreachable ({exc})."
            ) from exc


# --------------------------------------------------------------------- storage


class _VersionTaken(Exception):
    """Another registration published (or claimed) this version number first."""


class _Store(ABC):
    """The few storage operations the registry needs, local or remote."""

    # Exceptions meaning "storage failed" (as opposed to bugs) for this backend.
    failures: tuple[type[BaseException], ...] = (OSError,)

    def __init__(self, uri: str) -> None:
        self.uri = uri

    def location(self, *parts: str) -> str:
        """A path or URI to show people and hand to serving runtimes."""
        return "/".join([self.uri.rstrip("/"), *parts])

    def local_dir(self, *parts: str) -> Path | None:
        """The local folder for ``parts``, when the store is a local folder."""
        return None

    @abstractmethod
    def read_bytes(self, *parts: str) -> bytes:
        """A file's content; FileNotFoundError when it does not exist."""

    @abstractmethod
    def open_read(self, *parts: str) -> Any:
        """A binary reader (context manager); FileNotFoundError when missing."""

    @abstractmethod
    def list_dir(self, *parts: str) -> list[str]:
        """Entry names directly under a folder; empty when it does not exist."""

    @abstractmethod
    def published_versions(self, name: str) -> list[int]:
        """Versions whose ``metadata.json`` exists, i.e. complete ones."""

    @abstractmethod
    def taken_versions(self, name: str) -> list[int]:
        """Every version number in use, published or claimed."""

    @abstractmethod
    def replace_file(self, data: bytes, *parts: str) -> None:
        """Atomically replace a small file."""

    @abstractmethod
    def publish(
        self, name: str, version: int, model_file: Path, sha: str, metadata: bytes
    ) -> None:
        """Create ``<name>/v<version>/``; _VersionTaken when the number is in use."""


def _version_numbers(entries: list[str]) -> list[int]:
    return [int(m.group(1)) for e in entries if (m := _VERSION_DIR.fullmatch(e))]


class _LocalStore(_Store):
    """A registry in a local folder; versions are published by renaming a folder."""

    def __init__(self, uri: str, root: Path) -> None:
        super().__init__(uri)
        self.root = root

    def location(self, *parts: str) -> str:
        return str(self.root.joinpath(*parts))

    def local_dir(self, *parts: str) -> Path | None:
        return self.root.joinpath(*parts)

    def _path(self, *parts: str) -> Path:
        if self.root.exists() and not self.root.is_dir():
            raise RegistryError(
                f"Registry {self.uri} is unreachable: {self.root} is a file, not a "
                "folder."
            )
        return self.root.joinpath(*parts)

    def read_bytes(self, *parts: str) -> bytes:
        return self._path(*parts).read_bytes()

    def open_read(self, *parts: str) -> Any:
        return self._path(*parts).open("rb")

    def list_dir(self, *parts: str) -> list[str]:
        folder = self._path(*parts)
        if not folder.is_dir():
            return []
        return [entry.name for entry in folder.iterdir()]

    def published_versions(self, name: str) -> list[int]:
        # Version folders appear by rename, complete; the metadata check skips
        # anything else someone may have put there.
        return [
            n
            for n in _version_numbers(self.list_dir(name))
            if self._path(name, _version_dir(n), METADATA_FILE).is_file()
        ]

    def taken_versions(self, name: str) -> list[int]:
        return _version_numbers(self.list_dir(name))

    def replace_file(self, data: bytes, *parts: str) -> None:
        write_bytes(self._path(*parts), data)

    def publish(
        self, name: str, version: int, model_file: Path, sha: str, metadata: bytes
    ) -> None:
        target = self._path(name, _version_dir(version))
        try:
            with staged_dir(target) as staging:
                with (
                    model_file.open("rb") as src,
                    (staging / MODEL_FILE).open("wb") as dst,
                ):
                    copied = _copy_hashing(src, dst)
                    dst.flush()
                    os.fsync(dst.fileno())
                _check_copied(model_file, sha, copied)
                write_bytes(staging / METADATA_FILE, metadata)
        except FileExistsError:
            raise _VersionTaken from None
        except OSError as exc:
            # rename() onto a folder another registration just published.
            if exc.errno in (errno.EEXIST, errno.ENOTEMPTY):
                raise _VersionTaken from None
            raise


class _FsspecStore(_Store):
    """A registry on an fsspec filesystem (object stores, ``memory://``)."""

    # Backends raise their own errors (HTTP, auth); all of them mean "storage failed".
    failures = (Exception,)

    def __init__(self, uri: str, fs: Any, root: str) -> None:
        super().__init__(uri)
        self.fs = fs
        self.root = root.rstrip("/")

    def _path(self, *parts: str) -> str:
        return "/".join([self.root, *parts])

    def read_bytes(self, *parts: str) -> bytes:
        return bytes(self.fs.cat_file(self._path(*parts)))

    def open_read(self, *parts: str) -> Any:
        return self.fs.open(self._path(*parts), "rb")

    def list_dir(self, *parts: str) -> list[str]:
        try:
            entries = self.fs.ls(self._path(*parts), detail=False)
        except FileNotFoundError:
            return []
        return [str(entry).rstrip("/").rsplit("/", 1)[-1] for entry in entries]

    def published_versions(self, name: str) -> list[int]:
        found = self.fs.glob(self._path(name, f"{VERSION_PREFIX}*", METADATA_FILE))
        return _version_numbers(
            [str(path).rstrip("/").split("/")[-2] for path in found]
        )

    def taken_versions(self, name: str) -> list[int]:
        return _version_numbers(self.list_dir(name) + self.list_dir(name, _CLAIMS_DIR))

    def replace_file(self, data: bytes, *parts: str) -> None:
        self.fs.pipe_file(self._path(*parts), data)

    def publish(
        self, name: str, version: int, model_file: Path, sha: str, metadata: bytes
    ) -> None:
        folder = _version_dir(version)
        self._claim(name, folder)
        model_path = self._path(name, folder, MODEL_FILE)
        try:
            with model_file.open("rb") as src, self.fs.open(model_path, "wb") as dst:
                copied = _copy_hashing(src, dst)
            _check_copied(model_file, sha, copied)
            # Written last: its existence is what makes the version visible.
            self.fs.pipe_file(self._path(name, folder, METADATA_FILE), metadata)
        except BaseException:
            try:
                self.fs.rm_file(model_path)
            except Exception:  # best effort: the version stays invisible regardless
                pass
            raise

    def _claim(self, name: str, folder: str) -> None:
        claim = self._path(name, _CLAIMS_DIR, folder)
        payload = _now().encode()
        try:
            with self.fs.open(claim, "xb") as handle:
                handle.write(payload)
        except FileExistsError:
            raise _VersionTaken from None
        except (ValueError, NotImplementedError):
            # Older gcsfs/s3fs have no exclusive create: check, then write. Two
            # registrations in the same instant could then collide.
            if self.fs.exists(claim):
                raise _VersionTaken from None
            _LOG.warning(
                "%s cannot create files exclusively; concurrent registrations of %s "
                "are not guarded (upgrade gcsfs/s3fs).",
                self.uri,
                name,
            )
            self.fs.pipe_file(claim, payload)
        if self.fs.exists(self._path(name, folder, METADATA_FILE)):
            raise _VersionTaken  # published by a writer that did not claim


def _open_store(uri: str) -> _Store:
    if not uri.strip():
        raise RegistryError(
            "The registry URI is empty; give a folder path or an fsspec URI such as "
            "gs://bucket/registry."
        )
    if "://" not in uri:
        return _LocalStore(uri, Path(uri).expanduser().absolute())
    if uri.startswith("file://"):
        return _LocalStore(uri, Path(uri[len("file://") :]).expanduser().absolute())
    protocol = uri.split("://", 1)[0]
    try:
        fs, root = fsspec.core.url_to_fs(uri)
    except ImportError as exc:
        package = _PACKAGES.get(protocol)
        if package:
            raise RegistryError(
                f"Registry URI {uri} needs the {package} package, which is not "
                f"installed (pip install {package})."
            ) from None
        raise RegistryError(
            f"Registry URI {uri} needs a package that is not installed ({exc})."
        ) from None
    except ValueError:
        raise RegistryError(
            f"Registry URI {uri} uses the unknown protocol {protocol!r}; use a folder "
            "path or a URI such as gs://, s3:// or memory://."
        ) from None
    except Exception as exc:
        raise RegistryError(f"Registry {uri} is unreachable ({exc}).") from exc
    if isinstance(fs, fsspec.implementations.local.LocalFileSystem):
        return _LocalStore(uri, Path(root))
    return _FsspecStore(uri, fs, root)


# --------------------------------------------------------------------- helpers


def _version_dir(version: int) -> str:
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise RegistryError(
            f"Version {version!r} is not valid; versions are 1, 2, 3, ..."
        )
    return f"{VERSION_PREFIX}{version}"


def _read_model_folder(folder: Path) -> tuple[Path, dict[str, Any], str]:
    """The model file, its metadata and its verified sha256."""
    model_file = folder / MODEL_FILE
    metadata_file = folder / METADATA_FILE
    if not model_file.is_file():
        raise RegistryError(
            f"Model folder {folder} has no {MODEL_FILE}; expected a folder written by "
            "training."
        )
    try:
        meta = json.loads(metadata_file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise RegistryError(
            f"Model folder {folder} has no {METADATA_FILE}; expected a folder written "
            "by training."
        ) from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise RegistryError(f"{metadata_file} is not valid JSON ({exc}).") from None
    if not isinstance(meta, dict):
        raise RegistryError(f"{metadata_file} does not hold a JSON object.")
    recorded = meta.get("model_sha256")
    if not isinstance(recorded, str) or not recorded:
        raise ModelIntegrityError(
            f"{metadata_file} records no model_sha256, so {model_file} cannot be "
            "verified; it is not registered."
        )
    with model_file.open("rb") as handle:
        actual = _copy_hashing(handle, None)
    if actual != recorded:
        raise ModelIntegrityError(
            f"{model_file} has sha256 {actual[:12]}… but {metadata_file} records "
            f"{recorded[:12]}…; the model changed after training, so it is not "
            "registered."
        )
    return model_file, meta, actual


def _check_copied(model_file: Path, expected: str, copied: str) -> None:
    if copied != expected:
        raise ModelIntegrityError(
            f"{model_file} changed while it was being registered (sha256 "
            f"{copied[:12]}… instead of {expected[:12]}…); nothing was registered."
        )


def _complete_lineage(
    given: dict[str, Any], model_meta: dict[str, Any], sha: str
) -> dict[str, Any]:
    lineage: dict[str, Any] = dict.fromkeys(LINEAGE_KEYS)
    lineage.update(given)
    defaults = {
        "data_sha256": lambda: model_meta.get("data_sha256"),
        "hyperparameters": lambda: model_meta.get("hyperparameters"),
        "package_version": lambda: __version__,
        "git_commit": git_commit,
    }
    for key, default in defaults.items():
        if lineage.get(key) is None:
            lineage[key] = default()
    lineage["model_sha256"] = sha
    lineage["registered_at"] = _now()
    return lineage


def _parse_champion(raw: bytes, location: str) -> Champion:
    def corrupt(detail: str) -> RegistryError:
        return RegistryError(
            f"Champion file {location} is corrupt ({detail}); fix it or run "
            "set_champion to point it at a version."
        )

    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise corrupt(f"not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise corrupt("not a JSON object")
    version, sha = data.get("version"), data.get("model_sha256")
    previous = data.get("previous_version")
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise corrupt(f"version is {version!r}, expected a number >= 1")
    if not isinstance(sha, str) or not sha:
        raise corrupt(f"model_sha256 is {sha!r}, expected a sha256")
    if previous is not None and (
        isinstance(previous, bool) or not isinstance(previous, int)
    ):
        raise corrupt(f"previous_version is {previous!r}, expected a number or null")
    return Champion(
        version=version,
        model_sha256=sha,
        updated_at=str(data.get("updated_at", "")),
        previous_version=previous,
    )


def _copy_hashing(src: IO[bytes], dst: IO[bytes] | None) -> str:
    """Copy ``src`` to ``dst`` (or just read it when ``dst`` is None); return sha256."""
    digest = hashlib.sha256()
    while chunk := src.read(_CHUNK):
        digest.update(chunk)
        if dst is not None:
            dst.write(chunk)
    return digest.hexdigest()


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
