"""Drawings for chapter 02: tasks and CPUs, socket wait queues, epoll's rbr/rdllist/ovflist/wq, a timeline of
context switches, LT/ET/ONESHOT side by side, and a slider over the number of connections.

Every function takes what a model produced (a trace event's ``state``, a ``LabState`` read by attribute;
``Lab.timeline()``, the rows of ``trigger_modes``, :class:`ServerRun` results) and returns SVG/HTML or a widget;
none calls a model. Each drawing has a plain-text twin (``*_text``) for places where widgets and SVG do not render.
"""
from __future__ import annotations

import math
from html import escape
from typing import Any, Mapping, Sequence

import ipywidgets as W

from netlab import check
from netlab.trace import Event
from netlab.units import duration, number, percent, size
from netlab.view import svg

STATE_COLOURS = {"TASK_RUNNING": "#b2f2bb", "TASK_INTERRUPTIBLE": "#a5d8ff", "TASK_UNINTERRUPTIBLE": "#d0bfff",
                 "TASK_DEAD": "#dee2e6"}
RED, BLACK = "#e03131", "#343a40"
ROW = 26


def _chain(x: float, y: float, label: str, items: Sequence[str], fill: str, empty: str = "empty") -> tuple[str, float]:
    """``label: [a] → [b] → …`` at (x, y); returns the SVG and the width used."""
    parts = [svg.text(x, y + 14, label, size=12, weight="bold")]
    cx = x + 7.2 * len(label) + 10
    if not items:
        parts.append(svg.text(cx, y + 14, empty, size=11, fill="#868e96"))
        return "".join(parts), cx + 60 - x
    for i, item in enumerate(items):
        w = 7 * len(item) + 12
        parts.append(svg.rect(cx, y, w, 20, fill=fill, title=item))
        parts.append(svg.text(cx + 6, y + 14, item, size=11, mono=True))
        cx += w
        if i + 1 < len(items):
            parts.append(svg.line(cx, y + 10, cx + 14, y + 10))
            cx += 14
    return "".join(parts), cx - x


# --- the red-black tree --------------------------------------------------------------------------------------
def _layout(tree) -> list[tuple[Any, int, int, Any]]:
    """(node, in-order index, depth, parent) for every node."""
    out: list = []

    def walk(n, depth, parent):
        if n is None:
            return
        walk(n.left, depth + 1, n)
        out.append((n, len(out), depth, parent))
        walk(n.right, depth + 1, n)

    walk(tree, 0, None)
    return out


@check.arguments
def rbtree_svg(tree: Any, title: str = "rbr (red-black tree of epitems)", lit: str | None = None) -> str:
    """Draw a tree snapshot (``RbRootCached.snapshot``: nodes with ``key``, ``color``, ``left``, ``right``; None
    when empty); ``lit`` highlights a key."""
    nodes = _layout(tree)
    step, level = 58, 46
    width = max(200, step * len(nodes) + 20)
    depth = max((d for _, _, d, _ in nodes), default=0)
    height = 40 + level * (depth + 1)
    pos = {id(n): (10 + step * i + step / 2, 36 + level * d) for n, i, d, _ in nodes}
    parts = [svg.text(6, 16, title, size=12, weight="bold")]
    if not nodes:
        parts.append(svg.text(10, 40, "empty: no fd added yet", size=11, fill="#868e96"))
    for n, _, _, parent in nodes:
        if parent is not None:
            (x1, y1), (x2, y2) = pos[id(parent)], pos[id(n)]
            parts.append(svg.line(x1, y1, x2, y2, stroke="#adb5bd"))
    for n, _, _, _ in nodes:
        x, y = pos[id(n)]
        colour = RED if n.color == "red" else BLACK
        ring = f' stroke="{svg.LIT}" stroke-width="4"' if n.key == lit else ""
        parts.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="17" fill="{colour}"{ring}>'
                     f'<title>{escape(n.key)} ({n.color})</title></circle>')
        parts.append(svg.text(x, y + 4, n.key, size=10, anchor="middle", fill="#ffffff"))
    return svg.document(width, height, "".join(parts), label=title)


