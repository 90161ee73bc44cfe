"""A host: CPUs, one igb-like NIC, sockets and a simulated clock that drives the kernel models.

``Host`` wires the models together the way a booted kernel has them (``net_dev_init``, the IPv4 packet type,
one ``Nic`` whose queues' IRQs point at CPUs) and runs them in simulated time, deterministically:

* Packets arrive on the wire at given times (``Host.receive``); RSS puts each on a queue. The NIC writes
  descriptors lazily, when the driver looks (see ``netlab.kernel.nic``).
* The engine (``netlab.kernel.sched.Scheduler``) runs it: each CPU is either idle or busy until its clock
  (``Cpu.now``, the CPU's "busy until"). The host keeps one timer per CPU on the engine's queue, armed for that
  CPU's next hard IRQ (``irq_enter`` → ``igb_msix_ring`` → ``irq_exit``, whose softirq run happens right there). It
  starts at max(when it is due, when that CPU is free: its clock, a context switch on its run queue), runs to the
  end, advances only its own CPU's clock, marks the run queue busy until then, and re-arms the timer.
* ``ksoftirqd/N`` is a task on CPU N's run queue (:meth:`Host._ksoftirqd`): ``wakeup_softirqd`` wakes it, the
  engine switches to it like to any task (its ``context_switch_ns``), each ``run_ksoftirqd`` is a burst of CPU,
  and it switches back to the idle task when nothing is left. ``Host.run`` runs the engine.
* Inside softirq processing the models call ``local_irq_enable`` where the kernel runs with interrupts on
  (after each NAPI poll, at each softirq restart): any of this CPU's hard IRQs due by then is taken there,
  nested. Real interrupts can also land in the middle of a poll; here they wait for the end of the poll.
* Costs (``netlab.kernel.cpu.Costs``) are charged in simulated ns; ``jiffies`` tick at the profile's HZ.

``Host.record`` returns a :class:`~netlab.trace.Trace` whose events carry a snapshot of the state (rings,
poll_lists, backlogs, softirq state, sockets, taps, netfilter counters) — see :meth:`Host.snapshot`.
"""
from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from typing import Annotated, Callable, Iterator, Mapping, Sequence

from netlab import check
from netlab.kernel.cpu import Costs, Cpu, SoftirqState, current_cpu
from netlab.kernel.dev import (NetDevice, NetdevRxQueue, RpsDevFlow, SoftnetState,
                               dev_add_offload, dev_add_pack, rps_take_steered, softnet_stat_text)
from netlab.kernel.dev_hard_xmit import FEATURES
from netlab.kernel.dev_xmit import net_dev_init
from netlab.kernel.inet_stream import inet_init
from netlab.kernel.ip_input import IP_PACKET_OFFLOAD, IP_PACKET_TYPE
from netlab.kernel.limits import FilesStat
from netlab.kernel.ip_output import IP_HLEN, ip_build_and_send_pkt, ip_queue_xmit
from netlab.kernel.netns import Net
from netlab.kernel.nic import Nic, Packet, QueueState, QVector, igb_msix_ring
from netlab.kernel.packet import PacketTap
from netlab.kernel.profiles import KernelProfile, profile as get_profile
from netlab.kernel.route import Rtable
from netlab.kernel.sch_generic import Qdisc
from netlab.kernel.sched import (TASK_INTERRUPTIBLE, TASK_RUNNING, Body, Scheduler, Task, default_wake_function,
                                 schedule, spend)
from netlab.kernel.skbuff import SkBuff, alloc_skb, skb_push, skb_reserve
from netlab.kernel.slub import Slub
from netlab.kernel.smp import generic_smp_call_function_single_interrupt
from netlab.kernel.sock import Sock, Socket, SockState
from netlab.kernel.softirq import irq_enter, irq_exit, run_ksoftirqd
from netlab.kernel.tcp_ipv4 import TCP_ESTABLISHED
from netlab.kernel.tcp_output import MAX_TCP_HEADER, TCP_HLEN, TCP_SYN_HLEN
from netlab.kernel.timer import TimerList
from netlab.kernel.wait import WaitQueueEntry, add_wait_queue
from netlab.load.receive import Summary, flow_limits, rfs_tables, rps_maps
from netlab.trace import Trace, Tracer


