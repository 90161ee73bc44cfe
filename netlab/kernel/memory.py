"""What data waiting in a TCP socket costs: its receive and send buffers.

Receive and send buffers are charged only while data waits (``sk_rmem_alloc``, ``sk_wmem_queued``, rounded to pages
by ``sk_forward_alloc``, net/core/sock.c ``__sk_mem_schedule``): :func:`queued_data_memory`. What a connection's
slab objects cost is chapter 06's lab, :mod:`netlab.scenarios.connection_memory`, on the packet-level kernel.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from netlab import check
from netlab.kernel.profiles import KernelProfile
from netlab.kernel.skbuff import SKB_DATA_ALIGN, SKB_TRUESIZE
from netlab.trace import kernel_function


# --------------------------------------------------------------------------------------------------------------
# Buffers: paid only while data waits

@kernel_function("net/core/sock.c", lambda size, page_size=4096: f"charge {size} B of skb truesize in whole pages")
def __sk_mem_schedule(size: int, page_size: int = 4096) -> int:
    """TCP charges queued data to the socket's forward allocation in pages (``sk_mem_pages``); the pages come
    from the protocol's pool (tcp_memory_allocated, /proc/net/sockstat "mem") and go back when the queue drains."""
    return -(-size // page_size)


@dataclass(frozen=True)
class QueuedData:
    """The memory behind ``payload`` unread (or unacknowledged) bytes: skbs, their truesize, pages charged."""

    payload: int
    skbs: int
    truesize: int
    pages: int
    page_size: int
    limit: int
    over_limit: bool

    @property
    def bytes(self) -> int:
        return self.pages * self.page_size


@check.arguments
def queued_data_memory(profile: KernelProfile, payload: int, per_skb: int = 65483, kind: str = "rmem") \
        -> QueuedData:
    """Memory for ``payload`` bytes waiting in a receive queue (``kind="rmem"``) or send queue (``"wmem"``),
    ``per_skb`` payload bytes per sk_buff (65483 on loopback with GSO, an MSS of 1448 on Ethernet). Each skb
    costs ``SKB_TRUESIZE`` (data + sk_buff + skb_shared_info); the socket is charged whole pages. Nothing is
    charged while nothing waits: an idle socket costs only its slab objects."""
    check.count("per_skb", per_skb, 1)
    if not isinstance(payload, int) or payload < 0:
        raise ValueError("payload must be an int >= 0 bytes")
    if kind not in ("rmem", "wmem"):
        raise ValueError("kind must be 'rmem' or 'wmem'")
    skbs = math.ceil(payload / per_skb)
    full, rest = divmod(payload, per_skb)
    truesize = full * SKB_TRUESIZE(SKB_DATA_ALIGN(per_skb)) + (SKB_TRUESIZE(SKB_DATA_ALIGN(rest)) if rest else 0)
    limit = profile.tcp_rmem[1] if kind == "rmem" else profile.tcp_wmem[1]     # the starting sk_rcvbuf, sk_sndbuf
    pages = __sk_mem_schedule(truesize, profile.page_size) if truesize else 0
    return QueuedData(payload, skbs, truesize, pages, profile.page_size, limit, truesize > limit)

