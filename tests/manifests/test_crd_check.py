"""The strict CRD check (tests/support/crd.py) closes objects as the API server does.

Pure: a tiny CRD-style schema with each rule in it, so a rule that stopped applying
would let a misspelled field through every manifest test silently.
"""

from __future__ import annotations

from typing import Any

import crd
import jsonschema
import pytest

SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "spec": {
            "type": "object",
            "properties": {
                "replicas": {"type": "integer", "nullable": True},
                "labels": {
                    "type": "object",
                    "additionalProperties": {"type": "string"},
                },
                "template": {"type": "object"},
                "raw": {
                    "type": "object",
                    "x-kubernetes-preserve-unknown-fields": True,
                    "properties": {
                        "inner": {"type": "object", "properties": {"a": {}}}
                    },
                },
                "embedded": {
                    "type": "object",
                    "x-kubernetes-embedded-resource": True,
                    "properties": {"spec": {"type": "object"}},
                },
                "port": {
                    "anyOf": [{"type": "integer"}, {"type": "string"}],
                    "x-kubernetes-int-or-string": True,
                },
            },
        },
        "status": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
    },
}


def check(spec: dict[str, Any], **rest: Any) -> None:
    jsonschema.validate({"spec": spec, **rest}, crd.strict_schema(SCHEMA))


@pytest.mark.parametrize(
    "spec",
    [
        {"replicas": 2, "port": "http"},
        {"replicas": None, "port": 8080},
        {"labels": {"any-key": "value"}},
        {"template": {}},
        {"raw": {"whatever": 1, "inner": {"a": 1}}},
        {"embedded": {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}}},
    ],
)
def test_fields_the_api_server_keeps_pass(spec: dict[str, Any]) -> None:
    check(spec, status={"anything": {"goes": True}})


@pytest.mark.parametrize(
    ("spec", "unexpected"),
    [
        ({"replica": 2}, "replica"),
        ({"template": {"name": "x"}}, "name"),
        ({"raw": {"inner": {"b": 1}}}, "b"),
        ({"embedded": {"metadata": {"lables": {}}}}, "lables"),
    ],
)
def test_fields_the_api_server_would_drop_fail(
    spec: dict[str, Any], unexpected: str
) -> None:
    with pytest.raises(
        jsonschema.ValidationError, match=f"'{unexpected}' was unexpected"
    ):
        check(spec)
