"""The last reference to a file: ``__fput`` (fs/file_table.c, Linux 6.12; 3.10 the same).

``close(fd)`` takes the file out of the fd table (``close_fd``); with its last reference gone the file is torn down:
epoll instances that watch it forget it (``eventpoll_release``), then its ``f_op->release`` runs — for a socket
``sock_close``, which lets the protocol close (``__sock_release`` → ``inet_release`` → ``tcp_close``).
"""
from __future__ import annotations

from netlab.kernel.eventpoll import eventpoll_release_file
from netlab.kernel.fs import File
from netlab.trace import kernel_function


@kernel_function("fs/file_table.c", "the last reference to {file.name} is gone: tear the file down")
def __fput(file: File) -> None:
    """``eventpoll_release`` (include/linux/eventpoll.h: only a file on some epoll's ``f_ep`` list), then
    ``file->f_op->release``."""
    if file.f_ep:
        eventpoll_release_file(file)
    if file.f_op.release is not None:
        file.f_op.release(file)
