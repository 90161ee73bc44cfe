"""struct socket and struct sock: the receive queue, its memory accounting, and who waits on it.

Models include/net/sock.h, net/core/sock.c and net/socket.c (Linux 6.12). ``struct socket`` (the file-facing half)
owns the wait queue (``socket_wq.wait``); ``struct sock`` (the protocol half) points at it through ``sk_wq``, so
``sk_sleep(sk)`` is the list a blocked reader or an epoll callback sits on. ``sock_def_readable`` is the default
``sk_data_ready``: when a packet is queued it wakes whatever waits there. ``sk_wait_data`` is where a blocking
read goes to sleep; ``sock_poll`` is the socket file's poll method (what select, poll and epoll call);
``__sys_socket``, ``__sys_accept4`` and ``__sys_recvfrom`` are the system calls. ``sk_setup_caps`` caches a
socket's route.

A socket and its file, as net/socket.c makes them (on a host that models memory each is a slab object):
``socket()`` → ``__sock_create`` → ``sock_alloc`` (a sockfs inode: ``sock_alloc_inode``, ``struct socket_alloc``
from sock_inode_cache; 3.10 also kmallocs a ``struct socket_wq``; the LSM inode blob where the booted LSMs keep one)
→ the family's ``create`` (``inet_create`` → ``sk_alloc``: the tcp_sock) → ``sock_map_fd``: an fd
(``get_unused_fd_flags``, EMFILE), then ``sock_alloc_file`` → ``alloc_file_pseudo`` (a dentry, a ``struct file``,
ENFILE) and ``fd_install``; a failure frees the socket (``sock_release``). ``accept()`` makes the new socket and its
file before it takes a connection off the queue (``do_accept``). The file's end (``__fput``) runs ``sock_close`` →
``__sock_release``; the dentry's end frees the inode (``iput`` → ``sock_free_inode``; 3.10
``sock_destroy_inode``).
"""
from __future__ import annotations

import errno
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Callable

from netlab import check
from netlab.kernel import limits
from netlab.kernel.file_table import __fput
from netlab.kernel.fs import (EPOLLIN, EPOLLPRI, EPOLLRDBAND, EPOLLRDNORM, O_NONBLOCK, File, FileOperations, PollTable, alloc_file_pseudo, fdget,
                              poll_wait)
from netlab.kernel.inode import SuperOperations, iput
from netlab.kernel.sched import TASK_INTERRUPTIBLE, get_current, running_profile, schedule_timeout
from netlab.kernel.skbuff import SkBuff
from netlab.kernel.slub import slab_alloc, slab_free, slab_has
from netlab.kernel.wait import (WaitQueueEntry, WaitQueueHead, __wake_up_common, add_wait_queue,
                                autoremove_wake_function, finish_wait, prepare_to_wait, remove_wait_queue, wait_woken,
                                woken_wake_function)
from netlab.trace import kernel_function, trace_printk

RCV_SHUTDOWN = 1
SEND_SHUTDOWN = 2
SHUTDOWN_MASK = 3
MSG_DONTWAIT = 0x40
AF_INET = 2
SOCK_STREAM = 1


@dataclass(frozen=True)
class Proto:
    """``struct proto``: a transport protocol as sockets see it — its name, which is also the name of the slab cache
    its socks come from (``proto_register`` makes ``prot->slab``: "TCP" holds ``struct tcp_sock``), that struct's
    name and the model's class for it."""

    name: str
    struct: str
    sock: type

    def __post_init__(self):
        check.fields(self)


