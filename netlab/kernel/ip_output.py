"""IP output: the IP header, netfilter's OUTPUT and POSTROUTING hooks, the MTU check and fragmentation.

Models net/ipv4/ip_output.c, include/net/dst.h and include/net/neighbour.h (Linux 6.12):

``ip_queue_xmit`` → ``__ip_queue_xmit`` (the route cached on the socket, or, when it has none, a lookup —
``ip_route_output_ports`` — that ``sk_setup_caps`` caches; IP header, DF set: TCP does path-MTU discovery) — or, for
a segment sent without a full socket's cached route (a SYN-ACK), ``ip_build_and_send_pkt`` — → ``ip_local_out`` →
``__ip_local_out`` → **NF_INET_LOCAL_OUT** (iptables OUTPUT) → ``dst_output`` → ``ip_output`` →
**NF_INET_POST_ROUTING** → ``ip_finish_output`` → ``__ip_finish_output``:

- a GSO skb goes on whole (``ip_finish_output_gso``: each future segment fits the MTU); it is cut later, by
  software GSO at the device or by the NIC (TSO);
- a non-GSO skb longer than the MTU is fragmented (``ip_fragment`` → ``ip_do_fragment``). TCP never gets here
  (it cuts at the MSS and sets DF). A UDP datagram does, but ``__ip_append_data`` already built it as MTU-sized
  pieces on a frag_list, so the *fast path* only writes headers. Only the *slow path* (a packet without usable
  pieces, e.g. one being forwarded onto a smaller MTU) allocates new skbs and copies the payload
  (``skb_copy_bits``): the book's "third copy";

→ ``ip_finish_output2`` → ``neigh_output`` (Ethernet header from the neighbour's cached header) →
``dev_queue_xmit``.

The netfilter hooks are chapter 01's ``NF_HOOK`` with the namespace's iptables rules (``Net.nf``).
"""
from __future__ import annotations

import errno
from typing import Any

from netlab import check
from netlab.kernel.copies import account_copy
from netlab.kernel.dev import ETH_P_IP
from netlab.kernel.dev_hard_xmit import ETH_HLEN
from netlab.kernel.dev_xmit import dev_queue_xmit
from netlab.kernel.netfilter import NF_HOOK, NF_INET_LOCAL_OUT, NF_INET_POST_ROUTING, NFPROTO_IPV4
from netlab.kernel.route import Flowi4, Rtable, ip_route_output_ports
from netlab.kernel.skbuff import SkBuff, __alloc_skb, consume_skb, kfree_skb, skb_copy_bits, skb_push, skb_put, \
    skb_reserve
from netlab.kernel.sock import Sock, sk_setup_caps
from netlab.trace import kernel_function, trace_printk

IP_HLEN = 20
LL_RESERVED_SPACE = 16  # headroom for the Ethernet header (aligned)


def _dst(skb: SkBuff) -> Rtable:
    dst = skb.meta.get("dst")
    if not isinstance(dst, Rtable):
        raise ValueError(f"{skb.name} has no route (skb.meta['dst'] must be an Rtable)")
    return dst


def _route(sk: Any, skb: SkBuff) -> None:
    """What the route and the socket give a packet: output device, namespace, addresses and ports."""
    skb.meta.update(dst=sk.dst, dev=sk.dst.dev, net=sk.dst.dev.net, ethertype=ETH_P_IP, protocol=sk.protocol,
                    saddr=sk.inet_rcv_saddr, daddr=sk.inet_daddr, sport=sk.inet_num, dport=sk.inet_dport)


@check.arguments
def ip_queue_xmit(sk: Sock, skb: SkBuff) -> int:
    """net/ipv4/ip_output.c: ``ip_queue_xmit`` is ``__ip_queue_xmit`` with the socket's TOS."""
    return __ip_queue_xmit(sk, skb)


@kernel_function("net/ipv4/ip_output.c", lambda sk, skb: (
    f"IP: {skb.name} takes the route cached on the socket ({sk.dst}); add the IP header" if sk.dst is not None
    else f"IP: {sk.name} has no route cached: look one up for {skb.name}, then add the IP header"))