MAX_STEPS = 10_000_000
"""A guard against a runaway model: the most CPU runs one :meth:`Host.run` may take."""


@dataclass(frozen=True)
class CpuState:
    """One CPU at a step: its softirqs, its ``softnet_data`` and the IPIs queued for it (``call_single_queue``:
    "rps_trigger_softirq, sent at 2.500 µs")."""

    softirq: SoftirqState
    softnet: SoftnetState
    ipis: tuple[str, ...]


@dataclass(frozen=True)
class ReceiveState:
    """A :class:`Host` at a step (each trace event's ``state``): per CPU, per NIC queue, per socket (by name), what
    each tcpdump captured ("name (direction)"), the iptables rules with their counters, the readers' task states."""

    cpus: tuple[CpuState, ...]
    queues: tuple[QueueState, ...]
    sockets: Mapping[str, SockState]
    taps: Mapping[str, tuple[str, ...]]
    iptables: tuple[str, ...]
    readers: Mapping[str, str]
    rps: bool                    # some RX queue steers (RPS CPUs or an RFS flow table)


class Host:
    """A machine with ``cpus`` CPUs and a NIC ``dev_name`` with ``queues`` RX queues of ``ring_size`` descriptors.

    ``affinity[q]`` is the CPU queue q's IRQ goes to (default: queue q → CPU q mod cpus). Every default comes from
    ``profile`` ("3.10", "6.12", or a KernelProfile). With ``tx_ring_size`` the NIC can also send, on a
    ``link_gbps`` link, through a pfifo_fast qdisc (``netlab.scenarios.send.SendHost`` builds on that, and
    ``netlab.scenarios.link.Link`` cables two such hosts together). ``sched`` is the engine to run on: give
    several hosts the same :class:`~netlab.kernel.sched.Scheduler` and they share one clock (default: a new one);
    each boots its own CPUs on it (:meth:`Scheduler.add_cpus`, under its ``name``, which tells their events and
    tasks apart). With ``memory`` the host models its kernel memory (chapter 06): its CPUs allocate from one
    :class:`~netlab.kernel.slub.Slub` (:attr:`slab`, laid out as the profile's slab table says: the machine the profile
    describes) and count open files against ``max_files`` (fs.file-max; default LONG_MAX, what systemd sets at boot
    on most distributions — the kernel's own boot value, ``files_maxfiles_init``, is about one file per 10 KiB of
    RAM). ``rx_usecs`` moderates the NIC's interrupts as ``ethtool -C eth0 rx-usecs`` does (0, the default
    here: none beyond the NIC's 1 µs; 3: igb's own default, adaptive; 10..10000: a fixed interval in µs; see
    ``netlab.kernel.nic``). ``rps_cpus[q]`` are the CPUs RPS spreads queue q's packets over (``/sys/class/net/<dev>/
    queues/rx-q/rps_cpus``; default none: RPS off); ``flow_limit_cpus`` are the CPUs whose backlog enqueues the flow
    limit watches (``net.core.flow_limit_cpu_bitmap``; default none; 3.11 and later). RFS: ``rps_sock_flow_entries``
    (``net.core.rps_sock_flow_entries``, rounded up to a power of 2 as the sysctl does) and ``rps_flow_cnt`` (each
    RX queue's ``rps_flow_cnt``, rounded up too); both 0 by default: RFS off. A task the engine runs on one of these
    CPUs (``sched.spawn(…, host=name)``) runs its code on this
    host's CPU: it sees that CPU (``this_cpu``, its clock, its softirqs), and what it queues runs after.
    """

    @check.arguments
    def __init__(self, profile: str | KernelProfile = "6.12", *, cpus: check.Cpus = 1, queues: int = 1,
                 ring_size: int | None = None, affinity: Sequence[int] | None = None, costs: Costs | None = None,
                 address: str = "10.0.0.2", dev_name: str = "eth0", tx_ring_size: int | None = None,
                 link_gbps: float = 1.0, sched: Scheduler | None = None, name: str = "", memory: bool = False,
                 max_files: Annotated[int, check.Range(1, check.INT64_MAX)] = check.INT64_MAX, rx_usecs: int = 0,
                 rps_cpus: Sequence[Sequence[int]] | None = None, flow_limit_cpus: Sequence[int] = (),
                 rps_sock_flow_entries: int = 0, rps_flow_cnt: int = 0):
        self.profile = get_profile(profile) if isinstance(profile, str) else profile
        if not isinstance(self.profile, KernelProfile):
            raise TypeError("profile must be '3.10', '6.12' or a KernelProfile (e.g. netlab.this_machine())")
        if not isinstance(cpus, int) or not 1 <= cpus <= 64:
            raise ValueError(f"cpus must be an int in 1..64, got {cpus!r}")
        affinity = list(affinity) if affinity is not None else [q % cpus for q in range(queues)]
        if any(not isinstance(c, int) or not 0 <= c < cpus for c in affinity):
            raise ValueError(f"affinity must name CPUs 0..{cpus - 1}, got {affinity!r}")
        self.costs = costs if costs is not None else Costs()
        if not isinstance(self.costs, Costs):
            raise TypeError("costs must be a netlab.kernel.cpu.Costs")
        self.sched = sched if sched is not None else Scheduler(nr_cpus=0, profile=self.profile,
                                                               max_events=MAX_STEPS)
        self.name = name
        self.cpus = [Cpu(i, self.profile, self.costs, host=name) for i in range(cpus)]
        self.slab = Slub(self.profile, record=True) if memory else None
        files_stat = FilesStat(max_files) if memory else None
        self.rqs = self.sched.add_cpus(cpus, name)
        for cpu, rq in zip(self.cpus, self.rqs):
            cpu.siblings = self.cpus
            cpu.slab, cpu.files_stat = self.slab, files_stat
            cpu.irq_window = self._irq_window_for(cpu)
            rq.enter = partial(self._task_context, cpu)
            rq.timer_enter = partial(self._timer_context, cpu)
            cpu.ksoftirqd = self.sched.kthread_create_on_cpu(f"ksoftirqd/{cpu.id}", self._ksoftirqd(cpu), cpu.id,
                                                             name, pid=10 + cpu.id)
        net_dev_init(self.cpus)
        inet_init()
        self.net = Net(self.profile, local_addrs={"127.0.0.1", address}, sched=self.sched, host=name)
        self.address = address
        with self.cpus[0].running("process"):
            dev_add_pack(IP_PACKET_TYPE, self.net)
            dev_add_offload(IP_PACKET_OFFLOAD)
        self.dev = NetDevice(dev_name, self.net)
        self.nic = Nic(self.dev, queues, ring_size if ring_size is not None else self.profile.rx_ring_size, affinity,
                       tx_ring_size=tx_ring_size, link_gbps=link_gbps, rx_usecs=rx_usecs)
        self.dev.rx_queues = [NetdevRxQueue(q, rps_map) for q, rps_map in enumerate(rps_maps(rps_cpus, queues, cpus))]
        for c, fl in flow_limits(flow_limit_cpus, cpus, self.profile).items():
            self.cpus[c].softnet_data.flow_limit = fl
        table, flow_cnt = rfs_tables(rps_sock_flow_entries, rps_flow_cnt, cpus, self.profile)
        for cpu in self.cpus:
            cpu.softnet_data.rps_sock_flow_table = table
        for q in self.dev.rx_queues:
            q.rps_flow_table = [RpsDevFlow() for _ in range(flow_cnt)]
        if tx_ring_size is not None:
            self.dev.mtu, self.dev.features = self.profile.eth_mtu, frozenset(FEATURES)
            self.dev.qdisc = Qdisc(self.dev)
        self.sockets: dict[str, Socket] = {}
        self.taps: list[PacketTap] = []
        self.readers: list[Task] = []
        self.arrived = 0
        self._next_irq = [TimerList(self._step, name=f"the next hard IRQ on CPU {cpu.id}", data=cpu, cpu=cpu.id,
                                    context="hardirq", host=name) for cpu in self.cpus]

    # --- building a scenario -----------------------------------------------------------------------------------
    @check.arguments
    def udp_socket(self, port: check.Port, rcvbuf: int | None = None, name: str | None = None) -> Socket:
        """A UDP socket bound to ``port`` on every address (``rcvbuf`` defaults to the profile's rmem_default)."""
        sk = Sock(name=name or f"udp:{port}", protocol="udp", sk_state="TCP_CLOSE",
                  sk_rcvbuf=self._rcvbuf(rcvbuf))
        self._bind(self.net.udp_table, ("0.0.0.0", _port(port)), sk)
        return self._socket(sk, "SOCK_DGRAM")

    @check.arguments
    def tcp_socket(self, port: check.Port, peer: tuple[str, int] = ("10.0.0.1", 40000), rcvbuf: int | None = None,
                   name: str | None = None) -> Socket:
        """An ESTABLISHED TCP socket: (the host's address, ``port``) ↔ ``peer``."""
        if not (isinstance(peer, tuple) and len(peer) == 2):
            raise ValueError("peer must be (address, port)")
        sk = Sock(name=name or f"tcp:{port}", protocol="tcp", sk_state=TCP_ESTABLISHED,
                  sk_rcvbuf=self._rcvbuf(rcvbuf if rcvbuf is not None else self.profile.tcp_rmem[1]))
        self._bind(self.net.tcp_ehash, (self.address, _port(port), peer[0], _port(peer[1])), sk)
        return self._socket(sk, "SOCK_STREAM")

    @check.arguments
    def blocked_reader(self, sock: Socket, comm: str = "reader") -> Task:
        """A task asleep in recv() on ``sock``: on its wait queue with ``default_wake_function``."""
        task = Task(comm, pid=1000 + len(self.readers), state=TASK_INTERRUPTIBLE)
        with self.cpus[0].running("process"):
            add_wait_queue(sock.wq, WaitQueueEntry(default_wake_function, task, name=comm))
        self.readers.append(task)
        return task

    @check.arguments
    def iptables(self, chain: str, target: str, **match):
        """``iptables -A chain [-p proto] [--dport N] … -j target`` in this host's namespace."""
        return self.net.nf.append(chain, target, **match)

    @check.arguments
    def tcpdump(self, name: str = "tcpdump", **match) -> PacketTap:
        """Start a packet tap (``tcpdump -i any``), optionally filtered on protocol/addresses/ports."""
        with self.cpus[0].running("process"):
            tap = PacketTap(self.net, name, dict(match))
        self.taps.append(tap)
        return tap

    @check.arguments
    def receive(self, packets: Sequence[Packet]) -> None:
        """Packets that will arrive on the wire at their ``time_ns``."""
        self.nic.receive(packets)
        self.arrived += len(packets)
        self._arm()

    @check.arguments
    def xmit_segment(self, net: Net, skb: SkBuff) -> None:
        """The handshake's way out of this host (``Net.xmit``, see :mod:`netlab.kernel.tcp_handshake`): the send
        path, the qdisc and the NIC.

        The SYN comes as the clone ``tcp_connect`` sends of its queued fclone; the handshake's other segments are
        header-only, and each gets an sk_buff with room for every header (``MAX_TCP_HEADER``), as
        ``tcp_make_synack``/``__tcp_transmit_skb`` build it. Each gets its TCP header pushed (40 bytes with a SYN's
        options, else 32). A
        segment of a socket with a cached route (the client's SYN and ACK) goes ``ip_queue_xmit``
        (net/ipv4/tcp_output.c ``__tcp_transmit_skb``); one without (a SYN-ACK of a request sock, a RST) goes
        ``ip_build_and_send_pkt`` on the route to its destination: ``lo`` for a local address (once
        ``loopback_dev_init`` gave the host one), else the NIC. Outside any of this host's CPUs (a handshake timer
        fires on the engine) it runs on CPU 0 in softirq context, where kernel timers run."""
        if net is not self.net:
            raise ValueError("xmit_segment sends this host's segments (net must be host.net)")
        if self._route(skb).ndo_start_xmit is None:
            raise ValueError(f"{self.dev.name} cannot send: build the Host with tx_ring_size")
        if current_cpu() in self.cpus:
            self._xmit_segment(skb)
            return
        cpu = self.cpus[0]
        cpu.now = max(cpu.now, self.sched.clock)
        with cpu.running("softirq"):
            self._xmit_segment(skb)
        self._arm()

    def _xmit_segment(self, segment: SkBuff) -> None:
        m = segment.meta
        if segment.cloned:                      # TCP built it (the SYN's clone): it has its head and headroom
            skb = segment
        else:
            skb = alloc_skb(MAX_TCP_HEADER, name=segment.name)
            skb_reserve(skb, MAX_TCP_HEADER)
        hlen = TCP_SYN_HLEN if "SYN" in m["flags"] else TCP_HLEN      # tcp_syn_options, tcp_synack_options
        skb_push(skb, hlen)
        skb.meta.update(m, protocol="tcp", hdr_len=hlen, payload=0)
        sk = self.net.tcp_ehash.get((m["saddr"], m["sport"], m["daddr"], m["dport"]))
        if getattr(sk, "dst", None) is not None:
            ip_queue_xmit(sk, skb)
        else:
            skb.meta["dst"] = Rtable(self._route(segment))
            ip_build_and_send_pkt(skb, None, m["saddr"], m["daddr"])

    def _route(self, skb: SkBuff) -> NetDevice:
        """The device a segment leaves by: ``lo`` to a local address (RTN_LOCAL), else the NIC."""
        local = self.net.loopback_dev is not None and skb.meta["daddr"] in self.net.local_addrs
        return self.net.loopback_dev if local else self.dev

    def _rcvbuf(self, rcvbuf: int | None) -> int:
        value = self.profile.rmem_default if rcvbuf is None else rcvbuf
        if not isinstance(value, int) or value < 1:
            raise ValueError(f"rcvbuf must be a positive int (bytes), got {value!r}")
        return value

    def _bind(self, table: dict, key: tuple, sk: Sock) -> None:
        if key in table:
            raise ValueError(f"{key} is already in use (EADDRINUSE)")
        table[key] = sk

    def _socket(self, sk: Sock, kind: str) -> Socket:
        if sk.name in self.sockets:
            raise ValueError(f"a socket named {sk.name!r} exists already")
        sock = Socket(sk, type=kind)
        self.sockets[sk.name] = sock
        return sock

    # --- running ---------------------------------------------------------------------------------------------------
    @property
    def now(self) -> int:
        """The latest time any CPU has reached."""
        return max(cpu.now for cpu in self.cpus)

    def _queues_of(self, cpu: Cpu) -> list[QVector]:
        return [qv for qv in self.nic.q_vectors if qv.cpu == cpu.id]

    def _irq_window_for(self, cpu: Cpu) -> Callable[[], None]:
        def window() -> None:
            while True:
                due = []
                for qv in self._queues_of(cpu):
                    self.nic.dma_until(qv, cpu.now)
                    t = qv.next_irq_time()
                    if t is not None and t <= cpu.now:
                        due.append((t, qv.index, qv))
                ipi = self._ipi_time(cpu)
                if ipi is not None and ipi <= cpu.now and (not due or ipi < min(due)[0]):
                    self._ipi(cpu)
                    continue
                if not due:
                    return
                self._hard_irq(cpu, min(due)[2])
        return window

    def _ipi_time(self, cpu: Cpu) -> int | None:
        """When the earliest IPI sent to ``cpu`` (kernel/smp.c ``call_single_queue``) was sent, if any."""
        return min(c[0] for c in cpu.call_single_queue) if cpu.call_single_queue else None

    def _ipi(self, cpu: Cpu) -> None:
        """The CALL_FUNCTION_SINGLE IPI as a hard interrupt on ``cpu``: ``hardirq_ns``, the queued functions
        (RPS: ``rps_trigger_softirq``), ``irq_exit`` (which runs NET_RX)."""
        with cpu.running("hardirq"):
            irq_enter()
            cpu.charge(self.costs.hardirq_ns)
            cpu.kstat_irqs["CAL"] = cpu.kstat_irqs.get("CAL", 0) + 1
            generic_smp_call_function_single_interrupt()
            irq_exit()

    def _hard_irq(self, cpu: Cpu, qv: QVector) -> None:
        qv.fire(cpu.now)
        with cpu.running("hardirq"):
            irq_enter()
            cpu.charge(self.costs.hardirq_ns)
            cpu.kstat_irqs[qv.irq] = cpu.kstat_irqs.get(qv.irq, 0) + 1
            igb_msix_ring(qv)
            irq_exit()

    def _next(self, cpu: Cpu) -> int | None:
        """When ``cpu`` takes its next hard IRQ: when one is due, but not before the CPU is free (its clock, a
        context switch on it). An idle backlog with skbs steered to it: when the IPI of the first is due."""
        irq_times = [t for qv in self._queues_of(cpu) if (t := qv.next_irq_time()) is not None]
        if (ipi := self._ipi_time(cpu)) is not None:
            irq_times.append(ipi)
        sd = cpu.softnet_data
        if sd.rps_steered and not sd.backlog.sched and sd.rps_steered[0].ipi_at is not None:
            irq_times.append(sd.rps_steered[0].ipi_at)
        return max(min(irq_times), cpu.now, self.rqs[cpu.id].busy_until) if irq_times else None

    def _arm(self, cpu: Cpu | None = None) -> None:
        """(Re)arm the engine timer of ``cpu``'s next hard IRQ (default: every CPU's), never before the engine's
        clock. One timer per CPU: without RPS what a CPU does next depends on nothing that happens on another."""
        for c in (self.cpus if cpu is None else (cpu,)):
            start = self._next(c)
            if start is None:
                self.sched.del_timer(self._next_irq[c.id])
            else:
                self.sched.mod_timer(self._next_irq[c.id], max(start, self.sched.clock))

    def _arm_after_run(self, cpu: Cpu) -> None:
        """:meth:`_arm` ``cpu`` after a run on it; with RPS that run may have sent IPIs, so every other CPU whose
        next hard IRQ moved is re-armed too — and only those: re-arming a timer for the time it already has would
        queue it behind the events queued for that time since, and another CPU's run would reorder this one's
        ties (what the load model, which runs a reading CPU on its own, does not do)."""
        self._arm(cpu)
        for c in () if self.rps_off else self.cpus:
            start = self._next(c)
            if c is not cpu and self._next_irq[c.id].expires_ns != (None if start is None else
                                                                    max(start, self.sched.clock)):
                self._arm(c)

    def _step(self, timer: TimerList) -> None:
        """The hard IRQ :meth:`_arm` planned on the timer's CPU, of its earliest due queue — unless a context switch
        began on that CPU since (then it is planned again, for after the switch)."""
        cpu = timer.data
        rq = self.rqs[cpu.id]
        start = self.sched.clock
        if rq.busy_until > start:
            self._arm(cpu)
            return
        cpu.now = max(cpu.now, start)
        self._take_steered(cpu, "softirq")
        dues = [(qv.next_irq_time(), qv.index, qv) for qv in self._queues_of(cpu) if qv.next_irq_time() is not None]
        ipi = self._ipi_time(cpu)
        if ipi is not None and (not dues or ipi < min(dues)[0]):
            self._ipi(cpu)
        elif not dues:           # the steered skbs came in on a backlog that was not idle after all: no IPI
            pass
        else:
            due = min(dues)
            self.nic.dma_until(due[2], cpu.now)
            self._hard_irq(cpu, due[2])
        rq.busy_until = cpu.now
        self._arm_after_run(cpu)

    @check.arguments
    def run(self, until_ns: int | None = None) -> "Host":
        """Run the engine until nothing is left to do (or the next thing starts after ``until_ns``)."""
        if until_ns is not None and (not isinstance(until_ns, int) or until_ns < self.sched.clock):
            raise ValueError(f"until_ns must be None or an int >= the engine's clock ({self.sched.clock}), "
                             f"got {until_ns!r}")
        self._arm()
        self.sched.run(until_ns)
        return self

    def _ksoftirqd(self, cpu: Cpu) -> Body:
        """The ksoftirqd/N thread (kernel/smpboot.c ``smpboot_thread_fn``): run the pending softirqs — the CPU time
        they take is its burst — and sleep in ``schedule()`` once none are left (``run_ksoftirqd`` set it
        TASK_INTERRUPTIBLE). ``wakeup_softirqd`` wakes it; the engine switches to it like to any task."""
        while True:
            self._take_steered(cpu, "ksoftirqd")
            with cpu.running("ksoftirqd"):
                run_ksoftirqd(cpu.id)
            yield from spend(cpu.now - self.sched.clock, "softirqs")
            if cpu.ksoftirqd.state != TASK_RUNNING:
                yield from schedule()

    def _take_steered(self, cpu: Cpu, context: str) -> None:
        """RPS: at the start of each burst on ``cpu`` (a hard IRQ, a ksoftirqd run), the skbs steered to it up to
        now reach its backlog (``netlab.kernel.dev.rps_take_steered``: the model's order)."""
        if cpu.softnet_data.rps_steered and cpu.softnet_data.rps_steered[0].time_ns <= cpu.now:
            with cpu.running(context):
                rps_take_steered(cpu.softnet_data)

    @check.arguments
    def run_process(self, cpu: int, fn: Callable[[], object], at_ns: int | None = None) -> object:
        """Run ``fn`` (model code, e.g. a loopback send) in process context on ``cpu`` at ``at_ns`` (default: when
        that CPU is free); returns what ``fn`` returns. Call :meth:`run` afterwards for deferred work."""
        if not isinstance(cpu, int) or not 0 <= cpu < len(self.cpus):
            raise ValueError(f"cpu must be an int in 0..{len(self.cpus) - 1}")
        c = self.cpus[cpu]
        if at_ns is not None:
            if not isinstance(at_ns, int) or at_ns < 0:
                raise ValueError("at_ns must be an int >= 0")
            c.now = max(c.now, at_ns)
        with c.running("process"):
            result = fn()
        self.rqs[cpu].busy_until = max(self.rqs[cpu].busy_until, c.now)
        self._arm()             # what it queued (a softirq, a transmit) may be the next thing to do
        return result

    @contextmanager
    def _task_context(self, cpu: Cpu) -> Iterator[None]:
        """Where an engine task on ``cpu`` runs its code: that CPU, in process context, from the engine's time."""
        cpu.now = max(cpu.now, self.sched.clock)
        with cpu.running("process"):
            yield
        self._arm_after_run(cpu)

    @contextmanager
    def _timer_context(self, cpu: Cpu) -> Iterator[None]:
        """Where a kernel timer of this host runs its handler: ``cpu``, in softirq context, from the engine's time."""
        cpu.now = max(cpu.now, self.sched.clock)
        with cpu.running("softirq"):
            yield
        self._arm()

    @check.arguments
    def record(self, scenario: Callable[[], object] | None = None, max_events: int = 100_000) -> Trace:
        """Trace what happens: run ``scenario`` (default: :meth:`run`) under a Tracer with snapshots."""
        with Tracer(clock=self._clock, snapshot=self.snapshot, max_events=max_events,
                    renamed=self.profile.renamed) as tracer:
            (scenario or self.run)()
        return tracer.trace

    def _clock(self) -> int:
        current = current_cpu()
        return current.now if current is not None else self.now

    # --- looking at it -------------------------------------------------------------------------------------------------
    def snapshot(self) -> ReceiveState:
        """The state for traces and drawings."""
        return ReceiveState(tuple(CpuState(cpu.snapshot(), cpu.softnet_data.snapshot(),
                                           tuple([f"{f.__name__}, sent at {t / 1000:.3f} µs"
                                                  for t, f, _ in cpu.call_single_queue])) for cpu in self.cpus),
                            self.nic.snapshot(), {name: sock.sk.snapshot() for name, sock in self.sockets.items()},
                            {tap.name: tuple([f"{n} ({d})" for n, d in tap.seen]) for tap in self.taps},
                            tuple(self.net.nf.snapshot()), {t.comm: t.state for t in self.readers}, not self.rps_off)

    @property
    def rps_off(self) -> bool:
        """No RX queue steers: none has RPS CPUs or an RFS flow table (``get_rps_cpu``'s first test)."""
        return not any(q.rps_map or q.rps_flow_table for q in self.dev.rx_queues)

    def summary(self) -> Summary:
        sds = [cpu.softnet_data for cpu in self.cpus]
        return Summary(arrived=self.arrived, delivered=sum(qv.rx_packets for qv in self.nic.q_vectors),
                       ring_drops=self.nic.rx_missed_errors, time_squeeze=[sd.time_squeeze for sd in sds],
                       backlog_drops=[sd.dropped for sd in sds], processed=[sd.processed for sd in sds],
                       busy_ns=[dict(cpu.busy_ns) for cpu in self.cpus], elapsed_ns=self.now,
                       net_rx_softirqs=[cpu.kstat_softirqs[3] for cpu in self.cpus],
                       hard_irqs=[sum(n for irq, n in cpu.kstat_irqs.items() if irq != "CAL") for cpu in self.cpus],
                       gro_skbs=[sum(qv.napi.gro_passed for qv in self._queues_of(cpu)) for cpu in self.cpus],
                       latency_ns=sum(qv.rx_latency_ns for qv in self.nic.q_vectors),
                       received_rps=[sd.received_rps for sd in sds], flow_limit_count=[sd.flow_limit_count for sd in sds])

    def softnet_stat(self) -> str:
        """This host's ``/proc/net/softnet_stat``, in the profile's column count."""
        return softnet_stat_text([cpu.softnet_data for cpu in self.cpus], self.profile.softnet_stat_columns)


