"""The model card: built from a version's metadata alone, caveats derived from it."""

from __future__ import annotations

import copy
import re
from typing import Any

import pytest

from mlops_suite.model_card import (
    HIGH_MISSING_RATE,
    MIN_SUPPORT,
    TOP_FEATURES,
    build_model_card,
)

SECTIONS = [
    "Model details",
    "Intended use",
    "Training data",
    "Evaluation",
    "Explanation",
    "Approval",
    "Limitations and caveats",
]


def _metadata() -> dict[str, Any]:
    """A registered version's metadata.json, as register_approved writes it."""
    return {
        "version": 4,
        "task": "classification",
        "label": "species",
        "classes": ["Adelie", "Chinstrap", "Gentoo"],
        "estimator": "random_forest",
        "hyperparameters": {"n_estimators": 200, "max_depth": None},
        "sklearn_version": "1.5.2",
        "model_sha256": "ab" * 32,
        "features": [
            {"name": "island", "type": "categorical"},
            {"name": "bill_length_mm", "type": "numeric"},
            {"name": "sex", "type": "categorical"},
        ],
        "statistics": {
            "num_rows": 344,
            "columns": [
                {
                    "name": "island",
                    "type": "categorical",
                    "missing": 0,
                    "missing_fraction": 0.0,
                },
                {
                    "name": "bill_length_mm",
                    "type": "numeric",
                    "missing": 2,
                    "missing_fraction": 2 / 344,
                },
                {
                    "name": "sex",
                    "type": "categorical",
                    "missing": 100,
                    "missing_fraction": 100 / 344,
                },
                {
                    "name": "species",
                    "type": "categorical",
                    "missing": 0,
                    "missing_fraction": 0.0,
                    "frequencies": {"Adelie": 152, "Gentoo": 124, "Chinstrap": 68},
                },
            ],
        },
        "explanation": {
            "method": "permutation_importance",
            "metric": "roc_auc",
            "n_repeats": 5,
            "n_rows": 69,
            "permutation_importance": {
                "island": {"mean": 0.05, "std": 0.01},
                "bill_length_mm": {"mean": 0.2, "std": 0.03},
                "sex": {"mean": 0.0001, "std": 0.0002},
            },
        },
        "lineage": {
            "data_sha256": "cd" * 32,
            "schema_sha256": "ef" * 32,
            "metrics": {"accuracy": 0.97, "roc_auc": 0.99},
            "approval_reason": "Approved: roc_auc 0.990 meets the minimum 0.95.",
            "approval_checks": [
                {
                    "name": "min_roc_auc",
                    "metric": "roc_auc",
                    "value": 0.99,
                    "bound": 0.95,
                    "passed": True,
                },
                {
                    "name": "max_regression_vs_champion",
                    "metric": "roc_auc",
                    "value": 0.99,
                    "bound": 0.97,
                    "passed": True,
                },
            ],
            "compared_with_version": 3,
            "component_image": "ghcr.io/kfp-mlops-suite/components:0.1.0",
            "git_commit": "0123456789abcdef0123456789abcdef01234567",
            "pipeline_run_id": "run-42",
            "package_version": "0.1.0",
            "registered_at": "2025-01-02T03:04:05+00:00",
            "intended_use": "Sort penguins photographed on the Palmer islands.",
            "library_versions": {"python": "3.11.7", "numpy": "2.1.0"},
            "tuning_trials": [
                {
                    "rank": 1,
                    "params": {"n_estimators": 200},
                    "metric": "roc_auc",
                    "score": 0.995,
                    "selected": True,
                },
                {
                    "rank": 2,
                    "params": {"n_estimators": 50},
                    "metric": "roc_auc",
                    "score": 0.99,
                    "selected": False,
                },
            ],
            "evaluation": {
                "n_rows": 69,
                "primary_metric": "roc_auc",
                "slice_column": "island",
                "slices": {
                    "Biscoe": {"n_rows": 34, "accuracy": 0.99, "roc_auc": 0.999},
                    "Dream": {"n_rows": 25, "accuracy": 0.92, "roc_auc": 0.93},
                    "Torgersen": {"n_rows": 10, "accuracy": 1.0, "roc_auc": None},
                },
                "class_support": {"Adelie": 30, "Chinstrap": 14, "Gentoo": 25},
            },
        },
    }


