"""Softirqs: run at hard-IRQ exit, on ``local_bh_enable``, or handed to the ``ksoftirqd/N`` thread.

Models kernel/softirq.c and include/linux/bottom_half.h (Linux 6.12). A hard IRQ handler only raises a softirq
(a bit in the CPU's pending mask). On the way out, ``irq_exit`` runs the pending softirqs right there
(``invoke_softirq`` → ``__do_softirq`` → ``handle_softirqs``) unless the CPU is already serving softirqs or has
bottom halves disabled. ``handle_softirqs`` runs every pending softirq and restarts while more were raised,
but at most ``MAX_SOFTIRQ_RESTART`` (10) times and only within ``MAX_SOFTIRQ_TIME`` (2 ms, rounded up to whole
jiffies); after that it wakes ``ksoftirqd`` to carry on as an ordinary thread. So ksoftirqd handles the overflow,
not every packet (the book's picture of every packet going through ksoftirqd is a simplification).

Simplifications: ``need_resched()`` is never set (no user task competes for the CPU in these models), and
3.10 ran the loop in ``__do_softirq`` itself (6.10 moved it into ``handle_softirqs``).
"""
from __future__ import annotations

from typing import Callable

from netlab import check
from netlab.kernel.cpu import SOFTIRQ_NAMES, this_cpu
from netlab.kernel.sched import TASK_INTERRUPTIBLE, TASK_RUNNING, try_to_wake_up
from netlab.trace import kernel_function, trace_printk

softirq_vec: dict[int, Callable[[], None]] = {}
"""Softirq number → action, filled by ``open_softirq`` (``net_dev_init`` registers ``net_rx_action``)."""


@check.arguments
def open_softirq(nr: int, action: Callable[[], None]) -> None:
    """Register the action of softirq ``nr`` (done once at boot in the kernel)."""
    if not isinstance(nr, int) or not 0 <= nr < len(SOFTIRQ_NAMES):
        raise ValueError(f"nr must be a softirq number 0..{len(SOFTIRQ_NAMES) - 1}")
    if not callable(action):
        raise TypeError("action must be callable")
    softirq_vec[nr] = action


def _name(nr: int) -> str:
    return f"{SOFTIRQ_NAMES[nr]}_SOFTIRQ"


def local_irq_enable() -> None:
    """Interrupts are enabled again: any hard IRQ that came due meanwhile is taken now (the machine's hook)."""
    window = this_cpu().irq_window
    if window is not None:
        window()


@kernel_function("kernel/softirq.c", lambda nr: f"mark {_name(nr)} pending on this CPU")
def __raise_softirq_irqoff(nr: int) -> None:
    """Set the softirq's bit in this CPU's pending mask; it runs at the next irq_exit/local_bh_enable."""
    this_cpu().softirq_pending |= 1 << nr


@kernel_function("kernel/softirq.c", lambda nr: f"raise {_name(nr)}")
def raise_softirq_irqoff(nr: int) -> None:
    """Mark the softirq pending; outside interrupt context nobody would run it soon, so wake ksoftirqd."""
    __raise_softirq_irqoff(nr)
    if not this_cpu().in_interrupt():
        wakeup_softirqd()


@kernel_function("kernel/softirq.c", lambda: f"wake {this_cpu().ksoftirqd.comm} to run the rest of the softirqs")
def wakeup_softirqd() -> None:
    """Hand the pending softirqs to this CPU's ksoftirqd thread (``wake_up_process``)."""
    task = this_cpu().ksoftirqd
    if task.state != TASK_RUNNING:
        try_to_wake_up(task)


@kernel_function("kernel/softirq.c", "enter hard-IRQ context")
def irq_enter() -> None:
    """``preempt_count`` += HARDIRQ_OFFSET: from here ``in_interrupt()`` is true."""
    this_cpu().hardirq_count += 1


@kernel_function("kernel/softirq.c", "leave hard-IRQ context; run pending softirqs now unless already inside one")
def irq_exit() -> None:
    """``preempt_count`` -= HARDIRQ_OFFSET; if softirqs are pending and this was the outermost interrupt, run them."""
    cpu = this_cpu()
    cpu.hardirq_count -= 1
    if not cpu.in_interrupt() and cpu.softirq_pending:
        invoke_softirq()
    elif cpu.softirq_pending:
        trace_printk("already serving softirqs (or BH disabled): they run when that finishes")


