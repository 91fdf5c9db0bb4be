"""Render a profile (statistics + schema) for people: Markdown and self-contained HTML.

Both views are artifacts the KFP UI shows (``Markdown`` and ``HTML``), so they carry
everything inline: histograms are small SVG drawings and frequency bars are styled
``div`` elements, with no script, no external file and no network access.
"""

from __future__ import annotations

import html
import math
from typing import Any

from mlops_suite.artifacts import BOOLEAN, CATEGORICAL, NUMERIC
from mlops_suite.data.statistics import MAX_FREQUENCIES, OTHER

# Categorical values shown per column; the rest are summarised in one line.
TOP_VALUES = 10
_SPARKS = "▁▂▃▄▅▆▇█"
_KIND_TITLES = {
    NUMERIC: "Numeric columns",
    CATEGORICAL: "Categorical columns",
    BOOLEAN: "Boolean columns",
}


def render_profile_markdown(statistics: dict[str, Any], schema: dict[str, Any]) -> str:
    """Render the profile as Markdown tables, histograms drawn as sparklines.

    Args:
        statistics: Output of ``compute_statistics``.
        schema: Output of ``infer_schema`` (or a loaded schema).

    Returns:
        The Markdown text.
    """
    columns = statistics.get("columns", [])
    lines = ["# Data profile", "", _summary(statistics), ""]
    notes = _notes(statistics)
    lines += [f"- {_md(note)}" for note in notes]
    if notes:
        lines.append("")
    numeric = _of_kind(columns, NUMERIC)
    if numeric:
        lines += [
            f"## {_KIND_TITLES[NUMERIC]}",
            "",
            "| column | count | missing | min | mean | std | median | max "
            "| histogram |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---|",
        ]
        for col in numeric:
            median = (col.get("quantiles") or {}).get("0.5")
            cells = [
                f"`{_md(col['name'])}`",
                str(col["count"]),
                _missing(col),
                _fmt(col.get("min")),
                _fmt(col.get("mean")),
                _fmt(col.get("std")),
                _fmt(median),
                _fmt(col.get("max")),
                _sparkline((col.get("histogram") or {}).get("counts", [])),
            ]
            lines.append("| " + " | ".join(cells) + " |")
        lines.append("")
    categorical = _of_kind(columns, CATEGORICAL)
    if categorical:
        lines += [
            f"## {_KIND_TITLES[CATEGORICAL]}",
            "",
            "| column | count | missing | unique | most frequent |",
            "|---|---:|---:|---:|---|",
        ]
        for col in categorical:
            top = _top(col)
            shown = ", ".join(
                f"{_md(value)} {count} ({_pct(count, col['count'])})"
                for value, count in top[:5]
            )
            if len(top) > 5:
                shown += ", …"
            cells = [
                f"`{_md(col['name'])}`",
                str(col["count"]),
                _missing(col),
                str(col.get("unique", "")),
                shown or "–",
            ]
            lines.append("| " + " | ".join(cells) + " |")
        lines.append("")
    boolean = _of_kind(columns, BOOLEAN)
    if boolean:
        lines += [
            f"## {_KIND_TITLES[BOOLEAN]}",
            "",
            "| column | count | missing | true | false |",
            "|---|---:|---:|---:|---:|",
        ]
        for col in boolean:
            freq = col.get("frequencies", {})
            cells = [
                f"`{_md(col['name'])}`",
                str(col["count"]),
                _missing(col),
                f"{freq.get('true', 0)} ({_pct(freq.get('true', 0), col['count'])})",
                f"{freq.get('false', 0)} ({_pct(freq.get('false', 0), col['count'])})",
            ]
            lines.append("| " + " | ".join(cells) + " |")
        lines.append("")
    lines += [
        "## Schema",
        "",
        "| column | type | dtype | required | max missing | expectation |",
        "|---|---|---|---|---:|---|",
    ]
    for spec in schema.get("columns", []):
        cells = [
            f"`{_md(spec['name'])}`",
            _md(str(spec.get("type", ""))),
            _md(str(spec.get("dtype", ""))),
            "yes" if spec.get("required", True) else "no",
            _fraction(spec.get("max_missing_fraction")),
            _md(_expectation(spec)),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def render_profile_html(statistics: dict[str, Any], schema: dict[str, Any]) -> str:
    """Render the profile as one self-contained HTML page.

    Numeric columns get an SVG histogram with their summary numbers, categorical and
    boolean columns get frequency bars, and the schema is a table.

    Args:
        statistics: Output of ``compute_statistics``.
        schema: Output of ``infer_schema`` (or a loaded schema).

    Returns:
        The HTML document.
    """
    columns = statistics.get("columns", [])
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        "<title>Data profile</title>",
        f"<style>{_CSS}</style></head><body>",
        "<h1>Data profile</h1>",
        f"<p class='summary'>{_e(_summary(statistics))}</p>",
    ]
    notes = _notes(statistics)
    if notes:
        parts.append(
            "<ul class='notes'>" + "".join(f"<li>{_e(n)}</li>" for n in notes) + "</ul>"
        )
    numeric = _of_kind(columns, NUMERIC)
    if numeric:
        parts.append(f"<h2>{_KIND_TITLES[NUMERIC]}</h2>")
        parts.append(
            "<table><thead><tr><th>column</th><th>histogram</th><th>count</th>"
            "<th>missing</th><th>min</th><th>mean</th><th>std</th><th>p5</th>"
            "<th>median</th><th>p95</th><th>max</th></tr></thead><tbody>"
        )
        for col in numeric:
            quantiles = col.get("quantiles") or {}
            cells = [
                f"<th class='name'>{_e(col['name'])}<div class='dtype'>"
                f"{_e(col.get('dtype', ''))}</div></th>",
                f"<td>{_histogram_svg(col)}</td>",
                f"<td class='num'>{col['count']}</td>",
                f"<td class='num'>{_e(_missing(col))}</td>",
            ]
            for value in (
                col.get("min"),
                col.get("mean"),
                col.get("std"),
                quantiles.get("0.05"),
                quantiles.get("0.5"),
                quantiles.get("0.95"),
                col.get("max"),
            ):
                cells.append(f"<td class='num'>{_e(_fmt(value))}</td>")
            parts.append("<tr>" + "".join(cells) + "</tr>")
        parts.append("</tbody></table>")
    for kind in (CATEGORICAL, BOOLEAN):
        chosen = _of_kind(columns, kind)
        if not chosen:
            continue
        parts.append(f"<h2>{_KIND_TITLES[kind]}</h2>")
        parts.append(
            "<table><thead><tr><th>column</th><th>count</th><th>missing</th>"
            "<th>unique</th><th>values</th></tr></thead><tbody>"
        )
        for col in chosen:
            unique = col.get("unique", len(col.get("frequencies", {})))
            parts.append(
                f"<tr><th class='name'>{_e(col['name'])}<div class='dtype'>"
                f"{_e(col.get('dtype', ''))}</div></th>"
                f"<td class='num'>{col['count']}</td>"
                f"<td class='num'>{_e(_missing(col))}</td>"
                f"<td class='num'>{unique}</td>"
                f"<td>{_frequency_bars(col)}</td></tr>"
            )
        parts.append("</tbody></table>")
    parts.append("<h2>Schema</h2>")
    parts.append(
        "<table><thead><tr><th>column</th><th>type</th><th>dtype</th><th>required</th>"
        "<th>max missing</th><th>expectation</th></tr></thead><tbody>"
    )
    for spec in schema.get("columns", []):
        parts.append(
            f"<tr><th class='name'>{_e(spec['name'])}</th>"
            f"<td>{_e(str(spec.get('type', '')))}</td>"
            f"<td>{_e(str(spec.get('dtype', '')))}</td>"
            f"<td>{'yes' if spec.get('required', True) else 'no'}</td>"
            f"<td class='num'>{_fraction(spec.get('max_missing_fraction'))}</td>"
            f"<td>{_e(_expectation(spec))}</td></tr>"
        )
    parts.append("</tbody></table></body></html>")
    return "\n".join(parts) + "\n"


