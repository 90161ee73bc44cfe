"""Drawings of the send path: sk_buff heads and the data they share, the qdisc, the TX ring; the copy ledger.

:func:`draw_send` turns one trace event's state (the ``SendHostState`` ``netlab.scenarios.send.SendHost`` records)
into an SVG for the Stepper: every sk_buff head that exists (where it is: write queue, retransmit queue, in transit
down or up the stack, qdisc, TX ring, backlog, just freed; its ``users``) joined to the data buffer it points at
(``dataref``: how many heads share it; the pages of its fragments), the device the story sends through (eth0: its
qdisc and TX descriptor ring; lo: neither), the socket's sequence numbers and the softirq counts.

:func:`ledger_table` and :func:`plot_ledgers` show copy ledgers the notebook computed; :func:`plot_live` puts a
live measurement next to the model's prediction. They take numbers, never a model.
"""
from __future__ import annotations

from typing import Mapping, Sequence

from netlab import check
from netlab.trace import Event, Trace
from netlab.view import svg
from netlab.view.table import Table

PLACES = {"write queue": "#d0ebff", "retransmit queue": "#e5dbff", "in transit": "#ffdeeb", "qdisc": "#ffe8cc",
          "TX ring": "#d3f9d8", "backlog": "#fff3bf", "freed": "#f1f3f5"}
TRANSIT_TIP = "no queue holds it: only the kernel functions running now (on the call path)"
SLOT, PER_ROW = 9, 64


def _skbs(x: float, y: float, skbs: Sequence) -> tuple[str, float]:
    parts = [svg.text(x, y + 12, "sk_buff heads", size=12, weight="bold"),
             svg.text(x + 340, y + 12, "data they point at (skb_shared_info)", size=12, weight="bold")]
    if not skbs:
        parts.append(svg.text(x, y + 32, "no sk_buff yet", size=11, fill="#868e96"))
        return "".join(parts), y + 40
    rows = {}
    for s in skbs:
        rows.setdefault(s.buffer, []).append(s)
    top = y + 20
    for data_id, heads in rows.items():
        first = heads[0].skb
        box_h = max(len(heads), 1) * 22
        freed = heads[0].buffer_freed
        pages = sorted(set(first.frag_pages))
        label = (f"data #{data_id}: dataref {first.dataref}, {first.nr_frags} frags"
                 if not freed else f"data #{data_id}: freed (dataref 0)")
        page_text = ", ".join(pages[:2]) + (f" +{len(pages) - 2}" if len(pages) > 2 else "")
        parts.append(svg.rect(x + 340, top, 290, box_h - 4, fill="#f1f3f5" if freed else "#fff9db",
                              stroke="#adb5bd" if freed else svg.INK, title=", ".join(pages) or "linear data"))
        parts.append(svg.text(x + 346, top + 13, label, size=11, fill="#868e96" if freed else svg.INK))
        if box_h > 30:
            parts.append(svg.text(x + 346, top + 30, page_text, size=10, fill="#495057"))
        elif not freed:          # one head: the pages beside the label (GSO segments point into the same pages)
            parts.append(svg.text(x + 624, top + 13, page_text, size=10, anchor="end", fill="#495057"))
        for i, place in enumerate(heads):
            hy = top + i * 22
            s, where = place.skb, place.where
            fill = PLACES.get(where.split(" (")[0], "#fff")
            head = f"{s.name}  users {s.users}  len {s.len}"
            tip = f"{s.name}: {where}" + (f" — {TRANSIT_TIP}" if where == "in transit" else "")
            parts.append(svg.rect(x, hy, 300, 18, fill=fill, stroke="#adb5bd" if where == "freed" else svg.INK,
                                  title=tip))
            parts.append(svg.text(x + 5, hy + 13, head, size=11, mono=True,
                                  fill="#868e96" if where == "freed" else svg.INK))
            parts.append(svg.text(x + 302 - 4, hy + 13, where, size=10, anchor="end", fill="#495057"))
            parts.append(svg.line(x + 300, hy + 9, x + 340, top + 9, stroke="#868e96",
                                  dash="3,2" if where == "freed" else ""))
        top += box_h + 4
    return "".join(parts), top


