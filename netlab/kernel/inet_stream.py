"""The process side of a TCP socket: reading, polling, accepting and closing — where a process meets the network.

Models the ``inet_stream_ops`` methods a process reaches through a socket (Linux 6.12): net/ipv4/af_inet.c
(``inet_create``, which ``socket(AF_INET, SOCK_STREAM)`` calls to give the new socket its tcp_sock, ``inet_recvmsg``,
``inet_accept``, ``inet_release``, ``inet_shutdown``) and net/ipv4/tcp.c (``tcp_recvmsg``,
``tcp_recvmsg_locked``, ``tcp_poll``, ``tcp_close``, ``__tcp_close``, ``tcp_close_state``, ``tcp_shutdown``).
The accept queue and its wait (``inet_csk_accept``, ``inet_csk_wait_for_connect``) are chapter 05's
``netlab.kernel.inet_connection_sock``.

close() ends with ``tcp_close``: the state moves by the ``new_state`` table (ESTABLISHED → FIN_WAIT1 and
CLOSE_WAIT → LAST_ACK send a FIN, ``tcp_send_fin``), the socket is orphaned (``sock_orphan``: no process, no
wait queue, SOCK_DEAD) and lives on in the kernel until the protocol is done with it. Unread data makes it a RST
instead (RFC 2525 2.17): the connection is dropped at once. An orphan already in FIN_WAIT2 becomes a TIME_WAIT sock
right away. No SO_LINGER (close() never waits).

A read with nothing queued sleeps in ``sk_wait_data`` (non-exclusive, ``woken_wake_function``): every reader of
the socket is woken. ``accept`` sleeps with ``prepare_to_wait_exclusive``: one connection wakes one acceptor,
not the whole herd. Receive data is read whole segments at a time; a partial read leaves the rest queued.
"""
from __future__ import annotations

import errno
from dataclasses import dataclass
from typing import Callable

from netlab import check
from netlab.kernel.dev import rfs_needed, sock_rps_record_flow
from netlab.kernel.fs import EPOLLIN, EPOLLOUT, EPOLLRDHUP, EPOLLRDNORM, EPOLLWRNORM, File, PollTable
from netlab.kernel.inet_connection_sock import TcpSock, inet_csk_accept, inet_csk_listen_poll, tcp_prot
from netlab.kernel.sched import MAX_SCHEDULE_TIMEOUT
from netlab.kernel.skbuff import __kfree_skb, skb_attempt_defer_free, skb_pull
from netlab.kernel.sock import (AF_INET, MSG_DONTWAIT, RCV_SHUTDOWN, SEND_SHUTDOWN, SHUTDOWN_MASK, Sock, Socket,
                                sk_alloc, sk_wait_data, sock_graft, sock_poll_wait, sock_register, sock_rfree)
from netlab.kernel.tcp import inet_csk_destroy_sock, tcp_fin_time, tcp_set_state
from netlab.kernel.tcp_ipv4 import TCP_LISTEN, tcp_v4_do_rcv
from netlab.kernel.tcp_minisocks import tcp_time_wait
from netlab.kernel.tcp_output import tcp_send_active_reset, tcp_send_fin
from netlab.trace import kernel_function, trace_printk
from netlab.units import plural


@dataclass(frozen=True)
class ProtoOps:
    """``struct proto_ops``: the socket calls of one protocol family."""

    name: str
    poll: Callable
    recvmsg: Callable
    accept: Callable
    release: Callable
    shutdown: Callable


def _readable_bytes(sk: Sock) -> int:
    return sum(skb.len for skb in sk.sk_receive_queue)


# --- poll --------------------------------------------------------------------------------------------------
@kernel_function("net/ipv4/tcp.c", lambda file, sock, wait: f"what can {sock.sk.name} do now? "
                 f"({_readable_bytes(sock.sk)} bytes queued)")
