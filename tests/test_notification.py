"""Run-end notifications: the message, its delivery, and what the exit step reads.

Messages go to a webhook on 127.0.0.1 (``tests/support/webhook_receiver.py``); the
exit step's reading of the registry runs on a registry in a temporary folder.
"""

from __future__ import annotations

import logging
import socket
from pathlib import Path

import pytest
from webhook_receiver import WebhookReceiver, receiving

from mlops_suite.notification import (
    APPROVED,
    FAILED,
    NO_DECISION,
    NOT_REGISTERED,
    NOT_RETRAINED,
    PENDING_APPROVAL,
    REJECTED,
    SUCCEEDED,
    UNCHANGED,
    NotifyUrlError,
    RunEnd,
    check_notify_url,
    failed_step_of,
    notify_run_end,
    run_end_from_history,
    send,
)
from mlops_suite.registry import ModelRegistry

VERTEX_FAILURE = (
    "The DAG failed because some tasks failed. The failed tasks are: [train-model].; "
    "Job (project_id = p, job_id = 42) is failed due to the above error."
)
SECRET_PATH = "/services/T000/B000/s3cr3t"


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def approved_end(**changes: object) -> RunEnd:
    fields: dict[str, object] = {
        "pipeline": "mlops-training",
        "run_id": "run-7",
        "status": SUCCEEDED,
        "decision": APPROVED,
        "reason": "Approved: roc_auc 0.99 >= 0.75.",
        "model_name": "penguins",
        "version": 2,
        "reports": ("/root/run/evaluate-model/report",),
    }
    fields.update(changes)
    return RunEnd(**fields)  # type: ignore[arg-type]


# ------------------------------------------------------------------ the URL


@pytest.mark.parametrize(
    "url", ["https://hooks.slack.com/services/T/B/x", " http://127.0.0.1:9/hook "]
)
def test_http_and_https_urls_are_taken(url: str) -> None:
    assert check_notify_url(url) == url.strip()


def test_no_url_means_no_notification() -> None:
    assert check_notify_url("") == "" and check_notify_url("  ") == ""


@pytest.mark.parametrize(
    "url",
    [
        "ftp://hooks.example/x",
        "hooks.slack.com/services/x",
        "file:///etc/hook",
        "http://",
    ],
)
def test_a_url_that_is_not_http_is_refused_in_one_sentence(url: str) -> None:
    with pytest.raises(NotifyUrlError) as refused:
        check_notify_url(url)
    message = str(refused.value)
    assert message.startswith(f"notify URL {url!r} is not an http(s) URL with a host")
    assert "\n" not in message and "hooks.slack.com/services" in message


# -------------------------------------------------------------- the message


def test_a_succeeded_run_says_what_it_decided_and_where_to_look() -> None:
    message = approved_end().message()

    assert message == {
        "text": (
            "mlops-training run run-7 succeeded: penguins v2 is the new champion.\n"
            "Approved: roc_auc 0.99 >= 0.75.\n"
            "See: /root/run/evaluate-model/report"
        ),
        "pipeline": "mlops-training",
        "run_id": "run-7",
        "status": "succeeded",
        "decision": "approved",
        "reason": "Approved: roc_auc 0.99 >= 0.75.",
        "model_name": "penguins",
        "version": 2,
        "failed_step": None,
        "reports": ["/root/run/evaluate-model/report"],
    }


def test_a_failed_run_names_the_step_that_failed() -> None:
    end = approved_end(
        status=FAILED,
        decision=NO_DECISION,
        reason="train_model: estimator 'forest' is unknown.",
        version=None,
        failed_step="train-model",
        reports=(),
    )

    assert end.text() == (
        "mlops-training run run-7 failed at step train-model.\n"
        "train_model: estimator 'forest' is unknown."
    )
    assert end.message()["failed_step"] == "train-model"


@pytest.mark.parametrize(
    ("decision", "version", "says"),
    [
        (PENDING_APPROVAL, 3, "penguins v3 waits for a person's approval"),
        (REJECTED, None, "the candidate was rejected; no new version of penguins."),
        (NOT_REGISTERED, None, "no new version of penguins was registered."),
    ],
)
def test_each_decision_reads_as_a_sentence(
    decision: str, version: int | None, says: str
) -> None:
    text = approved_end(decision=decision, version=version).text()
    assert says in text.splitlines()[0]


# ---------------------------------------------------------------- sending


def test_the_message_is_posted_as_json(webhook: WebhookReceiver) -> None:
    assert send(webhook.url + "/hook", approved_end().message()) is True

    (request,) = webhook.calls("POST", "^/hook$")
    assert request.headers["content-type"] == "application/json"
    assert request.json["text"].startswith("mlops-training run run-7 succeeded")
    assert request.json["decision"] == "approved" and request.json["version"] == 2


