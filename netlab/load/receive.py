"""The receive path under load: millions of packets through rings, NAPI and softirqs in well under a second.

:func:`simulate` computes exactly what ``netlab.scenarios.receive.Host`` does with the same arrivals — ring drops,
``time_squeeze``, hard IRQs, NET_RX runs, CPU time per context, ksoftirqd — but without sk_buffs or traces: the
state is a few integers per queue and CPU. It follows the step model rule for rule (the tests compare the two on
random inputs), with these shortcuts that cannot change a result:

* CPUs are simulated one after another: without RPS a CPU's work depends only on the queues whose IRQ points at
  it.
* The driver cleans a run of ready descriptors in one step instead of one at a time, and the NIC's writes are
  counted with a binary search over the arrival times (numpy arrays, read through small list windows); both give
  the same numbers as the step model because an RX ring's free space only changes when the driver refills it.
* Nothing above the driver is modelled (its cost is in ``Costs.packet_ns``): sockets and netfilter never change
  the timing.

:func:`arrivals` makes arrival times (rate, bursts, optional random jitter) and :func:`rss_queues` maps flows to
queues with the Toeplitz hash, vectorised.
"""
from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from netlab import check
from netlab.kernel.cpu import Costs
from netlab.kernel.nic import (IGB_MAX_RXD, IGB_MIN_RXD, IGB_RETA_SIZE, IGB_RX_BUFFER_WRITE, RSS_KEY,
                               igb_indirection_table)
from netlab.kernel.profiles import KernelProfile, profile as get_profile

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
    hard_irqs: list[int]

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
    return np.array([int.from_bytes(bytes(int(p) for p in a.split(".")), "big") for a in addresses], dtype=np.uint64)


@check.arguments
def rss_queues(saddr: Sequence[str], daddr: Sequence[str], sport: Sequence[int], dport: Sequence[int],
               num_queues: int, key: bytes = RSS_KEY) -> np.ndarray:
    """The RX queue of each flow: Toeplitz hash of the 12-byte tuple (one table lookup per input byte), low 7
    bits → igb's indirection table."""
    table = np.array(igb_indirection_table(num_queues))
    data = [_ipv4(saddr), _ipv4(daddr), np.asarray(sport, dtype=np.uint64), np.asarray(dport, dtype=np.uint64)]
    if len({len(d) for d in data}) != 1:
        raise ValueError("saddr, daddr, sport and dport must have the same length")
    if len(key) != 40:
        raise ValueError("key must be 40 bytes")
    k = int.from_bytes(key, "big")
    window = [(k >> (320 - 32 - i)) & 0xFFFFFFFF for i in range(96)]
    h = np.zeros(len(data[0]), dtype=np.uint64)
    byte = 0
    for values, nbytes in zip(data, (4, 4, 2, 2)):
        for j in range(nbytes):
            lut = np.zeros(256, dtype=np.uint64)
            for v in range(256):
                acc = 0
                for b in range(8):
                    if v & (0x80 >> b):
                        acc ^= window[byte * 8 + b]
                lut[v] = acc
            h ^= lut[((values >> np.uint64(8 * (nbytes - 1 - j))) & np.uint64(0xFF)).astype(np.intp)]
            byte += 1
    return table[(h & np.uint64(IGB_RETA_SIZE - 1)).astype(np.intp)]


# --- the simulation ---------------------------------------------------------------------------------------------------
class _Feed:
    """Arrival times of one queue, consumed in time order; bisect over a list window of the numpy array."""

    __slots__ = ("arr", "n", "pos", "win", "base")

    def __init__(self, arr: np.ndarray):
        self.arr, self.n, self.pos, self.base = arr, len(arr), 0, 0
        self.win: list[int] = arr[:_WINDOW].tolist()

    def take_until(self, t: int) -> int:
        """Consume every arrival at or before ``t``; return how many."""
        start = self.pos
        while True:
            j = bisect_right(self.win, t, self.pos - self.base)
            if j < len(self.win) or self.base + j >= self.n:
                self.pos = self.base + j
                return self.pos - start
            self.base += j
            self.pos = self.base
            self.win = self.arr[self.base:self.base + _WINDOW].tolist()

    def skip(self, m: int) -> None:
        """Consume the next ``m`` arrivals (handled in bulk)."""
        self.pos += m
        if self.pos - self.base >= len(self.win):
            self.base = self.pos
            self.win = self.arr[self.base:self.base + _WINDOW].tolist()

    def first(self) -> int | None:
        """Time of the next arrival not yet consumed."""
        if self.pos >= self.n:
            return None
        if self.pos - self.base >= len(self.win):
            self.base = self.pos
            self.win = self.arr[self.base:self.base + _WINDOW].tolist()
        return self.win[self.pos - self.base]


