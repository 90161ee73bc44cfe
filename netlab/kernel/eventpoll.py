"""epoll: one process waits for thousands of sockets, and is woken only when one of them has something.

Models fs/eventpoll.c (Linux 6.12):

- ``struct eventpoll`` (:class:`Eventpoll`): ``mtx``, ``wq`` (tasks sleeping in epoll_wait), ``poll_wait``,
  ``rdllist`` (ready list), ``rbr`` (red-black tree of every watched (file, fd), ordered by ``ep_cmp_ffd``),
  ``ovflist`` (ready items that arrive while ``ep_send_events`` scans; ``EP_UNACTIVE_PTR`` when not scanning).
- ``struct epitem`` (:class:`Epitem`): ``rbn``, ``rdllink``, ``ovflist_next``, ``ffd``, ``pwqlist``, ``ep``,
  ``event``; ``struct eppoll_entry`` (:class:`EppollEntry`): ``next``, ``base``, ``wait``, ``whead``.
- ``epoll_ctl(ADD)`` → ``do_epoll_ctl`` → ``ep_insert``: allocate the epitem, put it in ``rbr``, then
  ``ep_item_poll`` → ``vfs_poll`` → ``sock_poll`` → ``tcp_poll`` → ``poll_wait`` → ``ep_ptable_queue_proc``, which
  hangs an eppoll_entry whose wake function is ``ep_poll_callback`` on the **socket's** wait queue.
- Data arrives → ``sock_def_readable`` → ``ep_poll_callback``: the epitem joins ``rdllist`` (or ``ovflist`` during a
  scan) and one task sleeping in ``ep->wq`` is woken.
- ``epoll_wait`` → ``do_epoll_wait`` → ``ep_poll``: events ready → ``ep_send_events``; otherwise the task queues
  itself **exclusively at the head** of ``ep->wq`` (``__add_wait_queue_exclusive``) and sleeps: the last task to
  wait is the first woken (LIFO).
- ``ep_send_events`` → ``ep_start_scan`` / ``ep_deliver_event`` / ``ep_done_scan``: each ready item is polled again;
  a delivered level-triggered item goes back on ``rdllist``, an EPOLLET item does not, an EPOLLONESHOT item is
  disarmed (its event mask keeps only the private bits) until EPOLL_CTL_MOD re-arms it. 3.10
  (``profile.ep_send_events_scan``) scans with a callback instead: ``ep_send_events`` →
  ``ep_scan_ready_list(ep, ep_send_events_proc, …)``, which calls the delivery loop inside the scan; these two are
  modelled under 3.10's names, for 3.10 only (6.12 has neither: ``netlab.kernel.renamed.IN_6_12``).

Memory (on a host that models it, chapter 06): ``ep_alloc_epitem`` takes the epitem from ``eventpoll_epi``,
``ep_ptable_queue_proc`` the eppoll_entry from ``eventpoll_pwq``, and 6.x's ``ep_register_epitem``
(``ep_attach_file``) gives a file its first watcher's ``struct epitems_head`` (``ep_head``; 3.10 keeps the list in
struct file); ``ep_remove`` frees them (``ep_remove_file``: the epitems_head with the file's last epitem).
``struct eventpoll`` is kzalloc'd (``ep_alloc``): its kmalloc row (kmalloc-256 in 6.12) is not among the profiles'
caches, so it is not counted; the epoll's file is ``anon_inode_getfile``'s (a dentry and a ``struct file``, on the
one shared anonymous inode).

Not modelled: epoll inside epoll (loop checks, ``poll_wait``/``ep_poll_safewake``), EPOLLWAKEUP, busy polling.
Copying each event to user space costs ``Eventpoll.copy_ns`` of simulated CPU time; interrupts that arrive while a
scan runs therefore meet ``ovflist``.
"""
from __future__ import annotations

import errno
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

from netlab import check
from netlab.kernel.anon_inodes import anon_inode_getfile
from netlab.kernel.fs import EPOLLIN, EPOLLOUT, File, FileOperations, PollTable, fdget, init_poll_funcptr, vfs_poll
from netlab.kernel.limits import fd_install, get_unused_fd_flags, put_unused_fd
from netlab.kernel.mutex import Mutex, MutexState, mutex_lock, mutex_unlock
from netlab.kernel.profiles import LINUX_6_12, KernelProfile
from netlab.kernel.rbtree import RbNode, RbNodeState, RbRootCached, rb_erase_cached, rb_insert_color_cached, rb_link_node
from netlab.kernel.sched import (TASK_INTERRUPTIBLE, TASK_RUNNING, default_wake_function, get_current, ktime_get,
                                 running_profile, schedule_hrtimeout_range, spend)
from netlab.kernel.slub import slab_alloc, slab_free, slab_has
from netlab.kernel.wait import (WaitQueueEntry, WaitQueueHead, __add_wait_queue_exclusive, __remove_wait_queue,
                                __wake_up, __wake_up_common, add_wait_queue, add_wait_queue_exclusive, list_del_init,
                                remove_wait_queue)
