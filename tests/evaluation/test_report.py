"""The HTML evaluation report: self-contained, with figures and the metric values."""

from __future__ import annotations

import base64
import re

import pandas as pd

from mlops_suite.evaluation.importance import explain
from mlops_suite.evaluation.metrics import evaluate
from mlops_suite.evaluation.report import render_evaluation_html
from mlops_suite.explanation import ranked_importance
from mlops_suite.training.train import TrainedModel

_IMG = re.compile(r'<img src="data:image/png;base64,([A-Za-z0-9+/=]+)" alt="([^"]*)">')


def _images(page: str) -> dict[str, bytes]:
    return {alt: base64.b64decode(data) for data, alt in _IMG.findall(page)}


def test_classification_report_shows_figures_and_metrics(
    species_model: TrainedModel, penguin_splits: tuple[pd.DataFrame, pd.DataFrame]
) -> None:
    _, test = penguin_splits
    result = evaluate(
        species_model.pipeline, species_model.metadata, test, slice_column="island"
    )
    page = render_evaluation_html(result, title="Penguins <species>")
    images = _images(page)
    assert set(images) == {"confusion matrix", "ROC curve", "metrics by island"}
    assert all(png.startswith(b"\x89PNG\r\n\x1a\n") for png in images.values())
    for name in ("accuracy", "f1_macro", "roc_auc", "log_loss"):
        assert f"{result.metrics[name]:.4f}" in page
    for island, metrics in result.slices.items():
        assert f"<td>{island}</td><td>{metrics['n_rows']}</td>" in page
    assert "<title>Penguins &lt;species&gt;</title>" in page
    assert "http" not in page  # nothing to fetch: opens offline


def test_regression_report_plots_predictions_and_residuals(
    mass_model: TrainedModel, mass_splits: tuple[pd.DataFrame, pd.DataFrame]
) -> None:
    _, test = mass_splits
    result = evaluate(
        mass_model.pipeline, mass_model.metadata, test, slice_column="sex"
    )
    page = render_evaluation_html(result.to_dict(), title="Body mass")
    assert set(_images(page)) == {
        "predicted vs actual",
        "residual histogram",
        "metrics by sex",
    }
    for name in ("rmse", "mae", "r2"):
        assert f"{result.metrics[name]:.4f}" in page
    assert "rmse</b> (lower is better)" in page


def test_report_without_slices_or_roc_curve(
    species_model: TrainedModel, penguin_splits: tuple[pd.DataFrame, pd.DataFrame]
) -> None:
    _, test = penguin_splits
    gentoo = test[test["species"] == "Gentoo"]
    result = evaluate(species_model.pipeline, species_model.metadata, gentoo)
    page = render_evaluation_html(result, title="Gentoo only")
    assert set(_images(page)) == {"confusion matrix", "ROC curve"}
    assert "n/a" in page  # ROC AUC is undefined with one class present


def test_report_plots_permutation_importance_when_explained(
    species_model: TrainedModel, penguin_splits: tuple[pd.DataFrame, pd.DataFrame]
) -> None:
    _, test = penguin_splits
    result = evaluate(species_model.pipeline, species_model.metadata, test)
    plain = render_evaluation_html(result, title="Penguins")
    result.explanation = explain(
        species_model.pipeline, species_model.metadata, test, n_repeats=2
    )

    page = render_evaluation_html(result.to_dict(), title="Penguins")

    assert "permutation importance" not in _images(plain)
    assert "permutation importance" in _images(page)
    assert "What the model relies on" in page and "drop of <b>roc_auc</b>" in page
    ranking = ranked_importance(result.explanation)
    section = page.split("What the model relies on", 1)[1]
    rows = re.findall(r"<tr><td>([a-z_]+)</td><td>(-?[0-9.]+)</td>", section)
    # The table lists every original column, most important first.
    assert [name for name, _ in rows] == [name for name, _, _ in ranking]
    assert rows[0][1] == f"{ranking[0][1]:.4f}"
