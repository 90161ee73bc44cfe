"""What a TCP connection costs in kernel memory: the slab objects of a socket in each state, and its buffers.

Models (Linux 6.12 names; 3.10 differences noted where they matter), allocating from :mod:`netlab.kernel.slub`:

- net/socket.c ``__sys_socket``, ``sock_alloc``, ``sock_alloc_inode`` (``struct socket_alloc``; 3.10 also
  kmallocs a ``struct socket_wq``), ``sock_map_fd``, ``sock_alloc_file``, ``__sys_accept4_file``, ``do_accept``,
  ``sock_release``, ``sock_close``, ``sock_free_inode`` (3.10: ``sock_destroy_inode``).
- net/core/sock.c ``sk_alloc``, ``sk_prot_alloc`` (the ``tcp_sock`` in the ``TCP`` cache), ``sk_clone_lock`` (the
  server's child socket), ``sk_prot_free``; fs/file_table.c ``alloc_file_pseudo``, ``alloc_empty_file`` (the
  ``filp`` and the ENFILE check; 3.10: ``get_empty_filp``), ``alloc_file``, ``__fput``, ``file_free``; fs/dcache.c
  ``d_alloc_pseudo``, ``dentry_free``.
- net/ipv4/inet_hashtables.c ``inet_bind_bucket_create`` and (6.1+) ``inet_bind2_bucket_create``: a client's port;
  net/ipv4/inet_connection_sock.c ``reqsk_alloc`` (a SYN_RECV request); net/ipv4/tcp.c ``tcp_close``,
  ``tcp_done``; net/ipv4/tcp_input.c ``tcp_fin``; net/ipv4/tcp_minisocks.c ``tcp_time_wait`` and
  net/ipv4/inet_timewait_sock.c ``inet_twsk_alloc``, ``inet_twsk_kill``: TIME_WAIT keeps a small
  ``tcp_timewait_sock`` (and the client's bind buckets) instead of the whole socket.
- fs/eventpoll.c: an epoll registration adds an ``epitem``, an ``eppoll_entry`` and (6.12) an ``epitems_head``
  (``ep_insert`` itself is chapter 02's model; here only its allocations are recorded).

A connection end is built in two phases: *open* (``socket()`` + ``connect()``, or SYN → ACK → ``accept()``) and
*move* (to CLOSE_WAIT, FIN_WAIT2 or TIME_WAIT). Caches start empty here; a real cache starts with partly used slabs,
and SLUB keeps a few empty slabs per node (``min_partial``) and per CPU, so at a few connections reality differs by
a slab or two. Chapter 06's traced stories are :mod:`netlab.scenarios.connection_memory`; the exact memory of N
connections, from one traced end, is :mod:`netlab.load.memory`.

Receive and send buffers are a separate cost, charged only while data waits (``sk_rmem_alloc``,
``sk_wmem_queued``, rounded to pages by ``sk_forward_alloc``): :func:`queued_data_memory`.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

from netlab import check
from netlab.kernel import limits
from netlab.kernel.fs import FILP_BASE, File
from netlab.kernel.limits import ENFILE, FilesStat
from netlab.kernel.profiles import KernelProfile
from netlab.kernel.sched import Rlimit, Task
from netlab.kernel.skbuff import SKB_DATA_ALIGN, SKB_TRUESIZE
from netlab.kernel.slub import Obj, Slub, kmem_cache_alloc, kmem_cache_free
from netlab.kernel.sock import socket_file_ops
from netlab.trace import kernel_function, on_cpu, trace_printk
from netlab.units import number


# --------------------------------------------------------------------------------------------------------------
# Sockets and the objects they hold

FIN_HEAD_KMALLOC = "kmalloc-1024"
"""Where 3.10's ``__alloc_skb`` kmallocs the head of ``tcp_send_fin``'s skb (6.3+ take it from skbuff_small_head):
SKB_DATA_ALIGN(MAX_TCP_HEADER) + SKB_DATA_ALIGN(sizeof(struct skb_shared_info)), 320 + 320 B with CentOS 7's config
(``tools/kernel_sizes.py --series 3.10`` checks it)."""
STATES = ("ESTABLISHED", "SYN_RECV", "ACCEPT_QUEUE", "CLOSE_WAIT", "FIN_WAIT2", "TIME_WAIT")
"""ACCEPT_QUEUE: established by the kernel but not yet accept()ed. FIN_WAIT2 and TIME_WAIT: after this side's
close() (orphaned); CLOSE_WAIT: the peer closed, this side has not."""
SIDES = ("client", "server")
OBJECT_STRUCT = {"TCP": "tcp_sock", "sock_inode_cache": "socket_alloc (socket + inode)", "socket_wq": "socket_wq",
                 "dentry": "dentry", "filp": "file", "tcp_bind_bucket": "inet_bind_bucket",
                 "tcp_bind2_bucket": "inet_bind2_bucket", "tw_sock_TCP": "tcp_timewait_sock",
                 "request_sock_TCP": "tcp_request_sock", "skbuff_head_cache": "sk_buff (the queued FIN)",
                 "skbuff_fclone_cache": "sk_buff_fclones (the peer's FIN and its clone)",
                 "skbuff_small_head": "the FIN's head", FIN_HEAD_KMALLOC: "the FIN's head",
                 "eventpoll_epi": "epitem", "eventpoll_pwq": "eppoll_entry", "ep_head": "epitems_head",
                 "lsm_inode_cache": "LSM inode blob", "lsm_file_cache": "LSM file blob"}
"""What struct each cache holds, for tables."""


@dataclass(eq=False)
class Connection:
    """One end of a TCP connection and the slab objects it holds right now, by role; ``file`` is its
    ``struct file`` while it has one (what its fd points at)."""

    name: str
    side: str
    state: str = "CLOSE"
    fd: int | None = None
    file: File | None = None
    epoll: bool = False
    objects: dict = field(default_factory=dict)     # role -> Obj

    def __post_init__(self):
        check.fields(self)


class Kernel:
    """One machine's kernel for these models: its slab allocator, open files, TIME_WAIT buckets and tasks.
    ``loopback``: the connections' peers are on this machine too (what a FIN they receive is made of)."""

    @check.arguments
    def __init__(self, profile: KernelProfile, nr_cpus: check.Cpus | None = None, max_files: int = 10 ** 9,
                 max_tw_buckets: int = 262144, record: bool = False, loopback: bool = False):
        check.count("max_files", max_files, 1)
        check.count("max_tw_buckets", max_tw_buckets, 1)
        self.profile = profile
        self.slub = Slub(profile, nr_cpus, record)
        self.files_stat = FilesStat(max_files)
        self.nr_open = profile.nr_open
        self.max_tw_buckets, self.tw_count = max_tw_buckets, 0
        self.connections: list[Connection] = []
        self.loopback = loopback

    @check.arguments
    def task(self, comm: str = "app", nofile: int | None = None) -> Task:
        """A process with RLIMIT_NOFILE ``nofile`` (default: the profile's soft limit); fds 0–2 are taken."""
        soft = self.profile.nofile_soft if nofile is None else nofile
        task = Task(comm, nofile=Rlimit(soft, max(soft, self.profile.nofile_hard)))
        for fd in range(min(3, soft)):
            task.files.open_fds.add(fd)
            task.files.fd[fd] = f"stdio {fd}"
        task.files.next_fd = min(3, soft)
        return task