def _ring(x: float, y: float, ring) -> tuple[str, float]:
    slots = ring.slots
    n, clean, head, use = len(slots), ring.next_to_clean, ring.head, ring.next_to_use
    done = {(clean + k) % n for k in range((head - clean) % n)}
    owned = {(head + k) % n for k in range((use - head) % n)}
    parts = [svg.text(x, y + 12, f"TX ring ({n} descriptors): NIC sending {len(owned)}, sent and waiting for "
                                 f"igb_clean_tx_irq {len(done)}", size=12, weight="bold")]
    top = y + 18
    for i, slot in enumerate(slots):
        fill = "#ffa94d" if i in owned else "#69db7c" if i in done else "#f8f9fa"
        name = slot if slot not in ("hw", "drv", "done") else ""
        tip = f"descriptor {i}: " + ("the NIC owns it" if i in owned else "sent, not cleaned" if i in done
                                     else "free") + (f" ({name})" if name else "")
        parts.append(svg.rect(x + (i % PER_ROW) * SLOT, top + (i // PER_ROW) * (SLOT + 2), SLOT - 1, SLOT - 1,
                              fill=fill, stroke="#ced4da", rx=1, title=tip))
    rows = -(-n // PER_ROW)
    bottom = top + rows * (SLOT + 2)
    names = [s for i, s in enumerate(slots) if (i in owned or i in done) and s not in ("hw", "drv", "None")]
    parts.append(svg.text(x, bottom + 11, "on the ring: " + (", ".join(names[:6]) + (" …" if len(names) > 6 else "")
                                                               if names else "nothing"), size=11))
    return "".join(parts), bottom + 18


@check.arguments
def draw_send(event: Event) -> str:
    """An SVG of the send-side state at ``event`` (a ``SendHostState``: skb heads, the device sent through — eth0's
    qdisc and TX ring, or lo, which has neither —, socket, softirq counts, taps)."""
    state = event.state
    parts, y = [], 4.0
    body, y = _skbs(8, y, state.skbs)
    parts.append(body)
    loopback = state.device == "lo"
    q = state.qdisc
    if loopback:
        qtext = "lo: no qdisc (noqueue), no TX ring: loopback_xmit puts each skb on this CPU's backlog"
    else:
        qtext = (f"{state.device} qdisc pfifo_fast: queued {', '.join(q.queued[:6]) or 'nothing'}"
                 f"{' …' if len(q.queued) > 6 else ''}   bypassed {q.bypassed} · requeued {q.requeues} · dropped "
                 f"{q.drops}" + ("   · on output_queue (NET_TX pending)" if q.scheduled else ""))
    stopped = "   TX queue STOPPED (ring full)" if state.queue_stopped else ""
    parts.append(svg.rect(8, y + 4, 630, 20, fill=PLACES["backlog" if loopback else "qdisc"], stroke="#adb5bd"))
    parts.append(svg.text(14, y + 18, qtext + stopped, size=11))
    y += 30
    tx_ring = state.queues[0].tx_ring if state.queues and not loopback else None
    if tx_ring is not None:
        body, y = _ring(8, y, tx_ring)
        parts.append(body)
    sock, soft = state.sock, state.softirqs
    taps = [f"{name}: {', '.join(seen[-3:])}" for name, seen in state.taps.items() if seen]
    lines = [f"socket: snd_una {sock.snd_una} · snd_nxt {sock.snd_nxt} · write_seq {sock.write_seq} · cwnd "
             f"{sock.cwnd} · in flight {sock.packets_out}",
             f"softirqs raised so far: NET_TX {soft.get('NET_TX', 0)} · NET_RX {soft.get('NET_RX', 0)}"]
    lines += taps
    lines += _receive_side(state, nic=not loopback)
    for line in lines:
        parts.append(svg.text(8, y + 14, line, size=11))
        y += 18
    return svg.document(650, y + 6, "".join(parts), label=f"send-side state at step {event.seq + 1}")


def _receive_side(state, nic: bool) -> list[str]:
    """What comes back in: the ACK's way up (the NIC's IRQ and GRO batch, if it came through the NIC; poll_list,
    backlog) and the sockets that receive."""
    lines = [f"in: IRQ {q.irq} {q.irq_state} · GRO batch {', '.join(q.gro_batch) or 'empty'}"
             for q in (state.queues if nic else ())]
    lines += [f"CPU {i}: poll_list {', '.join(c.softnet.poll_list) or 'empty'} · backlog "
              f"{', '.join(c.softnet.input_pkt_queue + c.softnet.process_queue) or 'empty'}"
              for i, c in enumerate(state.cpus)]
    lines += [f"socket {name}: receive queue {', '.join(sk.queue) or 'empty'}" for name, sk in state.sockets.items()
              if name != "sk"]
    return lines


# --- the copy ledger -----------------------------------------------------------------------------------------------

LEDGER_COLUMNS = ("cpu copies", "dma transfers", "sk_buff heads copied", "syscalls", "transitions", "page faults")


@check.arguments
def ledger_table(summaries: Mapping[str, Mapping[str, float]], title: str = "") -> Table:
    """``{scenario: CopyLedger.summary(...)}`` as a table, a row per scenario."""
    if not summaries:
        raise ValueError("no ledgers to show")
    return Table(["", *LEDGER_COLUMNS], [[name, *(row[c] for c in LEDGER_COLUMNS)] for name, row in summaries.items()],
                 title=title)


@check.arguments
def plot_ledgers(summaries: Mapping[str, Mapping[str, float]], title: str = ""):
    """Bars per scenario: CPU copies and DMA transfers of each byte sent (left), system calls and user/kernel
    transitions (right). Returns the matplotlib figure."""
    import matplotlib.pyplot as plt

    if not summaries:
        raise ValueError("no ledgers to plot")
    names = list(summaries)
    xs = range(len(names))
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.4))
    w = 0.38
    left.bar([x - w / 2 for x in xs], [summaries[n]["cpu copies"] for n in names], w, label="CPU copies",
             color="#e8590c")
    left.bar([x + w / 2 for x in xs], [summaries[n]["dma transfers"] for n in names], w, label="DMA transfers",
             color="#1c7ed6")
    left.set_ylabel("times each byte is moved")
    left.set_xticks(list(xs), names, rotation=15)
    left.legend(frameon=False)
    right.bar([x - w / 2 for x in xs], [summaries[n]["syscalls"] for n in names], w, label="system calls",
              color="#5f3dc4")
    right.bar([x + w / 2 for x in xs], [summaries[n]["transitions"] for n in names], w,
              label="user/kernel transitions", color="#adb5bd")
    right.set_xticks(list(xs), names, rotation=15)
    right.set_ylabel("count")
    right.legend(frameon=False)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