class _Queue:
    __slots__ = ("index", "feed", "use", "head", "clean", "irq_enabled", "asserted", "sched", "drops", "packets")

    def __init__(self, index: int, times: np.ndarray, ring_size: int):
        self.index, self.feed = index, _Feed(times)
        self.use, self.head, self.clean = ring_size - 1, 0, 0
        self.irq_enabled, self.asserted, self.sched = True, None, False
        self.drops = self.packets = 0

    def dma(self, t: int) -> None:
        """The NIC writes every arrival up to ``t`` into free descriptors; the rest are dropped."""
        feed = self.feed
        first = feed.first() if (self.irq_enabled and self.asserted is None) else None
        k = feed.take_until(t)
        if k:
            accepted = min(k, self.use - self.head)
            self.head += accepted
            self.drops += k - accepted
            if accepted and first is not None:
                self.asserted = first

    def next_irq(self) -> int | None:
        if not self.irq_enabled:
            return None
        return self.asserted if self.asserted is not None else self.feed.first()


def _simulate_cpu(queues: list[_Queue], p: KernelProfile, c: Costs, ring_size: int) -> dict:
    """One CPU and the queues whose IRQ points at it, as netlab.scenarios.receive.Host runs them."""
    tick = 1_000_000_000 // p.hz
    hz = p.hz
    budget_jiffies = -(-p.netdev_budget_usecs * hz // 1_000_000)
    softirq_jiffies = -(-p.max_softirq_time_us * hz // 1_000_000)
    max_restart, netdev_budget, repoll_list = p.max_softirq_restart, p.netdev_budget, p.napi_repoll_list
    hardirq_ns, rx_ns, poll_ns, packet_ns = c.hardirq_ns, c.net_rx_action_ns, c.poll_ns, c.packet_ns
    st = {"now": 0, "pending": False, "hardirq": 0, "softirq": 0, "ksoftirqd": False, "on_cpu": False,
          "in_rx": False, "squeeze": 0, "net_rx": 0, "irqs": 0}
    busy = dict.fromkeys(_CONTEXTS, 0)
    poll_list: list[_Queue] = []
    write = IGB_RX_BUFFER_WRITE

    def schedule(q: _Queue) -> None:  # napi_schedule → ____napi_schedule
        if q.sched:
            return
        q.sched = True
        poll_list.append(q)
        if not repoll_list or not st["in_rx"]:
            st["pending"] = True
            if repoll_list and not (st["hardirq"] or st["softirq"]) and not st["ksoftirqd"]:
                st["ksoftirqd"] = True  # raise_softirq_irqoff outside interrupt: wakeup_softirqd

    def hard_irq(q: _Queue) -> None:
        st["hardirq"] += 1
        st["now"] += hardirq_ns
        busy["hardirq"] += hardirq_ns
        st["irqs"] += 1
        q.irq_enabled, q.asserted = False, None
        schedule(q)
        st["hardirq"] -= 1
        if not (st["hardirq"] or st["softirq"]) and st["pending"]:
            handle_softirqs("softirq")

    def irq_window() -> None:
        while True:
            best = None
            for q in queues:
                q.dma(st["now"])
                t = q.next_irq()
                if t is not None and t <= st["now"] and (best is None or (t, q.index) < best[:2]):
                    best = (t, q.index, q)
            if best is None:
                return
            hard_irq(best[2])

    def clean_rx(q: _Queue, ctx: str) -> int:  # igb_clean_rx_irq
        cleaned_count = ring_size - 1 - (q.use - q.clean)
        total = 0
        now = st["now"]
        while total < _NAPI_WEIGHT:
            q.dma(now)  # (a second look at the same time would find nothing new)
            if cleaned_count >= write:
                q.use += cleaned_count
                cleaned_count = 0
            avail = q.head - q.clean
            if not avail:
                break
            k = min(avail, _NAPI_WEIGHT - total, write - cleaned_count)
            q.clean += k
            cleaned_count += k
            total += k
            now += k * packet_ns
        busy[ctx] += now - st["now"]
        st["now"] = now
        if cleaned_count:
            q.dma(now)
            q.use += cleaned_count
        q.packets += total
        return total

    def poll(q: _Queue, ctx: str) -> int:  # igb_poll (+ napi_complete_done, igb_ring_irq_enable)
        st["now"] += poll_ns
        busy[ctx] += poll_ns
        cleaned = clean_rx(q, ctx)
        if cleaned >= _NAPI_WEIGHT:
            return _NAPI_WEIGHT
        if q in poll_list:
            poll_list.remove(q)
        q.sched = False
        q.dma(st["now"])
        q.irq_enabled = True
        if q.head - q.clean:
            q.asserted = st["now"]
        return cleaned

    def net_rx_action(ctx: str) -> None:
        st["now"] += rx_ns
        busy[ctx] += rx_ns
        time_limit = st["now"] // tick + budget_jiffies
        budget = netdev_budget
        if not repoll_list:
            while poll_list:
                if budget <= 0 or st["now"] // tick >= time_limit:
                    st["squeeze"] += 1
                    st["pending"] = True
                    return
                n = poll_list[0]
                work = poll(n, ctx)
                budget -= work
                if work == _NAPI_WEIGHT:
                    poll_list.remove(n)
                    poll_list.append(n)
                irq_window()
            return
        todo: list[_Queue] = []
        repoll: list[_Queue] = []
        while True:
            st["in_rx"] = True
            todo.extend(poll_list)
            poll_list.clear()
            squeezed = False
            while todo:
                n = todo.pop(0)
                work = poll(n, ctx)
                if work == _NAPI_WEIGHT:
                    repoll.append(n)
                budget -= work
                irq_window()
                if budget <= 0 or st["now"] // tick >= time_limit:
                    st["squeeze"] += 1
                    squeezed = True
                    break
            if not squeezed and not repoll:
                st["in_rx"] = False
                if poll_list:
                    continue
                return
            break
        rest = todo + poll_list + repoll
        poll_list[:] = rest
        if poll_list:
            st["pending"] = True
        else:
            st["in_rx"] = False

    def handle_softirqs(ctx: str) -> None:
        end = st["now"] // tick + softirq_jiffies
        restart = max_restart
        pending = st["pending"]
        st["softirq"] += 1
        while True:
            st["pending"] = False
            irq_window()
            if pending:
                st["net_rx"] += 1
                net_rx_action(ctx)
            pending = st["pending"]
            if not pending:
                break
            restart -= 1
            if st["now"] // tick < end and restart:
                continue
            st["ksoftirqd"] = True
            break
        st["softirq"] -= 1

    t_iso = hardirq_ns + rx_ns + poll_ns + packet_ns
    bulk = len(queues) == 1 and netdev_budget > _NAPI_WEIGHT and budget_jiffies >= 1
    max_quiet = min(_NAPI_WEIGHT - 1, ring_size - 1 - IGB_RX_BUFFER_WRITE)

    def isolated_packets() -> None:
        """Packets that each find the CPU idle and leave before the next one arrives are handled in bulk: each
        costs one IRQ, one NET_RX run, one poll of one packet (6.12 may squeeze on a tick boundary)."""
        q = queues[0]
        feed = q.feed
        size = 64
        while True:
            if feed.pos + 1 < feed.n and feed.arr[feed.pos + 1] - feed.arr[feed.pos] <= t_iso:
                return
            chunk = feed.arr[feed.pos:feed.pos + size + 1]
            size = min(size * 4, 65536)
            if len(chunk) == 0 or chunk[0] < st["now"]:
                return
            ok = np.diff(chunk) > t_iso
            if feed.pos + len(chunk) == feed.n:
                ok = np.append(ok, True)
            m = len(ok) if ok.all() else int(np.argmin(ok))
            if m == 0:
                return
            run = chunk[:m]
            if repoll_list:
                st["squeeze"] += int(np.count_nonzero((run + t_iso) // tick >= (run + hardirq_ns + rx_ns) // tick
                                                      + budget_jiffies))
            st["now"] = int(run[-1]) + t_iso
            busy["hardirq"] += m * hardirq_ns
            busy["softirq"] += m * (rx_ns + poll_ns + packet_ns)
            st["irqs"] += m
            st["net_rx"] += m
            q.packets += m
            q.use += m
            q.head += m
            q.clean += m
            feed.skip(m)
            if m < len(ok):
                return

    def quiet_cycles() -> None:
        """Busy periods where every poll empties the ring with fewer than 64 packets: IRQ at the first arrival,
        then one NET_RX run whose single poll cleans each packet that has arrived by the time it looks, then the
        IRQ is unmasked and the CPU idles until the next arrival. Stops (leaving the rest to the general code)
        at a poll of 64 packets or a ring that might fill."""
        q = queues[0]
        feed = q.feed
        arr, n = feed.arr, feed.n
        pos, now = feed.pos, st["now"]
        win, base = feed.win, feed.base
        head_cost = hardirq_ns + rx_ns + poll_ns
        cycles = packets = squeezes = 0
        while pos < n:
            if pos - base + max_quiet + 1 > len(win):
                base = pos
                win = arr[base:base + _WINDOW].tolist()
            s0 = win[pos - base]
            if s0 < now:
                break
            check = s0 + head_cost
            k, i, last = 0, pos - base, len(win)
            while k <= max_quiet and i < last and win[i] <= check:
                k += 1
                i += 1
                check += packet_ns
            if k > max_quiet:
                break
            now = check
            if repoll_list and now // tick >= (s0 + hardirq_ns + rx_ns) // tick + budget_jiffies:
                squeezes += 1
            pos += k
            cycles += 1
            packets += k
        if not cycles:
            return
        feed.win, feed.base = win, base
        feed.skip(pos - feed.pos)
        st["now"] = now
        st["squeeze"] += squeezes
        st["irqs"] += cycles
        st["net_rx"] += cycles
        busy["hardirq"] += cycles * hardirq_ns
        busy["softirq"] += cycles * (rx_ns + poll_ns) + packets * packet_ns
        q.packets += packets
        q.use += packets
        q.head += packets
        q.clean += packets

    while True:
        if bulk:
            q0 = queues[0]
            if (not st["ksoftirqd"] and not st["pending"] and not st["in_rx"] and q0.irq_enabled
                    and q0.asserted is None and q0.head == q0.clean and not q0.sched):
                isolated_packets()
                quiet_cycles()
        irq_at = None
        for q in queues:
            t = q.next_irq()
            if t is not None and (irq_at is None or t < irq_at):
                irq_at = t
        if irq_at is not None:
            irq_at = max(irq_at, st["now"])
        if st["ksoftirqd"] and (irq_at is None or irq_at > st["now"]):
            if not st["on_cpu"]:
                st["now"] += c.ksoftirqd_switch_ns
                busy["ksoftirqd"] += c.ksoftirqd_switch_ns
                st["on_cpu"] = True
            if st["pending"]:
                handle_softirqs("ksoftirqd")
            if not st["pending"]:
                st["ksoftirqd"] = False
                st["on_cpu"] = False
        elif irq_at is not None:
            st["now"] = irq_at
            q = min((q for q in queues if q.next_irq() is not None), key=lambda q: (q.next_irq(), q.index))
            q.dma(st["now"])
            hard_irq(q)
        else:
            break
    return {"now": st["now"], "squeeze": st["squeeze"], "net_rx": st["net_rx"], "irqs": st["irqs"], "busy": busy}


@check.arguments
def simulate(times_ns: np.ndarray, queue_of_packet: np.ndarray | None = None, *,
             profile: str | KernelProfile = "6.12", cpus: check.Cpus = 1, queues: int = 1, ring_size: int | None = None,
             affinity: Sequence[int] | None = None, costs: Costs | None = None) -> Summary:
    """Run arrivals (``times_ns``, sorted, int64) on queues ``queue_of_packet`` (default all on queue 0) through
    rings, IRQs, NAPI and softirqs; same parameters and same :class:`Summary` as
    :class:`netlab.scenarios.receive.Host`."""
    p = get_profile(profile) if isinstance(profile, str) else profile
    if not isinstance(p, KernelProfile):
        raise TypeError("profile must be '3.10', '6.12' or a KernelProfile (e.g. netlab.this_machine())")
    costs = costs if costs is not None else Costs()
    if not isinstance(costs, Costs):
        raise TypeError("costs must be a netlab.kernel.cpu.Costs")
    if not isinstance(cpus, int) or not 1 <= cpus <= 64:
        raise ValueError(f"cpus must be an int in 1..64, got {cpus!r}")
    igb_indirection_table(queues)  # checks the queue count
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
        qs = [_Queue(q, times if q == 0 else times[:0], ring) for q in range(queues)]
    else:
        queue_of_packet = np.asarray(queue_of_packet)
        if queue_of_packet.shape != times.shape or (times.size and (queue_of_packet.min() < 0 or
                                                                    queue_of_packet.max() >= queues)):
            raise ValueError(f"queue_of_packet must give a queue in 0..{queues - 1} for each arrival")
        qs = [_Queue(q, times[queue_of_packet == q], ring) for q in range(queues)]
    per_cpu = [_simulate_cpu([q for q in qs if affinity[q.index] == c], p, costs, ring) for c in range(cpus)]
    processed = [sum(q.packets for q in qs if affinity[q.index] == c) for c in range(cpus)]
    return Summary(arrived=int(times.size), delivered=sum(q.packets for q in qs),
                   ring_drops=sum(q.drops for q in qs), time_squeeze=[r["squeeze"] for r in per_cpu],
                   backlog_drops=[0] * cpus, processed=processed, busy_ns=[r["busy"] for r in per_cpu],
                   elapsed_ns=max(r["now"] for r in per_cpu), net_rx_softirqs=[r["net_rx"] for r in per_cpu],
                   hard_irqs=[r["irqs"] for r in per_cpu])


@check.arguments
def run(rate_pps: float, n: int = 20_000, *, burst: int = 1, jitter: bool = False, seed: int = 0,
        flows: int = 256, queues: int = 1, cpus: check.Cpus | None = None, ring_size: int | None = None,
        netdev_budget: int | None = None, netdev_budget_usecs: int | None = None,
        profile: str | KernelProfile = "6.12", costs: Costs | None = None) -> Summary:
    """One experiment: ``n`` UDP packets of ``flows`` flows (round robin) at ``rate_pps`` in bursts of ``burst``,
    RSS over ``queues`` queues, queue q's IRQ on CPU q (``cpus`` defaults to ``queues``); sysctls override the
    profile's."""
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
    flow_queue = rss_queues(["10.0.0.1"] * flows, ["10.0.0.2"] * flows, sports, [80] * flows, queues)
    queue_of_packet = flow_queue[np.arange(n) % flows]
    return simulate(times, queue_of_packet, profile=p, cpus=cpus or queues, queues=queues, ring_size=ring_size,
                    costs=costs)


@check.arguments
def sweep(parameter: str, values: Sequence, **base) -> list[Summary]:
    """:func:`run` once per value of ``parameter`` (e.g. ``sweep("rate_pps", [1e6, 2e6], n=5000)``)."""
    allowed = {"rate_pps", "n", "burst", "flows", "queues", "cpus", "ring_size", "netdev_budget",
               "netdev_budget_usecs", "jitter", "seed"}
    if parameter not in allowed:
        raise ValueError(f"parameter must be one of {sorted(allowed)}, got {parameter!r}")
    if not values:
        raise ValueError("give at least one value to sweep")
    base.setdefault("rate_pps", 1e6)
    return [run(**{**base, parameter: v}) for v in values]
