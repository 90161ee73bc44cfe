"""The handshake models: listen's clamp, both queues' full tests per kernel, timers, cookies, ports, RSTs."""
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from netlab.scenarios.handshake import HandshakeLab
from netlab.kernel.inet_connection_sock import SEC, TcpSock, accept_queue_capacity, inet_bind, syn_queue_capacity
from netlab.kernel.netns import Net
from netlab.kernel.profiles import PROFILES
from netlab.kernel.tcp_handshake import tcp_segment
from netlab.kernel.tcp_ipv4 import tcp_v4_rcv
from netlab.kernel.sched import Scheduler
from netlab.kernel.timer import TimerList

OLD, NEW = PROFILES["3.10"], PROFILES["6.12"]


def run(profile, backlog, n, until_ms=10.0, **kw):
    lab = HandshakeLab(profile, backlog, record=False, **kw)
    lab.connect(n)
    return lab, lab.run(until_ms=until_ms)


def send_times(lab, src, name):
    """Seconds after the first such segment, of every ``name`` segment ``src`` sent."""
    sent = [t for (s, _, n, t, _, _) in lab.segment_log() if s == src and n == name]
    return [round((t - sent[0]) / SEC, 3) for t in sent]


def syn_times(lab, client):
    return send_times(lab, client, "SYN")


def test_the_server_names_its_child_socket_after_the_client_and_the_write_timeout_says_both_limits():
    lab = HandshakeLab(NEW, backlog=2)
    lab.connect(1)
    lab.run(until_ms=10)
    assert "server's connection for c1 in TCP_SYN_RECV receives ACK from c1" in [e.text for e in lab.trace]
    assert lab.outcome().accept_queue == ("c1",)
    silent = HandshakeLab(NEW, backlog=0, loopback=False)
    del silent.nets[silent.server_addr]          # an unreachable server: every SYN is lost
    silent.connect(1)
    silent.run(until_ms=2_000)
    assert "c1: 0 SYN retransmits so far; give up after 10 retransmissions, or 127 s after the first SYN" in [
        e.text for e in silent.trace]


# --- listen() ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("backlog, expected", [(5, 5), (128, 128), (129, 128), (100_000, 128), (-1, 128), (0, 0)])
def test_listen_clamps_the_backlog_to_somaxconn(backlog, expected):
    lab = HandshakeLab(OLD, backlog, record=False)
    assert lab.run(until_ms=0).backlog == expected
    assert accept_queue_capacity(OLD, backlog) == expected + 1


def test_the_3_10_syn_table_size_formula():
    # roundup_pow_of_two(max(8, min(backlog, somaxconn, tcp_max_syn_backlog)) + 1)
    assert [syn_queue_capacity(OLD, b) for b in (0, 5, 8, 9, 100, 128, 512)] == [16, 16, 16, 16, 128, 256, 256]
    assert syn_queue_capacity(OLD.replace(tcp_max_syn_backlog=64), 128) == 128
    # 6.12 has no table: the SYN queue is bounded by the accept-queue rule, min(backlog, somaxconn) + 1
    assert syn_queue_capacity(NEW, 5) == 5 + 1 and syn_queue_capacity(NEW, 10_000) == NEW.somaxconn + 1 == 4097


def test_listen_records_the_calls_from_syscall_to_queue_setup():
    lab = HandshakeLab(NEW, 8)
    lab.run(until_ms=0)
    assert lab.trace.functions() == ["__sys_listen", "__sys_listen_socket", "inet_listen", "__inet_listen_sk",
                                     "inet_csk_listen_start", "reqsk_queue_alloc"]
    assert lab.listener.sk_state == "TCP_LISTEN"


def test_without_listen_a_syn_is_answered_with_rst():
    lab = HandshakeLab(NEW, 8, listen_at_ms=None, record=False)
    lab.connect(1)
    out = lab.run(until_ms=1)
    assert out.connect_results["c1"] == "ECONNREFUSED" and out.clients["c1"] == "TCP_CLOSE"
    assert out.syn_fates == {"refused": 1}


# --- the accept queue -------------------------------------------------------------------------------------

@pytest.mark.parametrize("profile", [OLD, NEW], ids=["3.10", "6.12"])
@pytest.mark.parametrize("backlog", [0, 1, 2, 5])
def test_the_accept_queue_holds_backlog_plus_one(profile, backlog):
    _, out = run(profile, backlog, backlog + 1)
    assert len(out.accept_queue) == backlog + 1 == accept_queue_capacity(profile, backlog)
    assert out.counters["ListenOverflows"] == 0


