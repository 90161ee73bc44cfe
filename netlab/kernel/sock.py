"""struct socket and struct sock: the receive queue, its memory accounting, and who waits on it.

Models include/net/sock.h and net/core/sock.c (Linux 6.12). ``struct socket`` (the file-facing half) owns the wait
queue (``socket_wq.wait``); ``struct sock`` (the protocol half) points at it through ``sk_wq``, so
``sk_sleep(sk)`` is the list a blocked reader or an epoll callback sits on. ``sock_def_readable`` is the default
``sk_data_ready``: when a packet is queued it wakes whatever waits there.
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Callable

from netlab.kernel.skbuff import SkBuff
from netlab.kernel.wait import WaitQueueHead, __wake_up_common
from netlab.trace import kernel_function

EPOLLIN = 0x001
EPOLLPRI = 0x002
EPOLLOUT = 0x004
EPOLLRDNORM = 0x040
EPOLLRDBAND = 0x080


@dataclass(eq=False)
class Sock:
    """``struct sock``: the receive queue, its byte budget (``sk_rcvbuf``) and the callbacks run on events."""

    name: str = "sk"
    protocol: str = "tcp"
    sk_state: str = "TCP_CLOSE"
    sk_rcvbuf: int = 212992
    sk_rmem_alloc: int = 0
    sk_drops: int = 0
    sk_receive_queue: deque = field(default_factory=deque)
    sk_wq: WaitQueueHead | None = None
    sk_data_ready: Callable[["Sock"], None] | None = None

    def __post_init__(self):
        if self.sk_data_ready is None:
            self.sk_data_ready = sock_def_readable

    def snapshot(self) -> dict:
        return {"queue": [s.name for s in self.sk_receive_queue], "rmem": self.sk_rmem_alloc,
                "rcvbuf": self.sk_rcvbuf, "drops": self.sk_drops,
                "waiters": self.sk_wq.snapshot() if self.sk_wq else []}


@dataclass(eq=False)
class Socket:
    """``struct socket``: what a file descriptor refers to; owns the wait queue and points at its ``sock``."""

    sk: Sock
    wq: WaitQueueHead = field(default_factory=lambda: WaitQueueHead("socket_wq.wait"))
    type: str = "SOCK_STREAM"

    def __post_init__(self):
        self.sk.sk_wq = self.wq


def sk_sleep(sk: Sock) -> WaitQueueHead:
    """The wait queue of the socket that owns ``sk`` (include/net/sock.h)."""
    if not isinstance(sk, Sock):
        raise TypeError("sk_sleep takes a Sock")
    if sk.sk_wq is None:
        raise ValueError(f"{sk.name} has no struct socket yet (a request or TIME_WAIT sock has none)")
    return sk.sk_wq


def skb_set_owner_r(skb: SkBuff, sk: Sock) -> None:
    """Charge ``skb.truesize`` to the socket's receive memory (include/net/sock.h)."""
    skb.meta["owner"] = sk.name
    sk.sk_rmem_alloc += skb.truesize


def sock_rfree(skb: SkBuff, sk: Sock) -> None:
    """Give the receive memory back when the reader consumed the skb (net/core/sock.c)."""
    sk.sk_rmem_alloc -= skb.truesize


@kernel_function("net/core/sock.c", "data is queued on {sk.name}: wake whoever waits on its socket")
def sock_def_readable(sk: Sock) -> None:
    """Default sk_data_ready: if the wait queue has sleepers, wake them with EPOLLIN (one exclusive waiter)."""
    wq = sk.sk_wq
    if wq is not None and wq.has_sleeper():
        __wake_up_common(wq, 1, EPOLLIN | EPOLLPRI | EPOLLRDNORM | EPOLLRDBAND)
