"""No Python repr and no scientific notation in what a learner reads: every step's text of every chapter's stories
(header, what the function does, what changed), in both kernels."""
import re

import pytest

from netlab.kernel.nic import Packet
from netlab.kernel.profiles import PROFILES
from netlab.scenarios import blocking_vs_epoll as ch02
from netlab.scenarios.connection_memory import connection_trace, fd_limit_trace
from netlab.scenarios.handshake import HandshakeLab
from netlab.scenarios.journey import journey
from netlab.scenarios.loopback import local_path, nic_path
from netlab.scenarios.receive import Host
from netlab.scenarios.send import one_send
from netlab.view.text import step_text

RAW = re.compile(r"None →|→ None|\{'|\[\{|\(\{|<[\w.]+ object at|\b\d+(\.\d+)?e[+-]?\d+\b|\d\.\d{7,}")
"""A dict or list repr, None as a value, an object's default repr, scientific notation, a float's raw digits."""


def receive(profile):
    host = Host(profile)
    host.tcp_socket(80, peer=("10.0.0.1", 40000))
    host.receive([Packet(1000 + 500 * i, saddr="10.0.0.1", daddr=host.address, sport=40000, dport=80, length=140,
                         name=f"p{i}") for i in range(3)])
    return host.record()


def handshake(profile):
    lab = HandshakeLab(PROFILES[profile], backlog=1)
    lab.connect(3)
    lab.run(until_ms=3000)
    return lab.trace


STORIES = {
    "00 journey": lambda p: journey(profile=p),
    "00 journey over loopback": lambda p: journey(profile=p, over="loopback"),
    "01 receive": receive,
    "02 blocking recv": lambda p: ch02.blocking_recv(p).trace,
    "02 epoll": lambda p: ch02.epoll_story(profile=p).trace,
    "02 accept": lambda p: ch02.accept_wake_one(profile=p).trace,
    "03 send": lambda p: one_send(1000, profile=p)[1].trace,
    "04 loopback": lambda p: local_path(PROFILES[p]),
    "04 from the NIC": lambda p: nic_path(PROFILES[p]),
    "05 handshake": handshake,
    "06 TIME_WAIT": lambda p: connection_trace(PROFILES[p], "client", "TIME_WAIT", expire=True),
    "07 fd limit": lambda p: fd_limit_trace(5, profile=PROFILES[p]),
}


@pytest.mark.parametrize("profile", ["3.10", "6.12"])
@pytest.mark.parametrize("story", STORIES)
def test_every_step_reads_as_words(story, profile):
    trace = STORIES[story](profile)
    raw = [(i, m.group(0), line) for i in range(len(trace)) for line in step_text(trace, i).splitlines()
           for m in [RAW.search(line)] if m]
    assert not raw, f"{story} ({profile}): {len(raw)} lines read as Python, e.g. step {raw[0][0] + 1}: {raw[0][2]!r}"


def test_the_pattern_catches_what_it_is_for():
    for text in ("rmem: None → 0", "{'curr': 'server'}", "[{'a': 1}]", "rate 4.00349e+06", "t = 0.30000000000000004",
                 "<netlab.kernel.sock.Sock object at 0x7f>"):
        assert RAW.search(text), text
    for text in ("t = 1.086 s", "CPU 0 · softnet · poll_list: empty → eth0-rx0", "ring 4,003,490", "tcp_v4_rcv()"):
        assert not RAW.search(text), text
