"""The TCP three-way handshake: listen(), connect(), SYN → SYN-ACK → ACK, accept(), and what happens when a
queue is full.

Models the handshake parts of net/socket.c (``__sys_listen``), net/ipv4/af_inet.c (``inet_listen``,
``__inet_stream_connect``), net/ipv4/tcp_ipv4.c (``tcp_v4_connect``, ``tcp_v4_conn_request``,
``tcp_v4_syn_recv_sock``, ``tcp_v4_send_synack``, ``tcp_v4_send_reset``), net/ipv4/tcp_input.c
(``tcp_rcv_state_process``, ``tcp_conn_request``, ``tcp_rcv_synsent_state_process``), net/ipv4/tcp_minisocks.c
(``tcp_check_req``, ``tcp_child_process``), net/ipv4/tcp_output.c (``tcp_connect``), net/ipv4/tcp_timer.c (SYN
retransmission) and net/ipv4/syncookies.c (Linux 6.12; the profile selects 3.10's differences). The queues
themselves are in :mod:`netlab.kernel.inet_connection_sock`; segments without data (``tcp_segment``,
``tcp_send_ack``) are :mod:`netlab.kernel.tcp_output`'s.

``tcp_rcv_state_process`` also takes the segments of a closing connection (FIN_WAIT1, FIN_WAIT2, CLOSING,
LAST_ACK, CLOSE_WAIT): ``tcp_ack``, the state our acknowledged FIN leads to, then the segment's FIN
(``tcp_data_queue`` → ``tcp_fin``, :mod:`netlab.kernel.tcp_input`); TIME_WAIT is :mod:`netlab.kernel.tcp_minisocks`.

What a segment passes through before and after (IP, the device, the NIC or loopback) is chapters 01, 03 and 04:
here a segment leaves through ``net.xmit`` and arrives in ``netlab.kernel.tcp_ipv4.tcp_v4_rcv`` (chapter 01),
which finds the socket and hands every one that is not ESTABLISHED to :func:`handshake_rcv` and a segment nobody
wants to :func:`no_socket`. Each received segment records what became of it in ``skb.meta["fate"]``.

Simplifications: no TCP options, windows or data; every SYN comes from a peer never seen before
(``tcp_peer_is_proven`` is false); no TCP_DEFER_ACCEPT, Fast Open or SO_REUSEPORT.
"""
from __future__ import annotations

import zlib
from dataclasses import dataclass
from typing import Callable

from netlab import check
from netlab.check import CInt, Port
from netlab.kernel.inet_connection_sock import (
    SEC, TCP_RTO_MAX, TCP_SYNCOOKIE_VALID, TCP_TIMEOUT_INIT, NET_INC_STATS, RequestSock, TcpSock, endpoint,
    __inet_inherit_port, __reqsk_free, find_request, inet_csk_complete_hashdance, inet_csk_listen_start,
    inet_csk_reqsk_queue_add, inet_csk_reqsk_queue_drop, inet_csk_reqsk_queue_hash_add, inet_csk_reqsk_queue_is_full,
    inet_reqsk_alloc, inet_rtx_syn_ack, reqsk_free, reqsk_put, reqsk_timeout, sk_acceptq_is_full)
from netlab.kernel.inet_hashtables import inet_hash_connect
from netlab.kernel.netns import Net
from netlab.kernel.skbuff import SkBuff, __kfree_skb, consume_skb, kfree_skb, skb_clone
from netlab.kernel.sched import TASK_INTERRUPTIBLE, get_current, running_profile, schedule_timeout
from netlab.kernel.sock import SEND_SHUTDOWN, sk_clone_lock, sk_sleep
from netlab.kernel.tcp import tcp_done, tcp_fin_time, tcp_set_state
from netlab.kernel.tcp_input import __tcp_ack_snd_check, tcp_data_queue
from netlab.kernel.tcp_minisocks import tcp_time_wait
from netlab.kernel.tcp_output import (send_segment, tcp_ack, tcp_clean_rtx_queue, tcp_connect_queue_skb,
                                      tcp_data_snd_check, tcp_segment, tcp_send_ack, tcp_stream_alloc_skb)
from netlab.kernel.timer import TimerList
from netlab.kernel.wait import (WaitQueueEntry, add_wait_queue, autoremove_wake_function, finish_wait,
                                prepare_to_wait, remove_wait_queue, wait_woken, woken_wake_function)
from netlab.trace import kernel_function, trace_printk

EINPROGRESS, ETIMEDOUT, ECONNREFUSED, ECONNRESET = "EINPROGRESS", "ETIMEDOUT", "ECONNREFUSED", "ECONNRESET"
FATES = ("queued", "answered", "cookie", "dropped", "refused",        # a SYN at the server
         "accepted", "overflow", "reset", "rst-sent",                 # the third ACK
         "established", "re-acked", "aborted", "ignored", "lost")     # everything else


@dataclass(frozen=True)
class RequestSockOps:
    """``struct request_sock_ops``: the slab cache its requests come from (``slab``, holding a ``struct``), and
    what the generic request code calls back into TCP for."""

    slab: str
    struct: str
    rtx_syn_ack: Callable
    send_reset: Callable
    syn_ack_timeout: Callable


# --- segments -------------------------------------------------------------------------------------------------

def _fate(skb: SkBuff, fate: str) -> None:
    if fate not in FATES:
        raise ValueError(f"unknown fate {fate!r}")
    skb.meta["fate"] = fate


