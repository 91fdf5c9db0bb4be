"""Evaluation metrics against scikit-learn, slices, and the JSON that approval reads."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn import metrics as skm

from mlops_suite.errors import DataError
from mlops_suite.evaluation.metrics import (
    MAX_ROC_POINTS,
    Evaluation,
    evaluate,
)
from mlops_suite.model_folder import load_model, save_model
from mlops_suite.training.train import TrainedModel, train_model


def _tiny_binary() -> TrainedModel:
    train = pd.DataFrame(
        {
            "x": [0.0, 1.0, 2.0, 3.0, 10.0, 11.0, 12.0, 13.0],
            "y": ["no"] * 4 + ["yes"] * 4,
        }
    )
    return train_model(train, "y", estimator="random_forest", seed=0)


def test_tiny_known_binary_case() -> None:
    trained = _tiny_binary()
    # Two clear "no", two clear "yes", and a "yes" sitting among the "no".
    test = pd.DataFrame(
        {"x": [0.5, 1.5, 11.5, 12.5, 2.5], "y": ["no", "no", "yes", "yes", "yes"]}
    )
    result = evaluate(trained.pipeline, trained.metadata, test)
    assert result.n_rows == 5
    assert result.confusion_matrix == {
        "labels": ["no", "yes"],
        "matrix": [[2, 0], [1, 2]],
    }
    assert result.metrics["accuracy"] == pytest.approx(0.8)
    # F1 of "no": 2 / (2 + 0.5 * 1) = 0.8; of "yes": 2 / (2 + 0.5 * 1) = 0.8.
    assert result.metrics["f1_macro"] == pytest.approx(0.8)
    proba = trained.pipeline.predict_proba(test[["x"]])
    assert result.metrics["roc_auc"] == pytest.approx(
        skm.roc_auc_score(test["y"] == "yes", proba[:, 1])
    )
    assert result.metrics["log_loss"] == pytest.approx(
        skm.log_loss(test["y"], proba, labels=["no", "yes"])
    )
    fpr, tpr, thresholds = skm.roc_curve(test["y"] == "yes", proba[:, 1])
    assert result.roc_curve is not None
    assert result.roc_curve["fpr"] == pytest.approx(fpr.tolist())
    assert result.roc_curve["tpr"] == pytest.approx(tpr.tolist())
    assert result.roc_curve["thresholds"][1:] == pytest.approx(thresholds[1:].tolist())
    assert 1.0 < result.roc_curve["thresholds"][0] < 1.0 + 1e-12  # +inf, JSON-safe


def test_multiclass_metrics_match_scikit_learn(
    species_model: TrainedModel, penguin_splits: tuple[pd.DataFrame, pd.DataFrame]
) -> None:
    _, test = penguin_splits
    result = evaluate(species_model.pipeline, species_model.metadata, test)
    names = [f["name"] for f in species_model.metadata["features"]]
    proba = species_model.pipeline.predict_proba(test[names])
    predicted = species_model.pipeline.predict(test[names])
    y = test["species"]
    classes = ["Adelie", "Chinstrap", "Gentoo"]
    assert result.metrics == pytest.approx(
        {
            "accuracy": skm.accuracy_score(y, predicted),
            "f1_macro": skm.f1_score(y, predicted, average="macro"),
            "roc_auc": skm.roc_auc_score(
                y, proba, multi_class="ovr", average="macro", labels=classes
            ),
            "log_loss": skm.log_loss(y, proba, labels=classes),
        }
    )
    assert result.confusion_matrix == {
        "labels": classes,
        "matrix": skm.confusion_matrix(y, predicted, labels=classes).tolist(),
    }
    onehot = (y.to_numpy()[:, None] == np.array(classes)[None, :]).ravel()
    fpr, tpr, _ = skm.roc_curve(onehot, proba.ravel())
    assert result.roc_curve is not None
    assert len(fpr) <= MAX_ROC_POINTS
    assert result.roc_curve["fpr"] == pytest.approx(fpr.tolist())
    assert result.roc_curve["tpr"] == pytest.approx(tpr.tolist())


def test_roc_curve_is_capped_and_keeps_its_ends() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=3000)
    frame = pd.DataFrame({"x": x, "y": (x + rng.normal(scale=1.5, size=3000)) > 0})
    trained = train_model(frame.iloc[:1000], "y", estimator="logistic_regression")
    result = evaluate(trained.pipeline, trained.metadata, frame.iloc[1000:])
    curve = result.roc_curve
    assert curve is not None
    assert len(curve["fpr"]) == MAX_ROC_POINTS
    assert (curve["fpr"][0], curve["tpr"][0]) == (0.0, 0.0)
    assert (curve["fpr"][-1], curve["tpr"][-1]) == (1.0, 1.0)
    assert np.all(np.diff(curve["thresholds"]) <= 0)
    assert np.all(np.diff(curve["fpr"]) >= 0)


def test_regression_metrics_match_scikit_learn(
    mass_model: TrainedModel, mass_splits: tuple[pd.DataFrame, pd.DataFrame]
) -> None:
    _, test = mass_splits
    result = evaluate(mass_model.pipeline, mass_model.metadata, test)
    names = [f["name"] for f in mass_model.metadata["features"]]
    predicted = mass_model.pipeline.predict(test[names])
    y = test["body_mass_g"]
    assert result.metrics == pytest.approx(
        {
            "rmse": skm.mean_squared_error(y, predicted) ** 0.5,
            "mae": skm.mean_absolute_error(y, predicted),
            "r2": skm.r2_score(y, predicted),
        }
    )
    assert (result.metrics["r2"] or 0.0) > 0.8
    assert result.confusion_matrix is None and result.roc_curve is None
    assert result.points is not None
    assert result.points["actual"] == pytest.approx(y.tolist())
    assert result.points["predicted"] == pytest.approx(predicted.tolist())


def test_slices_hold_the_metrics_of_their_rows(
    species_model: TrainedModel, penguin_splits: tuple[pd.DataFrame, pd.DataFrame]
) -> None:
    _, test = penguin_splits
    result = evaluate(
        species_model.pipeline, species_model.metadata, test, slice_column="island"
    )
    assert result.slice_column == "island"
    assert sorted(result.slices) == sorted(test["island"].unique())
    assert sum(s["n_rows"] or 0 for s in result.slices.values()) == len(test)
    dream = test[test["island"] == "Dream"]
    alone = evaluate(species_model.pipeline, species_model.metadata, dream)
    assert result.slices["Dream"] == pytest.approx(
        {"n_rows": len(dream), **alone.metrics}
    )


def test_missing_slice_values_get_their_own_slice(
    mass_model: TrainedModel, mass_splits: tuple[pd.DataFrame, pd.DataFrame]
) -> None:
    _, test = mass_splits
    test = test.copy()
    test.loc[test.index[:3], "sex"] = None
    result = evaluate(
        mass_model.pipeline, mass_model.metadata, test, slice_column="sex"
    )
    assert result.slices["__missing__"]["n_rows"] == int(test["sex"].isna().sum())
    assert {"female", "male"} <= set(result.slices)


def test_slice_column_must_be_a_categorical_feature(
    species_model: TrainedModel, penguin_splits: tuple[pd.DataFrame, pd.DataFrame]
) -> None:
    _, test = penguin_splits
    for column in ("colony", "bill_length_mm"):
        with pytest.raises(DataError, match=f"'{column}' is not a categorical") as info:
            evaluate(
                species_model.pipeline,
                species_model.metadata,
                test,
                slice_column=column,
            )
        assert "island, sex" in str(info.value)


def test_single_class_split_gives_null_roc_auc_and_valid_json(
    species_model: TrainedModel, penguin_splits: tuple[pd.DataFrame, pd.DataFrame]
) -> None:
    _, test = penguin_splits
    gentoo = test[test["species"] == "Gentoo"]
    result = evaluate(species_model.pipeline, species_model.metadata, gentoo)
    assert result.metrics["roc_auc"] is None
    payload = json.loads(json.dumps(result.to_dict(), allow_nan=False))
    assert payload["metrics"]["roc_auc"] is None
    assert payload["primary_metric"] == "roc_auc"
    assert payload["higher_is_better"] is True


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda f: f.drop(columns="species"), "Label column 'species' is not in"),
        (
            lambda f: f.assign(species=f["species"].mask(f.index == f.index[0])),
            "1 missing",
        ),
        (lambda f: f.assign(species="Emperor"), "1 class\\(es\\) the model never saw"),
        (lambda f: f.drop(columns="island"), "lacks 1 feature column"),
        (lambda f: f.head(0), "0 rows"),
    ],
)
def test_unusable_evaluation_data_is_refused(
    species_model: TrainedModel,
    penguin_splits: tuple[pd.DataFrame, pd.DataFrame],
    mutate,
    message: str,
) -> None:
    _, test = penguin_splits
    with pytest.raises(DataError, match=message):
        evaluate(species_model.pipeline, species_model.metadata, mutate(test))


def test_evaluation_of_a_saved_model_round_trips_through_json(
    species_model: TrainedModel,
    penguin_splits: tuple[pd.DataFrame, pd.DataFrame],
    tmp_path: Path,
) -> None:
    _, test = penguin_splits
    loaded = load_model(save_model(species_model, tmp_path / "model"))
    result = evaluate(loaded.pipeline, loaded.metadata, test, slice_column="sex")
    payload = json.loads(json.dumps(result.to_dict(), allow_nan=False))
    assert Evaluation.from_dict(payload) == result
    assert payload["n_rows"] == len(test)
    assert payload["classes"] == ["Adelie", "Chinstrap", "Gentoo"]
