"""Your kernel's connection limits, read live, and the two classic failures reproduced safely on loopback.

- :func:`your_limits`: this process's RLIMIT_NOFILE, ``fs.nr_open``, ``fs.file-max`` and open files, the ephemeral
  port range, how many fds this process holds.
- :func:`emfile`: a child process lowers its own *soft* RLIMIT_NOFILE (never the hard limit), lets one connection
  wait in its listener's accept queue, opens sockets until ``socket()`` fails with EMFILE, then shows ``accept()``
  failing with EMFILE while the connection stays queued, and succeeding once one fd is closed.
- :func:`port_exhaustion`: a child process narrows its client sockets' port range to a few ports with
  ``IP_LOCAL_PORT_RANGE`` (Linux 6.3+), connects until ``connect()`` fails with EADDRNOTAVAIL, then gets the same
  number again from a second source address (127.0.0.2) and again toward a second server port: the 4-tuple.
- :func:`namespace_port_exhaustion`: the same failure under a namespace-wide ``net.ipv4.ip_local_port_range`` of a
  few ports, in a network namespace of the experiment's own (:mod:`netlab.live.own_net`), and what a second server
  port adds.

All run in a child (a notebook kernel already holds many fds), on 127.0.0.0/8 only, close every socket with an
RST (nothing is left in TIME_WAIT), and change no sysctl.
"""
from __future__ import annotations

import errno
import os
import random
import socket
import struct
import sys
from dataclasses import dataclass

from netlab import check
from netlab.kernel.limits import IP_BIND_ADDRESS_NO_PORT, IP_LOCAL_PORT_RANGE, ip_local_port_range_value
from netlab.live import own_net, procfs
from netlab.live.result import LiveResult, Unavailable, Why, child_reply, kernel_lacks, probe, run_child
from netlab.units import number, plural

LOOPBACK, SECOND_SOURCE = "127.0.0.1", "127.0.0.2"
IP_LOCAL_PORT_RANGE_SINCE = (6, 3)      # the Linux release that added the option




@check.arguments
def set_local_port_range(sock: socket.socket, lo: check.Port, hi: check.Port) -> None:
    """Narrow the ports ``connect()`` may pick for ``sock`` to ``lo..hi`` (``IP_LOCAL_PORT_RANGE``).

    A kernel before 6.3 answers ENOPROTOOPT (``do_ip_setsockopt`` does not know the option): then
    :class:`Unavailable`. Anything else raises :class:`LiveProbeError` — e.g. EINVAL from a kernel that has the
    option means the value was encoded wrongly (``ip_sockglue.c`` refuses lo > hi and lengths other than 4).
    """
    try:
        sock.setsockopt(socket.IPPROTO_IP, IP_LOCAL_PORT_RANGE, struct.pack("I", ip_local_port_range_value(lo, hi)))
    except OSError as e:
        raise kernel_lacks("IP_LOCAL_PORT_RANGE", IP_LOCAL_PORT_RANGE_SINCE, e, errno.ENOPROTOOPT) from None


@dataclass(frozen=True)
class YourLimits:
    nofile: tuple[int | None, int | None]       # (soft, hard) of this process; None = unlimited
    nr_open: int | None                         # fs.nr_open: the ceiling for any hard limit
    file_max: int | None                        # fs.file-max: open files system-wide (not for CAP_SYS_ADMIN)
    files_open: int | None                      # open files system-wide now (file-nr)
    port_range: tuple[int, int] | None          # net.ipv4.ip_local_port_range
    fds_here: int | None                        # fds this process holds now

    @property
    def ports(self) -> int | None:
        return None if self.port_range is None else self.port_range[1] - self.port_range[0] + 1

    def __str__(self) -> str:
        soft, hard = (_count(n, "unlimited") for n in self.nofile)
        ports = ("unknown" if self.port_range is None else
                 f"{number(self.port_range[0])}–{number(self.port_range[1])} ({plural(self.ports, 'port')})")
        return (f"nofile soft/hard {soft}/{hard}, fs.nr_open {_count(self.nr_open)}, "
                f"fs.file-max {_count(self.file_max)} ({_count(self.files_open)} open), ports {ports}, "
                f"fds here {_count(self.fds_here)}")


