"""The whole journey: connect, send, an epoll server's accept, recv and reply, both closes and TIME_WAIT — over two
hosts and over loopback."""
import pytest

from netlab import Stepper
from netlab.kernel.profiles import PROFILES
from netlab.kernel.renamed import named
from netlab.kernel.fs import EPOLLIN, EPOLLRDHUP
from netlab.kernel.source_index import kernel_index
from netlab.kernel.tcp_output import MsgHdr
from netlab.kernel.zerocopy import __sys_sendto as sys_sendto
from netlab.scenarios.journey import CHAPTERS, Journey, chapter_of, compare, journey
from netlab.scenarios.loopback import local_path
from netlab.trace import Tracer

MILESTONES = [
    "__sys_listen",                                                                        # server: listen()
    "__inet_stream_connect", "tcp_connect", "__ip_queue_xmit", "__dev_queue_xmit", "igb_xmit_frame",  # SYN out
    "igb_msix_ring", "net_rx_action", "igb_poll", "ip_list_rcv", "tcp_v4_rcv", "tcp_conn_request",
    "tcp_v4_send_synack", "ip_build_and_send_pkt", "igb_xmit_frame",                       # SYN-ACK out
    "igb_msix_ring", "tcp_v4_rcv", "tcp_rcv_synsent_state_process", "tcp_finish_connect", "tcp_send_ack",
    "tcp_v4_rcv", "tcp_check_req", "inet_csk_reqsk_queue_add", "tcp_child_process",        # accept queue
    "inet_csk_accept",                                                                     # server: accept()
    "__sys_sendto", "tcp_sendmsg", "tcp_write_xmit", "__tcp_transmit_skb", "igb_xmit_frame",  # the request out
    "tcp_v4_rcv", "tcp_rcv_established", "tcp_queue_rcv", "tcp_data_ready",                # the request in
    "tcp_recvmsg", "tcp_recvmsg_locked",                                                   # server: recv()
    "__sock_release", "tcp_close", "tcp_send_fin", "__tcp_transmit_skb", "igb_xmit_frame",  # client: close()
    "tcp_v4_rcv", "tcp_rcv_established", "tcp_data_queue", "tcp_fin", "sock_def_wakeup",    # the FIN in
    "ep_poll_callback", "tcp_recvmsg", "close_fd", "tcp_close", "tcp_send_fin",            # recv() = 0, close()
    "tcp_rcv_state_process", "tcp_fin", "tcp_send_ack", "tcp_time_wait",                    # the client's end
    "inet_twsk_hashdance_schedule", "tcp_rcv_state_process", "tcp_done",                   # the server's end
    "tw_timer_handler", "inet_twsk_kill",                                                   # 60 s later
]


def calls(trace):
    return [e.function for e in trace if e.kind == "call"]


def test_the_request_goes_from_the_client_process_to_the_server_process_through_both_kernels():
    j = Journey(100)
    trace = j.run()
    assert j.sk.sk_state == j.accepted.sk_state == "TCP_CLOSE"
    assert j.received == 100 and not j.accepted.sk_receive_queue
    names = iter(calls(trace))
    assert all(any(n == m for n in names) for m in MILESTONES)
    assert j.client.nic.q_vectors[0].tx_packets == 5 and j.server.nic.q_vectors[0].tx_packets == 3


@pytest.mark.parametrize("profile", ["3.10", "6.12"])
@pytest.mark.parametrize("request_bytes", [1, 100, 1400])
def test_the_server_recv_returns_exactly_the_request(profile, request_bytes):
    """The NIC's skb holds Ethernet, IP and TCP headers; eth_type_trans, ip_local_deliver_finish and
    tcp_rcv_established pull them, so the receive queue and recv() see only the request's bytes."""
    j = Journey(request_bytes, profile)
    j.run()
    assert j.received == request_bytes


@pytest.mark.parametrize("profile", ["3.10", "6.12"])
def test_the_journey_is_deterministic(profile):
    first, second = journey(profile=profile), journey(profile=profile)
    assert len(first) > 100
    assert [(e.time_ns, e.cpu, e.context, e.function, e.text) for e in first] == \
           [(e.time_ns, e.cpu, e.context, e.function, e.text) for e in second]


def test_every_function_of_the_journey_is_in_the_kernel_source_index():
    index = kernel_index("6.12")["functions"]
    missing = {e.function for e in journey() if e.kind == "call" and e.function not in index}
    assert not missing


