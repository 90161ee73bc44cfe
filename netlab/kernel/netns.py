"""struct net: one network namespace's receive-side tables, and the global packet-type lists.

Models include/net/net_namespace.h plus the lists that net/core/dev.c keeps (``ptype_all``, ``ptype_base``):
where taps and protocol handlers are registered, the netfilter rules, the local addresses, the socket lookup
tables (a dict per protocol instead of the kernel's hash tables) and the SNMP counters that ``/proc/net/snmp``
and ``nstat`` print.
"""
from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Callable

from netlab import check
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
    # The handshake (chapter 05, netlab.kernel.inet_connection_sock): the bind hash (local port -> bucket), the engine
    # of the host this namespace lives on (a netlab.kernel.sched.Scheduler: clock and timers), how a segment leaves it
    # (set by the scenario), short names of endpoints for traces, and the seed of its secrets (ISNs, port offsets,
    # cookies).
    tcp_bhash: dict[int, Any] = field(default_factory=dict)
    tcp_death_row: Any = None   # the TIME_WAIT death row (netlab.kernel.inet_timewait_sock), made when first used
    host: str = ""             # the name of the host it lives on, for the events of its timers ("": one host)
    sched: Any = None
    xmit: Callable | None = None
    labels: dict[tuple, str] = field(default_factory=dict)
    seed: int = 0
    # Routing (chapter 04, netlab.kernel.route): table id -> FibTable (6.12: local and main share one trie), and
    # the loopback device every RTN_LOCAL output route points to (net->loopback_dev).
    fib_tables: dict[int, Any] = field(default_factory=dict)
    loopback_dev: Any = None

    def __post_init__(self):
        check.fields(self)
        if not isinstance(self.profile, KernelProfile):
            raise TypeError("profile must be a KernelProfile")
        self.rng = random.Random(self.seed)          # net_secret, syncookie_secret, ISNs
        self.secret = self.rng.getrandbits(32)
        self.table_perturb: dict[int, int] = {}      # __inet_hash_connect's per-destination port offsets
        self.port_hint = 0                           # 3.10: the static u32 hint of __inet_hash_connect

    @check.arguments
    def snmp_inc(self, name: str, n: int = 1) -> None:
        """Count an SNMP/MIB event such as ``UdpRcvbufErrors`` (names as ``nstat`` prints them)."""
        self.mib[name] += n
