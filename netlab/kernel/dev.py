"""The receive core: per-CPU ``softnet_data``, NAPI, ``net_rx_action``, GRO batching, the backlog, packet taps.

Models net/core/dev.c, net/core/gro.c, include/net/gro.h, include/linux/netdevice.h and net/core/net-procfs.c
(Linux 6.12, with the 3.10 differences the profile selects):

* A driver's hard IRQ calls ``napi_schedule``: the device's ``napi_struct`` joins this CPU's
  ``softnet_data.poll_list`` and NET_RX_SOFTIRQ is raised.
* ``net_rx_action`` (the NET_RX softirq) polls each NAPI on the list with its ``weight`` (64) as the driver's
  budget, out of a total of ``netdev_budget`` (300) packets and ``netdev_budget_usecs`` of time per run. When it
  stops with work left, ``time_squeeze`` counts it and NET_RX is raised again.
  6.12 (``profile.napi_repoll_list``): a NAPI that used its whole weight waits on a private ``repoll`` list
  until the *next* run, and the budget is checked after each poll. 3.10: it goes back to the tail of
  ``poll_list`` and may be polled again in the same run; the budget is checked before each poll.
* The driver hands each skb to GRO (``napi_gro_receive``, :mod:`netlab.kernel.gro`), which merges consecutive TCP
  segments of a flow into one held skb. This module keeps GRO's hand-off half, the part that passes skbs on and
  that ``napi_complete_done`` calls: ``napi_gro_flush`` completes the held skbs (``napi_gro_complete`` → the
  protocol's ``gro_complete``, found in ``offload_base``), ``gro_normal_one`` collects them in ``napi->rx_list`` and
  6.12 passes batches of ``gro_normal_batch`` (8) segments up as a list (``netif_receive_skb_list_internal``);
  3.10 passes each one up with ``netif_receive_skb``.
* ``__netif_receive_skb_core`` gives a copy to every tap on ``ptype_all`` (tcpdump) with ``deliver_skb``, then
  finds the protocol handler (``ip_rcv``) in ``ptype_base``. 6.12 hands it back to the caller
  (``__netif_receive_skb_one_core``, or the list receive), which calls it; 3.10 calls it right there.
* The backlog: ``netif_rx`` (loopback, and drivers without NAPI) queues an skb on this CPU's
  ``input_pkt_queue`` (``enqueue_to_backlog``; beyond ``netdev_max_backlog`` it is dropped and
  ``softnet_data.dropped`` counts it) and schedules the per-CPU ``backlog`` NAPI, whose poll is
  ``process_backlog``.
* RPS (Receive Packet Steering; off by default): an RX queue with CPUs in ``rps_cpus`` has its packets moved
  off the CPU that read them, by flow hash (``get_rps_cpu``), onto a chosen CPU's backlog
  (``enqueue_to_backlog``); a remote CPU's backlog NAPI is scheduled by an IPI sent at the end of this CPU's
  ``net_rx_action`` (``net_rps_action_and_irq_enable``), which runs ``rps_trigger_softirq`` there
  (``received_rps``++). The flow limit (3.11 on; off unless ``net.core.flow_limit_cpu_bitmap`` names the CPU that
  enqueues): once a backlog is half full, ``skb_flow_limit`` drops the skbs of a flow that holds more than half of
  that CPU's last 128 (``flow_limit_count`` on the enqueuing CPU, ``dropped`` on the backlog's). RFS (off unless
  ``net.core.rps_sock_flow_entries`` and a queue's ``rps_flow_cnt`` are set): ``recvmsg`` records in
  ``rps_sock_flow_table`` the CPU where a flow's socket is read (``sock_rps_record_flow``), and ``get_rps_cpu``
  steers the flow there — once the backlog it used last has taken in everything it sent there (the queue's
  ``rps_dev_flow``: ``last_qtail`` against that CPU's ``input_queue_head``), so packets stay in order. That test
  reads another CPU's counter as the model's order leaves it when the reading CPU runs (see below). The load model
  (:mod:`netlab.load.receive`) has RPS, the flow limit (for a reading CPU that steers to one CPU) and RFS with the
  flows read before the traffic (flows that share an ``rps_dev_flow`` entry must want one CPU).

  The model's order (its one simplification of RPS): each CPU runs a whole burst of work at once (an interrupt
  with its softirqs, a ksoftirqd run), so the CPU an skb is steered to may be in the middle of a burst the model
  has already run. The hand-off is therefore made in time at the target: the reading CPU posts the skb
  (``rps_steered``) and stamps it with the time its IPIs leave (the end of its ``net_rx_action``); the target
  takes in what was steered to it up to now at the start of each of its bursts (:func:`rps_take_steered`), in
  time order, and only then meets ``enqueue_to_backlog``'s tests — the drop beyond ``netdev_max_backlog``, and
  NAPI_STATE_SCHED: the skb that finds the backlog idle schedules it, and the reader's IPI is the one that
  runs ``rps_trigger_softirq``. A CPU with nothing to do takes it in when that IPI is due. So what reaches a
  target during one of its bursts waits for its next one (the kernel's ``process_backlog`` would find it at its
  next look), and the reading CPU never learns whether its IPI was needed (3.10's ``rps_ipi_queued`` raises
  NET_RX once more on it when it was; the model does not).

``softnet_data.dropped`` counts only these backlog drops; a full NIC ring is counted by the driver
(``rx_missed_errors``), never here. The transmit half of dev.c is :mod:`netlab.kernel.dev_xmit` (with
``net_dev_init``, which registers both halves) and :mod:`netlab.kernel.dev_hard_xmit`; this half imports neither.
"""
from __future__ import annotations

from bisect import insort
from collections import deque
from dataclasses import dataclass, field, replace
from typing import Annotated, Any, Callable, Mapping

from netlab import check
from netlab.check import CInt
from netlab.kernel.cpu import NET_RX_SOFTIRQ, Cpu, current_cpu, per_cpu, this_cpu
from netlab.kernel.netns import Net
from netlab.kernel.sock import Sock
from netlab.kernel.skbuff import SkBuff, kfree_skb, skb_get, skb_orphan_frags_rx, skb_reset_network_header
from netlab.kernel.softirq import (__raise_softirq_irqoff, local_bh_disable, local_bh_enable, local_irq_enable,
                                   raise_softirq_irqoff)
from netlab.units import plural
from netlab.trace import kernel_function, trace_printk

ETH_P_ALL, ETH_P_IP = 0x0003, 0x0800
NET_RX_SUCCESS, NET_RX_DROP = 0, 1
PACKET_HOST, PACKET_OUTGOING = "PACKET_HOST", "PACKET_OUTGOING"
GRO_HASH_BUCKETS = 8        # include/linux/netdevice.h: a NAPI's GRO lists, by the skb's hash (3.10: one list)


@dataclass(eq=False)
class PacketType:
    """``struct packet_type``: a handler for one ethertype (``ip_rcv`` for ETH_P_IP) or for all (a tap).

    ``func(skb, dev, pt, orig_dev)`` takes one skb; ``list_func(skbs, pt, orig_dev)`` a list (6.12's ip_list_rcv).
    """

    type: int
    func: Callable[..., int]
    name: str = ""
    list_func: Callable[..., None] | None = None
    af_packet_priv: Any = None

    def __post_init__(self):
        check.fields(self)


