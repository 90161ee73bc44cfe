"""SLUB, the slab allocator: which slot an object gets, how many fit in a slab, and which slab holds it.

Models mm/slab_common.c ``calculate_alignment`` and mm/slub.c ``calculate_sizes``, ``calculate_order`` (Linux 6.12;
3.10's ``slab_order`` where ``profile.slub_slab_order`` selects it): the slot each object gets and how many objects
(and pages) a slab holds; ``kmem_cache_alloc`` (include/linux/slab.h) and ``kmem_cache_free``: objects fill the
lowest partly used slab, a new slab is taken from the page allocator when none has room, and a slab goes back when
its last object is freed. Caches that SLUB merged share slabs (``profile.slab_aliases``).
"""
from __future__ import annotations

import heapq
from dataclasses import dataclass
from typing import Mapping

from netlab import check
from netlab.units import number
from netlab.kernel.profiles import LINUX_6_12, KernelProfile, SlabCache
from netlab.kernel.cpu import current_cpu
from netlab.trace import kernel_function

# --------------------------------------------------------------------------------------------------------------
# Slab layout: which slot an object gets, how many fit in a slab

SLAB_HWCACHE_ALIGN = 0x00002000      # include/linux/slab.h
SLAB_PANIC = 0x00040000
SLAB_TYPESAFE_BY_RCU = 0x00080000    # 3.10: SLAB_DESTROY_BY_RCU
SLAB_ACCOUNT = 0x04000000
SLAB_RECLAIM_ACCOUNT = 0x00020000
CACHE_LINE_SIZE = 64                 # x86-64
ARCH_SLAB_MINALIGN = 8               # __alignof__(unsigned long long)
PAGE_ALLOC_COSTLY_ORDER = 3          # slub_max_order's default
MAX_OBJS_PER_PAGE = 32767            # objects per slab are a 15-bit field


@dataclass(frozen=True)
class CacheSpec:
    """One ``kmem_cache_create()`` call: the cache, the struct it holds, its flags and free-pointer placement."""

    name: str
    struct: str                      # or, for a cache of raw buffers, the macro that sizes them
    flags: int
    ctor: bool = False               # a constructor keeps objects initialised, so the free pointer goes after them
    freeptr_in_object: bool = False  # kmem_cache_args.use_freeptr_offset (struct file's f_freeptr, 6.12)
    created_in: str = ""


KMEM_CACHE_CREATE: Mapping[str, CacheSpec] = {s.name: s for s in (
    CacheSpec("TCP", "tcp_sock", SLAB_HWCACHE_ALIGN | SLAB_ACCOUNT | SLAB_TYPESAFE_BY_RCU,
              created_in="net/core/sock.c proto_register (tcp_prot.slab_flags)"),
    CacheSpec("sock_inode_cache", "socket_alloc", SLAB_HWCACHE_ALIGN | SLAB_RECLAIM_ACCOUNT | SLAB_ACCOUNT,
              ctor=True, created_in="net/socket.c init_inodecache"),
    CacheSpec("filp", "file", SLAB_HWCACHE_ALIGN | SLAB_PANIC | SLAB_ACCOUNT | SLAB_TYPESAFE_BY_RCU,
              freeptr_in_object=True, created_in="fs/file_table.c files_init"),
    CacheSpec("dentry", "dentry", SLAB_RECLAIM_ACCOUNT | SLAB_PANIC | SLAB_ACCOUNT,
              created_in="fs/dcache.c dcache_init"),
    CacheSpec("tcp_bind_bucket", "inet_bind_bucket", SLAB_HWCACHE_ALIGN | SLAB_PANIC | SLAB_ACCOUNT,
              created_in="net/ipv4/tcp.c tcp_init"),
    CacheSpec("tcp_bind2_bucket", "inet_bind2_bucket", SLAB_HWCACHE_ALIGN | SLAB_PANIC | SLAB_ACCOUNT,
              created_in="net/ipv4/tcp.c tcp_init"),
    CacheSpec("tw_sock_TCP", "tcp_timewait_sock", SLAB_ACCOUNT | SLAB_TYPESAFE_BY_RCU,
              created_in="net/core/sock.c tw_prot_init"),
    CacheSpec("request_sock_TCP", "tcp_request_sock", SLAB_ACCOUNT | SLAB_TYPESAFE_BY_RCU,
              created_in="net/core/sock.c req_prot_init"),
    CacheSpec("skbuff_head_cache", "sk_buff", SLAB_HWCACHE_ALIGN | SLAB_PANIC, created_in="net/core/skbuff.c skb_init"),
    CacheSpec("skbuff_fclone_cache", "sk_buff_fclones", SLAB_HWCACHE_ALIGN | SLAB_PANIC,
              created_in="net/core/skbuff.c skb_init"),
    CacheSpec("skbuff_small_head", "SKB_SMALL_HEAD_CACHE_SIZE", SLAB_HWCACHE_ALIGN | SLAB_PANIC,
              created_in="net/core/skbuff.c skb_init (kmem_cache_create_usercopy)"),
    CacheSpec("eventpoll_epi", "epitem", SLAB_HWCACHE_ALIGN | SLAB_PANIC | SLAB_ACCOUNT,
              created_in="fs/eventpoll.c eventpoll_init"),
    CacheSpec("eventpoll_pwq", "eppoll_entry", SLAB_PANIC | SLAB_ACCOUNT, created_in="fs/eventpoll.c eventpoll_init"),
    CacheSpec("ep_head", "epitems_head", SLAB_PANIC | SLAB_ACCOUNT, created_in="fs/eventpoll.c eventpoll_init"),
)}
"""The 6.12 ``kmem_cache_create`` calls of every cache a TCP socket uses (see each ``created_in``)."""