def __ip_queue_xmit(sk, skb: SkBuff) -> int:
    """Use the socket's cached route (``__sk_dst_check``) — none yet: look it up (``ip_route_output_ports``) and
    cache it (``sk_setup_caps``); no route: drop, -EHOSTUNREACH — push the 20-byte IP header with DF set, then
    ``ip_local_out``."""
    if getattr(sk, "dst", None) is None:
        if getattr(sk, "net", None) is None:
            raise ValueError(f"{getattr(sk, 'name', sk)!r} has neither a route (dst) nor a namespace (net)")
        rt = ip_route_output_ports(sk.net, Flowi4(sk.inet_daddr, sk.inet_rcv_saddr))
        if isinstance(rt, str):
            kfree_skb(skb)
            return -errno.EHOSTUNREACH
        sk_setup_caps(sk, rt)
    _route(sk, skb)
    skb_push(skb, IP_HLEN)
    skb.meta["hdr_len"] = skb.meta.get("hdr_len", 0) + IP_HLEN
    skb.meta["df"] = True
    return ip_local_out(skb.meta["net"], sk, skb)


@kernel_function("net/ipv4/ip_output.c", "IP header for {skb.name} ({saddr} → {daddr}) on the route it was given")
def ip_build_and_send_pkt(skb: SkBuff, sk: Any, saddr: str, daddr: str) -> int:
    """The way out of a segment that has its route on the skb (``skb_dst_set`` by the caller, e.g.
    ``inet_csk_route_req`` for a SYN-ACK) instead of a socket's cache: push the IP header (DF set), then
    ``ip_local_out``."""
    dst = _dst(skb)
    if "protocol" not in skb.meta:
        raise ValueError(f"{skb.name} has no transport protocol (skb.meta['protocol'])")
    skb_push(skb, IP_HLEN)
    skb.meta.update(dev=dst.dev, net=dst.dev.net, ethertype=ETH_P_IP, saddr=saddr, daddr=daddr, df=True,
                    hdr_len=skb.meta.get("hdr_len", 0) + IP_HLEN)
    return ip_local_out(dst.dev.net, sk, skb)


@kernel_function("net/ipv4/ip_output.c", "send locally generated {skb.name}")
def ip_local_out(net: Any, sk: Any, skb: SkBuff) -> int:
    """``__ip_local_out`` (netfilter OUTPUT), then ``dst_output``."""
    return __ip_local_out(net, sk, skb)


@kernel_function("net/ipv4/ip_output.c", "set tot_len and checksum, pass NF_INET_LOCAL_OUT (iptables OUTPUT)")
def __ip_local_out(net: Any, sk: Any, skb: SkBuff) -> int:
    """Finish the IP header, then the OUTPUT hook; an accepted packet continues at ``dst_output``."""
    _dst(skb)
    return NF_HOOK(NFPROTO_IPV4, NF_INET_LOCAL_OUT, net, sk, skb, dst_output)


@check.arguments
def dst_output(net: Any, sk: Any, skb: SkBuff) -> int:
    """include/net/dst.h: call the route's output function: ``ip_output`` for every output route, unicast or
    local (a local route's packet comes back in through ``lo``)."""
    return ip_output(net, sk, skb)


@kernel_function("net/ipv4/ip_output.c", "IP output: pass NF_INET_POST_ROUTING (iptables POSTROUTING)")
def ip_output(net: Any, sk: Any, skb: SkBuff) -> int:
    """Set the output device, run POSTROUTING, then ``ip_finish_output``."""
    skb.meta["dev"] = _dst(skb).dev
    return NF_HOOK(NFPROTO_IPV4, NF_INET_POST_ROUTING, net, sk, skb, ip_finish_output)


@kernel_function("net/ipv4/ip_output.c", "after POSTROUTING: cgroup BPF egress, then the MTU check")
def ip_finish_output(net: Any, sk: Any, skb: SkBuff) -> int:
    """Run the cgroup egress BPF program (none here), then ``__ip_finish_output``."""
    return __ip_finish_output(net, sk, skb)


