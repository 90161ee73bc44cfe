"""Sleeping locks: ``struct mutex``, the lock epoll holds while it scans its ready list.

Models kernel/locking/mutex.c (Linux 6.12), reduced: ``mutex_lock`` takes a free mutex at once; a task that finds
it held joins ``wait_list`` in TASK_UNINTERRUPTIBLE and sleeps (a voluntary context switch); ``mutex_unlock``
hands the lock to the first waiter and wakes it. No optimistic spinning (``osq``) is modelled.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from netlab import check
from netlab.kernel.sched import TASK_UNINTERRUPTIBLE, Task, get_current, schedule, wake_up_process
from netlab.trace import kernel_function, trace_printk


@dataclass(eq=False)
class Mutex:
    """``struct mutex``: who holds it and who sleeps waiting for it (FIFO)."""

    name: str = "mutex"
    owner: Task | None = None
    wait_list: list[Task] = field(default_factory=list)

    def __post_init__(self):
        check.fields(self)

    def snapshot(self) -> "MutexState":
        return MutexState(self.owner.comm if self.owner else None, tuple([t.comm for t in self.wait_list]))


@dataclass(frozen=True)
class MutexState:
    """A mutex at a step: the task holding it (None: free) and the tasks sleeping for it."""

    owner: str | None
    waiters: tuple[str, ...]


@kernel_function("kernel/locking/mutex.c", "take {lock.name}, sleeping while another task holds it")
def mutex_lock(lock: Mutex):
    """Acquire ``lock`` (may sleep)."""
    me = get_current()
    if lock.owner is me:
        raise RuntimeError(f"{me.comm} already holds {lock.name}: a mutex is not recursive")
    while lock.owner is not None:
        trace_printk(f"{lock.name} is held by {lock.owner.comm}: {me.comm} sleeps on its wait_list")
        lock.wait_list.append(me)
        me.state = TASK_UNINTERRUPTIBLE
        yield from schedule()
    lock.owner = me


@kernel_function("kernel/locking/mutex.c", "release {lock.name}; wake the first waiter")
def mutex_unlock(lock: Mutex) -> None:
    """Release ``lock``; the first waiter (if any) is woken and takes it when it runs."""
    if lock.owner is not get_current():
        raise RuntimeError(f"{get_current().comm} does not hold {lock.name}")
    lock.owner = None
    if lock.wait_list:
        wake_up_process(lock.wait_list.pop(0))
