"""The model's accept queue against the running kernel's, on loopback; sock_diag parsing; the fallbacks."""
import socket
import struct
import sys
import time

import pytest

from netlab.live import accept_queue as aq
from netlab.live.procfs import tcp_sockets
from netlab.live.profile import this_machine
from netlab.live.result import LiveProbeError, Why
from netlab.live.sock_diag import (NLMSG_DONE, NLMSG_ERROR, SOCK_DIAG_BY_FAMILY, inet_diag_request,
                                   parse_inet_diag, tcp_diag)
from netlab.scenarios.handshake import compare_accept_queue, predict_accept_queue, predict_syn_retransmissions

linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="loopback TCP queues of Linux")


@pytest.mark.live
@linux_only
@pytest.mark.parametrize("backlog", range(0, 9))
def test_the_model_predicts_what_the_kernel_does_with_a_full_accept_queue(backlog, skip_unless_expected):
    clients = backlog + 3
    r = skip_unless_expected(aq.accept_queue(backlog, clients), Why.NO_ENTRY, Why.PERMISSION)
    model = predict_accept_queue(this_machine(), backlog, clients)
    assert r.accept_queue == len(model.accept_queue) == backlog + 1
    assert r.client_states == {"ESTABLISHED": backlog + 1, "SYN_SENT": 2}
    assert r.server_states == {"ESTABLISHED": backlog + 1}
    assert r.connect_errors == {"EINPROGRESS": clients}
    if r.accept_queue_limit is not None:
        assert r.accept_queue_limit == model.backlog == backlog
    if r.overflows is not None:      # the namespace's counter: other traffic can only add to it
        assert r.overflows >= model.counters["ListenOverflows"] == 2
    comparison = compare_accept_queue(r, model)
    assert comparison["accept queue (Recv-Q)"] == (backlog + 1, backlog + 1)


@pytest.mark.live
@linux_only
def test_the_experiment_leaves_no_socket_behind(skip_unless_expected):
    port = skip_unless_expected(aq.accept_queue(1, 4), Why.NO_ENTRY, Why.PERMISSION).port
    time.sleep(0.05)
    left = [s for s in tcp_sockets().value if port in (s.local[1], s.remote[1])]
    assert left == []


@pytest.mark.live
@linux_only
def test_listen_clamps_to_somaxconn_in_the_kernel(skip_unless_expected):
    somaxconn = this_machine().somaxconn
    assert skip_unless_expected(aq.listen_limit(somaxconn + 1000), Why.KERNEL_LACKS) == somaxconn
    assert aq.listen_limit(3).value == 3


@pytest.mark.live
@linux_only
def test_a_dropped_client_retransmits_its_syn_after_one_second(skip_unless_expected):
    samples = skip_unless_expected(aq.syn_retransmissions(duration_s=1.6), Why.NO_ENTRY, Why.PERMISSION)
    steps = [t for (t, n), (_, before) in zip(samples[1:], samples) if n > before]
    model = [t for t, _ in predict_syn_retransmissions(this_machine(), duration_s=1.6)]
    assert samples[0][1] >= 1 and model[:2] == [0.0, 1.0]
    # the first SYN retransmission comes TCP_TIMEOUT_INIT (1 s) after the SYN; samples every 50 ms, a loaded
    # machine may read late: the window allows 0.1 s early (the SYN went out before the first sample) and 0.6 s late
    assert any(0.9 < t < 1.6 for t in steps)


@pytest.mark.live
def test_a_port_without_listen_refuses_connections():
    assert aq.connect_without_listen().value == "ECONNREFUSED"      # any TCP stack: it never says unavailable


@linux_only
def test_without_proc_files_the_experiments_say_which_file_is_missing(tmp_path):
    missing = str(tmp_path / "nope")
    for r in (aq.accept_queue(1, 2, tcp_path=missing), aq.syn_retransmissions(netstat_path=missing, duration_s=0.1)):
        assert (r.why, r.reason) == (Why.NO_ENTRY, f"{missing} does not exist (not Linux, or a kernel without it)")


def test_off_linux_the_experiments_say_so(monkeypatch):
    monkeypatch.setattr(sys, "platform", "darwin")
    for r in (aq.accept_queue(1, 2), aq.listen_limit(5), aq.syn_retransmissions(duration_s=0.1), tcp_diag()):
        assert r.why is Why.NOT_LINUX and "darwin" in r.reason


@linux_only
def test_a_listener_missing_from_sock_diag_is_an_error_not_a_reason(monkeypatch):
    monkeypatch.setattr(aq, "tcp_diag", lambda: aq.LiveResult("TCP sockets (sock_diag)", "a dump", []))
    with pytest.raises(LiveProbeError, match=r"the listener on 127\.0\.0\.1:\d+ is missing from sock_diag"):
        aq.listen_limit(5)


@pytest.mark.live
@linux_only
def test_missing_counters_leave_the_deltas_unknown(tmp_path, skip_unless_expected):
    r = skip_unless_expected(aq.accept_queue(0, 2, netstat_path=str(tmp_path / "no-netstat")), Why.NO_ENTRY,
                             Why.PERMISSION)
    assert r.overflows is None and r.accept_queue == 1


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match=r"clients must be an int in 1\.\.512"):
        aq.accept_queue(5, 0)
    with pytest.raises(ValueError, match=r"wait_s must be in \(0, 1\)"):
        aq.accept_queue(5, 10, wait_s=2)
    with pytest.raises(ValueError, match=r"syncnt must be an int in 1\.\.6"):
        aq.syn_retransmissions(syncnt=0)
    with pytest.raises(TypeError, match="reading must be an AcceptQueueReading, got None"):
        compare_accept_queue(None, None)


def _diag_message(state, sport, rqueue, wqueue, addr="127.0.0.1"):
    body = struct.pack("=BBBB", socket.AF_INET, state, 0, 0)
    body += struct.pack("!HH16s16sI8s", sport, 0, socket.inet_aton(addr) + bytes(12), bytes(16), 0, bytes(8))
    body += struct.pack("=IIIII", 0, rqueue, wqueue, 1000, 4242)
    return struct.pack("=IHHII", 16 + len(body), SOCK_DIAG_BY_FAMILY, 2, 1, 0) + body


def test_sock_diag_replies_are_parsed():
    data = _diag_message(10, 8080, 3, 128) + _diag_message(1, 8080, 0, 0) + struct.pack("=IHHII", 20, NLMSG_DONE,
                                                                                        2, 1, 0) + bytes(4)
    sockets, done = parse_inet_diag(data)
    assert done and [s.state for s in sockets] == ["LISTEN", "ESTABLISHED"]
    assert sockets[0].local == ("127.0.0.1", 8080) and (sockets[0].rqueue, sockets[0].wqueue) == (3, 128)
    with pytest.raises(OSError, match="sock_diag refused the request") as refused:
        parse_inet_diag(struct.pack("=IHHIIi", 20, NLMSG_ERROR, 0, 1, 0, -13))
    assert refused.value.errno == 13
    with pytest.raises(ValueError, match="truncated netlink message"):
        parse_inet_diag(_diag_message(10, 1, 0, 0)[:-8])
    request = inet_diag_request()
    assert len(request) == struct.unpack_from("=I", request)[0] == 16 + 8 + 48
