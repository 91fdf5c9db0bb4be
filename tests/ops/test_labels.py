"""Google Cloud labels: sanitizing, the suite-version label, the label rules."""

from __future__ import annotations

import pytest

from mlops_suite.ops.labels import (
    merge_labels,
    sanitize_label_key,
    sanitize_label_value,
    validate_labels,
)
from mlops_suite.ops.submission import SubmitError


def test_label_values_are_sanitized_to_google_rules():
    assert sanitize_label_value("0.1.0") == "0-1-0"
    assert sanitize_label_value("Run_42.A") == "run_42-a"
    assert sanitize_label_value("x" * 80) == "x" * 63
    assert sanitize_label_key("2nd Stage") == "k-2nd-stage"


def test_suite_label_is_added_and_user_labels_checked():
    merged = merge_labels({"team": "ml", "cost-center": ""})
    assert merged == {"team": "ml", "cost-center": "", "kfp-mlops-suite": "0-1-0"}
    too_many = {f"k{i}": "v" for i in range(64)}
    with pytest.raises(SubmitError, match="has 65 labels; Google Cloud allows at most"):
        merge_labels(too_many)
    with pytest.raises(SubmitError, match="Label key '-x' on the pipeline job"):
        merge_labels({"-x": "v"})


def test_reserved_keys_and_bad_values_are_refused_with_a_suggestion():
    with pytest.raises(SubmitError, match="reserved by Vertex AI Pipelines"):
        validate_labels({"vertex-ai-pipelines-run-billing-id": "x"}, resource="model")
    with pytest.raises(
        SubmitError, match=r"Label team='ML Ops' on the model .*'ml-ops'"
    ):
        validate_labels({"team": "ML Ops"}, resource="model")
