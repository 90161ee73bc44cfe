"""The accept queue of your kernel, measured on loopback, and the handshake model's prediction beside it.

:func:`accept_queue` listens on 127.0.0.1 with ``listen(backlog)``, never calls ``accept()``, opens ``clients``
non-blocking connections (``TCP_SYNCNT`` 1, so a dropped client gives up within seconds) and then reads what the
kernel did: the listener's Recv-Q and Send-Q (accept-queue length and limit, over sock_diag, else Recv-Q from
``/proc/net/tcp``), every socket's TCP state from ``/proc/net/tcp``, and the ListenOverflows/ListenDrops
counters of ``/proc/net/netstat`` before and after. Those counters belong to the whole network namespace:
anything else on the machine that overflows a listener at the same moment moves them too, so a delta is "at
least". :func:`syn_retransmissions` watches ListenOverflows over a few seconds to see when dropped clients
retransmit their SYN. :func:`netlab.scenarios.handshake.predict_accept_queue` runs the model for the same
experiment and the same kernel profile.

Every socket is closed before returning, also on error (the clients with SO_LINGER 0, so nothing lingers in
TIME_WAIT). Nothing here changes a sysctl or needs privileges.
"""
from __future__ import annotations

import errno
import select
import socket
import struct
import sys
import time
from collections import Counter
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Callable, Mapping

from netlab import check
from netlab.live import procfs
from netlab.live.result import LiveProbeError, LiveResult, Why
from netlab.live.sock_diag import tcp_diag

TCP_SYNCNT = getattr(socket, "TCP_SYNCNT", 7)     # include/uapi/linux/tcp.h
MAX_CLIENTS = 512
LOOPBACK = "127.0.0.1"


@dataclass(frozen=True)
class AcceptQueueReading:
    """What the kernel did with ``clients`` connections to ``listen(backlog)`` that nobody accepts."""

    backlog: int
    clients: int
    port: int
    accept_queue: int                 # the listener's Recv-Q: sk_ack_backlog
    accept_queue_limit: int | None    # its Send-Q: sk_max_ack_backlog (None without sock_diag)
    server_states: Mapping[str, int]  # TCP states of the server side (children, requests) on the port
    client_states: Mapping[str, int]  # TCP states of the client sockets
    connect_errors: Mapping[str, int] # what each non-blocking connect() returned
    overflows: int | None             # ListenOverflows delta (whole namespace: at least this experiment's)
    drops: int | None                 # ListenDrops delta
    waited_s: float

    def __str__(self) -> str:
        limit = "?" if self.accept_queue_limit is None else self.accept_queue_limit
        return (f"listen({self.backlog}) + {self.clients} clients: accept queue {self.accept_queue} "
                f"(limit {limit}); clients {dict(self.client_states)}; ListenOverflows +{self.overflows}")


def _tcp_rows(tcp_path: str, what: str, how: str) -> list[procfs.TcpSocket]:
    reading = procfs.tcp_sockets(tcp_path)
    if not reading.available:
        raise LiveProbeError(what, how, f"{tcp_path} could be read before the experiment, not during it: "
                                        f"{reading.reason}")
    return reading.value


def _tcpext(netstat_path: str) -> dict[str, int] | None:
    reading = procfs.netstat(netstat_path)
    return reading.value.get("TcpExt") if reading.available else None


def _delta(after: dict | None, before: dict | None, name: str) -> int | None:
    if after is None or before is None or name not in after or name not in before:
        return None
    return after[name] - before[name]