@dataclass(eq=False)
class Sock:
    """``struct sock``: the receive queue, its byte budget (``sk_rcvbuf``) and the callbacks run on events;
    ``sk_prot`` its protocol and ``slab_objects`` the slab object it is (on a host that models memory)."""

    name: str = "sk"
    protocol: str = "tcp"
    sk_state: str = "TCP_CLOSE"
    sk_rcvbuf: int = 212992
    sk_rmem_alloc: int = 0
    sk_drops: int = 0
    sk_receive_queue: deque = field(default_factory=deque)
    sk_wq: WaitQueueHead | None = None
    sk_data_ready: Callable[["Sock"], None] | None = None
    sk_shutdown: int = 0
    sk_socket: "Socket | None" = field(default=None, repr=False)
    sk_state_change: Callable[["Sock"], None] | None = None
    sk_prot: Proto | None = field(default=None, repr=False)
    slab_objects: list = field(default_factory=list, repr=False)
    sk_rxhash: int = 0          # the flow hash of the last skb received (RFS: sock_rps_save_rxhash)

    def __post_init__(self):
        check.fields(self)
        if self.sk_data_ready is None:
            self.sk_data_ready = sock_def_readable
        if self.sk_state_change is None:
            self.sk_state_change = sock_def_wakeup

    def snapshot(self) -> "SockState":
        return SockState(tuple([s.name for s in self.sk_receive_queue]), self.sk_rmem_alloc, self.sk_rcvbuf,
                         self.sk_drops, tuple(self.sk_wq.snapshot()) if self.sk_wq else ())


@dataclass(frozen=True)
class SockState:
    """A socket's receive side at a step: ``sk_receive_queue`` by packet name, ``sk_rmem_alloc`` of
    ``sk_rcvbuf`` bytes, ``sk_drops``, and who waits on it."""

    queue: tuple[str, ...]
    rmem: int
    rcvbuf: int
    drops: int
    waiters: tuple[str, ...]


@dataclass(eq=False)
class Socket:
    """``struct socket``: what a file descriptor refers to; owns the wait queue and points at its ``sock`` (none
    yet while ``__sock_create`` builds it, none again once released). ``name`` labels it (its sock's name by
    default); ``slab_objects`` are its sockfs inode (``struct socket_alloc``), 3.10's ``struct socket_wq`` and the
    LSM inode blob, on a host that models memory."""

    sk: Sock | None = None
    wq: WaitQueueHead = field(default_factory=lambda: WaitQueueHead("socket_wq.wait"))
    type: str = "SOCK_STREAM"
    ops: Any = None   # struct proto_ops: poll, recvmsg, accept (inet_stream_ops for TCP)
    file: File | None = field(default=None, repr=False)
    name: str = ""
    slab_objects: list = field(default_factory=list, repr=False)

    def __post_init__(self):
        check.fields(self)
        if self.sk is not None:
            sock_graft(self.sk, self)

    @property
    def s_op(self) -> SuperOperations:
        """``SOCK_INODE(sock)->i_sb->s_op``: how sockfs frees the inode (``iput``)."""
        return sockfs_ops


@check.arguments
def sock_graft(sk: Sock, parent: Socket) -> None:
    """include/net/sock.h: join ``sk`` and its ``socket`` (the socket's wait queue becomes the sock's ``sk_wq``); what
    ``sock_init_data`` does for a new sock and ``inet_accept`` for an accepted one."""
    sk.sk_wq = parent.wq
    sk.sk_socket = parent
    parent.sk = sk
    parent.name = parent.name or sk.name


@check.arguments
def sk_sleep(sk: Sock) -> WaitQueueHead:
    """The wait queue of the socket that owns ``sk`` (include/net/sock.h)."""
    if sk.sk_wq is None:
        raise ValueError(f"{sk.name} has no struct socket yet (a request or TIME_WAIT sock has none)")
    return sk.sk_wq


@check.arguments
def skb_set_owner_r(skb: SkBuff, sk: Sock) -> None:
    """Charge ``skb.truesize`` to the socket's receive memory (include/net/sock.h)."""
    skb.meta["owner"] = sk.name
    sk.sk_rmem_alloc += skb.truesize


@check.arguments
def sock_rfree(skb: SkBuff, sk: Sock) -> None:
    """Give the receive memory back when the reader consumed the skb (net/core/sock.c)."""
    sk.sk_rmem_alloc -= skb.truesize


