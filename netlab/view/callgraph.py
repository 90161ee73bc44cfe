"""The path through the stack: every kernel function call of a trace as a tree, the current call lit.

A node is one *call* (one "call" event), not a function name: ``sock_def_readable`` called from TCP and the same
function called from somewhere else are two nodes under two different callers, as they were in the kernel. Each
step draws the tree folded around the current call: the calls on its path are open, every other call is one row
(with how many calls it made itself), consecutive calls of one function under one caller share a row ("× 64"),
and only a window of rows around the current call is drawn, its callers kept at the top, so the drawing has the
same height at every step and the current call is always in view. It is never wider than :data:`WIDTH` either, at
full size (11-px text): the levels drawn are indented one step each (levels left out with the rows of a gap take
no room), the steps narrow when the path is deep, and a label that still does not fit is cut (its tooltip has it
whole).
"""
from __future__ import annotations

from dataclasses import dataclass, field

from netlab import check
from netlab.trace import Trace
from netlab.view import svg

ROW, INDENT, MIN_INDENT, CHAR, PAD = 22, 14, 7, 7.2, 8
MAX_ROWS = 16
"""Rows drawn at one step (about 370 px): with the overview above it, beside the state drawing, the Stepper fits a
laptop screen."""
WIDTH = 360
"""The widest the drawing gets, in px: the Stepper gives its column at least this much, so it is never shrunk."""
LABEL_ROOM = 26
"""Characters of label the indentation leaves room for on the deepest row before its steps narrow."""


@dataclass(eq=False)
class Call:
    """One call in the trace: its function, the trace index of its call event, its caller and the calls it made."""

    index: int
    function: str
    source: str
    context: str
    parent: "Call | None"
    children: list["Call"] = field(default_factory=list)

    def __post_init__(self):
        check.fields(self)

    @property
    def size(self) -> int:
        """How many calls it made, directly or not."""
        return sum(1 + c.size for c in self.children)


@dataclass(frozen=True)
class _Row:
    """A drawn row: ``calls`` (one call, or a run of calls of one function under one caller), its indent level."""

    calls: tuple[Call, ...]
    level: int
    open: bool

    @property
    def label(self) -> str:
        return self._label(short=False)

    def fitted(self, chars: int) -> str:
        """The label in at most ``chars`` characters: whole, else with the folded count short ("▸ 19"), else cut
        ("…" marks the cut)."""
        for label in (self.label, self._label(short=True)):
            if len(label) <= chars:
                return label
        return label[:max(chars - 1, 1)] + "…"

    def _label(self, short: bool) -> str:
        first = self.calls[0]
        runs = f" × {len(self.calls)}" if len(self.calls) > 1 else ""
        inner = sum(c.size for c in self.calls)
        calls = "" if short else f" call{'s' if inner != 1 else ''}"
        folded = f"{' ' if short else '  '}▸ {inner:,}{calls}" if inner and not self.open else ""
        return f"{first.function}{runs}{folded}"


