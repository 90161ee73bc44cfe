"""struct sk_buff: the packet descriptor, its data buffer, and clone vs copy.

Models include/linux/skbuff.h and net/core/skbuff.c (Linux 6.12). Offsets ``data``, ``tail`` and ``end`` are
counted from ``head`` as on 64-bit kernels. ``struct skb_shared_info`` sits at ``head + end`` and is shared by
every clone: ``skb_clone`` copies only the sk_buff head (``dataref``++), ``skb_copy`` copies the data too.
``truesize`` is what a socket is charged: ``SKB_TRUESIZE(X) = X + SKB_DATA_ALIGN(sizeof(struct sk_buff)) +
SKB_DATA_ALIGN(sizeof(struct skb_shared_info))``.

On a host that models its memory (chapter 06) every sk_buff is slab memory, allocated and freed where the kernel does
it. ``__alloc_skb`` takes the ``struct sk_buff`` from skbuff_head_cache (with ``fclone``: a ``struct
sk_buff_fclones``, the skb and room for one clone, from skbuff_fclone_cache) and its head from ``kmalloc_reserve``
(6.3+: skbuff_small_head when it fits, else kmalloc-N; 3.10: kmalloc-N). A receive skb a driver builds around its
own buffer (``build_skb``, ``napi_build_skb``) has a page-fragment head: no slab object. 5.12+'s NAPI keeps a per-CPU
cache of free sk_buff structs (``napi_alloc_cache``), which ``napi_build_skb`` takes from and the NAPI-context frees
give back to. The frees: ``skb_release_data`` frees the head with the last reference to the data
(``skb_free_head``), ``kfree_skbmem`` the sk_buff (an fclone pair's object once both halves are free).
"""
from __future__ import annotations

from dataclasses import dataclass, field

from netlab import check
from netlab.kernel.copies import account_copy, account_head
from netlab.kernel.cpu import Cpu, current_cpu, this_cpu
from netlab.kernel.slub import SIZEOF_6_12, Obj, kmem_cache_alloc_bulk, kmem_cache_free_bulk, slab_alloc, slab_free
from netlab.trace import kernel_function, trace_printk

SMP_CACHE_BYTES = 64
SIZEOF_SK_BUFF = SIZEOF_6_12["sk_buff"]
SIZEOF_SKB_SHARED_INFO = 320  # with MAX_SKB_FRAGS = 17
MAX_SKB_FRAGS = 17            # CONFIG_MAX_SKB_FRAGS default (net/Kconfig)
NET_SKB_PAD = 64              # include/linux/skbuff.h: max(32, L1_CACHE_BYTES) of headroom for a receive skb
FCLONE_UNAVAILABLE, FCLONE_ORIG, FCLONE_CLONE = "unavailable", "orig", "clone"
CLONED = " (clone)"
"""What a clone's name adds to its original's (``request (clone)``) unless ``skb_clone``'s caller names it."""
SKB_SMALL_HEAD_CACHE_SIZE = SIZEOF_6_12["SKB_SMALL_HEAD_CACHE_SIZE"]   # net/core/skbuff.c (6.3+)
KMALLOC_SIZES = (8, 16, 32, 64, 96, 128, 192, 256, 512, 1024, 2048, 4096, 8192)
"""The kmalloc-N caches of x86_64 (include/linux/slab.h ``kmalloc_index``; larger requests take whole pages)."""
NAPI_SKB_CACHE_SIZE = 64       # net/core/skbuff.c: free sk_buffs a CPU's napi_alloc_cache holds at most
NAPI_SKB_CACHE_BULK = 16       # how many napi_skb_cache_get takes from skbuff_head_cache when it is empty
NAPI_SKB_CACHE_HALF = NAPI_SKB_CACHE_SIZE // 2


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
    slab_objects: list = field(default_factory=list, repr=False)  # the head it ends (small head or kmalloc'd)

    def __post_init__(self):
        check.fields(self)

    @property
    def nr_frags(self) -> int:
        return len(self.frags)


@dataclass(eq=False)
class SkBuffFclones:
    """``struct sk_buff_fclones``: an skb and its future clone in one skbuff_fclone_cache object; ``fclone_ref``
    counts the halves in use, and the object is freed when it drops to 0 (``kfree_skbmem``)."""

    fclone_ref: int = 1
    slab_objects: list = field(default_factory=list, repr=False)

    def __post_init__(self):
        check.fields(self)