@check.arguments
def rbtree_text(tree: Any) -> str:
    """The tree sideways, one node per line: ``key (red|black)``, children indented."""
    lines: list[str] = []

    def walk(n, indent):
        if n is None:
            return
        walk(n.right, indent + 1)
        lines.append("    " * indent + f"{n.key} ({n.color})")
        walk(n.left, indent + 1)

    walk(tree, 0)
    return "\n".join(lines) or "(empty)"


# --- one step of a chapter-02 scenario ------------------------------------------------------------------------
@check.arguments
def lab_svg(state: Any) -> str:
    """CPUs, threads, sockets (queued bytes, wait queue), epolls (rbr, rdllist, ovflist, ep->wq) of a ``LabState``
    (``Lab.snapshot``)."""
    parts: list[str] = []
    y, width = 6, 420
    for i, cpu in enumerate(state.cpus):
        line, w = _chain(6, y, f"CPU {i} runs {cpu.curr}; run queue:", cpu.queue, "#fff3bf")
        parts.append(line)
        width = max(width, w + 12)
        y += ROW
    parts.append(svg.text(6, y + 14, "threads:", size=12, weight="bold"))
    x = 74
    for comm, t in state.threads.items():
        label = f"{comm} · {t.state} · nvcsw {t.nvcsw}"   # the state's kernel name, as the step says it
        w = 6.6 * len(label) + 12
        parts.append(svg.rect(x, y, w, 20, fill=STATE_COLOURS.get(t.state, svg.PAPER), title=label))
        parts.append(svg.text(x + 6, y + 14, label, size=11))
        x += w + 8
    width = max(width, x)
    y += ROW + 4
    for name, sock in state.sockets.items():
        extra = f"{sock.queued} B queued" if not sock.accept_queue else f"{sock.accept_queue} to accept"
        line, w = _chain(6, y, f"{name} ({extra}) wait queue:", sock.waiters, "#e7f5ff", "no waiters")
        parts.append(line)
        width = max(width, w + 12)
        y += ROW
    for name, ep in state.epolls.items():
        y += 6
        parts.append(svg.text(6, y + 14, f"epoll {name}", size=13, weight="bold"))
        y += ROW
        for label, items, fill, empty in (("rdllist:", ep.rdllist, "#ffe8cc", "empty"),
                                          ("ovflist:", ep.ovflist or (), "#ffc9c9",
                                           "not scanning" if ep.ovflist is None else "empty (scanning)"),
                                          ("ep->wq:", ep.wq, "#e7f5ff", "nobody in epoll_wait")):
            line, w = _chain(20, y, label, items, fill, empty)
            parts.append(line)
            width = max(width, w + 30)
            y += ROW
    body = "".join(parts)
    pictures = [svg.document(width, y + 6, body, label="threads, sockets and wait queues")]
    pictures += [rbtree_svg(ep.rbr, title=f"epoll {name}: rbr") for name, ep in state.epolls.items()]
    return "".join(f"<div>{picture}</div>" for picture in pictures)     # one under the other


@check.arguments
def draw_step(event: Event) -> str:
    """A Stepper ``draw`` for any chapter-02 scenario trace."""
    return lab_svg(event.state)


@check.arguments
def lab_text(state: Any) -> str:
    """The same picture as :func:`lab_svg`, in text."""
    lines = [f"CPU {i}: running {c.curr}, run queue: {', '.join(c.queue) or 'empty'}"
             for i, c in enumerate(state.cpus)]
    lines += [f"thread {comm}: {t.state} (nvcsw {t.nvcsw}, nivcsw {t.nivcsw})" for comm, t in state.threads.items()]
    for name, sock in state.sockets.items():
        lines.append(f"{name}: {sock.queued} B queued, waiters: {', '.join(sock.waiters) or 'none'}")
    for name, ep in state.epolls.items():
        ovflist = "not scanning" if ep.ovflist is None else ", ".join(ep.ovflist) or "empty"
        lines.append(f"epoll {name}: rdllist: {', '.join(ep.rdllist) or 'empty'}; ovflist: {ovflist}; "
                     f"ep->wq: {', '.join(ep.wq) or 'empty'}")
        lines.append("  rbr:\n" + "\n".join("    " + ln for ln in rbtree_text(ep.rbr).splitlines()))
    return "\n".join(lines)