def _hold(kernel: Kernel, conn: Connection, role: str, cache: str, what: str) -> None:
    conn.objects[role] = kmem_cache_alloc(kernel.slub, cache, f"{conn.name}: {what}")


def _drop(kernel: Kernel, conn: Connection, *roles: str) -> None:
    for role in roles:
        obj = conn.objects.pop(role, None)
        if obj is not None:
            kmem_cache_free(kernel.slub, obj)


@kernel_function("net/socket.c", "sock_inode_cache: struct socket_alloc, a socket and its inode in one object")
def sock_alloc_inode(kernel: Kernel, conn: Connection) -> None:
    """The sockfs inode: ``struct socket_alloc`` (socket + inode) from sock_inode_cache; 3.10 also kmallocs the
    socket's wait-queue head, ``struct socket_wq`` (embedded in struct socket since 5.x)."""
    _hold(kernel, conn, "socket", "sock_inode_cache", "struct socket_alloc")
    if kernel.slub.has("socket_wq"):
        _hold(kernel, conn, "socket_wq", "socket_wq", "kmalloc(sizeof(struct socket_wq))")


@kernel_function("net/socket.c", "new_inode_pseudo → alloc_inode → sock_alloc_inode")
def sock_alloc(kernel: Kernel, conn: Connection) -> None:
    """Allocate a socket: a sockfs inode (plus its LSM blob when the booted LSMs use one)."""
    sock_alloc_inode(kernel, conn)
    if kernel.slub.has("lsm_inode_cache"):
        _hold(kernel, conn, "lsm_inode", "lsm_inode_cache", "security_inode_alloc blob")