@kernel_function("kernel/softirq.c", "run the pending softirqs on the way out of the interrupt")
def invoke_softirq() -> None:
    """Without forced IRQ threading, softirqs run right here, at irq_exit."""
    with this_cpu().running("softirq"):
        __do_softirq()


@kernel_function("kernel/softirq.c", "process the pending softirqs")
def __do_softirq() -> None:
    """The softirq entry point from irq_exit and do_softirq."""
    handle_softirqs(False)


@kernel_function("kernel/softirq.c", lambda ksirqd: "run every pending softirq; restart while more are raised "
                 f"({'in ksoftirqd' if ksirqd else 'at IRQ exit'})")
def handle_softirqs(ksirqd: bool) -> None:
    """Run pending softirqs; restart while new ones are pending, within MAX_SOFTIRQ_TIME and MAX_SOFTIRQ_RESTART."""
    cpu = this_cpu()
    end = cpu.jiffies + cpu.usecs_to_jiffies(cpu.profile.max_softirq_time_us)
    max_restart = cpu.profile.max_softirq_restart
    pending = cpu.softirq_pending
    cpu.softirq_count += 1
    try:
        while True:
            cpu.softirq_pending = 0
            local_irq_enable()
            nr = 0
            while pending:
                if pending & 1:
                    cpu.kstat_softirqs[nr] += 1
                    action = softirq_vec.get(nr)
                    if action is not None:
                        action()
                pending >>= 1
                nr += 1
            pending = cpu.softirq_pending
            if not pending:
                return
            max_restart -= 1
            if cpu.jiffies < end and max_restart:
                trace_printk(f"more softirqs were raised: restart ({cpu.profile.max_softirq_restart - max_restart}"
                             f" of {cpu.profile.max_softirq_restart - 1} restarts)")
                continue
            trace_printk("restart limit or MAX_SOFTIRQ_TIME reached: leave the rest to ksoftirqd")
            wakeup_softirqd()
            return
    finally:
        cpu.softirq_count -= 1


@kernel_function("kernel/softirq.c", lambda cpu: f"ksoftirqd/{cpu} runs the softirqs left pending")
def run_ksoftirqd(cpu: int) -> None:
    """The body of the ksoftirqd/N thread: while softirqs are pending, handle them like irq_exit would (6.12:
    ``handle_softirqs(true)``; 3.10: ``__do_softirq()``, ``profile.softirq_loop``)."""
    me = this_cpu()
    if cpu != me.id:
        raise ValueError(f"ksoftirqd/{cpu} runs on CPU {cpu}, not on CPU {me.id}")
    if me.softirq_pending:
        if me.profile.softirq_loop == "__do_softirq":
            __do_softirq()
        else:
            handle_softirqs(True)
    if not me.softirq_pending:
        me.ksoftirqd.state = TASK_INTERRUPTIBLE  # ksoftirqd_should_run() is false: the thread sleeps again


@kernel_function("include/linux/bottom_half.h", "disable bottom halves (softirqs) on this CPU")
def local_bh_disable() -> None:
    """Softirqs raised from now on wait until local_bh_enable."""
    this_cpu().softirq_count += 1


@kernel_function("include/linux/bottom_half.h", "enable bottom halves again")
def local_bh_enable() -> None:
    """Re-enable softirqs; pending ones run now (``__local_bh_enable_ip``)."""
    __local_bh_enable_ip()


@kernel_function("kernel/softirq.c", "softirqs allowed again: run any that were raised meanwhile")
def __local_bh_enable_ip() -> None:
    """Drop the BH-disable count; if no longer in interrupt context and softirqs are pending, do_softirq."""
    cpu = this_cpu()
    if cpu.softirq_count <= 0:
        raise RuntimeError("local_bh_enable without local_bh_disable")
    cpu.softirq_count -= 1
    if not cpu.in_interrupt() and cpu.softirq_pending:
        do_softirq()


@kernel_function("kernel/softirq.c", "run pending softirqs from process context")
def do_softirq() -> None:
    """Softirqs raised while BH were disabled run here, in the current task's time slice."""
    cpu = this_cpu()
    if cpu.in_interrupt() or not cpu.softirq_pending:
        return
    with cpu.running("softirq"):
        __do_softirq()