# --- a timeline of context switches ----------------------------------------------------------------------------
def _round_ticks(start: float, end: float, most: int = 7) -> list[float]:
    """Axis ticks at round times (a 1, 2 or 5 step of a power of ten) from ``start`` to ``end``, at most ``most``."""
    step = 10 ** math.floor(math.log10(max(end - start, 1) / most))
    step = next(m * step for m in (1, 2, 5, 10) if (end - start) / (m * step) <= most)
    return [round(k * step, 9) for k in range(math.ceil(start / step), math.floor(end / step) + 1)]


@check.arguments
def timeline_svg(tl: Mapping[str, Any], width: int = 760, title: str = "who runs on the CPU") -> str:
    """``Lab.timeline()``: one lane per CPU, a bar per running task, red blocks for switches, arrows for packets."""
    start = tl["start"]
    span = max(tl["end"] - start, 1)
    cpus = sorted({r["cpu"] for r in tl["runs"]} | {s["cpu"] for s in tl["switches"]} | {0})
    left, lane = 60, 46
    scale = (width - left - 20) / span
    parts = [svg.text(6, 16, title, size=12, weight="bold")]
    for k, cpu in enumerate(cpus):
        y = 30 + k * lane
        parts.append(svg.text(6, y + 18, f"CPU {cpu}", size=12))
        for r in tl["runs"]:
            if r["cpu"] != cpu or r["end"] <= r["start"]:
                continue
            idle = r["comm"].startswith("swapper")
            x, w = left + (r["start"] - start) * scale, max(1.0, (r["end"] - r["start"]) * scale)
            parts.append(svg.rect(x, y, w, 26, fill="#f1f3f5" if idle else "#74c0fc", stroke="#adb5bd", rx=1,
                                  title=f"{r['comm']}: {duration(r['start'])}–{duration(r['end'])}"))
            if w > 7 * len(r["comm"]):
                parts.append(svg.text(x + 4, y + 17, "idle" if idle else r["comm"], size=11))
        n = 0
        for s in tl["switches"]:
            if s["cpu"] != cpu:
                continue
            n += 1
            x = left + (s["time"] - start) * scale
            parts.append(svg.rect(x, y - 4, max(3.0, s["cost"] * scale), 34, fill="#ff8787", stroke="#c92a2a", rx=1,
                                  title=f"switch {n}: {s['prev']} → {s['next']} at {duration(s['time'])} "
                                        f"({'blocked' if s['voluntary'] else 'preempted or from idle'})"))
            parts.append(svg.text(x, y - 6, f"#{n}", size=10, fill="#c92a2a"))
        for a in tl["arrivals"]:
            if a["cpu"] != cpu:
                continue
            x = left + (a["time"] - start) * scale
            parts.append(svg.line(x, y + 40, x, y + 28, stroke="#e08a1e", width=2))
            parts.append(svg.text(x + 3, y + 42, a["what"], size=10, fill="#e08a1e"))
    axis_y = 30 + len(cpus) * lane + 4
    for t in _round_ticks(start, start + span):
        parts.append(svg.text(left + (t - start) * scale, axis_y + 10, duration(t), size=10, anchor="middle",
                              fill="#495057"))
    return svg.document(width, axis_y + 16, "".join(parts), label=title)


@check.arguments
def timeline_text(tl: Mapping[str, Any]) -> str:
    lines = [(a["time"], f"{duration(a['time']):>10}  CPU {a['cpu']}: packet, {a['what']}") for a in tl["arrivals"]]
    lines += [(s["time"], f"{duration(s['time']):>10}  CPU {s['cpu']}: switch {s['prev']} → {s['next']} "
                          f"({'voluntary: it blocked' if s['voluntary'] else 'from idle or preempted'}), costs "
                          f"{duration(s['cost'])}") for s in tl["switches"]]
    return "\n".join(line for _, line in sorted(lines, key=lambda t: t[0]))    # a packet before the switch it causes