from netlab.trace import kernel_function, trace_printk
from netlab.units import plural

EPOLLERR, EPOLLHUP = 0x008, 0x010
EPOLLEXCLUSIVE, EPOLLWAKEUP, EPOLLONESHOT, EPOLLET = 1 << 28, 1 << 29, 1 << 30, 1 << 31
EP_PRIVATE_BITS = EPOLLWAKEUP | EPOLLONESHOT | EPOLLET | EPOLLEXCLUSIVE
EPOLLINOUT_BITS = EPOLLIN | EPOLLOUT
EPOLLEXCLUSIVE_OK_BITS = EPOLLINOUT_BITS | EPOLLERR | EPOLLHUP | EPOLLWAKEUP | EPOLLET | EPOLLEXCLUSIVE
EPOLL_CTL_ADD, EPOLL_CTL_DEL, EPOLL_CTL_MOD = 1, 2, 3
EP_MAX_EVENTS = 2**31 // 12  # INT_MAX / sizeof(struct epoll_event)
#: Copying one event to user space and re-polling its file, in simulated ns (a model parameter, not a kernel value).
EP_COPY_NS = 50
SIZEOF_EVENTPOLL = 208  # sizeof(struct eventpoll) in 6.12, compiled by tools/kernel_sizes.py; kmalloc'd


class _Unactive:
    def __repr__(self) -> str:
        return "EP_UNACTIVE_PTR"


EP_UNACTIVE_PTR = _Unactive()


@check.arguments
def event_names(events: int) -> str:
    """``EPOLLIN|EPOLLET`` for a mask."""
    names = [(EPOLLIN, "EPOLLIN"), (EPOLLOUT, "EPOLLOUT"), (EPOLLERR, "EPOLLERR"), (EPOLLHUP, "EPOLLHUP"),
             (0x040, "EPOLLRDNORM"), (0x100, "EPOLLWRNORM"), (0x2000, "EPOLLRDHUP"),
             (EPOLLEXCLUSIVE, "EPOLLEXCLUSIVE"), (EPOLLONESHOT, "EPOLLONESHOT"), (EPOLLET, "EPOLLET")]
    return "|".join(n for bit, n in names if events & bit) or "0"


@dataclass
class EpollEvent:
    """``struct epoll_event``: the events and the user's cookie (usually the fd)."""

    events: int
    data: Any = None

    def __post_init__(self):
        check.fields(self)


@dataclass(frozen=True)
class EpollFilefd:
    """``struct epoll_filefd``: the red-black tree key, (file pointer, fd)."""

    file: File
    fd: int

    @property
    def key(self) -> tuple[int, int]:
        return (self.file.addr, self.fd)


@dataclass(eq=False)
class EppollEntry:
    """``struct eppoll_entry``: the hook an epitem hangs on a file's wait queue (``slab_objects``: itself, from
    eventpoll_pwq, on a host that models memory)."""

    base: "Epitem"
    wait: WaitQueueEntry
    whead: WaitQueueHead | None
    next: "EppollEntry | None" = None
    slab_objects: list = field(default_factory=list, repr=False)

    def __post_init__(self):
        check.fields(self)


@dataclass(eq=False)
class Epitem:
    """``struct epitem``: one watched (file, fd) of one epoll instance (``slab_objects``: itself, from
    eventpoll_epi, on a host that models memory)."""

    ffd: EpollFilefd
    event: EpollEvent
    ep: "Eventpoll"
    rbn: RbNode = field(init=False, repr=False)
    rdllink: list | None = field(default=None, repr=False)  # the list it is linked on (rdllist or a scan batch)
    ovflist_next: Any = field(default=EP_UNACTIVE_PTR, repr=False)
    pwqlist: EppollEntry | None = field(default=None, repr=False)
    slab_objects: list = field(default_factory=list, repr=False)

    def __post_init__(self):
        check.fields(self)
        self.rbn = RbNode(owner=self)

    @property
    def name(self) -> str:
        return f"fd {self.ffd.fd}"

    def __str__(self) -> str:
        return self.name


