"""TIME_WAIT on your kernel, in a network namespace of the experiment's own: who keeps it, and ``tcp_tw_reuse``.

:func:`time_wait` starts a child in its own user+network namespace (:mod:`netlab.live.own_net`). It opens
``connections`` connections over 127.0.0.1 to a listener on port 5001 and closes each from the client first (the
server closes once it has read the client's FIN), then reads the namespace's own ``/proc/net/tcp``: which side's
sockets wait in TIME_WAIT. Then, with the namespace's ``ip_local_port_range`` narrowed to the one port 40000, it
connects to port 5002 and closes from the client (port 40000 → TIME_WAIT), and connects to 5002 again, first with
``tcp_tw_reuse`` 0, then with 1 (``tcp_twsk_unique``: a TIME_WAIT sock with a recent timestamp may be taken over once
``tcp_tw_reuse_delay`` — 1 s before Linux 6.13, where the file is missing — has passed). The namespace, its
sysctls and every TIME_WAIT sock die with the child.
"""
from __future__ import annotations

import errno
import socket
import sys
import time
from dataclasses import dataclass

from netlab import check
from netlab.live import own_net, procfs
from netlab.live.result import LiveResult, child_reply

LOOPBACK, PORT, REUSE_PORT, ONE_PORT = "127.0.0.1", 5001, 5002, 40000
REUSE_DELAY = "net.ipv4.tcp_tw_reuse_delay"        # ms (Linux 6.13+); before it, a whole second


@dataclass(frozen=True)
class TimeWaitReading:
    """``connections`` closed by the client: TIME_WAIT sockets on each side; then the one-port range: ``connect()``
    again with ``tcp_tw_reuse`` 0 (``without_reuse``: an errno name, or "none") and 1 (``with_reuse``), and the
    local port the reusing connection got."""

    connections: int
    client_time_wait: int
    server_time_wait: int
    without_reuse: str
    with_reuse: str
    reused_port: int | None


@check.arguments
def time_wait(connections: int = 4, timeout_s: check.Timeout = 15.0) -> LiveResult:
    """Run the experiment of the module text in a private namespace."""
    if not isinstance(connections, int) or isinstance(connections, bool) or not 1 <= connections <= 64:
        raise ValueError("connections must be an int in 1..64")
    return own_net.run_in_own_net("TIME_WAIT: which side keeps it, and tcp_tw_reuse",
                                  f"a child in its own network namespace: {connections} connections over "
                                  f"{LOOPBACK} closed by the client, /proc/net/tcp read there; then a one-port "
                                  f"ip_local_port_range with tcp_tw_reuse 0 and 1", "netlab.live.time_wait",
                                  [str(connections)], timeout_s, lambda v: TimeWaitReading(**v))


def _closed_by_client(listener: socket.socket) -> int:
    """One connection to ``listener``, closed by the client first; the client's local port."""
    client = socket.create_connection(listener.getsockname(), timeout=5)
    server, _ = listener.accept()
    port = client.getsockname()[1]
    client.close()
    server.settimeout(5)
    if server.recv(1) != b"":
        raise RuntimeError("the server read data where the client's FIN was expected")
    server.close()
    return port


def _connect(port: int) -> tuple[str, int | None]:
    c = socket.socket()
    try:
        c.connect((LOOPBACK, port))
        return "none", c.getsockname()[1]
    except OSError as e:
        return errno.errorcode.get(e.errno, str(e.errno)), None
    finally:
        c.close()


def _settled(expected: int, deadline_s: float = 3.0) -> list[procfs.TcpSocket]:
    end = time.monotonic() + deadline_s
    while True:
        rows = [s for s in procfs.parse_tcp("/proc/net/tcp") if s.state == "TIME_WAIT"]
        if len(rows) >= expected or time.monotonic() > end:
            return rows
        time.sleep(0.01)


def _child(connections: int) -> dict:
    listener, reuse_listener = socket.socket(), socket.socket()
    for sock, port in ((listener, PORT), (reuse_listener, REUSE_PORT)):
        sock.bind((LOOPBACK, port))
        sock.listen(connections + 2)
    for _ in range(connections):
        _closed_by_client(listener)
    rows = _settled(connections)
    client = sum(1 for s in rows if s.remote[1] == PORT)
    server = sum(1 for s in rows if s.local[1] == PORT)
    own_net.set_sysctl("net.ipv4.ip_local_port_range", f"{ONE_PORT} {ONE_PORT}")
    own_net.set_sysctl("net.ipv4.tcp_tw_reuse", "0")
    _closed_by_client(reuse_listener)
    _settled(connections + 1)
    without, _ = _connect(REUSE_PORT)
    own_net.set_sysctl("net.ipv4.tcp_tw_reuse", "1")
    if own_net.has_sysctl(REUSE_DELAY):
        own_net.set_sysctl(REUSE_DELAY, "1")
        time.sleep(0.01)
    else:
        time.sleep(1.1)             # tcp_twsk_unique before 6.13: the TIME_WAIT's timestamp must be a second old
    with_reuse, port = _connect(REUSE_PORT)
    return {"connections": connections, "client_time_wait": client, "server_time_wait": server,
            "without_reuse": without, "with_reuse": with_reuse, "reused_port": port}


if __name__ == "__main__":      # the child of time_wait(); its namespace ends when it exits
    child_reply(lambda: _child(int(own_net.enter(sys.argv[1:])[0])))