@check.arguments
def moderated(rx_usecs: int, record: bool = False) -> tuple[Summary, Trace | Host]:
    """Chapter 01's interrupt moderation: 200 UDP packets 1 µs apart (1 Mpps) into one queue of a 6.12 host whose
    NIC moderates its interrupts as ``ethtool -C eth0 rx-usecs rx_usecs`` says; the summary, and the trace with
    ``record`` (else the host, run to the end)."""
    host = Host("6.12", rx_usecs=rx_usecs)
    host.udp_socket(80, rcvbuf=16 << 20)
    host.receive([Packet(1000 + 1000 * i, protocol="udp", name=f"p{i}") for i in range(200)])
    done = host.record() if record else host.run()
    return host.summary(), done


@check.arguments
def rps_handoff(profile: str | KernelProfile = "6.12") -> Trace:
    """One RPS hand-off, traced: a UDP packet read on CPU 0 (the NIC queue's IRQ CPU), steered by ``get_rps_cpu`` to
    CPU 1's ``input_pkt_queue`` (``enqueue_to_backlog``), the IPI sent at the end of CPU 0's ``net_rx_action``,
    and on CPU 1 ``rps_trigger_softirq`` (``received_rps``) and ``process_backlog`` up to the socket."""
    host = Host(profile, cpus=2, queues=1, ring_size=64, rps_cpus=[[1]])
    host.udp_socket(80)
    host.receive([Packet(1000, protocol="udp", name="p0")])
    return host.record()