@kernel_function("net/core/sock.c", "{prot.name} cache: the protocol's struct (struct tcp_sock for TCP)")
def sk_prot_alloc(prot: Proto, name: str, fields: dict) -> Sock:
    """``kmem_cache_alloc(prot->slab)``: the whole protocol struct in one slab object."""
    obj = slab_alloc(prot.name, f"{name}: struct {prot.struct}")
    sk = prot.sock(name=name, sk_prot=prot, **fields)
    if obj is not None:
        sk.slab_objects.append(obj)
    return sk


@kernel_function("net/core/sock.c", "a new {prot.name} sock: {name}")
def sk_alloc(net: Any, prot: Proto, name: str, **fields: Any) -> Sock:
    """The ``struct sock`` of a new socket (``inet_create`` calls it), in ``net``'s namespace."""
    return sk_prot_alloc(prot, name, {"net": net, **fields})


@kernel_function("net/core/sock.c", "copy the listener {sk.name} into a new sock: {name}")
def sk_clone_lock(sk: Sock, name: str, **fields: Any) -> Sock:
    """A copy of ``sk`` from the same protocol cache (a listener's child: ``inet_csk_clone_lock``), with ``fields``
    changed."""
    if sk.sk_prot is None:
        raise ValueError(f"{sk.name} has no protocol (sk_prot): it was not made by sk_alloc")
    return sk_prot_alloc(sk.sk_prot, name, {"net": getattr(sk, "net", None), **fields})


@kernel_function("net/core/sock.c", "{sk.name}'s struct goes back to its cache")
def sk_prot_free(sk: Sock) -> None:
    """``kmem_cache_free(prot->slab, sk)``."""
    slab_free(sk.slab_objects)


@kernel_function("net/core/sock.c", "the last reference to {sk.name} is gone: free it")
def sk_free(sk: Sock) -> None:
    """``sk_free`` → ``__sk_destruct`` → ``sk_prot_free``."""
    sk_prot_free(sk)


@kernel_function("net/core/sock.c", "cache the route ({dst}) on {sk.name}: its next segments use it")
def sk_setup_caps(sk: Any, dst: Any) -> None:
    """``sk_dst_set``: the route becomes the socket's ``sk_dst_cache`` (the kernel also takes the device's offload
    features here; the model's socket has them from the start)."""
    sk.dst = dst


@kernel_function("net/core/sock.c", lambda sk: f"{sk.name} has "
                 f"{'a connection to accept' if sk.sk_state == 'TCP_LISTEN' else 'data to read'}: wake whoever "
                 "waits on its socket")
def sock_def_readable(sk: Sock) -> None:
    """Default sk_data_ready: if the wait queue has sleepers, wake them with EPOLLIN (one exclusive waiter)."""
    wq = sk.sk_wq
    if wq is not None and wq.has_sleeper():
        __wake_up_common(wq, 1, EPOLLIN | EPOLLPRI | EPOLLRDNORM | EPOLLRDBAND)


@kernel_function("net/core/sock.c", "{sk.name} changed state: wake everyone who waits on its socket")
def sock_def_wakeup(sk: Sock) -> None:
    """Default sk_state_change: ``wake_up_interruptible_all`` — every waiter, with no event key (epoll then asks
    ``tcp_poll`` what happened)."""
    wq = sk.sk_wq
    if wq is not None and wq.has_sleeper():
        __wake_up_common(wq, 0, None)


