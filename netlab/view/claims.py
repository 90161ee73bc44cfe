"""The course's claims checked on your kernel as a table: claim, chapter, parameters, model, your kernel, agrees —
and the one summary line of ``python -m netlab.check``."""
from __future__ import annotations

import textwrap
from typing import Sequence

from netlab import check
from netlab.live.claims import Claim
from netlab.view.table import Table

HEADER = ("claim", "chapter", "parameters", "model", "your kernel", "agrees")
WIDTHS = (30, 7, 28, 22, 22, 16)
"""Characters per column of the text form: each cell wraps within its column (about 130 characters a line)."""


class ClaimsTable(Table):
    """The claims as a table: HTML in a notebook; in a terminal, columns whose cells wrap (:data:`WIDTHS`)."""

    def __str__(self) -> str:
        lines = [self.title] if self.title else []
        for cells in [self.header, *self.rows]:
            wrapped = [textwrap.wrap(c, w) or [""] for c, w in zip(cells, WIDTHS)]
            for k in range(max(map(len, wrapped))):
                lines.append("  ".join((col[k] if k < len(col) else "").ljust(w)
                                       for col, w in zip(wrapped, WIDTHS)).rstrip())
            lines.append("")
        return "\n".join(lines).rstrip()


@check.arguments
def claims_table(rows: Sequence[Claim], title: str = "The course's claims on your kernel") -> ClaimsTable:
    """``rows`` as a table (HTML in a notebook, wrapped text columns elsewhere)."""
    if any(not isinstance(r, Claim) for r in rows):
        raise TypeError("rows must be Claim rows (netlab.live.claims.Claim)")
    return ClaimsTable(HEADER, [[r.claim, r.chapter, r.parameters, r.model, r.kernel or "—",
                                r.verdict if r.agrees is None else "yes" if r.agrees else "NO"]
                                for r in rows], title=title)


@check.arguments
def summary_line(rows: Sequence[Claim]) -> str:
    """``netlab check: A of N claims agree with this kernel, D disagree, U not measurable here``."""
    if any(not isinstance(r, Claim) for r in rows):
        raise TypeError("rows must be Claim rows (netlab.live.claims.Claim)")
    agree = sum(r.agrees is True for r in rows)
    disagree = sum(r.agrees is False for r in rows)
    return (f"netlab check: {agree} of {len(rows)} claims agree with this kernel, {disagree} disagree, "
            f"{len(rows) - agree - disagree} not measurable here")
