"""The monitoring loop end to end: served traffic, the sink, then `mlops monitor`.

A registered champion (with its training profile); KServe-style logger CloudEvents of
its V1 requests and answers posted to the sink; ``mlops monitor`` reading the sink's
batches against the champion: unchanged traffic flags nothing, shifted traffic flags
the shifted feature, and labels that contradict the answers show as decay. With the
champion served by KServe's runtime with ``PREDICT_PROBA=true``, its answers are
class probabilities, logged per class, and decay reports ROC AUC and log loss.
"""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path

import pandas as pd
import pytest
from sklearn.metrics import log_loss, roc_auc_score

from mlops_suite.cli import DRIFT_EXIT, main
from mlops_suite.data.statistics import compute_statistics
from mlops_suite.evaluation.metrics import evaluate
from mlops_suite.model_folder import load_model, save_model
from mlops_suite.monitoring.payloads.cloudevents import REQUEST_TYPE, RESPONSE_TYPE
from mlops_suite.monitoring.sink.output import read_logged
from mlops_suite.monitoring.sink.server import running_sink
from mlops_suite.registry import ModelRegistry
from mlops_suite.serving.probabilities import PREDICT_PROBA_ENV
from mlops_suite.serving.sample_requests import post_json, v2_body
from mlops_suite.serving.server_process import start_server_in_subprocess
from mlops_suite.training.train import to_v1_instances, train_model

DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def post_event(url: str, kind: str, event_id: str, payload: object) -> None:
    headers = {
        "Ce-Id": event_id,
        "Ce-Type": REQUEST_TYPE if kind == "request" else RESPONSE_TYPE,
        "Ce-Source": "http://penguins-predictor.kubeflow/",
        "Ce-Specversion": "1.0",
        "Ce-Inferenceservicename": "penguins",
        "Ce-Namespace": "kubeflow",
        "Ce-Component": "predictor",
        "Ce-Endpoint": "default",
        "Content-Type": "application/json",
    }
    body = json.dumps(payload).encode()
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    with DIRECT.open(request, timeout=10) as response:
        assert response.status == 200


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory, penguins: pd.DataFrame) -> Path:
    root = tmp_path_factory.mktemp("registry")
    model_dir = tmp_path_factory.mktemp("model")
    save_model(train_model(penguins, "species"), model_dir)
    loaded = load_model(model_dir)
    # What approval recorded: the evaluation of every row the tests send.
    metrics = evaluate(loaded.pipeline, loaded.metadata, penguins).metrics
    ModelRegistry(str(root)).register(
        "penguins",
        str(model_dir),
        lineage={"metrics": metrics},
        statistics=compute_statistics(penguins),
    )
    assert loaded.metadata["label"] == "species"
    return root


def serve_and_log(registry: Path, traffic: pd.DataFrame, out: Path) -> pd.DataFrame:
    """Answers ``traffic`` with the champion, logging every exchange through the sink.

    Returns:
        The ground truth by request id and row, as labels arrive later in practice.
    """
    version = registry / "penguins" / "v1"
    model = load_model(version)
    features = model.metadata["features"]
    truth = []
    with running_sink(out, metadata_path=version, flush_rows=50) as sink:
        for start in range(0, len(traffic), 25):
            chunk = traffic.iloc[start : start + 25]
            rows = chunk[[f["name"] for f in features]]
            request_id = f"req-{start}"
            post_event(
                sink.url,
                "request",
                request_id,
                {"instances": to_v1_instances(rows, features)},
            )
            answer = model.pipeline.predict(rows).tolist()
            post_event(sink.url, "response", request_id, {"predictions": answer})
            truth += [
                {"request_id": request_id, "row": row, "label": label}
                for row, label in enumerate(chunk["species"])
            ]
    return pd.DataFrame(truth)


def monitor(registry: Path, logs: Path, report: Path, *extra: str) -> int:
    return main(
        [
            "monitor",
            "--registry",
            str(registry),
            "--model-name",
            "penguins",
            "--current",
            str(logs),
            "--report-dir",
            str(report),
            "--fail-on-drift",
            *extra,
        ]
    )


