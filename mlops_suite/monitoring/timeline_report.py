"""Render a monitoring timeline as one self-contained HTML page (``monitoring.html``).

The page opens with a summary (the model, the data, how it was cut, what alerted,
and how performance was or was not estimated), then the timelines: each metric per
chunk (the estimate with its band of three sampling errors, the realized value when
labels were joined, the threshold), then each feature's drift score per chunk
against its threshold, features that drifted somewhere first. Chunks whose
performance alerted are shaded red in every figure, and circled where they alerted;
drifted chunks are circled on their feature's line. Figures are drawn on
matplotlib's Agg canvas and embedded as base64 PNG
(:func:`mlops_suite.figures.img_tag`), so the page needs nothing beside it.
"""

from __future__ import annotations

import html
from collections.abc import Sequence

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from mlops_suite.figures import img_tag
from mlops_suite.monitoring.timeline_result import ChunkResult, Timeline

_ESTIMATE_COLOR = "#2680c2"
_REALIZED_COLOR = "#1f2933"
_THRESHOLD_COLOR = "#c62828"
_ALERT_COLOR = "#c62828"
# Tick labels drawn at most on the x axis; more would overlap.
_MAX_TICKS = 12

_CSS = """
body{font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:2rem;
color:#1f2933;max-width:1100px}
h1{margin-bottom:.2rem}.sub{color:#616e7c;margin-top:0}
.alert{color:#c62828;font-weight:600}.ok{color:#2e7d32;font-weight:600}
table{border-collapse:collapse;margin:.5rem 0 1.5rem}
td,th{border:1px solid #d9e2ec;padding:.3rem .7rem;text-align:right}
th{background:#f5f7fa}td:first-child,th:first-child{text-align:left}
tr.alerting td{background:#fdecea}.note{background:#f5f7fa;padding:.6rem 1rem}
img{max-width:100%}
"""


def render_timeline_html(timeline: Timeline, *, title: str = "Monitoring") -> str:
    """Render a timeline as a self-contained HTML page.

    Args:
        timeline: What :func:`~mlops_suite.monitoring.timeline.build_timeline`
            returned.
        title: The page heading.

    Returns:
        The HTML document.
    """
    chunks = list(timeline.chunks)
    performance = timeline.performance_alerts
    drift = timeline.drift_alerts
    alerting = {alert["chunk"] for alert in performance}
    verdict = (
        f'<span class="alert">{len(performance)} performance alert(s) in '
        f"{len(alerting)} of {len(chunks)} chunks</span>"
        if performance
        else f'<span class="ok">no performance alert in {len(chunks)} chunks</span>'
    )
    drifting = sorted({alert["feature"] for alert in drift})
    drift_line = (
        f"drift in {len({a['chunk'] for a in drift})} chunk(s): "
        f"{html.escape(', '.join(drifting))}"
        if drifting
        else "no feature drifted in any chunk"
    )
    parts = [
        "<!DOCTYPE html>",
        '<html><head><meta charset="utf-8">',
        f"<title>{html.escape(title)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
        f'<p class="sub">model: {html.escape(timeline.model or "none")} · current: '
        f"{html.escape(timeline.current)} · reference: "
        f"{html.escape(timeline.reference)} · {html.escape(timeline.chunking)}, "
        f"{len(chunks)} chunks, {sum(c.rows for c in chunks):,} rows</p>",
        f"<p>{verdict}; {drift_line}.</p>",
    ]
    if timeline.note:
        parts.append(f'<p class="note">{html.escape(timeline.note)}</p>')
    parts += ["<h2>Chunks</h2>", _chunk_table(chunks, alerting)]
    metrics = list(chunks[0].performance) if chunks else []
    if metrics:
        parts.append("<h2>Performance per chunk</h2>")
        parts += [_metric_figure(chunks, name, alerting) for name in metrics]
    if chunks and chunks[0].drift:
        parts.append("<h2>Drift per chunk</h2>")
        features = sorted(
            chunks[0].drift,
            key=lambda name: (not any(c.drift[name].drifted for c in chunks), name),
        )
        parts += [_drift_figure(chunks, name, alerting) for name in features]
    parts.append("</body></html>")
    return "\n".join(parts)


def _fmt(value: float | None) -> str:
    return "" if value is None else f"{value:.3f}"