def _secure_seq(net: Net, *four_tuple) -> int:
    """secure_tcp_seq(): a keyed hash of the 4-tuple plus a clock (here the net's random stream)."""
    return (zlib.crc32(f"{net.secret}/{four_tuple}".encode()) + net.rng.getrandbits(24)) & 0xFFFFFFFF


# --- listen() ---------------------------------------------------------------------------------------------------

@kernel_function("net/ipv4/af_inet.c", lambda sk, backlog: f"sk_max_ack_backlog = {backlog}")
def __inet_listen_sk(sk: TcpSock, backlog: CInt) -> int:
    """Store the backlog as sk_max_ack_backlog and start listening."""
    if sk.sk_state not in ("TCP_CLOSE", "TCP_LISTEN"):
        return -22  # EINVAL
    sk.sk_max_ack_backlog = backlog
    if sk.sk_state != "TCP_LISTEN":
        return inet_csk_listen_start(sk)
    return 0


@kernel_function("net/ipv4/af_inet.c")
def inet_listen(sk: TcpSock, backlog: CInt) -> int:
    """sock->ops->listen for TCP: lock the socket and call __inet_listen_sk."""
    return __inet_listen_sk(sk, backlog)


@kernel_function("net/socket.c",
                 lambda sk, backlog: f"listen(fd, {backlog}): clamp to net.core.somaxconn = {sk.net.profile.somaxconn}")
def __sys_listen_socket(sk: TcpSock, backlog: CInt) -> int:
    """Clamp the backlog to somaxconn (compared as unsigned: a negative backlog means somaxconn)."""
    somaxconn = sk.net.profile.somaxconn
    if backlog < 0 or backlog > somaxconn:
        backlog = somaxconn
    return inet_listen(sk, backlog)


@kernel_function("net/socket.c", "the listen() system call")
def __sys_listen(sk: TcpSock, backlog: CInt) -> int:
    """listen(fd, backlog): find the socket of the fd and make it a listener."""
    if not isinstance(sk, TcpSock):
        raise TypeError("listen() takes a TcpSock")
    if not isinstance(backlog, int) or isinstance(backlog, bool):
        raise TypeError("backlog must be an int")
    return __sys_listen_socket(sk, backlog)


# --- connect() and the client's side ------------------------------------------------------------------------------

@kernel_function("net/ipv4/af_inet.c", "connect(): send the SYN; the handshake goes on without this task (EINPROGRESS)")
def __inet_stream_connect(sk: TcpSock, daddr: str, dport: Port) -> str | int:
    """Call tcp_v4_connect; a non-blocking socket returns EINPROGRESS while the handshake runs."""
    err = tcp_v4_connect(sk, daddr, dport)
    if err:
        return err
    return EINPROGRESS if sk.sk_state == "TCP_SYN_SENT" else 0


@kernel_function("net/ipv4/af_inet.c", lambda sk, timeo: f"{sk.name}'s connect() blocks: sleep until the "
                                                         "handshake is done")
def inet_wait_for_connect(sk: TcpSock, timeo: int | None):
    """What a blocking connect() does once the SYN is out: sleep on the socket's wait queue while it is SYN_SENT
    or SYN_RECV, until ``sk_state_change`` (``tcp_rcv_synsent_state_process``) wakes it. Returns the time left.

    6.12 waits with ``woken_wake_function`` and ``wait_woken``; 3.10 with ``DEFINE_WAIT``, ``prepare_to_wait`` and
    ``schedule_timeout`` — the same change ``sk_wait_data`` went through, so the profile's ``sk_sleep_wake``
    decides for both.
    """
    me, wq = get_current(), sk_sleep(sk)
    connecting = ("TCP_SYN_SENT", "TCP_SYN_RECV")
    if running_profile().sk_sleep_wake == "autoremove_wake_function":
        wait = WaitQueueEntry(autoremove_wake_function, me, name=f"{me.comm} (connect)")
        prepare_to_wait(wq, wait, TASK_INTERRUPTIBLE)
        while sk.sk_state in connecting and timeo != 0:
            timeo = yield from schedule_timeout(timeo)
            prepare_to_wait(wq, wait, TASK_INTERRUPTIBLE)
        finish_wait(wq, wait)
        return timeo
    wait = WaitQueueEntry(woken_wake_function, me, name=f"{me.comm} (connect)")
    add_wait_queue(wq, wait)
    while sk.sk_state in connecting and timeo != 0:
        timeo = yield from wait_woken(wait, TASK_INTERRUPTIBLE, timeo)
    remove_wait_queue(wq, wait)
    return timeo


@kernel_function("net/ipv4/tcp_ipv4.c",
                 lambda sk, daddr, dport: f"connect to {daddr}:{dport}: TCP_SYN_SENT, pick a port, send the SYN")
def tcp_v4_connect(sk: TcpSock, daddr: str, dport: Port) -> int:
    """Route, set TCP_SYN_SENT, choose the local port (inet_hash_connect), choose the ISN, send the SYN."""
    net = sk.net
    sk.inet_daddr, sk.inet_dport = daddr, dport
    sk.sk_state = "TCP_SYN_SENT"
    err = inet_hash_connect(net, sk)
    if err:
        sk.sk_state = "TCP_CLOSE"
        sk.connect_errno = "EADDRNOTAVAIL"
        return err
    net.labels.setdefault((sk.inet_rcv_saddr, sk.inet_num), sk.name)
    if not sk.write_seq:                        # tcp_twsk_unique set it when it took over a TIME_WAIT sock
        sk.write_seq = _secure_seq(net, *sk.four_tuple())
    return tcp_connect(sk)


