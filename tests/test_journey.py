"""The whole journey over two hosts: connect, send, accept, recv — one deterministic trace through both kernels."""
import pytest

from netlab import Stepper
from netlab.kernel.profiles import PROFILES
from netlab.kernel.source_index import kernel_index
from netlab.kernel.tcp_output import MsgHdr
from netlab.kernel.zerocopy import __sys_sendto as sys_sendto
from netlab.scenarios.journey import Journey, journey
from netlab.scenarios.loopback import local_path
from netlab.trace import Tracer

MILESTONES = [
    "__sys_listen",                                                                        # server: listen()
    "__inet_stream_connect", "tcp_connect", "__ip_queue_xmit", "__dev_queue_xmit", "igb_xmit_frame",  # SYN out
    "igb_msix_ring", "net_rx_action", "igb_poll", "ip_list_rcv", "tcp_v4_rcv", "tcp_conn_request",
    "tcp_v4_send_synack", "ip_build_and_send_pkt", "igb_xmit_frame",                       # SYN-ACK out
    "igb_msix_ring", "tcp_v4_rcv", "tcp_rcv_synsent_state_process", "tcp_finish_connect", "tcp_send_ack",
    "__sys_sendto", "tcp_sendmsg", "tcp_write_xmit", "__tcp_transmit_skb", "igb_xmit_frame",  # the request out
    "tcp_v4_rcv", "tcp_check_req", "inet_csk_reqsk_queue_add", "tcp_child_process",        # accept queue
    "inet_csk_accept",                                                                     # server: accept()
    "tcp_v4_rcv", "tcp_rcv_established", "tcp_queue_rcv", "tcp_data_ready",                # the request in
    "tcp_recvmsg", "tcp_recvmsg_locked",                                                   # server: recv()
]


def calls(trace):
    return [e.function for e in trace if e.kind == "call"]


def test_the_request_goes_from_the_client_process_to_the_server_process_through_both_kernels():
    j = Journey(100)
    trace = j.run()
    assert j.sk.sk_state == j.accepted.sk_state == "TCP_ESTABLISHED"
    assert j.received > 0 and not j.accepted.sk_receive_queue
    names = iter(calls(trace))
    assert all(any(n == m for n in names) for m in MILESTONES)
    assert j.link.frames == 4                 # SYN, SYN-ACK, ACK, the request
    assert j.client.nic.q_vectors[0].tx_packets == 3 and j.server.nic.q_vectors[0].tx_packets == 1


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
    j = Journey()
    j.run()
    j.client.run_process(0, lambda: sys_sendto(j.sk, MsgHdr(3 * 1448)), at_ns=j.sched.clock)
    with Tracer(clock=j.sched.now) as tracer:
        j.sched.run(until_ns=j.sched.clock + 1_000_000)
    queued = list(j.accepted.sk_receive_queue)
    assert [skb.len for skb in queued] == [20 + 32 + 1448] * 3                 # IP + TCP (with timestamps) + MSS
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
