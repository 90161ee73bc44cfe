"""Drawings of the receive path: ring slots, IRQ state, poll_lists, backlogs, sockets, taps; plots of the load.

:func:`draw_receive` turns one trace event's state (the ``ReceiveState`` ``netlab.scenarios.receive.Host`` records,
read by attribute) into an SVG for the Stepper: each RX ring as a band of descriptor slots (empty buffers the NIC
may fill, packets waiting for the driver, slots the driver has not given back yet) with its ``next_to_clean`` and
``head`` marks, the skbs GRO holds for it (name, segments merged, bytes), the queue's IRQ, each CPU's softirq state,
``poll_list`` and backlog (with RPS: the skbs on their way to it, its pending IPI, the CPUs it will kick,
``received_rps``), and each socket's receive queue.

:func:`plot_sweep`, :func:`plot_cpu_time` and :func:`plot_coalescing` draw what the notebook computed with the
load model; they take numbers, never a model.
"""
from __future__ import annotations

from typing import Any, Callable, Mapping, Sequence

from netlab import check
from netlab.trace import Event
from netlab.units import duration, number, plural, size
from netlab.view import svg
from netlab.view.text import on_the_nic

SLOT, PER_ROW = 12, 32
FILLED, EMPTY, HELD = "#74c0fc", "#f8f9fa", "#ced4da"