def test_6_12_drops_the_syn_of_every_client_beyond_backlog_plus_one():
    _, out = run(NEW, 2, 7)
    assert out.accept_queue == ("c1", "c2", "c3") and out.syn_queue == ()
    assert [out.clients[c] for c in ("c4", "c5", "c6", "c7")] == ["TCP_SYN_SENT"] * 4
    assert out.counters["ListenOverflows"] == out.counters["ListenDrops"] == 4
    assert out.syn_fates == {"queued": 3, "dropped": 4}


def test_3_10_still_answers_two_more_syns_and_drops_their_acks():
    """3.10 drops a SYN for a full accept queue only when more than one young request waits."""
    _, out = run(OLD, 2, 7)
    assert out.accept_queue == ("c1", "c2", "c3") and out.syn_queue == ("c4", "c5")
    assert [out.clients[c] for c in ("c4", "c5")] == ["TCP_ESTABLISHED"] * 2   # connect() succeeded!
    assert [out.clients[c] for c in ("c6", "c7")] == ["TCP_SYN_SENT"] * 2
    assert out.counters["ListenOverflows"] == 4      # two ACKs, two SYNs
    assert out.syn_fates == {"queued": 5, "dropped": 2}


def test_accepting_makes_room_and_a_retransmitted_syn_gets_in():
    lab, _ = run(NEW, 1, 3)
    lab.accept(at_ms=500, count=2)
    out = lab.run(until_ms=1500)
    assert out.accepted == ("c1", "c2") and out.accept_queue == ("c3",)
    assert out.clients["c3"] == "TCP_ESTABLISHED"


def test_a_dropped_ack_is_repaired_by_the_syn_ack_retransmission_once_there_is_room():
    """A burst over a slow link: requests queued while the accept queue had room, their ACKs overflow."""
    lab = HandshakeLab(NEW.replace(tcp_syncookies=0), 1, loopback=False, one_way_us=50_000, record=False)
    lab.connect(2, every_ms=0.1)                      # both complete: accept queue 2 = backlog+1
    lab.connect(2, at_ms=200, every_ms=0.1)           # both SYNs queued? the accept queue is full: dropped
    out = lab.run(until_ms=400)
    assert out.syn_fates["dropped"] == 2
    lab.accept(at_ms=500, count=2)
    out = lab.run(until_ms=1600)                      # c3, c4 retransmit their SYN at 1.2 s
    assert out.accept_queue == ("c3", "c4")


# --- tcp_abort_on_overflow, RST vs drop -----------------------------------------------------------------------

def _overflowing_acks(profile):
    """Two clients complete, then a burst of three SYNs arrives before any of their ACKs: requests are made
    (the accept queue is not full yet), but only one ACK fits."""
    lab = HandshakeLab(profile, 2, loopback=False, one_way_us=50_000, record=False)
    lab.connect(2, every_ms=0.1)
    lab.connect(3, at_ms=200, every_ms=0.1)
    return lab, lab.run(until_ms=500)


def test_an_overflowing_ack_is_ignored_by_default_and_the_client_thinks_it_is_connected():
    _, out = _overflowing_acks(NEW)
    assert out.accept_queue == ("c1", "c2", "c3") and set(out.syn_queue) == {"c4", "c5"}
    assert out.clients["c4"] == out.clients["c5"] == "TCP_ESTABLISHED"
    assert out.counters["ListenOverflows"] == 2 and out.counters["EmbryonicRsts"] == 0


def test_tcp_abort_on_overflow_resets_those_clients():
    _, out = _overflowing_acks(NEW.replace(tcp_abort_on_overflow=1))
    assert out.clients["c4"] == out.clients["c5"] == "TCP_CLOSE"
    assert out.connect_results["c4"] == "0"           # connect() had already succeeded …
    assert out.errors == {"c4": "ECONNRESET", "c5": "ECONNRESET"}   # … the next recv() fails
    assert out.counters["EmbryonicRsts"] == 2
    assert out.syn_queue == ()


def test_abort_on_overflow_does_not_reset_a_dropped_syn():
    _, out = run(NEW.replace(tcp_abort_on_overflow=1), 1, 4)
    assert out.clients["c3"] == out.clients["c4"] == "TCP_SYN_SENT"
    assert out.counters["EmbryonicRsts"] == 0


# --- SYN cookies and tcp_max_syn_backlog -------------------------------------------------------------------

def test_a_full_syn_queue_sends_cookies_and_keeps_no_state():
    lab = HandshakeLab(NEW, 2, loopback=False, one_way_us=50_000, record=False)
    lab.connect(5, every_ms=0.1)
    out = lab.run(until_ms=200)
    assert out.syn_fates == {"queued": 3, "cookie": 2}
    assert out.counters["SyncookiesSent"] == 2 and out.counters["TCPReqQFullDoCookies"] == 2
    assert out.counters["SyncookiesRecv"] == 2 and out.counters["ListenOverflows"] == 2  # queue full at the ACK


