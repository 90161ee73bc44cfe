"""struct net: one network namespace's receive-side tables, and the global packet-type lists.

Models include/net/net_namespace.h plus the lists that net/core/dev.c keeps (``ptype_all``, ``ptype_base``):
where taps and protocol handlers are registered, the netfilter rules, the local addresses, the socket lookup
tables (a dict per protocol instead of the kernel's hash tables) and the SNMP counters that ``/proc/net/snmp``
and ``nstat`` print.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from netlab.kernel.netfilter import Netfilter
from netlab.kernel.profiles import KernelProfile


@dataclass(eq=False)
class Net:
    """A network namespace. ``tcp_ehash`` maps (local addr, local port, remote addr, remote port) to a connected
    Sock; ``tcp_lhash`` and ``udp_table`` map (local addr, local port) to a listening/bound Sock, where the local
    address "0.0.0.0" (INADDR_ANY) matches every address."""

    profile: KernelProfile
    local_addrs: set[str] = field(default_factory=lambda: {"127.0.0.1"})
    ptype_all: list[Any] = field(default_factory=list)        # taps: AF_PACKET sockets (tcpdump), ingress and egress
    ptype_base: dict[int, list[Any]] = field(default_factory=dict)  # protocol handlers by ethertype (ip_rcv)
    nf: Netfilter = field(default_factory=Netfilter)
    tcp_ehash: dict[tuple, Any] = field(default_factory=dict)
    tcp_lhash: dict[tuple, Any] = field(default_factory=dict)
    udp_table: dict[tuple, Any] = field(default_factory=dict)
    mib: Counter = field(default_factory=Counter)

    def __post_init__(self):
        if not isinstance(self.profile, KernelProfile):
            raise TypeError("profile must be a KernelProfile")

    def snmp_inc(self, name: str, n: int = 1) -> None:
        """Count an SNMP/MIB event such as ``UdpRcvbufErrors`` (names as ``nstat`` prints them)."""
        self.mib[name] += n
