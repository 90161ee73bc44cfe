"""The transmit half of the igb driver: the TX descriptor ring, DMA mapping, and TX completion.

Models drivers/net/ethernet/intel/igb/igb_main.c and igb.h (Linux 6.12). ``igb_xmit_frame`` →
``igb_xmit_frame_ring`` needs one descriptor for the linear part, one per page fragment (each ≤
``IGB_MAX_DATA_PER_TXD`` = 32 KiB) and a context descriptor (checksum/TSO offload), plus a gap of 2; without room it
stops the queue (``NETDEV_TX_BUSY``). ``igb_tx_map`` DMA-maps the buffers, fills the descriptors and writes the tail
register: from then on the NIC reads the bytes by DMA, with TSO it cuts a large skb into MSS-sized frames itself.

When the NIC has sent a packet it writes the descriptor back and raises the queue's MSI-X interrupt. The cleanup
runs in the **NET_RX** softirq: ``igb_poll`` calls ``igb_clean_tx_irq`` first (up to ``tx_work_limit`` = 128
packets), which frees each transmitted skb (``napi_consume_skb``) and wakes a stopped queue once
``TX_WAKE_THRESHOLD`` descriptors are free. That is why a sender's /proc/softirqs counts NET_RX, not NET_TX.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from netlab.kernel.copies import account_dma
from netlab.kernel.dev_xmit import NETDEV_TX_BUSY, NETDEV_TX_OK, NetDevice, netif_tx_wake_queue
from netlab.kernel.skbuff import MAX_SKB_FRAGS, SkBuff, napi_consume_skb
from netlab.trace import kernel_function, trace_printk

IGB_DEFAULT_TXD = 256
IGB_MAX_DATA_PER_TXD = 1 << 15
IGB_DEFAULT_TX_WORK = 128
DESC_NEEDED = MAX_SKB_FRAGS + 4
TX_WAKE_THRESHOLD = DESC_NEEDED * 2


@dataclass(eq=False)
class TxBuffer:
    """``struct igb_tx_buffer`` of a packet's first descriptor: the skb and where the packet ends."""

    skb: SkBuff
    first: int
    eop: int              # index of the last descriptor of this packet
    descriptors: int
    gso_segs: int
    fetched: bool = False  # the NIC has read the descriptors and is sending the packet
    done: bool = False     # the NIC wrote the descriptor back (DD bit): sent


@dataclass(eq=False)
class IgbTxRing:
    """``struct igb_ring`` used for TX: ``count`` descriptors, filled at ``next_to_use``, cleaned at
    ``next_to_clean``. One descriptor is always left empty so that a full ring is told from an empty one."""

    count: int = IGB_DEFAULT_TXD
    next_to_use: int = 0
    next_to_clean: int = 0
    buffers: list[TxBuffer] = field(default_factory=list)   # packets on the ring, oldest first
    tx_work_limit: int = IGB_DEFAULT_TX_WORK
    restart_queue: int = 0
    packets: int = 0

    def __post_init__(self):
        if not isinstance(self.count, int) or not 64 <= self.count <= 4096:
            raise ValueError("count (descriptors) must be an int in 64..4096 (IGB_MIN_TXD..IGB_MAX_TXD)")

    def desc_unused(self) -> int:
        """``igb_desc_unused``: free descriptors between next_to_use and next_to_clean, minus the gap of 1."""
        return (self.next_to_clean - self.next_to_use - 1) % self.count

    def snapshot(self) -> dict:
        return {"count": self.count, "next_to_use": self.next_to_use, "next_to_clean": self.next_to_clean,
                "unused": self.desc_unused(),
                "packets": [(b.skb.name, b.first, b.descriptors, b.done) for b in self.buffers]}


def igb_setup(dev: NetDevice, count: int = IGB_DEFAULT_TXD) -> IgbTxRing:
    """Give ``dev`` an igb TX ring and make igb its driver (what ``igb_probe`` and ``igb_open`` set up)."""
    if not isinstance(dev, NetDevice):
        raise TypeError("igb_setup takes a NetDevice")
    ring = IgbTxRing(count=count)
    dev.priv, dev.ndo_start_xmit = ring, igb_xmit_frame
    return ring


@kernel_function("drivers/net/ethernet/intel/igb/igb_main.c", "igb: transmit {skb.name} on {netdev.name}")
def igb_xmit_frame(skb: SkBuff, netdev: NetDevice) -> int:
    """``ndo_start_xmit``: pad tiny frames, pick the TX ring of the skb's queue."""
    if not isinstance(netdev.priv, IgbTxRing):
        raise ValueError(f"{netdev.name} has no igb TX ring (call igb_setup first)")
    return igb_xmit_frame_ring(skb, netdev.priv, netdev)


