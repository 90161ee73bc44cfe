"""The whole journey's drawing: the host a step runs on, with what every chapter draws of it on that same trace.

``draw_journey(event)`` reads a ``JourneyState`` (``netlab.scenarios.journey``): the step's host as chapter 01
draws it (its RX ring and IRQ, each CPU's poll_list and backlog, its sockets' receive queues), who runs on each of
its CPUs and the state of its programs' tasks (chapter 02's scheduler) beside what chapters 05 and 06 follow (each
socket's TCP state, the listener's accept queue, the TIME_WAIT socks), then, on the server, chapter 02's epoll
instance (who waits in ``epoll_wait``, the ready list, the red-black tree of epitems).
"""
from __future__ import annotations

from netlab import check
from netlab.trace import Event
from netlab.view import svg
from netlab.view.epoll import rbtree_svg
from netlab.view.receive import receive_svg

WIDTH = 580


def _lines(title: str, lines: list[str]) -> str:
    """A titled list of lines, as wide as its longest line (about 6.3 px a character at 11 px, 7 px in bold 12)."""
    width = min(WIDTH, 20 + round(max(7 * len(title), *(6.3 * len(line) for line in lines))))
    parts = [svg.text(6, 16, title, size=12, weight="bold")]
    parts += [svg.text(12, 34 + 18 * i, line, size=11) for i, line in enumerate(lines)]
    return svg.document(width, 40 + 18 * len(lines), "".join(parts), label=title)


def _row(*parts: str) -> str:
    """Panels side by side while they fit in the drawing's width, wrapping under each other when they do not."""
    return (f'<div style="display:flex;flex-wrap:wrap;gap:0 12px;max-width:{WIDTH}px;align-items:flex-start">'
            + "".join(f"<div>{part}</div>" for part in parts) + "</div>")


def _tx_ring(index: int, ring) -> str:
    """A TX ring's descriptors in words: the packets the NIC is sending, and those it sent whose descriptors are
    done and wait for the driver's TX completion, with how many descriptors they fill (a packet fills one or more)."""
    count = len(ring.slots)
    parts = []
    for sending, start, end in ((True, ring.head, ring.next_to_use), (False, ring.next_to_clean, ring.head)):
        slots = [ring.slots[(start + k) % count] for k in range((end - start) % count)]
        if not slots:
            continue
        packets = ", ".join(slot for slot in slots if slot not in ("hw", "drv", "done"))
        descriptors = f"{len(slots)} descriptor{'' if len(slots) == 1 else 's'}"
        if sending:
            parts.append(f"the NIC sends {packets} ({descriptors})")
        elif packets:
            parts.append(f"{packets} sent: {descriptors} done, awaiting TX completion")
        else:
            parts.append(f"{descriptors} done, awaiting TX completion (the rest of a packet the driver freed)")
    return f"TX ring {index}: {'; '.join(parts) or 'nothing to send'}"


@check.arguments
def draw_journey(event: Event) -> str:
    """The step's host (the client, the server, or ``localhost``) and the TCP and epoll state of the journey."""
    state = event.state
    host = event.host if event.host in state.hosts else next(iter(state.hosts))
    receive = state.hosts[host]
    tx = [_tx_ring(q, queue.tx_ring) for q, queue in enumerate(receive.queues) if queue.tx_ring is not None]
    tcp = [f"{name}{' (here)' if name in receive.sockets else ''}: {tcp_state}" for name, tcp_state in state.tcp.items()]
    tcp.append(f"listener's accept queue: {', '.join(state.accept_queue) or 'empty'}")
    tcp += [f"TIME_WAIT sock {tw}" for tw in state.timewait]
    parts = [f'<div style="font-family:sans-serif"><b>{host}</b></div>', receive_svg(receive, event)]
    tasks = [f"CPU {cpu}: runs {'idle' if rq.curr.startswith('swapper') else rq.curr}"
             f"{', then ' + ', '.join(rq.queue) if rq.queue else ''}" for cpu, rq in enumerate(state.run_queues[host])]
    tasks += [f"{t.comm}{' (here)' if where == host else ''}: {t.state}" for where, programs in state.tasks.items()
              for t in programs]
    parts.append(_row(_lines("who runs (chapter 02)", tasks),
                      _lines("TCP states (chapters 05, 06)", tcp)))
    if tx:
        parts.append(_lines("sending (chapter 03)", tx))
    if state.epoll is not None and "listener" in receive.sockets:
        ep = state.epoll
        parts.append(_row(_lines("the server's epoll (chapter 02)", [
            f"in epoll_wait (ep->wq): {', '.join(ep.wq) or 'nobody'}",
            f"ready list (rdllist): {', '.join(ep.rdllist) or 'empty'}"]),
            rbtree_svg(ep.rbr, title="rbr: the epitems")))
    return "".join(f"<div>{part}</div>" for part in parts)        # the rows one under the other
