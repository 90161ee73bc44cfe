"""UDP send: a datagram larger than the MTU, the case where IP itself fragments.

Models net/ipv4/udp.c (``udp_sendmsg``, ``udp_send_skb``) in Linux 6.12. An uncorked ``sendto()`` builds the
whole datagram with ``ip_make_skb``: ``__ip_append_data`` copies the user's bytes straight into MTU-sized skbs,
so when ``__ip_finish_output`` finds the datagram longer than the MTU, ``ip_do_fragment`` takes its fast path and
copies no payload again. Each fragment is then transmitted like any packet.
"""
from __future__ import annotations

from dataclasses import dataclass

from netlab.check import Port
from netlab.kernel.copies import account_syscall
from netlab.kernel.ip_output import ip_make_skb, ip_send_skb
from netlab.kernel.route import Rtable
from netlab.kernel.skbuff import SkBuff
from netlab.kernel.sock import Sock
from netlab.trace import kernel_function

UDP_HLEN = 8


@dataclass(eq=False)
class UdpSock(Sock):
    """``struct udp_sock`` with its cached route."""

    protocol: str = "udp"
    dst: Rtable | None = None
    inet_rcv_saddr: str = "10.0.0.2"
    inet_num: Port = 40001           # local port
    inet_daddr: str = "10.0.0.1"
    inet_dport: Port = 53


@kernel_function("net/ipv4/udp.c", "sendto(): a {length}-byte datagram on {sk.name}")
def udp_sendmsg(sk: UdpSock, length: int) -> int:
    """Route (cached), build the datagram with ``ip_make_skb`` (the user's bytes copied once, in MTU-sized
    pieces), then ``udp_send_skb``: ``length``, or its error (-EPERM when a netfilter OUTPUT rule dropped it)."""
    if not isinstance(sk, UdpSock) or sk.dst is None:
        raise TypeError("udp_sendmsg takes a UdpSock with a route (dst)")
    if not isinstance(length, int) or not 0 < length <= 65507:
        raise ValueError("length must be an int in 1..65507 (the largest UDP payload over IPv4)")
    account_syscall("sendto")
    skb = ip_make_skb(sk, length, UDP_HLEN)
    err = udp_send_skb(skb)
    return err if err else length


@kernel_function("net/ipv4/udp.c", "write the UDP header into {skb.name}, send it")
def udp_send_skb(skb: SkBuff) -> int:
    """Fill the 8-byte UDP header (checksum offloaded), then ``ip_send_skb``; its error is the caller's (only
    -ENOBUFS, which the model never meets, would be hidden from a socket without ``IP_RECVERR``)."""
    return ip_send_skb(skb.meta["net"], skb)
