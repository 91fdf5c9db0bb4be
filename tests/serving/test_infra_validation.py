"""Infra validation: a candidate is blessed only if the served model answers right."""

from __future__ import annotations

import shutil
import textwrap
import uuid
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest
from kserve import InferInput, InferRequest
from kserve.utils.utils import get_predict_input
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer

from mlops_suite.artifacts import MODEL_FILE
from mlops_suite.errors import DataError
from mlops_suite.model_folder import save_model
from mlops_suite.serving.infra_validation import InfraValidationResult, infra_validate
from mlops_suite.serving.server_process import free_port
from mlops_suite.training.train import train_model

MODEL_NAME = "penguins"
FolderWriter = Callable[[Path, Pipeline], Path]


def _check(result: InfraValidationResult, name: str) -> dict:
    return next(check for check in result.checks if check["name"] == name)


@pytest.fixture(scope="module")
def good_result(
    good_model_dir: Path, sample_rows: pd.DataFrame
) -> InfraValidationResult:
    return infra_validate(good_model_dir, sample_rows, model_name=MODEL_NAME)


def test_contract_model_is_blessed(good_result: InfraValidationResult):
    assert good_result.blessed, good_result.reason
    assert "answered 20 rows over V1 and V2" in good_result.reason
    assert all(check["passed"] for check in good_result.checks)


def test_blessing_covers_both_protocols_as_batch_and_row_by_row(
    good_result: InfraValidationResult,
):
    names = [check["name"] for check in good_result.checks]

    assert {"V1 batch", "V2 batch", "V1 row by row", "V2 row by row"} <= set(names)
    assert good_result.to_dict()["checks"] == good_result.checks


def test_a_classifier_is_also_served_with_its_class_probabilities(
    good_result: InfraValidationResult,
):
    names = [check["name"] for check in good_result.checks]

    assert {
        "predict_proba_in_process",
        "server_start, predict_proba",
        "V1 batch, predict_proba",
        "V2 batch, predict_proba",
        "V1 row by row, predict_proba",
        "V2 row by row, predict_proba",
    } <= set(names)
    assert _check(good_result, "V2 row by row, predict_proba")["detail"] == (
        "V2 row by row, predict_proba: all 20 rows equal the in-process class "
        "probabilities within 1e-9."
    )
    assert good_result.reason.endswith(
        "and its class probabilities (PREDICT_PROBA=true) within 1e-9."
    )


def test_model_whose_served_probabilities_differ_is_not_blessed(
    tmp_path: Path,
    write_model_folder: FolderWriter,
    build_pipeline: Callable[..., Pipeline],
    sample_rows: pd.DataFrame,
):
    # The year one-hot encoded as whole-number categories: a complete row sent alone
    # over V1 decodes to strings ('2007'), so its year is an unknown category and
    # is ignored. The year barely matters to the species, so every class still
    # comes out the same; the probabilities do not.
    numeric = [1, 2, 3, 4]
    year_as_category = build_pipeline((numeric, [0, 5, 6]))
    folder = write_model_folder(tmp_path / "model", year_as_category)

    result = infra_validate(folder, sample_rows, model_name=MODEL_NAME)

    assert not result.blessed
    assert all(
        _check(result, name)["passed"]
        for name in ("V1 batch", "V2 batch", "V1 row by row", "V2 row by row")
    )
    assert _check(result, "V1 batch, predict_proba")["passed"]
    assert result.reason.startswith("V1 row by row, predict_proba: ")
    assert (
        "rows differ from the in-process class probabilities by more than 1e-9, "
        "e.g. row" in result.reason
    )


def test_a_regressor_is_served_with_predict_only(
    tmp_path: Path, penguin_frame: pd.DataFrame, sample_rows: pd.DataFrame
):
    trained = train_model(penguin_frame.dropna(subset=["body_mass_g"]), "body_mass_g")
    folder = tmp_path / "model"
    save_model(trained, folder)

    result = infra_validate(folder, sample_rows, model_name=MODEL_NAME)

    assert result.blessed, result.reason
    assert not any("predict_proba" in check["name"] for check in result.checks)
    assert "probabilities" not in result.reason


def test_pipeline_selecting_columns_by_name_is_not_blessed(
    tmp_path: Path,
    write_model_folder: FolderWriter,
    build_pipeline: Callable[..., Pipeline],
    sample_rows: pd.DataFrame,
):
    # Fine in-process on DataFrames and over V2 "pd", but V1 sends bare arrays.
    by_name = build_pipeline(
        (
            [
                "bill_length_mm",
                "bill_depth_mm",
                "flipper_length_mm",
                "body_mass_g",
                "year",
            ],
            ["island", "sex"],
        )
    )
    folder = write_model_folder(tmp_path / "model", by_name)

    result = infra_validate(folder, sample_rows, model_name=MODEL_NAME)

    assert not result.blessed
    assert result.reason.startswith("V1 batch request failed with HTTP 500")
    assert "only supported for dataframes" in result.reason
    assert (
        _check(result, "V2 batch")["passed"]
        and _check(result, "V2 row by row")["passed"]
    )


def test_model_that_answers_differently_row_by_row_is_not_blessed(
    tmp_path: Path,
    write_model_folder: FolderWriter,
    build_pipeline: Callable[..., Pipeline],
    sample_rows: pd.DataFrame,
):
    # Flipper lengths one-hot encoded as float categories: a V1 batch with a null in
    # it decodes to an object array and matches, but a complete row alone decodes to
    # strings ('181.0'), every length becomes an unknown category and is ignored.
    float_categories = build_pipeline(([], [0, 3]))
    folder = write_model_folder(tmp_path / "model", float_categories)

    result = infra_validate(folder, sample_rows, model_name=MODEL_NAME)

    assert not result.blessed
    assert _check(result, "V1 batch")["passed"]
    assert result.reason.startswith("V1 row by row: ")
    assert (
        "of 20 rows differ from the in-process predictions, e.g. row" in result.reason
    )