def test_the_request_is_three_one_way_trips_after_connect():
    """SYN, SYN-ACK, then the third ACK and the request, right behind it on the same wire."""
    arrival = {}
    for delay_us in (5.0, 50.0):
        trace = journey(delay_us=delay_us)
        arrival[delay_us] = [e.time_ns for e in trace if e.function == "tcp_queue_rcv"][0]
    assert arrival[50.0] - arrival[5.0] == 3 * 45_000


def test_journey_refuses_what_it_cannot_do():
    with pytest.raises(ValueError):
        journey(0)
    with pytest.raises(ValueError):
        journey(100_000)
    with pytest.raises(ValueError):
        journey(profile="5.4")
    j = Journey()
    j.run()
    with pytest.raises(ValueError, match="run already"):
        j.run()


def test_a_tso_skb_arrives_as_mss_sized_frames_one_serialisation_time_apart():
    j = Journey(close=False)
    j.run()
    assert j.sk.sk_state == j.accepted.sk_state == "TCP_ESTABLISHED"
    j.client.run_process(0, lambda: sys_sendto(j.sk, MsgHdr(3 * 1448)), at_ns=j.sched.clock)
    with Tracer(clock=j.sched.now) as tracer:
        j.sched.run(until_ns=j.sched.clock + 1_000_000)
    queued = list(j.accepted.sk_receive_queue)
    assert [skb.len for skb in queued] == [1448] * 3          # the MSS: IP and TCP (with timestamps) headers pulled
    assert [b.meta["seq"] - a.meta["seq"] for a, b in zip(queued, queued[1:])] == [1448, 1448]
    arrivals = [e.time_ns for e in tracer.trace if e.kind == "printk" and "arrives at" in e.text]
    frame_ns = int((14 + 1500 + 24) * j.client.nic.ns_per_byte)
    assert [b - a for a, b in zip(arrivals, arrivals[1:])] == [frame_ns, frame_ns]


def test_every_event_says_which_host_it_ran_on_and_the_stepper_shows_it():
    trace = journey()
    assert {e.host for e in trace} == {"client", "server"}
    assert {e.host for e in trace if e.function == "__inet_stream_connect"} == {"client"}
    assert {e.host for e in trace if e.function == "tcp_conn_request"} == {"server"}
    first = next(i for i, e in enumerate(trace) if e.host == "server")
    assert " · server · CPU 0 · " in Stepper(trace).text(first)


def test_a_one_host_trace_names_no_host():
    assert {e.host for e in local_path(PROFILES["6.12"])} == {""}


EPOLL_MILESTONES = [
    "do_epoll_create", "do_epoll_ctl", "ep_insert", "do_epoll_wait", "schedule",            # the server sleeps
    "__inet_stream_connect",                                                                # the client connects
    "tcp_child_process", "sock_def_readable", "ep_poll_callback", "try_to_wake_up",         # the connection wakes it
    "context_switch", "ep_send_events", "__sys_accept4", "inet_csk_accept", "ep_insert",    # accept, watch it
    "do_epoll_wait", "schedule",                                                            # sleep again
    "__sys_sendto", "tcp_queue_rcv", "sock_def_readable", "ep_poll_callback", "try_to_wake_up",  # the request
    "context_switch", "ep_send_events", "__sys_recvfrom", "tcp_recvmsg",                    # read it
    "__sys_sendto", "tcp_sendmsg",                                                          # the response out
    "tcp_rcv_established", "tcp_queue_rcv", "sock_def_readable", "try_to_wake_up",         # the response wakes
    "context_switch",                                                                       # its recv() returns
    "tcp_close", "tcp_send_fin", "tcp_fin", "sock_def_wakeup", "ep_poll_callback",         # the FIN wakes
    "try_to_wake_up", "context_switch", "ep_send_events", "tcp_poll", "__sys_recvfrom",     # the server: EOF
    "tcp_recvmsg", "close_fd", "tcp_close",                                                 # and it closes
]


