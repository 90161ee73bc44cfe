"""GRO for UDP over IPv4: without a socket that asked for it, no merge.

Models net/ipv4/udp_offload.c (Linux 6.12): ``udp4_gro_receive`` → ``udp_gro_receive`` merges UDP datagrams only
for a socket with ``UDP_GRO`` set or a UDP tunnel (or a device with rx-udp-gro-forwarding / GRO fraglist); the
model has none of these, so every UDP packet is flushed: GRO_NORMAL. 3.10 registers no UDP ``gro_receive`` at all
(``inet_gro_receive`` flushes the packet itself).
"""
from __future__ import annotations

from netlab.kernel.dev import NAPI_GRO_CB
from netlab.kernel.skbuff import SkBuff
from netlab.trace import kernel_function


@kernel_function("net/ipv4/udp_offload.c", "GRO, UDP layer: no UDP GRO socket for {skb.name}, flush it")
def udp4_gro_receive(head: list[SkBuff], skb: SkBuff) -> SkBuff | None:
    """No socket with ``UDP_GRO`` (and no tunnel): ``udp_gro_receive`` flushes the packet; it merges with nothing."""
    NAPI_GRO_CB(skb).flush = True
    return None
