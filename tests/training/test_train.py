"""The served Pipeline: task and column inference, input forms, model folder."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from kserve.protocol.infer_type import InferInput, InferRequest
from kserve.utils.utils import get_predict_input

from mlops_suite.artifacts import METADATA_FILE, MODEL_FILE
from mlops_suite.errors import DataError, SchemaError, TrainingError
from mlops_suite.model_folder import load_model, save_model
from mlops_suite.training.train import (
    TrainedModel,
    build_pipeline,
    feature_types,
    to_v1_instances,
    train_model,
)

ROOT = Path(__file__).resolve().parents[2]


# ------------------------------------------------------------------ feature kinds
def test_feature_types_are_inferred_in_column_order(
    penguins: pd.DataFrame, mixed_frame: pd.DataFrame
) -> None:
    assert feature_types(penguins, "species") == [
        ("island", "categorical"),
        ("bill_length_mm", "numeric"),
        ("bill_depth_mm", "numeric"),
        ("flipper_length_mm", "numeric"),
        ("body_mass_g", "numeric"),
        ("sex", "categorical"),
        ("year", "numeric"),
    ]
    assert feature_types(mixed_frame, "churned") == [
        ("income", "numeric"),
        ("member", "boolean"),
        ("region", "categorical"),
        ("visits", "numeric"),
    ]


def test_object_columns_of_booleans_or_numbers_keep_their_kind() -> None:
    frame = pd.DataFrame(
        {
            "flag": pd.Series([True, None, False], dtype=object),
            "amount": pd.Series([1.5, None, 3], dtype=object),
            "y": [0, 1, 0],
        }
    )
    assert feature_types(frame, "y") == [("flag", "boolean"), ("amount", "numeric")]


def test_numbers_read_as_text_are_a_numeric_feature() -> None:
    frame = pd.DataFrame(
        {"size": ["1.5", "2.0", None, "8.5", "9.0", "9.5"], "y": [0, 0, 0, 1, 1, 1]}
    )
    trained = train_model(frame, "y", estimator="logistic_regression")
    assert trained.metadata["features"] == [{"name": "size", "type": "numeric"}]
    assert to_v1_instances(frame, trained.metadata["features"])[0] == [1.5]
    assert list(trained.pipeline.predict(np.array([[1.0], [9.0]], dtype=object))) == [
        0,
        1,
    ]


def test_schema_types_win_over_inference(penguins: pd.DataFrame) -> None:
    schema = {"columns": [{"name": "year", "type": "categorical"}]}
    kinds = dict(feature_types(penguins, "species", schema))
    assert kinds["year"] == "categorical"
    assert kinds["island"] == "categorical"
    with pytest.raises(SchemaError, match="'year' has type 'text'"):
        feature_types(
            penguins, "species", {"columns": [{"name": "year", "type": "text"}]}
        )


# ------------------------------------------------------------------ the V1 form
def test_v1_instances_are_json_ready(mixed_frame: pd.DataFrame) -> None:
    features = feature_types(mixed_frame, "churned")
    rows = to_v1_instances(mixed_frame, features)
    json.dumps(rows, allow_nan=False)  # NaN would make invalid JSON
    assert rows[3][0] is None  # income NaN
    assert rows[5][2] is None  # region None
    assert all(type(row[1]) is bool for row in rows)
    assert all(type(row[0]) is float for row in rows if row[0] is not None)
    assert all(type(row[2]) is str for row in rows if row[2] is not None)


def test_v1_instances_name_a_missing_feature(mixed_frame: pd.DataFrame) -> None:
    features = feature_types(mixed_frame, "churned")
    with pytest.raises(DataError, match="lacks 1 feature column.*region"):
        to_v1_instances(mixed_frame.drop(columns="region"), features)


# ------------------------------------------------------------------ input forms
def _kserve_v2_pd(frame: pd.DataFrame, features: list[dict]) -> pd.DataFrame:
    """What KServe's runtime builds from a V2 request with content_type "pd"."""
    datatype = {"numeric": "FP64", "boolean": "BOOL", "categorical": "BYTES"}
    rows = to_v1_instances(frame, features)
    inputs = [
        InferInput(
            name=f["name"],
            shape=[len(rows)],
            datatype=datatype[f["type"]],
            data=[row[i] for row in rows],
        )
        for i, f in enumerate(features)
    ]
    request = InferRequest(
        model_name="m", infer_inputs=inputs, parameters={"content_type": "pd"}
    )
    return get_predict_input(request)