@dataclass(eq=False)
class Eventpoll:
    """``struct eventpoll``: one epoll instance."""

    name: str = "ep"
    mtx: Mutex = field(default_factory=lambda: Mutex("ep->mtx"))
    wq: WaitQueueHead = field(default_factory=lambda: WaitQueueHead("ep->wq"))
    poll_wait: WaitQueueHead = field(default_factory=lambda: WaitQueueHead("ep->poll_wait"))
    rdllist: list = field(default_factory=list)
    rbr: RbRootCached = field(default_factory=RbRootCached)
    ovflist: Any = EP_UNACTIVE_PTR
    file: File | None = None
    copy_ns: int = EP_COPY_NS
    epollexclusive: bool = True     # the kernel knows EPOLLEXCLUSIVE (4.5+; profile.epoll_exclusive)

    def __post_init__(self):
        check.fields(self)

    def items(self) -> list[Epitem]:
        """Every watched item, in ``rbr`` order."""
        return [n.owner for n in self.rbr]

    def ovflist_items(self) -> list[Epitem] | None:
        if self.ovflist is EP_UNACTIVE_PTR:
            return None
        out, epi = [], self.ovflist
        while epi is not None:
            out.append(epi)
            epi = epi.ovflist_next
        return out

    @check.arguments
    def kernel_memory(self, profile: KernelProfile = LINUX_6_12) -> int:
        """Bytes of kernel memory this epoll holds: the eventpoll plus, per watched socket, an epitem, an
        eppoll_entry and (6.x) an epitems_head, at their slab object sizes."""
        return SIZEOF_EVENTPOLL + len(self.rbr) * per_fd_bytes(profile)

    def snapshot(self) -> "EpollState":
        ovf = self.ovflist_items()
        return EpollState(self.rbr.snapshot(lambda n: n.owner.name), tuple([e.name for e in self.rdllist]),
                          None if ovf is None else tuple([e.name for e in ovf]), tuple(self.wq.snapshot()),
                          self.mtx.snapshot(), {e.name: event_names(e.event.events) for e in self.items()})


@dataclass(frozen=True)
class EpollState:
    """An epoll instance at a step: the red-black tree ``rbr`` of epitems, the ready list ``rdllist``, the
    ``ovflist`` (None unless a scan is under way), who sleeps in ``epoll_wait`` (``ep->wq``), the mutex ``mtx``,
    and each epitem's armed events."""

    rbr: RbNodeState | None
    rdllist: tuple[str, ...]
    ovflist: tuple[str, ...] | None
    wq: tuple[str, ...]
    mtx: MutexState
    armed: Mapping[str, str]


@check.arguments
def per_fd_bytes(profile: KernelProfile = LINUX_6_12) -> int:
    """Kernel memory epoll adds per watched socket: epitem + eppoll_entry, plus the file's epitems_head (slab
    ``ep_head``) in kernels that have one (3.10 kept the list in struct file)."""
    slab = profile.slab
    return sum(slab[name].object_size for name in ("eventpoll_epi", "eventpoll_pwq", "ep_head") if name in slab)


def _nested_poll(file: File, wait: PollTable | None) -> int:
    raise NotImplementedError("an epoll inside an epoll is not modelled")


eventpoll_fops = FileOperations("eventpoll_fops", poll=_nested_poll)


@check.arguments
def is_file_epoll(f: File) -> bool:
    return f.f_op is eventpoll_fops


# --- list helpers (include/linux/list.h, inlined in C) -------------------------------------------------------
@check.arguments
def ep_is_linked(epi: Epitem) -> bool:
    """Is the epitem on a ready list (``!list_empty(&epi->rdllink)``)?"""
    return epi.rdllink is not None


def _list_add_tail(epi: Epitem, head: list) -> None:
    head.append(epi)
    epi.rdllink = head


def _list_add(epi: Epitem, head: list) -> None:
    head.insert(0, epi)
    epi.rdllink = head


def _list_del_init(epi: Epitem) -> None:
    if epi.rdllink is not None:
        epi.rdllink[:] = [e for e in epi.rdllink if e is not epi]
        epi.rdllink = None


@check.arguments
def ep_is_scanning(ep: Eventpoll) -> bool:
    return ep.ovflist is not EP_UNACTIVE_PTR


def _events_available_text(ep: Eventpoll) -> str:
    """ep_poll checks twice: first as it runs, then again once the task is TASK_INTERRUPTIBLE, just before it
    sleeps, so that an event between the two is not missed."""
    question = ("re-check just before sleeping (now TASK_INTERRUPTIBLE, so no wake-up is lost):"
                if get_current().state == TASK_INTERRUPTIBLE else "events available?")
    return f"{question} rdllist has {len(ep.rdllist)}" + (", a scan is running" if ep_is_scanning(ep) else "")


@kernel_function("fs/eventpoll.c", _events_available_text)
def ep_events_available(ep: Eventpoll) -> bool:
    """Ready items on ``rdllist``, or a scan in progress (that may leave some)."""
    return bool(ep.rdllist) or ep_is_scanning(ep)


@check.arguments
def ep_cmp_ffd(p1: EpollFilefd, p2: EpollFilefd) -> int:
    """Compare red-black tree keys: file pointer first, then fd (inlined in C)."""
    a, b = p1.key, p2.key
    return (a > b) - (a < b)


# --- create ----------------------------------------------------------------------------------------------------
@kernel_function("fs/eventpoll.c", "allocate struct eventpoll: empty rbr, rdllist and wait queues")
def ep_alloc(name: str = "ep") -> Eventpoll:
    """kzalloc and initialise an eventpoll (``ovflist = EP_UNACTIVE_PTR``: not scanning)."""
    return Eventpoll(name=name)


