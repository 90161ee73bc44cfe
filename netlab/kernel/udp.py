"""UDP receive: find the socket, charge the receive buffer, queue or drop, wake the reader.

Models net/ipv4/udp.c (``udp_rcv`` → ``__udp4_lib_rcv`` → ``__udp4_lib_lookup_skb`` → ``udp_unicast_rcv_skb``
→ ``udp_queue_rcv_skb`` → ``udp_queue_rcv_one_skb`` → ``__udp_queue_rcv_skb`` → ``__udp_enqueue_schedule_skb``)
and, for 3.10, include/net/sock.h's ``sock_queue_rcv_skb``. Linux 6.12.

The receive buffer rule differs (``profile.udp_rcvbuf_drop``): 6.12 accepts a packet while ``sk_rmem_alloc <=
sk_rcvbuf`` (it may overshoot by one packet: "always allow at least one packet"); 3.10 drops once
``sk_rmem_alloc >= sk_rcvbuf``. Each packet is charged its ``truesize`` (2304 bytes for an igb buffer, whatever
its length), so the default 212992-byte buffer holds 93 packets. A drop counts ``sk_drops`` (the ``drops`` column
of ``/proc/net/udp``) and UdpRcvbufErrors + UdpInErrors (``nstat``); softnet_stat never sees it.
"""
from __future__ import annotations

from netlab.kernel.cpu import this_cpu
from netlab.kernel.netns import Net
from netlab.kernel.skbuff import SkBuff, kfree_skb
from netlab.kernel.sock import Sock, skb_set_owner_r
from netlab.trace import kernel_function, trace_printk


def _net(skb: SkBuff) -> Net:
    return skb.meta["dev"].net if skb.meta.get("dev") is not None else skb.meta["net"]


@kernel_function("net/ipv4/udp.c", "UDP receive of {skb.name}")
def udp_rcv(skb: SkBuff) -> int:
    """The IPPROTO_UDP handler: ``__udp4_lib_rcv`` with this namespace's UDP table."""
    return __udp4_lib_rcv(skb)


@kernel_function("net/ipv4/udp.c", "check {skb.name}'s UDP header, find its socket")
def __udp4_lib_rcv(skb: SkBuff) -> int:
    """Look the socket up; none → UdpNoPorts and drop (an ICMP port unreachable would go back)."""
    net = _net(skb)
    sk = __udp4_lib_lookup_skb(net, skb)
    if sk is None:
        trace_printk(f"no socket bound to port {skb.meta['dport']}: UdpNoPorts, drop")
        net.snmp_inc("UdpNoPorts")
        kfree_skb(skb)
        return 0
    return udp_unicast_rcv_skb(sk, skb)


@kernel_function("net/ipv4/udp.c", "look up the socket bound to {skb.name}'s destination port")
def __udp4_lib_lookup_skb(net: Net, skb: SkBuff) -> Sock | None:
    """Exact local address first, then a socket bound to INADDR_ANY."""
    m = skb.meta
    return net.udp_table.get((m["daddr"], m["dport"])) or net.udp_table.get(("0.0.0.0", m["dport"]))


@kernel_function("net/ipv4/udp.c", "deliver {skb.name} to {sk.name}")
def udp_unicast_rcv_skb(sk: Sock, skb: SkBuff) -> int:
    """Checksum conversion, then ``udp_queue_rcv_skb``."""
    udp_queue_rcv_skb(sk, skb)
    return 0


@kernel_function("net/ipv4/udp.c", "queue {skb.name} on {sk.name} (split GSO first, if any)")
def udp_queue_rcv_skb(sk: Sock, skb: SkBuff) -> int:
    """An unsegmented packet goes straight to ``udp_queue_rcv_one_skb``."""
    return udp_queue_rcv_one_skb(sk, skb)


@kernel_function("net/ipv4/udp.c", "policy and filter checks for {skb.name}")
def udp_queue_rcv_one_skb(sk: Sock, skb: SkBuff) -> int:
    """XFRM policy, encapsulation, socket filter (none here), then ``__udp_queue_rcv_skb``."""
    return __udp_queue_rcv_skb(sk, skb)


@kernel_function("net/ipv4/udp.c", "enqueue {skb.name}; count the error if the buffer is full")
def __udp_queue_rcv_skb(sk: Sock, skb: SkBuff) -> int:
    """Enqueue with the kernel's rule; on failure count UdpRcvbufErrors and UdpInErrors and free the skb."""
    if this_cpu().profile.udp_rcvbuf_drop == "rmem >= rcvbuf":
        rc = sock_queue_rcv_skb(sk, skb)
    else:
        rc = __udp_enqueue_schedule_skb(sk, skb)
    if rc < 0:
        net = _net(skb)
        net.snmp_inc("UdpRcvbufErrors")
        net.snmp_inc("UdpInErrors")
        kfree_skb(skb)
        return -1
    return 0


def _drop(sk: Sock, rule: str) -> int:
    sk.sk_drops += 1
    trace_printk(f"{rule}: drop, {sk.name}.sk_drops = {sk.sk_drops}")
    return -12  # -ENOMEM


def _enqueue(sk: Sock, skb: SkBuff) -> int:
    skb_set_owner_r(skb, sk)
    sk.sk_receive_queue.append(skb)
    sk.sk_data_ready(sk)
    return 0


@kernel_function("net/ipv4/udp.c", "charge {skb.name}'s truesize to {sk.name}'s rcvbuf and queue it")
def __udp_enqueue_schedule_skb(sk: Sock, skb: SkBuff) -> int:
    """6.12: drop only if ``rmem + truesize > rcvbuf`` *and* ``rmem > rcvbuf``; then queue, ``sk_data_ready``."""
    rmem, rcvbuf = sk.sk_rmem_alloc, sk.sk_rcvbuf
    if rmem + skb.truesize > rcvbuf and rmem > rcvbuf:
        return _drop(sk, f"sk_rmem_alloc {rmem} > sk_rcvbuf {rcvbuf}")
    return _enqueue(sk, skb)


@kernel_function("include/net/sock.h", "queue {skb.name} on {sk.name} if the buffer is not full")
def sock_queue_rcv_skb(sk: Sock, skb: SkBuff) -> int:
    """3.10: drop if ``sk_rmem_alloc >= sk_rcvbuf`` (before adding this packet); else queue, ``sk_data_ready``."""
    if sk.sk_rmem_alloc >= sk.sk_rcvbuf:
        return _drop(sk, f"sk_rmem_alloc {sk.sk_rmem_alloc} >= sk_rcvbuf {sk.sk_rcvbuf}")
    return _enqueue(sk, skb)