def _assert_same_predictions_on_every_form(
    trained: TrainedModel, rows_frame: pd.DataFrame
) -> None:
    pipeline = trained.pipeline
    features = trained.metadata["features"]
    names = [f["name"] for f in features]
    frame = rows_frame[names]
    expected = pipeline.predict_proba(frame)
    instances = json.loads(json.dumps(to_v1_instances(rows_frame, features)))
    complete = [i for i, row in enumerate(instances) if None not in row]
    forms = {
        "V1 object array": (np.array(instances, dtype=object), slice(None)),
        "object-dtype DataFrame": (frame.astype(object), slice(None)),
        "KServe V2 pd DataFrame": (_kserve_v2_pd(rows_frame, features), slice(None)),
        # np.array(instances) as KServe's V1 runtime does: strings when no None.
        "KServe V1 array": (
            get_predict_input({"instances": [instances[i] for i in complete]}),
            complete,
        ),
    }
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        warnings.simplefilter("ignore", DeprecationWarning)
        for form, (data, rows) in forms.items():
            np.testing.assert_array_equal(
                pipeline.predict_proba(data), expected[rows], err_msg=form
            )
            np.testing.assert_array_equal(
                pipeline.predict(data), pipeline.predict(frame)[rows], err_msg=form
            )


def test_penguins_predict_identically_on_every_input_form(
    penguin_model: TrainedModel, penguin_splits: tuple[pd.DataFrame, pd.DataFrame]
) -> None:
    _, test = penguin_splits
    unseen = test.head(3).assign(island="Antarctica", sex=[None, np.nan, "male"])
    rows = pd.concat([test, unseen], ignore_index=True)
    assert rows.drop(columns="species").isna().any(axis=1).sum() >= 4
    _assert_same_predictions_on_every_form(penguin_model, rows)


@pytest.mark.parametrize("estimator", ["logistic_regression", "random_forest"])
def test_mixed_frame_predicts_identically_on_every_input_form(
    mixed_frame: pd.DataFrame, estimator: str
) -> None:
    trained = train_model(mixed_frame, "churned", estimator=estimator)
    extra = mixed_frame.head(4).assign(
        region=["atlantis", None, "north", "south"],
        member=pd.Series([None, True, False, np.nan], dtype=object),
        income=[np.nan, 48_000.0, None, 61_000.0],
    )
    _assert_same_predictions_on_every_form(
        trained, pd.concat([mixed_frame, extra], ignore_index=True)
    )


def test_boolean_feature_reads_true_however_it_is_spelled(
    mixed_frame: pd.DataFrame,
) -> None:
    trained = train_model(mixed_frame, "churned", estimator="logistic_regression")
    row = to_v1_instances(mixed_frame.head(1), trained.metadata["features"])[0]
    spellings = [True, "True", "true", 1, 1.0, np.True_]
    rows = np.array([[*row[:1], s, *row[2:]] for s in spellings], dtype=object)
    probabilities = trained.pipeline.predict_proba(rows)
    assert np.allclose(probabilities, probabilities[0])
    false_row = np.array([[*row[:1], False, *row[2:]]], dtype=object)
    assert not np.allclose(trained.pipeline.predict_proba(false_row), probabilities[0])


def test_pipeline_is_built_from_stock_scikit_learn_only(
    penguin_model: TrainedModel,
) -> None:
    for _, step in penguin_model.pipeline.steps:
        assert type(step).__module__.startswith("sklearn."), step
    preprocess = penguin_model.pipeline.named_steps["preprocess"]
    for _, _, columns in preprocess.transformers_:
        if columns != "drop" and not isinstance(columns, str):
            assert all(isinstance(c, int) for c in columns)  # by position, not name


