"""TCP sockets as ``ss`` sees them, asked from the kernel over netlink (NETLINK_SOCK_DIAG), no ``ss`` binary.

``/proc/net/tcp`` shows a listener's accept-queue length but not its limit; the sock_diag reply has both:
for a LISTEN socket ``idiag_rqueue`` is ``sk_ack_backlog`` and ``idiag_wqueue`` is ``sk_max_ack_backlog``
(net/ipv4/tcp_diag.c ``tcp_diag_get_info``) — ``ss -lnt``'s Recv-Q and Send-Q. Layouts from
include/uapi/linux/inet_diag.h and include/uapi/linux/netlink.h. Works without privileges; read-only.
"""
from __future__ import annotations

import errno
import ipaddress
import socket
import struct
import sys
from dataclasses import dataclass

from netlab import check
from netlab.live.procfs import TCP_STATES
from netlab.live.result import LiveProbeError, LiveResult, Why, errno_name

NETLINK_SOCK_DIAG = 4
SOCK_DIAG_BY_FAMILY = 20
NLM_F_REQUEST, NLM_F_DUMP = 0x1, 0x300
NLMSG_ERROR, NLMSG_DONE = 2, 3
_NLMSGHDR = struct.Struct("=IHHII")
_REQ = struct.Struct("=BBBBI")                 # inet_diag_req_v2 up to the sockid
_SOCKID = struct.Struct("!HH16s16sI8s")        # inet_diag_sockid: ports and addresses in network order
_MSG = struct.Struct("=BBBB")                  # inet_diag_msg: family, state, timer, retrans
_MSG_TAIL = struct.Struct("=IIIII")            # expires, rqueue, wqueue, uid, inode


@dataclass(frozen=True)
class DiagSocket:
    """One TCP socket: for LISTEN, ``rqueue``/``wqueue`` are the accept queue's length and limit."""

    local: tuple[str, int]
    remote: tuple[str, int]
    state: str
    rqueue: int
    wqueue: int
    inode: int


@check.arguments
def inet_diag_request(family: int = socket.AF_INET, states: check.U32 = 0xFFFFFFFF, seq: check.U32 = 1) -> bytes:
    """A dump request for every TCP socket of ``family`` in ``states`` (a bit mask of TCP state numbers)."""
    body = _REQ.pack(family, socket.IPPROTO_TCP, 0, 0, states) + bytes(_SOCKID.size)
    return _NLMSGHDR.pack(_NLMSGHDR.size + len(body), SOCK_DIAG_BY_FAMILY, NLM_F_REQUEST | NLM_F_DUMP, seq, 0) + body


@check.arguments
def parse_inet_diag(data: bytes) -> tuple[list[DiagSocket], bool]:
    """The sockets in a chunk of netlink replies, and whether the dump is done."""
    if not isinstance(data, (bytes, bytearray)):
        raise TypeError("pass the bytes read from the netlink socket")
    out, offset = [], 0
    while offset + _NLMSGHDR.size <= len(data):
        length, kind, _, _, _ = _NLMSGHDR.unpack_from(data, offset)
        if length < _NLMSGHDR.size or offset + length > len(data):
            raise ValueError("truncated netlink message")
        if kind == NLMSG_DONE:
            return out, True
        if kind == NLMSG_ERROR:
            code = struct.unpack_from("=i", data, offset + _NLMSGHDR.size)[0]
            raise OSError(-code, "sock_diag refused the request")
        if kind == SOCK_DIAG_BY_FAMILY:
            at = offset + _NLMSGHDR.size
            family, state, _, _ = _MSG.unpack_from(data, at)
            sport, dport, src, dst, _, _ = _SOCKID.unpack_from(data, at + _MSG.size)
            _, rqueue, wqueue, _, inode = _MSG_TAIL.unpack_from(data, at + _MSG.size + _SOCKID.size)
            size = 4 if family == socket.AF_INET else 16
            out.append(DiagSocket((str(ipaddress.ip_address(src[:size])), sport),
                                  (str(ipaddress.ip_address(dst[:size])), dport),
                                  TCP_STATES.get(state, f"state {state}"), rqueue, wqueue, inode))
        offset += (length + 3) & ~3
    return out, False


@check.arguments
def tcp_diag(family: int = socket.AF_INET) -> LiveResult:
    """Every TCP socket of this network namespace with its queues, like ``ss -tan``."""
    what, how = "TCP sockets (sock_diag)", "a NETLINK_SOCK_DIAG dump of inet_diag"
    if not sys.platform.startswith("linux"):
        return LiveResult.unavailable(what, how, Why.NOT_LINUX, f"netlink exists only on Linux (this is "
                                                                f"{sys.platform})")
    if family not in (socket.AF_INET, socket.AF_INET6):
        raise ValueError("family must be socket.AF_INET or socket.AF_INET6")
    try:
        with socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_SOCK_DIAG) as nl:
            nl.settimeout(2.0)
            nl.send(inet_diag_request(family))
            sockets, done = [], False
            while not done:
                chunk, done = parse_inet_diag(nl.recv(65536))
                sockets += chunk
    except OSError as e:
        # net/core/sock_diag.c: ENOENT when no inet_diag handler is built or loadable (CONFIG_INET_DIAG,
        # CONFIG_INET_TCP_DIAG); anything else is not a missing feature
        if e.errno in (errno.ENOENT, errno.EPROTONOSUPPORT):
            return LiveResult.unavailable(what, how, Why.KERNEL_LACKS, f"this kernel has no TCP sock_diag "
                                                                       f"(CONFIG_INET_TCP_DIAG): {errno_name(e)}")
        raise LiveProbeError(what, how, f"{errno_name(e)}: {e.strerror or e}") from e
    return LiveResult(what, how, sockets)