def _count(n: int | None, missing: str = "unknown") -> str:
    return missing if n is None else number(n)


@check.arguments
def your_limits(proc: str = "/proc") -> LiveResult:
    """Every limit a connection count runs into, read from ``proc`` (never written)."""
    how = f"{proc}/self/limits, {proc}/sys/fs/nr_open, {proc}/sys/fs/file-nr, ip_local_port_range, {proc}/self/fd"
    if not isinstance(proc, str) or not proc.startswith("/"):
        raise ValueError("proc must be an absolute path str")
    nofile = procfs.nofile(f"{proc}/self/limits")
    if not nofile.available:
        return LiveResult.unavailable("your connection limits", how, nofile.why, nofile.reason)
    nr_open = procfs.sysctl("fs.nr_open", f"{proc}/sys")
    file_nr = procfs.file_nr(f"{proc}/sys/fs/file-nr")
    ports = procfs.sysctl("net.ipv4.ip_local_port_range", f"{proc}/sys")
    fd_list = probe("fds", f"listing {proc}/self/fd", lambda: os.listdir(f"{proc}/self/fd"))
    fds = len(fd_list.value) if fd_list.available else None
    return LiveResult("your connection limits", how, YourLimits(
        nofile.value, nr_open.value if nr_open.available else None,
        file_nr.value.max if file_nr.available else None, file_nr.value.allocated if file_nr.available else None,
        ports.value if ports.available and isinstance(ports.value, tuple) else None, fds))


@dataclass(frozen=True)
class EmfileReading:
    """What a process with ``ulimit -n soft`` saw."""

    soft: int
    open_before: int             # fds the child held before its first socket(): stdio, listener, client, /proc/net/tcp
    sockets_opened: int          # socket() calls that succeeded before the first failure
    socket_error: str            # errno name of the failing socket()
    accept_error: str            # errno name of accept() at the limit
    queued_while_failing: int    # the listener's accept queue (Recv-Q) right after accept() failed
    accepted_after_close: bool   # accept() worked once one fd was closed

    def __str__(self) -> str:
        return (f"ulimit -n {self.soft}: {self.sockets_opened} sockets (the child held {self.open_before} fds "
                f"already), then socket() → {self.socket_error}; "
                f"accept() → {self.accept_error} with {plural(self.queued_while_failing, 'connection')} still "
                f"queued; after closing one fd accept() {'worked' if self.accepted_after_close else 'still failed'}")


@dataclass(frozen=True)
class PortsReading:
    """Connections to one server port from a ``ports``-wide range, and what a second address or port adds."""

    port_range: tuple[int, int]
    first: int                   # from 127.0.0.1 to the first listener, until EADDRNOTAVAIL
    error: str
    second_source: int           # from 127.0.0.2 to the same listener
    second_server_port: int      # from 127.0.0.1 to a second listener

    def __str__(self) -> str:
        lo, hi = self.port_range
        return (f"ports {lo}-{hi}: {self.first} connections, then connect() → {self.error}; a second source "
                f"address adds {self.second_source}, a second server port {self.second_server_port}")


@check.arguments
def emfile(soft: int = 32, timeout_s: check.Timeout = 10.0) -> LiveResult:
    """Reproduce "Too many open files" in a child process whose soft RLIMIT_NOFILE is ``soft``."""
    if not isinstance(soft, int) or isinstance(soft, bool) or not 8 <= soft <= 1024:
        raise ValueError("soft must be an int in 8..1024")
    return _in_child("EMFILE at a small ulimit -n", f"a child process with RLIMIT_NOFILE soft {soft}, on "
                     f"{LOOPBACK}", ["emfile", str(soft)], timeout_s, lambda v: EmfileReading(**v))


