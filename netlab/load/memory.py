"""The exact slab memory of N connection ends, from a few traced ones (numpy, any N).

Chapter 06's world (:mod:`netlab.scenarios.connection_memory`) opens connection ends one after another and then
takes each on, phase by phase (open; move to a state; …), every end run until its hosts are quiet before the next.
The slab allocator (:mod:`netlab.kernel.slub`) then sees the same operations for every end but the first, in each
phase: allocations, and frees of that end's own objects — including the objects that live for a moment (the
SYN's sk_buff, a request sock that accept() frees). :func:`slab_templates` reads those operations per slab cache off
the allocator's log of a few ends; :meth:`RowTemplate.replay` plays them for N ends on a fresh cache with the
allocator's own slot choice (:meth:`KmemCache.take`), which is what N ends cost. NAPI's per-CPU cache of sk_buffs is
replayed too: an end takes a sk_buff from its CPU's cache and gives it back there, and the cache refills in bulk and
gives half back when full, as ``napi_skb_cache_get`` and ``napi_skb_cache_put`` (:mod:`netlab.kernel.skbuff`) do.
:func:`row_pattern` finds where the bytes of N ends repeat (every ``period`` more ends cost ``step`` more bytes, from
``start`` on: the layout comes back once the ends' objects have filled a whole number of slabs), so a
:class:`RowPattern` answers for any N without replaying.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

import numpy as np

from netlab import check
from netlab.kernel.profiles import SlabCache
from netlab.kernel.skbuff import NAPI_SKB_CACHE_BULK, NAPI_SKB_CACHE_HALF, NAPI_SKB_CACHE_SIZE
from netlab.kernel.slub import KmemCache, Obj, Slub

MAX_REPLAY = 4096
"""The most ends :class:`RowPattern` replays while looking for the repeat (a slab holds at most a few hundred
objects, so the layout repeats long before)."""
REPEATS = 3
"""How many periods in a row the bytes must repeat before the pattern is trusted."""


@dataclass(frozen=True)
class RowTemplate:
    """How connection ends use one slab cache: ``setup`` (the world's own objects, e.g. the listener's, allocated
    before any end), then per phase the operations of the first end and of every later one. An operation is
    (action, key, CPU): action "alloc" or "free" (from and to the slab), "get" or "put" (from and to that CPU's
    per-CPU cache); key names the object: (phase, its number among that end's objects of this cache and phase), or
    its number among setup's."""

    layout: SlabCache
    page_size: int
    setup: tuple[tuple, ...]
    first: tuple[tuple[tuple, ...], ...]
    rest: tuple[tuple[tuple, ...], ...]

    @check.arguments
    def replay(self, n: int) -> tuple[int, ...]:
        """Slab bytes of this cache after each phase for ``n`` ends (the world's own objects included)."""
        return self._play(n)[1]

    @property
    def live(self) -> int:
        """How many objects a later end still holds in this cache after the last phase."""
        taken = sum(action in ("alloc", "get") for ops in self.rest for action, _, _ in ops)
        return taken - (sum(len(ops) for ops in self.rest) - taken)

    def _bytes_up_to(self, last: int) -> np.ndarray:
        """Bytes after the last phase for 0 … ``last`` ends, less the world's own: one replay per N, or a single one
        when at most one phase touches this cache (then the bytes after each end are those of that many ends)."""
        touched = [p for p in range(len(self.rest)) if self.rest[p] or self.first[p]]
        if len(touched) > 1:
            out = np.array([self.replay(n)[-1] for n in range(last + 1)], dtype=np.int64)
        else:
            phase = touched[0] if touched else 0
            single = RowTemplate(self.layout, self.page_size, self.setup, (self.first[phase],), (self.rest[phase],))
            own, _, each = single._play(last)
            out = np.array([own, *each], dtype=np.int64)
        return out - out[0]

    def _play(self, n: int) -> tuple[int, tuple[int, ...], tuple[int, ...]]:
        """Replay on a fresh cache: the bytes after the setup, after each phase, and after each end of each phase."""
        cache = KmemCache(self.layout, self.page_size)
        percpu: dict[int, list[tuple[int, int]]] = {}
        slots: dict = {}

        def run(ops, end):
            for action, key, cpu in ops:
                if action == "alloc":
                    slots[end, key] = cache.take()
                elif action == "free":
                    cache.give_back(*slots.pop((end, key)))
                elif action == "get":                # napi_skb_cache_get: refill in bulk when empty
                    stack = percpu.setdefault(cpu, [])
                    if not stack:
                        stack.extend(cache.take() for _ in range(NAPI_SKB_CACHE_BULK))
                    slots[end, key] = stack.pop()
                else:                                # napi_skb_cache_put: give the upper half back when full
                    stack = percpu.setdefault(cpu, [])
                    stack.append(slots.pop((end, key)))
                    if len(stack) >= NAPI_SKB_CACHE_SIZE:
                        for slot in stack[NAPI_SKB_CACHE_HALF:]:
                            cache.give_back(*slot)
                        del stack[NAPI_SKB_CACHE_HALF:]

        run(self.setup, None)
        setup, phases, ends = cache.bytes, [], []
        for phase in range(len(self.rest)):
            for end in range(n):
                run((self.first if end == 0 else self.rest)[phase], end)
                ends.append(cache.bytes)
            phases.append(cache.bytes)
        return setup, tuple(phases), tuple(ends)


@dataclass(frozen=True)
class RowPattern:
    """N ends' bytes in one slab cache for any N: ``head[n]`` for n < ``start`` + ``period``; after that, every
    ``period`` more ends add ``step`` bytes."""

    layout: SlabCache
    live: int
    head: tuple[int, ...]
    start: int
    period: int
    step: int

    def __post_init__(self):
        check.fields(self)
        if self.period < 1 or len(self.head) != self.start + self.period:
            raise ValueError("head must hold the bytes of 0 … start + period - 1 ends, and period must be ≥ 1")

    @property
    def max_n(self) -> int:
        """The most ends whose bytes fit numpy's 64-bit ints."""
        return (check.INT64_MAX - max(self.head)) // max(self.step, 1) * self.period

    @check.arguments
    def bytes(self, n: check.Counts) -> np.ndarray:
        """Bytes for ``n`` ends (an int or an array of ints up to :attr:`max_n`)."""
        n = check.counts("n", n, 0, self.max_n)
        head = np.asarray(self.head, dtype=np.int64)
        later = np.maximum(n - self.start, 0)
        laps, within = np.divmod(later, self.period)
        early = head[np.minimum(n, len(head) - 1)]
        return np.where(n < self.start, early, head[self.start + within] + laps * self.step)

    @check.arguments
    def peak(self, n: check.Counts) -> np.ndarray:
        """The most bytes this cache held on the way to ``n`` ends (it need not grow at every end: NAPI's per-CPU
        cache takes sk_buffs in bulk and gives half back when full)."""
        n = check.counts("n", n, 0, self.max_n)
        head = np.asarray(self.head, dtype=np.int64)
        if self.step < 0:
            raise ValueError(f"{self.layout.name}: a cache that shrinks as ends are added has no peak formula")
        lap = head[self.start:]
        before = int(head[:self.start].max()) if self.start else 0
        laps, within = np.divmod(np.maximum(n - self.start, 0), self.period)
        later = np.maximum(np.maximum(before, np.where(laps > 0, int(lap.max()) + (laps - 1) * self.step, 0)),
                           np.maximum.accumulate(lap)[within] + laps * self.step)
        return np.where(n < len(head), np.maximum.accumulate(head)[np.minimum(n, len(head) - 1)], later)

    @property
    def per_end(self) -> float:
        """Bytes per end for large N."""
        return self.step / self.period


@check.arguments
def row_pattern(template: RowTemplate) -> RowPattern:
    """Replay more and more ends until the bytes repeat for :data:`REPEATS` periods in a row and at least as many
    slabs' worth of objects (a run of ends that fill no new slab is no period); ``ValueError`` if they do not within
    :data:`MAX_REPLAY` ends."""
    per = template.layout.objs_per_slab
    last = (REPEATS + 2) * per + 8
    while True:
        g = template._bytes_up_to(last)
        for period in range(1, last // (REPEATS + 1) + 1):
            diffs = g[period:] - g[:-period]
            unequal = np.flatnonzero(diffs != diffs[-1])
            start = int(unequal[-1]) + 1 if unequal.size else 0
            if len(diffs) - start >= REPEATS * max(period, per):
                return RowPattern(template.layout, template.live, tuple(int(b) for b in g[:start + period]), start,
                                  period, int(diffs[-1]))
        if last >= MAX_REPLAY:
            raise ValueError(f"{template.layout.name}: the bytes of N ends do not repeat within {MAX_REPLAY} ends")
        last = min(2 * last, MAX_REPLAY)


ACTIONS = {"alloc": "alloc", "cache get": "get", "free": "free", "cache put": "put"}
"""The log's kinds an end's operations are made of (bulk allocations and frees are a per-CPU cache's own, which
the replay makes itself)."""


@check.arguments
def slab_templates(slub: Slub, log: list) -> dict[str, RowTemplate]:
    """Per /proc/slabinfo row, the operations of a world's ends, read off ``log`` (a :class:`Slub`'s log, labels
    ("setup", None) or (phase name, end number)). The ends after the first must repeat the second's operations
    exactly, and an end may give back only what it took; otherwise the memory of N ends would not follow from a
    few, and this says which cache broke the rule."""
    phases: list[str] = []
    for (phase, end), *_ in log:
        if end is not None and phase not in phases:
            phases.append(phase)
    held: dict[int, tuple] = {}                                       # id(obj) -> (its end, its key)
    counts: dict[tuple, int] = {}
    ops: dict[tuple, list] = {}                                       # (row, end, phase index) -> operations
    for (phase, end), kind, row, obj, cpu in log:
        if kind not in ACTIONS:
            continue
        p = phases.index(phase) if end is not None else -1
        action = ACTIONS[kind]
        if action in ("alloc", "get"):
            number = counts[row, end, p] = counts.get((row, end, p), -1) + 1
            held[id(obj)] = (end, (p, number) if end is not None else number)
            key = held[id(obj)][1]
        else:
            owner, key = held.pop(id(obj))
            if owner != end:
                raise ValueError(f"{row}: end {end} gives back an object of end {owner} ({obj.owner}); the memory of "
                                 f"N ends would not follow from a few")
        ops.setdefault((row, end, p), []).append((action, key, cpu))
    ends = sorted({end for (_, end, _) in ops if end is not None})
    if len(ends) < 3:
        raise ValueError("the log must hold at least three ends (the first, and two to show the others repeat)")
    out = {}
    for row in sorted({r for (r, _, _) in ops}):
        first, *later = ([tuple(ops.get((row, end, p), ())) for p in range(len(phases))] for end in ends)
        if any(other != later[0] for other in later[1:]):
            raise ValueError(f"{row}: the later ends do not repeat each other's allocations and frees")
        cache = slub.caches[row]
        out[row] = RowTemplate(cache.layout, cache.page_size, tuple(ops.get((row, None, -1), ())), tuple(first),
                               tuple(later[0]))
    return out


@dataclass(frozen=True)
class Footprint:
    """The slab memory of N connection ends in one state (what they add to the world's own): per slab cache, its
    :class:`RowPattern`; ``objects`` are the caches of one end's live objects in allocation order."""

    profile: str
    side: str
    state: str
    epoll: bool
    page_size: int
    rows: Mapping[str, RowPattern]
    objects: tuple[str, ...]
    aliases: Mapping[str, str]
    structs: Mapping[str, str]
    limit: int | None = None
    """The most ends the state allows (a listener's queue holds so many; the next SYN gets a cookie and costs no
    memory, the next finished handshake is dropped); None: no such limit."""

    @check.arguments
    def bytes(self, n: check.Counts) -> np.ndarray:
        """Slab memory in bytes for ``n`` ends (an int or a numpy array of ints from 0 to :attr:`max_n`), slab
        overhead included."""
        arr = check.counts("n", n, 0, self.max_n)
        total = np.zeros(arr.shape, dtype=np.int64)
        for pattern in self.rows.values():
            total += pattern.bytes(arr)
        return total

    @check.arguments
    def peak(self, n: check.Counts) -> np.ndarray:
        """An upper bound on the most bytes held on the way to ``n`` ends, exact per cache (the sum of each cache's
        peak): what a machine must have room for while its connections are opened one by one."""
        arr = check.counts("n", n, 0, self.max_n)
        total = np.zeros(arr.shape, dtype=np.int64)
        for pattern in self.rows.values():
            total += pattern.peak(arr)
        return total

    @property
    def max_n(self) -> int:
        """The most ends :meth:`bytes` counts: :attr:`limit`, or where the bytes would overflow numpy's 64-bit ints."""
        worst = sum(abs(p.step) + max(p.head) for p in self.rows.values())
        return min(check.INT64_MAX // max(worst, 1), check.INT64_MAX if self.limit is None else self.limit)

    @property
    def per_connection(self) -> float:
        """Bytes per end for large N (the slab overhead spread over full slabs)."""
        return sum(p.per_end for p in self.rows.values())

    def table(self) -> list[tuple[str, str, int, float]]:
        """(cache, struct, slot bytes, bytes per end with overhead) per live object, plus the slots freed
        neighbours still pin per end (SLUB frees a slab only when all its objects are free)."""
        rows = []
        for cache in self.objects:
            layout = self.rows[self.aliases.get(cache, cache)].layout
            rows.append((cache, self.structs.get(cache, cache), layout.object_size,
                         layout.bytes_per_object(self.page_size)))
        for row, p in self.rows.items():
            slots = p.per_end / p.layout.bytes_per_object(self.page_size)
            holes = round(slots - p.live, 2)
            if p.live and holes > 0:
                what = f"{holes:g} freed neighbour{'s' * (holes != 1)} pinned"
                rows.append((row, what, p.layout.object_size, holes * p.layout.bytes_per_object(self.page_size)))
        return rows


@check.arguments
def live_objects(log: list, end: int) -> tuple[Obj, ...]:
    """The objects ``end`` took (allocated, or got from a per-CPU cache) and still holds, in the order it took them."""
    held: dict[int, Obj] = {}
    for (_, e), kind, _, obj, _ in log:
        if e == end and ACTIONS.get(kind) in ("alloc", "get"):
            held[id(obj)] = obj
        elif ACTIONS.get(kind) in ("free", "put"):
            held.pop(id(obj), None)
    return tuple(held.values())
