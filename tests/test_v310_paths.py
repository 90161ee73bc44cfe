"""3.10's own code paths where its calls nest otherwise than 6.12's, and 3.10's own step texts.

- net/core/dev.c: 3.10's ``__netif_receive_skb_core`` calls the protocol handler (``ip_rcv``) itself; 6.12's hands
  it back to ``__netif_receive_skb_one_core`` (or the list receive), which calls it.
- fs/eventpoll.c: 3.10's ``ep_send_events`` calls ``ep_scan_ready_list(ep, ep_send_events_proc, …)``, which runs
  the delivery loop inside the scan and appends what arrived meanwhile (ovflist) to rdllist's tail (the order is
  tested in test_epoll.py); 6.12 scans between ``ep_start_scan`` and ``ep_done_scan``, delivering each item with
  ``ep_deliver_event``. 3.10's
  ``ep_poll`` waits with ``default_wake_function``: its entry stays on ``ep->wq`` after the wake-up until ``ep_poll``
  takes it off; 6.12's ``ep_autoremove_wake_function`` takes it off as it wakes the task.
"""
import pytest

from netlab.kernel.profiles import PROFILES
from netlab.scenarios.blocking_vs_epoll import epoll_story
from netlab.scenarios.loopback import local_path
from netlab.trace import Tracer, kernel_function
from stories import STORIES, receive


def callers(trace, function):
    """The function each call of ``function`` was called from: the last call one level up on the same stack."""
    out = []
    for i, e in enumerate(trace):
        if e.kind == "call" and e.function == function:
            out.append(next(p.function for p in reversed(trace[:i]) if p.kind == "call" and p.depth == e.depth - 1
                            and (p.host, p.cpu, p.task, p.context) == (e.host, e.cpu, e.task, e.context)))
    return out


def test_3_10_calls_ip_rcv_inside_netif_receive_skb_core_6_12_beside_it():
    assert set(callers(receive("3.10"), "ip_rcv")) == {"__netif_receive_skb_core"}
    assert set(callers(local_path(PROFILES["3.10"]), "ip_rcv")) == {"__netif_receive_skb_core"}   # the backlog
    assert set(callers(local_path(PROFILES["6.12"]), "ip_rcv")) == {"__netif_receive_skb_one_core"}
    batched = receive("6.12")                      # GRO batches go up as a list: ip_list_rcv, beside the core
    assert "ip_rcv" not in batched.functions()
    assert set(callers(batched, "ip_list_rcv")) == {"__netif_receive_skb_list_core"}


def test_3_10_has_no_list_receive():
    for make, _ in STORIES.values():
        names = make("3.10").functions()
        assert not {"netif_receive_skb_list_internal", "__netif_receive_skb_list_core", "ip_list_rcv"} & set(names)


def test_3_10_delivers_epoll_events_inside_ep_scan_ready_list():
    trace = epoll_story(profile="3.10").trace
    assert set(callers(trace, "ep_scan_ready_list")) == {"ep_send_events"}
    assert set(callers(trace, "ep_send_events_proc")) == {"ep_scan_ready_list"}
    assert set(callers(trace, "ep_item_poll")) >= {"ep_send_events_proc"}
    assert callers(trace, "mutex_lock").count("ep_scan_ready_list") == len(callers(trace, "ep_scan_ready_list"))
    assert len(callers(trace, "ep_send_events_proc")) == len(callers(trace, "ep_scan_ready_list"))  # once a scan
    assert not {"ep_start_scan", "ep_deliver_event", "ep_done_scan"} & set(trace.functions())


@pytest.mark.parametrize("profile, wake, queued_after_wake", [("3.10", "default_wake_function", True),
                                                               ("6.12", "ep_autoremove_wake_function", False)])
def test_epoll_wait_leaves_ep_wq_when_its_kernel_takes_it_off(profile, wake, queued_after_wake):
    trace = epoll_story(profile=profile).trace
    (woken,) = [i for i, e in enumerate(trace) if e.function == "try_to_wake_up"]
    assert callers(trace[:woken + 1], wake) and callers(trace, wake)[-1] == "__wake_up_common"
    waiters = [e.state.epolls for e in trace[woken:] if e.state.epolls]
    assert bool(list(waiters[0].values())[0].wq) is queued_after_wake      # right after the wake-up
    assert not list(waiters[-1].values())[0].wq                              # and off once epoll_wait returns


def test_6_12_delivers_each_epoll_event_from_ep_send_events():
    trace = epoll_story(profile="6.12").trace
    assert set(callers(trace, "ep_start_scan")) == set(callers(trace, "ep_deliver_event")) == {"ep_send_events"}
    assert not {"ep_scan_ready_list", "ep_send_events_proc"} & set(trace.functions())


def test_a_renamed_function_steps_with_its_kernels_own_text():
    @kernel_function("net/core/dev.c", "6.12 text for {n}")
    def model_function(n: int) -> None:
        """A model, named as 6.12 does."""

    for where, step in ((("model_function", "net/core/dev.c"), ("model_function", "6.12 text for 7")),
                        (("old_name", "net/core/old.c"), ("old_name", "6.12 text for 7")),
                        (("old_name", "net/core/old.c", "3.10 text for {n}"), ("old_name", "3.10 text for 7")),
                        (("old_name", "net/core/old.c", lambda n: f"{n * 2}"), ("old_name", "14"))):
        with Tracer(renamed={"model_function": where}) as tracer:
            model_function(7)
        assert [(e.function, e.text) for e in tracer.trace] == [step]


@pytest.mark.parametrize("story, function, text_3_10", [
    ("01 receive", "napi_complete", "is done: flush GRO, leave the poll_list, clear NAPI_STATE_SCHED"),
    ("01 receive", "__netif_receive_skb_core", "give every tap a copy, then call its protocol handler"),
    ("01 receive", "__do_softirq", "restart while more are raised, within MAX_SOFTIRQ_TIME"),
    ("04 loopback", "netif_rx", "(from any context: enqueue_to_backlog on get_cpu())"),
    ("05 handshake", "sys_listen", "cap the backlog at net.core.somaxconn, then sock->ops->listen"),
    ("06 TIME_WAIT", "sock_destroy_inode", "free the socket_wq (kfree_rcu)"),
    ("06 TIME_WAIT", "alloc_file", "get_empty_filp, then set its path and ops"),
])
def test_3_10_steps_of_functions_that_differ_say_what_3_10_does(story, function, text_3_10):
    steps = STORIES[story][0]("3.10").filter(function, kind="call")
    assert steps and all(text_3_10 in e.text for e in steps)
    assert all(text_3_10 not in e.text for e in STORIES[story][0]("6.12"))