@kernel_function("fs/eventpoll.c", "epoll_create1: an eventpoll, an fd, an anonymous file")
def do_epoll_create(flags: int = 0) -> int:
    """Create an epoll instance in the current process: ``ep_alloc``, ``get_unused_fd_flags`` (EMFILE),
    ``anon_inode_getfile("[eventpoll]")`` (ENFILE), ``fd_install``. Returns its fd or -errno."""
    if flags not in (0, 0o2000000):  # EPOLL_CLOEXEC
        return -errno.EINVAL
    ep = ep_alloc()
    ep.epollexclusive = running_profile().epoll_exclusive
    proc = get_current()
    fd = get_unused_fd_flags(proc, running_profile().nr_open)
    if fd < 0:
        return fd
    file = anon_inode_getfile("[eventpoll]", eventpoll_fops, ep, 0)
    if not isinstance(file, File):
        put_unused_fd(proc, fd)
        return file
    ep.file, ep.name = file, f"epoll fd {fd}"
    fd_install(proc, fd, file)
    return fd


# --- ctl -------------------------------------------------------------------------------------------------------
@kernel_function("fs/eventpoll.c", lambda ep, file, fd: f"search rbr for (file, fd {fd})")
def ep_find(ep: Eventpoll, file: File, fd: int) -> Epitem | None:
    """Walk the red-black tree with ``ep_cmp_ffd``."""
    ffd = EpollFilefd(file, fd)
    rbp = ep.rbr.rb_node
    while rbp is not None:
        epi = rbp.owner
        kcmp = ep_cmp_ffd(ffd, epi.ffd)
        if kcmp > 0:
            rbp = rbp.rb_right
        elif kcmp < 0:
            rbp = rbp.rb_left
        else:
            return epi
    return None


@kernel_function("fs/eventpoll.c", lambda ep, event, tfile, fd: f"allocate an epitem for fd {fd} "
                 f"({event_names(event.events)})")
def ep_alloc_epitem(ep: Eventpoll, event: EpollEvent, tfile: File, fd: int) -> Epitem:
    """kmem_cache_zalloc from ``eventpoll_epi``; not linked anywhere yet."""
    epi = Epitem(EpollFilefd(tfile, fd), EpollEvent(event.events, event.data), ep)
    obj = slab_alloc("eventpoll_epi", f"{tfile.name}: struct epitem")
    if obj is not None:
        epi.slab_objects.append(obj)
    return epi


@kernel_function("fs/eventpoll.c", "insert {epi.name} into rbr")
def ep_rbtree_insert(ep: Eventpoll, epi: Epitem) -> None:
    """Search down by ``ep_cmp_ffd``, link a red leaf, recolour/rotate."""
    p, parent, left, leftmost = ep.rbr.rb_node, None, False, True
    while p is not None:
        parent = p
        if ep_cmp_ffd(epi.ffd, p.owner.ffd) > 0:
            p, left, leftmost = p.rb_right, False, False
        else:
            p, left = p.rb_left, True
    rb_link_node(epi.rbn, parent, ep.rbr, left)
    rb_insert_color_cached(epi.rbn, ep.rbr, leftmost)


@kernel_function("fs/eventpoll.c", "put {epi.name} on the file's epitem list and into rbr")
def ep_register_epitem(ep: Eventpoll, epi: Epitem) -> int:
    """``ep_attach_file`` (the file's ``f_ep`` list; 6.x allocates its ``struct epitems_head`` with the first
    epitem, from ep_head) and ``ep_rbtree_insert``."""
    file = epi.ffd.file
    if not file.f_ep and slab_has("ep_head"):
        file.f_ep_head.append(slab_alloc("ep_head", f"{file.name}: struct epitems_head"))
    file.f_ep.append(epi)
    ep_rbtree_insert(ep, epi)
    return 0


@dataclass(eq=False)
class EpPqueue(PollTable):
    """``struct ep_pqueue``: a poll table that knows the epitem being inserted."""

    epi: Epitem | None = None


def _exclusive(epi: "Epitem") -> bool:
    """The epitem asked for EPOLLEXCLUSIVE and the kernel has it (4.5+; 3.10 keeps the bit and ignores it)."""
    return bool(epi.event.events & EPOLLEXCLUSIVE) and epi.ep.epollexclusive


@kernel_function("fs/eventpoll.c", lambda file, whead, pt: f"hook ep_poll_callback for {pt.epi.name} onto "
                 f"{whead.name}" + (" (exclusive)" if _exclusive(pt.epi) else ""))
def ep_ptable_queue_proc(file: File, whead: WaitQueueHead, pt: EpPqueue) -> None:
    """Allocate an eppoll_entry whose wait entry calls ``ep_poll_callback``, and add it to the file's queue."""
    epi = pt.epi
    wait = WaitQueueEntry(ep_poll_callback, None, name=f"ep_poll_callback ({epi.name})")
    pwq = EppollEntry(base=epi, wait=wait, whead=whead)
    obj = slab_alloc("eventpoll_pwq", f"{file.name}: struct eppoll_entry")
    if obj is not None:
        pwq.slab_objects.append(obj)
    wait.private = pwq  # container_of(wait, struct eppoll_entry, wait) in C
    if _exclusive(epi):
        add_wait_queue_exclusive(whead, wait)
    else:
        add_wait_queue(whead, wait)
    pwq.next = epi.pwqlist
    epi.pwqlist = pwq


