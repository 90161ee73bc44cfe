"""A table of live readings (:class:`LiveResult`): what was measured, the value or why not, and how; round trips
measured on this machine (``netlab.live.loopback.RoundTrip``), drawn and said with the same statistic; and
sendfile() against read()+send() (``netlab.live.sendfile.FileSendReading``), said from the numbers measured."""
from __future__ import annotations

import textwrap
from html import escape
from typing import Annotated, Iterable, Sequence

from netlab import check
from netlab.check import Range
from netlab.live.result import LiveResult
from netlab.units import number, percent, plural
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


SAME_WITHIN = 0.10
"""Throughputs closer than this share are "the same": each method's best of a few runs cannot tell them apart."""
SENDER_BOUND = 0.9
"""A sender busy on the CPU for at least this share of its run set the pace itself (it never waited to send)."""
ROUGH_CPU_S = 0.02
"""CPU times below this are a few scheduler ticks (getrusage counts in ticks of up to 4 ms on many kernels)."""


@check.arguments
def file_send_text(reading, copy_gbs: Annotated[float, Range(0, 10_000)] | None = None,
                   syscall_s: Annotated[float, Range(0, 1)] | None = None) -> str:
    """Why sendfile() was faster than read()+send() over loopback, or not, in this ``reading``
    (``netlab.live.sendfile.FileSendReading``): the throughputs; what sendfile saved the sender (the two copies of
    each byte and the system calls — priced with ``copy_gbs`` and ``syscall_s`` from
    ``netlab.live.sendfile.calibrate``, when given); how much of its run the sender was busy, which says whether
    its own work or the rest of loopback's path set the pace; and the page cache, hot here."""
    runs = getattr(reading, "runs", None)
    if not isinstance(runs, dict) or not {"read+send", "sendfile"} <= set(runs):
        raise ValueError("reading must be a FileSendReading (netlab.live.sendfile.file_send) with runs of "
                         "'read+send' and 'sendfile'")
    if (copy_gbs is None) != (syscall_s is None):
        raise ValueError("give both copy_gbs and syscall_s (netlab.live.sendfile.calibrate), or neither")
    rs, sf = runs["read+send"], runs["sendfile"]
    gain = sf.gbytes_per_s / rs.gbytes_per_s - 1
    verdict = (f"the same within {number(100 * SAME_WITHIN)} %, closer than a few runs per method can tell apart"
               if abs(gain) < SAME_WITHIN else f"sendfile() {percent(abs(gain))} {'faster' if gain > 0 else 'slower'}")
    said = [f"Throughput: sendfile() {number(sf.gbytes_per_s)} GB/s, read()+send() {number(rs.gbytes_per_s)} GB/s — "
            f"{verdict}."]
    saved = 1 - sf.sys_s_per_gb / rs.sys_s_per_gb if rs.sys_s_per_gb else 0.0
    cpu = (f"What sendfile saves is the sender's own work: it does not copy each byte from the page cache into your "
           f"buffer and from there into an skb (two CPU copies; the skb references the page-cache pages instead), "
           f"and it made {plural(sf.syscalls, 'system call')} instead of {number(rs.syscalls)}. The sender's system "
           f"CPU: {number(rs.sys_s_per_gb)} s per GB with read()+send(), {number(sf.sys_s_per_gb)} s with sendfile() ("
           f"{percent(saved)} less).")
    if copy_gbs is not None:
        check.real("copy_gbs", copy_gbs, above=0)
        check.real("syscall_s", syscall_s, above=0)
        copies_s = 2 / copy_gbs
        calls_s = (rs.syscalls - sf.syscalls) / (rs.bytes / 1e9) * syscall_s
        cpu += (f" Priced with this machine's numbers, the two copies cost {number(copies_s)} s per GB (at "
                f"{number(copy_gbs)} GB/s) and the system calls saved {number(calls_s)} s: "
                f"{'the copies' if copies_s >= calls_s else 'the system calls'} are most of the saving.")
    said.append(cpu)
    busy = {name: (run.user_s + run.sys_s) / run.wall_s for name, run in (("read+send", rs), ("sendfile", sf))}
    if busy["read+send"] >= SENDER_BOUND:
        pace = (f"With read()+send() the sender was busy {percent(busy['read+send'])} of its run: its own work set "
                f"the pace, so what sendfile saves it can show in the throughput.")
    else:
        pace = (f"Throughput is not the sender's own CPU time: the sender was busy only {percent(busy['read+send'])} "
                f"of its run with read()+send() and {percent(busy['sendfile'])} with sendfile(). The rest went to the "
                f"other half of loopback, which both methods pay alike: the NET_RX softirq that receives every "
                f"segment (it runs on the sending CPU, inside send(), but the kernel books its time apart), TCP and "
                f"IP on the way in, and waiting for room in the send buffer until the receiver has copied the bytes "
                f"out with recv() — a copy sendfile does not remove. On loopback that stack, not the sender's "
                f"copies, sets the pace.")
    said.append(pace)
    said.append("The page cache was hot: the file was written just before the runs, so both methods read it from "
                "memory. From a cold cache each byte would first come from the disk, by DMA into the page cache, "
                "for both methods alike; the disk would set the pace and hide the difference even more.")
    if min(rs.sys_s, sf.sys_s) < ROUGH_CPU_S:
        said.append(f"(CPU times under {number(ROUGH_CPU_S * 1000)} ms are a few scheduler ticks: getrusage counts "
                    f"them in ticks of up to 4 ms on many kernels, so read them as rough; a larger file gives firmer "
                    f"numbers.)")
    return "\n\n".join(textwrap.fill(line, width=110) for line in said)