@pytest.mark.parametrize("over", ["link", "loopback"])
def test_the_server_sleeps_in_epoll_wait_is_woken_by_ep_poll_callback_and_replies(over):
    j = Journey(100, response=300, over=over)
    trace = j.run()
    names = iter(calls(trace))
    assert all(any(n == m for n in names) for m in EPOLL_MILESTONES)
    assert j.ready[0] == [j.listen_fd] and len(j.ready) == 3 and j.ready[1] == j.ready[2] != [j.listen_fd]
    assert j.revents[2] == [EPOLLIN | EPOLLRDHUP] and j.eof == 0   # the FIN: readable, peer shut down, recv() = 0
    woken = [e.text.split()[1].rstrip(":") for e in trace.filter("try_to_wake_up")]
    assert woken.count("server") == 3 and woken.count("client") == (2 if over == "link" else 1)  # connect, recv
    assert {e.context for e in trace if e.function == "ep_poll_callback"} == {"softirq"}
    assert {e.task for e in trace if e.function.startswith(("do_epoll", "__sys_accept4"))} == {"server"}
    assert {e.task for e in trace if e.function in ("__sys_recvfrom", "__inet_stream_connect", "__sys_sendto")} \
        == {"server", "client"}
    assert j.answered > 0 and not j.sk.sk_receive_queue and not j.accepted.sk_receive_queue
    assert j.sched.tasks[0].state == "TASK_INTERRUPTIBLE" and j.sched.tasks[0].wakeups == 3  # back in epoll_wait
    assert j.epoll.wq.entries and list(j.epoll.items()) and not j.epoll.rdllist  # waiting for the next client


@pytest.mark.parametrize("profile", ["3.10", "6.12"])
def test_the_servers_close_takes_the_connection_out_of_its_epoll(profile):
    """__fput → eventpoll_release: the closed connection's epitem leaves the epoll (rbr, rdllist) before the socket
    is released, so epoll_wait never reports a closed fd; the listener stays watched."""
    j = Journey(100, profile)
    trace = j.run()
    server = [e for e in trace if e.kind == "call" and e.task == "server"]
    (i,) = [k for k, e in enumerate(server) if e.function == "eventpoll_release_file"]
    assert server[i - 1].function == "__fput" and server[i - 1].depth == server[i].depth - 1
    release = next(e for e in server[i + 1:] if e.depth == server[i].depth)
    assert release.function == named(PROFILES[profile].renamed, ["sock_close"])[0]
    assert len(server[i - 2].state.epoll.armed) == 2
    after = trace[-1].state.epoll
    assert list(after.armed) == [f"fd {j.listen_fd}"] and not after.rdllist


def test_each_program_is_a_task_on_its_own_hosts_run_queue():
    """The client's calls run as the client task on the client host's CPU 0, which runs its idle task while the
    client sleeps in connect() and recv(); the server host's CPU 0 never runs the client."""
    j = Journey()
    trace = j.run()
    server, client = j.sched.tasks
    assert (server.rq.host, client.rq.host) == ("server", "client") and client.state == "TASK_DEAD"
    ran = {(s.host, s.cpu): {s.prev, s.next} for s in j.sched.switches}
    assert ran[("client", 0)] == {"swapper/0", "client"} and ran[("server", 0)] == {"swapper/0", "server"}
    assert client.nvcsw == 3                                       # slept in connect(), in recv(), exited
    sleeps = [e.host for e in trace.filter("context_switch") if "client → swapper/0" in e.text]
    assert sleeps == ["client"] * 3
    assert {(e.host, e.cpu) for e in trace if e.task == "client"} == {("client", 0)}


def test_over_the_link_the_server_runs_on_the_server_host():
    j = Journey()
    trace = j.run()
    assert {e.host for e in trace if e.task == "server" or e.function == "ep_poll_callback"} == {"server"}
    assert {e.host for e in trace if e.task == "client"} == {"client"}
    assert j.link.frames == 8                 # SYN, SYN-ACK, ACK, the request, the response, FIN, FIN-ACK, ACK


def test_over_loopback_the_journey_skips_the_nic_the_ring_and_the_hard_irq():
    j = Journey(over="loopback")
    trace = j.run()
    functions = set(calls(trace))
    assert {"loopback_xmit", "__netif_rx", "enqueue_to_backlog", "process_backlog", "ep_poll_callback",
            "do_epoll_wait", "inet_csk_accept", "tcp_recvmsg"} <= functions
    assert not any(f.startswith("igb_") for f in functions)
    assert {e.context for e in trace} == {"process", "softirq"} and {e.host for e in trace} == {"localhost"}
    assert j.received > 0 and j.answered > 0 and j.eof == 0 and j.sk.sk_state == j.accepted.sk_state == "TCP_CLOSE"
    index = kernel_index("6.12")["functions"]
    assert not functions - set(index)