def tcp_poll(file: File, sock: Socket, wait: PollTable | None) -> int:
    """Offer the socket's wait queue to ``wait`` (``sock_poll_wait``), then report the ready events."""
    sock_poll_wait(file, sock, wait)
    sk = sock.sk
    if sk.sk_state == TCP_LISTEN:
        return inet_csk_listen_poll(sk)
    mask = 0
    if sk.sk_shutdown & RCV_SHUTDOWN:
        mask |= EPOLLIN | EPOLLRDNORM | EPOLLRDHUP
    if sk.sk_state not in ("TCP_SYN_SENT", "TCP_SYN_RECV", "TCP_CLOSE"):
        if sk.sk_receive_queue:
            mask |= EPOLLIN | EPOLLRDNORM
        mask |= EPOLLOUT | EPOLLWRNORM  # the model's send buffer always has room
    return mask


# --- recv --------------------------------------------------------------------------------------------------
@kernel_function("net/ipv4/af_inet.c", "inet_recvmsg: sk->sk_prot->recvmsg() = tcp_recvmsg")
def inet_recvmsg(sock: Socket, size: int, flags: int):
    """Record where the flow is read (RFS: ``sock_rps_record_flow``), pass the read to the transport protocol."""
    if rfs_needed():
        sock_rps_record_flow(sock.sk)
    return (yield from tcp_recvmsg(sock.sk, size, flags))


@kernel_function("net/ipv4/tcp.c", "tcp_recvmsg: lock the socket, read, release it")
def tcp_recvmsg(sk: Sock, len: int, flags: int):  # noqa: A002 (the kernel's parameter name)
    """``lock_sock``, ``tcp_recvmsg_locked``, ``release_sock``. Returns bytes read, 0 at EOF, or -errno."""
    return (yield from tcp_recvmsg_locked(sk, len, flags))


@kernel_function("net/ipv4/tcp.c", lambda sk, len, flags: f"copy up to {len} bytes from {sk.name}'s receive queue "
                 f"({_readable_bytes(sk)} queued)")
def tcp_recvmsg_locked(sk: Sock, len: int, flags: int):  # noqa: A002
    """Copy what is queued; with nothing queued, return -EAGAIN (non-blocking) or sleep in ``sk_wait_data``."""
    timeo = 0 if flags & MSG_DONTWAIT else MAX_SCHEDULE_TIMEOUT  # sock_rcvtimeo()
    target = 1  # sock_rcvlowat(): SO_RCVLOWAT defaults to 1 byte
    copied = 0
    while len > 0:
        while sk.sk_receive_queue and len > 0:
            skb = sk.sk_receive_queue[0]
            used = min(skb.len, len)
            if used == skb.len:
                sk.sk_receive_queue.popleft()
                sock_rfree(skb, sk)
                skb_attempt_defer_free(skb)             # tcp_eat_recv_skb
            else:
                skb_pull(skb, used)
            copied += used
            len -= used
        if copied:
            trace_printk(f"skb_copy_datagram_msg: {copied} bytes copied to user space, "
                         f"{_readable_bytes(sk)} left queued")
        if copied >= target:
            break
        if sk.sk_shutdown & RCV_SHUTDOWN:
            break
        if timeo == 0:
            trace_printk("nothing queued and the socket is non-blocking: -EAGAIN")
            return -errno.EAGAIN
        last = sk.sk_receive_queue[-1] if sk.sk_receive_queue else None
        _, timeo = yield from sk_wait_data(sk, timeo, last)
    return copied


# --- create and accept -------------------------------------------------------------------------------------
@kernel_function("net/ipv4/af_inet.c", "inet_create: the TCP sock for {sock.name} (sk_alloc), inet_stream_ops")
def inet_create(net: object, sock: Socket, protocol: int, kern: int) -> int:
    """``net_families[AF_INET]->create`` for SOCK_STREAM: ``sock->ops = inet_stream_ops``, ``sk_alloc(net,
    tcp_prot)`` (the tcp_sock), ``sock_init_data`` (the sock joins the socket). Returns 0."""
    sock.ops = inet_stream_ops
    sock_graft(sk_alloc(net, tcp_prot, sock.name), sock)
    return 0


