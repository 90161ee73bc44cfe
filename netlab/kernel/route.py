"""IPv4 routing for output: the FIB tables, and why a packet to any local address leaves through ``lo``.

Models net/ipv4/fib_frontend.c (``fib_add_ifaddr``: the routes an address brings), net/ipv4/fib_trie.c
(``fib_table_lookup``: longest prefix match), include/net/ip_fib.h (``fib_lookup``), include/net/route.h and
net/ipv4/route.c (``ip_route_output_key`` → ``ip_route_output_key_hash_rcu``; ``struct rtable``, the route every
packet on the way out carries), include/net/flow.h (``struct flowi4``), Linux 6.12.

Every address an interface gets adds a ``local`` route for itself (RTN_LOCAL, /32) to table ``local`` (255); the
loopback device's prefix 127.0.0.0/8 is ``local`` too, so every 127.x.y.z is. The prefix of any other interface
goes to table ``main`` (254) as ``unicast``. ``ip_route_output_key_hash_rcu`` sends every RTN_LOCAL result out
through ``net->loopback_dev`` — the host's own Ethernet address included. 6.12 keeps local and main in one trie
(``fib_new_table`` makes local an alias of main while there are no custom rules, so ``/proc/net/fib_trie`` prints
the same trie twice); 3.10 looks up table local, then main (fib rules 0 and 32766). Tables are lists here, not
tries; a lookup is the same longest-prefix match.
"""
from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

from netlab import check
from netlab.kernel.dev import NetDevice
from netlab.kernel.netns import Net
from netlab.trace import kernel_function, trace_printk

RT_TABLE_MAIN, RT_TABLE_LOCAL = 254, 255
RTN_UNICAST, RTN_LOCAL, RTN_BROADCAST = "unicast", "local", "broadcast"
RT_SCOPE_UNIVERSE, RT_SCOPE_LINK, RT_SCOPE_HOST = "universe", "link", "host"


@dataclass(frozen=True)
class FibAlias:
    """One route (``struct fib_alias`` + its ``fib_info``): prefix/plen, type, device, scope, preferred source."""

    prefix: ipaddress.IPv4Network
    type: str
    dev: NetDevice
    scope: str
    table: int
    prefsrc: str | None = None
    gateway: str | None = None

    def __str__(self) -> str:   # as `ip route show table local` prints it
        dst = ("default" if self.prefix.prefixlen == 0 else
               self.prefix.network_address if self.prefix.prefixlen == 32 else self.prefix)
        kind = "" if self.type == RTN_UNICAST else f"{self.type} "
        via = f" via {self.gateway}" if self.gateway else ""
        scope = "" if self.scope == RT_SCOPE_UNIVERSE else f" scope {self.scope}"
        src = f" src {self.prefsrc}" if self.prefsrc else ""
        return f"{kind}{dst}{via} dev {self.dev.name}{scope}{src}"


@dataclass(eq=False)
class FibTable:
    """``struct fib_table``. On 6.12 tables main and local are one FibTable (the trie is shared)."""

    tb_id: int
    aliases: list[FibAlias] = field(default_factory=list)

    def __post_init__(self):
        check.fields(self)

    @check.arguments
    def routes(self, table: int) -> list[FibAlias]:
        """The routes that belong to ``table`` (``ip route show table …`` filters by the alias's table id)."""
        return [a for a in self.aliases if a.table == table]


