"""``mlops run ... --notify-url``: the local runner tells a webhook how the run ended.

The steps are a stand-in pipeline (``tests/support/stand_in_pipeline.py``) that plays
back kfp.local's log lines and outputs, so each case is milliseconds; the message goes
to a webhook on 127.0.0.1. The real pipelines send it in the slow tier
(tests/pipelines/test_training_local.py).
"""

from __future__ import annotations

import logging
import socket
from pathlib import Path
from typing import Any

import pytest
from stand_in_pipeline import StandIn, finished, started
from webhook_receiver import WebhookReceiver

from mlops_suite.cli import main
from mlops_suite.errors import ERROR_MARKER
from mlops_suite.notification import NotifyUrlError

NAME = "penguins"


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def steps(monkeypatch: pytest.MonkeyPatch, pipeline: str, stand_in: StandIn) -> None:
    """Runs ``stand_in`` as the steps of ``pipeline``."""
    if pipeline == "training":
        from mlops_suite.pipelines import training as module
    else:
        from mlops_suite.pipelines import continuous_training as module
    builder = f"build_{pipeline.replace('-', '_')}_steps"
    monkeypatch.setattr(module, builder, lambda: stand_in)


def mlops_run(tmp: Path, pipeline: str, *extra: str) -> int:
    flags = ["--data", str(tmp / "data.csv"), "--label", "species"]
    flags += ["--model-name", NAME, "--registry", str(tmp / "registry")]
    flags += ["--pipeline-root", str(tmp / "root")]
    if pipeline == "continuous-training":
        flags += ["--current", str(tmp / "window.parquet")]
    return main(["run", pipeline, *flags, *extra])


def ran(outputs: dict[str, Any], root: Path) -> StandIn:
    """A run of two steps that made its run folder and an evaluation report."""
    folder = root / "mlops-training-steps-2024-05-01-12-00-00"

    def make_run_folder() -> None:
        (folder / "evaluate-model").mkdir(parents=True)
        (folder / "evaluate-model" / "report").write_text("<html></html>")

    lines = [started("ingest-data"), finished("ingest-data")]
    lines += [started("approve-model"), finished("approve-model")]
    return StandIn(lines, outputs=outputs, make=make_run_folder)


def test_an_approved_run_notifies_its_new_champion(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, webhook: WebhookReceiver
) -> None:
    outputs = {"approved": True, "reason": "Approved: roc_auc 0.99 >= 0.75."}
    steps(
        monkeypatch,
        "training",
        ran({**outputs, "version": 1, "new_version": True}, tmp_path / "root"),
    )

    assert mlops_run(tmp_path, "training", "--notify-url", webhook.url) == 0

    (message,) = webhook.messages
    run_folder = tmp_path / "root" / "mlops-training-steps-2024-05-01-12-00-00"
    (log,) = (tmp_path / "root").glob("run-*.log")
    assert message == {
        "text": (
            f"mlops-training run {run_folder.name} succeeded: penguins v1 is the new "
            "champion.\nApproved: roc_auc 0.99 >= 0.75.\n"
            f"See: {run_folder / 'evaluate-model' / 'report'}\nSee: {log}"
        ),
        "pipeline": "mlops-training",
        "run_id": run_folder.name,
        "status": "succeeded",
        "decision": "approved",
        "reason": "Approved: roc_auc 0.99 >= 0.75.",
        "model_name": NAME,
        "version": 1,
        "failed_step": None,
        "reports": [str(run_folder / "evaluate-model" / "report"), str(log)],
    }


def test_a_rejected_run_notifies_the_gate_s_reason(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, webhook: WebhookReceiver
) -> None:
    reason = "Rejected: roc_auc 0.61 < 0.75."
    outputs = {"approved": False, "reason": reason, "version": 0, "new_version": False}
    steps(monkeypatch, "training", ran(outputs, tmp_path / "root"))

    assert mlops_run(tmp_path, "training", "--notify-url", webhook.url) == 0

    (message,) = webhook.messages
    assert (message["status"], message["decision"]) == ("succeeded", "rejected")
    assert message["reason"] == reason and message["version"] is None
    assert "the candidate was rejected" in message["text"]