@kernel_function("net/core/sock.c", "the TCP cache: struct tcp_sock, the protocol half of the socket")
def sk_prot_alloc(kernel: Kernel, conn: Connection) -> None:
    """``kmem_cache_alloc(prot->slab)``: for TCP the ``TCP`` cache holding a whole ``struct tcp_sock``."""
    _hold(kernel, conn, "sock", "TCP", "struct tcp_sock")


@kernel_function("net/core/sock.c", "inet_create → sk_alloc: the struct sock for the new socket")
def sk_alloc(kernel: Kernel, conn: Connection) -> None:
    """Allocate and initialise the ``struct sock`` (``tcp_sock``) of a new socket."""
    sk_prot_alloc(kernel, conn)


@kernel_function("fs/dcache.c", "a dentry for the socket's file (\"TCP\" in sockfs)")
def d_alloc_pseudo(kernel: Kernel, conn: Connection) -> None:
    """The file's name in the pseudo filesystem: one ``struct dentry``."""
    _hold(kernel, conn, "dentry", "dentry", "struct dentry")


@kernel_function("fs/file_table.c", lambda kernel, conn: f"nr_files {number(kernel.files_stat.nr_files)} vs "
                 f"fs.file-max {number(kernel.files_stat.max_files)}, then a struct file from filp")
def alloc_empty_file(kernel: Kernel, conn: Connection) -> int:
    """ENFILE when the system holds fs.file-max files (unless CAP_SYS_ADMIN); else a ``struct file`` from filp."""
    stat = kernel.files_stat
    if stat.nr_files >= stat.max_files:
        trace_printk(f"VFS: file-max limit {number(stat.max_files)} reached: ENFILE")
        return -ENFILE
    _hold(kernel, conn, "file", "filp", "struct file")
    filp = conn.objects["file"]
    cache = kernel.slub.caches[filp.row]
    conn.file = File(socket_file_ops, conn, FILP_BASE + filp.slab * cache.slab_bytes
                     + filp.slot * cache.layout.object_size, f"socket:{conn.name}")
    if kernel.slub.has("lsm_file_cache"):
        _hold(kernel, conn, "lsm_file", "lsm_file_cache", "security_file_alloc blob")
    stat.nr_files += 1
    return 0


@kernel_function("fs/file_table.c", "a struct file for the path: alloc_empty_file, then set its path and ops")
def alloc_file(kernel: Kernel, conn: Connection) -> int:
    """``alloc_file(path, flags, fops)``: an empty file (ENFILE, filp), given the dentry's path and the socket's
    file operations. 3.10's is the same, with ``get_empty_filp`` for ``alloc_empty_file``."""
    return alloc_empty_file(kernel, conn)


@kernel_function("fs/file_table.c", "alloc_path_pseudo (a dentry), then alloc_file")
def alloc_file_pseudo(kernel: Kernel, conn: Connection) -> int:
    """A file for an inode that has no path on disk: a dentry, then the ``struct file``. 3.10 has no such helper:
    its ``sock_alloc_file`` calls ``d_alloc_pseudo`` and ``alloc_file`` itself (``renamed`` folds this level)."""
    d_alloc_pseudo(kernel, conn)
    error = alloc_file(kernel, conn)
    if error:
        _drop(kernel, conn, "dentry")           # path_put
    return error


@kernel_function("net/socket.c", "sock_release: free the half-made socket")
def sock_release(kernel: Kernel, conn: Connection) -> None:
    """Tear a socket down without a file: the tcp_sock and the inode go."""
    _drop(kernel, conn, "sock", "socket_wq", "socket", "lsm_inode")
    conn.state = "CLOSE"


