"""struct sk_buff: the packet descriptor, its data buffer, and clone vs copy.

Models include/linux/skbuff.h and net/core/skbuff.c (Linux 6.12). Offsets ``data``, ``tail`` and ``end`` are
counted from ``head`` as on 64-bit kernels. ``struct skb_shared_info`` sits at ``head + end`` and is shared by
every clone: ``skb_clone`` copies only the sk_buff head (``dataref``++), ``skb_copy`` copies the data too.
``truesize`` is what a socket is charged: ``SKB_TRUESIZE(X) = X + SKB_DATA_ALIGN(sizeof(struct sk_buff)) +
SKB_DATA_ALIGN(sizeof(struct skb_shared_info))``.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from netlab import check
from netlab.kernel.copies import account_copy, account_head
from netlab.kernel.slub import SIZEOF_6_12
from netlab.trace import kernel_function

SMP_CACHE_BYTES = 64
SIZEOF_SK_BUFF = SIZEOF_6_12["sk_buff"]
SIZEOF_SKB_SHARED_INFO = 320  # with MAX_SKB_FRAGS = 17
MAX_SKB_FRAGS = 17            # CONFIG_MAX_SKB_FRAGS default (net/Kconfig)
FCLONE_UNAVAILABLE, FCLONE_ORIG, FCLONE_CLONE = "unavailable", "orig", "clone"
CLONED = " (clone)"
"""What a clone's name adds to its original's (``request (clone)``) unless ``skb_clone``'s caller names it."""


@check.arguments
def SKB_DATA_ALIGN(x: int) -> int:  # noqa: N802 (the kernel's macro name)
    return (x + SMP_CACHE_BYTES - 1) // SMP_CACHE_BYTES * SMP_CACHE_BYTES


@check.arguments
def SKB_TRUESIZE(x: int) -> int:  # noqa: N802
    return x + SKB_DATA_ALIGN(SIZEOF_SK_BUFF) + SKB_DATA_ALIGN(SIZEOF_SKB_SHARED_INFO)


@dataclass
class SkbSharedInfo:
    """The part after the linear data: paged fragments, GSO size, and how many sk_buffs share this data."""

    dataref: int = 1
    frags: list[int] = field(default_factory=list)  # bytes in each page fragment
    gso_size: int = 0
    freed: bool = False
    frag_pages: list[str] = field(default_factory=list)  # which page each fragment points into
    flags: set[str] = field(default_factory=set)        # SKBFL_* (SKBFL_SHARED_FRAG, SKBFL_ZEROCOPY_ENABLE)

    def __post_init__(self):
        check.fields(self)

    @property
    def nr_frags(self) -> int:
        return len(self.frags)


@dataclass(eq=False)
class SkBuff:
    """One sk_buff. ``meta`` carries the protocol fields a model needs (addresses, ports, seq, flags…)."""

    end: int                      # size of the linear buffer; skb_shared_info follows it
    name: str = "skb"
    data: int = 0
    tail: int = 0
    len: int = 0
    data_len: int = 0             # bytes in page frags (the non-linear part)
    network_header: int = 0       # where the IP header starts (an offset from head, like data)
    transport_header: int = 0     # where the TCP/UDP header starts
    truesize: int = 0
    users: int = 1
    cloned: bool = False
    fclone: str = FCLONE_UNAVAILABLE
    shinfo: SkbSharedInfo = field(default_factory=SkbSharedInfo)
    meta: dict = field(default_factory=dict)
    freed: bool = False

    head = 0  # offsets are from head

    def __post_init__(self):
        check.fields(self)

    @property
    def headroom(self) -> int:
        return self.data

    @property
    def tailroom(self) -> int:
        return self.end - self.tail

    def snapshot(self) -> "SkbState":
        return SkbState(self.name, self.len, self.data_len, self.truesize, self.users, self.cloned, self.freed,
                        self.shinfo.dataref, self.shinfo.nr_frags, tuple(self.shinfo.frag_pages))


@dataclass(frozen=True)
class SkbState:
    """An ``sk_buff`` head at a step: its lengths, ``users``, whether it is a clone or freed, and the shared data
    it points at (``dataref``: how many heads share it; the pages of its fragments)."""

    name: str
    len: int
    data_len: int
    truesize: int
    users: int
    cloned: bool
    freed: bool
    dataref: int
    nr_frags: int
    frag_pages: tuple[str, ...]


def _check_size(what: str, n: int, limit: int | None = None) -> None:
    if not isinstance(n, int) or isinstance(n, bool) or n < 0:
        raise ValueError(f"{what} must be an int >= 0, got {n!r}")
    if limit is not None and n > limit:
        raise ValueError(f"{what} {n} does not fit: only {limit} bytes of room")


