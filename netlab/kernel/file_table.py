"""A ``struct file`` is made and freed: fs/file_table.c (Linux 6.12; 3.10's names where they differ).

``alloc_file_pseudo`` gives an inode of a pseudo filesystem (a socket's, an epoll's) a file: a dentry
(``d_alloc_pseudo``), then ``alloc_file`` → ``alloc_empty_file`` (3.10 ``get_empty_filp``): ENFILE when the system
holds ``fs.file-max`` files, else a ``struct file`` from the ``filp`` cache, its LSM blob (``security_file_alloc``,
where the booted LSMs keep one in ``lsm_file_cache``), and ``nr_files`` + 1. 3.10 has no ``alloc_file_pseudo``: its
callers (``sock_alloc_file``, ``anon_inode_getfile``) call ``d_alloc_pseudo`` and ``alloc_file`` themselves.

``close(fd)`` takes the file out of the fd table (``close_fd``); with its last reference gone ``__fput`` tears it
down: epoll instances that watch it forget it (``eventpoll_release``), its ``f_op->release`` runs (a socket's
``sock_close`` lets the protocol close: ``__sock_release`` → ``inet_release`` → ``tcp_close``), ``dput`` drops the
dentry (and with it the inode: a socket's ``struct socket_alloc`` is freed), and ``file_free`` gives the file back
(``nr_files`` − 1). 3.10's ``__fput`` frees the file (``file_free``, after an RCU grace period) before ``dput``;
the objects freed are the same.
"""
from __future__ import annotations

from typing import Any

from netlab.kernel.cpu import current_cpu
from netlab.kernel.dcache import Dentry, d_alloc_pseudo, dput
from netlab.kernel.fs import File, FileOperations, filp_address
from netlab.kernel.limits import ENFILE
from netlab.kernel.slub import slab_alloc, slab_free, slab_has
from netlab.trace import kernel_function, trace_printk
from netlab.units import number


def _files_stat_text(name: str) -> str:
    stat = _files_stat()
    if stat is None:
        return f"a struct file from filp for {name}"
    return (f"nr_files {number(stat.nr_files)} vs fs.file-max {number(stat.max_files)}, then a struct file from "
            f"filp for {name}")


def _files_stat() -> Any:
    """The host's ``files_stat`` (nr_files against fs.file-max), where it models memory."""
    cpu = current_cpu()
    return None if cpu is None else cpu.files_stat


@kernel_function("fs/file_table.c", _files_stat_text)
def alloc_empty_file(name: str) -> File | int:
    """ENFILE when the system holds fs.file-max files (no CAP_SYS_ADMIN in the model), else a ``struct file``
    (filp) and, where the LSMs keep one, its blob (``init_file`` → ``security_file_alloc``); ``nr_files`` + 1.
    ``name`` labels the file (``socket:client``); the host's ``files_stat`` counts files where it models memory."""
    stat = _files_stat()
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


@kernel_function("fs/file_table.c", "the last reference to {file.name} is gone: tear the file down")
def __fput(file: File) -> None:
    """``eventpoll_release`` (include/linux/eventpoll.h: only a file on some epoll's ``f_ep`` list), then
    ``file->f_op->release``, ``dput`` of its dentry, ``file_free``."""
    from netlab.kernel.eventpoll import eventpoll_release_file   # fs/eventpoll.c calls back into this file
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
    stat = _files_stat()
    if stat is not None:
        stat.nr_files -= 1

