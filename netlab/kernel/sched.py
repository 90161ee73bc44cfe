"""Tasks and wake-ups: what it means for a process to block, and what waking it costs.

Models include/linux/sched.h (``struct task_struct`` states, ``nvcsw``/``nivcsw``) and kernel/sched/core.c
(``try_to_wake_up``, ``default_wake_function``, ``schedule``). A task that blocks gives up the CPU (a voluntary
context switch); waking it puts it back on a run queue, and running it again is the second switch.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from netlab.trace import kernel_function

TASK_RUNNING, TASK_INTERRUPTIBLE = "TASK_RUNNING", "TASK_INTERRUPTIBLE"


@dataclass(eq=False)
class Task:
    """``struct task_struct``, reduced to what the networking chapters need."""

    comm: str
    pid: int = 1
    state: str = TASK_RUNNING
    cpu: int = 0
    nvcsw: int = 0   # voluntary context switches: the task blocked
    nivcsw: int = 0  # involuntary ones: it was preempted
    wakeups: int = 0

    def snapshot(self) -> dict:
        return {"comm": self.comm, "state": self.state, "nvcsw": self.nvcsw, "wakeups": self.wakeups}


@kernel_function("kernel/sched/core.c", "{prev.comm} gives up the CPU ({prev.state})")
def schedule(prev: Task) -> None:
    """Switch away from ``prev``: a voluntary context switch when it sleeps, an involuntary one otherwise."""
    if not isinstance(prev, Task):
        raise TypeError("schedule takes a Task")
    if prev.state == TASK_RUNNING:
        prev.nivcsw += 1
    else:
        prev.nvcsw += 1


@kernel_function("kernel/sched/core.c", "wake {p.comm}: TASK_RUNNING, back on a run queue")
def try_to_wake_up(p: Task) -> int:
    """Make a sleeping task runnable. Returns 1 if it was asleep, 0 if it was already running."""
    if not isinstance(p, Task):
        raise TypeError("try_to_wake_up takes a Task")
    if p.state == TASK_RUNNING:
        return 0
    p.state = TASK_RUNNING
    p.wakeups += 1
    return 1


@kernel_function("kernel/sched/core.c", "the wait entry's owner is a task: wake it")
def default_wake_function(curr: Any, key: Any = None) -> int:
    """The usual ``wait_queue_entry.func``: wake the task in ``curr.private``."""
    return try_to_wake_up(curr.private)