@dataclass(eq=False)
class SkBuff:
    """One sk_buff. ``meta`` carries the protocol fields a model needs (addresses, ports, seq, flags…).
    ``slab_objects``: its ``struct sk_buff`` (for an fclone half: the pair's one object, shared through
    ``fclones``); the head's object is its ``shinfo``'s (``head_frag``: the head is a page fragment, no slab)."""

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
    head_frag: bool = False
    alloc_cpu: int | None = None  # the CPU that allocated it (skb_attempt_defer_free frees it there)
    fclones: SkBuffFclones | None = field(default=None, repr=False)
    slab_objects: list = field(default_factory=list, repr=False)

    head = 0  # offsets are from head

    def __post_init__(self):
        check.fields(self)

    @property
    def charged(self) -> bool:
        """Does it hold slab memory (its sk_buff or its head) of a host that models memory?"""
        return bool(self.slab_objects or self.shinfo.slab_objects)

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


@check.arguments
def SKB_HEAD_ALIGN(x: int) -> int:  # noqa: N802
    """include/linux/skbuff.h: a head of ``x`` data bytes and the skb_shared_info after them, each cache-aligned."""
    return SKB_DATA_ALIGN(x) + SKB_DATA_ALIGN(SIZEOF_SKB_SHARED_INFO)


@check.arguments
def kmalloc_cache(size: int) -> str:
    """The kmalloc-N cache a ``kmalloc(size)`` takes its object from (include/linux/slab.h ``kmalloc_index``)."""
    check.count("size", size, 1)
    for n in KMALLOC_SIZES:
        if size <= n:
            return f"kmalloc-{n}"
    raise ValueError(f"kmalloc({size}) takes whole pages (kmalloc_large), not a slab object")


def _memory_cpu() -> Cpu | None:
    cpu = current_cpu()
    return cpu if cpu is not None and cpu.slab is not None else None


@check.arguments
def kmalloc_reserve(size: int, name: str) -> Obj | None:
    """net/core/skbuff.c (3.10: the ``__kmalloc_reserve`` behind a macro of that name): the head of an skb of
    ``size`` data bytes, ``SKB_HEAD_ALIGN(size)`` bytes. 6.3+ take it from skbuff_small_head when it fits
    SKB_SMALL_HEAD_CACHE_SIZE, else ``kmalloc`` (the profile must have that kmalloc-N row); 3.10 always kmallocs.
    None where the host does not model memory."""
    cpu = _memory_cpu()
    if cpu is None:
        return None
    obj_size = SKB_HEAD_ALIGN(size)
    small = cpu.slab.has("skbuff_small_head") and obj_size <= SKB_SMALL_HEAD_CACHE_SIZE
    return slab_alloc("skbuff_small_head" if small else kmalloc_cache(obj_size), f"{name}: skb head")


@kernel_function("net/core/skbuff.c", lambda size, fclone=False, name="skb": f"allocate {name}: an sk_buff"
                 f"{' with room for a clone (fclone)' if fclone else ''} and a {size}-byte data buffer")
def __alloc_skb(size: int, fclone: bool = False, name: str = "skb") -> SkBuff:
    """The sk_buff from skbuff_head_cache (``fclone``: a ``struct sk_buff_fclones`` from skbuff_fclone_cache,
    ``fclone_ref`` 1), then the head from ``kmalloc_reserve``."""
    _check_size("size", size)
    cpu = current_cpu()
    skb = SkBuff(end=size, name=name, truesize=SKB_TRUESIZE(SKB_DATA_ALIGN(size)),
                 alloc_cpu=cpu.id if cpu is not None else None)
    if fclone:
        skb.fclone, skb.fclones = FCLONE_ORIG, SkBuffFclones()
        skb.slab_objects = skb.fclones.slab_objects
    obj = slab_alloc("skbuff_fclone_cache" if fclone else "skbuff_head_cache",
                     f"{name}: struct {'sk_buff_fclones' if fclone else 'sk_buff'}")
    if obj is not None:
        skb.slab_objects.append(obj)
    head = kmalloc_reserve(size, name)
    if head is not None:
        skb.shinfo.slab_objects.append(head)
    return skb


