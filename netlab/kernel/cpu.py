"""Per-CPU state and the simulated clock: what ``this_cpu_ptr`` reaches in the kernel.

Models include/linux/preempt.h (``preempt_count``: hard IRQ and softirq nesting, so ``in_interrupt()`` works),
include/linux/interrupt.h (the pending-softirq bitmask), kernel/softirq.c's per-CPU ``ksoftirqd`` thread and the
``kstat`` counters that ``/proc/softirqs`` and ``/proc/interrupts`` print.

Time is simulated and integer nanoseconds. A :class:`Cpu`'s ``now`` is when it is free (its "busy until"): a run on
this CPU (an engine event, :class:`netlab.kernel.sched.Scheduler`) starts at max(when it is due, ``now``), and
model code running on it calls :meth:`Cpu.charge` with a cost from :class:`Costs`, which moves ``now`` (the time
the trace shows) and books the time to the context it ran in (hard IRQ, softirq at IRQ exit, ksoftirqd, process).
``jiffies`` follow from the clock and the profile's HZ, so the kernel's "2 jiffies" limits behave as on a real tick
(anywhere between one and two tick lengths).

Model code finds its CPU with :func:`this_cpu`; the machine (``netlab.scenarios.receive``) makes a CPU current with
:meth:`Cpu.running`.
"""
from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass, field, fields
from typing import Any, Callable, Iterator

from netlab import check
from netlab.kernel.profiles import KernelProfile
from netlab.kernel.sched import TASK_INTERRUPTIBLE, Task
from netlab.trace import CONTEXTS, on_cpu

SOFTIRQ_NAMES = ("HI", "TIMER", "NET_TX", "NET_RX", "BLOCK", "IRQ_POLL", "TASKLET", "SCHED", "HRTIMER", "RCU")
"""``softirq_to_name`` (kernel/softirq.c): the rows of ``/proc/softirqs``, in bit order."""
NET_TX_SOFTIRQ, NET_RX_SOFTIRQ = 2, 3


