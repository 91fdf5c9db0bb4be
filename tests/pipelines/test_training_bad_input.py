"""Tier 4: bad input stops ``mlops run training`` with one clear sentence and no change.

Every case runs the real pipeline locally; each must exit 1, print one sentence on
stderr that names what is wrong (the file or the column), show no traceback, leave
the registry untouched, and tell the run's webhook which step failed and why.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from webhook_receiver import WebhookReceiver

from mlops_suite.cli import main
from mlops_suite.data.schema import infer_schema

pytestmark = pytest.mark.slow


def _penguins(penguins: pd.DataFrame) -> pd.DataFrame:
    return penguins.copy()


def _write_csv(frame: pd.DataFrame, path: Path) -> Path:
    frame.to_csv(path, index=False)
    return path


def case_missing_file(tmp: Path, penguins: pd.DataFrame) -> tuple[Path, list[str]]:
    return tmp / "nowhere" / "penguins.csv", []


def case_binary_file(tmp: Path, penguins: pd.DataFrame) -> tuple[Path, list[str]]:
    path = tmp / "penguins.csv"
    path.write_bytes(
        bytes(np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8))
    )
    return path, []


def case_empty_file(tmp: Path, penguins: pd.DataFrame) -> tuple[Path, list[str]]:
    path = tmp / "penguins.csv"
    path.write_bytes(b"")
    return path, []


def case_header_only(tmp: Path, penguins: pd.DataFrame) -> tuple[Path, list[str]]:
    path = tmp / "penguins.csv"
    path.write_text(",".join(penguins.columns) + "\n")
    return path, []


def case_missing_label(tmp: Path, penguins: pd.DataFrame) -> tuple[Path, list[str]]:
    return _write_csv(penguins.drop(columns=["species"]), tmp / "penguins.csv"), []


def case_one_class(tmp: Path, penguins: pd.DataFrame) -> tuple[Path, list[str]]:
    frame = penguins.assign(species="Adelie")
    return _write_csv(frame, tmp / "penguins.csv"), []


def case_label_nan(tmp: Path, penguins: pd.DataFrame) -> tuple[Path, list[str]]:
    frame = penguins.copy()
    frame.loc[[0, 10, 20], "species"] = np.nan
    return _write_csv(frame, tmp / "penguins.csv"), []


def case_all_nan_feature(tmp: Path, penguins: pd.DataFrame) -> tuple[Path, list[str]]:
    frame = penguins.assign(tag_id=np.nan)
    return _write_csv(frame, tmp / "penguins.csv"), []


def _curated_schema(tmp: Path, penguins: pd.DataFrame) -> list[str]:
    schema = tmp / "schema.json"
    schema.write_text(json.dumps(infer_schema(penguins)))
    return ["--schema", str(schema)]


def case_type_changed(tmp: Path, penguins: pd.DataFrame) -> tuple[Path, list[str]]:
    frame = penguins.copy()
    frame["bill_length_mm"] = np.where(frame["bill_length_mm"] > 44, "long", "short")
    return _write_csv(frame, tmp / "penguins.csv"), _curated_schema(tmp, penguins)


def case_text_in_numeric(tmp: Path, penguins: pd.DataFrame) -> tuple[Path, list[str]]:
    frame = penguins.astype({"bill_length_mm": object})
    frame.loc[[1, 2, 3], "bill_length_mm"] = "abc"
    return _write_csv(frame, tmp / "penguins.csv"), []


def case_unseen_categories(tmp: Path, penguins: pd.DataFrame) -> tuple[Path, list[str]]:
    frame = penguins.copy()
    frame.loc[frame.index[::3], "island"] = "Atlantis"
    return _write_csv(frame, tmp / "penguins.csv"), _curated_schema(tmp, penguins)


CASES: dict[str, tuple[Callable[[Path, pd.DataFrame], tuple[Path, list[str]]], str]] = {
    "missing file": (case_missing_file, "penguins.csv"),
    "binary file": (case_binary_file, "penguins.csv"),
    "empty file": (case_empty_file, "penguins.csv"),
    "header only": (case_header_only, "penguins.csv"),
    "missing label column": (case_missing_label, "species"),
    "label with one class": (case_one_class, "species"),
    "label with NaNs": (case_label_nan, "species"),
    "all-NaN feature": (case_all_nan_feature, "tag_id"),
    "type changed against the schema": (case_type_changed, "bill_length_mm"),
    "non-numeric text in a numeric column": (case_text_in_numeric, "bill_length_mm"),
    "unseen categories beyond tolerance": (case_unseen_categories, "island"),
}


STEPS = {"ingest-data", "profile-data", "validate-data", "split-data", "train-model"}


@pytest.mark.parametrize("case", list(CASES), ids=list(CASES))
def test_bad_input_stops_with_one_sentence_and_registers_nothing(
    case: str,
    tmp_path: Path,
    penguins: pd.DataFrame,
    capsys: pytest.CaptureFixture[str],
    webhook: WebhookReceiver,
) -> None:
    make, named = CASES[case]
    data, extra = make(tmp_path, penguins.copy())
    registry = tmp_path / "registry"
    code = main(
        [
            "run",
            "training",
            "--data",
            str(data),
            "--label",
            "species",
            "--model-name",
            "penguins",
            "--registry",
            str(registry),
            "--pipeline-root",
            str(tmp_path / "root"),
            "--notify-url",
            webhook.url,
            *extra,
        ]
    )
    err = capsys.readouterr().err.strip()
    assert code == 1
    assert err.startswith("mlops: error: "), err
    assert len(err.splitlines()) == 1, err
    assert "Traceback" not in err
    assert named in err, err
    assert not (registry / "penguins").exists()
    # The webhook hears of the failure: the step that stopped the run, and why.
    (message,) = webhook.messages
    assert (message["status"], message["decision"]) == ("failed", "none")
    assert message["failed_step"] in STEPS, message
    assert message["reason"] == err.removeprefix("mlops: error: ")
    assert f"failed at step {message['failed_step']}." in message["text"]
