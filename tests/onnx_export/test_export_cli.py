"""``mlops export onnx`` end to end on a temporary registry."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.kernel_ridge import KernelRidge

from mlops_suite.cli import main
from mlops_suite.training.train import to_v1_instances

Register = Any

# What a device without scikit-learn runs (the README's example): onnxruntime and
# numpy only; importing scikit-learn would fail.
_DEVICE = """
import json, sys
sys.modules["sklearn"] = None
import numpy as np
import onnxruntime as ort

path, rows = sys.argv[1], json.loads(sys.argv[2])
session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
feed = {}
for i in session.get_inputs():
    values = [row[i.name] for row in rows]
    if i.type == "tensor(double)":
        feed[i.name] = np.array(values, dtype=np.float64).reshape(-1, 1)
    else:
        feed[i.name] = np.array(values, dtype=object).reshape(-1, 1)
labels, probabilities = session.run(None, feed)
print(json.dumps({"labels": labels.tolist(), "p": probabilities.tolist()}))
"""


def _export(registered: Any, data: Path, *extra: str) -> int:
    return main(
        [
            "export",
            "onnx",
            "--registry",
            registered.registry_uri,
            "--model-name",
            registered.name,
            "--data",
            str(data),
            *extra,
        ]
    )


def test_export_then_predict_on_a_device_without_scikit_learn(
    register: Register, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    registered = register()
    data = tmp_path / "test.csv"
    registered.test.to_csv(data, index=False)

    assert _export(registered, data) == 0
    out = capsys.readouterr().out
    metadata = registered.registry.metadata(registered.name, registered.version)
    record = metadata["onnx"]
    onnx_file = registered.version_dir / record["path"]
    assert f"exported mixed v1 to {onnx_file}" in out
    assert record["sha256"] in out and "labels identical" in out
    assert "parity on 60 test rows" in out

    rows = [
        {"income": 61.5, "visits": 2.0, "region": "north", "member": "True"},
        {"income": float("nan"), "visits": 4.0, "region": "", "member": ""},
    ]
    done = subprocess.run(
        [sys.executable, "-c", _DEVICE, str(onnx_file), json.dumps(rows)],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    answered = json.loads(done.stdout)
    # The same rows as a table, answered by the Pipeline itself.
    table = pd.DataFrame(
        {
            "income": [61.5, None],
            "visits": [2.0, 4.0],
            "region": ["north", None],
            "member": [True, None],
        }
    )
    features = metadata["features"]
    X = pd.DataFrame(
        to_v1_instances(table, features),
        columns=[f["name"] for f in features],
        dtype=object,
    )
    pipeline = registered.model.pipeline
    assert answered["labels"] == pipeline.predict(X).tolist()
    assert np.abs(np.array(answered["p"]) - pipeline.predict_proba(X)).max() < 1e-4
    assert set(answered["labels"]) <= set(metadata["classes"])

    # A second export of the same version changes nothing and says so.
    assert _export(registered, data, "--version", "1") == 0
    assert "already has its ONNX export" in capsys.readouterr().out


def test_a_refused_export_is_one_sentence_and_exit_1(
    register: Register, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    def kernel_ridge(pipeline: Any) -> Any:
        pipeline.steps[-1] = ("model", KernelRidge())
        return pipeline

    registered = register("regression", edit=kernel_ridge)
    data = tmp_path / "test.parquet"
    registered.test.to_parquet(data)
    assert _export(registered, data) == 1
    err = capsys.readouterr().err.strip()
    assert err.splitlines() == [
        "mlops: error: mixed v1 cannot be exported to ONNX: step model (KernelRidge) "
        "has no converter in skl2onnx 1.20.0."
    ]
    assert not (registered.version_dir / "onnx").exists()


def test_data_without_a_feature_column_is_one_sentence(
    register: Register, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    registered = register()
    data = tmp_path / "test.csv"
    registered.test.drop(columns=["region"]).to_csv(data, index=False)
    assert _export(registered, data) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "region" in err
    assert not (registered.version_dir / "onnx").exists()


def test_without_the_onnx_extra_the_command_says_what_to_install(
    tmp_path: Path,
) -> None:
    script = (
        "import sys; sys.modules['skl2onnx'] = None\n"
        "from mlops_suite.cli import main\n"
        "sys.exit(main(sys.argv[1:]))\n"
    )
    data = tmp_path / "test.csv"
    data.write_text("a,b\n1,2\n")
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            script,
            "export",
            "onnx",
            "--registry",
            str(tmp_path),
            "--model-name",
            "m",
            "--data",
            str(data),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        "mlops: error: ONNX export needs skl2onnx and onnxruntime, which are not "
        "installed (skl2onnx is missing); install them with pip install "
        "'kfp-mlops-suite[onnx]'."
    ]
