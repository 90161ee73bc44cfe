"""The user-space side of the models: a process, its threads, and the libc calls they make.

A program is a Python generator function run as a task by :class:`netlab.kernel.sched.Scheduler`. Each call here
enters the kernel models the way glibc enters the kernel (``recv`` → ``__sys_recvfrom``, ``epoll_wait`` →
``do_epoll_wait``, …) and, like glibc, turns a negative return value into an error (``OSError`` with the errno;
``BlockingIOError`` for EAGAIN). Calls that may block are generators: ``n = yield from recv(fd, 4096)``.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field

from netlab import check
from netlab.kernel.eventpoll import EpollEvent, do_epoll_create, do_epoll_ctl, do_epoll_wait
from netlab.kernel.fs import O_NONBLOCK, fdget
from netlab.kernel.limits import close_fd
from netlab.kernel.sched import Task, get_current
from netlab.kernel.file_table import __fput
from netlab.kernel.sock import AF_INET, SOCK_STREAM, Socket, __sys_accept4, __sys_recvfrom, __sys_socket


def _check(ret: int) -> int:
    if ret < 0:
        raise OSError(-ret, os.strerror(-ret))
    return ret


@dataclass(eq=False)
class Process(Task):
    """A process: the thread group leader's task (its fd table, RLIMIT_NOFILE and capabilities) and the threads
    that share them."""

    pid: int = 1
    threads: list[Task] = field(default_factory=list)

    def __post_init__(self):
        check.fields(self)
        super().__post_init__()
        if not isinstance(self.pid, int) or self.pid < 1:
            raise ValueError("pid must be an int >= 1")

    def rusage(self) -> dict[str, int]:
        """What ``getrusage(RUSAGE_SELF)`` reports: context switches summed over every thread."""
        return {"ru_nvcsw": sum(t.nvcsw for t in self.threads), "ru_nivcsw": sum(t.nivcsw for t in self.threads)}


@check.arguments
def socket(net: object, name: str, family: int = AF_INET, type: int = SOCK_STREAM) -> int:  # noqa: A002
    """``socket(2)`` in the namespace ``net`` (the model's process has none of its own); ``name`` labels the
    socket. Returns its fd."""
    return _check(__sys_socket(net, family, type, 0, name))


@check.arguments
def recv(fd: int, size: int, flags: int = 0):
    """``recv(2)``: bytes read (0 at end of stream); raises BlockingIOError on a non-blocking empty socket."""
    return _check((yield from __sys_recvfrom(fd, size, flags)))


@check.arguments
def close(fd: int) -> None:
    """``close(2)`` of a socket: ``close_fd`` takes the fd out of the table; that was the file's last reference,
    so ``__fput``: epoll forgets it, then ``sock_close`` → ``__sock_release`` (→ ``inet_release`` → ``tcp_close``)."""
    file = close_fd(get_current(), fd)
    if isinstance(file, int):
        _check(file)
    if not isinstance(file.private_data, Socket):
        raise TypeError(f"fd {fd} is not a socket")
    __fput(file)


@check.arguments
def accept(fd: int, flags: int = 0):
    """``accept4(2)``: the new connection's fd."""
    return _check((yield from __sys_accept4(fd, flags)))


@check.arguments
def set_nonblocking(fd: int) -> None:
    """``fcntl(fd, F_SETFL, O_NONBLOCK)``."""
    file = fdget(get_current(), fd)
    if file is None:
        raise OSError(9, os.strerror(9))
    file.f_flags |= O_NONBLOCK


@check.arguments
def epoll_create1(flags: int = 0) -> int:
    """``epoll_create1(2)``: the new epoll instance's fd."""
    return _check(do_epoll_create(flags))


@check.arguments
def epoll_ctl(epfd: int, op: int, fd: int, events: int = 0, data: object = None):
    """``epoll_ctl(2)``; ``data`` is returned with each event (default: ``fd``)."""
    event = None if op == 2 else EpollEvent(events, fd if data is None else data)
    return _check((yield from do_epoll_ctl(epfd, op, fd, event)))


@check.arguments
def epoll_wait(epfd: int, maxevents: int = 64, timeout_ns: int | None = None):
    """``epoll_wait(2)`` (the timeout in simulated ns; None blocks): the list of ready events."""
    events: list[EpollEvent] = []
    _check((yield from do_epoll_wait(epfd, events, maxevents, timeout_ns)))
    return events
