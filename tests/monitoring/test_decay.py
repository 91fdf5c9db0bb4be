"""Decay: live metrics from labelled predictions, against those recorded at approval."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import log_loss, roc_auc_score

from mlops_suite.errors import DataError, TrainingError
from mlops_suite.evaluation.metrics import evaluate
from mlops_suite.monitoring.decay import DecayThresholdError, compute_decay
from mlops_suite.monitoring.label_join import load_labels
from mlops_suite.training.train import to_v1_instances, train_model

ROWS = 200
CLASSES = ["no", "yes"]


def served(rows: int = ROWS, seed: int = 0, per_request: int = 1) -> pd.DataFrame:
    """What the payload sink logs for a threshold model: one row per instance.

    Half the instances are predicted ``yes`` and half ``no``, so flipping as many
    labels of each class keeps the two classes balanced and f1_macro equal to
    accuracy.
    """
    rng = np.random.default_rng(seed)
    score = np.concatenate(
        [rng.uniform(0.1, 1, rows // 2), -rng.uniform(0.1, 1, rows // 2)]
    )
    rng.shuffle(score)
    positions = np.arange(rows)
    return pd.DataFrame(
        {
            "request_id": [f"req-{p // per_request:04d}" for p in positions],
            "row": positions % per_request,
            "prediction": np.where(score > 0, "yes", "no"),
            "score": score,
            "member": score > 0.5,
        }
    )


def labelled(log: pd.DataFrame, wrong: int, column: str = "label") -> pd.DataFrame:
    """Ground truth disagreeing with exactly ``wrong`` predictions, half per class."""
    truth = log[["request_id", "row"]].copy()
    predicted = log["prediction"].to_numpy()
    values = predicted.copy()
    for cls, other in (("yes", "no"), ("no", "yes")):
        values[np.flatnonzero(predicted == cls)[: wrong // 2]] = other
    truth[column] = values
    return truth


def test_no_decay_when_live_accuracy_equals_the_reference():
    log = served()
    report = compute_decay(
        log,
        labelled(log, wrong=20),
        task="classification",
        reference_metrics={"accuracy": 0.9, "f1_macro": 0.9, "roc_auc": 0.95},
    )

    assert report.to_dict() == {
        "task": "classification",
        "metrics": {
            name: {
                "live": pytest.approx(0.9),
                "reference": 0.9,
                "relative_change": pytest.approx(0.0, abs=1e-12),
                "decayed": False,
                "max_drop": 0.05,
                "higher_is_better": True,
            }
            for name in ("accuracy", "f1_macro")
        },
        "decayed": False,
        "decayed_metrics": [],
        "joined_rows": 200,
        "unmatched_predictions": 0,
        "unmatched_labels": 0,
    }
    # Without probabilities in the log, roc_auc cannot be measured, so is not judged.
    assert "roc_auc" not in report.metrics
    assert report.summary() == (
        "No decay beyond the thresholds on 200 labelled predictions (accuracy "
        "0.9 -> 0.9 (+0.0%), f1_macro 0.9 -> 0.9 (+0.0%))."
    )
    json.dumps(report.to_dict())


def test_decay_when_accuracy_drops_by_a_fifth():
    log = served()
    # 56 of 200 wrong: live accuracy 0.72, 20 % below the 0.9 recorded at approval.
    report = compute_decay(
        log,
        labelled(log, wrong=56),
        task="classification",
        reference_metrics={"accuracy": 0.9, "f1_macro": 0.9},
    )

    accuracy = report.metrics["accuracy"]
    assert accuracy.live == pytest.approx(0.72)
    assert accuracy.relative_change == pytest.approx(-0.2)
    assert accuracy.decayed
    assert report.decayed and report.decayed_metrics == ["accuracy", "f1_macro"]
    assert report.to_dict()["decayed"] is True
    assert report.summary() == (
        "The model decayed on 200 labelled predictions: accuracy 0.9 -> 0.72 "
        "(-20.0%), f1_macro 0.9 -> 0.72 (-20.0%)."
    )


def test_a_drop_within_the_threshold_is_not_decay_unless_the_metric_is_stricter():
    log = served()
    truth = labelled(log, wrong=24)  # accuracy 0.88: 2.2 % below 0.9
    reference = {"accuracy": 0.9, "f1_macro": 0.9}

    lenient = compute_decay(
        log, truth, task="classification", reference_metrics=reference
    )
    strict = compute_decay(
        log,
        truth,
        task="classification",
        reference_metrics=reference,
        max_drop={"accuracy": 0.01},
    )

    assert not lenient.decayed
    assert strict.decayed_metrics == ["accuracy"]
    assert strict.metrics["f1_macro"].max_drop == 0.05


def test_better_live_metrics_are_never_decay():
    log = served()
    report = compute_decay(
        log,
        labelled(log, wrong=0),
        task="classification",
        reference_metrics={"accuracy": 0.8},
        max_drop=0.0,
    )
    assert report.metrics["accuracy"].relative_change == pytest.approx(0.25)
    assert not report.decayed
    # f1_macro has no reference: reported, never judged.
    assert report.metrics["f1_macro"].reference is None
    assert not report.metrics["f1_macro"].decayed


def test_roc_auc_is_judged_when_the_log_carries_class_probabilities():
    log = served()
    log["proba_yes"] = 1 / (1 + np.exp(-4 * log["score"]))
    log["proba_no"] = 1 - log["proba_yes"]
    truth = labelled(log, wrong=40)

    report = compute_decay(
        log,
        truth,
        task="classification",
        classes=CLASSES,
        reference_metrics={"accuracy": 0.8, "f1_macro": 0.8, "roc_auc": 0.99},
    )

    expected = roc_auc_score(truth["label"] == "yes", log["proba_yes"])
    assert report.metrics["roc_auc"].live == pytest.approx(expected)
    assert report.metrics["roc_auc"].decayed == (expected < 0.99 * 0.95)
    assert report.metrics["accuracy"].live == pytest.approx(0.8)
    # Measured, but without a reference never judged.
    assert report.metrics["log_loss"].reference is None
    assert not report.metrics["log_loss"].decayed


def test_log_loss_from_logged_probabilities_decays_when_it_grows():
    log = served()
    log["proba_yes"] = 1 / (1 + np.exp(-4 * log["score"]))
    log["proba_no"] = 1 - log["proba_yes"]
    truth = labelled(log, wrong=40)
    expected = log_loss(truth["label"], log[["proba_no", "proba_yes"]], labels=CLASSES)

    def decay(reference: float):
        return compute_decay(
            log,
            truth,
            task="classification",
            classes=CLASSES,
            reference_metrics={"log_loss": reference},
        ).metrics["log_loss"]

    # Lower is better: a live loss half as large again as at approval has decayed.
    worse = decay(expected / 1.5)
    assert worse.live == pytest.approx(expected)
    assert worse.higher_is_better is False
    assert worse.relative_change == pytest.approx(0.5)
    assert worse.decayed
    # The same loss, or a smaller one, has not.
    assert not decay(expected).decayed
    assert not decay(expected * 2).decayed


@pytest.mark.parametrize(
    ("label", "estimator"),
    [("species", "random_forest"), ("body_mass_g", "ridge")],
)
def test_live_metrics_are_the_evaluation_metrics_on_the_same_rows(
    penguin_splits, label, estimator
):
    """Served predictions of the test split score what approval recorded."""
    train, test = (split.dropna(subset=[label]) for split in penguin_splits)
    trained = train_model(train, label, estimator=estimator, seed=0)
    approved = evaluate(trained.pipeline, trained.metadata, test)
    served = np.array(to_v1_instances(test, trained.metadata["features"]), dtype=object)
    log = pd.DataFrame(
        {"request_id": range(len(test)), "prediction": trained.pipeline.predict(served)}
    )
    classes = approved.classes
    for position, value in enumerate(classes or ()):
        log[f"proba_{value}"] = trained.pipeline.predict_proba(served)[:, position]
    labels = pd.DataFrame({"request_id": range(len(test)), "label": test[label]})

    report = compute_decay(
        log,
        labels,
        task=trained.metadata["task"],
        classes=classes,
        reference_metrics=approved.metrics,
    )

    # Every metric approval recorded, log_loss and roc_auc included for a classifier.
    assert set(report.metrics) == set(approved.metrics)
    for name, metric in report.metrics.items():
        assert metric.live == pytest.approx(approved.metrics[name], rel=1e-12), name
        assert not metric.decayed


# ------------------------------------------------------------------ regression


def regression_log(rows: int = ROWS, seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "request_id": np.arange(rows),
            "prediction": rng.normal(100, 20, rows),
        }
    )


def with_errors(log: pd.DataFrame, size: float) -> pd.DataFrame:
    """Labels off the prediction by exactly ``size``, alternating sign."""
    signs = np.where(np.arange(len(log)) % 2 == 0, 1.0, -1.0)
    return pd.DataFrame(
        {"request_id": log["request_id"], "price": log["prediction"] + size * signs}
    )


def test_regression_no_decay_at_the_reference_error():
    log = regression_log()
    report = compute_decay(
        log,
        with_errors(log, 4.0),
        task="regression",
        label_column="price",
        reference_metrics={"rmse": 4.0, "mae": 4.0, "r2": 0.95},
    )
    assert report.metrics["rmse"].live == pytest.approx(4.0)
    assert report.metrics["mae"].live == pytest.approx(4.0)
    assert 0.9 < report.metrics["r2"].live < 1.0
    assert not report.decayed
    assert report.metrics["rmse"].higher_is_better is False


def test_regression_decay_when_the_error_grows_by_half():
    log = regression_log()
    report = compute_decay(
        log,
        with_errors(log, 6.0),
        task="regression",
        label_column="price",
        reference_metrics={"rmse": 4.0, "mae": 4.0},
    )
    assert report.metrics["rmse"].relative_change == pytest.approx(0.5)
    assert report.decayed_metrics == ["rmse", "mae"]
    assert "r2" not in report.decayed_metrics


def test_zero_reference_is_compared_by_plain_difference():
    log = regression_log()
    report = compute_decay(
        log,
        with_errors(log, 0.1),
        task="regression",
        label_column="price",
        reference_metrics={"rmse": 0.0},
        max_drop=0.05,
    )
    assert report.metrics["rmse"].relative_change is None
    assert report.metrics["rmse"].decayed  # 0.1 worse than perfect, > 0.05


# ------------------------------------------------------------------------ join


def write_sink_batches(log: pd.DataFrame, folder: Path, parts: int = 2) -> Path:
    """The payload sink's layout: Parquet batch files plus a marker to skip."""
    folder.mkdir(parents=True, exist_ok=True)
    for index, chunk in enumerate(np.array_split(np.arange(len(log)), parts)):
        log.iloc[chunk].to_parquet(folder / f"batch-{index:03d}.parquet", index=False)
    (folder / "_SUCCESS").write_text("")
    return folder


