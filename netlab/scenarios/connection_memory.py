"""Chapter 06's world: connections opened and closed on one kernel, traced object by object.

:func:`connection_trace` follows one connection end from nothing to a state (every slab allocation and free);
:func:`fd_limit_trace` shows the order of the fd checks (EMFILE at socket() and accept()); :func:`connections_memory`
runs N ends through the step model (:mod:`netlab.kernel.memory`, allocating from :mod:`netlab.kernel.slub`);
:func:`modelled` is the model's side of the live experiment
(:func:`netlab.live.connection_memory.measure_connection_memory`), and :func:`compare` puts the two side by side.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Mapping

from netlab import check
from netlab.kernel import limits
from netlab.kernel.fdtable import FdTableState
from netlab.kernel.memory import (OBJECT_STRUCT, Kernel, __sys_accept4_file, __sys_socket, check_side_state,
                                  handshake_server, inet_twsk_kill, move_to, move_to_end, open_and_move,
                                  open_connection)
from netlab.kernel.profiles import LINUX_6_12, KernelProfile
from netlab.kernel.sched import Scheduler
from netlab.kernel.slub import CacheState
from netlab.kernel.timer import TimerList
from netlab.live.connection_memory import MAX_CONNECTIONS, STEPS, ConnectionMemory
from netlab.trace import Tracer


@dataclass(frozen=True)
class ConnectionMemoryState:
    """One connection end's kernel memory at a step: the slab caches in use (by /proc/slabinfo row), their bytes,
    the cache the step touched, the slab objects the connection holds, its TCP state, the process's open fds."""

    slab: Mapping[str, CacheState]
    slab_bytes: int
    touched: str | None
    objects: tuple[str, ...]
    state: str
    fds: int


@dataclass(frozen=True)
class FdLimitState:
    """A process at its fd limit, at a step: RLIMIT_NOFILE (soft, hard), its fd table, the slab objects and bytes."""

    nofile: tuple[int, int]
    fdtable: FdTableState
    slab_objects: int
    slab_bytes: int


@check.arguments
def connection_trace(profile: KernelProfile, side: str = "client", state: str = "TIME_WAIT", epoll: bool = False,
                     nr_cpus: check.Cpus | None = None, expire: bool = False):
    """The trace of one connection end from nothing to ``state`` (and, with ``expire``, past TIME_WAIT's 60 s):
    every slab allocation and free, with the slab caches and the connection's objects after each step."""
    check_side_state(side, state)
    kernel = Kernel(profile, nr_cpus)
    task = kernel.task("app", 64)
    sched = Scheduler(profile=profile)
    conn = []

    def snapshot():                                   # once per step: touched is what this step touched
        end = kernel.connections[0] if kernel.connections else None
        touched, kernel.slub.last_row = kernel.slub.last_row, None
        return ConnectionMemoryState(kernel.slub.snapshot(), kernel.slub.bytes, touched,
                                     tuple(sorted(o.cache for o in end.objects.values())) if end else (),
                                     end.state if end else "-", len(task.files.fd))

    def opened(timer: TimerList) -> None:
        conn.append(open_connection(kernel, task, "conn", side, state if state in ("SYN_RECV", "ACCEPT_QUEUE")
                                    else "ESTABLISHED", epoll))

    def moved(timer: TimerList) -> None:
        move_to(kernel, task, conn[0], state)
        if expire and conn[0].state in ("TIME_WAIT", "FIN_WAIT2"):     # the timewait sock's tw_timer
            sched.mod_timer(TimerList(lambda t: inet_twsk_kill(kernel, conn[0]), name="tw_timer"),
                            sched.clock + profile.tcp_timewait_s * 1_000_000_000)

    sched.mod_timer(TimerList(opened, name="the program opens the connection", context="process"), 0)
    sched.mod_timer(TimerList(moved, name="the connection moves on", context="process"), 1_000_000)
    with Tracer(clock=sched.now, snapshot=snapshot, renamed=profile.renamed) as tracer:
        sched.run()
    return tracer.trace