# --- LT vs ET vs ONESHOT -----------------------------------------------------------------------------------------
@check.arguments
def trigger_html(rows_by_mode: Mapping[str, Sequence[Mapping[str, Any]]]) -> str:
    """One table per mode, side by side: each epoll_wait, its events, bytes read and bytes left in the socket."""
    tables = []
    for mode, rows in rows_by_mode.items():
        body = "".join(
            f'<tr style="background:{"#fff5f5" if r["events"] == 0 and r["left"] else "#ffffff"}">'
            f'<td>{r["wait"]}</td><td>{r["time_us"]:.0f}</td><td><b>{r["events"]}</b></td><td>{r["read"]}</td>'
            f'<td>{r["left"]}</td></tr>' for r in rows)
        tables.append(f'<div style="margin-right:18px"><b>{escape(mode)}</b><table class="netlab-trigger" '
                      f'style="border-collapse:collapse;font-size:12px"><tr><th>wait</th><th>µs</th><th>events</th>'
                      f'<th>read</th><th>left</th></tr>{body}</table></div>')
    note = ('<div style="font-size:11px;color:#868e96">red rows: epoll_wait reported nothing although bytes are '
            'still queued</div>')
    return f'<div style="display:flex;flex-wrap:wrap">{"".join(tables)}</div>{note}'


@check.arguments
def trigger_text(rows_by_mode: Mapping[str, Sequence[Mapping[str, Any]]]) -> str:
    lines = []
    for mode, rows in rows_by_mode.items():
        lines.append(f"{mode}: " + ", ".join(f"#{r['wait']} {r['events']} ev (left {r['left']})" for r in rows))
    return "\n".join(lines)


# --- the number of connections -------------------------------------------------------------------------------------
_METRICS = (("CPU's context switches / s", lambda r: r.cpu_switches * 1e9 / r.window_ns,
             lambda v: number(round(v))),
            ("switching, of the busy time", lambda r: r.switch_share_of_busy, percent),
            ("switching, of all CPU time", lambda r: r.switch_share_of_cpu, percent),
            ("stack address space", lambda r: r.stack_virtual, size),
            ("stack resident + kernel", lambda r: r.stack_resident + r.kernel_bytes, size),
            ("requests / s", lambda r: r.requests_per_s, lambda v: number(round(v))))
"""(name, value of a run, the value in words): the bars of the slider. The switches are the CPU's (to and from the
idle task too: two per request when the server sleeps between requests), not only the server's own (getrusage).
CPU time switching is shown twice: as a share of the time the CPU was busy (server code + switches) and as a share
of all the time there was."""


@check.arguments
def connections_svg(threads: Any, epoll: Any, maxima: Mapping[str, float] | None = None) -> str:
    """Bars for one number of connections: thread-per-connection vs epoll, per metric."""
    width, bar = 640, 300
    parts = [svg.text(6, 16, f"{threads.connections} connections", size=13, weight="bold"),
             svg.rect(330, 6, 12, 12, fill="#ff8787"), svg.text(346, 16, "thread per connection", size=11),
             svg.rect(490, 6, 12, 12, fill="#74c0fc"), svg.text(506, 16, "one epoll loop", size=11)]
    y = 30
    for name, f, words in _METRICS:
        top = (maxima or {}).get(name) or max(f(threads), f(epoll), 1e-9)
        parts.append(svg.text(6, y + 14, name, size=12))
        for k, (run, colour) in enumerate(((threads, "#ff8787"), (epoll, "#74c0fc"))):
            v = f(run)
            w = max(1.0, bar * min(v / top, 1.0)) if top else 1.0
            parts.append(svg.rect(200, y + k * 16, w, 13, fill=colour, rx=1))
            parts.append(svg.text(206 + w, y + k * 16 + 11, words(v), size=10))
        y += 40
    return svg.document(width, y, "".join(parts), label="threads vs epoll")