@check.arguments
def port_exhaustion(ports: int = 8, timeout_s: check.Timeout = 10.0) -> LiveResult:
    """Run out of client ports on purpose with a ``ports``-wide IP_LOCAL_PORT_RANGE, then relieve it."""
    if not isinstance(ports, int) or isinstance(ports, bool) or not 2 <= ports <= 64:
        raise ValueError("ports must be an int in 2..64")
    return _in_child("client port exhaustion", f"a child process with IP_LOCAL_PORT_RANGE ({ports} ports) on "
                     f"{LOOPBACK} and {SECOND_SOURCE}", ["ports", str(ports)], timeout_s,
                     lambda v: PortsReading(**{**v, "port_range": tuple(v["port_range"])}))


@dataclass(frozen=True)
class NamespacePortsReading:
    """Connections from a namespace whose whole ``ip_local_port_range`` is ``port_range``: to one server port
    until ``connect()`` failed (``error``), then to a second server port."""

    port_range: tuple[int, int]
    first: int
    error: str
    second_server_port: int


NAMESPACE_PORTS_LOW = 40000
SERVER_PORTS = (5001, 5002)     # the namespace's listeners, outside its port range


@check.arguments
def namespace_port_exhaustion(ports: int = 10, timeout_s: check.Timeout = 10.0) -> LiveResult:
    """Connect until EADDRNOTAVAIL under a namespace ``ip_local_port_range`` of ``ports`` ports, then to a second
    server port (a private user+network namespace; the learner's range is not touched)."""
    if not isinstance(ports, int) or isinstance(ports, bool) or not 2 <= ports <= 64:
        raise ValueError("ports must be an int in 2..64")
    lo, hi = NAMESPACE_PORTS_LOW, NAMESPACE_PORTS_LOW + ports - 1
    return own_net.run_in_own_net("client port exhaustion under a namespace port range",
                                  f"a child in its own network namespace with ip_local_port_range {lo} {hi}, "
                                  f"connecting over {LOOPBACK}", "netlab.live.limits", ["nsports", str(ports)],
                                  timeout_s, lambda v: NamespacePortsReading(**{**v, "port_range":
                                                                                tuple(v["port_range"])}))


def _in_child(what: str, how: str, args: list[str], timeout_s: float, build) -> LiveResult:
    if not isinstance(timeout_s, (int, float)) or not 1 <= timeout_s <= 60:
        raise ValueError("timeout_s must be in 1..60 seconds")
    if not sys.platform.startswith("linux"):
        return LiveResult.unavailable(what, how, Why.NOT_LINUX, f"it uses Linux socket options and 127.0.0.0/8 "
                                                                f"(this is {sys.platform})")
    return run_child(what, how, "netlab.live.limits", ["child", *args], timeout_s, build)


# --------------------------------------------------------------------------------------------------------------
# Child processes

def _rst_close(sock: socket.socket) -> None:
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


def _queued(listener: socket.socket, tcp_fd: int) -> int:
    """The listener's accept-queue length from /proc/net/tcp, read through an fd opened before the limit."""
    port = listener.getsockname()[1]
    os.lseek(tcp_fd, 0, os.SEEK_SET)
    chunks = []
    while chunk := os.read(tcp_fd, 1 << 16):
        chunks.append(chunk)
    rows = procfs.parse_tcp(b"".join(chunks).decode())
    return next((s.rx_queue for s in rows if s.state == "LISTEN" and s.local[1] == port), -1)


