"""Registered versions side by side: a table for the terminal, a page with plots.

``mlops registry compare`` reads each version's ``metadata.json`` and shows what
changed from one to the next: the estimator and the hyperparameters that differ, the
metrics recorded at approval, the training data's hash, and who approved it and
when. ``compare.html`` adds one plot per metric across versions, so the best version
among many runs is found at a glance. Status and aliases are shown when the registry
records them.
"""

from __future__ import annotations

import html
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from matplotlib.figure import Figure

from mlops_suite.atomic import write_text
from mlops_suite.errors import MlopsError
from mlops_suite.figures import img_tag
from mlops_suite.registry import ModelRegistry, governance
from mlops_suite.registry.history import APPROVED, Event
from mlops_suite.tasks import HIGHER_IS_BETTER

COMPARE_HTML = "compare.html"
# Characters of a sha256 shown in the table: enough to tell data sets apart.
_HASH_CHARS = 12
_GATE = "approval gate"

_CSS = """
body{font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:2rem;
color:#1f2933;max-width:1200px}
h1{margin-bottom:.2rem}.sub{color:#616e7c;margin-top:0}
table{border-collapse:collapse;margin:.5rem 0 1.5rem}
td,th{border:1px solid #d9e2ec;padding:.3rem .7rem;text-align:left}
th{background:#f5f7fa}td.n{text-align:right}tr.champion td{background:#f0f7fd}
img{max-width:100%}
"""


@dataclass(frozen=True)
class VersionSummary:
    """What the comparison shows of one version.

    Attributes:
        version: The version number.
        status: Its status (``pending``, ``approved`` or ``rejected``), when known.
        aliases: Its aliases (``champion`` for the champion), sorted.
        estimator: The estimator's name.
        hyperparameters: Its complete hyperparameters.
        metrics: The test-split metrics recorded at approval.
        data_sha256: The training data's hash.
        approved_by: Who approved it: a person, or the approval gate; None while
            pending or once rejected.
        approved_at: When (the registration time for the gate).
        run: The pipeline run that produced it.
    """

    version: int
    status: str | None
    aliases: tuple[str, ...]
    estimator: str | None
    hyperparameters: Mapping[str, Any] = field(default_factory=dict)
    metrics: Mapping[str, float | None] = field(default_factory=dict)
    data_sha256: str | None = None
    approved_by: str | None = None
    approved_at: str | None = None
    run: str | None = None


def summarize(
    version: int,
    metadata: Mapping[str, Any],
    *,
    status: str | None = None,
    aliases: Sequence[str] = (),
    approval: Event | None = None,
) -> VersionSummary:
    """Reads what the comparison shows of one version.

    Args:
        version: The version number.
        metadata: Its metadata (``ModelRegistry.metadata``).
        status: Its status from the registry's history (``pending``, ...).
        aliases: The aliases naming it (``champion`` included).
        approval: The ``approved`` event of a person's approval, if any; without
            one, a version the gate passed shows the gate and its registration time.

    Returns:
        The version's summary; what the registry lacks is None.
    """
    lineage = metadata.get("lineage") or {}
    if approval is not None:
        approved_by: str | None = approval.actor
        approved_at: str | None = approval.time
    else:
        approved_by = _GATE if lineage.get("approval_reason") else None
        approved_at = lineage.get("registered_at")
    if status in ("pending", "rejected"):
        approved_by = approved_at = None
    return VersionSummary(
        version=version,
        status=status,
        aliases=tuple(sorted(aliases)),
        estimator=metadata.get("estimator"),
        hyperparameters=dict(metadata.get("hyperparameters") or {}),
        metrics=dict(lineage.get("metrics") or {}),
        data_sha256=lineage.get("data_sha256") or metadata.get("data_sha256"),
        approved_by=approved_by,
        approved_at=approved_at,
        run=lineage.get("pipeline_run_id"),
    )


def key_hyperparameters(summaries: Sequence[VersionSummary]) -> list[str]:
    """The hyperparameters worth a column: those whose value differs between versions.

    Args:
        summaries: The versions compared.

    Returns:
        Their names, sorted; every name when a single version is shown.
    """
    names = sorted({name for s in summaries for name in s.hyperparameters})
    if len(summaries) < 2:
        return names
    return [
        name
        for name in names
        if len({_text(s.hyperparameters.get(name)) for s in summaries}) > 1
    ]


def metric_names(summaries: Sequence[VersionSummary]) -> list[str]:
    """Every metric any compared version recorded, in the evaluation's order."""
    found = {name for s in summaries for name in s.metrics}
    known = [name for name in HIGHER_IS_BETTER if name in found]
    return known + sorted(found - set(known))


def compare_table(summaries: Sequence[VersionSummary]) -> str:
    """The comparison as a fixed-width text table, one version per line.

    Args:
        summaries: The versions, in the order to show.

    Returns:
        The table; the status and aliases columns only when some version has one.
    """
    head, rows = _rows(summaries)
    widths = [
        max(len(cell) for cell in column) for column in zip(head, *rows, strict=True)
    ]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True))
        for row in (head, *rows)
    ]
    return "\n".join(line.rstrip() for line in lines)