@dataclass(eq=False)
class NetDevice:
    """``struct net_device``: a name, its namespace, and the ``rtnl_link_stats64`` counters ``ip -s link`` shows.

    For transmit (``netlab.kernel.dev_xmit``, ``dev_hard_xmit``): the offload ``features`` (``NETIF_F_SG``,
    ``NETIF_F_HW_CSUM``, ``NETIF_F_TSO``), the TX queue's ``qdisc`` (None: ``noqueue``, like lo), the driver's
    ``ndo_start_xmit`` and private data (``netdev_priv``), and whether the driver stopped the TX queue
    (``__QUEUE_STATE_DRV_XOFF``)."""

    name: str
    net: Net
    mtu: int = 1500
    stats: dict[str, int] = field(default_factory=lambda: dict.fromkeys(
        ("rx_packets", "rx_bytes", "rx_dropped", "rx_missed_errors", "rx_fifo_errors", "rx_nohandler",
         "tx_packets", "tx_bytes", "tx_dropped"), 0))
    features: frozenset = frozenset()
    qdisc: Any = None
    ndo_start_xmit: Callable[[SkBuff, "NetDevice"], int] | None = None
    priv: Any = None
    queue_stopped: bool = False
    rx_queues: list["NetdevRxQueue"] = field(default_factory=list)  # dev->_rx: per RX queue RPS settings

    @check.arguments
    def has(self, feature: str) -> bool:
        """``dev->features & feature``."""
        return feature in self.features

    def __post_init__(self):
        check.fields(self)
        if not isinstance(self.name, str) or not self.name:
            raise ValueError("a net_device needs a name such as 'eth0'")
        if not isinstance(self.net, Net):
            raise TypeError("net must be a netlab.kernel.netns.Net")


@dataclass(eq=False)
class NapiStruct:
    """``struct napi_struct``: one pollable source of packets (a NIC queue's vector, or a CPU's backlog)."""

    name: str
    poll: Callable[["NapiStruct", int], int]
    weight: int = 64
    dev: NetDevice | None = None
    sched: bool = False                      # NAPI_STATE_SCHED: on a poll_list (or being polled)
    rx_list: list[SkBuff] = field(default_factory=list)  # GRO_NORMAL skbs waiting to go up as a batch
    rx_count: int = 0                        # segments in rx_list (a merged skb counts its NAPI_GRO_CB()->count)
    gro_hash: list[list[SkBuff]] = field(default_factory=lambda: [[] for _ in range(GRO_HASH_BUCKETS)])
    # ^ skbs GRO holds, per bucket (hash & (buckets - 1)), youngest first; gro_bitmask: the non-empty ones
    gro_passed: int = 0                      # skbs GRO passed on (not a kernel counter: the model's, for Summary)
    list_owner: CInt = -1                    # CPU whose poll_list it was put on
    owner: Any = None                        # the driver's private struct (igb_q_vector) or the softnet_data
    on_list: list | None = field(default=None, repr=False)  # the list this napi's poll_list node is on

    def __post_init__(self):
        check.fields(self)
        if not callable(self.poll):
            raise TypeError("poll must be callable(napi, budget) -> work done")
        if not isinstance(self.weight, int) or self.weight < 1:
            raise ValueError(f"weight must be an int >= 1 (NAPI_POLL_WEIGHT is 64), got {self.weight!r}")


def _list_del(n: NapiStruct) -> None:
    if n.on_list is not None:
        n.on_list.remove(n)
        n.on_list = None


def _list_add_tail(n: NapiStruct, lst: list) -> None:
    _list_del(n)
    lst.append(n)
    n.on_list = lst


@dataclass(eq=False)
class SoftnetData:
    """``struct softnet_data``, one per CPU: the NAPI poll list, the backlog queues and the softnet_stat counters."""

    cpu: int
    poll_list: list[NapiStruct] = field(default_factory=list)
    input_pkt_queue: deque = field(default_factory=deque)
    process_queue: deque = field(default_factory=deque)
    backlog: NapiStruct | None = None
    processed: int = 0
    dropped: int = 0
    time_squeeze: int = 0
    received_rps: int = 0
    flow_limit: "SdFlowLimit | None" = None  # net.core.flow_limit_cpu_bitmap includes this CPU
    input_queue_head: int = 0                # skbs process_backlog took (RFS: has a flow's last one gone?)
    input_queue_tail: int = 0                # skbs enqueue_to_backlog queued
    rps_sock_flow_table: "RpsSockFlowTable | None" = None  # the one global table (net.core.rps_sock_flow_entries)
    rps_ipi_list: list["SteeredSkb"] = field(default_factory=list)  # steered away, IPI leaves at net_rx_action's end
    rps_steered: list["SteeredSkb"] = field(default_factory=list)   # steered here, not taken in yet (time order)
    in_net_rx_action: bool = False
    output_queue: list = field(default_factory=list)      # qdiscs waiting for NET_TX (__netif_schedule)
    completion_queue: list = field(default_factory=list)  # skbs freed from hard IRQ, for NET_TX to release

    def __post_init__(self):
        check.fields(self)

    @property
    def flow_limit_count(self) -> int:
        """softnet_stat's ``flow_limit_count``: ``sd->flow_limit->count``, 0 without a flow limit."""
        return self.flow_limit.count if self.flow_limit is not None else 0

    def snapshot(self) -> "SoftnetState":
        return SoftnetState(tuple([n.name for n in self.poll_list]), self.processed, self.dropped, self.time_squeeze,
                            tuple([s.name for s in self.input_pkt_queue]), tuple([s.name for s in self.process_queue]),
                            tuple([getattr(q, "kind", "qdisc") for q in self.output_queue]), self.received_rps,
                            tuple([f"{e.skb.name} from CPU {e.cpu}" for e in self.rps_steered]),
                            tuple(sorted({e.to for e in self.rps_ipi_list})))


@dataclass(frozen=True)
class SoftnetState:
    """One CPU's ``softnet_data`` at a step: the NAPI instances to poll, the ``/proc/net/softnet_stat`` counters,
    the backlog's two queues (by packet name) and the qdiscs waiting for NET_TX; RPS: IPIs taken
    (``received_rps``), the skbs steered here and not taken in yet ("p0 from CPU 0"), the CPUs this CPU's IPIs go
    to at the end of its ``net_rx_action`` (``rps_ipi_list``)."""

    poll_list: tuple[str, ...]
    processed: int
    dropped: int
    time_squeeze: int
    input_pkt_queue: tuple[str, ...]
    process_queue: tuple[str, ...]
    output_queue: tuple[str, ...]
    received_rps: int
    rps_steered: tuple[str, ...]
    rps_ipi_list: tuple[int, ...]


def _sd() -> SoftnetData:
    sd = this_cpu().softnet_data
    if sd is None:
        raise RuntimeError("this CPU has no softnet_data: call net_dev_init(cpus) first")
    return sd


# --- packet types -------------------------------------------------------------------------------------------
@kernel_function("net/core/dev.c", lambda pt, net: f"register packet handler {pt.name or hex(pt.type)}")
def dev_add_pack(pt: PacketType, net: Net) -> None:
    """ETH_P_ALL handlers (taps) go on ``ptype_all`` and see every packet; others on ``ptype_base[type]``."""
    if pt.type == ETH_P_ALL:
        net.ptype_all.append(pt)
    else:
        net.ptype_base.setdefault(pt.type, []).append(pt)


@kernel_function("net/core/dev.c", lambda pt, net: f"unregister packet handler {pt.name or hex(pt.type)}")
def dev_remove_pack(pt: PacketType, net: Net) -> None:
    """Take a handler off its list (a tcpdump that exits)."""
    lst = net.ptype_all if pt.type == ETH_P_ALL else net.ptype_base.get(pt.type, [])
    if pt not in lst:
        raise ValueError(f"{pt.name or pt.type} is not registered")
    lst.remove(pt)


