"""Render a drift report as one self-contained HTML page.

Drifted features come first, then the others by how close they are to their
threshold, so the page answers "what moved, and by how much" at a glance. When the
model version records what it relies on (permutation importance), each feature's
importance stands next to its drift score and the drifted features are listed by
importance: drift in a feature the model leans on matters most. Each
feature has its reference and current distributions side by side (shares, so tables
of different sizes compare) with its score against its threshold, drawn as inline
SVG (:mod:`.drift_figures`), so the page opens from a KFP HTML artifact without
fetching anything, and renders in milliseconds.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from typing import Any

from mlops_suite.monitoring.drift_figures import feature_svg
from mlops_suite.monitoring.drift_report import DriftReport, FeatureDrift

_CSS = """
body{font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:2rem;
color:#1f2933;max-width:1100px}
h1{margin-bottom:.2rem}.sub{color:#616e7c;margin-top:0}
.status{font-weight:600}.drift{color:#c62828}.ok{color:#2e7d32}
table{border-collapse:collapse;margin:.5rem 0 1.5rem}
td,th{border:1px solid #d9e2ec;padding:.3rem .7rem;text-align:right}
th{background:#f5f7fa}td:first-child,th:first-child{text-align:left}
tr.drifted td{background:#fdecea}
.feature{margin:1.5rem 0}.feature h3{margin-bottom:.3rem}svg{max-width:100%;height:auto}
"""


def render_drift_html(
    report: DriftReport | Mapping[str, Any],
    *,
    title: str = "Data drift",
    preface: Sequence[str] = (),
) -> str:
    """Render a drift report as a self-contained HTML page.

    The page has a summary (rows compared, drifted features), a table of every
    feature (score, threshold, importance when known, missing rates, unseen share,
    verdict) and one figure per feature overlaying the reference and current
    distributions, drifted features first (the most important first, when the
    report has importance). The prediction column, when compared, has its own
    section at the top.

    Args:
        report: A :class:`DriftReport` or its :meth:`~DriftReport.to_dict` output.
        title: The page heading.
        preface: HTML fragments shown before the drift summary (the retraining
            decision puts its verdict and performance there).

    Returns:
        The HTML document.
    """
    result = (
        report if isinstance(report, DriftReport) else DriftReport.from_dict(report)
    )
    importance = result.importance or {}
    ordered = sorted(result.features.values(), key=lambda f: _rank(f, importance))
    drifted = result.drifted_by_importance
    verdict = (
        f'<span class="status drift">{len(drifted)} of {len(result.features)} '
        f"features drifted</span>"
        if drifted
        else f'<span class="status ok">no drift in {len(result.features)} '
        "features</span>"
    )
    listed = ", ".join(
        f"{name} (importance {importance[name]:.3g})" if name in importance else name
        for name in drifted
    )
    parts = [
        "<!DOCTYPE html>",
        '<html><head><meta charset="utf-8">',
        f"<title>{html.escape(title)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
        f'<p class="sub">reference: {html.escape(result.reference)} '
        f"({result.rows_reference:,} rows) · current: {html.escape(result.current)} "
        f"({result.rows_current:,} rows)</p>",
        *preface,
        f"<p>{verdict}" + (f": {html.escape(listed)}" if drifted else "") + "</p>",
    ]
    if result.ignored:
        parts.append(
            f'<p class="sub">not compared (ignore_features): '
            f"{html.escape(', '.join(result.ignored))}</p>"
        )
    if result.prediction is not None:
        parts += ["<h2>Prediction</h2>", _table([result.prediction], None)]
        parts.append(_section(result.prediction))
    parts += ["<h2>Features</h2>", _table(ordered, result.importance)]
    parts += [_section(feature) for feature in ordered]
    parts.append("</body></html>")
    return "\n".join(parts)


def _rank(
    feature: FeatureDrift, importance: Mapping[str, float]
) -> tuple[bool, float, float, str]:
    closeness = (
        feature.score / feature.threshold if feature.threshold else feature.score
    )
    weight = importance.get(feature.name, 0.0) if feature.drifted else 0.0
    return (not feature.drifted, -weight, -closeness, feature.name)


def _fmt(value: float | None, digits: int = 3) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def _table(features: list[FeatureDrift], importance: Mapping[str, float] | None) -> str:
    weight = "<th>importance</th>" if importance else ""
    head = (
        "<tr><th>feature</th><th>type</th><th>metric</th><th>score</th>"
        f"<th>threshold</th>{weight}<th>missing ref → cur</th><th>unseen share</th>"
        "<th>values ref / cur</th><th>verdict</th></tr>"
    )
    rows = []
    for feature in features:
        verdict = (
            f'<span class="drift">drifted ({", ".join(feature.reasons)})</span>'
            if feature.drifted
            else '<span class="ok">ok</span>'
        )
        rows.append(
            f'<tr class="{"drifted" if feature.drifted else ""}">'
            f"<td>{html.escape(feature.name)}</td><td>{feature.type}</td>"
            f"<td>{feature.metric}</td><td>{_fmt(feature.score)}</td>"
            f"<td>{_fmt(feature.threshold)}</td>"
            + (
                f"<td>{_fmt(importance.get(feature.name), 4)}</td>"
                if importance
                else ""
            )
            + f"<td>{feature.missing_rate_reference:.1%} → "
            f"{feature.missing_rate_current:.1%}</td>"
            f"<td>{_fmt(feature.unseen_share)}</td>"
            f"<td>{feature.values_reference:,} / {feature.values_current:,}</td>"
            f"<td>{verdict}</td></tr>"
        )
    return f"<table>{head}{''.join(rows)}</table>"


def _section(feature: FeatureDrift) -> str:
    return (
        f'<div class="feature" id="{html.escape(feature.name)}">'
        f"<h3>{html.escape(feature.name)}</h3>{feature_svg(feature)}</div>"
    )