def test_the_summary_names_each_host_context_and_layer_in_prose():
    j = Journey()
    with pytest.raises(ValueError, match="run the journey first"):
        j.summary()
    trace = j.run()
    text = j.summary()
    for where in ("server, process context", "client, process context", "client, hardirq context",
                  "server, softirq context"):
        assert where in text
    assert "epoll: 7 calls — ep_poll_callback, ep_autoremove_wake_function" in text and "driver:" in text
    assert "{" not in text and "[" not in text and "other" not in text
    first, *lines = text.splitlines()
    calls = len(trace.filter(kind="call"))
    assert first.startswith(f"{len(trace):,} steps: {calls:,} calls of kernel functions and "
                            f"{len(trace) - calls:,} notes (trace_printk lines")
    assert sum(int(line.split(": ")[1].split(" ")[0].replace(",", "")) for line in lines
               if not line.startswith(" ")) == calls


def test_the_comparison_counts_the_calls_of_both_ways():
    link, loopback = journey(), journey(over="loopback")
    sentence = compare(link, loopback)
    assert f"{len(link.filter(kind='call')):,} kernel function calls on two hosts" in sentence
    assert f"over loopback {len(loopback.filter(kind='call')):,} on one" in sentence
    assert len(loopback.filter(kind="call")) < len(link.filter(kind="call"))


def test_journey_refuses_an_unknown_way():
    with pytest.raises(ValueError):
        journey(over="wifi")
    with pytest.raises(ValueError):
        journey(response=0)


@pytest.mark.parametrize("over", ["link", "loopback"])
def test_every_event_of_the_journey_gets_the_chapter_that_explains_it(over):
    trace = journey(over=over)
    chapters = [chapter_of(e) for e in trace]
    assert all(chapters), {(e.source, e.function) for e, c in zip(trace, chapters) if not c}
    named = {f"chapter {number} · {name}" for number, name, _ in CHAPTERS}
    assert set(chapters) <= named
    said = {e.function: c for e, c in zip(trace, chapters)}
    assert said["tcp_v4_rcv"] == said["net_rx_action"] == "chapter 01 · receive"
    assert said["ep_poll_callback"] == said["try_to_wake_up"] == "chapter 02 · blocking vs epoll"
    assert said["tcp_sendmsg"] == said["ip_output"] == "chapter 03 · send"
    assert said["tcp_conn_request" if over == "link" else "__sys_accept4"] == "chapter 05 · handshake"
    assert said["alloc_fd"] == "chapter 07 · connection limits"
    assert (said.get("loopback_xmit"), said.get("igb_xmit_frame")) == (
        ("chapter 04 · loopback", None) if over == "loopback" else (None, "chapter 03 · send"))


def test_the_journey_stepper_says_which_chapter_each_step_belongs_to():
    trace = journey()
    step = next(i for i, e in enumerate(trace) if e.function == "tcp_conn_request")
    assert Stepper(trace, label=chapter_of, check_kernel=False).text(step).splitlines()[0].endswith(
        " µs · chapter 05 · handshake")


def test_chapter_of_refuses_what_is_not_an_event():
    with pytest.raises(TypeError):
        chapter_of("tcp_v4_rcv")


# --- the close and TIME_WAIT ------------------------------------------------------------------------------------

def states(trace, name):
    """The states ``name``'s socket passed, from the tcp_set_state steps (``name: OLD → NEW``)."""
    changes = [e.text.split(": ", 1)[1].split(" → ") for e in trace.filter("tcp_set_state")
               if e.text.startswith(f"{name}: ")]
    return [changes[0][0]] + [new for _, new in changes] if changes else []


def wire(trace, src):
    """The flags of the segments ``src`` sent after its data, from the frames' arrival lines (link only)."""
    return [e.text.split(" (")[0] for e in trace if e.kind == "printk" and "arrives at" in e.text
            and e.text.endswith(f"from {src}")]


