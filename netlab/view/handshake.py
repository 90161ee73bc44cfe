"""The handshake as a sequence diagram: client lanes and a server lane, segments as arrows, the two queues.

Built once from a handshake lab's trace (the rows of the time axis come from every step), then
:meth:`HandshakeDiagram.draw` renders one step from ``event.state`` (a ``HandshakeState``) alone: the segments sent so far (dashed while
in flight, red where a queue dropped them), a line at the step's time, each client's TCP state, the SYN queue,
the accept queue with its backlog+1 slots, and the TcpExt counters. :meth:`HandshakeDiagram.text` is the same
step in plain text.

    diagram = HandshakeDiagram(lab.trace)
    Stepper(lab.trace, draw=diagram.draw)
"""
from __future__ import annotations

from netlab import check
from netlab.trace import Event, Trace
from netlab.view import svg

LANE, TOP, ROW, LEFT, PANEL = 74, 46, 15, 70, 250
STATE_COLOURS = {"ESTABLISHED": "#2b8a3e", "SYN_SENT": "#e08a1e", "CLOSE": "#868e96", "LISTEN": "#3b7dd8"}
FATE_COLOURS = {"dropped": "#c92a2a", "overflow": "#c92a2a", "reset": "#c92a2a", "refused": "#c92a2a",
                "rst-sent": "#c92a2a", "cookie": "#8e5bd0", "lost": "#adb5bd"}
FATE_WORDS = {"dropped": "dropped", "overflow": "dropped: accept queue full", "reset": "→ RST",
              "cookie": "cookie", "lost": "lost", "refused": "no listener → RST", "answered": "SYN-ACK again",
              "re-acked": "ACK again", "rst-sent": "→ RST"}
COUNTERS = ("ListenOverflows", "ListenDrops", "TCPReqQFullDoCookies", "TCPReqQFullDrop", "SyncookiesSent",
            "SyncookiesRecv", "EmbryonicRsts", "TCPTimeouts")
MAX_ROWS = 90


def _when(ns: int) -> str:
    if ns >= 1_000_000_000:
        return f"{ns / 1e9:.3f} s"
    if ns >= 1_000_000:
        return f"{ns / 1e6:.2f} ms"
    return f"{ns / 1e3:.0f} µs"


def _limit(n: int | None) -> str:
    return "-" if n is None else str(n)


