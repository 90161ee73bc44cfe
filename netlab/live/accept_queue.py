"""Two handshake facts of your kernel read on loopback, with nothing but your own sockets and sock_diag.

:func:`listen_limit` is the accept-queue limit the kernel stores for ``listen(backlog)`` (``ss -lnt``'s Send-Q:
the somaxconn clamp, seen directly) and :func:`connect_without_listen` what ``connect()`` says to a port that is
bound but not listening. Neither reads a counter: the experiments that do — the SYN queue, the accept queue and
its overflow, the retransmissions — run in a private namespace whose counters are theirs alone
(:mod:`netlab.live.netns_lab`). Every socket is closed before returning, also on error; nothing here changes a
sysctl or needs privileges.
"""
from __future__ import annotations

import errno
import socket
import sys
from contextlib import ExitStack

from netlab import check
from netlab.live.result import LiveProbeError, LiveResult, Why
from netlab.live.sock_diag import tcp_diag

LOOPBACK = "127.0.0.1"


def _listener(stack: ExitStack, backlog: int) -> socket.socket:
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    stack.callback(server.close)
    server.bind((LOOPBACK, 0))
    server.listen(backlog)
    return server


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