@kernel_function("net/core/sock.c", "{sk.name} has no data: queue a wait entry on its socket and sleep")
def sk_wait_data(sk: Sock, timeo: int | None, skb: SkBuff | None):
    """Sleep until the receive queue's tail is no longer ``skb``. Returns (data arrived, time left).

    6.12 waits with ``woken_wake_function`` and ``wait_woken``; the book's 3.10 with ``DEFINE_WAIT``
    (``autoremove_wake_function``), ``prepare_to_wait`` and ``schedule_timeout`` — the profile decides.
    """
    me = get_current()
    if running_profile().sk_sleep_wake == "autoremove_wake_function":
        wait = WaitQueueEntry(autoremove_wake_function, me, name=f"{me.comm} (recv)")
        prepare_to_wait(sk_sleep(sk), wait, TASK_INTERRUPTIBLE)
        rc = _tail(sk) is not skb
        if not rc:
            timeo = yield from schedule_timeout(timeo)
            rc = _tail(sk) is not skb
        finish_wait(sk_sleep(sk), wait)
        return rc, timeo
    wait = WaitQueueEntry(woken_wake_function, me, name=f"{me.comm} (recv)")
    add_wait_queue(sk_sleep(sk), wait)
    rc = _tail(sk) is not skb
    if not rc:
        timeo = yield from wait_woken(wait, TASK_INTERRUPTIBLE, timeo)
        rc = _tail(sk) is not skb
    remove_wait_queue(sk_sleep(sk), wait)
    return rc, timeo


def _tail(sk: Sock) -> SkBuff | None:
    """``skb_peek_tail(&sk->sk_receive_queue)``."""
    return sk.sk_receive_queue[-1] if sk.sk_receive_queue else None


@check.arguments
def sock_poll_wait(filp: File, sock: Socket, p: PollTable | None) -> None:
    """include/net/sock.h: offer the socket's wait queue to the poll table (inlined into tcp_poll)."""
    poll_wait(filp, sock.wq, p)


@kernel_function("net/socket.c", "the socket file's poll: sock->ops->poll()")
def sock_poll(file: File, wait: PollTable | None) -> int:
    """``file->f_op->poll`` of every socket: ask the protocol (``tcp_poll`` for TCP)."""
    sock = file.private_data
    if not isinstance(sock, Socket) or sock.ops is None:
        raise TypeError("sock_poll needs a socket file whose Socket has proto_ops")
    return sock.ops.poll(file, sock, wait)


@kernel_function("net/socket.c", "release the socket behind {file.name}")
def sock_close(file: File) -> None:
    """``socket_file_ops.release``: the socket file's last reference is gone, ``__sock_release`` lets it go."""
    if not isinstance(file.private_data, Socket):
        raise TypeError("sock_close needs a socket file")
    __sock_release(file.private_data)


socket_file_ops = FileOperations("socket_file_ops", poll=sock_poll, release=sock_close)


def _sockfd_lookup(fd: int) -> Socket | int:
    file = fdget(get_current(), fd)
    if file is None:
        return -errno.EBADF
    if not isinstance(file.private_data, Socket):
        return -errno.ENOTSOCK
    return file.private_data


@kernel_function("net/socket.c", "recvfrom(fd {fd}): find the socket, then sock_recvmsg")
def __sys_recvfrom(fd: int, size: int, flags: int = 0):
    """The recvfrom/recv system call. Returns bytes read, 0 at end of stream, or -errno."""
    sock = _sockfd_lookup(fd)
    if isinstance(sock, int):
        return sock
    if sock.file.f_flags & O_NONBLOCK:
        flags |= MSG_DONTWAIT
    return (yield from sock_recvmsg(sock, size, flags))


@kernel_function("net/socket.c", "sock->ops->recvmsg()")
def sock_recvmsg(sock: Socket, size: int, flags: int):
    """Hand the read to the protocol family (``inet_recvmsg``)."""
    if not isinstance(size, int) or size < 1:
        raise ValueError("size must be an int >= 1")
    return (yield from sock.ops.recvmsg(sock, size, flags))


