"""Chapter-02 stories and the two servers: the numbers the notebook shows, and the drawings of them."""
import pytest

from netlab.scenarios.blocking_vs_epoll import (CLIENT_RTT_NS, Lab, ServerCosts, Workload, accept_wake_one,
                                                blocking_recv, compare_servers, epoll_exclusive, epoll_lifo,
                                                epoll_story, serve, sweep_connections, trigger_modes)
from netlab.kernel.eventpoll import per_fd_bytes
from netlab.kernel.profiles import PROFILES
from netlab.kernel.renamed import named
from netlab.kernel.sched import thread_memory
from netlab.kernel.source_index import linux_6_12
from netlab.scenarios.userspace import accept, recv
from netlab.units import number
from netlab.view.epoll import (ConnectionsSlider, _memory_per_further_connection, connections_text, draw_step,
                               lab_text, rbtree_svg, rbtree_text, timeline_svg, timeline_text, trigger_html,
                               trigger_text)
from netlab.view.stepper import Stepper


def test_a_blocking_recv_costs_two_context_switches():
    story = blocking_recv(data_at_ns=40_000, context_switch_ns=3_000)
    f = story.facts
    assert f["bytes"] == 100 and f["recv_switches"] == 2 and f["switch_cpu_ns"] == 6_000
    assert f["returned_at_ns"] == 40_000 + 3_000  # woken by the packet, back after one switch
    fns = story.trace.functions()
    chain = ["__sys_recvfrom", "tcp_recvmsg", "sk_wait_data", "add_wait_queue", "wait_woken", "schedule",
             "context_switch", "ip_rcv", "tcp_v4_rcv", "sock_def_readable", "woken_wake_function",
             "default_wake_function", "try_to_wake_up", "remove_wait_queue"]
    assert all(f in fns for f in chain) and [f for f in fns if f in chain] == chain
    tl = story.lab.timeline(f["start_ns"])
    assert [(s["prev"], s["next"], s["voluntary"]) for s in tl["switches"]] == [("server", "swapper/0", True),
                                                                               ("swapper/0", "server", False)]
    assert "costs 3 µs" in timeline_text(tl) and timeline_svg(tl).count('fill="#ff8787"') == 2
    assert [s["time"] for s in tl["switches"]] == [f["called_at_ns"], 40_000]     # the Stepper's clock, not shifted
    assert ">10 µs<" in timeline_svg(tl) and ">50 µs<" in timeline_svg(tl)       # round ticks


def test_the_three_trigger_modes_on_the_same_traffic():
    rows = trigger_modes(message=300, read_size=100, second_message=100)
    lt, et, one = rows["LT"], rows["ET"], rows["ONESHOT"]
    assert [r["events"] for r in lt[:4]] == [1, 1, 1, 0] and lt[2]["left"] == 0       # LT drains it
    assert [r["events"] for r in et[:3]] == [1, 0, 0] and et[1]["left"] == 200        # the ET trap
    assert sum(r["events"] for r in et) == 2                                          # once per arrival
    assert sum(r["events"] for r in one) == 1 and one[-1]["left"] == 300              # once, until MOD
    rearmed = trigger_modes(rearm_oneshot=True)["ONESHOT"]
    assert sum(r["events"] for r in rearmed) == sum(r["events"] for r in lt)
    assert "ONESHOT" in trigger_html(rows) and "ET: #1 1 ev" in trigger_text(rows)


def test_wake_one_for_accept_and_epollexclusive_and_lifo_for_epoll_wait():
    assert accept_wake_one(threads=3).facts["woken"] == 1
    assert epoll_exclusive(workers=3, exclusive=False).facts["woken"] == 3
    assert epoll_exclusive(workers=3, exclusive=True).facts["woken"] == 1
    # 3.10 has no EPOLLEXCLUSIVE (4.5+): it keeps the bit and ignores it, so all three still wake
    assert epoll_exclusive(workers=3, exclusive=True, profile="3.10").facts["woken"] == 3
    lifo = epoll_lifo(workers=3, events=5).facts
    assert lifo["handled_by"] == ["worker2"] * 5  # the last to sleep is woken first, every time