@kernel_function("net/core/skbuff.c", "allocate an sk_buff head and a {size}-byte data buffer")
def __alloc_skb(size: int, fclone: bool = False, name: str = "skb") -> SkBuff:
    """Allocate an sk_buff head (from skbuff_cache, or skbuff_fclone_cache with room for one clone) and data."""
    _check_size("size", size)
    skb = SkBuff(end=size, name=name, truesize=SKB_TRUESIZE(SKB_DATA_ALIGN(size)))
    if fclone:
        skb.fclone = FCLONE_ORIG
    return skb


@check.arguments
def alloc_skb(size: int, name: str = "skb") -> SkBuff:
    """include/linux/skbuff.h: ``alloc_skb`` is an inline wrapper of ``__alloc_skb``."""
    return __alloc_skb(size, False, name)


@check.arguments
def alloc_skb_fclone(size: int, name: str = "skb") -> SkBuff:
    """include/linux/skbuff.h: an skb whose first clone comes from the same fclone slab object (TCP send)."""
    return __alloc_skb(size, True, name)


@check.arguments
def skb_reserve(skb: SkBuff, length: int) -> None:
    """Leave ``length`` bytes of headroom in an empty skb (include/linux/skbuff.h)."""
    _check_size("length", length, skb.tailroom)
    skb.data += length
    skb.tail += length


@check.arguments
def skb_put(skb: SkBuff, length: int) -> int:
    """Extend the data at the tail; returns the offset where the new bytes go (net/core/skbuff.c)."""
    _check_size("length", length, skb.tailroom)
    start = skb.tail
    skb.tail += length
    skb.len += length
    return start


@check.arguments
def skb_push(skb: SkBuff, length: int) -> int:
    """Prepend a header into the headroom; returns the new ``data`` (net/core/skbuff.c)."""
    _check_size("length", length, skb.headroom)
    skb.data -= length
    skb.len += length
    return skb.data


@check.arguments
def skb_pull(skb: SkBuff, length: int) -> int:
    """Strip a header from the front, as each layer does on receive; returns the new ``data``."""
    _check_size("length", length, skb.len - skb.data_len)
    skb.data += length
    skb.len -= length
    return skb.data


@check.arguments
def skb_reset_network_header(skb: SkBuff) -> None:
    """include/linux/skbuff.h: the network header starts at ``data`` (``__netif_receive_skb_core`` on receive)."""
    skb.network_header = skb.data


@check.arguments
def skb_network_header_len(skb: SkBuff) -> int:
    """include/linux/skbuff.h: the IP header's length, ``transport_header - network_header``."""
    return skb.transport_header - skb.network_header


@check.arguments
def skb_add_frag(skb: SkBuff, length: int, page: str | None = None) -> None:
    """Attach a page fragment of ``length`` bytes (the paged data TCP copies user data into) in ``page``."""
    _check_size("length", length)
    if skb.shinfo.nr_frags >= MAX_SKB_FRAGS:
        raise ValueError(f"an skb holds at most MAX_SKB_FRAGS = {MAX_SKB_FRAGS} page fragments")
    if page is not None and (not isinstance(page, str) or not page):
        raise ValueError("page must be a non-empty str naming the page, or None")
    skb.shinfo.frags.append(length)
    skb.shinfo.frag_pages.append(page or f"page {skb.shinfo.nr_frags}")
    skb.len += length
    skb.data_len += length
    skb.truesize += length


@kernel_function("net/core/skbuff.c", "clone {skb.name}: copy the sk_buff head only, share the data")
def skb_clone(skb: SkBuff, name: str | None = None) -> SkBuff:
    """Clone: a new sk_buff head pointing at the same data (``dataref`` + 1). Nothing of the payload is copied."""
    _alive(skb)
    clone = SkBuff(end=skb.end, name=name or skb.name + CLONED, data=skb.data, tail=skb.tail, len=skb.len,
                   data_len=skb.data_len, network_header=skb.network_header,
                   transport_header=skb.transport_header, truesize=skb.truesize, cloned=True, shinfo=skb.shinfo,
                   meta=dict(skb.meta))
    if skb.fclone == FCLONE_ORIG:
        clone.fclone = FCLONE_CLONE
    skb.cloned = True
    skb.shinfo.dataref += 1
    account_head(SIZEOF_SK_BUFF, "skb_clone", skb.name)
    return clone


@kernel_function("net/core/skbuff.c", "copy {skb.name}: a new head and a private copy of all its data")
def skb_copy(skb: SkBuff, name: str | None = None) -> SkBuff:
    """Deep copy: head and data (linear and paged) into one new linear buffer."""
    _alive(skb)
    copy = SkBuff(end=skb.end + skb.data_len, name=name or skb.name + "*", data=skb.data,
                  tail=skb.tail + skb.data_len, len=skb.len, network_header=skb.network_header,
                  transport_header=skb.transport_header, truesize=SKB_TRUESIZE(SKB_DATA_ALIGN(skb.end +
                  skb.data_len)), meta=dict(skb.meta))
    account_copy(skb.len, "skb_copy", skb.name, copy.name)
    return copy


