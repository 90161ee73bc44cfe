"""TCP receive for an established connection: find the socket, queue the data, wake the reader.

Models net/ipv4/tcp_ipv4.c (``tcp_v4_rcv``, ``tcp_v4_do_rcv``), net/ipv4/tcp_input.c (``tcp_rcv_established``,
``tcp_queue_rcv``, ``tcp_data_ready``) and include/net/inet_hashtables.h (``__inet_lookup_skb``), Linux 6.12.

``tcp_v4_rcv`` looks the 4-tuple up (established sockets first, then listeners) and, for an ESTABLISHED socket,
``tcp_v4_do_rcv`` → ``tcp_rcv_established`` pulls the TCP header and appends the skb, now only payload, to
``sk_receive_queue`` (``tcp_queue_rcv``), so ``tcp_recvmsg`` copies exactly the data; ``tcp_data_ready`` calls
``sk->sk_data_ready`` (``sock_def_readable``), which wakes a reader sleeping in recv().

Not modelled here: sequence and window checks, coalescing into the previous skb, the ACK this data makes due
(the send path, chapter 03), a socket owned by a user task (``tcp_add_backlog``), and 3.10's ``tcp_prequeue``.
Other states (LISTEN, SYN_RECV …) and the RST for a port nobody listens on are the handshake's
(:mod:`netlab.kernel.tcp_handshake`, chapter 05).
"""
from __future__ import annotations

from netlab.kernel.inet_connection_sock import TcpSock
from netlab.kernel.netns import Net
from netlab.kernel.skbuff import SkBuff, __kfree_skb, kfree_skb, skb_pull
from netlab.kernel.sock import Sock, skb_set_owner_r
from netlab.kernel.tcp_handshake import handshake_rcv, no_socket
from netlab.kernel.tcp_output import TCP_HLEN, tcp_ack, tcp_data_snd_check
from netlab.trace import kernel_function, trace_printk

TCP_ESTABLISHED, TCP_LISTEN = "TCP_ESTABLISHED", "TCP_LISTEN"


@kernel_function("include/net/inet_hashtables.h", "look up the socket for {skb.name}'s 4-tuple")
def __inet_lookup_skb(net: Net, skb: SkBuff) -> Sock | None:
    """Established hash first (exact 4-tuple), then the listeners (local address and port, or INADDR_ANY)."""
    m = skb.meta
    sk = net.tcp_ehash.get((m["daddr"], m["dport"], m["saddr"], m["sport"]))
    if sk is None:
        sk = net.tcp_lhash.get((m["daddr"], m["dport"])) or net.tcp_lhash.get(("0.0.0.0", m["dport"]))
    return sk


@kernel_function("net/ipv4/tcp_ipv4.c", "TCP receive of {skb.name}: find its socket")
def tcp_v4_rcv(skb: SkBuff) -> int:
    """Count TcpInSegs, look the socket up; no socket → answer with a RST and drop; else ``tcp_v4_do_rcv``."""
    net: Net = skb.meta["dev"].net if skb.meta.get("dev") is not None else skb.meta["net"]
    net.snmp_inc("TcpInSegs")
    sk = __inet_lookup_skb(net, skb)
    if sk is None:
        trace_printk(f"no socket for port {skb.meta['dport']}: answer with a RST and drop")
        no_socket(net, skb)                    # the RST that makes the peer's connect() fail (ECONNREFUSED)
        kfree_skb(skb)
        return 0
    if sk.sk_state == "TCP_NEW_SYN_RECV":
        return handshake_rcv(sk, skb)          # chapter 05: 6.12 finds a request in ehash → tcp_check_req
    return tcp_v4_do_rcv(sk, skb)


@kernel_function("net/ipv4/tcp_ipv4.c", "{sk.name} is {sk.sk_state}: process {skb.name}")
def tcp_v4_do_rcv(sk: Sock, skb: SkBuff) -> int:
    """ESTABLISHED: the fast path ``tcp_rcv_established``; any other state: ``tcp_rcv_state_process``."""
    flags = skb.meta["flags"]
    if sk.sk_state == TCP_ESTABLISHED and "SYN" not in flags and "RST" not in flags:
        tcp_rcv_established(sk, skb)
        return 0
    # chapter 05: a SYN or RST on an established socket (tcp_validate_incoming: challenge ACK, or reset) goes to
    # the handshake model too.
    return handshake_rcv(sk, skb)


@kernel_function("net/ipv4/tcp_input.c", "in-order segment for {sk.name}: {skb.name}")
def tcp_rcv_established(sk: Sock, skb: SkBuff) -> None:
    """The established fast path; ``skb->data`` is at the TCP header (IP pulled its own). A segment of no more
    than the header (``tp->tcp_header_len``: every model segment carries the timestamp option, ``TCP_HLEN``) is a
    pure ACK: it goes to ``tcp_ack`` (chapter 03), is freed and may let more data out (``tcp_data_snd_check``); a
    data segment goes to ``tcp_ack`` only when it acknowledges something new (``ack_seq != snd_una``). Data is
    queued without its header (``__skb_pull(skb, tcp_header_len)``, ``tcp_queue_rcv``), then ``tcp_data_ready``."""
    m = skb.meta
    tcp_header_len = TCP_HLEN
    if isinstance(sk, TcpSock) and "ACK" in m["flags"]:
        if skb.len <= tcp_header_len:
            tcp_ack(sk, m["ack_seq"])
            __kfree_skb(skb)
            tcp_data_snd_check(sk)
            return
        if m["ack_seq"] != sk.snd_una:
            tcp_ack(sk, m["ack_seq"])
    skb_pull(skb, tcp_header_len)
    tcp_queue_rcv(sk, skb)
    trace_printk("an ACK is now due (__tcp_ack_snd_check: the send path, chapter 03)")
    tcp_data_ready(sk)


@kernel_function("net/ipv4/tcp_input.c", "append {skb.name} to {sk.name}'s sk_receive_queue")
def tcp_queue_rcv(sk: Sock, skb: SkBuff) -> int:
    """``tcp_add_receive_queue`` and charge ``truesize`` to ``sk_rmem_alloc``; returns 0 (not merged)."""
    sk.sk_receive_queue.append(skb)
    skb_set_owner_r(skb, sk)
    return 0


@kernel_function("net/ipv4/tcp_input.c", "tell {sk.name}'s readers data is there")
def tcp_data_ready(sk: Sock) -> None:
    """``sk->sk_data_ready(sk)`` (``sock_def_readable`` unless epoll or a protocol replaced it)."""
    sk.sk_data_ready(sk)