def test_folder_with_two_model_files_is_not_blessed(
    good_model_dir: Path, tmp_path: Path, sample_rows: pd.DataFrame
):
    folder = Path(shutil.copytree(good_model_dir, tmp_path / "model"))
    shutil.copy(folder / MODEL_FILE, folder / "model.pkl")

    result = infra_validate(folder, sample_rows, model_name=MODEL_NAME)

    assert not result.blessed
    assert result.reason == (
        f"Model folder {folder} holds 2 model files (model.joblib, model.pkl), but "
        "KServe's sklearn runtime refuses more than one .joblib/.pkl/.pickle file."
    )


def test_corrupted_model_file_is_not_blessed(
    good_model_dir: Path, tmp_path: Path, sample_rows: pd.DataFrame
):
    folder = Path(shutil.copytree(good_model_dir, tmp_path / "model"))
    content = bytearray((folder / MODEL_FILE).read_bytes())
    content[len(content) // 2] ^= 0xFF
    (folder / MODEL_FILE).write_bytes(bytes(content))

    result = infra_validate(folder, sample_rows, model_name=MODEL_NAME)

    assert not result.blessed
    assert "sha256" in result.reason and "changed after training" in result.reason
    assert [check["name"] for check in result.checks] == ["model_file", "metadata"]


def test_model_needing_a_class_the_runtime_cannot_import_is_not_blessed(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    write_model_folder: FolderWriter,
    build_pipeline: Callable[..., Pipeline],
    sample_rows: pd.DataFrame,
):
    # The class lives in a module only this test process can import, like a
    # project class that is not installed in KServe's image.
    module_name = f"penguin_helpers_{uuid.uuid4().hex[:8]}"
    helpers = tmp_path / "helpers"
    helpers.mkdir()
    (helpers / f"{module_name}.py").write_text(
        textwrap.dedent(
            """
            from sklearn.base import BaseEstimator, TransformerMixin

            class PassThrough(TransformerMixin, BaseEstimator):
                def fit(self, X, y=None):
                    return self

                def transform(self, X):
                    return X
            """
        )
    )
    monkeypatch.syspath_prepend(str(helpers))
    module = __import__(module_name)
    pipeline = build_pipeline()
    pipeline.steps.insert(0, ("passthrough", module.PassThrough()))
    folder = write_model_folder(tmp_path / "model", pipeline)

    result = infra_validate(folder, sample_rows, model_name=MODEL_NAME, timeout_s=60)

    # Refused before anything is loaded or served, as KServe's server refuses it.
    assert not result.blessed
    assert f"names {module_name}.PassThrough" in result.reason
    assert "refuses to unpickle" in result.reason
    assert [check["name"] for check in result.checks][-1] == "unpickle_rule"


def test_model_referring_to_project_code_is_not_blessed(
    tmp_path: Path,
    write_model_folder: FolderWriter,
    build_pipeline: Callable[..., Pipeline],
    sample_rows: pd.DataFrame,
):
    # Loads and answers here (the package is installed), not in the stock image.
    pipeline = build_pipeline()
    pipeline.steps.insert(
        0, ("noop", FunctionTransformer(inverse_func=free_port, check_inverse=False))
    )
    folder = write_model_folder(tmp_path / "model", pipeline)

    result = infra_validate(folder, sample_rows, model_name=MODEL_NAME)

    assert not result.blessed
    assert "names mlops_suite.serving.server_process.free_port" in result.reason
    assert str(folder / MODEL_FILE) in result.reason


def test_model_holding_a_numpy_function_is_not_blessed(
    tmp_path: Path,
    write_model_folder: FolderWriter,
    build_pipeline: Callable[..., Pipeline],
    sample_rows: pd.DataFrame,
):
    # Loads and answers everywhere, but current KServe refuses numpy.asarray.
    import numpy as np

    pipeline = build_pipeline()
    pipeline.steps.insert(0, ("to_array", FunctionTransformer(np.asarray)))
    folder = write_model_folder(tmp_path / "model", pipeline)

    result = infra_validate(folder, sample_rows, model_name=MODEL_NAME)

    assert not result.blessed
    assert f"{folder / MODEL_FILE} names numpy.asarray" in result.reason
    assert _check(result, "unpickle_rule")["passed"] is False


def test_sample_without_a_feature_column_is_refused(
    good_model_dir: Path, sample_rows: pd.DataFrame
):
    with pytest.raises(DataError, match="lacks 1 feature column.*: sex"):
        infra_validate(good_model_dir, sample_rows.drop(columns="sex"), model_name="m")


def test_v2_pd_decoding_turns_nulls_into_what_the_model_imputes():
    # The V2 requests rely on this decoding (kserve 0.21, documented in the module).
    request = InferRequest(
        MODEL_NAME,
        [
            InferInput("mass", [3], "FP64", [3750.0, None, 2007.0]),
            InferInput("member", [3], "BOOL", [True, None, False]),
            InferInput("island", [3], "BYTES", ["Dream", None, "Biscoe"]),
            InferInput("year", [3], "FP64", [2007.0, 2008.0, 2009.0]),
            InferInput("whole", [3], "FP64", [2007, 2008, 2009]),
        ],
        parameters={"content_type": "pd"},
    )

    frame = get_predict_input(request)

    assert frame.dtypes.astype(str).to_dict() == {
        "mass": "float64",
        "member": "object",
        "island": "object",
        "year": "float64",
        "whole": "int64",
    }
    assert pd.isna(frame.loc[1, "mass"])
    assert frame.loc[1, "member"] is None and frame.loc[1, "island"] is None