def _child_emfile(soft: int) -> dict:
    import resource     # Unix only; the child runs on Linux

    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))          # only the soft limit, only down
    listener = socket.socket()
    listener.bind((LOOPBACK, 0))
    listener.listen(8)
    client = socket.socket()
    client.connect(listener.getsockname())                              # waits, established, in the accept queue
    tcp_fd = os.open("/proc/net/tcp", os.O_RDONLY)                     # opened now: later no fd is left
    open_before = len(os.listdir("/proc/self/fd")) - 1                  # less the fd listdir itself opened
    held, socket_error = [], None
    while socket_error is None:
        try:
            held.append(socket.socket())
        except OSError as e:
            socket_error = errno.errorcode.get(e.errno, str(e.errno))
    try:
        listener.accept()
        accept_error = "none"
    except OSError as e:
        accept_error = errno.errorcode.get(e.errno, str(e.errno))
    queued = _queued(listener, tcp_fd)
    held.pop().close()
    try:
        accepted, _ = listener.accept()
        accepted.close()
        accepted_after = True
    except OSError:
        accepted_after = False
    for s in held:
        s.close()
    _rst_close(client)
    listener.close()
    os.close(tcp_fd)
    return {"soft": soft, "open_before": open_before, "sockets_opened": len(held) + 1, "socket_error": socket_error,
            "accept_error": accept_error, "queued_while_failing": queued, "accepted_after_close": accepted_after}


def _child_ports(ports: int) -> dict:
    net_range = procfs.sysctl("net.ipv4.ip_local_port_range")
    if not net_range.available:
        raise Unavailable(net_range.why, net_range.reason)
    lo_sys, hi_sys = net_range.value
    lo = random.Random(os.getpid()).randrange(lo_sys, hi_sys - ports)
    hi = lo + ports - 1
    listeners = [socket.socket(), socket.socket()]
    opened: list[socket.socket] = []
    try:
        for listener in listeners:
            listener.bind((LOOPBACK, 0))
            listener.listen(128)

        def fill(source: str | None, listener: socket.socket) -> tuple[int, str]:
            count = 0
            while count <= ports:
                c = socket.socket()
                opened.append(c)
                set_local_port_range(c, lo, hi)
                if source:
                    c.setsockopt(socket.IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, 1)
                    c.bind((source, 0))
                try:
                    c.connect(listener.getsockname())
                except OSError as e:
                    return count, errno.errorcode.get(e.errno, str(e.errno))
                count += 1
            return count, "none"

        first, error = fill(None, listeners[0])
        second_source, _ = fill(SECOND_SOURCE, listeners[0])     # all of 127.0.0.0/8 is local on Linux
        second_port, _ = fill(None, listeners[1])
        return {"port_range": [lo, hi], "first": first, "error": error, "second_source": second_source,
                "second_server_port": second_port}
    finally:
        for c in opened:
            _rst_close(c)
        for listener in listeners:
            listener.close()


def _child_namespace_ports(ports: int) -> dict:
    lo, hi = NAMESPACE_PORTS_LOW, NAMESPACE_PORTS_LOW + ports - 1
    own_net.set_sysctl("net.ipv4.ip_local_port_range", f"{lo} {hi}")
    listeners, opened = [socket.socket(), socket.socket()], []
    for port, listener in zip(SERVER_PORTS, listeners):   # fixed ports: bind(port 0) would take one of the range
        listener.bind((LOOPBACK, port))
        listener.listen(128)

    def fill(listener: socket.socket) -> tuple[int, str]:
        for count in range(ports + 2):                 # bounded: one past the range shows a failure is missing
            c = socket.socket()
            opened.append(c)
            try:
                c.connect(listener.getsockname())
            except OSError as e:
                return count, errno.errorcode.get(e.errno, str(e.errno))
        return ports + 2, "none"

    first, error = fill(listeners[0])
    second, _ = fill(listeners[1])
    return {"port_range": [lo, hi], "first": first, "error": error, "second_server_port": second}


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[3] == "nsports":      # the child of namespace_port_exhaustion()
        child_reply(lambda: _child_namespace_ports(int(own_net.enter(sys.argv[1:])[1])))
    elif len(sys.argv) == 4 and sys.argv[1] == "child" and sys.argv[2] in ("emfile", "ports"):
        child_reply(lambda: (_child_emfile if sys.argv[2] == "emfile" else _child_ports)(int(sys.argv[3])))
    else:
        sys.exit("usage: python -m netlab.live.limits child emfile|ports N (or run by namespace_port_exhaustion)")