@kernel_function("net/socket.c")
def sock_alloc_file(kernel: Kernel, conn: Connection) -> int:
    """Give the socket a ``struct file`` (and dentry) so it can sit in a process's fd table."""
    error = alloc_file_pseudo(kernel, conn)
    if error:
        sock_release(kernel, conn)
    return error


@kernel_function("net/socket.c", "get an fd first, then the file: an fd over the limit frees the new socket")
def sock_map_fd(kernel: Kernel, task: Task, conn: Connection) -> int:
    """``get_unused_fd_flags`` (EMFILE), then ``sock_alloc_file`` (ENFILE), then ``fd_install``."""
    fd = limits.get_unused_fd_flags(task, kernel.nr_open)
    if fd < 0:
        sock_release(kernel, conn)
        return fd
    error = sock_alloc_file(kernel, conn)
    if error:
        limits.put_unused_fd(task, fd)
        return error
    limits.fd_install(task, fd, conn.file)
    conn.fd = fd
    return fd


@kernel_function("net/socket.c", lambda kernel, task, name: f"socket(AF_INET, SOCK_STREAM) by {task.comm}: {name}")
def __sys_socket(kernel: Kernel, task: Task, name: str) -> Connection | int:
    """``socket()``: the socket and its tcp_sock are built first, then it gets an fd and a file (sock_map_fd).
    Returns the new connection's end, or a negative errno."""
    conn = Connection(name, "client")
    kernel.connections.append(conn)
    sock_alloc(kernel, conn)
    sk_alloc(kernel, conn)
    fd = sock_map_fd(kernel, task, conn)
    if fd < 0:
        kernel.connections.remove(conn)
        return fd
    return conn


@kernel_function("net/ipv4/inet_hashtables.c", "the chosen local port gets a bind bucket")
def inet_bind_bucket_create(kernel: Kernel, conn: Connection) -> None:
    """``struct inet_bind_bucket``: one per local port in use (shared by every socket on that port)."""
    _hold(kernel, conn, "bind_bucket", "tcp_bind_bucket", "struct inet_bind_bucket")


@kernel_function("net/ipv4/inet_hashtables.c", "the (address, port) pair gets a second bucket (bhash2, 6.1+)")
def inet_bind2_bucket_create(kernel: Kernel, conn: Connection) -> None:
    """``struct inet_bind2_bucket``: the port again, keyed by address and port (6.1+)."""
    _hold(kernel, conn, "bind2_bucket", "tcp_bind2_bucket", "struct inet_bind2_bucket")


@check.arguments
def connect(kernel: Kernel, conn: Connection) -> None:
    """``connect()``: ``__inet_hash_connect`` picks a free local port (chapter 07) and hashes the socket into its
    bind buckets; the handshake completes (chapter 05); the socket is ESTABLISHED."""
    trace_printk(f"{conn.name}: tcp_v4_connect → inet_hash_connect picks a local port")
    inet_bind_bucket_create(kernel, conn)
    if kernel.slub.has("tcp_bind2_bucket"):
        inet_bind2_bucket_create(kernel, conn)
    conn.state = "ESTABLISHED"


@kernel_function("net/ipv4/inet_connection_sock.c", lambda kernel, conn: f"a SYN for the listener: "
                 f"{conn.name} is a request sock, not yet a socket")
def reqsk_alloc(kernel: Kernel, conn: Connection) -> None:
    """A SYN to a listener allocates only a ``struct tcp_request_sock`` (SYN_RECV, the SYN queue)."""
    _hold(kernel, conn, "request", "request_sock_TCP", "struct tcp_request_sock")
    conn.state = "SYN_RECV"


@kernel_function("net/core/sock.c", "the final ACK: clone the listener into a full tcp_sock")
def sk_clone_lock(kernel: Kernel, conn: Connection) -> None:
    """The child socket of an accepted connection: a copy of the listener's ``tcp_sock``. The request sock
    stays, pointing at it, in the accept queue until accept()."""
    sk_prot_alloc(kernel, conn)
    conn.state = "ACCEPT_QUEUE"


