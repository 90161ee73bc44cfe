"""AF_PACKET taps: how tcpdump sees packets.

Models net/packet/af_packet.c (``packet_rcv``, Linux 6.12). ``tcpdump`` opens an AF_PACKET socket for ETH_P_ALL;
``dev_add_pack`` puts its ``packet_type`` on ``ptype_all``. On receive, ``__netif_receive_skb_core`` calls
``deliver_skb`` for every tap *before* the packet reaches IP and netfilter; on send, ``dev_queue_xmit_nit`` (the
send path) calls the same taps *after* netfilter's OUTPUT and POSTROUTING. The tap keeps a clone (the data is
shared, not copied) on its socket's receive queue; its BPF filter is reduced to a dict of fields to match.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from netlab import check
from netlab.kernel.dev import ETH_P_ALL, PACKET_HOST, PacketType, dev_add_pack, dev_remove_pack
from netlab.kernel.netns import Net
from netlab.kernel.skbuff import SkBuff, consume_skb, skb_clone
from netlab.kernel.sock import Sock, skb_set_owner_r
from netlab.trace import kernel_function

FILTER_FIELDS = ("protocol", "saddr", "daddr", "sport", "dport")


@dataclass(eq=False)
class PacketTap:
    """A packet socket listening on every device and protocol, like ``tcpdump -i any [filter]``.

    ``seen`` lists what it captured: (packet name, direction "in"/"out"). Call :meth:`close` to unregister.
    """

    net: Net
    name: str = "tcpdump"
    match: dict[str, Any] = field(default_factory=dict)
    seen: list[tuple[str, str]] = field(default_factory=list)

    def __post_init__(self):
        check.fields(self)
        if not isinstance(self.net, Net):
            raise TypeError("a tap needs the Net (namespace) to listen in")
        unknown = set(self.match) - set(FILTER_FIELDS)
        if unknown:
            raise ValueError(f"a tap filter matches on {FILTER_FIELDS}, not {sorted(unknown)}")
        self.sk = Sock(name=f"{self.name} socket", protocol="packet")
        self.packet_type = PacketType(ETH_P_ALL, packet_rcv, self.name, af_packet_priv=self)
        dev_add_pack(self.packet_type, self.net)

    @check.arguments
    def wants(self, skb: SkBuff) -> bool:
        return all(skb.meta.get(k) == v for k, v in self.match.items())

    def close(self) -> None:
        dev_remove_pack(self.packet_type, self.net)


@kernel_function("net/packet/af_packet.c", lambda skb, dev, pt, orig_dev: f"{pt.name} captures {skb.name}")
def packet_rcv(skb: SkBuff, dev: Any, pt: PacketType, orig_dev: Any) -> int:
    """Run the socket filter; keep a clone of a shared skb on the tap's receive queue; drop the reference."""
    tap: PacketTap = pt.af_packet_priv
    if not tap.wants(skb):
        consume_skb(skb)
        return 0
    kept = skb
    if skb.users > 1:  # skb_shared: others hold it too, keep our own head
        kept = skb_clone(skb, name=f"{skb.name}@{tap.name}")
        consume_skb(skb)
    direction = "in" if skb.meta.get("pkt_type", PACKET_HOST) == PACKET_HOST else "out"
    tap.seen.append((skb.name, direction))
    skb_set_owner_r(kept, tap.sk)
    tap.sk.sk_receive_queue.append(kept)
    tap.sk.sk_data_ready(tap.sk)
    return 0
