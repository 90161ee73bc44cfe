"""The numbers chapter 02 (notebooks/02-blocking-vs-epoll.ipynb) states in its prose and in its exercises' texts,
read from the notebook and held to the model (tests/test_blocking_vs_epoll.py checks the scenarios themselves)."""
import inspect

import pytest

from netlab.kernel.eventpoll import per_fd_bytes
from netlab.kernel.profiles import LINUX_3_10, LINUX_6_12
from netlab.kernel.sched import CONTEXT_SWITCH_NS, PTHREAD_STACK_SIZE, thread_memory
from netlab.scenarios.blocking_vs_epoll import (CLIENT_RTT_NS, ServerCosts, Workload, blocking_recv, compare_servers,
                                                sweep_connections, trigger_modes)
from netlab.units import size
from notebook_prose import integer, prose, says, stated, strings

TEXT = prose("02-blocking-vs-epoll.ipynb")
EXERCISES = strings("02-blocking-vs-epoll.ipynb")
US = 1_000
KIB = 1024


def test_a_blocking_recv_called_at_11_us_gets_100_bytes_29_us_later_after_two_switches():
    called, nbytes, later = stated(r"At t ≈ (\d+) µs it calls `recv\(\)`; the receive queue is empty\. A (\d+)-byte "
                                   r"segment arrives (\d+) µs later", TEXT)
    for profile in ("6.12", "3.10"):
        facts = blocking_recv(profile, data_at_ns=40_000).facts            # the notebook's scenario
        assert facts["called_at_ns"] == int(called) * US and facts["bytes"] == int(nbytes)
        assert 40_000 - facts["called_at_ns"] == int(later) * US
        assert facts["recv_switches"] == 2
    for sentence in ("The cost is the same: two switches.",
                     "Per wait, **two context switches** — one when the thread sleeps, one when it is switched back"):
        says(sentence, TEXT)
    (copies,) = stated(r"`tcp_recvmsg_locked` copies the (\d+) bytes", TEXT)
    assert int(copies) == int(nbytes)


def test_a_switch_costs_the_models_flat_3_us():
    (default,) = stated(r"each red block is one switch at the model's default (\d+) µs", TEXT)
    (flat,) = stated(r"The model prices every switch at a flat (\d+) µs", TEXT)
    (costs,) = stated(r"a context switch costs (\d+) µs\. First", TEXT)
    assert CONTEXT_SWITCH_NS == int(default) * US == int(flat) * US == int(costs) * US


def test_the_trigger_modes_traffic_and_what_et_leaves_unreported():
    second, timeout, waits = stated(r"another 100 bytes at t = (\d+) µs\. The program calls `epoll_wait` \((\d+) µs "
                                    r"timeout\) (\w+) times", TEXT)
    defaults = inspect.signature(trigger_modes).parameters
    assert defaults["second_at_ns"].default == int(second) * US and defaults["timeout_ns"].default == int(timeout) * US
    assert defaults["waits"].default == integer(waits)
    modes = trigger_modes(message=300, read_size=100, second_message=100)
    (twice,) = stated(r"Level-triggered mode would have reported it (\w+) more", EXERCISES)
    assert sum(r["events"] for r in modes["LT"][1:] if r["time_us"] < int(second)) == {"once": 1, "twice": 2}[twice]
    (left,) = stated(r"The (\d+) bytes stay in the buffer: ep_deliver_event", EXERCISES)
    (sit,) = stated(r"With `EPOLLET`, (\d+) bytes sit in the receive queue", TEXT)
    assert [r["left"] for r in modes["ET"] if r["time_us"] < int(second)] == [int(left)] * 3 and sit == left


def test_the_client_round_trip_is_20_us():
    (accept_rtt,) = stated(r"one round trip \(`CLIENT_RTT_NS`, (\d+) µs\)", TEXT)
    (closed_rtt,) = stated(r"each sends its next request as soon as the answer arrives, (\d+) µs round trip", TEXT)
    assert CLIENT_RTT_NS == Workload().rtt_ns == int(accept_rtt) * US == int(closed_rtt) * US


def test_the_servers_costs_per_request():
    work, send, syscall = stated(r"`ServerCosts`: ([\d.]+) µs of work, ([\d.]+) µs to send, ([\d.]+) µs per syscall",
                                 TEXT)
    costs = ServerCosts()
    stated_ns = tuple(round(float(x) * US) for x in (work, send, syscall))
    assert (costs.work_ns, costs.send_ns, costs.syscall_ns) == stated_ns


