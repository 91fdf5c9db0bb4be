"""``mlops submit|schedule --notify-url``: the runs' exit step gets it as notify_url.

Against the fake KFP API on 127.0.0.1; a URL that is not http(s) is refused before
anything is sent, whichever way it is given.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from kfp_fake import FakeKfp

from mlops_suite.cli import main
from mlops_suite.notification import NotifyUrlError
from mlops_suite.ops.compile import compile_all
from mlops_suite.ops.kfp_backend import submit_kfp

HOOK = "https://hooks.slack.com/services/T000/B000/xyz"
REQUIRED = ["data_uri=/d.csv", "label=y", "model_name=m", "registry_uri=/r"]


@pytest.fixture(scope="module")
def training_yaml(tmp_path_factory: pytest.TempPathFactory) -> Path:
    compiled = compile_all(tmp_path_factory.mktemp("compiled"))
    return next(path for path in compiled if path.name == "training.yaml")


def submit(spec: Path, host: str, *extra: str) -> int:
    params = [flag for item in REQUIRED for flag in ("--param", item)]
    return main(
        ["submit", str(spec), "--target", "kfp", "--host", host, *params, *extra]
    )


def test_the_webhook_reaches_the_run_as_its_notify_url(
    training_yaml: Path, fake_kfp: FakeKfp
) -> None:
    assert submit(training_yaml, fake_kfp.url, "--notify-url", HOOK) == 0

    (created,) = fake_kfp.calls("POST", "^/apis/v2beta1/runs$")
    assert created.json["runtime_config"]["parameters"]["notify_url"] == HOOK


def test_a_flag_that_is_not_http_is_refused_by_the_parser(
    training_yaml: Path, fake_kfp: FakeKfp, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as stopped:
        submit(training_yaml, fake_kfp.url, "--notify-url", "hooks.slack.com/x")

    assert stopped.value.code == 2
    assert (
        "argument --notify-url: notify URL 'hooks.slack.com/x' is not an http(s)"
        in (capsys.readouterr().err)
    )
    assert fake_kfp.requests == []


def test_a_parameter_that_is_not_http_is_refused_in_one_sentence(
    training_yaml: Path, fake_kfp: FakeKfp, capsys: pytest.CaptureFixture[str]
) -> None:
    code = submit(training_yaml, fake_kfp.url, "--param", "notify_url=ftp://hooks/x")

    assert code == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("mlops: error: notify URL 'ftp://hooks/x' is not an http(s)")
    assert len(err.splitlines()) == 1 and fake_kfp.requests == []


def test_the_flag_and_the_parameter_together_are_one_too_many(
    training_yaml: Path, fake_kfp: FakeKfp, capsys: pytest.CaptureFixture[str]
) -> None:
    code = submit(
        training_yaml,
        fake_kfp.url,
        "--param",
        f"notify_url={HOOK}",
        "--notify-url",
        HOOK,
    )

    assert code == 1
    assert "Parameter notify_url is given more than once." in capsys.readouterr().err


def test_a_pipeline_without_notifications_says_so(
    tiny_yaml: Path, fake_kfp: FakeKfp, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(
        ["submit", str(tiny_yaml), "--target", "kfp", "--host", fake_kfp.url]
        + ["--param", "message=hi", "--notify-url", HOOK]
    )

    assert code == 1
    assert "has no parameter named notify_url" in capsys.readouterr().err


def test_the_python_api_refuses_it_before_contacting_the_server(
    training_yaml: Path, fake_kfp: FakeKfp
) -> None:
    params = dict(item.split("=", 1) for item in REQUIRED)
    with pytest.raises(NotifyUrlError):
        submit_kfp(
            training_yaml,
            host=fake_kfp.url,
            params={**params, "notify_url": "file:///tmp/hook"},
        )
    assert fake_kfp.requests == []


def test_a_schedule_refuses_it_too(
    fake_kfp: FakeKfp, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as stopped:
        main(
            ["schedule", "--target", "kfp", "--host", fake_kfp.url, "--cron"]
            + ["0 3 * * *", "--name", "nightly", "--notify-url", "smtp://ops"]
        )

    assert stopped.value.code == 2
    assert "argument --notify-url: notify URL 'smtp://ops'" in capsys.readouterr().err
    assert fake_kfp.requests == []