def test_threads_switch_once_per_request_epoll_almost_never():
    runs = compare_servers(Workload(connections=50, duration_ns=6_000_000, warmup_ns=1_000_000))
    t, e = runs["threads"], runs["epoll"]
    assert 0.9 <= t.switches_per_request <= 1.5
    assert e.switches_per_request < 0.1 * t.switches_per_request
    assert e.requests_per_s > t.requests_per_s  # the CPU the switches took serves requests instead
    assert t.threads == 50 and e.threads == 1 and t.stack_virtual == 50 * e.stack_virtual


def test_thread_costs_grow_with_connections_epoll_only_pays_when_idle():
    sweep = sweep_connections([10, 2000], Workload(interval_ns=10_000_000, duration_ns=7_000_000,
                                                   warmup_ns=2_000_000))
    (t10, t2k), (e10, e2k) = sweep["threads"], sweep["epoll"]
    # light load: both sleep after every request (2 switches each: to idle and back)
    assert t10.cpu_switches == e10.cpu_switches == 2 * t10.requests
    # heavy load: a thread still blocks after every request; the epoll loop always finds work and never sleeps
    assert t2k.cpu_switches > 10 * t10.cpu_switches and e2k.cpu_switches < t2k.cpu_switches / 10
    assert e2k.requests > t2k.requests
    assert t2k.stack_virtual == 2000 // 10 * t10.stack_virtual and e2k.stack_virtual == e10.stack_virtual
    slider = ConnectionsSlider(sweep)
    slider.slider.value = 1
    assert "2000 connections" in slider.drawing.value and "2000 connections" in slider.text()
    assert "requests / s" in connections_text(t10, e10)
    light = connections_text(t10, e10).splitlines()[1]          # the CPU's switches: 2 per request, as the text says
    assert light.split()[-1] == number(round(2 * t10.requests * 1e9 / t10.window_ns))
    assert _memory_per_further_connection(sweep["epoll"]) == per_fd_bytes(PROFILES["6.12"])     # the 216 B


def test_stepper_draws_the_epoll_state_and_the_tree():
    story = epoll_story(connections=7, ready=2)
    fds = story.facts["fds"]
    s = Stepper(story.trace, draw=draw_step, check_kernel=False)
    i = next(k for k, e in enumerate(story.trace) if e.function == "ep_poll_callback")
    s.go(i + 1)
    assert "rdllist" in s.drawing.value and f"fd {fds[2]}" in s.drawing.value   # connection 2 became ready
    state = story.trace[-1].state
    tree = state.epolls[f"fd {fds[-1] + 1}"].rbr
    assert rbtree_svg(tree).count("<circle") == 7 and rbtree_text(tree).count("(") == 7
    assert "rdllist" in lab_text(state)
    epfd = fds[-1] + 1
    assert f"epoll fd {epfd} · rdllist" in s.text(i) and "epoll epoll" not in s.text(i)    # named once


def test_bad_input_is_refused():
    with pytest.raises(ValueError, match="model must be one of"):
        serve("processes")
    with pytest.raises(ValueError, match="connections"):
        Workload(connections=0)
    with pytest.raises(ValueError, match="work_ns"):
        ServerCosts(work_ns=-1)
    with pytest.raises(ValueError, match="ready"):
        epoll_story(connections=2, ready=5)
    with pytest.raises(ValueError, match="connections"):
        sweep_connections([])


def test_the_books_kernel_waits_with_autoremove_wake_function():
    old, new = blocking_recv("3.10"), blocking_recv("6.12")
    diff = new.trace.compare(old.trace)
    assert {"prepare_to_wait", "autoremove_wake_function", "finish_wait"} <= set(diff.only_second)
    assert {"wait_woken", "woken_wake_function"} <= set(diff.only_first)
    assert old.facts["recv_switches"] == new.facts["recv_switches"] == 2


def test_fds_come_from_chapter_07s_table_and_its_limit():
    import errno as E
    lab = Lab(nofile=5)                     # fds 0-2 are stdin, stdout, stderr
    lfd, cfd = lab.listener(), lab.connection()
    assert (lfd, cfd) == (3, 4)
    with pytest.raises(OSError, match="RLIMIT_NOFILE") as no_fd:
        lab.connection()
    assert no_fd.value.errno == E.EMFILE
    got = {}

    def acceptor():
        try:
            yield from accept(lfd)
        except OSError as e:
            got["errno"] = e.errno

    lab.thread("acceptor", acceptor())
    lab.connect(lab.sched.clock + 10_000, lfd)      # each socket above was made by a task of the process
    lab.run()
    listener = lab.sock_of(lfd).sk
    assert got["errno"] == E.EMFILE and len(listener.icsk_accept_queue.rskq_accept) == 1  # it stays queued


