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
    <registry>/<model-name>/runs/<run-id>/       each run's decisions (:mod:`.runs`)

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
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mlops_suite.artifacts import (
    CHAMPION_FILE,
    METADATA_FILE,
    MODEL_CARD_FILE,
    MODEL_FILE_EXTENSIONS,
    ONNX_FOLDER,
    ONNX_METADATA_KEY,
)
from mlops_suite.atomic import json_bytes
from mlops_suite.errors import MlopsError, ModelIntegrityError, RegistryError
from mlops_suite.explanation import EXPLANATION_KEY
from mlops_suite.model_card import build_model_card
from mlops_suite.model_folder import check_companion_name, describe
from mlops_suite.registry.aliases import CHALLENGER
from mlops_suite.registry.history import (
    APPROVED,
    AUTO,
    PENDING,
    REGISTERED,
    check_approval_mode,
    check_promotable,
)
from mlops_suite.registry.names import validate_model_name
from mlops_suite.registry.reader import RegistryReader
from mlops_suite.registry.records import (
    Champion,
    Registration,
    complete_lineage,
    now,
)
from mlops_suite.registry.store import (
    VersionTaken,
    version_dir,
)

# Each retry re-reads the versions, so only as many concurrent writers as this can
# starve a registration.
_MAX_ATTEMPTS = 100


class ModelRegistry(RegistryReader):
    """Versions, champion and lineage of models, on a local folder or an fsspec URI.

    Args:
        uri: A folder path, ``file://`` URI, or fsspec URI such as
            ``gs://bucket/registry`` (needs gcsfs) or ``s3://bucket/registry`` (needs
            s3fs). Nothing is contacted until the first call.

    Raises:
        RegistryError: The URI's protocol is unknown or needs a package that is not
            installed.
    """

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

    def rewrite_model_card(
        self, name: str, version: int, decision: Mapping[str, Any]
    ) -> None:
        """Rewrite a version's ``model_card.md`` after a person decided on it.

        The card is rebuilt from ``metadata.json`` as at registration, with the
        decision in its Approval section; nothing else in the folder changes.

        Args:
            name: The model name.
            version: The version decided on.
            decision: ``status`` (``approved`` or ``rejected``), ``by``, ``reason``
                and ``time`` of the person's decision.

        Raises:
            RegistryError: The version does not exist or the card cannot be written.
        """
        metadata = self.metadata(name, version)
        card = build_model_card(metadata, model_name=name, decision=decision)
        with self._reaching(f"write the model card of {name} v{version}"):
            self._store.replace_file(
                card.encode(), name, version_dir(version), MODEL_CARD_FILE
            )

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
