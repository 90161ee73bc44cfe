"""The device layer of transmit: dev_queue_xmit, the qdisc hand-off, GSO, the egress tap, and NET_TX.

Models net/core/dev.c, include/linux/netdevice.h, net/core/gso.c, include/net/gso.h and the GSO part of
net/core/skbuff.c (``skb_segment``) in Linux 6.12:

``dev_queue_xmit`` → ``__dev_queue_xmit`` → (a device with a qdisc) ``__dev_xmit_skb`` → bypass or enqueue and
``__qdisc_run`` (see :mod:`netlab.kernel.sch_generic`) → ``sch_direct_xmit`` → ``validate_xmit_skb`` (software
GSO when the device cannot segment: ``skb_gso_segment``) → ``dev_hard_start_xmit`` → ``xmit_one`` → the egress
tap ``dev_queue_xmit_nit`` (AF_PACKET, i.e. tcpdump, gets a clone *here*, after netfilter's OUTPUT and
POSTROUTING hooks already ran) → ``netdev_start_xmit`` → the driver's ``ndo_start_xmit``.

``__netif_schedule`` puts a qdisc on this CPU's ``softnet_data.output_queue`` and raises NET_TX_SOFTIRQ;
``net_tx_action`` runs it later. That is the *only* way the send path raises NET_TX (plus freeing skbs queued by
``dev_kfree_skb_irq``): a sender whose qdisc never backs up never raises it at all.
"""
from __future__ import annotations

from netlab import check
from netlab.kernel.copies import account_copy, account_head, account_refs
from netlab.kernel.cpu import NET_TX_SOFTIRQ, this_cpu
from netlab.kernel.dev import PACKET_OUTGOING, NetDevice
from netlab.kernel.sch_generic import Qdisc, __qdisc_run, pfifo_fast_enqueue, qdisc_run, qdisc_run_begin, \
    qdisc_run_end, sch_direct_xmit
from netlab.kernel.skbuff import SIZEOF_SK_BUFF, SkBuff, __alloc_skb, consume_skb, skb_add_frag, skb_clone, \
    skb_orphan_frags_rx, skb_put
from netlab.kernel.softirq import local_bh_disable, local_bh_enable, raise_softirq_irqoff
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
def dev_queue_xmit(skb: SkBuff) -> int:
    """include/linux/netdevice.h: the inline wrapper every protocol calls."""
    return __dev_queue_xmit(skb)


@kernel_function("net/core/dev.c", "queue {skb.name} for transmission on {skb.meta[dev].name}")
def __dev_queue_xmit(skb: SkBuff, sb_dev: NetDevice | None = None) -> int:
    """With bottom halves disabled (``rcu_read_lock_bh``): pick the TX queue and hand the skb to its qdisc; a
    device without a queue (lo, tunnels) transmits at once. A NET_TX raised meanwhile runs at
    ``rcu_read_unlock_bh``, still in this task's time."""
    dev = skb.meta.get("dev")
    _check(skb, dev)
    local_bh_disable()
    try:
        if dev.qdisc is not None:
            return __dev_xmit_skb(skb, dev.qdisc, dev)
        trace_printk(f"{dev.name} has no qdisc (noqueue): validate and transmit directly")
        rest, rc = dev_hard_start_xmit(validate_xmit_skb(skb, dev), dev)
        return rc
    finally:
        local_bh_enable()


@kernel_function("net/core/dev.c", "{q.kind} is lock-free: bypass it if empty, else enqueue and run it")
def __dev_xmit_skb(skb: SkBuff, q: Qdisc, dev: NetDevice) -> int:
    """TCQ_F_NOLOCK path: empty + CAN_BYPASS + nobody running it → ``sch_direct_xmit``; otherwise enqueue."""
    _check(skb, dev)
    if not q.qlen and qdisc_run_begin(q):
        trace_printk("qdisc empty and idle: bypass, hand the skb straight to the driver")
        q.bypassed += 1
        if sch_direct_xmit(skb, q) and q.qlen:
            __qdisc_run(q)
        qdisc_run_end(q)
        return 0
    rc = pfifo_fast_enqueue(skb, q)
    qdisc_run(q)
    return rc


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
        seg = __alloc_skb(hdr, name=f"{head_skb.name.rstrip(chr(39))}/seg{len(segs)}")
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
    skb2 = skb_clone(skb, name=f"{skb.name}(tap)")
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


@kernel_function("net/core/dev.c", "put {q.kind} on this CPU's output_queue and raise NET_TX_SOFTIRQ")
def __netif_schedule(q: Qdisc) -> None:
    """Schedule the qdisc once (``__QDISC_STATE_SCHED``): ``__netif_reschedule`` → ``raise_softirq_irqoff``."""
    if q.scheduled:
        return
    q.scheduled = True
    q.missed = False
    this_cpu().softnet_data.output_queue.append(q)
    raise_softirq_irqoff(NET_TX_SOFTIRQ)


@kernel_function("net/core/dev.c", "NET_TX softirq: free completed skbs, run the scheduled qdiscs")
def net_tx_action() -> None:
    """Empty this CPU's ``completion_queue`` (skbs freed from hard IRQs), then ``qdisc_run`` each qdisc on its
    ``output_queue``."""
    sd = this_cpu().softnet_data
    while sd.completion_queue:
        consume_skb(sd.completion_queue.pop(0))
    head, sd.output_queue = sd.output_queue, []
    for q in head:
        q.scheduled = False
        qdisc_run(q)


@kernel_function("net/core/dev.c", "the driver has room again: wake {dev.name}'s TX queue")
def netif_tx_wake_queue(dev: NetDevice) -> None:
    """Clear the stopped bit and schedule the qdisc, so what it holds goes out from NET_TX."""
    dev.queue_stopped = False
    if dev.qdisc is not None:
        __netif_schedule(dev.qdisc)
