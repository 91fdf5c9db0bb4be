"""``mlops registry show`` and ``list`` mark the versions KServe's sklearn server
would refuse (a model file naming a function, as models made before the stock-classes
pipeline do), and say where the README explains how to serve them."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer

from mlops_suite.cli import main
from mlops_suite.cli.registry import README_SECTION
from mlops_suite.model_folder import save_model
from mlops_suite.registry import ModelRegistry
from mlops_suite.training.train import train_model

README = Path(__file__).resolve().parents[2] / "README.md"
NAME = "penguins"


@dataclass
class _OldModel:
    """What a model folder is saved from: a fitted pipeline and its metadata."""

    pipeline: Any
    metadata: dict[str, Any] = field(default_factory=dict)


@pytest.fixture
def registry(tmp_path: Path, penguins: pd.DataFrame) -> Path:
    """v1: a model of this release (champion); v2: an old one holding np.asarray."""
    uri = tmp_path / "registry"
    models = ModelRegistry(str(uri))
    save_model(train_model(penguins, "species"), tmp_path / "current")
    models.register(NAME, tmp_path / "current", lineage={"approval_reason": "ok"})
    old = Pipeline(
        [("to_array", FunctionTransformer(np.asarray)), ("model", LogisticRegression())]
    ).fit(np.array([[0.0], [1.0], [2.0], [3.0]]), ["a", "a", "b", "b"])
    save_model(_OldModel(old), tmp_path / "old")
    models.register(NAME, tmp_path / "old", lineage={}, approval="manual")
    return uri


def _run(
    capsys: pytest.CaptureFixture[str], *argv: str
) -> tuple[int, list[str], list[str]]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out.splitlines(), captured.err.splitlines()


def test_show_warns_that_kserve_refuses_an_old_version_and_names_the_global(
    registry: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    common = ["--registry", str(registry), "--model-name", NAME]
    code, out, err = _run(capsys, "registry", "show", *common, "--version", "2")
    assert code == 0
    assert json.loads("\n".join(out))["version"] == 2  # stdout stays the JSON
    assert err == [
        f"mlops: {NAME} v2: refused by KServe's restricted unpickler: numpy.asarray "
        f'(see README.md, "{README_SECTION}")'
    ]


def test_show_says_nothing_more_of_a_version_kserve_loads(
    registry: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    common = ["--registry", str(registry), "--model-name", NAME]
    code, out, err = _run(capsys, "registry", "show", *common)
    assert code == 0
    assert json.loads("\n".join(out))["version"] == 1
    assert err == []


def test_list_flags_the_refused_version_only(
    registry: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    common = ["--registry", str(registry), "--model-name", NAME]
    code, out, _ = _run(capsys, "registry", "list", *common)
    assert code == 0
    # version, status, aliases, registered at, sha256, KServe flag, approval reason
    assert re.match(r"\* v1 +approved +champion +\S+ +[0-9a-f]{12} {4}ok$", out[0])
    assert re.match(r"  v2 +pending +challenger +\S+ +[0-9a-f]{12}  ! $", out[1])
    assert out[2:] == [
        "! v2: refused by KServe's restricted unpickler: numpy.asarray "
        f'(see README.md, "{README_SECTION}")'
    ]


def test_a_model_file_changed_since_registration_is_not_checked_and_says_why(
    registry: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    model_file = registry / NAME / "v2" / "model.joblib"
    model_file.chmod(0o644)
    model_file.write_bytes(b"not the registered bytes")
    common = ["--registry", str(registry), "--model-name", NAME]
    code, out, _ = _run(capsys, "registry", "list", *common)
    assert code == 0
    assert out[1].split()[5] == "?"
    assert out[2].startswith("? v2: not checked against KServe's restricted unpickler:")
    assert "sha256" in out[2]


def test_the_readme_has_the_section_the_warning_points_to() -> None:
    headings = [
        line.lstrip("#").strip()
        for line in README.read_text().splitlines()
        if line.startswith("#")
    ]
    assert README_SECTION in headings
