"""The end of an inode: fs/inode.c ``iput`` (Linux 6.12; 3.10 the same).

The last reference to an inode is gone: ``iput_final`` → ``evict`` → ``destroy_inode``, which frees the LSM blob
(``security_inode_free``) and the inode through its filesystem's ``super_operations`` (6.12 ``free_inode``, after
an RCU grace period; 3.10 ``destroy_inode``). The model frees at once.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from netlab.trace import kernel_function


@dataclass(frozen=True)
class SuperOperations:
    """``struct super_operations``, reduced to how the filesystem frees an inode (``free_inode``)."""

    name: str
    free_inode: Callable[[Any], None]


@kernel_function("fs/inode.c", "the last reference to the inode of {inode.name} is gone: evict and free it")
def iput(inode: Any) -> None:
    """``iput_final`` → ``evict`` → ``destroy_inode`` → ``inode->i_sb->s_op->free_inode`` (the model's inode
    carries its filesystem's operations as ``s_op``)."""
    inode.s_op.free_inode(inode)
