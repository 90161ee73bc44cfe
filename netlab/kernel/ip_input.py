"""IPv4 receive: from the device layer to TCP or UDP, through two netfilter hooks.

Models net/ipv4/ip_input.c and include/net/dst.h (Linux 6.12). One packet: ``ip_rcv`` checks the header
(``ip_rcv_core``), runs NF_INET_PRE_ROUTING (iptables PREROUTING), ``ip_rcv_finish`` routes it
(``ip_rcv_finish_core``) and ``dst_input`` calls the route's input function, ``ip_local_deliver`` for this host,
which runs NF_INET_LOCAL_IN (iptables INPUT); ``ip_local_deliver_finish`` → ``ip_protocol_deliver_rcu`` calls the
protocol's handler, ``tcp_v4_rcv`` or ``udp_rcv``.

6.12 receives GRO's batches as lists: ``ip_list_rcv`` → ``ip_sublist_rcv`` (PRE_ROUTING for the list) →
``ip_list_rcv_finish`` (routing each) → ``ip_sublist_rcv_finish`` → ``dst_input`` per packet; the rest is the same.

GRO's IPv4 layer is af_inet's, kept here beside ``ip_packet_type``: ``inet_gro_receive`` (a held skb of other
addresses or another protocol is not this packet's flow; then the protocol's GRO, ``tcp4_gro_receive`` or
``udp4_gro_receive``) and ``inet_gro_complete`` (the merged skb's ``tot_len``). The model's packets are never
fragments, carry no IP options and have the IDs, TTL and TOS of one sender, so none of these flushes.

Routing is reduced to "is the destination one of this host's addresses (or 127.0.0.0/8)?": yes → local
delivery, no → dropped (forwarding is off) and counted in IpInAddrErrors.
"""
from __future__ import annotations

from typing import Any

from netlab import check
from netlab.kernel.dev import ETH_P_IP, NAPI_GRO_CB, NET_RX_DROP, NET_RX_SUCCESS, PacketOffload, PacketType
from netlab.kernel.netfilter import NF_HOOK, NF_HOOK_LIST, NF_INET_LOCAL_IN, NF_INET_PRE_ROUTING, NFPROTO_IPV4
from netlab.kernel.netns import Net
from netlab.kernel.ip_output import IP_HLEN
from netlab.kernel.skbuff import SkBuff, kfree_skb, skb_network_header_len, skb_pull
from netlab.kernel.tcp_ipv4 import tcp_v4_rcv
from netlab.kernel.tcp_offload import tcp4_gro_complete, tcp4_gro_receive
from netlab.kernel.udp import udp_rcv
from netlab.kernel.udp_offload import udp4_gro_receive
from netlab.units import plural
from netlab.trace import kernel_function, trace_printk

inet_protos = {"tcp": tcp_v4_rcv, "udp": udp_rcv}
"""``inet_protos[]``: IP protocol → handler (``tcp_protocol.handler``, ``udp_protocol.handler``)."""


def _net(skb: SkBuff) -> Net:
    dev = skb.meta.get("dev")
    return dev.net if dev is not None else skb.meta["net"]


@check.arguments
def is_local(net: Net, daddr: str) -> bool:
    """Would the local routing table say ``local`` for this destination?"""
    return daddr in net.local_addrs or daddr.startswith("127.")


@kernel_function("net/ipv4/ip_input.c", "IPv4 receive of {skb.name}: check the header, then PRE_ROUTING")
def ip_rcv(skb: SkBuff, dev: Any, pt: PacketType, orig_dev: Any) -> int:
    """The ETH_P_IP handler: ``ip_rcv_core``, then ``NF_HOOK(PRE_ROUTING, ..., ip_rcv_finish)``."""
    net = _net(skb)
    if ip_rcv_core(skb, net) is None:
        return NET_RX_DROP
    return NF_HOOK(NFPROTO_IPV4, NF_INET_PRE_ROUTING, net, None, skb, ip_rcv_finish)


