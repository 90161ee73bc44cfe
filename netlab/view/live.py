"""A table of live readings (:class:`LiveResult`): what was measured, the value or why not, and how."""
from __future__ import annotations

from html import escape
from typing import Iterable

from netlab import check
from netlab.live.result import LiveResult
from netlab.view.svg import CONTEXT_COLOURS

SEEN, NOT_HERE = "✓", "—"


def _rows(results: Iterable[LiveResult]) -> list[tuple[str, str, str, str]]:
    rows = []
    for r in results:
        if not isinstance(r, LiveResult):
            raise TypeError(f"expected LiveResults, got {type(r).__name__}")
        shown = str(r.value) if r.available else f"not available here, because {r.reason}"
        rows.append((SEEN if r.available else NOT_HERE, r.what, shown, r.how))
    return rows


@check.arguments
def live_table_text(results: Iterable[LiveResult]) -> str:
    """One line per reading: ``✓ what: value`` or ``— what: not available here, because …``."""
    return "\n".join(f"{mark} {what}: {shown}" for mark, what, shown, _ in _rows(results))


@check.arguments
def live_table_html(results: Iterable[LiveResult]) -> str:
    """An HTML table (for ``IPython.display.HTML``); the 'how' of each reading is its tooltip."""
    body = []
    for mark, what, shown, how in _rows(results):
        colour = CONTEXT_COLOURS["process"] if mark == SEEN else "#868e96"
        body.append(f'<tr title="measured by {escape(how)}"><td style="color:{colour};text-align:center">{mark}</td>'
                    f'<td style="text-align:left"><b>{escape(what)}</b></td>'
                    f'<td style="text-align:left">{escape(shown)}</td></tr>')
    return ('<table class="netlab-live"><thead><tr><th></th><th style="text-align:left">what</th>'
            '<th style="text-align:left">on this machine</th></tr></thead><tbody>' + "".join(body) +
            "</tbody></table>")
