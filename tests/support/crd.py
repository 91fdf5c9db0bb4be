"""KServe's InferenceService CRD schema, checked as strictly as the API server does.

The CRD is kept beside the repository in ``../shared/schemas/kserve`` (found from a git
worktree too: the first ``shared/schemas/kserve`` in a folder above the repository).
Tests that check an object skip, with the reason, when it is missing.

A CRD's OpenAPI schema says what each field may hold, but JSON Schema accepts fields
it does not list, while the API server does not: with strict field validation
(``kubectl apply --validate=strict``, the default since Kubernetes 1.27) it refuses
them, otherwise it drops them silently, so a misspelled field never takes effect.
:func:`strict_schema` therefore closes every object node the way the API server
treats it:

- a node listing ``properties`` accepts only those fields;
- an ``object`` node without ``properties`` accepts no field at all (the API server
  prunes everything under it);
- ``additionalProperties`` (a map) and ``x-kubernetes-preserve-unknown-fields: true``
  keep a node open, for that node only (nested nodes are closed again);
- ``x-kubernetes-embedded-resource`` nodes also accept ``apiVersion``, ``kind`` and
  ``metadata``;
- ``nullable: true`` also accepts ``null``;
- the top-level ``metadata`` is checked as an ``ObjectMeta`` (the CRD types it only as
  ``object``).

Branches of ``allOf``/``anyOf``/``oneOf``/``not`` only add constraints in a structural
schema, so they are left as they are.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from jsonschema.protocols import Validator

REPO_ROOT = Path(__file__).resolve().parents[2]
ISVC_CRD = "serving.kserve.io_inferenceservices.yaml"

_STRING_MAP = {"type": "object", "additionalProperties": {"type": "string"}}
# metav1.ObjectMeta, the fields a client may send.
OBJECT_META: dict[str, Any] = {
    "type": "object",
    "properties": {
        "name": {"type": "string"},
        "generateName": {"type": "string"},
        "namespace": {"type": "string"},
        "selfLink": {"type": "string"},
        "uid": {"type": "string"},
        "resourceVersion": {"type": "string"},
        "generation": {"type": "integer"},
        "creationTimestamp": {"type": ["string", "null"]},
        "deletionTimestamp": {"type": ["string", "null"]},
        "deletionGracePeriodSeconds": {"type": "integer"},
        "labels": _STRING_MAP,
        "annotations": _STRING_MAP,
        "ownerReferences": {"type": "array", "items": {"type": "object"}},
        "finalizers": {"type": "array", "items": {"type": "string"}},
        "managedFields": {"type": "array", "items": {"type": "object"}},
    },
    "additionalProperties": False,
}
_EMBEDDED = {
    "apiVersion": {"type": "string"},
    "kind": {"type": "string"},
    "metadata": OBJECT_META,
}


def kserve_schemas() -> Path | None:
    """The folder holding KServe's CRDs, or ``None`` when there is none."""
    for folder in REPO_ROOT.parents:
        candidate = folder / "shared" / "schemas" / "kserve"
        if candidate.is_dir():
            return candidate
    return None


def strict_schema(node: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of a CRD schema node that refuses unknown fields as the API server does.

    Args:
        node: An OpenAPI v3 schema node from a CRD (``openAPIV3Schema`` or below).

    Returns:
        The node as a JSON Schema, every object node closed (see the module docs).
    """
    strict = dict(node)
    properties = {
        name: strict_schema(child)
        for name, child in (node.get("properties") or {}).items()
    }
    if node.get("x-kubernetes-embedded-resource"):
        properties = {**_EMBEDDED, **properties}
    if properties:
        strict["properties"] = properties
    if isinstance(node.get("items"), Mapping):
        strict["items"] = strict_schema(node["items"])
    open_ = node.get("additionalProperties")
    if isinstance(open_, Mapping):
        strict["additionalProperties"] = strict_schema(open_)
    elif open_ is None and not node.get("x-kubernetes-preserve-unknown-fields"):
        if properties or node.get("type") == "object":
            strict["additionalProperties"] = False
    if node.get("nullable") and isinstance(node.get("type"), str):
        strict["type"] = [node["type"], "null"]
    return strict


@functools.cache
def _validators(crd_file: Path) -> dict[str, Validator]:
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    crd = yaml.load(crd_file.read_text(encoding="utf-8"), Loader=loader)  # noqa: S506
    validators: dict[str, Validator] = {}
    for version in crd["spec"]["versions"]:
        if not version.get("served", True):
            continue
        schema = strict_schema(version["schema"]["openAPIV3Schema"])
        schema["properties"]["metadata"] = OBJECT_META
        validators[version["name"]] = jsonschema.validators.validator_for(schema)(
            schema
        )
    return validators


def inference_service_validators() -> dict[str, Validator]:
    """A strict validator per served version of the InferenceService CRD.

    Built once per test session (the CRD is about 2 MB of YAML). Skips the calling
    test when the CRD is not found.
    """
    folder = kserve_schemas()
    if folder is None or not (folder / ISVC_CRD).is_file():
        pytest.skip(
            f"KServe CRD schemas not found in shared/schemas/kserve beside {REPO_ROOT} "
            "or a folder above it"
        )
    return _validators(folder / ISVC_CRD)


def check_inference_service(obj: Mapping[str, Any]) -> None:
    """Check an InferenceService as the API server would, before it is applied.

    Args:
        obj: The InferenceService (a dict, as built or rendered).

    Raises:
        jsonschema.ValidationError: A field is unknown, mistyped or missing, or the
            ``apiVersion`` is not one the CRD serves.
    """
    validators = inference_service_validators()
    api_version = str(obj.get("apiVersion", ""))
    group, _, version = api_version.partition("/")
    if group != "serving.kserve.io" or version not in validators:
        raise jsonschema.ValidationError(
            f"apiVersion {api_version!r} is not served by the InferenceService CRD "
            f"(serving.kserve.io/{', '.join(sorted(validators))})."
        )
    validators[version].validate(obj)
