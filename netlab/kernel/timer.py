"""struct timer_list: run a function later, on the engine's simulated clock.

Models the timer of kernel/time/timer.c (``timer_setup``; ``mod_timer``, ``del_timer`` and ``timer_pending`` are
methods of the engine, :class:`netlab.kernel.sched.Scheduler`, because the timer lives on its event queue). The
kernel keeps pending timers in per-CPU wheels and runs the expired ones from TIMER_SOFTIRQ; here each armed timer
is one event on the engine's queue, in expiry order. Re-arming or deleting a timer leaves its old event behind
(lazy deletion): the engine skips an event that no longer matches the timer's latest arming. Timers that expire
at the same time run in the order they were armed, so a scenario is deterministic.

A scenario uses timers for what is not a kernel timer but must happen at a simulated time (a segment arriving
after the wire's delay, a user calling ``accept()``): one clock, one ordered list of things to happen.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from netlab import check
from netlab.trace import CONTEXTS


@dataclass(eq=False)
class TimerList:
    """``struct timer_list``: ``function(timer)`` runs once ``expires_ns`` is reached, if still pending.

    Kernel timers run in softirq context; a scenario's own events (a program calling ``connect()``) say
    ``context="process"``.
    """

    function: Callable[["TimerList"], None]
    name: str = "timer"
    data: object = None             # what ``from_timer()`` recovers: the sock or request the timer belongs to
    cpu: int = 0
    context: str = "softirq"
    host: str = ""                  # the host whose CPU runs it, when several share the engine
    expires_ns: int | None = None   # None: not pending
    _armed: int = field(default=0, repr=False)   # the engine's sequence number of the latest arming (0: none)

    def __post_init__(self):
        check.fields(self)
        if not callable(self.function):
            raise TypeError("a timer's function must be callable(timer)")
        if self.context not in CONTEXTS:
            raise ValueError(f"context must be one of {CONTEXTS}")
