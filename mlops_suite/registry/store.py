"""Where the registry's files live: a local folder or an fsspec filesystem.

The registry (:mod:`mlops_suite.registry.model_registry`) asks a store for a handful of
operations and leaves the storage-specific rules here:

* a **local folder** publishes a version by building it under a temporary name and
  renaming it into place; the rename is also what makes two concurrent registrations
  take different numbers;
* an **fsspec filesystem** (``gs://``, ``s3://``, ``memory://``) has no rename, so the
  number is claimed by writing a claim of one's own, ``<model-name>/.claims/v<N>/<id>``,
  then listing that folder: a writer that sees any other claim withdraws its own and
  tries again. Of two writers, the later to write always sees the earlier one, so
  at most one goes on, on any store whose writes and listings are consistent; unlike
  an exclusive create, this needs no conditional write, which some S3-compatible
  servers and the GCS emulator ignore. ``metadata.json`` is written last: a version
  exists once its metadata does.

Small files (``champion.json``) are replaced atomically: write then rename locally,
one object put on object stores.
"""

from __future__ import annotations

import errno
import hashlib
import logging
import os
import random
import re
import time
import uuid
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import fsspec

from mlops_suite.artifacts import METADATA_FILE, MODEL_FILE, VERSION_PREFIX
from mlops_suite.atomic import staged_dir, write_bytes
from mlops_suite.errors import MlopsError, ModelIntegrityError, RegistryError

_LOG = logging.getLogger(__name__)

_VERSION_DIR = re.compile(rf"{re.escape(VERSION_PREFIX)}([1-9][0-9]*)")
# Object stores have no rename: version numbers are claimed here (see the module doc).
_CLAIMS_DIR = ".claims"
# A writer that lost a claim waits up to this long before trying again, so two writers
# that keep colliding in step drift apart.
_CLAIM_BACKOFF_S = 0.2
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


class VersionTaken(Exception):
    """Another registration published (or claimed) this version number first."""


class Store(ABC):
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
    def create_new(self, data: bytes, *parts: str) -> None:
        """Create a small file that must not exist yet; FileExistsError if it does.

        Used to claim a number: only the name matters, so on object stores a
        reader may briefly see the file before its content.
        """

    @abstractmethod
    def remove_file(self, *parts: str) -> None:
        """Delete a small file; FileNotFoundError when it does not exist."""

    @abstractmethod
    def publish(
        self,
        name: str,
        version: int,
        model_file: Path,
        sha: str,
        metadata: bytes,
        extra_files: Mapping[str, bytes] | None = None,
    ) -> None:
        """Create ``<name>/v<version>/``; VersionTaken when the number is in use.

        ``extra_files`` (file name -> bytes: the model card, companions such as
        ``calibration.json``) are written beside the model before ``metadata.json``,
        so they are there by the time the version is visible.
        """


class LocalStore(Store):
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
            if self._path(name, version_dir(n), METADATA_FILE).is_file()
        ]

    def taken_versions(self, name: str) -> list[int]:
        return _version_numbers(self.list_dir(name))

    def replace_file(self, data: bytes, *parts: str) -> None:
        write_bytes(self._path(*parts), data)

    def create_new(self, data: bytes, *parts: str) -> None:
        path = self._path(*parts)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)

    def remove_file(self, *parts: str) -> None:
        self._path(*parts).unlink()

    def publish(
        self,
        name: str,
        version: int,
        model_file: Path,
        sha: str,
        metadata: bytes,
        extra_files: Mapping[str, bytes] | None = None,
    ) -> None:
        target = self._path(name, version_dir(version))
        try:
            with staged_dir(target) as staging:
                with (
                    model_file.open("rb") as src,
                    (staging / MODEL_FILE).open("wb") as dst,
                ):
                    copied = copy_hashing(src, dst)
                    dst.flush()
                    os.fsync(dst.fileno())
                _check_copied(model_file, sha, copied)
                for file_name, data in (extra_files or {}).items():
                    write_bytes(staging / file_name, data)
                write_bytes(staging / METADATA_FILE, metadata)
        except FileExistsError:
            raise VersionTaken from None
        except OSError as exc:
            # rename() onto a folder another registration just published.
            if exc.errno in (errno.EEXIST, errno.ENOTEMPTY):
                raise VersionTaken from None
            raise