@kernel_function("net/ipv4/ip_input.c", "validate {skb.name}'s IP header; count IpInReceives")
def ip_rcv_core(skb: SkBuff, net: Net) -> SkBuff | None:
    """Drop packets for other hosts' MACs (not modelled), check version/length/checksum, count the packet, trim
    the frame to the header's ``tot_len`` (``pskb_trim_rcsum``: the model's frames carry no Ethernet padding, so
    ``skb->len`` already is ``tot_len``) and mark where the transport header starts: ``network_header + ihl*4``."""
    net.snmp_inc("IpInReceives")
    skb.transport_header = skb.network_header + IP_HLEN
    return skb


@kernel_function("net/ipv4/ip_input.c", "route {skb.name}, then hand it to the route's input function")
def ip_rcv_finish(net: Net, sk: Any, skb: SkBuff) -> int:
    """``ip_rcv_finish_core`` (routing), then ``dst_input``."""
    ret = ip_rcv_finish_core(net, sk, skb)
    if ret != NET_RX_DROP:
        ret = dst_input(skb)
    return ret


@kernel_function("net/ipv4/ip_input.c", "route lookup for {skb.name}")
def ip_rcv_finish_core(net: Net, sk: Any, skb: SkBuff) -> int:
    """Is it for this host? Then its input is ``ip_local_deliver``; else drop (no forwarding)."""
    if is_local(net, skb.meta["daddr"]):
        skb.meta["dst_input"] = ip_local_deliver
        return NET_RX_SUCCESS
    trace_printk(f"{skb.meta['daddr']} is not a local address and forwarding is off: drop")
    net.snmp_inc("IpInAddrErrors")
    kfree_skb(skb)
    return NET_RX_DROP


@kernel_function("include/net/dst.h", "call {skb.name}'s route input function")
def dst_input(skb: SkBuff) -> int:
    """``skb_dst(skb)->input(skb)``: ``ip_local_deliver`` for a local destination."""
    return skb.meta["dst_input"](skb)


@kernel_function("net/ipv4/ip_input.c", "{skb.name} is for this host: LOCAL_IN hook (iptables INPUT)")
def ip_local_deliver(skb: SkBuff) -> int:
    """Reassemble fragments (not modelled), then ``NF_HOOK(LOCAL_IN, ..., ip_local_deliver_finish)``."""
    return NF_HOOK(NFPROTO_IPV4, NF_INET_LOCAL_IN, _net(skb), None, skb, ip_local_deliver_finish)


@kernel_function("net/ipv4/ip_input.c", "strip the IP header of {skb.name}; deliver to its protocol")
def ip_local_deliver_finish(net: Net, sk: Any, skb: SkBuff) -> int:
    """``__skb_pull(skb, skb_network_header_len(skb))``: the IP header; then ``ip_protocol_deliver_rcu``."""
    skb_pull(skb, skb_network_header_len(skb))
    ip_protocol_deliver_rcu(net, skb, skb.meta["protocol"])
    return 0


@kernel_function("net/ipv4/ip_input.c", lambda net, skb, protocol: f"call the {protocol.upper()} handler for "
                 f"{skb.name}")
def ip_protocol_deliver_rcu(net: Net, skb: SkBuff, protocol: str) -> None:
    """``inet_protos[protocol]->handler(skb)``: tcp_v4_rcv or udp_rcv; count IpInDelivers."""
    handler = inet_protos.get(protocol)
    if handler is None:
        net.snmp_inc("IpInUnknownProtos")
        kfree_skb(skb)
        return
    handler(skb)
    net.snmp_inc("IpInDelivers")


# --- 6.12's list receive ----------------------------------------------------------------------------------------------
@kernel_function("net/ipv4/ip_input.c", lambda skbs, pt, orig_dev: f"IPv4 receive of a list of "
                 f"{plural(len(skbs), 'packet')}")
def ip_list_rcv(skbs: list[SkBuff], pt: PacketType, orig_dev: Any) -> None:
    """``ip_rcv_core`` each packet; packets of the same device and namespace go on as one sublist."""
    kept = [skb for skb in skbs if ip_rcv_core(skb, _net(skb)) is not None]
    if kept:
        ip_sublist_rcv(kept, orig_dev, _net(kept[0]))


