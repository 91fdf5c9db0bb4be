"""What the registry writes besides model files: the champion pointer and lineage.

``<model-name>/champion.json`` holds a :class:`Champion`; every version's
``metadata.json`` holds a ``lineage`` mapping with the :data:`LINEAGE_KEYS`.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

from mlops_suite import __version__
from mlops_suite.errors import RegistryError
from mlops_suite.provenance import git_commit

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
    "approval_mode",
)


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
        status: ``approved`` (it is the champion) or ``pending`` (the challenger,
            waiting for a person's approval).
    """

    version: int
    created: bool
    uri: str
    status: str = "approved"


def now() -> str:
    """The current time as the registry records it (ISO 8601, UTC, seconds)."""
    return datetime.now(UTC).isoformat(timespec="seconds")


def complete_lineage(
    given: dict[str, Any], model_meta: dict[str, Any], sha: str
) -> dict[str, Any]:
    """The lineage recorded for a new version: every key present, facts filled in.

    Args:
        given: What the caller knows about the run.
        model_meta: The model folder's metadata (data hash, hyperparameters).
        sha: The model file's verified sha256.

    Returns:
        A mapping with every :data:`LINEAGE_KEYS` key; ``model_sha256`` and
        ``registered_at`` always set here.
    """
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
    lineage["registered_at"] = now()
    return lineage


def parse_champion(raw: bytes, location: str) -> Champion:
    """Read ``champion.json``.

    Args:
        raw: The file's bytes.
        location: Where it was read, for the error message.

    Returns:
        The champion.

    Raises:
        RegistryError: The file is not valid JSON or lacks a valid version or hash.
    """

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