# --- NAPI scheduling -----------------------------------------------------------------------------------------
@kernel_function("include/linux/netdevice.h", "schedule {n.name} for polling")
def napi_schedule(n: NapiStruct) -> bool:
    """If the NAPI is not scheduled yet, put it on this CPU's poll_list."""
    if napi_schedule_prep(n):
        __napi_schedule(n)
        return True
    return False


@kernel_function("net/core/dev.c", "test-and-set NAPI_STATE_SCHED on {n.name}")
def napi_schedule_prep(n: NapiStruct) -> bool:
    """True if this caller set NAPI_STATE_SCHED (so it must schedule the poll); False if it was already set."""
    if n.sched:
        return False
    n.sched = True
    return True


@kernel_function("net/core/dev.c", "schedule {n.name} on this CPU (irqs saved)")
def __napi_schedule(n: NapiStruct) -> None:
    """Disable interrupts and add the NAPI to this CPU's softnet_data."""
    ____napi_schedule(_sd(), n)


@kernel_function("net/core/dev.c", "schedule {n.name} on this CPU (irqs already off)")
def __napi_schedule_irqoff(n: NapiStruct) -> None:
    """As __napi_schedule, when hard IRQs are already disabled."""
    ____napi_schedule(_sd(), n)


@kernel_function("net/core/dev.c", "add {napi.name} to CPU {sd.cpu}'s poll_list; raise NET_RX_SOFTIRQ")
def ____napi_schedule(sd: SoftnetData, napi: NapiStruct) -> None:
    """``list_add_tail(&napi->poll_list, &sd->poll_list)``, then raise NET_RX unless net_rx_action is running."""
    _list_add_tail(napi, sd.poll_list)
    napi.list_owner = sd.cpu
    if not this_cpu().profile.napi_repoll_list:
        __raise_softirq_irqoff(NET_RX_SOFTIRQ)
    elif not sd.in_net_rx_action:
        raise_softirq_irqoff(NET_RX_SOFTIRQ)
    else:
        trace_printk("net_rx_action is running on this CPU: it will pick the NAPI up, no need to raise")


@kernel_function("net/core/dev.c", lambda n, work_done: f"{n.name} is done: leave polling mode "
                 f"({plural(work_done, 'packet')})")
def napi_complete_done(n: NapiStruct, work_done: int) -> bool:
    """Flush GRO — every held skb (``napi_gro_flush(n, false)``: no ``gro_flush_timeout``) and the rx_list batch —,
    take the NAPI off the poll list, clear NAPI_STATE_SCHED. The driver then re-enables its interrupt."""
    if gro_bitmask(n):
        napi_gro_flush(n, False)
    if n.rx_count:
        gro_normal_list(n)
    _list_del(n)
    n.sched = False
    return True


# --- the NET_RX softirq ----------------------------------------------------------------------------------------
@kernel_function("net/core/dev.c", "NET_RX_SOFTIRQ: poll the devices on this CPU's poll_list")
def net_rx_action() -> None:
    """Poll NAPIs within ``netdev_budget`` packets and ``netdev_budget_usecs``; else time_squeeze and raise again."""
    cpu = this_cpu()
    cpu.charge(cpu.costs.net_rx_action_ns)
    if cpu.profile.napi_repoll_list:
        _net_rx_action_repoll_list(cpu)
    else:
        _net_rx_action_3_10(cpu)


def _limits(cpu: Cpu) -> tuple[int, int]:
    return cpu.jiffies + cpu.usecs_to_jiffies(cpu.profile.netdev_budget_usecs), cpu.profile.netdev_budget


def _net_rx_action_repoll_list(cpu: Cpu) -> None:
    sd = cpu.softnet_data
    time_limit, budget = _limits(cpu)
    todo: list[NapiStruct] = []
    repoll: list[NapiStruct] = []
    while True:  # start:
        sd.in_net_rx_action = True
        for n in list(sd.poll_list):
            _list_add_tail(n, todo)
        while todo:
            budget -= napi_poll(todo[0], repoll)
            local_irq_enable()
            if budget <= 0 or cpu.jiffies >= time_limit:
                sd.time_squeeze += 1
                trace_printk(("netdev_budget" if budget <= 0 else "netdev_budget_usecs") +
                             " used up: time_squeeze++, stop")
                break
        else:
            if repoll:
                trace_printk("every NAPI had its turn; those with more work wait for the next run")
            else:
                sd.in_net_rx_action = False
                if sd.poll_list:
                    continue  # napi_schedule()d meanwhile: goto start
                net_rps_action_and_irq_enable(sd)
                return
        break
    for n in todo + list(sd.poll_list) + repoll:
        _list_add_tail(n, sd.poll_list)
    if sd.poll_list:
        __raise_softirq_irqoff(NET_RX_SOFTIRQ)
    else:
        sd.in_net_rx_action = False
    net_rps_action_and_irq_enable(sd)


def _net_rx_action_3_10(cpu: Cpu) -> None:
    sd = cpu.softnet_data
    time_limit, budget = _limits(cpu)
    while sd.poll_list:
        if budget <= 0 or cpu.jiffies >= time_limit:
            sd.time_squeeze += 1
            trace_printk("budget or 2 jiffies used up: time_squeeze++, raise NET_RX again")
            __raise_softirq_irqoff(NET_RX_SOFTIRQ)
            break
        n = sd.poll_list[0]
        weight = n.weight
        work = n.poll(n, weight) if n.sched else 0
        budget -= work
        if work == weight:
            if gro_bitmask(n):
                napi_gro_flush(n, cpu.profile.hz >= 1000)  # flush too old packets (HZ < 1000: all)
            _list_add_tail(n, sd.poll_list)
        local_irq_enable()
    net_rps_action_and_irq_enable(sd)


@kernel_function("net/core/dev.c", "take {n.name} off the list and poll it")
def napi_poll(n: NapiStruct, repoll: list) -> int:
    """``list_del_init``, poll; if the whole weight was used, queue the NAPI on ``repoll``."""
    _list_del(n)
    work, do_repoll = __napi_poll(n)
    if do_repoll:
        _list_add_tail(n, repoll)
    return work


@kernel_function("net/core/dev.c", "call {n.name}'s poll with budget = weight {n.weight}")
def __napi_poll(n: NapiStruct) -> tuple[int, bool]:
    """work < weight: the driver completed (napi_complete_done). work == weight: more to do, repoll — after GRO
    passes on what it holds that is older than this jiffy (``napi_gro_flush(n, HZ >= 1000)``: with HZ < 1000,
    all of it) and the rx_list batch."""
    weight = n.weight
    work = n.poll(n, weight) if n.sched else 0
    if work > weight:
        raise RuntimeError(f"{n.name}'s poll returned {work}, more than its budget {weight}")
    if work < weight:
        return work, False
    if gro_bitmask(n):
        napi_gro_flush(n, this_cpu().profile.hz >= 1000)
    if n.rx_count:
        gro_normal_list(n)
    return work, True


# --- GRO: the hand-off half (net/core/gro.c, include/net/gro.h; 3.10: net/core/dev.c) ---------------------------------
GRO_NORMAL, GRO_HELD, GRO_MERGED, GRO_MERGED_FREE = "GRO_NORMAL", "GRO_HELD", "GRO_MERGED", "GRO_MERGED_FREE"
"""``enum gro_result``: passed on as it is, held to merge later ones into, merged into a held skb (its sk_buff kept
on the held skb's frag_list, or freed: its data now is the held skb's page fragment)."""


