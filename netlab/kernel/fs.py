"""Files, file descriptors and the poll hook: how epoll reaches a socket through an fd.

Models include/linux/fs.h (``struct file``, ``struct file_operations``) and include/linux/poll.h
(``poll_table``, ``poll_wait``, ``vfs_poll``), Linux 6.12. A task's fd table is its ``files``
(:mod:`netlab.kernel.fdtable`), filled and emptied by chapter 07's :mod:`netlab.kernel.limits`
(``get_unused_fd_flags``, ``fd_install``).

A file for an inode of a pseudo filesystem (a socket's, an epoll's) is made by fs/file_table.c
``alloc_file_pseudo``: a dentry (``d_alloc_pseudo``), then ``alloc_file`` → ``alloc_empty_file`` (3.10
``get_empty_filp``): ENFILE when the system holds ``fs.file-max`` files, else a ``struct file`` from the ``filp``
cache, its LSM blob (``security_file_alloc``, where the booted LSMs keep one in ``lsm_file_cache``), and
``nr_files`` + 1. 3.10 has no ``alloc_file_pseudo``: its callers (``sock_alloc_file``, ``anon_inode_getfile``) call
``d_alloc_pseudo`` and ``alloc_file`` themselves. Its end (``__fput``) is :mod:`netlab.kernel.file_table`'s.

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
from netlab.kernel.cpu import current_cpu
from netlab.kernel.dcache import Dentry, d_alloc_pseudo, dput
from netlab.kernel.limits import ENFILE
from netlab.kernel.sched import Task
from netlab.kernel.slub import slab_alloc, slab_has
from netlab.trace import kernel_function, trace_printk
from netlab.units import number

EPOLLIN = 0x001          # the poll event bits (include/uapi/linux/eventpoll.h)
EPOLLPRI = 0x002
EPOLLOUT = 0x004
EPOLLRDNORM = 0x040
EPOLLRDBAND = 0x080
EPOLLWRNORM = 0x100
EPOLLRDHUP = 0x2000
DEFAULT_POLLMASK = EPOLLIN | EPOLLOUT | EPOLLRDNORM | EPOLLWRNORM
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


def _files_stat_text(name: str) -> str:
    stat = files_stat()
    if stat is None:
        return f"a struct file from filp for {name}"
    return (f"nr_files {number(stat.nr_files)} vs fs.file-max {number(stat.max_files)}, then a struct file from "
            f"filp for {name}")


def files_stat() -> Any:
    """The host's ``files_stat`` (nr_files against fs.file-max), where it models memory."""
    cpu = current_cpu()
    return None if cpu is None else cpu.files_stat


@kernel_function("fs/file_table.c", _files_stat_text)
def alloc_empty_file(name: str) -> File | int:
    """ENFILE when the system holds fs.file-max files (no CAP_SYS_ADMIN in the model), else a ``struct file``
    (filp) and, where the LSMs keep one, its blob (``init_file`` → ``security_file_alloc``); ``nr_files`` + 1.
    ``name`` labels the file (``socket:client``); the host's ``files_stat`` counts files where it models memory."""
    stat = files_stat()
    if stat is not None and stat.nr_files >= stat.max_files:
        trace_printk(f"VFS: file-max limit {number(stat.max_files)} reached: ENFILE")
        return -ENFILE
    file = File(FileOperations("(none yet)"), addr=filp_address(name), name=name)
    for cache, struct in (("filp", "struct file"), ("lsm_file_cache", "security_file_alloc blob")):
        if slab_has(cache):
            file.slab_objects.append(slab_alloc(cache, f"{name}: {struct}"))
    if stat is not None:
        stat.nr_files += 1
    return file


@kernel_function("fs/file_table.c", "a struct file for the path: alloc_empty_file, then set its path and ops")
def alloc_file(dentry: Dentry, f_op: FileOperations, name: str) -> File | int:
    """An empty file (or -ENFILE) given its path (``dentry``) and file operations (``file_init_path``)."""
    file = alloc_empty_file(name)
    if isinstance(file, File):
        file.dentry, file.f_op = dentry, f_op
    return file


@kernel_function("fs/file_table.c", "alloc_path_pseudo (a dentry), then alloc_file")
def alloc_file_pseudo(inode: Any, dname: str, f_op: FileOperations, name: str) -> File | int:
    """A file for an inode that has no path on disk: a dentry named ``dname`` for ``inode`` (``alloc_path_pseudo``:
    ``d_alloc_pseudo``, ``d_instantiate``), then ``alloc_file``. On error the dentry goes again (``path_put``) but
    the inode stays (``ihold``): the caller frees it."""
    dentry = d_alloc_pseudo(dname, name)
    dentry.d_inode = inode
    file = alloc_file(dentry, f_op, name)
    if not isinstance(file, File):
        dentry.d_inode = None           # ihold: the caller still owns the inode
        dput(dentry)
    return file


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