def _descriptors(skb: SkBuff) -> int:
    headlen = skb.len - skb.data_len
    return -(-headlen // IGB_MAX_DATA_PER_TXD) + sum(-(-f // IGB_MAX_DATA_PER_TXD) for f in skb.shinfo.frags)


@kernel_function("drivers/net/ethernet/intel/igb/igb_main.c",
                 lambda skb, tx_ring, netdev: f"put {skb.name} on the TX ring ({tx_ring.desc_unused()} free)")
def igb_xmit_frame_ring(skb: SkBuff, tx_ring: IgbTxRing, netdev: NetDevice) -> int:
    """Reserve descriptors (stop the queue and return BUSY when there are too few), set up TSO or checksum
    offload in a context descriptor, then map the buffers."""
    count = _descriptors(skb)
    if tx_ring.desc_unused() < count + 3:
        netdev.queue_stopped = True
        trace_printk(f"only {tx_ring.desc_unused()} descriptors free, {count + 3} needed: stop the queue, BUSY")
        return NETDEV_TX_BUSY
    segs = skb.meta.get("gso_segs", 1)
    if segs > 1:
        trace_printk(f"igb_tso: context descriptor with MSS {skb.shinfo.gso_size}: the NIC makes {segs} frames")
    else:
        trace_printk("igb_tx_csum: context descriptor, the NIC computes the TCP checksum")
    igb_tx_map(tx_ring, skb, count + 1)
    if tx_ring.desc_unused() < DESC_NEEDED:
        netdev.queue_stopped = True
        trace_printk(f"fewer than DESC_NEEDED = {DESC_NEEDED} descriptors left: stop the queue")
    return NETDEV_TX_OK


@kernel_function("drivers/net/ethernet/intel/igb/igb_main.c",
                 "DMA-map {skb.name}, fill {descriptors} descriptors, ring the doorbell")
def igb_tx_map(tx_ring: IgbTxRing, skb: SkBuff, descriptors: int) -> None:
    """``dma_map_single`` the header, ``skb_frag_dma_map`` each page fragment, write the descriptors and the tail
    register. The CPU copies nothing: the NIC fetches the bytes by DMA while it sends."""
    first = tx_ring.next_to_use
    tx_ring.next_to_use = (first + descriptors) % tx_ring.count
    tx_ring.buffers.append(TxBuffer(skb, first, (tx_ring.next_to_use - 1) % tx_ring.count, descriptors,
                                    skb.meta.get("gso_segs", 1)))
    payload = skb.meta.get("payload", skb.len)
    account_dma(payload, "igb_tx_map", "skb data in memory", "NIC")


def igb_tx_hw_done(tx_ring: IgbTxRing, packets: int | None = None) -> int:
    """The NIC (hardware, not kernel code) finished sending the oldest ``packets`` (all) and wrote back their
    descriptors. Returns how many it marked."""
    if not isinstance(tx_ring, IgbTxRing):
        raise TypeError("igb_tx_hw_done takes an IgbTxRing")
    pending = [b for b in tx_ring.buffers if not b.done]
    if packets is not None:
        if not isinstance(packets, int) or packets < 0:
            raise ValueError("packets must be an int >= 0 or None")
        pending = pending[:packets]
    for b in pending:
        b.done = True
    return len(pending)


@kernel_function("drivers/net/ethernet/intel/igb/igb_main.c",
                 lambda tx_ring, netdev, napi_budget: f"TX completion: free what the NIC has sent "
                                                      f"({sum(b.done for b in tx_ring.buffers)} packets)")
def igb_clean_tx_irq(tx_ring: IgbTxRing, netdev: NetDevice, napi_budget: int = 64) -> bool:
    """Walk from ``next_to_clean`` over written-back descriptors (at most ``tx_work_limit``), free each skb, and
    wake the queue once enough descriptors are free. True when the ring is completely cleaned."""
    if not isinstance(tx_ring, IgbTxRing):
        raise TypeError("igb_clean_tx_irq takes an IgbTxRing")
    budget = tx_ring.tx_work_limit
    while budget and tx_ring.buffers and tx_ring.buffers[0].done:
        buf = tx_ring.buffers.pop(0)
        napi_consume_skb(buf.skb, napi_budget)
        tx_ring.packets += buf.gso_segs
        tx_ring.next_to_clean = (buf.eop + 1) % tx_ring.count
        budget -= 1
    if netdev.queue_stopped and tx_ring.desc_unused() >= TX_WAKE_THRESHOLD:
        tx_ring.restart_queue += 1
        trace_printk(f"{tx_ring.desc_unused()} descriptors free (≥ TX_WAKE_THRESHOLD = {TX_WAKE_THRESHOLD})")
        netif_tx_wake_queue(netdev)
    return bool(budget)