@kernel_function("fs/eventpoll.c", "poll {epi.name}'s file, keep the events it asked for")
def ep_item_poll(epi: Epitem, pt: PollTable, depth: int = 1) -> int:
    """``vfs_poll`` with ``pt`` (which may hook a callback), masked by ``epi->event.events``."""
    pt._key = epi.event.events
    if is_file_epoll(epi.ffd.file):
        raise NotImplementedError("an epoll inside an epoll is not modelled")
    return vfs_poll(epi.ffd.file, pt) & epi.event.events


@kernel_function("fs/eventpoll.c", lambda ep, event, tfile, fd: f"EPOLL_CTL_ADD fd {fd}")
def ep_insert(ep: Eventpoll, event: EpollEvent, tfile: File, fd: int) -> int:
    """New epitem → rbr → poll the file with ``ep_ptable_queue_proc`` → already ready? onto rdllist."""
    epi = ep_alloc_epitem(ep, event, tfile, fd)
    error = ep_register_epitem(ep, epi)
    if error:
        return error
    epq = EpPqueue(epi=epi)
    init_poll_funcptr(epq, ep_ptable_queue_proc)
    revents = ep_item_poll(epi, epq, 1)
    if revents and not ep_is_linked(epi):
        trace_printk(f"{epi.name} is ready already ({event_names(revents)}): onto rdllist")
        _list_add_tail(epi, ep.rdllist)
        if ep.wq.has_sleeper():
            __wake_up(ep.wq, 1, None)
    return 0


@kernel_function("fs/eventpoll.c", lambda ep, epi, event: f"EPOLL_CTL_MOD {epi.name}: "
                 f"{event_names(event.events)}")
def ep_modify(ep: Eventpoll, epi: Epitem, event: EpollEvent) -> int:
    """Set the new mask (re-arming a ONESHOT item), then poll: ready and not linked → onto rdllist."""
    epi.event.events, epi.event.data = event.events, event.data
    pt = init_poll_funcptr(PollTable(), None)
    if ep_item_poll(epi, pt, 1) and not ep_is_linked(epi):
        trace_printk(f"{epi.name} is ready: onto rdllist")
        _list_add_tail(epi, ep.rdllist)
        if ep.wq.has_sleeper():
            __wake_up(ep.wq, 1, None)
    return 0


@kernel_function("fs/eventpoll.c", "take {pwq.wait.name} off {pwq.whead.name}")
def ep_remove_wait_queue(pwq: EppollEntry) -> None:
    """Unhook one eppoll_entry from the file's wait queue."""
    if pwq.whead is not None:
        remove_wait_queue(pwq.whead, pwq.wait)


@kernel_function("fs/eventpoll.c", "unhook every callback of {epi.name}")
def ep_unregister_pollwait(ep: Eventpoll, epi: Epitem) -> None:
    """Remove and free each eppoll_entry of the item."""
    while epi.pwqlist is not None:
        pwq = epi.pwqlist
        epi.pwqlist = pwq.next
        ep_remove_wait_queue(pwq)
        slab_free(pwq.slab_objects)


@kernel_function("fs/eventpoll.c", "EPOLL_CTL_DEL {epi.name}: unhook, erase from rbr, drop from rdllist")
def ep_remove(ep: Eventpoll, epi: Epitem) -> None:
    """``ep_unregister_pollwait``, ``ep_remove_file`` (off the file's ``f_ep`` list; the last epitem frees 6.x's
    epitems_head), then ``ep_remove_epi``: rb_erase_cached, off the ready list, the epitem freed (``kfree_rcu``)."""
    ep_unregister_pollwait(ep, epi)
    file = epi.ffd.file
    file.f_ep.remove(epi)
    if not file.f_ep:
        slab_free(file.f_ep_head)
    rb_erase_cached(epi.rbn, ep.rbr)
    if ep_is_linked(epi):
        _list_del_init(epi)
    slab_free(epi.slab_objects)


@kernel_function("fs/eventpoll.c",
                 lambda file: f"{file.name} is closed while {plural(len(file.f_ep), 'epoll instance')} watch it: "
                              "each forgets it")
def eventpoll_release_file(file: File) -> None:
    """``__fput`` → ``eventpoll_release``: a file still watched by epoll leaves every instance (``ep_remove`` of
    each epitem on its ``f_ep`` list), so a closed fd never comes back from epoll_wait. The kernel takes each
    ``ep->mtx`` around it; here nobody else holds it then, and the lock is not drawn."""
    while file.f_ep:
        epi = file.f_ep[0]
        ep_remove(epi.ep, epi)


