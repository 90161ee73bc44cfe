"""The path through the stack: every kernel function of a trace as a networkx call graph, current step lit."""
from __future__ import annotations

import networkx as nx

from netlab import check
from netlab.trace import Trace
from netlab.view import svg

ROW, INDENT, CHAR, PAD = 22, 26, 7.2, 8


class CallGraph:
    """Caller -> callee graph of a trace, laid out once as an indented tree; :meth:`svg` lights one step.

    Callers are found per call stack: a task that slept resumes on its own stack, not on the interrupt's.

    The static part (boxes, edges) is built once; each step only adds the lit boxes of the call stack.
    """

    @check.arguments
    def __init__(self, trace: Trace):
        self.trace = trace
        self.graph = nx.DiGraph()
        self.stacks: list[tuple[str, ...]] = []
        own: dict[object, list[str]] = {}  # each task has its own kernel stack; interrupts one per CPU
        for e in trace:
            stack = own.setdefault(e.task or ("interrupt", e.cpu), [])
            if e.kind == "call":
                del stack[e.depth:]
                self.graph.add_node(e.function, source=e.source)
                if stack:
                    caller = stack[-1]
                    calls = self.graph.get_edge_data(caller, e.function, {}).get("calls", 0)
                    self.graph.add_edge(caller, e.function, calls=calls + 1)
                stack.append(e.function)
            self.stacks.append(tuple(stack[:e.depth + 1]) if e.kind == "call" else tuple(stack[:e.depth]))
        self.positions = self._layout()
        self._static = self._draw_static()
        self._labels = "".join(svg.text(x + 5, y + 12, n, size=11, mono=True) for n, (x, y) in self.positions.items())

    def _layout(self) -> dict[str, tuple[float, float]]:
        order = list(dict.fromkeys(f for f in self.trace.functions()))
        roots = [n for n in order if self.graph.in_degree(n) == 0] or order[:1]
        level: dict[str, int] = {}
        for root in roots:
            for node, d in nx.single_source_shortest_path_length(self.graph, root).items():
                level.setdefault(node, d)
        rows = [n for root in roots for n in nx.dfs_preorder_nodes(self.graph, root)]
        rows = list(dict.fromkeys(rows + order))
        return {n: (PAD + INDENT * level.get(n, 0), PAD + ROW * i) for i, n in enumerate(rows)}

    def _box(self, name: str, fill: str, stroke: str = svg.INK) -> str:
        x, y = self.positions[name]
        return svg.rect(x, y, CHAR * len(name) + 10, ROW - 5, fill=fill, stroke=stroke,
                        title=self.graph.nodes[name]["source"])

    def _draw_static(self) -> str:
        parts = []
        for caller, callee in self.graph.edges:
            (x1, y1), (x2, y2) = self.positions[caller], self.positions[callee]
            parts.append(svg.path(f"M{x1 + 6:.0f},{y1 + ROW - 5:.0f} V{y2 + 8:.0f} H{x2:.0f}", stroke="#adb5bd"))
        for name in self.positions:
            parts.append(self._box(name, svg.DIM, stroke="#ced4da"))
        return "".join(parts)

    @property
    def size(self) -> tuple[float, float]:
        width = max((x + CHAR * len(n) + 20 for n, (x, _) in self.positions.items()), default=100)
        return width, PAD * 2 + ROW * len(self.positions)

    @check.arguments
    def svg(self, index: int) -> str:
        """The graph with the functions on the call stack at step ``index`` lit, the current one brightest."""
        if not isinstance(index, int) or not 0 <= index < len(self.trace):
            raise ValueError(f"index must be an int in 0..{len(self.trace) - 1}")
        event = self.trace[index]
        stack = self.stacks[index]
        colour = svg.CONTEXT_COLOURS[event.context]
        lit = "".join(self._box(n, "#fff3bf" if n != stack[-1] else svg.LIT, stroke=colour) for n in stack)
        width, height = self.size
        return svg.document(width, height, self._static + lit + self._labels,
                            label=f"call path, current function {stack[-1] if stack else '-'}")
