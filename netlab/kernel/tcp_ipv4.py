"""TCP receive for an established connection: find the socket, queue the data, wake the reader.

Models net/ipv4/tcp_ipv4.c (``tcp_v4_rcv``, ``tcp_v4_do_rcv``, ``tcp_v4_timewait_ack``), net/ipv4/tcp_input.c
(``tcp_rcv_established``) and include/net/inet_hashtables.h (``__inet_lookup_skb``), Linux 6.12.

``tcp_v4_rcv`` looks the 4-tuple up (established sockets and TIME_WAIT socks first, then listeners) and, for an
ESTABLISHED socket, ``tcp_v4_do_rcv`` → ``tcp_rcv_established`` pulls the TCP header and appends the skb, now only
payload, to ``sk_receive_queue`` (``tcp_queue_rcv`` in :mod:`netlab.kernel.tcp_input`), so ``tcp_recvmsg`` copies
exactly the data; ``tcp_data_ready`` calls ``sk->sk_data_ready`` (``sock_def_readable``), which wakes a reader
sleeping in recv(). A segment for a TIME_WAIT sock gets what ``tcp_timewait_state_process``
(:mod:`netlab.kernel.tcp_minisocks`) decides: an ACK from the control socket (``tcp_v4_timewait_ack``), a RST, or,
for a new SYN, the listener.

Not modelled here: sequence and window checks, coalescing into the previous skb, the ACK this data makes due
(the send path, chapter 03), a socket owned by a user task (``tcp_add_backlog``), and 3.10's ``tcp_prequeue``.
Other states (LISTEN, SYN_RECV …) and the RST for a port nobody listens on are the handshake's
(:mod:`netlab.kernel.tcp_handshake`, chapter 05).
"""
from __future__ import annotations

from netlab.kernel.dev import rfs_needed, sock_rps_save_rxhash
from netlab.kernel.inet_connection_sock import TcpSock
from netlab.kernel.inet_timewait_sock import InetTimewaitSock, inet_twsk_deschedule_put
from netlab.kernel.netns import Net
from netlab.kernel.skbuff import SkBuff, __kfree_skb, kfree_skb, skb_pull
from netlab.kernel.sock import Sock
from netlab.kernel.tcp_handshake import handshake_rcv, no_socket, tcp_v4_send_reset
from netlab.kernel.tcp_input import __tcp_ack_snd_check, tcp_data_queue, tcp_data_ready, tcp_queue_rcv
from netlab.kernel.tcp_minisocks import TCP_TW_ACK, TCP_TW_RST, TCP_TW_SYN, tcp_timewait_state_process
from netlab.kernel.tcp_output import TCP_HLEN, send_segment, tcp_ack, tcp_data_snd_check, tcp_segment
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
    m = skb.meta
    if "seq" in m:                             # tcp_v4_fill_cb: SYN and FIN take a sequence number each
        m["end_seq"] = (m["seq"] + max(skb.len - TCP_HLEN, 0) + ("SYN" in m["flags"]) + ("FIN" in m["flags"])) \
            & 0xFFFFFFFF
    sk = __inet_lookup_skb(net, skb)
    if sk is None:
        trace_printk(f"no socket for port {skb.meta['dport']}: answer with a RST and drop")
        no_socket(net, skb)                    # the RST that makes the peer's connect() fail (ECONNREFUSED)
        kfree_skb(skb)
        return 0
    if sk.sk_state == "TCP_NEW_SYN_RECV":
        return handshake_rcv(sk, skb)          # chapter 05: 6.12 finds a request in ehash → tcp_check_req
    if sk.sk_state == "TCP_TIME_WAIT":
        return _do_time_wait(net, sk, skb)
    if getattr(sk, "sock_owned_by_user", False):
        tcp_add_backlog(sk, skb)
        return 0
    return tcp_v4_do_rcv(sk, skb)


@kernel_function("net/ipv4/tcp_ipv4.c", "{sk.name} is locked by its process: {skb.name} waits in its backlog")
def tcp_add_backlog(sk: TcpSock, skb: SkBuff) -> None:
    """The process holds the socket (``lock_sock``): queue the segment on ``sk_backlog``; ``release_sock`` runs
    it through ``tcp_v4_do_rcv`` when the process lets go."""
    sk.sk_backlog.append(skb)


def _do_time_wait(net: Net, tw: InetTimewaitSock, skb: SkBuff) -> int:
    """``tcp_v4_rcv``'s ``do_time_wait``: do what ``tcp_timewait_state_process`` decided. A new SYN goes to the
    listener, if there is one, and the TIME_WAIT sock gives way; else it is ACKed like any other."""
    verdict = tcp_timewait_state_process(tw, skb)
    if verdict == TCP_TW_SYN:
        m = skb.meta
        listener = net.tcp_lhash.get((m["daddr"], m["dport"])) or net.tcp_lhash.get(("0.0.0.0", m["dport"]))
        if listener is not None:
            inet_twsk_deschedule_put(tw)
            return handshake_rcv(listener, skb)
        verdict = TCP_TW_ACK
    if verdict == TCP_TW_ACK:
        tcp_v4_timewait_ack(tw, skb)
    elif verdict == TCP_TW_RST:
        tcp_v4_send_reset(None, skb, net)
    kfree_skb(skb)
    return 0


@kernel_function("net/ipv4/tcp_ipv4.c", "{tw.name}'s TIME_WAIT sock answers with an ACK")
def tcp_v4_timewait_ack(tw: InetTimewaitSock, skb: SkBuff) -> None:
    """``tcp_v4_send_ack`` from the per-CPU control socket: seq ``tw_snd_nxt``, ack ``tw_rcv_nxt``."""
    send_segment(tw.net, tcp_segment(tw.tw_rcv_saddr, tw.tw_num, tw.tw_daddr, tw.tw_dport, ("ACK",), tw.tw_snd_nxt,
                                     tw.tw_rcv_nxt))


@kernel_function("net/ipv4/tcp_ipv4.c", "{sk.name} is {sk.sk_state}: process {skb.name}")
def tcp_v4_do_rcv(sk: Sock, skb: SkBuff) -> int:
    """ESTABLISHED: the fast path ``tcp_rcv_established``; any other state: ``tcp_rcv_state_process``."""
    flags = skb.meta["flags"]
    if sk.sk_state == TCP_ESTABLISHED and "SYN" not in flags and "RST" not in flags:
        if rfs_needed():
            sock_rps_save_rxhash(sk, skb)
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
    queued without its header (``__skb_pull(skb, tcp_header_len)``, ``tcp_queue_rcv``), then ``tcp_data_ready``. A
    FIN takes the slow path: ``tcp_ack``, ``tcp_data_queue`` (→ ``tcp_fin``) and the ACK it makes due."""
    m = skb.meta
    tcp_header_len = TCP_HLEN
    if isinstance(sk, TcpSock) and "FIN" in m["flags"]:     # header prediction fails on a FIN: the slow path
        if "ACK" in m["flags"]:
            tcp_ack(sk, m["ack_seq"])
        tcp_data_queue(sk, skb)
        tcp_data_snd_check(sk)
        if sk.icsk_ack_pending:                             # tcp_ack_snd_check
            __tcp_ack_snd_check(sk)
        return
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
