"""The last reference to a file: ``__fput`` and ``file_free`` (fs/file_table.c, Linux 6.12; 3.10's differences
noted). How a file is made (``alloc_file_pseudo`` …, the same kernel file) is :mod:`netlab.kernel.fs`'s: epoll makes
its file through it, and ``__fput`` calls into epoll.

``close(fd)`` takes the file out of the fd table (``close_fd``); with its last reference gone ``__fput`` tears it
down: epoll instances that watch it forget it (``eventpoll_release``), its ``f_op->release`` runs (a socket's
``sock_close`` lets the protocol close: ``__sock_release`` → ``inet_release`` → ``tcp_close``), ``dput`` drops the
dentry (and with it the inode: a socket's ``struct socket_alloc`` is freed), and ``file_free`` gives the file back
(``nr_files`` − 1). 3.10's ``__fput`` frees the file (``file_free``, after an RCU grace period) before ``dput``;
the objects freed are the same.
"""
from __future__ import annotations

from netlab.kernel.dcache import dput
from netlab.kernel.eventpoll import eventpoll_release_file
from netlab.kernel.fs import File, files_stat
from netlab.kernel.slub import slab_free
from netlab.trace import kernel_function


@kernel_function("fs/file_table.c", "the last reference to {file.name} is gone: tear the file down")
def __fput(file: File) -> None:
    """``eventpoll_release`` (include/linux/eventpoll.h: only a file on some epoll's ``f_ep`` list), then
    ``file->f_op->release``, ``dput`` of its dentry, ``file_free``."""
    if file.f_ep:
        eventpoll_release_file(file)
    if file.f_op.release is not None:
        file.f_op.release(file)
    if file.dentry is not None:
        dentry, file.dentry = file.dentry, None
        dput(dentry)
    file_free(file)


@kernel_function("fs/file_table.c", "free {file.name}'s struct file")
def file_free(file: File) -> None:
    """``security_file_free`` (the LSM blob), ``nr_files`` − 1, and the ``struct file`` back to filp."""
    slab_free(file.slab_objects)
    stat = files_stat()
    if stat is not None:
        stat.nr_files -= 1