@kernel_function("net/ipv4/af_inet.c", "inet_accept: sk->sk_prot->accept() = inet_csk_accept")
def inet_accept(sock: Socket, newsock: Socket, flags: int):
    """Take an established connection from the listener and graft it onto ``newsock`` (``sock_graft``). Returns
    0 or -errno."""
    newsk = yield from inet_csk_accept(sock.sk, flags)
    if isinstance(newsk, str):
        return -getattr(errno, newsk)  # the queue model names its errors
    sock_graft(newsk, newsock)
    return 0


# --- close and shutdown ------------------------------------------------------------------------------------
@kernel_function("net/ipv4/af_inet.c", "inet_release: sk->sk_prot->close() = tcp_close")
def inet_release(sock: Socket) -> int:
    """Close the protocol side (no SO_LINGER: timeout 0) and detach the ``sock`` from the ``socket``."""
    sk = sock.sk
    if sk is not None:
        tcp_close(sk, 0)
        sock.sk = None
    return 0


@kernel_function("net/ipv4/tcp.c", "close {sk.name} (in {sk.sk_state})")
def tcp_close(sk: TcpSock, timeout: int) -> None:
    """``lock_sock``, ``__tcp_close``, ``release_sock``, ``sock_put``."""
    sk.sock_owned_by_user = True                    # lock_sock
    __tcp_close(sk, timeout)
    release_sock(sk)


@check.arguments
def release_sock(sk: TcpSock) -> None:
    """net/core/sock.c: run what softirq queued on the backlog meanwhile (``__release_sock``), then unlock."""
    if sk.sk_backlog:
        __release_sock(sk)
    sk.sock_owned_by_user = False


@kernel_function("net/core/sock.c", lambda sk: f"{sk.name}: process the {plural(len(sk.sk_backlog), 'segment')} "
                 "that arrived while the socket was locked")
def __release_sock(sk: TcpSock) -> None:
    """``sk_backlog_rcv`` (``tcp_v4_do_rcv``) for each segment of the backlog, in order."""
    while sk.sk_backlog:
        tcp_v4_do_rcv(sk, sk.sk_backlog.popleft())


NEW_STATE = {
    "TCP_ESTABLISHED": ("TCP_FIN_WAIT1", True), "TCP_SYN_SENT": ("TCP_CLOSE", False),
    "TCP_SYN_RECV": ("TCP_FIN_WAIT1", True), "TCP_FIN_WAIT1": ("TCP_FIN_WAIT1", False),
    "TCP_FIN_WAIT2": ("TCP_FIN_WAIT2", False), "TCP_TIME_WAIT": ("TCP_CLOSE", False),
    "TCP_CLOSE": ("TCP_CLOSE", False), "TCP_CLOSE_WAIT": ("TCP_LAST_ACK", True),
    "TCP_LAST_ACK": ("TCP_LAST_ACK", False), "TCP_LISTEN": ("TCP_CLOSE", False),
    "TCP_CLOSING": ("TCP_CLOSING", False), "TCP_NEW_SYN_RECV": ("TCP_CLOSE", False),
}
"""net/ipv4/tcp.c ``new_state``: the state a close (or shutdown) moves to, and whether it sends a FIN
(``TCP_ACTION_FIN``)."""


@kernel_function("net/ipv4/tcp.c", lambda sk: f"{sk.name}: {sk.sk_state} → {NEW_STATE[sk.sk_state][0]}"
                 + (" and send a FIN" if NEW_STATE[sk.sk_state][1] else ""))
def tcp_close_state(sk: TcpSock) -> bool:
    """Move to the state ``new_state`` names; True if that state needs our FIN."""
    state, action_fin = NEW_STATE[sk.sk_state]
    tcp_set_state(sk, state)
    return action_fin


