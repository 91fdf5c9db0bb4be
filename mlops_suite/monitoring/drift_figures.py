"""One feature's reference and current distributions, drawn as inline SVG.

The drift report embeds one figure per feature. Drawn as SVG text (bars, a few
axis labels, a legend) a figure costs microseconds and no plotting library; the
browser renders the text, and every bar carries its values as a tooltip. Shares,
not counts, are drawn, so tables of different sizes compare.

* Numeric: the reference bins side by side with the current data binned on the same
  edges, and the current values below the reference minimum or above its maximum
  drawn one bin beyond each end, dashed in red. A constant reference gets three
  slots: below, at and above its value.
* Categorical and boolean: horizontal bars per value, the values with the largest
  share on either side first (at most :data:`TOP_CATEGORIES`), a value the
  reference never had marked ``(new)``.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Sequence

from mlops_suite.artifacts import NUMERIC
from mlops_suite.data.statistics import OTHER
from mlops_suite.monitoring.drift_report import FeatureDrift
from mlops_suite.monitoring.profile import UNTRACKED

# Categorical values drawn per feature: the ones whose share is largest on either side.
TOP_CATEGORIES = 15
# Slot names that are not values of the feature (lumped rare values, untracked).
LUMPED = (OTHER, UNTRACKED)
_REFERENCE_COLOR = "#9aa5b1"
_CURRENT_COLOR = "#2680c2"
_DRIFT_COLOR = "#c62828"
_TEXT_COLOR = "#1f2933"
_MUTED = "#616e7c"
_GRID = "#d9e2ec"
# Layout in pixels: the plot sits inside these margins; the legend on the right.
_WIDTH = 760
_TOP, _BOTTOM, _LEFT, _RIGHT = 30, 34, 56, 150


def feature_svg(feature: FeatureDrift) -> str:
    """The figure of one feature's distributions, as an ``<svg>`` element.

    Args:
        feature: The feature's drift, with its counts (and edges, when numeric).

    Returns:
        The SVG markup, titled with the score against the threshold (red when the
        feature drifted).
    """
    if feature.type == NUMERIC:
        return _numeric(feature)
    return _categorical(feature)


def _shares(counts: Sequence[int]) -> list[float]:
    total = float(sum(counts))
    return [count / total if total > 0 else 0.0 for count in counts]


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def _number(value: float) -> str:
    return f"{value:.4g}"


def _percent(share: float) -> str:
    return f"{share:.1%}"


def _title(feature: FeatureDrift) -> str:
    relation = ">" if feature.score > feature.threshold else "≤"
    text = (
        f"{feature.name}: {feature.metric} {feature.score:.3f} {relation} threshold "
        f"{feature.threshold:.3f}"
    )
    if feature.drifted:
        text += f" — DRIFTED ({', '.join(feature.reasons)})"
    color = _DRIFT_COLOR if feature.drifted else _TEXT_COLOR
    return (
        f"<text x='{_LEFT}' y='18' font-size='13' font-weight='600' "
        f"fill='{color}'>{_e(text)}</text>"
    )


def _svg(feature: FeatureDrift, height: int, body: list[str]) -> str:
    return (
        f"<svg xmlns='http://www.w3.org/2000/svg' width='{_WIDTH}' height='{height}' "
        f"viewBox='0 0 {_WIDTH} {height}' role='img' font-family='sans-serif' "
        f"font-size='11' aria-label='distributions of {_e(feature.name)}'>"
        + _title(feature)
        + "".join(body)
        + "</svg>"
    )


def _legend(entries: list[tuple[str, str]], top: int) -> list[str]:
    """Swatches and names right of the plot; ``entries`` are (name, swatch)."""
    x = _WIDTH - _RIGHT + 14
    parts = []
    for row, (name, swatch) in enumerate(entries):
        y = top + 16 * row
        parts.append(
            f"<rect x='{x}' y='{y}' width='12' height='10' {swatch}/>"
            f"<text x='{x + 18}' y='{y + 9}' fill='{_TEXT_COLOR}'>{_e(name)}</text>"
        )
    return parts


def _message(feature: FeatureDrift, message: str) -> str:
    return _svg(
        feature,
        90,
        [
            f"<text x='{_WIDTH / 2}' y='58' text-anchor='middle' "
            f"fill='{_MUTED}'>{_e(message)}</text>"
        ],
    )


def _bar(x: float, y: float, width: float, height: float, style: str, tip: str) -> str:
    return (
        f"<rect x='{x:.1f}' y='{y:.1f}' width='{max(width, 0.5):.1f}' "
        f"height='{max(height, 0.0):.1f}' {style}><title>{_e(tip)}</title></rect>"
    )


_REFERENCE_STYLE = f"fill='{_REFERENCE_COLOR}' fill-opacity='0.7'"
_CURRENT_STYLE = (
    f"fill='{_CURRENT_COLOR}' fill-opacity='0.45' stroke='{_CURRENT_COLOR}' "
    "stroke-width='0.6'"
)
_BEYOND_STYLE = (
    f"fill='{_DRIFT_COLOR}' fill-opacity='0.12' stroke='{_DRIFT_COLOR}' "
    "stroke-dasharray='3 2'"
)


def _share_axis(
    peak: float, x0: float, x1: float, y_of: Callable[[float], float]
) -> list[str]:
    """Horizontal grid lines at 0, half and the peak share, labelled on the left."""
    parts = []
    for share in (0.0, peak / 2, peak):
        y = y_of(share)
        parts.append(
            f"<line x1='{x0}' y1='{y:.1f}' x2='{x1}' y2='{y:.1f}' stroke='{_GRID}'/>"
            f"<text x='{x0 - 4}' y='{y + 4:.1f}' text-anchor='end' "
            f"fill='{_MUTED}'>{_percent(share)}</text>"
        )
    return parts


def _numeric(feature: FeatureDrift) -> str:
    edges = [float(edge) for edge in feature.edges or ()]
    reference = _shares(feature.reference_counts)
    current = _shares(feature.current_counts)
    if len(edges) < 2 or not reference:
        return _message(feature, "no reference values to bin")
    height = 260
    x0, x1 = _LEFT, _WIDTH - _RIGHT
    bottom, top = height - _BOTTOM, _TOP + 6
    peak = max(max(reference), max(current), 1e-12)

    def y_of(share: float) -> float:
        return bottom - (bottom - top) * share / peak

    parts = _share_axis(peak, x0, x1, y_of)
    step = edges[1] - edges[0]
    legend = [("reference", _REFERENCE_STYLE), ("current", _CURRENT_STYLE)]
    if step <= 0:
        # A constant reference: below, at, and above its single value.
        value = _number(edges[0])
        slots = [
            (f"< {value}", 0),
            (f"= {value}", len(reference) - 2),
            (f"> {value}", len(reference) - 1),
        ]
        slot = (x1 - x0) / len(slots)
        for index, (label, at) in enumerate(slots):
            left = x0 + index * slot + slot * 0.15
            width = slot * 0.35
            for offset, shares, style, side in (
                (0.0, reference, _REFERENCE_STYLE, "reference"),
                (width, current, _CURRENT_STYLE, "current"),
            ):
                share = shares[at]
                parts.append(
                    _bar(
                        left + offset,
                        y_of(share),
                        width,
                        bottom - y_of(share),
                        style,
                        f"{label}: {side} {_percent(share)}",
                    )
                )
            parts.append(
                f"<text x='{x0 + (index + 0.5) * slot:.1f}' y='{bottom + 16}' "
                f"text-anchor='middle' fill='{_MUTED}'>{_e(label)}</text>"
            )
    else:
        bins = len(edges) - 1
        # One bin's room beyond each end for the current values out of range.
        slot = (x1 - x0) / (bins + 2)

        def x_of(position: float) -> float:
            return x0 + slot * (position + 1)

        for index in range(bins):
            low, high = edges[index], edges[index + 1]
            where = f"{_number(low)} to {_number(high)}"
            ref_share, cur_share = reference[index + 1], current[index + 1]
            tip = (
                f"{where}: reference {_percent(ref_share)}, current "
                f"{_percent(cur_share)}"
            )
            for share, style in (
                (ref_share, _REFERENCE_STYLE),
                (cur_share, _CURRENT_STYLE),
            ):
                parts.append(
                    _bar(
                        x_of(index),
                        y_of(share),
                        slot,
                        bottom - y_of(share),
                        style,
                        tip,
                    )
                )
        for share, position, side in (
            (current[0], -1, "below min"),
            (current[-1], bins, "above max"),
        ):
            if share > 0:
                parts.append(
                    _bar(
                        x_of(position),
                        y_of(share),
                        slot,
                        bottom - y_of(share),
                        _BEYOND_STYLE,
                        f"current {side}: {_percent(share)}",
                    )
                )
                legend.append((f"current {side}", _BEYOND_STYLE))
        for position, edge in ((0, edges[0]), (bins, edges[-1])):
            x = x_of(position)
            parts.append(
                f"<line x1='{x:.1f}' y1='{top}' x2='{x:.1f}' y2='{bottom}' "
                f"stroke='{_MUTED}' stroke-dasharray='1 2'/>"
                f"<text x='{x:.1f}' y='{bottom + 16}' text-anchor='middle' "
                f"fill='{_MUTED}'>{_e(_number(edge))}</text>"
            )
        span = edges[-1] - edges[0]
        # Rounded to the range's scale: a midpoint of -0.0025 on [-5, 5] reads 0.
        middle = round((edges[0] + edges[-1]) / 2 / span, 3) * span + 0.0
        parts.append(
            f"<text x='{x_of(bins / 2):.1f}' y='{bottom + 16}' text-anchor='middle' "
            f"fill='{_MUTED}'>{_e(_number(middle))}</text>"
        )
    parts.append(
        f"<line x1='{x0}' y1='{bottom}' x2='{x1}' y2='{bottom}' stroke='{_MUTED}'/>"
        f"<text x='12' y='{(top + bottom) / 2:.0f}' fill='{_MUTED}' "
        f"transform='rotate(-90 12 {(top + bottom) / 2:.0f})' text-anchor='middle'>"
        "share of values</text>"
    )
    parts += _legend(legend, top)
    return _svg(feature, height, parts)


def _categorical(feature: FeatureDrift) -> str:
    words = [str(word) for word in feature.categories or ()]
    reference = _shares(feature.reference_counts)
    current = _shares(feature.current_counts)
    order = sorted(
        range(len(words)),
        key=lambda i: -max(reference[i] if reference else 0.0, current[i]),
    )[:TOP_CATEGORIES]
    if not order:
        return _message(feature, "no values")
    row = 22
    labels_width = 170
    x0, x1 = _LEFT + labels_width, _WIDTH - _RIGHT
    top = _TOP + 8
    bottom = top + row * len(order)
    height = bottom + _BOTTOM
    peak = max(max(reference, default=0.0), max(current), 1e-12)

    def x_of(share: float) -> float:
        return x0 + (x1 - x0) * share / peak

    parts = []
    for share in (0.0, peak / 2, peak):
        x = x_of(share)
        parts.append(
            f"<line x1='{x:.1f}' y1='{top}' x2='{x:.1f}' y2='{bottom}' "
            f"stroke='{_GRID}'/><text x='{x:.1f}' y='{bottom + 16}' "
            f"text-anchor='middle' fill='{_MUTED}'>{_percent(share)}</text>"
        )
    for slot, index in enumerate(order):
        word = words[index]
        new = feature.reference_counts[index] == 0 and word not in LUMPED
        label = f"{word} (new)" if new else word
        shown = label if len(label) <= 26 else label[:25] + "…"
        y = top + slot * row
        ref_share = reference[index] if reference else 0.0
        cur_share = current[index]
        tip = f"{label}: reference {_percent(ref_share)}, current {_percent(cur_share)}"
        parts.append(
            f"<text x='{x0 - 6}' y='{y + 14}' text-anchor='end' "
            f"fill='{_DRIFT_COLOR if new else _TEXT_COLOR}'>{_e(shown)}"
            f"<title>{_e(label)}</title></text>"
        )
        parts.append(
            _bar(x0, y + 3, x_of(ref_share) - x0, 8, _REFERENCE_STYLE, tip)
            + _bar(x0, y + 11, x_of(cur_share) - x0, 8, _CURRENT_STYLE, tip)
        )
    parts.append(
        f"<line x1='{x0}' y1='{top}' x2='{x0}' y2='{bottom}' stroke='{_MUTED}'/>"
        f"<text x='{(x0 + x1) / 2:.0f}' y='{height - 4}' text-anchor='middle' "
        f"fill='{_MUTED}'>share of values</text>"
    )
    parts += _legend(
        [("reference", _REFERENCE_STYLE), ("current", _CURRENT_STYLE)], top
    )
    return _svg(feature, height, parts)
