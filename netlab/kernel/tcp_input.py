"""TCP receive: queueing what arrives in order, the peer's FIN, and the ACK it makes due.

Models net/ipv4/tcp_input.c (``tcp_queue_rcv``, ``tcp_data_ready``, ``tcp_data_queue``, ``tcp_fin``,
``__tcp_ack_snd_check``), Linux 6.12. The established fast path that calls the first two is
``tcp_rcv_established`` in :mod:`netlab.kernel.tcp_ipv4`; the state machine for every other state,
``tcp_rcv_state_process``, is in :mod:`netlab.kernel.tcp_handshake`.

A FIN is queued like data (it takes one sequence number, so ``rcv_nxt`` moves past it) and ``tcp_fin`` then
shuts the receive side: ``sk_shutdown |= RCV_SHUTDOWN``, ESTABLISHED → CLOSE_WAIT, and ``sk_state_change`` wakes
everyone waiting on the socket — a reader, or epoll, to whom ``tcp_poll`` now reports EPOLLIN | EPOLLRDHUP, and
``recv()`` returns 0 once the data before the FIN is read. The FIN's ACK is not sent at once: ``tcp_fin`` puts the
socket in ping-pong mode, so ``__tcp_ack_snd_check`` delays it (``tcp_send_delayed_ack``, 40 ms) — and if the
process closes in the meantime its FIN carries the ACK. In FIN_WAIT1 (both sides closed at once) the FIN is ACKed
at once and the state is CLOSING; in FIN_WAIT2 it is ACKed and the socket goes to TIME_WAIT.

Not modelled: the out-of-order queue (a segment beyond ``rcv_nxt`` is dropped), window and PAWS checks.
"""
from __future__ import annotations

from netlab.kernel.inet_connection_sock import TcpSock
from netlab.kernel.skbuff import SkBuff, __kfree_skb, skb_pull
from netlab.kernel.sock import RCV_SHUTDOWN, SHUTDOWN_MASK, Sock, skb_set_owner_r
from netlab.kernel.tcp import tcp_set_state
from netlab.kernel.tcp_minisocks import tcp_time_wait
from netlab.kernel.tcp_output import TCP_HLEN, tcp_send_ack, tcp_send_delayed_ack
from netlab.trace import kernel_function, trace_printk


def _seq(x: int) -> int:
    return x & 0xFFFFFFFF


@kernel_function("net/ipv4/tcp_input.c", "append {skb.name} to {sk.name}'s sk_receive_queue")
def tcp_queue_rcv(sk: Sock, skb: SkBuff) -> int:
    """``tcp_add_receive_queue`` and charge ``truesize`` to ``sk_rmem_alloc``; ``rcv_nxt`` moves to the segment's
    end (``tcp_rcv_nxt_update``). Returns 0 (not merged)."""
    if isinstance(sk, TcpSock) and "end_seq" in skb.meta:
        sk.rcv_nxt = _seq(skb.meta["end_seq"])
    sk.sk_receive_queue.append(skb)
    skb_set_owner_r(skb, sk)
    return 0


@kernel_function("net/ipv4/tcp_input.c", "tell {sk.name}'s readers data is there")
def tcp_data_ready(sk: Sock) -> None:
    """``sk->sk_data_ready(sk)`` (``sock_def_readable`` unless epoll or a protocol replaced it)."""
    sk.sk_data_ready(sk)


def _queue_text(sk: TcpSock, skb: SkBuff) -> str:
    return (f"{sk.name} ({sk.sk_state}): {skb.name}, seq {_seq(skb.meta['seq'])}, expected rcv_nxt "
            f"{_seq(sk.rcv_nxt)}")


@kernel_function("net/ipv4/tcp_input.c", _queue_text)
def tcp_data_queue(sk: TcpSock, skb: SkBuff) -> None:
    """The segment's data and FIN (``__skb_pull`` of the TCP header first): in order → ``tcp_queue_rcv``, then
    ``tcp_fin`` for a FIN and ``tcp_data_ready``; a retransmission of what we have → drop it and ACK at once
    (quick-ACK mode); beyond ``rcv_nxt`` → the out-of-order queue (not modelled: dropped)."""
    m = skb.meta
    seq, end_seq = _seq(m["seq"]), _seq(m.get("end_seq", m["seq"] + skb.len + ("FIN" in m["flags"])))
    if seq == end_seq:
        __kfree_skb(skb)
        return
    skb_pull(skb, TCP_HLEN)
    if seq == _seq(sk.rcv_nxt):
        tcp_queue_rcv(sk, skb)
        if "FIN" in m["flags"]:
            tcp_fin(sk)
        if "SOCK_DEAD" not in sk.sk_flags:
            tcp_data_ready(sk)
        return
    if ((_seq(sk.rcv_nxt) - end_seq) & 0xFFFFFFFF) < 0x80000000:      # !after(end_seq, rcv_nxt)
        trace_printk("a retransmission of what is queued already: drop it, ACK at once (tcp_enter_quickack_mode)")
        sk.icsk_ack_pending = sk.icsk_ack_quick = True
        __kfree_skb(skb)
        return
    trace_printk("beyond rcv_nxt: the out-of-order queue (not modelled): dropped")
    __kfree_skb(skb)


@kernel_function("net/ipv4/tcp_input.c", lambda sk: f"{sk.name} got the peer's FIN in {sk.sk_state}")
def tcp_fin(sk: TcpSock) -> None:
    """Shut the receive side (RCV_SHUTDOWN, SOCK_DONE), an ACK is due; ESTABLISHED → CLOSE_WAIT (ping-pong mode:
    the ACK may wait for our own FIN), FIN_WAIT1 → ACK, CLOSING, FIN_WAIT2 → ACK, TIME_WAIT. Then wake the
    process (``sk_state_change``) unless it has closed the socket."""
    sk.icsk_ack_pending = True                                  # inet_csk_schedule_ack
    sk.sk_shutdown |= RCV_SHUTDOWN
    sk.sk_flags.add("SOCK_DONE")
    state = sk.sk_state
    if state in ("TCP_SYN_RECV", "TCP_ESTABLISHED"):
        tcp_set_state(sk, "TCP_CLOSE_WAIT")
        sk.icsk_ack_quick = False                               # inet_csk_enter_pingpong_mode
    elif state == "TCP_FIN_WAIT1":
        tcp_send_ack(sk)
        tcp_set_state(sk, "TCP_CLOSING")
    elif state == "TCP_FIN_WAIT2":
        tcp_send_ack(sk)
        tcp_time_wait(sk, "TCP_TIME_WAIT", 0)
    elif state not in ("TCP_CLOSE_WAIT", "TCP_CLOSING", "TCP_LAST_ACK"):
        trace_printk(f"tcp_fin: Impossible, sk->sk_state={state}")
    if "SOCK_DEAD" not in sk.sk_flags:
        sk.sk_state_change(sk)
        trace_printk("sk_wake_async: POLL_HUP" if sk.sk_shutdown == SHUTDOWN_MASK or sk.sk_state == "TCP_CLOSE"
                     else "sk_wake_async: POLL_IN")


@kernel_function("net/ipv4/tcp_input.c", "{sk.name}: send the due ACK now, or delay it?")
def __tcp_ack_snd_check(sk: TcpSock) -> None:
    """ACK at once in quick-ACK mode (not ping-pong); otherwise ``tcp_send_delayed_ack``."""
    if sk.icsk_ack_quick:
        sk.icsk_ack_quick = False
        tcp_send_ack(sk)
    else:
        tcp_send_delayed_ack(sk)
