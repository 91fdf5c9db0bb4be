"""Render a drift report as one self-contained HTML page.

Drifted features come first, then the others by how close they are to their
threshold, so the page answers "what moved, and by how much" at a glance. When the
model version records what it relies on (permutation importance), each feature's
importance stands next to its drift score and the drifted features are listed by
importance: drift in a feature the model leans on matters most. Each
feature has its reference and current distributions overlaid (shares, so tables of
different sizes compare) with its score against its threshold. Figures are drawn on
matplotlib's Agg canvas (no display, no pyplot global state) and embedded as base64
PNG, so the page opens from a KFP HTML artifact without fetching anything.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from mlops_suite.artifacts import NUMERIC
from mlops_suite.data.statistics import OTHER
from mlops_suite.figures import img_tag
from mlops_suite.monitoring.drift_report import DriftReport, FeatureDrift
from mlops_suite.monitoring.profile import UNTRACKED

# Categorical values drawn per feature: the ones whose share is largest on either side.
TOP_CATEGORIES = 15
_REFERENCE_COLOR = "#9aa5b1"
_CURRENT_COLOR = "#2680c2"
_DRIFT_COLOR = "#c62828"

_CSS = """
body{font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:2rem;
color:#1f2933;max-width:1100px}
h1{margin-bottom:.2rem}.sub{color:#616e7c;margin-top:0}
.status{font-weight:600}.drift{color:#c62828}.ok{color:#2e7d32}
table{border-collapse:collapse;margin:.5rem 0 1.5rem}
td,th{border:1px solid #d9e2ec;padding:.3rem .7rem;text-align:right}
th{background:#f5f7fa}td:first-child,th:first-child{text-align:left}
tr.drifted td{background:#fdecea}
.feature{margin:1.5rem 0}.feature h3{margin-bottom:.3rem}img{max-width:100%}
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
    figure = (
        _numeric_figure(feature)
        if feature.type == NUMERIC
        else _category_figure(feature)
    )
    return (
        f'<div class="feature" id="{html.escape(feature.name)}">'
        f"<h3>{html.escape(feature.name)}</h3>{_img(figure, feature.name)}</div>"
    )


def _img(fig: Figure, alt: str) -> str:
    return img_tag(fig, alt, dpi=90)


def _title(feature: FeatureDrift) -> tuple[str, str]:
    relation = ">" if feature.score > feature.threshold else "≤"
    text = (
        f"{feature.name}: {feature.metric} {feature.score:.3f} {relation} threshold "
        f"{feature.threshold:.3f}"
    )
    if feature.drifted:
        text += f" — DRIFTED ({', '.join(feature.reasons)})"
    return text, _DRIFT_COLOR if feature.drifted else "#1f2933"


def _shares(counts: tuple[int, ...]) -> np.ndarray:
    values = np.asarray(counts, dtype=np.float64)
    total = values.sum()
    return values / total if total > 0 else values


def _empty(ax: Any, message: str) -> None:
    ax.text(0.5, 0.5, message, ha="center", va="center", transform=ax.transAxes)
    ax.set_xticks([])
    ax.set_yticks([])


def _numeric_figure(feature: FeatureDrift) -> Figure:
    fig = Figure(figsize=(7.5, 3.2))
    ax = fig.add_subplot()
    text, color = _title(feature)
    ax.set_title(text, color=color, fontsize=10)
    edges = np.asarray(feature.edges or (), dtype=np.float64)
    reference = _shares(feature.reference_counts)
    current = _shares(feature.current_counts)
    if edges.size < 2 or not reference.size:
        _empty(ax, "no reference values to bin")
        return fig
    width = float(edges[1] - edges[0])
    if width <= 0:
        # A constant reference: below, at, and above its single value.
        labels = [f"< {edges[0]:.4g}", f"= {edges[0]:.4g}", f"> {edges[0]:.4g}"]
        slots = np.arange(3)
        pick = [0, len(reference) - 2, len(reference) - 1]
        ax.bar(
            slots - 0.2, reference[pick], 0.4, color=_REFERENCE_COLOR, label="reference"
        )
        ax.bar(slots + 0.2, current[pick], 0.4, color=_CURRENT_COLOR, label="current")
        ax.set_xticks(slots, labels)
    else:
        centers = (edges[:-1] + edges[1:]) / 2
        ax.bar(
            centers,
            reference[1:-1],
            width,
            color=_REFERENCE_COLOR,
            alpha=0.7,
            label="reference",
        )
        ax.bar(
            centers,
            current[1:-1],
            width,
            color=_CURRENT_COLOR,
            alpha=0.45,
            edgecolor=_CURRENT_COLOR,
            label="current",
        )
        # Values outside the reference range: drawn one bin beyond each end.
        for share, where, side in (
            (current[0], edges[0] - width / 2, "below min"),
            (current[-1], edges[-1] + width / 2, "above max"),
        ):
            if share > 0:
                ax.bar(
                    where,
                    share,
                    width,
                    color="none",
                    edgecolor=_DRIFT_COLOR,
                    hatch="//",
                    label=f"current {side}",
                )
        ax.axvline(edges[0], color="#616e7c", lw=0.8, ls=":")
        ax.axvline(edges[-1], color="#616e7c", lw=0.8, ls=":")
    ax.set_ylabel("share of values")
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    ax.grid(axis="y", alpha=0.3)
    return fig


def _category_figure(feature: FeatureDrift) -> Figure:
    words = list(feature.categories or ())
    reference = _shares(feature.reference_counts)
    current = _shares(feature.current_counts)
    order = sorted(
        range(len(words)),
        key=lambda i: -max(reference[i] if reference.size else 0.0, current[i]),
    )[:TOP_CATEGORIES]
    height = max(2.5, 0.32 * len(order) + 1.2)
    fig = Figure(figsize=(7.5, height))
    ax = fig.add_subplot()
    text, color = _title(feature)
    ax.set_title(text, color=color, fontsize=10)
    if not order:
        _empty(ax, "no values")
        return fig
    slots = np.arange(len(order))
    ax.barh(
        slots - 0.2, reference[order], 0.4, color=_REFERENCE_COLOR, label="reference"
    )
    ax.barh(slots + 0.2, current[order], 0.4, color=_CURRENT_COLOR, label="current")
    labels = []
    for i in order:
        word = words[i]
        new = feature.reference_counts[i] == 0 and word not in (OTHER, UNTRACKED)
        labels.append(f"{word} (new)" if new else word)
    ax.set_yticks(slots, labels, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("share of values")
    ax.legend(fontsize=8, loc="lower right")
    ax.grid(axis="x", alpha=0.3)
    return fig