def test_a_run_failing_in_a_middle_step_names_it(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    webhook: WebhookReceiver,
    capsys: pytest.CaptureFixture[str],
) -> None:
    sentence = "train_model: label 'species' has 1 class; a classifier needs two."
    failing = StandIn(
        [
            started("ingest-data"),
            finished("ingest-data"),
            started("train-model"),
            f"{ERROR_MARKER}{sentence}",
            finished("train-model", ok=False),
        ],
        error=RuntimeError("Pipeline 'mlops-training-steps' finished with FAILURE."),
    )
    steps(monkeypatch, "training", failing)

    assert mlops_run(tmp_path, "training", "--notify-url", webhook.url) == 1

    assert capsys.readouterr().err.strip() == f"mlops: error: {sentence}"
    (message,) = webhook.messages
    (log,) = (tmp_path / "root").glob("run-*.log")
    assert (message["status"], message["decision"]) == ("failed", "none")
    assert message["failed_step"] == "train-model" and message["reason"] == sentence
    assert message["text"].startswith(
        f"mlops-training run {log.stem} failed at step train-model.\n{sentence}"
    )
    assert message["reports"] == [str(log)]


def test_an_unreachable_webhook_leaves_the_run_as_it_was(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    outputs = {"approved": True, "reason": "Approved.", "version": 1}
    steps(
        monkeypatch,
        "training",
        ran({**outputs, "new_version": True}, tmp_path / "root"),
    )
    url = f"http://127.0.0.1:{closed_port()}/services/secret"

    with caplog.at_level(logging.WARNING, logger="mlops_suite.notification"):
        assert mlops_run(tmp_path, "training", "--notify-url", url) == 0

    assert "Registered penguins v1" in capsys.readouterr().out
    (record,) = caplog.records
    assert (
        "not delivered" in record.getMessage() and "secret" not in record.getMessage()
    )


@pytest.mark.parametrize("pipeline", ["training", "continuous-training"])
def test_a_notify_url_that_is_not_http_is_refused_before_the_run(
    pipeline: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    never = StandIn([], error=AssertionError("the run started"))
    steps(monkeypatch, pipeline, never)

    with pytest.raises(SystemExit) as stopped:
        mlops_run(tmp_path, pipeline, "--notify-url", "ftp://hooks.example/x")

    assert stopped.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.endswith(
        "argument --notify-url: notify URL 'ftp://hooks.example/x' is not an http(s) "
        "URL with a host; give the webhook's address, e.g. "
        "https://hooks.slack.com/services/..."
    )
    assert not (tmp_path / "root").exists()


def test_the_python_api_refuses_it_before_the_run_too(tmp_path: Path) -> None:
    from mlops_suite.ops.local_pipelines import run_training

    with pytest.raises(NotifyUrlError, match=r"^notify URL 'mailto:ops@example\.com'"):
        run_training(
            data_uri="d.csv",
            label="y",
            model_name="m",
            registry_uri=str(tmp_path / "registry"),
            pipeline_root=tmp_path / "root",
            notify_url="mailto:ops@example.com",
        )
    assert not (tmp_path / "root").exists()


def test_continuous_training_notifies_that_it_did_not_retrain(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, webhook: WebhookReceiver
) -> None:
    reason = "No drift: every feature is within its threshold."
    outputs = {"retrain": False, "reason": reason, "version": 0, "new_version": False}
    steps(monkeypatch, "continuous-training", ran(outputs, tmp_path / "root"))

    assert mlops_run(tmp_path, "continuous-training", "--notify-url", webhook.url) == 0

    (message,) = webhook.messages
    assert message["pipeline"] == "mlops-continuous-training"
    assert (message["decision"], message["reason"]) == ("not-retrained", reason)


def test_without_a_notify_url_nothing_is_sent(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, webhook: WebhookReceiver
) -> None:
    outputs = {"approved": True, "reason": "Approved.", "version": 1}
    steps(
        monkeypatch,
        "training",
        ran({**outputs, "new_version": True}, tmp_path / "root"),
    )

    assert mlops_run(tmp_path, "training") == 0
    assert webhook.messages == []