def test_build_pipeline_rejects_an_unknown_kind() -> None:
    with pytest.raises(TrainingError, match="'when' has kind 'datetime'"):
        build_pipeline([("when", "datetime")], "classification", None, None, 0)


# ------------------------------------------------------------------ train_model
def test_metadata_follows_the_model_folder_contract(
    penguin_model: TrainedModel,
) -> None:
    metadata = penguin_model.metadata
    assert metadata["label"] == "species"
    assert metadata["task"] == "classification"
    assert metadata["classes"] == ["Adelie", "Chinstrap", "Gentoo"]
    assert metadata["estimator"] == "logistic_regression"
    assert metadata["hyperparameters"] == {"C": 1.0, "max_iter": 1000}
    assert metadata["seed"] == 0
    assert metadata["sklearn_version"].startswith("1.5.")
    assert metadata["data_sha256"] == "abc123"
    assert metadata["features"][0] == {"name": "island", "type": "categorical"}
    json.dumps(metadata, allow_nan=False)


def test_penguin_species_are_learned(
    penguin_model: TrainedModel, penguin_splits: tuple[pd.DataFrame, pd.DataFrame]
) -> None:
    _, test = penguin_splits
    names = [f["name"] for f in penguin_model.metadata["features"]]
    accuracy = (penguin_model.pipeline.predict(test[names]) == test["species"]).mean()
    assert accuracy > 0.95


def test_body_mass_regression(penguins: pd.DataFrame) -> None:
    rows = penguins.dropna(subset=["body_mass_g"]).sample(frac=1.0, random_state=3)
    train, test = rows.iloc[:250], rows.iloc[250:]
    trained = train_model(train, "body_mass_g")
    assert trained.metadata["task"] == "regression"
    assert trained.metadata["classes"] is None
    assert trained.metadata["estimator"] == "ridge"
    instances = np.array(
        to_v1_instances(test, trained.metadata["features"]), dtype=object
    )
    predicted = trained.pipeline.predict(instances)
    rmse = float(np.sqrt(np.mean((predicted - test["body_mass_g"].to_numpy()) ** 2)))
    assert rmse < 0.5 * test["body_mass_g"].std()


def test_float_zero_one_label_keeps_its_classes(mixed_frame: pd.DataFrame) -> None:
    trained = train_model(mixed_frame, "churned", estimator="random_forest", seed=1)
    assert trained.metadata["task"] == "classification"
    assert trained.metadata["classes"] == [0.0, 1.0]
    assert trained.metadata["features"][1] == {"name": "member", "type": "boolean"}


@pytest.mark.parametrize(
    ("mutate", "kwargs", "message"),
    [
        (lambda f: f, {"label": "churn"}, "Label column 'churn' is not in"),
        (
            lambda f: f.assign(churned=f["churned"].mask(f.index < 3)),
            {},
            "'churned' has 3 missing value",
        ),
        (lambda f: f.assign(churned=1.0), {}, "single class"),
        (
            lambda f: f.assign(visits=np.nan),
            {},
            "visits are entirely missing in 240 rows",
        ),
        (
            lambda f: f.assign(churned=f["region"].fillna("x")),
            {"task": "regression"},
            "regression needs numbers",
        ),
        (lambda f: f[["churned"]], {}, "no feature column"),
        (lambda f: f.head(0), {}, "0 rows"),
        (lambda f: f, {"params": {"C": -1.0}}, "logistic_regression rejected"),
        (lambda f: f, {"params": {"alpha": 1.0}}, "'alpha' is unknown"),
    ],
)
def test_training_errors_are_one_clear_sentence(
    mixed_frame: pd.DataFrame, mutate, kwargs: dict, message: str
) -> None:
    options = {"label": "churned", **kwargs}
    with pytest.raises(TrainingError, match=message) as info:
        train_model(mutate(mixed_frame), **options)
    assert "\n" not in str(info.value)


