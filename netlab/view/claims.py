"""The course's claims checked on your kernel as a table: claim, chapter, parameters, model, your kernel, agrees —
and the one summary line of ``python -m netlab.check``."""
from __future__ import annotations

from typing import Sequence

from netlab import check
from netlab.live.claims import Claim
from netlab.view.table import Table

HEADER = ("claim", "chapter", "parameters", "model", "your kernel", "agrees")


def _agrees(row: Claim) -> str:
    if row.agrees is None:
        return ("not compared, because " if row.kernel is not None else "not available here, because ") + row.reason
    return "yes" if row.agrees else "NO"


@check.arguments
def claims_table(rows: Sequence[Claim], title: str = "The course's claims on your kernel") -> Table:
    """``rows`` as a :class:`~netlab.view.table.Table` (HTML in a notebook, aligned text elsewhere)."""
    if any(not isinstance(r, Claim) for r in rows):
        raise TypeError("rows must be Claim rows (netlab.live.claims.Claim)")
    return Table(HEADER, [[r.claim, r.chapter, r.parameters, r.model, r.kernel or "—", _agrees(r)] for r in rows],
                 title=title)


@check.arguments
def summary_line(rows: Sequence[Claim]) -> str:
    """``netlab check: A of N claims agree with this kernel, D disagree, U not measurable here``."""
    if any(not isinstance(r, Claim) for r in rows):
        raise TypeError("rows must be Claim rows (netlab.live.claims.Claim)")
    agree = sum(r.agrees is True for r in rows)
    disagree = sum(r.agrees is False for r in rows)
    return (f"netlab check: {agree} of {len(rows)} claims agree with this kernel, {disagree} disagree, "
            f"{len(rows) - agree - disagree} not measurable here")
