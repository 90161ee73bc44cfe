"""The process side of a TCP socket: reading, polling and accepting — where a process waits for the network.

Models the ``inet_stream_ops`` methods a process reaches through a socket (Linux 6.12): net/ipv4/af_inet.c
(``inet_recvmsg``, ``inet_accept``) and net/ipv4/tcp.c (``tcp_recvmsg``, ``tcp_recvmsg_locked``, ``tcp_poll``).
The accept queue and its wait (``inet_csk_accept``, ``inet_csk_wait_for_connect``) are chapter 05's
``netlab.kernel.inet_connection_sock``.

A read with nothing queued sleeps in ``sk_wait_data`` (non-exclusive, ``woken_wake_function``): every reader of
the socket is woken. ``accept`` sleeps with ``prepare_to_wait_exclusive``: one connection wakes one acceptor,
not the whole herd. Receive data is read whole segments at a time; a partial read leaves the rest queued.
"""
from __future__ import annotations

import errno
from dataclasses import dataclass
from typing import Callable

from netlab.kernel.fs import File, PollTable
from netlab.kernel.inet_connection_sock import inet_csk_accept, inet_csk_listen_poll
from netlab.kernel.sched import MAX_SCHEDULE_TIMEOUT
from netlab.kernel.skbuff import skb_pull
from netlab.kernel.sock import (EPOLLIN, EPOLLOUT, EPOLLRDHUP, EPOLLRDNORM, EPOLLWRNORM, MSG_DONTWAIT,
                                RCV_SHUTDOWN, Sock, Socket, sk_wait_data, sock_poll_wait, sock_rfree)
from netlab.kernel.tcp_ipv4 import TCP_LISTEN
from netlab.trace import kernel_function, trace_printk


@dataclass(frozen=True)
class ProtoOps:
    """``struct proto_ops``: the socket calls of one protocol family."""

    name: str
    poll: Callable
    recvmsg: Callable
    accept: Callable


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
    """Pass the read to the transport protocol."""
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


# --- accept ------------------------------------------------------------------------------------------------
@kernel_function("net/ipv4/af_inet.c", "inet_accept: sk->sk_prot->accept() = inet_csk_accept")
def inet_accept(sock: Socket, flags: int):
    """Take an established connection from the listener (a new ``struct sock``), or -errno."""
    newsk = yield from inet_csk_accept(sock.sk, flags)
    return -getattr(errno, newsk) if isinstance(newsk, str) else newsk  # the queue model names its errors


inet_stream_ops = ProtoOps("inet_stream_ops", poll=tcp_poll, recvmsg=inet_recvmsg, accept=inet_accept)
