"""The open-file table of a task: ``struct files_struct`` and its fdtable (include/linux/fdtable.h, Linux 6.12).

Threads of one process share it (``clone(CLONE_FILES)``): ``current->files``. The calls that fill and empty it
(``alloc_fd``, ``fd_install``, ``close_fd`` …) are fs/file.c's, modelled in :mod:`netlab.kernel.limits`.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from netlab import check

BITS_PER_LONG = 64
NR_OPEN_DEFAULT = BITS_PER_LONG     # fds in the fdtable embedded in files_struct


@dataclass(eq=False)
class FilesStruct:
    """``struct files_struct`` and its fdtable: which fds are taken, and how many slots the table has."""

    max_fds: int = NR_OPEN_DEFAULT
    next_fd: int = 0
    open_fds: set = field(default_factory=set)
    fd: dict = field(default_factory=dict)      # installed fd -> its struct file (or a label: "stdio 0" …)

    def __post_init__(self):
        check.fields(self)

    def snapshot(self) -> "FdTableState":
        return FdTableState(len(self.open_fds), self.max_fds, self.next_fd)


@dataclass(frozen=True)
class FdTableState:
    """A process's fd table at a step: fds open, slots in the table (``max_fds``), the next fd to try."""

    open_fds: int
    slots: int
    next_fd: int