@kernel_function("net/ipv4/ip_output.c",
                 lambda net, sk, skb: f"{skb.name} is {skb.len} B, MTU {_dst(skb).mtu}: " + (
                     "GSO skb" if _is_gso(skb) else "fits" if skb.len <= _dst(skb).mtu else "too long"))
def __ip_finish_output(net: Any, sk: Any, skb: SkBuff) -> int:
    """GSO skb → ``ip_finish_output_gso``; longer than the MTU → ``ip_fragment``; else ``ip_finish_output2``."""
    mtu = _dst(skb).mtu
    if _is_gso(skb):
        return ip_finish_output_gso(net, sk, skb, mtu)
    if skb.len > mtu:
        return ip_fragment(net, sk, skb, mtu)
    return ip_finish_output2(net, sk, skb)


def _is_gso(skb: SkBuff) -> bool:
    return bool(skb.shinfo.gso_size) and skb.meta.get("gso_segs", 1) > 1


@kernel_function("net/ipv4/ip_output.c", "GSO skb: each of its segments will fit the MTU, so send it whole")
def ip_finish_output_gso(net: Any, sk: Any, skb: SkBuff, mtu: int) -> int:
    """Common case: ``skb_gso_validate_network_len`` (segment + headers ≤ MTU) → ``ip_finish_output2``."""
    if skb.shinfo.gso_size + skb.meta.get("hdr_len", 0) > mtu:
        raise ValueError("a GSO segment larger than the MTU is the forwarding slow path, not modelled")
    return ip_finish_output2(net, sk, skb)


@kernel_function("net/ipv4/ip_output.c", "{skb.name} is longer than the MTU {mtu}: fragment it")
def ip_fragment(net: Any, sk: Any, skb: SkBuff, mtu: int) -> int:
    """With DF set (and no ``ignore_df``) fragmenting is forbidden: ICMP "fragmentation needed" and drop."""
    if skb.meta.get("df") and not skb.meta.get("ignore_df"):
        trace_printk(f"DF set: icmp_send(ICMP_FRAG_NEEDED, mtu {mtu}), drop")
        kfree_skb(skb)
        return -90  # -EMSGSIZE
    return ip_do_fragment(net, sk, skb)


@kernel_function("net/ipv4/ip_output.c", "cut {skb.name} into fragments")
def ip_do_fragment(net: Any, sk: Any, skb: SkBuff) -> int:
    """Fast path: the datagram came as MTU-sized pieces on a frag_list (``__ip_append_data`` built them), so each
    piece only gets a copy of the IP header. Slow path: a new skb per fragment, the payload copied into it."""
    mtu = _dst(skb).mtu
    room = (mtu - IP_HLEN) & ~7
    hlen = skb.meta.get("hdr_len", IP_HLEN)
    pieces = skb.meta.pop("frag_list", [])
    own = skb.len - sum(p.len for p in pieces)
    if pieces and own - hlen <= room and all(p.len <= room for p in pieces) and not skb.cloned:
        trace_printk(f"fast path: {1 + len(pieces)} pieces already fit the MTU; write an IP header on each")
        skb.len, skb.data_len = own, skb.data_len - (skb.len - own)
        rc = ip_finish_output2(net, sk, skb)
        for i, piece in enumerate(pieces):
            skb_push(piece, IP_HLEN)
            piece.meta.update({k: v for k, v in skb.meta.items() if k not in ("payload", "frag_list")},
                              hdr_len=IP_HLEN, frag_offset=(i + 1) * room)
            rc = ip_finish_output2(net, sk, piece)
        return rc
    trace_printk(f"slow path: allocate fragments of ≤ {room} data bytes and copy the payload into them")
    left, offset, rc, n = skb.len - hlen, hlen, 0, 0
    while left > 0:
        size = min(room, left)
        frag = __alloc_skb(LL_RESERVED_SPACE + IP_HLEN + size, name=f"{skb.name}/frag{n}")
        skb_reserve(frag, LL_RESERVED_SPACE)
        skb_put(frag, IP_HLEN + size)
        skb_copy_bits(skb, offset, frag, size)
        frag.meta.update({k: v for k, v in skb.meta.items() if k != "frag_list"}, hdr_len=IP_HLEN, payload=size,
                         frag_offset=offset - hlen)
        rc = ip_finish_output2(net, sk, frag)
        left, offset, n = left - size, offset + size, n + 1
    consume_skb(skb)
    return rc


