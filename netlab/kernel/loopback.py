"""The loopback device: what "sending" to a local address does instead of a NIC.

Models drivers/net/loopback.c (Linux 6.12). ``lo`` has no queue (IFF_NO_QUEUE: ``__dev_queue_xmit`` skips the
qdisc), no ring buffer, no DMA and no interrupt: its ``ndo_start_xmit``, ``loopback_xmit``, hands the very same
skb to ``__netif_rx``, which appends it to this CPU's ``softnet_data.input_pkt_queue`` and schedules the backlog
NAPI. The NET_RX softirq — run when the sender re-enables bottom halves, still on the sending CPU — polls it with
``process_backlog`` and the packet climbs the same IP/TCP receive path as one from a NIC (chapter 01). MTU 64 KiB
(``gen_lo_setup(dev, 64 * 1024, …)``).
"""
from __future__ import annotations

from netlab import check
from netlab.kernel.dev import NET_RX_SUCCESS, NetDevice, __netif_rx
from netlab.kernel.eth import eth_type_trans
from netlab.kernel.netns import Net
from netlab.kernel.skbuff import SkBuff
from netlab.trace import kernel_function, trace_printk

NETDEV_TX_OK = 0x00


@check.arguments
def loopback_dev_init(net: Net) -> NetDevice:
    """``loopback_net_init``: every namespace gets its ``lo`` (MTU from the profile, ``loopback_xmit`` as
    ``ndo_start_xmit``) as ``net->loopback_dev``."""
    dev = NetDevice("lo", net, mtu=net.profile.lo_mtu, ndo_start_xmit=loopback_xmit)
    net.loopback_dev = dev
    return dev


@kernel_function("drivers/net/loopback.c", lambda skb, dev: f"{dev.name}: give {skb.name} straight back to "
                 "this CPU's backlog (no qdisc, no ring, no IRQ)")
def loopback_xmit(skb: SkBuff, dev: NetDevice) -> int:
    """skb_orphan (the sender's socket stops paying for it), ``eth_type_trans`` (which pulls the Ethernet header
    the send path pushed), ``__netif_rx``; count tx and rx (the length after the pull, as ``dev_lstats_add``)."""
    if not isinstance(skb, SkBuff) or not isinstance(dev, NetDevice):
        raise TypeError("loopback_xmit(skb, dev) takes an SkBuff and a NetDevice")
    skb.meta.pop("owner", None)                                   # skb_orphan
    trace_printk("called from __dev_queue_xmit → dev_hard_start_xmit (chapter 03): lo has no qdisc")
    skb.meta["ethertype"] = eth_type_trans(skb, dev)
    length = skb.len
    if __netif_rx(skb) == NET_RX_SUCCESS:                        # dev_lstats_add: lo counts both directions
        for kind in ("tx", "rx"):
            dev.stats[f"{kind}_packets"] += 1
            dev.stats[f"{kind}_bytes"] += length
    return NETDEV_TX_OK
