"""How much kernel memory idle TCP connections take on your machine, measured, beside the slab model.

:func:`measure_connection_memory` starts a child process that opens ``n`` idle connections over 127.0.0.1 (both
ends live on this machine: ``n`` client and ``n`` accepted server sockets), then closes one side (those ends go to
FIN_WAIT2, the other side's to CLOSE_WAIT), then the other (the first closer's ends wait in TIME_WAIT). Before and
after each step the parent reads ``/proc/slabinfo`` (root only: the change of every slab cache) or else
``/proc/meminfo``'s ``Slab`` line (the total, noisier), and watches ``/proc/net/tcp`` until the child's sockets
have reached the expected states. :func:`netlab.scenarios.connection_memory.modelled` gives the slab model's numbers
for the same experiment.

Caveats a reader of the numbers needs: SLUB merges caches with the same size and flags, so a row can count other
objects (``/sys/kernel/slab`` shows the aliases; ``tcp_bind_bucket`` is counted under ``eventpoll_epi`` here); the
client ends hold bind buckets for their ports, the server ends share the listener's; everything else on the
machine allocates and frees slab objects at the same time (dentries, files; TIME_WAIT sockets of earlier
runs expiring shrink ``tw_sock_TCP`` while this run's grow it); a loopback FIN is the sender's
cloned sk_buff with a kmalloc'd head, not a driver's sk_buff with a page fragment. Everything is closed at the
end (the child exits); the TIME_WAIT sockets stay in the kernel for 60 s, holding no fd and no process.
"""
from __future__ import annotations

import errno
import json
import os
import select
import selectors
import socket
import struct
import subprocess
import sys
import time
from dataclasses import dataclass, field
from typing import Callable, Mapping

from netlab import check
from netlab.live import procfs
from netlab.live.result import LiveProbeError, LiveProbeTimeout, LiveResult, Why, kernel_lacks, stderr_tail

LOOPBACK = "127.0.0.1"
MAX_CONNECTIONS = 20_000
STEPS = {"client": ("ESTABLISHED", "client FIN_WAIT2, server CLOSE_WAIT", "client TIME_WAIT"),
         "server": ("ESTABLISHED", "server FIN_WAIT2, client CLOSE_WAIT", "server TIME_WAIT")}
"""The three readings, by which side closes first."""


@dataclass(frozen=True)
class Reading:
    """One step's change against the start: per slabinfo row (objects, bytes), or the meminfo Slab total."""

    step: str
    rows: Mapping[str, tuple[int, int]]     # row -> (Δ active objects, Δ bytes of slabs); {"Slab": …} with meminfo
    slab_bytes: int                          # Δ total slab memory
    settled: bool                            # the sockets reached the expected states in time

    @check.arguments
    def per_connection(self, n: int) -> float:
        return self.slab_bytes / n


@dataclass(frozen=True)
class ConnectionMemory:
    """What ``n`` loopback connections cost at each step, and how it was measured."""

    n: int
    first_closer: str
    epoll: bool
    method: str                  # "slabinfo" or "meminfo"
    readings: tuple[Reading, ...]
    seconds: float
    notes: tuple[str, ...] = field(default=())
    merged: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    """slabinfo row -> the other caches SLUB merged into it (from /sys/kernel/slab), e.g. pool_workqueue →
    skbuff_fclone_cache"""

    def __str__(self) -> str:
        parts = [f"{r.step}: {r.per_connection(self.n):.0f} B" for r in self.readings]
        return f"{self.n} connections ({self.method}): " + "; ".join(parts)