@kernel_function("net/socket.c", "release {sock.name}: sock->ops->release()")
def __sock_release(sock: Socket) -> None:
    """The protocol family lets go of the ``sock`` (``inet_release`` → ``tcp_close``); a socket without a file (a
    failed ``socket()``) is freed here (``iput``), one with a file when its dentry goes (``__fput`` → ``dput``).
    3.10 names it ``sock_release``."""
    if sock.ops is not None:
        sock.ops.release(sock)
        sock.sk = None
        sock.ops = None
    if sock.file is None:
        iput(sock)
        return
    sock.file = None


@kernel_function("net/socket.c", "free the half-made socket {sock.name}")
def sock_release(sock: Socket) -> None:
    """``__sock_release(sock, NULL)``: what a failed ``socket()`` or ``accept()`` calls."""
    __sock_release(sock)


@kernel_function("net/socket.c", "sock_inode_cache: struct socket_alloc, a socket and its inode in one object")
def sock_alloc_inode(sock: Socket) -> None:
    """``sockfs_ops.alloc_inode``: ``struct socket_alloc`` (socket + inode) from sock_inode_cache; 3.10 also
    kmallocs the socket's wait-queue head, ``struct socket_wq`` (part of struct socket since 4.x)."""
    for cache, struct in (("sock_inode_cache", "struct socket_alloc"), ("socket_wq", "struct socket_wq")):
        if slab_has(cache):
            sock.slab_objects.append(slab_alloc(cache, f"{sock.name}: {struct}"))


@kernel_function("net/socket.c", "free {inode.name}'s struct socket_alloc (sock_inode_cache)")
def sock_free_inode(inode: Socket) -> None:
    """``sockfs_ops.free_inode``: the socket and its inode go back to sock_inode_cache (with the LSM inode blob,
    ``security_inode_free``). 3.10's ``sock_destroy_inode`` also ``kfree_rcu``s the socket_wq."""
    slab_free(inode.slab_objects)


sockfs_ops = SuperOperations("sockfs_ops", free_inode=sock_free_inode)


@kernel_function("net/socket.c", "new_inode_pseudo → alloc_inode → sock_alloc_inode: a socket for {name}")
def sock_alloc(name: str) -> Socket:
    """A sockfs inode and the socket in it (``sock_alloc_inode``), plus the LSM inode blob where the booted LSMs
    keep one (``inode_init_always`` → ``security_inode_alloc``)."""
    sock = Socket(name=name)
    sock_alloc_inode(sock)
    if slab_has("lsm_inode_cache"):
        sock.slab_objects.append(slab_alloc("lsm_inode_cache", f"{name}: security_inode_alloc blob"))
    return sock


net_families: dict[int, Callable] = {}
"""net/socket.c ``net_families``: address family → its ``create`` (``sock_register``; AF_INET: ``inet_create``)."""


@check.arguments
def sock_register(family: int, create: Callable) -> None:
    """net/socket.c: a protocol family registers how its sockets are created (af_inet.c's ``inet_init``)."""
    net_families[family] = create


@kernel_function("net/socket.c", "a socket: sock_alloc, then the family's create")
def __sock_create(net: Any, family: int, type: int, protocol: int, name: str) -> Socket | int:  # noqa: A002
    """``sock_alloc``, then ``net_families[family]->create`` (``inet_create``); a failed create frees the socket
    (``sock_release``). Returns the socket or -errno."""
    if family not in net_families:
        return -errno.EAFNOSUPPORT
    sock = sock_alloc(name)
    err = net_families[family](net, sock, protocol, 0)
    if err < 0:
        sock_release(sock)
        return err
    return sock


@kernel_function("net/socket.c", "a file for {sock.name}: alloc_file_pseudo (a dentry and a struct file)")
def sock_alloc_file(sock: Socket, flags: int, dname: str | None) -> File | int:
    """Give the socket a ``struct file`` (and its dentry, named after the protocol: "TCP") so it can sit in a fd
    table; on failure the socket is freed (``sock_release``; 3.10 leaves that to its callers)."""
    if dname is None:
        dname = sock.sk.sk_prot.name if sock.sk is not None and sock.sk.sk_prot is not None else ""
    file = alloc_file_pseudo(sock, dname, socket_file_ops, f"socket:{sock.name}")
    if not isinstance(file, File):
        sock_release(sock)
        return file
    file.f_flags |= flags & O_NONBLOCK
    file.private_data, sock.file = sock, file
    return file


