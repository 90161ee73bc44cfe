"""Wait queues: how a sleeping task (or epoll) is found and woken when a socket becomes ready.

Models kernel/sched/wait.c and include/linux/wait.h (Linux 6.12). ``add_wait_queue`` puts a non-exclusive entry at
the head of the list, ``add_wait_queue_exclusive`` an exclusive one at the tail; ``__wake_up_common`` calls every
entry's ``func`` in order and stops after ``nr_exclusive`` exclusive entries accepted the wake-up.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from netlab.trace import kernel_function

WakeFunc = Callable[["WaitQueueEntry", Any], int]
TASK_NORMAL = "normal"  # wake TASK_INTERRUPTIBLE and TASK_UNINTERRUPTIBLE sleepers


@dataclass(eq=False)
class WaitQueueEntry:
    """``struct wait_queue_entry``: who to wake (``private``) and how (``func``)."""

    func: WakeFunc
    private: Any = None
    exclusive: bool = False
    name: str = "wait"


@dataclass(eq=False)
class WaitQueueHead:
    """``struct wait_queue_head``: the list of waiters on one object (a socket, an eventpoll)."""

    name: str = "wq"
    entries: list[WaitQueueEntry] = field(default_factory=list)

    def has_sleeper(self) -> bool:
        """``wq_has_sleeper``: is anyone waiting?"""
        return bool(self.entries)

    def snapshot(self) -> list[str]:
        return [e.name + (" (exclusive)" if e.exclusive else "") for e in self.entries]


def _check(wq_head: WaitQueueHead, entry: WaitQueueEntry) -> None:
    if not isinstance(wq_head, WaitQueueHead) or not isinstance(entry, WaitQueueEntry):
        raise TypeError("expected a WaitQueueHead and a WaitQueueEntry")
    if any(e is entry for e in wq_head.entries):
        raise ValueError(f"{entry.name} is already on {wq_head.name}")


@kernel_function("kernel/sched/wait.c", "{wq_entry.name} joins the head of {wq_head.name}")
def add_wait_queue(wq_head: WaitQueueHead, wq_entry: WaitQueueEntry) -> None:
    """Add a non-exclusive waiter at the head of the queue."""
    _check(wq_head, wq_entry)
    wq_entry.exclusive = False
    wq_head.entries.insert(0, wq_entry)


@kernel_function("kernel/sched/wait.c", "{wq_entry.name} joins the tail of {wq_head.name} (exclusive)")
def add_wait_queue_exclusive(wq_head: WaitQueueHead, wq_entry: WaitQueueEntry) -> None:
    """Add an exclusive waiter at the tail: a wake-up stops after waking one of these."""
    _check(wq_head, wq_entry)
    wq_entry.exclusive = True
    wq_head.entries.append(wq_entry)


@kernel_function("kernel/sched/wait.c", "{wq_entry.name} leaves {wq_head.name}")
def remove_wait_queue(wq_head: WaitQueueHead, wq_entry: WaitQueueEntry) -> None:
    """Take a waiter off the queue."""
    if not any(e is wq_entry for e in wq_head.entries):
        raise ValueError(f"{wq_entry.name} is not on {wq_head.name}")
    wq_head.entries = [e for e in wq_head.entries if e is not wq_entry]


@kernel_function("kernel/sched/wait.c", "walk {wq_head.name}, calling each waiter's wake function")
def __wake_up_common(wq_head: WaitQueueHead, nr_exclusive: int = 1, key: Any = None) -> int:
    """Call each entry's func; stop once ``nr_exclusive`` exclusive entries were woken. Returns what is left."""
    if not isinstance(nr_exclusive, int) or nr_exclusive < 0:
        raise ValueError("nr_exclusive must be an int >= 0 (0 wakes every exclusive waiter)")
    for entry in list(wq_head.entries):
        ret = entry.func(entry, key)
        if ret < 0:
            break
        if ret and entry.exclusive:
            nr_exclusive -= 1
            if nr_exclusive == 0:
                break
    return nr_exclusive
