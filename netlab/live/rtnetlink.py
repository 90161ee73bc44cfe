"""Routes and links over rtnetlink (NETLINK_ROUTE) and interface ioctls — what ``ip`` does, without ``ip``.

:func:`route_get` is ``ip route get ADDR`` (RTM_GETROUTE, read-only, no privilege needed). :func:`add_veth`,
:func:`set_up` and :func:`set_ipv4_address` change interfaces: they are only ever called inside a network
namespace the experiment created itself (see :mod:`netlab.live.loopback`), never in the learner's own.
Layouts from include/uapi/linux/rtnetlink.h, if_link.h, veth.h, netlink.h and linux/sockios.h.
"""
from __future__ import annotations

import ipaddress
import socket
import struct
import sys
from dataclasses import dataclass
from typing import Callable

from netlab import check
from netlab.live.result import LiveResult, Why

RTM_NEWLINK, RTM_NEWROUTE, RTM_GETROUTE = 16, 24, 26
NLM_F_REQUEST, NLM_F_ACK, NLM_F_EXCL, NLM_F_CREATE = 0x1, 0x4, 0x200, 0x400
NLMSG_ERROR = 2
RTA_DST, RTA_OIF, RTA_PREFSRC, RTA_TABLE = 1, 4, 7, 15
IFLA_IFNAME, IFLA_LINKINFO, IFLA_INFO_KIND, IFLA_INFO_DATA, VETH_INFO_PEER = 3, 18, 1, 2, 1
RTN_TYPES = {1: "unicast", 2: "local", 3: "broadcast", 4: "anycast", 5: "multicast", 6: "blackhole",
             7: "unreachable", 8: "prohibit"}
SIOCGIFFLAGS, SIOCSIFFLAGS, SIOCSIFADDR, SIOCSIFNETMASK = 0x8913, 0x8914, 0x8916, 0x891C
IFF_UP = 0x1
_NLMSGHDR = struct.Struct("=IHHII")
_RTMSG = struct.Struct("=BBBBBBBBI")
_IFINFOMSG = struct.Struct("=BxHiII")


@dataclass(frozen=True)
class Route:
    """The kernel's answer to ``ip route get``: route type, output device, source address, table."""

    daddr: str
    type: str
    dev: str
    src: str | None
    table: int | None

    def __str__(self) -> str:
        src = f" src {self.src}" if self.src else ""
        kind = "" if self.type == "unicast" else f"{self.type} "
        return f"{kind}{self.daddr} dev {self.dev}{src} table {self.table}"


def _attr(kind: int, data: bytes) -> bytes:
    length = 4 + len(data)
    return struct.pack("=HH", length, kind) + data + bytes((4 - length % 4) % 4)


def _attrs(data: bytes) -> dict[int, bytes]:
    out, offset = {}, 0
    while offset + 4 <= len(data):
        length, kind = struct.unpack_from("=HH", data, offset)
        if length < 4:
            break
        out[kind & 0x3FFF] = data[offset + 4: offset + length]
        offset += (length + 3) & ~3
    return out


@check.arguments
def route_request(daddr: str, seq: check.U32 = 1) -> bytes:
    """An RTM_GETROUTE request for one IPv4 destination."""
    body = _RTMSG.pack(socket.AF_INET, 32, 0, 0, 0, 0, 0, 0, 0) + _attr(RTA_DST, socket.inet_aton(daddr))
    return _NLMSGHDR.pack(_NLMSGHDR.size + len(body), RTM_GETROUTE, NLM_F_REQUEST, seq, 0) + body


@check.arguments
def parse_route_reply(data: bytes, daddr: str,
                      ifname: Callable[[int], str] = socket.if_indextoname) -> Route:
    """The RTM_NEWROUTE answer (or the error in an NLMSG_ERROR)."""
    if len(data) < _NLMSGHDR.size:
        raise ValueError("truncated netlink reply")
    length, kind, _, _, _ = _NLMSGHDR.unpack_from(data)
    if kind == NLMSG_ERROR:
        code = struct.unpack_from("=i", data, _NLMSGHDR.size)[0]
        raise OSError(-code, f"no route to {daddr}")
    if kind != RTM_NEWROUTE or length > len(data):
        raise ValueError(f"unexpected netlink message type {kind}")
    fields = _RTMSG.unpack_from(data, _NLMSGHDR.size)
    attrs = _attrs(data[_NLMSGHDR.size + _RTMSG.size: length])
    oif = struct.unpack("=i", attrs[RTA_OIF])[0] if RTA_OIF in attrs else None
    src = socket.inet_ntoa(attrs[RTA_PREFSRC]) if RTA_PREFSRC in attrs else None
    table = struct.unpack("=I", attrs[RTA_TABLE])[0] if RTA_TABLE in attrs else fields[4]
    return Route(daddr, RTN_TYPES.get(fields[7], str(fields[7])), ifname(oif) if oif else "?", src, table)


