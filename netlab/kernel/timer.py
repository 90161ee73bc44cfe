"""struct timer_list: run a function later, on a simulated clock.

Models kernel/time/timer.c (``timer_setup``, ``mod_timer``, ``del_timer``, ``timer_pending``). The kernel keeps
pending timers in per-CPU wheels and runs the expired ones from TIMER_SOFTIRQ; here one :class:`TimerBase` holds
them in expiry order and :meth:`TimerBase.run` advances the simulated clock from one expiry to the next. Timers
that expire at the same time run in the order they were armed, so a scenario is deterministic.

A scenario uses the same base for what is not a kernel timer but must happen at a simulated time (a segment
arriving after the wire's delay, a user calling ``accept()``): one clock, one ordered list of things to happen.
"""
from __future__ import annotations

import heapq
from dataclasses import dataclass, field
from typing import Callable

from netlab import check
from netlab.trace import CONTEXTS, on_cpu


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
    expires_ns: int | None = None   # None: not pending
    _armed: int = field(default=0, repr=False)

    def __post_init__(self):
        check.fields(self)
        if not callable(self.function):
            raise TypeError("a timer's function must be callable(timer)")
        if self.context not in CONTEXTS:
            raise ValueError(f"context must be one of {CONTEXTS}")


class TimerBase:
    """The clock and every pending timer, in expiry order."""

    @check.arguments
    def __init__(self, now_ns: int = 0):
        if not isinstance(now_ns, int) or now_ns < 0:
            raise ValueError("now_ns must be an int >= 0")
        self.now_ns = now_ns
        self._heap: list[tuple[int, int, TimerList]] = []
        self._armed = 0

    def now(self) -> int:
        return self.now_ns

    @check.arguments
    def mod_timer(self, timer: TimerList, expires_ns: int) -> bool:
        """(Re)arm ``timer`` to expire at ``expires_ns``; returns whether it was pending before."""
        if not isinstance(expires_ns, int) or expires_ns < self.now_ns:
            raise ValueError(f"expires_ns must be an int >= now ({self.now_ns}), got {expires_ns!r}")
        was_pending = timer.expires_ns is not None
        self._armed += 1
        timer.expires_ns, timer._armed = expires_ns, self._armed
        heapq.heappush(self._heap, (expires_ns, self._armed, timer))
        return was_pending

    @check.arguments
    def del_timer(self, timer: TimerList) -> bool:
        """Disarm ``timer``; returns whether it was pending."""
        was_pending = timer.expires_ns is not None
        timer.expires_ns, timer._armed = None, 0
        return was_pending

    @staticmethod
    @check.arguments
    def timer_pending(timer: TimerList) -> bool:
        return timer.expires_ns is not None

    def next_expiry(self) -> int | None:
        self._drop_stale()
        return self._heap[0][0] if self._heap else None

    @check.arguments
    def run(self, until_ns: int) -> int:
        """Run every timer that expires up to ``until_ns`` in order; the clock ends at ``until_ns``."""
        if not isinstance(until_ns, int) or until_ns < self.now_ns:
            raise ValueError(f"until_ns must be an int >= now ({self.now_ns}), got {until_ns!r}")
        ran = 0
        while True:
            self._drop_stale()
            if not self._heap or self._heap[0][0] > until_ns:
                break
            expires, _, timer = heapq.heappop(self._heap)
            self.now_ns = expires
            timer.expires_ns, timer._armed = None, 0
            with on_cpu(timer.cpu, timer.context):
                timer.function(timer)
            ran += 1
        self.now_ns = until_ns
        return ran

    def _drop_stale(self) -> None:
        while self._heap and self._heap[0][2]._armed != self._heap[0][1]:
            heapq.heappop(self._heap)
