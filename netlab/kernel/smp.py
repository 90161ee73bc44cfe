"""Cross-CPU function calls: one CPU asks another to run a function, with an IPI (inter-processor interrupt).

Models kernel/smp.c (Linux 6.12; 3.10 the same): ``smp_call_function_single_async`` puts a ``call_single_data`` on
the target CPU's ``call_single_queue`` and sends it the CALL_FUNCTION_SINGLE IPI; the target takes it as a hard
interrupt (``/proc/interrupts``: ``CAL``) and runs the queued functions in
``generic_smp_call_function_single_interrupt``. RPS uses it to kick another CPU's backlog NAPI (in the model the
target queues the reader's IPI itself when it takes the steered skb in: see :mod:`netlab.kernel.dev`).

The machine (``netlab.scenarios.receive.Host``) delivers the IPI: it is due when it was sent, taken when the
target CPU is free, like a device interrupt, and costs ``Costs.hardirq_ns`` there — an IPI is an interrupt
entry, a short handler and ``irq_exit``, so the device interrupt's figure is reused (a choice: no separate
measurement). Sending costs the sender nothing in the model (an APIC register write).
"""
from __future__ import annotations

from netlab.kernel.cpu import this_cpu
from netlab.trace import kernel_function


@kernel_function("kernel/smp.c", "CALL_FUNCTION_SINGLE IPI: run the functions other CPUs queued here")
def generic_smp_call_function_single_interrupt() -> None:
    """In the IPI's hard IRQ: run and empty this CPU's ``call_single_queue`` (what has been sent by now)."""
    cpu = this_cpu()
    due = [c for c in cpu.call_single_queue if c[0] <= cpu.now]
    cpu.call_single_queue[:] = [c for c in cpu.call_single_queue if c[0] > cpu.now]
    for _, func, info in due:
        func(info)