def connections_text(threads: Any, epoll: Any) -> str:
    lines = [f"{threads.connections} connections: thread-per-connection | epoll"]
    lines += [f"  {name:<28} {words(f(threads)):>14} | {words(f(epoll))}" for name, f, words in _METRICS]
    return "\n".join(lines)


class ConnectionsSlider:
    """A slider over precomputed runs (``sweep_connections``); bars scale to the largest value of the sweep, so
    what grows and what stays flat is visible as the slider moves."""

    @check.arguments
    def __init__(self, sweep: Mapping[str, Sequence[Any]]):
        if set(sweep) != {"threads", "epoll"} or len(sweep["threads"]) != len(sweep["epoll"]) or not sweep["threads"]:
            raise ValueError("sweep must map 'threads' and 'epoll' to equally long, non-empty lists of runs")
        self.sweep = sweep
        self.maxima = {name: max(f(r) for runs in sweep.values() for r in runs) for name, f, _ in _METRICS}
        options = [(str(r.connections), i) for i, r in enumerate(sweep["threads"])]
        self.slider = W.SelectionSlider(options=options, value=0, description="connections",
                                        continuous_update=True, layout=W.Layout(width="520px"))
        self.drawing = W.HTML()
        self.slider.observe(lambda change: self._render(change["new"]), names="value")
        self.widget = W.VBox([self.slider, self.drawing])
        self._render(0)

    def _render(self, i: int) -> None:
        self.drawing.value = connections_svg(self.sweep["threads"][i], self.sweep["epoll"][i], self.maxima)

    def text(self) -> str:
        i = self.slider.value
        return connections_text(self.sweep["threads"][i], self.sweep["epoll"][i])

    def _repr_mimebundle_(self, **kwargs):
        bundle = self.widget._repr_mimebundle_(**kwargs)
        bundle["text/plain"] = self.text()
        return bundle


@check.arguments
def plot_connections_sweep(switches_ax, memory_ax, sweep: Mapping[str, Sequence[Any]]) -> None:
    """Chapter 02's sweep (``sweep_connections``: model → ServerRun per connection count): the server's context
    switches per second (the CPU's, as on the slider), and its resident stack plus kernel memory, against
    connections; the memory panel's title gives what each further connection adds (the slope from the smallest to
    the largest count: a thread for threads, the per-socket entries for epoll, whose one loop thread is shared)."""
    from matplotlib.ticker import FuncFormatter

    for model, colour in (("threads", "#e03131"), ("epoll", "#1c7ed6")):
        runs = sweep[model]
        counts = [r.connections for r in runs]
        switches_ax.plot(counts, [r.cpu_switches * 1e9 / r.window_ns for r in runs], "o-", color=colour,
                         label=model)
        memory_ax.plot(counts, [(r.stack_resident + r.kernel_bytes) / 2 ** 20 for r in runs], "o-", color=colour,
                       label=model)
    per = {model: _memory_per_further_connection(runs) for model, runs in sweep.items()}
    switches_ax.set(xscale="log", xlabel="connections (1 request / 10 ms each)", ylabel="CPU context switches / s",
                    title="switches: threads grow with the load")
    switches_ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: number(v)))
    memory_ax.set(xscale="log", yscale="log", xlabel="connections", ylabel="MiB (resident stack + kernel)",
                  title=f"each further connection: threads {size(per['threads'])}, epoll {size(per['epoll'])}")
    switches_ax.legend()
    memory_ax.legend()


def _memory_per_further_connection(runs: Sequence[Any]) -> float:
    """Resident stack + kernel bytes one more connection adds: the slope between the sweep's ends (the whole run
    divided by its connections would also spread epoll's one thread over them)."""
    ends = [(r.connections, r.stack_resident + r.kernel_bytes) for r in (runs[0], runs[-1])]
    (n0, bytes0), (n1, bytes1) = ends
    return (bytes1 - bytes0) / (n1 - n0) if n1 != n0 else bytes1 / n1
