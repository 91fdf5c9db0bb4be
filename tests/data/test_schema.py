"""Inferring, loading and hashing schemas."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import fsspec
import numpy as np
import pandas as pd
import pytest

from mlops_suite import atomic
from mlops_suite.artifacts import SCHEMA_FILE
from mlops_suite.data.schema import infer_schema, load_schema, schema_sha256
from mlops_suite.data.statistics import compute_statistics
from mlops_suite.errors import DataError, SchemaError


def _by_name(schema: dict) -> dict:
    return {column["name"]: column for column in schema["columns"]}


def test_penguins_schema(penguins: pd.DataFrame) -> None:
    schema = infer_schema(penguins)
    columns = _by_name(schema)

    assert [c["name"] for c in schema["columns"]] == list(penguins.columns)
    assert columns["species"]["type"] == "categorical"
    assert columns["species"]["domain"] == ["Adelie", "Chinstrap", "Gentoo"]
    assert columns["species"]["max_unseen_fraction"] == 0.0
    bill = columns["bill_length_mm"]
    assert (bill["type"], bill["dtype"], bill["required"]) == (
        "numeric",
        "float64",
        True,
    )
    assert (bill["min"], bill["max"]) == (32.1, 59.6)
    assert bill["range_blocking"] is False
    # 2 of 344 missing (0.58 %): bound = observed + 0.05, rounded up.
    assert bill["max_missing_fraction"] == 0.0559
    assert columns["sex"]["domain"] == ["female", "male"]
    assert columns["sex"]["max_missing_fraction"] >= 11 / 344 * 1.5
    assert columns["year"]["type"] == "numeric"


def test_missing_bound_has_headroom_and_never_accepts_an_empty_column() -> None:
    rows = 20
    frame = pd.DataFrame(
        {
            "none": np.arange(rows, dtype=float),
            "half": [np.nan] * 10 + list(range(10)),
            "most": [np.nan] * 19 + [1.0],
            "all": [np.nan] * rows,
        }
    )

    columns = _by_name(infer_schema(frame))

    assert columns["none"]["max_missing_fraction"] == 0.05
    assert columns["half"]["max_missing_fraction"] == 0.75
    assert columns["most"]["max_missing_fraction"] == pytest.approx(19 / 20)
    assert columns["all"]["max_missing_fraction"] < 1.0
    assert columns["all"]["min"] is None


def test_mixed_frame_schema(mixed_frame: pd.DataFrame) -> None:
    columns = _by_name(infer_schema(mixed_frame))

    assert columns["member"]["type"] == "boolean"
    assert "domain" not in columns["member"]
    assert columns["region"]["domain"] == ["east", "north", "south", "west"]
    assert columns["churned"]["type"] == "numeric"
    assert (columns["churned"]["min"], columns["churned"]["max"]) == (0.0, 1.0)


def test_domain_comes_from_the_data_not_the_top_frequencies() -> None:
    frame = pd.DataFrame({"code": [f"c{i}" for i in range(250)]})

    domain = infer_schema(frame)["columns"][0]["domain"]

    assert len(domain) == 250


def test_given_statistics_must_describe_the_table(tiny: pd.DataFrame) -> None:
    other = compute_statistics(tiny.drop(columns=["ok"]))

    assert infer_schema(tiny, compute_statistics(tiny)) == infer_schema(tiny)
    with pytest.raises(DataError, match="expected the statistics of the same table"):
        infer_schema(tiny, other)


def test_empty_table_has_no_schema() -> None:
    with pytest.raises(DataError, match=r"0 rows \(2 columns\)"):
        infer_schema(pd.DataFrame({"a": [], "b": []}))


def test_schema_is_json_and_loads_back(tmp_path: Path, penguins: pd.DataFrame) -> None:
    schema = infer_schema(penguins)
    atomic.write_json(tmp_path / SCHEMA_FILE, schema)

    assert load_schema(tmp_path / SCHEMA_FILE) == schema
    assert load_schema(tmp_path) == schema


def test_schema_hash_is_canonical(tiny: pd.DataFrame) -> None:
    schema = infer_schema(tiny)
    shuffled = json.loads(json.dumps(schema, sort_keys=True))
    changed = json.loads(json.dumps(schema))
    changed["columns"][0]["max"] = 11.0

    assert schema_sha256(schema) == schema_sha256(shuffled)
    assert schema_sha256(schema) != schema_sha256(changed)
    assert len(schema_sha256(schema)) == 64


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", r"is not valid JSON \(.* at line 1, column 2\)"),
        ('["a"]', "is not a schema; expected an object with a 'columns' list"),
        ('{"columns": [{"type": "numeric"}]}', "column entry 0 has no 'name'"),
        (
            '{"columns": [{"name": "a", "type": "text"}]}',
            "column 'a' has type 'text'; expected one of numeric",
        ),
        (
            '{"columns": [{"name": "a", "type": "numeric"},'
            ' {"name": "a", "type": "numeric"}]}',
            "column 'a' is listed twice",
        ),
        (
            '{"columns": [{"name": "a", "type": "numeric", "min": 3, "max": 1}]}',
            "column 'a' has min 3 above max 1",
        ),
        (
            '{"columns": [{"name": "a", "type": "numeric", "min": "low"}]}',
            "column 'a' has min = 'low'; expected a number",
        ),
        (
            '{"columns": [{"name": "a", "type": "categorical", "domain": [1, 2]}]}',
            "column 'a' has a malformed 'domain'",
        ),
        (
            '{"columns": [{"name": "a", "type": "boolean",'
            ' "max_missing_fraction": 1.5}]}',
            "column 'a' has max_missing_fraction = 1.5; expected a number from 0 to 1",
        ),
    ],
)
def test_load_schema_names_file_and_problem(
    tmp_path: Path, content: str, message: str
) -> None:
    path = tmp_path / "my_schema.json"
    path.write_text(content)

    with pytest.raises(SchemaError, match=message) as raised:
        load_schema(path)

    assert "my_schema.json" in str(raised.value)


def test_load_schema_names_a_missing_file(tmp_path: Path) -> None:
    with pytest.raises(SchemaError, match=r"absent\.json' does not exist"):
        load_schema(tmp_path / "absent.json")


def test_load_schema_from_an_fsspec_uri(tiny: pd.DataFrame) -> None:
    schema = infer_schema(tiny)
    uri = f"memory://schema-{uuid.uuid4().hex}/schema.json"
    memory = fsspec.filesystem("memory")
    memory.pipe(uri, json.dumps(schema).encode())
    try:
        assert load_schema(uri) == schema
    finally:
        memory.rm(uri)
    with pytest.raises(SchemaError, match=r"schema file 'memory://.*' does not exist"):
        load_schema(uri)