@kernel_function("net/socket.c", "accept: a new socket and file; the kernel's child socket is handed over")
def do_accept(kernel: Kernel, conn: Connection) -> int:
    """``sock_alloc`` and ``sock_alloc_file`` for the new fd, then ``inet_csk_accept`` takes the child off the
    accept queue and the request sock is freed (``reqsk_put``)."""
    sock_alloc(kernel, conn)
    error = sock_alloc_file(kernel, conn)
    if error:
        return error
    trace_printk(f"inet_csk_accept: {conn.name} leaves the accept queue; reqsk_put frees its request")
    _drop(kernel, conn, "request")
    conn.state = "ESTABLISHED"
    return 0


@kernel_function("net/socket.c", lambda kernel, task, conn: f"accept() by {task.comm}")
def __sys_accept4_file(kernel: Kernel, task: Task, conn: Connection) -> int:
    """``accept()``: an fd first (EMFILE leaves the connection in the accept queue), then ``do_accept``."""
    fd = limits.get_unused_fd_flags(task, kernel.nr_open)
    if fd < 0:
        trace_printk(f"no fd: {conn.name} stays in the accept queue")
        return fd
    error = do_accept(kernel, conn)
    if error:
        limits.put_unused_fd(task, fd)
        return error
    limits.fd_install(task, fd, conn.file)
    conn.fd = fd
    return fd


@check.arguments
def handshake_server(kernel: Kernel, name: str, until: str = "ACCEPT_QUEUE") -> Connection:
    """The server end of a new connection, built by softirq code: SYN → request (SYN_RECV), ACK → child socket
    (ACCEPT_QUEUE). The listener's own objects were allocated long before and are not counted."""
    if until not in ("SYN_RECV", "ACCEPT_QUEUE"):
        raise ValueError("until must be 'SYN_RECV' or 'ACCEPT_QUEUE'")
    conn = Connection(name, "server")
    kernel.connections.append(conn)
    with on_cpu(0, "softirq"):
        reqsk_alloc(kernel, conn)
        if until == "ACCEPT_QUEUE":
            sk_clone_lock(kernel, conn)
    return conn


@check.arguments
def epoll_ctl_add(kernel: Kernel, conn: Connection) -> None:
    """``epoll_ctl(EPOLL_CTL_ADD)``: ``ep_insert`` allocates an epitem and, through the socket's poll, an
    eppoll_entry on its wait queue; 6.12 also gives the file an epitems_head (chapter 02 steps through ep_insert)."""
    trace_printk(f"{conn.name}: ep_insert registers the socket with epoll")
    _hold(kernel, conn, "epitem", "eventpoll_epi", "struct epitem")
    _hold(kernel, conn, "eppoll_entry", "eventpoll_pwq", "struct eppoll_entry")
    if kernel.slub.has("ep_head"):
        _hold(kernel, conn, "ep_head", "ep_head", "struct epitems_head")
    conn.epoll = True


@kernel_function("fs/dcache.c", "free the socket file's dentry")
def dentry_free(kernel: Kernel, conn: Connection) -> None:
    """Return the ``struct dentry`` (sockfs dentries skip the RCU delay: DCACHE_NORCU)."""
    _drop(kernel, conn, "dentry")


@kernel_function("net/socket.c", "evict the sockfs inode: struct socket_alloc goes back to sock_inode_cache")
def sock_free_inode(kernel: Kernel, conn: Connection) -> None:
    """Free the socket + inode (3.10 ``sock_destroy_inode`` also kfree_rcu()s the socket_wq)."""
    _drop(kernel, conn, "socket", "socket_wq", "lsm_inode")


@kernel_function("net/ipv4/tcp.c", lambda kernel, conn: f"{conn.name}: send FIN, orphan the tcp_sock (FIN_WAIT1)")
def tcp_close(kernel: Kernel, conn: Connection) -> None:
    """The application let go: the ``tcp_sock`` lives on without a socket (an orphan) until the close completes."""
    conn.state = "FIN_WAIT1"


@kernel_function("net/socket.c", "the file's release: __sock_release → tcp_close, then the inode goes")
def sock_close(kernel: Kernel, conn: Connection) -> None:
    """Release the socket behind a closed file: the protocol closes, the socket's inode is evicted."""
    tcp_close(kernel, conn)
    sock_free_inode(kernel, conn)


