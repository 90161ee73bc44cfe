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

from collections import Counter
from dataclasses import dataclass, field
from typing import Callable

from netlab.kernel.copies import account_copy, account_head, account_refs
from netlab.kernel.sch_generic import Qdisc, __qdisc_run, pfifo_fast_enqueue, qdisc_run, qdisc_run_begin, \
    qdisc_run_end, sch_direct_xmit
from netlab.kernel.skbuff import SIZEOF_SK_BUFF, SkBuff, __alloc_skb, consume_skb, skb_add_frag, skb_clone, \
    skb_orphan_frags_rx, skb_put
from netlab.trace import kernel_function, trace_printk

NETDEV_TX_OK, NETDEV_TX_BUSY = 0x00, 0x10
NETIF_F_SG, NETIF_F_HW_CSUM, NETIF_F_TSO = "NETIF_F_SG", "NETIF_F_HW_CSUM", "NETIF_F_TSO"
FEATURES = (NETIF_F_SG, NETIF_F_HW_CSUM, NETIF_F_TSO)
ETH_HLEN = 14
NET_TX_SOFTIRQ, NET_RX_SOFTIRQ = "NET_TX", "NET_RX"


@dataclass(eq=False)
class TxSoftnet:
    """The transmit half of ``struct softnet_data`` (per CPU): qdiscs waiting for NET_TX, and raise counts."""

    output_queue: list[Qdisc] = field(default_factory=list)
    completion_queue: list[SkBuff] = field(default_factory=list)
    raised: Counter = field(default_factory=Counter)   # softirq name -> times raised

    def raise_softirq(self, nr: str) -> None:
        """``raise_softirq_irqoff``: mark the softirq pending on this CPU (counted as /proc/softirqs counts)."""
        if nr not in (NET_TX_SOFTIRQ, NET_RX_SOFTIRQ):
            raise ValueError(f"softirq must be {NET_TX_SOFTIRQ!r} or {NET_RX_SOFTIRQ!r}")
        self.raised[nr] += 1


@dataclass(eq=False)
class PacketTap:
    """A ``struct packet_type`` on ``ptype_all``: an AF_PACKET socket such as tcpdump's. Keeps what it saw."""

    name: str = "tcpdump"
    seen: list[str] = field(default_factory=list)

    def func(self, skb: SkBuff) -> None:
        self.seen.append(f"{skb.name} ({skb.len} B)")
        consume_skb(skb)


@dataclass(eq=False)
class NetDevice:
    """``struct net_device`` as the transmit path sees it: MTU, offload features, the qdisc and the driver."""

    name: str = "eth0"
    mtu: int = 1500
    features: frozenset = frozenset(FEATURES)
    dev_tx_weight: int = 64                       # net_hotdata.dev_tx_weight (a global sysctl)
    qdisc: Qdisc | None = None                    # None: IFF_NO_QUEUE (noqueue), like lo
    ndo_start_xmit: Callable[[SkBuff, "NetDevice"], int] | None = None
    priv: object = None                           # the driver's private data (its TX ring)
    ptype_all: list[PacketTap] = field(default_factory=list)
    sd: TxSoftnet = field(default_factory=TxSoftnet)
    queue_stopped: bool = False
    tx_packets: int = 0
    tx_bytes: int = 0

    def __post_init__(self):
        if not isinstance(self.mtu, int) or not 68 <= self.mtu <= 65536:
            raise ValueError("mtu must be an int in 68..65536")
        unknown = set(self.features) - set(FEATURES)
        if unknown:
            raise ValueError(f"unknown features {sorted(unknown)}; allowed: {FEATURES}")
        if not isinstance(self.dev_tx_weight, int) or self.dev_tx_weight < 1:
            raise ValueError("dev_tx_weight must be a positive int")

    def has(self, feature: str) -> bool:
        return feature in self.features

    def snapshot(self) -> dict:
        return {"qdisc": self.qdisc.snapshot() if self.qdisc else None, "queue_stopped": self.queue_stopped,
                "tx_packets": self.tx_packets, "softirqs raised": dict(self.sd.raised),
                "output_queue": [q.kind for q in self.sd.output_queue],
                "tap": [s for t in self.ptype_all for s in t.seen]}


def _check(skb: SkBuff, dev: NetDevice) -> None:
    if not isinstance(skb, SkBuff):
        raise TypeError(f"expected an SkBuff, got {type(skb).__name__}")
    if not isinstance(dev, NetDevice):
        raise TypeError(f"expected a NetDevice, got {type(dev).__name__}")


