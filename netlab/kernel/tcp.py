"""A TCP connection's state changes and its end: ``tcp_set_state`` and ``tcp_done`` (net/ipv4/tcp.c, Linux 6.12).

Every state a closing connection passes goes through ``tcp_set_state``; entering TCP_CLOSE also takes the socket
out of the established hash (``unhash``) and gives its port back (``inet_put_port``: the bind bucket goes with its
last owner — unless a TIME_WAIT sock took the port over). ``tcp_done`` is how a connection ends for the full
socket: TCP_CLOSE, its timers stopped, both directions shut; a socket a process still holds wakes it
(``sk_state_change``), an orphan (closed by its process, ``SOCK_DEAD``) is destroyed (``inet_csk_destroy_sock``:
what is still queued is freed, then the socket).

The close itself is the process's (``tcp_close`` in :mod:`netlab.kernel.inet_stream`), the FIN is sent by
:mod:`netlab.kernel.tcp_output` and received by :mod:`netlab.kernel.tcp_input`; TIME_WAIT is
:mod:`netlab.kernel.tcp_minisocks` and :mod:`netlab.kernel.inet_timewait_sock`.
"""
from __future__ import annotations

from netlab import check
from netlab.kernel.inet_connection_sock import SEC, TcpSock, inet_put_port
from netlab.kernel.skbuff import __kfree_skb
from netlab.kernel.sock import SHUTDOWN_MASK, sk_free, sock_rfree
from netlab.trace import kernel_function

TCP_STATES = ("TCP_ESTABLISHED", "TCP_SYN_SENT", "TCP_SYN_RECV", "TCP_FIN_WAIT1", "TCP_FIN_WAIT2", "TCP_TIME_WAIT",
              "TCP_CLOSE", "TCP_CLOSE_WAIT", "TCP_LAST_ACK", "TCP_LISTEN", "TCP_CLOSING", "TCP_NEW_SYN_RECV")
"""include/net/tcp_states.h, in the kernel's order (TCP_ESTABLISHED = 1 … TCP_NEW_SYN_RECV = 12)."""


@kernel_function("net/ipv4/tcp.c", lambda sk, state: f"{sk.name}: {sk.sk_state} → {state}")
def tcp_set_state(sk: TcpSock, state: str) -> None:
    """Change the state; TCP_CLOSE first unhashes the socket and releases its port (``inet_put_port``)."""
    check.choice("state", state, TCP_STATES)
    if state == "TCP_CLOSE":
        net = sk.net
        if net.tcp_ehash.get(sk.four_tuple()) is sk:            # sk->sk_prot->unhash
            del net.tcp_ehash[sk.four_tuple()]
        if net.tcp_lhash.get((sk.inet_rcv_saddr, sk.inet_num)) is sk:    # a listener
            del net.tcp_lhash[sk.inet_rcv_saddr, sk.inet_num]
        if sk.icsk_bind_hash is not None:
            inet_put_port(sk)
    sk.sk_state = state


@kernel_function("net/ipv4/tcp.c", "{sk.name} is done: TCP_CLOSE")
def tcp_done(sk: TcpSock) -> None:
    """TCP_CLOSE, stop the timers (``tcp_clear_xmit_timers``), shut both directions; then wake the process that
    still holds the socket (``sk_state_change``), or destroy an orphan."""
    tcp_set_state(sk, "TCP_CLOSE")
    sched = sk.net.sched
    for timer in (sk.icsk_retransmit_timer, sk.icsk_delack_timer):
        if timer is not None:
            sched.del_timer(timer)
    sk.icsk_ack_pending = False
    sk.sk_shutdown = SHUTDOWN_MASK
    if "SOCK_DEAD" not in sk.sk_flags:
        sk.sk_state_change(sk)
    else:
        inet_csk_destroy_sock(sk)


@kernel_function("net/ipv4/inet_connection_sock.c", "{sk.name} is closed and orphaned: free it")
def inet_csk_destroy_sock(sk: TcpSock) -> None:
    """Free what is still queued (``sk_stream_kill_queues``: the receive, write and retransmit queues), then the
    socket itself (``sock_put`` → ``sk_free``: the tcp_sock goes back to its slab)."""
    for queue in (sk.sk_receive_queue, sk.sk_write_queue, sk.tcp_rtx_queue):
        while queue:
            skb = queue.popleft()
            if queue is sk.sk_receive_queue:
                sock_rfree(skb, sk)
            else:
                sk.sk_wmem_queued -= skb.truesize
            __kfree_skb(skb)
    sk.packets_out = 0
    sk_free(sk)


@check.arguments
def tcp_fin_time(sk: TcpSock) -> int:
    """include/net/tcp.h: how long an orphan may wait in FIN_WAIT2 for the peer's FIN — net.ipv4.tcp_fin_timeout
    (default TCP_FIN_TIMEOUT = TCP_TIMEWAIT_LEN, 60 s; TCP_LINGER2 is not modelled), at least 3.5 RTO."""
    rto = sk.icsk_rto_ns
    return max(sk.net.profile.tcp_timewait_s * SEC, (rto << 2) - (rto >> 1))
