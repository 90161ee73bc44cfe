"""Capacity planning: how many connections one machine holds, and how many machines N users need.

Vectorised with numpy over the slab model of :mod:`netlab.load.memory`: :func:`memory_for` is the exact slab
memory of any number of connections (ten million in well under a second), :func:`connections_that_fit` inverts
it for a whole grid of machine sizes, and :func:`plan` adds what the book's estimate weighs: a share of RAM for
the OS and the application (``reserve``), buffer memory per connection for bursts, the CPU and packets an idle
connection still costs (:func:`idle_traffic`: messages, application heartbeats, TCP keepalive probes), and the
file-descriptor limits (``fs.nr_open`` per process, the default ``fs.file-max``).

The book (3.10): an idle connection costs about 3.3 KiB, so 4 GB holds about a million; a 128 GB push server
takes about 5 million, spending under 20 GB on sockets and keeping the rest for buffers; 100 million users need
about 20 machines. With ``reserve=0.25`` and a push burst that fills each send buffer to its default size
(``tcp_wmem[1]``, 16 KiB), the planner gives those answers from the model's per-connection cost.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Annotated

import numpy as np

from netlab import check
from netlab.kernel.limits import files_maxfiles_init
from netlab.load.memory import Footprint
from netlab.scenarios.connection_memory import footprint
from netlab.kernel.profiles import KernelProfile

GIB = 2 ** 30
RESERVE = 0.25
"""Share of RAM left to the OS, the page cache and the application itself."""
SECONDS_PER_DAY = 86_400

ROUND_TRIP_CPU_US = 16.0
"""CPU time of one exchange (a small request and its reply), by default: a 1-byte TCP ping-pong over 127.0.0.1
with both ends on one CPU (:func:`netlab.live.loopback.round_trips`) keeps that CPU busy for the whole round trip, so
its median RTT is the CPU both ends spend on it — send path, loopback receive path, two wake-ups, Python included.
16 µs is chapter 04's measurement on the machine this course was written on. An upper bound for the server's
share (it counts the client's half too); a real NIC adds interrupts but a C server has no interpreter."""
EXCHANGE_PACKETS = 3
"""Packets one exchange puts through the server: the request in, the reply out (it carries the ACK of the request,
sent before the delayed-ACK timer), and the peer's ACK of the reply in (delayed, as nothing follows it)."""
KEEPALIVE_PACKETS = 2
"""A keepalive probe out (``tcp_keepalive_timer`` → ``tcp_write_wakeup`` → ``tcp_xmit_probe_skb``, a segment with
an old sequence number) and the peer's ACK in."""


@dataclass(frozen=True)
class IdleTraffic:
    """What one idle connection exchanges with the server, per second."""

    messages_per_s: float            # the service's own messages (a push and its acknowledgement)
    heartbeats_per_s: float          # application heartbeats (a ping and its pong)
    keepalive_probes_per_s: float    # TCP keepalive probes (SO_KEEPALIVE, only while nothing is received)

    @property
    def exchanges_per_s(self) -> float:
        """Request/reply pairs, a keepalive probe and its ACK counted as one."""
        return self.messages_per_s + self.heartbeats_per_s + self.keepalive_probes_per_s

    @property
    def packets_per_s(self) -> float:
        return ((self.messages_per_s + self.heartbeats_per_s) * EXCHANGE_PACKETS
                + self.keepalive_probes_per_s * KEEPALIVE_PACKETS)


@check.arguments
def idle_traffic(profile: KernelProfile, messages_per_user_per_day: Annotated[float, check.Range(0, None)] = 2.0,
                 heartbeat_s: Annotated[float, check.Range(0, None)] | None = None,
                 so_keepalive: bool = False) -> IdleTraffic:
    """Per second, for one connection: its messages, a heartbeat every ``heartbeat_s`` (none if ``None``) and, with
    ``so_keepalive``, the probes ``tcp_keepalive_timer`` (net/ipv4/tcp_timer.c) sends: one after
    ``tcp_keepalive_time`` s without receiving anything (``keepalive_time_elapsed``), again ``tcp_keepalive_time``
    after the probe's ACK — none when a heartbeat always comes first. Messages are taken as too rare to delay a
    probe."""
    if heartbeat_s == 0:
        raise ValueError("heartbeat_s must be a positive number of seconds, or None for no heartbeat")
    idle = profile.tcp_keepalive_time
    if not so_keepalive:
        probes = 0.0
    elif heartbeat_s is None:
        probes = 1 / idle
    else:
        probes = (math.ceil(heartbeat_s / idle) - 1) / heartbeat_s    # at idle, 2 × idle, … before the heartbeat
    return IdleTraffic(messages_per_user_per_day / SECONDS_PER_DAY, 1 / heartbeat_s if heartbeat_s else 0.0, probes)


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
    """The largest N whose slab memory plus ``N × buffer`` fits in ``memory_bytes × (1 - reserve)`` all the way
    there (the slab memory's peak while N connections are opened one by one, :meth:`Footprint.peak`), for every
    machine size in ``memory_bytes`` (by bisection)."""
    fp = footprint(profile, state, side, epoll, nr_cpus)
    memory = check.reals("memory_bytes", memory_bytes, maximum=_max_memory_bytes(fp), above=0)
    if reserve == 1:
        raise ValueError("reserve must be a fraction below 1: with all memory reserved no connection fits")
    budget = np.floor(memory * (1 - reserve)).astype(np.int64)
    per = fp.per_connection + buffer
    over = sum(max(0.0, *(b - m * p.per_end for m, b in enumerate(p.head))) for p in fp.rows.values())
    under = sum(max(0.0, *(m * p.per_end - b for m, b in enumerate(p.head))) for p in fp.rows.values())
    lo = np.maximum((budget - over) // per, 0).astype(np.int64)       # always fits: peak(n) <= n × per + over
    hi = np.minimum((budget + under) // per + 1, fp.max_n).astype(np.int64)   # never: peak(n) >= n × per - under
    while (hi - lo > 1).any():
        mid = (lo + hi) // 2
        fits = fp.peak(mid) + mid * buffer <= budget
        lo, hi = np.where(fits, mid, lo), np.where(fits, hi, mid)
    return lo


@dataclass(frozen=True)
class Plan:
    """The planner's answer (numpy arrays when a grid was given)."""

    memory_bytes: np.ndarray
    kernel_per_connection: float          # slab bytes per connection, overhead included
    buffer_per_connection: int
    traffic: IdleTraffic                  # what one connection exchanges per second
    cpu_us_per_exchange: float
    cpu_cores: int
    connections_per_machine: np.ndarray   # the smaller of the memory and CPU bounds
    memory_bound: np.ndarray
    cpu_bound: np.ndarray                 # connections whose exchanges keep every core busy
    machines: np.ndarray                  # for ``users`` users, one connection each
    socket_memory: np.ndarray             # slab bytes of connections_per_machine
    processes_needed: np.ndarray          # a process holds at most fs.nr_open fds
    default_file_max: np.ndarray          # fs.file-max the kernel would pick for this RAM

    @property
    def bottleneck(self) -> np.ndarray:
        return np.where(self.memory_bound <= self.cpu_bound, "memory", "CPU")

    @property
    def packets_per_s(self) -> np.ndarray:
        """Packets per second one machine handles for its connections."""
        return self.connections_per_machine * self.traffic.packets_per_s

    @property
    def cores_busy(self) -> np.ndarray:
        """CPU cores the exchanges of one machine's connections keep busy."""
        return self.connections_per_machine * self.traffic.exchanges_per_s * self.cpu_us_per_exchange / 1e6

    def __str__(self) -> str:
        c, m = np.atleast_1d(self.connections_per_machine), np.atleast_1d(self.machines)
        mem = np.atleast_1d(self.memory_bytes)
        return "\n".join(f"{x / GIB:8.0f} GiB: {int(k):>12,} connections per machine, {int(n):>6,} machines"
                         for x, k, n in zip(mem, c, m))


@check.arguments
def plan(users: Annotated[check.Counts, check.Range(1, check.INT64_MAX)], memory_gib: check.Amounts,
         profile: KernelProfile, *, scenario: str = "push",
         buffer: int | None = None, reserve: Annotated[float, check.Range(0, 1)] = RESERVE,
         messages_per_user_per_day: Annotated[float, check.Range(0, None)] = 2.0,
         heartbeat_s: Annotated[float, check.Range(0, None)] | None = None, so_keepalive: bool = False,
         cpu_cores: Annotated[int, check.Range(1, None)] = 16,
         cpu_us_per_exchange: Annotated[float, check.Range(0, None)] = ROUND_TRIP_CPU_US,
         state: str = "ESTABLISHED", side: str = "server") -> Plan:
    """Connections per machine and machines for ``users`` (one long-lived connection each), for each machine size
    in ``memory_gib``. CPU: every exchange of :func:`idle_traffic` costs ``cpu_us_per_exchange`` of one of
    ``cpu_cores``."""
    users = check.counts("users", users, 1)
    fp = footprint(profile, state, side, False, None)
    memory = check.reals("memory_gib", memory_gib, maximum=_max_memory_bytes(fp) / GIB, above=0) * GIB
    traffic = idle_traffic(profile, messages_per_user_per_day, heartbeat_s, so_keepalive)
    buffer = buffer_per_connection(profile, scenario) if buffer is None else buffer
    by_memory = connections_that_fit(memory, profile, buffer=buffer, reserve=reserve, state=state, side=side)
    cpu_per_connection = traffic.exchanges_per_s * cpu_us_per_exchange      # µs of CPU per second
    by_cpu = np.full(by_memory.shape, int(min(cpu_cores * 1e6 / cpu_per_connection, check.INT64_MAX))
                     if cpu_per_connection else check.INT64_MAX, dtype=np.int64)
    if (by_cpu < 1).any():
        raise ValueError("messages_per_user_per_day, heartbeat_s and cpu_us_per_exchange leave no CPU time for "
                         "even one connection")
    per_machine = np.minimum(by_memory, by_cpu)
    if (per_machine < 1).any():
        raise ValueError("not even one connection fits: more memory, less reserve or a smaller buffer")
    pages = (memory // profile.page_size).astype(np.int64)
    file_max = np.vectorize(lambda p: files_maxfiles_init(int(p), int(p * 0.95), profile))(pages)
    return Plan(memory, fp.per_connection, buffer, traffic, cpu_us_per_exchange, cpu_cores, per_machine, by_memory,
                by_cpu, -(-users // per_machine), fp.bytes(per_machine),
                np.ceil(per_machine / profile.nr_open).astype(np.int64), file_max)
