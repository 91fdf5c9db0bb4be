"""Comparing registered versions: the table, compare.html, and the CLI around them."""

from __future__ import annotations

import base64
import re
from pathlib import Path

import pandas as pd
import pytest

from mlops_suite.cli import main
from mlops_suite.comparison import (
    COMPARE_HTML,
    compare_table,
    compare_versions,
    key_hyperparameters,
    render_compare_html,
    summarize,
)
from mlops_suite.model_folder import save_model
from mlops_suite.registry import ModelRegistry, governance
from mlops_suite.training.train import train_model

NAME = "penguins"


@pytest.fixture
def registry(tmp_path: Path) -> str:
    """Three versions, C = 1.0, 0.1 and 3.0; v2, held for a person and approved by
    alice, is champion; v3 waits for a person as the challenger."""
    rows = pd.DataFrame({"x": [0.0, 1.0, 2.0, 3.0, 4.0, 5.0], "y": list("aaabbb")})
    uri = str(tmp_path / "registry")
    registry = ModelRegistry(uri)
    for c, metrics, data, approval in (
        (1.0, {"roc_auc": 0.91, "accuracy": 0.85}, "10", "auto"),
        (0.1, {"roc_auc": 0.97, "accuracy": 0.9}, "01", "manual"),
        (3.0, {"roc_auc": 0.95, "accuracy": 0.88}, "10", "manual"),
    ):
        folder = save_model(
            train_model(rows, "y", estimator="logistic_regression", params={"C": c}),
            tmp_path / f"model-{c}",
        )
        lineage = {
            "metrics": metrics,
            "approval_reason": "Approved: fine.",
            "data_sha256": data * 32,
        }
        registry.register(NAME, folder, lineage=lineage, approval=approval)
    governance.approve(registry, NAME, 2, by="alice", reason="Best ROC AUC.")
    return uri


def test_the_table_shows_what_changed_between_versions(registry: str) -> None:
    table, _ = compare_versions(registry, NAME, output_dir=Path(registry).parent)
    head, *rows = table.splitlines()

    assert head.split() == [
        "version",
        "status",
        "aliases",
        "estimator",
        "hyperparameters",
        "accuracy",
        "roc_auc",
        "data",
        "approved",
        "by",
        "when",
    ]
    assert [row.split()[0] for row in rows] == ["v1", "v2", "v3"]
    assert [row.split()[1:3] for row in rows] == [
        ["approved", "-"],
        ["approved", "champion"],
        ["pending", "challenger"],
    ]
    assert "C=1.0" in rows[0] and "C=0.1" in rows[1] and "C=3.0" in rows[2]
    assert "max_iter" not in table  # the same in every version
    assert "0.9700" in rows[1] and "0.9000" in rows[1]
    assert "alice" in rows[1] and "approval gate" in rows[0]
    assert "alice" not in rows[2] and "approval gate" not in rows[2]
    assert "101010101010" in rows[0] and "010101010101" in rows[1]


def test_compare_html_plots_every_metric_by_version(
    registry: str, tmp_path: Path
) -> None:
    _, page = compare_versions(registry, NAME, versions=[3, 1], output_dir=tmp_path)

    assert page == tmp_path / COMPARE_HTML
    text = page.read_text()
    images = re.findall(r'src="data:image/png;base64,([^"]+)" alt="([^"]+)"', text)
    assert [alt for _, alt in images] == ["metrics by version"]
    assert base64.b64decode(images[0][0]).startswith(b"\x89PNG")
    assert text.index("<td>v3</td>") < text.index("<td>v1</td>")
    assert "<td>v2</td>" not in text  # only the versions asked for
    assert "http" not in text  # opens offline


def test_only_differing_hyperparameters_are_key() -> None:
    one = summarize(1, {"hyperparameters": {"C": 1.0, "max_iter": 1000}})
    two = summarize(2, {"hyperparameters": {"C": 0.1, "max_iter": 1000}})

    assert key_hyperparameters([one, two]) == ["C"]
    assert key_hyperparameters([one]) == ["C", "max_iter"]


def test_status_and_aliases_come_from_the_registry(registry: str) -> None:
    governance.set_alias(
        ModelRegistry(registry), NAME, "staging", 1, by="bob", reason="Try it."
    )
    governance.reject(ModelRegistry(registry), NAME, 3, by="carol", reason="Overfits.")
    table, page = compare_versions(registry, NAME, output_dir=Path(registry).parent)

    head, first, second, third = table.splitlines()
    assert head.split()[:3] == ["version", "status", "aliases"]
    assert first.split()[1:3] == ["approved", "staging"]
    assert second.split()[1:3] == ["approved", "champion"]
    assert third.split()[1:3] == ["rejected", "-"]  # no longer the challenger
    text = page.read_text()
    assert '<tr class="champion"><td>v2</td>' in text


def test_without_a_registry_status_and_aliases_are_left_out() -> None:
    plain = [summarize(1, {"lineage": {}}), summarize(2, {"lineage": {}})]
    assert compare_table(plain).splitlines()[0].split()[:2] == ["version", "estimator"]
    page = render_compare_html(plain, model_name="<m>")
    assert "&lt;m&gt;: 2 versions compared" in page


def test_the_cli_prints_the_table_and_writes_the_page(
    registry: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    code = main(
        [
            "registry",
            "compare",
            "--registry",
            registry,
            "--model-name",
            NAME,
            "--versions",
            "1,2",
            "--output",
            str(out),
        ]
    )

    printed = capsys.readouterr().out.splitlines()
    assert code == 0
    assert [line.split()[0] for line in printed[1:3]] == ["v1", "v2"]
    assert printed[-1] == f"mlops: comparison written to {out / COMPARE_HTML}"
    assert (out / COMPARE_HTML).is_file()


@pytest.mark.parametrize("versions", ["1,x", "0", ""])
def test_versions_that_are_not_numbers_are_refused_by_the_parser(
    registry: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], versions: str
) -> None:
    with pytest.raises(SystemExit) as stopped:
        main(
            [
                "registry",
                "compare",
                "--registry",
                registry,
                "--model-name",
                NAME,
                "--versions",
                versions,
                "--output",
                str(tmp_path / "out"),
            ]
        )

    assert stopped.value.code == 2
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert "expected version numbers separated by commas, like 1,3,5" in last
    assert not (tmp_path / "out").exists()


def test_a_version_that_does_not_exist_is_one_sentence_and_writes_nothing(
    registry: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(
        [
            "registry",
            "compare",
            "--registry",
            registry,
            "--model-name",
            NAME,
            "--versions",
            "1,7",
            "--output",
            str(tmp_path / "out"),
        ]
    )

    assert code == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "has no version 7" in err and "versions 1, 2, 3" in err
    assert not (tmp_path / "out").exists()


def test_a_model_without_versions_is_one_sentence(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(
        ["registry", "compare", "--registry", str(tmp_path), "--model-name", "ghost"]
    )

    assert code == 1
    assert "has no version" in capsys.readouterr().err