def _ring(x: float, y: float, index: int, queue) -> tuple[str, float]:
    ring = queue.rx_ring
    slots = ring.slots
    rows = -(-len(slots) // PER_ROW)
    irq = f"{queue.irq} → CPU {queue.cpu}: {queue.irq_state}"
    parts = [svg.text(x, y + 11, f"RX ring {index} ({len(slots)} descriptors)", size=12, weight="bold"),
             svg.text(x + 250, y + 11, irq, size=11, fill=svg.CONTEXT_COLOURS["hardirq"]
                      if queue.irq_state == "asserted" else svg.INK)]
    top = y + 18
    for i, slot in enumerate(slots):
        col, row = i % PER_ROW, i // PER_ROW
        fill = EMPTY if slot == "hw" else HELD if slot == "drv" else FILLED
        tip = {"hw": f"slot {i}: empty buffer, the NIC may write here",
               "drv": f"slot {i}: cleaned, not yet given back to the NIC"}.get(slot, f"slot {i}: {slot} (DD set)")
        parts.append(svg.rect(x + col * SLOT, top + row * (SLOT + 6), SLOT - 1, SLOT - 1, fill=fill,
                              stroke="#adb5bd", rx=1, title=tip))
    for i, colour, dy in ((ring.next_to_clean, svg.CONTEXT_COLOURS["softirq"], -2),
                          (ring.head, svg.CONTEXT_COLOURS["hardirq"], SLOT + 1)):
        cx = x + (i % PER_ROW) * SLOT + SLOT / 2
        cy = top + (i // PER_ROW) * (SLOT + 6) + dy
        parts.append(svg.path(f"M{cx - 4:.1f},{cy - 3 if dy < 0 else cy + 3:.1f} L{cx + 4:.1f},"
                              f"{cy - 3 if dy < 0 else cy + 3:.1f} L{cx:.1f},{cy:.1f} Z", stroke=colour, fill=colour))
    bottom = top + rows * (SLOT + 6)
    waiting = [s for s in slots if s not in ("hw", "drv")]
    line = f"packets waiting: {', '.join(waiting[:8])}{' …' if len(waiting) > 8 else ''}" if waiting else \
        "no packet waiting"
    gro = queue.gro_batch
    line += f"   ·   missed (ring full): {queue.missed}" + (f"   ·   GRO batch: {', '.join(gro)}" if gro else "")
    parts.append(svg.text(x, bottom + 10, line, size=11))
    if queue.gro_held:
        parts.append(_chain(x, bottom + 14, "GRO holds:", queue.gro_held, "#ffd8a8"))
        bottom += 22
    return "".join(parts), bottom + 18


def _chain(x: float, y: float, label: str, items: Sequence[str], colour: str, empty: str = "empty") -> str:
    parts = [svg.text(x, y + 13, label, size=11)]
    cx = x + 6 * len(label) + 8
    if not items:
        parts.append(svg.text(cx, y + 13, empty, size=11, fill="#868e96"))
    for item in items[:8]:
        w = 7 * len(item) + 10
        parts.append(svg.rect(cx, y + 1, w, 17, fill=colour, stroke="#868e96"))
        parts.append(svg.text(cx + 5, y + 13, item, size=11, mono=True))
        cx += w + 4
    if len(items) > 8:
        parts.append(svg.text(cx, y + 13, f"+{len(items) - 8}", size=11))
    return "".join(parts)


def _cpu(x: float, y: float, cpu: int, state, current: Event | None, rps: bool) -> tuple[str, float]:
    soft, sd = state.softirq, state.softnet
    here = current is not None and current.cpu == cpu and not on_the_nic(current)
    colour = svg.CONTEXT_COLOURS[current.context] if here else "#adb5bd"
    head = (f"CPU {cpu}" + (f" ({current.context})" if here else "") +
            f" · softirq pending: {', '.join(soft.pending) or 'none'} · ksoftirqd/{cpu} "
            f"{'runnable' if soft.ksoftirqd == 'TASK_RUNNING' else 'asleep'}")
    counters = (f"softnet_stat: processed {sd.processed} · dropped {sd.dropped} · "
                f"time_squeeze {sd.time_squeeze} · NET_RX runs {soft.net_rx_runs}")
    if rps:
        counters += f" · received_rps {sd.received_rps}"
    height = 124 if rps else 84
    parts = [svg.rect(x, y, 560, height, fill="#fff" if not here else "#fffbea", stroke=colour),
             svg.text(x + 8, y + 16, head, size=12, weight="bold"),
             _chain(x + 8, y + 22, "poll_list:", sd.poll_list, "#ffe8cc"),
             _chain(x + 8, y + 42, "backlog (input_pkt_queue):", sd.input_pkt_queue + sd.process_queue, "#e5dbff")]
    if rps:   # RPS: what is on its way here, the IPI it brings, the CPUs this one will kick
        parts += [_chain(x + 8, y + 62, "steered here (RPS), on the way:", sd.rps_steered, "#fff3bf", "nothing"),
                  svg.text(x + 8, y + 95, "IPI pending: " + ("; ".join(state.ipis) or "none") + " · IPIs to send at "
                           "net_rx_action's end: " + (", ".join(f"CPU {c}" for c in sd.rps_ipi_list) or "none"),
                           size=11)]
    parts.append(svg.text(x + 8, y + height - 7, counters, size=11))
    return "".join(parts), y + height + 8


def _socket(x: float, y: float, name: str, sock) -> tuple[str, float]:
    rcvbuf = max(sock.rcvbuf, 1)
    fill = min(sock.rmem / rcvbuf, 1.0)
    bar = x + max(150, 7.5 * len(f"socket {name}") + 10)     # after the name, however long
    parts = [svg.text(x, y + 13, f"socket {name}", size=12, weight="bold"),
             svg.rect(bar, y + 3, 120, 12, fill="#fff", stroke="#adb5bd", rx=2,
                      title=f"sk_rmem_alloc {number(sock.rmem)} of sk_rcvbuf {number(rcvbuf)} B"),
             svg.rect(bar, y + 3, 120 * fill, 12, fill="#ffa8a8" if fill >= 1 else "#b2f2bb", stroke="none",
                      rx=2),
             svg.text(bar + 130, y + 13, f"rmem {size(sock.rmem)} of {size(rcvbuf)} · drops {number(sock.drops)}",
                      size=11),
             svg.text(x + 10, y + 31, f"waiting: {', '.join(sock.waiters) or 'nobody'}", size=11),
             _chain(x + 10, y + 36, "sk_receive_queue:", sock.queue, "#d3f9d8")]
    return "".join(parts), y + 62


@check.arguments
def draw_receive(event: Event) -> str:
    """The receive path's state at one step, as SVG (rings, CPUs, sockets, taps, iptables counters)."""
    return receive_svg(event.state, event)


@check.arguments
def receive_svg(state: Any, event: Event | None = None) -> str:
    """A ``ReceiveState`` as SVG: rings, CPUs (``event``'s CPU lit), sockets, taps, iptables counters, readers."""
    parts, y, x = [], 6.0, 6.0
    for q, queue in enumerate(state.queues):
        drawn, y = _ring(x, y, q, queue)
        parts.append(drawn)
    for cpu, cpu_state in enumerate(state.cpus):
        drawn, y = _cpu(x, y, cpu, cpu_state, event, state.rps)
        parts.append(drawn)
    for name, sock in sorted(state.sockets.items()):
        drawn, y = _socket(x, y, name, sock)
        parts.append(drawn)
    for name, seen in sorted(state.taps.items()):
        parts.append(_chain(x, y, f"{name} captured:", seen, "#fff3bf", "nothing yet"))
        y += 24
    for rule in state.iptables:
        parts.append(svg.text(x, y + 13, f"iptables {rule}", size=11, mono=True))
        y += 18
    if state.readers:
        parts.append(svg.text(x, y + 13, "readers: " + ", ".join(f"{k} {v}" for k, v in state.readers.items()),
                              size=11))
        y += 18
    return svg.document(580, y + 6, "".join(parts), label="receive path state")


# --- plots ------------------------------------------------------------------------------------------------------
@check.arguments
def plot_sweep(ax, xs: Sequence[float], summaries: Sequence, xlabel: str, *, title: str = "") -> None:
    """Drops (ring and backlog, % of arrivals), ksoftirqd's share and time_squeeze per 1000 packets against one swept
    parameter."""
    if len(xs) != len(summaries) or not xs:
        raise ValueError("plot_sweep needs one summary per x value, and at least one")
    drops = [100 * (s.ring_drops + sum(s.backlog_drops)) / s.arrived if s.arrived else 0 for s in summaries]
    squeeze = [1000 * sum(s.time_squeeze) / s.arrived if s.arrived else 0 for s in summaries]
    ksoft = [100 * s.ksoftirqd_share() for s in summaries]
    ax.plot(xs, drops, "o-", color="#d64541", label="dropped at the ring or a backlog (% of packets)")
    ax.plot(xs, ksoft, "s--", color="#8e5bd0", label="softirq time in ksoftirqd (%)")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("%")
    ax.set_ylim(-3, 103)
    right = ax.twinx()
    right.plot(xs, squeeze, "^:", color="#e08a1e", label="time_squeeze per 1000 packets")
    right.set_ylabel("time_squeeze per 1000 packets", color="#e08a1e")
    right.set_ylim(bottom=0, top=max(max(squeeze) * 1.2, 1))
    lines = ax.get_lines() + right.get_lines()
    ax.legend(lines, [line.get_label() for line in lines], loc="upper left", fontsize=8)
    if title:
        ax.set_title(title, fontsize=10)


@check.arguments
def plot_cpu_time(ax, summary, *, title: str = "") -> None:
    """Stacked bars: each CPU's time in hard IRQ, softirq at IRQ exit, ksoftirqd, and idle."""
    elapsed = summary.elapsed_ns or 1
    cpus = range(len(summary.busy_ns))
    bottom = [0.0] * len(summary.busy_ns)
    for context in ("hardirq", "softirq", "ksoftirqd"):
        share = [100 * b[context] / elapsed for b in summary.busy_ns]
        ax.bar(cpus, share, bottom=bottom, color=svg.CONTEXT_COLOURS[context], label=context)
        bottom = [b + s for b, s in zip(bottom, share)]
    ax.bar(cpus, [100 - b for b in bottom], bottom=bottom, color="#e9ecef", label="idle")
    ax.set_xticks(list(cpus), [f"CPU {c}" for c in cpus])
    ax.set_ylabel("% of the time")
    ax.set_ylim(0, 100)
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.12), ncol=4)    # below: the bars fill the axes
    if title:
        ax.set_title(title, fontsize=10)