@kernel_function("fs/eventpoll.c", lambda epfd, op, fd, epds: f"epoll_ctl(epfd {epfd}, "
                 f"{ {1: 'ADD', 2: 'DEL', 3: 'MOD'}.get(op, op)}, fd {fd})")
def do_epoll_ctl(epfd: int, op: int, fd: int, epds: EpollEvent | None):
    """Check the fds and flags, take ``ep->mtx``, look the item up in rbr, then insert, remove or modify it."""
    if op not in (EPOLL_CTL_ADD, EPOLL_CTL_DEL, EPOLL_CTL_MOD):
        return -errno.EINVAL
    if op != EPOLL_CTL_DEL and not isinstance(epds, EpollEvent):
        raise TypeError("ADD and MOD take an EpollEvent")
    proc = get_current()
    f, tf = fdget(proc, epfd), fdget(proc, fd)
    if f is None or tf is None:
        return -errno.EBADF
    if tf.f_op.poll is None:  # file_can_poll()
        return -errno.EPERM
    if f is tf or not is_file_epoll(f):
        return -errno.EINVAL
    if op != EPOLL_CTL_DEL and epds.events & EPOLLEXCLUSIVE and running_profile().epoll_exclusive:
        if op == EPOLL_CTL_MOD:
            return -errno.EINVAL
        if is_file_epoll(tf) or epds.events & ~EPOLLEXCLUSIVE_OK_BITS:
            return -errno.EINVAL
    if is_file_epoll(tf):
        raise NotImplementedError("an epoll inside an epoll is not modelled")
    ep = f.private_data
    yield from mutex_lock(ep.mtx)
    epi = ep_find(ep, tf, fd)
    error = -errno.EINVAL
    if op == EPOLL_CTL_ADD:
        if epi is None:
            epds = EpollEvent(epds.events | EPOLLERR | EPOLLHUP, epds.data)
            error = ep_insert(ep, epds, tf, fd)
        else:
            error = -errno.EEXIST
    elif op == EPOLL_CTL_DEL:
        if epi is not None:
            ep_remove(ep, epi)
            error = 0
        else:
            error = -errno.ENOENT
    else:
        if epi is not None:
            if not _exclusive(epi):
                error = ep_modify(ep, epi, EpollEvent(epds.events | EPOLLERR | EPOLLHUP, epds.data))
        else:
            error = -errno.ENOENT
    mutex_unlock(ep.mtx)
    return error


# --- the wake-up -------------------------------------------------------------------------------------------------
@kernel_function("fs/eventpoll.c", lambda wait, key=None: f"{wait.private.base.name} is ready: "
                 f"{'ovflist (a scan is running)' if ep_is_scanning(wait.private.base.ep) else 'rdllist'}, "
                 f"wake an epoll_wait sleeper")
def ep_poll_callback(wait: WaitQueueEntry, key: Any = None) -> int:
    """The wake function on the socket's queue: queue the epitem as ready and wake one task in ``ep->wq``."""
    epi = wait.private.base
    ep = epi.ep
    pollflags = key or 0
    ewake = 0
    if not epi.event.events & ~EP_PRIVATE_BITS:
        trace_printk(f"{epi.name} is disarmed (EPOLLONESHOT fired): ignore until EPOLL_CTL_MOD")
    elif pollflags and not pollflags & epi.event.events:
        trace_printk(f"{epi.name} did not ask for {event_names(pollflags)}")
    else:
        if ep_is_scanning(ep):
            if epi.ovflist_next is EP_UNACTIVE_PTR:
                epi.ovflist_next = ep.ovflist
                ep.ovflist = epi
        elif not ep_is_linked(epi):
            _list_add_tail(epi, ep.rdllist)
        else:
            trace_printk(f"{epi.name} is on rdllist already")
        if ep.wq.has_sleeper():
            if _exclusive(epi):
                inout = pollflags & EPOLLINOUT_BITS
                if (inout == EPOLLIN and epi.event.events & EPOLLIN) or \
                        (inout == EPOLLOUT and epi.event.events & EPOLLOUT) or inout == 0:
                    ewake = 1
            __wake_up(ep.wq, 1, None)
    if not _exclusive(epi):
        ewake = 1
    return ewake


@kernel_function("fs/eventpoll.c", "wake the epoll_wait task and take its entry off ep->wq")
def ep_autoremove_wake_function(wq_entry: WaitQueueEntry, key: Any = None) -> int:
    """``default_wake_function``, then ``list_del_init_careful``: each wake-up goes to a new waiter."""
    ret = default_wake_function(wq_entry, key)
    list_del_init(wq_entry)
    return ret


# --- wait --------------------------------------------------------------------------------------------------------
@kernel_function("fs/eventpoll.c", "take rdllist private (scan batch); new events go to ovflist meanwhile")
def ep_start_scan(ep: Eventpoll, scan_batch: list) -> None:
    """``list_splice_init(&ep->rdllist, scan_batch)`` and ``ep_enter_scan`` (ovflist = NULL)."""
    for epi in ep.rdllist:
        epi.rdllink = scan_batch
    scan_batch.extend(ep.rdllist)
    ep.rdllist.clear()
    ep.ovflist = None