def _section(card: str, title: str) -> str:
    return card.split(f"## {title}\n", 1)[1].split("\n## ", 1)[0]


def test_the_card_has_the_model_card_toolkit_sections_in_order() -> None:
    card = build_model_card(_metadata(), model_name="penguins")

    assert card.startswith("# Model card: penguins v4\n")
    headings = re.findall(r"^## (.+)$", card, flags=re.MULTILINE)
    assert headings == SECTIONS


def test_details_name_the_estimator_parameters_libraries_image_and_commit() -> None:
    details = _section(build_model_card(_metadata()), "Model details")

    assert "`random_forest`" in details
    assert '`{"max_depth": null, "n_estimators": 200}`' in details
    assert "scikit-learn 1.5.2" in details and "numpy 2.1.0" in details
    assert "kfp-mlops-suite 0.1.0" in details
    assert "`ghcr.io/kfp-mlops-suite/components:0.1.0`" in details
    assert "`0123456789abcdef0123456789abcdef01234567`" in details
    assert "chosen from 2 trials on the validation split (roc_auc 0.9950)" in details


def test_intended_use_is_quoted_or_its_absence_said() -> None:
    given = _section(build_model_card(_metadata()), "Intended use")
    metadata = _metadata()
    metadata["lineage"]["intended_use"] = None
    missing = _section(build_model_card(metadata), "Intended use")

    assert given.strip() == "Sort penguins photographed on the Palmer islands."
    assert "No intended use was given" in missing and "--intended-use" in missing


def test_training_data_shows_hash_rows_missing_values_and_class_balance() -> None:
    data = _section(build_model_card(_metadata()), "Training data")

    assert f"`{'cd' * 32}`" in data
    assert "**Rows:** 344" in data and "**Columns:** 4" in data
    assert "| sex | 100 | 29.1% |" in data
    assert "| bill_length_mm | 2 | 0.6% |" in data
    assert "| Adelie | 152 | 44.2% |" in data
    assert "| Chinstrap | 68 | 19.8% |" in data


def test_evaluation_shows_metrics_overall_and_per_slice_with_sizes() -> None:
    evaluation = _section(build_model_card(_metadata()), "Evaluation")

    assert "On 69 held-out test rows; primary metric `roc_auc`." in evaluation
    assert "| overall | 0.9700 | 0.9900 |" in evaluation
    assert "| Dream | 25 | 0.9200 | 0.9300 |" in evaluation
    assert "| Torgersen | 10 | 1.0000 | n/a |" in evaluation


def test_explanation_lists_the_top_features_most_important_first() -> None:
    explanation = _section(build_model_card(_metadata()), "Explanation")
    rows = re.findall(r"^\| (\d+) \| (\w+) \|", explanation, flags=re.MULTILINE)

    assert rows == [("1", "bill_length_mm"), ("2", "island"), ("3", "sex")]
    assert "drop of `roc_auc`" in explanation

    metadata = _metadata()
    metadata["explanation"]["permutation_importance"] = {
        f"f{i:02d}": {"mean": i / 100, "std": 0.0} for i in range(TOP_FEATURES + 2)
    }
    many = _section(build_model_card(metadata), "Explanation")
    assert f"Top {TOP_FEATURES} of {TOP_FEATURES + 2}" in many
    assert "| 1 | f11 |" in many and "f00" not in many and "f01" not in many