@kernel_function("net/ipv4/tcp_output.c", lambda sk: f"{sk.name} sends its SYN from port {sk.inet_num}; "
                                                      f"retransmit timer in {sk.icsk_rto_ns / SEC:g} s")
def tcp_connect(sk: TcpSock) -> int:
    """Build the SYN (seq = ISN) as an fclone that waits on the retransmit queue for its ACK, send a clone of it
    and arm the retransmit timer with the initial RTO (1 s)."""
    net = sk.net
    sk.snd_una = sk.write_seq
    sk.retrans_stamp = net.sched.clock
    buff = tcp_stream_alloc_skb(sk, "SYN")                   # an fclone: the SYN and the clone that leaves
    buff.meta.update(tcp_segment(sk.inet_rcv_saddr, sk.inet_num, sk.inet_daddr, sk.inet_dport, ("SYN",),
                                 sk.write_seq).meta, end_seq=sk.write_seq + 1, gso_segs=1)   # tcp_init_nondata_skb
    tcp_connect_queue_skb(sk, buff)
    sk.write_seq += 1
    sk.snd_nxt = sk.write_seq
    sk.icsk_rto_ns = TCP_TIMEOUT_INIT
    sk.icsk_retransmit_timer = TimerList(lambda t: tcp_write_timer_handler(t.data), name=f"rto {sk.name}", data=sk,
                                         host=net.host)
    send_segment(net, skb_clone(buff, "SYN"))                   # tcp_transmit_skb sends a clone
    net.sched.mod_timer(sk.icsk_retransmit_timer, net.sched.clock + sk.icsk_rto_ns)
    return 0


@kernel_function("net/ipv4/tcp_timer.c")
def tcp_write_timer_handler(sk: TcpSock) -> None:
    """The retransmit timer fired (TIMER_SOFTIRQ)."""
    if sk.sk_state == "TCP_SYN_SENT":
        tcp_retransmit_timer(sk)


def _retry_until(sk: TcpSock) -> int:
    return sk.icsk_syn_retries or sk.net.profile.tcp_syn_retries


