"""What a TCP connection costs in kernel memory: the slab objects of a socket in each state, slab overhead included.

Models (Linux 6.12 names; 3.10 differences noted where they matter):

- mm/slab_common.c ``calculate_alignment`` and mm/slub.c ``calculate_sizes``, ``calculate_order``: the slot each
  object gets and how many objects (and pages) a slab holds; ``kmem_cache_alloc`` (include/linux/slab.h) and
  ``kmem_cache_free``: objects fill the lowest partly used slab, a new slab is taken from the page allocator when
  none has room, and a slab goes back when its last object is freed. Caches that SLUB merged share slabs.
- net/socket.c ``__sys_socket``, ``sock_alloc``, ``sock_alloc_inode`` (``struct socket_alloc``; 3.10 also
  kmallocs a ``struct socket_wq``), ``sock_map_fd``, ``sock_alloc_file``, ``__sys_accept4_file``, ``do_accept``,
  ``sock_release``, ``sock_close``, ``sock_free_inode`` (3.10: ``sock_destroy_inode``).
- net/core/sock.c ``sk_alloc``, ``sk_prot_alloc`` (the ``tcp_sock`` in the ``TCP`` cache), ``sk_clone_lock`` (the
  server's child socket), ``sk_prot_free``; fs/file_table.c ``alloc_file_pseudo``, ``alloc_empty_file`` (the
  ``filp`` and the ENFILE check; 3.10: ``alloc_file``, ``get_empty_filp``), ``__fput``, ``file_free``; fs/dcache.c
  ``d_alloc_pseudo``, ``dentry_free``.
- net/ipv4/inet_hashtables.c ``inet_bind_bucket_create`` and (6.1+) ``inet_bind2_bucket_create``: a client's port;
  net/ipv4/inet_connection_sock.c ``reqsk_alloc`` (a SYN_RECV request); net/ipv4/tcp.c ``tcp_close``,
  ``tcp_done``; net/ipv4/tcp_input.c ``tcp_fin``; net/ipv4/tcp_minisocks.c ``tcp_time_wait`` and
  net/ipv4/inet_timewait_sock.c ``inet_twsk_alloc``, ``inet_twsk_kill``: TIME_WAIT keeps a small
  ``tcp_timewait_sock`` (and the client's bind buckets) instead of the whole socket.
- fs/eventpoll.c: an epoll registration adds an ``epitem``, an ``eppoll_entry`` and (6.12) an ``epitems_head``
  (``ep_insert`` itself is chapter 02's model; here only its allocations are recorded).

A connection is traced in two phases: *open* (``socket()`` + ``connect()``, or SYN → ACK → ``accept()``) and
*move* (to CLOSE_WAIT, FIN_WAIT2 or TIME_WAIT). N connections opened one after another, then moved, lay their
objects out in the slabs in a fixed pattern, so :class:`Footprint` turns one traced connection into the exact
memory of N (numpy, any N). Caches start empty here; a real cache starts with partly used slabs, and SLUB keeps a
few empty slabs per node (``min_partial``) and per CPU, so at a few connections reality differs by a slab or two.

Receive and send buffers are a separate cost, charged only while data waits (``sk_rmem_alloc``,
``sk_wmem_queued``, rounded to pages by ``sk_forward_alloc``): :func:`queued_data_memory`.
"""
from __future__ import annotations

import heapq
import math
from dataclasses import dataclass, field
from typing import Mapping

import numpy as np

from netlab import check
from netlab.kernel import limits
from netlab.kernel.limits import ENFILE, FilesStat
from netlab.kernel.sched import Rlimit, Task
from netlab.kernel.profiles import KernelProfile, SlabCache
from netlab.kernel.skbuff import SKB_DATA_ALIGN, SKB_TRUESIZE
from netlab.trace import Tracer, kernel_function, on_cpu, trace_printk

# --------------------------------------------------------------------------------------------------------------
# Slab layout: which slot an object gets, how many fit in a slab (mm/slab_common.c, mm/slub.c)

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
    struct: str
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
    CacheSpec("eventpoll_epi", "epitem", SLAB_HWCACHE_ALIGN | SLAB_PANIC | SLAB_ACCOUNT,
              created_in="fs/eventpoll.c eventpoll_init"),
    CacheSpec("eventpoll_pwq", "eppoll_entry", SLAB_PANIC | SLAB_ACCOUNT, created_in="fs/eventpoll.c eventpoll_init"),
    CacheSpec("ep_head", "epitems_head", SLAB_PANIC | SLAB_ACCOUNT, created_in="fs/eventpoll.c eventpoll_init"),
)}
"""The 6.12 ``kmem_cache_create`` calls of every cache a TCP socket uses (see each ``created_in``)."""