def dev_queue_xmit(skb: SkBuff) -> int:
    """include/linux/netdevice.h: the inline wrapper every protocol calls."""
    return __dev_queue_xmit(skb)


@kernel_function("net/core/dev.c", "queue {skb.name} for transmission on {skb.meta[dev].name}")
def __dev_queue_xmit(skb: SkBuff, sb_dev: NetDevice | None = None) -> int:
    """Pick the TX queue and its qdisc; a device without a queue (lo, tunnels) transmits at once."""
    dev = skb.meta.get("dev")
    _check(skb, dev)
    if dev.qdisc is not None:
        return __dev_xmit_skb(skb, dev.qdisc, dev)
    trace_printk(f"{dev.name} has no qdisc (noqueue): validate and transmit directly")
    rest, rc = dev_hard_start_xmit(validate_xmit_skb(skb, dev), dev)
    return rc


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


def validate_xmit_skb_list(skb: SkBuff, dev: NetDevice) -> list[SkBuff]:
    """net/core/dev.c: ``validate_xmit_skb`` on each skb of a list (a single skb here)."""
    return validate_xmit_skb(skb, dev)


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
    if not isinstance(head_skb, SkBuff):
        raise TypeError("skb_segment takes an SkBuff")
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
    if dev.ptype_all:
        dev_queue_xmit_nit(skb, dev)
    return netdev_start_xmit(skb, dev, more)


@kernel_function("net/core/dev.c", "the egress tap: tcpdump gets a clone of {skb.name}")
def dev_queue_xmit_nit(skb: SkBuff, dev: NetDevice) -> None:
    """Clone once for the taps on ``ptype_all``. Netfilter's OUTPUT and POSTROUTING already ran: a packet they
    dropped never gets here, so tcpdump cannot see it."""
    _check(skb, dev)
    skb2 = skb_clone(skb, name=f"{skb.name}(tap)")
    if skb_orphan_frags_rx(skb2):
        return
    for i, tap in enumerate(dev.ptype_all):
        tap.func(skb2 if i == len(dev.ptype_all) - 1 else skb_clone(skb2, name=f"{skb2.name}{i}"))


def netdev_start_xmit(skb: SkBuff, dev: NetDevice, more: bool) -> int:
    """include/linux/netdevice.h: call the driver's ``ndo_start_xmit`` and count the packet."""
    if dev.ndo_start_xmit is None:
        raise ValueError(f"{dev.name} has no driver (ndo_start_xmit)")
    length = skb.len
    rc = dev.ndo_start_xmit(skb, dev)
    if rc == NETDEV_TX_OK:
        dev.tx_packets += skb.meta.get("gso_segs", 1)
        dev.tx_bytes += length
    return rc


@kernel_function("net/core/dev.c", "put {q.kind} on this CPU's output_queue and raise NET_TX_SOFTIRQ")
def __netif_schedule(q: Qdisc) -> None:
    """Schedule the qdisc once (``__QDISC_STATE_SCHED``): ``__netif_reschedule`` → ``raise_softirq_irqoff``."""
    if q.scheduled:
        return
    q.scheduled = True
    q.missed = False
    q.dev.sd.output_queue.append(q)
    q.dev.sd.raise_softirq(NET_TX_SOFTIRQ)


@kernel_function("net/core/dev.c", "NET_TX softirq: free completed skbs, run the scheduled qdiscs")
def net_tx_action(sd: TxSoftnet) -> None:
    """Empty ``completion_queue`` (skbs freed from hard IRQs), then ``qdisc_run`` each qdisc on ``output_queue``."""
    if not isinstance(sd, TxSoftnet):
        raise TypeError("net_tx_action takes this CPU's TxSoftnet")
    while sd.completion_queue:
        consume_skb(sd.completion_queue.pop(0))
    head, sd.output_queue = sd.output_queue, []
    for q in head:
        q.scheduled = False
        qdisc_run(q)


@kernel_function("net/core/dev.c", "the driver has room again: wake {dev.name}'s TX queue")
def netif_tx_wake_queue(dev: NetDevice) -> None:
    """Clear the stopped bit and schedule the qdisc, so what it holds goes out from NET_TX."""
    if not isinstance(dev, NetDevice):
        raise TypeError("netif_tx_wake_queue takes a NetDevice")
    dev.queue_stopped = False
    if dev.qdisc is not None:
        __netif_schedule(dev.qdisc)
