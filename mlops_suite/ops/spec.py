"""Read a compiled pipeline file, type its run parameters, and check it for Vertex AI.

A pipeline is compiled once to KFP IR YAML; this module reads that file, types the
``KEY=VALUE`` parameters by the spec's own input definitions, and lists what Vertex AI
Pipelines would reject, before any backend is asked.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from mlops_suite.ops.submission import SubmitError

# Vertex AI Pipelines names the run's metadata context after the pipeline, so the
# name must follow the same rule the KFP SDK enforces at compile time.
VERTEX_PIPELINE_NAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9-]{0,127}$")
# Largest machine Vertex AI Pipelines provisions for one step (set_cpu_limit /
# set_memory_limit), per "Specify the machine configuration for a pipeline step".
VERTEX_MAX_CPU = 96.0
VERTEX_MAX_MEMORY_GB = 624.0

# The part of a compiled file that only kfp-kubernetes writes (a second YAML document).
PLATFORMS_KEY = "platforms"

_PARAMETER_TYPES = {
    "STRING": "a string",
    "NUMBER_DOUBLE": "a number",
    "NUMBER_INTEGER": "an integer",
    "BOOLEAN": "true or false",
    "STRUCT": "a JSON object",
    "LIST": "a JSON list",
}
_TRUE_WORDS = frozenset({"true", "1", "yes"})
_FALSE_WORDS = frozenset({"false", "0", "no"})


class PipelineSpecError(SubmitError):
    """The pipeline file is missing, unreadable, or not a KFP pipeline spec."""


class ParameterError(SubmitError):
    """A pipeline parameter is unknown, missing, or has a value of the wrong type."""


def read_pipeline_spec(path: str | Path) -> dict[str, Any]:
    """Read a compiled KFP pipeline file (IR YAML or JSON).

    A file compiled with kfp-kubernetes holds a second YAML document, the platform
    spec; its ``platforms`` mapping is returned under the ``platforms`` key, next to
    the pipeline spec's own keys, so :func:`check_vertex_constraints` can see it.

    Args:
        path: The compiled pipeline file.

    Returns:
        The pipeline spec as a dict (``pipelineInfo``, ``root``, ``components``, ...).

    Raises:
        PipelineSpecError: The file is missing, not YAML, or not a KFP pipeline spec.
    """
    file = Path(path)
    if not file.is_file():
        what = "is a folder, not a file" if file.is_dir() else "does not exist"
        raise PipelineSpecError(f"Pipeline file {file} {what}.")
    try:
        documents = [doc for doc in yaml.safe_load_all(file.read_text("utf-8")) if doc]
    except UnicodeDecodeError:
        raise PipelineSpecError(
            f"Pipeline file {file} is not text (expected KFP IR YAML)."
        ) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise PipelineSpecError(
            f"Pipeline file {file} is not valid YAML{where}."
        ) from None
    if not documents or not all(isinstance(doc, dict) for doc in documents):
        raise PipelineSpecError(
            f"Pipeline file {file} does not hold a YAML mapping, so it is not a KFP "
            "pipeline spec."
        )
    spec = dict(documents[0])
    if "pipelineSpec" in spec:
        raise PipelineSpecError(
            f"Pipeline file {file} is a PipelineJob, not a pipeline spec; pass the "
            "file kfp.compiler.Compiler wrote."
        )
    missing = [key for key in ("pipelineInfo", "root") if key not in spec]
    name = spec.get("pipelineInfo", {}).get("name") if not missing else None
    if missing or not isinstance(name, str) or not name:
        lacking = ", ".join(missing) if missing else "pipelineInfo.name"
        raise PipelineSpecError(
            f"Pipeline file {file} is not a KFP pipeline spec (it has no {lacking}); "
            "compile the pipeline with kfp.compiler.Compiler."
        )
    for extra in documents[1:]:
        if PLATFORMS_KEY not in extra:
            raise PipelineSpecError(
                f"Pipeline file {file} holds a second YAML document that is not a KFP "
                f"platform spec (expected a '{PLATFORMS_KEY}' key)."
            )
        spec.setdefault(PLATFORMS_KEY, {}).update(extra[PLATFORMS_KEY] or {})
    return spec


def pipeline_name(spec: Mapping[str, Any]) -> str:
    """The pipeline's name, as compiled into ``pipelineInfo.name``."""
    return str(spec["pipelineInfo"]["name"])


