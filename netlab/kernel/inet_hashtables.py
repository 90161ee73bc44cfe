"""connect()'s choice of a local port, and taking over a TIME_WAIT sock of the same 4-tuple.

Models the connect side of net/ipv4/inet_hashtables.c (``inet_hash_connect``, ``__inet_hash_connect``,
``__inet_check_established``), Linux 6.12; a profile whose ``connect_port_parity`` is False walks the range as 3.10
does. The bind buckets these functions take a port with are :mod:`netlab.kernel.inet_connection_sock`'s; the
TIME_WAIT sock they may take over is :mod:`netlab.kernel.inet_timewait_sock`'s, and whether they may is
``tcp_twsk_unique`` (:mod:`netlab.kernel.tcp_minisocks`). This module sits above those three, as the kernel's
inet_hashtables.c calls into them.

A port is usable when nobody holds it, or when its bucket was made by ``connect()`` (``fastreuse`` -1) and the
4-tuple is unique (``__inet_check_established``). A 4-tuple held by a TIME_WAIT sock counts as unique when
``tcp_twsk_unique`` allows it (``net.ipv4.tcp_tw_reuse``): the new socket then takes the sock's place in the
established hash (counted in ``TWRecycled``), the sock lets go of the port (``inet_twsk_bind_unhash``) and ends
early (``inet_twsk_deschedule_put``).
"""
from __future__ import annotations

import zlib

from netlab import check
from netlab.check import U64, Port
from netlab.kernel.inet_connection_sock import TcpSock, inet_bind2_bucket_of, inet_bind_bucket_create, inet_bind_hash
from netlab.kernel.inet_timewait_sock import InetTimewaitSock, inet_twsk_bind_unhash, inet_twsk_deschedule_put
from netlab.kernel.netns import Net
from netlab.kernel.tcp_minisocks import tcp_twsk_unique
from netlab.trace import kernel_function

INET_TABLE_PERTURB_SIZE = 1 << 16   # net/ipv4/inet_hashtables.c (CONFIG_INET_TABLE_PERTURB_ORDER = 16)
EADDRNOTAVAIL = 99


@check.arguments
def inet_sk_port_offset(net: Net, saddr: str, daddr: str, dport: Port) -> int:
    """secure_ipv4_port_ephemeral(): a keyed hash of (saddr, daddr, dport), the same for the same destination."""
    return zlib.crc32(f"{net.secret}/{saddr}/{daddr}/{dport}".encode()) | (
        zlib.crc32(f"{dport}/{daddr}/{saddr}/{net.secret}".encode()) << 32)


def _check_text(net: Net, sk: TcpSock, port: int, twp: bool) -> str:
    held = net.tcp_ehash.get((sk.inet_rcv_saddr, port, sk.inet_daddr, sk.inet_dport))
    return (f"is {sk.inet_rcv_saddr}:{port} → {sk.inet_daddr}:{sk.inet_dport} unique? "
            + ("yes" if held is None else f"{held.name}'s TIME_WAIT sock holds it" if isinstance(
                held, InetTimewaitSock) else f"no, {held.name} has it"))


@kernel_function("net/ipv4/inet_hashtables.c", _check_text)
def __inet_check_established(net: Net, sk: TcpSock, port: Port, twp: bool) -> tuple[int, InetTimewaitSock | None]:
    """Is (saddr, port, daddr, dport) unused, or held by a TIME_WAIT sock ``tcp_twsk_unique`` lets go? Then the
    socket takes the 4-tuple in ehash (in the tw sock's place) and (0, the tw sock) comes back — ``twp``: the
    caller ends it; without, it is ended here. Else (-EADDRNOTAVAIL, None)."""
    key = (sk.inet_rcv_saddr, port, sk.inet_daddr, sk.inet_dport)
    tw = net.tcp_ehash.get(key)
    if tw is not None and not (isinstance(tw, InetTimewaitSock) and tcp_twsk_unique(sk, tw, twp)):
        return -EADDRNOTAVAIL, None
    sk.inet_num = port
    net.tcp_ehash[key] = sk                 # __sk_nulls_add_node_rcu; the tw sock's node goes
    if tw is not None:
        net.snmp_inc("TWRecycled")                # __NET_INC_STATS(net, LINUX_MIB_TIMEWAITRECYCLED)
        if not twp:
            inet_twsk_deschedule_put(tw)
            tw = None
    return 0, tw


