"""Tier 4: the training pipeline end to end on the embedded default (kfp.local).

Each test drives ``mlops run training`` the way a user does and checks what the user
sees: the summary line, the exit status, and the registry on disk.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from webhook_receiver import receiving

from mlops_suite.cli import main
from mlops_suite.demo import penguins_csv

pytestmark = pytest.mark.slow


def run_training(
    tmp: Path,
    data: Path | str,
    *extra: str,
    name: str = "penguins",
    label: str = "species",
) -> int:
    return main(
        [
            "run",
            "training",
            "--data",
            str(data),
            "--label",
            label,
            "--model-name",
            name,
            "--registry",
            str(tmp / "registry"),
            "--pipeline-root",
            str(tmp / "root"),
            *extra,
        ]
    )


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def demo_runs(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[Path, list[str], list[Any]]:
    """Two identical runs of the demo, each telling a webhook on 127.0.0.1 how it
    ended; returns the folder, what each printed and the messages."""
    tmp = tmp_path_factory.mktemp("demo")
    printed = []
    with receiving() as webhook:
        for _ in range(2):
            out = io.StringIO()
            with contextlib.redirect_stdout(out):
                code = run_training(
                    tmp,
                    penguins_csv(),
                    "--slice-column",
                    "island",
                    "--intended-use",
                    "Tell penguin species apart in the Palmer demo.",
                    "--notify-url",
                    f"{webhook.url}/hook",
                )
            assert code == 0
            printed.append(out.getvalue())
    return tmp, printed, webhook.messages


@pytest.fixture(scope="module")
def demo_registry(
    demo_runs: tuple[Path, list[str], list[Any]],
) -> tuple[Path, list[str]]:
    """Two identical runs of the demo; returns the folder and what each printed."""
    tmp, printed, _ = demo_runs
    return tmp, printed


def test_demo_registers_v1_with_model_and_lineage(
    demo_registry: tuple[Path, list[str]],
) -> None:
    tmp, _ = demo_registry
    model_dir = tmp / "registry" / "penguins"
    assert json.loads((model_dir / "champion.json").read_text())["version"] == 1
    version = model_dir / "v1"
    # The calibrator of the class probabilities sits beside the one model file.
    assert sorted(p.name for p in version.iterdir()) == [
        "calibration.json",
        "metadata.json",
        "model.joblib",
        "model_card.md",
    ]
    metadata = json.loads((version / "metadata.json").read_text())
    assert metadata["files"]["calibration.json"] == sha256(version / "calibration.json")
    reference = metadata["performance_reference"]
    assert reference["metrics"]["accuracy"]["mean"] > 0.9
    assert reference["approval_bounds"] == {"roc_auc": 0.75}  # the default minimum
    lineage = metadata["lineage"]
    assert lineage["model_sha256"] == sha256(version / "model.joblib")
    assert len(lineage["data_sha256"]) == 64 and len(lineage["schema_sha256"]) == 64
    assert lineage["metrics"]["roc_auc"] > 0.95
    assert lineage["approval_reason"].startswith("Approved")
    assert lineage["component_image"].startswith("ghcr.io/kfp-mlops-suite/components:")
    assert lineage["pipeline_run_id"]
    assert metadata["label"] == "species" and metadata["task"] == "classification"
    assert [f["name"] for f in metadata["features"]][:2] == ["island", "bill_length_mm"]
    importance = metadata["explanation"]["permutation_importance"]
    assert set(importance) == {f["name"] for f in metadata["features"]}
    assert lineage["evaluation"]["slice_column"] == "island"
    card = (version / "model_card.md").read_text()
    assert card.startswith("# Model card: penguins v1\n")
    assert "Tell penguin species apart in the Palmer demo." in card
    assert "By `island`:" in card


def test_second_identical_run_adds_no_version(
    demo_registry: tuple[Path, list[str]],
) -> None:
    tmp, printed = demo_registry
    assert "Registered penguins v1" in printed[0]
    assert "No new version: the model is byte-identical to champion v1." in printed[1]
    model_dir = tmp / "registry" / "penguins"
    assert sorted(p.name for p in model_dir.iterdir() if p.name.startswith("v")) == [
        "v1"
    ]


def test_each_run_tells_the_webhook_how_it_ended(
    demo_runs: tuple[Path, list[str], list[Any]],
) -> None:
    tmp, _, messages = demo_runs
    first, second = messages
    assert (first["status"], first["decision"], first["version"]) == (
        "succeeded",
        "approved",
        1,
    )
    assert first["pipeline"] == "mlops-training"
    assert first["reason"].startswith("Approved")
    assert first["text"].startswith(
        f"mlops-training run {first['run_id']} succeeded: penguins v1 is the new "
        "champion."
    )
    # The run's own folder, and reports a person can open.
    assert (tmp / "root" / first["run_id"]).is_dir()
    assert any(path.endswith("evaluate-model/report") for path in first["reports"])
    assert all(Path(path).exists() for path in first["reports"])
    assert (second["decision"], second["version"]) == ("unchanged", 1)
    assert second["run_id"] != first["run_id"]


def test_registered_model_loads_like_kserve_sklearn_runtime(
    demo_registry: tuple[Path, list[str]],
) -> None:
    """One model file, joblib.load, predict on raw feature rows; no suite code."""
    tmp, _ = demo_registry
    version = tmp / "registry" / "penguins" / "v1"
    rows = pd.read_csv(penguins_csv()).drop(columns=["species"]).head(5)
    instances = rows.astype(object).where(rows.notna(), None).to_numpy().tolist()
    script = (
        "import json, os, sys, joblib, numpy as np\n"
        "folder = sys.argv[1]\n"
        "files = [f for f in os.listdir(folder)\n"
        "         if f.endswith(('.joblib', '.pkl', '.pickle'))]\n"
        "assert len(files) == 1, files\n"
        "model = joblib.load(os.path.join(folder, files[0]))\n"
        "rows = np.array(json.loads(sys.argv[2]), dtype=object)\n"
        "print(json.dumps(model.predict(rows).tolist()))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script, str(version), json.dumps(instances)],
        capture_output=True,
        text=True,
        check=True,
        cwd=tmp,
    )
    predictions = json.loads(result.stdout)
    assert predictions == ["Adelie"] * 5


def test_mixed_table_with_float_label_trains_without_code_changes(
    tmp_path: Path, mixed_frame: pd.DataFrame, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "customers.csv"
    mixed_frame.to_csv(data, index=False)
    code = run_training(tmp_path, data, name="churn", label="churned")
    out = capsys.readouterr().out
    assert code == 0, out
    assert "Approved" in out and "Registered churn v1" in out
    metadata = json.loads((tmp_path / "registry/churn/v1/metadata.json").read_text())
    assert metadata["task"] == "classification"
    kinds = {f["name"]: f["type"] for f in metadata["features"]}
    assert kinds == {
        "income": "numeric",
        "member": "boolean",
        "region": "categorical",
        "visits": "numeric",
    }


def test_gate_rejects_a_worse_candidate_and_promotes_a_better_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = penguins_csv()
    weak = ["--estimator", "logistic_regression", "--params", '{"C": 0.0005}']
    strong = ["--estimator", "logistic_regression", "--params", '{"C": 1.0}']
    loose = ["--thresholds", '{"min_roc_auc": 0.5}']

    assert run_training(tmp_path, data, *strong, *loose) == 0
    assert run_training(tmp_path, data, *weak, *loose) == 0
    out = capsys.readouterr().out
    assert "Rejected" in out and "champion stays v1" in out
    champion = tmp_path / "registry/penguins/champion.json"
    assert json.loads(champion.read_text())["version"] == 1

    other = tmp_path / "second"
    assert run_training(other, data, *weak, *loose) == 0
    assert run_training(other, data, *strong, *loose) == 0
    out = capsys.readouterr().out
    assert "Registered penguins v2" in out
    assert (
        json.loads((other / "registry/penguins/champion.json").read_text())["version"]
        == 2
    )


def test_tuning_runs_trials_and_trains_with_the_best(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = run_training(
        tmp_path, penguins_csv(), "--tune", "--estimator", "random_forest"
    )
    out = capsys.readouterr().out
    assert code == 0, out
    assert out.count("done     run-trial") >= 2
    metadata = json.loads((tmp_path / "registry/penguins/v1/metadata.json").read_text())
    assert metadata["estimator"] == "random_forest"
    # The registered model traces back to the trial that chose its parameters.
    trials = metadata["lineage"]["tuning_trials"]
    # Every trial of the grid, whatever the progress lines showed: kfp.local's
    # parallel steps can swallow one of them.
    from mlops_suite.tuning import trial_grid

    assert len(trials) == len(trial_grid("random_forest", "classification"))
    (chosen,) = [trial for trial in trials if trial["selected"]]
    assert chosen["rank"] == 1
    assert chosen["params"] == metadata["hyperparameters"]