@check.arguments
def _around(name: str, frag_size: int, obj: Obj | None) -> SkBuff:
    """``__build_skb_around``: an sk_buff ``obj`` over a driver's ``frag_size``-byte buffer (a page fragment)."""
    _check_size("frag_size", frag_size)
    end = frag_size - SKB_DATA_ALIGN(SIZEOF_SKB_SHARED_INFO)
    cpu = current_cpu()
    skb = SkBuff(end=end, name=name, truesize=SKB_TRUESIZE(end), head_frag=True,
                 alloc_cpu=cpu.id if cpu is not None else None)
    if obj is not None:
        obj.owner = f"{name}: struct sk_buff"
        skb.slab_objects.append(obj)
    return skb


@kernel_function("net/core/skbuff.c", "build {name}: an sk_buff from skbuff_head_cache around the driver's buffer")
def build_skb(frag_size: int, name: str = "skb") -> SkBuff:
    """An sk_buff (``kmem_cache_alloc(skbuff_head_cache)``) over a buffer the driver already has: the head is that
    page fragment (``head_frag``), no slab object."""
    return _around(name, frag_size, slab_alloc("skbuff_head_cache", f"{name}: struct sk_buff"))


@kernel_function("net/core/skbuff.c", "build {name}: an sk_buff from this CPU's NAPI cache around the driver's "
                 "buffer")
def napi_build_skb(frag_size: int, name: str = "skb") -> SkBuff:
    """``__napi_build_skb``: like ``build_skb``, but the sk_buff comes from this CPU's ``napi_alloc_cache``
    (``napi_skb_cache_get``); the head is the driver's page fragment."""
    return _around(name, frag_size, napi_skb_cache_get() if _memory_cpu() is not None else None)


@kernel_function("net/core/skbuff.c", "{length}-byte receive skb for {dev.name}: a page fragment, then build_skb")
def __netdev_alloc_skb(dev: object, length: int, name: str = "skb") -> SkBuff:
    """3.10's way for a driver's receive skb (``netdev_alloc_skb_ip_align``): a ``netdev_alloc_frag`` page fragment
    of ``SKB_DATA_ALIGN(length + NET_SKB_PAD) + SKB_DATA_ALIGN(sizeof(struct skb_shared_info))`` bytes for the head,
    ``build_skb`` for the sk_buff, ``NET_SKB_PAD`` of headroom."""
    _check_size("length", length)
    skb = build_skb(SKB_HEAD_ALIGN(length + NET_SKB_PAD), name)
    skb_reserve(skb, NET_SKB_PAD)
    return skb


@dataclass(eq=False)
class NapiAllocCache:
    """One CPU's ``struct napi_alloc_cache`` (net/core/skbuff.c, 5.12+): free sk_buff structs (skbuff_head_cache
    objects) NAPI keeps for its next receive skbs, at most NAPI_SKB_CACHE_SIZE."""

    skb_cache: list = field(default_factory=list)

    def __post_init__(self):
        check.fields(self)


@check.arguments
def napi_alloc_cache(cpu: Cpu) -> NapiAllocCache:
    """``per_cpu(napi_alloc_cache, cpu)``: that CPU's cache of free sk_buff structs."""
    if cpu.napi_alloc_cache is None:
        cpu.napi_alloc_cache = NapiAllocCache()
    return cpu.napi_alloc_cache


@kernel_function("net/core/skbuff.c", lambda: "take an sk_buff from this CPU's NAPI cache ("
                 + (f"{len(napi_alloc_cache(this_cpu()).skb_cache)} there)" if napi_alloc_cache(this_cpu()).skb_cache
                    else f"empty: refill it with {NAPI_SKB_CACHE_BULK} from skbuff_head_cache)"))
def napi_skb_cache_get() -> Obj:
    """An empty cache is refilled with NAPI_SKB_CACHE_BULK sk_buffs at once (``kmem_cache_alloc_bulk``), then the
    last one is handed out."""
    cpu = this_cpu()
    nc = napi_alloc_cache(cpu)
    if not nc.skb_cache:
        nc.skb_cache = kmem_cache_alloc_bulk(cpu.slab, "skbuff_head_cache", NAPI_SKB_CACHE_BULK,
                                             f"CPU {cpu.id}'s napi_alloc_cache")
    obj = nc.skb_cache.pop()
    cpu.slab.note("cache get", obj, cpu.id)
    return obj


@kernel_function("net/core/skbuff.c", lambda skb: f"keep {skb.name}'s sk_buff in this CPU's NAPI cache ("
                 f"{len(napi_alloc_cache(this_cpu()).skb_cache) + 1} of {NAPI_SKB_CACHE_SIZE})")