def test_busy_threads_switch_once_per_request_and_spend_nearly_a_third_of_the_cpu_switching_epoll_never():
    says("so the CPU spends nearly a third of its time switching", TEXT)
    (clients,) = stated(r"First (\d+) clients in a closed loop", TEXT)
    closed = compare_servers(Workload(connections=int(clients), duration_ns=12_000_000, warmup_ns=2_000_000))
    t, e = closed["threads"], closed["epoll"]
    says("The same clients, two servers on one CPU", TEXT)
    assert t.cpus == e.cpus == 1
    assert 0.25 < t.switch_share_of_cpu < 1 / 3
    threads, epoll = stated(r"section 5: (\d+) per request for threads vs ~(\d+) for epoll", TEXT)
    assert round(t.switches_per_request) == int(threads) and round(e.switches_per_request) == int(epoll)


def test_ten_idle_connections_switch_twice_per_request_nearly_half_the_busy_time_under_1_percent_of_the_cpu():
    connections, every = stated(r"(\d+) connections, each sending one request every (\d+) ms, served by one epoll "
                                r"loop", EXERCISES)
    (apart,) = stated(r"Between two requests (\d+) ms apart", EXERCISES)
    assert int(every) / int(connections) == int(apart)
    (at,) = stated(r"At (\d+) connections the CPU idles almost all the time: nearly half of its little work is "
                   r"switching, yet that is well under 1 % of the CPU", TEXT)
    says("**two switches per request either way**", TEXT)
    assert at == connections
    sweep = sweep_connections([int(at)], Workload(interval_ns=int(every) * 1_000_000, duration_ns=7_000_000,
                                                  warmup_ns=2_000_000))
    for run in (sweep["threads"][0], sweep["epoll"][0]):
        assert run.cpu_switches == 2 * run.requests
        assert 0.4 < run.switch_share_of_busy < 0.5 and run.switch_share_of_cpu < 0.01


def test_a_thread_reserves_8_mib_keeps_16_kib_of_kernel_stack_and_about_16_kib_resident():
    (reserves,) = stated(r"every thread reserves an (\d+ MiB) stack and keeps a (?:\d+ KiB) kernel stack", TEXT)
    (kernel,) = stated(r"every thread reserves an (?:\d+ MiB) stack and keeps a (\d+ KiB) kernel stack", TEXT)
    (grows,) = stated(r"`VmSize` grows by the (\d+ MiB) stack \(the soft `ulimit -s`\)", TEXT)
    (reservation,) = stated(r"an (\d+ MiB) stack reservation", TEXT)
    assert size(PTHREAD_STACK_SIZE) == reserves == grows == reservation
    (since,) = stated(r"\(`THREAD_SIZE`, (\d+ KiB) on x86-64 since 3\.15 and in the book's CentOS 7", TEXT)
    (exercise,) = stated(r"per thread \(a (\d+ KiB) kernel stack, the task_struct and its FPU state\)", EXERCISES)
    assert size(LINUX_3_10.thread_size) == size(LINUX_6_12.thread_size) == kernel == since == exercise
    (resident,) = stated(r"only touched pages are resident: ~(\d+ KiB) in the model", TEXT)
    assert size(thread_memory().resident) == resident
    says("the resident cost is tens of KiB", TEXT)
    for profile in (LINUX_3_10, LINUX_6_12):
        m = thread_memory(profile)
        assert 10 * KIB <= m.resident + m.kernel < 100 * KIB


def test_epoll_adds_about_200_bytes_per_watched_socket():
    epi, pwq, head = stated(r"\(eventpoll_epi (\d+) B \+ eventpoll_pwq (\d+) B \+ the file's epitems_head (\d+) B\)",
                            EXERCISES)
    slab = LINUX_6_12.slab
    assert [slab[c].object_size for c in ("eventpoll_epi", "eventpoll_pwq", "ep_head")] == \
        [int(epi), int(pwq), int(head)]
    assert per_fd_bytes(LINUX_6_12) == int(epi) + int(pwq) + int(head)
    (about,) = stated(r"epoll adds about (\d+) bytes of kernel memory per socket", TEXT)
    (watched,) = stated(r"~(\d+) bytes of kernel memory per watched socket", TEXT)
    for profile in (LINUX_3_10, LINUX_6_12):
        assert per_fd_bytes(profile) == pytest.approx(int(about), rel=0.1) and about == watched
