"""What one received packet costs this machine's kernel: a bounded loopback flood, timed by the kernel's own CPU
accounting, and its conversion into :class:`netlab.kernel.cpu.Costs`.

:func:`receive_cost` starts a child process (``python -m netlab.live.receive_cost``) that pins itself to one CPU and
sends small UDP datagrams to an unread socket on 127.0.0.1 for at most ``seconds``. On loopback the receive half of
each datagram runs on that same CPU, in NET_RX softirq context, at the sender's ``local_bh_enable``
(``loopback_xmit`` → ``__netif_rx`` → ``enqueue_to_backlog``; then ``net_rx_action`` → ``process_backlog`` →
``__netif_receive_skb`` → ``ip_rcv`` → ``ip_local_deliver`` → ``udp_rcv`` → the socket's queue, full after a few
hundred datagrams, so the rest are dropped there and counted as UDP RcvbufErrors). The kernel books the time spent in
softirq context to the ``softirq`` column of that CPU's line in ``/proc/stat``, apart from ``system`` (the send
half: the system call, UDP and IP output, the loopback device); ``/proc/softirqs`` counts the NET_RX runs.
:func:`costs_from` turns that reading into ``Costs.stack_ns``. Everything the experiment opens dies with the child;
the learner's own process is neither pinned nor changed.
"""
from __future__ import annotations

import os
import resource
import socket
import sys
import time
from dataclasses import dataclass, replace

from netlab import check
from netlab.kernel.cpu import Costs
from netlab.live import procfs
from netlab.live.result import LiveProbeError, LiveResult, Unavailable, Why, child_reply, run_child
from netlab.units import duration, number

PAYLOAD = 32
"""Bytes of UDP payload per datagram: a minimum-size frame, as in the published per-core packet rates."""


@dataclass(frozen=True)
class ReceiveCostReading:
    """One flood on one CPU: what was sent and how the kernel booked that CPU's time meanwhile (ns)."""

    cpu: int
    datagrams: int
    seconds: float
    net_rx_runs: int           # NET_RX softirq runs on the CPU (/proc/softirqs)
    softirq_ns: int            # /proc/stat: time in softirq context (the receive half)
    system_ns: int             # /proc/stat: the rest of the kernel's time (the send half)
    user_ns: int               # /proc/stat: the child's Python loop (and anything else run there)
    busy_ns: int               # /proc/stat: all non-idle time of the CPU
    own_ns: int                # getrusage: the child's own user + system time
    tick_ns: int               # the resolution of /proc/stat (1 s / USER_HZ)

    @property
    def softirq_ns_per_datagram(self) -> float:
        return self.softirq_ns / self.datagrams

    @property
    def own_share(self) -> float:
        """How much of the CPU's busy time was the experiment's own: near 1 unless other tasks shared the CPU."""
        return min(1.0, self.own_ns / self.busy_ns) if self.busy_ns else 0.0


@check.arguments
def costs_from(reading: ReceiveCostReading, base: Costs = Costs()) -> Costs:
    """``base`` with ``stack_ns`` measured on this machine.

    Measured: the softirq time the kernel booked on the flooded CPU, per datagram — the whole receive path of a
    small UDP datagram from the backlog queue to the socket (``process_backlog`` → ``ip_rcv`` → ``udp_rcv`` →
    ``__udp_enqueue_schedule_skb``), plus each NET_RX run's own overhead.

    Assumed: (1) each NET_RX run costs ``base.net_rx_action_ns + base.poll_ns`` (the run of ``net_rx_action`` and
    one poll of the backlog NAPI, ``process_backlog``); those are subtracted, and the rest is ``stack_ns``: one skb
    from the backlog to the socket, as from GRO's hand-off to the socket behind a NIC. (2) The driver's part has no
    counterpart on loopback (no descriptor to read, no buffer to refill: the sender built the skb), so
    ``base.driver_ns`` stays.
    (3) ``/proc/stat`` counts in ticks of 1/USER_HZ: over half a second the softirq time is exact to a few per cent.
    The hard IRQ cost is not measured (loopback raises none); ``base.hardirq_ns`` stays.
    """
    return replace(base, stack_ns=max(1, round(reading.softirq_ns_per_datagram - _runs_per_datagram(reading, base))))


def _runs_per_datagram(reading: ReceiveCostReading, base: Costs) -> float:
    """The NET_RX runs' own cost (``net_rx_action`` and one ``process_backlog`` poll each), per datagram."""
    return reading.net_rx_runs * (base.net_rx_action_ns + base.poll_ns) / reading.datagrams


@check.arguments
def stack_ns_words(reading: ReceiveCostReading, base: Costs = Costs()) -> str:
    """How :func:`costs_from` gets ``stack_ns`` from ``reading``, in words: the softirq time per datagram, less
    what the NET_RX runs cost per datagram."""
    per_run = base.net_rx_action_ns + base.poll_ns
    return (f"{duration(reading.softirq_ns_per_datagram)} of softirq time per datagram, less "
            f"{duration(_runs_per_datagram(reading, base))} for the NET_RX runs themselves "
            f"({number(reading.net_rx_runs)} runs of net_rx_action and a process_backlog poll, {duration(per_run)} "
            f"each, over {number(reading.datagrams)} datagrams): stack_ns = "
            f"{duration(costs_from(reading, base).stack_ns)} (default: {duration(base.stack_ns)})")


