"""Capacity planning: how many connections one machine holds, and how many machines N users need.

Vectorised with numpy over the slab model of :mod:`netlab.load.memory`: :func:`memory_for` is the exact slab
memory of any number of connections (ten million in well under a second), :func:`connections_that_fit` inverts
it for a whole grid of machine sizes, and :func:`plan` adds what the book's estimate weighs: a share of RAM for
the OS and the application (``reserve``), buffer memory per connection for bursts, the CPU cost of messages, and
the file-descriptor limits (``fs.nr_open`` per process, the default ``fs.file-max``).

The book (3.10): an idle connection costs about 3.3 KiB, so 4 GB holds about a million; a 128 GB push server
takes about 5 million, spending under 20 GB on sockets and keeping the rest for buffers; 100 million users need
about 20 machines. With ``reserve=0.25`` and a push burst that fills each send buffer to its default size
(``tcp_wmem[1]``, 16 KiB), the planner gives those answers from the model's per-connection cost.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

import numpy as np

from netlab import check
from netlab.kernel.limits import files_maxfiles_init
from netlab.load.memory import Footprint, footprint
from netlab.kernel.profiles import KernelProfile

GIB = 2 ** 30
RESERVE = 0.25
"""Share of RAM left to the OS, the page cache and the application itself."""
SECONDS_PER_DAY = 86_400


@check.arguments
def buffer_per_connection(profile: KernelProfile, scenario: str) -> int:
    """Buffer bytes to budget per connection: ``"idle"`` none (idle sockets hold no buffers), ``"push"`` a
    burst that fills every send buffer to its default size ``tcp_wmem[1]``."""
    check.choice("scenario", scenario, ("idle", "push"))
    return 0 if scenario == "idle" else profile.tcp_wmem[1]


@check.arguments
def memory_for(connections: check.Counts, profile: KernelProfile, state: str = "ESTABLISHED",
               side: str = "server", epoll: bool = False, nr_cpus: check.Cpus | None = None) -> np.ndarray:
    """Exact slab bytes for each count in ``connections`` (an int or an array of ints ≥ 0)."""
    fp = footprint(profile, state, side, epoll, nr_cpus)
    return fp.bytes(check.counts("connections", connections, 0, fp.max_n))


def _max_memory_bytes(fp: Footprint) -> float:
    """The most memory whose connections :meth:`Footprint.bytes` still counts in 64-bit integers."""
    return float(fp.max_n) * fp.per_connection


@check.arguments
def connections_that_fit(memory_bytes: check.Amounts, profile: KernelProfile, *, buffer: int = 0,
                         reserve: Annotated[float, check.Range(0, 1)] = RESERVE, state: str = "ESTABLISHED",
                         side: str = "server", epoll: bool = False, nr_cpus: check.Cpus | None = None) -> np.ndarray:
    """The largest N whose slab memory plus ``N × buffer`` fits in ``memory_bytes × (1 - reserve)``, for every
    machine size in ``memory_bytes`` (exact, by bisection on :func:`memory_for`)."""
    fp = footprint(profile, state, side, epoll, nr_cpus)
    memory = check.reals("memory_bytes", memory_bytes, maximum=_max_memory_bytes(fp), above=0)
    if reserve == 1:
        raise ValueError("reserve must be a fraction below 1: with all memory reserved no connection fits")
    budget = np.floor(memory * (1 - reserve)).astype(np.int64)
    per = fp.per_connection + buffer
    slack = sum(p.layout.pages_per_slab * fp.page_size for p in fp.rows.values())   # one partial slab per cache
    lo = np.maximum((budget - slack) // per, 0).astype(np.int64)      # always fits
    hi = np.minimum(budget // per + 1, fp.max_n).astype(np.int64)      # never fits
    while (hi - lo > 1).any():
        mid = (lo + hi) // 2
        fits = fp.bytes(mid) + mid * buffer <= budget
        lo, hi = np.where(fits, mid, lo), np.where(fits, hi, mid)
    return lo


@dataclass(frozen=True)
class Plan:
    """The planner's answer (numpy arrays when a grid was given)."""

    memory_bytes: np.ndarray
    kernel_per_connection: float          # slab bytes per connection, overhead included
    buffer_per_connection: int
    connections_per_machine: np.ndarray   # the smaller of the memory and CPU bounds
    memory_bound: np.ndarray
    cpu_bound: np.ndarray
    machines: np.ndarray                  # for ``users`` users, one connection each
    socket_memory: np.ndarray             # slab bytes of connections_per_machine
    processes_needed: np.ndarray          # a process holds at most fs.nr_open fds
    default_file_max: np.ndarray          # fs.file-max the kernel would pick for this RAM

    @property
    def bottleneck(self) -> np.ndarray:
        return np.where(self.memory_bound <= self.cpu_bound, "memory", "CPU")

    def __str__(self) -> str:
        c, m = np.atleast_1d(self.connections_per_machine), np.atleast_1d(self.machines)
        mem = np.atleast_1d(self.memory_bytes)
        return "\n".join(f"{x / GIB:8.0f} GiB: {int(k):>12,} connections per machine, {int(n):>6,} machines"
                         for x, k, n in zip(mem, c, m))


