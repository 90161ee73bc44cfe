"""Wait queues: how a sleeping task (or epoll) is found and woken when a socket becomes ready.

Models kernel/sched/wait.c and include/linux/wait.h (Linux 6.12). ``add_wait_queue`` puts a non-exclusive entry at
the head of the list, ``add_wait_queue_exclusive`` and ``prepare_to_wait_exclusive`` an exclusive one at the tail,
``__add_wait_queue_exclusive`` (epoll_wait's) an exclusive one at the **head** — so the waiter that came last is
woken first. ``__wake_up_common`` calls every entry's ``func`` in order and stops after ``nr_exclusive`` exclusive
entries accepted the wake-up. ``wait_woken``/``woken_wake_function`` is the pair a blocking socket read uses:
the waker sets ``WQ_FLAG_WOKEN`` so a wake-up that comes before the sleep is not lost.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from netlab import check
from netlab.kernel.sched import (TASK_INTERRUPTIBLE, TASK_RUNNING, default_wake_function, get_current,
                                 schedule_timeout)
from netlab.trace import kernel_function

WakeFunc = Callable[["WaitQueueEntry", Any], int]
TASK_NORMAL = "normal"  # wake TASK_INTERRUPTIBLE and TASK_UNINTERRUPTIBLE sleepers


@dataclass(eq=False)
class WaitQueueEntry:
    """``struct wait_queue_entry``: who to wake (``private``) and how (``func``); ``woken`` is WQ_FLAG_WOKEN."""

    func: WakeFunc
    private: Any = None
    exclusive: bool = False
    name: str = "wait"
    woken: bool = False
    head: "WaitQueueHead | None" = field(default=None, repr=False)  # the list it is on (list_empty() if None)

    def __post_init__(self):
        check.fields(self)


@dataclass(eq=False)
class WaitQueueHead:
    """``struct wait_queue_head``: the list of waiters on one object (a socket, an eventpoll)."""

    name: str = "wq"
    entries: list[WaitQueueEntry] = field(default_factory=list)

    def __post_init__(self):
        check.fields(self)

    def has_sleeper(self) -> bool:
        """``wq_has_sleeper`` / ``waitqueue_active``: is anyone waiting?"""
        return bool(self.entries)

    def snapshot(self) -> list[str]:
        return [e.name + (" (exclusive)" if e.exclusive else "") for e in self.entries]


def _check(wq_head: WaitQueueHead, entry: WaitQueueEntry) -> None:
    if not isinstance(wq_head, WaitQueueHead) or not isinstance(entry, WaitQueueEntry):
        raise TypeError("expected a WaitQueueHead and a WaitQueueEntry")
    if entry.head is not None or any(e is entry for e in wq_head.entries):
        raise ValueError(f"{entry.name} is already on {(entry.head or wq_head).name}")


def _link(wq_head: WaitQueueHead, entry: WaitQueueEntry, at_head: bool) -> None:
    if at_head:
        wq_head.entries.insert(0, entry)
    else:
        wq_head.entries.append(entry)
    entry.head = wq_head


@check.arguments
def list_del_init(entry: WaitQueueEntry) -> None:
    """``list_del_init(&wq_entry->entry)``: off whatever queue it is on (include/linux/list.h, inlined)."""
    if entry.head is not None:
        entry.head.entries = [e for e in entry.head.entries if e is not entry]
        entry.head = None


@kernel_function("kernel/sched/wait.c", "{wq_entry.name} joins the head of {wq_head.name}")
def add_wait_queue(wq_head: WaitQueueHead, wq_entry: WaitQueueEntry) -> None:
    """Add a non-exclusive waiter at the head of the queue."""
    _check(wq_head, wq_entry)
    wq_entry.exclusive = False
    _link(wq_head, wq_entry, at_head=True)


@kernel_function("kernel/sched/wait.c", "{wq_entry.name} joins the tail of {wq_head.name} (exclusive)")
def add_wait_queue_exclusive(wq_head: WaitQueueHead, wq_entry: WaitQueueEntry) -> None:
    """Add an exclusive waiter at the tail: a wake-up stops after waking one of these."""
    _check(wq_head, wq_entry)
    wq_entry.exclusive = True
    _link(wq_head, wq_entry, at_head=False)


@kernel_function("include/linux/wait.h", "{wq_entry.name} joins the HEAD of {wq_head.name} (exclusive)")
def __add_wait_queue_exclusive(wq_head: WaitQueueHead, wq_entry: WaitQueueEntry) -> None:
    """An exclusive waiter at the head (``__add_wait_queue``): the newest waiter is woken first (LIFO)."""
    _check(wq_head, wq_entry)
    wq_entry.exclusive = True
    _link(wq_head, wq_entry, at_head=True)


@kernel_function("kernel/sched/wait.c", "{wq_entry.name} leaves {wq_head.name}")
def remove_wait_queue(wq_head: WaitQueueHead, wq_entry: WaitQueueEntry) -> None:
    """Take a waiter off the queue."""
    if not any(e is wq_entry for e in wq_head.entries):
        raise ValueError(f"{wq_entry.name} is not on {wq_head.name}")
    list_del_init(wq_entry)


@kernel_function("include/linux/wait.h", "{wq_entry.name} leaves {wq_head.name}")
def __remove_wait_queue(wq_head: WaitQueueHead, wq_entry: WaitQueueEntry) -> None:
    """Take a waiter off the queue (the caller holds the queue's lock)."""
    if not any(e is wq_entry for e in wq_head.entries):
        raise ValueError(f"{wq_entry.name} is not on {wq_head.name}")
    list_del_init(wq_entry)


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


@kernel_function("kernel/sched/wait.c", "wake_up({wq_head.name}): wake the non-exclusive waiters and one exclusive")
def __wake_up(wq_head: WaitQueueHead, nr_exclusive: int = 1, key: Any = None) -> int:
    """``wake_up()``/``wake_up_poll()``: take the queue's lock and run ``__wake_up_common``."""
    return nr_exclusive - __wake_up_common(wq_head, nr_exclusive, key)


@kernel_function("kernel/sched/wait.c", "mark {wq_entry.name} WOKEN, then wake its task")
def woken_wake_function(wq_entry: WaitQueueEntry, key: Any = None) -> int:
    """The wake function of ``wait_woken`` sleepers (a blocking socket read)."""
    wq_entry.woken = True
    return default_wake_function(wq_entry, key)


@kernel_function("kernel/sched/wait.c", "wake the task, then take its entry off the queue")
def autoremove_wake_function(wq_entry: WaitQueueEntry, key: Any = None) -> int:
    """The wake function of ``DEFINE_WAIT`` entries (``prepare_to_wait``): woken entries leave the queue."""
    ret = default_wake_function(wq_entry, key)
    if ret:
        list_del_init(wq_entry)
    return ret


@kernel_function("kernel/sched/wait.c", lambda wq_entry, mode, timeout:
                 f"{get_current().comm}: {mode}, schedule() unless already woken")
def wait_woken(wq_entry: WaitQueueEntry, mode: str, timeout: int | None):
    """Sleep in ``mode`` until ``woken_wake_function`` ran (or ``timeout`` ns passed). Returns the time left."""
    if mode != TASK_INTERRUPTIBLE:
        raise ValueError("this model sleeps in TASK_INTERRUPTIBLE only")
    task = get_current()
    task.state = mode
    if not wq_entry.woken:
        timeout = yield from schedule_timeout(timeout)
    task.state = TASK_RUNNING
    wq_entry.woken = False
    return timeout


@kernel_function("kernel/sched/wait.c", "{wq_entry.name} joins the head of {wq_head.name}, then the task marks "
                                        "itself {state}")
def prepare_to_wait(wq_head: WaitQueueHead, wq_entry: WaitQueueEntry, state: str) -> None:
    """Queue a non-exclusive waiter at the head unless it is queued already, then set the task's state."""
    if not isinstance(wq_head, WaitQueueHead) or not isinstance(wq_entry, WaitQueueEntry):
        raise TypeError("expected a WaitQueueHead and a WaitQueueEntry")
    wq_entry.exclusive = False
    if wq_entry.head is None:
        _link(wq_head, wq_entry, at_head=True)
    get_current().state = state


@kernel_function("kernel/sched/wait.c", "{wq_entry.name} joins the tail of {wq_head.name} (exclusive), "
                                        "then the task marks itself {state}")
def prepare_to_wait_exclusive(wq_head: WaitQueueHead, wq_entry: WaitQueueEntry, state: str) -> bool:
    """Queue an exclusive waiter at the tail unless it is queued already; returns whether it is the first."""
    if not isinstance(wq_head, WaitQueueHead) or not isinstance(wq_entry, WaitQueueEntry):
        raise TypeError("expected a WaitQueueHead and a WaitQueueEntry")
    wq_entry.exclusive = True
    was_empty = False
    if wq_entry.head is None:
        was_empty = not wq_head.entries
        _link(wq_head, wq_entry, at_head=False)
    get_current().state = state
    return was_empty


@kernel_function("kernel/sched/wait.c", "{wq_entry.name} is done waiting on {wq_head.name}")
def finish_wait(wq_head: WaitQueueHead, wq_entry: WaitQueueEntry) -> None:
    """Back to TASK_RUNNING, and off the queue if the wake-up did not already remove it."""
    get_current().state = TASK_RUNNING
    list_del_init(wq_entry)