def test_approval_says_how_by_whom_why_and_against_which_champion() -> None:
    approval = _section(build_model_card(_metadata()), "Approval")

    assert "automatically, by the approval gate of run `run-42`" in approval
    assert "Approved: roc_auc 0.990 meets the minimum 0.95." in approval
    assert "champion v3, re-scored on the same test split" in approval
    assert "| min_roc_auc | roc_auc | 0.9900 | 0.9500 | yes |" in approval

    by_hand = _metadata()
    by_hand["lineage"].update(approval_mode="manual", compared_with_version=None)
    pending = _section(build_model_card(by_hand), "Approval")
    assert "**Status:** pending" in pending and "waiting for a person" in pending

    decision = {"status": "approved", "by": "alice", "reason": "Slices look fair."}
    decided = build_model_card(by_hand, decision={**decision, "time": "2026-11-30"})
    approval = _section(decided, "Approval")
    assert "**Status:** approved" in approval
    assert (
        "**How:** approved by alice on 2026-11-30, after the approval gate" in approval
    )
    assert "**Why:** Slices look fair." in approval
    assert "**The gate:** Approved: roc_auc 0.990 meets the minimum 0.95." in approval
    assert "no champion; the thresholds alone decided" in approval


def test_caveats_are_derived_from_the_data() -> None:
    caveats = _section(build_model_card(_metadata()), "Limitations and caveats")
    lines = [line for line in caveats.splitlines() if line.startswith("- ")]

    assert lines == [
        f"- Class `Chinstrap` has only 14 held-out rows (< {MIN_SUPPORT}): its "
        "metrics are uncertain.",
        f"- Class `Gentoo` has only 25 held-out rows (< {MIN_SUPPORT}): its "
        "metrics are uncertain.",
        f"- Slice `island` = `Dream` has only 25 held-out rows (< {MIN_SUPPORT}): "
        "its metrics are uncertain.",
        f"- Slice `island` = `Torgersen` has only 10 held-out rows (< {MIN_SUPPORT}):"
        " its metrics are uncertain.",
        "- Slice `island` = `Dream`: roc_auc 0.9300 is below the minimum 0.9500 "
        "the whole test split had to meet.",
        "- Feature `sex` is missing in 29.1% of the training rows; predictions lean "
        "on how the model fills it in.",
    ]


def test_a_version_with_nothing_to_warn_about_says_so() -> None:
    metadata = _metadata()
    evaluation = metadata["lineage"]["evaluation"]
    evaluation["class_support"] = dict.fromkeys(metadata["classes"], MIN_SUPPORT)
    evaluation["slices"] = {
        "Biscoe": {"n_rows": MIN_SUPPORT, "roc_auc": 0.99},
    }
    metadata["statistics"]["columns"][2]["missing_fraction"] = HIGH_MISSING_RATE

    caveats = _section(build_model_card(metadata), "Limitations and caveats")

    assert caveats.strip().startswith("None found in the recorded data")


@pytest.mark.parametrize("drop", ["lineage", "statistics", "explanation", "features"])
def test_missing_parts_of_the_metadata_are_shown_as_not_recorded(drop: str) -> None:
    metadata = copy.deepcopy(_metadata())
    del metadata[drop]

    card = build_model_card(metadata)

    assert re.findall(r"^## (.+)$", card, flags=re.MULTILINE) == SECTIONS


def test_a_bare_version_still_gets_a_card() -> None:
    card = build_model_card({"version": 1, "lineage": {}}, model_name="demo")

    assert card.startswith("# Model card: demo v1\n")
    assert "**Estimator:** `not recorded`" not in card
    assert "**Estimator:** not recorded" in card
    assert "No metrics were recorded." in card
    assert "No explanation was recorded for this version." in card


def test_table_cells_cannot_break_the_table() -> None:
    metadata = _metadata()
    metadata["lineage"]["evaluation"]["slices"] = {
        "a|b": {"n_rows": 40, "accuracy": 1.0, "roc_auc": 1.0}
    }
    evaluation = _section(build_model_card(metadata), "Evaluation")
    assert "| a\\|b | 40 |" in evaluation
