"""The book's bird's-eye view of a trace: the layers of the stack each host's steps pass through, the current one lit.

One column per host (two for the journey, cabled at the NIC): user space, the system call and socket layer, TCP,
IP, netfilter, the device layer (GRO, qdisc, backlog), the driver and the NIC, top down as the book draws them,
with the queues that sit between them; beside the column, the mechanisms every layer uses (epoll, interrupts and
softirqs, wait queues and the scheduler, sk_buffs, the slab allocator). A layer the trace never enters is drawn
faint, the current step's layer is lit in the colour of its context.
"""
from __future__ import annotations

from netlab import check
from netlab.kernel.source_index import layer_of
from netlab.trace import Trace
from netlab.view import svg
from netlab.view.text import on_the_nic

STACK = (("user space", "user space", ""),
         ("system calls and sockets", "system call · socket", "receive / write queue"),
         ("TCP", "TCP", "accept queue · SYN queue"),
         ("IP", "IP", ""),
         ("netfilter", "netfilter", ""),
         ("device, Ethernet, GRO and qdisc", "device · GRO · qdisc", "qdisc · backlog · poll_list"),
         ("driver", "driver", "RX / TX ring"),
         ("NIC", "NIC", ""))
"""(layer of :data:`netlab.kernel.source_index.LAYERS`, its name here, the queues it keeps), top down."""
SIDE = (("epoll", "epoll"), ("interrupts and softirqs", "hard IRQ · softirq"),
        ("wait queues, locks and the scheduler", "wait queue · sched"), ("sk_buffs", "sk_buff"),
        ("slab allocator", "slab"))
BOX_W, SIDE_W, BOX_H, GAP, PAD = 150, 118, 24, 4, 4
TWO_HOSTS_SCALE = 0.8
"""Hosts side by side are drawn smaller, so that the overview still fits beside the step's drawing."""


def _layer(event) -> str | None:
    """The layer a step runs in; a line printed outside any kernel function is the NIC's in hard-IRQ context (a
    frame arriving: :func:`~netlab.view.text.on_the_nic`), the program's own (user space) in process context, and
    belongs to no layer in a softirq (a model's note)."""
    if event.source == "-":
        return "NIC" if on_the_nic(event) else "user space" if event.context == "process" else None
    return layer_of(event.source, event.function)


class Overview:
    """Which layers of each host a trace passes through; :meth:`svg` draws step ``index`` on them."""

    @check.arguments
    def __init__(self, trace: Trace):
        self.trace = trace
        self.hosts = list(dict.fromkeys(e.host for e in trace))
        self.touched = {h: {_layer(e) for e in trace if e.host == h} for h in self.hosts}
        for layers in self.touched.values():      # the NIC runs no kernel code: it is in use where its driver is
            if "driver" in layers:
                layers.add("NIC")

    @property
    def scale(self) -> float:
        return 1.0 if len(self.hosts) == 1 else TWO_HOSTS_SCALE

    @property
    def size(self) -> tuple[float, float]:
        column = BOX_W + GAP + SIDE_W
        return (self.scale * (PAD + len(self.hosts) * (column + 3 * GAP)),
                self.scale * (PAD * 2 + 16 + len(STACK) * (BOX_H + GAP)))

    def _box(self, x: float, y: float, w: float, label: str, queues: str, state: str, colour: str) -> str:
        fill, stroke, ink = {"lit": (svg.LIT, colour, svg.INK), "on": (svg.PAPER, "#adb5bd", svg.INK),
                             "off": ("#f8f9fa", "#e9ecef", "#ced4da")}[state]
        parts = [svg.rect(x, y, w, BOX_H, fill=fill, stroke=stroke if state != "lit" else colour),
                 svg.text(x + 5, y + 11, label, size=10, fill=ink, weight="bold" if state == "lit" else "normal")]
        if queues:
            parts.append(svg.text(x + 5, y + 20, queues, size=8, fill="#868e96" if state != "off" else ink))
        return "".join(parts)

    @check.arguments
    def svg(self, index: int) -> str:
        """The layers of every host, the one step ``index`` runs in lit."""
        if not 0 <= index < len(self.trace):
            raise ValueError(f"index must be in 0..{len(self.trace) - 1}, got {index}")
        event = self.trace[index]
        current, colour = (event.host, _layer(event)), svg.CONTEXT_COLOURS[event.context]
        parts = []
        for k, host in enumerate(self.hosts):
            x0 = PAD + k * (BOX_W + SIDE_W + 4 * GAP)
            if host:
                parts.append(svg.text(x0, PAD + 10, host, size=11, weight="bold"))
            for row, (layer, label, queues) in enumerate(STACK):
                y = PAD + 16 + row * (BOX_H + GAP)
                state = "lit" if current == (host, layer) else "on" if layer in self.touched[host] or \
                    layer == "user space" else "off"
                parts.append(self._box(x0, y, BOX_W, label, queues, state, colour))
            for row, (layer, label) in enumerate(SIDE):
                y = PAD + 16 + (row + 1) * (BOX_H + GAP)
                state = "lit" if current == (host, layer) else "on" if layer in self.touched[host] else "off"
                parts.append(self._box(x0 + BOX_W + GAP, y, SIDE_W, label, "", state, colour))
        if len(self.hosts) > 1:                        # the cable between the NICs
            y = PAD + 16 + (len(STACK) - 1) * (BOX_H + GAP) + BOX_H / 2
            for k in range(len(self.hosts) - 1):
                x1 = PAD + k * (BOX_W + SIDE_W + 4 * GAP) + BOX_W
                parts.append(svg.line(x1, y, x1 + SIDE_W + 4 * GAP, y, stroke="#495057", width=2))
        width, height = self.size
        body = "".join(parts) if self.scale == 1 else f'<g transform="scale({self.scale})">{"".join(parts)}</g>'
        return svg.document(width, height, body,
                            label=f"the layers of the stack, current: {current[1] or 'none'}"
                                  f"{' on ' + current[0] if current[0] else ''}")
