"""epoll as fs/eventpoll.c does it: the rbr, the callback on the socket's queue, rdllist, ovflist, LT/ET/ONESHOT."""
import errno

import pytest
from hypothesis import given, settings, strategies as st

from netlab.kernel.eventpoll import (EPOLL_CTL_ADD, EPOLL_CTL_DEL, EPOLL_CTL_MOD, EPOLLET, EPOLLEXCLUSIVE,
                                     EPOLLONESHOT, EpollEvent, do_epoll_ctl, ep_cmp_ffd, per_fd_bytes)
from netlab.kernel.profiles import PROFILES
from netlab.kernel.rbtree import rb_validate
from netlab.kernel.sched import spend
from netlab.kernel.sock import EPOLLIN
from netlab.scenarios.blocking_vs_epoll import Lab, epoll_story
from netlab.userspace import epoll_create1, epoll_ctl, epoll_wait, recv, set_nonblocking

N = 6


def run_program(ops, flags):
    """Run ``ops`` in one thread; after each ("wait",) record (reported fds, rdllist fds, queued bytes per fd)."""
    lab = Lab()
    fds = [lab.connection(f"conn{i}") for i in range(N)]
    added: set[int] = set()
    log = []

    def program():
        epfd = epoll_create1()
        ep = lab.epolls()[0]
        for fd in fds:
            set_nonblocking(fd)
        for op in ops:
            kind, i = op[0], op[1] if len(op) > 1 else None
            if kind == "add" and fds[i] not in added:
                yield from epoll_ctl(epfd, EPOLL_CTL_ADD, fds[i], EPOLLIN | flags)
                added.add(fds[i])
            elif kind == "del" and fds[i] in added:
                yield from epoll_ctl(epfd, EPOLL_CTL_DEL, fds[i])
                added.discard(fds[i])
            elif kind == "mod" and fds[i] in added:
                yield from epoll_ctl(epfd, EPOLL_CTL_MOD, fds[i], EPOLLIN | flags)
                log.append(("mod", fds[i]))
            elif kind == "data":
                lab.send_data(lab.sched.clock + 1, fds[i], op[2])
                yield from spend(100)  # the packet arrives meanwhile (softirq)
                log.append(("data", fds[i]))
            elif kind == "read":
                try:
                    yield from recv(fds[i], op[2])
                except BlockingIOError:
                    pass
            elif kind == "wait":
                events = yield from epoll_wait(epfd, 64, 0)
                queued = {fd: sum(s.len for s in lab.sock_of(fd).sk.sk_receive_queue) for fd in fds}
                log.append(("wait", sorted(e.data for e in events), sorted(e.ffd.fd for e in ep.rdllist), queued,
                            set(added)))
            rb_validate(ep.rbr, lambda a, b: ep_cmp_ffd(a.ffd, b.ffd))
            assert sorted(e.ffd.fd for e in ep.items()) == sorted(added)

    lab.thread("prog", program())
    lab.run()
    return log


op = st.one_of(st.tuples(st.just("add"), st.integers(0, N - 1)), st.tuples(st.just("del"), st.integers(0, N - 1)),
               st.tuples(st.just("data"), st.integers(0, N - 1), st.integers(1, 300)),
               st.tuples(st.just("read"), st.integers(0, N - 1), st.integers(1, 300)), st.tuples(st.just("wait")))


@settings(max_examples=60, deadline=None)
@given(st.lists(op, max_size=40))
def test_lt_rdllist_holds_exactly_the_ready_armed_items(ops):
    for entry in run_program(ops + [("wait",)], 0):
        if entry[0] != "wait":
            continue
        _, reported, rdllist, queued, added = entry
        ready = sorted(fd for fd in added if queued[fd] > 0)
        assert reported == ready  # every watched socket with unread data, and nothing else
        assert rdllist == ready   # and each went back on rdllist for the next epoll_wait


@settings(max_examples=60, deadline=None)
@given(st.lists(st.one_of(st.tuples(st.just("data"), st.integers(0, N - 1), st.integers(1, 50)),
                          st.tuples(st.just("wait"))), max_size=40))
def test_et_reports_an_item_once_per_new_arrival(ops):
    script = [("add", i) for i in range(N)] + ops + [("wait",)]
    arrived_since_wait: set[int] = set()
    for entry in run_program(script, EPOLLET):
        if entry[0] == "data":
            arrived_since_wait.add(entry[1])
        elif entry[0] == "wait":
            assert entry[1] == sorted(arrived_since_wait)  # data left unread is not reported again
            assert entry[2] == []                          # EPOLLET items are not put back on rdllist
            arrived_since_wait = set()


@settings(max_examples=60, deadline=None)
@given(st.lists(st.one_of(st.tuples(st.just("data"), st.integers(0, N - 1), st.integers(1, 50)),
                          st.tuples(st.just("mod"), st.integers(0, N - 1)), st.tuples(st.just("wait"))),
                max_size=40))
def test_oneshot_reports_once_until_mod(ops):
    script = [("add", i) for i in range(N)] + ops + [("wait",)]
    armed = {}
    for entry in run_program(script, EPOLLONESHOT):
        if entry[0] == "mod":
            armed[entry[1]] = True
        elif entry[0] == "wait":
            for fd in entry[1]:
                assert armed.get(fd, True), f"fd {fd} reported twice without EPOLL_CTL_MOD"
                armed[fd] = False
            # and an armed item with data is reported: ONESHOT only ever holds back disarmed items
            for fd, q in entry[3].items():
                if q and armed.get(fd, True) and fd not in entry[1]:
                    pytest.fail(f"armed fd {fd} with {q} bytes queued was not reported")


def test_add_hooks_ep_poll_callback_onto_the_sockets_wait_queue_and_fills_rbr():
    story = epoll_story(connections=5, ready=3)
    fds = story.facts["fds"]
    assert story.facts["events"] == [(fds[3], EPOLLIN)]  # 0x40 (RDNORM) is masked off: not asked for
    names = story.trace.functions()
    for f in ("do_epoll_ctl", "ep_insert", "ep_rbtree_insert", "ep_item_poll", "sock_poll", "tcp_poll", "poll_wait",
              "ep_ptable_queue_proc", "ep_poll", "ep_poll_callback", "ep_send_events", "ep_deliver_event"):
        assert f in names
    after_add = next(e for e in story.trace if e.function == "ep_poll").state
    assert all(after_add[f"sock conn{i}"]["waiters"] == [f"ep_poll_callback (fd {fds[i]})"] for i in range(5))
    assert len(after_add["epoll fd 8"]["armed"]) == 5
    wake = next(i for i, e in enumerate(story.trace) if e.function == "ep_poll_callback")
    assert story.trace[wake].task == "" and story.trace[wake].context == "softirq"


def test_callbacks_during_a_scan_go_to_ovflist_then_back_to_rdllist():
    lab = Lab()
    fds = [lab.connection(f"c{i}") for i in range(3)]
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
    lab.send_data(20_000, fds[2], 10)  # arrives while ep_send_events copies the first two
    trace = lab.record()
    ovf = [e.state["epoll fd 6"]["ovflist"] for e in trace if e.state.get("epoll fd 6", {}).get("ovflist")]
    assert ["fd 5"] in ovf
    assert [e.data for e in seen[0]] == fds[:2] and [e.data for e in seen[1]] == [fds[2]]


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
