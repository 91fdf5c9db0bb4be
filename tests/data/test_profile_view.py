"""The profile people read in the KFP UI."""

from __future__ import annotations

from html.parser import HTMLParser

import numpy as np
import pandas as pd
import pytest

from mlops_suite.data.profile_view import render_profile_html, render_profile_markdown
from mlops_suite.data.schema import infer_schema
from mlops_suite.data.statistics import MAX_FREQUENCIES, compute_statistics


@pytest.fixture
def profile(penguins: pd.DataFrame) -> tuple[dict, dict]:
    data = penguins.assign(member=np.arange(len(penguins)) % 3 == 0)
    stats = compute_statistics(data)
    return stats, infer_schema(data, stats)


class _Tags(HTMLParser):
    """Collect the tags of a page and check that they nest."""

    VOID = {"meta", "br", "img", "line", "rect", "hr"}

    def __init__(self) -> None:
        super().__init__()
        self.open: list[str] = []
        self.seen: list[str] = []
        self.attrs: list[tuple[str, str | None]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.seen.append(tag)
        self.attrs.extend(attrs)
        if tag not in self.VOID:
            self.open.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.seen.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag in self.VOID:
            return
        assert self.open and self.open[-1] == tag, (self.open[-3:], tag)
        self.open.pop()


def test_html_is_self_contained_and_well_formed(profile: tuple[dict, dict]) -> None:
    page = render_profile_html(*profile)
    tags = _Tags()
    tags.feed(page)

    assert tags.open == []
    assert "script" not in tags.seen
    assert not [value for name, value in tags.attrs if name in ("src", "href")]
    # One histogram per numeric column, with a bar per bin.
    assert tags.seen.count("svg") == 5
    assert tags.seen.count("rect") == 5 * 20


def test_html_shows_every_column_its_numbers_and_the_schema(
    profile: tuple[dict, dict],
) -> None:
    page = render_profile_html(*profile)

    assert "344 rows · 9 columns (5 numeric, 3 categorical, 1 boolean)" in page
    for name in ["bill_length_mm", "island", "sex", "member", "year"]:
        assert page.count(f">{name}<") >= 2  # its profile row and its schema row
    assert "Biscoe" in page and "168 (48.8%)" in page
    assert "32.1" in page and "59.6" in page
    assert "one of female, male" in page
    assert "&#x27;sex&#x27; is missing in 11 of 344 rows" in page


def test_html_escapes_names_and_values() -> None:
    frame = pd.DataFrame({"<b>x</b>": ["<script>alert(1)</script>", "a"]})
    stats = compute_statistics(frame)

    page = render_profile_html(stats, infer_schema(frame, stats))

    assert "<script>" not in page and "<b>x</b>" not in page
    assert "&lt;script&gt;" in page


def test_markdown_tables(profile: tuple[dict, dict]) -> None:
    text = render_profile_markdown(*profile)

    assert text.startswith("# Data profile\n")
    assert "| `bill_length_mm` | 342 | 2 (0.581%) | 32.1 | 43.92 | 5.46 |" in text
    assert "| `island` | 344 | 0 | 3 | Biscoe 168 (48.8%)" in text
    assert "| `member` | 344 | 0 | 115 (33.4%) | 229 (66.6%) |" in text
    assert (
        "| `bill_length_mm` | numeric | float64 | yes | 5.59% | "
        "32.1 to 59.6 (out of range warns) |" in text
    )
    # Every table row has the same number of cells as its header.
    for block in text.split("\n\n"):
        rows = [line for line in block.splitlines() if line.startswith("|")]
        widths = {line.replace("\\|", "").count("|") for line in rows}
        assert len(widths) <= 1, block


def test_views_handle_empty_and_odd_columns() -> None:
    frame = pd.DataFrame(
        {"gap": [np.nan] * 3, "pipe|name": ["a|b", "c", "c"], "same": [1, 1, 1]}
    )
    stats = compute_statistics(frame)
    schema = infer_schema(frame, stats)

    text = render_profile_markdown(stats, schema)
    page = render_profile_html(stats, schema)

    assert "'gap' is missing in every row." in text
    assert "'same' is constant (1)." in text
    assert "`pipe\\|name`" in text
    assert "no values" in page


def test_html_sums_the_values_beyond_the_kept_frequencies() -> None:
    frame = pd.DataFrame({"id": [f"v{i}" for i in range(MAX_FREQUENCIES + 7)]})
    stats = compute_statistics(frame)

    page = render_profile_html(stats, infer_schema(frame, stats))

    assert f"values beyond the top {MAX_FREQUENCIES}" in page
    assert "90 other values" in page  # kept beyond the 10 shown