@kernel_function("fs/eventpoll.c", "move ovflist items to rdllist, put back what was not delivered")
def ep_done_scan(ep: Eventpoll, scan_batch: list) -> None:
    """Drain ovflist onto rdllist, leave scan mode, splice the rest of the batch back, wake a waiter if ready.
    ovflist is LIFO: 6.12 adds each item at rdllist's head, which turns it back into FIFO; 3.10's
    ``ep_scan_ready_list`` (whose tail this is there) adds at the tail, newest first, and wakes with ``ep->lock``
    held (``wake_up_locked``)."""
    in_3_10 = running_profile().ep_send_events_scan == "ep_scan_ready_list"
    add = _list_add_tail if in_3_10 else _list_add
    nepi = ep.ovflist
    while nepi is not None and nepi is not EP_UNACTIVE_PTR:
        epi = nepi
        nepi = epi.ovflist_next
        epi.ovflist_next = EP_UNACTIVE_PTR
        if not ep_is_linked(epi):
            add(epi, ep.rdllist)
    ep.ovflist = EP_UNACTIVE_PTR
    for epi in scan_batch:
        epi.rdllink = ep.rdllist
    ep.rdllist[:0] = scan_batch  # list_splice: the undelivered rest goes first
    scan_batch.clear()
    if ep.rdllist and ep.wq.has_sleeper():
        (__wake_up_common if in_3_10 else __wake_up)(ep.wq, 1, None)


@kernel_function("fs/eventpoll.c", lambda ep, epi, pt, events, scan_batch: f"re-poll {epi.name}, copy its event")
def ep_deliver_event(ep: Eventpoll, epi: Epitem, pt: PollTable, events: list, scan_batch: list):
    """Deliver one event; LT items go back on rdllist, EPOLLET ones do not, EPOLLONESHOT ones are disarmed."""
    _list_del_init(epi)
    revents = ep_item_poll(epi, pt, 1)
    if not revents:
        trace_printk(f"{epi.name} has nothing any more: it leaves the ready list")
        return 0
    yield from spend(ep.copy_ns, "epoll_put_uevent")
    events.append(EpollEvent(revents, epi.event.data))
    if epi.event.events & EPOLLONESHOT:
        epi.event.events &= EP_PRIVATE_BITS
        trace_printk(f"{epi.name} is EPOLLONESHOT: disarmed until EPOLL_CTL_MOD")
    elif not epi.event.events & EPOLLET:
        _list_add_tail(epi, ep.rdllist)
        trace_printk(f"{epi.name} is level-triggered: back on rdllist, the next epoll_wait checks it again")
    else:
        trace_printk(f"{epi.name} is EPOLLET: not put back; only a new arrival reports it again")
    return 1


@kernel_function("fs/eventpoll.c", lambda ep, events, maxevents: f"deliver up to {maxevents} events from "
                 f"rdllist ({len(ep.rdllist)} ready)")
def ep_send_events(ep: Eventpoll, events: list, maxevents: int):
    """Under ``ep->mtx``: scan the ready items, deliver each still-ready one, put the rest back. (3.10:
    ``ep_scan_ready_list(ep, ep_send_events_proc, &esed, 0)`` does it all.)"""
    if running_profile().ep_send_events_scan == "ep_scan_ready_list":
        return (yield from ep_scan_ready_list(ep, ep_send_events_proc, EpSendEventsData(maxevents, events), 0))
    pt = init_poll_funcptr(PollTable(), None)
    res = 0
    yield from mutex_lock(ep.mtx)
    scan_batch: list = []
    ep_start_scan(ep, scan_batch)
    for epi in list(scan_batch):
        if res >= maxevents:
            break
        res += yield from ep_deliver_event(ep, epi, pt, events, scan_batch)
    ep_done_scan(ep, scan_batch)
    mutex_unlock(ep.mtx)
    return res


# --- 3.10's scan (profile.ep_send_events_scan == "ep_scan_ready_list") -------------------------------------------
@dataclass(eq=False)
class EpSendEventsData:
    """3.10's ``struct ep_send_events_data``: what ``ep_send_events`` hands ``ep_send_events_proc``."""

    maxevents: int
    events: list

    def __post_init__(self):
        check.fields(self)


@kernel_function("fs/eventpoll.c", lambda ep, sproc, priv, depth: f"take {ep.name}'s rdllist private "
                 f"({len(ep.rdllist)} ready; new events go to ovflist meanwhile) and run {sproc.__name__} on it")