_CSS = """
body{font-family:-apple-system,'Segoe UI',Roboto,Helvetica,Arial,sans-serif;
margin:24px;color:#202124;font-size:14px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px}
.summary{color:#5f6368;margin:0 0 12px}
.notes{background:#fef7e0;border-left:4px solid #f9ab00;padding:8px 8px 8px 28px;
margin:8px 0}
table{border-collapse:collapse;width:100%}
th,td{border-bottom:1px solid #e0e0e0;padding:6px 8px;text-align:left;
vertical-align:middle}
thead th{background:#f1f3f4;font-weight:600;font-size:12px;color:#3c4043}
th.name{font-weight:600;white-space:nowrap}
.dtype{font-weight:400;font-size:11px;color:#80868b}
td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
.bars{display:grid;grid-template-columns:minmax(60px,max-content) 160px auto;
gap:2px 8px;align-items:center;font-size:12px}
.bar{height:10px;background:#1a73e8;border-radius:2px}
.bar.other{background:#9aa0a6}
.label{overflow:hidden;text-overflow:ellipsis;white-space:nowrap;max-width:220px}
.count{color:#5f6368;white-space:nowrap}
svg text{font-size:10px;fill:#5f6368}
"""


def _histogram_svg(col: dict[str, Any]) -> str:
    histogram = col.get("histogram") or {}
    counts = histogram.get("counts") or []
    edges = histogram.get("edges") or []
    if not counts or len(edges) != len(counts) + 1:
        return "<span class='count'>no values</span>"
    width, height, axis = 200, 44, 12
    peak = max(counts) or 1
    bar = width / len(counts)
    rects = []
    for index, count in enumerate(counts):
        tall = (height - 2) * count / peak
        label = f"{_fmt(edges[index])} to {_fmt(edges[index + 1])}: {count}"
        rects.append(
            f"<rect x='{index * bar + 0.5:.1f}' y='{height - tall:.1f}' "
            f"width='{bar - 1:.1f}' height='{tall:.1f}' fill='#1a73e8'>"
            f"<title>{_e(label)}</title></rect>"
        )
    return (
        f"<svg xmlns='http://www.w3.org/2000/svg' width='{width}' "
        f"height='{height + axis}' role='img' aria-label='histogram of "
        f"{_e(col['name'])}'>"
        + "".join(rects)
        + f"<line x1='0' y1='{height}' x2='{width}' y2='{height}' stroke='#bdc1c6'/>"
        f"<text x='0' y='{height + axis - 1}'>{_e(_fmt(edges[0]))}</text>"
        f"<text x='{width}' y='{height + axis - 1}' text-anchor='end'>"
        f"{_e(_fmt(edges[-1]))}</text></svg>"
    )


