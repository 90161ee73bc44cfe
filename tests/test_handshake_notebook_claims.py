"""What chapter 05 (notebooks/05-handshake.ipynb) tells the learner, checked with the notebook's own scenarios."""
import pytest

from netlab.kernel.inet_connection_sock import TCP_TIMEOUT_INIT, accept_queue_capacity, syn_queue_capacity
from netlab.kernel.profiles import LINUX_3_10, LINUX_6_12
from netlab.live.profile import this_machine
from netlab.scenarios.handshake import HandshakeLab, predict_accept_queue
from notebook_prose import integer, prose, stated, strings

TEXT = prose("05-handshake.ipynb")
EXERCISES = strings("05-handshake.ipynb")


def five_clients(profile, until_ms=1200):
    lab = HandshakeLab(profile, backlog=2, loopback=False, one_way_us=5_000)
    lab.connect(5, at_ms=1, every_ms=20)
    lab.run(until_ms=until_ms)
    return lab


def seconds(listed):
    """``1, 2, 4`` or ``1 s, 2 s, 3 s`` as the prose lists them -> [1.0, 2.0, 4.0]."""
    return [float(t) for t in listed.replace(" s", "").split(", ")]


def sent(lab, segment, src, dst):
    """When ``src`` sent ``segment`` to ``dst``, in seconds."""
    return [t / 1e9 for (s, d, name, t, _, _) in lab.segment_log() if (s, d, name) == (src, dst, segment)]


def syn_schedule(profile):
    lab = HandshakeLab(profile, backlog=0, loopback=False)
    del lab.nets[lab.server_addr]          # an unreachable server: every SYN is lost
    lab.connect(1)
    lab.run(until_ms=140_000)
    sent = [t / 1e9 for (src, _, name, t, _, _) in lab.segment_log() if name == "SYN"]
    return sent, lab.trace.filter(function="tcp_write_err")[0].time_ns / 1e9


def flood(syncookies):
    lab = HandshakeLab(LINUX_6_12.replace(tcp_syncookies=syncookies, tcp_max_syn_backlog=512), 4096, record=False)
    lab.syn_flood(1000)
    return lab.run(until_ms=50)


def test_one_handshake_is_accepted_and_the_client_established():
    one = HandshakeLab(LINUX_6_12, backlog=2, loopback=False, one_way_us=5_000)
    one.connect(1, at_ms=1)
    one.accept(at_ms=20)
    one.run(until_ms=25)
    assert one.outcome().accepted == ("c1",) and one.outcome().clients["c1"] == "TCP_ESTABLISHED"


def test_the_accept_queue_holds_backlog_plus_one_and_the_3_10_syn_table_is_a_power_of_two():
    assert "so **backlog+1** connections fit. Same in 3.10 and 6.12" in TEXT
    for profile in (LINUX_3_10, LINUX_6_12):
        assert all(accept_queue_capacity(profile, b) == b + 1 for b in range(min(profile.somaxconn, 200)))
    assert "`roundup_pow_of_two(max(8, min(backlog, somaxconn, tcp_max_syn_backlog)) + 1)`" in TEXT
    p = LINUX_3_10
    for b in (0, 5, 7, 8, 100, 127, 128, 1024, 10_000):
        size = 1 << max(8, min(b, p.somaxconn, p.tcp_max_syn_backlog)).bit_length()     # the next power of two > n
        assert syn_queue_capacity(p, b) == size


def test_listen_2_and_five_clients_6_12_fills_backlog_plus_one_and_drops_the_rest():
    (full,) = stated(r"Watch the accept queue fill to backlog\+1 = (\d+)", TEXT)
    out = five_clients(LINUX_6_12).outcome()
    assert out.accept_queue == ("c1", "c2", "c3") == tuple(f"c{i}" for i in range(1, int(full) + 1))
    assert out.clients["c4"] == "TCP_SYN_SENT" and out.established_clients == 3
    (after,) = stated(r"Their retransmission timers fire after (\d+) s and they try again", TEXT)
    later = five_clients(LINUX_6_12, until_ms=2000)
    for client in ("c4", "c5"):
        first, again = sent(later, "SYN", client, "server")
        assert again - first == pytest.approx(int(after)) == TCP_TIMEOUT_INIT / 1e9