@check.arguments
def route_get(daddr: str) -> LiveResult:
    """``ip route get DADDR`` in this process's network namespace."""
    what, how = f"the route to {daddr}", "RTM_GETROUTE over NETLINK_ROUTE"
    try:
        ipaddress.IPv4Address(daddr)
    except ValueError:
        raise ValueError(f"daddr must be an IPv4 address, got {daddr!r}") from None
    if not sys.platform.startswith("linux"):
        return LiveResult.unavailable(what, how, Why.NOT_LINUX, f"rtnetlink is Linux's (this is {sys.platform})")
    with socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, socket.NETLINK_ROUTE) as nl:
        nl.settimeout(2.0)
        nl.send(route_request(daddr))
        return LiveResult(what, how, parse_route_reply(nl.recv(65536), daddr))


def _netlink_ack(message: bytes) -> None:
    with socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, socket.NETLINK_ROUTE) as nl:
        nl.settimeout(2.0)
        nl.send(message)
        reply = nl.recv(65536)
    length, kind, _, _, _ = _NLMSGHDR.unpack_from(reply)
    if kind == NLMSG_ERROR:
        code = struct.unpack_from("=i", reply, _NLMSGHDR.size)[0]
        if code:
            raise OSError(-code, "rtnetlink refused")


@check.arguments
def veth_request(name: str, peer: str, seq: check.U32 = 1) -> bytes:
    """RTM_NEWLINK for a veth pair ``name`` <-> ``peer`` (``ip link add NAME type veth peer name PEER``)."""
    peer_info = _IFINFOMSG.pack(0, 0, 0, 0, 0) + _attr(IFLA_IFNAME, peer.encode() + b"\0")
    linkinfo = _attr(IFLA_INFO_KIND, b"veth") + _attr(IFLA_INFO_DATA, _attr(VETH_INFO_PEER, peer_info))
    body = _IFINFOMSG.pack(0, 0, 0, 0, 0) + _attr(IFLA_IFNAME, name.encode() + b"\0") + _attr(IFLA_LINKINFO,
                                                                                                linkinfo)
    flags = NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL
    return _NLMSGHDR.pack(_NLMSGHDR.size + len(body), RTM_NEWLINK, flags, seq, 0) + body


@check.arguments
def add_veth(name: str, peer: str) -> None:
    _netlink_ack(veth_request(name, peer))


from netlab import check
def _flags(s: socket.socket, ifname: str) -> int:
    import fcntl
    raw = fcntl.ioctl(s, SIOCGIFFLAGS, struct.pack("16sH14x", ifname.encode(), 0))
    return struct.unpack_from("16sH", raw)[1]




@check.arguments
def is_up(ifname: str) -> bool:
    """Whether IFNAME has IFF_UP set (``ip link show`` prints UP), read with SIOCGIFFLAGS."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        return bool(_flags(s, ifname) & IFF_UP)




@check.arguments
def set_up(ifname: str) -> None:
    """``ip link set IFNAME up`` (SIOCSIFFLAGS)."""
    import fcntl
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        flags = _flags(s, ifname)
        fcntl.ioctl(s, SIOCSIFFLAGS, struct.pack("16sH14x", ifname.encode(), flags | IFF_UP))


@check.arguments
def set_ipv4_address(ifname: str, interface: str) -> None:
    """``ip addr add ADDR/PLEN dev IFNAME`` (SIOCSIFADDR + SIOCSIFNETMASK)."""
    import fcntl
    iface = ipaddress.IPv4Interface(interface)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        for request, addr in ((SIOCSIFADDR, iface.ip), (SIOCSIFNETMASK, iface.netmask)):
            fcntl.ioctl(s, request, struct.pack("16sH2s4s8x", ifname.encode(), socket.AF_INET, b"\0\0",
                                                addr.packed))
