"""The receive path under load: millions of packets through rings, NAPI and softirqs in well under a second.

:func:`simulate` computes exactly what ``netlab.scenarios.receive.Host`` does with the same arrivals — ring drops,
``time_squeeze``, hard IRQs (moderated as ``ethtool -C rx-usecs`` says: the NIC's throttle timer, igb's adaptive
choice), NET_RX runs, CPU time per context, ksoftirqd, how long packets waited for the driver — but without
sk_buffs or traces: the state is a few integers per queue and CPU. It follows the step model function for function: a ``_Cpu`` holds one
CPU's counters (the step model's ``Cpu`` and ``softnet_data``) and has one method per kernel function of the step
model, with the same name (``igb_msix_ring``, ``napi_schedule``, ``net_rx_action``, ``napi_poll``, ``igb_poll``,
``igb_clean_rx_irq``, ``handle_softirqs``, ``run_ksoftirqd`` …); a ``_Queue`` is one RX queue's ring, IRQ and NAPI
state. The tests compare the two models on random inputs. Shortcuts that cannot change a result:

* CPUs are simulated one after another: without RPS a CPU's work depends only on the queues whose IRQ points at it.
  With RPS (the RPS section) a CPU that reads an RPS queue depends on nothing else either, in the step model's order
  (``netlab.kernel.dev``): it is simulated first and records what it steers where, and when (its polls, as arrays:
  ``_RpsCpu.poll_table``); a CPU that skbs are steered to is simulated after, with those as a second input. Such a
  CPU has no NIC queue of its own here: one IPI due exactly when another of its interrupts' work or a context switch
  ends is not yet always taken in the step model's order. Interrupt moderation changes nothing in that; with GRO's
  segments the reading CPU records each skb GRO passes on (its first packet, so its hash) with the time it went up
  (3.10: at once; 6.12: when its ``gro_normal_batch`` did). The flow limit (``flow_limit_cpus``) is the enqueuing —
  reading — CPU's history, which the CPUs it steers to update in the step model's global order: here a flow-limited
  reading CPU must steer to one CPU (itself or another), whose take-ins are then the history's only writer. RFS
  (``rps_sock_flow_entries``, ``rps_flow_cnt``, as ``Host``'s) with the flows' ``rps_sock_flow_table`` entries
  written before the traffic (``read_on``: each flow read once, where it is read) changes only where each skb goes,
  known up front (:func:`get_rps_cpus`) — unless two flows that want different CPUs share an ``rps_dev_flow`` entry:
  then where one goes depends on another CPU's progress, and the load model refuses it. An skb ``get_rps_cpu``
  leaves on the reading CPU (no hash; no map and no RFS entry for its flow) pays ``stack_ns`` there as it is read.
  In bulk, without GRO, interrupt moderation, a flow limit or such skbs on the CPU: a reading CPU that steers every
  skb of its one queue elsewhere runs ``isolated_packets``, ``quiet_cycles``, ``throttled_cycles`` and
  ``flooded_runs`` at ``driver_ns`` a packet, its polls, their IPIs' times and the NIC's runs of writes between
  ring drops recorded (``record_polls``); one that keeps some in its own backlog runs its busy periods a bisect per
  poll, nested IRQs included (``rps_quiet_cycles``), and where its arrivals' gaps and kept skbs repeat (periodic arrivals, flows round
  robin: ``_stream_period``) and a period starts in a state met before, the cycle since then again and again at
  once (later from any of its period starts), up to a busy period a jiffy boundary falls in (``_Cycle``,
  ``rps_repeats``); a target takes its IPI → NET_RX → ``process_backlog`` cycles in numpy where each
  takes one reading CPU's run's skbs, idle or busy in between (a max-plus recursion: ``group_cycles``), the others
  with a bisect and a Python step per poll where they take 64 or more (``backlog_cycles``, ``backlog_burst``: NET_RX
  restarted, backlog drops; a burst within a jiffy worked out once per skb count), up to one after which ksoftirqd
  runs; a target flooded in ksoftirqd (its backlog never empties: no IPI, no interrupt) runs its calls — take in
  what was steered, NET_RX runs and restarts — a few integers each, on 6.12 a call of full polls within a jiffy at
  once, up to the call that empties it (``backlog_flood``); a reading CPU's floods on 6.12 (ksoftirqd, ring
  drops, its own backlog's polls between) go a NET_RX run at a time, and where a run begins in a state one began in before (the same
  stream period), the runs since then again and again at once, across jiffies (``_RpsCpu.flooded_runs``,
  ``flood_repeats``); a reading CPU busy in ksoftirqd but not flooded (long NET_RX runs of queue and backlog polls
  with nested IRQs, squeezed) runs each NET_RX run (in softirq too) a bisect per poll of its queue, without the
  engine's calls, where the NIC cannot find the ring full meanwhile (``_RpsCpu.rps_net_rx_action``), and where a run
  begins in a state one began in before, the runs since then again and again at once, across jiffies and
  ``handle_softirqs`` calls, at irq_exit too (as long as it restarts after each: restarts left, ``softirq_end``), up
  to a run inside a cycle (its state restored), and a cycle logged in one context in the other
  (``_RpsCpu.repeat_runs``, ``jump_runs``); where it keeps every skb (RFS: every flow read there) and a run goes to
  the general code, its turns (6.12's first and ``goto start`` ones) — the backlog's poll, the queue's, its IRQ nested
  between — go in one loop, a bisect per poll, up to a turn that ends the run, that one too if it squeezes, cycles
  of turns met before (in any run) at once (``_RpsCpu.reader_turns``), and no poll is recorded
  (``_RpsQueue.leaves``).
  Everything else runs a Python step per interrupt and per ksoftirqd run.
* The driver cleans a run of ready descriptors in one step instead of one at a time, and the NIC's writes are
  counted with a binary search over the arrival times (numpy arrays, read through small list windows); both give
  the same numbers as the step model because an RX ring's free space only changes when the driver refills it.
* With one queue on a CPU, stretches where each burst of work ends with the CPU idle (one IRQ, one NET_RX run, one
  poll that empties the ring) are counted in bulk (``_Cpu.isolated_packets``; ``_Cpu.quiet_cycles``, a binary
  search per busy period and numpy over runs of equal ones), and so are stretches where ksoftirqd polls a ring
  that never runs short (``_Cpu.flooded_runs``: the refill times are known, the ring's free space is a running
  minimum). Where the throttle timer may hold an IRQ back or a poll takes 64, ``_Cpu.throttled_cycles`` takes one
  busy period (one IRQ, its NET_RX runs and on 6.12 without moderation the ksoftirqd runs they may end in, the last
  poll emptying the ring) per step, and runs of equal ones at once.
* The wait of each packet is summed, not kept: the times the driver read them, less the arrival times of all
  packets but the dropped ones.
* Nothing above GRO is modelled (its cost is ``Costs.stack_ns`` per skb GRO passes on): sockets and netfilter
  never change the timing.

GRO (``segments``, :class:`TcpSegments`): a queue that receives TCP segments keeps GRO's held skbs as counters
(``_Gro``, a separate section below) and charges ``driver_ns`` per descriptor and ``stack_ns`` per skb when GRO passes
it on (GRO_NORMAL, the end of a merge, a full bucket, the flush at the end of each poll), as the step model does. The
bulk shortcuts above assume a fixed cost per packet; only ``isolated_packets`` still holds (a packet alone in its
busy period costs ``packet_ns`` either way). Such a queue has shortcuts of its own (``_Cpu``'s GRO section):

* a poll that no arrival can find the ring full in cleans each packet that is there or arrives by the time the one
  before it is done, without the driver's looks (``gro_clean_rx_irq``);
* chains of small polls, each packet held as a new skb and passed on at the poll's end while the next one arrives,
  whose IRQ nests in net_rx_action (``gro_poll_chain``), across the runs that each spend the budget (ksoftirqd's,
  or handle_softirqs' restarts): turns in numpy (``_gro_turns``), many at once where they take as many packets as the
  one before, or repeat the turns since a run that began alike (its first packet had waited as long);
* ksoftirqd polling one bulk flow in a flood (``gro_flooded_runs``, below HZ 1000): each poll reads 64 descriptors
  and the ring drops between two refills, which breaks the flow every 16 entries, so where GRO passes skbs on and
  every refill time is known ahead; the ring's free space is ``flooded_runs``' running minimum;
* when the machine comes back within a jiffy to a state it was in, shifted in time, packets and ring entries, over
  arrivals and segments that repeat with the same shift, the cycles up to the jiffy's end at once (``gro_repeats``,
  looking between the engine's steps and at each NET_RX run ksoftirqd starts).

Busy periods whose arrivals do not repeat exactly (jitter, a rate whose period is not a whole number of ns), floods of
several flows or at HZ 1000, and each jiffy's first cycles still run poll by poll: exact, but slower than a UDP queue
(see ``bench/receive.py``).

:func:`arrivals` makes arrival times (rate, bursts, optional random jitter) and :func:`rss_queues` maps flows to
queues with the Toeplitz hash, vectorised.
"""
from __future__ import annotations

import functools
from bisect import bisect_right
from dataclasses import dataclass, field, replace
from itertools import chain
from typing import Mapping, Sequence

import numpy as np

from netlab import check
from netlab.kernel.cpu import Costs
from netlab.kernel.dev import RpsSockFlowTable, SdFlowLimit
from netlab.kernel.dev_hard_xmit import ETH_HLEN
from netlab.kernel.ip_output import IP_HLEN
from netlab.kernel.nic import (IGB_MAX_RXD, IGB_MIN_RXD, IGB_RETA_SIZE, IGB_RX_BUFFER_WRITE, IGB_START_ITR, RSS_KEY,
                               _eitr_ns, _latency_range, _ring_itr_value, _set_itr_value, igb_indirection_table,
                               rx_itr_setting)
from netlab.kernel.udp_output import UDP_HLEN
from netlab.kernel.profiles import KernelProfile, profile as get_profile
from netlab.kernel.sched import CONTEXT_SWITCH_NS

_CONTEXTS = ("process", "hardirq", "softirq", "ksoftirqd")
_WINDOW = 4096
_NAPI_WEIGHT = 64  # igb registers its NAPI with NAPI_POLL_WEIGHT


@dataclass(frozen=True)
class Summary:
    """What a receive run did, per CPU and in total (the numbers ``/proc`` and ``ip -s link`` would show): the
    result of :func:`simulate` and of the step model's ``netlab.scenarios.receive.Host.summary``."""

    arrived: int
    delivered: int            # packets the driver took from the rings (softnet_data.processed counts the same)
    ring_drops: int           # rx_missed_errors: no free RX descriptor
    time_squeeze: list[int]
    backlog_drops: list[int]  # softnet_data.dropped
    processed: list[int]
    busy_ns: list[dict[str, int]]
    elapsed_ns: int
    net_rx_softirqs: list[int]
    hard_irqs: list[int]         # device interrupts (IPIs are not counted here)
    gro_skbs: list[int]          # sk_buffs GRO passed up the stack (each paid stack_ns): packets less merged segments
    latency_ns: int              # summed over the delivered packets: when the driver read each, less its arrival
    received_rps: list[int]      # softnet_data.received_rps: RPS IPIs taken (rps_trigger_softirq)
    flow_limit_count: list[int]  # softnet_data.flow_limit_count: skbs the flow limit dropped, on the enqueuing CPU

    def segments_per_skb(self) -> float:
        """GRO's merge ratio: packets the driver took per sk_buff that went up the stack (1.0: nothing merged)."""
        skbs = sum(self.gro_skbs)
        return self.delivered / skbs if skbs else 0.0

    def mean_latency_ns(self) -> float:
        """How long a delivered packet waited on average, from its arrival to the driver reading its descriptor."""
        return self.latency_ns / self.delivered if self.delivered else 0.0

    def irqs_per_second(self) -> float:
        """Hard IRQs per second of elapsed time, all CPUs together."""
        return sum(self.hard_irqs) * 1e9 / self.elapsed_ns if self.elapsed_ns else 0.0

    def load(self) -> list[float]:
        """Fraction of the elapsed time each CPU was busy (hard IRQ + softirq + ksoftirqd + process)."""
        return [sum(b.values()) / self.elapsed_ns if self.elapsed_ns else 0.0 for b in self.busy_ns]

    def ksoftirqd_share(self) -> float:
        """Share of softirq CPU time spent in ksoftirqd rather than at IRQ exit."""
        soft = sum(b["softirq"] for b in self.busy_ns)
        ksoft = sum(b["ksoftirqd"] for b in self.busy_ns)
        return ksoft / (soft + ksoft) if soft + ksoft else 0.0