@pytest.mark.parametrize("profile", ["3.10", "6.12"])
@pytest.mark.parametrize("over", ["link", "loopback"])
def test_the_client_closes_first_and_waits_in_time_wait_the_server_closes_after_recv_returns_0(over, profile):
    j = Journey(over=over, profile=profile)
    trace = j.run()
    changes = [e.text.split(": ", 1)[1] for e in trace.filter("tcp_set_state")]
    assert changes == ["TCP_ESTABLISHED → TCP_FIN_WAIT1",          # client: close()
                       "TCP_ESTABLISHED → TCP_CLOSE_WAIT",         # server: the FIN
                       "TCP_CLOSE_WAIT → TCP_LAST_ACK",            # server: close()
                       "TCP_FIN_WAIT1 → TCP_FIN_WAIT2",            # client: FIN-ACK, then the tcp_sock goes …
                       "TCP_FIN_WAIT2 → TCP_CLOSE",                # … for a TIME_WAIT sock
                       "TCP_LAST_ACK → TCP_CLOSE"]                 # server: the last ACK
    assert trace.filter("tcp_time_wait")[0].text.endswith("(substate TCP_TIME_WAIT)")
    if over == "link":                       # on loopback both ends are called "client" (the endpoint's label)
        assert states(trace, j.sk.name) == ["TCP_ESTABLISHED", "TCP_FIN_WAIT1", "TCP_FIN_WAIT2", "TCP_CLOSE"]
        assert states(trace, j.accepted.name) == ["TCP_ESTABLISHED", "TCP_CLOSE_WAIT", "TCP_LAST_ACK", "TCP_CLOSE"]
    assert j.eof == 0 and j.revents[-1] == [EPOLLIN | EPOLLRDHUP]
    born, gone = trace.filter("tcp_time_wait")[0].time_ns, trace.filter(named(PROFILES[profile].renamed, ["inet_twsk_kill"]))[0].time_ns
    assert abs(gone - born - 60 * 10 ** 9) < 10_000 and trace[-1].time_ns < 61 * 10 ** 9   # (CPU vs engine clock)
    assert not any(type(s).__name__ == "InetTimewaitSock" for s in j.client.net.tcp_ehash.values())
    assert j.client.net.tcp_bhash.get(j.sk.inet_num) is None          # the client's port is free again


def test_the_close_is_three_segments_when_the_server_closes_within_the_delayed_ack():
    """The FIN's ACK waits (ping-pong mode, 40 ms); the server's close() comes first, so its FIN carries it."""
    j = Journey()
    trace = j.run()
    assert wire(trace, "10.0.0.1")[-2:] == ["client FIN", "ACK"]
    assert wire(trace, "10.0.0.2")[-1].endswith("FIN")
    fins = [e for e in trace.filter("__tcp_transmit_skb") if "FIN" in e.text]
    assert len(fins) == 2 and not trace.filter("tcp_delack_timer_handler")
    assert trace.filter("tcp_event_ack_sent")          # the server's FIN took the due ACK along


@pytest.mark.parametrize("profile", ["3.10", "6.12"])
def test_a_server_slower_than_the_delayed_ack_makes_it_four_segments_and_its_fin_finds_a_time_wait_sock(profile):
    j = Journey(profile=profile, server_close_ns=100_000_000)
    trace = j.run()
    assert [w.split()[-1] for w in wire(trace, "10.0.0.1")[-2:]] == ["FIN", "ACK"]
    assert [w.split()[-1] for w in wire(trace, "10.0.0.2")[-2:]] == ["ACK", "FIN"]
    ack = trace.filter("tcp_delack_timer_handler")[0].time_ns - trace.filter("tcp_fin")[0].time_ns
    assert abs(ack - 40_000_000) < 10_000                     # TCP_DELACK_MIN (CPU vs engine clock)
    assert trace.filter("tcp_time_wait")[0].text.endswith("(substate TCP_FIN_WAIT2)")
    assert "substate TCP_FIN_WAIT2" in trace.filter("tcp_timewait_state_process")[0].text
    assert trace.filter("tcp_v4_timewait_ack")
    assert states(trace, j.accepted.name) == ["TCP_ESTABLISHED", "TCP_CLOSE_WAIT", "TCP_LAST_ACK", "TCP_CLOSE"]
    fin = trace.filter("tcp_timewait_state_process")[0].time_ns
    assert abs(trace.filter(named(PROFILES[profile].renamed, ["inet_twsk_kill"]))[0].time_ns - fin - 60 * 10 ** 9) < 10_000   # the FIN restarted 60 s