def napi_skb_cache_put(skb: SkBuff) -> None:
    """The freed sk_buff stays in this CPU's ``napi_alloc_cache`` for the next receive skb; when it fills
    (NAPI_SKB_CACHE_SIZE), its upper half goes back to skbuff_head_cache (``kmem_cache_free_bulk``)."""
    cpu = this_cpu()
    nc = napi_alloc_cache(cpu)
    for obj in skb.slab_objects:
        obj.owner = f"CPU {cpu.id}'s napi_alloc_cache"
        cpu.slab.note("cache put", obj, cpu.id)
    nc.skb_cache.extend(skb.slab_objects)
    skb.slab_objects.clear()
    if len(nc.skb_cache) >= NAPI_SKB_CACHE_SIZE:
        kmem_cache_free_bulk(cpu.slab, nc.skb_cache[NAPI_SKB_CACHE_HALF:])
        del nc.skb_cache[NAPI_SKB_CACHE_HALF:]


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
    """Clone: a new sk_buff head pointing at the same data (``dataref`` + 1). Nothing of the payload is copied.
    The sk_buff is the fclone pair's free second half (``fclone_ref`` 2), else a new one from skbuff_head_cache."""
    _alive(skb)
    clone = SkBuff(end=skb.end, name=name or skb.name + CLONED, data=skb.data, tail=skb.tail, len=skb.len,
                   data_len=skb.data_len, network_header=skb.network_header,
                   transport_header=skb.transport_header, truesize=skb.truesize, cloned=True, shinfo=skb.shinfo,
                   meta=dict(skb.meta), head_frag=skb.head_frag, alloc_cpu=skb.alloc_cpu)
    if skb.fclone == FCLONE_ORIG and skb.fclones is not None and skb.fclones.fclone_ref == 1:
        clone.fclone, clone.fclones = FCLONE_CLONE, skb.fclones          # the pair's second half: no new object
        clone.slab_objects = skb.fclones.slab_objects
        skb.fclones.fclone_ref = 2
    else:
        obj = slab_alloc("skbuff_head_cache", f"{clone.name}: struct sk_buff")
        if obj is not None:
            clone.slab_objects.append(obj)
    skb.cloned = True
    skb.shinfo.dataref += 1
    account_head(SIZEOF_SK_BUFF, "skb_clone", skb.name)
    return clone


@kernel_function("net/core/skbuff.c", "copy {skb.name}: a new head and a private copy of all its data")
def skb_copy(skb: SkBuff, name: str | None = None) -> SkBuff:
    """Deep copy: head and data (linear and paged) into one new linear buffer."""
    _alive(skb)
    copy = __alloc_skb(skb.end + skb.data_len, name=name or skb.name + "*")
    copy.data, copy.tail, copy.len = skb.data, skb.tail + skb.data_len, skb.len
    copy.network_header, copy.transport_header, copy.meta = skb.network_header, skb.transport_header, dict(skb.meta)
    account_copy(skb.len, "skb_copy", skb.name, copy.name)
    return copy


@kernel_function("include/linux/skbuff.h", "take another reference to {skb.name}")
def skb_get(skb: SkBuff) -> SkBuff:
    """``users`` + 1: one more holder of the same sk_buff (as a packet tap does)."""
    _alive(skb)
    skb.users += 1
    return skb


def _release(skb: SkBuff, napi_cache: bool = False) -> bool:
    """Drop one user; at zero users free the data when no clone shares it (``skb_release_data``), then the sk_buff
    (``kfree_skbmem``, or with ``napi_cache`` into this CPU's NAPI cache). True if freed. The memory steps are
    taken only for an skb that holds slab memory (a host that models memory)."""
    _alive(skb)
    skb.users -= 1
    if skb.users:
        return False
    charged = skb.charged
    skb.freed = True
    skb.shinfo.dataref -= 1
    if skb.shinfo.dataref == 0:                 # skb_release_data
        skb.shinfo.freed = True
        if charged:
            skb_free_head(skb)
    if not charged:
        _fclone_put(skb)
    elif napi_cache and skb.fclone == FCLONE_UNAVAILABLE:
        napi_skb_cache_put(skb)
    else:
        kfree_skbmem(skb)
    return True


def _fclone_put(skb: SkBuff) -> bool:
    """An fclone half is done: ``fclone_ref`` - 1; True when the pair's object is free (0), or for a lone skb."""
    if skb.fclones is None:
        return True
    skb.fclones.fclone_ref -= 1
    return skb.fclones.fclone_ref == 0


