"""The retraining decision as people read it: Markdown for the KFP UI, an HTML page.

Both start with the verdict, the signal that decided and the reason, then show the
champion's performance on the window (each estimate with its band and threshold,
the realized value beside it when labels were joined), then every feature's drift,
with the columns left out and the drifted features the model does not rely on.
"""

from __future__ import annotations

import html
from typing import TYPE_CHECKING

from mlops_suite.monitoring.performance_check import MetricCheck, PerformanceCheck

if TYPE_CHECKING:
    from mlops_suite.monitoring.retraining import RetrainingDecision


def render_decision_markdown(decision: RetrainingDecision) -> str:
    """The decision as Markdown.

    Args:
        decision: The retraining decision.

    Returns:
        The Markdown text.
    """
    lines = [
        f"## {'Retrain' if decision.retrain else 'No retraining'}",
        "",
        decision.reason,
        "",
        f"Decided by: `{decision.decided_by}`",
    ]
    if decision.performance is not None:
        lines += ["", *_performance_markdown(decision.performance, decision)]
    drift = decision.drift
    if drift is not None:
        importance = drift.importance or {}
        extra = ["importance"] if importance else []
        head = ["feature", "metric", "score", "threshold", *extra, "drifted"]
        lines += ["", "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        for name, result in drift.features.items():
            cells = [name, result.metric, f"{result.score:.4f}"]
            cells.append(f"{result.threshold:.4f}")
            if importance:
                weight = importance.get(name)
                cells.append("n/a" if weight is None else f"{weight:.4f}")
            cells.append("yes" if result.drifted else "no")
            lines.append("| " + " | ".join(cells) + " |")
        for sentence in _feature_notes(decision, ignored=True):
            lines += ["", sentence]
    return "\n".join(lines) + "\n"


def render_decision_html(decision: RetrainingDecision) -> str:
    """The decision as one self-contained HTML page.

    Args:
        decision: The retraining decision.

    Returns:
        The HTML document: the verdict and performance, then the drift report.
    """
    verdict = "Retrain" if decision.retrain else "No retraining"
    status = "drift" if decision.retrain else "ok"
    head = [
        f'<p><span class="status {status}">{verdict}</span> · decided by '
        f"<code>{html.escape(decision.decided_by)}</code></p>",
        f"<p>{html.escape(decision.reason)}</p>",
    ]
    if decision.performance is not None:
        head += _performance_html(decision.performance, decision)
    notes = _feature_notes(decision, ignored=decision.drift is None)
    head += [f"<p>{html.escape(sentence)}</p>" for sentence in notes]
    if decision.drift is None:
        return (
            '<!DOCTYPE html>\n<html><head><meta charset="utf-8">'
            "<title>Retraining decision</title></head><body>"
            "<h1>Retraining decision</h1>" + "".join(head) + "</body></html>"
        )
    from mlops_suite.monitoring.report import render_drift_html

    return render_drift_html(decision.drift, title="Retraining decision", preface=head)


def _columns(check: PerformanceCheck) -> tuple[bool, bool]:
    """Whether to show the estimated columns, and the realized ones."""
    estimated = any(m.estimated is not None for m in check.metrics.values())
    realized = any(m.realized is not None for m in check.metrics.values())
    return estimated, realized


def _heading(check: PerformanceCheck, decision: RetrainingDecision) -> str:
    rows = []
    if check.scored_rows:
        rows.append(f"estimated on {check.scored_rows:,} rows")
    if check.labelled_rows:
        rows.append(f"realized on {check.labelled_rows:,} labelled rows")
    signal = decision.performance_signal or "not judged"
    where = f" ({', '.join(rows)})" if rows else ""
    return f"Performance{where}: signal `{signal}`. {check.note}"


def _cells(metric: MetricCheck, estimated: bool, realized: bool) -> list[str]:
    cells = [metric.name]
    if estimated:
        band = (
            f"{metric.lower:.4f}-{metric.upper:.4f}"
            if metric.lower is not None and metric.upper is not None
            else "n/a"
        )
        cells += [
            _fmt(metric.estimated),
            band,
            _fmt(metric.estimated_threshold),
            "yes" if metric.estimated_alert else "no",
        ]
    if realized:
        cells += [
            _fmt(metric.realized),
            _fmt(metric.realized_threshold),
            "yes" if metric.realized_alert else "no",
        ]
    return cells


def _head(estimated: bool, realized: bool) -> list[str]:
    head = ["metric"]
    if estimated:
        head += ["estimated", "band", "threshold", "below threshold"]
    if realized:
        head += ["realized", "threshold", "below threshold"]
    return head


def _performance_markdown(
    check: PerformanceCheck, decision: RetrainingDecision
) -> list[str]:
    lines = [_heading(check, decision)]
    estimated, realized = _columns(check)
    if not (estimated or realized):
        return lines
    head = _head(estimated, realized)
    lines += ["", "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for metric in check.metrics.values():
        lines.append("| " + " | ".join(_cells(metric, estimated, realized)) + " |")
    return lines


def _performance_html(
    check: PerformanceCheck, decision: RetrainingDecision
) -> list[str]:
    heading = html.escape(_heading(check, decision)).replace("`", "")
    parts = ["<h2>Performance</h2>", f"<p>{heading}</p>"]
    estimated, realized = _columns(check)
    if not (estimated or realized):
        return parts
    head = "".join(f"<th>{html.escape(h)}</th>" for h in _head(estimated, realized))
    rows = []
    for metric in check.metrics.values():
        alert = (metric.estimated_alert and estimated) or (
            metric.realized_alert and realized
        )
        cells = "".join(
            f"<td>{html.escape(c)}</td>" for c in _cells(metric, estimated, realized)
        )
        rows.append(f'<tr class="{"drifted" if alert else ""}">{cells}</tr>')
    parts.append(f"<table><tr>{head}</tr>{''.join(rows)}</table>")
    return parts


def _feature_notes(decision: RetrainingDecision, *, ignored: bool) -> list[str]:
    """Sentences on the features left out (with ``ignored``; the drift page says so
    itself), and those whose drift does not count."""
    notes = []
    drift = decision.drift
    if ignored and drift is not None and drift.ignored:
        notes.append(f"Not compared (ignore_features): {', '.join(drift.ignored)}.")
    if decision.negligible:
        moved = drift.drifted_features if drift is not None else []
        drifted = [name for name in decision.negligible if name in moved]
        share = f"{decision.min_importance:.0%}"
        notes.append(
            f"The model does not rely on {', '.join(decision.negligible)} (below "
            f"{share} of its permutation importance): "
            + (
                f"{', '.join(drifted)} drifted, which alone does not call for "
                "retraining."
                if drifted
                else f"{'its' if len(decision.negligible) == 1 else 'their'} drift "
                "alone would not call for retraining."
            )
        )
    return notes


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4f}"