@kernel_function("fs/file_table.c", "free the struct file")
def file_free(kernel: Kernel, conn: Connection) -> None:
    """Give the ``struct file`` back to filp."""
    _drop(kernel, conn, "file", "lsm_file")
    conn.file = None
    kernel.files_stat.nr_files -= 1


@kernel_function("fs/file_table.c", lambda kernel, conn: f"last reference to {conn.name}'s file dropped")
def __fput(kernel: Kernel, conn: Connection) -> None:
    """Tear the file down: epoll forgets it, the dentry goes, the socket is released, the file is freed."""
    if conn.epoll:
        trace_printk("eventpoll_release: ep_remove frees the epitem, eppoll_entry and epitems_head")
        _drop(kernel, conn, "epitem", "eppoll_entry", "ep_head")
        conn.epoll = False
    dentry_free(kernel, conn)
    sock_close(kernel, conn)
    file_free(kernel, conn)


@check.arguments
def close(kernel: Kernel, task: Task, conn: Connection) -> None:
    """``close(fd)``: ``close_fd`` takes the fd out of the table, ``__fput`` frees the file and the socket."""
    if conn.fd is None or conn.file is None or limits.close_fd(task, conn.fd) is not conn.file:
        raise ValueError(f"{conn.name} has no open fd in {task.comm}")
    conn.fd = None
    __fput(kernel, conn)


@kernel_function("net/core/sock.c", "free the struct tcp_sock")
def sk_prot_free(kernel: Kernel, conn: Connection) -> None:
    """Give the ``tcp_sock`` back to the TCP cache."""
    _drop(kernel, conn, "sock")


@kernel_function("net/ipv4/tcp.c", lambda kernel, conn: f"{conn.name} is done: the full socket goes")
def tcp_done(kernel: Kernel, conn: Connection) -> None:
    """The connection is over for the full socket: unhash it, drop the port (unless a TIME_WAIT sock took it
    over), free it (``inet_csk_destroy_sock`` → ``sk_free``)."""
    if "timewait" not in conn.objects:
        _drop(kernel, conn, "bind_bucket", "bind2_bucket")     # inet_put_port: the last user frees the buckets
    sk_prot_free(kernel, conn)


@kernel_function("net/ipv4/inet_timewait_sock.c", lambda kernel, conn, substate: f"a {substate} mini socket "
                 f"(tw_sock_TCP) for {conn.name}; {number(kernel.tw_count)} exist, max {number(kernel.max_tw_buckets)}")
def inet_twsk_alloc(kernel: Kernel, conn: Connection, substate: str) -> bool:
    """A ``struct tcp_timewait_sock``, unless tcp_max_tw_buckets are in use (then the connection just ends)."""
    if kernel.tw_count >= kernel.max_tw_buckets:
        trace_printk("TCP: time wait bucket table overflow")
        return False
    _hold(kernel, conn, "timewait", "tw_sock_TCP", "struct tcp_timewait_sock")
    kernel.tw_count += 1
    return True


@kernel_function("net/ipv4/tcp_minisocks.c", lambda kernel, conn, substate: f"{conn.name}: trade the full socket "
                 f"for a small timewait sock ({substate})")
def tcp_time_wait(kernel: Kernel, conn: Connection, substate: str = "TIME_WAIT") -> None:
    """Replace the orphaned tcp_sock with a timewait sock that remembers the 4-tuple and sequence numbers for 60 s
    (substate FIN_WAIT2 while the peer's FIN is still due). The timewait sock takes over the bind buckets."""
    if inet_twsk_alloc(kernel, conn, substate):
        trace_printk("inet_twsk_hashdance_schedule: the timewait sock takes the socket's place in ehash and bhash")
    tcp_done(kernel, conn)
    conn.state = substate if "timewait" in conn.objects else "CLOSE"


@kernel_function("net/ipv4/inet_timewait_sock.c", "60 s later: the timewait sock and its bind buckets go")
def inet_twsk_kill(kernel: Kernel, conn: Connection) -> None:
    """The TIME_WAIT timer fired: unhash the timewait sock, drop its bind buckets, free it."""
    _drop(kernel, conn, "timewait", "bind_bucket", "bind2_bucket")
    kernel.tw_count -= 1
    conn.state = "CLOSE"


