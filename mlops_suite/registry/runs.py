"""What each pipeline run decided, kept so the run's exit step can tell it.

A run that registers a version leaves a ``registered`` event in the history
(:mod:`.history`); a run whose gate rejected the candidate, whose candidate was
identical to the champion, or that decided not to retrain leaves none. So the steps
that decide record their verdict, one small file per run and step, replaced
atomically like ``champion.json``::

    <model-name>/runs/<run-id>/<step>.json   {"step", "decision", "reason",
                                              "champion_version", "time"}

``<step>`` is ``approval`` (the gate: ``approved``, ``rejected`` or ``unchanged``) or
``retraining`` (continuous training: ``retrain`` or ``not-retrained``). The run id is
the pipeline job's id (a uuid on Kubeflow Pipelines, ``[a-z0-9-]`` on Vertex AI), so
it is a folder name as it is.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from mlops_suite.atomic import json_bytes
from mlops_suite.errors import RegistryError
from mlops_suite.registry.names import validate_model_name
from mlops_suite.registry.records import now
from mlops_suite.registry.store import Store, reaching

RUNS_DIR = "runs"

# The steps that record a decision, and the decisions each may record.
APPROVAL_STEP = "approval"
RETRAINING_STEP = "retraining"
STEP_DECISIONS: dict[str, tuple[str, ...]] = {
    APPROVAL_STEP: ("approved", "rejected", "unchanged"),
    RETRAINING_STEP: ("retrain", "not-retrained"),
}

_RUN_ID = re.compile(r"[a-z0-9][a-z0-9-]{0,127}")
_SUFFIX = ".json"


@dataclass(frozen=True)
class RunDecision:
    """One step's verdict in one run.

    Attributes:
        step: :data:`APPROVAL_STEP` or :data:`RETRAINING_STEP`.
        decision: One of the step's :data:`STEP_DECISIONS`.
        reason: The step's sentence saying why.
        champion_version: The champion when the step decided, if any.
        time: When (ISO 8601, UTC).
    """

    step: str
    decision: str
    reason: str
    champion_version: int | None
    time: str

    def to_dict(self) -> dict[str, Any]:
        """The decision as written to its file."""
        return {
            "step": self.step,
            "decision": self.decision,
            "reason": self.reason,
            "champion_version": self.champion_version,
            "time": self.time,
        }


def validate_run_id(run_id: str) -> str:
    """Refuse a run id that cannot name a folder of the registry.

    Args:
        run_id: The pipeline job's id.

    Returns:
        The run id, unchanged.

    Raises:
        RegistryError: It is not 1-128 lowercase letters, digits and '-' starting
            with a letter or digit.
    """
    if not isinstance(run_id, str) or not _RUN_ID.fullmatch(run_id):
        raise RegistryError(
            f"Pipeline run id {run_id!r} cannot name a run's folder in the registry; "
            "expected 1-128 lowercase letters, digits and '-' (a KFP or Vertex AI "
            "job id)."
        )
    return run_id


class RunRecords:
    """Reads and writes the per-run decisions of the models in one store.

    Args:
        store: Where the registry lives.
    """

    def __init__(self, store: Store) -> None:
        self._store = store

    def write(
        self,
        name: str,
        run_id: str,
        step: str,
        *,
        decision: str,
        reason: str,
        champion_version: int | None,
    ) -> RunDecision:
        """Record (or replace) what ``step`` decided in run ``run_id``.

        Args:
            name: The model name.
            run_id: The pipeline job's id (:func:`validate_run_id`).
            step: One of :data:`STEP_DECISIONS`.
            decision: One of the step's decisions.
            reason: Why.
            champion_version: The champion when the step decided, if any.

        Returns:
            The decision as recorded.

        Raises:
            ValueError: The step or decision is unknown (a bug, not input).
            RegistryError: The run id is not path-safe, or the registry could not be
                written.
        """
        validate_model_name(name)
        validate_run_id(run_id)
        if decision not in STEP_DECISIONS.get(step, ()):
            raise ValueError(f"unknown run decision {step!r}: {decision!r}")
        record = RunDecision(step, decision, reason, champion_version, now())
        with reaching(self._store, f"record the {step} decision of run {run_id}"):
            self._store.replace_file(
                json_bytes(record.to_dict()), name, RUNS_DIR, run_id, step + _SUFFIX
            )
        return record

    def read(self, name: str, run_id: str) -> dict[str, RunDecision]:
        """What the steps of run ``run_id`` recorded, by step; empty for none.

        Args:
            name: The model name.
            run_id: The pipeline job's id.

        Returns:
            ``{step: decision}``.

        Raises:
            RegistryError: The run id is not path-safe, a record is corrupt, or the
                registry is unreachable.
        """
        validate_model_name(name)
        validate_run_id(run_id)
        found: dict[str, RunDecision] = {}
        with reaching(self._store, f"read the decisions of run {run_id}"):
            for step in STEP_DECISIONS:
                try:
                    raw = self._store.read_bytes(name, RUNS_DIR, run_id, step + _SUFFIX)
                except FileNotFoundError:
                    continue
                location = self._store.location(name, RUNS_DIR, run_id, step + _SUFFIX)
                found[step] = _parse(raw, step, location)
        return found


def _parse(raw: bytes, step: str, location: str) -> RunDecision:
    """A run's decision file, or one sentence saying what is wrong with it."""
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise RegistryError(
            f"Run decision {location} is not valid JSON ({exc})."
        ) from None
    if not isinstance(data, dict):
        raise RegistryError(f"Run decision {location} does not hold a JSON object.")
    decision, version = data.get("decision"), data.get("champion_version")
    if decision not in STEP_DECISIONS[step]:
        raise RegistryError(
            f"Run decision {location} records decision {decision!r}; expected one "
            f"of {', '.join(STEP_DECISIONS[step])}."
        )
    if version is not None and (
        isinstance(version, bool) or not isinstance(version, int)
    ):
        raise RegistryError(
            f"Run decision {location} has champion_version {version!r}, expected a "
            "number or null."
        )
    return RunDecision(
        step=step,
        decision=decision,
        reason=str(data.get("reason", "")),
        champion_version=version,
        time=str(data.get("time", "")),
    )
