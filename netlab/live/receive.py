"""A bounded receive experiment on loopback: where do packets go, and which counters move?

:func:`loopback_udp_burst` sends N UDP datagrams over 127.0.0.1 to a socket that does not read, and reports
what the kernel counted meanwhile: ``softnet_stat`` (per-CPU processed / dropped / time_squeeze), NET_RX runs
in ``/proc/softirqs``, and the UDP counters of ``/proc/net/snmp``. Loopback uses the backlog path
(``netif_rx`` → ``enqueue_to_backlog`` → ``process_backlog``), so each datagram is ``processed`` once; the
socket's full receive buffer drops the rest (UDP RcvbufErrors), which ``softnet_stat``'s ``dropped`` never
counts. Counters are per CPU / per namespace: other traffic on the machine moves them too.
"""
from __future__ import annotations

import socket
import time
from dataclasses import dataclass

from netlab import check
from netlab.live import procfs
from netlab.live.result import LiveProbeError, LiveResult


@dataclass(frozen=True)
class UdpBurst:
    """What one burst did. Per-CPU dicts are deltas over the burst."""

    sent: int
    queued: int                      # datagrams the socket held afterwards (read back)
    rcvbuf: int                      # SO_RCVBUF the kernel gave the socket
    udp_rcvbuf_errors: int           # Udp RcvbufErrors delta (drops at the full socket)
    processed: dict[int, int]        # softnet_stat processed delta per CPU
    dropped: dict[int, int]          # softnet_stat dropped delta per CPU (backlog drops)
    time_squeeze: dict[int, int]
    net_rx: dict[int, int]           # NET_RX softirq runs per CPU
    seconds: float

    @property
    def packets_per_net_rx(self) -> float:
        """Datagrams handled per NET_RX softirq run: many, because one run polls a batch."""
        runs = sum(self.net_rx.values())
        return sum(self.processed.values()) / runs if runs else float("inf")


def _delta(after: dict[int, int], before: dict[int, int]) -> dict[int, int]:
    return {cpu: after.get(cpu, 0) - before.get(cpu, 0) for cpu in sorted(after)}


def _read(proc: str) -> tuple[LiveResult, LiveResult, LiveResult]:
    return (procfs.softnet_stat(f"{proc}/net/softnet_stat"), procfs.softirqs(f"{proc}/softirqs"),
            procfs.snmp(f"{proc}/net/snmp"))


@check.arguments
def loopback_udp_burst(n: int = 20_000, payload: int = 32, timeout_s: check.Timeout = 5.0,
                       proc: str = "/proc") -> LiveResult:
    """Send ``n`` datagrams of ``payload`` bytes to an unread UDP socket on 127.0.0.1; count what moved."""
    if not isinstance(n, int) or isinstance(n, bool) or not 1 <= n <= 200_000:
        raise ValueError(f"n must be an int in 1..200000, got {n!r}")
    if not isinstance(payload, int) or not 0 <= payload <= 1400:
        raise ValueError(f"payload must be an int in 0..1400 bytes, got {payload!r}")
    if not isinstance(timeout_s, (int, float)) or not 0 < timeout_s <= 30:
        raise ValueError("timeout_s must be in (0, 30] seconds")
    what = f"{n} UDP datagrams to an unread socket on 127.0.0.1"
    how = f"sending over loopback; reading {proc}/net/softnet_stat, {proc}/softirqs, {proc}/net/snmp around it"
    before = _read(proc)
    for r in before:
        if not r.available:
            return LiveResult.unavailable(what, how, r.why, r.reason)
    rx = tx = None
    try:
        rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        rx.bind(("127.0.0.1", 0))
        tx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        tx.connect(rx.getsockname())
        tx.settimeout(timeout_s)
        data, sent, start = b"x" * payload, 0, time.monotonic()
        while sent < n and time.monotonic() - start < timeout_s:
            tx.send(data)
            sent += 1
        seconds = time.monotonic() - start
        after = _read(proc)
        rx.setblocking(False)
        queued = 0
        while True:
            try:
                rx.recv(2048)
            except BlockingIOError:
                break
            queued += 1
        rcvbuf = rx.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF)
    finally:
        for s in (rx, tx):
            if s is not None:
                s.close()
    for r in after:
        if not r.available:
            raise LiveProbeError(what, how, f"readable before the burst, not after it: {r.reason}")
    (sn0, sq0, snmp0), (sn1, sq1, snmp1) = (r.value for r in before), (r.value for r in after)

    def per_cpu(stat, field):
        return {row.cpu: getattr(row, field) for row in stat.rows}
    return LiveResult(what, how, UdpBurst(
        sent=sent, queued=queued, rcvbuf=rcvbuf,
        udp_rcvbuf_errors=snmp1.get("Udp", {}).get("RcvbufErrors", 0) - snmp0.get("Udp", {}).get("RcvbufErrors", 0),
        processed=_delta(per_cpu(sn1, "processed"), per_cpu(sn0, "processed")),
        dropped=_delta(per_cpu(sn1, "dropped"), per_cpu(sn0, "dropped")),
        time_squeeze=_delta(per_cpu(sn1, "time_squeeze"), per_cpu(sn0, "time_squeeze")),
        net_rx=_delta(sq1.per_cpu("NET_RX"), sq0.per_cpu("NET_RX")), seconds=seconds))
