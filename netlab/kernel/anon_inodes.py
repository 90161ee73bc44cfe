"""Files without an inode of their own: fs/anon_inodes.c ``anon_inode_getfile`` (Linux 6.12; 3.10 the same).

An epoll instance (and eventfd, signalfd, timerfd …) is a file of anon_inodefs: every such file shares one inode
(``anon_inode_inode``, made at boot and never freed), so each costs a dentry and a ``struct file`` only.
"""
from __future__ import annotations

from typing import Any

from netlab.kernel.fs import File, FileOperations, alloc_file_pseudo
from netlab.trace import kernel_function


@kernel_function("fs/anon_inodes.c", "a file {name!r} on the one shared anonymous inode: a dentry and a struct file")
def anon_inode_getfile(name: str, fops: FileOperations, priv: Any, flags: int) -> File | int:
    """``alloc_file_pseudo`` on the shared inode (``ihold``; the dentry's ``d_inode`` is None in the model: nothing
    to free when it goes); 3.10 calls ``d_alloc_pseudo`` and ``alloc_file`` itself. Returns the file or -errno."""
    file = alloc_file_pseudo(None, name, fops, name)
    if isinstance(file, File):
        file.private_data = priv
        file.f_flags |= flags
    return file
