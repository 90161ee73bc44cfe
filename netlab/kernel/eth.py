"""Ethernet on receive: what the driver does with the 14-byte Ethernet header before the stack sees a packet.

Models net/ethernet/eth.c (``eth_type_trans``, Linux 6.12; the same in 3.10). A driver (igb's
``igb_process_skb_fields``, ``loopback_xmit``) calls it on every received frame: it records the device, pulls the
Ethernet header (``eth_skb_pull_mac`` → ``skb_pull_inline(skb, ETH_HLEN)``), so ``skb->data`` points at the IP
header, decides the packet type from the destination MAC (here always ``PACKET_HOST``) and returns the ethertype,
which the driver stores in ``skb->protocol``.
"""
from __future__ import annotations

from netlab.kernel.dev import ETH_P_IP, PACKET_HOST, NetDevice
from netlab.kernel.dev_hard_xmit import ETH_HLEN
from netlab.kernel.skbuff import SkBuff, skb_pull
from netlab.trace import kernel_function


@kernel_function("net/ethernet/eth.c", lambda skb, dev: f"{dev.name}: pull {skb.name}'s {ETH_HLEN}-byte Ethernet "
                 "header; it is an IPv4 packet for this host")
def eth_type_trans(skb: SkBuff, dev: NetDevice) -> int:
    """``skb->dev = dev``, pull ``ETH_HLEN`` bytes, set ``pkt_type``; returns the ethertype (``ETH_P_IP``)."""
    if not isinstance(skb, SkBuff) or not isinstance(dev, NetDevice):
        raise TypeError("eth_type_trans(skb, dev) takes an SkBuff and a NetDevice")
    skb.meta.update(dev=dev, net=dev.net, pkt_type=PACKET_HOST)
    skb_pull(skb, ETH_HLEN)
    return ETH_P_IP
