"""The device layer of transmit: dev_queue_xmit, the qdisc hand-off and NET_TX; and net_dev_init.

Models net/core/dev.c in Linux 6.12: ``dev_queue_xmit`` → ``__dev_queue_xmit`` → (a device with a qdisc)
``__dev_xmit_skb`` → bypass or enqueue and ``__qdisc_run`` (see :mod:`netlab.kernel.sch_generic`) →
``sch_direct_xmit`` → the driver side (:mod:`netlab.kernel.dev_hard_xmit`); a device without a qdisc (lo) goes to
the driver side at once.

``__netif_schedule`` (in :mod:`netlab.kernel.sch_generic`, beside the qdisc it schedules) puts a qdisc on this
CPU's ``softnet_data.output_queue`` and raises NET_TX_SOFTIRQ; ``net_tx_action`` runs it later. It is the send
path's only way to raise NET_TX; two other callers raise it too: ``dev_kfree_skb_irq_reason`` (3.10:
``dev_kfree_skb_irq``) for any skb freed in hard-IRQ context, and ``dev_cpu_dead`` when a CPU goes offline. A
sender whose qdisc never backs up never raises it at all. ``net_dev_init``, which registers both halves of dev.c as the NET_RX and NET_TX
softirqs, lives here because this module sees both: the receive half (:mod:`netlab.kernel.dev`) imports no
transmit code.
"""
from __future__ import annotations

from netlab import check
from netlab.kernel.cpu import NET_RX_SOFTIRQ, NET_TX_SOFTIRQ, Cpu, this_cpu
from netlab.kernel.dev import NapiStruct, NetDevice, SoftnetData, net_rx_action, process_backlog
from netlab.kernel.dev_hard_xmit import _check, dev_hard_start_xmit, validate_xmit_skb
from netlab.kernel.sch_generic import Qdisc, __qdisc_run, pfifo_fast_enqueue, qdisc_run, qdisc_run_begin, \
    qdisc_run_end, sch_direct_xmit
from netlab.kernel.skbuff import SkBuff, consume_skb
from netlab.kernel.softirq import local_bh_disable, local_bh_enable, open_softirq
from netlab.trace import kernel_function, trace_printk


@check.arguments
def net_dev_init(cpus: list[Cpu]) -> None:
    """Boot-time set-up (``net_dev_init``): a softnet_data with its backlog NAPI per CPU; NET_RX → net_rx_action,
    NET_TX → net_tx_action."""
    if not cpus or not all(isinstance(c, Cpu) for c in cpus):
        raise TypeError("net_dev_init takes a non-empty list of Cpu")
    for cpu in cpus:
        sd = SoftnetData(cpu=cpu.id)
        sd.backlog = NapiStruct(f"backlog/{cpu.id}", process_backlog, weight=cpu.profile.dev_weight,
                                owner=sd)
        cpu.softnet_data = sd
    open_softirq(NET_RX_SOFTIRQ, net_rx_action)
    open_softirq(NET_TX_SOFTIRQ, net_tx_action)


@check.arguments
def dev_queue_xmit(skb: SkBuff) -> int:
    """include/linux/netdevice.h: the inline wrapper every protocol calls."""
    return __dev_queue_xmit(skb)


@kernel_function("net/core/dev.c", "queue {skb.name} for transmission on {skb.meta[dev].name}")
def __dev_queue_xmit(skb: SkBuff, sb_dev: NetDevice | None = None) -> int:
    """With bottom halves disabled (``rcu_read_lock_bh``): pick the TX queue and hand the skb to its qdisc; a
    device without a queue (lo, tunnels) transmits at once. A NET_TX raised meanwhile runs at
    ``rcu_read_unlock_bh``, still in this task's time."""
    dev = skb.meta.get("dev")
    _check(skb, dev)
    local_bh_disable()
    try:
        if dev.qdisc is not None:
            return __dev_xmit_skb(skb, dev.qdisc, dev)
        trace_printk(f"{dev.name} has no qdisc (noqueue): validate and transmit directly")
        rest, rc = dev_hard_start_xmit(validate_xmit_skb(skb, dev), dev)
        return rc
    finally:
        local_bh_enable()


@kernel_function("net/core/dev.c", "{q.kind} is lock-free: bypass it if empty, else enqueue and run it")
def __dev_xmit_skb(skb: SkBuff, q: Qdisc, dev: NetDevice) -> int:
    """TCQ_F_NOLOCK path: empty + CAN_BYPASS + nobody running it → ``sch_direct_xmit``; otherwise enqueue."""
    _check(skb, dev)
    if not q.qlen and qdisc_run_begin(q):
        trace_printk("qdisc empty and idle: bypass, hand the skb straight to the driver")
        q.bypassed += 1
        if sch_direct_xmit(skb, q) and q.qlen:
            __qdisc_run(q)
        qdisc_run_end(q)
        return 0
    rc = pfifo_fast_enqueue(skb, q)
    qdisc_run(q)
    return rc


@kernel_function("net/core/dev.c", "NET_TX softirq: free completed skbs, run the scheduled qdiscs")
def net_tx_action() -> None:
    """Empty this CPU's ``completion_queue`` (skbs freed from hard IRQs), then ``qdisc_run`` each qdisc on its
    ``output_queue``."""
    sd = this_cpu().softnet_data
    while sd.completion_queue:
        consume_skb(sd.completion_queue.pop(0))
    head, sd.output_queue = sd.output_queue, []
    for q in head:
        q.scheduled = False
        qdisc_run(q)