@check.arguments
def named_costs(measured: LiveResult) -> dict[str, Costs]:
    """The model's default costs, and this machine's (:func:`costs_from`) when ``measured`` (a
    :func:`receive_cost` result) is available: the choices of chapter 01's explorer."""
    if measured.available and not isinstance(measured.value, ReceiveCostReading):
        raise TypeError("measured must be the result of netlab.live.receive_cost.receive_cost()")
    return {"default": Costs(), **({"this machine": costs_from(measured.value)} if measured.available else {})}


@check.arguments
def receive_cost(seconds: float = 0.5, max_datagrams: int = 1_000_000, timeout_s: check.Timeout = 20.0,
                 proc: str = "/proc") -> LiveResult:
    """Flood 127.0.0.1 with small UDP datagrams from a child pinned to one CPU for at most ``seconds`` (≤ 2 s) or
    ``max_datagrams``; the value is a :class:`ReceiveCostReading` (see the module text, and :func:`costs_from`)."""
    what = "CPU time per received packet on this machine"
    how = (f"a child pinned to one CPU sending {PAYLOAD}-byte UDP datagrams to an unread socket on 127.0.0.1; "
           f"{proc}/stat (softirq time) and {proc}/softirqs (NET_RX runs) of that CPU around it")
    if not isinstance(seconds, (int, float)) or isinstance(seconds, bool) or not 0.05 <= seconds <= 2:
        raise ValueError(f"seconds must be in 0.05..2, got {seconds!r}")
    if not isinstance(max_datagrams, int) or isinstance(max_datagrams, bool) or not 1000 <= max_datagrams <= 5_000_000:
        raise ValueError(f"max_datagrams must be an int in 1000..5000000, got {max_datagrams!r}")
    if not isinstance(proc, str) or not proc.startswith("/"):
        raise ValueError(f"proc must be an absolute path, got {proc!r}")
    if not sys.platform.startswith("linux"):
        return LiveResult.unavailable(what, how, Why.NOT_LINUX, f"the experiment reads Linux's softirq accounting "
                                                                f"(this is {sys.platform})")
    for reading in (procfs.proc_stat(f"{proc}/stat"), procfs.softirqs(f"{proc}/softirqs")):
        if not reading.available:
            return LiveResult.unavailable(what, how, reading.why, reading.reason)
    return run_child(what, how, "netlab.live.receive_cost", [str(seconds), str(max_datagrams), proc], timeout_s,
                     lambda answer: ReceiveCostReading(**answer))


def _cpu_times(proc: str, cpu: int) -> tuple[dict[str, int], int]:
    """This CPU's line of /proc/stat (ticks) and its NET_RX count."""
    stat, runs = procfs.proc_stat(f"{proc}/stat"), procfs.softirqs(f"{proc}/softirqs")
    for reading in (stat, runs):
        if not reading.available:
            raise Unavailable(reading.why, reading.reason)
    return stat.value.cpu[f"cpu{cpu}"], runs.value.per_cpu("NET_RX")[cpu]


def _flood(seconds: float, max_datagrams: int, proc: str) -> dict:
    """The child's work: pin, flood, and read the accounting of its CPU before and after."""
    cpu = max(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {cpu})
    tick_ns = 1_000_000_000 // os.sysconf("SC_CLK_TCK")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as rx, \
            socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as tx:
        rx.bind(("127.0.0.1", 0))
        tx.connect(rx.getsockname())
        send, data, sent = tx.send, b"x" * PAYLOAD, 0
        (times0, runs0), usage0 = _cpu_times(proc, cpu), resource.getrusage(resource.RUSAGE_SELF)
        start = time.perf_counter()
        while sent < max_datagrams and time.perf_counter() - start < seconds:
            for _ in range(256):
                send(data)
            sent += 256
        wall = time.perf_counter() - start
        (times1, runs1), usage1 = _cpu_times(proc, cpu), resource.getrusage(resource.RUSAGE_SELF)
    delta = {k: (times1[k] - times0[k]) * tick_ns for k in times1}
    if delta["softirq"] <= 0:
        raise LiveProbeError("CPU time per received packet", "the softirq column of /proc/stat",
                             f"CPU {cpu} booked no softirq time while it received {sent} datagrams")
    own = (usage1.ru_utime + usage1.ru_stime - usage0.ru_utime - usage0.ru_stime) * 1e9
    return {"cpu": cpu, "datagrams": sent, "seconds": wall, "net_rx_runs": runs1 - runs0,
            "softirq_ns": delta["softirq"], "system_ns": delta["system"], "user_ns": delta["user"] + delta["nice"],
            "busy_ns": sum(v for k, v in delta.items() if k not in ("idle", "iowait", "guest", "guest_nice")),
            "own_ns": round(own), "tick_ns": tick_ns}


if __name__ == "__main__":      # the child of receive_cost()
    child_reply(lambda: _flood(float(sys.argv[1]), int(sys.argv[2]), sys.argv[3]))
