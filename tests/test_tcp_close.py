"""The TCP close at packet level: close() and shutdown(), the FIN and its ACK, TIME_WAIT and a late segment's answer
(netlab.kernel.inet_stream, tcp, tcp_output, tcp_input, tcp_minisocks, inet_timewait_sock)."""
import pytest

from netlab.kernel import sock as socket_c
from netlab.kernel.inet_connection_sock import SEC, TcpSock
from netlab.kernel.inet_hashtables import inet_hash_connect
from netlab.kernel.inet_stream import NEW_STATE, inet_shutdown, tcp_close_state
from netlab.kernel.inet_timewait_sock import InetTimewaitSock
from netlab.kernel.netns import Net
from netlab.kernel.profiles import PROFILES
from netlab.kernel.sched import Scheduler, nonblocking
from netlab.kernel.sock import MSG_DONTWAIT
from netlab.kernel.inet_stream import tcp_recvmsg
from netlab.kernel.tcp_minisocks import tcp_time_wait
from netlab.kernel.tcp_output import MsgHdr, tcp_segment
from netlab.kernel.zerocopy import __sys_sendto as sys_sendto
from netlab.scenarios.journey import SERVER_PORT, Journey
from netlab.scenarios.link import CLIENT_ADDR, SERVER_ADDR
from netlab.trace import Tracer

sock_release = getattr(socket_c, "__sock_release")
MS = 1_000_000


def established(profile="6.12"):
    """Two hosts with an ESTABLISHED connection after the journey's request and response."""
    j = Journey(profile=profile, close=False)
    j.run()
    return j


def on(j, host, call):
    """A system call on ``host`` (the journey's client or server) now."""
    return host.run_process(0, call, at_ns=j.sched.clock)


def run(j, ns):
    """Run the engine ``ns`` further, recording."""
    with Tracer(clock=j.sched.now) as tracer:
        j.sched.run(until_ns=j.sched.clock + ns)
    return tracer.trace


def time_wait_socks(net):
    return [s for s in net.tcp_ehash.values() if isinstance(s, InetTimewaitSock)]


def closed_by_both(profile="6.12"):
    """The client closed first, the server 1 ms later: the client's end is a TIME_WAIT sock."""
    j = established(profile)
    on(j, j.client, lambda: sock_release(j.sk.sk_socket))
    run(j, MS)
    assert j.accepted.sk_state == "TCP_CLOSE_WAIT" and j.sk.sk_state == "TCP_FIN_WAIT1"
    on(j, j.server, lambda: sock_release(j.accepted.sk_socket))
    run(j, MS)
    (tw,) = time_wait_socks(j.client.net)
    assert tw.tw_substate == "TCP_TIME_WAIT" and j.accepted.sk_state == j.sk.sk_state == "TCP_CLOSE"
    return j, tw


def lost_last_ack(profile="6.12"):
    """Both closed, but the client's last ACK is dropped on its way in (iptables on the server): the server stays
    in LAST_ACK, the client's end is a TIME_WAIT sock."""
    j = established(profile)
    on(j, j.client, lambda: sock_release(j.sk.sk_socket))
    run(j, MS)
    j.server.iptables("INPUT", "DROP", protocol="tcp")
    on(j, j.server, lambda: sock_release(j.accepted.sk_socket))
    run(j, MS)
    j.server.net.nf.flush()
    (tw,) = time_wait_socks(j.client.net)
    assert j.accepted.sk_state == "TCP_LAST_ACK" and tw.tw_substate == "TCP_TIME_WAIT"
    return j, tw


def retransmit_fin(j, tw):
    """The server's FIN again (its retransmission timer is not modelled: the segment is sent by hand)."""
    j.server.xmit_segment(j.server.net, tcp_segment(SERVER_ADDR, SERVER_PORT, CLIENT_ADDR, j.sk.inet_num,
                                                    ("FIN", "ACK"), tw.tw_rcv_nxt - 1, tw.tw_snd_nxt))


@pytest.mark.parametrize("profile", ["3.10", "6.12"])
def test_a_retransmitted_fin_reaching_the_time_wait_sock_is_acked_again_and_restarts_the_60_s(profile):
    j, tw = lost_last_ack(profile)
    retransmit_fin(j, tw)
    now = j.sched.clock
    trace = run(j, MS)
    assert "substate TCP_TIME_WAIT" in trace.filter("tcp_timewait_state_process")[0].text
    assert trace.filter("tcp_v4_timewait_ack")
    acks = [e.text for e in trace if e.kind == "printk" and "arrives at 10.0.0.2" in e.text]
    assert [a.split(" (")[0] for a in acks] == ["ACK"]
    assert j.accepted.sk_state == "TCP_CLOSE"                  # this ACK got through: the server is done
    if profile == "6.12":
        assert tw.tw_timer.expires_ns - now >= 60 * SEC
    else:
        twdr = j.client.net.tcp_death_row
        assert tw in twdr.cells[(twdr.slot + 7) % 8]
    assert time_wait_socks(j.client.net) == [tw]


