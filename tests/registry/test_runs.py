"""Each run's decisions: one small file per run and step, read by the exit step."""

from __future__ import annotations

from pathlib import Path

import fsspec
import pytest

from mlops_suite.errors import RegistryError
from mlops_suite.registry import ModelRegistry
from mlops_suite.registry.runs import APPROVAL_STEP, RETRAINING_STEP, RUNS_DIR

NAME = "penguins"
RUN = "3f2b9c1e-8d4a-4b6f-9e21-0c5d7a1b2e34"  # a KFP run id


@pytest.fixture(params=["local", "memory"])
def registry(
    request: pytest.FixtureRequest, tmp_path: Path, memory_registry_uri: str
) -> ModelRegistry:
    """The same tests on a local folder and on an object store (``memory://``)."""
    if request.param == "local":
        return ModelRegistry(tmp_path / "registry")
    return ModelRegistry(memory_registry_uri)


def test_a_run_reads_back_what_its_steps_decided(registry: ModelRegistry) -> None:
    registry.runs.write(
        NAME, RUN, RETRAINING_STEP, decision="retrain",
        reason="Retrain: accuracy fell.", champion_version=3,
    )  # fmt: skip
    gate = registry.runs.write(
        NAME, RUN, APPROVAL_STEP, decision="rejected",
        reason="Rejected: roc_auc 0.71 is below the minimum 0.80.", champion_version=3,
    )  # fmt: skip

    read = registry.runs.read(NAME, RUN)

    assert read[APPROVAL_STEP] == gate
    assert (read[RETRAINING_STEP].decision, read[RETRAINING_STEP].reason) == (
        "retrain",
        "Retrain: accuracy fell.",
    )
    assert registry.runs.read(NAME, "another-run") == {}


def test_the_record_lives_under_the_model_and_run(tmp_path: Path) -> None:
    registry = ModelRegistry(tmp_path / "registry")

    registry.runs.write(
        NAME, "run-7", APPROVAL_STEP, decision="unchanged", reason="Approved: ...",
        champion_version=2,
    )  # fmt: skip

    record = tmp_path / "registry" / NAME / RUNS_DIR / "run-7" / "approval.json"
    assert '"decision": "unchanged"' in record.read_text()
    assert registry.versions(NAME) == [] and registry.champion(NAME) is None


@pytest.mark.parametrize(
    "run_id", ["", "../champion", "run/7", "Run-7", "{{$.pipeline_job_uuid}}"]
)
def test_a_run_id_that_is_no_folder_name_is_refused(
    registry: ModelRegistry, run_id: str
) -> None:
    with pytest.raises(RegistryError, match="cannot name a run's folder"):
        registry.runs.write(
            NAME, run_id, APPROVAL_STEP, decision="rejected", reason="no",
            champion_version=None,
        )  # fmt: skip
    with pytest.raises(RegistryError, match="cannot name a run's folder"):
        registry.runs.read(NAME, run_id)
    fs, root = fsspec.core.url_to_fs(registry.uri)
    assert not fs.exists(root) or fs.find(root) == []


def test_a_corrupt_record_is_named(tmp_path: Path) -> None:
    registry = ModelRegistry(tmp_path / "registry")
    folder = tmp_path / "registry" / NAME / RUNS_DIR / "run-7"
    folder.mkdir(parents=True)
    (folder / "retraining.json").write_text('{"decision": "maybe"}')

    with pytest.raises(RegistryError, match=r"retraining\.json records decision"):
        registry.runs.read(NAME, "run-7")
