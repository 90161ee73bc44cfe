"""epoll as fs/eventpoll.c does it: the rbr, the callback on the socket's queue, rdllist, ovflist, LT/ET/ONESHOT."""
import errno

import pytest
from hypothesis import HealthCheck, event, given, settings, strategies as st

from netlab.kernel.eventpoll import (EPOLL_CTL_ADD, EPOLL_CTL_DEL, EPOLL_CTL_MOD, EPOLLET, EPOLLEXCLUSIVE,
                                     EPOLLONESHOT, EpollEvent, do_epoll_ctl, ep_cmp_ffd, per_fd_bytes)
from netlab.kernel.profiles import PROFILES
from netlab.kernel.rbtree import rb_validate
from netlab.kernel.sched import spend
from netlab.kernel.fs import EPOLLIN, EPOLLOUT
from netlab.kernel.sock import sk_sleep
from netlab.kernel.wait import __wake_up
from netlab.scenarios.blocking_vs_epoll import Lab, epoll_story
from netlab.scenarios.userspace import epoll_create1, epoll_ctl, epoll_wait, recv, set_nonblocking

N = 6
FLAGS = {"LT": 0, "ET": EPOLLET, "ONESHOT": EPOLLONESHOT, "ET|ONESHOT": EPOLLET | EPOLLONESHOT}
ARRIVAL_NS, TIMEOUT_NS = 5_000, 50_000  # a blocking wait's packet comes 5 µs after the call; it gives up at 50 µs


class ReferenceEpoll:
    """What epoll_wait must return, written from fs/eventpoll.c's rules and independent of the model:

    * ep_poll_callback: an armed item that is not on rdllist joins its tail (a disarmed ONESHOT item is ignored)
      and one sleeper of ep->wq is woken — the last to sleep (exclusive, at the head: LIFO);
    * ep_send_events: take rdllist whole; for each item in order, stop once ``maxevents`` were delivered; an item
      no longer ready leaves; a delivered LT item goes back on the new rdllist, an ET item does not, a ONESHOT item
      is disarmed until EPOLL_CTL_MOD; ep_done_scan (3.10: ep_scan_ready_list) puts the undelivered rest first,
      then wakes one more sleeper if items are left;
    * ADD and MOD put a ready item on rdllist at once; DEL takes it off.
    """

    def __init__(self):
        self.flags: dict[int, int] = {}   # watched fd -> its EPOLLET/EPOLLONESHOT bits
        self.armed: dict[int, bool] = {}
        self.queued: dict[int, int] = {}
        self.rdllist: list[int] = []
        self.sleepers: list[str] = []     # ep->wq, head first
        self.woken: list[str] = []        # tasks made runnable, in wake order

    def ready(self, fd):
        return fd in self.flags and self.armed[fd] and self.queued.get(fd, 0) > 0

    def add(self, fd, flags):
        self.flags[fd], self.armed[fd] = flags, True
        if self.ready(fd) and fd not in self.rdllist:
            self.rdllist.append(fd)

    def mod(self, fd):
        self.armed[fd] = True
        if self.ready(fd) and fd not in self.rdllist:
            self.rdllist.append(fd)

    def delete(self, fd):
        del self.flags[fd], self.armed[fd]
        self.rdllist = [f for f in self.rdllist if f != fd]

    def data(self, fd, nbytes):
        self.queued[fd] = self.queued.get(fd, 0) + nbytes
        if fd in self.flags and self.armed[fd]:
            if fd not in self.rdllist:
                self.rdllist.append(fd)
            if self.sleepers:
                self.woken.append(self.sleepers.pop(0))

    def read(self, fd, nbytes):
        self.queued[fd] = max(0, self.queued.get(fd, 0) - nbytes)

    def scan(self, maxevents):
        batch, self.rdllist, delivered = self.rdllist, [], []
        while batch and len(delivered) < maxevents:
            fd = batch.pop(0)
            if not self.ready(fd):
                continue
            delivered.append(fd)
            if self.flags[fd] & EPOLLONESHOT:
                self.armed[fd] = False
            elif not self.flags[fd] & EPOLLET:
                self.rdllist.append(fd)
        self.rdllist = batch + self.rdllist
        if self.rdllist and self.sleepers:
            self.woken.append(self.sleepers.pop(0))
        return delivered