@dataclass(frozen=True)
class Costs:
    """CPU time each step of the receive path costs, in simulated ns: published per-core rates for the total, a
    modelling choice for the split.

    With the defaults one CPU carries about 2.5 Mpps through the whole stack: flooded, it spends ``driver_ns`` +
    ``stack_ns`` on each packet plus one ``poll_ns`` and (6.12: one ``net_rx_action`` run per poll of 64)
    ``net_rx_action_ns`` per 64. The source for that total: Høiland-Jørgensen, Brouer, Borkmann, Fastabend, Herbert,
    Ahern, Miller, "The eXpress Data Path: Fast Programmable Packet Processing in the Operating System Kernel", ACM
    CoNEXT '18 (2018), §4.1 and Figure 3 ("Packet drop performance"): on one core of a Xeon E5-1650 v4 at 3.6 GHz
    (Linux 4.18-rc, mlx5, 64-byte packets) the Linux stack handles 4.8 Mpps dropping in iptables' raw table (the
    earliest drop: about 208 ns a packet) and 1.8 Mpps with connection tracking (about 556 ns); XDP drops 24 Mpps in
    the driver (41.6 ns, §4.4). A packet delivered to a UDP socket goes further than the raw-table drop (routing,
    INPUT, the socket lookup and queue) but without conntrack, so 400 ns a packet is a choice inside that published
    span, made to reproduce "about 2.5 Mpps per core"; a calibration on the learner's own machine is
    :func:`netlab.live.receive_cost.costs_from`. Change the costs to see what a slower stack (conntrack, many
    iptables rules) or a faster one does.

    The 400 ns are two costs, because GRO and RPS pay them apart: ``driver_ns`` (100 ns) for the driver's part —
    read a descriptor, build the sk_buff, offer it to GRO — between XDP's 41.6 ns (a descriptor and a program, no
    sk_buff) and the raw-table drop's 208 ns (an sk_buff through GRO into IP's first hook); ``stack_ns`` (300 ns) for
    one sk_buff from GRO's hand-off up to the socket. A segment GRO merges into a held sk_buff pays only its
    ``driver_ns``; a packet RPS steers pays ``driver_ns`` on the CPU that read it and ``stack_ns`` on the CPU whose
    backlog takes it. The model charges ``stack_ns`` when GRO passes the sk_buff on (6.12 batches them for
    ``netif_receive_skb_list_internal``, the cost is the same) and when ``process_backlog`` takes one.

    The split between hard IRQ, NET_RX and per-packet work is a modelling choice, chosen so that the per-packet
    work dominates under load, as the paper's §4.2 (Figure 4) shows for Linux: CPU use grows with the packet rate,
    a little faster at low rates, where "the fixed overhead of interrupt processing" is shared by fewer packets.
    ``hardirq_ns`` = 1 µs is the order of magnitude of an interrupt's direct cost: Tsafrir, "The context-switch
    overhead inflicted by hardware interrupts (and the enigma of do-nothing loops)", ExpCS '07 (2007), measures a
    1000 Hz clock tick at 0.5-1.5 % of a CPU (5-15 µs a tick), up to 85 % of it indirect (cache) cost, so at least
    0.75-2.25 µs direct, for a handler that does more than ``igb_msix_ring``. ``net_rx_action_ns`` and ``poll_ns``
    (200 ns each, a few cache misses and device register writes) are chosen to be small against a poll of 64
    packets (together under 2 %), so a flood costs about 400 ns a packet, as the per-core rates above assume.
    """

    hardirq_ns: int = 1000          # interrupt entry + the driver's handler (igb_msix_ring) + irq_exit (see above)
    net_rx_action_ns: int = 200     # one run of net_rx_action (splicing poll_list, the loop's bookkeeping): a choice
    poll_ns: int = 200              # one driver poll call (igb_poll: TX clean, register writes): a choice
    driver_ns: int = 100            # one descriptor: read it, build the skb, offer it to GRO (XDP paper, see above)
    stack_ns: int = 300             # one skb from GRO's hand-off: IP → TCP/UDP → socket queue (XDP paper, see above)

    def __post_init__(self):
        check.fields(self)
        for f in fields(self):
            value = getattr(self, f.name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise ValueError(f"Costs.{f.name} must be an int >= 0 (ns), got {value!r}")
        if self.packet_ns == 0 and self.poll_ns == 0:
            raise ValueError("driver_ns + stack_ns and poll_ns cannot all be 0: a poll must take simulated time")

    @property
    def packet_ns(self) -> int:
        """One packet that GRO does not merge and RPS does not steer: ``driver_ns`` + ``stack_ns``."""
        return self.driver_ns + self.stack_ns


_current: "Cpu | None" = None


@dataclass(eq=False)
class Cpu:
    """One CPU: its clock, ``preempt_count`` nesting, pending softirqs, ksoftirqd, and what it has done.

    ``softnet_data`` is set by ``netlab.kernel.dev`` (per-CPU networking state); ``irq_window`` is called by the
    models wherever the kernel runs with interrupts enabled inside softirq processing (the machine delivers any
    hard IRQ due by then); ``siblings`` are all CPUs of the host, for ``per_cpu``; ``host`` names that host in
    traces where several hosts share the engine. A host that models its kernel memory (chapter 06) gives all its
    CPUs the same ``slab`` (a :class:`netlab.kernel.slub.Slub`: what code running here allocates from, as SLUB hands
    each CPU its slab) and ``files_stat`` (a :class:`netlab.kernel.limits.FilesStat`: the host's open files against
    fs.file-max); None leaves memory and the file count unmodelled. ``call_single_queue`` holds the functions other
    CPUs asked this one to run with an IPI (:mod:`netlab.kernel.smp`); ``napi_alloc_cache`` is set by
    ``netlab.kernel.skbuff`` at its first use (the free sk_buff structs NAPI keeps on this CPU).
    """

    id: int
    profile: KernelProfile
    costs: Costs = field(default_factory=Costs)
    now: int = 0
    softirq_pending: int = 0
    hardirq_count: int = 0
    softirq_count: int = 0
    context: str = "process"
    ksoftirqd: Task | None = None
    kstat_softirqs: list[int] = field(default_factory=lambda: [0] * len(SOFTIRQ_NAMES))
    kstat_irqs: dict[str, int] = field(default_factory=dict)
    busy_ns: dict[str, int] = field(default_factory=lambda: dict.fromkeys(CONTEXTS, 0))
    softnet_data: Any = None
    irq_window: Callable[[], None] | None = None
    siblings: list["Cpu"] = field(default_factory=list)
    host: str = ""
    slab: Any = None
    files_stat: Any = None
    call_single_queue: list = field(default_factory=list)  # (sent at, func, info): kernel/smp.c, for IPIs
    napi_alloc_cache: Any = None

    def __post_init__(self):
        check.fields(self)
        if not isinstance(self.id, int) or self.id < 0:
            raise ValueError(f"cpu id must be an int >= 0, got {self.id!r}")
        if not isinstance(self.profile, KernelProfile):
            raise TypeError("profile must be a KernelProfile (netlab.profile('6.12'))")
        if not isinstance(self.costs, Costs):
            raise TypeError("costs must be a netlab.kernel.cpu.Costs")
        if self.ksoftirqd is None:
            self.ksoftirqd = Task(f"ksoftirqd/{self.id}", pid=10 + self.id, state=TASK_INTERRUPTIBLE, cpu=self.id)
        if not self.siblings:
            self.siblings = [self]

    # --- time ----------------------------------------------------------------------------------------------
    @property
    def tick_ns(self) -> int:
        """Length of one jiffy: 1 s / HZ."""
        return 1_000_000_000 // self.profile.hz

    @property
    def jiffies(self) -> int:
        return self.now // self.tick_ns

    @check.arguments
    def usecs_to_jiffies(self, usecs: int) -> int:
        """Rounds up, as the kernel's ``usecs_to_jiffies`` does."""
        return -(-usecs * self.profile.hz // 1_000_000)

    @check.arguments
    def charge(self, ns: int) -> None:
        """Spend ``ns`` of CPU time in the current context."""
        self.now += ns
        self.busy_ns[self.context] += ns

    # --- preempt_count ---------------------------------------------------------------------------------------
    def in_interrupt(self) -> bool:
        """Hard IRQ, softirq being served, or bottom halves disabled."""
        return bool(self.hardirq_count or self.softirq_count)

    @contextmanager
    @check.arguments
    def running(self, context: str) -> Iterator["Cpu"]:
        """Make this CPU current and run the enclosed model code in ``context`` (restored afterwards)."""
        global _current
        check.choice("context", context, CONTEXTS)
        saved = _current, self.context
        _current, self.context = self, context
        try:
            with on_cpu(self.id, context, self.host):
                yield self
        finally:
            _current, self.context = saved[0], saved[1]

    def snapshot(self) -> "SoftirqState":
        pending = tuple(SOFTIRQ_NAMES[i] for i in range(len(SOFTIRQ_NAMES)) if self.softirq_pending >> i & 1)
        return SoftirqState(pending, self.ksoftirqd.state, self.kstat_softirqs[NET_RX_SOFTIRQ])


@dataclass(frozen=True)
class SoftirqState:
    """One CPU's softirqs at a step: the pending bits by name, ksoftirqd's task state, NET_RX runs so far."""

    pending: tuple[str, ...]
    ksoftirqd: str
    net_rx_runs: int


def this_cpu() -> Cpu:
    """The CPU the model code runs on (``smp_processor_id``/``this_cpu_ptr``)."""
    if _current is None:
        raise RuntimeError("no current CPU: run kernel model code inside `with cpu.running(context):` "
                           "(netlab.scenarios.receive.Host does this for you)")
    return _current


def current_cpu() -> Cpu | None:
    """The current CPU, or None outside model code (for clocks and views that must not fail)."""
    return _current


@check.arguments
def per_cpu(cpu: int) -> Cpu:
    """Another CPU of the same host, by number."""
    siblings = this_cpu().siblings
    if not isinstance(cpu, int) or not 0 <= cpu < len(siblings):
        raise ValueError(f"cpu must be an int in 0..{len(siblings) - 1}, got {cpu!r}")
    return siblings[cpu]