def test_out_of_window_acks_from_a_time_wait_sock_are_rate_limited():
    j, tw = lost_last_ack()
    j.server.iptables("INPUT", "DROP", protocol="tcp")
    retransmit_fin(j, tw)
    retransmit_fin(j, tw)
    trace = run(j, MS)
    calls = [e.function for e in trace if e.kind == "call"]
    assert calls.count("tcp_timewait_state_process") == 2 and calls.count("tcp_v4_timewait_ack") == 1


def test_a_rst_ends_time_wait_at_once_rfc_1337():
    j, tw = closed_by_both()
    j.server.xmit_segment(j.server.net, tcp_segment(SERVER_ADDR, SERVER_PORT, CLIENT_ADDR, j.sk.inet_num, ("RST",),
                                                    tw.tw_rcv_nxt))
    trace = run(j, MS)
    assert trace.filter("inet_twsk_deschedule_put") and trace.filter("inet_twsk_kill")
    assert not time_wait_socks(j.client.net) and j.client.net.tcp_bhash.get(j.sk.inet_num) is None


@pytest.mark.parametrize("profile", ["3.10", "6.12"])
def test_close_with_unread_data_sends_a_rst_instead_of_a_fin_rfc_2525(profile):
    j = established(profile)
    on(j, j.client, lambda: sys_sendto(j.sk, MsgHdr(100)))      # nobody on the server reads this
    run(j, MS)
    assert sum(skb.len for skb in j.accepted.sk_receive_queue) == 100
    with Tracer(clock=j.sched.now) as tracer:
        on(j, j.server, lambda: sock_release(j.accepted.sk_socket))
        j.sched.run(until_ns=j.sched.clock + MS)
    trace = tracer.trace
    assert trace.filter("tcp_send_active_reset") and not trace.filter("tcp_send_fin")
    assert j.accepted.sk_state == "TCP_CLOSE" and not j.accepted.sk_receive_queue
    assert j.server.net.mib["TCPAbortOnClose"] == 1 and j.server.net.mib["TcpOutRsts"] == 1
    assert j.sk.sk_state == "TCP_CLOSE" and j.sk.sk_err == "ECONNRESET"     # the client's next call fails
    assert not time_wait_socks(j.client.net) and not time_wait_socks(j.server.net)


def test_shutdown_sends_the_fin_but_keeps_the_socket_and_the_peers_fin_then_brings_time_wait():
    """Not orphaned, the socket waits in FIN_WAIT2 as a full socket; the peer's FIN goes through tcp_fin."""
    j = established()
    assert on(j, j.client, lambda: inet_shutdown(j.sk.sk_socket, 1)) == 0        # SHUT_WR
    trace = run(j, 50 * MS)
    assert j.sk.sk_state == "TCP_FIN_WAIT2" and j.accepted.sk_state == "TCP_CLOSE_WAIT"
    assert trace.filter("tcp_delack_timer_handler")          # the server's ACK of the FIN came after 40 ms
    assert not time_wait_socks(j.client.net)
    with Tracer(clock=j.sched.now) as tracer:
        on(j, j.server, lambda: sock_release(j.accepted.sk_socket))
        j.sched.run(until_ns=j.sched.clock + MS)
    fin = tracer.trace.filter("tcp_fin")
    assert fin[0].text.endswith("in TCP_FIN_WAIT2")
    assert tracer.trace.filter("tcp_time_wait")[0].text.endswith("(substate TCP_TIME_WAIT)")
    assert j.sk.sk_state == "TCP_CLOSE" and [tw.tw_substate for tw in time_wait_socks(j.client.net)] == \
        ["TCP_TIME_WAIT"]
    assert on(j, j.client, lambda: nonblocking(tcp_recvmsg(j.sk, 100, MSG_DONTWAIT))) == 0    # end of stream


def test_the_new_state_table_is_the_kernels():
    assert NEW_STATE["TCP_ESTABLISHED"] == ("TCP_FIN_WAIT1", True)
    assert NEW_STATE["TCP_CLOSE_WAIT"] == ("TCP_LAST_ACK", True)
    assert NEW_STATE["TCP_SYN_SENT"] == ("TCP_CLOSE", False)
    assert NEW_STATE["TCP_FIN_WAIT2"] == ("TCP_FIN_WAIT2", False)
    net = Net(PROFILES["6.12"], sched=Scheduler(profile=PROFILES["6.12"]))
    sk = TcpSock(name="a", net=net, sk_state="TCP_CLOSE_WAIT")
    assert tcp_close_state(sk) is True and sk.sk_state == "TCP_LAST_ACK"
    assert tcp_close_state(sk) is False and sk.sk_state == "TCP_LAST_ACK"


