"""Drawings for chapters 06 and 07: slab caches filling up step by step, an fd table, and the plots.

``draw_slabs(event)`` and ``draw_fd_table(event)`` replay a trace's state for the Stepper (one small SVG per step);
``object_table_*`` render the per-object table a notebook passes in; the ``plot_*`` helpers draw numbers the
notebook computed. Nothing here runs a model.
"""
from __future__ import annotations

from collections import Counter
from html import escape
from typing import Mapping, Sequence

from netlab import check
from netlab.trace import Event
from netlab.units import number, size
from netlab.view import svg

FILL, EMPTY, TOUCHED = "#4c8bf5", "#e9ecef", "#ffd54a"
MAX_CELLS = 40          # slabs with more slots are drawn as a fill bar
MAX_SLABS = 6


def _slab_row(y: float, name: str, cache, touched: bool) -> str:
    per, used_per_slab = cache.per_slab, cache.slabs
    label = f"{name} · {cache.object_size} B × {per} per {cache.pages_per_slab}-page slab"
    parts = [svg.rect(4, y - 2, 632, 30, fill=TOUCHED if touched else svg.PAPER, stroke="none"),
             svg.text(10, y + 10, label, size=11, weight="bold" if touched else "normal"),
             svg.text(630, y + 10, f"{cache.bytes:,} B", size=11, anchor="end", mono=True)]
    x = 10
    for used in used_per_slab[:MAX_SLABS]:
        width = 96
        if per <= MAX_CELLS:
            cell = width / per
            for slot in range(per):
                parts.append(svg.rect(x + slot * cell, y + 14, max(cell - 1, 1), 10,
                                      fill=FILL if slot < used else EMPTY, stroke="none", rx=1))
        else:
            parts.append(svg.rect(x, y + 14, width, 10, fill=EMPTY, stroke="none", rx=1))
            parts.append(svg.rect(x, y + 14, width * used / per, 10, fill=FILL, stroke="none", rx=1))
        x += width + 6
    if len(used_per_slab) > MAX_SLABS:
        parts.append(svg.text(x, y + 23, f"+{len(used_per_slab) - MAX_SLABS} slabs", size=10))
    return "".join(parts)


@check.arguments
def draw_slabs(event: Event) -> str:
    """The slab caches in use on the connection end's host after this step (touched cache lit), and the objects the
    connection holds (a ``ConnectionMemoryState``)."""
    state = event.state
    caches = state.slab
    emptied = state.touched is not None and state.touched not in caches     # this step freed its last object
    top = 46                                                                 # below the two lines of words
    height = top + 14 + 32 * max(len(caches) + emptied, 1)
    head = (f"{state.host} host's slab caches · "
            f"{'no connection yet' if state.state == '-' else state.state} · slab memory {state.slab_bytes:,} B")
    objects = ", ".join(f"{n} × {name}" if n > 1 else name for name, n in Counter(state.objects).items())
    held = "" if state.state == "-" else f"the connection holds {objects or 'nothing'}"
    body = [svg.text(10, 16, head, size=12), svg.text(10, 32, held, size=10)]
    if not caches and not emptied:
        body.append(svg.text(10, top + 14, "no slab in use", size=11, fill="#868e96"))
    for i, (name, cache) in enumerate(sorted(caches.items())):
        body.append(_slab_row(top + 32 * i, name, cache, name == state.touched))
    if emptied:
        y = top + 32 * len(caches)
        body += [svg.rect(4, y - 2, 632, 30, fill=TOUCHED, stroke="none"),
                 svg.text(10, y + 10, f"{state.touched} · its last object was just freed: this model returns the "
                                      "empty slab at once", size=11, weight="bold"),
                 svg.text(10, y + 23, "(SLUB may keep it: a CPU's active slab, or up to min_partial empty slabs "
                                      "on the node's partial list)", size=10)]
    return svg.document(640, height, "".join(body), label="slab caches after this step")


@check.arguments
def draw_fd_table(event: Event) -> str:
    """The process's fds (taken or free) up to its soft RLIMIT_NOFILE, and the fd table's size (an
    ``FdLimitState``)."""
    state = event.state
    soft, hard = state.nofile
    taken = state.fdtable.open_fds
    parts = [svg.text(10, 16, f"RLIMIT_NOFILE {soft} (hard {hard}) · fds in use {taken} · fd table "
                              f"{state.fdtable.slots} slots · slab memory {state.slab_bytes:,} B", size=12)]
    cell = min(36, 600 / max(soft, 1))
    for fd in range(soft):
        used = fd < taken
        parts.append(svg.rect(10 + fd * cell, 28, cell - 2, 24, fill=FILL if used else EMPTY,
                              stroke="none", title=f"fd {fd}"))
        if cell >= 16:
            parts.append(svg.text(10 + fd * cell + cell / 2 - 1, 44, str(fd), size=10, anchor="middle",
                                  fill="#ffffff" if used else svg.INK))
    return svg.document(640, 62, "".join(parts), label="file descriptors of the process")