@check.arguments
def plan(users: Annotated[check.Counts, check.Range(1, check.INT64_MAX)], memory_gib: check.Amounts,
         profile: KernelProfile, *, scenario: str = "push",
         buffer: int | None = None, reserve: Annotated[float, check.Range(0, 1)] = RESERVE,
         messages_per_user_per_day: float = 2.0, heartbeat_s: float | None = None,
         cpu_cores: int = 16, cpu_us_per_message: float = 50.0, state: str = "ESTABLISHED",
         side: str = "server") -> Plan:
    """Connections per machine and machines for ``users`` (one long-lived connection each), for each machine size
    in ``memory_gib``. CPU: every message (and heartbeat) costs ``cpu_us_per_message`` of one of ``cpu_cores``."""
    users = check.counts("users", users, 1)
    fp = footprint(profile, state, side, False, None)
    memory = check.reals("memory_gib", memory_gib, maximum=_max_memory_bytes(fp) / GIB, above=0) * GIB
    check.count("cpu_cores", cpu_cores, 1)
    if heartbeat_s is not None:
        check.real("heartbeat_s", heartbeat_s, above=0)
    buffer = buffer_per_connection(profile, scenario) if buffer is None else buffer
    by_memory = connections_that_fit(memory, profile, buffer=buffer, reserve=reserve, state=state, side=side)
    per_second = messages_per_user_per_day / SECONDS_PER_DAY + (1 / heartbeat_s if heartbeat_s else 0.0)
    cpu_capacity = cpu_cores * 1e6 / cpu_us_per_message if cpu_us_per_message else np.inf
    by_cpu = np.full(by_memory.shape, int(min(cpu_capacity / per_second, check.INT64_MAX)) if per_second
                     else check.INT64_MAX, dtype=np.int64)
    if (by_cpu < 1).any():
        raise ValueError("messages_per_user_per_day, heartbeat_s and cpu_us_per_message leave no CPU time for even "
                         "one connection")
    per_machine = np.minimum(by_memory, by_cpu)
    if (per_machine < 1).any():
        raise ValueError("not even one connection fits: more memory, less reserve or a smaller buffer")
    pages = (memory // profile.page_size).astype(np.int64)
    file_max = np.vectorize(lambda p: files_maxfiles_init(int(p), int(p * 0.95), profile))(pages)
    return Plan(memory, fp.per_connection, buffer, per_machine, by_memory, by_cpu,
                -(-users // per_machine), fp.bytes(per_machine),
                np.ceil(per_machine / profile.nr_open).astype(np.int64), file_max)
