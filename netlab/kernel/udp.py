"""UDP receive: find the socket, charge the receive buffer, queue or drop, wake the reader.

Models net/ipv4/udp.c (``udp_rcv`` → ``__udp4_lib_rcv`` → ``__udp4_lib_lookup_skb`` → ``udp_unicast_rcv_skb``
→ ``udp_queue_rcv_skb`` → ``udp_queue_rcv_one_skb`` → ``__udp_queue_rcv_skb`` → ``__udp_enqueue_schedule_skb``;
the reader's ``udp_recvmsg``) and, for 3.10, include/net/sock.h's ``sock_queue_rcv_skb``. Linux 6.12.

The receive buffer rule differs (``profile.udp_rcvbuf_drop``): 6.12 accepts a packet while ``sk_rmem_alloc <=
sk_rcvbuf`` (it may overshoot by one packet: "always allow at least one packet"); 3.10 drops once
``sk_rmem_alloc >= sk_rcvbuf``. Each packet is charged its ``truesize`` (2304 bytes for an igb buffer, whatever
its length), so the default 212992-byte buffer holds 93 packets. A drop counts ``sk_drops`` (the ``drops`` column
of ``/proc/net/udp``) and UdpRcvbufErrors + UdpInErrors (``nstat``); softnet_stat never sees it.

The UDP header: 6.12 pulls it before queueing (``udp_queue_rcv_one_skb`` → ``udp_csum_pull_header``) and
``udp_recvmsg`` copies ``udp_skb_len(skb)``, the payload; 3.10 queues the skb with its header and ``udp_recvmsg``
copies ``skb->len - sizeof(struct udphdr)`` bytes from offset 8. The reader gets the same bytes either way, and
the charge (``truesize``) is the same; the model pulls as 6.12 does.
"""
from __future__ import annotations

import errno

from netlab.kernel.cpu import this_cpu
from netlab.kernel.netns import Net
from netlab.kernel.skbuff import SkBuff, consume_skb, kfree_skb, skb_pull
from netlab.kernel.sock import MSG_DONTWAIT, Sock, skb_set_owner_r, sock_rfree
from netlab.kernel.udp_output import UDP_HLEN
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


@kernel_function("net/ipv4/udp.c", "policy and filter checks for {skb.name}; pull its UDP header")
def udp_queue_rcv_one_skb(sk: Sock, skb: SkBuff) -> int:
    """XFRM policy, encapsulation, socket filter (none here), ``udp_csum_pull_header`` (the 8-byte UDP header
    goes: the queued skb is only the datagram's payload), then ``__udp_queue_rcv_skb``."""
    skb_pull(skb, UDP_HLEN)
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


@kernel_function("net/ipv4/udp.c", lambda sk, len, flags: f"read one datagram of {sk.name} into {len} bytes")
def udp_recvmsg(sk: Sock, len: int, flags: int) -> int:  # noqa: A002 (the kernel's parameter name)
    """Take the first datagram (``__skb_recv_udp``), copy ``min(len, udp_skb_len(skb))`` of its payload (the rest
    of a longer datagram is lost: MSG_TRUNC), free it (``skb_consume_udp``). Returns the bytes copied, or -EAGAIN
    with nothing queued (the model's UDP reader never sleeps: ``flags`` must hold MSG_DONTWAIT)."""
    if not isinstance(sk, Sock) or not isinstance(len, int) or not isinstance(flags, int):
        raise TypeError("udp_recvmsg(sk, len, flags) takes a Sock, an int length and int flags")
    if len < 0:
        raise ValueError(f"len must be >= 0, got {len}")
    if not flags & MSG_DONTWAIT:
        raise ValueError("only non-blocking UDP reads (MSG_DONTWAIT) are modelled")
    if not sk.sk_receive_queue:
        trace_printk("nothing queued and the read is non-blocking: -EAGAIN")
        return -errno.EAGAIN
    skb = sk.sk_receive_queue.popleft()
    copied = min(len, skb.len)
    trace_printk(f"skb_copy_datagram_msg: {copied} of the datagram's {skb.len} bytes copied to user space")
    sock_rfree(skb, sk)
    consume_skb(skb)                  # skb_consume_udp
    return copied
