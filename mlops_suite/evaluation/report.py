"""Render an evaluation as one self-contained HTML page an engineer can skim.

Figures are drawn with matplotlib's Agg canvas (no display, no pyplot global state)
and embedded as base64 PNG, so the page opens from a KFP HTML artifact, a registry
folder or an e-mail attachment without fetching anything.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from mlops_suite.artifacts import CLASSIFICATION
from mlops_suite.evaluation.metrics import Evaluation
from mlops_suite.explanation import ranked_importance
from mlops_suite.figures import img_tag
from mlops_suite.tasks import primary_metric

_CSS = """
body{font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:2rem;
color:#1f2933;max-width:1100px}
h1{margin-bottom:.2rem}.sub{color:#616e7c;margin-top:0}
.cards{display:flex;gap:1rem;flex-wrap:wrap;margin:1rem 0}
.card{border:1px solid #d9e2ec;border-radius:8px;padding:.6rem 1rem;min-width:8rem}
.card .v{font-size:1.5rem;font-weight:600}.card.primary{border-color:#2680c2;
background:#f0f7fd}.card .n{color:#616e7c;font-size:.85rem}
table{border-collapse:collapse;margin:.5rem 0 1.5rem}
td,th{border:1px solid #d9e2ec;padding:.3rem .7rem;text-align:right}
th{background:#f5f7fa}td:first-child,th:first-child{text-align:left}
.figs{display:flex;flex-wrap:wrap;gap:1rem}img{max-width:100%}
"""


def _img(fig: Figure, alt: str) -> str:
    return img_tag(fig, alt, dpi=100)


def _fmt(value: Any) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return f"{float(value):.4f}"


def _confusion_figure(labels: Sequence[Any], matrix: Sequence[Sequence[int]]) -> Figure:
    counts = np.asarray(matrix, dtype=float)
    totals = counts.sum(axis=1, keepdims=True)
    # Colour by share of the true class so a rare class's errors stay visible.
    shares = np.divide(counts, totals, out=np.zeros_like(counts), where=totals > 0)
    size = max(4.0, 0.9 * len(labels) + 2.0)
    fig = Figure(figsize=(size, size * 0.85))
    ax = fig.add_subplot()
    image = ax.imshow(shares, cmap="Blues", vmin=0.0, vmax=1.0)
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="share of true class")
    names = [str(label) for label in labels]
    ax.set_xticks(range(len(names)), names, rotation=30, ha="right")
    ax.set_yticks(range(len(names)), names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title("Confusion matrix")
    for i in range(counts.shape[0]):
        for j in range(counts.shape[1]):
            ax.text(
                j,
                i,
                f"{int(counts[i, j])}\n{shares[i, j]:.0%}",
                ha="center",
                va="center",
                color="white" if shares[i, j] > 0.55 else "#1f2933",
                fontsize=9,
            )
    return fig


def _roc_figure(
    curve: Mapping[str, Sequence[float]], auc: Any, multiclass: bool
) -> Figure:
    fig = Figure(figsize=(5, 4.5))
    ax = fig.add_subplot()
    kind = "micro-averaged one-vs-rest" if multiclass else "positive class"
    ax.plot(curve["fpr"], curve["tpr"], color="#2680c2", lw=2, label=f"{kind}")
    ax.plot([0, 1], [0, 1], color="#9aa5b1", ls="--", lw=1, label="chance")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("false positive rate")
    ax.set_ylabel("true positive rate")
    ax.set_title(f"ROC curve (ROC AUC {_fmt(auc)})")
    ax.legend(loc="lower right")
    ax.grid(alpha=0.3)
    return fig


def _slice_figure(
    slices: Mapping[str, Mapping[str, Any]], names: Sequence[str], column: str
) -> Figure:
    values = list(slices)
    fig = Figure(figsize=(max(5.0, 1.2 * len(values) + 2.0), 4))
    ax = fig.add_subplot()
    width = 0.8 / len(names)
    positions = np.arange(len(values))
    for offset, name in enumerate(names):
        heights = [slices[v].get(name) for v in values]
        bars = ax.bar(
            positions + offset * width - 0.4 + width / 2,
            [0.0 if h is None else h for h in heights],
            width,
            label=name,
        )
        ax.bar_label(bars, labels=[_fmt(h) for h in heights], fontsize=8, padding=2)
    ax.set_xticks(
        positions,
        [f"{v}\n(n={slices[v].get('n_rows', '?')})" for v in values],
    )
    ax.set_title(f"Metrics by {column}")
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0))
    ax.margins(y=0.15)
    ax.grid(axis="y", alpha=0.3)
    return fig


def _scatter_figure(
    actual: Sequence[float], predicted: Sequence[float], label: str
) -> Figure:
    fig = Figure(figsize=(5, 4.5))
    ax = fig.add_subplot()
    ax.scatter(actual, predicted, s=12, alpha=0.6, color="#2680c2")
    low = float(min(min(actual), min(predicted)))
    high = float(max(max(actual), max(predicted)))
    ax.plot([low, high], [low, high], color="#9aa5b1", ls="--", lw=1, label="perfect")
    ax.set_xlabel(f"actual {label}")
    ax.set_ylabel(f"predicted {label}")
    ax.set_title("Predicted vs actual")
    ax.legend(loc="upper left")
    ax.grid(alpha=0.3)
    return fig


def _residual_figure(actual: Sequence[float], predicted: Sequence[float]) -> Figure:
    residuals = np.asarray(predicted, dtype=float) - np.asarray(actual, dtype=float)
    fig = Figure(figsize=(5, 4.5))
    ax = fig.add_subplot()
    ax.hist(residuals, bins=min(30, max(5, len(residuals) // 5)), color="#2680c2")
    ax.axvline(0.0, color="#1f2933", lw=1)
    ax.set_xlabel("residual (predicted − actual)")
    ax.set_ylabel("rows")
    ax.set_title(f"Residuals (mean {np.mean(residuals):.3g})")
    ax.grid(alpha=0.3)
    return fig


def _importance_figure(rows: Sequence[tuple[str, float, float]], metric: str) -> Figure:
    names = [name for name, _, _ in rows]
    fig = Figure(figsize=(7, max(2.5, 0.35 * len(rows) + 1.2)))
    ax = fig.add_subplot()
    positions = np.arange(len(rows))
    ax.barh(
        positions,
        [mean for _, mean, _ in rows],
        xerr=[std for _, _, std in rows],
        color="#2680c2",
        ecolor="#616e7c",
        capsize=3,
    )
    ax.set_yticks(positions, names)
    ax.invert_yaxis()
    ax.axvline(0.0, color="#1f2933", lw=1)
    ax.set_xlabel(f"drop of {metric} when the column is shuffled (mean ± std)")
    ax.set_title("Permutation importance")
    ax.grid(axis="x", alpha=0.3)
    return fig


def _importance_section(explanation: Mapping[str, Any]) -> list[str]:
    rows = ranked_importance(explanation)
    if not rows:
        return []
    metric = str(explanation.get("metric", "score"))
    table = _metric_table(
        {name: {"mean": mean, "std": std} for name, mean, std in rows},
        ["mean", "std"],
        "feature",
    )
    return [
        "<h2>What the model relies on</h2>",
        f'<p class="sub">Each column shuffled {explanation.get("n_repeats", "?")} '
        f"times on {explanation.get('n_rows', '?')} held-out rows; importance is the "
        f"drop of <b>{html.escape(metric)}</b>. A column near zero is one the model "
        "does not use.</p>",
        _img(_importance_figure(rows, metric), "permutation importance"),
        table,
    ]


def _metric_table(
    rows: Mapping[str, Mapping[str, Any]], names: Sequence[str], first: str
) -> str:
    head = "".join(f"<th>{html.escape(n)}</th>" for n in [first, *names])
    body = "".join(
        "<tr><td>"
        + html.escape(str(key))
        + "</td>"
        + "".join(f"<td>{_fmt(row.get(n))}</td>" for n in names)
        + "</tr>"
        for key, row in rows.items()
    )
    return f"<table><tr>{head}</tr>{body}</table>"


def render_evaluation_html(
    evaluation: Evaluation | Mapping[str, Any], *, title: str
) -> str:
    """Renders an evaluation as a self-contained HTML page.

    Classification: metric cards and table, confusion-matrix heatmap with counts, ROC
    curve; regression: predicted-vs-actual scatter and residual histogram; both: a
    per-slice bar chart and table when the evaluation was sliced, and each column's
    permutation importance when it was computed.

    Args:
        evaluation: An :class:`Evaluation` or its :meth:`~Evaluation.to_dict` output.
        title: The page heading.

    Returns:
        The HTML document.
    """
    result = (
        evaluation
        if isinstance(evaluation, Evaluation)
        else Evaluation.from_dict(evaluation)
    )
    primary, higher_is_better = primary_metric(result.task)
    names = list(result.metrics)
    cards = "".join(
        f'<div class="card{" primary" if n == primary else ""}">'
        f'<div class="n">{html.escape(n)}</div><div class="v">{_fmt(v)}</div></div>'
        for n, v in result.metrics.items()
    )
    direction = "higher" if higher_is_better else "lower"
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{html.escape(title)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
        f'<p class="sub">{html.escape(result.task)} of <b>{html.escape(result.label)}'
        f"</b> on {result.n_rows} held-out rows; primary metric "
        f"<b>{html.escape(primary)}</b> ({direction} is better).</p>",
        f'<div class="cards">{cards}</div>',
        "<h2>Metrics</h2>",
        _metric_table({"overall": result.metrics}, names, "rows"),
        '<div class="figs">',
    ]
    if result.task == CLASSIFICATION:
        if result.confusion_matrix:
            parts.append(
                _img(
                    _confusion_figure(
                        result.confusion_matrix["labels"],
                        result.confusion_matrix["matrix"],
                    ),
                    "confusion matrix",
                )
            )
        if result.roc_curve:
            multiclass = len(result.classes or []) > 2
            figure = _roc_figure(
                result.roc_curve, result.metrics.get("roc_auc"), multiclass
            )
            parts.append(_img(figure, "ROC curve"))
    elif result.points and result.points.get("actual"):
        actual, predicted = result.points["actual"], result.points["predicted"]
        parts.append(
            _img(
                _scatter_figure(actual, predicted, result.label), "predicted vs actual"
            )
        )
        parts.append(_img(_residual_figure(actual, predicted), "residual histogram"))
    parts.append("</div>")
    if result.slices and result.slice_column:
        shown = (
            ["accuracy", "f1_macro"]
            if result.task == CLASSIFICATION
            else ["rmse", "mae"]
        )
        column = result.slice_column
        parts += [
            f"<h2>By {html.escape(column)}</h2>",
            _img(_slice_figure(result.slices, shown, column), f"metrics by {column}"),
            _metric_table(result.slices, ["n_rows", *names], column),
        ]
    if result.explanation:
        parts += _importance_section(result.explanation)
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"