@pytest.mark.parametrize("profile", ["3.10", "6.12"])
def test_connect_runs_chapter_05s_handshake_into_the_accept_queue(profile):
    lab = Lab(profile=profile)
    lfd = lab.listener()
    lab.connect(10_000, lfd)
    trace = lab.record()
    syn_side = ["ip_rcv", "tcp_v4_rcv", "tcp_v4_do_rcv", "tcp_rcv_state_process", "tcp_v4_conn_request",
                "tcp_conn_request", "inet_reqsk_alloc"]
    # 6.12 hashes the request into ehash before it sends the SYN-ACK; 3.10 sends first, then queues it
    queue_and_send = ["inet_csk_reqsk_queue_hash_add", "tcp_v4_send_synack"]
    ack_side = ["tcp_check_req", "tcp_v4_syn_recv_sock", "tcp_create_openreq_child", "inet_csk_complete_hashdance",
                "inet_csk_reqsk_queue_add", "tcp_child_process", "sock_def_readable"]
    chain = named(PROFILES[profile].renamed,
                  syn_side + (queue_and_send if profile == "6.12" else queue_and_send[::-1]) + ack_side)
    fns = [f for f in trace.functions() if f in chain]
    assert [f for f in dict.fromkeys(fns)] == chain
    sent = next(e for e in trace if e.function == "tcp_v4_send_synack" and e.kind == "call")
    acked = next(e for e in trace if e.function == "tcp_check_req")
    assert (sent.time_ns, acked.time_ns) == (10_000, 10_000 + CLIENT_RTT_NS)   # the ACK one round trip later
    listener = lab.sock_of(lfd).sk
    (req,) = listener.icsk_accept_queue.rskq_accept
    child, client = req.sk, lab.clients[(req.ir_rmt_addr, req.ir_rmt_port)]
    assert child.sk_state == "TCP_ESTABLISHED" and listener.icsk_accept_queue.qlen == 0
    assert trace[-1].state.sockets["listener"].accept_queue == 1
    (synack,) = lab.sent                                          # the SYN-ACK the server sent, with its ISNs
    assert synack.meta["flags"] == ("SYN", "ACK") and synack.meta["ack_seq"] == req.rcv_isn + 1
    assert child.snd_una == synack.meta["seq"] + 1 == client.rcv_nxt and child.rcv_nxt == client.snd_nxt
    assert lab.net.tcp_ehash[child.four_tuple()] is child        # data will find it through __inet_lookup_skb


@pytest.mark.parametrize("profile", ["3.10", "6.12"])
def test_an_accepted_connection_receives_data(profile):
    lab = Lab(profile=profile)
    lfd = lab.listener()
    got = {}

    def server():
        fd = yield from accept(lfd)
        got["accepted_at"], got["fd"] = lab.sched.clock, fd
        got["n"] = yield from recv(fd, 4096)

    lab.thread("server", server())
    lab.connect(10_000, lfd)
    lab.run(50_000)
    assert got["accepted_at"] == 10_000 + CLIENT_RTT_NS + lab.sched.context_switch_ns   # the ACK wakes it
    child = lab.sock_of(got["fd"]).sk
    client = lab.clients[(child.inet_daddr, child.inet_dport)]
    first_byte = client.snd_nxt
    lab.send_data(60_000, got["fd"], 100)
    trace = lab.record(until_ns=100_000)
    data = next(e for e in trace if e.function == "tcp_rcv_established")
    assert got["n"] == 100 and data.text.startswith(f"in-order segment for {child.name}")
    assert "tcp_ack" not in trace.functions()                    # the client acknowledges nothing new
    assert client.snd_nxt == first_byte + 100 == child.rcv_nxt       # tcp_queue_rcv: rcv_nxt past the data
    with pytest.raises(ValueError, match="not a listening socket"):
        lab.connect(200_000, got["fd"])