@dataclass(eq=False)
class NapiGroCb:
    """``struct napi_gro_cb`` (include/net/gro.h), GRO's notes in an skb's control block: the headers it has read
    (``skb_gro_offset``), the segments merged into this skb (``count``), the jiffy GRO started to hold it (``age``),
    whether it must be passed on (``flush``), whether it is a held skb's flow (``same_flow``) and, for a merged skb,
    how to free it (``free``)."""

    data_offset: int = 0
    count: int = 1
    age: int = 0
    flush: bool = False
    same_flow: bool = False
    free: str = ""                  # "", "NAPI_GRO_FREE" or "NAPI_GRO_FREE_STOLEN_HEAD"
    last: SkBuff | None = None      # the skb of the frag_list that takes the next fragments (None: this one)

    def __post_init__(self):
        check.fields(self)


@check.arguments
def NAPI_GRO_CB(skb: SkBuff) -> NapiGroCb:  # noqa: N802 (the kernel's macro name)
    """The skb's GRO control block (a fresh one the first time)."""
    cb = skb.meta.get("napi_gro_cb")
    if cb is None:
        cb = skb.meta["napi_gro_cb"] = NapiGroCb()
    return cb


@check.arguments
def skb_gro_len(skb: SkBuff) -> int:
    """include/net/gro.h: the bytes after the headers GRO has read (a TCP segment's payload, once it read TCP's)."""
    return skb.len - NAPI_GRO_CB(skb).data_offset


@check.arguments
def gro_bitmask(napi: NapiStruct) -> bool:
    """``napi->gro_bitmask != 0``: GRO holds an skb in some bucket."""
    return any(napi.gro_hash)


@dataclass(frozen=True)
class PacketOffload:
    """``struct packet_offload``: GRO's handlers for one ethertype — ``gro_receive(head, skb)`` returns the held skb
    to pass on now, or None; ``gro_complete(skb, nhoff)`` fixes the merged skb's headers, 0 on success."""

    type: int
    gro_receive: Callable[[list[SkBuff], SkBuff], SkBuff | None]
    gro_complete: Callable[[SkBuff, int], int]
    name: str = ""

    def __post_init__(self):
        check.fields(self)


offload_base: dict[int, PacketOffload] = {}
"""``net_hotdata.offload_base``: the GRO handlers by ethertype (``dev_add_offload``; ETH_P_IP: af_inet's)."""


@check.arguments
def dev_add_offload(po: PacketOffload) -> None:
    """net/core/gro.c (3.10: net/core/dev.c), at boot (``ipv4_offload_init``): register GRO handlers."""
    offload_base[po.type] = po


@kernel_function("net/core/gro.c", lambda napi, skb: f"pass {skb.name} on "
                 f"({plural(NAPI_GRO_CB(skb).count, 'segment')}, {skb.len} bytes)")
def napi_gro_complete(napi: NapiStruct, skb: SkBuff) -> None:
    """GRO passes a held skb on: one segment as it came (``gso_size`` 0), a merged one after its protocol's
    ``gro_complete`` wrote the headers of the whole (``inet_gro_complete`` → ``tcp4_gro_complete``: ``tot_len``,
    ``gso_segs``); then 6.12 ``gro_normal_one`` (the batch counts its segments), 3.10 ``netif_receive_skb``. Its trip up
    the stack costs ``Costs.stack_ns``, charged here, once for all the segments merged into it — unless
    ``get_rps_cpu`` steers it to a backlog (:func:`goes_up_here`): then ``process_backlog`` charges it on the CPU
    that takes it."""
    cpu = this_cpu()
    if goes_up_here(skb):
        cpu.charge(cpu.costs.stack_ns)
    napi.gro_passed += 1
    cb = NAPI_GRO_CB(skb)
    if cb.count == 1:
        skb.shinfo.gso_size = 0
    elif offload_base[skb.meta.get("ethertype", ETH_P_IP)].gro_complete(skb, 0):
        kfree_skb(skb)
        return
    if cpu.profile.gro_normal_batch is None:
        netif_receive_skb(skb)
    else:
        gro_normal_one(napi, skb, cb.count)


@kernel_function("net/core/gro.c", lambda napi, flush_old: f"pass on what GRO holds for {napi.name}"
                 + (" since before this jiffy" if flush_old else ""))
def napi_gro_flush(napi: NapiStruct, flush_old: bool) -> None:
    """Each bucket's held skbs, oldest first (``napi_gro_complete``); with ``flush_old`` a bucket stops at the first
    skb held in this jiffy (``NAPI_GRO_CB(skb)->age == jiffies``: jiffies as they are then, after the skbs before
    it went up). 6.12: bucket by bucket (``__napi_gro_flush_chain``); 3.10: its one ``gro_list``."""
    cpu = this_cpu()
    for bucket in napi.gro_hash:
        while bucket:
            skb = bucket[-1]
            if flush_old and NAPI_GRO_CB(skb).age == cpu.jiffies:
                break
            bucket.pop()
            napi_gro_complete(napi, skb)


@kernel_function("include/net/gro.h", lambda napi, skb, segs: f"add {skb.name} to {napi.name}'s rx_list "
                 f"({napi.rx_count + segs}/{this_cpu().profile.gro_normal_batch})")
def gro_normal_one(napi: NapiStruct, skb: SkBuff, segs: int) -> None:
    """Queue one skb of ``segs`` segments; once the batch holds ``gro_normal_batch`` segments, pass it up."""
    napi.rx_list.append(skb)
    napi.rx_count += segs
    if napi.rx_count >= this_cpu().profile.gro_normal_batch:
        gro_normal_list(napi)


@kernel_function("include/net/gro.h", lambda napi: f"pass {napi.name}'s batch of {len(napi.rx_list)} up the stack")
def gro_normal_list(napi: NapiStruct) -> None:
    """Hand the batched skbs to ``netif_receive_skb_list_internal`` and empty the batch."""
    if not napi.rx_count:
        return
    batch, napi.rx_list, napi.rx_count = napi.rx_list, [], 0
    netif_receive_skb_list_internal(batch)


# --- up the stack ------------------------------------------------------------------------------------------------
@kernel_function("net/core/dev.c", lambda skbs: f"receive a list of {plural(len(skbs), 'skb')}")
def netif_receive_skb_list_internal(skbs: list[SkBuff]) -> None:
    """Timestamps, RPS (each skb ``get_rps_cpu`` steers goes to that CPU's backlog), then the list receive."""
    rest = []
    for skb in skbs:
        cpu, rflow = get_rps_cpu(skb.meta.get("dev"), skb)
        if cpu >= 0:
            enqueue_to_backlog(skb, cpu, rflow)
        else:
            rest.append(skb)
    if rest:
        __netif_receive_skb_list_core(rest)


@kernel_function("net/core/dev.c", lambda skbs: f"taps and protocol lookup per skb "
                 f"({plural(len(skbs), 'skb')}), then deliver them in sublists")
def __netif_receive_skb_list_core(skbs: list[SkBuff]) -> None:
    """Run ``__netif_receive_skb_core`` per skb; consecutive skbs for the same handler go on as one sublist. (6.12
    only: 3.10 has no list receive, its GRO passes each skb to ``netif_receive_skb``.)"""
    sublist: list[SkBuff] = []
    pt_curr = None
    for skb in skbs:
        _, pt_prev = __netif_receive_skb_core(skb)
        if pt_prev is None:
            continue
        if pt_prev is not pt_curr and sublist:
            _deliver_list(sublist, pt_curr)
            sublist = []
        pt_curr = pt_prev
        sublist.append(skb)
    if sublist:
        _deliver_list(sublist, pt_curr)


