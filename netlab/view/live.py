"""A table of live readings (:class:`LiveResult`): what was measured, the value or why not, and how; and round
trips measured on this machine (``netlab.live.loopback.RoundTrip``), drawn and said with the same statistic."""
from __future__ import annotations

import textwrap
from html import escape
from typing import Iterable, Sequence

from netlab import check
from netlab.live.result import LiveResult
from netlab.units import number
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


def _trips(trips: Sequence) -> Sequence:
    if not trips or not all(hasattr(t, "differs_from") and hasattr(t, "median_us") for t in trips):
        raise ValueError("trips must be a non-empty list of RoundTrip (netlab.live.loopback.round_trips)")
    return trips


def _us(x: float) -> str:
    return f"{number(x, 4)} µs"


@check.arguments
def round_trips_text(trips: Sequence) -> str:
    """Each address's median round trip and its 95 % interval, then each address against the first: the same
    within the noise (the intervals overlap) or really different in this run, by how much, and where that can
    come from."""
    base, lines = _trips(trips)[0], []
    width = max(len(t.address) for t in trips)
    for t in trips:
        lines.append(f"{t.address:<{width}}  median {_us(t.median_us)}  (95 % interval {number(t.low_us, 4)}–"
                     f"{_us(t.high_us)}, {number(t.rounds)} rounds)")
    for t in trips[1:]:
        if not t.differs_from(base):
            said = (f"{t.address} vs {base.address}: the same within the noise — the two medians' 95 % intervals "
                    "overlap.")
        else:
            gap = t.median_us - base.median_us
            said = (f"{t.address} vs {base.address}: {_us(abs(gap))} ({number(100 * abs(gap) / base.median_us)} %) "
                    f"{'slower' if gap > 0 else 'faster'}, and real in this run — the 95 % intervals do not overlap, "
                    "and the rounds took turns, so other load on this machine hit both alike. The kernel runs the "
                    "same functions for both, so it is not the path: it is what the model does not time, the two "
                    "connections themselves (where their sockets and buffers sit in the CPU caches, which hash "
                    "bucket finds them).")
        lines.append(textwrap.fill(said, width=110, subsequent_indent="  "))
    return "\n".join(lines)


@check.arguments
def plot_round_trips(ax, trips: Sequence) -> None:
    """Horizontal bars: each address's median round trip, the whisker its 95 % interval (as
    :func:`round_trips_text` says it)."""
    _trips(trips)
    ax.barh([t.address for t in trips], [t.median_us for t in trips], color=CONTEXT_COLOURS["process"],
            xerr=[[t.median_us - t.low_us for t in trips], [t.high_us - t.median_us for t in trips]], capsize=4)
    for i, t in enumerate(trips):
        ax.annotate(_us(t.median_us), (t.high_us, i), xytext=(6, 0), textcoords="offset points",
                    va="center")
    ax.set_xlabel("TCP round trip, µs: median and its 95 % interval")
    ax.set_xlim(0, 1.25 * max(t.high_us for t in trips))
    ax.invert_yaxis()