class CallGraph:
    """The calls of a trace as a forest; :meth:`svg` draws step ``index`` folded around its current call.

    Callers are found per call stack: each task has its own (a task that slept resumes on its own stack, not on
    the interrupt's), and interrupt context one per CPU of each host.
    """

    @check.arguments
    def __init__(self, trace: Trace):
        self.trace = trace
        self.roots: list[Call] = []
        self.paths: list[tuple[Call, ...]] = []     # per step: the calls open on its stack, outermost first
        stacks: dict[object, list[Call]] = {}
        for i, e in enumerate(trace):
            stack = stacks.setdefault((e.host, e.task) if e.task else (e.host, "interrupt", e.cpu), [])
            while stack and trace[stack[-1].index].depth >= e.depth:    # returned (a trace may skip callers)
                stack.pop()
            if e.kind == "call":
                call = Call(i, e.function, e.source, e.context, stack[-1] if stack else None)
                (call.parent.children if call.parent else self.roots).append(call)
                stack.append(call)
            self.paths.append(tuple(stack))
        self.calls = sum(e.kind == "call" for e in trace)

    @check.arguments
    def stack(self, index: int) -> tuple[str, ...]:
        """The functions on the call stack at step ``index``, outermost first."""
        return tuple(c.function for c in self.paths[self._check(index)])

    def _check(self, index: int) -> int:
        if not isinstance(index, int) or not 0 <= index < len(self.trace):
            raise ValueError(f"index must be an int in 0..{len(self.trace) - 1}")
        return index

    def _rows(self, path: tuple[Call, ...]) -> list[_Row]:
        """The tree folded around ``path``: open along it, one row per other call (runs merged)."""
        rows: list[_Row] = []
        on_path = set(map(id, path))

        def add(calls: list[Call], level: int) -> None:
            run: list[Call] = []
            for call in calls + [None]:
                if run and (call is None or id(call) in on_path or call.function != run[0].function
                            or id(run[0]) in on_path):
                    rows.append(_Row(tuple(run), level, id(run[0]) in on_path))
                    if id(run[0]) in on_path:
                        add(run[0].children, level + 1)
                    run = []
                if call is not None:
                    run.append(call)

        add(self.roots, 0)
        return rows

    def _window(self, rows: list[_Row], current: Call | None) -> list[_Row | int]:
        """At most MAX_ROWS rows around ``current``, its callers pinned on top; an int is a gap of that many rows."""
        if len(rows) <= MAX_ROWS:
            return list(rows)
        at = next((k for k, r in enumerate(rows) if current is not None and current in r.calls), 0)
        callers = [k for k, r in enumerate(rows) if r.open and k < at]
        pinned = callers[:1] + callers[1:][-(MAX_ROWS // 3 - 1):]      # the entry point and the nearest callers
        room = MAX_ROWS - len(pinned)
        while True:                     # fewer rows around the current call until the gap lines fit too
            out = self._keep(rows, set(pinned), at, room)
            if len(out) <= MAX_ROWS:
                return out
            room -= 1

    @staticmethod
    def _keep(rows: list[_Row], pinned: set[int], at: int, room: int) -> list[_Row | int]:
        """``pinned`` rows and ``room`` rows around row ``at``, a gap line (an int) where rows are left out."""
        start = max(0, min(at - room // 3, len(rows) - room))
        keep = pinned | set(range(start, start + room))
        ends = {-1, len(rows)}
        keep = sorted(keep | {k + 1 for k in keep | ends if k + 2 in keep | ends})   # a gap of one row: draw it
        keep = [k for k in keep if 0 <= k < len(rows)]
        out: list[_Row | int] = []
        for k, nxt in zip(keep, keep[1:] + [len(rows)]):
            if not out and k > 0:
                out.append(k)
            out.append(rows[k])
            if nxt - k > 1:
                out.append(nxt - k - 1)
        return out

    @check.arguments
    def svg(self, index: int) -> str:
        """The call tree at step ``index``: the calls on its stack lit, the current one brightest."""
        path = self.paths[self._check(index)]
        current = path[-1] if path else None
        colour = svg.CONTEXT_COLOURS[self.trace[index].context]
        parts, placed, right = [], {}, 0.0
        shown = self._window(self._rows(path), current)
        levels = sorted({r.level for r in shown if isinstance(r, _Row)})
        step = INDENT if len(levels) < 2 else \
            max(MIN_INDENT, min(INDENT, (WIDTH - 2 * PAD - 10 - CHAR * LABEL_ROOM) / (len(levels) - 1)))
        for y, row in enumerate(shown):
            top = PAD + ROW * y
            if isinstance(row, int):
                parts.append(svg.text(PAD, top + 13, f"⋮ {row:,} more row{'s' if row != 1 else ''}", size=11,
                                      fill="#868e96"))
                continue
            x, first = PAD + step * levels.index(row.level), row.calls[0]
            placed[id(first)] = (x, top)
            parent = placed.get(id(first.parent)) if first.parent else None
            if parent is not None:
                parts.append(svg.path(f"M{parent[0] + 4:.0f},{parent[1] + ROW - 5:.0f} V{top + 8:.0f} H{x:.0f}",
                                      stroke="#adb5bd"))
            lit = current is not None and current in row.calls
            fill = svg.LIT if lit else "#fff3bf" if row.open else svg.DIM
            label = row.fitted(int((WIDTH - PAD - x - 10) // CHAR))
            right = max(right, x + CHAR * len(label) + 10)
            parts.append(svg.rect(x, top, CHAR * len(label) + 10, ROW - 5, fill=fill,
                                  stroke=colour if row.open else "#ced4da", title=f"{row.label} · {first.source}"))
            parts.append(svg.text(x + 5, top + 12, label, size=11, mono=True, weight="bold" if lit else "normal"))
        return svg.document(right + PAD, PAD * 2 + ROW * min(MAX_ROWS, self.calls), "".join(parts),
                            label=f"call path, current function {current.function if current else '-'}")