@check.arguments
def accept_queue(backlog: int, clients: int, *, wait_s: float = 0.2, tcp_path: str = "/proc/net/tcp",
                 netstat_path: str = "/proc/net/netstat") -> LiveResult:
    """listen(``backlog``) on 127.0.0.1, ``clients`` non-blocking connects, no accept(); read the queues.

    The clients connect one after another, each once the one before is established; ``wait_s`` (< 1 s, so no
    SYN is retransmitted yet) is how long all the handshakes get before reading.
    """
    what = f"the accept queue of listen({backlog}) with {clients} clients"
    how = f"sockets on {LOOPBACK}, {tcp_path}, {netstat_path} and sock_diag"
    if not isinstance(backlog, int) or isinstance(backlog, bool) or not 0 <= backlog <= 65535:
        raise ValueError("backlog must be an int in 0..65535")
    if not isinstance(clients, int) or not 1 <= clients <= MAX_CLIENTS:
        raise ValueError(f"clients must be an int in 1..{MAX_CLIENTS}")
    if not isinstance(wait_s, (int, float)) or not 0 < wait_s < 1:
        raise ValueError("wait_s must be in (0, 1): before the first SYN retransmission")
    if not sys.platform.startswith("linux"):
        return LiveResult.unavailable(what, how, Why.NOT_LINUX, f"these files and TCP_SYNCNT are Linux's (this is "
                                                                f"{sys.platform})")
    sockets = procfs.tcp_sockets(tcp_path)
    if not sockets.available:
        return LiveResult.unavailable(what, how, sockets.why, sockets.reason)
    with ExitStack() as stack:
        return LiveResult(what, how, _measure(stack, backlog, clients, wait_s, tcp_path, netstat_path, what, how))


def _listener(stack: ExitStack, backlog: int) -> socket.socket:
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    stack.callback(server.close)
    server.bind((LOOPBACK, 0))
    server.listen(backlog)
    return server


def _client(stack: ExitStack, syncnt: int = 1) -> socket.socket:
    c = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    stack.callback(c.close)
    c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))   # close() sends RST
    c.setsockopt(socket.IPPROTO_TCP, TCP_SYNCNT, syncnt)
    c.setblocking(False)
    return c


def _measure(stack: ExitStack, backlog: int, clients: int, wait_s: float, tcp_path: str,
             netstat_path: str, what: str, how: str) -> AcceptQueueReading:
    before = _tcpext(netstat_path)
    # the clients are closed after the listener (ExitStack runs callbacks last-in first-out)
    conns = [_client(stack) for _ in range(clients)]
    server = _listener(stack, backlog)
    port = server.getsockname()[1]
    results = Counter()
    start = time.monotonic()
    deadline = start + wait_s
    for c in conns:
        code = c.connect_ex((LOOPBACK, port))
        results[errno.errorcode.get(code, str(code)) if code else "0"] += 1
        # One handshake at a time, as the model's clients connect: wait until this client is established
        # (writable) or the time is up. A client whose SYN is dropped never becomes writable; once the time is
        # up the rest connect at once. On a busy machine, SYNs and ACKs of overlapping handshakes would race.
        select.select([], [c], [], max(0.0, deadline - time.monotonic()))
    time.sleep(max(0.0, deadline - time.monotonic()))
    rows = _tcp_rows(tcp_path, what, how)
    after = _tcpext(netstat_path)
    waited = time.monotonic() - start
    client_ports = {c.getsockname()[1] for c in conns}
    listener = _listening(rows, port, what, how, tcp_path)
    server_side = Counter(r.state for r in rows if r.local[1] == port and r.state != "LISTEN"
                          and r.remote[1] in client_ports)
    client_side = Counter(r.state for r in rows if r.local[1] in client_ports and r.remote == (LOOPBACK, port))
    diag = tcp_diag()
    limit = _listening(diag.value, port, what, how, "sock_diag").wqueue if diag.available else None
    return AcceptQueueReading(backlog=backlog, clients=clients, port=port, accept_queue=listener.rx_queue,
                              accept_queue_limit=limit, server_states=dict(server_side),
                              client_states=dict(client_side), connect_errors=dict(results),
                              overflows=_delta(after, before, "ListenOverflows"),
                              drops=_delta(after, before, "ListenDrops"), waited_s=round(waited, 3))


def _listening(rows: list, port: int, what: str, how: str, source: str):
    """Our listener's row in ``/proc/net/tcp`` or the sock_diag dump; it is there, or something is wrong."""
    row = next((r for r in rows if r.local == (LOOPBACK, port) and r.state == "LISTEN"), None)
    if row is None:
        raise LiveProbeError(what, how, f"the listener on {LOOPBACK}:{port} is missing from {source}")
    return row