@check.arguments
def plot_live(measured_s_per_gb: Mapping[str, float], saved_model_s_per_gb: float):
    """Left: the sender's system CPU seconds per GB as measured for each method. Right: what sendfile saved against
    read+send, measured and as the model prices it. Returns the matplotlib figure."""
    import matplotlib.pyplot as plt

    if not {"read+send", "sendfile"} <= set(measured_s_per_gb):
        raise ValueError("need measurements of 'read+send' and 'sendfile'")
    names = list(measured_s_per_gb)
    fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3), gridspec_kw={"width_ratios": [3, 2]})
    left.bar(names, [measured_s_per_gb[n] for n in names],
             color=["#1c7ed6" if n == "sendfile" else "#e8590c" for n in names])
    left.set_ylabel("sender's system CPU, s per GB")
    left.set_title("measured", fontsize=10)
    saved = measured_s_per_gb["read+send"] - measured_s_per_gb["sendfile"]
    right.bar(["measured", "model"], [saved, saved_model_s_per_gb], color=["#495057", "#adb5bd"])
    right.set_ylabel("s per GB")
    right.set_title("system CPU saved by sendfile", fontsize=10)
    fig.tight_layout()
    return fig


# --- one sk_buff's life --------------------------------------------------------------------------------------------

@check.arguments
def skb_lifetime(trace: Trace, names: Sequence[str]) -> list[tuple[int, str, str, str, int, int, bool]]:
    """The steps at which the skbs ``names`` changed: (step, kernel function, skb, where, users, dataref,
    data freed). Replays the trace's ``skbs`` snapshots."""
    if isinstance(names, str) or not names:
        raise ValueError("names must be a non-empty list of skb names")
    rows, last = [], {}
    for e in trace:
        for place in e.state.skbs:
            s = place.skb
            if s.name not in names:
                continue
            now = (place.where, s.users, s.dataref, place.buffer_freed)
            if last.get(s.name) != now:
                last[s.name] = now
                rows.append((e.seq, e.function, s.name, *now))
    return rows


@check.arguments
def lifetime_table(rows: Sequence[tuple]) -> Table:
    """:func:`skb_lifetime` rows as a table."""
    return Table(["step", "kernel function", "skb", "where", "users", "dataref", "data"],
                 [[step + 1, function, name, where, users, dataref, "freed" if freed else "kept"]
                  for step, function, name, where, users, dataref, freed in rows])
