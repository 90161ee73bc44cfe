"""Files, file descriptors and the poll hook: how epoll reaches a socket through an fd.

Models include/linux/fs.h (``struct file``, ``struct file_operations``) and include/linux/poll.h
(``poll_table``, ``poll_wait``, ``vfs_poll``), Linux 6.12. A task's fd table is its ``files``
(:mod:`netlab.kernel.fdtable`), filled and emptied by chapter 07's :mod:`netlab.kernel.limits`
(``get_unused_fd_flags``, ``fd_install``); a file is made and freed by fs/file_table.c
(:mod:`netlab.kernel.file_table`).

``vfs_poll(file, pt)`` asks a file "what events do you have?" through ``file->f_op->poll``. The answer is the
point of the call; the side effect is the trick epoll is built on: the file's poll function calls
``poll_wait(file, its_wait_queue, pt)``, and when ``pt`` carries a queueing function (``pt->_qproc``) that
function is handed the file's wait queue — epoll's ``ep_ptable_queue_proc`` hooks ``ep_poll_callback`` onto it.
"""
from __future__ import annotations

import zlib
from dataclasses import dataclass, field
from typing import Any, Callable

from netlab import check
from netlab.check import U64
from netlab.kernel.sched import Task
from netlab.trace import kernel_function

DEFAULT_POLLMASK = 0x001 | 0x004 | 0x040 | 0x100  # EPOLLIN | EPOLLOUT | EPOLLRDNORM | EPOLLWRNORM
FILP_BASE = 0xFFFF888100000000  # where the direct map starts on x86_64: filp objects live around here
FILP_ALIGN = 0x100
O_NONBLOCK = 0o4000


@dataclass(frozen=True)
class FileOperations:
    """``struct file_operations``, reduced to ``poll`` (the hook epoll needs) and ``release`` (what ``__fput`` calls
    when the file's last reference is gone)."""

    name: str
    poll: Callable[["File", "PollTable | None"], int] | None = None
    release: Callable[["File"], None] | None = None


@dataclass(eq=False)
class File:
    """``struct file``: what an fd points at. ``addr`` stands for the pointer value epoll compares (ep_cmp_ffd).
    ``dentry`` is its ``f_path.dentry`` (a :class:`netlab.kernel.dcache.Dentry`, which names the inode);
    ``slab_objects`` the ``struct file`` itself (filp) and its LSM blob, on a host that models memory;
    ``f_ep_head`` the ``struct epitems_head`` its ``f_ep`` list lives in (6.x, while epoll watches it)."""

    f_op: FileOperations
    private_data: Any = None
    addr: U64 = FILP_BASE
    name: str = "file"
    f_flags: int = 0  # O_NONBLOCK: reads and accepts return -EAGAIN instead of sleeping
    f_ep: list = field(default_factory=list, repr=False)  # the epitems watching this file (epoll's f_ep)
    dentry: Any = field(default=None, repr=False)
    slab_objects: list = field(default_factory=list, repr=False)
    f_ep_head: list = field(default_factory=list, repr=False)

    def __post_init__(self):
        check.fields(self)

    def __repr__(self) -> str:
        return f"File({self.name} @ {self.addr:#x})"


@check.arguments
def filp_address(name: str) -> int:
    """A plausible, deterministic address for the ``struct file`` of ``name`` (slab addresses look random, which is
    what makes an epoll's red-black tree, keyed by the file pointer, interesting to look at)."""
    return FILP_BASE + zlib.crc32(name.encode()) % 0x100000 * FILP_ALIGN


@check.arguments
def fdget(task: Task, fd: int) -> File | None:
    """The file behind ``fd`` in the task's fd table, or None (the syscall then fails with EBADF)."""
    file = task.files.fd.get(fd)
    return file if isinstance(file, File) else None


@dataclass(eq=False)
class PollTable:
    """``poll_table``: ``_qproc`` is called with each wait queue the polled file offers; ``_key`` the events."""

    _qproc: Callable[[File, Any, "PollTable"], None] | None = None
    _key: int = ~0

    def __post_init__(self):
        check.fields(self)


@check.arguments
def init_poll_funcptr(pt: PollTable, qproc: Callable | None) -> PollTable:
    """Set the queueing function (None: just ask for events, hook nothing)."""
    pt._qproc, pt._key = qproc, ~0
    return pt


@kernel_function("include/linux/poll.h", lambda filp, wait_address, p:
                 "hand the file's wait queue to the poll table's queue function" if p is not None and p._qproc
                 else "plain poll: nothing to hook")
def poll_wait(filp: File, wait_address: Any, p: PollTable | None) -> None:
    """If the poll table has a queueing function, give it this wait queue."""
    if p is not None and p._qproc is not None and wait_address is not None:
        p._qproc(filp, wait_address, p)


@kernel_function("include/linux/poll.h", "ask {file.name} for its events: file->f_op->poll()")
def vfs_poll(file: File, pt: PollTable | None) -> int:
    """Call the file's poll method; files without one are always readable and writable."""
    if file.f_op.poll is None:
        return DEFAULT_POLLMASK
    return file.f_op.poll(file, pt)
