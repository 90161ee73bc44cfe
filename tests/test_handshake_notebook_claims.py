"""What chapter 05 (notebooks/05-handshake.ipynb) tells the learner, checked with the notebook's own scenarios."""
import pytest

from netlab.kernel.profiles import LINUX_3_10, LINUX_6_12
from netlab.live.profile import this_machine
from netlab.scenarios.handshake import HandshakeLab, predict_accept_queue


def five_clients(profile):
    lab = HandshakeLab(profile, backlog=2, loopback=False, one_way_us=5_000)
    lab.connect(5, at_ms=1, every_ms=20)
    lab.run(until_ms=1200)
    return lab


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


def test_listen_2_and_five_clients_6_12_fills_backlog_plus_one_and_drops_the_rest():
    out = five_clients(LINUX_6_12).outcome()
    assert out.accept_queue == ("c1", "c2", "c3") and out.clients["c4"] == "TCP_SYN_SENT"
    assert out.established_clients == 3


def test_3_10_lets_all_five_connect():
    assert five_clients(LINUX_3_10).outcome().established_clients == 5


def test_listen_5_and_ten_clients_complete_six_on_this_machine():
    assert len(predict_accept_queue(this_machine(), 5, 10).accept_queue) == 6


def test_connect_gives_up_after_131_s_on_6_12_and_127_s_on_3_10():
    sent, gave_up = syn_schedule(LINUX_6_12)
    assert sent == pytest.approx([0, 1, 2, 3, 4, 5, 7, 11, 19, 35, 67]) and gave_up == 131
    sent, gave_up = syn_schedule(LINUX_3_10)
    assert sent == pytest.approx([0, 1, 3, 7, 15, 31, 63]) and gave_up == 127


def test_abort_on_overflow_does_not_answer_a_syn_to_a_full_accept_queue():
    lab = HandshakeLab(LINUX_6_12.replace(tcp_abort_on_overflow=1), backlog=1, record=False)
    lab.connect(3)
    lab.run(until_ms=10)
    fates = [s.meta["fate"] for s in lab.segments if s.meta["sport"] == lab.clients["c3"].inet_num]
    assert fates == ["dropped"]


def test_with_cookies_tcp_max_syn_backlog_is_not_consulted():
    assert len(flood(1).syn_queue) == 1000 and len(flood(0).syn_queue) == 385


def test_without_listen_the_model_refuses():
    unlistened = HandshakeLab(LINUX_6_12, backlog=2, listen_at_ms=None, record=False)
    unlistened.connect(1)
    assert unlistened.run(until_ms=1).connect_results["c1"] == "ECONNREFUSED"
