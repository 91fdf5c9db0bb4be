"""Reading compiled pipelines, typing parameters, and Vertex constraints."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest

from mlops_suite.ops.spec import (
    ParameterError,
    PipelineSpecError,
    check_params,
    check_vertex_constraints,
    parse_params,
    read_pipeline_spec,
)


def test_compiled_pipeline_is_read_with_its_parameters(tiny_yaml):
    spec = read_pipeline_spec(tiny_yaml)
    assert spec["pipelineInfo"]["name"] == "tiny-pipeline"
    parameters = spec["root"]["inputDefinitions"]["parameters"]
    assert parameters["message"]["parameterType"] == "STRING"
    assert parameters["scale"]["parameterType"] == "NUMBER_DOUBLE"
    assert "platforms" not in spec


def test_kfp_kubernetes_platform_spec_is_kept_under_platforms(compiled):
    spec = read_pipeline_spec(compiled["k8s"])
    secrets = spec["platforms"]["kubernetes"]["deploymentSpec"]["executors"]
    assert secrets["exec-hello"]["imagePullSecret"][0]["secretName"] == "regcred"


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("root: [unclosed\n", "is not valid YAML at line 2"),
        ("- just\n- a list\n", "does not hold a YAML mapping"),
        ("name: x\n", "is not a KFP pipeline spec (it has no pipelineInfo, root)"),
        ("pipelineInfo: {}\nroot: {}\n", "(it has no pipelineInfo.name)"),
        ("pipelineSpec: {}\n", "is a PipelineJob, not a pipeline spec"),
        (
            "pipelineInfo: {name: a}\nroot: {}\n---\nother: 1\n",
            "second YAML document that is not a KFP platform spec",
        ),
    ],
)
def test_unusable_files_are_named_in_the_error(tmp_path: Path, content, expected):
    path = tmp_path / "pipeline.yaml"
    path.write_text(content)
    with pytest.raises(PipelineSpecError) as info:
        read_pipeline_spec(path)
    assert str(info.value).startswith(f"Pipeline file {path} ")
    assert expected in str(info.value)


def test_missing_file_and_folder_are_reported(tmp_path: Path):
    with pytest.raises(PipelineSpecError, match=r"nope.yaml does not exist\.$"):
        read_pipeline_spec(tmp_path / "nope.yaml")
    with pytest.raises(PipelineSpecError, match="is a folder, not a file"):
        read_pipeline_spec(tmp_path)


def test_binary_file_is_reported(tmp_path: Path):
    path = tmp_path / "pipeline.yaml"
    path.write_bytes(b"\xff\xfe\x00binary")
    with pytest.raises(PipelineSpecError, match="is not text"):
        read_pipeline_spec(path)


def test_parameters_are_typed_by_the_spec(compiled):
    spec = read_pipeline_spec(compiled["typed"])
    values = parse_params(
        [
            "text=a=b c",
            "ratio=0.25",
            "count=-3",
            "flag=Yes",
            'config={"depth": 4, "names": ["x"]}',
            "items=[1, 2.5]",
        ],
        spec,
    )
    assert values == {
        "text": "a=b c",
        "ratio": 0.25,
        "count": -3,
        "flag": True,
        "config": {"depth": 4, "names": ["x"]},
        "items": [1, 2.5],
    }
    assert isinstance(values["ratio"], float) and isinstance(values["count"], int)
    assert parse_params(["flag=0", "ratio=3"], spec) == {"flag": False, "ratio": 3.0}


@pytest.mark.parametrize(
    ("item", "expected"),
    [
        (
            "ratio=fast",
            "Parameter ratio has value 'fast', but the pipeline expects a "
            "number (NUMBER_DOUBLE).",
        ),
        (
            "ratio=nan",
            "Parameter ratio has value 'nan', but the pipeline expects a "
            "number (NUMBER_DOUBLE).",
        ),
        (
            "count=2.5",
            "Parameter count has value '2.5', but the pipeline expects an "
            "integer (NUMBER_INTEGER).",
        ),
        (
            "flag=maybe",
            "Parameter flag has value 'maybe', but the pipeline expects "
            "true or false (BOOLEAN).",
        ),
        (
            "config=[1]",
            "Parameter config has value '[1]', but the pipeline expects a "
            "JSON object (STRUCT).",
        ),
        (
            "items={bad json",
            "Parameter items has value '{bad json', but the pipeline "
            "expects a JSON list (LIST).",
        ),
    ],
)
def test_bad_values_name_key_value_and_type(compiled, item, expected):
    spec = read_pipeline_spec(compiled["typed"])
    with pytest.raises(ParameterError) as info:
        parse_params([item], spec)
    assert str(info.value) == expected


def test_unknown_parameter_lists_the_accepted_ones(compiled):
    spec = read_pipeline_spec(compiled["typed"])
    with pytest.raises(ParameterError) as info:
        parse_params(["ration=1"], spec)
    assert str(info.value) == (
        "Pipeline typed-pipeline has no parameter named ration; accepted parameters: "
        "config, count, flag, items, ratio, text."
    )


def test_malformed_and_repeated_items_are_refused(tiny_yaml):
    spec = read_pipeline_spec(tiny_yaml)
    with pytest.raises(ParameterError, match="'scale' is not of the form KEY=VALUE"):
        parse_params(["scale"], spec)
    with pytest.raises(ParameterError, match="scale is given more than once"):
        parse_params(["scale=1", "scale=2"], spec)


def test_check_params_types_python_values_and_requires_missing_ones(tiny_yaml):
    spec = read_pipeline_spec(tiny_yaml)
    assert check_params(spec, {"message": "hi", "scale": 2}) == {
        "message": "hi",
        "scale": 2.0,
    }
    assert check_params(spec, {"message": "hi", "scale": "0.5"})["scale"] == 0.5
    with pytest.raises(ParameterError, match="expects a number"):
        check_params(spec, {"message": "hi", "scale": True})
    with pytest.raises(ParameterError) as info:
        check_params(spec, {})
    assert str(info.value) == (
        "Pipeline tiny-pipeline needs a value for message (pass KEY=VALUE)."
    )


def test_compiled_pipeline_meets_vertex_constraints(tiny_yaml):
    assert check_vertex_constraints(read_pipeline_spec(tiny_yaml)) == []


def test_vertex_constraints_are_listed_one_sentence_each(tiny_yaml, compiled):
    spec = copy.deepcopy(read_pipeline_spec(tiny_yaml))
    spec["pipelineInfo"]["name"] = "Tiny_Pipeline"
    spec["schemaVersion"] = "0.1.0"
    problems = check_vertex_constraints(spec)
    assert problems == [
        "pipeline name 'Tiny_Pipeline' must match ^[a-z0-9][a-z0-9-]{0,127}$ "
        "(lowercase letters, digits and dashes)",
        "schemaVersion is 0.1.0, but Vertex AI Pipelines runs KFP SDK v2 specs "
        "(schemaVersion 2.x)",
    ]
    assert check_vertex_constraints(read_pipeline_spec(compiled["k8s"])) == [
        "it uses kfp-kubernetes platform settings (platforms.kubernetes (executors: "
        "exec-hello)), which only the Kubeflow Pipelines backend supports"
    ]
    assert check_vertex_constraints(read_pipeline_spec(compiled["big"])) == [
        "exec-crunch asks for 128 CPUs, more than the 96 Vertex AI Pipelines allows "
        "per step",
        "exec-crunch asks for 1000 GB of memory, more than the 624 GB Vertex AI "
        "Pipelines allows per step",
    ]