def render_compare_html(
    summaries: Sequence[VersionSummary], *, model_name: str, registry: str = ""
) -> str:
    """The comparison as a self-contained HTML page, with a plot per metric.

    Args:
        summaries: The versions, in the order to show.
        model_name: The registered model's name, for the title.
        registry: Where the versions live, shown under the title.

    Returns:
        The HTML document.
    """
    head, rows = _rows(summaries)
    table = "<table><tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in head)
    table += "</tr>"
    for summary, row in zip(summaries, rows, strict=True):
        marked = ' class="champion"' if "champion" in summary.aliases else ""
        table += f"<tr{marked}>" + "".join(
            f"<td>{html.escape(cell)}</td>" for cell in row
        )
        table += "</tr>"
    table += "</table>"
    title = f"{model_name}: {len(summaries)} versions compared"
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{html.escape(title)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
        f'<p class="sub">{html.escape(registry)}</p>' if registry else "",
        table,
    ]
    names = metric_names(summaries)
    if names:
        parts += [
            "<h2>Metrics by version</h2>",
            '<p class="sub">On each version\'s own test split, as recorded at '
            "approval; ★ marks the champion.</p>",
            img_tag(_metrics_figure(summaries, names), "metrics by version", dpi=90),
        ]
    parts.append("</body></html>")
    return "\n".join(part for part in parts if part) + "\n"


def compare_versions(
    registry_uri: str,
    model_name: str,
    *,
    versions: Sequence[int] | None = None,
    output_dir: str | os.PathLike[str] = ".",
) -> tuple[str, Path]:
    """Compares registered versions; writes ``compare.html`` to ``output_dir``.

    Args:
        registry_uri: The model registry.
        model_name: The registered model's name.
        versions: The versions to compare, in order; every version when None.
        output_dir: The folder that receives ``compare.html`` (created if needed).

    Returns:
        The text table and the page's path.

    Raises:
        MlopsError: The model has no version; RegistryError (one) when a requested
            version does not exist. Nothing is written then.
    """
    registry = ModelRegistry(registry_uri)
    wanted = (
        list(dict.fromkeys(versions)) if versions else registry.versions(model_name)
    )
    if not wanted:
        raise MlopsError(f"model {model_name!r} has no version in {registry_uri}")
    states = {state.version: state for state in governance.states(registry, model_name)}
    approvals = {
        event.version: event
        for event in governance.history(registry, model_name)
        if event.event == APPROVED
    }
    summaries = []
    for v in wanted:
        metadata = registry.metadata(model_name, v)  # names a missing version
        state = states.get(v)
        summaries.append(
            summarize(
                v,
                metadata,
                status=state.status if state else None,
                aliases=state.aliases if state else (),
                approval=approvals.get(v),
            )
        )
    page = Path(output_dir) / COMPARE_HTML
    write_text(
        page,
        render_compare_html(summaries, model_name=model_name, registry=registry.uri),
    )
    return compare_table(summaries), page


# ------------------------------------------------------------------ internals
def _rows(summaries: Sequence[VersionSummary]) -> tuple[list[str], list[list[str]]]:
    statuses = any(s.status for s in summaries)
    aliases = any(s.aliases for s in summaries)
    params = key_hyperparameters(summaries)
    metrics = metric_names(summaries)
    head = ["version"]
    head += ["status"] * statuses + ["aliases"] * aliases
    head += ["estimator", "hyperparameters", *metrics, "data", "approved by", "when"]
    rows = []
    for s in summaries:
        row = [f"v{s.version}"]
        row += [s.status or "-"] * statuses
        row += [",".join(s.aliases) or "-"] * aliases
        row += [
            s.estimator or "-",
            " ".join(f"{n}={_text(s.hyperparameters.get(n))}" for n in params) or "-",
            *(_number(s.metrics.get(name)) for name in metrics),
            (s.data_sha256 or "-")[:_HASH_CHARS],
            s.approved_by or "-",
            s.approved_at or "-",
        ]
        rows.append(row)
    return head, rows


def _metrics_figure(summaries: Sequence[VersionSummary], names: list[str]) -> Figure:
    columns = min(3, len(names))
    lines = -(-len(names) // columns)
    fig = Figure(figsize=(4.2 * columns, 3.2 * lines))
    labels = [f"v{s.version}" for s in summaries]
    positions = list(range(len(summaries)))
    champion = [i for i, s in enumerate(summaries) if "champion" in s.aliases]
    for index, name in enumerate(names, start=1):
        ax = fig.add_subplot(lines, columns, index)
        values = [_float(s.metrics.get(name)) for s in summaries]
        ax.plot(positions, values, marker="o", color="#2680c2")
        for i in champion:
            if values[i] == values[i]:  # not NaN: the champion has this metric
                ax.plot([i], [values[i]], marker="*", ms=14, color="#c62828")
        ax.set_xticks(positions, labels)
        better = {True: "higher", False: "lower"}.get(HIGHER_IS_BETTER.get(name, True))
        ax.set_title(f"{name} ({better} is better)", fontsize=10)
        ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def _float(value: Any) -> float:
    return float(value) if isinstance(value, int | float) else float("nan")


def _number(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return "-"
    return f"{value:.4f}"


def _text(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)