def _chunk_table(chunks: Sequence[ChunkResult], alerting: set[int]) -> str:
    metrics = list(chunks[0].performance) if chunks else []
    head = "<tr><th>chunk</th><th>start</th><th>end</th><th>rows</th><th>labelled</th>"
    head += "".join(
        f"<th>{html.escape(name)} est. [band]</th><th>realized</th><th>threshold</th>"
        for name in metrics
    )
    head += "<th>drifted features</th></tr>"
    rows = []
    for index, chunk in enumerate(chunks):
        cells = [
            str(index),
            html.escape(str(chunk.start)),
            html.escape(str(chunk.end)),
            f"{chunk.rows:,}",
            f"{chunk.labelled_rows:,}",
        ]
        for name in metrics:
            point = chunk.performance[name]
            band = (
                f" [{_fmt(point.lower)}, {_fmt(point.upper)}]"
                if point.lower is not None
                else ""
            )
            mark = ' <span class="alert">alert</span>' if point.alert else ""
            cells += [
                f"{_fmt(point.estimated)}{band}{mark}",
                _fmt(point.realized),
                _fmt(point.threshold),
            ]
        cells.append(html.escape(", ".join(chunk.drifted_features)))
        style = ' class="alerting"' if index in alerting else ""
        rows.append(
            f"<tr{style}>" + "".join(f"<td>{cell}</td>" for cell in cells) + "</tr>"
        )
    return f"<table>{head}{''.join(rows)}</table>"


def _axis(fig: Figure, chunks: Sequence[ChunkResult], alerting: set[int]) -> Axes:
    ax = fig.add_subplot()
    # Chunks whose performance alerted are shaded in every figure, drift included.
    for index in alerting:
        ax.axvspan(index - 0.5, index + 0.5, color=_ALERT_COLOR, alpha=0.07, lw=0)
    step = max(1, int(np.ceil(len(chunks) / _MAX_TICKS)))
    ticks = list(range(0, len(chunks), step))
    ax.set_xticks(ticks)
    ax.set_xticklabels(
        [str(chunks[i].start)[:19] for i in ticks], rotation=30, ha="right", fontsize=7
    )
    ax.set_xlim(-0.5, len(chunks) - 0.5)
    ax.grid(alpha=0.3)
    return ax


def _values(points: Sequence[float | None]) -> np.ndarray:
    return np.array([np.nan if v is None else v for v in points], dtype=float)


def _metric_figure(chunks: Sequence[ChunkResult], name: str, alerting: set[int]) -> str:
    points = [chunk.performance[name] for chunk in chunks]
    x = np.arange(len(chunks))
    fig = Figure(figsize=(9, 3))
    ax = _axis(fig, chunks, alerting)
    estimated = _values([p.estimated for p in points])
    if np.isfinite(estimated).any():
        ax.fill_between(
            x,
            _values([p.lower for p in points]),
            _values([p.upper for p in points]),
            color=_ESTIMATE_COLOR,
            alpha=0.15,
            label="band (3 sampling errors)",
        )
        ax.plot(x, estimated, "o-", color=_ESTIMATE_COLOR, label="estimated")
    realized = _values([p.realized for p in points])
    if np.isfinite(realized).any():
        ax.plot(x, realized, "s--", color=_REALIZED_COLOR, label="realized")
    threshold = _values([p.threshold for p in points])
    if np.isfinite(threshold).any():
        ax.step(
            x, threshold, where="mid", color=_THRESHOLD_COLOR, lw=1, label="threshold"
        )
    marked = [i for i in range(len(chunks)) if points[i].alert]
    if marked:
        shown = np.where(np.isfinite(estimated), estimated, realized)[marked]
        ax.scatter(
            marked, shown, s=90, facecolors="none", edgecolors=_ALERT_COLOR, lw=2
        )
        ax.scatter([], [], facecolors="none", edgecolors=_ALERT_COLOR, label="alert")
    ax.set_title(name)
    ax.legend(fontsize=7, loc="best")
    return f"<div>{img_tag(fig, f'{name} per chunk')}</div>"


def _drift_figure(chunks: Sequence[ChunkResult], name: str, alerting: set[int]) -> str:
    entries = [chunk.drift[name] for chunk in chunks]
    x = np.arange(len(chunks))
    fig = Figure(figsize=(9, 2.2))
    ax = _axis(fig, chunks, alerting)
    ax.plot(x, [e.score for e in entries], "o-", color=_ESTIMATE_COLOR, ms=3)
    ax.step(
        x,
        [e.threshold for e in entries],
        where="mid",
        color=_THRESHOLD_COLOR,
        lw=1,
    )
    drifted = [i for i, e in enumerate(entries) if e.drifted]
    if drifted:
        ax.scatter(
            drifted,
            [entries[i].score for i in drifted],
            s=60,
            facecolors="none",
            edgecolors=_ALERT_COLOR,
            lw=2,
        )
    ax.set_title(f"{name} ({entries[0].metric})", fontsize=9)
    return f"<div>{img_tag(fig, f'{name} drift per chunk')}</div>"