def test_join_on_request_and_row_counts_what_is_unmatched(tmp_path):
    # Requests of 4 instances each; labels for the first 160 instances, plus 30
    # labels for requests that were never logged (e.g. another model's traffic).
    log = served(per_request=4)
    truth = labelled(log, wrong=16).iloc[:160]
    strangers = pd.DataFrame(
        {"request_id": [f"other-{i}" for i in range(30)], "row": 0, "label": "yes"}
    )
    labels_file = tmp_path / "labels.csv"
    pd.concat([truth, strangers]).to_csv(labels_file, index=False)

    report = compute_decay(
        write_sink_batches(log, tmp_path / "sink"),
        labels_file,
        task="classification",
        classes=CLASSES,
        reference_metrics={"accuracy": 0.9},
    )

    assert report.joined_rows == 160
    assert report.unmatched_predictions == 40
    assert report.unmatched_labels == 30
    assert report.metrics["accuracy"].live == pytest.approx(1 - 16 / 160)


def test_ids_match_whatever_their_storage_type(tmp_path):
    # Integer IDs in the log; the labels come as text, and as a CSV whose one
    # missing ID makes pandas read the others as floats (17.0).
    log = regression_log()
    as_text = with_errors(log, 4.0).astype({"request_id": str})
    as_text.to_parquet(tmp_path / "labels.parquet", index=False)
    as_floats = with_errors(log, 4.0).astype({"request_id": object})
    as_floats.loc[0, "request_id"] = None
    as_floats.to_csv(tmp_path / "labels.csv", index=False)

    for name, joined in (("labels.parquet", ROWS), ("labels.csv", ROWS - 1)):
        report = compute_decay(
            log,
            str(tmp_path / name),
            task="regression",
            label_column="price",
            reference_metrics={"rmse": 4.0},
        )
        assert report.joined_rows == joined
        assert report.metrics["rmse"].live == pytest.approx(4.0)


