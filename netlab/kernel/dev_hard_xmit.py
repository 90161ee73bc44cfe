"""The driver side of transmit: last checks and software GSO, then the egress tap and the driver.

Models the part of net/core/dev.c that hands packets to a driver, with include/linux/netdevice.h, net/core/gso.c,
include/net/gso.h and the GSO part of net/core/skbuff.c (``skb_segment``) in Linux 6.12: ``validate_xmit_skb``
(software GSO when the device cannot segment: ``skb_gso_segment``) → ``dev_hard_start_xmit`` → ``xmit_one`` → the
egress tap ``dev_queue_xmit_nit`` (AF_PACKET, i.e. tcpdump, gets a clone *here*, after netfilter's OUTPUT and
POSTROUTING hooks already ran) → ``netdev_start_xmit`` → the driver's ``ndo_start_xmit``. The qdisc
(:mod:`netlab.kernel.sch_generic`) and ``dev_queue_xmit`` (:mod:`netlab.kernel.dev_xmit`) call down into it.
"""
from __future__ import annotations

from netlab import check
from netlab.kernel.copies import account_copy, account_head, account_refs
from netlab.kernel.dev import PACKET_OUTGOING, NetDevice
from netlab.kernel.skbuff import CLONED, SIZEOF_SK_BUFF, SkBuff, __alloc_skb, consume_skb, skb_add_frag, skb_clone, \
    skb_orphan_frags_rx, skb_put
from netlab.trace import kernel_function, trace_printk

NETDEV_TX_OK, NETDEV_TX_BUSY = 0x00, 0x10
NETIF_F_SG, NETIF_F_HW_CSUM, NETIF_F_TSO = "NETIF_F_SG", "NETIF_F_HW_CSUM", "NETIF_F_TSO"
FEATURES = (NETIF_F_SG, NETIF_F_HW_CSUM, NETIF_F_TSO)
ETH_HLEN = 14


def _check(skb: SkBuff, dev: NetDevice) -> None:
    if not isinstance(skb, SkBuff):
        raise TypeError(f"expected an SkBuff, got {type(skb).__name__}")
    if not isinstance(dev, NetDevice):
        raise TypeError(f"expected a NetDevice, got {type(dev).__name__}")


@check.arguments
def validate_xmit_skb_list(skb: SkBuff, dev: NetDevice) -> list[SkBuff]:
    """net/core/dev.c: ``validate_xmit_skb`` on each skb of a list (a single skb here)."""
    return validate_xmit_skb(skb, dev)


@check.arguments
def netif_needs_gso(skb: SkBuff, dev: NetDevice) -> bool:
    """include/linux/netdevice.h: a GSO skb needs software segmentation when the device cannot do TSO."""
    return skb.shinfo.gso_size > 0 and skb.meta.get("gso_segs", 1) > 1 and not dev.has(NETIF_F_TSO)


@kernel_function("net/core/dev.c", "last checks before the driver: does {skb.name} need software GSO?")
def validate_xmit_skb(skb: SkBuff, dev: NetDevice) -> list[SkBuff]:
    """Segment a GSO skb in software when the NIC has no TSO (the segments replace it); else pass it on."""
    _check(skb, dev)
    if not netif_needs_gso(skb, dev):
        if skb.shinfo.gso_size and skb.meta.get("gso_segs", 1) > 1:
            trace_printk(f"{dev.name} has TSO: the NIC will cut {skb.name} into {skb.meta['gso_segs']} frames")
        return [skb]
    segs = skb_gso_segment(skb, dev.features)
    consume_skb(skb)
    return segs


@check.arguments
def skb_gso_segment(skb: SkBuff, features: frozenset) -> list[SkBuff]:
    """include/net/gso.h: the inline wrapper of ``__skb_gso_segment`` on the transmit path."""
    return __skb_gso_segment(skb, features, True)


@kernel_function("net/core/gso.c", "software GSO: cut {skb.name} into MSS-sized segments")
def __skb_gso_segment(skb: SkBuff, features: frozenset, tx_path: bool = True) -> list[SkBuff]:
    """Find the protocol's segmentation callback (inet_gso_segment → tcp4_gso_segment) and run it."""
    trace_printk("skb_mac_gso_segment → inet_gso_segment → tcp4_gso_segment → tcp_gso_segment")
    return skb_segment(skb, features)