# --- inputs ---------------------------------------------------------------------------------------------------------
@check.arguments
def arrivals(rate_pps: float, n: int, *, burst: int = 1, wire_gap_ns: int = 67, jitter: bool = False,
             seed: int = 0, start_ns: int = 1000) -> np.ndarray:
    """``n`` arrival times (int64 ns) at a mean of ``rate_pps``: bursts of ``burst`` back-to-back packets
    ``wire_gap_ns`` apart (67 ns: a 64-byte frame on 10GbE), bursts evenly spaced, or exponentially spaced
    (Poisson bursts) with ``jitter``."""
    if not isinstance(rate_pps, (int, float)) or not 0 < rate_pps <= 1e9:
        raise ValueError(f"rate_pps must be a number in (0, 1e9], got {rate_pps!r}")
    for name, v, lo in (("n", n, 0), ("burst", burst, 1), ("wire_gap_ns", wire_gap_ns, 0), ("start_ns", start_ns, 0)):
        if not isinstance(v, (int, np.integer)) or isinstance(v, bool) or v < lo:
            raise ValueError(f"{name} must be an int >= {lo}, got {v!r}")
    period = burst * 1e9 / rate_pps
    if burst > 1 and (burst - 1) * wire_gap_ns >= period:
        raise ValueError(f"bursts of {burst} at {rate_pps:g} pps overlap: lower the burst or the rate")
    nbursts = -(-n // burst)
    if jitter:
        gaps = np.random.default_rng(seed).exponential(period, nbursts)
        gaps[:1] = 0.0
        burst_start = np.floor(np.cumsum(gaps)).astype(np.int64)
    else:  # k * period in 44.20 fixed point: integer arithmetic, in place (a float array costs 10x more here)
        burst_start = np.arange(nbursts, dtype=np.int64)
        burst_start *= round(period * (1 << 20))
        burst_start >>= 20
    if burst == 1:
        times = burst_start[:n]
    else:
        times = (burst_start[:, None] + np.arange(burst, dtype=np.int64) * wire_gap_ns).ravel()[:n]
        if jitter:
            times.sort()  # random gaps may let bursts overlap
    times += start_ns
    return times


def _ipv4(addresses: Sequence[str]) -> np.ndarray:
    parsed = {a: int.from_bytes(bytes(int(p) for p in a.split(".")), "big") for a in dict.fromkeys(addresses)}
    if len(parsed) == 1:                                # (one address for all: the usual test traffic)
        return np.full(len(addresses), next(iter(parsed.values())), dtype=np.uint64)
    return np.fromiter(map(parsed.__getitem__, addresses), dtype=np.uint64, count=len(addresses))


@check.arguments
def rss_queues(saddr: Sequence[str], daddr: Sequence[str], sport: Sequence[int], dport: Sequence[int],
               num_queues: int, key: bytes = RSS_KEY) -> np.ndarray:
    """The RX queue of each flow: its RSS hash (:func:`rss_hashes`), low 7 bits → igb's indirection table."""
    table = np.array(igb_indirection_table(num_queues))
    h = rss_hashes(saddr, daddr, sport, dport, key)
    return table[(h & (IGB_RETA_SIZE - 1)).astype(np.intp)]


@check.arguments
def rss_hashes(saddr: Sequence[str], daddr: Sequence[str], sport: Sequence[int], dport: Sequence[int],
               key: bytes = RSS_KEY) -> np.ndarray:
    """Each flow's Toeplitz hash of the 12-byte tuple (one table lookup per input byte), as int64: what the NIC
    writes into each descriptor (``skb->hash``), which RPS reads."""
    data = [_ipv4(saddr), _ipv4(daddr), np.asarray(sport, dtype=np.uint64), np.asarray(dport, dtype=np.uint64)]
    if len({len(d) for d in data}) != 1:
        raise ValueError("saddr, daddr, sport and dport must have the same length")
    if len(key) != 40:
        raise ValueError("key must be 40 bytes")
    tuples = np.concatenate([d.astype(f">u{size}").view(np.uint8).reshape(-1, size)    # each flow's 12 bytes
                             for d, size in zip(data, (4, 4, 2, 2))], axis=1)
    return np.bitwise_xor.reduce(_toeplitz_tables(bytes(key))[np.arange(12), tuples], axis=1).astype(np.int64)


@functools.lru_cache(maxsize=8)
def _toeplitz_tables(key: bytes) -> np.ndarray:
    """Of the Toeplitz hash with ``key``, for each of the 12 input bytes, what each byte value XORs in (12 x 256,
    read-only): for each set bit i of the input, the 32 key bits from bit i on."""
    k = int.from_bytes(key, "big")
    window = np.array([(k >> (320 - 32 - i)) & 0xFFFFFFFF for i in range(96)], dtype=np.uint64).reshape(12, 1, 8)
    bits = (np.arange(256)[:, None] >> np.arange(7, -1, -1)) & 1 == 1    # each byte value's bits, high bit first
    tables = np.bitwise_xor.reduce(np.where(bits, window, np.uint64(0)), axis=2)
    tables.flags.writeable = False
    return tables


def _range_sums(arr: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> int:
    """The sum of ``arr[s:e]`` over increasing, non-overlapping ranges (s, e): a cumulative sum over their span, or
    where they hold less than a quarter of it, their elements alone (the span's fresh pages would cost more)."""
    lengths = ends - starts
    keep = lengths > 0
    if not keep.any():
        return 0
    starts, ends, lengths = starts[keep], ends[keep], lengths[keep]
    lo, hi, total = int(starts[0]), int(ends[-1]), int(lengths.sum())
    if 4 * total < hi - lo:
        return int(arr[np.repeat(starts - (np.cumsum(lengths) - lengths), lengths) + np.arange(total)].sum())
    cum = np.concatenate(([0], np.cumsum(arr[lo:hi])))
    return int(cum[ends - lo].sum() - cum[starts - lo].sum())


# --- RPS settings ---------------------------------------------------------------------------------------------------
@check.arguments
def rps_maps(rps_cpus: Sequence[Sequence[int]] | None, queues: int, cpus: int) -> list[tuple[int, ...]]:
    """Each RX queue's RPS map (``rps_map->cpus``: the CPUs of its ``rps_cpus`` mask, ascending) from one CPU list
    per queue (None: RPS off everywhere; an empty list: off on that queue)."""
    if rps_cpus is None:
        return [()] * queues
    if isinstance(rps_cpus, (str, bytes)) or len(rps_cpus) != queues:
        raise ValueError(f"rps_cpus must give one list of CPUs per RX queue ({queues}), got {rps_cpus!r}")
    maps = []
    for q, cpu_list in enumerate(rps_cpus):
        if isinstance(cpu_list, (str, bytes)) or not all(
                isinstance(c, int) and not isinstance(c, bool) and 0 <= c < cpus for c in cpu_list):
            raise ValueError(f"rps_cpus[{q}] must list CPUs in 0..{cpus - 1}, got {cpu_list!r}")
        maps.append(tuple(sorted(set(cpu_list))))
    return maps


@check.arguments
def rfs_tables(rps_sock_flow_entries: int, rps_flow_cnt: int, cpus: check.Cpus,
               profile: KernelProfile) -> tuple[RpsSockFlowTable | None, int]:
    """RFS's two sysctls as the kernel keeps them: the one ``rps_sock_flow_table`` (``net.core.rps_sock_flow_entries``
    rounded up to a power of 2, as ``rps_sock_flow_sysctl`` does; 0: None, RFS off), nobody's flow recorded yet,
    and each RX queue's flow table size (``rps_flow_cnt`` rounded up, as ``store_rps_dev_flow_table_cnt`` does; 0:
    none)."""
    for sysctl, value in (("rps_sock_flow_entries", rps_sock_flow_entries), ("rps_flow_cnt", rps_flow_cnt)):
        if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= 1 << 26:
            raise ValueError(f"{sysctl} must be an int in 0..2**26, got {value!r}")
    table = RpsSockFlowTable(1 << (rps_sock_flow_entries - 1).bit_length(), (1 << (cpus - 1).bit_length()) - 1,
                             hash_bits=profile.napi_repoll_list) if rps_sock_flow_entries else None
    return table, 1 << (rps_flow_cnt - 1).bit_length() if rps_flow_cnt else 0


@check.arguments
def get_rps_cpus(hashes: np.ndarray, rps_map: Sequence[int], cpus: check.Cpus,
                 table: RpsSockFlowTable | None = None, rps_flow_cnt: int = 0) -> np.ndarray:
    """``kernel.dev.get_rps_cpu`` for each skb of one RX queue (``hashes``, u32, in arrival order), where the flows'
    entries in ``rps_sock_flow_table`` were written before the traffic (each flow read once, where it is read:
    the table does not change during the run): the CPU (-1: handled where it was read). RFS first (``table`` and
    this queue's ``rps_flow_cnt``, a power of 2): a flow the table knows (:meth:`RpsSockFlowTable.next_cpu`, here
    for all skbs at once, each bucket read once) goes to its ``next_cpu`` — its ``rps_dev_flow`` starts at
    ``RPS_NO_CPU``, so its first skb points it there and ``set_rps_cpu`` never moves it again — unless that is no
    CPU of this machine; else RPS: ``rps_map[reciprocal_scale(hash, len(rps_map))]``, or -1 without a map. A hash of
    0: -1. Refused (ValueError): two flows of the queue that share an ``rps_dev_flow`` entry and want different CPUs:
    the entry then moves only once the old CPU's backlog has taken the last skb it got through it (``last_qtail``),
    which depends on that CPU's progress. (With ``rps_flow_cnt`` >= the table's entries, flows of one entry share a
    bucket, whose one value gives them one CPU.)"""
    hashes = np.asarray(hashes)
    lowest = hashes.min() if hashes.size and hashes.ndim == 1 and hashes.dtype.kind in "iu" else 0
    if hashes.ndim != 1 or (hashes.size and (hashes.dtype.kind not in "iu" or lowest < 0 or hashes.max() >= 1 << 32)):
        raise ValueError("hashes must be a 1-d array of u32 flow hashes (0 .. 2**32 - 1)")
    hashes = hashes.astype(np.int64, copy=False)        # (u32: hash * len(rps_map) fits)
    if isinstance(rps_map, (str, bytes)) or any(not isinstance(c, int) or not 0 <= c < cpus for c in rps_map):
        raise ValueError(f"rps_map must list CPUs in 0..{cpus - 1}, got {rps_map!r}")
    if rps_flow_cnt & (rps_flow_cnt - 1):
        raise ValueError(f"rps_flow_cnt must be 0 or a power of 2 (rfs_tables rounds it up), got {rps_flow_cnt!r}")
    wants = None                                        # RFS: the skbs whose flow the table steers, to ident
    if table is not None and rps_flow_cnt and hashes.size:
        used, slot, slots, used_slot = _buckets(hashes & (table.entries - 1), table.entries)
        ident = np.empty(slots, dtype=np.int64)         # each bucket's value, then each skb's: next_cpu
        ident[used_slot] = np.fromiter(map(table.ents.__getitem__, used.tolist()), np.int64, len(used))
        ident = ident[slot]
        wants = hashes != 0
        if table.hash_bits:                             # 6.12: the bucket is this flow's if its upper bits match
            wants &= ((ident ^ hashes) & (~table.rps_cpu_mask & 0xFFFFFFFF)) == 0
            ident &= table.rps_cpu_mask
        if rps_flow_cnt < table.entries:
            _one_cpu_per_rps_dev_flow(hashes[wants], ident[wants], rps_flow_cnt, cpus)
        wants &= ident < cpus
        if wants.all():                                 # (every skb's: no map needed)
            return ident
    if rps_map:
        target = hashes * len(rps_map)                  # rps_map[reciprocal_scale(hash, len)], in place (a fresh
        target >>= 32                                   # array's pages cost more than the work on it)
        np.take(np.asarray(rps_map, dtype=np.int64), target, out=target, mode="clip")
    else:
        target = np.full(hashes.size, -1, dtype=np.int64)
    if wants is not None:
        np.copyto(target, ident, where=wants)
    if hashes.size and lowest == 0:
        target[hashes == 0] = -1
    return target


_DENSE_BUCKETS = 1 << 20    # a table of up to so many buckets is looked up as an array (8 MiB), a larger one sorted


def _buckets(bucket: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray, int, np.ndarray]:
    """The buckets used (``bucket``: ints in 0..``size`` - 1), ascending, and a slot for each: per element, the
    number of slots, and per bucket used. Up to ``_DENSE_BUCKETS`` the slot is the bucket (no sort)."""
    if size <= _DENSE_BUCKETS:
        seen = np.zeros(size, dtype=bool)
        seen[bucket] = True
        used = np.flatnonzero(seen)
        return used, bucket, size, used
    used, slot = np.unique(bucket, return_inverse=True)
    return used, slot, used.size, np.arange(used.size)


def _one_cpu_per_rps_dev_flow(hashes: np.ndarray, cpu: np.ndarray, rps_flow_cnt: int, cpus: int) -> None:
    """Of :func:`get_rps_cpus`: refuse skbs (``hashes``) of one ``rps_dev_flow`` entry that want different CPUs
    (``cpu``; ``RPS_NO_CPU`` or above ``cpus``: none)."""
    _, slot, slots, _ = _buckets(hashes & (rps_flow_cnt - 1), rps_flow_cnt)
    first = np.empty(slots, dtype=np.int64)
    first[slot] = cpu                                   # (any of an entry's wins: all are equal, or one differs)
    differ = first[slot] != cpu
    if not differ.any():
        return
    mine = np.isin(slot, slot[differ])                  # the entries refused; named: the one of the lowest hash
    entry = int(hashes[mine].min()) & (rps_flow_cnt - 1)
    mine &= (hashes & (rps_flow_cnt - 1)) == entry
    flows_by_cpu: dict[int, int] = {}                   # its CPUs, each with the lowest hash that wants it
    for h, c in sorted(set(zip(hashes[mine].tolist(), cpu[mine].tolist()))):
        flows_by_cpu.setdefault(c, h)
    where = ", ".join(f"{h:#010x} on {'no CPU' if c >= cpus else f'CPU {c}'}"
                      for c, h in sorted(flows_by_cpu.items())[:2])
    raise ValueError(f"flows {where} share rps_dev_flow entry {entry} (rps_flow_cnt {rps_flow_cnt}): whether a flow "
                     "moves there depends on how far the other CPU's backlog got (set_rps_cpu's last_qtail test); the "
                     "load model cannot do that exactly — give a larger rps_flow_cnt, or use "
                     "netlab.scenarios.receive.Host")


@check.arguments
def flow_limits(flow_limit_cpus: Sequence[int], cpus: check.Cpus, profile: KernelProfile) -> dict[int, SdFlowLimit]:
    """A fresh ``sd_flow_limit`` for each CPU of ``flow_limit_cpus`` (``net.core.flow_limit_cpu_bitmap``; 3.11 on)."""
    if not isinstance(flow_limit_cpus, (Sequence, set, frozenset)) or isinstance(flow_limit_cpus, (str, bytes)) or any(
            not isinstance(c, int) or isinstance(c, bool) or not 0 <= c < cpus for c in flow_limit_cpus):
        raise ValueError(f"flow_limit_cpus must list CPUs in 0..{cpus - 1}, got {flow_limit_cpus!r}")
    if flow_limit_cpus and profile.softnet_stat_columns < 11:
        raise ValueError("this kernel has no flow limit (skb_flow_limit and its softnet_stat column came in 3.11)")
    return {c: SdFlowLimit() for c in sorted(set(flow_limit_cpus))}


# --- the simulation: the NIC side ------------------------------------------------------------------------------------
class _Feed:
    """Arrival times of one queue, consumed in time order; bisect over a list window of the numpy array, loaded as
    needed: after a bulk skip a small one, then larger ones (a list costs ten times a numpy pass per element)."""

    __slots__ = ("arr", "n", "pos", "win", "base", "size")

    def __init__(self, arr: np.ndarray):
        self.arr, self.n, self.pos, self.base, self.size = arr, len(arr), 0, 0, 64
        self.win: list[int] = []

    def load(self, base: int) -> None:
        """Read the window from arrival ``base`` on."""
        self.base, size = base, self.size
        self.win = self.arr[base:base + size].tolist()
        self.size = size * 4 if size < _WINDOW else _WINDOW

    def take_until(self, t: int) -> int:
        """Consume every arrival at or before ``t``; return how many."""
        start, win, base = self.pos, self.win, self.base
        j = bisect_right(win, t, start - base)
        if j >= len(win) and base + j < self.n:  # past the window: find t in the array, slide the window there
            self.load(start + int(self.arr[start:].searchsorted(t, "right")))
            base, j = self.base, 0
        self.pos = base + j
        return self.pos - start

    def upto(self, t: int) -> int:
        """The index of the first arrival after ``t``, from the next one on, consuming none (past the window, it
        reads one from the next arrival on)."""
        pos = self.pos
        if pos - self.base >= len(self.win):
            self.load(pos)
        j = bisect_right(self.win, t, pos - self.base)
        if j >= len(self.win) and self.base + j < self.n:
            return pos + int(self.arr[pos:].searchsorted(t, "right"))
        return self.base + j

    def skip(self, m: int) -> None:
        """Consume the next ``m`` arrivals (handled in bulk)."""
        self.pos += m
        if self.pos - self.base >= len(self.win):
            self.size = 64

    def ahead(self, size: int, cost_ns: int, start: int = 0) -> tuple[np.ndarray, bool, np.ndarray]:
        """The next ``size`` arrivals (from the ``start``-th next on), whether they are the last, and the running
        maximum of ``t[i] - i * cost_ns`` over them (i counted from the next): a poll that reads their packet a from
        time P on, ``cost_ns`` each, takes every packet up to the first j with ``top[j] > P - a * cost_ns``."""
        chunk = self.arr[self.pos + start:self.pos + start + size]
        m = len(chunk)
        top = np.maximum.accumulate(chunk - np.arange(start * cost_ns, (start + m) * cost_ns, cost_ns,
                                                      dtype=np.int64)[:m] if cost_ns else chunk)
        return chunk, self.pos + start + size >= self.n, top

    def first(self) -> int | None:
        """Time of the next arrival not yet consumed."""
        if self.pos >= self.n:
            return None
        if self.pos - self.base >= len(self.win):
            self.load(self.pos)
        return self.win[self.pos - self.base]


@dataclass(slots=True, eq=False)
class _Queue:
    """One RX queue as counters: the step model's ``QVector`` with its ``RingBuffer`` (``rx_use``, ``rx_head``,
    ``rx_clean``: the ring's ever-increasing next_to_use, head and next_to_clean) and its NAPI's
    ``NAPI_STATE_SCHED``; ``feed`` holds the packets still on the wire."""

    index: int
    feed: _Feed
    rx_use: int
    rx_head: int = 0
    rx_clean: int = 0
    irq_enabled: bool = True
    irq_asserted_at: int | None = None
    napi_sched: bool = False
    rx_packets: int = 0
    rx_missed: int = 0
    gro: "_Gro | None" = None            # GRO's state for TCP segments (None: every packet is GRO_NORMAL)
    rps: "_RpsQueue | None" = None       # RPS on this queue (see the RPS section)
    itr_val: int = 0                 # interrupt moderation, as kernel.nic.QVector: the driver's EITR value,
    set_itr: bool = False            # to be written at the next interrupt
    eitr_ns: int = 1000              # the NIC's EITR interval now
    throttled_until: int = 0         # the NIC's throttle timer
    rx_itr: int = 0                  # q_vector->rx: latency range, packets since the last ITR update
    total_packets: int = 0
    read_ns: int = 0                 # summed over the packets read: when the driver read each
    dropped_ns: int = 0              # summed over the packets dropped: when each arrived

    def dma_until(self, t: int) -> None:
        """``kernel.nic.Nic.dma_until`` (the device): write every arrival up to ``t`` into free descriptors (the
        rest are dropped); assert the IRQ at the first one written, if it is enabled."""
        feed = self.feed
        first = feed.first() if (self.irq_enabled and self.irq_asserted_at is None) else None
        k = feed.take_until(t)
        if k:
            room = self.rx_use - self.rx_head
            accepted = k if k <= room else room  # (min() costs a call: this runs several times per poll)
            self.rx_head += accepted
            if k > accepted:
                self.rx_missed += k - accepted
                self.dropped_ns += int(feed.arr[feed.pos - k + accepted:feed.pos].sum())
                if self.gro is not None:
                    self.gro.ring_drop(self.rx_head, k - accepted)
            if accepted and first is not None:
                self.irq_asserted_at = first
            if accepted and self.rps is not None:
                self.rps.written(self.rx_head - accepted, feed.pos - k)

    def next_irq_time(self) -> int | None:
        """``kernel.nic.QVector.next_irq_time`` (the device): when this queue's IRQ fires next, if nothing changes."""
        if not self.irq_enabled:
            return None
        t = self.irq_asserted_at if self.irq_asserted_at is not None else self.feed.first()
        return t if t is None or t >= self.throttled_until else self.throttled_until


# --- GRO (net/core/gro.c, net/ipv4/af_inet.c, net/ipv4/tcp_offload.c) -------------------------------------------------
_TCPIP_HLEN = 52            # IP_HLEN + TCP_HLEN: a held skb's len is its IP packet (the first header, all payloads)
_GRO_LEGACY_MAX_SIZE = 65536
_MAX_GRO_SKBS = 8
_MAX_SKB_FRAGS = 17


@dataclass(frozen=True)
class TcpSegments:
    """What GRO needs to know of each packet, for :func:`simulate`: its flow (an id; -1 for a packet GRO never
    holds, such as UDP), the flow's RSS hash (``skb->hash``: GRO's bucket is its low bits), and for TCP its
    sequence number, payload bytes and whether PSH is set. Segments of one flow carry the same ACK number and the
    same flags but PSH (the step model's packets: ``flags=("ACK",)`` or ``("ACK", "PSH")``)."""

    flow: np.ndarray
    rxhash: np.ndarray
    seq: np.ndarray
    payload: np.ndarray
    push: np.ndarray

    def __post_init__(self):
        check.fields(self)
        n = len(self.flow)
        for name in ("flow", "rxhash", "seq", "payload", "push"):
            a = getattr(self, name)
            if not isinstance(a, np.ndarray) or a.ndim != 1 or len(a) != n:
                raise ValueError(f"TcpSegments.{name} must be a 1-d numpy array with one entry per packet")
        if n and (self.payload.min() < 0 or self.payload.max() > 9000 - _TCPIP_HLEN):
            raise ValueError("TcpSegments.payload must be bytes in 0..8948")

    def take(self, which: np.ndarray) -> "TcpSegments":
        """The segments of some packets (a boolean mask or indices), e.g. one queue's."""
        return TcpSegments(*(getattr(self, f)[which] for f in ("flow", "rxhash", "seq", "payload", "push")))


@check.arguments
def tcp_segments(flow_of_packet: np.ndarray, rxhash_of_flow: np.ndarray, *, mss: int = 1448,
                 push_every: int = 0) -> TcpSegments:
    """Bulk TCP streams: packet i is the next ``mss``-byte segment of flow ``flow_of_packet[i]`` (its RSS hash
    ``rxhash_of_flow[flow]``), each flow's sequence numbers from 1; with ``push_every`` = k every k-th segment of a
    flow has PSH set (what a sender's write of k·mss bytes ends with)."""
    if not isinstance(mss, int) or not 1 <= mss <= 9000 - _TCPIP_HLEN:
        raise ValueError(f"mss must be an int in 1..{9000 - _TCPIP_HLEN}, got {mss!r}")
    if not isinstance(push_every, int) or push_every < 0:
        raise ValueError(f"push_every must be an int >= 0 (0: never), got {push_every!r}")
    flow = np.asarray(flow_of_packet, dtype=np.int64)
    if flow.size and (flow.min() < 0 or flow.max() >= len(rxhash_of_flow)):
        raise ValueError(f"flow_of_packet must name flows 0..{len(rxhash_of_flow) - 1} (one hash each)")
    if len(rxhash_of_flow) == 1:                                 # one flow: packet i is its segment i
        index = np.arange(flow.size, dtype=np.int64)
    else:
        key = flow.astype(np.uint16) if len(rxhash_of_flow) <= 1 << 16 else flow   # (a radix sort for 16 bits)
        order = np.argsort(key, kind="stable")                   # each flow's packets, in arrival order
        counts = np.bincount(flow, minlength=len(rxhash_of_flow)) if flow.size else np.zeros(0, np.int64)
        starts = np.concatenate(([0], np.cumsum(counts)[:-1])) if counts.size else counts
        index = np.empty_like(flow)
        index[order] = np.arange(flow.size) - np.repeat(starts, counts)  # the segment's number in its flow
    push = (index + 1) % push_every == 0 if push_every else np.zeros(flow.size, dtype=bool)
    return TcpSegments(flow, np.asarray(rxhash_of_flow, dtype=np.int64)[flow], 1 + index * mss,
                       np.full(flow.size, mss, dtype=np.int64), push)


class _Gro:
    """One NAPI's GRO (``kernel.gro``) for the TCP segments of one queue, as counters: per bucket the held skbs,
    youngest first, each ``[flow, mss, count, len, next seq, age, first packet]``. Ring entry c is the queue's packet
    ``c + (packets dropped at the ring before it)``: ``ring_drop`` records where drops shift that. With RPS on the
    queue (:meth:`steer`) each skb passed on is recorded in ``passed``, and pays ``stack_ns`` here only if RPS leaves
    it here (``here``)."""

    __slots__ = ("segments", "mask", "base", "size", "flow", "bucket", "seq", "payload", "push", "next_break",
                 "driver_ns", "stack_ns", "tick", "flush_oldest", "max_count", "buckets", "held", "marks", "shift",
                 "merged", "read_ns", "passed", "here")

    def __init__(self, segments: TcpSegments, profile: KernelProfile, costs: Costs):
        self.segments, self.mask = segments, profile.gro_hash_buckets - 1
        self.base, self.size = 0, 64        # the packets' fields are read through list windows, as _Feed does
        self.flow: list[int] = []
        self.driver_ns, self.stack_ns = costs.driver_ns, costs.stack_ns
        self.tick = 1_000_000_000 // profile.hz
        self.flush_oldest = profile.gro_flush_oldest
        self.max_count = None if profile.gro_frag_list else 1 + _MAX_SKB_FRAGS   # 3.10: one fragment per merge
        self.buckets: list[list[list[int]]] = [[] for _ in range(profile.gro_hash_buckets)]
        self.held = 0                       # skbs held, all buckets (gro_bitmask != 0)
        self.marks: list[tuple[int, int]] = []
        self.shift = 0
        self.merged = 0                     # segments merged into a held skb (not passed on themselves)
        self.read_ns = 0                    # summed over the entries read: when the driver read each
        self.passed: list[tuple[int, int, int]] | None = None   # RPS: (time, first packet, segments) per skb passed on
        self.here: list[bool] = []          # RPS: per packet, whether get_rps_cpu leaves its skb here

    def steer(self, target: np.ndarray) -> None:
        """RPS on this queue (``target``: each packet's CPU, -1 where ``get_rps_cpu`` leaves it here): each skb GRO
        passes on is recorded in ``passed`` for the reading CPU to steer, and pays its trip up the stack here only if
        it stays (``kernel.dev.napi_gro_complete``, ``goes_up_here``); else where ``process_backlog`` takes it."""
        self.passed, self.here = [], (target < 0).tolist()

    def pass_on(self, now: int, first: int, segments: int) -> int:
        """On an RPS queue, GRO passes on the skb of ``segments`` from packet ``first``, at ``now``: ``stack_ns`` if
        it goes up here, and recorded. Returns the time after."""
        if self.here[first]:
            now += self.stack_ns
        self.passed.append((now, first, segments))
        return now

    def held_alone(self, first: np.ndarray, counts: np.ndarray) -> np.ndarray:
        """For consecutive polls that each start with GRO holding nothing, poll i taking packets ``first[i]`` ..
        ``first[i] + counts[i] - 1``: per packet, whether GRO holds it as a new skb (TCP with a payload, no PSH, no
        packet of its flow before it in the poll)."""
        seg = self.segments
        lo, hi = int(first[0]), int(first[-1] + counts[-1])
        flow = seg.flow[lo:hi]
        alone = (flow >= 0) & (seg.payload[lo:hi] >= 1) & ~seg.push[lo:hi]
        if counts.max() > 1:
            place = np.arange(hi - lo) - np.repeat(first - lo, counts)   # each packet's place in its poll
            for d in range(1, int(counts.max())):
                alone[d:] &= (flow[d:] != flow[:-d]) | (place[d:] < d)
        return alone

    def ring_drop(self, rx_head: int, dropped: int) -> None:
        """``dropped`` packets found the ring full just after ring entry ``rx_head`` - 1."""
        self.marks.append((rx_head, dropped))

    def napi_gro_receive(self, c: int, k: int, now: int) -> int:
        """Ring entries c .. c+k-1 through ``napi_gro_receive`` → ``dev_gro_receive``, from time ``now``: each costs
        ``driver_ns``, each skb passed on ``stack_ns``, at once (``kernel.gro``, ``kernel.tcp_offload``). Returns
        the time after."""
        driver_ns, stack_ns, tick, marks, passed = self.driver_ns, self.stack_ns, self.tick, self.marks, self.passed
        end = c + k
        while c < end:
            while marks and marks[0][0] <= c:
                self.shift += marks.pop(0)[1]
            i = c + self.shift - self.base
            if i >= len(self.flow):
                self._slide(c + self.shift)
                i = 0
            flow, seq, payload, push, bucket = self.flow, self.seq, self.payload, self.push, self.bucket
            c += 1
            self.read_ns += now
            now += driver_ns
            f = flow[i]
            if f < 0:                                           # no GRO for it (UDP): GRO_NORMAL
                now = now + stack_ns if passed is None else self.pass_on(now, i + self.base, 1)
                continue
            lst = self.buckets[bucket[i]]
            length, psh = payload[i], push[i]
            p = None
            for e in lst:
                if e[0] == f:
                    p = e
                    break
            if p is not None:
                mss = p[1]
                if (0 < length <= mss and p[4] == seq[i] and p[3] + length < _GRO_LEGACY_MAX_SIZE
                        and (self.max_count is None or p[2] < self.max_count)):        # skb_gro_receive
                    p[2] += 1
                    p[3] += length
                    p[4] = (p[4] + length) & 0xFFFFFFFF
                    self.merged += 1
                    if length < mss or psh:                     # the merge ends: pass the held skb on
                        lst.remove(p)
                        self.held -= 1
                        now = now + stack_ns if passed is None else self.pass_on(now, p[6], p[2])
                        continue
                    # the next ring entries that merge the same way (the same flow's next full segments, no PSH,
                    # no ring drop between them, under 64 KB), at once: driver_ns each, nothing else happens
                    more = min(end - c, self.next_break[i] - i - 1, (_GRO_LEGACY_MAX_SIZE - 1 - p[3]) // mss)
                    if marks:
                        more = min(more, marks[0][0] - c)
                    if self.max_count is not None:
                        more = min(more, self.max_count - p[2])
                    if more > 0:
                        p[2] += more
                        p[3] += more * mss
                        p[4] = (p[4] + more * mss) & 0xFFFFFFFF
                        self.merged += more
                        self.read_ns += more * now + driver_ns * (more * (more - 1) // 2)
                        now += more * driver_ns
                        c += more
                    continue
                lst.remove(p)                                   # it cannot take this one: pass it on
                self.held -= 1
                now = now + stack_ns if passed is None else self.pass_on(now, p[6], p[2])
            if length < 1 or psh or len(lst) >= _MAX_GRO_SKBS and not self.flush_oldest:
                # flush, or 3.10 has no room: GRO_NORMAL
                now = now + stack_ns if passed is None else self.pass_on(now, i + self.base, 1)
                continue
            if len(lst) >= _MAX_GRO_SKBS:
                oldest = lst.pop()                              # gro_flush_oldest
                self.held -= 1
                now = now + stack_ns if passed is None else self.pass_on(now, oldest[6], oldest[2])
            lst.insert(0, [f, length, 1, _TCPIP_HLEN + length, (seq[i] + length) & 0xFFFFFFFF, now // tick,
                           i + self.base])
            self.held += 1
        return now

    def _slide(self, start: int) -> None:
        """Load the windows from packet ``start`` on: 64 packets after a jump (:meth:`_Cpu.gro_repeats`), four times
        more each time the one before was read through, up to ``_WINDOW``."""
        size = min(self.size * 4, _WINDOW) if start == self.base + len(self.flow) else 64
        seg, end = self.segments, start + size
        self.base, self.size = start, size
        self.flow, self.seq = seg.flow[start:end].tolist(), seg.seq[start:end].tolist()
        self.payload, self.push = seg.payload[start:end].tolist(), seg.push[start:end].tolist()
        self.bucket = (seg.rxhash[start:end] & self.mask).tolist()
        flow, seq, payload, push = (seg.flow[start:end], seg.seq[start:end], seg.payload[start:end],
                                    seg.push[start:end])
        plain = np.zeros(len(flow), dtype=bool)          # packet j merges just like j - 1 would have
        plain[1:] = ((flow[1:] == flow[:-1]) & (flow[1:] >= 0) & (payload[1:] == payload[:-1]) & (payload[1:] > 0)
                     & ((seq[:-1] + payload[:-1]) & 0xFFFFFFFF == seq[1:]) & ~push[1:] & ~push[:-1])
        breaks = np.append(np.flatnonzero(~plain), len(flow))
        self.next_break = breaks[np.searchsorted(breaks, np.arange(len(flow)), side="right")].tolist()

    def napi_gro_flush(self, now: int, flush_old: bool) -> int:
        """``napi_gro_flush``: each bucket's held skbs, oldest first, ``stack_ns`` each; with ``flush_old`` a bucket
        stops at one held in the current jiffy. Returns the time after."""
        stack_ns, tick, passed = self.stack_ns, self.tick, self.passed
        for lst in self.buckets:
            while lst:
                if flush_old and lst[-1][5] == now // tick:
                    break
                e = lst.pop()
                self.held -= 1
                now = now + stack_ns if passed is None else self.pass_on(now, e[6], e[2])
        return now


# --- the simulation: the kernel on one CPU ---------------------------------------------------------------------------
@dataclass(slots=True, eq=False)
class _Cpu:
    """One CPU as counters — the step model's ``Cpu`` and its ``softnet_data`` — and the queues whose IRQ points
    at it. Each method is one kernel function of the step model, with the same name, run on this CPU (``self`` is
    ``this_cpu()``); it moves the same counters without sk_buffs, events or traces."""

    queues: list[_Queue]
    profile: KernelProfile
    costs: Costs
    ring_size: int
    rx_itr_setting: int = 0              # the NIC's: ethtool -C rx-usecs as igb stores it
    nic_queues: int = 1                  # the NIC's vectors, on every CPU (adaptive ITR: one, or several)
    frame_bytes: int = ETH_HLEN + IP_HLEN + UDP_HLEN   # every packet's frame (the ITR's byte counts)
    now: int = 0
    context: str = "process"             # what busy_ns books time to, as Cpu.running sets it
    hardirq_count: int = 0               # preempt_count: hard IRQ nesting
    softirq_count: int = 0               # preempt_count: softirq nesting
    softirq_pending: bool = False        # NET_RX_SOFTIRQ, the one softirq raised here
    context_switch_ns: int = CONTEXT_SWITCH_NS   # the engine's (Scheduler.context_switch_ns)
    ksoftirqd_running: bool = False      # ksoftirqd/N is TASK_RUNNING
    ksoftirqd_current: bool = False      # ksoftirqd/N is the CPU's current task (switched in, not yet out)
    busy_until: int = 0                  # the run queue's busy_until: a switch, or the last hard IRQ's end
    in_net_rx_action: bool = False
    poll_list: list[_Queue] = field(default_factory=list)
    time_squeeze: int = 0
    net_rx_softirqs: int = 0             # kstat_softirqs[NET_RX_SOFTIRQ]
    hard_irqs: int = 0                   # kstat_irqs, all queues
    busy_ns: dict[str, int] = field(default_factory=lambda: dict.fromkeys(_CONTEXTS, 0))
    tick_ns: int = field(init=False)
    budget_jiffies: int = field(init=False)   # usecs_to_jiffies(netdev_budget_usecs)
    softirq_jiffies: int = field(init=False)  # usecs_to_jiffies(MAX_SOFTIRQ_TIME)
    softirq_restart: int = 0             # handle_softirqs: restarts left,
    softirq_end: int = 0                 # and the jiffy it stops at
    gro_seen: dict | None = None         # one queue with GRO: gro_repeats' states of this jiffy
    keeps_all: bool = False              # an RPS reader that keeps every skb here: its turns (_RpsCpu.reader_turns)

    def __post_init__(self):
        hz = self.profile.hz
        self.tick_ns = 1_000_000_000 // hz
        self.budget_jiffies = -(-self.profile.netdev_budget_usecs * hz // 1_000_000)
        self.softirq_jiffies = -(-self.profile.max_softirq_time_us * hz // 1_000_000)

    # --- hard IRQ (netlab.scenarios.receive.Host, kernel/softirq.c, igb_main.c) ---------------------------------
    def hard_irq(self, q: _Queue) -> None:
        """``scenarios.receive.Host._hard_irq`` (kernel/softirq.c ``irq_enter``): the handler's cost,
        ``igb_msix_ring``, ``irq_exit``."""
        q.throttled_until = self.now + q.eitr_ns   # kernel.nic.QVector.fire
        outer, self.context = self.context, "hardirq"
        self.hardirq_count += 1
        self.now += self.costs.hardirq_ns
        self.busy_ns["hardirq"] += self.costs.hardirq_ns
        self.hard_irqs += 1
        self.igb_msix_ring(q)
        self.irq_exit()
        self.context = outer

    def irq_exit(self) -> None:
        """``kernel.softirq.irq_exit`` → ``invoke_softirq`` → ``__do_softirq`` (kernel/softirq.c): leaving the
        outermost interrupt with softirqs pending, run them here."""
        self.hardirq_count -= 1
        if not (self.hardirq_count or self.softirq_count) and self.softirq_pending:
            outer, self.context = self.context, "softirq"
            self.handle_softirqs(False)
            self.context = outer

    def local_irq_enable(self) -> None:
        """``kernel.softirq.local_irq_enable`` and the Host's IRQ window it calls: take every hard IRQ that came
        due, earliest first."""
        while True:
            best = self.due_irq()
            if best is None:
                return
            self.hard_irq(best[1])

    def due_irq(self) -> tuple[int, _Queue] | None:
        """The earliest queue IRQ due by now (the lower queue at a tie) and when it came due, the NIC's writes
        counted up to now."""
        now, best = self.now, None
        for q in self.queues:
            q.dma_until(now)
            t = q.next_irq_time()
            if t is not None and t <= now and (best is None or (t, q.index) < (best[0], best[1].index)):
                best = (t, q)
        return best

    def igb_msix_ring(self, q: _Queue) -> None:
        """``kernel.nic.igb_msix_ring`` (drivers/net/ethernet/intel/igb/igb_main.c): ``igb_write_itr`` if the
        driver chose a new interval, mask, ``napi_schedule``."""
        if q.set_itr:
            self.igb_write_itr(q)
        q.irq_enabled, q.irq_asserted_at = False, None
        self.napi_schedule(q)

    def igb_write_itr(self, q: _Queue) -> None:
        """``kernel.nic.igb_write_itr`` (igb_main.c): the chosen interval into EITR."""
        q.eitr_ns = _eitr_ns(q.itr_val)
        q.set_itr = False

    # --- NAPI and NET_RX (net/core/dev.c, include/linux/netdevice.h) ----------------------------------------------
    def napi_schedule(self, q: _Queue) -> None:
        """``kernel.dev.napi_schedule`` → ``napi_schedule_prep``, ``____napi_schedule`` (net/core/dev.c): onto the
        poll_list, raise NET_RX (6.12: not while net_rx_action runs, it picks the NAPI up)."""
        if q.napi_sched:
            return
        q.napi_sched = True
        self.poll_list.append(q)
        if not self.profile.napi_repoll_list:
            self.softirq_pending = True  # __raise_softirq_irqoff
        elif not self.in_net_rx_action:
            self.raise_softirq_irqoff()

    def napi_complete_done(self, q: _Queue) -> None:
        """``kernel.dev.napi_complete_done`` (net/core/dev.c): GRO passes on all it holds (``napi_gro_flush``), off the
        poll_list, clear NAPI_STATE_SCHED."""
        if q.gro is not None and q.gro.held:
            self.napi_gro_flush(q, False)
        if q in self.poll_list:
            self.poll_list.remove(q)
        q.napi_sched = False

    def net_rx_action(self) -> None:
        """``kernel.dev.net_rx_action`` (net/core/dev.c): its cost, then the loop of the profile's kernel. One queue
        with GRO, in ksoftirqd: first :meth:`gro_repeats`."""
        if self.gro_seen is not None and self.context == "ksoftirqd":
            self.gro_repeats(self.gro_seen)
        self.now += self.costs.net_rx_action_ns
        self.busy_ns[self.context] += self.costs.net_rx_action_ns
        if self.profile.napi_repoll_list:
            self._net_rx_action_repoll_list()
        else:
            self._net_rx_action_3_10()

    def _net_rx_action_repoll_list(self) -> None:
        """``kernel.dev._net_rx_action_repoll_list`` (net/core/dev.c, 6.12): poll each NAPI once; those that used
        their weight wait on ``repoll`` for the next run; budget and time are checked after each poll."""
        tick, poll_list = self.tick_ns, self.poll_list
        time_limit, budget = self.now // tick + self.budget_jiffies, self.profile.netdev_budget
        todo: list[_Queue] = []
        repoll: list[_Queue] = []
        while True:  # start:
            if self.keeps_all and poll_list:
                budget = self.reader_turns(budget, time_limit)
                if budget is None:                          # it squeezed
                    return
            self.in_net_rx_action = True
            todo.extend(poll_list)
            poll_list.clear()
            squeezed = False
            while todo:
                budget -= self.napi_poll(todo.pop(0), repoll)
                self.local_irq_enable()
                if budget <= 0 or self.now // tick >= time_limit:
                    self.time_squeeze += 1
                    squeezed = True
                    break
            if not squeezed and not repoll:
                self.in_net_rx_action = False
                if poll_list:
                    if poll_list[0].gro is not None and len(self.queues) == 1:
                        budget, time_limit = self.gro_poll_chain(poll_list[0], budget, time_limit)
                    continue  # napi_schedule()d meanwhile: goto start
                return
            break
        poll_list[:] = todo + poll_list + repoll
        if poll_list:
            self.softirq_pending = True  # __raise_softirq_irqoff
        else:
            self.in_net_rx_action = False

    def _net_rx_action_3_10(self) -> None:
        """``kernel.dev._net_rx_action_3_10`` (net/core/dev.c, 3.10): poll the head of poll_list, which goes to
        the tail if it used its weight; budget and time are checked before each poll."""
        tick, poll_list = self.tick_ns, self.poll_list
        time_limit, budget = self.now // tick + self.budget_jiffies, self.profile.netdev_budget
        while poll_list:
            if budget <= 0 or self.now // tick >= time_limit:
                self.time_squeeze += 1
                self.softirq_pending = True  # __raise_softirq_irqoff
                return
            q = poll_list[0]
            work = self.igb_poll(q)
            budget -= work
            if work == _NAPI_WEIGHT:
                if q.gro is not None and q.gro.held:
                    self.napi_gro_flush(q, self.profile.hz >= 1000)
                poll_list.remove(q)
                poll_list.append(q)
            self.local_irq_enable()

    def napi_poll(self, q: _Queue, repoll: list[_Queue]) -> int:
        """``kernel.dev.napi_poll`` → ``__napi_poll`` (net/core/dev.c; the caller took ``q`` off its list): poll
        with budget = weight; a NAPI that used it all goes on ``repoll``."""
        work = self.igb_poll(q)
        if work == _NAPI_WEIGHT:
            if q.gro is not None and q.gro.held:
                self.napi_gro_flush(q, self.profile.hz >= 1000)
            repoll.append(q)
        return work

    def napi_gro_flush(self, q: _Queue, flush_old: bool) -> None:
        """``kernel.dev.napi_gro_flush`` (net/core/gro.c): GRO passes its held skbs on, ``stack_ns`` each."""
        start = self.now
        self.now = q.gro.napi_gro_flush(self.now, flush_old)
        self.busy_ns[self.context] += self.now - start

    # --- the driver's poll (drivers/net/ethernet/intel/igb/igb_main.c) --------------------------------------------
    def igb_poll(self, q: _Queue) -> int:
        """``kernel.nic.igb_poll`` (igb_main.c): its cost, up to 64 packets; fewer: ``napi_complete_done``,
        ``igb_ring_irq_enable``."""
        self.now += self.costs.poll_ns
        self.busy_ns[self.context] += self.costs.poll_ns
        cleaned = self.igb_clean_rx_irq(q)
        if cleaned >= _NAPI_WEIGHT:
            return _NAPI_WEIGHT
        self.napi_complete_done(q)
        self.igb_ring_irq_enable(q)
        return cleaned

    def igb_clean_rx_irq(self, q: _Queue) -> int:
        """``kernel.nic.igb_clean_rx_irq`` (igb_main.c), counting: a run of ready descriptors at a time (up to
        the next refill or the weight), ``packet_ns`` each (with GRO: ``driver_ns`` each, and ``stack_ns`` per skb GRO
        passes on meanwhile, :meth:`_Gro.napi_gro_receive`); ``igb_alloc_rx_buffers`` every 16 and at the end."""
        if q.gro is not None and (total := self.gro_clean_rx_irq(q)) is not None:
            return total
        cleaned_count = self.ring_size - 1 - (q.rx_use - q.rx_clean)  # igb_desc_unused
        total = 0
        start = now = self.now
        packet_ns = self.costs.packet_ns if q.rps is None else self.costs.driver_ns  # RPS: stack_ns where it goes up
        up_here = q.rps is not None and q.rps.local is not None      # RPS leaves some here: stack_ns as they are read
        while total < _NAPI_WEIGHT:
            q.dma_until(now)  # the step model's second look at the same time finds nothing new
            if cleaned_count >= IGB_RX_BUFFER_WRITE:
                self.igb_alloc_rx_buffers(q, cleaned_count)
                cleaned_count = 0
            avail = q.rx_head - q.rx_clean
            if not avail:
                break
            k = min(avail, _NAPI_WEIGHT - total, IGB_RX_BUFFER_WRITE - cleaned_count)
            if q.gro is None:
                q.read_ns += k * now + packet_ns * (k * (k - 1) // 2)
                now += k * packet_ns
                if up_here:
                    here = q.rps.targets(q.rx_clean, k) < 0
                    before = np.cumsum(here) - here                  # per packet: those of the k before it left here
                    q.read_ns += self.costs.stack_ns * int(before.sum())
                    now += self.costs.stack_ns * int(here.sum())
            else:
                now = q.gro.napi_gro_receive(q.rx_clean, k, now)
            q.rx_clean += k
            cleaned_count += k
            total += k
        self.busy_ns[self.context] += now - start
        self.now = now
        if cleaned_count:
            q.dma_until(now)
            self.igb_alloc_rx_buffers(q, cleaned_count)
        q.rx_packets += total
        q.total_packets += total
        return total

    def igb_alloc_rx_buffers(self, q: _Queue, cleaned_count: int) -> None:
        """``kernel.nic.igb_alloc_rx_buffers`` (igb_main.c): give ``cleaned_count`` buffers back to the NIC."""
        q.rx_use += cleaned_count

    def igb_ring_irq_enable(self, q: _Queue) -> None:
        """``kernel.nic.igb_ring_irq_enable`` (igb_main.c): adaptive moderation picks the next interval (one vector:
        ``igb_set_itr``, else ``igb_update_ring_itr``); unmask; descriptors written meanwhile fire it as soon as the
        throttle timer lets them."""
        if self.rx_itr_setting & 3:
            if self.nic_queues == 1:
                self.igb_set_itr(q)
            else:
                self.igb_update_ring_itr(q)
        q.dma_until(self.now)
        q.irq_enabled = True
        if q.rx_head - q.rx_clean:
            q.irq_asserted_at = self.now

    def igb_set_itr(self, q: _Queue) -> None:
        """``kernel.nic.igb_set_itr`` (igb_main.c): ``igb_update_itr`` on the packets since the last call (nothing
        is sent here: the TX range stays lowest_latency), then the range's EITR value, written at the next IRQ."""
        if q.total_packets:
            q.rx_itr = _latency_range(q.rx_itr, q.total_packets, q.total_packets * self.frame_bytes)
            q.total_packets = 0
        new_itr = _set_itr_value(q.rx_itr, q.itr_val, self.rx_itr_setting == 3)
        if new_itr != q.itr_val:
            q.itr_val, q.set_itr = new_itr, True

    def igb_update_ring_itr(self, q: _Queue) -> None:
        """``kernel.nic.igb_update_ring_itr`` (igb_main.c): the EITR value from the average packet size (every
        packet has ``frame_bytes`` here)."""
        if q.total_packets:
            new_val = _ring_itr_value(self.frame_bytes, self.rx_itr_setting == 3)
            if new_val != q.itr_val:
                q.itr_val, q.set_itr = new_val, True
            q.total_packets = 0

    # --- softirqs (kernel/softirq.c) --------------------------------------------------------------------------------
    def raise_softirq_irqoff(self) -> None:
        """``kernel.softirq.raise_softirq_irqoff`` (kernel/softirq.c): NET_RX pending; outside interrupts, wake
        ksoftirqd."""
        self.softirq_pending = True
        if not (self.hardirq_count or self.softirq_count):
            self.wakeup_softirqd()

    def wakeup_softirqd(self) -> None:
        """``kernel.softirq.wakeup_softirqd`` (kernel/softirq.c): ksoftirqd/N becomes runnable."""
        self.ksoftirqd_running = True

    def handle_softirqs(self, ksirqd: bool) -> None:
        """``kernel.softirq.handle_softirqs`` (kernel/softirq.c): NET_RX if pending, restart while raised again
        within MAX_SOFTIRQ_RESTART and MAX_SOFTIRQ_TIME, then ``wakeup_softirqd`` (``ksirqd`` names the caller)."""
        self.softirq_end = self.now // self.tick_ns + self.softirq_jiffies
        self.softirq_restart = self.profile.max_softirq_restart   # (gro_poll_chain takes restarts too)
        pending = self.softirq_pending
        self.softirq_count += 1
        while True:
            self.softirq_pending = False
            self.local_irq_enable()
            if pending:
                self.net_rx_softirqs += 1
                self.net_rx_action()
            pending = self.softirq_pending
            if not pending:
                break
            self.softirq_restart -= 1
            if self.now // self.tick_ns < self.softirq_end and self.softirq_restart:
                continue
            self.wakeup_softirqd()
            break
        self.softirq_count -= 1

    def run_ksoftirqd(self) -> None:
        """``kernel.softirq.run_ksoftirqd`` (kernel/softirq.c), the body of ``scenarios.receive.Host._ksoftirqd``:
        handle what is pending; with nothing left, TASK_INTERRUPTIBLE."""
        outer, self.context = self.context, "ksoftirqd"
        if self.softirq_pending:
            self.handle_softirqs(True)
        if not self.softirq_pending:
            self.ksoftirqd_running = False
        self.context = outer

    # --- GRO shortcuts: a queue with TCP segments -------------------------------------------------------------------
    def gro_clean_rx_irq(self, q: _Queue) -> int | None:
        """:meth:`igb_clean_rx_irq` for a queue with GRO, when no arrival can find the ring full before the poll
        ends (None otherwise: the general code runs). Then when the driver looks does not matter: a packet is
        cleaned iff it is in the ring when the poll starts or arrives by the time the one before it is done (up to
        the weight), and the refills leave the ring full. Each packet costs at least ``driver_ns``, so the packets
        that arrive by ``now + driver_ns`` per packet before them are certainly cleaned: they go to
        :meth:`_Gro.napi_gro_receive` in one call (its runs of merges then span many of the driver's looks)."""
        c, gro, feed = self.costs, q.gro, q.feed
        driver_ns, arr, pos, room = c.driver_ns, feed.arr, feed.pos, q.rx_use - q.rx_head
        start = now = self.now
        latest = now + _NAPI_WEIGHT * c.packet_ns + gro.held * c.stack_ns   # each skb passed on is held or new
        if gro.marks or q.irq_enabled or (pos + room < feed.n and arr[pos + room] <= latest):
            return None
        ready = q.rx_head - q.rx_clean
        if ready >= _NAPI_WEIGHT:
            total = _NAPI_WEIGHT
            now = gro.napi_gro_receive(q.rx_clean, total, now)
        else:
            ahead = arr[pos:pos + _NAPI_WEIGHT - ready]
            # u[x] = arrival - x * driver_ns; its running maximum: with x0 packets of ``ahead`` cleaned at ``now``,
            # the next ones certainly cleaned are those up to the first with top > now - x0 * driver_ns
            top = np.maximum.accumulate(ahead - np.arange(len(ahead), dtype=np.int64) * driver_ns).tolist()
            total = ready
            if ready:
                now = gro.napi_gro_receive(q.rx_clean, ready, now)
            while total < _NAPI_WEIGHT:
                x0 = total - ready
                k = bisect_right(top, now - x0 * driver_ns, x0) - x0
                if not k:
                    break
                now = gro.napi_gro_receive(q.rx_clean + total, k, now)
                total += k
        self.busy_ns[self.context] += now - start
        self.now = now
        unused = self.ring_size - 1 - (q.rx_use - q.rx_clean)  # igb_desc_unused
        q.rx_clean += total
        q.dma_until(now)
        self.igb_alloc_rx_buffers(q, unused + total)  # every 16 and at the end: the ring is full again
        q.rx_packets += total
        q.total_packets += total
        return total

    def gro_poll_chain(self, q: _Queue, budget: int, time_limit: int) -> tuple[int, int]:
        """Turns of ``_net_rx_action_repoll_list``'s ``goto start`` on the one queue of this CPU, with GRO, in one
        loop; returns the budget and time limit of the net_rx_action run it ends in. Each turn polls fewer than 9
        packets that GRO each holds as a new skb: the first is in the ring, each next one arrives by the time the
        driver is done with the one before it (``driver_ns`` each); GRO passes them all on when the poll completes
        (``stack_ns`` each), and the next packet, arrived meanwhile, raises the hard IRQ nested in net_rx_action,
        which schedules the NAPI again. A turn that spends the budget squeezes and handle_softirqs' next
        net_rx_action run (``net_rx_action_ns``, a new budget and time limit) polls the NAPI its IRQ put back on
        poll_list at once: the chain goes on across runs (at an IRQ's exit while handle_softirqs may restart). It
        stops before a turn that would be different: more packets, a merge, a full bucket, no IRQ, no time left
        after it, a squeeze after which handle_softirqs would wake ksoftirqd, or an arrival that might find the
        ring full (the general code runs that turn)."""
        gro, feed = q.gro, q.feed
        if gro.held or gro.marks or q.irq_enabled or q.rx_head == q.rx_clean or self.rx_itr_setting & 3 or q.set_itr:
            return budget, time_limit
        eitr_ns, throttled_until = q.eitr_ns, q.throttled_until   # each IRQ starts the throttle timer
        c, tick, ring = self.costs, self.tick_ns, self.ring_size
        driver_ns, packet_ns, poll_ns, hardirq_ns = c.driver_ns, c.packet_ns, c.poll_ns, c.hardirq_ns
        rx_ns, full_budget, budget_jiffies = c.net_rx_action_ns, self.profile.netdev_budget, self.budget_jiffies
        ksoftirqd = self.context == "ksoftirqd"   # squeezed runs follow one another at once (at an IRQ's exit: while
        crossings = (1 << 62) if ksoftirqd else self.softirq_restart - 1      # handle_softirqs may restart)
        soft_end = (1 << 62) if ksoftirqd else self.softirq_end
        arr, n = feed.arr, feed.n
        start = p = q.rx_clean + gro.shift                  # the first packet in the ring
        p0, times = p, []                                   # list windows of the arrivals and segments
        now, turns, runs, k_before, read_ns, stride = self.now, 0, 0, 0, 0, 64
        history: list[int] = []     # the turns' packet counts since the search for a cycle began
        began: dict[int, int] = {}  # where in history a run began, by how long its first packet had waited
        while True:
            ks = cycle = None
            if crossings > 0 and budget == full_budget and p < n:   # a run begins: the runs since one that began alike?
                key = now + poll_ns - int(arr[p])
                at = began.setdefault(key, len(history))
                if at < len(history):                       # again and again, perhaps: try that many cycles
                    cycle, ends, left = history[at:], [], budget
                    for k in cycle:                         # the turns that spend a run's budget
                        left -= k
                        ends.append(left <= 0)
                        left = full_budget if left <= 0 else left
                    reps = max(1, stride // len(cycle))
                    ks, squeezes = np.tile(np.array(cycle, dtype=np.int64), reps), np.tile(ends, reps)
                elif len(history) > 1 << 16:
                    history, began = [], {key: 0}
            if ks is None and k_before:                     # turns like the one before
                r = min(stride, (n - 1 - p) // k_before)
                if r > 1:
                    ks = np.full(r, k_before, dtype=np.int64)
                    first, each = -(-budget // k_before) - 1, -(-full_budget // k_before)   # the turns that squeeze
                    turn = np.arange(r)
                    squeezes = (turn >= first) & ((turn - first) % each == 0)
            if ks is not None:
                ks = ks[:np.searchsorted(np.cumsum(ks), n - 1 - p, "right")]   # the packet after the last one arrives
                beyond = np.flatnonzero(squeezes[:len(ks)])[crossings:crossings + 1]
                ks = ks[:beyond[0]] if len(beyond) else ks                    # a squeeze it may not go across
                looks = (self._gro_turns(p, ks, squeezes[:len(ks)], now, time_limit, soft_end, throttled_until)
                         if len(ks) else ks)
                m = len(looks)
                stride = min(stride * 4, 1 << 16) if m == len(ks) and m else 64
                if cycle is not None:
                    history, began = (cycle, {key: 0}) if m == len(ks) else ([], {})
                if m:
                    ks, squeezes = ks[:m], squeezes[:m]
                    cleaned = int(ks.sum())
                    read_ns += int(np.dot(ks, looks)) + driver_ns * int(np.dot(ks, ks - 1) // 2)
                    throttled_until = int(looks[-1]) + int(ks[-1]) * packet_ns + eitr_ns
                    now, p, turns = int(looks[-1]) + int(ks[-1]) * packet_ns + hardirq_ns, p + cleaned, turns + m
                    if cycle is None:
                        history.extend(ks.tolist())
                    k_before = int(ks[-1])
                    squeezed = np.flatnonzero(squeezes)
                    if not len(squeezed):
                        budget -= cleaned
                    else:
                        runs, crossings = runs + len(squeezed), crossings - len(squeezed)
                        budget = full_budget - int(ks[squeezed[-1] + 1:].sum())
                        if squeezed[-1] + 1 < m:
                            time_limit = (int(looks[squeezed[-1] + 1]) - poll_ns) // tick + budget_jiffies
                        else:
                            now += rx_ns
                            time_limit = now // tick + budget_jiffies
                    continue
            i = p - p0
            if i + _MAX_GRO_SKBS >= len(times):
                p0, i = p, 0
                times = arr[p:p + 4 * _MAX_GRO_SKBS + min(budget, 1 << 10)].tolist()
                flows = gro.segments.flow[p:p + len(times)].tolist()
                holds = ((gro.segments.flow[p:p + len(times)] >= 0) & (gro.segments.payload[p:p + len(times)] >= 1)
                         & ~gro.segments.push[p:p + len(times)]).tolist()
                last = p + len(times) == n                  # the window ends where the arrivals do
            look = now + poll_ns
            k = 1
            while True:
                j = i + k
                if j >= len(times):
                    if not last:
                        break
                    nxt = None
                    break
                nxt = times[j]
                if nxt > look + k * driver_ns:
                    break
                k += 1
                if k > _MAX_GRO_SKBS:
                    break
            if k > _MAX_GRO_SKBS or i + k >= len(times) and not last or nxt is None:
                break
            done = look + k * packet_ns                     # the driver's part, then the flush
            after = done + hardirq_ns
            if (nxt > done or done < throttled_until or budget <= k and (crossings < 1 or after // tick >= soft_end)
                    or after // tick >= time_limit or not all(holds[i:i + k]) or len(set(flows[i:i + k])) < k
                    or p + ring - 1 < n and arr[p + ring - 1] <= after):
                break
            read_ns += k * look + driver_ns * (k * (k - 1) // 2)
            throttled_until = done + eitr_ns
            now, p, budget, k_before = after, p + k, budget - k, k
            turns += 1
            history.append(k)
            if budget <= 0:                                 # squeezed: handle_softirqs' next run
                now += rx_ns
                budget, time_limit, runs, crossings = full_budget, now // tick + budget_jiffies, runs + 1, crossings - 1
        if turns:
            cleaned = p - start
            self.busy_ns[self.context] += turns * poll_ns + cleaned * packet_ns + runs * rx_ns
            self.busy_ns["hardirq"] += turns * hardirq_ns
            self.hard_irqs += turns
            self.time_squeeze += runs
            self.net_rx_softirqs += runs
            if not ksoftirqd:
                self.softirq_restart -= runs
            self.now = now
            q.throttled_until = throttled_until
            gro.read_ns += read_ns
            q.rx_clean += cleaned
            q.rx_packets += cleaned
            q.total_packets += cleaned
            q.rx_use = q.rx_clean + ring - 1
            q.dma_until(now)
        return budget, time_limit

    def _gro_turns(self, p: int, ks: np.ndarray, squeezes: np.ndarray, now: int, time_limit: int, soft_end: int,
                   throttled_until: int) -> np.ndarray:
        """When each of the next turns of :meth:`gro_poll_chain` looks (the first at ``now``, at packet ``p``, in a
        net_rx_action run with ``time_limit``, the throttle timer running until ``throttled_until``), as long as
        turn i takes ``ks[i]`` packets and keeps the chain going: its conditions, in numpy over the turns. A turn
        with ``squeezes`` set spends the run's budget: the next run begins ``net_rx_action_ns`` later, if it ends
        before the jiffy ``soft_end`` (handle_softirqs' MAX_SOFTIRQ_TIME)."""
        c, q, tick = self.costs, self.queues[0], self.tick_ns
        arr, n = q.feed.arr, q.feed.n
        r, took = len(ks), ks * c.packet_ns
        looks = np.empty(r, dtype=np.int64)
        looks[0] = now + c.poll_ns
        turn = took[:-1] + (c.poll_ns + c.hardirq_ns)
        if squeezes[:-1].any():
            turn += c.net_rx_action_ns * squeezes[:-1]
        np.cumsum(turn, out=looks[1:])
        looks[1:] += looks[0]
        done = looks + took
        limits = np.full(r, time_limit, dtype=np.int64)
        if squeezes[:-1].any():                              # the later runs' time limits
            began = np.concatenate(([False], squeezes[:-1]))
            first = np.maximum.accumulate(np.where(began, np.arange(r), 0))
            later = np.cumsum(began) > 0
            limits[later] = (looks[first[later]] - c.poll_ns) // tick + self.budget_jiffies
        firsts = np.empty(r, dtype=np.int64)
        firsts[0] = 0
        np.cumsum(ks[:-1], out=firsts[1:])
        total = int(firsts[-1] + ks[-1])
        packets = (arr[p:p + total] - np.arange(total, dtype=np.int64) * c.driver_ns
                   <= np.repeat(looks - firsts * c.driver_ns, ks))     # each arrived by its time,
        packets &= q.gro.held_alone(firsts + p, ks)           # each held as a new skb
        nxt = arr[p + firsts + ks]
        jiffy = (done + c.hardirq_ns) // tick
        ok = ((nxt > looks + ks * c.driver_ns) & (nxt <= done) & (jiffy < limits) & (~squeezes | (jiffy < soft_end))
              & (done >= np.concatenate(([throttled_until], done[:-1] + q.eitr_ns))))
        full = p + firsts + self.ring_size - 1                # the ring has room for every arrival by the IRQ's end
        ok &= (full >= n) | (arr[np.minimum(full, n - 1)] > done + c.hardirq_ns)
        m = r if ok.all() else int(np.argmin(ok))
        if not packets.all():                                 # (the turn of the first packet that is not)
            m = min(m, int(np.searchsorted(firsts, np.argmin(packets), "right")) - 1)
        return looks[:m]

    def gro_repeats(self, seen: dict) -> None:
        """Whole cycles of the machine at once, on one queue with GRO: when this CPU comes back to the state it was
        in earlier in the same jiffy, shifted by T ns, P packets and E ring entries (every counter relative, GRO's
        held skbs the same but their next sequence number), and the arrivals and segments ahead repeat with that
        shift too, it goes through the same cycle again, as long as the cycle stays within the jiffy (every
        ``now // tick`` the model takes is then the same). ``seen`` holds the states met so far in this jiffy: between
        the engine's steps and at the start of each of ksoftirqd's NET_RX runs. There handle_softirqs' restarts left
        and the jiffy it stops at are not part of the state: in ksoftirqd, whether it restarts or returns and is
        called again changes nothing (no cost between, IRQs taken at the same instant), within a jiffy."""
        q = self.queues[0]
        gro, feed, tick, now = q.gro, q.feed, self.tick_ns, self.now
        c0 = q.rx_clean
        held = [e for lst in gro.buckets for e in lst]
        key = (self.context, self.hardirq_count, self.softirq_count, self.softirq_pending, self.ksoftirqd_running,
               self.ksoftirqd_current, max(self.busy_until - now, 0), self.in_net_rx_action, len(self.poll_list),
               q.rx_use - c0, q.rx_head - c0, q.irq_enabled,
               None if q.irq_asserted_at is None else q.irq_asserted_at - now, q.napi_sched,
               feed.pos - c0 - gro.shift, tuple((e - c0, d) for e, d in gro.marks),
               tuple(len(lst) for lst in gro.buckets), tuple((e[0], e[1], e[2], e[3], e[5] - now // tick) for e in held),
               q.itr_val, q.set_itr, q.eitr_ns, max(q.throttled_until - now, 0), q.rx_itr,
               q.total_packets if self.rx_itr_setting & 3 else None)
        counters = (self.time_squeeze, self.net_rx_softirqs, self.hard_irqs, *self.busy_ns.values(), q.total_packets,
                    q.rx_packets, q.rx_missed, gro.merged, q.read_ns + gro.read_ns, q.dropped_ns)
        state = (now, feed.pos, c0, gro.shift, [e[4] for e in held], counters)
        before = seen.get(key)
        if before is None or before[0] // tick != now // tick:
            if before is not None or len(seen) > 4096:
                seen.clear()
            seen[key] = state
            return
        seen[key] = state
        t0, pos0, c00, shift0, seqs0, counters0 = before
        period, p, entries = now - t0, feed.pos - pos0, c0 - c00
        if period <= 0 or p <= 0:
            return
        n, seg = feed.n, gro.segments
        m = min(((now // tick + 1) * tick - 1 - now) // period, (n - 2 - self.ring_size - feed.pos) // p)
        if m < 1:
            return
        lo, hi = pos0, feed.pos + m * p + self.ring_size + 1      # the arrivals the cycles see (and a ring more)
        arr = feed.arr
        if not np.array_equal(arr[lo + p:hi + 1] - arr[lo:hi + 1 - p], np.full(hi + 1 - p - lo, period)):
            return
        lo = c00 + shift0                                          # the segments they see
        if any(not np.array_equal(getattr(seg, f)[lo + p:hi + 1], getattr(seg, f)[lo:hi + 1 - p])
               for f in ("flow", "rxhash", "payload", "push")):
            return
        tcp = seg.flow[lo:hi + 1 - p] >= 0
        steps = (seg.seq[lo + p:hi + 1] - seg.seq[lo:hi + 1 - p])[tcp]
        step = int(steps[0]) if len(steps) else 0
        ends = (seg.seq[lo:hi + 1] + seg.payload[lo:hi + 1])[seg.flow[lo:hi + 1] >= 0]
        seqs = [e[4] for e in held]                    # sequence numbers stay below 2**32: nothing wraps
        if (step < 0 or (steps != step).any() or seqs != [(x + step) & 0xFFFFFFFF for x in seqs0]
                or (len(ends) and int(ends.max()) >= 1 << 32) or any(x + m * step >= 1 << 32 for x in seqs)):
            return
        if self.busy_until > now:                                  # (once past, only "past" counts)
            self.busy_until += m * period
        self.now += m * period
        if q.irq_asserted_at is not None:
            q.irq_asserted_at += m * period
        gains = [m * (a - b) for a, b in zip(counters, counters0)]
        self.time_squeeze += gains[0]
        self.net_rx_softirqs += gains[1]
        self.hard_irqs += gains[2]
        for ctx, g in zip(_CONTEXTS, gains[3:3 + len(_CONTEXTS)]):
            self.busy_ns[ctx] += g
        q.total_packets += gains[-6]
        q.rx_packets += gains[-5]
        q.rx_missed += gains[-4]
        gro.merged += gains[-3]
        # each later cycle reads and drops its packets T ns later: the sums of those times grow by T per packet
        later = period * (m * (m + 1) // 2)
        gro.read_ns += gains[-2] + later * (counters[-5] - counters0[-5])    # (the reads of q and of GRO together)
        q.dropped_ns += gains[-1] + later * (counters[-4] - counters0[-4])
        if q.throttled_until > now:
            q.throttled_until += m * period
        q.rx_use += m * entries
        q.rx_head += m * entries
        q.rx_clean += m * entries
        gro.marks = [(e + m * entries, d) for e, d in gro.marks]
        gro.shift += m * (p - entries)
        for e in held:
            e[4] = (e[4] + m * step) & 0xFFFFFFFF
        feed.skip(m * p)
        seen.clear()

    def gro_flooded_runs(self) -> None:
        """:meth:`flooded_runs` for a queue of one bulk TCP flow: ksoftirqd's NET_RX runs on a ring that never runs
        short, in bulk. Each poll reads 64 descriptors in four runs of 16, gives each 16 back to the NIC, and GRO
        holds the flow's segments as one skb, which it passes on where the next one does not follow it (the NIC
        dropped packets between them: the flow's sequence breaks), where it is full (64 KB; 3.10: 1 +
        MAX_SKB_FRAGS segments), and when the poll ends (``napi_gro_flush``, all of it below HZ 1000): ``stack_ns``
        each time, in the poll's time. Supposing the ring drops in every interval between two refills, the drops
        mark each 16th ring entry, so where GRO passes skbs on — and so every refill time — is known ahead; the
        ring's free space is then the Lindley recursion of :meth:`flooded_runs`, which shows how many it dropped.
        Runs are taken up to the first whose entries meet an interval that dropped nothing, a poll that would find
        fewer than 64 ready, (3.10) a time limit, or a packet that is not the flow's next full segment."""
        c, prof = self.costs, self.profile
        q = self.queues[0]
        gro, feed = q.gro, q.feed
        seg = gro.segments
        if prof.hz >= 1000 or gro.held:   # (HZ 1000: a poll of 64 keeps what GRO got in this jiffy)
            return
        rx_ns, poll_ns, driver_ns, stack_ns = c.net_rx_action_ns, c.poll_ns, c.driver_ns, c.stack_ns
        tick, budget_jiffies, ring, write = self.tick_ns, self.budget_jiffies, self.ring_size, IGB_RX_BUFFER_WRITE
        repoll = prof.napi_repoll_list
        polls = 1 if repoll else -(-prof.netdev_budget // _NAPI_WEIGHT)
        per_run = polls * _NAPI_WEIGHT
        size = 16
        while True:
            c0, now, room, ready = q.rx_clean, self.now, q.rx_use - q.rx_head, q.rx_head - q.rx_clean
            first = c0 + gro.shift + sum(d for e, d in gro.marks if e <= c0)     # the packet in entry c0
            if first >= feed.n or not 0 < seg.payload[first] or seg.push[first] or seg.flow[first] < 0:
                return
            mss = int(seg.payload[first])
            longest = (_GRO_LEGACY_MAX_SIZE - 1 - _TCPIP_HLEN) // mss       # segments in one skb
            if gro.max_count is not None:
                longest = min(longest, gro.max_count)
            n = size * per_run
            e = np.arange(n)                                                 # ring entries c0 + e
            known = np.array(gro.marks, dtype=np.int64).reshape(-1, 2)
            marked = ring - 1 + write * np.arange(max(0, -(-(n - ring + 1) // write)))   # each interval's drop
            breaks = e % _NAPI_WEIGHT == 0
            breaks[known[:, 0][known[:, 0] - c0 < n] - c0] = True
            breaks[marked] = True
            in_skb = e - np.maximum.accumulate(np.where(breaks, e, 0))
            passed = (in_skb % longest == 0) & ~(e % _NAPI_WEIGHT == 0)       # the held skb goes up: stack_ns
            cost = driver_ns + passed * stack_ns
            before = np.zeros(n, dtype=np.int64)
            before[::_NAPI_WEIGHT] = poll_ns + stack_ns                      # the poll; the last one's flush
            before[::per_run] += rx_ns
            before[0] -= stack_ns
            after = now + np.cumsum(before + cost)                           # each entry done
            reads = after - cost
            refills = after[write - 1::write]
            looks = reads[::_NAPI_WEIGHT]
            written = np.searchsorted(feed.arr, refills, "right")           # arrivals by each refill
            arrived = np.diff(written, prepend=feed.pos)
            sums = np.cumsum(write - arrived)
            spare = sums - np.minimum(np.minimum.accumulate(sums), write - room)   # room after each refill, - 16
            taken = room + write * np.arange(len(spare)) - spare             # written by each refill, in all
            dropped = arrived - np.diff(taken, prepend=0)
            each = _NAPI_WEIGHT // write
            seen = (np.searchsorted(feed.arr, looks, "right")                       # arrived since the last refill
                    - np.concatenate(([feed.pos], written[each - 1::each][:-1])))
            room_at = np.concatenate(([room], spare[each - 1::each][:-1] + write))
            taken_at = np.concatenate(([0], taken[each - 1::each][:-1]))
            ok = (ready + taken_at + np.minimum(seen, room_at) - _NAPI_WEIGHT * np.arange(len(looks))
                  >= _NAPI_WEIGHT).reshape(size, polls).all(axis=1)
            starts = looks[::polls] - rx_ns - poll_ns
            limit = (starts + rx_ns) // tick + budget_jiffies
            if not repoll:  # 3.10 checks the time before each poll: a run cut short is left out
                ok &= (looks[polls - 1::polls] - poll_ns) // tick < limit
            runs = size if ok.all() else int(np.argmin(ok))
            missed = np.flatnonzero(dropped[:len(marked)] == 0)              # an interval that dropped nothing
            if len(missed):
                runs = min(runs, int(marked[missed[0]]) // per_run)
            positions = np.concatenate((known[:, 0] - c0, marked))
            drops = np.concatenate((known[:, 1], dropped[:len(marked)]))
            ends = e[per_run - 1::per_run]
            last = c0 + gro.shift + ends + np.concatenate(([0], np.cumsum(drops)))[
                np.searchsorted(positions, ends, "right")]                   # each run's last packet
            if runs:
                span = slice(first, int(last[runs - 1]) + 1)
                good = (seg.flow[span] == seg.flow[first]) & (seg.payload[span] == mss) & ~seg.push[span]
                good[1:] &= (seg.seq[span][:-1] + mss) & 0xFFFFFFFF == seg.seq[span][1:]
                if not good.all():
                    runs = min(runs, int(np.searchsorted(last, first + int(np.argmin(good)))))
            if not runs or int(drops.max(initial=0)) * mss >= 1 << 32:
                return
            n, k = runs * per_run, runs * per_run // write
            end = int(after[n - 1]) + stack_ns
            if repoll and prof.netdev_budget > _NAPI_WEIGHT:
                ends = np.append(starts[1:runs], end)
                self.time_squeeze += int(np.count_nonzero(ends // tick >= limit[:runs]))
            else:  # the budget is spent every run
                self.time_squeeze += runs
            self.busy_ns["ksoftirqd"] += end - now
            self.now = end
            self.net_rx_softirqs += runs
            gro.read_ns += int(reads[:n].sum())
            gro.merged += n - int(passed[:n].sum()) - runs * polls
            q.dropped_ns += _range_sums(feed.arr, written[:k] - dropped[:k], written[:k])
            q.total_packets += n
            q.rx_head += int(taken[k - 1])
            q.rx_missed += int(written[k - 1]) - feed.pos - int(taken[k - 1])
            q.rx_clean += n
            q.rx_use += n
            q.rx_packets += n
            feed.skip(int(written[k - 1]) - feed.pos)
            at = np.concatenate((known[:, 0] - c0, ring - 1 + write * np.arange(k)))     # the drops' ring entries
            count = np.concatenate((known[:, 1], dropped[:k]))
            gro.shift += int(count[at < n].sum())
            gro.marks = [(c0 + p, d) for p, d in zip(at[at >= n].tolist(), count[at >= n].tolist()) if d]
            if repoll:
                self.in_net_rx_action = True
            q.dma_until(end)
            if runs < size:
                return
            size = min(size * 4, 4096)

    # --- the machine (netlab.scenarios.receive.Host.run) ------------------------------------------------------------
    def run(self) -> None:
        """``scenarios.receive.Host.run`` for this CPU — its hard IRQ steps and the engine's switches to and from
        the ksoftirqd/N task — until nothing is left; with one queue, idle stretches (``isolated_packets``,
        ``quiet_cycles``) and flooded ones (``flooded_runs``; with GRO ``gro_flooded_runs``) in bulk.

        The engine's order, step by step: a hard IRQ is taken when due, but not before the CPU is free
        (``busy_until``: its last IRQ's end, a context switch). ksoftirqd, woken, is switched to (one
        ``context_switch_ns``) once no IRQ is due by then; IRQs that come due during the switch wait and are taken
        in its first ``local_irq_enable`` — one due exactly when the switch ends goes first. Each of its runs is a
        burst; IRQs due by its end go first, then it runs again if still TASK_RUNNING, else it switches to idle
        (one ``context_switch_ns`` more, IRQs wait; the idle task's code then runs on this CPU: its clock moves on)."""
        queues = self.queues
        bulk = len(queues) == 1 and self.profile.netdev_budget > _NAPI_WEIGHT and self.budget_jiffies >= 1
        gro = bulk and queues[0].gro is not None   # an isolated packet costs packet_ns with GRO too; a flood: GRO's own
        self.gro_seen = {} if gro else None
        while True:
            if bulk:
                q0 = queues[0]
                if self.waits_for(q0):
                    self.isolated_packets()
                    if not gro:
                        self.quiet_cycles()
                        self.throttled_cycles()
                elif (self.ksoftirqd_current and self.ksoftirqd_running and self.softirq_pending
                      and self.busy_until <= self.now and self.poll_list == [q0] and not q0.irq_enabled
                      and q0.rx_use - q0.rx_clean == self.ring_size - 1 and q0.rx_head - q0.rx_clean >= _NAPI_WEIGHT):
                    self.gro_flooded_runs() if gro else _Cpu.flooded_runs(self)   # (an RPS reader's own: all steered)
            if gro:
                self.gro_repeats(self.gro_seen)
            if not self.engine_step():
                return

    def waits_for(self, q: _Queue) -> bool:
        """Whether this CPU is idle, waiting for ``q``'s next arrival: nothing runs or is pending, ``q``'s IRQ is armed
        and its ring empty."""
        return (not self.ksoftirqd_running and not self.ksoftirqd_current and self.busy_until <= self.now
                and not self.softirq_pending and not self.in_net_rx_action
                and q.irq_enabled and q.irq_asserted_at is None and q.rx_head == q.rx_clean
                and not q.napi_sched and q.feed.first() is not None)

    def next_due(self) -> int | None:
        """When the earliest interrupt of this CPU is due (its queues' IRQs), if any."""
        due = None
        for q in self.queues:
            t = q.next_irq_time()
            if t is not None and (due is None or t < due):
                due = t
        return due

    def engine_step(self) -> bool:
        """One step of the engine's order (``scenarios.receive.Host._step``): the interrupt due, else ksoftirqd or
        a switch to or from it; False when nothing is left to do."""
        due = self.next_due()
        irq_at = None if due is None else max(due, self.now, self.busy_until)
        if irq_at is not None and (irq_at <= self.now or not (self.ksoftirqd_running or self.ksoftirqd_current)):
            self.take_irq(irq_at)
        elif self.ksoftirqd_current and self.ksoftirqd_running:
            self.run_ksoftirqd()
        elif self.ksoftirqd_current:                   # schedule(): switch to the idle task
            self.busy_until = self.now = self.now + self.context_switch_ns
            self.ksoftirqd_current = False
        elif self.ksoftirqd_running:                   # the idle task switches to the woken ksoftirqd
            self.busy_until = self.now = self.now + self.context_switch_ns
            self.ksoftirqd_current = True
            if due is not None and due == self.now:
                self.take_irq(self.now)
            else:
                self.run_ksoftirqd()
        else:
            return False
        return True

    def take_irq(self, at: int) -> None:
        """``scenarios.receive.Host._step``: at ``at``, the hard IRQ of the earliest due queue."""
        self.now = at
        q = min((q for q in self.queues if q.next_irq_time() is not None), key=lambda q: (q.next_irq_time(), q.index))
        q.dma_until(self.now)
        self.hard_irq(q)
        self.busy_until = self.now

    def isolated_packets(self) -> None:
        """Packets that each find the CPU idle and leave before the next one arrives, in bulk: each costs one IRQ,
        one NET_RX run, one poll of one packet (6.12 may squeeze on a tick boundary). With GRO too: the packet goes
        up alone (GRO_NORMAL, or held and passed on when the poll ends), one ``stack_ns`` either way."""
        c = self.costs
        t_iso = c.hardirq_ns + c.net_rx_action_ns + c.poll_ns + c.packet_ns
        tick, repoll_list = self.tick_ns, self.profile.napi_repoll_list
        q = self.queues[0]
        feed = q.feed
        if not self.itr_steady(q) or feed.first() is None or feed.first() < q.throttled_until:
            return
        gap = max(t_iso, q.eitr_ns - 1)  # a packet must find the CPU idle and the throttle timer run out
        size = 64
        while True:
            if feed.pos + 1 < feed.n and feed.arr[feed.pos + 1] - feed.arr[feed.pos] <= gap:
                return
            chunk = feed.arr[feed.pos:feed.pos + size + 1]
            size = min(size * 4, 65536)
            if len(chunk) == 0 or chunk[0] < self.now:
                return
            ok = np.diff(chunk) > gap
            if feed.pos + len(chunk) == feed.n:
                ok = np.append(ok, True)
            m = len(ok) if ok.all() else int(np.argmin(ok))
            if m == 0:
                return
            run = chunk[:m]
            if repoll_list:
                self.time_squeeze += int(np.count_nonzero(
                    (run + t_iso) // tick >= (run + c.hardirq_ns + c.net_rx_action_ns) // tick + self.budget_jiffies))
            self.now = int(run[-1]) + t_iso
            q.throttled_until = int(run[-1]) + q.eitr_ns
            q.read_ns += int(run.sum()) + m * (t_iso - c.packet_ns)
            self.record_polls(q, np.ones(m, dtype=np.int64), run + (t_iso - c.packet_ns))
            self.read_in_bulk(q, m, m, m, m * (c.net_rx_action_ns + c.poll_ns + c.packet_ns))
            if m < len(ok):
                return

    def quiet_cycles(self) -> None:
        """Busy periods where every poll empties the ring with fewer than 64 packets, in bulk: IRQ at the first
        arrival, then one NET_RX run whose single poll cleans each packet that has arrived by the time it looks,
        then the IRQ is unmasked and the CPU idles until the next arrival. Stops (leaving the rest to the general
        code) at a poll of 64 packets or a ring that might fill.

        With ``u[i] = t[i] - i * packet_ns`` a period that starts at packet p takes every packet up to the first j
        with ``u[j] > u[p] + head`` (IRQ, NET_RX and poll costs); that j starts the next period, so a start's
        ``u`` is the largest so far and the next start is a binary search in the running maximum of ``u``."""
        c = self.costs
        hardirq_ns, rx_ns, poll_ns, packet_ns = c.hardirq_ns, c.net_rx_action_ns, c.poll_ns, c.packet_ns
        tick, budget_jiffies = self.tick_ns, self.budget_jiffies
        max_quiet = min(_NAPI_WEIGHT - 1, self.ring_size - 1 - IGB_RX_BUFFER_WRITE)
        head = hardirq_ns + rx_ns + poll_ns
        squeezes = self.profile.napi_repoll_list and (poll_ns + max_quiet * packet_ns) // tick + 1 >= budget_jiffies
        q = self.queues[0]
        feed = q.feed
        if (self.rx_itr_setting & 3 or q.eitr_ns > head + packet_ns  # the throttle timer might hold an IRQ back
                or feed.first() is None or feed.first() < q.throttled_until):
            return
        size = 256
        while feed.pos < feed.n and feed.first() >= self.now:
            pos = feed.pos
            chunk = feed.arr[pos:pos + size]
            m, tail = len(chunk), pos + size >= feed.n
            u = chunk - np.arange(0, m * packet_ns, packet_ns, dtype=np.int64)[:m] if packet_ns else chunk
            top = u if (u[1:] >= u[:-1]).all() else np.maximum.accumulate(u)   # (arrivals packet_ns apart or more)
            runs: list[np.ndarray] = []  # the periods' first packets
            p = last = cycles = k_before = irregular = 0
            following = None  # every packet's next period start, once the periods turn out irregular
            stop = False
            while p < m:
                nxt = following[p] if following is not None else int(top.searchsorted(top[p] + head, "right"))
                k = nxt - p
                if k > max_quiet:
                    stop = True
                    break
                if nxt == m and not tail:  # this period may run past the chunk: look again from its start
                    break
                r = 1
                if following is None and k == k_before:  # periods of k packets again: take the run of them at once
                    j = min((m - 1 - p) // k, 4096)
                    s0, s1, e0 = top[p:p + j * k:k] + head, top[p + k:p + (j + 1) * k:k], top[p + k - 1:p + j * k:k]
                    ok = (s1 > s0) & (e0 <= s0)
                    r = max(1, j if ok.all() else int(np.argmin(ok)))
                elif following is None and (irregular := irregular + 1) > 16:
                    following = np.searchsorted(top, top + head, "right").tolist()
                runs.append(np.arange(p, p + r * k, k))
                last, p, k_before = p + (r - 1) * k, p + r * k, k
                cycles += r
            if not cycles:
                return
            starts = np.concatenate(runs) if len(runs) > 1 else runs[0]
            sizes = np.empty_like(starts)
            np.subtract(starts[1:], starts[:-1], out=sizes[:-1])
            sizes[-1] = p - starts[-1]
            looks = chunk[starts]
            looks += head
            q.read_ns += int(np.dot(sizes, looks)) + packet_ns * int(np.dot(sizes, sizes - 1) // 2)
            q.throttled_until = int(chunk[last]) + q.eitr_ns
            if squeezes:
                ends = u[starts] + head + np.append(starts[1:], p) * packet_ns
                self.time_squeeze += int(np.count_nonzero(
                    ends // tick >= (chunk[starts] + hardirq_ns + rx_ns) // tick + budget_jiffies))
            self.now = int(u[last]) + head + p * packet_ns
            self.record_polls(q, sizes, looks)
            self.read_in_bulk(q, p, cycles, cycles, cycles * (rx_ns + poll_ns) + p * packet_ns)
            if stop:
                return
            size = min(size * 4, 1 << 18)

    def record_polls(self, q: _Queue, counts: np.ndarray, starts: np.ndarray, ipi_at: np.ndarray | None = None,
                     writes: tuple[np.ndarray, np.ndarray] | None = None) -> None:
        """The polls of ``q`` a bulk shortcut ran: ``counts`` packets each, read from ``starts`` on, their NET_RX runs
        ending at ``ipi_at`` (None: each poll alone in its run), the NIC's writes without a drop between beginning
        at ``writes`` (ring positions, arrivals; None: it dropped none). Only a CPU that steers them (RPS,
        :meth:`_RpsCpu.record_polls`) keeps them."""

    def read_in_bulk(self, q: _Queue, packets: int, irqs: int, runs: int, softirq_ns: int) -> None:
        """What a bulk shortcut did: ``irqs`` hard IRQs and ``runs`` NET_RX runs (``softirq_ns`` between them) that
        read ``packets`` packets of ``q`` without a ring drop."""
        self.hard_irqs += irqs
        self.net_rx_softirqs += runs
        self.busy_ns["hardirq"] += irqs * self.costs.hardirq_ns
        self.busy_ns["softirq"] += softirq_ns
        q.rx_packets += packets
        q.rx_use += packets
        q.rx_head += packets
        q.rx_clean += packets
        q.feed.skip(packets)

    def throttled_cycles(self) -> None:
        """Busy periods that start and end with the CPU idle — one IRQ, then NET_RX runs at its exit until a poll
        empties the ring with fewer than 64 packets, the IRQ unmasked — where the throttle timer may hold the IRQ
        back: it fires at the later of the first arrival and the timer's end, starts the timer again with what EITR
        holds, writes a new interval the driver chose (``igb_write_itr``), and the last poll lets the driver choose
        again (adaptive moderation). On 6.12 a poll of 64 waits on repoll for the next NET_RX run, which
        ``handle_softirqs`` restarts at once (3.10: stops there). Where ``handle_softirqs`` wakes ksoftirqd (no
        restart or time left), without moderation, the period goes on there: the switch to it
        (``context_switch_ns``), its NET_RX runs back to back (``run_ksoftirqd``: the IRQ stays masked) up to the
        poll that empties the ring, the switch back to the idle task. Each poll is a binary search in the running
        maximum of ``u[i] = t[i] - i * packet_ns``, as in :meth:`quiet_cycles`: a poll that starts reading at P
        with packet a takes every packet up to the first j with ``u[j] > P - a * packet_ns``, at most 64. Stops,
        leaving the period to the general code, where the ring might fill or (3.10, moderation) ``handle_softirqs``
        would wake ksoftirqd."""
        c, prof = self.costs, self.profile
        hardirq_ns, rx_ns, poll_ns, packet_ns = c.hardirq_ns, c.net_rx_action_ns, c.poll_ns, c.packet_ns
        tick, budget_jiffies, softirq_jiffies = self.tick_ns, self.budget_jiffies, self.softirq_jiffies
        repoll_list, restarts = prof.napi_repoll_list, prof.max_softirq_restart
        room = self.ring_size - 1   # free descriptors when a poll starts: every packet read before was given back
        head = hardirq_ns + rx_ns + poll_ns
        adaptive, one_vector = self.rx_itr_setting & 3, self.nic_queues == 1
        conservative, frame_bytes = self.rx_itr_setting == 3, self.frame_bytes
        q = self.queues[0]
        feed = q.feed
        if adaptive and q.total_packets:
            return
        steers = q.rps is not None      # RPS: its polls are recorded (record_polls)
        ksoftirqd, switch_ns = repoll_list and not self.rx_itr_setting, self.context_switch_ns
        choices: dict[tuple[int, int, int], tuple[int, int]] = {}  # (range, packets, itr_val) → the driver's choice
        size = 256
        while feed.pos < feed.n:               # (the next IRQ at the later of its arrival and the CPU being free)
            chunk, tail, top_array = feed.ahead(size, packet_ns)
            m, top = len(chunk), top_array.tolist()    # (the arrivals stay an array: read a few times a period)
            throttled_until, eitr_ns, itr_val, set_itr, rx_itr = (q.throttled_until, q.eitr_ns, q.itr_val, q.set_itr,
                                                                  q.rx_itr)
            p = cycles = runs = squeezed = read_ns = misses = ksoftirqd_runs = ksoftirqd_packets = 0
            stride = 8          # patterns to check at once
            recent: list[int] = []   # the sizes of the last few periods, each one poll
            ks: list[int] = []       # with RPS, per poll: packets, when it reads; earlier ones as arrays
            looks: list[int] = []
            blocks: list[tuple[np.ndarray, np.ndarray]] = []
            end = self.now
            stop = False
            while p < m:
                fire = max(int(chunk[p]), throttled_until, end)
                first_poll, woke, block = len(ks), 0, 16   # woke: the run after which ksoftirqd ran; block: of its
                                                           # polls, how many to try at once
                reads, a, polls, period_read, period_squeezed = fire + head, p, 0, 0, 0   # a poll reads packet a on
                while True:                                                              # from `reads`
                    j = bisect_right(top, reads - a * packet_ns, a)
                    if j - a < _NAPI_WEIGHT:   # the last poll: it empties the ring
                        if j == m and not tail:   # it may run past the chunk: look again with a longer one
                            break
                        k = j - a         # packet j comes after the poll: the ring held at most these k
                        done = reads + k * packet_ns
                    else:
                        k = _NAPI_WEIGHT
                        done = reads + k * packet_ns
                        arrived = int(chunk.searchsorted(done, "right"))
                        if arrived == m and not tail:
                            break
                        if arrived - a > room and not self.fits(chunk, a, k, reads, arrived):
                            stop = True   # the ring might fill: a packet dropped
                            break
                    polls += 1
                    period_read += k * reads + packet_ns * (k * (k - 1) // 2)
                    a += k
                    if steers:
                        ks.append(k)
                        looks.append(reads)
                    if repoll_list and done // tick >= (reads - poll_ns) // tick + budget_jiffies:
                        period_squeezed += 1
                    if k < _NAPI_WEIGHT:
                        break
                    if not woke and (not repoll_list or polls >= restarts
                                     or done // tick >= (fire + hardirq_ns) // tick + softirq_jiffies):
                        if not ksoftirqd:
                            stop = True   # 3.10's next poll, or handle_softirqs would wake ksoftirqd
                            break
                        woke, woken_at, done = polls, a, done + switch_ns   # wakeup_softirqd, the switch to it
                    reads = done + rx_ns + poll_ns
                    if woke and block:                                      # ksoftirqd's runs of 64, at once
                        r, block_looks = self.back_to_back(chunk, top_array, a, reads, block)
                        if r:
                            block = block * 4 if r == block else 0          # (stopped short: the rest one by one)
                            polls += r
                            period_read += _NAPI_WEIGHT * int(block_looks.sum()) + r * packet_ns * (
                                _NAPI_WEIGHT * (_NAPI_WEIGHT - 1) // 2)
                            period_squeezed += int(np.count_nonzero(
                                (block_looks + _NAPI_WEIGHT * packet_ns) // tick
                                >= (block_looks - poll_ns) // tick + budget_jiffies))
                            a += r * _NAPI_WEIGHT
                            reads = int(block_looks[-1]) + _NAPI_WEIGHT * packet_ns + rx_ns + poll_ns
                            if steers:
                                ks += [_NAPI_WEIGHT] * r
                                looks += block_looks.tolist()
                        else:
                            block = 0
                if stop or a == p or k == _NAPI_WEIGHT:
                    del ks[first_poll:], looks[first_poll:]
                    break
                throttled_until = fire + eitr_ns
                if set_itr:                                        # igb_msix_ring → igb_write_itr
                    eitr_ns, set_itr = _eitr_ns(itr_val), False
                if adaptive:                                       # igb_ring_irq_enable
                    key = (rx_itr, a - p, itr_val)
                    choice = choices.get(key)
                    if choice is None:
                        if one_vector:
                            next_range = _latency_range(rx_itr, a - p, (a - p) * frame_bytes)
                            choice = choices[key] = (next_range, _set_itr_value(next_range, itr_val, conservative))
                        else:
                            choice = choices[key] = (rx_itr, _ring_itr_value(frame_bytes, conservative))
                    rx_itr = choice[0]
                    if choice[1] != itr_val:
                        itr_val, set_itr = choice[1], True
                read_ns += period_read
                squeezed += period_squeezed
                end = done + switch_ns if woke else done                    # (then the switch to the idle task)
                if woke:
                    ksoftirqd_runs, ksoftirqd_packets = ksoftirqd_runs + polls - woke, ksoftirqd_packets + a - woken_at
                cycles += 1
                runs += polls
                p = a
                recent = recent[-3:] + [k] if polls == 1 else []
                pattern = (recent[-1:] if len(recent) > 1 and recent[-1] == recent[-2] else
                           recent[-2:] if len(recent) > 3 and recent[-2:] == recent[-4:-2] else None)
                if pattern and not set_itr and misses < 16 and (
                        not adaptive or all(choices.get((rx_itr, kk, itr_val)) == (rx_itr, itr_val) for kk in pattern)):
                    # the last one or two periods' sizes again and again, each period fired when the throttle timer
                    # runs out: check a run of them at once
                    same = np.tile(pattern, stride)
                    starts = p + np.cumsum(same) - same
                    keep = starts + same < m
                    same, starts = same[keep], starts[keep]
                    fires = throttled_until + eitr_ns * np.arange(len(starts))
                    limits = fires + head - starts * packet_ns
                    ok = (chunk[starts] <= fires) & (top_array[starts + same - 1] <= limits) & \
                        (top_array[starts + same] > limits)
                    r = len(ok) if ok.all() else int(np.argmin(ok))
                    if r == len(ok):
                        stride = min(stride * 4, 4096)
                    else:                   # irregular periods: after 16 misses, one at a time for this chunk
                        stride, misses = 8, misses + 1
                    if r:
                        fires, same = fires[:r], same[:r]
                        read_ns += int(np.dot(same, fires + head)) + packet_ns * int(np.dot(same, same - 1) // 2)
                        ends = fires + head + same * packet_ns
                        if repoll_list:
                            squeezed += int(np.count_nonzero(ends // tick >=
                                                             (fires + hardirq_ns + rx_ns) // tick + budget_jiffies))
                        throttled_until = int(fires[-1]) + eitr_ns
                        end = int(ends[-1])
                        cycles += r
                        runs += r
                        p += int(same.sum())
                        recent = same[-4:].tolist()
                        if steers:
                            blocks += [(np.array(ks, dtype=np.int64), np.array(looks, dtype=np.int64)),
                                       (same, fires + head)]
                            ks, looks = [], []
            if not cycles:
                if stop or tail:
                    return
                size *= 4                # a period longer than the chunk: look again with a longer one
                continue
            q.throttled_until, q.eitr_ns, q.itr_val, q.set_itr, q.rx_itr = (throttled_until, eitr_ns, itr_val, set_itr,
                                                                          rx_itr)
            q.read_ns += read_ns
            self.time_squeeze += squeezed
            self.now = self.busy_until = end
            if steers:    # (6.12: each poll alone in its NET_RX run, whose IPIs leave when it ends)
                blocks.append((np.array(ks, dtype=np.int64), np.array(looks, dtype=np.int64)))
                self.record_polls(q, *(np.concatenate(b) for b in zip(*blocks)))
            self.busy_ns["ksoftirqd"] += ksoftirqd_runs * (rx_ns + poll_ns) + ksoftirqd_packets * packet_ns
            self.read_in_bulk(q, p, cycles, runs, (runs - ksoftirqd_runs) * (rx_ns + poll_ns)
                              + (p - ksoftirqd_packets) * packet_ns)
            if stop:
                return
            size = min(size * 4, 1 << 16)

    def back_to_back(self, chunk: np.ndarray, top: np.ndarray, a: int, reads: int, size: int
                     ) -> tuple[int, np.ndarray]:
        """Of :meth:`throttled_cycles`: of ksoftirqd's next ``size`` NET_RX runs back to back, from packet ``a`` of
        ``chunk`` (``top``: the running maximum of ``u``) read from ``reads`` on, how many poll 64 packets each with a
        free descriptor for every arrival (the ring holds at most what arrived since the poll began), the next arrival
        in the chunk; and when each reads."""
        c = self.costs
        packet_ns, m = c.packet_ns, len(chunk)
        n = min(size, (m - 1 - a) // _NAPI_WEIGHT)
        if n <= 0:
            return 0, chunk[:0]
        first = a + _NAPI_WEIGHT * np.arange(n)
        looks = reads + (_NAPI_WEIGHT * packet_ns + c.net_rx_action_ns + c.poll_ns) * np.arange(n)
        arrived = chunk.searchsorted(looks + _NAPI_WEIGHT * packet_ns, "right")
        ok = (top[first + _NAPI_WEIGHT - 1] <= looks - first * packet_ns) & (arrived < m) & (
            arrived - first <= self.ring_size - 1)
        r = n if ok.all() else int(np.argmin(ok))
        return r, looks[:r]

    def fits(self, t: np.ndarray, a: int, k: int, reads: int, arrived: int) -> bool:
        """Whether a poll that reads packets a..a+k-1 from ``reads`` on, ``arrived`` having arrived by its end, finds
        a free descriptor for every arrival: before each give-back of 16 (``igb_alloc_rx_buffers``) the ring holds
        what arrived since less what was given back."""
        room, packet_ns, write = self.ring_size - 1, self.costs.packet_ns, IGB_RX_BUFFER_WRITE
        given = a
        for r in range(1, k // write + 1):
            if bisect_right(t, reads + r * write * packet_ns, a) - given > room:
                return False
            given += write
        return arrived - given <= room

    def itr_steady(self, q: _Queue) -> bool:
        """Whether the interval stays as it is while every poll brings one packet (always, without adaptive
        moderation)."""
        if not self.rx_itr_setting & 3:
            return True
        if q.set_itr or q.total_packets:
            return False
        conservative = self.rx_itr_setting == 3
        if self.nic_queues > 1:
            return _ring_itr_value(self.frame_bytes, conservative) == q.itr_val
        rx_itr = _latency_range(q.rx_itr, 1, self.frame_bytes)
        return rx_itr == q.rx_itr and _set_itr_value(rx_itr, q.itr_val, conservative) == q.itr_val

    def flooded_runs(self) -> None:
        """ksoftirqd's NET_RX runs on a ring that never runs short, in bulk. Each run costs ``net_rx_action_ns``
        and polls the one NAPI K times (6.12: once, it waits on repoll; 3.10: until netdev_budget is spent, which
        squeezes); each poll finds at least 64 ready descriptors when it starts, cleans them in four runs of 16 and
        gives each 16 back to the NIC (``igb_alloc_rx_buffers``) right after the NIC wrote what had arrived. So the
        refill times are known, and the ring's free space just after refill a follows the Lindley recursion
        ``room[a] = max(room[a-1] - arrivals[a], 0) + 16``: a running minimum of partial sums. Stops before a run
        whose poll would find fewer than 64 ready, or (3.10) that net_rx_action's time limit would cut short."""
        c, prof = self.costs, self.profile
        rx_ns, poll_ns, packet_ns = c.net_rx_action_ns, c.poll_ns, c.packet_ns
        tick, budget_jiffies = self.tick_ns, self.budget_jiffies
        polls = 1 if prof.napi_repoll_list else -(-prof.netdev_budget // _NAPI_WEIGHT)
        poll_span = poll_ns + _NAPI_WEIGHT * packet_ns
        span = rx_ns + polls * poll_span
        q = self.queues[0]
        feed, write = q.feed, IGB_RX_BUFFER_WRITE
        refills = np.arange(1, _NAPI_WEIGHT // write + 1) * (write * packet_ns)  # after each poll's start
        each = len(refills)
        size = 16
        while True:
            room, ready = q.rx_use - q.rx_head, q.rx_head - q.rx_clean
            starts = self.now + span * np.arange(size + 1, dtype=np.int64)           # net_rx_action runs
            looks = (starts[:-1, None] + (rx_ns + poll_ns) + poll_span * np.arange(polls)).ravel()  # poll starts
            written = np.searchsorted(feed.arr, (looks[:, None] + refills).ravel(), "right")   # arrivals by refill
            arrived = np.diff(written, prepend=feed.pos)
            sums = np.cumsum(write - arrived)
            spare = sums - np.minimum(np.minimum.accumulate(sums), write - room)        # room after refill, - 16
            taken = room + write * np.arange(len(spare)) - spare                     # written by each refill
            before = np.concatenate(([room], spare[each - 1::each][:-1] + write))    # room as each poll looks
            taken_before = np.concatenate(([0], taken[each - 1::each][:-1]))
            seen = (np.searchsorted(feed.arr, looks, "right")                       # arrived since the last refill
                    - np.concatenate(([feed.pos], written[each - 1::each][:-1])))
            ok = ready + taken_before + np.minimum(seen, before) - _NAPI_WEIGHT * np.arange(len(looks)) >= _NAPI_WEIGHT
            ok = ok.reshape(size, polls).all(axis=1)
            limit = (starts[:-1] + rx_ns) // tick + budget_jiffies
            if not prof.napi_repoll_list:  # 3.10 checks the time before each poll: a run cut short is left out
                ok &= (starts[:-1] + rx_ns + (polls - 1) * poll_span) // tick < limit
            runs = size if ok.all() else int(np.argmin(ok))
            if not runs:
                return
            if not prof.napi_repoll_list or prof.netdev_budget <= _NAPI_WEIGHT:  # the budget is spent every run
                self.time_squeeze += runs
            else:
                self.time_squeeze += int(np.count_nonzero(starts[1:runs + 1] // tick >= limit[:runs]))
            last = runs * polls * each - 1
            packets = runs * polls * _NAPI_WEIGHT
            self.now = int(starts[runs])
            self.busy_ns["ksoftirqd"] += runs * span
            self.net_rx_softirqs += runs
            q.read_ns += _NAPI_WEIGHT * int(looks[:runs * polls].sum()) + runs * polls * packet_ns * (
                _NAPI_WEIGHT * (_NAPI_WEIGHT - 1) // 2)
            wrote = np.diff(taken[:last + 1], prepend=0)
            dropped = np.diff(written[:last + 1], prepend=feed.pos) - wrote
            if q.rps is not None:    # where each refill's writes began: ring position, arrival (the rest dropped)
                some = wrote > 0
                writes = ((q.rx_head + taken[:last + 1] - wrote)[some],
                          np.concatenate(([feed.pos], written[:last]))[some])
                self.record_polls(q, np.full(runs * polls, _NAPI_WEIGHT, dtype=np.int64), looks[:runs * polls],
                                  None if polls == 1 else np.repeat(starts[1:runs + 1], polls), writes)
            q.dropped_ns += _range_sums(feed.arr, written[:last + 1] - dropped, written[:last + 1])
            q.total_packets += packets
            q.rx_head += int(taken[last])
            q.rx_missed += int(written[last]) - feed.pos - int(taken[last])
            q.rx_clean += packets
            q.rx_use += packets
            q.rx_packets += packets
            feed.skip(int(written[last]) - feed.pos)
            if prof.napi_repoll_list:
                self.in_net_rx_action = True
            if runs < size:
                return
            size = min(size * 4, 4096)


# --- RPS --------------------------------------------------------------------------------------------------------------
# The step model's order (netlab.kernel.dev, "The model's order"): a CPU that reads an RPS queue posts each skb it
# steers, stamped with its enqueue time and the time its IPIs leave; the target takes in what was steered to it up to
# its clock at the start of each burst, and only then meets enqueue_to_backlog's tests. So a reading CPU does not
# depend on its targets: it is simulated before them and records what it steers; each target is then simulated on
# its own with those (time, IPI time, reading CPU, hash) as its input.
@dataclass(slots=True, eq=False)
class _RpsQueue:
    """One RX queue's RPS: the CPU each of its arrivals goes to (-1: not steered, :func:`get_rps_cpus`), running
    counts of those that stay on the reading CPU (``own``: steered to it; ``local``: not steered; None: none), and
    which arrivals the NIC wrote (``starts[i]``: the ring position where a run of arrivals from ``arrival[i]`` on
    begins; the ring drops the rest)."""

    target: np.ndarray
    hashes: np.ndarray                                 # each arrival's hash (the flow limit's)
    own: np.ndarray | None
    local: np.ndarray | None
    starts: list[int] = field(default_factory=list)
    arrival: list[int] = field(default_factory=list)
    rx_list: list[int] = field(default_factory=list)   # with GRO, 6.12's napi->rx_list: the first packet of each skb
    rx_count: int = 0                                  # and the segments they carry
    leaves: bool = True                                # whether any of its skbs goes to another CPU (False: its
                                                       # polls need no record: no CPU takes anything in from them)

    def written(self, position: int, arrival: int) -> None:
        """The NIC wrote arrivals from ``arrival`` on at ring position ``position`` on (a run told again: no change)."""
        if self.starts and (position <= self.starts[-1]                              # a run recorded already
                            or position - self.starts[-1] == arrival - self.arrival[-1]):  # no drop since: it goes on
            return
        self.starts.append(position)
        self.arrival.append(arrival)

    def read_in_turn(self, first: int, upto: int) -> bool:
        """Whether the NIC wrote every arrival from ``first`` on (none dropped since: the current run of writes began
        at or before it), so that the driver read those before ``upto`` one after another: a window of arrival times
        from ``first`` (and its running maximum less the driver's cost) still holds for a poll from ``upto``."""
        return self.arrival[-1] <= first <= upto

    def written_runs(self, positions: np.ndarray, arrivals: np.ndarray) -> None:
        """:meth:`written` for runs of writes from ``positions`` (ascending, all beyond those recorded) on, at once."""
        if not len(positions):
            return
        offset = positions - arrivals
        new = np.empty(len(offset), dtype=bool)
        new[0] = not self.starts or offset[0] != self.starts[-1] - self.arrival[-1]
        np.not_equal(offset[1:], offset[:-1], out=new[1:])
        self.starts.extend(positions[new].tolist())
        self.arrival.extend(arrivals[new].tolist())

    def count(self, counts: np.ndarray | None, first: int, total: int) -> int:
        """How many of the packets at ring positions ``first`` .. ``first + total`` ``counts`` counts."""
        if counts is None:
            return 0
        n, i, end = 0, bisect_right(self.starts, first) - 1, first + total
        while first < end:
            piece_end = self.starts[i + 1] if i + 1 < len(self.starts) else end
            upto = min(end, piece_end)
            a = self.arrival[i] + first - self.starts[i]
            n += int(counts[a + upto - first] - counts[a])
            first, i = upto, i + 1
        return n

    def targets(self, first: int, total: int) -> np.ndarray:
        """The target of each packet at ring positions ``first`` .. ``first + total`` (a view where the NIC dropped
        none between)."""
        i = bisect_right(self.starts, first) - 1
        if i + 1 == len(self.starts) or self.starts[i + 1] >= first + total:
            a = self.arrival[i] + first - self.starts[i]
            return self.target[a:a + total]
        return self.target[self.arrivals(np.arange(first, first + total, dtype=np.int64))]

    def arrivals(self, positions: np.ndarray) -> np.ndarray:
        """The arrival index of each ring position (``positions`` ascending): a shift per run of writes."""
        if len(self.starts) == 1 or not len(positions):
            return positions + (self.arrival[0] - self.starts[0])
        i, j = bisect_right(self.starts, int(positions[0])) - 1, bisect_right(self.starts, int(positions[-1]))
        starts = np.array(self.starts[i:j], dtype=np.int64)            # the runs that hold them
        shift = np.array(self.arrival[i:j], dtype=np.int64) - starts
        cuts = positions.searchsorted(starts[1:])
        return positions + np.repeat(shift, np.diff(cuts, prepend=0, append=len(positions)))


@dataclass(slots=True, eq=False)
class _Backlog:
    """``softnet_data``'s backlog NAPI as counters: ``input_pkt_queue`` and ``process_queue`` lengths,
    NAPI_STATE_SCHED."""

    index: int = -1
    input_q: int = 0
    process_q: int = 0
    napi_sched: bool = False
    gro: None = None          # the backlog NAPI holds nothing for GRO


@dataclass(slots=True, eq=False)
class _RpsCpu(_Cpu):
    """A :class:`_Cpu` with a backlog: it reads RPS queues (and records what it steers), or takes steered skbs in
    (``steered``, ``steered_ipi``: in time order), or both for its own packets. Methods named as in the step
    model (``kernel.dev``, ``kernel.smp``, ``scenarios.receive.Host``)."""

    cpu: int = 0
    backlog: _Backlog = field(default_factory=_Backlog)
    steered: _Feed | None = None         # when each skb steered here was enqueued; taken in as the clock passes it
    steered_ipi: np.ndarray | None = None    # when its reader's IPI left
    steered_hash: np.ndarray | None = None   # its hash, and
    steered_fl: list[SdFlowLimit | None] | None = None   # its reader's flow limit: where a reader has one
    ipi_runs: "_IpiRuns | None" = None       # the runs of equal IPI times among them (backlog_cycles)
    flow_limit: SdFlowLimit | None = None   # softnet_data.flow_limit (net.core.flow_limit_cpu_bitmap)
    call_single_queue: list[int] = field(default_factory=list)   # when each IPI due here was sent
    processed_rps: int = 0               # softnet_data.processed beyond the driver's non-RPS packets
    dropped: int = 0
    received_rps: int = 0
    polls: list[tuple[int, int, int, int]] = field(default_factory=list)  # (queue, first packet, count, start)
    ipi_at: list[int] = field(default_factory=list)  # per poll in ``polls``: when its IPIs left
    poll_blocks: list[np.ndarray] = field(default_factory=list)   # earlier polls, as rows of :meth:`poll_table`
    sent: list[tuple[int, int, int]] = field(default_factory=list)  # with GRO: (queue, first packet, time) per skb
    sent_ipi_at: list[int] = field(default_factory=list)            # steered to another CPU; when its IPIs left
    stream_period: tuple[int, int] | None = None   # its queue's arrival gaps and own skbs repeat every so many
                                         # packets from one on (:func:`_stream_period`; None: not known yet)
    run_states: dict | None = None       # repeat_runs: a run's state at its start → its index in run_log
    run_log: list[list] = field(default_factory=list)   # per NET_RX run: its state, values at its start, its end
    run_cycles: dict = field(default_factory=dict)     # repeat_runs: a state → a cycle of runs through it, and where
    run_window: tuple | None = None      # rps_net_rx_action: arrivals from one on (first, times, running max, own)
    turn_cycles: dict = field(default_factory=dict)   # reader_turns: a turn's state → the turns that bring it back,
    turn_window: tuple = (0, [], [])     # and the arrivals it read last (first, times, running max of times less costs)

    # --- the reading CPU ------------------------------------------------------------------------------------------
    def igb_clean_rx_irq(self, q: _Queue) -> int:
        """``kernel.nic.igb_clean_rx_irq`` with RPS: ``driver_ns`` a packet; each skb to another CPU is recorded
        with this poll (none where no skb of the queue leaves), those that stay here go to this CPU's backlog
        (``enqueue_to_backlog``) or up the stack. With GRO, the skbs it passed on (:meth:`gro_passed_on`)."""
        start, first = self.now, q.rx_packets
        total = _Cpu.igb_clean_rx_irq(self, q)
        if q.rps is not None and q.gro is not None:
            self.gro_passed_on(q)
            return total
        if q.rps is None or not total:
            return total
        if q.rps.leaves:
            self.polls.append((q.index, first, total, start))
        own = q.rps.count(q.rps.own, first, total)
        self.processed_rps += q.rps.count(q.rps.local, first, total)
        if own and self.flow_limit is not None:
            packets = q.rps.arrivals(np.arange(first, first + total))
            for h in q.rps.hashes[packets[q.rps.target[packets] == self.cpu]].tolist():
                self.enqueue_one(h, self.flow_limit, None)
        elif own:
            self.enqueue_to_backlog(own)
        return total

    def record_polls(self, q: _Queue, counts: np.ndarray, starts: np.ndarray, ipi_at: np.ndarray | None = None,
                     writes: tuple[np.ndarray, np.ndarray] | None = None) -> None:
        """A bulk shortcut's polls of ``q`` (an RPS queue whose skbs all leave this CPU: :meth:`reads_in_bulk`),
        kept as :meth:`igb_clean_rx_irq` keeps one: each poll's IPIs leave at the end of its NET_RX run
        (``net_rps_action_and_irq_enable``: ``ipi_at``, or when the poll ends, ``driver_ns`` a packet, or its skbs
        kept here go up (:meth:`rps_quiet_cycles`), the same time). The NIC wrote them at ring positions from
        ``rx_head`` on, without a drop or in runs from ``writes`` on (:meth:`_RpsQueue.written_runs`)."""
        if not len(counts):
            return
        if writes is None:
            q.rps.written(q.rx_head, q.feed.pos)
        else:
            q.rps.written_runs(*writes)
        if q.rps.local is not None:
            self.processed_rps += q.rps.count(q.rps.local, q.rx_packets, int(counts.sum()))
        self.keep_polls()
        block = np.empty((5, len(counts)), dtype=np.int64)      # the rows of poll_table
        block[0] = q.index
        np.cumsum(counts, out=block[1])
        block[1] -= counts
        block[1] += q.rx_packets
        block[2] = counts
        block[3] = starts
        if ipi_at is None:
            np.multiply(counts, self.costs.driver_ns, out=block[4])
            block[4] += starts
        else:
            block[4] = ipi_at
        self.poll_blocks.append(block)

    def keep_polls(self) -> None:
        """Move ``polls`` and their ``ipi_at`` (none may be pending) into ``poll_blocks``."""
        if self.polls:
            n = len(self.polls)
            block = np.empty((5, n), dtype=np.int64)
            block[:4] = np.fromiter(chain.from_iterable(self.polls), np.int64, 4 * n).reshape(n, 4).T
            block[4] = self.ipi_at
            self.poll_blocks.append(block)
            self.polls.clear()
            self.ipi_at.clear()

    def poll_table(self) -> np.ndarray:
        """Every poll of an RPS queue, in time order, as rows: queue, first packet (ring position), count, when it
        began reading, when its IPIs left."""
        self.keep_polls()
        return np.concatenate(self.poll_blocks, axis=1) if self.poll_blocks else np.zeros((5, 0), dtype=np.int64)

    def enqueue_to_backlog(self, count: int) -> None:
        """``kernel.dev._enqueue`` for ``count`` skbs on this CPU's own backlog: queued up to netdev_max_backlog + 1,
        the rest dropped; the first into an idle backlog schedules it (``napi_schedule_rps``)."""
        b = self.backlog
        admitted = min(count, max(0, self.profile.netdev_max_backlog + 1 - b.input_q))
        self.dropped += count - admitted
        if admitted and not b.input_q:
            self.napi_schedule(b)
        b.input_q += admitted

    def enqueue_one(self, skb_hash: int, fl: SdFlowLimit | None, ipi: int | None) -> None:
        """``kernel.dev.enqueue_to_backlog`` for one skb on this CPU's backlog, its enqueuing CPU's flow limit ``fl``
        watching (``skb_flow_limit``); ``ipi``: when its reader's IPI left (None: read here)."""
        b = self.backlog
        qlen = b.input_q
        if qlen > self.profile.netdev_max_backlog or (
                fl is not None and fl.hogs(skb_hash, qlen, self.profile.netdev_max_backlog)):
            self.dropped += 1
            return
        if not qlen and not b.napi_sched:
            if ipi is None:
                self.napi_schedule(b)
            else:
                b.napi_sched = True
                self.call_single_queue.append(ipi)
        b.input_q += 1

    def net_rps_action_and_irq_enable(self) -> None:
        """``kernel.dev.net_rps_action_and_irq_enable``: the IPIs for what this CPU steered leave now."""
        self.ipi_at.extend([self.now] * (len(self.polls) - len(self.ipi_at)))
        self.sent_ipi_at.extend([self.now] * (len(self.sent) - len(self.sent_ipi_at)))

    # --- GRO's hand-off on an RPS queue (kernel.dev: napi_gro_complete, gro_normal_one, netif_receive_skb) ---------
    def gro_passed_on(self, q: _Queue) -> None:
        """The skbs GRO passed on since the last look, each at its time: 6.12 batches them (``gro_normal_one``: up
        once the batch holds ``gro_normal_batch`` segments), 3.10 sends each up at once (``netif_receive_skb``)."""
        batch, rps = self.profile.gro_normal_batch, q.rps
        for t, packet, segs in q.gro.passed:
            if batch is None:
                self.netif_receive_skb(q, packet, t)
                continue
            rps.rx_list.append(packet)
            rps.rx_count += segs
            if rps.rx_count >= batch:
                self.gro_normal_list(q, t)
        q.gro.passed.clear()

    def gro_normal_list(self, q: _Queue, t: int) -> None:
        """``kernel.dev.gro_normal_list`` at time ``t``: the batch goes up (``netif_receive_skb_list_internal``)."""
        for packet in q.rps.rx_list:
            self.netif_receive_skb(q, packet, t)
        q.rps.rx_list.clear()
        q.rps.rx_count = 0

    def netif_receive_skb(self, q: _Queue, packet: int, t: int) -> None:
        """``kernel.dev.netif_receive_skb`` (and the list receive) for the skb whose first segment is ``packet``:
        ``get_rps_cpu`` steers it to this CPU's backlog or another's (recorded, sent at ``t``), or it goes up the
        stack here (its ``stack_ns`` paid as GRO passed it on: :meth:`_Gro.pass_on`)."""
        target = q.rps.target[packet]
        if target < 0:
            self.processed_rps += 1
        elif target == self.cpu:
            self.enqueue_one(int(q.rps.hashes[packet]), self.flow_limit, None)
        else:
            self.sent.append((q.index, packet, t))

    def napi_gro_flush(self, q: _Queue, flush_old: bool) -> None:
        _Cpu.napi_gro_flush(self, q, flush_old)
        if q.rps is not None:
            self.gro_passed_on(q)

    def napi_complete_done(self, q: _Queue) -> None:
        """``kernel.dev.napi_complete_done``: GRO's flush, then (RPS, GRO) the rx_list batch."""
        _Cpu.napi_complete_done(self, q)
        if q.gro is not None and q.rps is not None:
            self.gro_normal_list(q, self.now)

    def napi_poll(self, q: _Queue, repoll: list[_Queue]) -> int:
        """``kernel.dev.napi_poll``: a poll that used its weight passes GRO's old skbs on, then (RPS, GRO) the
        rx_list batch."""
        work = _Cpu.napi_poll(self, q, repoll)
        if work == _NAPI_WEIGHT and q.gro is not None and q.rps is not None:
            self.gro_normal_list(q, self.now)
        return work

    def net_rx_action(self) -> None:
        """``kernel.dev.net_rx_action``, then the IPIs; on a reader that repeats its runs (:meth:`repeat_runs`) each
        run logged, and in ksoftirqd whole cycles of them at once where its state comes back."""
        if self.run_states is None:
            _Cpu.net_rx_action(self)
            self.net_rps_action_and_irq_enable()
            return
        self.repeat_runs()
        if not self.rps_net_rx_action():
            _Cpu.net_rx_action(self)
        self.net_rps_action_and_irq_enable()
        self.run_log[-1][2] = self.now

    def rps_net_rx_action(self) -> bool:
        """``_Cpu.net_rx_action`` (6.12's loop or 3.10's) for a reader that keeps some skbs (:meth:`repeat_runs`' CPU),
        a bisect per poll of its queue and no engine calls; False (nothing changed) where it does not apply. Exact
        because nothing else runs meanwhile: no IPI comes here (no CPU steers here), the queue's IRQ is the only
        interrupt, and its due time is known when the poll that unmasks it ends (the next packet's arrival, the
        throttle timer); a poll reads each packet there by the time the driver is done with the one before
        (:meth:`_Feed.ahead`'s running maximum, kept across runs from the NIC's last run of writes on: the packets
        before were read in turn), as many as the ring holds: it refuses a run where the NIC could find it full. The
        NIC's writes up to the run's end are counted at its end (without a drop, only the ring's head moves). Not on a
        reader that keeps every skb (``keeps_all``): :meth:`reader_turns`' loop, which repeats its turns, is faster
        there."""
        q, b, prof, c = self.queues[0], self.backlog, self.profile, self.costs
        feed, rps, poll_list = q.feed, q.rps, self.poll_list
        if (self.keeps_all or not poll_list or self.call_single_queue or q.set_itr or not rps.starts
                or rps.starts[-1] > q.rx_clean or q.rx_head + rps.arrival[-1] - rps.starts[-1] != feed.pos
                or q.napi_sched != (q in poll_list) or b.napi_sched != (b in poll_list)
                or len(poll_list) != q.napi_sched + b.napi_sched or q.irq_enabled == q.napi_sched
                or q.irq_enabled and (q.irq_asserted_at is None) != (q.rx_head == q.rx_clean)):
            return False
        driver_ns, stack_ns, poll_ns, ring = c.driver_ns, c.stack_ns, c.poll_ns, self.ring_size
        repoll_list = prof.napi_repoll_list
        a0 = a = q.rx_clean + rps.arrival[-1] - rps.starts[-1]        # the next packet to clean, as an arrival
        need = a + prof.netdev_budget + _NAPI_WEIGHT + ring + 1
        w = self.run_window
        if w is None or not rps.read_in_turn(w[0], a) or w[0] + len(w[1]) <= min(need, feed.n):
            base = a
            chunk = feed.arr[base:base + max(need - base, 2 * _WINDOW)]
            top = np.maximum.accumulate(chunk - np.arange(len(chunk), dtype=np.int64) * driver_ns).tolist()
            t = chunk.tolist()
            own = rps.own[base:base + len(chunk) + 1].tolist()
            if base + len(chunk) == feed.n:                      # (the last arrival: none comes after it)
                t.append(_NEVER)
                top.append(_NEVER)
            w = self.run_window = (base, t, top, own)
        base, t, top, own = w
        end, hardirq_ns = len(t), c.hardirq_ns
        Q, B = 0, 1                                              # poll_list's NAPIs
        plist = [Q if x is q else B for x in poll_list]
        q_sched, q_on, thr, eitr = q.napi_sched, q.irq_enabled, q.throttled_until, q.eitr_ns
        assert_at = (q.irq_asserted_at if q.irq_asserted_at is not None else t[a - base]) if q_on else 0
        b_sched, iq, pq = b.napi_sched, b.input_q, b.process_q
        admits = prof.netdev_max_backlog + 1
        use = a + q.rx_use - q.rx_clean                          # the first arrival the ring has no room for yet
        rx_packets, index = q.rx_packets - a0 + base, q.index
        a, use = a - base, use - base                            # (in the loop: both from base, as t, top, own)
        polls: list[tuple[int, int, int, int]] = []
        sent = 0                                                 # of polls, those whose IPIs have left
        ipi_at: list[int] = []
        irqs = squeezes = processed = dropped = read_ns = 0
        now = self.now + c.net_rx_action_ns                      # (each cost moves it on: the run's busy time)
        limit = (now // self.tick_ns + self.budget_jiffies) * self.tick_ns
        budget = prof.netdev_budget
        repoll: list[int] = []                                   # 6.12: the NAPIs that used their weight
        again = repoll if repoll_list else plist                 # (3.10: back onto poll_list's tail)
        pending = squeezed = False                               # 3.10: napi_schedule raised NET_RX
        while True:                                              # 6.12: start:
            if repoll_list:                                      # the NAPIs this turn of the loop polls (6.12: a
                todo, plist = plist, []                          # list of its own; 3.10: poll_list, from its head)
            else:                                                # (3.10: polled and appended to at once, so
                todo = plist                                     # todo, plist and again are one list)
            i = 0
            while i < len(todo):
                if not repoll_list and (budget <= 0 or now >= limit):       # (3.10: before each poll)
                    squeezes += 1
                    squeezed = pending = True
                    break
                i += 1
                if todo[i - 1] == Q:                             # igb_poll
                    now += poll_ns
                    j = bisect_right(top, now - a * driver_ns, a)
                    k = j - a if j - a < _NAPI_WEIGHT else _NAPI_WEIGHT
                    done = now + k * driver_ns
                    if use < end and t[use] <= done:            # (the NIC would find the ring full)
                        return False
                    if k:
                        polls.append((index, rx_packets + a, k, now))
                        read_ns += k * now + driver_ns * (k * (k - 1) // 2)
                        o = own[a + k] - own[a]
                        if o:                                    # enqueue_to_backlog
                            admitted = o if o < admits - iq else max(0, admits - iq)
                            dropped += o - admitted
                            if admitted and not iq and not b_sched:
                                b_sched = pending = True
                                plist.append(B)
                            iq += admitted
                    a += k
                    use = a + ring - 1                           # (igb_alloc_rx_buffers: the ring refilled)
                    now, work = done, k
                    if k == _NAPI_WEIGHT:
                        again.append(Q)
                    else:                                        # napi_complete_done, igb_ring_irq_enable
                        q_sched, q_on = False, True
                        assert_at = t[a] if t[a] > now else now
                else:                                            # process_backlog
                    ipi_at.extend([now] * (len(polls) - sent))
                    sent = len(polls)
                    work = pq + iq                               # (process_queue first, then the input spliced)
                    if work < _NAPI_WEIGHT:
                        pq = iq = 0
                        b_sched = False
                    elif pq >= _NAPI_WEIGHT:
                        work, pq = _NAPI_WEIGHT, pq - _NAPI_WEIGHT
                    else:
                        work, pq, iq = _NAPI_WEIGHT, work - _NAPI_WEIGHT, 0
                    processed += work
                    now += poll_ns + work * stack_ns
                    if work == _NAPI_WEIGHT:
                        again.append(B)
                if q_on and (assert_at if assert_at > thr else thr) <= now:     # local_irq_enable: the IRQ
                    thr = now + eitr
                    now += hardirq_ns
                    irqs += 1
                    q_on, q_sched = False, True
                    pending = True
                    plist.append(Q)
                budget -= work
                if repoll_list and (budget <= 0 or now >= limit):
                    squeezes += 1
                    squeezed = True
                    break
            if not repoll_list:
                plist = todo[i:]
                break
            if not squeezed and not repoll:
                if plist:
                    continue                                     # napi_schedule()d meanwhile: goto start
                break
            plist = todo[i:] + plist + repoll
            break
        if use < end and t[use] <= now:
            return False
        written = bisect_right(t, now, a) + base                  # the NIC's writes up to the run's end
        a, use = a + base, use + base
        self.busy_ns[self.context] += now - self.now - irqs * hardirq_ns
        self.busy_ns["hardirq"] += irqs * hardirq_ns
        self.now = now
        self.hard_irqs += irqs
        self.time_squeeze += squeezes
        self.processed_rps += processed
        self.dropped += dropped
        self.polls.extend(polls)
        self.ipi_at.extend(ipi_at)
        q.read_ns += read_ns
        q.rx_head += written - feed.pos
        feed.skip(written - feed.pos)
        q.rx_clean += a - a0
        q.rx_use = q.rx_clean + use - a
        q.rx_packets += a - a0
        q.total_packets += a - a0
        q.napi_sched, q.irq_enabled, q.throttled_until = q_sched, q_on, thr
        q.irq_asserted_at = assert_at if q_on and assert_at <= now else None
        b.napi_sched, b.input_q, b.process_q = b_sched, iq, pq
        poll_list[:] = [q if x == Q else b for x in plist]
        if repoll_list:
            self.in_net_rx_action = bool(plist)
            self.softirq_pending = self.softirq_pending or bool(plist)
        else:
            self.softirq_pending = self.softirq_pending or pending
        return True

    # --- the backlog ----------------------------------------------------------------------------------------------
    def igb_poll(self, q) -> int:
        """The NAPI's poll: ``kernel.dev.process_backlog`` for the backlog, else the driver's."""
        return self.process_backlog() if q is self.backlog else _Cpu.igb_poll(self, q)

    def process_backlog(self) -> int:
        """``kernel.dev.process_backlog``: send what IPIs this CPU owes, then up to 64 skbs (``stack_ns`` each)
        from process_queue, splicing input_pkt_queue into it; both empty: clear NAPI_STATE_SCHED."""
        self.net_rps_action_and_irq_enable()
        b, stack_ns = self.backlog, self.costs.stack_ns
        self.now += self.costs.poll_ns
        self.busy_ns[self.context] += self.costs.poll_ns
        work = 0
        while True:
            take = min(b.process_q, _NAPI_WEIGHT - work)
            if take:
                b.process_q -= take
                work += take
                self.processed_rps += take
                self.now += take * stack_ns
                self.busy_ns[self.context] += take * stack_ns
                if work >= _NAPI_WEIGHT:
                    return work
            if not b.input_q:
                if b in self.poll_list:
                    self.poll_list.remove(b)
                b.napi_sched = False
                return work
            b.process_q, b.input_q = b.process_q + b.input_q, 0

    # --- the target -----------------------------------------------------------------------------------------------
    def gro_poll_chain(self, q: _Queue, budget: int, time_limit: int) -> tuple[int, int]:
        """No chains of GRO polls here (:meth:`_Cpu.gro_poll_chain`): IPIs, the backlog, steered skbs come between."""
        return budget, time_limit

    def rps_take_steered(self) -> None:
        """``kernel.dev.rps_take_steered``: the skbs steered here up to now reach the backlog; the first that finds
        it idle takes its reader's IPI."""
        if self.steered is None:
            return
        pos = self.steered.pos
        k = pos + self.steered.take_until(self.now)
        if k == pos:
            return
        b = self.backlog
        if self.steered_fl is not None:
            for h, fl, ipi in zip(self.steered_hash[pos:k].tolist(), self.steered_fl[pos:k],
                                  self.steered_ipi[pos:k].tolist()):
                self.enqueue_one(h, fl, ipi)
            return
        if not b.input_q and not b.napi_sched:
            b.napi_sched = True
            self.call_single_queue.append(int(self.steered_ipi[pos]))
        admitted = min(k - pos, max(0, self.profile.netdev_max_backlog + 1 - b.input_q))
        self.dropped += k - pos - admitted
        b.input_q += admitted

    def ipi_due(self) -> int | None:
        """``scenarios.receive.Host._ipi_time`` and ``_next``: the earliest IPI queued here, or for an idle backlog
        the IPI of the first skb steered here."""
        due = min(self.call_single_queue) if self.call_single_queue else None
        s = self.steered
        if s is not None and s.pos < s.n and not self.backlog.napi_sched:
            t = int(self.steered_ipi[s.pos])
            due = t if due is None or t < due else due
        return due

    def ipi(self) -> None:
        """``scenarios.receive.Host._ipi``: the CALL_FUNCTION_SINGLE IPI, ``hardirq_ns``;
        ``generic_smp_call_function_single_interrupt`` runs ``rps_trigger_softirq`` for each IPI sent by now."""
        outer, self.context = self.context, "hardirq"
        self.hardirq_count += 1
        self.now += self.costs.hardirq_ns
        self.busy_ns["hardirq"] += self.costs.hardirq_ns
        due = [t for t in self.call_single_queue if t <= self.now]
        self.call_single_queue = [t for t in self.call_single_queue if t > self.now]
        for _ in due:
            self.rps_trigger_softirq()
        self.irq_exit()
        self.context = outer

    def rps_trigger_softirq(self) -> None:
        """``kernel.dev.rps_trigger_softirq``: ``____napi_schedule`` the backlog, ``received_rps``++."""
        b = self.backlog
        if b in self.poll_list:
            self.poll_list.remove(b)
        self.poll_list.append(b)
        if not self.profile.napi_repoll_list:
            self.softirq_pending = True
        elif not self.in_net_rx_action:
            self.raise_softirq_irqoff()
        self.received_rps += 1

    def local_irq_enable(self) -> None:
        """The Host's IRQ window with IPIs: the earliest due first, a device IRQ before an IPI due at the same time."""
        while True:
            best = self.due_irq()
            ipi = min(self.call_single_queue) if self.call_single_queue else None
            if ipi is not None and ipi <= self.now and (best is None or ipi < best[0]):
                self.ipi()
            elif best is not None:
                self.hard_irq(best[1])
            else:
                return

    def run_ksoftirqd(self) -> None:
        """``kernel.softirq.run_ksoftirqd``: what was steered here comes in first; a flooded target's calls
        (:meth:`backlog_flood`) and a flooded reader's runs in bulk (:meth:`flooded_runs`, from ksoftirqd's first call
        on)."""
        self.backlog_flood()
        self.rps_take_steered()
        self.flooded_runs()
        _Cpu.run_ksoftirqd(self)

    # --- the machine ----------------------------------------------------------------------------------------------
    def run(self) -> None:
        """:meth:`_Cpu.run` (the same engine order) with IPIs among the interrupts. A CPU that :meth:`reads_in_bulk`
        takes :meth:`_Cpu.run`'s shortcuts that record their polls (``isolated_packets``, ``quiet_cycles``,
        ``throttled_cycles``, :meth:`_Cpu.flooded_runs`); one that keeps some of its queue's skbs, :meth:`rps_quiet_cycles`, and in ksoftirqd
        :meth:`flooded_runs` (:meth:`run_ksoftirqd`) and (at each NET_RX run) :meth:`repeat_runs`, and if it keeps
        every skb (6.12), :meth:`reader_turns`; a target, :meth:`backlog_cycles`."""
        if self.reads_in_bulk():
            self.costs = replace(self.costs, stack_ns=0)   # each packet costs driver_ns here: the shortcuts' packet_ns
            _Cpu.run(self)
            return
        q = self.queues[0] if len(self.queues) == 1 and self.steered is None else None
        if (q is not None and q.rps is not None and q.gro is None and q.rps.local is None and q.rps.own is not None
                and not self.rx_itr_setting and self.flow_limit is None and self.budget_jiffies >= 1):
            self.run_states = {}
            self.keeps_all = not q.rps.leaves and self.profile.napi_repoll_list
        while True:
            if self.steered is not None and self.backlog_idle():
                self.backlog_cycles()
            elif q is not None and self.waits_for(q) and not self.backlog.napi_sched:
                self.rps_quiet_cycles()
            if not self.engine_step():
                return

    def repeat_runs(self) -> None:
        """At the start of a NET_RX run of a CPU that reads one RPS queue and keeps some of its skbs (no GRO,
        moderation, flow limit): log it, and where it begins in a state a run began in before, repeat the runs since
        then at once (the same again and again, shifted in time, arrivals and ring positions), as many times as the
        arrivals repeat (:func:`_stream_period`), each repeated run stays within net_rx_action's time limit and, at
        irq_exit, ``handle_softirqs`` restarts after it (:meth:`jump_runs`). Those runs must have followed each other
        at once (no IRQ between: each costs ``hardirq_ns`` > 0; a run ends right after its last ``local_irq_enable``
        or, 3.10, the budget check that follows it), so each ends with NET_RX pending and no IRQ due. A run reads
        nothing of the context it runs in (its busy time goes to the context's bucket; ksoftirqd's flags are neither
        read nor written): where the runs since then do not follow at once (ksoftirqd woke between), a cycle logged
        earlier that went through this state (``run_cycles``, in either context) repeats from here. The state:
        everything the runs read, relative to ``now`` and to the next arrival (``feed.pos`` modulo the period, the
        ring, the backlog, poll_list, the IRQ's)."""
        q, b = self.queues[0], self.backlog
        feed, rps, now, pos = q.feed, q.rps, self.now, q.feed.pos
        every, steady = self.arrival_period(q)
        key = None
        if (self.costs.hardirq_ns and every and pos < feed.n and pos - (q.rx_head - q.rx_clean) >= steady
                and not self.call_single_queue and len(self.polls) == len(self.ipi_at)
                and (not rps.starts or rps.starts[-1] <= q.rx_clean)):
            key = (pos % every, feed.arr.item(pos) - now, q.rx_head - pos, q.rx_clean - pos, q.rx_use - pos,
                   bool(rps.starts) and q.rx_head - pos == rps.starts[-1] - rps.arrival[-1], q.irq_enabled,
                   q.irq_asserted_at is not None, max(q.throttled_until - now, 0), q.napi_sched, b.input_q,
                   b.process_q, b.napi_sched, tuple(x.index for x in self.poll_list), self.in_net_rx_action,
                   self.softirq_pending, max(self.busy_until - now, 0))
        values = self.run_values()
        log = self.run_log
        if key is not None:
            before = self.run_states.get(key)
            cycle = log[before:] if before is not None else []
            if (cycle and all(cycle[i][2] == cycle[i + 1][1]["now"] for i in range(len(cycle) - 1))
                    and cycle[-1][2] == now and self.runs_within([e[1]["now"] for e in cycle], [e[2] for e in cycle])):
                found = ([e[1] for e in cycle] + [values], [e[2] for e in cycle], [e[0] for e in cycle])
                if values["polls"] == found[0][0]["polls"]:      # (the polls of a cycle are copied from its log)
                    for p, e in enumerate(cycle):
                        if e[0] is not None:
                            self.run_cycles[e[0]] = (*found, p)
                self.jump_runs(*found, 0, values)
            elif key in self.run_cycles:
                self.jump_runs(*self.run_cycles[key], values)
            if self.now != now:
                values = self.run_values()
            self.run_states[key] = len(log)
        log.append([key, values, None])

    def runs_within(self, starts: list[int], ends: list[int]) -> bool:
        """Of :meth:`repeat_runs`: whether NET_RX runs that began and ended at these times each ended before
        net_rx_action's time limit (so no check in them saw it)."""
        tick, after, jiffies = self.tick_ns, self.costs.net_rx_action_ns, self.budget_jiffies
        return all(e // tick < (s + after) // tick + jiffies for s, e in zip(starts, ends))

    def run_values(self) -> dict[str, int]:
        """What :meth:`jump_runs` moves on: the clock, the next arrival, the queue's and this CPU's counters
        (``_RUN_QUEUE``, ``_RUN_CPU``), the busy times, the throttle timer, the sum of read times, the lists'
        lengths."""
        q = self.queues[0]
        return dict(now=self.now, pos=q.feed.pos, **{a: getattr(q, a) for a in _RUN_QUEUE},
                    **{a: getattr(self, a) for a in _RUN_CPU}, hardirq=self.busy_ns["hardirq"],
                    softirq=self.busy_ns["softirq"], ksoftirqd=self.busy_ns["ksoftirqd"], thr=q.throttled_until,
                    asserted=-1 if q.irq_asserted_at is None else q.irq_asserted_at, read_ns=q.read_ns,
                    polls=len(self.polls), pieces=len(q.rps.starts), blocks=len(self.poll_blocks))

    def jump_runs(self, starts: list[dict[str, int]], ends: list[int], keys: list[tuple | None], p: int,
                  values: dict[str, int]) -> None:
        """Of :meth:`repeat_runs`: a cycle of logged runs (``starts``: :meth:`run_values` at each one's start and at
        the cycle's end, ``ends``: when each ended, ``keys``: the state each began in; each followed the one before at
        once and ended before its time limit), entered at its run ``p`` — this run begins as that one did, ``values``
        (:meth:`run_values` now) later — again, each time shifted by what the cycle moved on, as many runs as allowed:
        each repeated run ends before its time limit, reads no arrival after the last and, at irq_exit, ends with a
        restart left and before ``softirq_end`` (``handle_softirqs`` restarts after it; ksoftirqd runs the next at once
        either way). Its busy time goes to this context. A jump that ends inside the cycle leaves the state its next run
        began in (its key) and needs a cycle that recorded no poll. Not where the ring dropped in the cycle (a flood:
        :meth:`flooded_runs`); a cycle that recorded polls only where it was logged (``p`` 0, ending now)."""
        q, b, tick, size = self.queues[0], self.backlog, self.tick_ns, len(ends)
        first, at = starts[0], starts[p]
        d = {k: v - first[k] for k, v in starts[-1].items()}
        T, moved = d["now"], d["pos"]
        if T <= 0 or moved <= 0 or d["rx_missed"] or d["pieces"] or d["blocks"]:
            return
        late = values["now"] - at["now"]                      # this run begins this much later than run p
        k = p + np.arange(((q.feed.n - values["pos"]) // moved + 1) * size, dtype=np.int64)   # the runs from here on
        m, t = np.divmod(k, size)                             # (each: logged run t, m cycles later)
        shift = m * T + late
        end = np.array(ends, dtype=np.int64)[t] + shift
        begin = np.array([s["now"] for s in starts[:-1]], dtype=np.int64)[t] + shift
        after = np.array([s["pos"] for s in starts[1:]], dtype=np.int64)[t] + m * moved + values["pos"] - at["pos"]
        ok = (end // tick < (begin + self.costs.net_rx_action_ns) // tick + self.budget_jiffies) & (after <= q.feed.n)
        if self.context == "softirq":
            ok &= (end // tick < self.softirq_end) & (k - p < self.softirq_restart - 1)
        n = len(ok) if ok.all() else int(np.argmin(ok))
        m, t = divmod(p + n, size)                            # the run that follows: logged run t, m cycles later
        if t != p and (d["polls"] or keys[t] is None):
            m, t = m - (t < p), p                             # (whole cycles only)
            n = (m * size + t) - p
        if n < 1:
            return
        target = starts[t]
        moves = {a: target[a] + m * d[a] - at[a] for a in values}   # what the n runs move on
        q.feed.skip(moves["pos"])
        self.now += moves["now"]
        if self.context == "softirq":
            self.softirq_restart -= n
        for a in _RUN_QUEUE:
            setattr(q, a, getattr(q, a) + moves[a])
        for a in _RUN_CPU:
            setattr(self, a, getattr(self, a) + moves[a])
        self.busy_ns["hardirq"] += moves["hardirq"]
        self.busy_ns[self.context] += moves["softirq"] + moves["ksoftirqd"]
        packets = d["rx_packets"]                              # cycle j reads each packet j T later than logged
        read = (target["read_ns"] - at["read_ns"] + m * d["read_ns"] + T * packets * (m * (m - 1) // 2)
                + m * T * (target["rx_packets"] - first["rx_packets"]))
        q.read_ns += read + late * moves["rx_packets"]
        if moves["hard_irqs"]:                                 # (the throttle timer: set at the last IRQ)
            thr = (target["thr"] + m * T if target["hard_irqs"] > first["hard_irqs"]
                   else starts[-1]["thr"] + (m - 1) * T)
            q.throttled_until = thr + late
        if t != p:                                             # the state the next run began in (repeat_runs' key)
            key = keys[t]
            q.irq_enabled, q.napi_sched = key[6], key[9]
            q.irq_asserted_at = target["asserted"] + m * T + late if key[7] else None
            b.input_q, b.process_q, b.napi_sched = key[10], key[11], key[12]
            self.poll_list[:] = [q if i == q.index else b for i in key[13]]
            self.in_net_rx_action, self.softirq_pending = key[14], key[15]
            self.busy_until = self.now + key[16] if key[16] else min(self.busy_until, self.now)
        if not d["polls"]:                                     # (no skb leaves: no poll recorded)
            return
        r = n // size
        self.keep_polls()                                      # (the cycle's polls: the last of the block kept)
        block = self.poll_blocks[-1][:, None, first["polls"]:].repeat(r, axis=1)
        j = np.arange(1, r + 1, dtype=np.int64)[:, None]        # (poll_table's rows; per repeat, per poll)
        block[1] += j * d["rx_packets"]
        block[3:] += j * T
        self.poll_blocks.append(block.reshape(5, -1))

    def reader_turns(self, budget: int, time_limit: int) -> int | None:
        """Turns of 6.12's ``_net_rx_action_repoll_list`` (its first and each ``goto start``) on a CPU that reads one
        RPS queue and keeps every skb in its own backlog (RFS: every flow read here; no GRO, moderation or flow
        limit), in one loop; returns the budget left, or None if a turn squeezed. A turn polls what poll_list holds,
        in order: the backlog (``process_backlog``, ``stack_ns`` a skb) and the queue (each packet there by the time
        the driver looks for it, ``driver_ns`` each: a bisect; its skbs go to the backlog, up to netdev_max_backlog +
        1, which the first schedules); after each poll the queue's IRQ fires, nested, if an arrival raised it, and
        puts the queue back on poll_list; then the budget and time check. No poll records anything (no skb leaves:
        ``_RpsQueue.leaves``) or sends an IPI. A turn that squeezes ends the run as net_rx_action does (poll_list:
        what it did not poll, then what its IRQs scheduled; NET_RX raised again if that is anything). Stops before a
        turn that would be different: one that leaves poll_list empty (the run ends), polls 64 (repoll) or more than
        ``rps_quiet_cycles``' ``max_quiet`` packets or leaves more unread (then no arrival finds the ring full: it is
        refilled at each poll), meets an IRQ the throttle timer holds back or the arrivals' end (the general code
        runs that turn). Where a turn begins in a state one began in before (relative to ``now`` and the next
        arrival, whose gaps repeat: ``_stream_period``), the turns since then form a cycle, which each of its turns
        begins too (``_learn_cycles``, kept for later runs); where one begins in such a state, the cycle again and
        again at once and then its first turns, as long as each leaves budget and time and finds its arrivals
        (``turn_repeats``): no turn looks at ``now`` or the budget elsewhere."""
        q, b, plist = self.queues[0], self.backlog, self.poll_list
        feed = q.feed
        offset = q.rx_head - feed.pos                       # ring position less arrival index (no drop since)
        if (b.process_q or q.set_itr or self.call_single_queue or q.irq_asserted_at is not None
                or q.rx_use - q.rx_clean != self.ring_size - 1 or not q.rps.starts
                or q.rps.starts[-1] - q.rps.arrival[-1] != offset):
            return budget
        c, tick, ring = self.costs, self.tick_ns, self.ring_size
        poll_ns, driver_ns, stack_ns, hardirq_ns, eitr_ns = c.poll_ns, c.driver_ns, c.stack_ns, c.hardirq_ns, q.eitr_ns
        admits = self.profile.netdev_max_backlog + 1
        max_quiet = min(_NAPI_WEIGHT - 1, ring - 1 - IGB_RX_BUFFER_WRITE)
        now, a, thr, irq_on, q_sched = self.now, q.rx_clean - offset, q.throttled_until, q.irq_enabled, q.napi_sched
        b_in, b_sched = b.input_q, b.napi_sched
        order = [x is q for x in plist]                     # poll_list: True the queue, False the backlog
        turns = packets = irqs = busy = read = kept = dropped = 0
        arr, n = feed.arr, feed.n
        base, t, top = self.turn_window                     # the last call's arrivals, if still good from a on
        if not q.rps.read_in_turn(base, a):
            base, t, top = a, [], []
        size = _NAPI_WEIGHT
        every, steady = self.arrival_period(q)
        trail: list[tuple] = []                             # after each turn: the clock, counters, poll_list
        trail_keys: list[tuple | None] = []                 # and its state (None: not one a cycle may start in)
        seen: dict[tuple, int] = {}                         # a turn's state → its turn in trail
        cycles = self.turn_cycles
        end_ns = time_limit * tick                          # (a check at or after it squeezes)
        squeezed = False
        while True:                                         # a turn, in T_ values until it is known to be one
            T_now, T_a, T_thr, T_irq, T_qs, T_bin, T_bs, T_budget = now, a, thr, irq_on, q_sched, b_in, b_sched, budget
            T_packets = T_irqs = T_busy = T_read = T_kept = T_dropped = 0
            after: list[bool] = []                          # what the polls put on poll_list
            reload = stop = squeeze = False
            for i, is_q in enumerate(order):
                T_now += poll_ns
                if is_q:                                    # igb_poll: the packets there as the driver looks
                    j = bisect_right(top, T_now - (T_a - base) * driver_ns, T_a - base)
                    if j >= len(top):
                        reload = True
                        break
                    k = j - (T_a - base)
                    if k > max_quiet:
                        stop = True
                        break
                    T_read += k * T_now + driver_ns * (k * (k - 1) // 2)
                    T_now += k * driver_ns
                    T_a += k
                    T_packets, T_busy = T_packets + k, T_busy + poll_ns + k * driver_ns
                    taken = min(k, max(0, admits - T_bin))  # enqueue_to_backlog
                    T_dropped += k - taken
                    if taken and not T_bin and not T_bs:
                        T_bs = True
                        after.append(False)
                    T_bin += taken
                    T_budget -= k
                    T_qs = False                            # napi_complete_done, igb_ring_irq_enable: none waits
                    T_irq = True
                else:                                       # process_backlog
                    if T_bin >= _NAPI_WEIGHT:
                        stop = True
                        break
                    T_now += T_bin * stack_ns
                    T_busy += poll_ns + T_bin * stack_ns
                    T_kept += T_bin
                    T_budget -= T_bin
                    T_bin, T_bs = 0, False
                if T_irq:                                   # local_irq_enable: the next arrival raised the IRQ?
                    if T_a - base >= len(t):
                        reload = True
                        break
                    if t[T_a - base] <= T_now:
                        if T_thr > T_now:
                            stop = True
                            break
                        T_thr, T_now, T_irq = T_now + eitr_ns, T_now + hardirq_ns, False
                        T_irqs += 1
                        if not T_qs:
                            T_qs = True
                            after.append(True)
                if T_budget <= 0 or T_now // tick >= time_limit:
                    squeeze, after = True, order[i + 1:] + after   # poll_list: what was left, then what came
                    break
            if not reload and not stop:
                if not after and not squeeze:
                    stop = True                             # the run ends
                else:
                    w = bisect_right(t, T_now, T_a - base)  # the arrivals the NIC wrote by the turn's end
                    if w >= len(t):
                        reload = True
                    elif w - (T_a - base) > max_quiet:
                        stop = True
            if reload:
                if base + len(t) >= n:
                    break
                base, size = a, size * 4 if base == a else _NAPI_WEIGHT   # (a turn looks ahead less)
                chunk = arr[base:base + size]
                t = chunk.tolist()
                top = np.maximum.accumulate(chunk - np.arange(0, len(chunk) * driver_ns, driver_ns, dtype=np.int64)
                                            if driver_ns else chunk).tolist()
                self.turn_window = base, t, top
                continue
            if stop:
                break
            now, a, thr, irq_on, q_sched, b_in, b_sched, budget = T_now, T_a, T_thr, T_irq, T_qs, T_bin, T_bs, T_budget
            turns, packets, irqs, busy = turns + 1, packets + T_packets, irqs + T_irqs, busy + T_busy
            read, kept, dropped = read + T_read, kept + T_kept, dropped + T_dropped
            order = after
            if squeeze:
                squeezed = True
                break
            trail.append((now, a, budget, packets, irqs, busy, read, kept, dropped, base + w, thr, irq_on, q_sched, b_in,
                          b_sched, order))
            if not every or a < steady or a - base >= len(t):
                trail_keys.append(None)
                continue
            key = (a % every, t[a - base] - now, tuple(order), b_in, irq_on, thr - now if thr > now else 0)
            trail_keys.append(key)
            cycle = cycles.get(key)
            if cycle is None:                               # the turns since this state was met (this call)
                first = seen.get(key)
                seen[key] = len(trail) - 1
                if first is None:
                    continue
                _learn_cycles(cycles, trail[first:], trail_keys[first:])
                cycle = cycles[key]
            r, m = self.turn_repeats(cycle, now, a, budget, end_ns) if budget > cycle[0][2] else (0, 0)
            if r:
                T, P, B, d_packets, d_irqs, d_busy, d_read, d_kept, d_dropped = cycle[-1][:9]
                read += r * d_read + d_packets * (r * now + T * (r * (r - 1) // 2))   # repeat j starts j T after now
                now, a, thr, budget = now + r * T, a + r * P, thr + r * T, budget - r * B
                packets, irqs, busy = packets + r * d_packets, irqs + r * d_irqs, busy + r * d_busy
                kept, dropped = kept + r * d_kept, dropped + r * d_dropped
            if m:                                           # then the cycle's first m turns
                T, P, B, d_packets, d_irqs, d_busy, d_read, d_kept, d_dropped, _, thr, irq_on, q_sched, b_in, \
                    b_sched, order = cycle[m - 1]
                read += d_read + d_packets * now
                now, a, thr, budget = now + T, a + P, now + T + thr, budget - B
                packets, irqs, busy = packets + d_packets, irqs + d_irqs, busy + d_busy
                kept, dropped = kept + d_kept, dropped + d_dropped
            if r or m:
                turns += r * len(cycle) + m
                seen.clear()                                # (the trail has no turns for the jump)
                trail.clear()
                trail_keys.clear()
        if not turns:
            return budget
        self.now = now
        w = bisect_right(t, now, a - base)                  # the NIC's writes up to now
        if w < len(t):
            feed.skip(base + w - feed.pos)
            q.rx_head = base + w + offset
        else:
            q.rx_head += feed.take_until(now)
        q.rx_clean = a + offset
        q.rx_use = q.rx_clean + ring - 1
        q.rx_packets += packets
        q.total_packets += packets
        q.read_ns += read
        q.throttled_until, q.irq_enabled, q.napi_sched = thr, irq_on, q_sched
        b.input_q, b.napi_sched = b_in, b_sched
        plist[:] = [q if x else b for x in order]
        self.hard_irqs += irqs
        self.busy_ns["hardirq"] += irqs * hardirq_ns
        self.busy_ns[self.context] += busy
        self.processed_rps += kept
        self.dropped += dropped
        if not squeezed:
            return budget
        self.time_squeeze += 1                              # net_rx_action's end: NET_RX again if work is left
        self.in_net_rx_action = bool(plist)
        if plist:
            self.softirq_pending = True
        return None

    def turn_repeats(self, cycle: list[tuple], now: int, a: int, budget: int, end_ns: int) -> tuple[int, int]:
        """Of :meth:`reader_turns`: how many times the turns of ``cycle`` (each: the clock, arrivals and budget it
        moved on since the cycle began, counters, …) can follow again at once from ``now``, the next arrival ``a``
        and ``budget``, and then how many of its first turns. Each turn takes budget (it polls at least one skb), so
        each must leave some (the last check sees the least) and end before ``end_ns`` (the last check is the
        latest); and the arrivals each looks at must be there (``reach``: the last one, from the cycle's first)."""
        T, P, B, reach = cycle[-1][0], cycle[-1][1], cycle[-1][2], cycle[-1][9]
        last = self.queues[0].feed.n - 1
        r = max(0, min((budget - 1) // B, (end_ns - 1 - now) // T, (last - a - reach) // P + 1))
        budget, now, a = budget - r * B, now + r * T, a + r * P
        m = 0
        while (m < len(cycle) - 1 and budget - cycle[m][2] >= 1 and now + cycle[m][0] < end_ns
               and a + cycle[m][9] <= last):
            m += 1
        return r, m

    def rps_quiet_cycles(self) -> None:
        """:meth:`_Cpu.quiet_cycles` for a CPU that reads one RPS queue and keeps some of its skbs (RPS steers them
        to this CPU): busy periods from idle to idle, a bisect per poll. The IRQ fires at the first arrival (or when
        the throttle timer lets it); one NET_RX run polls the queue (each packet there by the time the driver looks,
        ``driver_ns`` each) and, if it kept any, its backlog (``stack_ns`` a skb up to netdev_max_backlog + 1, the
        rest dropped), which sends the IPIs. 6.12: the backlog's poll is net_rx_action's ``goto start``, and a
        packet that arrived meanwhile raises the IRQ at its end, nested, for the next turn of the same run (3.10:
        one poll of each, then NET_RX raised again runs once more, empty). Stops before a period of any other kind
        (a squeeze that leaves a NAPI scheduled, 64 packets, a throttled nested IRQ, ksoftirqd), and before one whose
        nested turns come back to a state met in it (relative to the next arrival, whose gaps repeat): it never ends
        idle, and the general code runs it."""
        c, prof, q = self.costs, self.profile, self.queues[0]
        if (q.rps is None or q.gro is not None or q.rps.local is not None or self.rx_itr_setting
                or self.flow_limit is not None or self.call_single_queue or self.poll_list or prof.netdev_budget <= _NAPI_WEIGHT
                or self.budget_jiffies < 1):
            return
        hardirq_ns, rx_ns, poll_ns, driver_ns, stack_ns = (c.hardirq_ns, c.net_rx_action_ns, c.poll_ns, c.driver_ns,
                                                          c.stack_ns)
        eitr_ns, budget = q.eitr_ns, prof.netdev_budget
        tick, budget_jiffies, softirq_jiffies = self.tick_ns, self.budget_jiffies, self.softirq_jiffies
        repoll_list, restarts, admits = prof.napi_repoll_list, prof.max_softirq_restart, prof.netdev_max_backlog + 1
        max_quiet = min(_NAPI_WEIGHT - 1, self.ring_size - 1 - IGB_RX_BUFFER_WRITE)
        feed = q.feed
        every, steady = self.arrival_period(q)
        cycle: _Cycle | None = None                              # busy periods that repeat (rps_repeats)
        size = 64
        while feed.pos < feed.n and feed.first() > self.now:
            pos = feed.pos
            chunk, tail, top_array = feed.ahead(size, driver_ns)
            m, t, top = len(chunk), chunk.tolist(), top_array.tolist()
            own = [0] * (m + 1) if q.rps.own is None else q.rps.own[pos:pos + m + 1].tolist()   # (skbs kept here)
            throttled_until, end = q.throttled_until, self.now
            p = irqs = runs = squeezed = 0
            ks: list[int] = []                                   # per poll of the queue: packets, when it looks
            looks: list[int] = []
            add_k, add_look = ks.append, looks.append
            blocks: list[tuple[np.ndarray, np.ndarray]] = []     # earlier polls (ks, looks) as arrays
            spans: list[tuple[int, int]] = []                    # per busy period: when it began and ended
            marks: list[tuple] = []                              # per period start after it: state and counters
            seen: dict[tuple[int, int], int] = {}                # of marks, the last in each state
            owned = kept = backlog_polls = 0                     # skbs it kept here, of those the backlog took
            stop = jumped = False
            while p < m:                                         # a busy period: IRQ at `fire`, one NET_RX run
                fire = t[p] if t[p] >= throttled_until else throttled_until
                thr, look, a, left = fire + eitr_ns, fire + hardirq_ns + rx_ns + poll_ns, p, budget
                limit = ((fire + hardirq_ns + rx_ns) // tick + budget_jiffies) * tick   # (budget_jiffies on: ns)
                first_turn, period_irqs, period_runs, period_squeezed = len(ks), 1, 1, 0
                turn_states: set[tuple[int, int]] = set()        # (its nested turns' states: see below)
                period_owned = period_kept = period_polls = 0
                complete = False
                while True:                                      # a turn: the queue's poll, then the backlog's
                    j = bisect_right(top, look - a * driver_ns, a)
                    k = j - a
                    if k > max_quiet:
                        break
                    if j == m and not tail:                      # the poll may read past the chunk: read on, up
                        if m >= 1 << 16:                         # to a length where the chunk ends at its last
                            break                                # whole period instead
                        more, tail, more_top = feed.ahead(m, driver_ns, m)
                        t.extend(more.tolist())
                        top.extend(np.maximum(more_top, top[-1]).tolist())
                        own.extend([0] * len(more) if q.rps.own is None
                                   else q.rps.own[pos + m + 1:pos + m + len(more) + 1].tolist())
                        m += len(more)
                        continue
                    done = look + k * driver_ns
                    o = own[j] - own[a]
                    taken = o if o < admits else admits
                    left -= k
                    add_k(k)
                    add_look(look)
                    squeeze = left <= 0 or done >= limit
                    if not o:
                        period_squeezed += repoll_list and squeeze
                        finish, complete = done, True
                        break
                    if squeeze:                                  # the backlog would wait on poll_list
                        break
                    period_owned, period_kept, period_polls = period_owned + o, period_kept + taken, period_polls + 1
                    finish = done + poll_ns + taken * stack_ns
                    left -= taken
                    if not repoll_list:                          # 3.10: NET_RX raised again runs once more, empty
                        if restarts >= 2 and finish // tick < (fire + hardirq_ns) // tick + softirq_jiffies:
                            finish += rx_ns
                            period_runs += 1
                            complete = True
                        break
                    if j < m and t[j] <= finish:                 # an arrival meanwhile: the IRQ nested, next turn
                        if thr > finish or left <= 0 or finish + hardirq_ns >= limit:
                            break
                        period_irqs += 1
                        thr, look, a = finish + eitr_ns, finish + hardirq_ns + poll_ns, j
                        # a nested turn's state met before in this period: it never ends idle (looked for from the
                        # fifth nested turn on, so short periods pay nothing; the throttle timer is always eitr_ns -
                        # hardirq_ns - poll_ns ahead of the look, so it is no part of the state)
                        if every and period_irqs > 4 and pos + a >= steady:
                            state = ((pos + a) % every, t[a] - look)
                            if state in turn_states:
                                break
                            turn_states.add(state)
                        continue
                    period_squeezed += left <= 0 or finish >= limit
                    complete = True
                    break
                if not complete or j < m and t[j] <= finish:
                    del ks[first_turn:], looks[first_turn:]
                    stop = k > max_quiet or not (j == m and not tail)   # (else: the next chunk from this period)
                    break
                irqs, runs, squeezed = irqs + period_irqs, runs + period_runs, squeezed + period_squeezed
                owned, kept, backlog_polls = owned + period_owned, kept + period_kept, backlog_polls + period_polls
                throttled_until, end, p = thr, finish, j
                if not every or p >= m or pos + p < steady:
                    continue
                spans.append((fire, finish))                     # (a period looks at the jiffy of none later)
                key = ((pos + p) % every, thr - t[p] if thr > t[p] else 0)
                marks.append((key, p, len(ks), (irqs, runs, squeezed, owned, kept, backlog_polls), end, thr))
                i = cycle.index.get(key) if cycle is not None else None
                if i is None:
                    before = seen.get(key)
                    seen[key] = len(marks) - 1
                    if before is None:
                        if len(seen) > 4096:
                            seen.clear()
                        continue
                    cycle = _Cycle.of(marks[before:], spans[before + 1:], t, ks, looks, self.tick_ns) or cycle
                    if cycle is None or key not in cycle.index:
                        continue
                    i = cycle.index[key]
                base, at = p - cycle.packet[i], t[p] - cycle.time[i]    # where the cycle would have begun
                g = self.rps_repeats(cycle, i, at, feed.n - 1 - pos - base)
                if g > i:                                        # (past the chunk: the arrivals repeat)
                    blocks.append((np.array(ks, dtype=np.int64), np.array(looks, dtype=np.int64)))
                    blocks.append(cycle.polls(i, g, at))
                    for lst in (ks, looks, spans, marks):
                        lst.clear()
                    seen.clear()
                    gains = cycle.gains(i, g)
                    irqs, runs, squeezed, owned, kept, backlog_polls = (
                        x + y for x, y in zip((irqs, runs, squeezed, owned, kept, backlog_polls), gains))
                    r, j = divmod(g, len(cycle.lo))
                    p = base + r * cycle.packet[-1] + cycle.packet[j]
                    jumped = True
                    tp = int(feed.arr[pos + p])
                    end, throttled_until = tp + cycle.end[j], tp + cycle.thr[j]
                    if p >= m:
                        break
            if ks:
                blocks.append((np.array(ks, dtype=np.int64), np.array(looks, dtype=np.int64)))
            if not blocks:
                return
            counts, starts = (np.concatenate(b) if len(b) > 1 else b[0] for b in zip(*blocks))
            q.read_ns += int(np.dot(counts, starts)) + driver_ns * int(np.dot(counts, counts - 1) // 2)
            q.throttled_until = throttled_until
            self.time_squeeze += squeezed
            self.processed_rps += kept
            self.dropped += owned - kept
            self.now = self.busy_until = end
            softirq_ns = (runs * rx_ns + (len(counts) + backlog_polls) * poll_ns + p * driver_ns
                          + kept * stack_ns)
            self.record_polls(q, counts, starts)
            self.read_in_bulk(q, p, irqs, runs, softirq_ns)
            if stop or tail:
                return
            size = 64 if jumped else min(size * 4, 1 << 16)     # (after a repeat: a period or two to its next state)

    def arrival_period(self, q: _Queue) -> tuple[int, int]:
        """Every how many packets ``q``'s arrival gaps and own skbs repeat, and from which arrival on
        (:func:`_stream_period`, found once): where :meth:`rps_quiet_cycles` and :meth:`flood_runs` may repeat."""
        if self.stream_period is None:
            self.stream_period = _stream_period(q.feed.arr, q.rps.own)
        return self.stream_period

    def rps_repeats(self, cycle: "_Cycle", i: int, at: int, most: int) -> int:
        """Of :meth:`rps_quiet_cycles`: from its period start ``i`` on (the cycle begun at ``at``), up to which of
        ``cycle``'s periods, counted on through its repeats, it can go at once: the last that starts at most ``most``
        packets after the cycle's beginning, or the first a jiffy boundary falls in, whichever comes first. The arrivals
        and the skbs kept here repeat with the cycle (:func:`_stream_period`); the busy periods do not look at ``now``
        elsewhere."""
        S, P, T, tick = len(cycle.lo), cycle.packet[-1], cycle.time[-1], self.tick_ns
        r, left = divmod(most, P)
        g = r * S + bisect_right(cycle.packet, left, 0, S) - 1
        lo, hi = cycle.lo.tolist(), cycle.hi.tolist()
        for boundary in range((at + cycle.time[i]) // tick * tick + tick, at + (g // S + 1) * T, tick):
            r, into = divmod(boundary - at, T)
            k = bisect_right(lo, into - 1) - 1                  # the period that began before it
            if k >= 0 and into <= hi[k] and r * S + k >= i:
                return min(g, r * S + k)
        return g

    def backlog_idle(self) -> bool:
        """Whether this CPU, an RPS target with no queue of its own, has nothing to do but take in skbs still to be
        steered here (its backlog empty and idle; ksoftirqd asleep, perhaps not yet switched out):
        :meth:`backlog_cycles` then runs."""
        b = self.backlog
        return (not self.queues and self.steered_fl is None and self.steered.pos < self.steered.n
                and not b.napi_sched and not b.input_q
                and not b.process_q and not self.call_single_queue and not self.poll_list and not self.softirq_pending
                and not self.ksoftirqd_running and not self.in_net_rx_action and self.busy_until <= self.now)

    def backlog_cycles(self) -> None:
        """An RPS target's cycles from :meth:`backlog_idle`, in bulk. Each: at the later of the next skb's IPI time
        and the end of the cycle before, it takes in what was steered by then (``rps_take_steered``), the IPI
        (``hardirq_ns``), NET_RX at its exit, ``process_backlog`` polls that empty the backlog (``stack_ns`` a skb).
        Runs of cycles that each take one reading CPU's run's skbs (fewer than 64) in numpy (:meth:`group_cycles`),
        the others a binary search each (:meth:`backlog_burst`; a burst that stays within a jiffy depends only on how
        many skbs it takes: each count's once). ksoftirqd, asleep but still the current task, is switched
        out (``context_switch_ns``) before the first cycle whose IPI is not due yet when the one before ends. Stops
        before a cycle after which ``handle_softirqs`` would wake ksoftirqd. Not where a flow limit watches what is
        steered here (:meth:`backlog_idle`)."""
        c, prof = self.costs, self.profile
        if prof.netdev_budget < _NAPI_WEIGHT or self.budget_jiffies < 1:
            return
        hardirq_ns, rx_ns, stack_ns = c.hardirq_ns, c.net_rx_action_ns, c.stack_ns
        head = hardirq_ns + rx_ns + c.poll_ns
        most = min(_NAPI_WEIGHT - 1, prof.netdev_max_backlog + 1)
        tick, budget_jiffies, repoll_list = self.tick_ns, self.budget_jiffies, prof.napi_repoll_list
        steered, ipis = self.steered, self.steered_ipi
        if self.ipi_runs is None:
            self.ipi_runs = _IpiRuns.of(steered.arr, ipis)
        first, end = steered.pos, self.now
        times, pos, n = steered.arr, first, steered.n       # (the skbs' times searched in numpy: a cycle takes many)
        cycles = squeezed = more_runs = more_ns = dropped = 0
        size, patience, wait = _FIRST_RUNS, 0, 0
        current = self.ksoftirqd_current
        bursts: dict[int, tuple[int, int, int, int]] = {}   # skbs → a burst's length, runs, squeezes, skbs taken
        while pos < n:
            fire = int(ipis[pos])
            if current and fire > end:                      # schedule(): switch to the idle task
                end, current = end + self.context_switch_ns, False
            if wait <= 0 and not current:                   # try a run of cycles in numpy
                steered.skip(pos - steered.pos)
                r, skbs, done, sq = self.group_cycles(end, size, head, most)
                long_run = 16 <= r < size                   # (a long run that a cycle which does not fit ended)
                size = min(size * 4, 1 << 16) if 2 * r >= size else 64
                patience = 4 if r >= 16 else min(2 * patience + 4, 1024)   # a short run: try less often
                wait = 1 if long_run else 0 if size > 64 else patience     # (that cycle alone; a long one: at once)
                if r:
                    cycles, squeezed, end, pos = cycles + r, squeezed + sq, done, pos + skbs
                    continue
            wait -= 1
            fire = fire if fire >= end else end
            j = int(times.searchsorted(fire, "right"))
            if j - pos <= most:                             # one NET_RX run, one poll
                done = fire + head + (j - pos) * stack_ns
                if repoll_list and done // tick >= (fire + hardirq_ns + rx_ns) // tick + budget_jiffies:
                    squeezed += 1
            else:
                burst = bursts.get(j - pos)
                if burst is not None and fire // tick == (fire + burst[0]) // tick:
                    span, runs, sq, taken = burst
                    done = fire + span
                else:
                    burst = self.backlog_burst(fire, j - pos)
                    if burst is None:
                        break
                    done, runs, sq, taken = burst
                    if fire // tick == done // tick:            # within a jiffy: the same for any such start
                        bursts[j - pos] = done - fire, runs, sq, taken
                more_runs, squeezed, dropped = more_runs + runs - 1, squeezed + sq, dropped + j - pos - taken
                more_ns += done - fire - head - taken * stack_ns     # (its runs and polls after the first)
            cycles, end, pos = cycles + 1, done, j
        steered.skip(pos - steered.pos)
        skbs = pos - first - dropped
        self.time_squeeze += squeezed
        self.busy_ns["hardirq"] += cycles * hardirq_ns
        self.busy_ns["softirq"] += cycles * (rx_ns + c.poll_ns) + more_ns + skbs * stack_ns
        self.received_rps += cycles
        self.net_rx_softirqs += cycles + more_runs
        self.processed_rps += skbs
        self.dropped += dropped
        self.now = self.busy_until = end
        self.ksoftirqd_current = current

    def backlog_burst(self, fire: int, k: int) -> tuple[int, int, int, int] | None:
        """Of :meth:`backlog_cycles`: a cycle at ``fire`` that takes ``k`` skbs into its idle backlog
        (``enqueue_to_backlog``: up to netdev_max_backlog + 1, the rest dropped), a poll at a time: the IPI, then
        ``handle_softirqs`` at its exit runs NET_RX (``net_rx_action``: 6.12 polls the backlog once a run, 3.10 until
        the budget is spent) until ``process_backlog`` empties it with fewer than 64. Returns its end, NET_RX runs,
        squeezes and skbs taken; None where ``handle_softirqs`` would wake ksoftirqd (no restart or time left)."""
        c, prof, tick = self.costs, self.profile, self.tick_ns
        rx_ns, poll_ns, stack_ns, budget_jiffies = c.net_rx_action_ns, c.poll_ns, c.stack_ns, self.budget_jiffies
        taken = min(k, prof.netdev_max_backlog + 1)
        now = fire + c.hardirq_ns
        soft_end, restarts = now // tick + self.softirq_jiffies, prof.max_softirq_restart
        left, runs, squeezed = taken, 0, 0
        while True:                                         # a NET_RX run
            runs += 1
            now += rx_ns
            limit, budget = now // tick + budget_jiffies, prof.netdev_budget
            while True:                                     # a poll of the backlog
                if not prof.napi_repoll_list and (budget <= 0 or now // tick >= limit):
                    squeezed += 1                           # 3.10: checked before each poll
                    break
                x = left if left < _NAPI_WEIGHT else _NAPI_WEIGHT
                left -= x
                now += poll_ns + x * stack_ns
                budget -= x
                if prof.napi_repoll_list:                   # 6.12: checked after it; a full one waits on repoll
                    squeezed += budget <= 0 or now // tick >= limit
                    break
                if x < _NAPI_WEIGHT:
                    return now, runs, squeezed, taken
            if x < _NAPI_WEIGHT:
                return now, runs, squeezed, taken
            restarts -= 1
            if now // tick >= soft_end or not restarts:
                return None

    def group_cycles(self, end: int, size: int, head: int, most: int) -> tuple[int, int, int, int]:
        """Of :meth:`backlog_cycles`, those from the next skb steered here on (the CPU free from ``end`` on) that
        each take in one of the next ``size`` runs of equal IPI times (:class:`_IpiRuns`; the first may have begun
        in a cycle before): all that was steered by the cycle's start, the next skb not, fewer than ``most``. With
        ``cost[g]`` = ``head`` + ``stack_ns`` per skb of run g, a cycle starts at ``fire[g] = max(ipi[g],
        done[g-1])`` and ends at ``done[g] = fire[g] + cost[g]``: a max-plus recursion, so ``done[g] = C[g] + max(end,
        max over m <= g of ipi[m] - C[m-1])`` with C the running sum of ``cost``. Returns how many cycles, skbs, the
        last one's end and how many squeezed."""
        pos, runs = self.steered.pos, self.ipi_runs
        g = int(runs.first.searchsorted(pos, "right")) - 1
        fire = max(int(runs.ipi[g]), end)                   # the first cycle at once: often the only one to look at
        if not runs.last[g] <= fire < runs.after[g] or runs.first[g + 1] - pos > most:
            return 0, 0, 0, 0
        cut = slice(g, g + size)
        cost = np.diff(runs.first[g:g + size + 1])
        cost[0] -= pos - runs.first[g]
        ok = cost <= most
        cost *= self.costs.stack_ns
        cost += head
        cum = np.cumsum(cost)
        done = runs.ipi[cut] - cum
        done += cost
        np.maximum.accumulate(done, out=done)
        np.maximum(done, end, out=done)
        done += cum
        fire = done - cost
        ok &= runs.last[cut] <= fire
        ok &= runs.after[cut] > fire
        r = len(ok) if ok.all() else int(np.argmin(ok))
        if not r:
            return 0, 0, 0, 0
        squeezed = 0
        if self.profile.napi_repoll_list:
            c = self.costs
            fire += c.hardirq_ns + c.net_rx_action_ns
            squeezed = int(np.count_nonzero(done[:r] // self.tick_ns >= fire[:r] // self.tick_ns + self.budget_jiffies))
        return r, int(runs.first[g + r]) - pos, int(done[r - 1]), squeezed

    def backlog_flood(self) -> None:
        """An RPS target flooded in ksoftirqd (no queue of its own, no flow limit watching), its calls in bulk: each
        takes in what was steered by its start (``rps_take_steered``: up to netdev_max_backlog + 1 on input_pkt_queue,
        the rest dropped), then ``handle_softirqs`` runs NET_RX (6.12: a ``process_backlog`` poll a run; 3.10: polls
        until the budget or the time is spent) and restarts while the backlog used its weight, within
        MAX_SOFTIRQ_RESTART and MAX_SOFTIRQ_TIME. While the backlog stays scheduled no IPI is queued here and no
        interrupt comes, so the engine calls ksoftirqd again at once: the same arithmetic, a call a step, up to the
        first call that empties the backlog (left to :meth:`run_ksoftirqd`). On 6.12 a call that finds more than 64
        skbs a restart and stays within a jiffy (no squeeze for time, no MAX_SOFTIRQ_TIME) polls 64 in each run: at
        once."""
        b, prof = self.backlog, self.profile
        if (self.queues or self.steered is None or self.steered_fl is not None or not self.ksoftirqd_current
                or not self.ksoftirqd_running or not self.softirq_pending or self.poll_list != [b] or not b.napi_sched
                or self.call_single_queue or self.hardirq_count or self.softirq_count):
            return
        c, tick, steered = self.costs, self.tick_ns, self.steered
        rx_ns, poll_ns, stack_ns, budget_jiffies = c.net_rx_action_ns, c.poll_ns, c.stack_ns, self.budget_jiffies
        repoll_list, netdev_budget, room = prof.napi_repoll_list, prof.netdev_budget, prof.netdev_max_backlog + 1
        softirq_jiffies, max_restart = self.softirq_jiffies, prof.max_softirq_restart
        now, p, i = self.now, b.process_q, b.input_q
        calls = runs = polls = skbs = squeezed = dropped = 0
        full, span = _NAPI_WEIGHT * max_restart, max_restart * (rx_ns + poll_ns + _NAPI_WEIGHT * stack_ns)
        steady = repoll_list and softirq_jiffies >= 1 and budget_jiffies >= 1 and max_restart >= 1
        while True:
            k = steered.upto(now) - steered.pos                 # rps_take_steered
            admitted = min(k, max(0, room - i))
            t, pq, iq = now, p, i + admitted
            if steady and pq + iq > full and (t + span) // tick == t // tick:   # every restart, a poll of 64 each
                r = n = max_restart
                x_all, sq, t = full, max_restart if netdev_budget <= _NAPI_WEIGHT else 0, t + span
                pq, iq = (pq - full, iq) if pq >= full else (pq + iq - full, 0)
                steered.skip(k)
                calls, runs, polls, skbs, squeezed, dropped = (calls + 1, runs + r, polls + n, skbs + x_all,
                                                               squeezed + sq, dropped + k - admitted)
                now, p, i = t, pq, iq
                continue
            soft_end, restarts = t // tick + softirq_jiffies, max_restart
            r = n = x_all = sq = 0
            while True:                                         # handle_softirqs: a NET_RX run
                r += 1
                t += rx_ns
                limit, budget = t // tick + budget_jiffies, netdev_budget
                while True:                                     # a poll of the backlog
                    if not repoll_list and (budget <= 0 or t // tick >= limit):
                        sq += 1                                 # 3.10: checked before each poll; pending
                        pending = True
                        break
                    if pq >= _NAPI_WEIGHT:                      # process_backlog
                        x, pq = _NAPI_WEIGHT, pq - _NAPI_WEIGHT
                    else:
                        x, pq = pq + iq, 0
                        if x > _NAPI_WEIGHT:
                            x, pq = _NAPI_WEIGHT, x - _NAPI_WEIGHT
                        iq = 0
                    n += 1
                    x_all += x
                    t += poll_ns + x * stack_ns
                    budget -= x
                    pending = x == _NAPI_WEIGHT
                    if repoll_list:                             # 6.12: checked after it; a full one waits on repoll
                        sq += budget <= 0 or t // tick >= limit
                        break
                    if not pending:
                        break
                if not pending:
                    break
                restarts -= 1
                if t // tick >= soft_end or not restarts:
                    break
            if not pending:
                break
            steered.skip(k)
            calls, runs, polls, skbs, squeezed, dropped = (calls + 1, runs + r, polls + n, skbs + x_all, squeezed + sq,
                                                           dropped + k - admitted)
            now, p, i = t, pq, iq
        if not calls:
            return
        self.busy_ns["ksoftirqd"] += runs * rx_ns + polls * poll_ns + skbs * stack_ns
        self.net_rx_softirqs += runs
        self.time_squeeze += squeezed
        self.processed_rps += skbs
        self.dropped += dropped
        self.now, b.process_q, b.input_q = now, p, i

    def reads_in_bulk(self) -> bool:
        """Whether this CPU reads one RPS queue (no GRO, no moderation) and steers every skb of it to other CPUs:
        then it runs as a :class:`_Cpu` whose packets cost ``driver_ns`` (its backlog stays idle, nothing is steered
        to it), and it records the polls of its bulk shortcuts."""
        q = self.queues[0] if len(self.queues) == 1 else None
        return (q is not None and q.rps is not None and q.gro is None and q.rps.own is None and q.rps.local is None
                and self.steered is None
                and not self.rx_itr_setting and self.costs.driver_ns + self.costs.poll_ns > 0)

    def flooded_runs(self) -> None:
        """:meth:`_Cpu.flooded_runs` for a CPU that reads one RPS queue (6.12, no GRO, no moderation): ksoftirqd's
        NET_RX runs in a flood, back to back. Each polls this CPU's backlog first if the run before kept skbs
        (``stack_ns`` each), then the queue: 64 packets, ``driver_ns`` each, given back 16 at a time right after the
        NIC wrote what had arrived (the rest dropped); what it keeps waits on the backlog for the next run (all 64:
        the backlog's poll uses its weight and waits on repoll before the queue, the same order), the IPIs for the
        others leave at its end. A run at a time (:meth:`flood_runs`), whole cycles at once where the flood's state
        comes back (:meth:`flood_repeats`), up to a run of any other kind: fewer than 64 packets ready when the
        driver looks, a squeeze before the queue's poll. Where ``handle_softirqs`` calls end does not matter here:
        ksoftirqd calls it again at once (the queue's IRQ is masked, nothing is steered here)."""
        c, prof, b = self.costs, self.profile, self.backlog
        q = self.queues[0] if len(self.queues) == 1 else None
        if (q is None or q.rps is None or q.gro is not None or q.rps.local is not None or q.rps.own is None
                or not q.rps.starts or self.rx_itr_setting or self.flow_limit is not None
                or not prof.napi_repoll_list or self.steered is not None or self.call_single_queue
                or len(self.polls) != len(self.ipi_at)):
            return
        while (self.ksoftirqd_current and self.ksoftirqd_running and self.softirq_pending and self.in_net_rx_action
               and self.busy_until <= self.now and not q.irq_enabled and q.napi_sched
               and q.rx_use - q.rx_clean == self.ring_size - 1
               and (self.poll_list == [q] and not b.napi_sched and not b.input_q
                    or self.poll_list == [b, q] and b.napi_sched and not b.process_q and 0 < b.input_q)):
            rows, pieces, drops, repeated = self.flood_runs(q)
            if len(rows) > 1:
                self.flood_commit(q, rows, pieces, drops)
            if not repeated:
                return

    def flood_runs(self, q: _Queue) -> tuple[np.ndarray, np.ndarray, np.ndarray, bool]:
        """Of :meth:`flooded_runs`: its runs from now on, a run at a time, up to one of another kind (left out). Per
        run, after it (row 0: before the first): its end, the arrivals taken (``feed.pos``), ``rx_use``, ``rx_head``,
        how many of ``pieces`` (the NIC's runs of writes without a drop between, as ``_RpsQueue.starts`` and
        ``arrival``) and of ``drops`` (arrivals dropped at the ring, from, to) it leaves, the skbs it kept on the
        backlog and those the backlog dropped. Where a run begins in a state one began in before — relative to its
        arrivals (:func:`_stream_period`): the gaps and own skbs ahead, the ring's entries and own skbs in each 64
        unread, the skbs kept — the runs since then repeat: they go on at once up to the arrivals' end (last value
        True), where a squeeze before a queue's poll (the only way the tick changes a run) does not cut them short.
        """
        c, prof, rps, feed = self.costs, self.profile, q.rps, q.feed
        rx_ns, poll_ns, driver_ns, stack_ns = c.net_rx_action_ns, c.poll_ns, c.driver_ns, c.stack_ns
        write, admits, own, arr, n = IGB_RX_BUFFER_WRITE, prof.netdev_max_backlog + 1, rps.own, feed.arr, feed.n
        refills, gap = _NAPI_WEIGHT // write + 1, write * driver_ns
        every, steady = self.arrival_period(q)
        now, rx_use, rx_head, pos, kept_before = self.now, q.rx_use, q.rx_head, feed.pos, self.backlog.input_q
        rx_clean = clean = q.rx_clean
        offset = rps.starts[-1] - rps.arrival[-1]            # the NIC's last run of writes goes on at rx_head - offset
        blocks = [rps.count(own, x, min(_NAPI_WEIGHT, rx_head - x))  # own skbs in each 64 ring entries from rx_clean
                  for x in range(rx_clean, rx_head, _NAPI_WEIGHT)]
        space = (clean - rx_head) % _NAPI_WEIGHT              # entries left in the last 64
        at_list: list[int] = []                               # pieces: ring position, arrival
        from_list: list[int] = []
        drop_from: list[int] = []
        drop_to: list[int] = []
        rows = [(now, pos, rx_use, rx_head, 0, 0, kept_before, 0)]
        seen: dict[tuple, int] = {}                          # state → the run that began in it
        steps = np.arange(refills, dtype=np.int64) * gap      # the NIC's looks in a poll, from its first on
        while True:
            r = len(rows)                                    # this run reads ring entries from clean + 64 (r - 1) on
            if every and steady <= pos < n:
                key = (pos % every, arr.item(pos) - now, kept_before, rx_head - rx_clean, rx_use - rx_clean,
                       rx_head - pos == offset, *blocks[r - 1:])
                first = seen.setdefault(key, r)
                if first < r:
                    return *self.flood_repeats(np.array(rows, dtype=np.int64), first,
                                               np.array([at_list, from_list], dtype=np.int64).reshape(2, -1),
                                               np.array([drop_from, drop_to], dtype=np.int64).reshape(2, -1), n), True
                if len(seen) > 4096:
                    seen.clear()
            if kept_before and self.squeezed_before_poll(now, kept_before):
                break
            look = now + rx_ns + (poll_ns + kept_before * stack_ns if kept_before else 0) + poll_ns
            written = arr.searchsorted(steps + look, "right").tolist()   # (a drop may skip far: no list window)
            for k in range(refills):                         # the NIC's writes at each look, then a refill
                j = written[k]
                if j > pos:
                    accepted = rx_use - rx_head
                    if accepted:
                        if j - pos < accepted:
                            accepted = j - pos
                        if rx_head - pos != offset:
                            at_list.append(rx_head)
                            from_list.append(pos)
                            offset = rx_head - pos
                        a = pos
                        rx_head += accepted
                        pos += accepted
                        if accepted <= space:                # own skbs into the count of their 64 entries
                            blocks[-1] += own.item(a + accepted) - own.item(a)
                            space -= accepted
                        else:
                            while accepted:
                                if not space:
                                    blocks.append(0)
                                    space = _NAPI_WEIGHT
                                m = accepted if accepted < space else space
                                blocks[-1] += own.item(a + m) - own.item(a)
                                a, accepted, space = a + m, accepted - m, space - m
                    if j > pos:
                        drop_from.append(pos)
                        drop_to.append(j)
                        pos = j
                if k:
                    rx_use += write
                elif rx_head - rx_clean < _NAPI_WEIGHT:
                    break                                    # the ring ran short
            else:
                kept = blocks[r - 1]
                taken = kept if kept < admits else admits
                rx_clean += _NAPI_WEIGHT
                now = look + _NAPI_WEIGHT * driver_ns
                rows.append((now, pos, rx_use, rx_head, len(at_list), len(drop_from), taken, kept - taken))
                kept_before = taken
                continue
            break
        return (np.array(rows, dtype=np.int64), np.array([at_list, from_list], dtype=np.int64).reshape(2, -1),
                np.array([drop_from, drop_to], dtype=np.int64).reshape(2, -1), False)

    def flood_repeats(self, rows: np.ndarray, first: int, pieces: np.ndarray, drops: np.ndarray, n: int
                      ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Of :meth:`flood_runs`: ``rows``, ``pieces`` and ``drops`` with the runs from ``first`` on repeated after
        them, each time shifted by what they moved on (time, arrivals, ring positions, pieces, drops), up to the
        arrivals' end or a run squeezed before its queue's poll."""
        last = len(rows) - 1
        cycle, shift = rows[first:], rows[last] - rows[first - 1]
        shift[6:] = 0                                        # (kept, dropped: per run)
        size, moved = len(cycle), int(shift[1])
        i = np.arange(((n - rows[last, 1]) // moved + 1) * size)
        more = cycle[i % size] + (i // size + 1)[:, None] * shift
        fits = int(np.searchsorted(more[:, 1], n, "right"))
        squeezed = self.squeezed_before_poll(np.append(rows[last, 0], more[:-1, 0]),   # (each run's start, backlog)
                                             np.append(rows[last, 6], more[:-1, 6]))
        if squeezed[:fits].any():
            fits = int(np.argmax(squeezed))
        times = np.arange(1, -(-fits // size) + 1)[:, None]
        (p0, d0), (p1, d1) = rows[first - 1, 4:6], rows[last, 4:6]
        return (np.concatenate((rows, more[:fits])),
                np.concatenate((pieces, (pieces[:, None, p0:p1] + np.array([[size * _NAPI_WEIGHT], [moved]])[:, :, None]
                                          * times).reshape(2, -1)), axis=1),
                np.concatenate((drops, (drops[:, None, d0:d1] + moved * times).reshape(2, -1)), axis=1))

    def squeezed_before_poll(self, start: int | np.ndarray, backlog: int | np.ndarray) -> bool | np.ndarray:
        """Of :meth:`flooded_runs`: whether a run that begins at ``start`` with ``backlog`` skbs on this CPU's backlog
        (ints, or arrays of them) is squeezed after its backlog's poll, before the queue's: the budget spent or
        net_rx_action's time limit passed."""
        c, tick = self.costs, self.tick_ns
        began = start + c.net_rx_action_ns
        return (backlog > 0) & ((backlog >= self.profile.netdev_budget) | (
            (began + c.poll_ns + backlog * c.stack_ns) // tick >= began // tick + self.budget_jiffies))

    def flood_commit(self, q: _Queue, rows: np.ndarray, pieces: np.ndarray, drops: np.ndarray) -> None:
        """Of :meth:`flooded_runs`: what the runs of ``rows`` (:meth:`flood_runs`) did, into this CPU's counters,
        its backlog and ``q``: its ring, the NIC's writes, the polls whose IPIs leave at each run's end."""
        c, prof, rps, feed, b = self.costs, self.profile, q.rps, q.feed, self.backlog
        rx_ns, driver_ns, tick = c.net_rx_action_ns, c.driver_ns, self.tick_ns
        end, pos, rx_use, rx_head, n_pieces, n_drops, kept, dropped = rows.T
        runs, start, backlog = len(rows) - 1, end[:-1], kept[:-1]
        looks = end[1:] - _NAPI_WEIGHT * driver_ns
        self.time_squeeze += int(np.count_nonzero((backlog + _NAPI_WEIGHT >= prof.netdev_budget) | (
            end[1:] // tick >= (start + rx_ns) // tick + self.budget_jiffies)))
        self.net_rx_softirqs += runs
        self.busy_ns["ksoftirqd"] += int(end[-1] - end[0])
        self.processed_rps += int(backlog.sum())
        self.dropped += int(dropped.sum())
        drop_from, drop_to = drops[:, :n_drops[-1]]
        q.rx_missed += int((drop_to - drop_from).sum())
        q.dropped_ns += _range_sums(feed.arr, drop_from, drop_to)
        q.read_ns += _NAPI_WEIGHT * int(looks.sum()) + runs * driver_ns * (_NAPI_WEIGHT * (_NAPI_WEIGHT - 1) // 2)
        self.keep_polls()
        self.poll_blocks.append(np.stack((np.full(runs, q.index, dtype=np.int64),
                                          q.rx_clean + _NAPI_WEIGHT * np.arange(runs, dtype=np.int64),
                                          np.full(runs, _NAPI_WEIGHT, dtype=np.int64), looks,
                                          looks + _NAPI_WEIGHT * driver_ns)))
        rps.starts.extend(pieces[0, :n_pieces[-1]].tolist())  # (runs without a drop between, as written() adds them)
        rps.arrival.extend(pieces[1, :n_pieces[-1]].tolist())
        packets = runs * _NAPI_WEIGHT
        q.rx_packets += packets
        q.total_packets += packets
        q.rx_clean += packets
        q.rx_use, q.rx_head = int(rx_use[-1]), int(rx_head[-1])
        feed.skip(int(pos[-1]) - feed.pos)
        self.now = int(end[-1])
        b.input_q = int(kept[-1])
        b.napi_sched = bool(b.input_q)
        self.poll_list[:] = [b, q] if b.input_q else [q]

    def next_due(self) -> int | None:
        """When the earliest interrupt of this CPU is due: an IPI or its queues' IRQs."""
        ipi, irq = self.ipi_due(), _Cpu.next_due(self)
        return irq if ipi is None else ipi if irq is None else min(ipi, irq)

    def take_irq(self, at: int) -> None:
        """``scenarios.receive.Host._step``: take in what was steered here, then the earliest due of the IPI and
        the queues' IRQs (a queue's first at a tie)."""
        self.now = at
        self.rps_take_steered()
        dues = [(q.next_irq_time(), q.index, q) for q in self.queues if q.next_irq_time() is not None]
        ipi = min(self.call_single_queue) if self.call_single_queue else None
        if ipi is not None and (not dues or ipi < min(dues)[0]):
            self.ipi()
        elif dues:
            q = min(dues)[2]
            q.dma_until(self.now)
            self.hard_irq(q)
        self.busy_until = self.now


_RUN_QUEUE = ("rx_use", "rx_head", "rx_clean", "rx_packets", "rx_missed", "total_packets")   # (jump_runs)
_RUN_CPU = ("time_squeeze", "net_rx_softirqs", "hard_irqs", "processed_rps", "dropped")
_FIRST_RUNS = 4096   # runs of equal IPI times a target first tries at once (each numpy call costs ~1 µs)


@dataclass(slots=True, eq=False)
class _IpiRuns:
    """Of an RPS target's steered skbs (times ``t``, IPI times ``ipi``), the runs of equal IPI times — one reading
    CPU's NET_RX run's skbs to it (and another's, where their IPIs leave at once) —, each with its first skb (then the
    skb count), IPI time, last skb's time and the next run's first skb's time (the largest int64 after the last)."""

    first: np.ndarray
    ipi: np.ndarray
    last: np.ndarray
    after: np.ndarray

    @classmethod
    def of(cls, t: np.ndarray, ipi: np.ndarray) -> "_IpiRuns":
        first = np.flatnonzero(ipi[1:] != ipi[:-1])
        first += 1
        first = np.concatenate(([0], first, [len(t)]))
        after = np.empty(len(first) - 1, dtype=np.int64)
        after[:-1] = t[first[1:-1]]
        after[-1] = _NEVER
        return cls(first, ipi[first[:-1]], t[first[1:] - 1], after)


def _rps_queue(target: np.ndarray, hashes: np.ndarray, reader: int) -> _RpsQueue:
    return _RpsQueue(target, hashes, _running_count(target == reader), _running_count(target < 0),
                     leaves=bool(((target >= 0) & (target != reader)).any()))


def _running_count(mask: np.ndarray) -> np.ndarray | None:
    """How many of ``mask`` are set before each index (0 .. its length), None if none is."""
    if not mask.any():
        return None
    count = np.zeros(len(mask) + 1, dtype=np.int64)
    count[1:] = mask
    return np.cumsum(count, out=count)     # (a cumsum of the bools themselves casts one by one: ten times slower)


@dataclass(slots=True, eq=False)
class _Cycle:
    """Of :meth:`_RpsCpu.rps_quiet_cycles`: the busy periods from a period start to the next in the same state,
    relative to the first. Per period start i (and the next cycle's first, i = S): its state (``index``: state → i),
    packet, time, first poll, the counters so far, the end of the period before it and the throttle timer (relative
    to its time); per period its span (``lo``, ``hi``); per poll its packets and when it looks."""

    index: dict[tuple[int, int], int]
    packet: list[int]
    time: list[int]
    poll: list[int]
    sums: list[tuple[int, ...]]
    end: list[int]
    thr: list[int]
    lo: np.ndarray
    hi: np.ndarray
    counts: np.ndarray
    starts: np.ndarray

    @classmethod
    def of(cls, marks: list[tuple], spans: list[tuple[int, int]], t: list[int], ks: list[int], looks: list[int],
           tick: int) -> "_Cycle | None":
        """The cycle from ``marks[0]`` to ``marks[-1]`` (state, packet, polls, counters, end, throttle timer) through
        ``spans``; None if a jiffy boundary falls in one of its busy periods (where the model looks at ``now``)."""
        first, p0, k0, sums0 = t[marks[0][1]], marks[0][1], marks[0][2], marks[0][3]
        lo, hi = (np.array(x, dtype=np.int64) for x in zip(*spans))
        if not _same_jiffy(lo, hi, tick):
            return None
        index: dict[tuple[int, int], int] = {}
        for i, mark in enumerate(marks[:-1]):
            index.setdefault(mark[0], i)
        return cls(index, [m[1] - p0 for m in marks], [t[m[1]] - first for m in marks], [m[2] - k0 for m in marks],
                   [tuple(a - b for a, b in zip(m[3], sums0)) for m in marks], [m[4] - t[m[1]] for m in marks],
                   [m[5] - t[m[1]] for m in marks], lo - first, hi - first,
                   np.array(ks[k0:marks[-1][2]], dtype=np.int64), np.array(looks[k0:marks[-1][2]], dtype=np.int64) - first)

    def gains(self, i: int, g: int) -> list[int]:
        """What periods i .. g - 1 (counted on through the repeats) add to each counter."""
        r, j = divmod(g, len(self.lo))
        return [r * total + b - a for total, b, a in zip(self.sums[-1], self.sums[j], self.sums[i])]

    def polls(self, i: int, g: int, at: int) -> tuple[np.ndarray, np.ndarray]:
        """The polls of periods i .. g - 1 (counted on through the repeats) of the cycle begun at ``at``: packets, looks."""
        S, per = len(self.lo), len(self.counts)
        r = g // S + 1
        a, b = self.poll[i], (g // S) * per + self.poll[g % S]
        counts, looks = np.empty((r, per), dtype=np.int64), np.empty((r, per), dtype=np.int64)
        counts[:] = self.counts
        looks[:] = self.starts
        looks += (self.time[-1] * np.arange(r, dtype=np.int64) + at)[:, None]
        return counts.ravel()[a:b], looks.ravel()[a:b]


_PERIOD_SEARCH = 8192   # arrivals _stream_period looks for a period in (it checks the rest with two numpy passes)
_PERIOD_SKIP = 64       # and the first arrivals it may leave out (arrivals() rounds k * period down: the first gaps
                        # may be a ns short of all later ones)


def _stream_period(times: np.ndarray, own: np.ndarray | None) -> tuple[int, int]:
    """The smallest L (at most half their length) and the first arrival s such that from s on the arrivals' gaps and
    which of them stay on their reading CPU (``own``'s running count, None: none) repeat every L packets to the last;
    (0, n) if none is found (among the first places in the first ``_PERIOD_SEARCH`` arrivals where their gaps from
    the ``_PERIOD_SKIP``-th on come again)."""
    n = len(times)
    if n < 4:
        return 0, n
    head = min(n, _PERIOD_SEARCH)
    sig = np.diff(times[:head]) * 2
    if own is not None:
        sig += np.diff(own[:head])
    skip = 8 * min(_PERIOD_SKIP, n // 4)               # (in bytes, as ``at``)
    data = sig.tobytes()
    block = data[skip:skip + 8 * min(64, n // 4)]      # L: where these values come again
    at = skip
    for _ in range(64):
        at = data.find(block, at + 1)
        if at < 0 or at - skip > 8 * (n // 2):
            return 0, n
        L = (at - skip) // 8
        if not at % 8 and data[at:] == data[skip:len(data) - 8 * L]:   # (the first arrivals first: one memcmp)
            first = max(_steady_from(times, L), 0 if own is None else _steady_from(own, L))
            if first < n - L:
                return L, first
    return 0, n


def _steady_from(x: np.ndarray, L: int) -> int:
    """The first i from which ``x[i + L] - x[i]`` is the same to the last (``x``'s steps repeat every L from i on)."""
    step = x[L:] - x[:-L]
    differ = np.flatnonzero(step != step[-1])
    return int(differ[-1]) + 1 if len(differ) else 0


def _same_jiffy(start: np.ndarray, end: np.ndarray, tick: int) -> bool:
    """Whether each span from ``start`` to ``end`` lies within one jiffy."""
    return bool(np.array_equal(start // tick, end // tick))


def _steered(readers: list[_RpsCpu], qs: list[_Queue], batch: int | None, costs: Costs, receivers: set[int],
             hashes: bool) -> dict[int, tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray | None]]:
    """What the reading CPUs steered to each of the ``receivers`` (to itself: its own backlog, left out): each skb's
    enqueue time (3.10: after its own ``driver_ns``; 6.12: when its GRO batch of ``batch`` went up; ``stack_ns`` more
    for each skb of its poll that went up on the reading CPU before then; with GRO's segments as recorded), its IPI
    time, its reading CPU and (with ``hashes``) its hash, sorted by (time, reading CPU, order)."""
    pieces: dict[int, list[tuple[np.ndarray, ...]]] = {}
    for r in readers:
        if r.sent:                                      # with GRO: each skb's time is recorded
            qi, packet, t = (np.array(c, dtype=np.int64) for c in zip(*r.sent))
            ipi = np.array(r.sent_ipi_at, dtype=np.int64)
        else:
            qi, first, count, start, ipi_at = r.poll_table()
            if not len(qi):
                continue
            if (not hashes and qi.min() == qi.max() and qs[int(qi[0])].rps.local is None
                    and np.array_equal(first[1:], first[:-1] + count[:-1])):
                target = qs[int(qi[0])].rps.targets(int(first[0]), int(count.sum()))   # one queue, read in order
                _steer_in_order(r.cpu, target, start, count, ipi_at, batch, costs.driver_ns, receivers, pieces)
                continue
            t, ipi = _skb_times(start, count, ipi_at, batch, costs.driver_ns)
            packet = np.repeat(first - (np.cumsum(count) - count), count) + np.arange(len(t), dtype=np.int64)
            qi = np.repeat(qi, count)                   # (packet: ring positions, then arrival indices)
            for q, m in _each_queue(qi):
                packet[m] = qs[q].rps.arrivals(packet[m])
        target = np.empty(len(t), dtype=np.int64)
        h = np.empty(len(t), dtype=np.int64) if hashes else None
        for q, m in _each_queue(qi):
            target[m] = qs[q].rps.target[packet[m]]
            if hashes:
                h[m] = qs[q].rps.hashes[packet[m]]
        if not r.sent and (target < 0).any():          # skbs that went up here before one left: stack_ns each
            t += costs.stack_ns * _up_here_before(target < 0, count, batch)
        for cpu in sorted(receivers - {r.cpu}):
            mine = np.flatnonzero(target == cpu)
            if len(mine):
                pieces.setdefault(cpu, []).append((t[mine], ipi[mine], np.full(len(mine), r.cpu, dtype=np.int8),
                                                   h[mine] if hashes else None))
    steered = {}
    for cpu, parts in pieces.items():
        if len(parts) == 1:
            steered[cpu] = parts[0]
            continue
        t, ipi, reader = (np.concatenate([p[i] for p in parts]) for i in range(3))
        k = np.lexsort((reader, t))
        steered[cpu] = t[k], ipi[k], reader[k], np.concatenate([p[3] for p in parts])[k] if hashes else None
    return steered


_NEVER = np.iinfo(np.int64).max


def _steer_in_order(reader: int, target: np.ndarray, start: np.ndarray, count: np.ndarray, ipi_at: np.ndarray,
                    batch: int | None, driver_ns: int, receivers: set[int], pieces: dict) -> None:
    """Of :func:`_steered`, one reading CPU's polls of one queue, which read its ring in order (``target``: each
    skb's CPU): each receiver's skbs (times, IPI times, reader) onto ``pieces``."""
    poll = None
    for cpu in sorted(receivers - {reader}):
        skb = np.flatnonzero(target == cpu)
        if not len(skb):
            continue
        if poll is None:
            poll = np.repeat(np.arange(len(count)), count)      # each skb's poll
            before = np.cumsum(count)
            before -= count                                     # each poll's first skb
        p = poll[skb]
        skb -= before[p]                                        # each skb's place in its poll
        t = _enqueued(skb, count[p], batch)
        t *= driver_ns
        t += start[p]
        pieces.setdefault(cpu, []).append((t, ipi_at[p], np.full(len(t), reader, dtype=np.int8), None))


def _enqueued(place: np.ndarray, count: np.ndarray, batch: int | None) -> np.ndarray:
    """How many packets of its poll (of ``count``) the driver had read when each skb (at ``place`` in it, changed
    in place) was enqueued: 3.10 up to itself; 6.12 up to the end of its GRO batch of ``batch`` (``gro_normal_one``),
    or of the poll (``napi_complete_done``'s ``gro_normal_list``)."""
    if batch is None:
        place += 1
        return place
    place //= batch
    place += 1
    place *= batch
    return np.minimum(place, count, out=place)


def _skb_times(start: np.ndarray, count: np.ndarray, ipi_at: np.ndarray, batch: int | None,
               driver_ns: int) -> tuple[np.ndarray, np.ndarray]:
    """Each skb of polls that read ``count`` packets from ``start`` on and sent their IPIs at ``ipi_at``: when it was
    enqueued (:func:`_enqueued`, ``driver_ns`` a packet) and when its IPI left."""
    before = np.cumsum(count) - count
    j = np.arange(int(before[-1] + count[-1]), dtype=np.int64)
    j -= np.repeat(before, count)                       # each skb's place in its poll
    j = _enqueued(j, np.repeat(count, count), batch)
    j *= driver_ns
    j += np.repeat(start, count)
    return j, np.repeat(ipi_at, count)


def _up_here_before(here: np.ndarray, count: np.ndarray, batch: int | None) -> np.ndarray:
    """Each skb of polls that read ``count`` packets (``here``: those that went up on the reading CPU): how many of
    its poll went up there before it was enqueued (:func:`_enqueued`)."""
    before = np.repeat(np.cumsum(count) - count, count)
    done = _enqueued(np.arange(len(here)) - before, np.repeat(count, count), batch)
    went_up = np.concatenate(([0], np.cumsum(here)))
    return went_up[before + done] - went_up[before]


def _learn_cycles(cycles: dict, trail: list[tuple], keys: list[tuple | None]) -> None:
    """Of :meth:`_RpsCpu.reader_turns`: ``trail`` holds the state after each turn, from one in state ``keys[0]`` to
    the next turn in that state (``keys``: each one's, None where a cycle may not start); so each turn of it begins
    the same cycle, turned round. Learn each, as steps since its start: the clock, arrivals and budget it moved on,
    counters (read: relative to its start), the last arrival looked at so far, the throttle timer (relative), the
    IRQ's, NAPIs' and backlog's states, poll_list."""
    L, x0, xL = len(trail) - 1, trail[0], trail[-1]
    T, P = xL[0] - x0[0], xL[1] - x0[1]
    delta = [b - a for a, b in zip(x0[:9], xL[:9])] + [P, T]   # (the throttle timer: T later, where it matters)
    ext = list(trail)
    for x in trail[1:L]:                                    # the turns after the last: the same again, T later
        y = [v + d for v, d in zip(x, delta)]
        y[6] += T * (x[3] - x0[3])                          # (each packet of them read T later)
        ext.append((*y, *x[11:]))
    for i, key in enumerate(keys[:L]):
        if key is None or key in cycles:
            continue
        s0, reach = ext[i], 0                               # (reach: the last arrival looked at so far)
        cycles[key] = [(x[0] - s0[0], x[1] - s0[1], s0[2] - x[2], x[3] - s0[3], x[4] - s0[4], x[5] - s0[5],
                        x[6] - s0[6] - (x[3] - s0[3]) * s0[0], x[7] - s0[7], x[8] - s0[8],
                        reach := max(reach, x[9] - s0[1]), x[10] - x[0], *x[11:]) for x in ext[i + 1:i + L + 1]]


def _each_queue(qi: np.ndarray) -> list[tuple[int, np.ndarray | slice]]:
    """Each queue in ``qi`` (one per skb) and which skbs are its."""
    if qi.min() == qi.max():
        return [(int(qi[0]), slice(None))]
    return [(q, qi == q) for q in np.flatnonzero(np.bincount(qi)).tolist()]


@check.arguments
def simulate(times_ns: np.ndarray, queue_of_packet: np.ndarray | None = None, *,
             profile: str | KernelProfile = "6.12", cpus: check.Cpus = 1, queues: int = 1, ring_size: int | None = None,
             affinity: Sequence[int] | None = None, costs: Costs | None = None,
             segments: TcpSegments | None = None, rx_usecs: int = 0, length: int = 64,
             rps_cpus: Sequence[Sequence[int]] | None = None, hash_of_packet: np.ndarray | None = None,
             flow_limit_cpus: Sequence[int] = (), rps_sock_flow_entries: int = 0, rps_flow_cnt: int = 0,
             read_on: Mapping[int, int] | None = None) -> Summary:
    """Run arrivals (``times_ns``, sorted, int64) on queues ``queue_of_packet`` (default all on queue 0) through
    rings, IRQs (moderated as ``ethtool -C rx-usecs`` says), NAPI and softirqs; same parameters and same
    :class:`Summary` as :class:`netlab.scenarios.receive.Host`. ``segments`` (:func:`tcp_segments`) makes them TCP
    segments GRO may merge; without it every packet is GRO_NORMAL: UDP, of ``length`` bytes (the IP packet, as
    ``Packet.length``; adaptive moderation counts bytes). With RPS (``rps_cpus``) give each packet's RSS hash
    (``hash_of_packet``, :func:`rss_hashes`; with ``segments`` it is ``segments.rxhash``, the default);
    ``flow_limit_cpus`` (6.12) as ``Host``'s. RFS: ``rps_sock_flow_entries`` and ``rps_flow_cnt`` as ``Host``'s, and
    ``read_on`` (flow hash → CPU, in the order the flows were read): where each flow's reader read it once before the
    traffic (``sock_rps_record_flow``; a later flow of the same ``rps_sock_flow_table`` bucket overwrites an earlier
    one), so the table stays as it is during the run; give ``hash_of_packet`` too. Not here (``Host`` has them): a CPU
    skbs are steered to from another CPU's queue that has NIC queues of its own (so no CPU both reads and is steered
    to), a flow-limited reading CPU that steers to more than one CPU, two flows of one ``rps_dev_flow`` entry that
    want different CPUs (:func:`get_rps_cpus`), readers that move during the run."""
    p = get_profile(profile) if isinstance(profile, str) else profile
    if not isinstance(p, KernelProfile):
        raise TypeError("profile must be '3.10', '6.12' or a KernelProfile (e.g. netlab.this_machine())")
    costs = costs if costs is not None else Costs()
    if not isinstance(costs, Costs):
        raise TypeError("costs must be a netlab.kernel.cpu.Costs")
    if not isinstance(cpus, int) or not 1 <= cpus <= 64:
        raise ValueError(f"cpus must be an int in 1..64, got {cpus!r}")
    igb_indirection_table(queues)  # checks the queue count
    itr_setting = rx_itr_setting(rx_usecs)
    if not isinstance(length, int) or not IP_HLEN + UDP_HLEN <= length <= 9000:
        raise ValueError(f"length (IP packet, headers included) must be an int in {IP_HLEN + UDP_HLEN}..9000 bytes, "
                         f"got {length!r}")
    ring = p.rx_ring_size if ring_size is None else ring_size
    if not isinstance(ring, int) or not IGB_MIN_RXD <= ring <= IGB_MAX_RXD or ring % 8:
        raise ValueError(f"ring_size must be {IGB_MIN_RXD}..{IGB_MAX_RXD} in multiples of 8, got {ring!r}")
    affinity = list(affinity) if affinity is not None else [q % cpus for q in range(queues)]
    if len(affinity) != queues or any(not isinstance(a, int) or not 0 <= a < cpus for a in affinity):
        raise ValueError(f"affinity must give a CPU in 0..{cpus - 1} for each of the {queues} queues")
    times = np.asarray(times_ns)
    if times.ndim != 1 or (times.size and (times.dtype.kind not in "iu" or times[0] < 0)):
        raise ValueError("times_ns must be a 1-d array of int ns >= 0")
    times = times.astype(np.int64, copy=False)
    if times.size > 1 and not np.all(times[1:] >= times[:-1]):
        raise ValueError("times_ns must be sorted")
    if queue_of_packet is None:
        per_queue = [times if q == 0 else times[:0] for q in range(queues)]
    else:
        queue_of_packet = np.asarray(queue_of_packet)
        if queue_of_packet.shape != times.shape or (times.size and (queue_of_packet.min() < 0 or
                                                                    queue_of_packet.max() >= queues)):
            raise ValueError(f"queue_of_packet must give a queue in 0..{queues - 1} for each arrival")
        per_queue = [times[queue_of_packet == q] for q in range(queues)]
    if segments is not None and (not isinstance(segments, TcpSegments) or len(segments.flow) != times.size):
        raise ValueError("segments must be TcpSegments with one entry per arrival (tcp_segments)")
    if segments is not None and itr_setting & 3:
        raise ValueError("adaptive moderation (rx_usecs 1 or 3) of TCP segments is not in the load model: use "
                         "rx_usecs 0 or a fixed interval, or the step model (Host)")
    itr_val = IGB_START_ITR if itr_setting in (1, 3) else itr_setting   # kernel.nic.Nic: igb_alloc_q_vector
    qs = [_Queue(q, _Feed(arr), rx_use=ring - 1, itr_val=itr_val, eitr_ns=_eitr_ns(itr_val))
          for q, arr in enumerate(per_queue)]
    maps = rps_maps(rps_cpus, queues, cpus)
    fls = flow_limits(flow_limit_cpus, cpus, p)
    rfs = rfs_tables(rps_sock_flow_entries, rps_flow_cnt, cpus, p)
    if read_on is not None and not (isinstance(read_on, Mapping) and set(map(type, read_on)) <= {int}
                                    and set(map(type, read_on.values())) <= {int}
                                    and (not read_on or 0 <= min(read_on) and max(read_on) < 1 << 32
                                         and 0 <= min(read_on.values()) and max(read_on.values()) < cpus)):
        raise ValueError(f"read_on must map u32 flow hashes to CPUs in 0..{cpus - 1}, got {read_on!r}")
    if read_on and rfs[0] is not None:
        rfs[0].record_flows(read_on)                    # sock_rps_record_flow, in the order the flows were read
    steering = [bool(m) or bool(rfs[1]) for m in maps]   # get_rps_cpu's first test: a map or a flow table
    for q in qs if segments is not None else ():
        mine = segments.take(queue_of_packet == q.index) if queue_of_packet is not None else segments
        if len(q.feed.arr) and (np.any(mine.flow >= 0) or steering[q.index]):  # UDP, no RPS: no GRO state needed
            q.gro = _Gro(mine, p, costs)
    settings = (p, costs, ring, itr_setting, queues, ETH_HLEN + length)   # every CPU's, after its queues
    if not any(steering):
        per_cpu = [_Cpu([q for q in qs if affinity[q.index] == c], *settings) for c in range(cpus)]
        for cpu in per_cpu:
            cpu.run()
    else:
        if segments is not None and hash_of_packet is None:
            hash_of_packet = segments.rxhash
        if segments is not None and not np.array_equal(hash_of_packet, segments.rxhash):
            raise ValueError("with segments, hash_of_packet must be segments.rxhash (an skb has one hash, skb->hash)")
        per_cpu = _simulate_rps(qs, maps, affinity, times, queue_of_packet, hash_of_packet, settings, cpus, fls, rfs)
    skbs_of = [[q.rx_packets - (q.gro.merged if q.gro is not None else 0) for q in c.queues] for c in per_cpu]
    read_ns = sum(q.read_ns + q.dropped_ns + (q.gro.read_ns if q.gro is not None else 0) for q in qs)
    rps = [c if isinstance(c, _RpsCpu) else None for c in per_cpu]
    return Summary(arrived=int(times.size), delivered=sum(q.rx_packets for q in qs),
                   ring_drops=sum(q.rx_missed for q in qs), time_squeeze=[c.time_squeeze for c in per_cpu],
                   backlog_drops=[r.dropped if r else 0 for r in rps],
                   processed=[sum(skb for q, skb in zip(c.queues, skbs) if q.rps is None)
                              + (r.processed_rps if r else 0) for c, r, skbs in zip(per_cpu, rps, skbs_of)],
                   busy_ns=[c.busy_ns for c in per_cpu], elapsed_ns=max(c.now for c in per_cpu),
                   net_rx_softirqs=[c.net_rx_softirqs for c in per_cpu], hard_irqs=[c.hard_irqs for c in per_cpu],
                   gro_skbs=[sum(skbs) for skbs in skbs_of], latency_ns=read_ns - int(times.sum()),
                   received_rps=[r.received_rps if r else 0 for r in rps],
                   flow_limit_count=[fls[c].count if c in fls else 0 for c in range(cpus)])


def _simulate_rps(qs: list[_Queue], maps: list[tuple[int, ...]], affinity: list[int], times: np.ndarray,
                  queue_of_packet: np.ndarray | None, hash_of_packet: np.ndarray | None, settings: tuple,
                  cpus: int, fls: dict[int, SdFlowLimit],
                  rfs: tuple[RpsSockFlowTable | None, int]) -> list[_Cpu]:
    """:func:`simulate` with RPS: the CPUs that take in no steered skb first (among them the reading CPUs, which
    record what they steer), then the others with what was steered to them. ``settings``: every CPU's arguments
    after its queues (profile, costs, ring size, the NIC's ITR setting, queue count and frame size); ``fls``: the
    flow limits, by CPU; ``rfs``: RFS's sock flow table, its flows recorded, and each queue's ``rps_flow_cnt``."""
    p, costs = settings[0], settings[1]
    if hash_of_packet is None or np.shape(hash_of_packet) != times.shape:
        raise ValueError("with rps_cpus or RFS give hash_of_packet: each packet's RSS hash (rss_hashes), one per "
                         "arrival")
    hashes = np.asarray(hash_of_packet).astype(np.uint64)
    if hashes.size and hashes.max() >= 1 << 32:
        raise ValueError("hash_of_packet holds u32 hashes (0 .. 2**32 - 1)")
    hashes = hashes.view(np.int64)
    if p.dev_weight != _NAPI_WEIGHT:
        raise ValueError(f"the load model's RPS needs dev_weight {_NAPI_WEIGHT} (the backlog's weight), got "
                         f"{p.dev_weight}")
    if not costs.net_rx_action_ns + costs.poll_ns + costs.driver_ns:
        raise ValueError("the load model's RPS needs net_rx_action_ns + poll_ns + driver_ns > 0 (a steered skb "
                         "leaves after its reading CPU's run began)")
    steered_to: dict[int, set[int]] = {}               # reading CPU → the CPUs its skbs go to (itself too)
    for q, m in enumerate(maps):
        if m or rfs[1]:
            h = hashes if queue_of_packet is None else hashes[np.asarray(queue_of_packet) == q]
            if queue_of_packet is None and q:
                h = h[:0]
            target = get_rps_cpus(h, m, cpus, *rfs)
            steered_to.setdefault(affinity[q], set()).update(np.flatnonzero(np.bincount(target + 1)[1:]).tolist())
            qs[q].rps = _rps_queue(target, h, affinity[q])
            if qs[q].gro is not None:
                qs[q].gro.steer(target)
    readers = set(steered_to)
    receivers = {c for r, cs in steered_to.items() for c in cs if c != r}
    if both := sorted(receivers & set(affinity)):
        many = len(both) > 1
        raise ValueError(f"CPU{'s' if many else ''} {', '.join(map(str, both))} {'have' if many else 'has'} NIC "
                         f"queues of {'their' if many else 'its'} own and would take in steered skbs too: the load "
                         "model cannot do that exactly yet (netlab.scenarios.receive.Host can)")
    per_cpu: list[_Cpu] = [
        (_RpsCpu if c in readers | receivers else _Cpu)([q for q in qs if affinity[q.index] == c], *settings)
        for c in range(cpus)]
    for r in readers & fls.keys():
        if len(steered_to[r]) > 1:
            raise ValueError(f"CPU {r} has a flow limit and steers to CPUs {sorted(steered_to[r])}: the load model's "
                             "flow limit needs each such CPU to steer to one CPU (netlab.scenarios.receive.Host can do "
                             "any)")
    for c, cpu in enumerate(per_cpu):
        if isinstance(cpu, _RpsCpu):
            cpu.cpu = c
            cpu.flow_limit = fls.get(c) if c in readers else None
        if c not in receivers:                          # the CPUs that steer first
            cpu.run()
    limited = any(per_cpu[r].flow_limit is not None for r in readers)
    steered = _steered([c for c in per_cpu if isinstance(c, _RpsCpu)], qs, p.gro_normal_batch, costs, receivers,
                       limited)
    for c in sorted(receivers):
        cpu = per_cpu[c]
        if c in steered:
            t, ipi, readers_of, hashes_of = steered[c]
            cpu.steered, cpu.steered_ipi, cpu.steered_hash = _Feed(t), ipi, hashes_of
            if limited and any(per_cpu[r].flow_limit is not None
                               for r in np.flatnonzero(np.bincount(readers_of)).tolist()):
                cpu.steered_fl = [per_cpu[r].flow_limit for r in readers_of.tolist()]
        cpu.run()
    return per_cpu


@check.arguments
def run(rate_pps: float, n: int = 20_000, *, burst: int = 1, jitter: bool = False, seed: int = 0,
        flows: int = 256, queues: int = 1, cpus: check.Cpus | None = None, ring_size: int | None = None,
        netdev_budget: int | None = None, netdev_budget_usecs: int | None = None,
        profile: str | KernelProfile = "6.12", costs: Costs | None = None, tcp: bool = False, mss: int = 1448,
        push_every: int = 0, rx_usecs: int = 0, length: int = 64, rps_cpus: Sequence[int] | None = None,
        flow_limit_cpus: Sequence[int] = (), rfs_cpus: Sequence[int] | None = None,
        rps_sock_flow_entries: int = 32768, rps_flow_cnt: int | None = None) -> Summary:
    """One experiment: ``n`` UDP packets of ``length`` bytes and ``flows`` flows (round robin) at ``rate_pps`` in
    bursts of ``burst``, RSS over ``queues`` queues, queue q's IRQ on CPU q (``cpus`` defaults to ``queues``),
    interrupts moderated by ``rx_usecs`` (``ethtool -C``), RPS over ``rps_cpus`` on every queue (default off), the
    flow limit on ``flow_limit_cpus``; sysctls override the profile's. With ``tcp`` they are bulk TCP segments of
    ``mss`` bytes, PSH on every ``push_every``-th of a flow (:func:`tcp_segments`), which GRO merges. RFS (default
    off): flow i is read on CPU ``rfs_cpus[i % len(rfs_cpus)]`` before the traffic starts, with
    ``rps_sock_flow_entries`` (32768) and each queue's ``rps_flow_cnt`` (default ``rps_sock_flow_entries / queues``),
    the values Documentation/networking/scaling.rst suggests."""
    p = get_profile(profile) if isinstance(profile, str) else profile
    changes = {k: v for k, v in (("netdev_budget", netdev_budget), ("netdev_budget_usecs", netdev_budget_usecs))
               if v is not None}
    if any(not isinstance(v, int) or v < 0 for v in changes.values()):
        raise ValueError(f"sysctls must be ints >= 0, got {changes}")
    p = p.replace(**changes) if changes else p
    if not isinstance(flows, int) or not 1 <= flows <= 65535 - 1024:
        raise ValueError(f"flows must be an int in 1..64511, got {flows!r}")
    times = arrivals(rate_pps, n, burst=burst, jitter=jitter, seed=seed)
    sports = 1024 + np.arange(flows)
    flow_hash = rss_hashes(["10.0.0.1"] * flows, ["10.0.0.2"] * flows, sports, [80] * flows)
    flow_queue = np.array(igb_indirection_table(queues))[(flow_hash & (IGB_RETA_SIZE - 1)).astype(np.intp)]
    flow_of_packet = np.arange(n) % flows       # flows round robin
    queue_of_packet = flow_queue[flow_of_packet]
    segments = tcp_segments(flow_of_packet, flow_hash, mss=mss, push_every=push_every) if tcp else None
    if isinstance(rps_cpus, (str, bytes)):
        raise ValueError(f"rps_cpus must be a list of CPUs, got {rps_cpus!r}")
    rps = dict(rps_cpus=[list(rps_cpus)] * queues, hash_of_packet=flow_hash[flow_of_packet]) if rps_cpus else {}
    if isinstance(rfs_cpus, (str, bytes)) or rfs_cpus is not None and not len(rfs_cpus):
        raise ValueError(f"rfs_cpus must be None or a non-empty list of CPUs, got {rfs_cpus!r}")
    if rfs_cpus is not None:
        rps.update(hash_of_packet=flow_hash[flow_of_packet], rps_sock_flow_entries=rps_sock_flow_entries,
                   rps_flow_cnt=rps_sock_flow_entries // queues if rps_flow_cnt is None else rps_flow_cnt,
                   read_on={int(h): rfs_cpus[i % len(rfs_cpus)] for i, h in enumerate(flow_hash.tolist())})
    return simulate(times, queue_of_packet, profile=p, cpus=cpus or queues, queues=queues, ring_size=ring_size,
                    costs=costs, segments=segments, rx_usecs=rx_usecs, length=length, flow_limit_cpus=flow_limit_cpus,
                    **rps)


@check.arguments
def sweep(parameter: str, values: Sequence, **base) -> list[Summary]:
    """:func:`run` once per value of ``parameter`` (e.g. ``sweep("rate_pps", [1e6, 2e6], n=5000)``)."""
    allowed = {"rate_pps", "n", "burst", "flows", "queues", "cpus", "ring_size", "netdev_budget",
               "netdev_budget_usecs", "jitter", "seed", "tcp", "mss", "push_every", "rx_usecs", "length"}
    if parameter not in allowed:
        raise ValueError(f"parameter must be one of {sorted(allowed)}, got {parameter!r}")
    if not values:
        raise ValueError("give at least one value to sweep")
    base.setdefault("rate_pps", 1e6)
    return [run(**{**base, parameter: v}) for v in values]