@kernel_function("net/ipv4/ip_output.c", "find the next hop's neighbour entry for {skb.name}")
def ip_finish_output2(net: Any, sk: Any, skb: SkBuff) -> int:
    """Look up the neighbour (ARP entry) of the next hop and let ``neigh_output`` add the link-layer header."""
    return neigh_output(skb)


@check.arguments
def neigh_output(skb: SkBuff) -> int:
    """include/net/neighbour.h: a resolved neighbour has a cached Ethernet header: copy it in, transmit."""
    return neigh_hh_output(skb)


@kernel_function("include/net/neighbour.h", "prepend the cached 14-byte Ethernet header to {skb.name}")
def neigh_hh_output(skb: SkBuff) -> int:
    """Copy the neighbour's hardware header into the headroom, then ``dev_queue_xmit``."""
    skb_push(skb, ETH_HLEN)
    skb.meta["hdr_len"] = skb.meta.get("hdr_len", 0) + ETH_HLEN
    return dev_queue_xmit(skb)


# --- UDP datagrams: built in MTU-sized pieces while copying from user space -----------------------------------

@kernel_function("net/ipv4/ip_output.c", "build the datagram ({length} B) as MTU-sized pieces")
def ip_make_skb(sk: Sock, length: int, transhdrlen: int) -> SkBuff:
    """The uncorked UDP fast path: ``__ip_append_data`` into a private queue, then ``__ip_make_skb``."""
    queue = __ip_append_data(sk, length, transhdrlen)
    return __ip_make_skb(sk, queue)


@kernel_function("net/ipv4/ip_output.c", "copy the user's {length} bytes into skbs of at most one MTU each")
def __ip_append_data(sk, length: int, transhdrlen: int) -> list[SkBuff]:
    """Each skb holds what one fragment can carry (``maxfraglen``), so fragmenting later needs no copy; the
    user's bytes are copied once here (``getfrag`` = ``ip_generic_getfrag``)."""
    if not isinstance(length, int) or length <= 0:
        raise ValueError("length must be a positive int")
    room = (sk.dst.mtu - IP_HLEN) & ~7
    queue, left, n = [], length + transhdrlen, 0
    while left > 0:
        size = min(room, left)
        skb = __alloc_skb(LL_RESERVED_SPACE + ETH_HLEN + IP_HLEN + size, name=f"{sk.name}.{n}")
        skb_reserve(skb, LL_RESERVED_SPACE + ETH_HLEN + IP_HLEN)
        skb_put(skb, size)
        data = size - (transhdrlen if n == 0 else 0)
        account_copy(data, "ip_generic_getfrag", "user buffer", skb.name)
        skb.meta["payload"] = data
        queue.append(skb)
        left, n = left - size, n + 1
    return queue


@kernel_function("net/ipv4/ip_output.c", "chain the pieces: the first skb, the others on its frag_list")
def __ip_make_skb(sk, queue: list[SkBuff]) -> SkBuff:
    """The first piece carries the IP header and points at the rest (``skb_shinfo(skb)->frag_list``)."""
    if not queue:
        raise ValueError("nothing to send")
    skb, rest = queue[0], queue[1:]
    skb.meta["frag_list"] = rest
    _route(sk, skb)
    skb_push(skb, IP_HLEN)
    skb.meta.update(hdr_len=IP_HLEN, df=False)
    for piece in rest:
        skb.len += piece.len  # the frag_list's bytes count in the head skb's len and data_len
        skb.data_len += piece.len
    return skb


@kernel_function("net/ipv4/ip_output.c", "send the finished datagram {skb.name}")
def ip_send_skb(net: Any, skb: SkBuff) -> int:
    """``ip_local_out`` for a datagram made by ``ip_make_skb``: 0, or its error, such as -EPERM when a netfilter
    OUTPUT rule dropped it (counted as an IP OutDiscard)."""
    return ip_local_out(net, None, skb)
