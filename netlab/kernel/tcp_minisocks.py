"""TIME_WAIT for TCP: the full socket traded for a small one, and what that one does with a late segment.

Models net/ipv4/tcp_minisocks.c (``tcp_time_wait``, ``tcp_timewait_state_process``), Linux 6.12; the sock itself
and its timer are :mod:`netlab.kernel.inet_timewait_sock`.

``tcp_time_wait(sk, state, timeo)`` runs when an actively closed connection no longer needs its ``tcp_sock``:
after the peer's FIN in FIN_WAIT2 (``state`` TIME_WAIT, for TCP_TIMEWAIT_LEN = 60 s), or, for an orphan, already
when our FIN is acknowledged (``state`` FIN_WAIT2, for ``tcp_fin_time``: the peer's FIN is still due). The tw sock
takes the socket's place in the hash tables, then ``tcp_done`` frees the socket.

``tcp_timewait_state_process`` answers a segment that finds the tw sock: in substate FIN_WAIT2 the peer's FIN
moves it to TIME_WAIT (restarting the 60 s) and is ACKed; in TIME_WAIT a retransmitted FIN — our last ACK was
lost — is ACKed again and restarts the 60 s; a RST ends TIME_WAIT early (tcp_rfc1337 = 0). Its verdict tells
``tcp_v4_rcv`` what to send (``TCP_TW_ACK``, ``TCP_TW_RST``) or that a new SYN may reuse the 4-tuple
(``TCP_TW_SYN``). Not modelled: PAWS (timestamps) and the rate limit's sysctl (500 ms, fixed here).

``tcp_twsk_unique`` (net/ipv4/tcp_ipv4.c, kept here beside the TIME_WAIT it ends) decides whether ``connect()``
may take over a TIME_WAIT sock of its 4-tuple (:mod:`netlab.kernel.inet_hashtables`): only a sock with a
timestamp (``tw_ts_recent_stamp``), and, when connect() chose the port itself, only under ``tcp_tw_reuse`` once
that timestamp is old enough (the profile's ``tw_reuse_age``). The model's segments carry no options; both of its
ends are Linux with ``tcp_timestamps`` 1, so the stamp is the second of the peer's last segment, the one
``tcp_time_wait`` runs for. The new connection's first sequence number lies beyond the old one's
(``tw_snd_nxt + 65535 + 2``). Not modelled: a sock bound to ``lo`` (``tw_bound_dev_if``) counting as loopback.
"""
from __future__ import annotations

from netlab.kernel.inet_connection_sock import MS, SEC, TcpSock
from netlab.kernel.inet_timewait_sock import (InetTimewaitSock, inet_twsk_alloc, inet_twsk_deschedule_put,
                                              inet_twsk_hashdance_schedule, inet_twsk_reschedule, tcp_timewait_len,
                                              tw_buckets_full)
from netlab.kernel.skbuff import SkBuff
from netlab.kernel.tcp import tcp_done
from netlab.trace import kernel_function, trace_printk

TCP_TW_SUCCESS, TCP_TW_RST, TCP_TW_ACK, TCP_TW_SYN = "TCP_TW_SUCCESS", "TCP_TW_RST", "TCP_TW_ACK", "TCP_TW_SYN"
TCP_INVALID_RATELIMIT = 500 * MS       # net.ipv4.tcp_invalid_ratelimit default (HZ/2)


def _after(a: int, b: int) -> bool:
    """include/net/tcp.h ``after(a, b)``: is sequence number ``a`` later than ``b`` (modulo 2^32)?"""
    return ((b - a) & 0xFFFFFFFF) >= 0x80000000


@kernel_function("net/ipv4/tcp_minisocks.c",
                 lambda sk, state, timeo: f"{sk.name}: trade the tcp_sock for a TIME_WAIT sock "
                                          f"(substate {state})")
def tcp_time_wait(sk: TcpSock, state: str, timeo: int) -> None:
    """Allocate the tw sock, copy ``rcv_nxt``/``snd_nxt``, put it in the socket's place with a timer of ``timeo``
    (at least 3.5 RTO; TCP_TIMEWAIT_LEN for TIME_WAIT), then ``tcp_done`` the socket. With tcp_max_tw_buckets tw
    socks in use there is none ("TCP: time wait bucket table overflow"): the connection just ends, its port
    goes back at once."""
    full = sk.net.profile.twsk_timer == "inet_twdr_hangman" and tw_buckets_full(sk.net)   # 3.10 checks here
    tw = None if full else inet_twsk_alloc(sk, state)
    if tw is None:
        sk.net.snmp_inc("TCPTimeWaitOverflow")
        trace_printk("TCP: time wait bucket table overflow")
    else:
        tw.tw_rcv_nxt, tw.tw_snd_nxt = sk.rcv_nxt & 0xFFFFFFFF, sk.snd_nxt & 0xFFFFFFFF
        tw.tw_ts_recent_stamp = sk.net.sched.clock // SEC       # tp->rx_opt.ts_recent_stamp: see the module text
        rto = (sk.icsk_rto_ns << 2) - (sk.icsk_rto_ns >> 1)
        timeo = max(timeo, rto)
        if state == "TCP_TIME_WAIT":
            timeo = tcp_timewait_len(sk.net)
        inet_twsk_hashdance_schedule(tw, sk, timeo)
    tcp_done(sk)