@kernel_function("net/socket.c", "get an fd first, then the file: an fd over the limit frees the new socket")
def sock_map_fd(sock: Socket, flags: int) -> int:
    """``get_unused_fd_flags`` (EMFILE frees the socket), ``sock_alloc_file`` (ENFILE), ``fd_install``. 3.10's
    ``sys_socket`` frees the socket itself when this fails; the objects freed are the same."""
    me = get_current()
    fd = limits.get_unused_fd_flags(me, running_profile().nr_open)
    if fd < 0:
        sock_release(sock)
        return fd
    file = sock_alloc_file(sock, flags, None)
    if not isinstance(file, File):
        limits.put_unused_fd(me, fd)
        return file
    limits.fd_install(me, fd, file)
    return fd


@kernel_function("net/socket.c", lambda net, family, type, protocol, name: f"socket() by {get_current().comm}: "
                 f"{name}")
def __sys_socket(net: Any, family: int, type: int, protocol: int, name: str) -> int:  # noqa: A002
    """``socket(family, type, protocol)`` in ``net`` (the caller's namespace, ``current->nsproxy->net_ns``): the
    socket and its sock first (``__sock_create``), then an fd and a file (``sock_map_fd``). ``name`` labels the
    model's socket. Returns the fd or -errno."""
    sock = __sock_create(net, family, type, protocol, name)
    if isinstance(sock, int):
        return sock
    return sock_map_fd(sock, type & O_NONBLOCK)


@kernel_function("net/socket.c", "accept(fd {fd}): find the socket, then __sys_accept4_file")
def __sys_accept4(fd: int, flags: int = 0):
    """The accept4 system call. Returns the new fd or -errno."""
    file = fdget(get_current(), fd)
    if file is None:
        return -errno.EBADF
    return (yield from __sys_accept4_file(file, flags))


@kernel_function("net/socket.c", "reserve an fd, make the new socket and its file, install it")
def __sys_accept4_file(file: File, flags: int):
    """An fd first (EMFILE leaves the connection queued), then ``do_accept``, then ``fd_install``. (3.10's
    ``sys_accept4`` makes the new socket before it takes the fd, and frees it on EMFILE.)"""
    me = get_current()
    newfd = limits.get_unused_fd_flags(me, running_profile().nr_open)
    if newfd < 0:
        trace_printk("no fd for a new connection: the one waiting stays in the accept queue")
        return newfd
    newfile = yield from do_accept(file, flags)
    if not isinstance(newfile, File):
        limits.put_unused_fd(me, newfd)
        return newfile
    limits.fd_install(me, newfd, newfile)
    return newfd


@kernel_function("net/socket.c", "a new socket and file, then sock->ops->accept() takes a connection")
def do_accept(file: File, flags: int):
    """``sock_alloc`` and ``sock_alloc_file`` for the new socket, then ``ops->accept`` (``inet_accept``: a
    connection off the accept queue, or a wait for one); if that fails the new file goes again (``fput``).
    Returns the new file or -errno."""
    sock = file.private_data
    if not isinstance(sock, Socket):
        return -errno.ENOTSOCK
    newsock = sock_alloc(f"{sock.name}'s new socket")
    newsock.type, newsock.ops = sock.type, sock.ops
    newfile = sock_alloc_file(newsock, flags, sock.sk.sk_prot.name if sock.sk.sk_prot is not None else "")
    if not isinstance(newfile, File):
        return newfile
    err = yield from sock.ops.accept(sock, newsock, flags | file.f_flags)   # the listener's O_NONBLOCK
    if err < 0:
        __fput(newfile)
        return err
    return newfile