@kernel_function("include/linux/skbuff.h", "take another reference to {skb.name}")
def skb_get(skb: SkBuff) -> SkBuff:
    """``users`` + 1: one more holder of the same sk_buff (as a packet tap does)."""
    _alive(skb)
    skb.users += 1
    return skb


def _release(skb: SkBuff) -> bool:
    """Drop one user; free the head at zero users and the data when no clone shares it. True if freed."""
    _alive(skb)
    skb.users -= 1
    if skb.users:
        return False
    skb.freed = True
    skb.shinfo.dataref -= 1
    if skb.shinfo.dataref == 0:
        skb.shinfo.freed = True
    return True


@kernel_function("include/linux/skbuff.h", "drop {skb.name} (an error or a full queue)")
def kfree_skb(skb: SkBuff) -> bool:
    """Free an skb that was dropped; the data goes only when its last clone goes."""
    return _release(skb)


@kernel_function("net/core/skbuff.c", lambda skb: f"drop one reference to {skb.name}: others still hold it, so "
                 f"{skb.name} goes on (not freed)" if skb.users > 1 else
                 f"free {skb.name}: it was delivered or transmitted")
def consume_skb(skb: SkBuff) -> bool:
    """Free an skb that did its job (same as kfree_skb, but not counted as a drop)."""
    return _release(skb)


def _alive(skb: SkBuff) -> None:
    if not isinstance(skb, SkBuff):
        raise TypeError(f"expected an SkBuff, got {type(skb).__name__}")
    if skb.freed:
        raise ValueError(f"{skb.name} was already freed")


@kernel_function("net/core/skbuff.c", "free {skb.name} (its owner is done with it)")
def __kfree_skb(skb: SkBuff) -> bool:
    """Release an skb its owner holds alone (TCP freeing an ACKed skb): the data goes when no clone shares it."""
    return _release(skb)


@kernel_function("net/core/skbuff.c", "TX completion: free {skb.name} from the driver's NAPI poll")
def napi_consume_skb(skb: SkBuff, budget: int) -> bool:
    """Free a transmitted skb from NAPI context (a ``budget`` of 0 means netpoll: defer to ``dev_consume_skb_any``)."""
    if not isinstance(budget, int) or budget < 0:
        raise ValueError("budget must be an int >= 0")
    return _release(skb)


@kernel_function("net/core/skbuff.c", "copy {length} bytes of {skb.name} into {to.name}")
def skb_copy_bits(skb: SkBuff, offset: int, to: SkBuff, length: int) -> None:
    """Copy ``length`` bytes from ``offset`` in ``skb`` (linear part and page frags alike) into ``to``'s buffer."""
    _alive(skb)
    _alive(to)
    _check_size("offset", offset)
    _check_size("length", length)
    _check_size("offset + length", offset + length, skb.len)
    account_copy(length, "skb_copy_bits", skb.name, to.name)


SKBFL_ZEROCOPY_ENABLE = "SKBFL_ZEROCOPY_ENABLE"  # frags are user pages pinned by MSG_ZEROCOPY
SKBFL_SHARED_FRAG = "SKBFL_SHARED_FRAG"          # frags may be shared with others (page cache via splice)


@kernel_function("net/core/skbuff.c", "copy {skb.name}'s pinned user pages into kernel pages")
def skb_copy_ubufs(skb: SkBuff) -> int:
    """The deferred copy of MSG_ZEROCOPY: new kernel pages get the bytes, the user pages are released (the
    completion tells the sender SO_EE_CODE_ZEROCOPY_COPIED). A clone first gets its own shinfo (skb_unclone)."""
    _alive(skb)
    shinfo = skb.shinfo
    if shinfo.dataref > 1:
        shinfo.dataref -= 1
        skb.shinfo = SkbSharedInfo(frags=list(shinfo.frags), gso_size=shinfo.gso_size,
                                   frag_pages=list(shinfo.frag_pages), flags=set(shinfo.flags))
        skb.cloned = False
    account_copy(skb.data_len, "skb_copy_ubufs", "pinned user pages", "new kernel pages")
    skb.shinfo.frag_pages = [f"kernel copy of {p}" for p in skb.shinfo.frag_pages]
    skb.shinfo.flags.discard(SKBFL_ZEROCOPY_ENABLE)
    return 0


@check.arguments
def skb_orphan_frags_rx(skb: SkBuff) -> int:
    """include/linux/skbuff.h: an skb that may loop back to a receiver (loopback, a packet tap) must not keep
    pinned user pages, whose owner could wait forever for its completion: copy them (``skb_copy_ubufs``)."""
    if SKBFL_ZEROCOPY_ENABLE not in skb.shinfo.flags:
        return 0
    return skb_copy_ubufs(skb)