def _tw_deaths(profile):
    """Two connections enter TIME_WAIT 3 s apart; when does each TIME_WAIT sock die?"""
    p = PROFILES[profile]
    net = Net(p, sched=Scheduler(profile=p))
    deaths = {}
    for i, at in enumerate((0, 3 * SEC)):
        net.sched.run(until_ns=at)
        sk = TcpSock(name=f"c{i}", net=net, inet_rcv_saddr="10.0.0.1", inet_num=40000 + i, inet_daddr="10.0.0.2",
                     inet_dport=80, sk_state="TCP_FIN_WAIT2")
        sk.sk_flags.add("SOCK_DEAD")
        net.tcp_ehash[sk.four_tuple()] = sk
        tcp_time_wait(sk, "TCP_TIME_WAIT", 0)
    while time_wait_socks(net):
        before = {tw.name for tw in time_wait_socks(net)}
        net.sched.run(until_ns=net.sched.clock + SEC // 2)
        for name in before - {tw.name for tw in time_wait_socks(net)}:
            deaths[name] = net.sched.clock
    return deaths


def test_6_12_gives_each_time_wait_sock_its_own_60_s_timer_3_10s_death_row_kills_a_slot_at_a_time():
    assert _tw_deaths("6.12") == {"c0": 60 * SEC, "c1": 63 * SEC}
    assert _tw_deaths("3.10") == {"c0": 60 * SEC, "c1": 60 * SEC}     # filed in the same slot: 57 s for c1


def test_close_and_shutdown_refuse_what_they_cannot_do():
    j = established()
    assert on(j, j.client, lambda: inet_shutdown(j.sk.sk_socket, 5)) == -22        # EINVAL
    with pytest.raises(TypeError):
        tcp_close_state("client")
    with pytest.raises(ValueError):
        InetTimewaitSock("x", j.client.net, "10.0.0.1", 1, "10.0.0.2", 2, tw_substate="TCP_CLOSE")


def _reconnect(profile, tcp_tw_reuse, after_s, addr="127.0.0.1", bound=False):
    """A one-port range, that port in TIME_WAIT towards ``addr``:5002; connect() again ``after_s`` later (from the
    same port bound already, with ``bound``). The errno (0 or -99) and the sockets' state."""
    net = Net(profile=PROFILES[profile].replace(ip_local_port_range=(40000, 40000), tcp_tw_reuse=tcp_tw_reuse))
    net.sched = Scheduler(nr_cpus=1)
    peer = dict(inet_rcv_saddr=addr, inet_daddr=addr, inet_dport=5002)
    first = TcpSock(name="old", net=net, sk_state="TCP_FIN_WAIT2", snd_nxt=1000, **peer)
    assert inet_hash_connect(net, first) == 0
    tcp_time_wait(first, "TCP_TIME_WAIT", 60 * SEC)
    tw = net.tcp_ehash[first.four_tuple()]
    net.sched.run(until_ns=int(after_s * SEC))
    again = TcpSock(name="new", net=net, inet_num=40000 if bound else 0, **peer)
    return inet_hash_connect(net, again), again, tw, net


@pytest.mark.parametrize("profile, reuse, after_s, taken", [
    ("6.12", 0, 1.1, False), ("6.12", 1, 0.5, False), ("6.12", 1, 1.1, True), ("6.12", 2, 1.1, True),
    ("3.10", 0, 2.1, False), ("3.10", 1, 1.1, False), ("3.10", 1, 2.1, True)])
def test_tcp_tw_reuse_takes_the_time_wait_port_once_its_timestamp_is_old_enough(profile, reuse, after_s, taken):
    """tcp_twsk_unique: 6.12 from a later second on (time_after32), 3.10 more than a second later."""
    err, again, tw, net = _reconnect(profile, reuse, after_s)
    if not taken:
        assert err == -99 and net.tcp_ehash[tw.four_tuple()] is tw and tw.tw_tb is not None
        return
    assert err == 0 and again.inet_num == 40000 and net.tcp_ehash[again.four_tuple()] is again
    assert again.write_seq == 1000 + 65535 + 2 and net.mib["TWRecycled"] == 1
    assert tw.tw_tb is None and net.tcp_bhash[40000].owners == [again]      # the tw sock let go of the port


def test_tcp_tw_reuse_2_is_loopback_only_and_a_bound_socket_takes_any_time_wait_sock():
    assert _reconnect("6.12", 2, 1.1, addr="10.0.0.2")[0] == -99
    assert _reconnect("6.12", 1, 1.1, addr="10.0.0.2")[0] == 0
    assert _reconnect("6.12", 0, 0, bound=True)[0] == 0          # __inet_check_established without twp