def test_labels_without_row_join_single_instance_requests():
    log = served()
    truth = labelled(log, wrong=20).drop(columns="row")
    report = compute_decay(
        log, truth, task="classification", reference_metrics={"accuracy": 0.9}
    )
    assert report.joined_rows == ROWS and not report.decayed


def test_labels_without_row_cannot_tell_instances_of_one_request_apart():
    log = served(per_request=4)
    truth = labelled(log, wrong=0).drop(columns="row").drop_duplicates("request_id")
    with pytest.raises(DataError) as info:
        compute_decay(
            log, truth, task="classification", reference_metrics={"accuracy": 0.9}
        )
    assert str(info.value) == (
        "The labels DataFrame has no 'row' column, but 50 requests in the "
        "predictions DataFrame hold several instances (e.g. request_id 'req-0000'); "
        "add each instance's 0-based 'row' to tell them apart."
    )


def test_missing_labels_are_left_out_and_repeated_rows_count_once():
    log = served()
    truth = labelled(log, wrong=20)
    truth.loc[:9, "label"] = None  # not known yet
    truth = pd.concat([truth, truth.iloc[50:60]])  # delivered twice
    report = compute_decay(
        log, truth, task="classification", reference_metrics={"accuracy": 0.9}
    )
    assert report.joined_rows == 190
    assert report.unmatched_predictions == 10
    assert report.unmatched_labels == 0