@check.arguments
def plot_coalescing(fig, rates_mpps: Sequence[float], by_setting: Mapping[str, Sequence]) -> None:
    """Interrupt moderation against the packet rate, one line per setting (``by_setting``: a name such as
    "rx-usecs 50" → one summary per rate): hard IRQs per second, how long a packet waits from its arrival until the
    driver reads it, and, one panel per setting, the CPU's time in hard IRQ, softirq at IRQ exit and ksoftirqd."""
    if not by_setting or not rates_mpps or any(len(v) != len(rates_mpps) for v in by_setting.values()):
        raise ValueError("plot_coalescing needs at least one setting, with one summary per rate")
    grid = fig.add_gridspec(2, len(by_setting))
    irqs, waits = fig.add_subplot(grid[0, :len(by_setting) // 2 or 1]), fig.add_subplot(grid[0, len(by_setting) // 2:])
    colours = ["#343a40", "#1c7ed6", "#e8590c", "#2b8a3e", "#ae3ec9"]
    for (name, summaries), colour in zip(by_setting.items(), colours * len(by_setting)):
        irqs.plot(rates_mpps, [s.irqs_per_second() for s in summaries], "o-", color=colour, label=name)
        waits.plot(rates_mpps, [s.mean_latency_ns() / 1000 for s in summaries], "o-", color=colour, label=name)
    irqs.set_yscale("log")
    waits.set_yscale("log")
    irqs.set_ylabel("hard IRQs per second")
    waits.set_ylabel("µs from arrival to the driver (mean)")
    for ax, title in ((irqs, "interrupts"), (waits, "latency (colours as on the left)")):
        ax.set_xlabel("packet rate (Mpps)")
        ax.set_title(title, fontsize=10)
    irqs.legend(fontsize=8)
    for column, (name, summaries) in enumerate(by_setting.items()):
        ax = fig.add_subplot(grid[1, column])
        cpus = [len(s.busy_ns) * (s.elapsed_ns or 1) for s in summaries]
        shares = [[100 * sum(b[context] for b in s.busy_ns) / c for s, c in zip(summaries, cpus)]
                  for context in ("hardirq", "softirq", "ksoftirqd")]
        ax.stackplot(rates_mpps, *shares, colors=[svg.CONTEXT_COLOURS[c] for c in ("hardirq", "softirq", "ksoftirqd")],
                     labels=["hard IRQ", "softirq at IRQ exit", "ksoftirqd"])
        ax.set_ylim(0, 100)
        ax.set_xlabel("packet rate (Mpps)")
        ax.set_title(f"CPU time: {name}", fontsize=10)
        if column == 0:
            ax.set_ylabel("% of the CPUs' time")
            ax.legend(fontsize=8, loc="upper left")


@check.arguments
def receive_explorer(sweep: Callable[..., list], rates_mpps: Sequence[float] = (0.5, 1, 1.5, 2, 2.5, 3, 4, 6, 9, 14.88),
                     n: int = 20_000, costs: dict[str, Any] | None = None):
    """Sliders (burst, ring size, netdev_budget, queues/CPUs, interrupt moderation, traffic — UDP or TCP segments
    that GRO merges —, RPS CPUs, RFS with every flow read on CPU 0 or on the last CPU, kernel) over a plot of drops,
    time_squeeze and ksoftirqd share against the packet rate, and each CPU's time at the chosen rate. ``sweep`` is
    ``netlab.load.receive.sweep`` (passed in: views do not call models); ``costs`` names the
    ``netlab.kernel.cpu.Costs`` to choose from (e.g. the defaults and this machine's), the first one shown first. A
    combination the load model does not run is said in words."""
    import ipywidgets as W
    import matplotlib.pyplot as plt

    if not callable(sweep):
        raise TypeError("pass netlab.load.receive.sweep")
    if costs is not None and (not isinstance(costs, dict) or not costs or not all(isinstance(k, str) for k in costs)):
        raise ValueError("costs must be a non-empty dict of name → netlab.kernel.cpu.Costs")
    rates = [r * 1e6 for r in rates_mpps]
    costs_buttons = {"costs_name": W.fixed(None) if costs is None else
                     W.ToggleButtons(options=list(costs), value=next(iter(costs)), description="costs")}
    traffic_kinds = {"UDP, 256 flows": dict(flows=256), "TCP, 256 flows": dict(flows=256, tcp=True),
                     "TCP, 1 flow": dict(flows=1, tcp=True)}
    rfs_choices = {"off": None, "all read on CPU 0": 0, "all read on the last CPU": -1}   # where every flow is read

    def show(rate_mpps=6.0, burst=1, ring_size=256, netdev_budget=300, queues=1, rx_usecs=0, traffic="UDP, 256 flows",
             rps_extra=0, rfs="off", kernel="6.12", costs_name=None):
        rps = dict(cpus=queues + rps_extra, rps_cpus=list(range(queues, queues + rps_extra))) if rps_extra else {}
        reader = None if rfs_choices[rfs] is None else rfs_choices[rfs] % (queues + rps_extra)
        if reader is not None:
            rps.update(cpus=queues + rps_extra, rfs_cpus=[reader])
        base = dict(n=n, burst=burst, ring_size=ring_size, netdev_budget=netdev_budget, queues=queues,
                    rx_usecs=rx_usecs, profile=kernel, **traffic_kinds[traffic], **rps,
                    **({} if costs is None else {"costs": costs[costs_name]}))
        try:
            results = sweep("rate_pps", rates, **base)
        except ValueError as e:
            print(f"The load model does not run this combination: {e}.")
            return
        rate = rate_mpps * 1e6
        chosen = results[rates.index(rate)] if rate in rates else sweep("rate_pps", [rate], **base)[0]
        fig, (left, right) = plt.subplots(1, 2, figsize=(11, 3.6), gridspec_kw={"width_ratios": [2, 1]})
        in_use = "" if costs is None else \
            f", costs: {costs_name} (stack_ns {duration(costs[costs_name].stack_ns)})"
        steering = f", RPS to CPU{'s' if rps_extra > 1 else ''} " \
                   f"{', '.join(map(str, rps['rps_cpus']))}" if rps_extra else ""
        steering += "" if reader is None else f", RFS: every flow read on CPU {reader}"
        plot_sweep(left, rates_mpps, results, "packet rate (Mpps)", title=f"{kernel}: {plural(queues, 'queue')}, ring "
                   f"{ring_size}, bursts of {burst}, netdev_budget {netdev_budget}, rx-usecs {rx_usecs}\n{traffic}"
                   f"{steering}{in_use}")
        left.axvline(rate_mpps, color="#868e96", lw=1)
        dropped = chosen.ring_drops + sum(chosen.backlog_drops)
        where = f" (ring {number(chosen.ring_drops)}, backlogs {number(sum(chosen.backlog_drops))})" \
            if sum(chosen.backlog_drops) else ""
        merged = f"\nGRO: {chosen.segments_per_skb():.1f} packets per sk_buff" if "TCP" in traffic else ""
        plot_cpu_time(right, chosen, title=f"CPU time at {number(rate_mpps)} Mpps\n{number(dropped)} of "
                      f"{number(chosen.arrived)} dropped{where}\n{number(round(chosen.irqs_per_second()))} hard "
                      f"IRQs/s, a packet waits {duration(round(chosen.mean_latency_ns()))}{merged}")
        fig.tight_layout()
        plt.show()

    slider = dict(continuous_update=False, style={"description_width": "230px"}, layout=W.Layout(width="560px"))
    return W.interactive(
        show, rate_mpps=W.FloatSlider(6.0, min=0.5, max=14.88, step=0.5, description="packet rate (Mpps)", **slider),
        burst=W.IntSlider(1, min=1, max=64, description="packets per burst", **slider),
        ring_size=W.SelectionSlider(options=[64, 128, 256, 512, 1024, 4096], value=256,
                                    description="RX ring (descriptors)", **slider),
        netdev_budget=W.SelectionSlider(options=[64, 150, 300, 600, 1200, 3000], value=300,
                                        description="packets per NET_RX run (netdev_budget)", **slider),
        queues=W.IntSlider(1, min=1, max=8, description="NIC queues, one CPU each", **slider),
        rx_usecs=W.SelectionSlider(options=[0, 1, 3, 10, 50, 100, 250], value=0,
                                   description="ethtool -C rx-usecs (1, 3: adaptive)", **slider),
        traffic=W.ToggleButtons(options=list(traffic_kinds), value="UDP, 256 flows", description="traffic"),
        rps_extra=W.IntSlider(0, min=0, max=4, description="RPS: more CPUs for the stack", **slider),
        rfs=W.ToggleButtons(options=list(rfs_choices), value="off", description="RFS: flows",
                            style={"button_width": "auto"}),
        kernel=W.ToggleButtons(options=["3.10", "6.12"], value="6.12", description="kernel"),
        **costs_buttons)


# --- your kernel, as text ------------------------------------------------------------------------------------------
def softnet_text(stat) -> str:
    """``/proc/net/softnet_stat`` (parsed by ``netlab.live.procfs``) as a table with the field names."""
    lines = [f"{'CPU':>4} {'processed':>12} {'dropped':>8} {'time_squeeze':>13} {'received_rps':>13} "
             f"{'backlog now':>12}"]
    for r in stat.rows:
        backlog = "n/a" if r.backlog_len is None else number(r.backlog_len)
        lines.append(f"{r.cpu:>4} {number(r.processed):>12} {number(r.dropped):>8} {number(r.time_squeeze):>13} "
                     f"{number(r.received_rps):>13} {backlog:>12}")
    return "\n".join(lines + [f"({stat.columns} columns; {stat.note})"])


@check.arguments
def coalescing_text(dev: str, driver: str, c) -> str:
    """One NIC's interrupt moderation (``netlab.live.ethtool.Coalescing``) in words, with the model's ``rx_usecs``
    that matches it."""
    if driver == "igb":      # igb_get_coalesce reports rx_itr_setting: the model's meaning exactly
        meaning = {0: "no moderation: an interrupt for every packet that finds NAPI idle",
                   1: "adaptive (igb_set_itr may pick lowest_latency, 70,000 interrupts a second)",
                   3: "adaptive, conservative (igb's default: at most 20,000 interrupts a second while packets "
                      "are small)"}.get(c.rx_usecs, f"at most one interrupt every {number(c.rx_usecs)} µs "
                                                 f"({number(round(1e6 / max(c.rx_usecs, 1)))} a second)")
        return f"{dev} (igb): rx-usecs {c.rx_usecs}, {meaning} — the model's rx_usecs {c.rx_usecs}"
    if c.adaptive_rx:
        return (f"{dev} ({driver}): adaptive moderation (the driver's own algorithm, e.g. net_dim; rx-usecs "
                f"{c.rx_usecs} now) — the model's adaptive modes (rx_usecs 1, 3) are igb's")
    if c.rx_usecs == 0 and c.rx_frames <= 1:
        return (f"{dev} ({driver}): rx-usecs 0, rx-frames {c.rx_frames}: no moderation, an interrupt for every "
                f"packet that finds NAPI idle — the model's rx_usecs 0, this chapter's default")
    return (f"{dev} ({driver}): an interrupt after {number(c.rx_usecs)} µs or {plural(c.rx_frames, 'frame')}, "
            f"whichever comes first — near the model's rx_usecs {c.rx_usecs} (igb's timer only)")


@check.arguments
def rps_text(dev: str, queues: Sequence, sock_flow_entries: int | None) -> str:
    """One NIC's RPS and RFS settings (``netlab.live.ethtool.RpsQueue`` per RX queue; ``sock_flow_entries`` is
    ``net.core.rps_sock_flow_entries``, None where unreadable) in words."""
    lines = []
    for q in queues:
        if not q.cpus:
            lines.append(f"{dev} {q.queue}: RPS off (rps_cpus empty): the CPU that takes this queue's interrupt "
                         f"carries each packet up the stack")
        else:
            cpus = ", ".join(map(str, q.cpus))
            lines.append(f"{dev} {q.queue}: RPS to CPU{'s' if len(q.cpus) > 1 else ''} {cpus}: get_rps_cpu picks "
                         f"one per flow hash, and each that takes an IPI counts it in received_rps")
        if q.flow_cnt:
            lines[-1] += f"; an RFS flow table of {number(q.flow_cnt)} entries"
    if sock_flow_entries is None:
        lines.append("RFS: net.core.rps_sock_flow_entries is not readable here")
    elif not sock_flow_entries or not any(q.flow_cnt for q in queues):
        lines.append(f"RFS off (net.core.rps_sock_flow_entries {number(sock_flow_entries)}, rps_flow_cnt "
                     f"{'0 on every queue' if not any(q.flow_cnt for q in queues) else 'set'}): where RPS is on, a "
                     f"flow goes where its hash points, not where its reader runs")
    else:
        lines.append(f"RFS on (net.core.rps_sock_flow_entries {number(sock_flow_entries)}): a flow read through a "
                     f"connected socket (TCP, or connected UDP) follows the CPU its reader last ran on")
    return "\n".join(lines)


@check.arguments
def queue_irqs_text(queue_irqs: Sequence, affinity: Mapping[int, object]) -> str:
    """NIC queue IRQs with their count per CPU and the CPUs they may run on (``smp_affinity_list``)."""
    if not queue_irqs:
        return "no per-queue NIC interrupts found in /proc/interrupts"
    lines = []
    for q in queue_irqs:
        counts = ", ".join(f"CPU {c}: {number(n)}" for c, n in q.counts.items())
        lines.append(f"IRQ {q.irq:>4} {q.name:<22} {q.direction:<6} queue {q.queue}  {counts}  "
                     f"affinity: {affinity.get(q.irq, '?')}")
    return "\n".join(lines)
