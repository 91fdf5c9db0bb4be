"""The HTML drift report: every feature drawn, drifted ones first, nothing fetched."""

from __future__ import annotations

import re
from dataclasses import replace
from xml.etree import ElementTree

import pytest

from mlops_suite.monitoring import detect_drift, render_drift_html
from mlops_suite.monitoring.drift_report import DriftReport


@pytest.fixture(scope="module")
def report(table):
    reference = table(3_000, seed=1, prediction=True)
    current = table(3_000, seed=2, drift=True, prediction=True)
    current.loc[:400, "city"] = "Cannes"
    return detect_drift(reference, current)


def _sections(page: str) -> list[str]:
    return re.findall(r'<div class="feature" id="([^"]+)">', page)


def test_every_feature_has_an_inline_figure(report):
    page = render_drift_html(report)

    figures = re.findall(r"<svg [^>]*aria-label='distributions of ([^']+)'", page)
    assert sorted(figures) == sorted([*report.features, "prediction"])
    for figure in re.findall(r"<svg .*?</svg>", page):
        ElementTree.fromstring(figure)  # well-formed, so every browser draws it
    # Nothing is fetched: the only URL is the SVG namespace.
    assert "http" not in page.replace("http://www.w3.org/2000/svg", "")


def test_a_figure_draws_both_distributions_and_the_values_out_of_range(report):
    income = report.features["income"]
    page = render_drift_html(report)
    figure = re.search(
        r"<svg [^>]*aria-label='distributions of income'.*?</svg>", page
    ).group(0)

    bins = len(income.edges) - 1
    tips = re.findall(r"<title>([^<]+)</title>", figure)
    assert len([tip for tip in tips if " to " in tip]) == 2 * bins
    assert f"{income.metric} {income.score:.3f}" in figure
    # Shifted up, some current incomes lie beyond the reference's maximum.
    above = income.current_counts[-1] / sum(income.current_counts)
    assert above > 0
    assert f"current above max: {above:.1%}" in tips


def test_drifted_features_come_first_with_score_and_threshold(report):
    page = render_drift_html(report, title="Drift of penguins v3")

    order = _sections(page)
    assert order[0] == "prediction"
    features = order[1:]
    drifted = report.drifted_features
    assert sorted(features[: len(drifted)]) == sorted(drifted)
    assert "Drift of penguins v3" in page
    income = report.features["income"]
    assert f"<td>{income.score:.3f}</td><td>{income.threshold:.3f}</td>" in page
    assert "drifted (distance)" in page
    assert "unseen_share" in page
    assert "<th>importance</th>" not in page  # the report has none


def test_a_saved_report_renders_the_same(report):
    assert render_drift_html(report.to_dict()) == render_drift_html(report)


def test_names_are_escaped(table):
    frame = table(1_000, seed=1).rename(columns={"city": "<b>city</b>"})

    page = render_drift_html(detect_drift(frame, frame))

    assert "<b>city</b>" not in page
    assert "&lt;b&gt;city&lt;/b&gt;" in page
    assert "no drift in 7 features" in page


def test_importance_stands_next_to_the_score_and_orders_the_drifted(report):
    # The model leans on color far more than on income: color's drift leads.
    weighted = replace(report, importance={"color": 0.30, "income": 0.01, "city": 0.2})

    page = render_drift_html(weighted)

    assert "<th>importance</th>" in page
    assert report.drifted_features == ["income", "color", "city"]
    assert weighted.drifted_by_importance == ["color", "city", "income"]
    assert (
        "3 of 7 features drifted</span>: color (importance 0.3), city (importance "
        "0.2), income (importance 0.01)" in page
    )
    assert _sections(page)[1:4] == ["color", "city", "income"]
    color = report.features["color"]
    assert (
        f"<td>{color.score:.3f}</td><td>{color.threshold:.3f}</td><td>0.3000</td>"
        in page
    )
    wait = report.features["wait"]
    assert f"<td>{wait.threshold:.3f}</td><td>n/a</td>" in page  # not explained
    assert DriftReport.from_dict(weighted.to_dict()) == weighted