# ---------------------------------------------------------------------- errors


def test_missing_labels_file_is_named(tmp_path):
    missing = tmp_path / "labels.csv"
    with pytest.raises(DataError) as info:
        compute_decay(
            served(), missing, task="classification", reference_metrics={"accuracy": 1}
        )
    assert str(info.value) == (
        f"Labels file '{missing}' does not exist; expected a CSV or Parquet file."
    )


def test_unreadable_labels_file_says_what_it_is(tmp_path):
    packed = tmp_path / "labels.csv.gz"
    packed.write_bytes(b"\x1f\x8b\x08\x00 compressed bytes")
    with pytest.raises(DataError) as info:
        load_labels(packed)
    assert str(info.value) == (
        f"Labels file '{packed}' is gzip-compressed (decompress it first); expected "
        "a CSV or Parquet file."
    )


def test_labels_file_round_trips_csv_and_parquet(tmp_path):
    truth = labelled(served(), wrong=0)
    truth.to_csv(tmp_path / "labels.csv", index=False)
    truth.to_parquet(tmp_path / "labels.parquet", index=False)
    for name in ("labels.csv", "labels.parquet"):
        loaded = load_labels(tmp_path / name)
        assert loaded["label"].tolist() == truth["label"].tolist()


@pytest.mark.parametrize(
    ("drop", "label_column", "message"),
    [
        (
            "request_id",
            "label",
            "has no 'request_id' column (columns: row, label).",
        ),
        (None, "species", "has no 'species' column (columns: request_id, row, label)."),
    ],
)
def test_missing_label_side_column_is_named(tmp_path, drop, label_column, message):
    truth = labelled(served(), wrong=0)
    if drop:
        truth = truth.drop(columns=drop)
    path = tmp_path / "labels.csv"
    truth.to_csv(path, index=False)
    with pytest.raises(DataError) as info:
        compute_decay(
            served(),
            path,
            task="classification",
            label_column=label_column,
            reference_metrics={"accuracy": 0.9},
        )
    assert str(info.value) == f"The labels file '{path}' {message}"


def test_missing_prediction_column_is_named():
    log = served().rename(columns={"prediction": "predicted"})
    with pytest.raises(DataError) as info:
        compute_decay(
            log,
            labelled(served(), wrong=0),
            task="classification",
            reference_metrics={"accuracy": 0.9},
        )
    assert str(info.value) == (
        "The predictions DataFrame has no 'prediction' column (columns: request_id, "
        "row, predicted, score, member)."
    )


def test_nothing_joining_says_how_many_on_each_side():
    log = served()
    truth = labelled(log, wrong=0).iloc[:50]
    truth["request_id"] = "batch-" + truth["request_id"]
    with pytest.raises(DataError) as info:
        compute_decay(
            log, truth, task="classification", reference_metrics={"accuracy": 0.9}
        )
    first = log["request_id"].iloc[0]
    assert str(info.value) == (
        "None of the 200 logged predictions in the predictions DataFrame matches any "
        "of the 50 labels in the labels DataFrame on request_id and row (e.g. "
        f"('{first}', 0) and ('batch-{first}', 0)); check that the labels come from "
        "the same requests."
    )