class FsspecStore(Store):
    """A registry on an fsspec filesystem (object stores, ``memory://``)."""

    # Backends raise their own errors (HTTP, auth); all of them mean "storage failed".
    failures = (Exception,)

    def __init__(self, uri: str, fs: Any, root: str) -> None:
        super().__init__(uri)
        self.fs = fs
        self.root = root.rstrip("/")

    def _path(self, *parts: str) -> str:
        return "/".join([self.root, *parts])

    def _forget_listings(self) -> None:
        # s3fs and gcsfs cache listings for the life of the process (and answer
        # exists/open from them), but other processes publish versions.
        self.fs.invalidate_cache()

    def read_bytes(self, *parts: str) -> bytes:
        try:
            return bytes(self.fs.cat_file(self._path(*parts)))
        except FileNotFoundError:
            missing = self._without_bucket(f"read {'/'.join(parts)}")
            if missing is not None:
                raise missing from None
            raise

    def open_read(self, *parts: str) -> Any:
        self._forget_listings()
        return self.fs.open(self._path(*parts), "rb")

    def list_dir(self, *parts: str) -> list[str]:
        self._forget_listings()
        try:
            entries = self.fs.ls(self._path(*parts), detail=False)
        except FileNotFoundError:
            return []
        return [str(entry).rstrip("/").rsplit("/", 1)[-1] for entry in entries]

    def published_versions(self, name: str) -> list[int]:
        self._forget_listings()
        try:
            found = self.fs.glob(self._path(name, f"{VERSION_PREFIX}*", METADATA_FILE))
        except FileNotFoundError:
            # A missing folder lists empty: it is the bucket that is missing.
            missing = self._without_bucket(f"list the versions of {name!r}")
            if missing is not None:
                raise missing from None
            raise
        return _version_numbers(
            [str(path).rstrip("/").split("/")[-2] for path in found]
        )

    def taken_versions(self, name: str) -> list[int]:
        return _version_numbers(self.list_dir(name) + self.list_dir(name, _CLAIMS_DIR))

    def replace_file(self, data: bytes, *parts: str) -> None:
        self.fs.pipe_file(self._path(*parts), data)

    def create_new(self, data: bytes, *parts: str) -> None:
        path = self._path(*parts)
        try:
            with self.fs.open(path, "xb") as handle:
                handle.write(data)
        except (ValueError, NotImplementedError):
            # Older gcsfs/s3fs have no exclusive create: check, then write. Two
            # writers in the same instant could then both succeed.
            if self.fs.exists(path):
                raise FileExistsError(path) from None
            _LOG.warning(
                "%s cannot create files exclusively; concurrent writers are not "
                "guarded (upgrade gcsfs/s3fs).",
                self.uri,
            )
            self.fs.pipe_file(path, data)

    def remove_file(self, *parts: str) -> None:
        path = self._path(*parts)
        if not self.fs.exists(path):
            raise FileNotFoundError(path)
        self.fs.rm_file(path)

    def publish(
        self,
        name: str,
        version: int,
        model_file: Path,
        sha: str,
        metadata: bytes,
        extra_files: Mapping[str, bytes] | None = None,
    ) -> None:
        folder = version_dir(version)
        self._claim(name, folder)
        model_path = self._path(name, folder, MODEL_FILE)
        written = [model_path]
        try:
            with model_file.open("rb") as src, self.fs.open(model_path, "wb") as dst:
                copied = copy_hashing(src, dst)
            _check_copied(model_file, sha, copied)
            for file_name, data in (extra_files or {}).items():
                written.append(self._path(name, folder, file_name))
                self.fs.pipe_file(written[-1], data)
            # Written last: its existence is what makes the version visible.
            self.fs.pipe_file(self._path(name, folder, METADATA_FILE), metadata)
        except BaseException:
            for path in written:
                try:
                    self.fs.rm_file(path)
                except Exception:  # best effort: the version stays invisible anyway
                    pass
            raise

    def _without_bucket(self, action: str) -> RegistryError | None:
        """The error to raise when the registry's bucket does not exist, else None.

        Object stores answer "not found" alike for a missing file and a missing
        bucket; only the second is a mistake in the URI, worth saying so.
        """
        bucket = self.root.split("/", 1)[0]
        if not bucket:  # memory:// and other stores without buckets
            return None
        try:
            if self.fs.exists(bucket):
                return None
        except Exception:  # the original error says more than this one
            return None
        return RegistryError(
            f"Could not {action} in registry {self.uri}: its bucket {bucket!r} does "
            "not exist."
        )

    def _claim(self, name: str, folder: str) -> None:
        claims = (name, _CLAIMS_DIR, folder)
        # Named to sort by time; only read by people looking at a stuck claim.
        mine = f"{datetime.now(UTC):%Y%m%dT%H%M%S%fZ}-{uuid.uuid4().hex}"
        self.fs.pipe_file(self._path(*claims, mine), b"")
        rivals = [entry for entry in self.list_dir(*claims) if entry != mine]
        self._forget_listings()
        # A version published by a writer that did not claim also takes the number.
        if rivals or self.fs.exists(self._path(name, folder, METADATA_FILE)):
            try:
                self.fs.rm_file(self._path(*claims, mine))
            except Exception:  # a claim left behind only retires the number
                _LOG.warning("Could not withdraw claim %s", self._path(*claims, mine))
            time.sleep(random.uniform(0, _CLAIM_BACKOFF_S))
            raise VersionTaken