@dataclass(eq=False)
class Rtable:
    """``struct rtable`` (include/net/route.h): ``dst.dev``, the device packets leave by; ``rt_type`` (RTN_UNICAST,
    RTN_LOCAL …; by default what a lookup gives a route out of ``dev``: RTN_LOCAL out of the namespace's loopback
    device, since every RTN_LOCAL result leaves by it, else RTN_UNICAST); ``rt_gw4``, the next hop's address when
    the route goes via a gateway; ``rt_pmtu``, a path MTU learned from ICMP "fragmentation needed" (0: none)."""

    dev: NetDevice
    rt_type: str | None = None
    rt_gw4: str | None = None
    rt_pmtu: int = 0

    def __post_init__(self):
        check.fields(self)
        if self.rt_type is None:
            self.rt_type = RTN_LOCAL if self.dev is self.dev.net.loopback_dev else RTN_UNICAST
        if self.rt_type not in (RTN_UNICAST, RTN_LOCAL, RTN_BROADCAST):
            raise ValueError(f"rt_type must be {RTN_UNICAST!r}, {RTN_LOCAL!r} or {RTN_BROADCAST!r}")
        if self.rt_pmtu < 0:
            raise ValueError("rt_pmtu must be ≥ 0")

    @property
    def mtu(self) -> int:
        """``dst_mtu`` → ``ipv4_mtu``: the learned path MTU, else the device's."""
        return self.rt_pmtu or self.dev.mtu

    def __str__(self) -> str:   # the route part of what `ip route get` prints
        via = f" via {self.rt_gw4}" if self.rt_gw4 else ""
        return f"{self.rt_type}{via} dev {self.dev.name}"


@dataclass
class Flowi4:
    """``struct flowi4`` (include/net/flow.h): the flow a route is looked up for; the lookup fills in ``saddr``."""

    daddr: str
    saddr: str | None = None

    def __post_init__(self):
        check.fields(self)
        for name in ("daddr",) + (("saddr",) if self.saddr is not None else ()):
            try:
                ipaddress.IPv4Address(getattr(self, name))
            except (ipaddress.AddressValueError, ValueError):
                raise ValueError(f"{name} must be an IPv4 address string, got {getattr(self, name)!r}") from None


@check.arguments
def fib_new_table(net: Net, tb_id: int) -> FibTable:
    """The table ``tb_id``, created on first use; local is an alias of main where the profile merges them."""
    if tb_id not in (RT_TABLE_MAIN, RT_TABLE_LOCAL):
        raise ValueError("only tables main (254) and local (255) are modelled")
    if tb_id not in net.fib_tables:
        if tb_id == RT_TABLE_LOCAL and net.profile.fib_local_main_merged:
            net.fib_tables[tb_id] = fib_new_table(net, RT_TABLE_MAIN)
        else:
            net.fib_tables[tb_id] = FibTable(tb_id)
    return net.fib_tables[tb_id]


def _fib_magic(net: Net, kind: str, prefix: ipaddress.IPv4Network, dev: NetDevice, scope: str, prefsrc: str) -> None:
    table = RT_TABLE_MAIN if kind == RTN_UNICAST else RT_TABLE_LOCAL
    alias = FibAlias(prefix, kind, dev, scope, table, prefsrc)
    tb = fib_new_table(net, table)
    if alias not in tb.aliases:
        tb.aliases.append(alias)


@kernel_function("net/ipv4/fib_frontend.c", lambda net, dev, address, loopback=False:
                 f"{address} on {dev.name}: add its local, prefix and broadcast routes")
def fib_add_ifaddr(net: Net, dev: NetDevice, address: str, loopback: bool = False) -> None:
    """An address was added (``ip addr add 10.0.0.2/24 dev eth0``): the routes it brings, via fib_magic."""
    iface = ipaddress.IPv4Interface(address)
    addr, network = str(iface.ip), iface.network
    _fib_magic(net, RTN_LOCAL, ipaddress.IPv4Network(f"{addr}/32"), dev, RT_SCOPE_HOST, addr)
    if network.prefixlen < 32 and not network.network_address.is_unspecified:
        kind = RTN_LOCAL if loopback else RTN_UNICAST
        _fib_magic(net, kind, network, dev, RT_SCOPE_HOST if loopback else RT_SCOPE_LINK, addr)
        if network.prefixlen < 31:
            _fib_magic(net, RTN_BROADCAST, ipaddress.IPv4Network(f"{network.broadcast_address}/32"), dev,
                       RT_SCOPE_LINK, addr)
    net.local_addrs.add(addr)


@check.arguments
def ip_route_add_default(net: Net, gateway: str, dev: NetDevice) -> None:
    """``ip route add default via GATEWAY dev DEV`` (table main)."""
    tb = fib_new_table(net, RT_TABLE_MAIN)
    tb.aliases.append(FibAlias(ipaddress.IPv4Network("0.0.0.0/0"), RTN_UNICAST, dev, RT_SCOPE_UNIVERSE,
                               RT_TABLE_MAIN, gateway=gateway))