def _deliver_list(skbs: list[SkBuff], pt: PacketType) -> None:
    """``__netif_receive_skb_list_ptype``: the handler's list function if it has one, else one by one."""
    if pt.list_func is not None:
        pt.list_func(skbs, pt, skbs[0].meta.get("dev"))
    else:
        for skb in skbs:
            pt.func(skb, skb.meta.get("dev"), pt, skb.meta.get("dev"))


@kernel_function("net/core/dev.c", "receive {skb.name}")
def netif_receive_skb(skb: SkBuff) -> int:
    """The one-skb entry into the stack (3.10's NAPI path, and anyone not batching): RPS (6.12: in
    ``netif_receive_skb_internal``), else ``__netif_receive_skb``."""
    cpu, rflow = get_rps_cpu(skb.meta.get("dev"), skb)
    if cpu >= 0:
        return enqueue_to_backlog(skb, cpu, rflow)
    return __netif_receive_skb(skb)


@kernel_function("net/core/dev.c", "receive {skb.name} (memalloc bookkeeping)")
def __netif_receive_skb(skb: SkBuff) -> int:
    """Set up the pfmemalloc context, then the one-skb core."""
    return __netif_receive_skb_one_core(skb)


@kernel_function("net/core/dev.c", "core receive of {skb.name}, then its protocol handler")
def __netif_receive_skb_one_core(skb: SkBuff) -> int:
    """``__netif_receive_skb_core`` finds the handler; call it (``ip_rcv``)."""
    ret, pt_prev = __netif_receive_skb_core(skb)
    if pt_prev is not None:
        ret = pt_prev.func(skb, skb.meta.get("dev"), pt_prev, skb.meta.get("dev"))
    return ret


@kernel_function("net/core/dev.c", "{skb.name}: give every tap a copy, then find the protocol handler")
def __netif_receive_skb_core(skb: SkBuff) -> tuple[int, PacketType | None]:
    """Count it (``softnet_data.processed``), deliver to ``ptype_all`` (tcpdump) — before netfilter and IP —, then
    look up ``ptype_base`` by ethertype; the last handler found gets the skb itself (so a packet nobody but a tap
    wants is the tap's). Returns ``(ret, pt_prev)``: 6.12 (``profile.receive_core_returns_handler``) hands that
    handler back for its caller to call, for one skb or a list of them; 3.10 calls it here, so ``ip_rcv`` runs
    inside this function, and returns its verdict with no handler. No handler at all: dropped and counted in
    ``rx_dropped`` (``NET_RX_DROP``, None; ``rx_nohandler``, since 4.6, counts only what a bonding slave's
    ``RX_HANDLER_EXACT`` kept from the other handlers). The driver pulled the Ethernet header: the network header
    starts at ``data`` (``skb_reset_network_header``)."""
    _sd().processed += 1
    skb_reset_network_header(skb)
    dev: NetDevice | None = skb.meta.get("dev")
    net: Net = dev.net if dev is not None else skb.meta["net"]
    pt_prev = None
    for ptype in list(net.ptype_all):
        if pt_prev is not None:
            deliver_skb(skb, pt_prev, dev)
        pt_prev = ptype
    for ptype in net.ptype_base.get(skb.meta.get("ethertype", ETH_P_IP), []):
        if pt_prev is not None:
            deliver_skb(skb, pt_prev, dev)
        pt_prev = ptype
    if pt_prev is None:
        trace_printk(f"no protocol handler for {skb.name}: dropped (rx_dropped)")
        if dev is not None:
            dev.stats["rx_dropped"] += 1
        kfree_skb(skb)
        return NET_RX_DROP, None
    skb_orphan_frags_rx(skb)  # pinned MSG_ZEROCOPY pages looping back to a local socket are copied here
    if this_cpu().profile.receive_core_returns_handler:
        return NET_RX_SUCCESS, pt_prev
    return pt_prev.func(skb, dev, pt_prev, dev), None


@kernel_function("net/core/dev.c", lambda skb, pt_prev, orig_dev: f"give {skb.name} to "
                 f"{pt_prev.name or hex(pt_prev.type)}")
def deliver_skb(skb: SkBuff, pt_prev: PacketType, orig_dev: NetDevice | None) -> int:
    """Take a reference (``skb->users``++) and call the handler; a tap clones what it keeps."""
    skb_get(skb)
    return pt_prev.func(skb, orig_dev, pt_prev, orig_dev)


# --- the backlog (netif_rx) ------------------------------------------------------------------------------------------
@kernel_function("net/core/dev.c", "queue {skb.name} on this CPU's backlog (process context is fine)")
def netif_rx(skb: SkBuff) -> int:
    """Post a packet to the backlog NAPI; from process context with BH disabled around it, so the softirq runs at
    the ``local_bh_enable``."""
    need_bh_off = not this_cpu().in_interrupt()
    if need_bh_off:
        local_bh_disable()
    ret = enqueue_to_backlog(skb, this_cpu().id)
    if need_bh_off:
        local_bh_enable()
    return ret


@kernel_function("net/core/dev.c", "queue {skb.name} on this CPU's backlog (already in softirq/hardirq)")
def __netif_rx(skb: SkBuff) -> int:
    """``netif_rx`` for callers already in interrupt context (loopback_xmit runs with BH disabled)."""
    if not this_cpu().in_interrupt():
        raise RuntimeError("__netif_rx must be called from hard IRQ, softirq or with BH disabled; use netif_rx")
    return enqueue_to_backlog(skb, this_cpu().id)


def _steered_head(sd: SoftnetData, skb: SkBuff) -> "SteeredSkb | None":
    return sd.rps_steered[0] if sd.rps_steered and sd.rps_steered[0].skb is skb else None


def _enqueue_text(skb: SkBuff, cpu: int, rflow: "RpsDevFlow | None" = None) -> str:
    if cpu != this_cpu().id:
        return f"RPS: steer {skb.name} to CPU {cpu}'s input_pkt_queue (CPU {cpu} takes it in when it next runs)"
    steered = _steered_head(_sd(), skb)
    by = f", steered here by CPU {steered.cpu} at {steered.time_ns / 1000:.3f} µs," if steered else ""
    return f"append {skb.name}{by} to CPU {cpu}'s input_pkt_queue"


@kernel_function("net/core/dev.c", _enqueue_text)
def enqueue_to_backlog(skb: SkBuff, cpu: int, rflow: "RpsDevFlow | None" = None) -> int:
    """Queue on CPU ``cpu``'s ``input_pkt_queue`` while ``qlen <= netdev_max_backlog`` (so max_backlog + 1 fit);
    else drop and that CPU's ``sd->dropped``++. The first packet schedules the backlog NAPI
    (``napi_schedule_rps``); ``input_queue_tail``++, saved in RFS's ``rflow.last_qtail``. Another CPU's (RPS): posted to it (``rps_steered``); that CPU calls this for the skb
    when it takes it in, and the tests are made then (the model's order, see the module docstring)."""
    this = this_cpu()
    if cpu != this.id:
        steered = SteeredSkb(this.now, this.id, cpu, skb, rflow)
        insort(per_cpu(cpu).softnet_data.rps_steered, steered, key=lambda e: (e.time_ns, e.cpu))
        _sd().rps_ipi_list.append(steered)
        return NET_RX_SUCCESS
    sd = _sd()
    steered = _steered_head(sd, skb)
    qlen = len(sd.input_pkt_queue)
    enqueuing = per_cpu(steered.cpu).softnet_data if steered is not None else sd
    if qlen <= this.profile.netdev_max_backlog and not skb_flow_limit(skb, qlen, enqueuing):
        if not qlen and napi_schedule_prep(sd.backlog):
            if steered is None:
                napi_schedule_rps(sd)
            else:
                trace_printk(f"the backlog was idle: the IPI CPU {steered.cpu} sent at {steered.ipi_at / 1000:.3f} µs "
                             "is for it")
                this.call_single_queue.append((steered.ipi_at, rps_trigger_softirq, sd))
        if steered is not None:
            sd.rps_steered.pop(0)
            rflow = steered.rflow
        sd.input_pkt_queue.append(skb)
        sd.input_queue_tail += 1
        if rflow is not None:
            rflow.last_qtail = sd.input_queue_tail
        return NET_RX_SUCCESS
    if steered is not None:
        sd.rps_steered.pop(0)
    sd.dropped += 1
    trace_printk(f"input_pkt_queue holds {qlen} > netdev_max_backlog: drop, softnet_data.dropped++"
                 if qlen > this.profile.netdev_max_backlog else "the flow limit drops it: softnet_data.dropped++")
    dev = skb.meta.get("dev")
    if dev is not None:
        dev.stats["rx_dropped"] += 1
    kfree_skb(skb)
    return NET_RX_DROP


