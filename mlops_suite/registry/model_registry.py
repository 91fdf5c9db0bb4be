"""The model registry: immutable, numbered versions of a model and a champion pointer.

Layout, on a local folder or any fsspec URI (``gs://``, ``s3://``, ``memory://``)::

    <registry>/<model-name>/v<N>/model.joblib
    <registry>/<model-name>/v<N>/metadata.json   model metadata + version, lineage,
                                                 schema, statistics, explanation
    <registry>/<model-name>/v<N>/model_card.md   the card, built from metadata.json
    <registry>/<model-name>/v<N>/<companion>     e.g. calibration.json, each with
                                                 its sha256 under "files"
    <registry>/<model-name>/champion.json        {"version", "model_sha256",
                                                 "updated_at", "previous_version"}
    <registry>/<model-name>/aliases/<alias>.json other aliases (:mod:`.aliases`)
    <registry>/<model-name>/history/             one file per event (:mod:`.history`)

A version is never modified once published, except that its ONNX export
(``v<N>/onnx/``, recorded in its metadata) may be added once; a reader never sees half
of either (how each storage back end guarantees it is in
:mod:`mlops_suite.registry.store`).
``champion.json`` is replaced atomically. Every model file is checked against the
sha256 recorded for it, both when it is registered and when it is read back.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Mapping
from contextlib import AbstractContextManager
from pathlib import Path
from typing import IO, Any

from mlops_suite.artifacts import (
    CHAMPION_FILE,
    METADATA_FILE,
    MODEL_CARD_FILE,
    MODEL_FILE,
    MODEL_FILE_EXTENSIONS,
    ONNX_FOLDER,
    ONNX_METADATA_KEY,
)
from mlops_suite.atomic import json_bytes, write_bytes
from mlops_suite.errors import MlopsError, ModelIntegrityError, RegistryError
from mlops_suite.explanation import EXPLANATION_KEY
from mlops_suite.model_card import build_model_card
from mlops_suite.model_folder import check_companion_name, describe
from mlops_suite.registry.aliases import CHALLENGER, AliasFiles
from mlops_suite.registry.history import (
    APPROVED,
    AUTO,
    PENDING,
    REGISTERED,
    EventLog,
    check_approval_mode,
    check_promotable,
)
from mlops_suite.registry.names import is_model_name, validate_model_name
from mlops_suite.registry.records import (
    Champion,
    Registration,
    complete_lineage,
    now,
    parse_champion,
)
from mlops_suite.registry.store import (
    VersionTaken,
    copy_hashing,
    open_store,
    reaching,
    version_dir,
)

# Each retry re-reads the versions, so only as many concurrent writers as this can
# starve a registration.
_MAX_ATTEMPTS = 100


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
        self._store = open_store(self.uri)
        # Append-only: events are added, never rewritten (see history.py).
        self.events = EventLog(self._store)
        self.alias_files = AliasFiles(self._store, self.events)

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

    def register(
        self,
        name: str,
        model_dir: str | os.PathLike[str],
        *,
        lineage: dict[str, Any],
        schema: dict[str, Any] | None = None,
        statistics: dict[str, Any] | None = None,
        approval: str = AUTO,
        explanation: Mapping[str, Any] | None = None,
        files: Mapping[str, bytes] | None = None,
        extra_metadata: Mapping[str, Any] | None = None,
    ) -> Registration:
        """Add a model folder as the next version of ``name``.

        The model file is verified against the sha256 in the folder's metadata, copied
        with that metadata (plus ``version``, ``lineage``, ``schema``,
        ``statistics``, ``explanation``) into ``<name>/v<N>/`` with N = highest + 1,
        beside a ``model_card.md`` built from that metadata, then made champion
        (``auto``) or the pending ``challenger`` (``manual``), with the history
        events. A model byte-identical to the champion adds no version.

        Args:
            name: The model name (:func:`validate_model_name`).
            model_dir: A model folder (:mod:`mlops_suite.model_folder`): one model
                file and ``metadata.json``; the file is stored as ``model.joblib``.
            lineage: Facts about the run (see :data:`LINEAGE_KEYS`). Missing
                ``data_sha256``, ``hyperparameters``, ``package_version`` and
                ``git_commit`` are filled in; ``registered_at`` and ``model_sha256``
                are always set by the registry; other missing keys are ``None``.
            schema: The schema the training data was validated against.
            statistics: The training data's profile (the reference for monitoring).
            approval: ``auto`` or ``manual`` (the lineage's ``approval_mode``).
            explanation: What the model relies on (``permutation_importance``),
                stored as the version's ``explanation``.
            files: Companion files written into the version folder beside the
                model (e.g. ``calibration.json``), name to content; their sha256
                are recorded under ``files`` in ``metadata.json`` and checked by
                :meth:`read_file`.
            extra_metadata: Further top-level keys of ``metadata.json`` (e.g.
                ``performance_reference``); none may replace a key the model folder
                or the registry writes.

        Returns:
            The version, whether it was created, and its status.

        Raises:
            ModelNameError: The name breaks :func:`validate_model_name`'s rule.
            ModelFolderError: The folder holds no model file or several, or lacks
                its metadata.
            ModelIntegrityError: The model file does not match its recorded sha256.
            RegistryError: The approval mode is unknown, the registry is unreachable,
                or the champion, alias or history could not be updated after the
                version was published.
        """
        validate_model_name(name)
        check_approval_mode(approval)
        folder = describe(model_dir)
        model_file, model_meta, sha = (
            folder.model_file,
            folder.metadata,
            folder.model_sha256,
        )
        given_sha = lineage.get("model_sha256")
        if given_sha not in (None, sha):
            raise ModelIntegrityError(
                f"The lineage given for {folder.path} records model_sha256 "
                f"{given_sha!r} but {model_file} has sha256 {sha}; refusing to "
                "register it."
            )

        current = self.champion(name)
        if current is not None and current.model_sha256 == sha:
            return Registration(
                version=current.version,
                created=False,
                uri=self.version_uri(name, current.version),
            )

        record = dict(model_meta)
        full_lineage = complete_lineage(
            {**lineage, "approval_mode": approval}, model_meta, sha
        )
        record.update(lineage=full_lineage, schema=schema, statistics=statistics)
        if explanation is not None:
            record[EXPLANATION_KEY] = dict(explanation)
        for file_name in files or {}:
            check_companion_name(file_name)
        clashing = sorted(set(extra_metadata or {}) & {*record, "version", "files"})
        if clashing:
            raise RegistryError(
                f"extra metadata for {name!r} would replace {', '.join(clashing)}, "
                "which the model folder or the registry writes; nothing was "
                "registered."
            )
        record.update(extra_metadata or {})
        if files:
            record["files"] = {
                file_name: hashlib.sha256(data).hexdigest()
                for file_name, data in files.items()
            }
        version = self._publish(name, model_file, sha, record, files)
        status = APPROVED if approval == AUTO else PENDING
        try:
            self._announce(name, version, sha, current, full_lineage, status)
        except Exception as exc:
            then = "approve" if status == PENDING else "promote"
            raise RegistryError(
                f"Registered {name} v{version} ({status}) in {self.uri} but could not "
                f"update {CHAMPION_FILE}, its aliases or history ({exc}); {then} it "
                f"with `mlops registry {then} --model-name {name} --version {version}`."
            ) from exc
        return Registration(
            version=version,
            created=True,
            uri=self.version_uri(name, version),
            status=status,
        )

    def set_champion(
        self, name: str, version: int, *, actor: str = "", reason: str = ""
    ) -> Champion:
        """Point ``champion.json`` at an existing version (promote or roll back).

        The version's model file and status are checked first, so a damaged,
        pending (see :func:`.governance.approve`) or rejected version never becomes
        champion. A corrupt ``champion.json`` is simply replaced. The history records
        the change as ``promoted`` or ``rolled-back``.

        Args:
            name: The model name.
            version: The version to promote.
            actor: Who promotes it (a person, or the pipeline run id).
            reason: Why.

        Returns:
            The new champion.

        Raises:
            RegistryError: The model or version does not exist, or it is pending or
                rejected.
            ModelIntegrityError: The version's model file does not match its sha256.
        """
        meta, sha = self._recorded(name, version)
        check_promotable(name, version, meta.get("lineage") or {}, self.events)
        self._verify(name, version, sha)
        try:
            current = self.champion(name)
        except RegistryError:
            current = None  # a corrupt pointer is what set_champion repairs
        previous = current.version if current and current.version != version else None
        with self._reaching(f"update the champion of {name!r}"):
            champion = self._write_champion(name, version, sha, previous)
        if current is None or current.version != version:
            self.events.champion_changed(name, version, previous, actor, reason)
        return champion

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

    def add_onnx_export(
        self, name: str, version: int, files: Mapping[str, bytes], record: Any
    ) -> None:
        """Add a version's ONNX export, the one change a published version accepts.

        With the model file verified, ``files`` (paths relative to ``v<N>/onnx/``)
        are written, each atomically, then ``metadata.json`` is replaced atomically
        by the same metadata plus ``record`` under ``onnx``: readers see the export
        once it is complete, and ``model_sha256`` still checks ``model.joblib``.

        Raises:
            RegistryError: No such version, an export is already recorded, or a
                path leaves ``onnx/`` or ends like a model file; nothing is changed.
            ModelIntegrityError: The model file does not match its sha256.
        """
        meta, sha = self._recorded(name, version)
        folder = version_dir(version)
        if ONNX_METADATA_KEY in meta:
            where = self._store.location(name, folder, ONNX_FOLDER)
            raise RegistryError(f"{name} v{version} already has its export in {where}.")
        for path in files:
            if path.endswith(MODEL_FILE_EXTENSIONS) or {"", ".", ".."} & {
                *path.split("/")
            }:
                raise RegistryError(f"ONNX export file {path!r} must stay in onnx/.")
        self._verify(name, version, sha)
        written: list[list[str]] = []
        try:
            with self._reaching(f"write the ONNX export of {name} v{version}"):
                for path, data in files.items():
                    written.append([name, folder, ONNX_FOLDER, *path.split("/")])
                    self._store.replace_file(data, *written[-1])
                updated = json_bytes({**meta, ONNX_METADATA_KEY: record})
                self._store.replace_file(updated, name, folder, METADATA_FILE)
        except BaseException:
            for parts in written:
                with contextlib.suppress(Exception):  # best effort; the error wins
                    self._store.remove_file(*parts)
            raise

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
        self,
        name: str,
        model_file: Path,
        sha: str,
        record: dict[str, Any],
        files: Mapping[str, bytes] | None = None,
    ) -> int:
        for _ in range(_MAX_ATTEMPTS):
            with self._reaching(f"list the versions of {name!r}"):
                version = max(self._store.taken_versions(name), default=0) + 1
            record["version"] = version
            metadata = json_bytes(record)
            # Built from the metadata as it will be read back, so rebuilding the
            # card from metadata.json later gives the same text.
            card = build_model_card(json.loads(metadata), model_name=name)
            try:
                self._store.publish(
                    name,
                    version,
                    model_file,
                    sha,
                    metadata,
                    extra_files={MODEL_CARD_FILE: card.encode(), **(files or {})},
                )
            except VersionTaken:
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

    def _announce(
        self,
        name: str,
        version: int,
        sha: str,
        current: Champion | None,
        lineage: dict[str, Any],
        status: str,
    ) -> None:
        """Record a new version: champion (auto) or challenger (manual), and history."""
        actor = str(lineage.get("pipeline_run_id") or "") or "unknown"
        reason = str(lineage.get("approval_reason") or "")
        self.events.append(
            name, REGISTERED, version=version, actor=actor, reason=reason, status=status
        )
        if status == PENDING:
            waits = "registered for a person's approval"
            self.alias_files.set(name, CHALLENGER, version, actor=actor, reason=waits)
            return
        previous = current.version if current is not None else None
        self._write_champion(name, version, sha, previous)
        self.events.champion_changed(name, version, previous, actor, reason)

    def _write_champion(
        self, name: str, version: int, sha: str, previous: int | None
    ) -> Champion:
        champion = Champion(
            version=version,
            model_sha256=sha,
            updated_at=now(),
            previous_version=previous,
        )
        self._store.replace_file(json_bytes(champion.to_dict()), name, CHAMPION_FILE)
        return champion

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
