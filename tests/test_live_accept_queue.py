"""The somaxconn clamp and an unlistened port on loopback; sock_diag parsing; the fallbacks. (The accept queue,
the SYN queue and the retransmissions are measured in a private namespace: test_live_netns_lab.py.)"""
import socket
import struct
import sys

import pytest

from netlab.live import accept_queue as aq
from netlab.live.profile import this_machine
from netlab.live.result import LiveProbeError, Why
from netlab.live.sock_diag import (NLMSG_DONE, NLMSG_ERROR, SOCK_DIAG_BY_FAMILY, inet_diag_request,
                                   parse_inet_diag, tcp_diag)

linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="loopback TCP queues of Linux")


@pytest.mark.live
@linux_only
def test_listen_clamps_to_somaxconn_in_the_kernel(skip_unless_expected):
    somaxconn = this_machine().somaxconn
    assert skip_unless_expected(aq.listen_limit(somaxconn + 1000), Why.KERNEL_LACKS) == somaxconn
    assert aq.listen_limit(3).value == 3


@pytest.mark.live
def test_a_port_without_listen_refuses_connections():
    assert aq.connect_without_listen().value == "ECONNREFUSED"      # any TCP stack: it never says unavailable


def test_off_linux_the_experiments_say_so(monkeypatch):
    monkeypatch.setattr(sys, "platform", "darwin")
    for r in (aq.listen_limit(5), tcp_diag()):
        assert r.why is Why.NOT_LINUX and "darwin" in r.reason


@linux_only
def test_a_listener_missing_from_sock_diag_is_an_error_not_a_reason(monkeypatch):
    monkeypatch.setattr(aq, "tcp_diag", lambda: aq.LiveResult("TCP sockets (sock_diag)", "a dump", []))
    with pytest.raises(LiveProbeError, match=r"the listener on 127\.0\.0\.1:\d+ is missing from sock_diag"):
        aq.listen_limit(5)


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="backlog must be a whole number ≥ 0, got -1"):
        aq.listen_limit(-1)


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