@check.arguments
def fd_limit_trace(nofile: int = 5, nr_open: int = 1048576, profile: KernelProfile | None = None):
    """A process with ``ulimit -n nofile`` (fds 0–2 taken, a listener at fd 3) calls socket() until EMFILE, then
    accept() fails with EMFILE while a connection waits in the accept queue: the order of the checks."""
    check.count("nofile", nofile, 1)
    if nofile < 4 or nofile > 64:
        raise ValueError("nofile must be in 4..64 (fds 0–2 and a listener, and a short trace)")
    kernel = Kernel((profile or LINUX_6_12).replace(nr_open=nr_open))
    task = kernel.task("server", nofile)
    fd = limits.get_unused_fd_flags(task, kernel.nr_open)     # the listener (its objects are not traced here)
    limits.fd_install(task, fd, "listener")
    def snapshot():
        objects = sum(c.nr_objects for c in kernel.slub.caches.values())
        return FdLimitState((task.nofile.rlim_cur, task.nofile.rlim_max), task.files.snapshot(), objects,
                            kernel.slub.bytes)

    with Tracer(snapshot=snapshot, renamed=kernel.profile.renamed) as tracer:
        waiting = handshake_server(kernel, "the waiting connection")
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
    the step model object by object (exact; use :class:`netlab.load.memory.Footprint` for large ``n``)."""
    check_side_state(side, state)
    check.count("n", n, 1)
    if n > 200_000:
        raise ValueError("n must be <= 200000 for the object-by-object model; use footprint(...).bytes(n)")
    kernel = Kernel(profile, nr_cpus)
    task = kernel.task("app", n + 16)
    open_and_move(kernel, task, n, side, state, epoll)
    return {row: c.bytes for row, c in sorted(kernel.slub.caches.items()) if c.bytes}


@dataclass(frozen=True)
class ModelReading:
    """The model's side of one reading of the live experiment: bytes per connection (both ends), in all and by
    /proc/slabinfo row."""

    step: str
    per_connection: float
    rows: Mapping[str, float]


@check.arguments
def modelled(profile: KernelProfile, n: Annotated[int, check.Range(1, MAX_CONNECTIONS)] = 1000,
             first_closer: str = "client", epoll: bool = False) -> tuple[ModelReading, ...]:
    """The live experiment (:func:`netlab.live.connection_memory.measure_connection_memory`) run object by object:
    ``n`` connections opened one after another, the client's end and then the server's (so their objects sit side
    by side in the same slabs, as on the machine), then the ``first_closer``'s ends closed (FIN_WAIT2, the others
    CLOSE_WAIT, each holding the FIN its peer sent over loopback), then the others' (the first closer's ends in
    TIME_WAIT, the others freed). Slab bytes per connection after each step: a slab goes back only when every
    object in it is free, so after the first close the freed ends' tcp_socks and inodes still cost what their slabs
    cost."""
    if first_closer not in STEPS:
        raise ValueError("first_closer must be 'client' or 'server'")
    other = "server" if first_closer == "client" else "client"
    kernel = Kernel(profile, loopback=True)
    task = kernel.task("app", 2 * n + 16)
    pairs = [{side: open_connection(kernel, task, f"{side}{i}", side, "ESTABLISHED", epoll)
              for side in ("client", "server")} for i in range(n)]

    def reading(step: int) -> ModelReading:
        rows = {row: c.bytes / n for row, c in sorted(kernel.slub.caches.items()) if c.bytes}
        return ModelReading(STEPS[first_closer][step], sum(rows.values()), rows)

    readings = [reading(0)]
    for pair in pairs:
        move_to(kernel, task, pair[first_closer], "FIN_WAIT2")
        move_to(kernel, task, pair[other], "CLOSE_WAIT")
    readings.append(reading(1))
    for pair in pairs:
        move_to_end(kernel, task, pair[first_closer])
        move_to_end(kernel, task, pair[other])
    readings.append(reading(2))
    return tuple(readings)


@dataclass(frozen=True)
class ComparisonRow:
    """One line of :func:`compare`: a step (``cache`` empty: the sum of the model's caches) or one cache of it,
    measured and modelled bytes per connection (``model`` None: not modelled)."""

    step: str
    cache: str
    measured: float
    model: float | None

    @property
    def label(self) -> str:
        """The step, or the cache indented under it."""
        return f"  {self.cache}" if self.cache else self.step


@check.arguments
def compare(measured: ConnectionMemory, profile: KernelProfile) -> tuple[ComparisonRow, ...]:
    """The live experiment beside :func:`modelled` (run for the same ``n`` and closing order on ``profile``), step by
    step in bytes per connection: first the slab caches the model allocates from, their sum on the step's line, each
    named by the cache the model uses and, where SLUB merged it, the /proc/slabinfo row that counts it; then, on a
    line of its own, what the other caches moved meanwhile (the machine's other activity: not the experiment's).
    Measured with meminfo (no per-cache rows), one line per step."""
    n = measured.n
    rows = []
    for reading, model in zip(measured.readings, modelled(profile, n, measured.first_closer, measured.epoll)):
        if measured.method != "slabinfo":
            rows.append(ComparisonRow(reading.step, "", reading.per_connection(n), model.per_connection))
            continue
        mine = {row: reading.rows.get(row, (0, 0))[1] / n for row in model.rows}
        rows.append(ComparisonRow(reading.step, "", sum(mine.values()), model.per_connection))
        for row in sorted(model.rows, key=lambda r: -model.rows[r]):
            caches = [c for c, r in profile.slab_aliases.items() if r == row]
            label = (f"{row} (+ {', '.join(caches)})" if row in OBJECT_STRUCT and caches
                     else f"{', '.join(caches)} (slabinfo: {row})" if caches else row)
            rows.append(ComparisonRow(reading.step, label, mine[row], model.rows[row]))
        other = sum(b for row, (_, b) in reading.rows.items() if row not in model.rows) / n
        if abs(other) >= 1:
            rows.append(ComparisonRow(reading.step, "other caches (the machine's other activity)", other, None))
    return tuple(rows)