class HandshakeDiagram:
    """A sequence diagram of a :class:`netlab.scenarios.handshake.HandshakeLab` trace."""

    @check.arguments
    def __init__(self, trace: Trace):
        if not trace or getattr(trace[-1].state, "segments", None) is None:
            raise ValueError("the trace has no handshake state: record it with HandshakeLab(record=True)")
        final = trace[-1].state
        self.clients = list(final.clients)
        flooded = any(src.startswith("f") and src[1:].isdigit() for src, *_ in final.segments)
        self.lanes = self.clients + (["spoofed"] if flooded else []) + ["server"]
        times = {e.time_ns for e in trace}
        for _, _, _, sent, arrive, _ in final.segments:
            times.update((sent, arrive))
        ordered = sorted(times)
        if len(ordered) > MAX_ROWS:   # long runs: keep the rows evenly spread over the ranks
            step = len(ordered) / MAX_ROWS
            ordered = sorted({ordered[int(i * step)] for i in range(MAX_ROWS)} | {ordered[-1]})
        self.rows = ordered
        self.width = LEFT + LANE * len(self.lanes) + PANEL
        self.height = TOP + ROW * (len(self.rows) + 1) + 10

    # --- geometry ------------------------------------------------------------------------------------------------
    def _x(self, lane: str) -> float:
        if lane.startswith("f") and lane[1:].isdigit():
            lane = "spoofed"
        return LEFT + LANE * self.lanes.index(lane) + LANE / 2 if lane in self.lanes else LEFT

    def _y(self, ns: int) -> float:
        lo, hi = 0, len(self.rows) - 1
        while lo < hi:                      # the first row at or after ns
            mid = (lo + hi) // 2
            if self.rows[mid] < ns:
                lo = mid + 1
            else:
                hi = mid
        return TOP + ROW * (lo + 0.5)

    # --- drawing -------------------------------------------------------------------------------------------------
    @check.arguments
    def draw(self, event: Event) -> str:
        """The diagram at ``event``: SVG."""
        state, now = event.state, event.time_ns
        parts = [svg.rect(0, 0, self.width, self.height, fill="#ffffff", stroke="#ffffff", rx=0)]
        parts += self._lanes(state)
        for i, row in enumerate(self.rows):
            parts.append(svg.text(4, TOP + ROW * (i + 0.5) + 3, _when(row), size=8, fill="#adb5bd"))
        parts.append(svg.line(LEFT - 4, self._y(now), LEFT + LANE * len(self.lanes), self._y(now),
                              stroke=svg.LIT, width=3))
        parts.append(svg.rect(1, self._y(now) - 8, LEFT - 6, 15, fill=svg.LIT, stroke=svg.LIT))
        parts.append(svg.text(4, self._y(now) + 4, _when(now), size=10, weight="bold"))
        for seg in state.segments:
            parts.append(self._arrow(seg, now))
        parts += self._panel(state)
        label = f"handshake at {_when(now)}: accept queue {len(state.accept_queue)}"
        return svg.document(self.width, self.height, "".join(parts), label=label)

    def _lanes(self, state) -> list[str]:
        parts = []
        bottom = TOP + ROW * len(self.rows)
        for lane in self.lanes:
            x = self._x(lane)
            status = state.listener if lane == "server" else state.clients.get(lane, "")
            colour = STATE_COLOURS.get(status.split(" ")[0], svg.INK)
            parts.append(svg.line(x, TOP - 6, x, bottom, stroke="#ced4da", dash="3,3"))
            parts.append(svg.rect(x - LANE / 2 + 4, 6, LANE - 8, 30, fill="#f8f9fa", stroke=colour))
            parts.append(svg.text(x, 19, lane, size=11, anchor="middle", weight="bold"))
            parts.append(svg.text(x, 31, status.split(" ")[0][:11], size=9, anchor="middle", fill=colour))
        return parts

    def _arrow(self, seg, now: int) -> str:
        src, dst, name, sent, arrive, fate = seg
        x1, y1, x2, y2 = self._x(src), self._y(sent), self._x(dst), self._y(arrive)
        in_flight = arrive > now
        colour = "#adb5bd" if in_flight else FATE_COLOURS.get(fate, svg.INK)
        if name.startswith("RST"):
            colour = "#c92a2a" if not in_flight else colour
        direction = 1 if x2 >= x1 else -1
        head = (f"M{x2:.1f},{y2:.1f} L{x2 - 7 * direction:.1f},{y2 - 3:.1f} "
                f"L{x2 - 7 * direction:.1f},{y2 + 3:.1f} Z")
        parts = [svg.line(x1, y1, x2, y2, stroke=colour, width=1.4, dash="4,3" if in_flight else ""),
                 svg.path(head, stroke=colour, fill=colour)]
        if fate in ("dropped", "overflow", "lost") and not in_flight:
            parts.append(svg.text(x2 - 12 * direction, y2 + 4, "✕", size=12, anchor="middle", fill=colour,
                                  weight="bold"))
        words = name + (f" · {FATE_WORDS[fate]}" if fate in FATE_WORDS and not in_flight else "")
        mx, my = (x1 + x2) / 2, (y1 + y2) / 2 - 3
        parts.append(svg.text(mx, my, words, size=9, anchor="middle", fill=colour))
        return "".join(parts)

    def _panel(self, state) -> list[str]:
        x0 = LEFT + LANE * len(self.lanes) + 12
        parts, y = [], TOP
        syn, acc = state.syn_queue, state.accept_queue
        syn_max, acc_max = state.syn_queue_max, state.accept_queue_max
        parts.append(svg.text(x0, y, f"SYN queue  {len(syn)}" + (f" / {syn_max}" if syn_max else ""),
                              size=11, weight="bold"))
        parts += self._slots(x0, y + 6, syn, syn_max, "#fff3bf")
        y += 62
        parts.append(svg.text(x0, y, f"accept queue  {len(acc)}" + (f" / {acc_max}" if acc_max else ""),
                              size=11, weight="bold"))
        parts += self._slots(x0, y + 6, acc, acc_max, "#d3f9d8")
        y += 66
        parts.append(svg.text(x0, y, "TcpExt (/proc/net/netstat)", size=10, weight="bold"))
        for name in COUNTERS:
            if state.counters.get(name):
                y += 14
                parts.append(svg.text(x0, y, f"{name} {state.counters[name]}", size=10, mono=True,
                                      fill="#c92a2a" if name.startswith("Listen") else svg.INK))
        return parts

    @staticmethod
    def _slots(x0: float, y: float, items, limit, fill: str) -> list[str]:
        """Up to 24 boxes in rows of 12: the queue's entries, then its empty places (if it has few)."""
        shown = min(max(len(items), min(limit or 0, 12)), 24)
        cols = min(max(shown, 1), 12)
        width = min(26.0, (PANEL - 24) / cols - 2)
        parts = []
        for i in range(shown):
            row, col = divmod(i, 12)
            x, yy = x0 + col * (width + 2), y + row * 22
            item = items[i] if i < len(items) else ""
            parts.append(svg.rect(x, yy, width, 18, fill=fill if item else "#f8f9fa",
                                  stroke="#c92a2a" if item.endswith("(acked)") else "#868e96", title=item or None))
            if item:
                parts.append(svg.text(x + width / 2, yy + 13, item.split(" ")[0], size=9, anchor="middle"))
        if len(items) > shown:
            parts.append(svg.text(x0, y + 50, f"… {len(items)} in all", size=9))
        return parts

    # --- text ----------------------------------------------------------------------------------------------------
    @check.arguments
    def text(self, event: Event) -> str:
        """The same step in plain text."""
        s = event.state
        lines = [f"t = {_when(event.time_ns)}   listener: {s.listener}",
                 f"SYN queue    {len(s.syn_queue)}/{_limit(s.syn_queue_max)}: {', '.join(s.syn_queue) or '-'}",
                 f"accept queue {len(s.accept_queue)}/{_limit(s.accept_queue_max)}: "
                 f"{', '.join(s.accept_queue) or '-'}",
                 "clients: " + ", ".join(f"{c} {s.clients[c]}" for c in self.clients if c in s.clients)]
        counters = [f"{c} {s.counters[c]}" for c in COUNTERS if s.counters.get(c)]
        if counters:
            lines.append("TcpExt: " + ", ".join(counters))
        for src, dst, name, sent, arrive, fate in s.segments[-6:]:
            where = "in flight" if arrive > event.time_ns else (FATE_WORDS.get(fate) or fate or "")
            lines.append(f"  {_when(sent):>11}  {src:>7} → {dst:<7} {name:<8} {where}")
        return "\n".join(lines)