@kernel_function("net/core/dev.c", "schedule CPU {sd.cpu}'s backlog NAPI")
def napi_schedule_rps(sd: SoftnetData) -> None:
    """This CPU's own backlog: ``__napi_schedule_irqoff(&sd->backlog)``. (Another CPU's goes on
    ``rps_ipi_list``; in the model that CPU takes the reader's IPI when it takes the skb in.)"""
    __napi_schedule_irqoff(sd.backlog)


@kernel_function("net/core/dev.c", lambda napi, quota: f"backlog poll: up to {quota} skbs from "
                 "process_queue/input_pkt_queue")
def process_backlog(napi: NapiStruct, quota: int) -> int:
    """Send the IPIs this CPU owes, then move input_pkt_queue to process_queue and push each skb up with
    ``__netif_receive_skb`` (``Costs.stack_ns`` each: an skb RPS steered here pays its trip up the stack on this
    CPU); when both queues are empty, clear NAPI_STATE_SCHED."""
    cpu = this_cpu()
    sd: SoftnetData = napi.owner
    if sd.rps_ipi_list:  # IPIs this CPU owes: better sent now than at net_rx_action's end
        net_rps_action_and_irq_enable(sd)
    napi.weight = cpu.profile.dev_weight
    cpu.charge(cpu.costs.poll_ns)
    work = 0
    while True:
        while sd.process_queue:
            skb = sd.process_queue.popleft()
            cpu.charge(cpu.costs.stack_ns)
            __netif_receive_skb(skb)
            sd.input_queue_head += 1
            work += 1
            if work >= quota:
                return work
        if not sd.input_pkt_queue:
            _list_del(napi)
            napi.sched = False
            return work
        sd.process_queue.extend(sd.input_pkt_queue)
        sd.input_pkt_queue.clear()


# --- RPS (net/core/dev.c, include/linux/netdevice.h, include/linux/kernel.h) -------------------------------------
RPS_NO_CPU = 0xFFFF
FLOW_LIMIT_HISTORY = 1 << 7            # include/linux/netdevice.h: the last 128 skbs
NETDEV_FLOW_LIMIT_TABLE_LEN = 1 << 12  # net.core.flow_limit_table_len (netdev_flow_limit_table_len)
GOLDEN_RATIO_32 = 0x61C88647           # include/linux/hash.h


@dataclass(eq=False)
class SdFlowLimit:
    """``struct sd_flow_limit`` (include/linux/netdevice.h), one per CPU in ``flow_limit_cpu_bitmap``: which flow
    (a bucket of ``2**log_buckets``) each of the last ``FLOW_LIMIT_HISTORY`` skbs this CPU enqueued under pressure
    belonged to, the count per bucket, and the drops (``count``, softnet_stat's ``flow_limit_count``)."""

    log_buckets: int = NETDEV_FLOW_LIMIT_TABLE_LEN.bit_length() - 1
    history_head: int = 0
    history: list[int] = field(default_factory=lambda: [0] * FLOW_LIMIT_HISTORY)
    buckets: list[int] = field(default_factory=list)
    count: int = 0

    def __post_init__(self):
        check.fields(self)
        if not 1 <= self.log_buckets <= 20:
            raise ValueError(f"log_buckets must be 1..20, got {self.log_buckets!r}")
        self.buckets = self.buckets or [0] * (1 << self.log_buckets)

    @check.arguments
    def hogs(self, skb_hash: check.U32, qlen: int, max_backlog: int) -> bool:
        """``skb_flow_limit``'s rule for an skb of hash ``skb_hash`` finding ``qlen`` skbs queued: below half of
        ``max_backlog``, no. Else record its flow bucket (``hash_32`` of the hash) in the history, forget the oldest,
        and say yes (``count``++) if its bucket now holds more than half of the history."""
        if qlen < max_backlog >> 1:
            return False
        new_flow = hash_32(skb_hash, self.log_buckets)
        old_flow = self.history[self.history_head]
        self.history[self.history_head] = new_flow
        self.history_head = (self.history_head + 1) & (FLOW_LIMIT_HISTORY - 1)
        if self.buckets[old_flow]:
            self.buckets[old_flow] -= 1
        self.buckets[new_flow] += 1
        if self.buckets[new_flow] > FLOW_LIMIT_HISTORY >> 1:
            self.count += 1
            return True
        return False


@check.arguments
def hash_32(val: int, bits: int) -> int:
    """include/linux/hash.h: ``val * GOLDEN_RATIO_32 >> (32 - bits)``, a u32 spread over ``bits`` bits."""
    if not 0 <= val < 1 << 32 or not 1 <= bits <= 32:
        raise ValueError(f"val is a u32 and bits 1..32, got {val!r}, {bits!r}")
    return ((val * GOLDEN_RATIO_32) & 0xFFFFFFFF) >> (32 - bits)


@kernel_function("net/core/dev.c", lambda skb, qlen, sd: f"flow limit: is {skb.name}'s flow hogging a backlog "
                 f"of {qlen}?")
def skb_flow_limit(skb: SkBuff, qlen: int, sd: SoftnetData) -> bool:
    """With a flow limit on ``sd`` (the enqueuing CPU's: ``this_cpu_ptr(&softnet_data)``; in the model the reading
    CPU of a steered skb), :meth:`SdFlowLimit.hogs`: drop (``fl->count``++) the skb of a flow that holds more than
    half of the last ``FLOW_LIMIT_HISTORY`` skbs enqueued once the backlog is half full."""
    fl = sd.flow_limit
    if fl is None or not fl.hogs(skb.meta.get("hash", 0), qlen, this_cpu().profile.netdev_max_backlog):
        return False
    trace_printk(f"{fl.buckets[hash_32(skb.meta.get('hash', 0), fl.log_buckets)]} of the last {FLOW_LIMIT_HISTORY}: "
                 "drop, flow_limit_count++")
    return True