@kernel_function("net/ipv4/fib_trie.c", "longest-prefix match for {daddr}")
def fib_table_lookup(tb: FibTable, daddr: str) -> FibAlias | None:
    """The most specific route containing ``daddr`` (local before unicast at equal length, as the trie orders)."""
    ip = ipaddress.IPv4Address(daddr)
    best = None
    for alias in tb.aliases:
        if ip in alias.prefix and (best is None or alias.prefix.prefixlen > best.prefix.prefixlen
                                   or (alias.prefix.prefixlen == best.prefix.prefixlen
                                       and alias.table == RT_TABLE_LOCAL and best.table != RT_TABLE_LOCAL)):
            best = alias
    return best


@kernel_function("include/net/ip_fib.h", lambda net, daddr: "6.12: one lookup — local and main share a trie"
                 if net.profile.fib_local_main_merged else "3.10: fib rules — table local first, then main")
def fib_lookup(net: Net, daddr: str) -> FibAlias | None:
    """Which route? 6.12 without custom rules: ``fib_main`` (holding local too); 3.10: rule by rule."""
    if net.profile.fib_local_main_merged:
        return fib_table_lookup(fib_new_table(net, RT_TABLE_MAIN), daddr)
    for tb_id in (RT_TABLE_LOCAL, RT_TABLE_MAIN):
        res = fib_table_lookup(fib_new_table(net, tb_id), daddr)
        if res is not None:
            return res
    return None


@kernel_function("net/ipv4/route.c", lambda net, fl4: f"route to {fl4.daddr}")
def ip_route_output_key_hash_rcu(net: Net, fl4: Flowi4) -> Rtable | str:
    """``fib_lookup``; an RTN_LOCAL result leaves through ``net->loopback_dev``, whatever device has the address.
    Fills in ``fl4.saddr`` when the caller left it open."""
    res = fib_lookup(net, fl4.daddr)
    if res is None:
        return "ENETUNREACH"
    if res.type == RTN_LOCAL:
        if net.loopback_dev is None:
            raise ValueError("a local route needs net->loopback_dev (loopback_dev_init)")
        trace_printk(f"RTN_LOCAL ({res.prefix} dev {res.dev.name}): the packet goes out through "
                     f"{net.loopback_dev.name}")
        fl4.saddr = fl4.saddr or res.prefsrc or fl4.daddr
        return Rtable(net.loopback_dev, RTN_LOCAL)
    if fl4.saddr is None and res.prefsrc is None:   # inet_select_addr: an address of the outgoing device
        fl4.saddr = next((str(a.prefix.network_address) for a in fib_new_table(net, RT_TABLE_LOCAL).aliases
                          if a.type == RTN_LOCAL and a.dev is res.dev and a.prefix.prefixlen == 32), "0.0.0.0")
    fl4.saddr = fl4.saddr or res.prefsrc
    return Rtable(res.dev, res.type, rt_gw4=res.gateway)


@kernel_function("include/net/route.h", lambda net, fl4: f"which way out for {fl4.daddr}?")
def ip_route_output_key(net: Net, fl4: Flowi4) -> Rtable | str:
    """The output route for a flow (``ip route get``; connect()'s ``ip_route_connect``)."""
    return ip_route_output_key_hash_rcu(net, fl4)


@kernel_function("include/net/route.h", "the route of the socket's flow, {fl4.saddr} → {fl4.daddr}")
def ip_route_output_ports(net: Net, fl4: Flowi4) -> Rtable | str:
    """``__ip_queue_xmit``'s lookup when the socket has no valid cached route: the flow of the socket's addresses
    (and ports) → ``ip_route_output_flow`` → … → ``ip_route_output_key_hash_rcu``."""
    return ip_route_output_key_hash_rcu(net, fl4)


@check.arguments
def show_table(net: Net, table: int) -> list[str]:
    """``ip route show table local|main`` as lines."""
    if table not in (RT_TABLE_MAIN, RT_TABLE_LOCAL):
        raise ValueError("table must be 254 (main) or 255 (local)")
    return [str(a) for a in fib_new_table(net, table).routes(table)]
