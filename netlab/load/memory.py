"""The exact slab memory of N connection ends, from one traced end (numpy, any N).

N connection ends opened one after another, then moved to a state, lay their objects out in the slabs in a fixed
pattern: :func:`footprint` runs one end through the step model (:mod:`netlab.kernel.memory`) and reads off, per slab
cache, where its objects sit; :meth:`Footprint.bytes` turns that into the memory of N, equal to the step model's
(``netlab.scenarios.connection_memory.connections_memory``) for every N.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

import numpy as np

from netlab import check
from netlab.kernel.memory import OBJECT_STRUCT, Kernel, check_side_state, open_and_move
from netlab.kernel.profiles import KernelProfile, SlabCache
from netlab.kernel.slub import Obj
from netlab.units import plural

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
                rows.append((row, f"{plural(holes, 'freed neighbour')} pinned", p.layout.object_size,
                             holes * p.layout.bytes_per_object(self.page_size)))
        return rows


@check.arguments
def footprint(profile: KernelProfile, state: str = "ESTABLISHED", side: str = "server", epoll: bool = False,
              nr_cpus: check.Cpus | None = None) -> Footprint:
    """Trace one connection end through the step model and read off, per slab cache, where its objects sit."""
    check_side_state(side, state)
    kernel = Kernel(profile, nr_cpus, record=True)
    task = kernel.task("app", 64)
    (conn,) = open_and_move(kernel, task, 1, side, state, epoll)
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