SIZEOF_6_12: Mapping[str, int] = {
    "tcp_sock": 2368, "socket_alloc": 768, "file": 184, "dentry": 192, "tcp_timewait_sock": 248,
    "tcp_request_sock": 304, "sk_buff": 232, "epitem": 120, "eppoll_entry": 64,
    "inet_bind_bucket": 72, "inet_bind2_bucket": 72, "epitems_head": 24, "sk_buff_fclones": 472,
    "SKB_SMALL_HEAD_CACHE_SIZE": 704,
}
"""sizeof() in Linux 6.12.118 on x86_64, configured with Debian's config.amd64_none_amd64 (linux-config-6.12), as
``tools/kernel_sizes.py`` compiles them from Debian's linux-source-6.12 (it prints this table and fails when a number
here differs). epitem, eppoll_entry and epitems_head are fs/eventpoll.c's own structs; sk_buff_fclones is an skb and
its clone in one object (``alloc_skb_fclone``); SKB_SMALL_HEAD_CACHE_SIZE is not a struct but net/core/skbuff.c's
macro for the objects of skbuff_small_head, where small skb heads come from."""


@check.arguments
def fls(x: int) -> int:
    """Find last set bit, 1-based (``fls(1) == 1``, ``fls(0) == 0``)."""
    return int(x).bit_length()


@check.arguments
def get_order(size: int, page_size: int = 4096) -> int:
    """The smallest page order whose block holds ``size`` bytes."""
    order = 0
    while (page_size << order) < size:
        order += 1
    return order