@kernel_function("net/ipv4/tcp_input.c", lambda kernel, conn: f"{conn.name} got the peer's FIN")
def tcp_fin(kernel: Kernel, conn: Connection) -> None:
    """The peer closed: ESTABLISHED → CLOSE_WAIT. The FIN's sk_buff waits in the receive queue until read().
    From a NIC it is an sk_buff the driver built around its receive buffer (skbuff_head_cache; the data is a page
    fragment). Over loopback it is the peer's own FIN: net/ipv4/tcp_output.c ``tcp_send_fin`` allocates it with
    ``alloc_skb_fclone`` (an skb and its clone in one skbuff_fclone_cache object; the clone travels, the original
    waits for the ACK) and a head of ``MAX_TCP_HEADER`` (6.12: from skbuff_small_head, ``kmalloc_reserve``; 3.10:
    kmalloc'd)."""
    if kernel.loopback:
        _hold(kernel, conn, "fin_skb", "skbuff_fclone_cache", "the peer's FIN: struct sk_buff_fclones")
        head = "skbuff_small_head" if kernel.slub.has("skbuff_small_head") else FIN_HEAD_KMALLOC
        _hold(kernel, conn, "fin_head", head, "the FIN's head: MAX_TCP_HEADER + skb_shared_info")
    else:
        _hold(kernel, conn, "fin_skb", "skbuff_head_cache", "the FIN's struct sk_buff")
    conn.state = "CLOSE_WAIT"


@check.arguments
def open_connection(kernel: Kernel, task: Task, name: str, side: str, until: str = "ESTABLISHED",
                    epoll: bool = False) -> Connection | int:
    """One end of a new connection, as far as ``until``: the client's socket() + connect(), or the server's
    SYN → ACK → accept(); with ``epoll`` the new socket is registered with an epoll instance."""
    check_side_state(side, until)
    if side == "client":
        conn = __sys_socket(kernel, task, name)
        if isinstance(conn, int):
            return conn
        connect(kernel, conn)
    else:
        conn = handshake_server(kernel, name, "SYN_RECV" if until == "SYN_RECV" else "ACCEPT_QUEUE")
        if until in ("SYN_RECV", "ACCEPT_QUEUE"):
            return conn
        fd = __sys_accept4_file(kernel, task, conn)
        if fd < 0:
            return fd
    if epoll:
        epoll_ctl_add(kernel, conn)
    return conn


@check.arguments
def move_to(kernel: Kernel, task: Task, conn: Connection, state: str) -> None:
    """Take an ESTABLISHED end to ``state``: the peer's FIN (CLOSE_WAIT), or this side's close() and the peer's
    ACK (FIN_WAIT2) and FIN (TIME_WAIT)."""
    check_side_state(conn.side, state)
    if state in ("ESTABLISHED", "SYN_RECV", "ACCEPT_QUEUE"):
        return
    if conn.state != "ESTABLISHED":
        raise ValueError(f"{conn.name} is {conn.state}; move_to starts from ESTABLISHED")
    if state == "CLOSE_WAIT":
        with on_cpu(0, "softirq"):
            tcp_fin(kernel, conn)
        return
    close(kernel, task, conn)
    with on_cpu(0, "softirq"):
        trace_printk(f"{conn.name}: the peer ACKs our FIN (FIN_WAIT1 → FIN_WAIT2)")
        tcp_time_wait(kernel, conn, "FIN_WAIT2")
        if state == "TIME_WAIT" and conn.state == "FIN_WAIT2":
            trace_printk(f"{conn.name}: the peer's FIN arrives: the timewait sock moves to TIME_WAIT")
            conn.state = "TIME_WAIT"


@check.arguments
def move_to_end(kernel: Kernel, task: Task, conn: Connection) -> None:
    """The second close of a connection: a FIN_WAIT2 end gets the peer's FIN (its timewait sock moves to
    TIME_WAIT); a CLOSE_WAIT end is closed by its program (LAST_ACK) and freed when the peer ACKs its FIN."""
    if conn.state == "FIN_WAIT2":
        with on_cpu(0, "softirq"):
            trace_printk(f"{conn.name}: the peer's FIN arrives: the timewait sock moves to TIME_WAIT")
        conn.state = "TIME_WAIT"
    elif conn.state == "CLOSE_WAIT":
        close(kernel, task, conn)
        with on_cpu(0, "softirq"):
            trace_printk(f"{conn.name}: the peer ACKs our FIN (LAST_ACK → CLOSE); the queued FIN goes too")
            _drop(kernel, conn, "fin_skb", "fin_head")
            tcp_done(kernel, conn)
        conn.state = "CLOSE"
    else:
        raise ValueError(f"{conn.name} is {conn.state}; the second close starts from FIN_WAIT2 or CLOSE_WAIT")


