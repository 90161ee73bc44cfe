"""The dentry of a file that has no path on disk (a socket's, an epoll's): fs/dcache.c (Linux 6.12; 3.10 the same).

A ``struct file`` reaches its inode through its path's dentry (``f_path.dentry->d_inode``). A socket or an epoll
instance lives in a pseudo filesystem (sockfs, anon_inodefs), so its file gets a fresh dentry of its own
(``d_alloc_pseudo``, from the ``dentry`` slab cache) that names the inode. ``dput`` drops the file's reference when
the file goes: the dentry lets go of its inode (``iput``: a socket's inode is evicted and freed) and is freed
(``dentry_free``; 3.10 ``d_free``; a pseudo dentry was never visible to RCU, so at once).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from netlab import check
from netlab.kernel.inode import iput
from netlab.kernel.slub import slab_alloc, slab_free
from netlab.trace import kernel_function


@dataclass(eq=False)
class Dentry:
    """``struct dentry``: a name (``d_name``: "TCP" for a TCP socket, "[eventpoll]") for an inode (``d_inode``: a
    socket's :class:`netlab.kernel.sock.Socket`, or None for the one inode every anonymous file shares, which is
    never freed); ``slab_objects`` the dentry itself (on a host that models memory)."""

    d_name: str
    d_inode: Any = None
    slab_objects: list = field(default_factory=list, repr=False)

    def __post_init__(self):
        check.fields(self)


@kernel_function("fs/dcache.c", "a dentry named {name!r} for {owner}: the file's path in the pseudo filesystem")
def d_alloc_pseudo(name: str, owner: str) -> Dentry:
    """``__d_alloc``: one ``struct dentry`` from the dentry cache (the short name fits inside it, DNAME_INLINE_LEN);
    DCACHE_NORCU: nobody can look it up. ``owner`` names whose file it is (for the slab object)."""
    dentry = Dentry(name)
    obj = slab_alloc("dentry", f"{owner}: struct dentry")
    if obj is not None:
        dentry.slab_objects.append(obj)
    return dentry


@kernel_function("fs/dcache.c", "the file's dentry ({dentry.d_name!r}) loses its last reference: kill it")
def dput(dentry: Dentry) -> None:
    """``__dentry_kill``: ``dentry_unlink_inode`` drops the inode (``iput``; the shared anonymous inode stays),
    then ``dentry_free``."""
    if dentry.d_inode is not None:
        inode, dentry.d_inode = dentry.d_inode, None
        iput(inode)
    dentry_free(dentry)


@kernel_function("fs/dcache.c", "free the dentry {dentry.d_name!r}")
def dentry_free(dentry: Dentry) -> None:
    """Give the ``struct dentry`` back to its cache (``__d_free``; no RCU grace period for a DCACHE_NORCU dentry)."""
    slab_free(dentry.slab_objects)