def test_3_10_lets_all_five_connect():
    (queued,) = stated(r"(\d+) sit in the accept queue; 3\.10 still answers SYNs", EXERCISES)
    out = five_clients(LINUX_3_10).outcome()
    assert out.established_clients == 5 and len(out.accept_queue) == int(queued)


def test_listen_5_and_ten_clients_complete_six_on_this_machine():
    backlog, clients = stated(r"Your kernel, listen\((\d+)\), nobody calls accept\(\), (\d+) clients", EXERCISES)
    (wait,) = stated(r"so backlog\+1 = (\d+) children wait", EXERCISES)
    assert len(predict_accept_queue(this_machine(), int(backlog), int(clients)).accept_queue) == int(wait) == 6


def test_3_10_retransmits_the_syn_ack_after_1_2_4_s_and_each_ack_overflows_again():
    (listed,) = stated(r"the server's SYN-ACK retransmission \(every ([\d, ]+) … s\)", TEXT)
    lab = five_clients(LINUX_3_10, until_ms=9000)
    synack = sent(lab, "SYN-ACK", "server", "c4")
    gaps = [b - a for a, b in zip(synack, synack[1:])]
    assert gaps == pytest.approx(seconds(listed))
    assert [fate for (s, _, name, _, _, fate) in lab.segment_log() if (s, name) == ("c4", "ACK")] == ["overflow"] * 4


def test_the_syn_timer_starts_at_1_s_and_6_12_keeps_it_for_4_retries_of_6():
    (rto,) = stated(r"The retransmission timer starts at (\d+) s \(`TCP_TIMEOUT_INIT`\)", TEXT)
    assert int(rto) == TCP_TIMEOUT_INIT / 1e9
    (linear,) = stated(r"`tcp_syn_linear_timeouts` \((\d+)\) retries keep 1 s instead of doubling\.", TEXT)
    retries, linear_again, total, old_total = stated(
        r"`connect\(\)` gives up \(ETIMEDOUT\) when the RTO after the last retransmission runs out "
        r"\(`tcp_write_timeout`\): after `tcp_syn_retries` \+ `tcp_syn_linear_timeouts` \((\d+) \+ (\d+) = (\d+)\) "
        r"retransmissions on 6\.12, after (\d+) on 3\.10", TEXT)
    assert (LINUX_6_12.tcp_syn_linear_timeouts, LINUX_6_12.tcp_syn_retries) == (int(linear), int(retries))
    assert int(linear_again) == int(linear) and int(total) == int(retries) + int(linear)
    assert LINUX_3_10.tcp_syn_retries + LINUX_3_10.tcp_syn_linear_timeouts == int(old_total)
    for profile, n in ((LINUX_6_12, total), (LINUX_3_10, old_total)):
        assert len(syn_schedule(profile)[0]) - 1 == int(n)


def test_connect_gives_up_after_131_s_on_6_12_and_127_s_on_3_10():
    times, gave_up = syn_schedule(LINUX_6_12)
    assert times == pytest.approx([0, 1, 2, 3, 4, 5, 7, 11, 19, 35, 67]) and gave_up == 131
    times, gave_up = syn_schedule(LINUX_3_10)
    assert times == pytest.approx([0, 1, 3, 7, 15, 31, 63]) and gave_up == 127
    (apart,) = stated(r"The cell below prints both schedules: 6\.12 keeps the first retries (\d+) s apart and then "
                      r"doubles, 3\.10 doubles from the start", TEXT)
    for profile in (LINUX_6_12, LINUX_3_10):
        times = syn_schedule(profile)[0]
        gaps = [b - a for a, b in zip(times, times[1:])]
        linear = 1 + profile.tcp_syn_linear_timeouts
        assert gaps[:linear] == [int(apart)] * linear and gaps[linear:] == [2 * g for g in gaps[linear - 1:-1]]
    nth_new, nth_old = stated(r"each gives up when the RTO after its last retransmission runs out — the (\d+)th on "
                              r"6\.12, the (\d+)th on 3\.10", TEXT)
    assert [len(syn_schedule(p)[0]) - 1 for p in (LINUX_6_12, LINUX_3_10)] == [int(nth_new), int(nth_old)]
    (first,) = stated(r"the client retries after ([\d s,]+) …", TEXT)
    assert seconds(first) == pytest.approx(syn_schedule(LINUX_6_12)[0][1:len(seconds(first)) + 1])