def _unique_text(sk: TcpSock, tw: InetTimewaitSock, twp: bool) -> str:
    return (f"may {sk.name} take over {tw.name}'s TIME_WAIT sock? tcp_tw_reuse {sk.net.profile.tcp_tw_reuse}, its "
            f"timestamp from second {tw.tw_ts_recent_stamp}, now {sk.net.sched.clock // SEC}")


@kernel_function("net/ipv4/tcp_ipv4.c", _unique_text)
def tcp_twsk_unique(sk: TcpSock, tw: InetTimewaitSock, twp: bool) -> bool:
    """May ``sk`` take the 4-tuple of the TIME_WAIT sock ``tw``? ``twp`` is False for a socket bound to its port
    already (``__inet_hash_connect`` passes no ``twp``): then any sock with a timestamp is taken. Taking it sets
    ``sk.write_seq`` past the old connection's sequence space."""
    profile = sk.net.profile
    reuse, stamp, now = profile.tcp_tw_reuse, tw.tw_ts_recent_stamp, sk.net.sched.clock // SEC
    if profile.tw_reuse_age == "a later second":
        if tw.tw_substate == "TCP_FIN_WAIT2":
            reuse = 0
        if reuse == 2 and not (tw.tw_daddr.startswith("127.") or tw.tw_rcv_saddr.startswith("127.")):
            reuse = 0                                                # ipv4_is_loopback
        old_enough = stamp is not None and now > stamp             # time_after32(ktime_get_seconds(), stamp)
    else:
        old_enough = stamp is not None and now - stamp > 1          # 3.10: get_seconds() - stamp > 1
    if stamp is not None and (not twp or (reuse and old_enough)):
        sk.write_seq = (tw.tw_snd_nxt + 65535 + 2) & 0xFFFFFFFF or 1
        trace_printk(f"yes: {sk.name} starts at sequence {sk.write_seq}, past {tw.name}'s")
        return True
    return False


def _tw_text(tw: InetTimewaitSock, skb: SkBuff) -> str:
    return f"{skb.name} reaches {tw.name}'s TIME_WAIT sock (substate {tw.tw_substate})"


@kernel_function("net/ipv4/tcp_minisocks.c", _tw_text)
def tcp_timewait_state_process(tw: InetTimewaitSock, skb: SkBuff) -> str:
    """Decide what a segment for a TIME_WAIT sock gets: ``TCP_TW_ACK``, ``TCP_TW_RST``, ``TCP_TW_SYN`` or
    ``TCP_TW_SUCCESS`` (nothing: the segment is dropped)."""
    m, net = skb.meta, tw.net
    flags = m["flags"]
    seq, end_seq = m["seq"], m["end_seq"]
    rcv_nxt = tw.tw_rcv_nxt
    if tw.tw_substate == "TCP_FIN_WAIT2":
        if "RST" in flags:
            inet_twsk_deschedule_put(tw)
            return TCP_TW_SUCCESS
        if "SYN" in flags and not _after(rcv_nxt, seq):
            return TCP_TW_RST
        if "ACK" not in flags or not _after(end_seq, rcv_nxt) or end_seq == seq:
            return TCP_TW_SUCCESS                               # a duplicate ACK
        if "FIN" not in flags or end_seq != (rcv_nxt + 1) & 0xFFFFFFFF:
            trace_printk("new data after our close(): reset")
            return TCP_TW_RST
        tw.tw_substate = "TCP_TIME_WAIT"                        # the FIN: true TIME_WAIT
        tw.tw_rcv_nxt = end_seq
        trace_printk(f"the peer's FIN: {tw.name} is in TIME_WAIT now; ACK it")
        inet_twsk_reschedule(tw, tcp_timewait_len(net))
        return TCP_TW_ACK
    if seq == rcv_nxt and (seq == end_seq or "RST" in flags):  # in window: only a RST or a bare ACK
        if "RST" in flags:
            trace_printk("TIME_WAIT assassination (RFC 1337): tcp_rfc1337 = 0, so the RST ends TIME_WAIT")
            inet_twsk_deschedule_put(tw)
            return TCP_TW_SUCCESS
        inet_twsk_reschedule(tw, tcp_timewait_len(net))
        return TCP_TW_SUCCESS
    if "SYN" in flags and "RST" not in flags and "ACK" not in flags and _after(seq, rcv_nxt):
        trace_printk("a new SYN above the old connection's sequence numbers may reuse the 4-tuple")
        return TCP_TW_SYN
    if "RST" in flags:
        return TCP_TW_SUCCESS
    if "ACK" in flags:
        inet_twsk_reschedule(tw, tcp_timewait_len(net))
    trace_printk(f"{skb.name} is out of window (a retransmission: our last ACK was lost?): ACK it again")
    return tcp_timewait_check_oow_rate_limit(tw, skb)


@kernel_function("net/ipv4/tcp_minisocks.c", "out-of-window ACKs from {tw.name}: at most one per 500 ms")
def tcp_timewait_check_oow_rate_limit(tw: InetTimewaitSock, skb: SkBuff) -> str:
    """``tcp_oow_rate_limited``: ACK, unless an out-of-window ACK went out less than tcp_invalid_ratelimit ago."""
    now = tw.net.sched.clock
    if tw.tw_last_oow_ack_ns is not None and now - tw.tw_last_oow_ack_ns < TCP_INVALID_RATELIMIT:
        return TCP_TW_SUCCESS
    tw.tw_last_oow_ack_ns = now
    return TCP_TW_ACK