def test_unchanged_traffic_flags_nothing_and_labels_show_no_decay(
    registry: Path, penguins: pd.DataFrame, tmp_path: Path
) -> None:
    truth = serve_and_log(
        registry, penguins.sample(frac=1.0, random_state=5), tmp_path / "logs"
    )
    labels = tmp_path / "labels.csv"
    truth.to_csv(labels, index=False)
    code = monitor(
        registry, tmp_path / "logs", tmp_path / "report", "--labels", str(labels)
    )
    assert code == 0
    drift = json.loads((tmp_path / "report" / "drift.json").read_text())
    assert drift["rows_current"] == len(penguins) and drift["drifted_features"] == []
    decay = json.loads((tmp_path / "report" / "decay.json").read_text())
    assert decay["decayed"] is False and decay["joined_rows"] == len(penguins)


def test_shifted_traffic_and_contradicting_labels_are_flagged(
    registry: Path, penguins: pd.DataFrame, tmp_path: Path
) -> None:
    shifted = penguins.assign(flipper_length_mm=penguins["flipper_length_mm"] + 15.0)
    truth = serve_and_log(registry, shifted, tmp_path / "logs")
    # A third of the answers turn out wrong when the truth arrives.
    truth.loc[truth.index % 3 == 0, "label"] = "Chinstrap"
    labels = tmp_path / "labels.csv"
    truth.to_csv(labels, index=False)
    code = monitor(
        registry, tmp_path / "logs", tmp_path / "report", "--labels", str(labels)
    )
    assert code == DRIFT_EXIT
    drift = json.loads((tmp_path / "report" / "drift.json").read_text())
    assert drift["drifted_features"] == ["flipper_length_mm"]
    decay = json.loads((tmp_path / "report" / "decay.json").read_text())
    assert decay["decayed"] is True


def test_served_probabilities_are_logged_per_class_and_scored(
    registry: Path, penguins: pd.DataFrame, tmp_path: Path
) -> None:
    version = registry / "penguins" / "v1"
    model = load_model(version)
    features = model.metadata["features"]
    names = [f["name"] for f in features]
    classes = model.metadata["classes"]
    traffic = penguins.sample(frac=1.0, random_state=7)
    truth = []
    logs = tmp_path / "logs"
    with (
        start_server_in_subprocess(
            version, "penguins", env={PREDICT_PROBA_ENV: "true"}
        ) as server,
        running_sink(logs, metadata_path=version, flush_rows=50) as sink,
    ):
        for start in range(0, len(traffic), 25):
            chunk = traffic.iloc[start : start + 25]
            request_id = f"req-{start}"
            # Both protocols, as clients send them; the logger forwards both bodies.
            if start % 50:
                body = v2_body(chunk[names], [f["type"] for f in features])
                url = f"{server}/v2/models/penguins/infer"
            else:
                body = {"instances": to_v1_instances(chunk[names], features)}
                url = f"{server}/v1/models/penguins:predict"
            answer = post_json(url, body, 10)
            post_event(sink.url, "request", request_id, body)
            post_event(sink.url, "response", request_id, answer)
            truth += [
                {"request_id": request_id, "row": row, "label": label}
                for row, label in enumerate(chunk["species"])
            ]
    labels = tmp_path / "labels.csv"
    pd.DataFrame(truth).to_csv(labels, index=False)

    code = monitor(registry, logs, tmp_path / "report", "--labels", str(labels))

    assert code == 0
    logged = read_logged(logs)
    columns = [f"proba_{value}" for value in classes]
    assert list(logged.columns[-4:]) == ["prediction", *columns]
    # Back in the order sent: request "req-<first row>", then the row within it.
    first = logged["request_id"].str.removeprefix("req-").astype(int)
    logged = logged.assign(position=first + logged["row"]).sort_values("position")
    sent = traffic[names]
    expected = model.pipeline.predict_proba(sent)
    assert abs(logged[columns].to_numpy() - expected).max() <= 1e-9
    assert logged["prediction"].tolist() == model.pipeline.predict(sent).tolist()
    decay = json.loads((tmp_path / "report" / "decay.json").read_text())
    assert decay["joined_rows"] == len(penguins)
    assert set(decay["metrics"]) == {"accuracy", "f1_macro", "roc_auc", "log_loss"}
    index = [classes.index(label) for label in traffic["species"]]
    live_auc = roc_auc_score(index, expected, multi_class="ovr", average="macro")
    live_loss = log_loss(index, expected, labels=range(len(classes)))
    assert decay["metrics"]["roc_auc"]["live"] == pytest.approx(live_auc)
    assert decay["metrics"]["log_loss"]["live"] == pytest.approx(live_loss)
    assert decay["metrics"]["log_loss"]["higher_is_better"] is False
    # The same rows approval scored: nothing decayed.
    assert decay["decayed"] is False