@kernel_function("net/core/skbuff.c", "build one skb per segment: copy the headers, reference the pages")
def skb_segment(head_skb: SkBuff, features: frozenset) -> list[SkBuff]:
    """Each segment gets a new head and a private copy of the headers; its payload points into the same pages."""
    mss, hdr = head_skb.shinfo.gso_size, head_skb.meta.get("hdr_len", 0)
    pieces = list(zip(head_skb.shinfo.frag_pages, head_skb.shinfo.frags))
    if not mss or not pieces:
        raise ValueError("skb_segment needs a GSO skb (gso_size set) whose payload is in page fragments")
    segs, seq = [], head_skb.meta.get("seq", 0)
    while pieces:
        seg = __alloc_skb(hdr, name=f"{head_skb.name.removesuffix(CLONED)}/seg{len(segs)}")
        skb_put(seg, hdr)
        account_copy(hdr, "skb_segment", head_skb.name, seg.name, payload=False)
        account_head(SIZEOF_SK_BUFF, "skb_segment", head_skb.name)
        room = mss
        while room and pieces:
            page, size = pieces[0]
            take = min(room, size)
            skb_add_frag(seg, take, page=page)      # __skb_frag_ref: one more reference to the same page
            account_refs(1)
            room -= take
            pieces[0] = (page, size - take)
            if pieces[0][1] == 0:
                pieces.pop(0)
        seg.meta = dict(head_skb.meta, payload=mss - room, gso_segs=1, seq=seq)
        seq += mss - room
        segs.append(seg)
    return segs


@kernel_function("net/core/dev.c", "give the driver each skb of the list")
def dev_hard_start_xmit(skbs: list[SkBuff], dev: NetDevice) -> tuple[list[SkBuff], int]:
    """``xmit_one`` per skb; stop at the first the driver refuses. Returns (what is left, last return code)."""
    if not isinstance(skbs, list) or not skbs:
        raise ValueError("dev_hard_start_xmit takes a non-empty list of skbs")
    rc = NETDEV_TX_OK
    for i, skb in enumerate(skbs):
        rc = xmit_one(skb, dev, i + 1 < len(skbs))
        if rc != NETDEV_TX_OK:
            return skbs[i:], rc
        if dev.queue_stopped and i + 1 < len(skbs):
            return skbs[i + 1:], NETDEV_TX_BUSY
    return [], rc


@kernel_function("net/core/dev.c", "{skb.name}: egress taps first, then the driver")
def xmit_one(skb: SkBuff, dev: NetDevice, more: bool) -> int:
    """If any AF_PACKET socket listens (``dev_nit_active``) it gets a clone, then ``netdev_start_xmit``."""
    _check(skb, dev)
    if dev.net.ptype_all:
        dev_queue_xmit_nit(skb, dev)
    return netdev_start_xmit(skb, dev, more)


@kernel_function("net/core/dev.c", "the egress tap: tcpdump gets a clone of {skb.name}")
def dev_queue_xmit_nit(skb: SkBuff, dev: NetDevice) -> None:
    """Clone once for the taps on ``ptype_all``. Netfilter's OUTPUT and POSTROUTING already ran: a packet they
    dropped never gets here, so tcpdump cannot see it."""
    _check(skb, dev)
    skb2 = skb_clone(skb, name=f"{skb.name} (tap)")
    skb2.meta["pkt_type"] = PACKET_OUTGOING
    skb_orphan_frags_rx(skb2)
    taps = list(dev.net.ptype_all)
    for i, pt in enumerate(taps):
        pt.func(skb2 if i == len(taps) - 1 else skb_clone(skb2, name=f"{skb2.name}{i}"), dev, pt, dev)


@check.arguments
def netdev_start_xmit(skb: SkBuff, dev: NetDevice, more: bool) -> int:
    """include/linux/netdevice.h: call the driver's ``ndo_start_xmit`` and count the packet."""
    if dev.ndo_start_xmit is None:
        raise ValueError(f"{dev.name} has no driver (ndo_start_xmit)")
    length, segs = skb.len, skb.meta.get("gso_segs", 1)
    rc = dev.ndo_start_xmit(skb, dev)
    if rc == NETDEV_TX_OK:
        dev.stats["tx_packets"] += segs
        dev.stats["tx_bytes"] += length
    return rc