def test_the_exercise_adds_up_the_6_12_waits_to_131_s_and_3_10_gives_up_at_127():
    retries, linear = stated(r"6\.12 defaults \(tcp_syn_retries (\d+), tcp_syn_linear_timeouts (\d+)\)", EXERCISES)
    assert (LINUX_6_12.tcp_syn_retries, LINUX_6_12.tcp_syn_linear_timeouts) == (int(retries), int(linear))
    linear_at, doubled_at, last_rto, new_end, old_end, old_retries = stated(
        r"Retries at ([\d, ]+) s \(linear\), then ([\d, ]+) s; the last RTO is (\d+) s, so ETIMEDOUT at (\d+) s\. "
        r"3\.10 gives up at (\d+) s after (\d+) retries", EXERCISES)
    times, gave_up = syn_schedule(LINUX_6_12)
    assert times[1:] == pytest.approx(seconds(linear_at) + seconds(doubled_at)) and gave_up == int(new_end)
    assert gave_up - times[-1] == int(last_rto)
    times, gave_up = syn_schedule(LINUX_3_10)
    assert gave_up == int(old_end) and len(times) - 1 == int(old_retries)


def test_a_burst_of_three_syns_to_an_accept_queue_of_2_of_3_gets_three_requests_and_one_ack_in():
    assert "Here two clients have connected (accept queue 2 of 3) when a burst of three SYNs arrives" in TEXT
    (fits,) = stated(r"all three get requests, but only (\w+) ACK fits", TEXT)
    lab = HandshakeLab(LINUX_6_12, backlog=2, loopback=False, one_way_us=50_000)
    lab.connect(2, every_ms=0.1)
    lab.connect(3, at_ms=200, every_ms=0.1)
    lab.run(until_ms=500)
    assert accept_queue_capacity(LINUX_6_12, 2) == 3
    fates = {(src, name): fate for (src, _, name, _, _, fate) in lab.segment_log()}
    assert [fates[c, "SYN"] for c in ("c3", "c4", "c5")] == ["queued"] * 3
    assert [fates[c, "ACK"] for c in ("c3", "c4", "c5")].count("accepted") == integer(fits)


def test_abort_on_overflow_does_not_answer_a_syn_to_a_full_accept_queue():
    lab = HandshakeLab(LINUX_6_12.replace(tcp_abort_on_overflow=1), backlog=1, record=False)
    lab.connect(3)
    lab.run(until_ms=10)
    fates = [s.meta["fate"] for s in lab.segments if s.meta["sport"] == lab.clients["c3"].inet_num]
    assert fates == ["dropped"]


def test_with_cookies_tcp_max_syn_backlog_is_not_consulted_and_without_its_last_quarter_is_kept():
    assert len(flood(1).syn_queue) == 1000 and len(flood(0).syn_queue) == 385
    assert "then the last quarter of it is kept for peers known to be alive" in TEXT
    assert len(flood(0).syn_queue) == 512 - 512 // 4 + 1          # drops start when fewer than 512/4 slots are left


def test_without_listen_the_model_refuses():
    unlistened = HandshakeLab(LINUX_6_12, backlog=2, listen_at_ms=None, record=False)
    unlistened.connect(1)
    assert unlistened.run(until_ms=1).connect_results["c1"] == "ECONNREFUSED"


def test_6_12_fills_the_syn_queue_at_qlen_over_sk_max_ack_backlog_so_listen_0_still_queues_one_request():
    assert ("The SYN queue itself is full at `qlen > sk_max_ack_backlog` (`inet_csk_reqsk_queue_is_full`) on 6.12.y "
            "since the January 2025 fix") in TEXT
    for backlog in (0, 2):
        lab = HandshakeLab(LINUX_6_12, backlog, record=False)
        lab.syn_flood(5)
        assert len(lab.run(until_ms=50).syn_queue) == backlog + 1