def run_program(ops, profile="6.12"):
    """Run ``ops`` in one thread on N connections and, beside it, in :class:`ReferenceEpoll`; after each op the
    model's rdllist must be the reference's, and each epoll_wait must return exactly the reference's events."""
    lab = Lab(profile=profile)
    fds = lab.connections([f"conn{i}" for i in range(N)])
    ref = ReferenceEpoll()
    waits = []

    def program():
        epfd = epoll_create1()
        ep = lab.epolls()[0]
        for fd in fds:
            set_nonblocking(fd)
        for op in ops:
            kind, fd = op[0], fds[op[1]]
            if kind == "add" and fd not in ref.flags:
                yield from epoll_ctl(epfd, EPOLL_CTL_ADD, fd, EPOLLIN | FLAGS[op[2]])
                ref.add(fd, FLAGS[op[2]])
            elif kind == "del" and fd in ref.flags:
                yield from epoll_ctl(epfd, EPOLL_CTL_DEL, fd)
                ref.delete(fd)
            elif kind == "mod" and fd in ref.flags:
                yield from epoll_ctl(epfd, EPOLL_CTL_MOD, fd, EPOLLIN | ref.flags[fd])
                ref.mod(fd)
            elif kind == "data":
                lab.send_data(lab.sched.clock + 1, fd, op[2])
                yield from spend(100)  # the packet arrives meanwhile (softirq)
                ref.data(fd, op[2])
            elif kind == "read":
                try:
                    yield from recv(fd, op[2])
                except BlockingIOError:
                    pass
                ref.read(fd, op[2])
            elif kind == "wait":  # ("wait", packet for fd, maxevents, blocking)
                maxevents, blocking = op[2], op[3]
                arrival = lab.sched.clock + ARRIVAL_NS
                ready_before = sum(map(ref.ready, ref.rdllist))
                if blocking:
                    lab.send_data(arrival, fd, 10)
                events = yield from epoll_wait(epfd, maxevents, TIMEOUT_NS if blocking else 0)
                expected = ref.scan(maxevents)
                if blocking:
                    if lab.sched.clock <= arrival:
                        yield from spend(arrival + 1 - lab.sched.clock)
                    ref.data(fd, 10)
                    if not expected and fd in ref.flags and ref.armed[fd]:
                        expected = ref.scan(maxevents)  # woken by the packet: a second scan
                assert len(events) <= maxevents
                assert [(e.data, e.events) for e in events] == [(f, EPOLLIN) for f in expected], op
                waits.append((len(events), maxevents, blocking, ready_before))
            assert [e.ffd.fd for e in ep.rdllist] == ref.rdllist, op
            assert sorted(e.ffd.fd for e in ep.items()) == sorted(ref.flags)
            rb_validate(ep.rbr, lambda a, b: ep_cmp_ffd(a.ffd, b.ffd))

    lab.thread("prog", program())
    lab.run()
    for fd in fds:
        assert sum(s.len for s in lab.sock_of(fd).sk.sk_receive_queue) == ref.queued.get(fd, 0)
    return waits


fd_index = st.integers(0, N - 1)
op = st.one_of(st.tuples(st.just("add"), fd_index, st.sampled_from(sorted(FLAGS))),
               st.tuples(st.just("del"), fd_index), st.tuples(st.just("mod"), fd_index),
               *[st.tuples(st.just("data"), fd_index, st.integers(1, top)) for top in (100, 200, 300)],  # likelier
               st.tuples(st.just("read"), fd_index, st.integers(1, 300)),
               st.tuples(st.just("wait"), fd_index, st.integers(1, 3) | st.integers(1, N + 1), st.booleans()))


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from(sorted(FLAGS)), min_size=N, max_size=N), st.lists(op, min_size=10, max_size=60),
       st.sampled_from(["6.12", "3.10"]))
def test_epoll_wait_returns_what_the_reference_returns(modes, ops, profile):
    waits = run_program([("add", i, mode) for i, mode in enumerate(modes)] + ops + [("wait", 0, N, False)], profile)
    event(f"more items ready than maxevents: {any(ready > m for _, m, _, ready in waits)}")
    event(f"some blocking epoll_wait returned events: {any(n and blocking for n, _, blocking, _ in waits)}")


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mode=st.sampled_from(sorted(FLAGS)), maxevents=st.integers(1, N), ready=st.integers(1, N),
       later=st.lists(fd_index, max_size=2), profile=st.sampled_from(["6.12", "3.10"]))