@check.arguments
def tcp_model_timeout(boundary: int, rto_base: int) -> int:
    """How long ``boundary`` exponentially backed-off retransmissions take: (2^(boundary+1) - 1) × rto_base."""
    linear_backoff_thresh = (TCP_RTO_MAX // rto_base).bit_length() - 1     # ilog2
    if boundary <= linear_backoff_thresh:
        return ((2 << boundary) - 1) * rto_base
    return ((2 << linear_backoff_thresh) - 1) * rto_base + (boundary - linear_backoff_thresh) * TCP_RTO_MAX


@check.arguments
def retransmits_timed_out(sk: TcpSock, boundary: int) -> bool:
    """Has the time that ``boundary`` backed-off retransmissions would take passed since the first SYN?"""
    if not sk.icsk_retransmits:
        return False
    return sk.net.sched.clock - sk.retrans_stamp >= tcp_model_timeout(boundary, TCP_TIMEOUT_INIT)


def _write_timeout_text(sk: TcpSock) -> str:
    retry_until = _retry_until(sk)
    linear = sk.net.profile.tcp_syn_linear_timeouts
    return (f"{sk.name}: {sk.icsk_retransmits} SYN retransmits so far; give up after {retry_until + linear} "
            f"retransmissions, or {tcp_model_timeout(retry_until, TCP_TIMEOUT_INIT) // SEC} s after the first SYN")


@kernel_function("net/ipv4/tcp_timer.c", _write_timeout_text)
def tcp_write_timeout(sk: TcpSock) -> bool:
    """Give up? After tcp_syn_retries (TCP_SYNCNT) retransmissions + tcp_syn_linear_timeouts (6.5+), or once
    the time those retries would take with pure backoff, (2^(n+1) - 1) s, has passed — whichever comes first."""
    retry_until = _retry_until(sk)
    expired = sk.icsk_retransmits >= retry_until + sk.net.profile.tcp_syn_linear_timeouts
    if not expired:
        expired = retransmits_timed_out(sk, retry_until)
    if expired:
        tcp_write_err(sk)
    return expired


@kernel_function("net/ipv4/tcp_timer.c", lambda sk: f"{sk.name}: connect() fails with ETIMEDOUT")
def tcp_write_err(sk: TcpSock) -> None:
    """Report ETIMEDOUT to the user and close the socket (tcp_done)."""
    sk.sk_err = sk.connect_errno = ETIMEDOUT
    tcp_done(sk)


@kernel_function("net/ipv4/tcp_timer.c",
                 lambda sk: f"{sk.name}: no SYN-ACK within {sk.icsk_rto_ns / SEC:g} s — retransmit the SYN")
def tcp_retransmit_timer(sk: TcpSock) -> None:
    """Retransmit the SYN; back off (RTO doubles) — except the first tcp_syn_linear_timeouts times on 6.5+."""
    net = sk.net
    NET_INC_STATS(net, "TCPTimeouts")
    if tcp_write_timeout(sk):
        return
    sk.icsk_retransmits += 1          # tcp_update_rto_stats
    sk.total_rto += 1
    send_segment(net, skb_clone(sk.tcp_rtx_queue[0], "SYN"))     # tcp_retransmit_skb: a new clone of the SYN
    if sk.total_rto > net.profile.tcp_syn_linear_timeouts:
        sk.icsk_rto_ns = min(sk.icsk_rto_ns << 1, TCP_RTO_MAX)
    else:
        trace_printk(f"linear timeout {sk.total_rto} of {net.profile.tcp_syn_linear_timeouts}: RTO stays "
                     f"{sk.icsk_rto_ns / SEC:g} s")
    net.sched.mod_timer(sk.icsk_retransmit_timer, net.sched.clock + sk.icsk_rto_ns)


@kernel_function("net/ipv4/tcp_input.c")
def tcp_rcv_synsent_state_process(sk: TcpSock, skb: SkBuff) -> int:
    """SYN_SENT: a SYN-ACK for our SYN finishes the connect (and we ACK); a RST means nobody listens."""
    m = skb.meta
    if "ACK" in m["flags"] and m["ack_seq"] != sk.write_seq:
        _fate(skb, "ignored")
        return 0
    if "RST" in m["flags"]:
        _fate(skb, "refused")
        tcp_reset(sk, skb)
        return 0
    if "SYN" in m["flags"] and "ACK" in m["flags"]:
        sk.rcv_nxt = (m["seq"] + 1) & 0xFFFFFFFF
        tcp_clean_rtx_queue(sk, sk.write_seq)              # tcp_ack: the SYN is acknowledged, it goes
        sk.snd_una = m["ack_seq"]
        _fate(skb, "established")
        tcp_finish_connect(sk, skb)
        if "SOCK_DEAD" not in sk.sk_flags:
            sk.sk_state_change(sk)             # wake a blocking connect() (inet_wait_for_connect)
        tcp_send_ack(sk)
        return 0
    _fate(skb, "ignored")
    return 0


@kernel_function("net/ipv4/tcp_input.c",
                 lambda sk, skb: f"{sk.name} is ESTABLISHED: its connect() has succeeded")
def tcp_finish_connect(sk: TcpSock, skb: SkBuff) -> None:
    """TCP_ESTABLISHED, stop the SYN timer (the caller then wakes a connecting task: ``sk_state_change``)."""
    sk.sk_state = "TCP_ESTABLISHED"
    sk.connect_errno = "0"
    sk.net.sched.del_timer(sk.icsk_retransmit_timer)


@kernel_function("net/ipv4/tcp_input.c",
                 lambda sk: f"{sk.name} got a SYN-ACK again while ESTABLISHED: answer with an ACK")
def tcp_send_challenge_ack(sk: TcpSock) -> None:
    """RFC 5961: a SYN on an established connection is answered with an ACK (3.10: a dup-ACK, same effect)."""
    tcp_send_ack(sk)


@kernel_function("net/ipv4/tcp_input.c", lambda sk, skb: f"{sk.name} got a RST")
def tcp_reset(sk: TcpSock, skb: SkBuff) -> None:
    """A RST: ECONNREFUSED in SYN_SENT, ECONNRESET otherwise; the socket is done."""
    sk.sk_err = ECONNREFUSED if sk.sk_state == "TCP_SYN_SENT" else ECONNRESET
    if sk.connect_errno in (None, EINPROGRESS):
        sk.connect_errno = sk.sk_err
    tcp_done(sk)


# --- the server's side ------------------------------------------------------------------------------------------

@kernel_function("net/ipv4/tcp_input.c",
                 lambda sk, skb: f"{sk.name} in {sk.sk_state} receives {skb.name} from "
                                 f"{endpoint(sk.net, skb.meta['saddr'], skb.meta['sport'])}")
def tcp_rcv_state_process(sk: TcpSock, skb: SkBuff) -> str | None:
    """The TCP state machine for every state but ESTABLISHED; returns a drop reason when the caller must RST."""
    flags = skb.meta["flags"]
    if sk.sk_state == "TCP_LISTEN":
        if "ACK" in flags:
            _fate(skb, "rst-sent")
            return "TCP_FLAGS"          # an ACK for no request and no valid cookie: tcp_v4_do_rcv sends a RST
        if "SYN" in flags and "RST" not in flags:
            tcp_v4_conn_request(sk, skb)
            consume_skb(skb)            # the request sock has what it needs from the SYN
            return None
        if "RST" in flags:
            _fate(skb, "ignored")
        kfree_skb(skb)                  # discard
        return None
    if sk.sk_state == "TCP_SYN_SENT":
        tcp_rcv_synsent_state_process(sk, skb)
        (__kfree_skb if skb.meta.get("fate") == "established" else kfree_skb)(skb)
        return None
    if sk.sk_state == "TCP_SYN_RECV" and "ACK" in flags:
        sk.sk_state = "TCP_ESTABLISHED"   # tcp_ack() accepted the ACK: the child is established
        __kfree_skb(skb)                  # tcp_data_queue: no data (seq == end_seq)
        return None
    if sk.sk_state in CLOSING_STATES and "ACK" in flags:
        return _rcv_closing(sk, skb)
    _fate(skb, "ignored")
    kfree_skb(skb)
    return None


CLOSING_STATES = ("TCP_FIN_WAIT1", "TCP_FIN_WAIT2", "TCP_CLOSING", "TCP_LAST_ACK", "TCP_CLOSE_WAIT")
"""The states after a close() or the peer's FIN, whose segments ``tcp_rcv_state_process`` takes."""


def _rcv_closing(sk: TcpSock, skb: SkBuff) -> str | None:
    """``tcp_rcv_state_process`` from step 5 on, for the closing states: ``tcp_ack``; our FIN acknowledged moves
    FIN_WAIT1 → FIN_WAIT2 (an orphan: on to a FIN_WAIT2 TIME_WAIT sock, unless this segment brings the peer's
    FIN too), CLOSING → TIME_WAIT, LAST_ACK → CLOSE (``tcp_done``); then step 7, the segment's data and FIN
    (``tcp_data_queue``), and the ACK that makes due."""
    m, state = skb.meta, sk.sk_state
    tcp_ack(sk, m["ack_seq"])
    fin_acked = (sk.snd_una & 0xFFFFFFFF) == (sk.write_seq & 0xFFFFFFFF)
    _fate(skb, "established")
    if state == "TCP_FIN_WAIT1" and fin_acked:
        tcp_set_state(sk, "TCP_FIN_WAIT2")
        sk.sk_shutdown |= SEND_SHUTDOWN
        if "SOCK_DEAD" not in sk.sk_flags:
            sk.sk_state_change(sk)                     # wake a lingering close()
        else:
            tmo = tcp_fin_time(sk)
            if "FIN" in m["flags"]:
                trace_printk("the peer's FIN comes with the ACK: stay a full socket to process it "
                             "(inet_csk_reset_keepalive_timer)")
            else:
                tcp_time_wait(sk, "TCP_FIN_WAIT2", tmo)
                __kfree_skb(skb)
                return None
    elif state == "TCP_CLOSING" and fin_acked:
        tcp_time_wait(sk, "TCP_TIME_WAIT", 0)
        __kfree_skb(skb)
        return None
    elif state == "TCP_LAST_ACK" and fin_acked:
        tcp_done(sk)
        __kfree_skb(skb)
        return None
    if sk.sk_state in ("TCP_CLOSE_WAIT", "TCP_CLOSING", "TCP_LAST_ACK") and \
            ((m["seq"] - sk.rcv_nxt) & 0xFFFFFFFF) < 0x80000000:       # !before(seq, rcv_nxt)
        __kfree_skb(skb)                               # nothing new can follow the peer's FIN
    else:
        tcp_data_queue(sk, skb)
    if sk.sk_state != "TCP_CLOSE":
        tcp_data_snd_check(sk)
        if sk.icsk_ack_pending:
            __tcp_ack_snd_check(sk)
    return None


@kernel_function("net/ipv4/tcp_ipv4.c")
def tcp_v4_conn_request(sk: TcpSock, skb: SkBuff) -> int:
    """A SYN for a listener (icsk_af_ops->conn_request): hand it to tcp_conn_request."""
    return tcp_conn_request(tcp_request_sock_ops, sk, skb)


@kernel_function("net/ipv4/tcp_input.c",
                 lambda sk: "SYN queue full: " + ("send a SYN cookie (tcp_syncookies=1)"
                                                  if sk.net.profile.tcp_syncookies else
                                                  "drop the SYN (tcp_syncookies=0)"))
def tcp_syn_flood_action(sk: TcpSock) -> bool:
    """Decide between a SYN cookie and a drop ("Possible SYN flooding on port …" in the kernel log)."""
    if sk.net.profile.tcp_syncookies:
        NET_INC_STATS(sk.net, "TCPReqQFullDoCookies")
        return True
    NET_INC_STATS(sk.net, "TCPReqQFullDrop")
    return False


@check.arguments
def tcp_listendrop(sk: TcpSock) -> None:
    """include/net/tcp.h: sk_drops++ and ListenDrops++."""
    sk.sk_drops += 1
    NET_INC_STATS(sk.net, "ListenDrops")


@kernel_function("net/ipv4/tcp_input.c",
                 lambda ops, sk, skb: f"a SYN from {endpoint(sk.net, skb.meta['saddr'], skb.meta['sport'])}: "
                                      "check both queues, then answer with a SYN-ACK")
def tcp_conn_request(ops: RequestSockOps, sk: TcpSock, skb: SkBuff) -> int:
    """Check the SYN queue (→ cookie or drop) and the accept queue (→ drop), make a request, send the SYN-ACK.
    A request that is not queued (a cookie, a drop) is freed again before this returns."""
    net, profile = sk.net, sk.net.profile
    syncookies = net.profile.tcp_syncookies
    want_cookie = False
    if syncookies == 2 or inet_csk_reqsk_queue_is_full(sk):
        want_cookie = tcp_syn_flood_action(sk)
        if not want_cookie:
            return _drop(sk, skb)
    if sk_acceptq_is_full(sk):
        young = sk.icsk_accept_queue.young
        if profile.acceptq_full_syn_drop == "always" or young > 1:
            NET_INC_STATS(net, "ListenOverflows")
            return _drop(sk, skb)
        trace_printk(f"3.10: accept queue full, but {'no young request' if not young else '1 young request'} in the "
                     "SYN queue (it takes 2 to drop a SYN): the SYN is still answered")
    req = inet_reqsk_alloc(ops, sk, skb)
    req.syncookie = want_cookie
    if not want_cookie:
        max_syn_backlog = net.profile.tcp_max_syn_backlog
        if not syncookies and max_syn_backlog - sk.icsk_accept_queue.qlen < (max_syn_backlog >> 2):
            trace_printk(f"no cookies and fewer than tcp_max_syn_backlog/4 = {max_syn_backlog >> 2} slots left: "
                         "drop a SYN from an unproven peer")
            (__reqsk_free if profile.syn_queue == "ehash" else reqsk_free)(req)     # drop_and_free
            return _drop(sk, skb)
        req.snt_isn = _secure_seq(net, *req.key)
    else:
        req.snt_isn = cookie_init_sequence(sk, skb)
    if profile.syn_queue == "ehash":        # 6.12: queue the request, then send the SYN-ACK
        if not want_cookie:
            if not inet_csk_reqsk_queue_hash_add(sk, req, TCP_TIMEOUT_INIT):
                reqsk_free(req)
                return 0
            _fate(skb, "queued")
        tcp_v4_send_synack(sk, req)
        if want_cookie:
            _fate(skb, "cookie")
            reqsk_free(req)                 # a cookie keeps no request
            return 0
        reqsk_put(req)                      # the caller's reference: ehash and the timer hold it now
        return 0
    tcp_v4_send_synack(sk, req)             # 3.10: send first, then queue (or free the cookie request)
    if want_cookie:
        _fate(skb, "cookie")
        tcp_listendrop(sk)                  # 3.10 counts a cookie SYN-ACK as a ListenDrop (drop_and_free)
        reqsk_free(req)
        return 0
    inet_csk_reqsk_queue_hash_add(sk, req, TCP_TIMEOUT_INIT)
    _fate(skb, "queued")
    return 0


def _drop(sk: TcpSock, skb: SkBuff) -> int:
    _fate(skb, "dropped")
    trace_printk("the SYN is dropped: no SYN-ACK, the client will retransmit")
    tcp_listendrop(sk)
    return 0


def __cookie_v4_init_sequence(net: Net, key: tuple, minute: int) -> int:
    """The cookie: a keyed hash of the 4-tuple and a minute counter, so no state needs to be kept."""
    return zlib.crc32(f"cookie/{net.secret}/{key}/{minute}".encode()) & 0xFFFFFFFF


@kernel_function("include/net/tcp.h", "the ISN becomes a SYN cookie: no request is kept")
def cookie_init_sequence(sk: TcpSock, skb: SkBuff) -> int:
    """tcp_synq_overflow (remember when), SyncookiesSent++, and encode the connection in the ISN."""
    net, m = sk.net, skb.meta
    sk.last_synq_overflow_ns = net.sched.clock
    NET_INC_STATS(net, "SyncookiesSent")
    return __cookie_v4_init_sequence(net, (m["daddr"], m["dport"], m["saddr"], m["sport"]),
                                     net.sched.clock // (60 * SEC))


@kernel_function("net/ipv4/tcp_ipv4.c",
                 lambda sk, req: f"SYN-ACK to {req.name}" + (" (a SYN cookie)" if req.syncookie else ""))
def tcp_v4_send_synack(sk: TcpSock, req: RequestSock) -> int:
    """Build the SYN-ACK from the request (seq = our ISN, ack = client ISN + 1) and send it."""
    send_segment(sk.net, tcp_segment(req.ir_loc_addr, req.ir_num, req.ir_rmt_addr, req.ir_rmt_port, ("SYN", "ACK"),
                              req.snt_isn, req.rcv_isn + 1))
    return 0


@kernel_function("net/ipv4/tcp_output.c")
def tcp_rtx_synack(sk: TcpSock, req: RequestSock) -> int:
    """Retransmit a SYN-ACK (request_sock_ops.rtx_syn_ack)."""
    return tcp_v4_send_synack(sk, req)


@kernel_function("net/ipv4/tcp_timer.c",
                 lambda req: f"SYN-ACK of {req.name} unanswered (TCPTimeouts++)"
                             + (" — 3.10: found by the listener's 200 ms prune timer"
                                if req.rsk_listener.icsk_accept_queue.listen_opt is not None else ""))
def tcp_syn_ack_timeout(req: RequestSock) -> None:
    """request_sock_ops.syn_ack_timeout: count the timeout."""
    NET_INC_STATS(req.rsk_listener.net, "TCPTimeouts")


@kernel_function("net/ipv4/tcp_ipv4.c",
                 lambda sk, skb, net=None: "send a RST to "
                                           f"{endpoint(net or sk.net, skb.meta['saddr'], skb.meta['sport'])}")
def tcp_v4_send_reset(sk: TcpSock | None, skb: SkBuff, net: Net | None = None) -> None:
    """Answer ``skb`` with a RST (from the per-CPU control socket: no socket state needed)."""
    m = skb.meta
    net = net or sk.net
    if "ACK" in m["flags"]:
        seq, ack, flags = m["ack_seq"], 0, ("RST",)
    else:  # acknowledge everything the segment occupied: SYN, FIN and its data
        seq, flags = 0, ("RST", "ACK")
        ack = m["seq"] + ("SYN" in m["flags"]) + ("FIN" in m["flags"]) + m.get("payload", 0)
    send_segment(net, tcp_segment(m["daddr"], m["dport"], m["saddr"], m["sport"], flags, seq, ack))


tcp_request_sock_ops = RequestSockOps(slab="request_sock_TCP", struct="tcp_request_sock", rtx_syn_ack=tcp_rtx_synack,
                                      send_reset=tcp_v4_send_reset, syn_ack_timeout=tcp_syn_ack_timeout)


@kernel_function("net/ipv4/tcp_minisocks.c",
                 lambda sk, skb, req: f"{skb.name} from {req.name} matches its request")
def tcp_check_req(sk: TcpSock, skb: SkBuff, req: RequestSock) -> TcpSock | None:
    """A segment for a request: a retransmitted SYN gets the SYN-ACK again; the ACK makes the child socket."""
    m, net = skb.meta, sk.net
    if m["flags"] == ("SYN",) and m["seq"] == req.rcv_isn:
        _fate(skb, "answered")
        if inet_rtx_syn_ack(sk, req) == 0:
            _restart_synack_timer(sk, req)
        return None
    if "RST" in m["flags"]:
        _fate(skb, "aborted")
        inet_csk_reqsk_queue_drop(sk, req)
        return None
    if "ACK" not in m["flags"] or m["ack_seq"] != (req.snt_isn + 1) & 0xFFFFFFFF:
        _fate(skb, "ignored")
        return None
    child = tcp_v4_syn_recv_sock(sk, skb, req)
    if child is None:
        if not net.profile.tcp_abort_on_overflow:
            req.acked = True
            _fate(skb, "overflow")
            trace_printk("tcp_abort_on_overflow=0: the ACK is ignored, the request stays; a later SYN-ACK "
                         "retransmission makes the client ACK again")
            return None
        _fate(skb, "reset")
        req.rsk_ops.send_reset(sk, skb)
        if inet_csk_reqsk_queue_drop(sk, req):
            NET_INC_STATS(net, "EmbryonicRsts")
        return None
    _fate(skb, "accepted")
    return inet_csk_complete_hashdance(sk, child, req, True)


def _restart_synack_timer(sk: TcpSock, req: RequestSock) -> None:
    net = sk.net
    expires = net.sched.clock + reqsk_timeout(req, TCP_RTO_MAX)
    if req.rsk_timer is not None:
        if net.sched.timer_pending(req.rsk_timer):     # mod_timer_pending
            net.sched.mod_timer(req.rsk_timer, expires)
    else:
        req.expires_ns = expires


@kernel_function("net/ipv4/tcp_ipv4.c",
                 lambda sk, skb, req: f"the ACK from {req.name} completes the handshake: create the child socket?")
def tcp_v4_syn_recv_sock(sk: TcpSock, skb: SkBuff, req: RequestSock) -> TcpSock | None:
    """Make the child tcp_sock — unless the accept queue is full (ListenOverflows++, ListenDrops++) — on the
    listener's port (``__inet_inherit_port``), in the request's place in ehash."""
    if sk_acceptq_is_full(sk):
        NET_INC_STATS(sk.net, "ListenOverflows")
        tcp_listendrop(sk)
        return None
    child = tcp_create_openreq_child(sk, req, skb)
    __inet_inherit_port(sk, child)
    if sk.net.tcp_ehash.get(req.key) is req:    # inet_ehash_nolisten: the child replaces the request in ehash …
        req.rsk_refcnt -= 1                     # … and ehash's reference to the request goes (__sock_put)
    sk.net.tcp_ehash[req.key] = child
    return child


@kernel_function("net/ipv4/tcp_minisocks.c",
                 lambda sk, req, skb: f"clone the listener into the server's connection for {req.name}")
def tcp_create_openreq_child(sk: TcpSock, req: RequestSock, skb: SkBuff) -> TcpSock:
    """A full tcp_sock (slab TCP, ~2.3 KiB) in TCP_SYN_RECV, cloned from the listener (``inet_csk_clone_lock`` →
    ``sk_clone_lock``)."""
    return sk_clone_lock(sk, f"server's connection for {req.name}", sk_state="TCP_SYN_RECV",
                         inet_rcv_saddr=req.ir_loc_addr, inet_num=req.ir_num, inet_daddr=req.ir_rmt_addr,
                         inet_dport=req.ir_rmt_port, write_seq=req.snt_isn + 1, snd_una=req.snt_isn + 1,
                         snd_nxt=req.snt_isn + 1, rcv_nxt=req.rcv_isn + 1)


@kernel_function("net/ipv4/tcp_minisocks.c",
                 lambda parent, child, skb: f"{child.name}: SYN_RECV → ESTABLISHED; wake accept() on the listener")
def tcp_child_process(parent: TcpSock, child: TcpSock, skb: SkBuff) -> str | None:
    """Run the ACK through the child's state machine, then the listener's sk_data_ready (wakes accept/epoll)."""
    state = child.sk_state
    reason = tcp_rcv_state_process(child, skb)
    if state == "TCP_SYN_RECV" and child.sk_state != state:
        parent.sk_data_ready(parent)
    return reason


@kernel_function("net/ipv4/syncookies.c", lambda sk, skb: "an ACK for no request: is it a valid SYN cookie?")
def cookie_v4_check(sk: TcpSock, skb: SkBuff) -> TcpSock | None:
    """Rebuild the connection from the cookie in the ACK (a request sock again, for the child to be made from);
    the listener itself if it is no cookie (→ RST)."""
    net, m = sk.net, skb.meta
    if not net.profile.tcp_syncookies or "ACK" not in m["flags"] or "RST" in m["flags"]:
        return sk
    if sk.last_synq_overflow_ns is None or net.sched.clock - sk.last_synq_overflow_ns > TCP_SYNCOOKIE_VALID:
        trace_printk("no SYN cookie sent in the last 2 minutes: this ACK cannot be a cookie")
        return sk
    key = (m["daddr"], m["dport"], m["saddr"], m["sport"])
    minute = net.sched.clock // (60 * SEC)
    isn = (m["ack_seq"] - 1) & 0xFFFFFFFF
    if all(isn != __cookie_v4_init_sequence(net, key, minute - age) for age in range(3)):
        NET_INC_STATS(net, "SyncookiesFailed")
        return sk
    NET_INC_STATS(net, "SyncookiesRecv")
    req = inet_reqsk_alloc(tcp_request_sock_ops, sk, skb)      # 6.12: cookie_tcp_reqsk_alloc
    req.rcv_isn, req.snt_isn, req.syncookie = (m["seq"] - 1) & 0xFFFFFFFF, isn, True
    child = tcp_get_cookie_sock(sk, skb, req)
    _fate(skb, "accepted" if child is not None else "overflow")
    return child


@kernel_function("net/ipv4/syncookies.c")
def tcp_get_cookie_sock(sk: TcpSock, skb: SkBuff, req: RequestSock) -> TcpSock | None:
    """A valid cookie: create the child and queue it for accept() with its request (one reference: accept()'s) —
    if the accept queue has room; else the request is freed (3.10: ``reqsk_free``)."""
    child = tcp_v4_syn_recv_sock(sk, skb, req)
    counted = sk.net.profile.syn_queue == "ehash"
    if child is None:
        (__reqsk_free if counted else reqsk_free)(req)
        return None
    if counted:
        req.rsk_refcnt = 1
    return inet_csk_reqsk_queue_add(sk, req, child)


# --- the receive side's dispatch (the rest of tcp_v4_rcv and tcp_v4_do_rcv for these segments) -----------------

@check.arguments
def handshake_rcv(sk: TcpSock | RequestSock, skb: SkBuff) -> int:
    """What ``tcp_v4_rcv``/``tcp_v4_do_rcv`` do with a segment for a socket that is not ESTABLISHED.

    A request (6.12: found in ehash) → ``tcp_check_req``. A listener: 3.10 first looks for the request in its
    syn_table (``tcp_v4_hnd_req``); an ACK is checked as a SYN cookie; then ``tcp_rcv_state_process``, and a RST
    if it says so. A SYN_SENT client → ``tcp_rcv_state_process``. An ESTABLISHED socket gets here only for a SYN
    (answered with an ACK) or a RST.
    """
    if isinstance(sk, RequestSock):
        sk.rsk_refcnt += 1                          # 6.12: the lookup's reference …
        if _to_request(sk.rsk_listener, skb, sk) is None:
            reqsk_put(sk)                           # … dropped unless the request went to the accept queue
        return 0
    if not isinstance(sk, TcpSock):
        raise TypeError(f"{sk!r} is not a TCP socket of the handshake model")
    if sk.sk_state != "TCP_LISTEN":
        _to_connected(sk, skb)
        return 0
    m = skb.meta
    if sk.icsk_accept_queue.listen_opt is not None:
        req = find_request(sk, (m["daddr"], m["dport"], m["saddr"], m["sport"]))
        if req is not None:
            _to_request(sk, skb, req)
            return 0
    if "SYN" not in m["flags"]:
        nsk = cookie_v4_check(sk, skb)
        if nsk is None:
            kfree_skb(skb)
            return 0
        if nsk is not sk:
            tcp_child_process(sk, nsk, skb)
            return 0
    if tcp_rcv_state_process(sk, skb):
        tcp_v4_send_reset(sk, skb)
        kfree_skb(skb)
    return 0


@check.arguments
def no_socket(net: Net, skb: SkBuff) -> None:
    """What ``tcp_v4_rcv`` does with a segment for a port no socket has (``no_tcp_socket``): answer with a RST,
    unless the segment is itself a RST."""
    flags = skb.meta["flags"]
    _fate(skb, "refused" if "SYN" in flags else "ignored")
    if "RST" not in flags:
        tcp_v4_send_reset(None, skb, net)


def _to_request(listener: TcpSock, skb: SkBuff, req: RequestSock) -> TcpSock | None:
    """``tcp_check_req``, then the child (if one was made) processes the ACK; returns the child or None."""
    nsk = tcp_check_req(listener, skb, req)
    if nsk is not None and nsk is not listener:
        tcp_child_process(listener, nsk, skb)
    else:
        kfree_skb(skb)
    return nsk


def _to_connected(sk: TcpSock, skb: SkBuff) -> None:
    flags = skb.meta["flags"]
    if sk.sk_state == "TCP_SYN_SENT":
        tcp_rcv_state_process(sk, skb)
    elif "RST" in flags:
        _fate(skb, "aborted")
        tcp_reset(sk, skb)
        kfree_skb(skb)
    elif sk.sk_state == "TCP_ESTABLISHED" and "SYN" in flags:
        _fate(skb, "re-acked")
        tcp_send_challenge_ack(sk)
        kfree_skb(skb)
    elif sk.sk_state in CLOSING_STATES:
        tcp_rcv_state_process(sk, skb)
    else:
        _fate(skb, "ignored")
        kfree_skb(skb)