def _frequency_bars(col: dict[str, Any]) -> str:
    top = _top(col)
    if not top:
        return "<span class='count'>no values</span>"
    total = col.get("count") or sum(count for _, count in top) or 1
    shown = top[:TOP_VALUES]
    rest = top[TOP_VALUES:]
    rows = [(value, count, False) for value, count in shown]
    if rest:
        hidden = sum(count for _, count in rest)
        rows.append((f"{len(rest)} other values", hidden, True))
    other = col.get("frequencies", {}).get(OTHER)
    if other:
        rows.append((f"values beyond the top {MAX_FREQUENCIES}", other, True))
    peak = max(count for _, count, _ in rows) or 1
    cells = []
    for value, count, is_other in rows:
        width = 100 * count / peak
        css = "bar other" if is_other else "bar"
        cells.append(
            f"<div class='label' title='{_e(value)}'>{_e(value)}</div>"
            f"<div><div class='{css}' style='width:{width:.1f}%'></div></div>"
            f"<div class='count'>{count} ({_pct(count, total)})</div>"
        )
    return "<div class='bars'>" + "".join(cells) + "</div>"


def _summary(statistics: dict[str, Any]) -> str:
    columns = statistics.get("columns", [])
    kinds = {kind: len(_of_kind(columns, kind)) for kind in _KIND_TITLES}
    return (
        f"{statistics.get('num_rows', 0)} rows · {len(columns)} columns "
        f"({kinds[NUMERIC]} numeric, {kinds[CATEGORICAL]} categorical, "
        f"{kinds[BOOLEAN]} boolean)"
    )