@check.arguments
def listen_limit(backlog: int) -> LiveResult:
    """The accept-queue limit the kernel stores for ``listen(backlog)`` (``ss -lnt`` Send-Q): the somaxconn
    clamp, seen directly. Needs no client at all.

    (Python's ``socket.listen`` turns a negative backlog into 0 before the system call; in C,
    ``listen(fd, -1)`` reaches the kernel and means somaxconn.)
    """
    what, how = f"sk_max_ack_backlog after listen({backlog})", "a listener on 127.0.0.1 and sock_diag"
    if not isinstance(backlog, int) or isinstance(backlog, bool) or not 0 <= backlog <= 2**31 - 1:
        raise ValueError("backlog must be an int in 0..2**31-1")
    if not sys.platform.startswith("linux"):
        return LiveResult.unavailable(what, how, Why.NOT_LINUX, f"sock_diag is Linux's (this is {sys.platform})")
    with ExitStack() as stack:
        port = _listener(stack, backlog).getsockname()[1]
        diag = tcp_diag()
        if not diag.available:
            return LiveResult.unavailable(what, how, diag.why, diag.reason)
        return LiveResult(what, how, _listening(diag.value, port, what, how, "sock_diag").wqueue)


def connect_without_listen() -> LiveResult:
    """Bind a socket on 127.0.0.1 but never call listen(), then connect to it: what does connect() say?"""
    what, how = "connect() to a bound port nobody listens on", "two sockets on 127.0.0.1"
    with ExitStack() as stack:
        bound = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        stack.callback(bound.close)
        bound.bind((LOOPBACK, 0))
        client = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        stack.callback(client.close)
        client.settimeout(2.0)
        code = client.connect_ex(bound.getsockname())
        return LiveResult(what, how, errno.errorcode.get(code, str(code)) if code else "0 (connected?!)")


@check.arguments
def syn_retransmissions(backlog: int = 0, dropped: int = 1, syncnt: int = 2, duration_s: float = 7.5,
                        every_s: float = 0.05, netstat_path: str = "/proc/net/netstat",
                        progress: Callable[[float], None] | None = None) -> LiveResult:
    """Fill ``listen(backlog)``'s accept queue, add ``dropped`` more clients (TCP_SYNCNT ``syncnt``) and sample
    ListenOverflows every ``every_s`` for ``duration_s``: each step is a (retransmitted) SYN being dropped.

    The value is a list of (seconds since the connects, ListenOverflows increase so far).
    """
    what = "when dropped clients retransmit their SYN"
    how = f"ListenOverflows in {netstat_path}, sampled every {every_s} s"
    if not isinstance(dropped, int) or not 1 <= dropped <= 16:
        raise ValueError("dropped must be an int in 1..16")
    if not isinstance(backlog, int) or not 0 <= backlog <= 64:
        raise ValueError("backlog must be an int in 0..64")
    if not isinstance(syncnt, int) or not 1 <= syncnt <= 6:
        raise ValueError("syncnt must be an int in 1..6")
    if not isinstance(duration_s, (int, float)) or not 0 < duration_s <= 20:
        raise ValueError("duration_s must be in (0, 20]")
    if not isinstance(every_s, (int, float)) or not 0.01 <= every_s <= duration_s:
        raise ValueError("every_s must be in [0.01, duration_s]")
    if not sys.platform.startswith("linux"):
        return LiveResult.unavailable(what, how, Why.NOT_LINUX, f"this is {sys.platform}, not Linux")
    counters = procfs.netstat(netstat_path)
    if not counters.available:
        return LiveResult.unavailable(what, how, counters.why, counters.reason)
    if "ListenOverflows" not in counters.value.get("TcpExt", {}):
        return LiveResult.unavailable(what, how, Why.UNKNOWN_FORMAT, f"{netstat_path} has no TcpExt "
                                                                     f"ListenOverflows counter")
    with ExitStack() as stack:
        conns = [_client(stack, syncnt) for _ in range(backlog + 1 + dropped)]
        port = _listener(stack, backlog).getsockname()[1]
        base = _tcpext(netstat_path)["ListenOverflows"]
        start = time.monotonic()
        for c in conns:
            c.connect_ex((LOOPBACK, port))
        samples, next_report = [], 1.0
        while (t := time.monotonic() - start) < duration_s:
            samples.append((round(t, 3), _tcpext(netstat_path)["ListenOverflows"] - base))
            if progress is not None and t >= next_report:
                progress(t)
                next_report += 1.0
            time.sleep(every_s)
        return LiveResult(what, how, samples)