def test_two_waiters_are_woken_one_at_a_time_last_sleeper_first(mode, maxevents, ready, later, profile):
    """Two threads sleep in epoll_wait on one epoll (A first, then B); ``ready`` packets arrive at once, then one
    packet per fd in ``later``, 200 µs apart. Each thread calls epoll_wait once."""
    lab = Lab(profile=profile)
    fds = lab.connections([f"conn{i}" for i in range(N)])
    ref, got, epfd = ReferenceEpoll(), {}, []

    def setup():
        epfd.append(epoll_create1())
        for fd in fds:
            yield from epoll_ctl(epfd[0], EPOLL_CTL_ADD, fd, EPOLLIN | FLAGS[mode])
            ref.add(fd, FLAGS[mode])

    def waiter(name):
        events = yield from epoll_wait(epfd[0], maxevents, 10_000_000)
        got[name] = [e.data for e in events]

    lab.thread("setup", setup())
    lab.run(10_000)
    for name in "AB":  # each sleeps before the next starts: B is at the head of ep->wq
        lab.thread(name, waiter(name))
        lab.run(lab.sched.clock + 20_000)
        ref.sleepers.insert(0, name)
    rounds = [fds[:ready]] + [[fds[i]] for i in later]
    for r, packets in enumerate(rounds):
        for fd in packets:
            lab.send_data(100_000 + 200_000 * r, fd, 10)
    lab.run()

    expected = {name: [] for name in "AB"}
    for packets in rounds:  # every packet of a round arrives before a woken thread runs
        for fd in packets:
            ref.data(fd, 10)
        while ref.woken:
            name = ref.woken.pop(0)
            delivered = ref.scan(maxevents)
            if delivered:
                expected[name] = delivered
            else:
                ref.sleepers.insert(0, name)  # nothing left for it: back to sleep at the head
    assert got == expected
    assert got["B"] == fds[:min(ready, maxevents)]  # the last to sleep is woken first


def test_add_hooks_ep_poll_callback_onto_the_sockets_wait_queue_and_fills_rbr():
    story = epoll_story(connections=5, ready=3)
    fds = story.facts["fds"]
    assert story.facts["events"] == [(fds[3], EPOLLIN)]  # 0x40 (RDNORM) is masked off: not asked for
    names = story.trace.functions()
    for f in ("do_epoll_ctl", "ep_insert", "ep_rbtree_insert", "ep_item_poll", "sock_poll", "tcp_poll", "poll_wait",
              "ep_ptable_queue_proc", "ep_poll", "ep_poll_callback", "ep_send_events", "ep_deliver_event"):
        assert f in names
    after_add = next(e for e in story.trace if e.function == "ep_poll").state
    assert all(after_add.sockets[f"conn{i}"].waiters == (f"ep_poll_callback (fd {fds[i]})",) for i in range(5))
    assert len(after_add.epolls[f"fd {fds[-1] + 1}"].armed) == 5   # epoll_create1 took the next free fd
    wake = next(i for i, e in enumerate(story.trace) if e.function == "ep_poll_callback")
    assert story.trace[wake].task == "" and story.trace[wake].context == "softirq"


@pytest.mark.parametrize("profile, order", [("3.10", [3, 2]), ("6.12", [2, 3])])
def test_callbacks_during_a_scan_go_to_ovflist_then_back_to_rdllist(profile, order):
    """Two items become ready while epoll_wait copies events out: they wait on ovflist (LIFO). 3.10's
    ep_scan_ready_list appends them to rdllist in that order (list_add_tail), newest first; 6.12's ep_done_scan
    reverses it (list_add at the head)."""
    lab = Lab(profile=profile)
    fds = lab.connections([f"c{i}" for i in range(4)])
    seen = []

    def prog():
        epfd = epoll_create1()
        lab.epolls()[0].copy_ns = 20_000  # a slow copy to user space: the scan lasts 40 µs
        for fd in fds:
            yield from epoll_ctl(epfd, EPOLL_CTL_ADD, fd, EPOLLIN | EPOLLET)
        seen.append((yield from epoll_wait(epfd, 8)))
        seen.append((yield from epoll_wait(epfd, 8, 0)))

    lab.thread("p", prog())
    lab.send_data(10_000, fds[0], 10)
    lab.send_data(10_000, fds[1], 10)
    lab.send_data(20_000, fds[2], 10)  # both arrive while ep_send_events copies the first two
    lab.send_data(25_000, fds[3], 10)
    trace = lab.record()
    epoll = f"fd {fds[-1] + 1}"
    ovf = [e.state.epolls[epoll].ovflist for e in trace if epoll in e.state.epolls and e.state.epolls[epoll].ovflist]
    assert (f"fd {fds[3]}", f"fd {fds[2]}") in ovf
    assert [e.data for e in seen[0]] == fds[:2] and [e.data for e in seen[1]] == [fds[i] for i in order]