def test_an_unreachable_webhook_is_logged_in_one_line_and_not_raised(
    caplog: pytest.LogCaptureFixture,
) -> None:
    url = f"http://127.0.0.1:{closed_port()}{SECRET_PATH}"
    with caplog.at_level(logging.WARNING, logger="mlops_suite.notification"):
        assert send(url, approved_end().message(), timeout=2) is False

    (record,) = caplog.records
    line = record.getMessage()
    assert "\n" not in line and "cannot be reached" in line
    assert f"http://127.0.0.1:{url.split(':')[2].split('/')[0]}" in line
    assert "s3cr3t" not in line  # a webhook's path is its secret


def test_a_webhook_that_refuses_is_logged_with_its_status(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with (
        receiving(status=500) as refusing,
        caplog.at_level(logging.WARNING, logger="mlops_suite.notification"),
    ):
        assert send(refusing.url + SECRET_PATH, approved_end().message()) is False
        assert len(refusing.messages) == 1
    (record,) = caplog.records
    assert "HTTP 500" in record.getMessage()


def test_no_url_sends_nothing(webhook: WebhookReceiver) -> None:
    assert send("", approved_end().message()) is False
    assert webhook.messages == []


# ------------------------------------------------- what the exit step reads


def test_vertex_final_status_names_the_failed_step() -> None:
    assert failed_step_of(VERTEX_FAILURE) == "train-model"
    # Kubeflow Pipelines and kfp.local name only the exit handler's group.
    assert failed_step_of("Task exit-handler-1 failed.") is None
    assert failed_step_of("") is None


def registry_with_runs(tmp_path: Path) -> ModelRegistry:
    registry = ModelRegistry(tmp_path / "registry")
    log = registry.events
    log.append(
        "penguins", "registered", version=1, actor="run-1", reason="Approved: first.",
        status="approved",
    )  # fmt: skip
    log.append("penguins", "promoted", version=1, actor="run-1", reason="Approved.")
    log.append(
        "penguins", "registered", version=2, actor="run-2", reason="Approved: 0.99.",
        status="pending",
    )  # fmt: skip
    return registry


def end_of(run_id: str, registry: ModelRegistry, state: str = "SUCCEEDED") -> RunEnd:
    return run_end_from_history(
        pipeline="mlops-training",
        run_id=run_id,
        state=state,
        error_message=VERTEX_FAILURE if state == "FAILED" else "",
        model_name="penguins",
        events=registry.events.read("penguins"),
        job="projects/p/locations/l/pipelineJobs/j",
        decisions=registry.runs.read("penguins", run_id),
    )


GATE_REFUSAL = "Rejected: roc_auc 0.71 is below the minimum 0.80."


def test_the_exit_step_reads_the_decision_of_its_own_run(tmp_path: Path) -> None:
    registry = registry_with_runs(tmp_path)

    first, second = end_of("run-1", registry), end_of("run-2", registry)

    assert (first.decision, first.version, first.reason) == (
        APPROVED,
        1,
        "Approved: first.",
    )
    assert (second.decision, second.version) == (PENDING_APPROVAL, 2)
    assert second.reports == ("projects/p/locations/l/pipelineJobs/j",)


def test_a_run_that_rolled_back_says_which_version_serves_and_why(
    tmp_path: Path,
) -> None:
    registry = registry_with_runs(tmp_path)
    registry.events.append(
        "penguins", "rolled-back", version=1, actor="run-3",
        reason="Rolled back: v1 roc_auc 0.93 > v2 0.71 on 120 labelled rows.",
    )  # fmt: skip

    end = end_of("run-3", registry)

    assert (end.decision, end.version) == ("rolled-back", 1)
    assert "v1 roc_auc 0.93 > v2 0.71" in end.text()


def test_a_rejected_run_says_so_with_the_gates_reason(tmp_path: Path) -> None:
    registry = registry_with_runs(tmp_path)
    registry.runs.write(
        "penguins", "run-3", "approval", decision="rejected", reason=GATE_REFUSAL,
        champion_version=1,
    )  # fmt: skip

    end = end_of("run-3", registry)

    assert (end.status, end.decision, end.reason) == (SUCCEEDED, REJECTED, GATE_REFUSAL)
    assert end.version is None
    assert "the candidate was rejected" in end.text() and GATE_REFUSAL in end.text()


def test_an_unchanged_or_not_retrained_run_says_so(tmp_path: Path) -> None:
    registry = registry_with_runs(tmp_path)
    registry.runs.write(
        "penguins", "run-3", "retraining", decision="retrain",
        reason="Retrain: accuracy fell.", champion_version=1,
    )  # fmt: skip
    registry.runs.write(
        "penguins", "run-3", "approval", decision="unchanged",
        reason="Approved: roc_auc 0.99.", champion_version=1,
    )  # fmt: skip
    registry.runs.write(
        "penguins", "run-4", "retraining", decision="not-retrained",
        reason="No retraining: no drift.", champion_version=1,
    )  # fmt: skip

    unchanged, kept = end_of("run-3", registry), end_of("run-4", registry)

    assert (unchanged.decision, unchanged.version) == (UNCHANGED, 1)
    assert unchanged.reason == "Approved: roc_auc 0.99."
    assert (kept.decision, kept.version) == (NOT_RETRAINED, None)
    assert kept.reason == "No retraining: no drift."


def test_a_registration_event_outranks_the_gates_record(tmp_path: Path) -> None:
    registry = registry_with_runs(tmp_path)
    registry.runs.write(
        "penguins", "run-2", "approval", decision="approved", reason="Approved: 0.99.",
        champion_version=1,
    )  # fmt: skip

    assert end_of("run-2", registry).decision == PENDING_APPROVAL


def test_a_run_that_registered_nothing_says_so(tmp_path: Path) -> None:
    end = end_of("run-3", registry_with_runs(tmp_path))

    assert end.status == SUCCEEDED and end.decision == NOT_REGISTERED
    assert end.version is None and "registered no version" in end.reason


def test_a_failed_or_cancelled_run_decided_nothing(tmp_path: Path) -> None:
    registry = registry_with_runs(tmp_path)

    failed = end_of("run-2", registry, state="FAILED")
    cancelled = end_of("run-4", registry, state="CANCELLED")

    assert (failed.status, failed.decision, failed.failed_step) == (
        FAILED,
        NO_DECISION,
        "train-model",
    )
    assert failed.version is None and failed.reason == VERTEX_FAILURE
    assert cancelled.status == FAILED and cancelled.reason == "The run was cancelled."


def test_the_exit_step_sends_what_the_registry_says(
    tmp_path: Path, webhook: WebhookReceiver
) -> None:
    registry = registry_with_runs(tmp_path)

    sent = notify_run_end(
        webhook.url,
        pipeline="mlops-training",
        run_id="run-1",
        final_status={"state": "SUCCEEDED", "pipeline_job_resource_name": "job-1"},
        registry_uri=str(tmp_path / "registry"),
        model_name="penguins",
    )

    assert sent is True
    (message,) = webhook.messages
    assert message["decision"] == "approved" and message["version"] == 1
    card = f"{registry.version_uri('penguins', 1)}/model_card.md"
    assert message["reports"] == [card, "job-1"]


def test_the_exit_step_sends_the_gates_refusal(
    tmp_path: Path, webhook: WebhookReceiver
) -> None:
    registry = registry_with_runs(tmp_path)
    registry.runs.write(
        "penguins", "run-3", "approval", decision="rejected", reason=GATE_REFUSAL,
        champion_version=1,
    )  # fmt: skip

    notify_run_end(
        webhook.url,
        pipeline="mlops-training",
        run_id="run-3",
        final_status={"state": "SUCCEEDED", "pipeline_job_resource_name": "job-3"},
        registry_uri=str(tmp_path / "registry"),
        model_name="penguins",
    )

    (message,) = webhook.messages
    assert (message["decision"], message["reason"]) == ("rejected", GATE_REFUSAL)
    assert message["version"] is None and message["reports"] == ["job-3"]


def test_an_unreadable_record_leaves_not_registered(
    tmp_path: Path, webhook: WebhookReceiver, caplog: pytest.LogCaptureFixture
) -> None:
    registry_with_runs(tmp_path)
    folder = tmp_path / "registry" / "penguins" / "runs" / "run-3"
    folder.mkdir(parents=True)
    (folder / "approval.json").write_text("{not json")

    with caplog.at_level(logging.WARNING, logger="mlops_suite.notification"):
        notify_run_end(
            webhook.url,
            pipeline="mlops-training",
            run_id="run-3",
            final_status={"state": "SUCCEEDED"},
            registry_uri=str(tmp_path / "registry"),
            model_name="penguins",
        )

    (message,) = webhook.messages
    assert message["decision"] == NOT_REGISTERED
    (record,) = caplog.records
    assert "could not read the run's decisions" in record.getMessage()


def test_the_exit_step_notifies_even_when_the_registry_cannot_be_read(
    tmp_path: Path, webhook: WebhookReceiver, caplog: pytest.LogCaptureFixture
) -> None:
    not_a_registry = tmp_path / "file"
    not_a_registry.write_text("not a folder")

    with caplog.at_level(logging.WARNING, logger="mlops_suite.notification"):
        sent = notify_run_end(
            webhook.url,
            pipeline="mlops-training",
            run_id="run-1",
            final_status={"state": "FAILED", "error_message": VERTEX_FAILURE},
            registry_uri=str(not_a_registry),
            model_name="penguins",
        )

    assert sent is True
    (message,) = webhook.messages
    assert message["status"] == "failed" and message["failed_step"] == "train-model"
    (record,) = caplog.records
    assert "could not read the registry's history" in record.getMessage()


@pytest.mark.parametrize("url", ["", "ftp://hooks.example/x"])
def test_the_exit_step_sends_nothing_without_an_http_url(
    url: str, tmp_path: Path, webhook: WebhookReceiver, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="mlops_suite.notification"):
        sent = notify_run_end(
            url,
            pipeline="mlops-training",
            run_id="run-1",
            final_status={"state": "SUCCEEDED"},
            registry_uri=str(tmp_path / "registry"),
            model_name="penguins",
        )

    assert sent is False and webhook.messages == []
    assert len(caplog.records) == (1 if url else 0)
