"""The ``mlops`` command line as a user meets it: exit codes and one-sentence errors."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from mlops_suite.cli import main


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def one_error_line(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert err.startswith("mlops: error: ") and "Traceback" not in err
    return err


@pytest.fixture(scope="module")
def training_yaml(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("compiled")
    assert main(["compile", "--output-dir", str(out)]) == 0
    return out / "training.yaml"


def test_compile_writes_every_pipeline(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["compile", "--output-dir", str(tmp_path), "--image", "x/y:1"]) == 0
    assert sorted(p.name for p in tmp_path.glob("*.yaml")) == [
        "batch-scoring-kfp.yaml",
        "batch-scoring.yaml",
        "continuous-training-kfp.yaml",
        "continuous-training.yaml",
        "training-kfp.yaml",
        "training.yaml",
    ]
    assert "x/y:1" in (tmp_path / "training.yaml").read_text()


def test_submit_a_missing_file_is_one_sentence(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "nope.yaml"
    code = main(["submit", str(missing), "--target", "kfp", "--host", "http://x"])
    assert code == 1
    assert "nope.yaml" in one_error_line(capsys)


def test_submit_an_unknown_parameter_names_it(
    training_yaml: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(
        [
            "submit",
            str(training_yaml),
            "--target",
            "kfp",
            "--host",
            "http://127.0.0.1:1",
            "--param",
            "colour=blue",
        ]
    )
    assert code == 1
    assert "colour" in one_error_line(capsys)


def test_submit_to_an_unreachable_host_names_it(
    training_yaml: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    host = f"http://127.0.0.1:{closed_port()}"
    code = main(
        [
            "submit",
            str(training_yaml),
            "--target",
            "kfp",
            "--host",
            host,
            "--param",
            "data_uri=/data.csv",
            "--param",
            "label=y",
            "--param",
            "model_name=m",
            "--param",
            "registry_uri=/r",
        ]
    )
    assert code == 1
    assert "127.0.0.1" in one_error_line(capsys)


def test_vertex_submit_without_project_says_what_is_missing(
    training_yaml: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["submit", str(training_yaml), "--target", "vertex", "--region", "x"])
    assert code == 1
    err = one_error_line(capsys)
    assert "--project" in err and "--pipeline-root" in err


def test_serve_an_unknown_model_is_one_sentence(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["serve", "--registry", str(tmp_path), "--model-name", "ghost"])
    assert code == 1
    assert "ghost" in one_error_line(capsys)


def test_registry_show_without_champion_is_one_sentence(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["registry", "show", "--registry", str(tmp_path), "--model-name", "m"])
    assert code == 1
    one_error_line(capsys)


def test_serve_on_a_taken_port_is_one_sentence(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], penguins: object
) -> None:
    from mlops_suite.model_folder import save_model
    from mlops_suite.registry import ModelRegistry
    from mlops_suite.training.train import train_model

    trained = train_model(penguins, "species")  # type: ignore[arg-type]
    save_model(trained, tmp_path / "model")
    ModelRegistry(str(tmp_path / "reg")).register(
        "penguins", str(tmp_path / "model"), lineage={}
    )
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code = main(
            [
                "serve",
                "--registry",
                str(tmp_path / "reg"),
                "--model-name",
                "penguins",
                "--port",
                str(port),
            ]
        )
    assert code == 1
    assert str(port) in one_error_line(capsys)


def test_registry_list_and_promote_roll_the_champion_back(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], penguins: object
) -> None:
    from mlops_suite.model_folder import save_model
    from mlops_suite.registry import ModelRegistry
    from mlops_suite.training.train import train_model

    registry = ModelRegistry(str(tmp_path / "reg"))
    for seed in (0, 1):
        trained = train_model(  # type: ignore[arg-type]
            penguins, "species", estimator="random_forest", seed=seed
        )
        save_model(trained, tmp_path / f"model-{seed}")
        registry.register("penguins", str(tmp_path / f"model-{seed}"), lineage={})
    common = ["--registry", str(tmp_path / "reg"), "--model-name", "penguins"]
    assert main(["registry", "promote", *common, "--version", "1"]) == 0
    assert main(["registry", "list", *common]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[-2].startswith("* v1") and lines[-1].startswith("  v2")
    assert main(["registry", "promote", *common, "--version", "9"]) == 1
    assert "9" in one_error_line(capsys)


LONG_NAME = "penguins-" + "x" * 51  # 60 characters: registers nowhere, deploys nowhere


def test_run_refuses_a_model_name_too_long_to_deploy_before_any_step(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(
        [
            "run",
            "training",
            "--data",
            str(tmp_path / "never-read.csv"),
            "--label",
            "species",
            "--model-name",
            LONG_NAME,
            "--registry",
            str(tmp_path / "registry"),
            "--pipeline-root",
            str(tmp_path / "root"),
        ]
    )
    assert code == 1
    assert "60 characters long, over the limit of 53" in one_error_line(capsys)
    assert not (tmp_path / "root").exists() and not (tmp_path / "registry").exists()


def test_submit_refuses_a_model_name_too_long_to_deploy(
    training_yaml: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    host = f"http://127.0.0.1:{closed_port()}"
    code = main(
        [
            "submit",
            str(training_yaml),
            "--target",
            "kfp",
            "--host",
            host,
            "--param",
            f"model_name={LONG_NAME}",
        ]
    )
    assert code == 1
    err = one_error_line(capsys)
    assert LONG_NAME in err and "over the limit of 53" in err