@kernel_function("net/ipv4/tcp.c", "shut {sk.name} down both ways, FIN (or RST), orphan it")
def __tcp_close(sk: TcpSock, timeout: int) -> None:
    """``sk_shutdown = SHUTDOWN_MASK``; flush the receive queue; unread data → TCP_CLOSE and a RST
    (``tcp_send_active_reset``, TCPAbortOnClose), else ``tcp_close_state`` and maybe ``tcp_send_fin``. Then
    ``sock_orphan``: the process lets go; an orphan in FIN_WAIT2 becomes a TIME_WAIT sock (``tcp_time_wait``), one in
    TCP_CLOSE is destroyed."""
    sk.sk_shutdown = SHUTDOWN_MASK
    if sk.sk_state == TCP_LISTEN:
        tcp_set_state(sk, "TCP_CLOSE")
        trace_printk("inet_csk_listen_stop: the requests and unaccepted children are dropped (not modelled)")
    else:
        data_was_unread = False
        while sk.sk_receive_queue:
            skb = sk.sk_receive_queue.popleft()
            data_was_unread |= skb.len > 0          # the FIN's sequence number is no data
            sock_rfree(skb, sk)
            __kfree_skb(skb)
        if sk.sk_state == "TCP_CLOSE":
            trace_printk("reset already (tcp_reset): nothing to send")
        elif data_was_unread:
            trace_printk("unread data was thrown away: reset the connection (RFC 2525 2.17), TCPAbortOnClose")
            sk.net.snmp_inc("TCPAbortOnClose")
            tcp_set_state(sk, "TCP_CLOSE")
            tcp_send_active_reset(sk)
        elif tcp_close_state(sk):
            tcp_send_fin(sk)
    state = sk.sk_state
    sock_orphan(sk)
    if sk.sk_backlog:
        __release_sock(sk)                          # remove the backlog, still owning the socket
    if state != "TCP_CLOSE" and sk.sk_state == "TCP_CLOSE":
        return                                      # destroyed meanwhile
    if sk.sk_state == "TCP_FIN_WAIT2":
        tcp_time_wait(sk, "TCP_FIN_WAIT2", tcp_fin_time(sk))
        return
    if sk.sk_state == "TCP_CLOSE":
        inet_csk_destroy_sock(sk)


@check.arguments
def sock_orphan(sk: TcpSock) -> None:
    """include/net/sock.h: SOCK_DEAD, and the sock forgets its ``socket`` and wait queue: no process will be woken
    for it again."""
    sk.sk_flags.add("SOCK_DEAD")
    sk.sk_socket = None
    sk.sk_wq = None
    trace_printk(f"sock_orphan: {sk.name} belongs to no process now (SOCK_DEAD)")


@kernel_function("net/ipv4/af_inet.c", "shutdown({sock.sk.name}, how={how})")
def inet_shutdown(sock: Socket, how: int) -> int:
    """``shutdown(2)``: SHUT_RD = 0, SHUT_WR = 1, SHUT_RDWR = 2 become RCV_SHUTDOWN/SEND_SHUTDOWN bits; TCP sends
    its FIN for SEND_SHUTDOWN (``tcp_shutdown``); the socket's waiters are woken."""
    if how not in (0, 1, 2):
        return -errno.EINVAL
    sk = sock.sk
    how += 1
    sk.sk_shutdown |= how
    if sk.sk_state not in ("TCP_CLOSE", "TCP_SYN_SENT", TCP_LISTEN):
        sk.sock_owned_by_user = True                # lock_sock
        tcp_shutdown(sk, how)
        release_sock(sk)
    sk.sk_state_change(sk)
    return 0


@kernel_function("net/ipv4/tcp.c", "{sk.name}: shut the sending side: FIN")
def tcp_shutdown(sk: TcpSock, how: int) -> None:
    """With SEND_SHUTDOWN in ESTABLISHED, SYN_SENT or CLOSE_WAIT: ``tcp_close_state`` and maybe ``tcp_send_fin`` —
    the socket stays the process's (not orphaned)."""
    if not how & SEND_SHUTDOWN:
        return
    if sk.sk_state in ("TCP_ESTABLISHED", "TCP_SYN_SENT", "TCP_CLOSE_WAIT"):
        if tcp_close_state(sk):
            tcp_send_fin(sk)


inet_stream_ops = ProtoOps("inet_stream_ops", poll=tcp_poll, recvmsg=inet_recvmsg, accept=inet_accept,
                           release=inet_release, shutdown=inet_shutdown)


def inet_init() -> None:
    """net/ipv4/af_inet.c ``inet_init``, a boot-time initcall: AF_INET registers how its sockets are created
    (``sock_register(&inet_family_ops)``). A host runs it when it boots."""
    sock_register(AF_INET, inet_create)