@check.arguments
def check_side_state(side: str, state: str) -> None:
    """Raise ValueError unless ``side`` is one of SIDES and ``state`` one of STATES that side can be in."""
    if side not in SIDES:
        raise ValueError(f"side must be one of {SIDES}, got {side!r}")
    if state not in STATES:
        raise ValueError(f"state must be one of {STATES}, got {state!r}")
    if side == "client" and state in ("SYN_RECV", "ACCEPT_QUEUE"):
        raise ValueError(f"{state} is a server-side state (a request or child of a listener)")


@check.arguments
def open_and_move(kernel: Kernel, task: Task, n: int, side: str, state: str, epoll: bool = False) -> list[Connection]:
    """Open ``n`` connection ends one after another, then move each to ``state``: the slab log's two phases."""
    check_side_state(side, state)
    kernel.slub.phase = "open"
    conns = [open_connection(kernel, task, f"{side}{i}", side, state if state in ("SYN_RECV", "ACCEPT_QUEUE")
                             else "ESTABLISHED", epoll) for i in range(n)]
    if any(isinstance(c, int) for c in conns):
        raise RuntimeError("a connection failed to open: give the task more fds")
    kernel.slub.phase = "move"
    for conn in conns:
        move_to(kernel, task, conn, state)
    kernel.slub.phase = None
    return conns


# --------------------------------------------------------------------------------------------------------------
# Buffers: paid only while data waits

@kernel_function("net/core/sock.c", lambda size, page_size=4096: f"charge {size} B of skb truesize in whole pages")
def __sk_mem_schedule(size: int, page_size: int = 4096) -> int:
    """TCP charges queued data to the socket's forward allocation in pages (``sk_mem_pages``); the pages come
    from the protocol's pool (tcp_memory_allocated, /proc/net/sockstat "mem") and go back when the queue drains."""
    return -(-size // page_size)


@dataclass(frozen=True)
class QueuedData:
    """The memory behind ``payload`` unread (or unacknowledged) bytes: skbs, their truesize, pages charged."""

    payload: int
    skbs: int
    truesize: int
    pages: int
    page_size: int
    limit: int
    over_limit: bool

    @property
    def bytes(self) -> int:
        return self.pages * self.page_size


@check.arguments
def queued_data_memory(profile: KernelProfile, payload: int, per_skb: int = 65483, kind: str = "rmem") \
        -> QueuedData:
    """Memory for ``payload`` bytes waiting in a receive queue (``kind="rmem"``) or send queue (``"wmem"``),
    ``per_skb`` payload bytes per sk_buff (65483 on loopback with GSO, an MSS of 1448 on Ethernet). Each skb
    costs ``SKB_TRUESIZE`` (data + sk_buff + skb_shared_info); the socket is charged whole pages. Nothing is
    charged while nothing waits: an idle socket costs only its slab objects."""
    check.count("per_skb", per_skb, 1)
    if not isinstance(payload, int) or payload < 0:
        raise ValueError("payload must be an int >= 0 bytes")
    if kind not in ("rmem", "wmem"):
        raise ValueError("kind must be 'rmem' or 'wmem'")
    skbs = math.ceil(payload / per_skb)
    full, rest = divmod(payload, per_skb)
    truesize = full * SKB_TRUESIZE(SKB_DATA_ALIGN(per_skb)) + (SKB_TRUESIZE(SKB_DATA_ALIGN(rest)) if rest else 0)
    limit = profile.tcp_rmem[1] if kind == "rmem" else profile.tcp_wmem[1]     # the starting sk_rcvbuf, sk_sndbuf
    pages = __sk_mem_schedule(truesize, profile.page_size) if truesize else 0
    return QueuedData(payload, skbs, truesize, pages, profile.page_size, limit, truesize > limit)