def test_epoll_ctl_errors_like_the_kernel():
    lab = Lab()
    fd = lab.connection()
    results = {}

    def prog():
        epfd = epoll_create1()
        ev = EpollEvent(EPOLLIN, fd)
        results["add"] = yield from do_epoll_ctl(epfd, EPOLL_CTL_ADD, fd, ev)
        results["again"] = yield from do_epoll_ctl(epfd, EPOLL_CTL_ADD, fd, ev)
        results["badfd"] = yield from do_epoll_ctl(epfd, EPOLL_CTL_ADD, 99, ev)
        results["self"] = yield from do_epoll_ctl(epfd, EPOLL_CTL_ADD, epfd, ev)
        results["notepoll"] = yield from do_epoll_ctl(fd, EPOLL_CTL_ADD, fd, ev)
        results["mod_excl"] = yield from do_epoll_ctl(epfd, EPOLL_CTL_MOD, fd, EpollEvent(EPOLLIN | EPOLLEXCLUSIVE))
        results["del"] = yield from do_epoll_ctl(epfd, EPOLL_CTL_DEL, fd, None)
        results["del_again"] = yield from do_epoll_ctl(epfd, EPOLL_CTL_DEL, fd, None)
        results["mod_gone"] = yield from do_epoll_ctl(epfd, EPOLL_CTL_MOD, fd, ev)

    lab.thread("p", prog())
    lab.run()
    assert results == {"add": 0, "again": -errno.EEXIST, "badfd": -errno.EBADF, "self": -errno.EINVAL,
                       "notepoll": -errno.EINVAL, "mod_excl": -errno.EINVAL, "del": 0, "del_again": -errno.ENOENT,
                       "mod_gone": -errno.ENOENT}
    assert lab.sock_of(fd).wq.entries == []  # DEL unhooked the callback


def test_3_10_takes_epollexclusive_as_an_unknown_bit():
    """3.10's epoll_ctl neither refuses EPOLLEXCLUSIVE where 4.5+ does (EPOLL_CTL_MOD: EINVAL) nor queues the
    callback exclusively."""
    lab = Lab(profile="3.10")
    fd = lab.connection()
    results = {}

    def prog():
        epfd = epoll_create1()
        results["add"] = yield from do_epoll_ctl(epfd, EPOLL_CTL_ADD, fd, EpollEvent(EPOLLIN | EPOLLEXCLUSIVE, fd))
        results["mod"] = yield from do_epoll_ctl(epfd, EPOLL_CTL_MOD, fd, EpollEvent(EPOLLIN | EPOLLEXCLUSIVE, fd))

    lab.thread("p", prog())
    lab.run()
    assert results == {"add": 0, "mod": 0}
    assert [e.exclusive for e in lab.sock_of(fd).wq.entries] == [False]


def test_epoll_wait_times_out_with_nothing_ready():
    lab = Lab()
    fd = lab.connection()
    out = {}

    def prog():
        epfd = epoll_create1()
        yield from epoll_ctl(epfd, EPOLL_CTL_ADD, fd, EPOLLIN)
        out["events"] = yield from epoll_wait(epfd, 4, 500_000)
        out["at"] = lab.sched.clock

    lab.thread("p", prog())
    lab.run()
    assert out["events"] == [] and 500_000 <= out["at"] < 520_000
    assert lab.epolls()[0].wq.entries == []


def test_memory_per_watched_socket():
    assert per_fd_bytes(PROFILES["6.12"]) == 128 + 64 + 24  # epitem, eppoll_entry, the file's epitems_head
    assert per_fd_bytes(PROFILES["3.10"]) == 128 + 72       # 3.10 kept the file's epitem list in struct file


def test_a_wake_up_for_an_event_the_item_did_not_ask_for_queues_nothing():
    """ep_poll_callback: ``if (pollflags && !(pollflags & epi->event.events)) goto out;`` — a socket that becomes
    writable (sk_write_space wakes with EPOLLOUT) does not make an EPOLLIN item ready; data does."""
    lab = Lab()
    fd = lab.connection("c0")
    seen = []

    def prog():
        epfd = epoll_create1()
        yield from epoll_ctl(epfd, EPOLL_CTL_ADD, fd, EPOLLIN)
        __wake_up(sk_sleep(lab.sock_of(fd).sk), 1, EPOLLOUT)
        seen.append((lab.epolls()[0].rdllist[:], (yield from epoll_wait(epfd, 8, 0))))
        lab.deliver(fd, 10)
        seen.append(([e.name for e in lab.epolls()[0].rdllist], [e.data for e in (yield from epoll_wait(epfd, 8, 0))]))

    lab.thread("p", prog())
    lab.run()
    assert seen == [([], []), ([f"fd {fd}"], [fd])]