@kernel_function("net/ipv4/ip_input.c", lambda skbs, dev, net: f"PRE_ROUTING for "
                 f"{plural(len(skbs), 'packet')}, then routing")
def ip_sublist_rcv(skbs: list[SkBuff], dev: Any, net: Net) -> None:
    """``NF_HOOK_LIST(PRE_ROUTING)``, then ``ip_list_rcv_finish``."""
    ip_list_rcv_finish(net, None, NF_HOOK_LIST(NFPROTO_IPV4, NF_INET_PRE_ROUTING, net, skbs))


@kernel_function("net/ipv4/ip_input.c", lambda net, sk, skbs: f"route each packet of the list "
                 f"({plural(len(skbs), 'packet')})")
def ip_list_rcv_finish(net: Net, sk: Any, skbs: list[SkBuff]) -> None:
    """``ip_rcv_finish_core`` per packet; the routed ones go to ``ip_sublist_rcv_finish``."""
    routed = [skb for skb in skbs if ip_rcv_finish_core(net, sk, skb) != NET_RX_DROP]
    if routed:
        ip_sublist_rcv_finish(routed)


@kernel_function("net/ipv4/ip_input.c", lambda skbs: f"dst_input for each packet of the list "
                 f"({plural(len(skbs), 'packet')})")
def ip_sublist_rcv_finish(skbs: list[SkBuff]) -> None:
    """Each packet goes to its route's input: ``ip_local_deliver``."""
    for skb in skbs:
        dst_input(skb)


IP_PACKET_TYPE = PacketType(ETH_P_IP, ip_rcv, "ip_rcv", list_func=ip_list_rcv)
"""``ip_packet_type`` (net/ipv4/af_inet.c): registered with ``dev_add_pack`` at boot."""


# --- GRO's IPv4 layer (net/ipv4/af_inet.c) -------------------------------------------------------------------------
inet_offloads = {"tcp": (tcp4_gro_receive, tcp4_gro_complete), "udp": (udp4_gro_receive, None)}
"""``inet_offloads[]``: IP protocol → its GRO handlers (``tcpv4_offload``, ``udpv4_offload``; its complete is
never needed here: no UDP packet is merged)."""


@kernel_function("net/ipv4/af_inet.c", "GRO, IPv4 layer: {skb.name}'s header; held skbs of other addresses are not "
                 "its flow")
def inet_gro_receive(head: list[SkBuff], skb: SkBuff) -> SkBuff | None:
    """No GRO handler for the protocol (3.10: UDP), a fragment, IP options: flush (GRO_NORMAL). Else a held skb of
    another protocol or other addresses is not this packet's flow (``same_flow = 0``); GRO reads past the IP header
    and the protocol's ``gro_receive`` decides."""
    cb = NAPI_GRO_CB(skb)
    protocol = skb.meta.get("protocol")
    ops = inet_offloads.get(protocol)
    if ops is None:
        cb.flush = True
        return None
    for p in head:
        pcb = NAPI_GRO_CB(p)
        if pcb.same_flow and ((p.meta.get("protocol"), p.meta.get("saddr"), p.meta.get("daddr"))
                              != (protocol, skb.meta.get("saddr"), skb.meta.get("daddr"))):
            pcb.same_flow = False
    cb.data_offset += IP_HLEN
    return ops[0](head, skb)


@kernel_function("net/ipv4/af_inet.c", "{skb.name}: the merged skb's IP tot_len, then its protocol's complete")
def inet_gro_complete(skb: SkBuff, nhoff: int) -> int:
    """``iph->tot_len`` = the merged length (and the header checksum), then ``tcp4_gro_complete``."""
    return inet_offloads[skb.meta["protocol"]][1](skb, nhoff + IP_HLEN)


IP_PACKET_OFFLOAD = PacketOffload(ETH_P_IP, inet_gro_receive, inet_gro_complete, "inet_gro_receive")
"""``net_hotdata.ip_packet_offload`` (net/ipv4/af_inet.c ``ipv4_offload_init``): registered with
``dev_add_offload`` at boot."""