@kernel_function("mm/slab_common.c")
def calculate_alignment(flags: int, align: int, size: int) -> int:
    """SLAB_HWCACHE_ALIGN aligns to a cache line, or to a half/quarter line for small objects; at least 8."""
    if flags & SLAB_HWCACHE_ALIGN:
        ralign = CACHE_LINE_SIZE
        while size <= ralign // 2:
            ralign //= 2
        align = max(align, ralign)
    align = max(align, ARCH_SLAB_MINALIGN)
    return -(-align // 8) * 8


@kernel_function("mm/slub.c")
def calculate_sizes(object_size: int, flags: int, ctor: bool = False, freeptr_in_object: bool = False) -> int:
    """The slot an object really takes (``s->size``, the size /proc/slabinfo prints): the object rounded to 8, plus
    a free pointer after it when the object must stay intact while free (a constructor or SLAB_TYPESAFE_BY_RCU),
    then rounded to the alignment."""
    check.count("object_size", object_size, 1)
    size = -(-object_size // 8) * 8
    if (flags & SLAB_TYPESAFE_BY_RCU and not freeptr_in_object) or ctor:
        size += 8
    align = calculate_alignment(flags, 0, object_size)
    return -(-size // align) * align


@kernel_function("mm/slub.c")
def calculate_order(size: int, nr_cpus: check.Cpus, profile: KernelProfile = LINUX_6_12,
                    max_order: int = PAGE_ALLOC_COSTLY_ORDER) -> int:
    """The page order of one slab: enough room for ``min_objects = 4 * (fls(nr_cpus) + 1)`` objects, wasting at most
    1/16 of the slab (then 1/8, 1/4 …). How it backs off is ``profile.slub_slab_order``: 3.10's ``slab_order``
    (it uses ``nr_cpu_ids``) gives up objects before accepting more than 1/4 waste; 6.12's ``calc_slab_order`` (the
    present CPUs) keeps the object count."""
    check.count("size", size, 1)
    check.count("nr_cpus", nr_cpus, 1)
    page_size = profile.page_size

    def order_objects(order: int) -> int:
        return (page_size << order) // size

    min_objects = min(4 * (fls(nr_cpus) + 1), max(order_objects(max_order), 1))
    if profile.slub_slab_order == "calc_slab_order":
        min_order = get_order(min_objects * size, page_size)
        if order_objects(min_order) > MAX_OBJS_PER_PAGE:
            return get_order(size * MAX_OBJS_PER_PAGE, page_size) - 1
        for fraction in (16, 8, 4, 2):            # calc_slab_order, accepting more waste each round
            for order in range(min_order, max_order + 1):
                slab_size = page_size << order
                if slab_size % size <= slab_size // fraction:
                    return order
        return get_order(size, page_size)

    def slab_order(objects: int, fract_leftover: int, top: int) -> int:   # 3.10 slab_order()
        if order_objects(0) > MAX_OBJS_PER_PAGE:
            return get_order(size * MAX_OBJS_PER_PAGE, page_size) - 1
        order = max(0, fls(objects * size - 1) - (page_size.bit_length() - 1))
        while order <= top:
            slab_size = page_size << order
            if slab_size >= objects * size and slab_size % size <= slab_size // fract_leftover:
                break
            order += 1
        return order

    while min_objects > 1:
        for fraction in (16, 8, 4):
            order = slab_order(min_objects, fraction, max_order)
            if order <= max_order:
                return order
        min_objects -= 1
    return slab_order(1, 1, max_order)


@check.arguments
def kmem_cache_create(spec: CacheSpec, object_size: int, nr_cpus: check.Cpus,
                      profile: KernelProfile = LINUX_6_12) -> SlabCache:
    """The cache layout SLUB builds for ``spec`` holding ``object_size``-byte objects on ``nr_cpus`` CPUs."""
    slot = calculate_sizes(object_size, spec.flags, spec.ctor, spec.freeptr_in_object)
    order = calculate_order(slot, nr_cpus, profile)
    return SlabCache(spec.name, slot, (profile.page_size << order) // slot, 1 << order)


@check.arguments
def slab_layouts(profile: KernelProfile, nr_cpus: check.Cpus | None = None) -> dict[str, SlabCache]:
    """The profile's slab caches, re-laid-out by ``calculate_order`` for ``nr_cpus`` CPUs when given (the slot sizes
    stay; objects and pages per slab follow the CPU count, as on the book's 2-CPU client vs its server)."""
    if nr_cpus is None:
        return dict(profile.slab)
    check.count("nr_cpus", nr_cpus, 1)
    out = {}
    for name, cache in profile.slab.items():
        order = calculate_order(cache.object_size, nr_cpus, profile)
        out[name] = SlabCache(name, cache.object_size, (profile.page_size << order) // cache.object_size, 1 << order)
    return out


# --------------------------------------------------------------------------------------------------------------
# The allocator: caches of slabs, objects in slots

@dataclass(eq=False, slots=True)
class Obj:
    """One slab object: the cache asked for, the cache whose slabs hold it (after merging), slab and slot."""

    cache: str
    row: str
    slab: int
    slot: int
    owner: str

    def __post_init__(self):
        check.fields(self)


class KmemCache:
    """``struct kmem_cache``: slabs of ``objs_per_slab`` slots; objects go to the lowest slab with a free slot, a
    new slab is taken when none has room, and a slab goes back to the page allocator when its last object is
    freed."""

    @check.arguments
    def __init__(self, layout: SlabCache, page_size: int):
        self.layout, self.page_size = layout, page_size
        self.slabs: dict[int, list] = {}           # slab id -> its slots (an Obj or None)
        self._free: dict[int, list[int]] = {}      # slab id -> heap of its free slots
        self._partial: list[int] = []              # heap of slab ids that may have a free slot
        self._next_slab = 0
        self.nr_objects = 0

    @property
    def slab_bytes(self) -> int:
        return self.layout.pages_per_slab * self.page_size

    @property
    def bytes(self) -> int:
        return len(self.slabs) * self.slab_bytes

    @check.arguments
    def alloc(self, cache: str, owner: str) -> Obj:
        slab_id, slot = self.take()
        obj = Obj(cache, self.layout.name, slab_id, slot, owner)
        self.slabs[slab_id][slot] = obj
        return obj

    @check.arguments
    def free(self, obj: Obj) -> None:
        slots = self.slabs.get(obj.slab)
        if slots is None or slots[obj.slot] is not obj:
            raise ValueError(f"{obj.owner} is not allocated in {self.layout.name} (double free?)")
        self.give_back(obj.slab, obj.slot)

    def take(self) -> tuple[int, int]:
        """Take the slot the next object gets: the lowest free one of the lowest partly used slab, else a new slab's
        first (:meth:`alloc` makes the object; ``netlab.load.memory`` replays slots with this)."""
        while self._partial and not self._free.get(self._partial[0]):
            heapq.heappop(self._partial)
        if not self._partial:
            slab_id, self._next_slab = self._next_slab, self._next_slab + 1
            self.slabs[slab_id] = [None] * self.layout.objs_per_slab
            self._free[slab_id] = list(range(self.layout.objs_per_slab))
            heapq.heappush(self._partial, slab_id)
        slab_id = self._partial[0]
        self.nr_objects += 1
        slot = heapq.heappop(self._free[slab_id])
        self.slabs[slab_id][slot] = True                # taken (alloc puts the object there)
        return slab_id, slot

    def give_back(self, slab_id: int, slot: int) -> None:
        """Free a slot :meth:`take` gave; the slab goes back when it holds nothing."""
        slots = self.slabs.get(slab_id) if isinstance(slab_id, int) and not isinstance(slab_id, bool) else None
        if slots is None or not isinstance(slot, int) or isinstance(slot, bool) or not 0 <= slot < len(slots) \
                or slots[slot] is None:
            raise ValueError(f"slab_id {slab_id!r}, slot {slot!r}: not a slot in use in {self.layout.name}")
        slots[slot] = None
        self.nr_objects -= 1
        free = self._free[slab_id]
        was_full = not free
        heapq.heappush(free, slot)
        if len(free) == self.layout.objs_per_slab:
            del self.slabs[slab_id], self._free[slab_id]
        elif was_full:
            heapq.heappush(self._partial, slab_id)

    def snapshot(self) -> "CacheState":
        return CacheState(self.layout.object_size, self.layout.objs_per_slab, self.layout.pages_per_slab,
                          self.nr_objects, tuple([self.layout.objs_per_slab - len(self._free[i])
                                                  for i in sorted(self.slabs)]), self.bytes)


@dataclass(frozen=True)
class CacheState:
    """A slab cache (a /proc/slabinfo row) at a step: its object size, objects per slab and pages per slab, the
    objects in use, how many objects each of its slabs holds, and its bytes."""

    object_size: int
    per_slab: int
    pages_per_slab: int
    objects: int
    slabs: tuple[int, ...]
    bytes: int

    def __str__(self) -> str:
        return (f"{number(self.objects)} object{'s' * (self.objects != 1)} in {number(len(self.slabs))} "
                f"slab{'s' * (len(self.slabs) != 1)} ({number(self.object_size)}-byte slots, {self.per_slab} per "
                f"{self.pages_per_slab}-page slab)")


LOG_KINDS = ("alloc", "free", "bulk alloc", "bulk free", "cache get", "cache put")


class Slub:
    """The slab allocator of one kernel: a :class:`KmemCache` per /proc/slabinfo row; merged caches share one."""

    @check.arguments
    def __init__(self, profile: KernelProfile, nr_cpus: check.Cpus | None = None, record: bool = False):
        layouts = slab_layouts(profile, nr_cpus)
        self.profile = profile
        self.row_of = {name: profile.slab_aliases.get(name, name) for name in layouts}
        self.caches = {row: KmemCache(layouts[row], profile.page_size) for row in set(self.row_of.values())}
        self.log: list[tuple] | None = [] if record else None
        """(label, kind, row, object, CPU), recorded while ``label`` is set: kind "alloc" or "free"; "bulk alloc" or
        "bulk free" (``kmem_cache_alloc_bulk``/``kmem_cache_free_bulk`` for a per-CPU cache); "cache get" or "cache
        put" (a per-CPU cache, such as NAPI's sk_buff cache on that CPU, hands an object out or takes it back)"""
        self.label: tuple | None = None
        self.last_row: str | None = None

    @check.arguments
    def has(self, cache: str) -> bool:
        return cache in self.row_of

    @check.arguments
    def alloc(self, cache: str, owner: str, kind: str = "alloc") -> Obj:
        if cache not in self.row_of:
            raise ValueError(f"this kernel has no slab cache {cache!r}; it has {sorted(self.row_of)}")
        obj = self.caches[self.row_of[cache]].alloc(cache, owner)
        self.note(kind, obj)
        return obj

    @check.arguments
    def free(self, obj: Obj, kind: str = "free") -> None:
        self.caches[obj.row].free(obj)
        self.note(kind, obj)

    @check.arguments
    def note(self, kind: str, obj: Obj, cpu: int | None = None) -> None:
        """Log what happened to ``obj`` (see :attr:`log`) while a label is set; remember its cache as touched."""
        check.choice("kind", kind, LOG_KINDS)
        self.last_row = obj.row
        if self.label is not None and self.log is not None:
            self.log.append((self.label, kind, obj.row, obj, cpu))

    @property
    def bytes(self) -> int:
        return sum(c.bytes for c in self.caches.values())

    def snapshot(self) -> dict[str, CacheState]:
        """The caches in use, by /proc/slabinfo row."""
        return {row: c.snapshot() for row, c in sorted(self.caches.items()) if c.slabs}


@kernel_function("include/linux/slab.h", lambda slub, cache, owner: f"a {cache} object for {owner}"
                 + (f" (SLUB merged this cache into {slub.row_of[cache]}: its slabs hold it)"
                    if slub.row_of.get(cache, cache) != cache else ""))
def kmem_cache_alloc(slub: Slub, cache: str, owner: str) -> Obj:
    """Take a free slot from the cache's partly used slab, or a new slab from the page allocator."""
    return slub.alloc(cache, owner)


@kernel_function("mm/slub.c", lambda slub, obj: f"free {obj.owner} ({obj.cache})")
def kmem_cache_free(slub: Slub, obj: Obj) -> None:
    """Put the object back on its slab's free list; an empty slab goes back to the page allocator."""
    slub.free(obj)


@kernel_function("include/linux/slab.h", lambda slub, cache, size, owner: f"{size} {cache} objects at once for {owner}")
def kmem_cache_alloc_bulk(slub: Slub, cache: str, size: int, owner: str) -> list[Obj]:
    """``size`` objects of one cache in one call (each as :func:`kmem_cache_alloc` would place it)."""
    check.count("size", size, 1)
    return [slub.alloc(cache, owner, "bulk alloc") for _ in range(size)]


@kernel_function("mm/slub.c", lambda slub, objects: f"free {len(objects)} objects at once "
                 f"({', '.join(sorted({o.cache for o in objects}))})")
def kmem_cache_free_bulk(slub: Slub, objects: list) -> None:
    """Free every object in ``objects`` in one call."""
    for obj in objects:
        slub.free(obj, "bulk free")


@check.arguments
def slab_alloc(cache: str, owner: str) -> Obj | None:
    """``kmem_cache_alloc`` from the slab of the CPU this code runs on, where its host models memory (the CPU's
    ``slab``); None where it does not (the other chapters, or code run outside a CPU)."""
    cpu = current_cpu()
    return kmem_cache_alloc(cpu.slab, cache, owner) if cpu is not None and cpu.slab is not None else None


@check.arguments
def slab_has(cache: str) -> bool:
    """Does the host of the CPU this code runs on model memory, with a slab cache ``cache`` (``Slub.has``)?"""
    cpu = current_cpu()
    return cpu is not None and cpu.slab is not None and cpu.slab.has(cache)


@check.arguments
def slab_free(objects: list) -> None:
    """Free and forget the slab objects in ``objects`` (a kernel object's ``slab_objects``) on this CPU's host."""
    if not objects:
        return
    cpu = current_cpu()
    if cpu is None or cpu.slab is None:
        raise RuntimeError(f"{objects[0].owner} was allocated on a host that models memory: free it on its CPUs")
    for obj in objects:
        kmem_cache_free(cpu.slab, obj)
    objects.clear()