SIZEOF_6_12: Mapping[str, int] = {
    "tcp_sock": 2368, "socket_alloc": 768, "file": 184, "dentry": 192, "tcp_timewait_sock": 248,
    "tcp_request_sock": 304, "sk_buff": 232, "epitem": 120, "eppoll_entry": 64,
    "inet_bind_bucket": 72, "inet_bind2_bucket": 72, "epitems_head": 24,
}
"""sizeof() in Linux 6.12.118 on x86_64, configured with Debian's config.amd64_none_amd64 (linux-config-6.12), as
``tools/kernel_sizes.py`` compiles them from Debian's linux-source-6.12 (it prints this table and fails when a number
here differs). epitem, eppoll_entry and epitems_head are fs/eventpoll.c's own structs."""


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
def calculate_order(size: int, nr_cpus: check.Cpus, version: str = "6.12", page_size: int = 4096,
                    max_order: int = PAGE_ALLOC_COSTLY_ORDER) -> int:
    """The page order of one slab: enough room for ``min_objects = 4 * (fls(nr_cpus) + 1)`` objects, wasting at most
    1/16 of the slab (then 1/8, 1/4 …). 3.10 uses ``nr_cpu_ids`` and gives up objects before waste; 6.12 uses the
    present CPUs and keeps the object count."""
    check.count("size", size, 1)
    check.count("nr_cpus", nr_cpus, 1)
    if version not in ("3.10", "6.12"):
        raise ValueError("version must be '3.10' or '6.12'")

    def order_objects(order: int) -> int:
        return (page_size << order) // size

    min_objects = min(4 * (fls(nr_cpus) + 1), max(order_objects(max_order), 1))
    if version == "6.12":
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
def kmem_cache_create(spec: CacheSpec, object_size: int, nr_cpus: check.Cpus, version: str = "6.12",
                      page_size: int = 4096) -> SlabCache:
    """The cache layout SLUB builds for ``spec`` holding ``object_size``-byte objects on ``nr_cpus`` CPUs."""
    slot = calculate_sizes(object_size, spec.flags, spec.ctor, spec.freeptr_in_object)
    order = calculate_order(slot, nr_cpus, version, page_size)
    return SlabCache(spec.name, slot, (page_size << order) // slot, 1 << order)


@check.arguments
def slab_layouts(profile: KernelProfile, nr_cpus: check.Cpus | None = None) -> dict[str, SlabCache]:
    """The profile's slab caches, re-laid-out by ``calculate_order`` for ``nr_cpus`` CPUs when given (the slot sizes
    stay; objects and pages per slab follow the CPU count, as on the book's 2-CPU client vs its server)."""
    if nr_cpus is None:
        return dict(profile.slab)
    check.count("nr_cpus", nr_cpus, 1)
    out = {}
    for name, cache in profile.slab.items():
        order = calculate_order(cache.object_size, nr_cpus, profile.version, profile.page_size)
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
        while self._partial and not self._free.get(self._partial[0]):
            heapq.heappop(self._partial)
        if not self._partial:
            slab_id, self._next_slab = self._next_slab, self._next_slab + 1
            self.slabs[slab_id] = [None] * self.layout.objs_per_slab
            self._free[slab_id] = list(range(self.layout.objs_per_slab))
            heapq.heappush(self._partial, slab_id)
        slab_id = self._partial[0]
        obj = Obj(cache, self.layout.name, slab_id, heapq.heappop(self._free[slab_id]), owner)
        self.slabs[slab_id][obj.slot] = obj
        self.nr_objects += 1
        return obj

    @check.arguments
    def free(self, obj: Obj) -> None:
        slots = self.slabs.get(obj.slab)
        if slots is None or slots[obj.slot] is not obj:
            raise ValueError(f"{obj.owner} is not allocated in {self.layout.name} (double free?)")
        slots[obj.slot] = None
        self.nr_objects -= 1
        free = self._free[obj.slab]
        was_full = not free
        heapq.heappush(free, obj.slot)
        if len(free) == self.layout.objs_per_slab:
            del self.slabs[obj.slab], self._free[obj.slab]
        elif was_full:
            heapq.heappush(self._partial, obj.slab)

    def snapshot(self) -> dict:
        return {"object size": self.layout.object_size, "per slab": self.layout.objs_per_slab,
                "pages per slab": self.layout.pages_per_slab, "objects": self.nr_objects,
                "slabs": [self.layout.objs_per_slab - len(self._free[i]) for i in sorted(self.slabs)],
                "bytes": self.bytes}


class Slub:
    """The slab allocator of one kernel: a :class:`KmemCache` per /proc/slabinfo row; merged caches share one."""

    @check.arguments
    def __init__(self, profile: KernelProfile, nr_cpus: check.Cpus | None = None, record: bool = False):
        layouts = slab_layouts(profile, nr_cpus)
        self.profile = profile
        self.row_of = {name: profile.slab_aliases.get(name, name) for name in layouts}
        self.caches = {row: KmemCache(layouts[row], profile.page_size) for row in set(self.row_of.values())}
        self.log: list[tuple[str, str, str, Obj]] | None = [] if record else None
        """(phase, "alloc" or "free", row, object), recorded while ``phase`` is set"""
        self.phase: str | None = None
        self.last_row: str | None = None

    @check.arguments
    def has(self, cache: str) -> bool:
        return cache in self.row_of

    @check.arguments
    def alloc(self, cache: str, owner: str) -> Obj:
        if cache not in self.row_of:
            raise ValueError(f"this kernel has no slab cache {cache!r}; it has {sorted(self.row_of)}")
        obj = self.caches[self.row_of[cache]].alloc(cache, owner)
        self.last_row = obj.row
        if self.phase and self.log is not None:
            self.log.append((self.phase, "alloc", obj.row, obj))
        return obj

    @check.arguments
    def free(self, obj: Obj) -> None:
        self.caches[obj.row].free(obj)
        self.last_row = obj.row
        if self.phase and self.log is not None:
            self.log.append((self.phase, "free", obj.row, obj))

    @property
    def bytes(self) -> int:
        return sum(c.bytes for c in self.caches.values())

    def snapshot(self) -> dict:
        return {row: c.snapshot() for row, c in sorted(self.caches.items()) if c.slabs}


@kernel_function("include/linux/slab.h", lambda slub, cache, owner: f"a {cache} object for {owner}"
                 + (f" (counted in {slub.row_of[cache]})" if slub.row_of.get(cache, cache) != cache else ""))
def kmem_cache_alloc(slub: Slub, cache: str, owner: str) -> Obj:
    """Take a free slot from the cache's partly used slab, or a new slab from the page allocator."""
    return slub.alloc(cache, owner)


@kernel_function("mm/slub.c", lambda slub, obj: f"free {obj.owner} ({obj.cache})")
def kmem_cache_free(slub: Slub, obj: Obj) -> None:
    """Put the object back on its slab's free list; an empty slab goes back to the page allocator."""
    slub.free(obj)


# --------------------------------------------------------------------------------------------------------------
# Sockets and the objects they hold

STATES = ("ESTABLISHED", "SYN_RECV", "ACCEPT_QUEUE", "CLOSE_WAIT", "FIN_WAIT2", "TIME_WAIT")
"""ACCEPT_QUEUE: established by the kernel but not yet accept()ed. FIN_WAIT2 and TIME_WAIT: after this side's
close() (orphaned); CLOSE_WAIT: the peer closed, this side has not."""
SIDES = ("client", "server")
OBJECT_STRUCT = {"TCP": "tcp_sock", "sock_inode_cache": "socket_alloc (socket + inode)", "socket_wq": "socket_wq",
                 "dentry": "dentry", "filp": "file", "tcp_bind_bucket": "inet_bind_bucket",
                 "tcp_bind2_bucket": "inet_bind2_bucket", "tw_sock_TCP": "tcp_timewait_sock",
                 "request_sock_TCP": "tcp_request_sock", "skbuff_head_cache": "sk_buff (the queued FIN)",
                 "eventpoll_epi": "epitem", "eventpoll_pwq": "eppoll_entry", "ep_head": "epitems_head",
                 "lsm_inode_cache": "LSM inode blob", "lsm_file_cache": "LSM file blob"}
"""What struct each cache holds, for tables."""


@dataclass(eq=False)
class Connection:
    """One end of a TCP connection and the slab objects it holds right now, by role."""

    name: str
    side: str
    state: str = "CLOSE"
    fd: int | None = None
    epoll: bool = False
    objects: dict = field(default_factory=dict)     # role -> Obj

    def __post_init__(self):
        check.fields(self)


class Kernel:
    """One machine's kernel for these models: its slab allocator, open files, TIME_WAIT buckets and tasks."""

    @check.arguments
    def __init__(self, profile: KernelProfile, nr_cpus: check.Cpus | None = None, max_files: int = 10 ** 9,
                 max_tw_buckets: int = 262144, record: bool = False):
        check.count("max_files", max_files, 1)
        check.count("max_tw_buckets", max_tw_buckets, 1)
        self.profile = profile
        self.slub = Slub(profile, nr_cpus, record)
        self.files_stat = FilesStat(max_files)
        self.nr_open = profile.nr_open
        self.max_tw_buckets, self.tw_count = max_tw_buckets, 0
        self.connections: list[Connection] = []

    @check.arguments
    def task(self, comm: str = "app", nofile: int | None = None) -> Task:
        """A process with RLIMIT_NOFILE ``nofile`` (default: the profile's soft limit); fds 0–2 are taken."""
        soft = self.profile.nofile_soft if nofile is None else nofile
        task = Task(comm, nofile=Rlimit(soft, max(soft, self.profile.nofile_hard)))
        for fd in range(min(3, soft)):
            task.files.open_fds.add(fd)
            task.files.fd[fd] = f"stdio {fd}"
        task.files.next_fd = min(3, soft)
        return task


def _hold(kernel: Kernel, conn: Connection, role: str, cache: str, what: str) -> None:
    conn.objects[role] = kmem_cache_alloc(kernel.slub, cache, f"{conn.name}: {what}")


def _drop(kernel: Kernel, conn: Connection, *roles: str) -> None:
    for role in roles:
        obj = conn.objects.pop(role, None)
        if obj is not None:
            kmem_cache_free(kernel.slub, obj)


@kernel_function("net/socket.c", "sock_inode_cache: struct socket_alloc, a socket and its inode in one object")
def sock_alloc_inode(kernel: Kernel, conn: Connection) -> None:
    """The sockfs inode: ``struct socket_alloc`` (socket + inode) from sock_inode_cache; 3.10 also kmallocs the
    socket's wait-queue head, ``struct socket_wq`` (embedded in struct socket since 5.x)."""
    _hold(kernel, conn, "socket", "sock_inode_cache", "struct socket_alloc")
    if kernel.slub.has("socket_wq"):
        _hold(kernel, conn, "socket_wq", "socket_wq", "kmalloc(sizeof(struct socket_wq))")


@kernel_function("net/socket.c", "new_inode_pseudo → alloc_inode → sock_alloc_inode")
def sock_alloc(kernel: Kernel, conn: Connection) -> None:
    """Allocate a socket: a sockfs inode (plus its LSM blob when the booted LSMs use one)."""
    sock_alloc_inode(kernel, conn)
    if kernel.slub.has("lsm_inode_cache"):
        _hold(kernel, conn, "lsm_inode", "lsm_inode_cache", "security_inode_alloc blob")


@kernel_function("net/core/sock.c", "the TCP cache: struct tcp_sock, the protocol half of the socket")
def sk_prot_alloc(kernel: Kernel, conn: Connection) -> None:
    """``kmem_cache_alloc(prot->slab)``: for TCP the ``TCP`` cache holding a whole ``struct tcp_sock``."""
    _hold(kernel, conn, "sock", "TCP", "struct tcp_sock")


@kernel_function("net/core/sock.c", "inet_create → sk_alloc: the struct sock for the new socket")
def sk_alloc(kernel: Kernel, conn: Connection) -> None:
    """Allocate and initialise the ``struct sock`` (``tcp_sock``) of a new socket."""
    sk_prot_alloc(kernel, conn)


@kernel_function("fs/dcache.c", "a dentry for the socket's file (\"TCP\" in sockfs)")
def d_alloc_pseudo(kernel: Kernel, conn: Connection) -> None:
    """The file's name in the pseudo filesystem: one ``struct dentry``."""
    _hold(kernel, conn, "dentry", "dentry", "struct dentry")


@kernel_function("fs/file_table.c", lambda kernel, conn: f"nr_files {kernel.files_stat.nr_files} vs fs.file-max "
                 f"{kernel.files_stat.max_files}, then a struct file from filp")
def alloc_empty_file(kernel: Kernel, conn: Connection) -> int:
    """ENFILE when the system holds fs.file-max files (unless CAP_SYS_ADMIN); else a ``struct file`` from filp."""
    stat = kernel.files_stat
    if stat.nr_files >= stat.max_files:
        trace_printk(f"VFS: file-max limit {stat.max_files} reached: ENFILE")
        return -ENFILE
    _hold(kernel, conn, "file", "filp", "struct file")
    if kernel.slub.has("lsm_file_cache"):
        _hold(kernel, conn, "lsm_file", "lsm_file_cache", "security_file_alloc blob")
    stat.nr_files += 1
    return 0


@kernel_function("fs/file_table.c", "alloc_path_pseudo (a dentry), then alloc_file → alloc_empty_file")
def alloc_file_pseudo(kernel: Kernel, conn: Connection) -> int:
    """A file for an inode that has no path on disk: a dentry, then the ``struct file``."""
    d_alloc_pseudo(kernel, conn)
    error = alloc_empty_file(kernel, conn)
    if error:
        _drop(kernel, conn, "dentry")           # path_put
    return error


@kernel_function("net/socket.c", "sock_release: free the half-made socket")
def sock_release(kernel: Kernel, conn: Connection) -> None:
    """Tear a socket down without a file: the tcp_sock and the inode go."""
    _drop(kernel, conn, "sock", "socket_wq", "socket", "lsm_inode")
    conn.state = "CLOSE"


@kernel_function("net/socket.c")
def sock_alloc_file(kernel: Kernel, conn: Connection) -> int:
    """Give the socket a ``struct file`` (and dentry) so it can sit in a process's fd table."""
    error = alloc_file_pseudo(kernel, conn)
    if error:
        sock_release(kernel, conn)
    return error


@kernel_function("net/socket.c", "get an fd first, then the file: an fd over the limit frees the new socket")
def sock_map_fd(kernel: Kernel, task: Task, conn: Connection) -> int:
    """``get_unused_fd_flags`` (EMFILE), then ``sock_alloc_file`` (ENFILE), then ``fd_install``."""
    fd = limits.get_unused_fd_flags(task, kernel.nr_open)
    if fd < 0:
        sock_release(kernel, conn)
        return fd
    error = sock_alloc_file(kernel, conn)
    if error:
        limits.put_unused_fd(task, fd)
        return error
    limits.fd_install(task, fd, conn)
    conn.fd = fd
    return fd


@kernel_function("net/socket.c", lambda kernel, task, name: f"socket(AF_INET, SOCK_STREAM) by {task.comm}: {name}")
def __sys_socket(kernel: Kernel, task: Task, name: str) -> Connection | int:
    """``socket()``: the socket and its tcp_sock are built first, then it gets an fd and a file (sock_map_fd).
    Returns the new connection's end, or a negative errno."""
    conn = Connection(name, "client")
    kernel.connections.append(conn)
    sock_alloc(kernel, conn)
    sk_alloc(kernel, conn)
    fd = sock_map_fd(kernel, task, conn)
    if fd < 0:
        kernel.connections.remove(conn)
        return fd
    return conn


@kernel_function("net/ipv4/inet_hashtables.c", "the chosen local port gets a bind bucket")
def inet_bind_bucket_create(kernel: Kernel, conn: Connection) -> None:
    """``struct inet_bind_bucket``: one per local port in use (shared by every socket on that port)."""
    _hold(kernel, conn, "bind_bucket", "tcp_bind_bucket", "struct inet_bind_bucket")


@kernel_function("net/ipv4/inet_hashtables.c", "the (address, port) pair gets a second bucket (bhash2, 6.1+)")
def inet_bind2_bucket_create(kernel: Kernel, conn: Connection) -> None:
    """``struct inet_bind2_bucket``: the port again, keyed by address and port (6.1+)."""
    _hold(kernel, conn, "bind2_bucket", "tcp_bind2_bucket", "struct inet_bind2_bucket")


@check.arguments
def connect(kernel: Kernel, conn: Connection) -> None:
    """``connect()``: ``__inet_hash_connect`` picks a free local port (chapter 07) and hashes the socket into its
    bind buckets; the handshake completes (chapter 05); the socket is ESTABLISHED."""
    trace_printk(f"{conn.name}: tcp_v4_connect → inet_hash_connect picks a local port")
    inet_bind_bucket_create(kernel, conn)
    if kernel.slub.has("tcp_bind2_bucket"):
        inet_bind2_bucket_create(kernel, conn)
    conn.state = "ESTABLISHED"


@kernel_function("net/ipv4/inet_connection_sock.c", lambda kernel, conn: f"a SYN for the listener: "
                 f"{conn.name} is a request sock, not yet a socket")
def reqsk_alloc(kernel: Kernel, conn: Connection) -> None:
    """A SYN to a listener allocates only a ``struct tcp_request_sock`` (SYN_RECV, the SYN queue)."""
    _hold(kernel, conn, "request", "request_sock_TCP", "struct tcp_request_sock")
    conn.state = "SYN_RECV"


@kernel_function("net/core/sock.c", "the final ACK: clone the listener into a full tcp_sock")
def sk_clone_lock(kernel: Kernel, conn: Connection) -> None:
    """The child socket of an accepted connection: a copy of the listener's ``tcp_sock``. The request sock
    stays, pointing at it, in the accept queue until accept()."""
    sk_prot_alloc(kernel, conn)
    conn.state = "ACCEPT_QUEUE"


@kernel_function("net/socket.c", "accept: a new socket and file; the kernel's child socket is handed over")
def do_accept(kernel: Kernel, conn: Connection) -> int:
    """``sock_alloc`` and ``sock_alloc_file`` for the new fd, then ``inet_csk_accept`` takes the child off the
    accept queue and the request sock is freed (``reqsk_put``)."""
    sock_alloc(kernel, conn)
    error = sock_alloc_file(kernel, conn)
    if error:
        return error
    trace_printk(f"inet_csk_accept: {conn.name} leaves the accept queue; reqsk_put frees its request")
    _drop(kernel, conn, "request")
    conn.state = "ESTABLISHED"
    return 0


@kernel_function("net/socket.c", lambda kernel, task, conn: f"accept() by {task.comm}")
def __sys_accept4_file(kernel: Kernel, task: Task, conn: Connection) -> int:
    """``accept()``: an fd first (EMFILE leaves the connection in the accept queue), then ``do_accept``."""
    fd = limits.get_unused_fd_flags(task, kernel.nr_open)
    if fd < 0:
        trace_printk(f"no fd: {conn.name} stays in the accept queue")
        return fd
    error = do_accept(kernel, conn)
    if error:
        limits.put_unused_fd(task, fd)
        return error
    limits.fd_install(task, fd, conn)
    conn.fd = fd
    return fd


@check.arguments
def handshake_server(kernel: Kernel, name: str, until: str = "ACCEPT_QUEUE") -> Connection:
    """The server end of a new connection, built by softirq code: SYN → request (SYN_RECV), ACK → child socket
    (ACCEPT_QUEUE). The listener's own objects were allocated long before and are not counted."""
    if until not in ("SYN_RECV", "ACCEPT_QUEUE"):
        raise ValueError("until must be 'SYN_RECV' or 'ACCEPT_QUEUE'")
    conn = Connection(name, "server")
    kernel.connections.append(conn)
    with on_cpu(0, "softirq"):
        reqsk_alloc(kernel, conn)
        if until == "ACCEPT_QUEUE":
            sk_clone_lock(kernel, conn)
    return conn


@check.arguments
def epoll_ctl_add(kernel: Kernel, conn: Connection) -> None:
    """``epoll_ctl(EPOLL_CTL_ADD)``: ``ep_insert`` allocates an epitem and, through the socket's poll, an
    eppoll_entry on its wait queue; 6.12 also gives the file an epitems_head (chapter 02 steps through ep_insert)."""
    trace_printk(f"{conn.name}: ep_insert registers the socket with epoll")
    _hold(kernel, conn, "epitem", "eventpoll_epi", "struct epitem")
    _hold(kernel, conn, "eppoll_entry", "eventpoll_pwq", "struct eppoll_entry")
    if kernel.slub.has("ep_head"):
        _hold(kernel, conn, "ep_head", "ep_head", "struct epitems_head")
    conn.epoll = True


@kernel_function("fs/dcache.c", "free the socket file's dentry")
def dentry_free(kernel: Kernel, conn: Connection) -> None:
    """Return the ``struct dentry`` (sockfs dentries skip the RCU delay: DCACHE_NORCU)."""
    _drop(kernel, conn, "dentry")


@kernel_function("net/socket.c", "evict the sockfs inode: struct socket_alloc goes back to sock_inode_cache")
def sock_free_inode(kernel: Kernel, conn: Connection) -> None:
    """Free the socket + inode (3.10 ``sock_destroy_inode`` also kfree_rcu()s the socket_wq)."""
    _drop(kernel, conn, "socket", "socket_wq", "lsm_inode")


@kernel_function("net/ipv4/tcp.c", lambda kernel, conn: f"{conn.name}: send FIN, orphan the tcp_sock (FIN_WAIT1)")
def tcp_close(kernel: Kernel, conn: Connection) -> None:
    """The application let go: the ``tcp_sock`` lives on without a socket (an orphan) until the close completes."""
    conn.state = "FIN_WAIT1"


@kernel_function("net/socket.c", "the file's release: __sock_release → tcp_close, then the inode goes")
def sock_close(kernel: Kernel, conn: Connection) -> None:
    """Release the socket behind a closed file: the protocol closes, the socket's inode is evicted."""
    tcp_close(kernel, conn)
    sock_free_inode(kernel, conn)


@kernel_function("fs/file_table.c", "free the struct file")
def file_free(kernel: Kernel, conn: Connection) -> None:
    """Give the ``struct file`` back to filp."""
    _drop(kernel, conn, "file", "lsm_file")
    kernel.files_stat.nr_files -= 1


@kernel_function("fs/file_table.c", lambda kernel, conn: f"last reference to {conn.name}'s file dropped")
def __fput(kernel: Kernel, conn: Connection) -> None:
    """Tear the file down: epoll forgets it, the dentry goes, the socket is released, the file is freed."""
    if conn.epoll:
        trace_printk("eventpoll_release: ep_remove frees the epitem, eppoll_entry and epitems_head")
        _drop(kernel, conn, "epitem", "eppoll_entry", "ep_head")
        conn.epoll = False
    dentry_free(kernel, conn)
    sock_close(kernel, conn)
    file_free(kernel, conn)


@check.arguments
def close(kernel: Kernel, task: Task, conn: Connection) -> None:
    """``close(fd)``: ``close_fd`` takes the fd out of the table, ``__fput`` frees the file and the socket."""
    if conn.fd is None or limits.close_fd(task, conn.fd) is not conn:
        raise ValueError(f"{conn.name} has no open fd in {task.comm}")
    conn.fd = None
    __fput(kernel, conn)


@kernel_function("net/core/sock.c", "free the struct tcp_sock")
def sk_prot_free(kernel: Kernel, conn: Connection) -> None:
    """Give the ``tcp_sock`` back to the TCP cache."""
    _drop(kernel, conn, "sock")


@kernel_function("net/ipv4/tcp.c", lambda kernel, conn: f"{conn.name} is done: the full socket goes")
def tcp_done(kernel: Kernel, conn: Connection) -> None:
    """The connection is over for the full socket: unhash it, drop the port (unless a TIME_WAIT sock took it
    over), free it (``inet_csk_destroy_sock`` → ``sk_free``)."""
    if "timewait" not in conn.objects:
        _drop(kernel, conn, "bind_bucket", "bind2_bucket")     # inet_put_port: the last user frees the buckets
    sk_prot_free(kernel, conn)


@kernel_function("net/ipv4/inet_timewait_sock.c", lambda kernel, conn, substate: f"a {substate} mini socket "
                 f"(tw_sock_TCP) for {conn.name}; {kernel.tw_count} exist, max {kernel.max_tw_buckets}")
def inet_twsk_alloc(kernel: Kernel, conn: Connection, substate: str) -> bool:
    """A ``struct tcp_timewait_sock``, unless tcp_max_tw_buckets are in use (then the connection just ends)."""
    if kernel.tw_count >= kernel.max_tw_buckets:
        trace_printk("TCP: time wait bucket table overflow")
        return False
    _hold(kernel, conn, "timewait", "tw_sock_TCP", "struct tcp_timewait_sock")
    kernel.tw_count += 1
    return True


@kernel_function("net/ipv4/tcp_minisocks.c", lambda kernel, conn, substate: f"{conn.name}: trade the full socket "
                 f"for a small timewait sock ({substate})")
def tcp_time_wait(kernel: Kernel, conn: Connection, substate: str = "TIME_WAIT") -> None:
    """Replace the orphaned tcp_sock with a timewait sock that remembers the 4-tuple and sequence numbers for 60 s
    (substate FIN_WAIT2 while the peer's FIN is still due). The timewait sock takes over the bind buckets."""
    if inet_twsk_alloc(kernel, conn, substate):
        trace_printk("inet_twsk_hashdance_schedule: the timewait sock takes the socket's place in ehash and bhash")
    tcp_done(kernel, conn)
    conn.state = substate if "timewait" in conn.objects else "CLOSE"


@kernel_function("net/ipv4/inet_timewait_sock.c", "60 s later: the timewait sock and its bind buckets go")
def inet_twsk_kill(kernel: Kernel, conn: Connection) -> None:
    """The TIME_WAIT timer fired: unhash the timewait sock, drop its bind buckets, free it."""
    _drop(kernel, conn, "timewait", "bind_bucket", "bind2_bucket")
    kernel.tw_count -= 1
    conn.state = "CLOSE"


@kernel_function("net/ipv4/tcp_input.c", lambda kernel, conn: f"{conn.name} got the peer's FIN")
def tcp_fin(kernel: Kernel, conn: Connection) -> None:
    """The peer closed: ESTABLISHED → CLOSE_WAIT. The FIN's sk_buff waits in the receive queue until read()."""
    _hold(kernel, conn, "fin_skb", "skbuff_head_cache", "the FIN's struct sk_buff")
    conn.state = "CLOSE_WAIT"


@check.arguments
def open_connection(kernel: Kernel, task: Task, name: str, side: str, until: str = "ESTABLISHED",
                    epoll: bool = False) -> Connection | int:
    """One end of a new connection, as far as ``until``: the client's socket() + connect(), or the server's
    SYN → ACK → accept(); with ``epoll`` the new socket is registered with an epoll instance."""
    _check_side_state(side, until)
    if side == "client":
        conn = __sys_socket(kernel, task, name)
        if isinstance(conn, int):
            return conn
        connect(kernel, conn)
    else:
        conn = handshake_server(kernel, name, "SYN_RECV" if until == "SYN_RECV" else "ACCEPT_QUEUE")
        if until in ("SYN_RECV", "ACCEPT_QUEUE"):
            return conn
        fd = __sys_accept4_file(kernel, task, conn)
        if fd < 0:
            return fd
    if epoll:
        epoll_ctl_add(kernel, conn)
    return conn


@check.arguments
def move_to(kernel: Kernel, task: Task, conn: Connection, state: str) -> None:
    """Take an ESTABLISHED end to ``state``: the peer's FIN (CLOSE_WAIT), or this side's close() and the peer's
    ACK (FIN_WAIT2) and FIN (TIME_WAIT)."""
    _check_side_state(conn.side, state)
    if state in ("ESTABLISHED", "SYN_RECV", "ACCEPT_QUEUE"):
        return
    if conn.state != "ESTABLISHED":
        raise ValueError(f"{conn.name} is {conn.state}; move_to starts from ESTABLISHED")
    if state == "CLOSE_WAIT":
        with on_cpu(0, "softirq"):
            tcp_fin(kernel, conn)
        return
    close(kernel, task, conn)
    with on_cpu(0, "softirq"):
        trace_printk(f"{conn.name}: the peer ACKs our FIN (FIN_WAIT1 → FIN_WAIT2)")
        tcp_time_wait(kernel, conn, "FIN_WAIT2")
        if state == "TIME_WAIT" and conn.state == "FIN_WAIT2":
            trace_printk(f"{conn.name}: the peer's FIN arrives: the timewait sock moves to TIME_WAIT")
            conn.state = "TIME_WAIT"


def _check_side_state(side: str, state: str) -> None:
    if side not in SIDES:
        raise ValueError(f"side must be one of {SIDES}, got {side!r}")
    if state not in STATES:
        raise ValueError(f"state must be one of {STATES}, got {state!r}")
    if side == "client" and state in ("SYN_RECV", "ACCEPT_QUEUE"):
        raise ValueError(f"{state} is a server-side state (a request or child of a listener)")


# --------------------------------------------------------------------------------------------------------------
# Scenarios: a traced connection, N connections, and the footprint that scales them

def _run(kernel: Kernel, task: Task, n: int, side: str, state: str, epoll: bool) -> list[Connection]:
    kernel.slub.phase = "open"
    conns = [open_connection(kernel, task, f"{side}{i}", side, state if state in ("SYN_RECV", "ACCEPT_QUEUE")
                             else "ESTABLISHED", epoll) for i in range(n)]
    if any(isinstance(c, int) for c in conns):
        raise RuntimeError("a connection failed to open: give the task more fds")
    kernel.slub.phase = "move"
    for conn in conns:
        move_to(kernel, task, conn, state)
    kernel.slub.phase = None
    return conns


@check.arguments
def connection_trace(profile: KernelProfile, side: str = "client", state: str = "TIME_WAIT", epoll: bool = False,
                     nr_cpus: check.Cpus | None = None, expire: bool = False):
    """The trace of one connection end from nothing to ``state`` (and, with ``expire``, past TIME_WAIT's 60 s):
    every slab allocation and free, with the slab caches and the connection's objects after each step."""
    _check_side_state(side, state)
    kernel = Kernel(profile, nr_cpus)
    task = kernel.task("app", 64)
    clock = [0]

    def snapshot():
        conn = kernel.connections[0] if kernel.connections else None
        return {"slab": kernel.slub.snapshot(), "slab bytes": kernel.slub.bytes, "touched": kernel.slub.last_row,
                "objects": sorted(o.cache for o in conn.objects.values()) if conn else [],
                "state": conn.state if conn else "-", "fds": len(task.files.fd)}

    with Tracer(clock=lambda: clock[0], snapshot=snapshot) as tracer:
        conn = open_connection(kernel, task, "conn", side, state if state in ("SYN_RECV", "ACCEPT_QUEUE")
                               else "ESTABLISHED", epoll)
        clock[0] += 1_000_000
        move_to(kernel, task, conn, state)
        if expire and conn.state in ("TIME_WAIT", "FIN_WAIT2"):
            clock[0] += profile.tcp_timewait_s * 1_000_000_000
            with on_cpu(0, "softirq"):
                inet_twsk_kill(kernel, conn)
    return tracer.trace


@check.arguments
def fd_limit_trace(nofile: int = 5, nr_open: int = 1048576, profile: KernelProfile | None = None):
    """A process with ``ulimit -n nofile`` (fds 0–2 taken, a listener at fd 3) calls socket() until EMFILE, then
    accept() fails with EMFILE while a connection waits in the accept queue: the order of the checks."""
    from netlab.kernel.profiles import PROFILES

    check.count("nofile", nofile, 1)
    if nofile < 4 or nofile > 64:
        raise ValueError("nofile must be in 4..64 (fds 0–2 and a listener, and a short trace)")
    kernel = Kernel((profile or PROFILES["6.12"]).replace(nr_open=nr_open))
    task = kernel.task("server", nofile)
    fd = limits.get_unused_fd_flags(task, kernel.nr_open)     # the listener (its objects are not traced here)
    limits.fd_install(task, fd, "listener")
    def snapshot():
        objects = sum(c.nr_objects for c in kernel.slub.caches.values())
        return {"nofile": (task.nofile.rlim_cur, task.nofile.rlim_max), **task.files.snapshot(), "slab objects": objects, "slab bytes": kernel.slub.bytes}

    with Tracer(snapshot=snapshot) as tracer:
        waiting = handshake_server(kernel, "queued")
        while True:
            conn = __sys_socket(kernel, task, f"sock{len(task.files.fd)}")
            if isinstance(conn, int):
                break
        __sys_accept4_file(kernel, task, waiting)
    return tracer.trace


@check.arguments
def connections_memory(profile: KernelProfile, n: int, side: str = "server", state: str = "ESTABLISHED",
                       epoll: bool = False, nr_cpus: check.Cpus | None = None) -> dict[str, int]:
    """Slab bytes per cache (after merging) for ``n`` connection ends opened then moved to ``state``, by running
    the step model object by object (exact; use :class:`Footprint` for large ``n``)."""
    _check_side_state(side, state)
    check.count("n", n, 1)
    if n > 200_000:
        raise ValueError("n must be <= 200000 for the object-by-object model; use footprint(...).bytes(n)")
    kernel = Kernel(profile, nr_cpus)
    task = kernel.task("app", n + 16)
    _run(kernel, task, n, side, state, epoll)
    return {row: c.bytes for row, c in sorted(kernel.slub.caches.items()) if c.bytes}


CHUNK = 1 << 16


@dataclass(frozen=True)
class RowPattern:
    """How one connection's objects sit in one slab cache: ``opened`` objects allocated while opening (those at
    ``kept_opened`` offsets still alive in the state), then ``moved`` while moving (``kept_moved`` alive)."""

    layout: SlabCache
    opened: int
    moved: int
    kept_opened: tuple[int, ...]
    kept_moved: tuple[int, ...]

    @check.arguments
    def slabs(self, n: check.Counts) -> np.ndarray:
        """Slabs in use for ``n`` connections (numpy array or int): every slab holding a live object."""
        n = np.asarray(n, dtype=np.int64)
        if not (self.kept_opened or self.kept_moved):
            return np.zeros(n.shape, dtype=np.int64)
        a, b, per = self.opened, self.moved, self.layout.objs_per_slab
        if self.kept_moved:     # survivors from both phases: the first sits in phase A or at the start of phase B
            first = min(self.kept_opened) // per if self.kept_opened else (n * a + min(self.kept_moved)) // per
            last = n * (a + b) + (max(self.kept_moved) - b)
        else:
            first = min(self.kept_opened) // per
            last = n * a + (max(self.kept_opened) - a)
        last //= per
        last -= first
        last += 1
        last *= n > 0
        return last


@dataclass(frozen=True)
class Footprint:
    """The memory of N connection ends in one state: per slab cache, its pattern; ``bytes(n)`` is exact."""

    profile: str
    side: str
    state: str
    epoll: bool
    page_size: int
    rows: Mapping[str, RowPattern]
    objects: tuple[str, ...]                    # the caches of one end's live objects, in allocation order
    aliases: Mapping[str, str]

    @check.arguments
    def bytes(self, n: check.Counts) -> np.ndarray:
        """Slab memory in bytes for ``n`` ends (an int or a numpy array of ints from 0 to :attr:`max_n`), slab
        overhead included."""
        arr = check.counts("n", n, 0, self.max_n)
        flat = arr.reshape(-1)
        total = np.zeros(flat.shape, dtype=np.int64)
        live = [p for p in self.rows.values() if p.kept_opened or p.kept_moved]
        for start in range(0, flat.size, CHUNK):           # chunks stay in the CPU cache
            part = flat[start:start + CHUNK]
            out = total[start:start + CHUNK]
            for p in live:
                out += p.slabs(part) * (p.layout.pages_per_slab * self.page_size)
        return total.reshape(arr.shape)

    @property
    def max_n(self) -> int:
        """The most ends :meth:`bytes` counts exactly: beyond it the bytes would overflow numpy's 64-bit ints."""
        worst = sum((p.opened + p.moved + 1) * p.layout.pages_per_slab * self.page_size for p in self.rows.values())
        return check.INT64_MAX // max(worst, 1)

    @property
    def per_connection(self) -> float:
        """Bytes per end for large N (the slab overhead spread over full slabs)."""
        return sum((p.opened + p.moved) * p.layout.bytes_per_object(self.page_size) for p in self.rows.values()
                   if p.kept_opened or p.kept_moved)

    def table(self) -> list[tuple[str, str, int, float]]:
        """(cache, struct, slot bytes, bytes per end with overhead) per live object, plus freed neighbours that
        still pin slab space (SLUB frees a slab only when all its objects are free)."""
        rows = []
        for cache in self.objects:
            layout = self.rows[self.aliases.get(cache, cache)].layout
            rows.append((cache, OBJECT_STRUCT.get(cache, cache), layout.object_size,
                         layout.bytes_per_object(self.page_size)))
        for row, p in self.rows.items():
            live = len(p.kept_opened) + len(p.kept_moved)
            holes = p.opened + p.moved - live if live else 0
            if holes:
                rows.append((row, f"{holes} freed neighbour(s) pinned", p.layout.object_size,
                             holes * p.layout.bytes_per_object(self.page_size)))
        return rows


@check.arguments
def footprint(profile: KernelProfile, state: str = "ESTABLISHED", side: str = "server", epoll: bool = False,
              nr_cpus: check.Cpus | None = None) -> Footprint:
    """Trace one connection end through the step model and read off, per slab cache, where its objects sit."""
    _check_side_state(side, state)
    kernel = Kernel(profile, nr_cpus, record=True)
    task = kernel.task("app", 64)
    (conn,) = _run(kernel, task, 1, side, state, epoll)
    live = {id(o) for o in conn.objects.values()}
    events: dict[str, list[tuple[str, str, Obj]]] = {}
    for phase, kind, row, obj in kernel.slub.log:
        events.setdefault(row, []).append((phase, kind, obj))
    rows = {}
    for row, evs in events.items():
        allocs = {ph: [o for p, k, o in evs if p == ph and k == "alloc"] for ph in ("open", "move")}
        frees = {ph: [o for p, k, o in evs if p == ph and k == "free"] for ph in ("open", "move")}
        kept = {ph: tuple(i for i, o in enumerate(allocs[ph]) if id(o) in live) for ph in ("open", "move")}
        has_live = bool(kept["open"] or kept["move"])
        if has_live and (frees["open"] or (frees["move"] and allocs["move"])):
            raise ValueError(f"{row}: objects freed and allocated in one phase next to survivors; the slab "
                             f"pattern of N connections would not repeat")
        layout = kernel.slub.caches[row].layout
        if len(allocs["open"]) + len(allocs["move"]) > layout.objs_per_slab:
            raise ValueError(f"{row}: one connection fills more than a slab")
        rows[row] = RowPattern(layout, len(allocs["open"]), len(allocs["move"]), kept["open"], kept["move"])
    allocated = [o for _, kind, _, o in kernel.slub.log if kind == "alloc"]
    order = sorted(conn.objects.values(), key=lambda o: next(i for i, a in enumerate(allocated) if a is o))
    return Footprint(profile.name, side, state, epoll, profile.page_size, rows, tuple(o.cache for o in order),
                     dict(profile.slab_aliases))


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