@kernel_function("net/ipv4/inet_hashtables.c",
                 lambda net, sk, port_offset: "pick a local port: " + (
                     "even ports first (low's parity), then odd" if net.profile.connect_port_parity
                     else "walk the range from a hashed offset"))
def __inet_hash_connect(net: Net, sk: TcpSock, port_offset: U64) -> int:
    """Choose the client's ephemeral port and hash the socket into ehash; 0 or -EADDRNOTAVAIL (-99). A socket
    bound to a port already only checks its 4-tuple."""
    if sk.inet_num:
        return __inet_check_established(net, sk, sk.inet_num, False)[0]
    low, high = net.profile.ip_local_port_range
    if net.profile.connect_port_parity:     # 6.12 (since 4.6)
        high += 1
        remaining = high - low
        if remaining > 1:
            remaining &= ~1
        index = port_offset & (INET_TABLE_PERTURB_SIZE - 1)
        perturb = net.table_perturb.setdefault(index, net.rng.getrandbits(32))
        offset = (perturb + (port_offset >> 32)) % remaining
        offset &= ~1
        for _parity in range(2):
            port = low + offset
            for i in range(0, remaining, 2):
                if port >= high:
                    port -= remaining
                usable, tw = _port_usable(net, sk, port)
                if usable:
                    i = max(i, net.rng.randrange(8) * 2)
                    net.table_perturb[index] = perturb + i + 2
                    return _bind_and_hash(net, sk, port, tw)
                port += 2
            offset += 1
            if not (offset & 1) or remaining <= 1:
                break
        return -EADDRNOTAVAIL
    remaining = high - low + 1              # 3.10
    offset = (net.port_hint + port_offset) & 0xFFFFFFFF
    for i in range(1, remaining + 1):
        port = low + (i + offset) % remaining
        usable, tw = _port_usable(net, sk, port)
        if usable:
            net.port_hint += i
            return _bind_and_hash(net, sk, port, tw)
    return -EADDRNOTAVAIL


def _port_usable(net: Net, sk: TcpSock, port: int) -> tuple[bool, InetTimewaitSock | None]:
    """A port nobody holds, or one connect() took (``fastreuse`` -1) whose 4-tuple is unique: (True, the TIME_WAIT
    sock to take over or None); a port bind() took: (False, None)."""
    tb = net.tcp_bhash.get(port)
    if tb is None:
        return True, None
    if tb.fastreuse >= 0:
        return False, None
    err, tw = __inet_check_established(net, sk, port, True)
    return not err, tw


def _bind_and_hash(net: Net, sk: TcpSock, port: int, tw: InetTimewaitSock | None) -> int:
    """The rest of ``__inet_hash_connect`` once a port is chosen: its bucket (a new one with fastreuse -1),
    6.1+ the (address, port) bucket, ``inet_bind_hash``, the socket into ehash; a TIME_WAIT sock it took over
    lets go of the port and ends."""
    tb = net.tcp_bhash.get(port) or inet_bind_bucket_create(net, sk, port, -1)
    inet_bind_hash(sk, tb, inet_bind2_bucket_of(net, tb, sk), port)
    net.tcp_ehash[sk.four_tuple()] = sk
    if tw is not None:
        inet_twsk_bind_unhash(tw)
        inet_twsk_deschedule_put(tw)
    return 0


@kernel_function("net/ipv4/inet_hashtables.c")
def inet_hash_connect(net: Net, sk: TcpSock) -> int:
    """connect() without bind(): find a free local port for this destination."""
    port_offset = 0 if sk.inet_num else inet_sk_port_offset(net, sk.inet_rcv_saddr, sk.inet_daddr, sk.inet_dport)
    return __inet_hash_connect(net, sk, port_offset)