@check.arguments
def gro_merge(profile: str | KernelProfile = "6.12", segments: Annotated[int, check.Range(1, 45)] = 4,
              mss: Annotated[int, check.Range(1, 1448)] = 1448, push_last: bool = False) -> Trace:
    """Chapter 01's GRO, step by step: ``segments`` segments of one bulk TCP flow (``mss`` bytes each, 300 ns apart
    on the wire, seq 1, 1 + mss, …; PSH on the last with ``push_last``) reach an idle CPU whose ESTABLISHED socket
    on port 80 has a reader blocked in recv(). One IRQ, one poll that finds them all: the first is held
    (GRO_HELD), the others merge into it (``skb_gro_receive``, GRO_MERGED_FREE), and the poll's end passes the one
    big skb up (``napi_complete_done`` → ``napi_gro_flush`` → ``napi_gro_complete``) — or, with ``push_last``, the
    PSH segment does (``tcp_gro_receive``). The socket gets one skb with all the bytes."""
    host = Host(profile, ring_size=64)
    sock = host.tcp_socket(80, peer=("10.0.0.1", 40000))
    host.blocked_reader(sock)
    host.receive([Packet(1000 + 300 * i, length=IP_HLEN + TCP_HLEN + mss, seq=1 + i * mss, ack=1, name=f"s{i}",
                         flags=("ACK", "PSH") if push_last and i == segments - 1 else ("ACK",))
                  for i in range(segments)])
    return host.record()


def _port(port: int) -> int:
    if not isinstance(port, int) or isinstance(port, bool) or not 0 < port < 65536:
        raise ValueError(f"port must be an int in 1..65535, got {port!r}")
    return port
