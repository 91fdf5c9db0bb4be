"""Matplotlib figures as self-contained ``<img>`` tags for the HTML reports.

The KFP UI and the Vertex console show an HTML artifact on its own, with no files
beside it, so every plot is embedded as a base64 PNG.
"""

from __future__ import annotations

import base64
import html
import io

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure


def img_tag(fig: Figure, alt: str, *, dpi: int = 100) -> str:
    """Renders ``fig`` (on the Agg canvas, no display needed) as an ``<img>`` tag.

    Args:
        fig: The figure to render.
        alt: The image's alternative text.
        dpi: Resolution of the PNG.

    Returns:
        ``<img src="data:image/png;base64,..." alt="...">``.
    """
    FigureCanvasAgg(fig)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight")
    encoded = base64.b64encode(buffer.getvalue()).decode("ascii")
    return f'<img src="data:image/png;base64,{encoded}" alt="{html.escape(alt)}">'
