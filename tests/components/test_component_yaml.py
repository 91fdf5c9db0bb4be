"""Every component is published on its own as components/<name>/component.yaml."""

# No `from __future__ import annotations`: KFP reads the user pipeline's annotations
# as types, not strings.
from pathlib import Path

import pytest
from kfp import compiler, dsl
from kfp.components import load_component_from_file

from mlops_suite.ops.compile import compile_components

PUBLISHED = Path(__file__).parents[2] / "components"


@pytest.fixture(scope="module")
def compiled(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("components")
    return {path.parent.name: path for path in compile_components(out)}


def test_every_component_yaml_is_committed_and_current(
    compiled: dict[str, Path],
) -> None:
    published = {path.parent.name for path in PUBLISHED.glob("*/component.yaml")}
    assert published == set(compiled), "run `make components` and commit the result"
    for name, path in compiled.items():
        assert (PUBLISHED / name / "component.yaml").read_text() == path.read_text(), (
            f"components/{name}/component.yaml is stale: run `make components` and "
            "review the diff"
        )


def test_a_user_pipeline_loads_and_wires_published_components(tmp_path: Path) -> None:
    ingest = load_component_from_file(str(PUBLISHED / "ingest_data/component.yaml"))
    profile = load_component_from_file(str(PUBLISHED / "profile_data/component.yaml"))

    @dsl.pipeline(name="my-profiling")
    def my_profiling(source_uri: str) -> None:
        ingested = ingest(source_uri=source_uri)
        profile(dataset=ingested.outputs["dataset"])

    out = tmp_path / "mine.yaml"
    compiler.Compiler().compile(my_profiling, str(out))
    spec = out.read_text()
    assert "comp-ingest-data" in spec and "comp-profile-data" in spec
    assert ingest.component_spec.description.startswith("Reads")