def parameter_definitions(spec: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """The pipeline's run-time parameters: name -> ``{"parameterType": ..., ...}``."""
    root = spec.get("root") or {}
    definitions = (root.get("inputDefinitions") or {}).get("parameters") or {}
    return {str(name): dict(definition) for name, definition in definitions.items()}


def parse_params(items: Sequence[str], spec: Mapping[str, Any]) -> dict[str, Any]:
    """Turn ``KEY=VALUE`` strings into run parameters typed by the pipeline spec.

    Types follow the root ``inputDefinitions``: ``NUMBER_DOUBLE`` -> float,
    ``NUMBER_INTEGER`` -> int, ``BOOLEAN`` -> bool (true/false, yes/no, 1/0),
    ``STRING`` -> str, ``STRUCT``/``LIST`` -> parsed JSON. Parameters not given keep
    the defaults compiled into the spec.

    Args:
        items: Strings such as ``["learning_rate=0.1", "dataset=penguins"]``.
        spec: The pipeline spec from :func:`read_pipeline_spec`.

    Returns:
        The parameters by name, with Python values of the declared types.

    Raises:
        ParameterError: An item is not ``KEY=VALUE``, names a parameter the pipeline
            does not declare, repeats one, or has a value of the wrong type.
        ModelNameError: ``model_name`` breaks the model-name rule.
        NotifyUrlError: ``notify_url`` is not an http(s) URL.
    """
    definitions = parameter_definitions(spec)
    values: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ParameterError(
                f"Parameter '{item}' is not of the form KEY=VALUE (e.g. "
                f"{_example_param(definitions)})."
            )
        if key not in definitions:
            raise ParameterError(_unknown_parameter(key, spec, definitions))
        if key in values:
            raise ParameterError(f"Parameter {key} is given more than once.")
        values[key] = _parse_value(key, raw, _parameter_type(definitions[key]))
    if isinstance(values.get("model_name"), str):
        from mlops_suite.registry.names import validate_model_name

        # Refused here, before a run starts, rather than after registration when
        # the InferenceService name turns out too long to deploy.
        validate_model_name(values["model_name"])
    _check_notify_url(values)
    return values


def _check_notify_url(values: Mapping[str, Any]) -> None:
    """Refuse a ``notify_url`` that is not http(s) before a run starts.

    The exit step would only log it and send nothing: the run would end unheard.
    """
    if isinstance(values.get("notify_url"), str):
        from mlops_suite.notification import check_notify_url

        check_notify_url(values["notify_url"])


def _example_param(definitions: Mapping[str, Any]) -> str:
    return f"{next(iter(definitions))}=..." if definitions else "name=value"


def _unknown_parameter(
    key: str, spec: Mapping[str, Any], definitions: Mapping[str, Any]
) -> str:
    accepted = ", ".join(sorted(definitions)) if definitions else "none"
    return (
        f"Pipeline {pipeline_name(spec)} has no parameter named {key}; "
        f"accepted parameters: {accepted}."
    )


def _parameter_type(definition: Mapping[str, Any]) -> str:
    return str(definition.get("parameterType", "STRING"))


def _parse_value(key: str, raw: str, parameter_type: str) -> Any:
    expected = _PARAMETER_TYPES.get(parameter_type)
    if expected is None:
        raise ParameterError(
            f"Parameter {key} has type {parameter_type}, which cannot be set when "
            "submitting a run."
        )
    text = raw.strip()
    try:
        if parameter_type == "STRING":
            return raw
        if parameter_type == "NUMBER_DOUBLE":
            number = float(text)
            if math.isfinite(number):
                return number
        elif parameter_type == "NUMBER_INTEGER":
            return int(text, 10)
        elif parameter_type == "BOOLEAN":
            if text.lower() in _TRUE_WORDS:
                return True
            if text.lower() in _FALSE_WORDS:
                return False
        else:
            parsed = json.loads(text)
            wanted = dict if parameter_type == "STRUCT" else list
            if isinstance(parsed, wanted):
                return parsed
    except ValueError:
        pass
    raise ParameterError(
        f"Parameter {key} has value {raw!r}, but the pipeline expects {expected} "
        f"({parameter_type})."
    )


def _check_value(key: str, value: Any, parameter_type: str) -> Any:
    """Check a value given as a Python object (not a string) against its type."""
    if isinstance(value, str) and parameter_type != "STRING":
        return _parse_value(key, value, parameter_type)
    expected = _PARAMETER_TYPES.get(parameter_type, parameter_type)
    is_number = isinstance(value, int | float) and not isinstance(value, bool)
    ok = {
        "STRING": isinstance(value, str),
        "NUMBER_DOUBLE": is_number and math.isfinite(float(value)),
        "NUMBER_INTEGER": isinstance(value, int) and not isinstance(value, bool),
        "BOOLEAN": isinstance(value, bool),
        "STRUCT": isinstance(value, dict),
        "LIST": isinstance(value, list),
    }.get(parameter_type, False)
    if not ok:
        raise ParameterError(
            f"Parameter {key} has value {value!r}, but the pipeline expects {expected} "
            f"({parameter_type})."
        )
    return float(value) if parameter_type == "NUMBER_DOUBLE" else value


def check_params(
    spec: Mapping[str, Any], params: Mapping[str, Any] | None
) -> dict[str, Any]:
    """Check run parameters against the spec: known names, types, required ones given.

    Args:
        spec: The pipeline spec from :func:`read_pipeline_spec`.
        params: Parameters by name (strings are parsed like :func:`parse_params`).

    Returns:
        The parameters with values of the declared types.

    Raises:
        ParameterError: A name is unknown, a value has the wrong type, or a parameter
            without a default is missing.
        NotifyUrlError: ``notify_url`` is not an http(s) URL.
    """
    definitions = parameter_definitions(spec)
    checked: dict[str, Any] = {}
    for key, value in (params or {}).items():
        if key not in definitions:
            raise ParameterError(_unknown_parameter(key, spec, definitions))
        checked[key] = _check_value(key, value, _parameter_type(definitions[key]))
    missing = [
        name
        for name, definition in definitions.items()
        if name not in checked
        and not definition.get("isOptional")
        and "defaultValue" not in definition
    ]
    if missing:
        raise ParameterError(
            f"Pipeline {pipeline_name(spec)} needs a value for {', '.join(missing)} "
            "(pass KEY=VALUE)."
        )
    _check_notify_url(checked)
    return checked


def check_vertex_constraints(spec: Mapping[str, Any]) -> list[str]:
    """List what Vertex AI Pipelines would reject in this pipeline spec.

    Checked: the pipeline name rule (``^[a-z0-9][a-z0-9-]{0,127}$``), kfp-kubernetes
    platform settings (only the Kubeflow Pipelines backend reads them, and Vertex
    cannot load a two-document file), the IR schema version (Vertex runs KFP SDK v2
    specs, schema 2.x), and per-step CPU / memory limits above the largest machine
    Vertex provisions (96 CPUs, 624 GB).

    Args:
        spec: The pipeline spec from :func:`read_pipeline_spec`.

    Returns:
        One sentence per problem; empty when Vertex AI should accept the spec.
    """
    problems: list[str] = []
    name = pipeline_name(spec)
    if not VERTEX_PIPELINE_NAME_PATTERN.match(name):
        problems.append(
            f"pipeline name {name!r} must match {VERTEX_PIPELINE_NAME_PATTERN.pattern} "
            "(lowercase letters, digits and dashes)"
        )
    kubernetes = (spec.get(PLATFORMS_KEY) or {}).get("kubernetes")
    if kubernetes is not None:
        configured = sorted(
            (kubernetes.get("deploymentSpec") or {}).get("executors") or {}
        )
        which = f" (executors: {', '.join(configured)})" if configured else ""
        problems.append(
            "it uses kfp-kubernetes platform settings (platforms.kubernetes"
            f"{which}), which only the Kubeflow Pipelines backend supports"
        )
    schema = str(spec.get("schemaVersion", ""))
    if not schema.startswith("2."):
        problems.append(
            f"schemaVersion is {schema or 'missing'}, but Vertex AI Pipelines runs "
            "KFP SDK v2 specs (schemaVersion 2.x)"
        )
    executors = ((spec.get("deploymentSpec") or {}).get("executors")) or {}
    for executor_name, executor in sorted(executors.items()):
        resources = ((executor or {}).get("container") or {}).get("resources") or {}
        cpu = _as_float(resources.get("cpuLimit"))
        if cpu is not None and cpu > VERTEX_MAX_CPU:
            problems.append(
                f"{executor_name} asks for {cpu:g} CPUs, more than the "
                f"{VERTEX_MAX_CPU:g} Vertex AI Pipelines allows per step"
            )
        memory = _as_float(resources.get("memoryLimit"))
        if memory is not None and memory > VERTEX_MAX_MEMORY_GB:
            problems.append(
                f"{executor_name} asks for {memory:g} GB of memory, more than the "
                f"{VERTEX_MAX_MEMORY_GB:g} GB Vertex AI Pipelines allows per step"
            )
    return problems


def _as_float(value: Any) -> float | None:
    # The compiler writes limits as numbers; placeholders (runtime values) are skipped.
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return None