def ep_scan_ready_list(ep: Eventpoll, sproc: Callable, priv: Any, depth: int):
    """3.10: under ``ep->mtx``, splice rdllist into a private ``txlist`` (ovflist = NULL), call ``sproc(ep,
    txlist, priv)``, append the items that arrived meanwhile on ovflist to rdllist (``list_add_tail``: ovflist is
    LIFO, so the newest comes first), splice what ``sproc`` left at rdllist's head, and wake one epoll_wait
    sleeper if anything is ready (``wake_up_locked``: ep->lock is held). Returns what ``sproc`` returned."""
    yield from mutex_lock(ep.mtx)
    txlist: list = []
    ep_start_scan(ep, txlist)
    error = yield from sproc(ep, txlist, priv)
    ep_done_scan(ep, txlist)
    mutex_unlock(ep.mtx)
    return error


@kernel_function("fs/eventpoll.c", lambda ep, head, esed: f"re-poll the items taken off rdllist ({len(head)}), "
                 f"copy up to {esed.maxevents} events to user space")
def ep_send_events_proc(ep: Eventpoll, head: list, esed: EpSendEventsData):
    """3.10, called by ``ep_scan_ready_list`` with its private list: while items are left and fewer than
    ``maxevents`` were delivered, take the first off, re-poll it, copy its event; LT items go back on rdllist,
    EPOLLET ones do not, EPOLLONESHOT ones are disarmed. Returns the number delivered."""
    pt = init_poll_funcptr(PollTable(), None)
    eventcnt = 0
    while head and eventcnt < esed.maxevents:
        eventcnt += yield from ep_deliver_event(ep, head[0], pt, esed.events, head)
    return eventcnt


@kernel_function("fs/eventpoll.c", lambda ep, events, maxevents, timeout:
                 f"{get_current().comm} waits for events on {ep.name}")
def ep_poll(ep: Eventpoll, events: list, maxevents: int, timeout: int | None):
    """Deliver ready events, or sleep exclusively at the head of ``ep->wq`` until a callback wakes us. 6.12's wait
    entry leaves ``ep->wq`` when it is woken (``ep_autoremove_wake_function``); 3.10's stays there until this
    function takes it off (``profile.ep_poll_wake``)."""
    me = get_current()
    timed_out = timeout == 0
    expires = None if timeout is None else ktime_get() + timeout
    if running_profile().ep_poll_wake == "default_wake_function":
        return (yield from _ep_poll_3_10(ep, events, maxevents, timed_out, expires))
    eavail = ep_events_available(ep)
    while True:
        if eavail:
            res = yield from ep_send_events(ep, events, maxevents)
            if res:
                return res
        if timed_out:
            return 0
        wait = WaitQueueEntry(ep_autoremove_wake_function, me, name=f"{me.comm} (epoll_wait)")
        me.state = TASK_INTERRUPTIBLE
        eavail = ep_events_available(ep)
        if not eavail:
            __add_wait_queue_exclusive(ep.wq, wait)
            timed_out = not (yield from schedule_hrtimeout_range(expires))
        me.state = TASK_RUNNING
        eavail = True
        if wait.head is not None:  # timed out and still queued
            if timed_out:
                eavail = False
            __remove_wait_queue(ep.wq, wait)


def _ep_poll_3_10(ep: Eventpoll, events: list, maxevents: int, timed_out: bool, expires: int | None):
    """3.10's ep_poll: ``init_waitqueue_entry`` (``default_wake_function``) on ``ep->wq``, a loop that re-checks
    for events each time the task runs, ``__remove_wait_queue`` after it; then ``ep_send_events``, and back to
    sleep if that found nothing and time is left (``goto fetch_events``)."""
    me = get_current()
    while True:
        if not timed_out and not ep_events_available(ep):
            wait = WaitQueueEntry(default_wake_function, me, name=f"{me.comm} (epoll_wait)")
            __add_wait_queue_exclusive(ep.wq, wait)
            while True:
                me.state = TASK_INTERRUPTIBLE
                if ep_events_available(ep) or timed_out:
                    break
                timed_out = not (yield from schedule_hrtimeout_range(expires))
            __remove_wait_queue(ep.wq, wait)
            me.state = TASK_RUNNING
        if not ep_events_available(ep):
            return 0
        res = yield from ep_send_events(ep, events, maxevents)
        if res or timed_out:
            return res


@kernel_function("fs/eventpoll.c", lambda epfd, events, maxevents, timeout: f"epoll_wait(epfd {epfd}, "
                 f"maxevents {maxevents})")
def do_epoll_wait(epfd: int, events: list, maxevents: int, timeout: int | None):
    """Check the arguments and the fd, then ``ep_poll``. Returns the number of events or -errno."""
    if not isinstance(maxevents, int) or maxevents <= 0 or maxevents > EP_MAX_EVENTS:
        return -errno.EINVAL
    if timeout is not None and (not isinstance(timeout, int) or timeout < 0):
        raise ValueError("timeout must be None (block) or an int >= 0 (ns)")
    f = fdget(get_current(), epfd)
    if f is None:
        return -errno.EBADF
    if not is_file_epoll(f):
        return -errno.EINVAL
    return (yield from ep_poll(f.private_data, events, maxevents, timeout))