def test_the_chapters_exercises_have_the_answers_their_explanations_give():
    assert blocking_recv(data_at_ns=50_000).facts["recv_switches"] == 2
    rows = trigger_modes(message=300, read_size=100, second_message=100, second_at_ns=600_000)["ET"]
    assert sum(r["events"] for r in rows[1:] if r["time_us"] < 600) == 0       # EPOLLET: no reminder
    assert accept_wake_one(threads=5).facts["woken"] == 1
    assert len(set(epoll_lifo(workers=4, events=8).facts["handled_by"])) == 1
    idle = sweep_connections([10], Workload(interval_ns=10_000_000, duration_ns=7_000_000,
                                            warmup_ns=2_000_000))["epoll"][0]
    assert idle.cpu_switches == 2 * idle.requests                               # epoll sleeps after every request
    ratio = thread_memory(PROFILES["6.12"]).kernel / per_fd_bytes(PROFILES["6.12"])
    assert 50 < ratio < 200                                                     # "about 100 times as much"


def test_the_chapters_claims():
    """What notebook 02 says about its scenarios, with the notebook's parameters."""
    recv_story = blocking_recv("6.12", data_at_ns=40_000)
    assert set(recv_story.trace.functions()) <= set(linux_6_12())   # every function exists in Linux 6.12
    assert recv_story.facts["bytes"] == 100 and recv_story.facts["recv_switches"] == 2
    ep = epoll_story(connections=7, ready=2)
    state = ep.trace[-1].state
    assert ep.facts["events"] == [(ep.facts["ready_fd"], 1)]                    # one event: EPOLLIN on that fd
    assert all(state.sockets[f"conn{i}"].waiters[0].startswith("ep_poll_callback") for i in range(7))
    assert set(ep.trace.functions()) <= set(linux_6_12())
    assert set(epoll_lifo(workers=3, events=6).facts["handled_by"]) == {"worker2"}
    # section 5, busy: threads spend nearly a third of the CPU switching, the epoll loop never sleeps
    closed = compare_servers(Workload(connections=200, duration_ns=12_000_000, warmup_ns=2_000_000))
    t, e = closed["threads"], closed["epoll"]
    assert 0.25 < t.switch_share_of_busy < 1 / 3 and t.switch_share_of_cpu == pytest.approx(t.switch_share_of_busy, rel=0.01)
    assert e.nvcsw + e.nivcsw == 0 and e.requests > t.requests
    # the slider: at 10 connections nearly half of the busy time is switching, well under 1 % of the CPU
    counts = [10, 100, 500, 2000]
    sweep = sweep_connections(counts, Workload(interval_ns=10_000_000, duration_ns=7_000_000, warmup_ns=2_000_000))
    (t_small, *_, t_big), (e_small, *_, e_big) = sweep["threads"], sweep["epoll"]
    for run in (t_small, e_small):
        assert 0.4 < run.switch_share_of_busy < 0.5 and run.switch_share_of_cpu < 0.01
    assert t_small.cpu_switches == e_small.cpu_switches                          # idle: both sleep every request
    assert t_big.cpu_switches > 10 * t_small.cpu_switches and e_big.cpu_switches < t_big.cpu_switches / 10
    assert e_big.requests > t_big.requests
    assert t_big.stack_virtual / t_small.stack_virtual == counts[-1] / counts[0] and e_big.threads == 1
    slider = ConnectionsSlider(sweep)
    assert "switching, of the busy time" in slider.text() and "switching, of all CPU time" in slider.text()


def test_the_sweep_plot_titles_its_memory_from_the_runs():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from netlab.units import size
    from netlab.view.epoll import plot_connections_sweep
    sweep = sweep_connections([10, 100], Workload(interval_ns=10_000_000, duration_ns=3_000_000, warmup_ns=1_000_000))
    fig, (a, b) = plt.subplots(1, 2)
    plot_connections_sweep(a, b, sweep)
    per_thread = (sweep["threads"][-1].stack_resident + sweep["threads"][-1].kernel_bytes) / 100
    assert size(per_thread) in b.get_title() and "KiB" in b.get_title()
    fig.canvas.draw()                                 # the tick labels exist once drawn
    ticks = [t.get_text() for t in a.get_yticklabels()]
    assert ticks and all(t and "e" not in t for t in ticks)
    plt.close(fig)