@dataclass(eq=False)
class RpsSockFlowTable:
    """``struct rps_sock_flow_table`` (net.core.rps_sock_flow_entries, a power of 2): per flow-hash bucket, where
    the flow's socket was last read — with ``hash_bits`` (6.12) the hash's upper bits | the CPU (``rps_cpu_mask``
    the CPU bits); without (3.10) the CPU. ``RPS_NO_CPU`` until then."""

    entries: int
    rps_cpu_mask: int
    hash_bits: bool = True
    ents: list[int] = field(default_factory=list)

    def __post_init__(self):
        check.fields(self)
        if self.entries < 1 or self.entries & (self.entries - 1):
            raise ValueError(f"rps_sock_flow_entries must be a power of 2, got {self.entries!r}")
        self.ents = self.ents or [RPS_NO_CPU] * self.entries

    @check.arguments
    def record(self, skb_hash: check.U32, cpu: Annotated[int, check.Range(0, RPS_NO_CPU - 1)]) -> None:
        """``rps_record_sock_flow``: the flow of hash ``skb_hash`` (not 0) is read on ``cpu``; a flow of the same
        bucket recorded before is forgotten (the last writer wins)."""
        self.record_flows({int(skb_hash): int(cpu)})

    def record_flows(self, flows: Mapping[int, int]) -> None:
        """:meth:`record` for each flow hash → CPU of ``flows``, in order (one loop: the load model records each
        flow's reader before the traffic)."""
        if check.outermost():
            if not isinstance(flows, Mapping) or any(type(h) is not int or type(c) is not int for h, c in flows.items()):
                raise TypeError(f"flows must map u32 flow hashes to CPUs (ints), got {flows!r}")
            if any(not 0 <= h < 1 << 32 or not 0 <= c < RPS_NO_CPU for h, c in flows.items()):
                raise ValueError(f"flows must map u32 flow hashes to CPUs 0 .. {RPS_NO_CPU - 1}, got {flows!r}")
        ents, mask, upper = self.ents, self.entries - 1, ~self.rps_cpu_mask & 0xFFFFFFFF
        for skb_hash, cpu in flows.items():
            if skb_hash:
                ents[skb_hash & mask] = (skb_hash & upper) | cpu if self.hash_bits else cpu

    @check.arguments
    def next_cpu(self, skb_hash: check.U32) -> int | None:
        """``get_rps_cpu``'s look-up: the CPU recorded for the flow of hash ``skb_hash`` (3.10: whatever its bucket
        holds, ``RPS_NO_CPU`` too), or None when the bucket's upper hash bits are another flow's (6.12: RPS then)."""
        ident = self.ents[skb_hash & (self.entries - 1)]
        if not self.hash_bits:
            return ident
        return ident & self.rps_cpu_mask if not (ident ^ skb_hash) & ~self.rps_cpu_mask & 0xFFFFFFFF else None


@dataclass(eq=False)
class RpsDevFlow:
    """``struct rps_dev_flow``: the CPU a flow of this RX queue goes to, and ``input_queue_tail`` of that CPU's
    backlog after its last skb was queued there (``last_qtail``)."""

    cpu: Annotated[int, check.Range(0, RPS_NO_CPU)] = RPS_NO_CPU
    last_qtail: int = 0

    def __post_init__(self):
        check.fields(self)


@dataclass(eq=False)
class NetdevRxQueue:
    """``struct netdev_rx_queue``: one RX queue's RPS map, the CPUs of ``/sys/class/net/<dev>/queues/rx-N/rps_cpus``
    in ascending order (``store_rps_map`` builds ``rps_map->cpus`` from the mask; empty: RPS off), and its RFS
    ``rps_flow_table`` (``rps_flow_cnt`` entries, a power of 2; empty: RFS off on this queue)."""

    index: int
    rps_map: tuple[int, ...] = ()
    rps_flow_table: list[RpsDevFlow] = field(default_factory=list)

    def __post_init__(self):
        check.fields(self)
        if any(not isinstance(c, int) or c < 0 for c in self.rps_map) or list(self.rps_map) != sorted(
                set(self.rps_map)):
            raise ValueError(f"rps_map must be ascending distinct CPU numbers, got {self.rps_map!r}")
        n = len(self.rps_flow_table)
        if n & (n - 1):
            raise ValueError(f"rps_flow_table must have a power of 2 entries (rps_flow_cnt), got {n}")


@check.arguments
def rps_active(skb: SkBuff) -> bool:
    """Whether the skb's RX queue has an RPS map (``get_rps_cpu``'s first test, ``!flow_table && !map``)."""
    dev = skb.meta.get("dev")
    queue = skb.meta.get("queue")
    if dev is None or queue is None or queue >= len(dev.rx_queues):
        return False
    return bool(dev.rx_queues[queue].rps_map or dev.rx_queues[queue].rps_flow_table)


@check.arguments
def goes_up_here(skb: SkBuff) -> bool:
    """Whether ``get_rps_cpu`` leaves the skb on this CPU (no RPS on its queue; or no hash, or neither RFS nor an RPS
    map places its flow): then its trip up the stack runs here, and the model charges its ``Costs.stack_ns`` when GRO
    passes it on (as decided then: 6.12 asks ``get_rps_cpu`` when the batch goes up, in the same poll)."""
    return rps_choice(skb.meta.get("dev"), skb).cpu < 0


@check.arguments
def reciprocal_scale(val: int, ep_ro: int) -> int:
    """include/linux/kernel.h: ``(u32)(((u64) val * ep_ro) >> 32)``, a hash scaled to 0..ep_ro-1."""
    if not 0 <= val < 1 << 32 or not 0 <= ep_ro < 1 << 32:
        raise ValueError(f"val and ep_ro are u32, got {val!r}, {ep_ro!r}")
    return (val * ep_ro) >> 32


@dataclass(frozen=True)
class RpsChoice:
    """What ``get_rps_cpu`` decides for an skb, before it acts: the CPU (-1: handle it here), and with RFS the
    queue's ``rps_dev_flow`` (the kernel's ``rflowp``), the flow's ``next_cpu`` and whether ``set_rps_cpu`` points
    the entry there first; without, the ``rps_map`` index it picked."""

    cpu: int
    rflow: RpsDevFlow | None = None
    next_cpu: int | None = None
    move: bool = False
    map_index: int | None = None


@check.arguments
def rps_choice(dev: NetDevice | None, skb: SkBuff) -> RpsChoice:
    """``get_rps_cpu``'s decision, without its side effects (``set_rps_cpu``, the trace). ``skb_get_hash`` is the
    RSS hash the NIC computed (igb: ``igb_rx_hash``); 0 means none: -1. RFS first: if ``rps_sock_flow_table`` knows
    the flow (6.12: its upper hash bits match), it goes to the CPU recorded there — switching from the queue's
    ``rps_dev_flow`` CPU only once that CPU's ``input_queue_head`` has passed the flow's ``last_qtail``. Else RPS:
    ``map->cpus[reciprocal_scale(hash, map->len)]``, so one flow always lands on one CPU."""
    if dev is None or not rps_active(skb):
        return RpsChoice(-1)
    rxqueue = dev.rx_queues[skb.meta["queue"]]
    h = skb.meta.get("hash", 0)
    if not h:
        return RpsChoice(-1)
    index = reciprocal_scale(h, len(rxqueue.rps_map)) if rxqueue.rps_map else None
    by_map = RpsChoice(-1 if index is None else rxqueue.rps_map[index], map_index=index)
    nr_cpus = len(this_cpu().siblings)
    table = _sd().rps_sock_flow_table
    next_cpu = table.next_cpu(h) if rxqueue.rps_flow_table and table is not None else None
    if next_cpu is None:
        return by_map
    rflow = rxqueue.rps_flow_table[h & (len(rxqueue.rps_flow_table) - 1)]
    move = rflow.cpu != next_cpu and (rflow.cpu >= nr_cpus or
                                      per_cpu(rflow.cpu).softnet_data.input_queue_head - rflow.last_qtail >= 0)
    tcpu = next_cpu if move else rflow.cpu
    if tcpu < nr_cpus:
        return RpsChoice(tcpu, rflow, next_cpu, move)
    return replace(by_map, rflow=rflow, next_cpu=next_cpu, move=move)   # next_cpu is no CPU here: RPS decides