def test_with_cookies_tcp_max_syn_backlog_does_not_limit_the_syn_queue():
    def flood(syncookies):
        profile = NEW.replace(tcp_syncookies=syncookies, tcp_max_syn_backlog=512)
        lab = HandshakeLab(profile, 4096, record=False)
        lab.syn_flood(600)
        return lab.run(until_ms=50)
    assert len(flood(1).syn_queue) == 600
    # without cookies the last quarter of tcp_max_syn_backlog is kept for proven peers: a SYN is dropped when
    # 512 - qlen < 512 >> 2, so requests are queued up to qlen 384 and one more
    out = flood(0)
    kept = 512 - (512 >> 2) + 1
    assert len(out.syn_queue) == kept == 385 and out.counters["ListenDrops"] == 600 - kept


def test_a_cookie_ack_without_a_recent_overflow_is_answered_with_rst():
    lab = HandshakeLab(NEW, 2, record=False)
    lab.run(until_ms=1)
    skb = tcp_segment("127.0.0.1", 40000, "127.0.0.1", 8080, ("ACK",), 1, 12345)
    skb.meta["net"] = lab.server_net
    tcp_v4_rcv(skb)
    assert skb.meta["fate"] == "rst-sent" and lab.segments[-1].name == "RST"


# --- timers ----------------------------------------------------------------------------------------------

def test_6_12_retransmits_the_syn_linearly_four_times_then_backs_off():
    lab, _ = run(NEW, 0, 2, until_ms=140_000)
    assert syn_times(lab, "c2")[1:] == [1, 2, 3, 4, 5, 7, 11, 19, 35, 67]   # tcp_syn_linear_timeouts = 4
    assert lab.clients["c2"].connect_errno == "ETIMEDOUT"
    assert lab.clients["c2"].sk_state == "TCP_CLOSE"


def test_3_10_backs_off_from_the_first_retransmission():
    lab = HandshakeLab(OLD, 0, loopback=False, record=False)
    del lab.nets[lab.server_addr]      # the server is unreachable: every SYN is lost
    lab.connect(1)
    lab.run(until_ms=130_000)
    assert syn_times(lab, "c1")[1:] == [1, 3, 7, 15, 31, 63]
    assert lab.clients["c1"].connect_errno == "ETIMEDOUT"


@pytest.mark.parametrize("syncnt, retransmits, gives_up_s", [(1, [1, 2], 3), (2, [1, 2, 3, 4, 5], 7),
                                                              (3, [1, 2, 3, 4, 5, 7, 11], 19)])
def test_tcp_syncnt_shortens_the_wait(syncnt, retransmits, gives_up_s):
    """6.12 stops at syncnt + 4 retransmissions or after (2^(syncnt+1) - 1) s, whichever comes first."""
    lab, _ = run(NEW, 0, 2, until_ms=(gives_up_s - 0.5) * 1000, syncnt=syncnt)
    assert lab.clients["c2"].sk_state == "TCP_SYN_SENT"
    lab.run(until_ms=gives_up_s * 1000 + 1)
    assert syn_times(lab, "c2")[1:] == retransmits
    assert lab.clients["c2"].connect_errno == "ETIMEDOUT"


@pytest.mark.parametrize("profile", [OLD, NEW], ids=["3.10", "6.12"])
def test_syn_ack_retransmissions_back_off_and_give_up_after_tcp_synack_retries(profile):
    lab = HandshakeLab(profile.replace(tcp_syncookies=0), 8, record=False)
    lab.syn_flood(1)
    lab.run(until_ms=70_000)
    times = send_times(lab, "server", "SYN-ACK")
    expected = [0, 1, 3, 7, 15, 31]
    tick = 0.2 if profile is OLD else 0       # 3.10's prune timer ticks every 200 ms
    assert all(e <= t <= e + 5 * tick + 1e-9 for t, e in zip(times, expected)) and len(times) == 6
    assert lab.outcome().syn_queue == () and lab.server_net.mib["TCPTimeouts"] == 6


# --- ports ---------------------------------------------------------------------------------------------------

def test_6_12_connect_prefers_even_ports_and_3_10_walks_the_range():
    _, new = run(NEW, 64, 20)
    assert all(p % 2 == 0 for p in new.ports.values()) and len(set(new.ports.values())) == 20
    _, old = run(OLD, 64, 20)
    ports = sorted(old.ports.values())
    assert ports == list(range(ports[0], ports[0] + 20))   # hint += i: consecutive