# ------------------------------------------------------------------ model folder
def test_save_writes_exactly_the_model_and_its_metadata(
    penguin_model: TrainedModel, tmp_path: Path
) -> None:
    folder = Path(save_model(penguin_model, tmp_path / "model"))
    assert sorted(p.name for p in folder.iterdir()) == [METADATA_FILE, MODEL_FILE]
    metadata = json.loads((folder / METADATA_FILE).read_text())
    assert metadata["model_sha256"] == penguin_model.metadata["model_sha256"]
    loaded = load_model(folder)
    assert loaded.metadata == metadata
    assert loaded.pipeline.predict(np.array([[None] * 7], dtype=object)).shape == (1,)


def test_same_data_params_and_seed_give_identical_bytes(
    mixed_frame: pd.DataFrame, tmp_path: Path
) -> None:
    first = train_model(mixed_frame, "churned", estimator="random_forest", seed=5)
    second = train_model(mixed_frame, "churned", estimator="random_forest", seed=5)
    other_seed = train_model(mixed_frame, "churned", estimator="random_forest", seed=6)
    save_model(first, tmp_path / "a")
    save_model(second, tmp_path / "b")
    save_model(other_seed, tmp_path / "c")
    a, b, c = ((tmp_path / d / MODEL_FILE).read_bytes() for d in "abc")
    assert a == b
    assert a != c


def test_identical_bytes_across_python_processes(
    penguin_splits: tuple[pd.DataFrame, pd.DataFrame], tmp_path: Path
) -> None:
    train, _ = penguin_splits
    data = tmp_path / "train.parquet"
    train.to_parquet(data)
    script = textwrap.dedent(
        f"""
        import pandas as pd
        from mlops_suite.model_folder import save_model
        from mlops_suite.training.train import train_model
        trained = train_model(pd.read_parquet({str(data)!r}), "species",
                              estimator="gradient_boosting", seed=7)
        save_model(trained, {str(tmp_path / "sub")!r})
        """
    )
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    subprocess.run([sys.executable, "-c", script], check=True, env=env, cwd=ROOT)
    here = train_model(train, "species", estimator="gradient_boosting", seed=7)
    save_model(here, tmp_path / "here")
    assert (tmp_path / "sub" / MODEL_FILE).read_bytes() == (
        tmp_path / "here" / MODEL_FILE
    ).read_bytes()


KSERVE_LIKE_LOADER = """
import json, os, sys

class _RefuseProjectCode:
    # KServe's runtime has no mlops_suite: any reference to it in the pickle fails.
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] == "mlops_suite":
            raise ImportError("mlops_suite is not installed in the serving runtime")
        return None

sys.meta_path.insert(0, _RefuseProjectCode())
import joblib
import numpy as np

model_dir, instances_file = sys.argv[1], sys.argv[2]
files = [f for f in os.listdir(model_dir) if f.endswith((".joblib", ".pkl", ".pickle"))]
model = joblib.load(os.path.join(model_dir, files[0]))
with open(instances_file) as handle:
    instances = json.load(handle)["instances"]
proba = model.predict_proba(np.array(instances, dtype=object))
labels = model.predict(np.array(instances, dtype=object))
assert not any(m.split(".")[0] == "mlops_suite" for m in sys.modules)
print(json.dumps({"proba": proba.tolist(), "labels": [str(v) for v in labels]}))
"""


def test_saved_model_serves_without_this_package(
    penguin_model: TrainedModel,
    penguin_splits: tuple[pd.DataFrame, pd.DataFrame],
    tmp_path: Path,
) -> None:
    _, test = penguin_splits
    folder = save_model(penguin_model, tmp_path / "model")
    instances = to_v1_instances(test, penguin_model.metadata["features"])
    request = tmp_path / "request.json"
    request.write_text(json.dumps({"instances": instances}))
    # -I: isolated mode, neither the working folder nor PYTHONPATH is importable.
    done = subprocess.run(
        [sys.executable, "-I", "-c", KSERVE_LIKE_LOADER, folder, str(request)],
        check=True,
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    served = json.loads(done.stdout)
    rows = np.array(instances, dtype=object)
    np.testing.assert_array_equal(
        np.array(served["proba"]), penguin_model.pipeline.predict_proba(rows)
    )
    assert served["labels"] == list(penguin_model.pipeline.predict(rows))