def _notes(statistics: dict[str, Any]) -> list[str]:
    """Facts worth a look before training: gaps, empty and constant columns."""
    notes = []
    rows = statistics.get("num_rows", 0)
    for col in statistics.get("columns", []):
        name = col["name"]
        if rows and col.get("missing", 0) == rows:
            notes.append(f"'{name}' is missing in every row.")
            continue
        if col.get("missing"):
            notes.append(
                f"'{name}' is missing in {col['missing']} of {rows} rows "
                f"({_fraction(col.get('missing_fraction'))})."
            )
        unparsed = rows - col.get("count", 0) - col.get("missing", 0)
        if col.get("type") == NUMERIC and unparsed > 0:
            notes.append(f"'{name}' has {unparsed} values that are not numbers.")
        if col.get("type") == NUMERIC and col.get("count", 0) > 1:
            if col.get("min") == col.get("max"):
                notes.append(f"'{name}' is constant ({_fmt(col.get('min'))}).")
        elif col.get("type") != NUMERIC and len(top := _top(col)) == 1:
            notes.append(f"'{name}' has a single value ({top[0][0]}).")
    return notes


def _of_kind(columns: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [col for col in columns if col.get("type") == kind]


def _top(col: dict[str, Any]) -> list[tuple[str, int]]:
    freq = col.get("frequencies") or {}
    pairs = [(str(k), int(v)) for k, v in freq.items() if k != OTHER and v]
    return sorted(pairs, key=lambda pair: -pair[1])


def _expectation(spec: dict[str, Any]) -> str:
    kind = spec.get("type")
    if kind == NUMERIC:
        low, high = spec.get("min"), spec.get("max")
        if low is None and high is None:
            return "any number"
        effect = "blocks" if spec.get("range_blocking") else "warns"
        return f"{_fmt(low)} to {_fmt(high)} (out of range {effect})"
    if kind == CATEGORICAL:
        domain = spec.get("domain")
        if domain is None:
            return "any category"
        listed = ", ".join(domain[:8]) + (
            f", … ({len(domain)} in all)" if len(domain) > 8 else ""
        )
        unseen = _fraction(spec.get("max_unseen_fraction", 0.0))
        return f"one of {listed}; unseen at most {unseen} of rows"
    return "true or false"


def _missing(col: dict[str, Any]) -> str:
    missing = col.get("missing", 0)
    if not missing:
        return "0"
    return f"{missing} ({_fraction(col.get('missing_fraction'))})"


def _fmt(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 1e12:
            return str(int(value))
        if abs(value) >= 1e6 or abs(value) < 1e-3:
            return f"{value:.3e}"
        if abs(value) >= 100:
            return f"{value:.1f}"
        return f"{value:.4g}"
    return str(value)


def _sparkline(counts: list[int]) -> str:
    if not counts:
        return "–"
    peak = max(counts) or 1
    # Empty bins get the lowest block; any non-empty bin is visibly taller.
    top = len(_SPARKS) - 1
    marks = "".join(
        _SPARKS[0] if not count else _SPARKS[max(1, math.ceil(top * count / peak))]
        for count in counts
    )
    return f"`{marks}`"


def _fraction(value: Any) -> str:
    if value is None:
        return "–"
    return f"{float(value) * 100:.3g}%"


def _pct(count: int, total: int) -> str:
    return f"{100 * count / total:.1f}%" if total else "–"


def _md(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ").replace("`", "'")


def _e(text: Any) -> str:
    return html.escape(str(text), quote=True)
