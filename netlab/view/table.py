"""A table for the learner: an HTML table in a notebook, aligned text columns where HTML does not render.

    Table(["method", "CPU copies"], [["read+send", 2], ["sendfile", 0]])

Numbers go through :mod:`netlab.units` (``number``), so no cell reads ``4.00349e+06``; a cell that must carry a
unit is passed already worded (``duration(…)``, ``size(…)``). ``None`` reads ``n/a``; a tuple its cells joined by
" / ".
"""
from __future__ import annotations

from html import escape
from typing import Any, Sequence

from netlab import check
from netlab.units import number


def _cell(value: Any) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (int, float)):
        return number(value)
    if isinstance(value, str):
        return value
    if isinstance(value, tuple):
        return " / ".join(_cell(v) for v in value)
    raise TypeError(f"a table cell is a str, a number, a tuple of those or None, not {type(value).__name__}")


class Table:
    """``rows`` under ``header``; the first column (the row's name) aligns left, the others right."""

    @check.arguments
    def __init__(self, header: Sequence[str], rows: Sequence[Sequence[Any]], title: str = ""):
        if isinstance(header, str) or not header:
            raise ValueError("header must be a non-empty list of column names")
        if any(isinstance(row, str) or len(row) != len(header) for row in rows):
            raise ValueError(f"every row must have {len(header)} cells, one per column of the header")
        self.header, self.title = [str(h) for h in header], title
        self.rows = [[_cell(v) for v in row] for row in rows]

    def __str__(self) -> str:
        widths = [max(len(line[i]) for line in [self.header, *self.rows]) for i in range(len(self.header))]

        def line(cells):
            return "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths)))

        return "\n".join(([self.title] if self.title else []) + [line(self.header)] + [line(r) for r in self.rows])

    def _repr_html_(self) -> str:
        def row(cells, tag):
            return "<tr>" + "".join(f'<{tag} style="text-align:{"left" if i == 0 else "right"}">{escape(c)}</{tag}>'
                                    for i, c in enumerate(cells)) + "</tr>"

        caption = f"<caption style='text-align:left'><b>{escape(self.title)}</b></caption>" if self.title else ""
        return (f'<table class="netlab-table">{caption}<thead>{row(self.header, "th")}</thead><tbody>'
                + "".join(row(r, "td") for r in self.rows) + "</tbody></table>")

    def __repr__(self) -> str:
        return str(self)
