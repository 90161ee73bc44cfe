"""Which of several workers on one listening socket gets each connection, on your kernel, over loopback.

:func:`accept_balance` starts a child process with ``workers`` threads on one listener on 127.0.0.1, started one
after the other so that they queue in that order, and connects ``connections`` clients one at a time, each once
the previous one was handled and its worker is waiting again. Two ways to wait:

* ``"accept"``: every worker blocks in ``accept()``. ``inet_csk_wait_for_connect`` queues it with
  ``prepare_to_wait_exclusive`` at the **tail** of the listener's wait queue; a connection wakes the first exclusive
  waiter, which then queues again at the tail: the workers take turns.
* ``"epoll_exclusive"``: every worker has its own epoll watching the listener with ``EPOLLEXCLUSIVE``; each epitem's
  entry is added once, exclusive, at the tail (``ep_ptable_queue_proc``) and stays. ``ep_poll_callback`` counts as
  woken only an epoll with a waiter, so the first worker registered, back in ``epoll_wait``, gets every connection.

The value is the list of worker numbers in the order they got the connections, and how often each worker woke.
Everything ends with the child.
"""
from __future__ import annotations

import select
import socket
import sys
import threading
import time
from dataclasses import dataclass

from netlab import check
from netlab.live.result import LiveResult, Unavailable, Why, child_reply, run_child

LOOPBACK = "127.0.0.1"
WAYS = ("accept", "epoll_exclusive")
SETTLE_S = 0.03          # time for a worker to be back asleep before the next connection


@dataclass(frozen=True)
class BalanceReading:
    """``way`` of waiting; ``order``: the worker that got each connection; ``wakeups``: per worker, how often its
    wait returned."""

    way: str
    workers: int
    order: tuple[int, ...]
    wakeups: tuple[int, ...]


@check.arguments
def accept_balance(way: str, workers: int = 3, connections: int = 6, timeout_s: check.Timeout = 15.0) -> LiveResult:
    """Run ``workers`` workers waiting ``way`` (one of :data:`WAYS`) and ``connections`` connections, one at a time."""
    if way not in WAYS:
        raise ValueError(f"way must be one of {WAYS}, got {way!r}")
    if not 2 <= workers <= 8 or not 1 <= connections <= 32:
        raise ValueError("workers must be in 2..8 and connections in 1..32")
    what = f"who gets each connection: {workers} workers in {'accept()' if way == 'accept' else 'epoll_wait()'}"
    how = (f"a child process: {workers} threads on one listener on {LOOPBACK}"
           + (", each with its own epoll (EPOLLEXCLUSIVE)" if way != "accept" else "")
           + f", {connections} connections one at a time")
    if not sys.platform.startswith("linux"):
        return LiveResult.unavailable(what, how, Why.NOT_LINUX, f"it needs Linux wait queues and epoll (this is "
                                                                f"{sys.platform})")
    return run_child(what, how, "netlab.live.accept_balance", [way, str(workers), str(connections)], timeout_s,
                     lambda v: BalanceReading(v["way"], v["workers"], tuple(v["order"]), tuple(v["wakeups"])))


def _child(way: str, workers: int, connections: int) -> dict:
    if way == "epoll_exclusive" and not hasattr(select, "EPOLLEXCLUSIVE"):
        raise Unavailable(Why.KERNEL_LACKS, "this Python has no select.EPOLLEXCLUSIVE (Linux 4.5+)")
    listener = socket.socket()
    listener.bind((LOOPBACK, 0))
    listener.listen(connections)
    order: list[int] = []
    wakeups = [0] * workers
    handled = threading.Condition()
    stop = threading.Event()

    def took(worker: int, conn: socket.socket) -> None:
        conn.close()
        with handled:
            order.append(worker)
            handled.notify()

    def blocking(worker: int) -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:                 # shutdown() at the end: EINVAL
                return
            wakeups[worker] += 1
            took(worker, conn)

    def exclusive(worker: int) -> None:
        ep = select.epoll()
        ep.register(listener.fileno(), select.EPOLLIN | select.EPOLLEXCLUSIVE)
        while not stop.is_set():
            if not ep.poll(0.2) or stop.is_set():    # the end's shutdown() wakes every worker: not counted
                continue
            wakeups[worker] += 1
            try:
                conn, _ = listener.accept()
            except BlockingIOError:         # another worker took it
                continue
            took(worker, conn)
        ep.close()

    if way == "epoll_exclusive":
        listener.setblocking(False)
    threads = [threading.Thread(target=blocking if way == "accept" else exclusive, args=(i,), daemon=True)
               for i in range(workers)]
    for thread in threads:
        thread.start()
        time.sleep(SETTLE_S)                # each one asleep before the next: the wait queue's order is theirs
    clients = []
    try:
        for n in range(connections):
            clients.append(socket.create_connection(listener.getsockname(), timeout=5))
            with handled:
                if not handled.wait_for(lambda: len(order) > n, timeout=5):
                    raise RuntimeError(f"no worker took connection {n + 1} within 5 s")
            time.sleep(SETTLE_S)
    finally:
        stop.set()
        listener.shutdown(socket.SHUT_RDWR)
        for thread in threads:
            thread.join(1)
        for c in clients:
            c.close()
        listener.close()
    return {"way": way, "workers": workers, "order": order, "wakeups": wakeups}


if __name__ == "__main__":      # the child of accept_balance()
    child_reply(lambda: _child(sys.argv[1], int(sys.argv[2]), int(sys.argv[3])))