def test_running_out_of_ports_gives_eaddrnotavail():
    _, out = run(NEW.replace(ip_local_port_range=(40000, 40003)), 64, 5)
    assert list(out.connect_results.values()).count("EADDRNOTAVAIL") == 1
    assert sorted(out.ports.values()) == [40000, 40001, 40002, 40003]   # evens first, then odds


# --- determinism, validation, timers ----------------------------------------------------------------------------

def test_the_handshake_is_deterministic_for_a_seed_and_the_seed_matters():
    def trace(seed):
        lab = HandshakeLab(NEW, 1, seed=seed)
        lab.connect(3)
        lab.run(until_ms=1500)
        return [(e.function, e.time_ns, e.text) for e in lab.trace]
    assert trace(1) == trace(1)
    assert trace(1) != trace(2)      # other ISNs and ports


def test_bad_inputs_are_refused():
    with pytest.raises(TypeError, match="KernelProfile"):
        HandshakeLab("6.12", 5)
    with pytest.raises(TypeError, match="backlog"):
        HandshakeLab(NEW, 5.0)
    with pytest.raises(ValueError, match="syncnt"):
        HandshakeLab(NEW, 5, syncnt=-1)
    lab = HandshakeLab(NEW, 5, record=False)
    with pytest.raises(ValueError, match="n must"):
        lab.connect(0)
    with pytest.raises(ValueError, match="at_ms"):
        lab.accept(at_ms=-1)
    lab.run(until_ms=5)
    with pytest.raises(ValueError, match="earlier"):
        lab.run(until_ms=1)
    with pytest.raises(ValueError, match="record=False"):
        lab.trace
    with pytest.raises(ValueError, match="port"):
        inet_bind(lab.server_net, TcpSock(net=lab.server_net), "127.0.0.1", 0)
    with pytest.raises(TypeError, match="KernelProfile"):
        Net("6.12")


def test_timers_run_in_expiry_order_and_can_be_rearmed_or_deleted():
    base, fired = Scheduler(), []
    a, b, c = (TimerList(lambda t: fired.append(t.name), name=n) for n in "abc")
    base.mod_timer(a, 30)
    base.mod_timer(b, 10)
    base.mod_timer(c, 20)
    base.mod_timer(a, 5)          # re-armed earlier: the old expiry is forgotten
    assert base.del_timer(c) and not base.timer_pending(c)
    assert base.run(100) == 100 and fired == ["a", "b"] and base.clock == 100
    with pytest.raises(ValueError, match="expires_ns"):
        base.mod_timer(a, 50)     # in the past
    with pytest.raises(ValueError, match="context"):
        TimerList(lambda t: None, context="nowhere")


# --- properties ----------------------------------------------------------------------------------------------

profiles = st.sampled_from([OLD, NEW, NEW.replace(tcp_syncookies=0), NEW.replace(tcp_abort_on_overflow=1),
                            OLD.replace(tcp_syncookies=0)])


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(profile=profiles, backlog=st.integers(0, 4), n=st.integers(1, 9), every=st.sampled_from([0.01, 0.1, 30]),
       delay=st.sampled_from([10.0, 5_000.0, 40_000.0]), accept_at=st.none() | st.floats(0, 1500),
       flood=st.integers(0, 6))
def test_queues_never_exceed_their_capacity_and_every_syn_is_accounted_for(profile, backlog, n, every, delay,
                                                                           accept_at, flood):
    lab = HandshakeLab(profile, backlog, loopback=delay < 1000, one_way_us=delay)
    lab.connect(n, every_ms=every)
    if flood:
        lab.syn_flood(flood, at_ms=every)
    if accept_at is not None:
        lab.accept(at_ms=accept_at, count=2)
    lab.run(until_ms=2500)
    caps = lab.capacities()
    for event in lab.trace:
        assert len(event.state.accept_queue) <= caps["accept queue"]
        assert len(event.state.syn_queue) <= caps["SYN queue"]
    out = lab.outcome()
    delivered_syns = [s for s in lab.segments if s.meta["flags"] == ("SYN",) and s.meta["fate"] is not None]
    assert sum(out.syn_fates.values()) == len(delivered_syns)
    assert set(out.syn_fates) <= {"queued", "answered", "cookie", "dropped"}
    # ListenOverflows counts SYNs dropped for a full accept queue plus ACKs that found it full
    overflow_acks = sum(s.meta["fate"] == "overflow" for s in lab.segments)
    assert out.counters["ListenOverflows"] >= overflow_acks
    assert out.counters["ListenDrops"] >= out.syn_fates.get("dropped", 0)
    # children = accepted + waiting; never more established server sockets than clients that sent a SYN
    assert len(out.accepted) + len(out.accept_queue) <= n
