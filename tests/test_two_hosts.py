"""Two hosts on one engine, cabled by a Link: a datagram and a TCP handshake go through both hosts' kernels."""
import pytest

from netlab.kernel import tcp_handshake
from netlab.kernel.inet_connection_sock import TcpSock, inet_bind
from netlab.kernel.route import Rtable
from netlab.kernel.sched import Scheduler
from netlab.kernel.udp_output import UdpSock, udp_sendmsg
from netlab.scenarios.link import Link
from netlab.scenarios.receive import Host
from netlab.trace import Tracer

CLIENT, SERVER = "10.0.0.1", "10.0.0.2"
sys_listen = getattr(tcp_handshake, "__sys_listen")
inet_stream_connect = getattr(tcp_handshake, "__inet_stream_connect")


def two_hosts(delay_us=5.0):
    sched = Scheduler(nr_cpus=0)
    a = Host(address=CLIENT, tx_ring_size=256, sched=sched, name="a")
    b = Host(address=SERVER, tx_ring_size=256, sched=sched, name="b")
    return sched, a, b, Link(a, b, delay_us=delay_us)


def recorded(sched, scenario):
    with Tracer(clock=sched.now) as tracer:
        scenario()
    return tracer.trace


def calls(trace):
    return [e.function for e in trace if e.kind == "call"]


def in_order(names, wanted):
    """``wanted`` occurs in ``names`` in this order (other calls in between)."""
    it = iter(names)
    return all(any(n == w for n in it) for w in wanted)


def udp_journey():
    sched, a, b, link = two_hosts()
    server = b.udp_socket(53)
    client = UdpSock(name="client", dst=Rtable(a.dev), inet_rcv_saddr=CLIENT, inet_num=40001, inet_daddr=SERVER,
                     inet_dport=53)
    trace = recorded(sched, lambda: (a.run_process(0, lambda: udp_sendmsg(client, 100)), a.run()))
    return sched, a, b, link, server, trace


def test_hosts_on_one_engine_share_its_clock_but_not_their_kernels():
    sched, a, b, link = two_hosts()
    assert a.sched is b.sched is sched and a.net.sched is sched
    assert a.cpus[0] is not b.cpus[0] and a.net is not b.net and a.nic is not b.nic
    with pytest.raises(ValueError, match="one engine"):
        Link(Host(tx_ring_size=256), Host(tx_ring_size=256))
    with pytest.raises(ValueError, match="tx_ring_size"):
        Link(Host(sched=sched, name="c"), Host(sched=sched, name="d"))
    with pytest.raises(ValueError, match="already cabled"):
        Link(a, b)


def test_a_datagram_goes_through_the_senders_send_path_the_wire_and_the_receivers_receive_path():
    sched, a, b, link, server, trace = udp_journey()
    assert len(server.sk.sk_receive_queue) == 1 and link.frames == 1
    names = calls(trace)
    assert in_order(names, ["udp_sendmsg", "ip_make_skb", "ip_send_skb", "ip_local_out", "ip_output",
                            "__dev_queue_xmit", "sch_direct_xmit", "igb_xmit_frame", "igb_tx_map",
                            "igb_msix_ring", "net_rx_action", "igb_poll", "igb_clean_rx_irq", "napi_gro_receive",
                            "ip_list_rcv", "ip_local_deliver", "udp_rcv", "__udp_enqueue_schedule_skb",
                            "sock_def_readable"])
    assert b.nic.q_vectors[0].rx_packets == 1 and a.nic.q_vectors[0].tx_packets == 1
    assert a.nic.q_vectors[0].rx_packets == 0 and b.nic.q_vectors[0].tx_packets == 0


def test_the_frame_arrives_after_its_serialisation_and_the_propagation_delay():
    frame = 14 + 20 + 8 + 100 + 24                       # Ethernet, IP, UDP headers, payload, FCS+preamble+gap
    for delay_us in (5.0, 50.0):
        sched, a, b, link = two_hosts(delay_us)
        b.udp_socket(53)
        client = UdpSock(name="client", dst=Rtable(a.dev), inet_rcv_saddr=CLIENT, inet_daddr=SERVER, inet_dport=53)
        trace = recorded(sched, lambda: (a.run_process(0, lambda: udp_sendmsg(client, 100)), a.run()))
        sent = a.nic.wire_free_at
        assert sent == int(frame * a.nic.ns_per_byte)    # the CPU spends no simulated time before the tail write
        irq = [e for e in trace if e.function == "irq_enter" and e.time_ns > sent]
        assert irq and irq[0].time_ns == sent + int(delay_us * 1000)


def test_two_hosts_are_deterministic():
    first, second = udp_journey()[-1], udp_journey()[-1]
    assert [(e.time_ns, e.function, e.text) for e in first] == [(e.time_ns, e.function, e.text) for e in second]


def handshake():
    sched, a, b, link = two_hosts()
    listener = TcpSock(name="listener", net=b.net)
    inet_bind(b.net, listener, SERVER, 80)
    client = TcpSock(name="client", net=a.net, inet_rcv_saddr=CLIENT, dst=Rtable(a.dev))

    def scenario():
        b.run_process(0, lambda: sys_listen(listener, 128))
        a.run_process(0, lambda: inet_stream_connect(client, SERVER, 80))
        sched.run(until_ns=2_000_000)

    return sched, a, b, listener, client, recorded(sched, scenario)


def test_connect_on_one_host_reaches_a_listener_on_the_other_through_both_kernels():
    sched, a, b, listener, client, trace = handshake()
    assert client.sk_state == "TCP_ESTABLISHED"
    assert [r.sk.sk_state for r in listener.icsk_accept_queue.rskq_accept] == ["TCP_ESTABLISHED"]
    names = calls(trace)
    assert in_order(names, [
        "__inet_stream_connect", "tcp_v4_connect", "tcp_connect", "__ip_queue_xmit", "__dev_queue_xmit",
        "igb_xmit_frame",                                                                  # A sends the SYN
        "igb_msix_ring", "net_rx_action", "igb_poll", "ip_list_rcv", "tcp_v4_rcv", "tcp_rcv_state_process",
        "tcp_conn_request", "tcp_v4_send_synack", "ip_build_and_send_pkt", "igb_xmit_frame",  # B answers
        "igb_msix_ring", "igb_poll", "tcp_v4_rcv", "tcp_rcv_synsent_state_process", "tcp_finish_connect",
        "tcp_send_ack", "__ip_queue_xmit", "igb_xmit_frame",                               # A: ESTABLISHED, ACK
        "igb_msix_ring", "igb_poll", "tcp_v4_rcv", "tcp_check_req", "tcp_v4_syn_recv_sock",
        "inet_csk_reqsk_queue_add", "tcp_child_process"])                                  # B: the accept queue
    assert a.nic.q_vectors[0].tx_packets == 2 and b.nic.q_vectors[0].tx_packets == 1


def test_the_handshake_across_the_link_is_deterministic_and_survives_its_timers():
    first, second = handshake(), handshake()
    assert [(e.time_ns, e.text) for e in first[-1]] == [(e.time_ns, e.text) for e in second[-1]]
    sched, a, b, listener, client, _ = first
    sched.run(until_ns=10_000_000_000)                  # every SYN and SYN-ACK timer has expired or been deleted
    assert client.sk_state == "TCP_ESTABLISHED" and len(listener.icsk_accept_queue.rskq_accept) == 1
    assert a.nic.q_vectors[0].tx_packets == 2 and b.nic.q_vectors[0].tx_packets == 1
