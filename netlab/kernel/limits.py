"""Limits on connections: file descriptors (EMFILE, ENFILE) and the client's ports (the 4-tuple).

Models fs/file.c (``alloc_fd``, ``expand_files``, ``get_unused_fd_flags``, ``put_unused_fd``, ``fd_install``,
``close_fd``), kernel/sys.c (``do_prlimit``: the hard limit may not exceed ``fs.nr_open``, and only
CAP_SYS_RESOURCE raises it), fs/file_table.c (``files_maxfiles_init``: the default ``fs.file-max``; the ENFILE check
itself sits in ``alloc_empty_file``, modelled with the ``filp`` allocation in :mod:`netlab.kernel.fs`) and
net/ipv4/inet_connection_sock.c (``inet_sk_get_local_port_range``: the namespace's ``ip_local_port_range``,
narrowed per socket by ``IP_LOCAL_PORT_RANGE`` since 6.3).

The order of the checks when a socket gets a file descriptor (6.12, the same in 3.10 under older names):

1. ``get_unused_fd_flags`` → ``alloc_fd(0, rlimit(RLIMIT_NOFILE))``: the lowest free fd at or above the soft limit
   → **EMFILE** "Too many open files" (per process);
2. ``expand_files``: an fd at or above ``fs.nr_open`` → EMFILE (the soft limit can never exceed the hard limit,
   and the hard limit never exceeds nr_open, so this only bites if nr_open was lowered later);
3. ``alloc_empty_file``: ``nr_files >= fs.file-max`` and no CAP_SYS_ADMIN → **ENFILE** "Too many open files in
   system" (system-wide).

``socket()`` builds the socket before step 1 (and frees it again on EMFILE); ``accept()`` does step 1 before it
takes a connection off the accept queue, so at the limit the connection stays queued, established.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

import numpy as np

from netlab import check
from netlab.units import number
from netlab.check import Range
from netlab.kernel.fdtable import BITS_PER_LONG, FilesStruct
from netlab.kernel.profiles import LINUX_6_12, KernelProfile
from netlab.kernel.sched import Rlimit, Task
from netlab.trace import kernel_function, trace_printk

EPERM, EBADF, ENFILE, EINVAL, EMFILE, EADDRNOTAVAIL = 1, 9, 23, 22, 24, 99
ERRNO_NAMES = {EPERM: "EPERM", EBADF: "EBADF", ENFILE: "ENFILE", EINVAL: "EINVAL", EMFILE: "EMFILE",
               EADDRNOTAVAIL: "EADDRNOTAVAIL"}
NR_FILE = 8192                      # the smallest default fs.file-max (include/uapi/linux/fs.h)
IP_LOCAL_PORT_RANGE = 51            # include/uapi/linux/in.h (6.3+)
IP_BIND_ADDRESS_NO_PORT = 24        # include/uapi/linux/in.h (4.2+): bind() an address, pick the port at connect()
IPV4_ADDRESSES = 2 ** 32
PORTS = 2 ** 16


@check.arguments
def errno_name(error: Annotated[int, Range(None, -1)]) -> str:
    """``-24`` → ``"EMFILE"``."""
    if not isinstance(error, int) or error >= 0:
        raise ValueError("pass a negative errno such as -24")
    return ERRNO_NAMES.get(-error, f"errno {-error}")



@dataclass
class FilesStat:
    """``files_stat.max_files`` (``fs.file-max``) and the system-wide count of open files (``nr_files``)."""

    max_files: int
    nr_files: int = 0

    def __post_init__(self):
        check.fields(self)
        check.count("max_files", self.max_files, 1)
        check.count("nr_files", self.nr_files, 0)


@check.arguments
def roundup_pow_of_two(n: int) -> int:
    return 1 << (n - 1).bit_length()


@kernel_function("fs/file.c", lambda files, nr, nr_open: f"fd {number(nr)} needs a table of {number(nr + 1)}+ "
                 f"slots; the table has {number(files.max_fds)}"
                 + ("" if nr < files.max_fds else f", nr_open is {number(nr_open)}"))
def expand_files(files: FilesStruct, nr: int, nr_open: int) -> int:
    """Grow the fd table to a power of two so fd ``nr`` fits: 0 (fits), 1 (grown), -EMFILE (beyond fs.nr_open)."""
    if nr < files.max_fds:
        return 0
    if nr >= nr_open:
        return -EMFILE
    size = roundup_pow_of_two(nr + 1)               # alloc_fdtable(nr + 1)
    if size > nr_open:
        size = nr_open - nr_open % BITS_PER_LONG
        if size < nr + 1:
            return -EMFILE
    trace_printk(f"expand_fdtable: {number(files.max_fds)} → {number(size)} slots ({number(size * 8)} B of "
                 "struct file pointers)")
    files.max_fds = size
    return 1


@kernel_function("fs/file.c", lambda task, start, end, nr_open, flags=0: f"find the lowest free fd of "
                 f"{task.comm} (limit {number(end)})")
def alloc_fd(task: Task, start: int, end: int, nr_open: int, flags: int = 0) -> int:
    """The lowest free fd ≥ ``start``; -EMFILE if it is not below ``end`` (the RLIMIT_NOFILE soft limit)."""
    files = task.files
    fd = max(start, files.next_fd)
    while fd in files.open_fds:                      # find_next_fd
        fd += 1
    if fd >= end:
        trace_printk(f"fd {number(fd)} >= RLIMIT_NOFILE {number(end)}: EMFILE")
        return -EMFILE
    error = expand_files(files, fd, nr_open)
    if error < 0:
        return error
    if start <= files.next_fd:
        files.next_fd = fd + 1
    files.open_fds.add(fd)
    return fd


@kernel_function("fs/file.c", lambda task, nr_open, flags=0: f"{task.comm} asks for a new fd "
                 f"(RLIMIT_NOFILE {number(task.nofile.rlim_cur)})")
def get_unused_fd_flags(task: Task, nr_open: int, flags: int = 0) -> int:
    """``alloc_fd(0, rlimit(RLIMIT_NOFILE))``: the soft limit is the end of the search."""
    check.count("nr_open", nr_open, 1)
    return alloc_fd(task, 0, task.nofile.rlim_cur, nr_open, flags)


@kernel_function("fs/file.c", "give back fd {fd}, reserved but never installed")
def put_unused_fd(task: Task, fd: int) -> None:
    """Release a reserved fd (the call failed after the fd was taken)."""
    task.files.open_fds.discard(fd)
    task.files.next_fd = min(task.files.next_fd, fd)


@kernel_function("fs/file.c", "install the new file at fd {fd}")
def fd_install(task: Task, fd: int, owner: object) -> None:
    """Point fd ``fd`` at its file: from now on the process can use it."""
    if fd not in task.files.open_fds:
        raise ValueError(f"fd {fd} was not reserved with get_unused_fd_flags")
    task.files.fd[fd] = owner


@kernel_function("fs/file.c", "close fd {fd}")
def close_fd(task: Task, fd: int) -> object | int:
    """Take the file out of the fd table; returns what it held, or -EBADF. The file is released by __fput."""
    files = task.files
    if fd not in files.fd:
        return -EBADF
    owner = files.fd.pop(fd)
    files.open_fds.discard(fd)
    files.next_fd = min(files.next_fd, fd)
    return owner


@kernel_function("kernel/sys.c", lambda task, new, nr_open: f"setrlimit(RLIMIT_NOFILE, {new.rlim_cur}, "
                 f"{new.rlim_max}) by {task.comm}")
def do_prlimit(task: Task, new: Rlimit, nr_open: int) -> int:
    """Change RLIMIT_NOFILE: -EINVAL if soft > hard, -EPERM if hard > fs.nr_open or raised without
    CAP_SYS_RESOURCE; 0 and the new limit otherwise."""
    if not isinstance(task, Task) or not isinstance(new, Rlimit):
        raise TypeError("do_prlimit takes a Task and an Rlimit")
    if new.rlim_cur > new.rlim_max:
        return -EINVAL
    if new.rlim_max > nr_open:
        trace_printk(f"hard limit {number(new.rlim_max)} > fs.nr_open {number(nr_open)}: EPERM")
        return -EPERM
    if new.rlim_max > task.nofile.rlim_max and "CAP_SYS_RESOURCE" not in task.capabilities:
        trace_printk("raising the hard limit needs CAP_SYS_RESOURCE: EPERM")
        return -EPERM
    task.nofile.rlim_cur, task.nofile.rlim_max = new.rlim_cur, new.rlim_max     # shared by the threads
    return 0


@kernel_function("fs/file_table.c", lambda total_pages, free_pages, profile=LINUX_6_12:
                 f"default fs.file-max for {total_pages * profile.page_size / 2 ** 30:.1f} GiB of RAM")
def files_maxfiles_init(total_pages: int, free_pages: int, profile: KernelProfile = LINUX_6_12) -> int:
    """The boot-time ``fs.file-max``: about one file per 10 KiB of RAM, after setting aside 1.5× the pages already
    in use at boot (``memreserve``), never below NR_FILE. Both kernels compute it so: 3.10 in ``vfs_caches_init``
    (fs/dcache.c: ``reserve = min((mempages - nr_free_pages()) * 3/2, mempages - 1)``, with ``mempages =
    totalram_pages`` from ``start_kernel``) and ``files_init(mempages)``; 6.12 in ``files_maxfiles_init``
    (fs/file_table.c), called again by ``page_alloc_init_late`` once deferred pages are free. systemd often raises
    it later."""
    check.count("total_pages", total_pages, 1)
    check.count("free_pages", free_pages, 0)
    if free_pages > total_pages:
        raise ValueError("free_pages cannot exceed total_pages")
    memreserve = min((total_pages - free_pages) * 3 // 2, total_pages - 1)
    n = (total_pages - memreserve) * (profile.page_size // 1024) // 10
    return max(n, NR_FILE)


@check.arguments
def tcp_max_syn_backlog_for_memory(kernel_pages: Annotated[int, Range(1, 2 ** 40)],
                                   profile: KernelProfile = LINUX_6_12) -> int:
    """The boot-time ``net.ipv4.tcp_max_syn_backlog`` of a machine whose page allocator manages ``kernel_pages``
    pages (``nr_kernel_pages``: the RAM less what the kernel took while booting). TCP sizes its established hash
    with ``alloc_large_system_hash("TCP established", …, 17, …, 512 * 1024)`` (mm/page_alloc.c in 3.10,
    mm/mm_init.c in 6.12): one bucket per 128 KiB, the memory rounded up to MiB, the count rounded up to a power
    of two, at most 512 Ki buckets (6.12's ADAPT_SCALE step runs only for tables with no such limit). Then 3.10's
    ``tcp_init`` (net/ipv4/tcp.c) sets ``max(128, cnt / 256)``, 6.12's ``tcp_set_hashinfo`` (net/ipv4/tcp_ipv4.c)
    ``max(128U, ehash_entries / 128)``."""
    page_shift = profile.page_size.bit_length() - 1
    pages = -(-kernel_pages // (2 ** 20 // profile.page_size)) * (2 ** 20 // profile.page_size)
    scale = 17
    entries = 1 << max(0, (pages >> (scale - page_shift)) - 1).bit_length()      # roundup_pow_of_two
    entries = min(entries, 512 * 1024)
    return max(128, entries // profile.syn_backlog_per_ehash)


@kernel_function("net/ipv4/inet_connection_sock.c",
                 lambda net_range, sk_range=None: f"ip_local_port_range {net_range[0]}-{net_range[1]}"
                 + (f", narrowed by IP_LOCAL_PORT_RANGE {sk_range[0]}-{sk_range[1]}" if sk_range else ""))
def inet_sk_get_local_port_range(net_range: tuple[int, int], sk_range: tuple[int, int] | None = None) \
        -> tuple[int, int]:
    """The ports ``connect()`` may pick: the namespace's range, each end replaced by the socket's own
    (IP_LOCAL_PORT_RANGE) when that end lies inside the namespace's range."""
    lo, hi = _port_range("net_range", net_range)
    if sk_range is not None:
        sk_lo, sk_hi = sk_range
        if not all(isinstance(p, int) and 0 <= p < PORTS for p in (sk_lo, sk_hi)):
            raise ValueError("sk_range ends must be ints in 0..65535 (0 = not set)")
        new_lo = sk_lo if lo <= sk_lo <= hi else lo
        new_hi = sk_hi if lo <= sk_hi <= hi else hi
        lo, hi = new_lo, new_hi
    return lo, hi


def _port_range(name: str, value) -> tuple[int, int]:
    if (not isinstance(value, tuple) or len(value) != 2
            or not all(isinstance(p, int) and 0 < p < PORTS for p in value) or value[0] > value[1]):
        raise ValueError(f"{name} must be (low, high) ports with 0 < low <= high < 65536, got {value!r}")
    return value


@check.arguments
def ip_local_port_range_value(lo: int, hi: int) -> int:
    """The int ``setsockopt(IPPROTO_IP, IP_LOCAL_PORT_RANGE, …)`` takes: ``lo | hi << 16``."""
    _port_range("(lo, hi)", (lo, hi))
    return lo | hi << 16


@check.arguments
def client_connections(port_range: tuple[int, int],
                       client_ips: Annotated[check.Counts, check.Range(1, IPV4_ADDRESSES)] = 1,
                       server_endpoints: Annotated[check.Counts, check.Range(1, IPV4_ADDRESSES * PORTS)] = 1,
                       bind_before_connect: bool = False):
    """How many connections a client can open: ports × source IPs × (server IP, port) pairs.

    ``connect()`` without ``bind()`` reuses a local port for every destination, because only the 4-tuple must be
    unique (``__inet_check_established``). ``bind(ip, 0)`` first reserves the port for that address alone, so then
    the servers do not multiply (unless IP_BIND_ADDRESS_NO_PORT defers the port to connect()). Works on numpy
    arrays too (of Python ints: the product can pass 64 bits).
    """
    lo, hi = _port_range("port_range", port_range)
    ports = hi - lo + 1
    if hasattr(client_ips, "__array__") or hasattr(server_endpoints, "__array__"):
        client_ips, server_endpoints = (np.asarray(v).astype(object) for v in (client_ips, server_endpoints))
    return ports * client_ips * (1 if bind_before_connect else server_endpoints)


def server_connections_bound() -> int:
    """The 4-tuple's ceiling for one listening IP:port: every remote IPv4 address × every remote port."""
    return IPV4_ADDRESSES * PORTS