def open_store(uri: str) -> Store:
    """The store for a registry URI; nothing is contacted yet.

    Args:
        uri: A folder path, ``file://`` URI, or fsspec URI.

    Returns:
        A :class:`LocalStore` for local folders, else an :class:`FsspecStore`.

    Raises:
        RegistryError: The URI is empty, its protocol is unknown, or it needs a
            package that is not installed.
    """
    if not uri.strip():
        raise RegistryError(
            "The registry URI is empty; give a folder path or an fsspec URI such as "
            "gs://bucket/registry."
        )
    if "://" not in uri:
        return LocalStore(uri, Path(uri).expanduser().absolute())
    if uri.startswith("file://"):
        return LocalStore(uri, Path(uri[len("file://") :]).expanduser().absolute())
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
        return LocalStore(uri, Path(root))
    return FsspecStore(uri, fs, root)


@contextmanager
def reaching(store: Store, action: str) -> Iterator[None]:
    """Turn the store's failures into one sentence; let meaningful ones through.

    Args:
        store: The store being used.
        action: What was being done, e.g. ``read the champion of 'penguins'``.

    Yields:
        Nothing; the body does the storage work.

    Raises:
        RegistryError: The body failed with one of the store's failures.
    """
    try:
        yield
    except (MlopsError, FileNotFoundError, VersionTaken):
        raise
    except store.failures as exc:
        raise RegistryError(
            f"Could not {action} in registry {store.uri}: the registry is "
            f"unreachable ({exc})."
        ) from exc


def version_dir(version: int) -> str:
    """The folder name of a version (``v<N>``).

    Args:
        version: The version number.

    Returns:
        The folder name.

    Raises:
        RegistryError: ``version`` is not a whole number of 1 or more.
    """
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise RegistryError(
            f"Version {version!r} is not valid; versions are 1, 2, 3, ..."
        )
    return f"{VERSION_PREFIX}{version}"


def copy_hashing(src: IO[bytes], dst: IO[bytes] | None) -> str:
    """Copy ``src`` to ``dst`` (or just read it when ``dst`` is None).

    Args:
        src: A binary reader.
        dst: A binary writer, or None to only hash.

    Returns:
        The sha256 of what was read, in hex.
    """
    digest = hashlib.sha256()
    while chunk := src.read(_CHUNK):
        digest.update(chunk)
        if dst is not None:
            dst.write(chunk)
    return digest.hexdigest()


def _version_numbers(entries: list[str]) -> list[int]:
    return [int(m.group(1)) for e in entries if (m := _VERSION_DIR.fullmatch(e))]


def _check_copied(model_file: Path, expected: str, copied: str) -> None:
    if copied != expected:
        raise ModelIntegrityError(
            f"{model_file} changed while it was being registered (sha256 "
            f"{copied[:12]}… instead of {expected[:12]}…); nothing was registered."
        )