@check.arguments
def object_table_text(rows: Sequence[tuple[str, str, int, float]], aliases: Mapping[str, str] | None = None) -> str:
    """A connection end's objects (a ``Footprint``'s ``table()``: cache, struct, slot bytes, bytes with slab
    overhead) as text, with the total; a cache SLUB merged into another (``aliases``, the ``Footprint``'s: cache →
    its /proc/slabinfo row) names that row (``tcp_bind_bucket in kmalloc-64``)."""
    aliases = aliases or {}
    names = [f"{c} in {aliases[c]}" if c in aliases else c for c, *_ in rows]
    width = max([20, *map(len, names)])
    lines = [f"{'slab cache':<{width}} {'struct':<34} {'slot':>6} {'with overhead':>14}"]
    for name, (_, struct, slot, cost) in zip(names, rows):
        lines.append(f"{name:<{width}} {struct:<34} {slot:>6} {cost:>14.1f}")
    lines.append(f"{'total':<{width}} {'':<34} {'':>6} {sum(r[3] for r in rows):>14.1f}")
    return "\n".join(lines)


@check.arguments
def object_table_html(rows: Sequence[tuple[str, str, int, float]], aliases: Mapping[str, str] | None = None) -> str:
    """:func:`object_table_text` as an HTML table."""
    aliases = aliases or {}

    def cache(name: str) -> str:
        row = f" in <code>{escape(aliases[name])}</code>" if name in aliases else ""
        return f"<code>{escape(name)}</code>{row}"
    cells = "".join(f"<tr><td>{cache(c)}</td><td>{escape(s)}</td><td align=right>{slot}</td>"
                    f"<td align=right>{cost:,.1f}</td></tr>" for c, s, slot, cost in rows)
    total = sum(r[3] for r in rows)
    return ("<table><tr><th>slab cache</th><th>struct</th><th>slot (B)</th><th>per connection, with slab "
            f"overhead (B)</th></tr>{cells}<tr><td><b>total</b></td><td></td><td></td>"
            f"<td align=right><b>{total:,.1f}</b> = {total / 1024:.2f} KiB</td></tr></table>")


@check.arguments
def plot_per_state(ax, costs: Mapping[str, Mapping[str, float]], title: str = "") -> None:
    """Grouped bars: ``costs[state][kernel] = bytes per connection``."""
    states = list(costs)
    kernels = list(dict.fromkeys(k for v in costs.values() for k in v))
    width = 0.8 / max(len(kernels), 1)
    for i, kernel in enumerate(kernels):
        xs = [j + i * width for j in range(len(states))]
        values = [costs[s].get(kernel, 0) / 1024 for s in states]
        bars = ax.bar(xs, values, width, label=kernel)
        ax.bar_label(bars, fmt="%.2f", fontsize=8)
    ax.set_xticks([j + width * (len(kernels) - 1) / 2 for j in range(len(states))], states, rotation=15)
    ax.set_ylabel("KiB per connection (slab)")
    ax.set_title(title)
    ax.legend()


@check.arguments
def plot_memory_curves(ax, connections: Sequence[int], curves: Mapping[str, object], budget_bytes: float | None = None,
                       budget_label: str = "", title: str = "") -> None:
    """Slab memory (GiB) against connection count, one curve per label; an optional horizontal budget line, named by
    its size and ``budget_label`` (e.g. "¾ of 4 GiB"). The legend sits outside the axes, off the lines."""
    from matplotlib.ticker import FuncFormatter
    for label, values in curves.items():
        ax.plot(connections, [v / 2 ** 30 for v in values], label=label)
    if budget_bytes is not None:
        ax.axhline(budget_bytes / 2 ** 30, color="#868e96", linestyle="--",
                   label=f"{size(budget_bytes)}{f' ({budget_label})' if budget_label else ''}")
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: number(v)))
    ax.set_xlabel("connections")
    ax.set_ylabel("GiB of slab")
    ax.set_title(title)
    ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1), borderaxespad=0)