def test_too_few_labelled_predictions_to_judge():
    log = served()
    truth = labelled(log, wrong=0).iloc[:12]
    with pytest.raises(DataError) as info:
        compute_decay(
            log, truth, task="classification", reference_metrics={"accuracy": 0.9}
        )
    assert str(info.value) == (
        "Only 12 of the 200 logged predictions have a label in the labels "
        "DataFrame; at least 30 are needed to judge decay (wait for more labels or "
        "lower the minimum)."
    )
    report = compute_decay(
        log,
        truth,
        task="classification",
        reference_metrics={"accuracy": 0.9},
        min_joined_rows=10,
    )
    assert report.joined_rows == 12


def test_contradicting_labels_are_refused():
    log = served()
    truth = labelled(log, wrong=0)
    flipped = truth.iloc[:3].assign(
        label=lambda t: t["label"].map({"yes": "no", "no": "yes"})
    )
    with pytest.raises(
        DataError, match=r"gives different values for 3 request_id and row key\(s\)"
    ):
        compute_decay(
            log,
            pd.concat([truth, flipped]),
            task="classification",
            reference_metrics={"accuracy": 0.9},
        )


def test_labels_outside_the_models_classes_are_refused():
    log = served()
    truth = labelled(log, wrong=0)
    truth.loc[:4, "label"] = "Yes"
    with pytest.raises(DataError) as info:
        compute_decay(
            log,
            truth,
            task="classification",
            classes=CLASSES,
            reference_metrics={"accuracy": 0.9},
        )
    assert str(info.value) == (
        "The labels DataFrame has 1 value(s) in 'label' that are not among the "
        "model's classes (Yes); expected one of no, yes."
    )


def test_boolean_classes_match_across_types():
    log = served()
    log["prediction"] = log["prediction"] == "yes"
    truth = labelled(served(), wrong=20)
    truth["label"] = truth["label"].map({"yes": "true", "no": "false"})
    report = compute_decay(
        log,
        truth,
        task="classification",
        classes=[False, True],
        reference_metrics={"accuracy": 0.9},
    )
    assert report.metrics["accuracy"].live == pytest.approx(0.9)


def test_non_numeric_regression_labels_are_refused():
    log = regression_log()
    truth = with_errors(log, 1.0).astype({"price": object})
    truth.loc[3, "price"] = "n/a"
    with pytest.raises(DataError) as info:
        compute_decay(
            log,
            truth,
            task="regression",
            label_column="price",
            reference_metrics={"rmse": 1.0},
        )
    assert str(info.value) == (
        "The labels DataFrame has 1 value(s) in 'price' that are not numbers "
        "(e.g. 'n/a'); expected numbers."
    )


@pytest.mark.parametrize(
    ("options", "error", "message"),
    [
        (
            {"reference_metrics": {"rmse": 1.0}},
            DataError,
            "The reference metrics hold none of accuracy, f1_macro, roc_auc, "
            "log_loss (recorded: rmse); expected the evaluation metrics recorded at "
            "approval in the registry lineage.",
        ),
        (
            {"max_drop": {"rmse": 0.1}},
            DecayThresholdError,
            "max_drop names rmse, which classification does not measure; expected "
            "some of accuracy, f1_macro, roc_auc, log_loss.",
        ),
        (
            {"max_drop": -0.1},
            DecayThresholdError,
            "max_drop for accuracy is -0.1; expected a fraction of at least 0 (0.05 "
            "allows a 5% drop).",
        ),
        (
            {"min_joined_rows": 0},
            DecayThresholdError,
            "min_joined_rows is 0; it must be a whole number of at least 1.",
        ),
        (
            {"task": "ranking"},
            TrainingError,
            "Task 'ranking' is unknown; expected one of classification, regression.",
        ),
    ],
)
def test_bad_settings_are_explained(options, error, message):
    log = served()
    settings = {"task": "classification", "reference_metrics": {"accuracy": 0.9}}
    settings.update(options)
    with pytest.raises(error) as info:
        compute_decay(log, labelled(log, wrong=0), **settings)
    assert str(info.value) == message


def test_sink_folder_without_the_prediction_column_is_named(tmp_path):
    log = served().drop(columns="prediction")
    folder = write_sink_batches(log, tmp_path / "sink", parts=1)
    with pytest.raises(DataError) as info:
        compute_decay(
            folder,
            labelled(served(), wrong=0),
            task="classification",
            reference_metrics={"accuracy": 0.9},
        )
    batch = folder / "batch-000.parquet"
    assert str(info.value) == (
        f"The prediction log '{batch}' has no 'prediction' column (columns: "
        "request_id, row, score, member)."
    )