@check.arguments
def measure_connection_memory(n: int = 2000, first_closer: str = "client", epoll: bool = False, *,
                              timeout_s: check.Timeout = 20.0, progress: Callable[[str], None] | None = print,
                              slabinfo_path: str = "/proc/slabinfo", meminfo_path: str = "/proc/meminfo",
                              tcp_path: str = "/proc/net/tcp") -> LiveResult:
    """Open ``n`` idle loopback connections in a child process, close them side by side, and read the slab
    memory at each step. ``progress`` receives a line per stage (None: quiet)."""
    what = f"kernel memory of {n} idle loopback TCP connections"
    if not isinstance(n, int) or isinstance(n, bool) or not 10 <= n <= MAX_CONNECTIONS:
        raise ValueError(f"n must be an int in 10..{MAX_CONNECTIONS}")
    if first_closer not in STEPS:
        raise ValueError("first_closer must be 'client' or 'server'")
    if not isinstance(epoll, bool):
        raise TypeError("epoll must be a bool")
    if not isinstance(timeout_s, (int, float)) or not 1 <= timeout_s <= 120:
        raise ValueError("timeout_s must be in 1..120 seconds")
    if progress is not None and not callable(progress):
        raise TypeError("progress must be a callable taking a str, or None")
    say = progress or (lambda line: None)
    slab = procfs.slabinfo(slabinfo_path)
    method, path = ("slabinfo", slabinfo_path) if slab.available else ("meminfo", meminfo_path)
    how = f"a child process on {LOOPBACK}; {path} before and after each step; {tcp_path} for the states"
    if not sys.platform.startswith("linux"):
        return LiveResult.unavailable(what, how, Why.NOT_LINUX, f"it reads Linux's /proc (this is {sys.platform})")
    for needed in (procfs.meminfo(meminfo_path), procfs.tcp_sockets(tcp_path)):
        if not needed.available:
            return LiveResult.unavailable(what, how, needed.why, needed.reason)
    import resource     # Unix only: imported once we know this is Linux

    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and 2 * n + 16 > hard:
        return LiveResult.unavailable(what, how, Why.PERMISSION, f"2×{n} sockets need more fds than the hard "
                                      f"limit {hard}, which only CAP_SYS_RESOURCE may raise: choose n <= "
                                      f"{(hard - 16) // 2}")
    notes = [] if method == "slabinfo" else [
        "/proc/slabinfo is root-only: only the Slab total of /proc/meminfo was read (other activity adds noise)"]
    started = time.monotonic()
    child = subprocess.Popen([sys.executable, "-m", "netlab.live.connection_memory", "child", str(n),
                              first_closer, "1" if epoll else "0"],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lines = _Lines(child, what, how)
    try:
        return LiveResult(what, how, _drive(child, lines, n, first_closer, epoll, method, path, tcp_path,
                                            timeout_s, say, notes, started, _merged(slab)))
    finally:
        lines.selector.close()
        for stream in (child.stdin, child.stdout, child.stderr):
            try:
                stream.close()
            except OSError:
                pass
        if child.poll() is None:
            child.kill()
        child.wait()


def _slab_rows(method: str, path: str) -> dict[str, tuple[int, int]]:
    reading = procfs.meminfo(path) if method == "meminfo" else procfs.slabinfo(path)
    if not reading.available:
        raise LiveProbeError(reading.what, reading.how, f"readable when the experiment started, not now: "
                                                        f"{reading.reason}")
    if method == "meminfo":
        return {"Slab": (0, reading.value["Slab"] * 1024)}
    page = os.sysconf("SC_PAGE_SIZE")
    return {name: (r.active_objs, r.num_slabs * r.pagesperslab * page) for name, r in reading.value.items()}


def _delta(after: dict, before: dict) -> dict[str, tuple[int, int]]:
    out = {}
    for name in after.keys() | before.keys():
        a, b = after.get(name, (0, 0)), before.get(name, (0, 0))
        if a != b:
            out[name] = (a[0] - b[0], a[1] - b[1])
    return out


def _states(tcp_path: str, port: int) -> dict[str, int]:
    reading = procfs.tcp_sockets(tcp_path)
    if not reading.available:
        raise LiveProbeError(reading.what, reading.how, f"readable when the experiment started, not now: "
                                                        f"{reading.reason}")
    counts: dict[str, int] = {}
    for s in reading.value:
        if port in (s.local[1], s.remote[1]) and s.state != "LISTEN":
            counts[s.state] = counts.get(s.state, 0) + 1
    return counts


EXPECTED = {
    0: lambda n, c: {"ESTABLISHED": 2 * n},
    1: lambda n, c: {"FIN_WAIT2": n, "CLOSE_WAIT": n},
    2: lambda n, c: {"TIME_WAIT": n},
}


def _merged(slab: LiveResult) -> dict[str, tuple[str, ...]]:
    links = procfs.slab_links()
    if not (slab.available and links.available):
        return {}
    rows: dict[str, list[str]] = {}
    for name, row in procfs.merged_slab_caches(links.value, slab.value).items():
        rows.setdefault(row, []).append(name)
    return {row: tuple(sorted(names)) for row, names in rows.items()}


def _drive(child, lines, n, first_closer, epoll, method, path, tcp_path, timeout_s, say, notes, started, merged):
    deadline = started + timeout_s
    message = lines.next(deadline)
    if message.get("event") != "listening":
        raise lines.failed(f"the child did not start: {message}")
    port = message["port"]
    baseline = _slab_rows(method, path)
    child.stdin.write("open\n")
    child.stdin.flush()
    say(f"opening {n} connections on {LOOPBACK}:{port} in a child process …")
    readings = []
    for step, command in enumerate(("", f"close {first_closer}", "close other")):
        if command:
            child.stdin.write(command + "\n")
            child.stdin.flush()
        while True:
            message = lines.next(deadline)
            if message.get("event") == "progress":
                say(f"  {message['done']}/{n} connections open")
                continue
            if message.get("event") != "done":
                raise lines.failed(f"the child answered {message}")
            break
        settled = _settle(tcp_path, port, EXPECTED[step](n, first_closer), deadline)
        time.sleep(0.5)        # RCU-deferred frees (inodes; slabs of SLAB_TYPESAFE_BY_RCU caches) finish
        rows = _delta(_slab_rows(method, path), baseline)
        total = sum(b for _, b in rows.values())
        readings.append(Reading(STEPS[first_closer][step], rows, total, settled))
        say(f"{STEPS[first_closer][step]}: {total / n:,.0f} B per connection"
            + ("" if settled else " (not all sockets reached the state in time)"))
    child.stdin.write("exit\n")
    child.stdin.flush()
    child.wait(timeout=max(1.0, deadline - time.monotonic()))
    notes.append(f"the {n} {first_closer}-side TIME_WAIT sockets stay in the kernel for 60 s (no fd, no process)")
    return ConnectionMemory(n, first_closer, epoll, method, tuple(readings), time.monotonic() - started,
                            tuple(notes), merged)


def _settle(tcp_path: str, port: int, expected: dict[str, int], deadline: float) -> bool:
    give_up = min(deadline, time.monotonic() + 5)
    while True:
        states = _states(tcp_path, port)
        if all(states.get(s, 0) >= k for s, k in expected.items()):
            return True
        if time.monotonic() > give_up:
            return False
        time.sleep(0.05)


class _Lines:
    """JSON lines from the child's stdout, with a deadline.

    Reads the pipe's raw fd and splits lines itself: a buffered ``readline`` can swallow several lines at once,
    and ``select`` would then wait for data that already arrived.
    """

    def __init__(self, child, what: str, how: str):
        self.child, self.fd, self.pending, self.what, self.how = child, child.stdout.fileno(), b"", what, how
        self.selector = selectors.DefaultSelector()
        self.selector.register(self.fd, selectors.EVENT_READ)

    def failed(self, detail: str) -> LiveProbeError:
        return LiveProbeError(self.what, self.how, detail)

    def next(self, deadline: float) -> dict:
        while b"\n" not in self.pending:
            left = deadline - time.monotonic()
            if left <= 0:
                raise LiveProbeTimeout(self.what, self.how, "the experiment ran out of time (the child was killed)")
            if self.selector.select(timeout=left):
                chunk = os.read(self.fd, 65536)
                if not chunk:
                    self.child.wait()
                    raise self.failed(f"the child exited with status {self.child.returncode}: "
                                      f"{stderr_tail(self.child.stderr.read())}")
                self.pending += chunk
        line, self.pending = self.pending.split(b"\n", 1)
        return json.loads(line)


# --------------------------------------------------------------------------------------------------------------
# Buffers: a socket's own memory counters (SO_MEMINFO, Linux 4.6+), idle, with unread data, drained.

SO_MEMINFO = 55                                   # include/uapi/asm-generic/socket.h
SO_MEMINFO_SINCE = (4, 6)                         # the Linux release that added it
SK_MEMINFO = ("rmem_alloc", "rcvbuf", "wmem_alloc", "sndbuf", "fwd_alloc", "wmem_queued", "optmem", "backlog",
              "drops")                            # include/uapi/linux/sock_diag.h


@check.arguments
def sk_meminfo(sock: socket.socket) -> dict[str, int]:
    """The receiving socket's memory counters, as ``ss -m`` shows them (skmem)."""
    raw = sock.getsockopt(socket.SOL_SOCKET, SO_MEMINFO, 4 * len(SK_MEMINFO))
    return dict(zip(SK_MEMINFO, struct.unpack(f"{len(raw) // 4}I", raw)))


@check.arguments
def buffer_memory(payload: int = 200_000) -> LiveResult:
    """Send ``payload`` bytes over one loopback connection that nobody reads, then read them: the receiver's
    ``sk_rmem_alloc`` and forward allocation before, while the data waits, and after (idle sockets hold none)."""
    what, how = "receive-buffer memory of one loopback socket", f"SO_MEMINFO on a {LOOPBACK} connection"
    if not isinstance(payload, int) or not 1 <= payload <= 4_000_000:
        raise ValueError("payload must be an int in 1..4000000 bytes")
    if not sys.platform.startswith("linux"):
        return LiveResult.unavailable(what, how, Why.NOT_LINUX, f"SO_MEMINFO is Linux's (this is {sys.platform})")
    listener = socket.socket()
    sockets = [listener]
    try:
        listener.bind((LOOPBACK, 0))
        listener.listen(1)
        client = socket.create_connection(listener.getsockname())
        sockets.append(client)
        server, _ = listener.accept()
        sockets.append(server)
        try:
            idle = sk_meminfo(server)
        except OSError as e:          # net/core/sock.c sk_getsockopt: an unknown option is ENOPROTOOPT
            lacking = kernel_lacks("SO_MEMINFO", SO_MEMINFO_SINCE, e, errno.ENOPROTOOPT)
            return LiveResult.unavailable(what, how, lacking.why, lacking.reason)
        client.sendall(b"x" * payload)
        deadline = time.monotonic() + 2
        while sk_meminfo(server)["rmem_alloc"] < payload and time.monotonic() < deadline:
            time.sleep(0.01)
        waiting = sk_meminfo(server)
        received = 0
        while received < payload:
            received += len(server.recv(1 << 20))
        drained = sk_meminfo(server)
        return LiveResult(what, how, {"idle": idle, "data waiting": waiting, "drained": drained})
    finally:
        for sock in sockets:
            sock.close()


# --------------------------------------------------------------------------------------------------------------
# The child process: holds the sockets, does what the parent says.

def _child(n: int, first_closer: str, epoll: bool) -> None:
    import resource

    def send(**message):
        sys.stdout.write(json.dumps(message) + "\n")
        sys.stdout.flush()

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < 2 * n + 16:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 2 * n + 16) if hard != resource.RLIM_INFINITY
                                                    else 2 * n + 16, hard))
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind((LOOPBACK, 0))
    listener.listen(128)
    send(event="listening", port=listener.getsockname()[1])
    ends = {"client": [], "server": []}
    poller = None
    for line in sys.stdin:
        command = line.split()
        if command == ["open"]:
            poller = select.epoll() if epoll else None
            for i in range(n):
                c = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                c.connect(listener.getsockname())
                s, _ = listener.accept()
                ends["client"].append(c)
                ends["server"].append(s)
                if poller is not None:
                    poller.register(c.fileno())
                    poller.register(s.fileno())
                if (i + 1) % max(1, n // 4) == 0 and i + 1 < n:
                    send(event="progress", done=i + 1)
            send(event="done")
        elif command[:1] == ["close"]:
            side = first_closer if command[1] != "other" else ("server" if first_closer == "client" else "client")
            for sock in ends[side]:
                sock.close()
            ends[side] = []
            send(event="done")
        else:
            break
    listener.close()
    for sock in ends["client"] + ends["server"]:
        sock.close()
    if poller is not None:
        poller.close()


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "child":
        _child(int(sys.argv[2]), sys.argv[3], sys.argv[4] == "1")
    else:
        sys.exit("usage: python -m netlab.live.connection_memory child N client|server 0|1")