@kernel_function("net/core/dev.c", lambda dev, skb: f"RPS: pick a CPU for {skb.name} by its flow hash")
def get_rps_cpu(dev: NetDevice | None, skb: SkBuff) -> tuple[int, RpsDevFlow | None]:
    """The CPU for the skb (-1: handle it here) and, with RFS, its queue's ``rps_dev_flow`` (the kernel's
    ``rflowp``): :func:`rps_choice`, acted on (``set_rps_cpu`` when RFS moves the flow)."""
    if dev is not None and rps_active(skb):
        skb_reset_network_header(skb)
    choice = rps_choice(dev, skb)
    rflow = choice.rflow
    if choice.move:
        rflow = set_rps_cpu(dev, skb, rflow, choice.next_cpu)
    h = skb.meta.get("hash", 0)
    if choice.cpu >= 0 and choice.map_index is None:
        trace_printk(f"RFS: flow {h:#010x} is read on CPU {choice.next_cpu}; its skbs go to CPU {choice.cpu}")
        return choice.cpu, rflow
    if choice.cpu >= 0:
        trace_printk(f"hash {h:#010x} → rps_map[{choice.map_index}] = CPU {choice.cpu}")
    return choice.cpu, None


@kernel_function("net/core/dev.c", lambda dev, skb, rflow, next_cpu: f"RFS: {skb.name}'s flow moves to CPU "
                 f"{next_cpu}")
def set_rps_cpu(dev: NetDevice, skb: SkBuff, rflow: RpsDevFlow, next_cpu: int) -> RpsDevFlow:
    """Point the queue's flow entry at ``next_cpu`` from that CPU's current ``input_queue_head`` on (accelerated
    RFS, ``ndo_rx_flow_steer``, is not modelled)."""
    if next_cpu < len(this_cpu().siblings):
        rflow.last_qtail = per_cpu(next_cpu).softnet_data.input_queue_head
    rflow.cpu = next_cpu
    return rflow


def rfs_needed() -> bool:
    """The ``rfs_needed`` static key: on once ``rps_sock_flow_entries`` is set (this host has the table); off,
    the RFS hooks in recvmsg and the TCP receive path are skipped."""
    cpu = current_cpu()
    return cpu is not None and cpu.softnet_data is not None and cpu.softnet_data.rps_sock_flow_table is not None


@kernel_function("include/net/rps.h", lambda sk: f"RFS: {sk.name} is read on this CPU")
def sock_rps_record_flow(sk: Sock) -> None:
    """From ``inet_recvmsg``: record this CPU for the socket's flow (``sk_rxhash``) in ``rps_sock_flow_table``
    (``rps_record_sock_flow``) — 6.12 only for an ESTABLISHED socket, with the hash's upper bits beside the CPU;
    3.10 for any, the CPU alone."""
    cpu = this_cpu()
    table = _sd().rps_sock_flow_table
    if table is not None and (sk.sk_state == "TCP_ESTABLISHED" or not cpu.profile.napi_repoll_list):
        table.record(sk.sk_rxhash, cpu.id)


@kernel_function("include/net/sock.h", lambda sk, skb: f"RFS: remember {skb.name}'s flow hash in {sk.name}")
def sock_rps_save_rxhash(sk: Sock, skb: SkBuff) -> None:
    """``sk->sk_rxhash = skb->hash`` (3.10 first forgets the old hash's entry: ``sock_rps_reset_flow``)."""
    h = skb.meta.get("hash", 0)
    if sk.sk_rxhash == h:
        return
    table = _sd().rps_sock_flow_table
    if not this_cpu().profile.napi_repoll_list and table is not None and sk.sk_rxhash:
        table.ents[sk.sk_rxhash & (table.entries - 1)] = RPS_NO_CPU
    sk.sk_rxhash = h


@dataclass(eq=False)
class SteeredSkb:
    """An skb RPS steered from CPU ``cpu`` to CPU ``to``: when, and when ``cpu``'s IPIs left (the end of its
    ``net_rx_action``; None until then). The model's hand-off, see the module docstring."""

    time_ns: int
    cpu: int
    to: int
    skb: SkBuff
    rflow: RpsDevFlow | None = None      # RFS: the queue's flow entry, whose last_qtail the enqueue sets
    ipi_at: int | None = None

    def __post_init__(self):
        check.fields(self)


@check.arguments
def rps_take_steered(sd: SoftnetData) -> None:
    """At the start of each of its bursts a CPU takes in the skbs steered to it up to its clock, in time order:
    ``enqueue_to_backlog`` on itself for each (the model's order, see the module docstring)."""
    now = this_cpu().now
    while sd.rps_steered and sd.rps_steered[0].time_ns <= now:
        enqueue_to_backlog(sd.rps_steered[0].skb, sd.cpu)


@kernel_function("net/core/dev.c", lambda sd: (
    f"IPIs leave now for the CPUs this run steered packets to "
    f"({', '.join(f'CPU {c}' for c in sorted({e.to for e in sd.rps_ipi_list}))}), enable interrupts"
    if sd.rps_ipi_list else "no IPI to send (this run steered nothing), enable interrupts"))
def net_rps_action_and_irq_enable(sd: SoftnetData) -> None:
    """Send an IPI (``net_rps_send_ipi`` → ``smp_call_function_single_async``) to each CPU on ``rps_ipi_list``.
    Called at the end of ``net_rx_action`` and at the start of ``process_backlog``. In the model each skb this
    CPU steered is stamped with the time; the CPU it went to takes that IPI if the skb finds its backlog idle."""
    if not sd.rps_ipi_list:
        return
    now = this_cpu().now
    for e in sd.rps_ipi_list:
        e.ipi_at = now
    sd.rps_ipi_list = []


@kernel_function("net/core/dev.c", "IPI on CPU {sd.cpu}: schedule its backlog NAPI, received_rps++")
def rps_trigger_softirq(sd: SoftnetData) -> None:
    """In the IPI (hard IRQ) on the target CPU: ``____napi_schedule(sd, &sd->backlog)`` raises NET_RX there;
    ``received_rps`` counts IPIs, not packets."""
    ____napi_schedule(sd, sd.backlog)
    sd.received_rps += 1


# --- /proc/net/softnet_stat -------------------------------------------------------------------------------------
SOFTNET_STAT_FIELDS = ("processed", "dropped", "time_squeeze", "zero4", "zero5", "zero6", "zero7", "zero8",
                       "cpu_collision", "received_rps", "flow_limit_count", "backlog_len", "cpu", "input_qlen",
                       "process_qlen")
"""The 15 columns 6.12 prints; older kernels print a prefix of them (3.10: 10)."""


@check.arguments
def softnet_stat_values(sd: SoftnetData, columns: int = 15) -> list[int]:
    """One ``/proc/net/softnet_stat`` row as numbers, as ``softnet_seq_show`` (net/core/net-procfs.c) prints it."""
    if columns not in (10, 11, 13, 15):
        raise ValueError("softnet_stat has 10 (3.10), 11, 13 or 15 (6.12) columns")
    inq, procq = len(sd.input_pkt_queue), len(sd.process_queue)
    row = [sd.processed, sd.dropped, sd.time_squeeze, 0, 0, 0, 0, 0, 0, sd.received_rps, sd.flow_limit_count,
           inq + procq, sd.cpu, inq, procq]
    return row[:columns]


@check.arguments
def softnet_stat_text(sds: list[SoftnetData], columns: int = 15) -> str:
    """The whole file: one row of ``%08x`` per CPU."""
    return "".join(" ".join(f"{v & 0xffffffff:08x}" for v in softnet_stat_values(sd, columns)) + "\n"
                   for sd in sds)