@kernel_function("net/core/skbuff.c", lambda skb: f"free {skb.name}'s head: " + (
    "a page fragment (skb_free_frag), no slab object" if skb.head_frag else
    f"kmem_cache_free to {skb.shinfo.slab_objects[0].cache}" if skb.shinfo.slab_objects and
    skb.shinfo.slab_objects[0].cache == "skbuff_small_head" else "kfree"))
def skb_free_head(skb: SkBuff) -> None:
    """The last reference to the data is gone (``skb_release_data``): a page-fragment head goes back to its page;
    a small head to skbuff_small_head (6.3+); a kmalloc'd one is kfree'd."""
    if skb.shinfo.slab_objects:
        slab_free(skb.shinfo.slab_objects)


@kernel_function("net/core/skbuff.c", lambda skb: f"free {skb.name}'s sk_buff" + (
    "" if skb.fclones is None else " (fclone pair: " + (
        "the other half is free too, so the pair's object goes)" if skb.fclones.fclone_ref == 1 else
        "the other half is still in use, the object stays)")))
def kfree_skbmem(skb: SkBuff) -> None:
    """The sk_buff goes back to skbuff_head_cache; an fclone half drops ``fclone_ref``, and the
    skbuff_fclone_cache object goes when no half is left."""
    if _fclone_put(skb):
        slab_free(skb.slab_objects)


@kernel_function("include/linux/skbuff.h", "free {skb.name} as a drop: an error, a full queue, or a segment TCP "
                 "has finished with at discard_it (dropwatch counts them all)")
def kfree_skb(skb: SkBuff) -> bool:
    """Free an skb the way drops are freed (the ``skb:kfree_skb`` tracepoint fires): after an error or a full
    queue, but also where ``tcp_v4_rcv`` ends at ``discard_it`` with a segment it handled (a TIME_WAIT sock's
    FIN, a handshake segment that made no socket). The data goes only when its last clone goes."""
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
    """Free a transmitted skb from NAPI context (a ``budget`` of 0 means netpoll: defer to ``dev_consume_skb_any``).
    Where NAPI caches sk_buffs (``profile.napi_skb_cache``), one that is no fclone half goes to this CPU's cache
    (``napi_skb_cache_put``); 3.10's ``dev_kfree_skb_any`` frees it to skbuff_head_cache."""
    if not isinstance(budget, int) or budget < 0:
        raise ValueError("budget must be an int >= 0")
    cpu = current_cpu()
    return _release(skb, napi_cache=budget > 0 and cpu is not None and cpu.profile.napi_skb_cache)


@kernel_function("net/core/skbuff.c", "{skb.name}'s data is a held skb's now (GRO): free its sk_buff only")
def napi_skb_free_stolen_head(skb: SkBuff) -> None:
    """GRO merged the segment by taking its head, the driver's page buffer, as a page fragment of the held skb
    (``NAPI_GRO_FREE_STOLEN_HEAD``): only the sk_buff goes, to this CPU's NAPI cache (3.10's ``napi_skb_finish``:
    ``kmem_cache_free`` to skbuff_head_cache)."""
    _alive(skb)
    skb.freed = True
    if skb.slab_objects:
        cpu = current_cpu()
        if cpu is not None and cpu.profile.napi_skb_cache:
            napi_skb_cache_put(skb)
        else:
            kfree_skbmem(skb)


@kernel_function("net/core/skbuff.c", "{skb.name} was read: free it on the CPU that allocated it")
def skb_attempt_defer_free(skb: SkBuff) -> bool:
    """``tcp_eat_recv_skb``: a read skb is freed on the CPU that allocated it (``alloc_cpu``); here, that CPU, it
    goes at once (``kfree_skb_napi_cache``: an fclone half with ``__kfree_skb``, else into the NAPI cache). Another
    CPU's skb would wait on that CPU's ``defer_list`` (not modelled: freed here). 3.10's ``sk_eat_skb``:
    ``__kfree_skb``."""
    _alive(skb)
    cpu = current_cpu()
    if cpu is not None and skb.alloc_cpu not in (None, cpu.id):
        trace_printk(f"{skb.name} came from CPU {skb.alloc_cpu}: its defer_list is not modelled, freed here")
    return _release(skb, napi_cache=cpu is not None and cpu.profile.napi_skb_cache)


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
