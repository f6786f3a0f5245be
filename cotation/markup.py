"""HTML cells for the notebook tables (``_repr_html_`` of Scores and Ranking): every text escaped."""

from __future__ import annotations

from collections.abc import Iterable
from html import escape


def th(name: str, title: str = "") -> str:
    """A header cell, with its ``title`` (the column's label) as a tooltip when given."""
    attr = f' title="{escape(title)}"' if title else ""
    return f"<th{attr}>{escape(name)}</th>"


def tr(cells: Iterable[object]) -> str:
    """A body row of the cells' texts."""
    return "<tr>" + "".join(f"<td>{escape(str(c))}</td>" for c in cells) + "</tr>"
