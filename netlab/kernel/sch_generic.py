"""The queueing discipline between IP and the driver: pfifo_fast, bypass, and the ``dev_tx_weight`` quota.

Models net/sched/sch_generic.c and include/net/pkt_sched.h (Linux 6.12), with the two functions of net/core/dev.c
and include/linux/netdevice.h that hand a qdisc to NET_TX (``__netif_schedule``, ``netif_tx_wake_queue``). Every TX
queue of a device has a qdisc (the default is ``pfifo_fast``; many distributions set ``fq_codel`` through
``net.core.default_qdisc``). pfifo_fast is lock-free (``TCQ_F_NOLOCK``) and work-conserving (``TCQ_F_CAN_BYPASS``):
when it is empty and nobody runs it, ``__dev_xmit_skb`` hands the packet straight to the driver
(``sch_direct_xmit``) without queueing it. Otherwise the packet is enqueued and ``__qdisc_run`` sends up to
``dev_tx_weight`` (64) packets; when that quota runs out the rest is left for the NET_TX softirq
(``__netif_schedule`` → ``net_tx_action``). A driver that has no room answers ``NETDEV_TX_BUSY``: the skb is
requeued and waits for TX completions to wake the queue.

The three priority bands of pfifo_fast are reduced to one FIFO: TCP data uses priority 0, which is band 1 for all.
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from netlab import check
from netlab.kernel.cpu import NET_TX_SOFTIRQ, this_cpu
from netlab.kernel.dev import NetDevice
from netlab.kernel.dev_hard_xmit import NETDEV_TX_BUSY, NETDEV_TX_OK, dev_hard_start_xmit, validate_xmit_skb_list
from netlab.kernel.skbuff import SkBuff, kfree_skb
from netlab.kernel.softirq import raise_softirq_irqoff
from netlab.trace import kernel_function, trace_printk

NET_XMIT_SUCCESS, NET_XMIT_DROP = 0, 1
DEFAULT_TX_QUEUE_LEN = 1000  # ether_setup(): dev->tx_queue_len


@dataclass(eq=False)
class Qdisc:
    """``struct Qdisc`` for one TX queue: the queued skbs, a requeue slot, and who runs it."""

    dev: NetDevice
    limit: int = DEFAULT_TX_QUEUE_LEN
    kind: str = "pfifo_fast"
    q: deque = field(default_factory=deque)
    gso_skb: deque = field(default_factory=deque)     # requeued by a busy driver; sent first next time
    running: bool = False                              # qdisc_run_begin() holds it (seqlock for NOLOCK)
    missed: bool = False                               # __QDISC_STATE_MISSED: more work, run me again
    scheduled: bool = False                            # __QDISC_STATE_SCHED: on a CPU's output_queue
    bypassed: int = 0
    enqueued: int = 0
    drops: int = 0
    requeues: int = 0

    def __post_init__(self):
        check.fields(self)
        if not isinstance(self.limit, int) or self.limit < 1:
            raise ValueError("limit (tx_queue_len) must be a positive int")

    @property
    def qlen(self) -> int:
        return len(self.q) + len(self.gso_skb)

    def snapshot(self) -> "QdiscState":
        return QdiscState(tuple([s.name for s in list(self.gso_skb) + list(self.q)]), self.limit, self.running,
                          self.scheduled, self.bypassed, self.drops, self.requeues)


@dataclass(frozen=True)
class QdiscState:
    """A qdisc at a step: the skbs queued (a requeued GSO skb first), its limit, whether a CPU runs it or it waits
    on a ``output_queue`` for NET_TX, and its counters."""

    queued: tuple[str, ...]
    limit: int
    running: bool
    scheduled: bool
    bypassed: int
    drops: int
    requeues: int


def _check_qdisc(q: Qdisc) -> None:
    if not isinstance(q, Qdisc):
        raise TypeError(f"expected a Qdisc, got {type(q).__name__}")


@kernel_function("net/sched/sch_generic.c", "queue {skb.name} in {qdisc.kind} ({qdisc.dev.name})")
def pfifo_fast_enqueue(skb: SkBuff, qdisc: Qdisc) -> int:
    """Add the skb at the tail of its band; a full queue (``tx_queue_len``) drops it."""
    _check_qdisc(qdisc)
    if qdisc.qlen >= qdisc.limit:
        qdisc.drops += 1
        trace_printk(f"queue full ({qdisc.limit} = tx_queue_len): drop")
        kfree_skb(skb)
        return NET_XMIT_DROP
    qdisc.q.append(skb)
    qdisc.enqueued += 1
    return NET_XMIT_SUCCESS


@kernel_function("net/sched/sch_generic.c", "take the next skb from {qdisc.kind}")
def pfifo_fast_dequeue(qdisc: Qdisc) -> SkBuff | None:
    """The head of the first non-empty band, or None."""
    _check_qdisc(qdisc)
    return qdisc.q.popleft() if qdisc.q else None


@check.arguments
def qdisc_run_begin(q: Qdisc) -> bool:
    """include/net/sch_generic.h: only one CPU runs a qdisc; a loser sets MISSED so the winner runs it again."""
    if q.running:
        q.missed = True
        return False
    q.running = True
    return True


@check.arguments
def qdisc_run_end(q: Qdisc) -> None:
    """include/net/sch_generic.h: release the qdisc; if work was MISSED meanwhile, hand it to NET_TX."""
    q.running = False
    if q.missed:
        __netif_schedule(q)


@kernel_function("net/sched/sch_generic.c", "hand {skb.name} to the driver of {q.dev.name}")
def sch_direct_xmit(skb: SkBuff, q: Qdisc, validate: bool = True) -> bool:
    """Validate (GSO, checksum) and transmit; a busy driver gets the skb requeued. True: keep dequeuing."""
    _check_qdisc(q)
    dev = q.dev
    skbs = validate_xmit_skb_list(skb, dev) if validate else [skb]
    if dev.queue_stopped:
        rest, ret = skbs, NETDEV_TX_BUSY
    else:
        rest, ret = dev_hard_start_xmit(skbs, dev)
    if ret != NETDEV_TX_OK:
        trace_printk(f"driver busy: requeue {', '.join(s.name for s in rest)} (dev_requeue_skb)")
        q.gso_skb.extend(rest)
        q.requeues += 1
        q.missed = False
        return False
    return True


@kernel_function("net/sched/sch_generic.c", "dequeue one skb from {q.kind} and transmit it")
def qdisc_restart(q: Qdisc) -> bool:
    """dequeue_skb (a requeued skb first, none while the driver's queue is stopped) → sch_direct_xmit."""
    _check_qdisc(q)
    if q.gso_skb:
        if q.dev.queue_stopped:
            return False
        return sch_direct_xmit(q.gso_skb.popleft(), q, validate=False)
    if q.dev.queue_stopped:
        return False
    skb = pfifo_fast_dequeue(q)
    if skb is None:
        return False
    return sch_direct_xmit(skb, q)


@kernel_function("net/sched/sch_generic.c",
                 lambda q: f"send what {q.kind} holds ({q.qlen} skbs), at most dev_tx_weight = "
                           f"{this_cpu().profile.dev_tx_weight}")
def __qdisc_run(q: Qdisc) -> None:
    """Loop ``qdisc_restart`` while it has work; when the ``dev_tx_weight`` quota runs out, defer to NET_TX."""
    _check_qdisc(q)
    quota = this_cpu().profile.dev_tx_weight
    while qdisc_restart(q):
        quota -= 1
        if quota <= 0:
            trace_printk(f"quota used up, {q.qlen} skbs left: set MISSED, so NET_TX_SOFTIRQ continues later")
            q.missed = True
            break


@check.arguments
def qdisc_run(q: Qdisc) -> None:
    """include/net/pkt_sched.h: run the qdisc if no other CPU is running it."""
    if qdisc_run_begin(q):
        __qdisc_run(q)
        qdisc_run_end(q)


@kernel_function("net/core/dev.c", "put {q.kind} on this CPU's output_queue and raise NET_TX_SOFTIRQ")
def __netif_schedule(q: Qdisc) -> None:
    """Schedule the qdisc once (``__QDISC_STATE_SCHED``): ``__netif_reschedule`` → ``raise_softirq_irqoff``."""
    if q.scheduled:
        return
    q.scheduled = True
    q.missed = False
    this_cpu().softnet_data.output_queue.append(q)
    raise_softirq_irqoff(NET_TX_SOFTIRQ)


@kernel_function("net/core/dev.c", "the driver has room again: wake {dev.name}'s TX queue")
def netif_tx_wake_queue(dev: NetDevice) -> None:
    """Clear the stopped bit and schedule the qdisc, so what it holds goes out from NET_TX."""
    dev.queue_stopped = False
    if dev.qdisc is not None:
        __netif_schedule(dev.qdisc)
