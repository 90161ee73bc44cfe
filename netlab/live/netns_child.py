"""The child-process side of :mod:`netlab.live.netns_lab`: ``python -m netlab.live.netns_child UID GID JSON`` in a
fresh user + network namespace (:func:`netlab.live.own_net.run_in_own_net`; the child starts with
:func:`~netlab.live.own_net.enter`: root of its user namespace, ``lo`` up).

JSON is a list of groups, each a list of ``[experiment, parameters]``; the child runs the groups at once, each on
a TUN device of its own (``tun0`` holds 198.51.100.1/24, ``tun1`` 203.0.113.1/24, ``tun2`` 192.0.2.1/24), the
experiments of a group one after another, and prints ``{"results": [[reply, …], …]}``. It plays every other
address of a device's network (the peers) by writing IPv4 packets into the TUN and reading what the kernel writes
back. It writes only this namespace's sysctls (:func:`netlab.live.own_net.set_sysctl`), and everything (devices,
sockets, requests) dies with the child. Every wait has a deadline. pyroute2 (netlink) and scapy (packets) are
imported here only.
"""
from __future__ import annotations

import errno
import fcntl
import json
import os
import select
import socket
import struct
import sys
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

from netlab.live import own_net, procfs
from netlab.live.result import Unavailable, Why, child_reply

NETWORKS = ("198.51.100", "203.0.113", "192.0.2")   # RFC 5737's three TEST-NETs: one /24 per TUN device
TUNSETIFF, IFF_TUN, IFF_NO_PI = 0x400454CA, 0x0001, 0x1000    # include/uapi/linux/if_tun.h
COUNTERS = ("ListenOverflows", "ListenDrops", "TCPReqQFullDrop", "TCPReqQFullDoCookies", "EmbryonicRsts")


def set_sysctls(values: dict) -> None:
    """Set these sysctls of this namespace (each must exist here)."""
    for name, value in values.items():
        own_net.set_sysctl(name, value)


def counters() -> dict[str, int]:
    """This namespace's TcpExt counters that the experiments read."""
    tcpext = procfs.netstat("/proc/net/netstat").value["TcpExt"]
    return {name: tcpext.get(name, 0) for name in COUNTERS}


class Tun:
    """TUN device ``tun<index>`` holding ``<net>.1/24``: the namespace's own address there (``server``), the
    device's file descriptor, and the peers ``<net>.2`` (silent) and ``<net>.10`` … that the child plays."""

    def __init__(self, ipr, index: int, packet_types: tuple):
        self.net = NETWORKS[index]
        self.server, self.silent_peer = f"{self.net}.1", f"{self.net}.2"
        self.IP, self.TCP = packet_types
        name = f"tun{index}"
        try:
            self.fd = os.open("/dev/net/tun", os.O_RDWR | os.O_NONBLOCK)
        except OSError as e:
            raise Unavailable(Why.NO_ENTRY, f"/dev/net/tun cannot be opened ({errno.errorcode.get(e.errno)}): "
                                            f"no TUN driver here") from None
        fcntl.ioctl(self.fd, TUNSETIFF, struct.pack("16sH22x", name.encode(), IFF_TUN | IFF_NO_PI))
        link = ipr.link_lookup(ifname=name)[0]
        ipr.addr("add", index=link, address=self.server, prefixlen=24)
        ipr.link("set", index=link, state="up")
        self.start = time.monotonic()
        self.ports = iter(range(8000, 9000))

    def port(self) -> int:
        """A port no earlier experiment on this device listened on (its requests may still be pending)."""
        return next(self.ports)

    def peer(self, i: int) -> tuple[str, int]:
        """The i-th peer's address and port (<net>.10 …)."""
        return f"{self.net}.{10 + i % 240}", 40000 + i

    def now(self) -> float:
        return time.monotonic() - self.start

    def send(self, src: tuple[str, int], flags: str, seq: int, ack: int = 0, *, dport: int) -> None:
        """Write one segment from the peer ``src`` to the namespace's address into the TUN."""
        packet = self.IP(src=src[0], dst=self.server) / self.TCP(sport=src[1], dport=dport, flags=flags, seq=seq,
                                                                 ack=ack, window=64240, options=[("MSS", 1460)])
        os.write(self.fd, bytes(packet))

    def capture(self, port: int, seconds: float, until=None, quiet: float | None = None) -> list[dict]:
        """The TCP segments the kernel writes into the TUN from or to its ``port`` for ``seconds``, or until
        ``until(segments)``, or until the TUN stays ``quiet`` that long: an earlier experiment's retransmissions
        do not count."""
        got, deadline = [], time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0 and not (until and until(got)):
            if not select.select([self.fd], [], [], left if quiet is None else min(left, quiet))[0]:
                break
            raw = os.read(self.fd, 65535)
            if raw[0] >> 4 != 4 or raw[9] != socket.IPPROTO_TCP:
                continue                          # IPv6 router solicitations and the like
            ip = self.IP(raw)
            tcp = ip[self.TCP]
            if port not in (tcp.sport, tcp.dport):
                continue
            got.append({"t": round(self.now(), 4), "src": ip.src, "sport": tcp.sport, "dst": ip.dst,
                        "dport": tcp.dport, "flags": str(tcp.flags), "seq": tcp.seq, "ack": tcp.ack})
        return got

    def handshake(self, i: int, port: int, ack: bool = True) -> dict | None:
        """Peer ``i`` sends a SYN (and, when a SYN-ACK comes, the last ACK): the SYN-ACK, or None."""
        src = self.peer(i)
        self.send(src, "S", 1000 * i, dport=port)
        answer = self.capture(port, 0.5, lambda got: any(s["dport"] == src[1] for s in got))
        synack = next((s for s in answer if s["dport"] == src[1] and s["flags"] == "SA"), None)
        if synack and ack:
            self.send(src, "A", 1000 * i + 1, synack["seq"] + 1, dport=port)
        return synack

    def states(self, port: int) -> dict[str, int]:
        """TCP states of the sockets and requests on our ``port`` (``/proc/net/tcp``)."""
        rows = procfs.tcp_sockets("/proc/net/tcp").value
        return dict(Counter(r.state for r in rows if r.local == (self.server, port)))

    def listener(self, port: int, backlog: int) -> socket.socket:
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((self.server, port))
        s.listen(backlog)
        return s


def _moved(before: dict, after: dict) -> dict[str, int]:
    return {name: after[name] - before[name] for name in after}


def syn_queue(tun: Tun, sysctls: dict, backlog: int, syns: int) -> dict:
    """listen(backlog) under these sysctls; SYNs from ``syns`` peers that never finish."""
    set_sysctls(sysctls)
    port = tun.port()
    with tun.listener(port, backlog):
        before = counters()
        for i in range(syns):
            tun.send(tun.peer(i), "S", i, dport=port)
        # the kernel answers a SYN while the write() that brought it runs: a tenth of a second of silence is the end
        answers = tun.capture(port, 0.3, lambda got: len(got) >= syns, quiet=0.1)
        return {"syn_recv": tun.states(port).get("SYN_RECV", 0), "counters": _moved(before, counters()),
                "synacks": sum(s["flags"] == "SA" for s in answers)}


def synack_retransmissions(tun: Tun, sysctls: dict, seconds: float) -> dict:
    """One SYN, never an ACK: when do SYN-ACKs come, and when does the request leave /proc/net/tcp?"""
    set_sysctls(sysctls)
    port = tun.port()
    with tun.listener(port, 8):
        sent = tun.now()
        tun.send(tun.peer(0), "S", 0, dport=port)
        synacks, gone = [], None
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline and gone is None:
            synacks += [s["t"] - sent for s in tun.capture(port, 0.05) if s["flags"] == "SA"]
            if synacks and not tun.states(port).get("SYN_RECV"):
                gone = tun.now() - sent
        return {"synacks": [round(t, 3) for t in synacks], "request_gone": gone and round(gone, 3)}


def syn_retransmissions(tun: Tun, sysctls: dict, seconds: float) -> dict:
    """connect() to a silent peer on the TUN: the SYNs' times and what connect() finally says.
    ``net.ipv4.tcp_syn_linear_timeouts`` is set where the kernel has it (6.5+)."""
    linear = "net.ipv4.tcp_syn_linear_timeouts"
    set_sysctls({k: v for k, v in sysctls.items() if k != linear or own_net.has_sysctl(linear)})
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as client:
        client.setblocking(False)
        sent = tun.now()
        client.connect_ex((tun.silent_peer, 80))
        syns, error, at = [], None, None
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline and error is None:
            syns += [s["t"] - sent for s in tun.capture(80, 0.05) if s["flags"] == "S"]
            code = client.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if code:
                error, at = errno.errorcode.get(code, str(code)), round(tun.now() - sent, 3)
    return {"syns": [round(t, 3) for t in syns], "error": error, "error_at": at}


def accept_overflow(tun: Tun, sysctls: dict, backlog: int, window: float) -> dict:
    """``backlog`` peers finish their handshakes; two more send SYNs (both answered: the accept queue is not full
    yet); the first ACKs and fills it; the last ACK finds it full. What comes back to that peer within ``window``?"""
    set_sysctls(sysctls)
    port = tun.port()
    with tun.listener(port, backlog):
        before = counters()
        done = sum(tun.handshake(i, port) is not None for i in range(backlog))
        synacks = [tun.handshake(i, port, ack=False) for i in (backlog, backlog + 1)]
        if done < backlog or not all(synacks):
            raise RuntimeError(f"only {done + sum(map(bool, synacks))} of {backlog + 2} SYNs were answered")
        (first, last), (a, b) = (tun.peer(backlog), tun.peer(backlog + 1)), synacks
        tun.send(first, "A", 1000 * backlog + 1, a["seq"] + 1, dport=port)
        time.sleep(0.02)
        tun.send(last, "A", 1000 * (backlog + 1) + 1, b["seq"] + 1, dport=port)
        sent = tun.now()
        answer = [s for s in tun.capture(port, window) if s["dport"] == last[1]]
        return {"synacks": backlog + 2, "answer": [s["flags"] for s in answer],
                "answer_after": [round(s["t"] - sent, 3) for s in answer],
                "counters": _moved(before, counters()), "states": tun.states(port)}


def accept_queue(tun: Tun, sysctls: dict, backlog: int, peers: int) -> dict:
    """listen(backlog) under these sysctls; ``peers`` handshakes one after another, nobody accepts."""
    from netlab.live.sock_diag import tcp_diag
    set_sysctls(sysctls)
    port = tun.port()
    with tun.listener(port, backlog):
        before = counters()
        answered = 0
        for i in range(peers):
            if tun.handshake(i, port) is None:      # the accept queue is full: the other peers' SYNs at once
                rest = {tun.peer(j)[1] for j in range(i + 1, peers)}
                for j in range(i + 1, peers):
                    tun.send(tun.peer(j), "S", 1000 * j, dport=port)
                answered += sum(s["dport"] in rest and s["flags"] == "SA" for s in tun.capture(port, 0.5))
                break
            answered += 1
        time.sleep(0.01)
        row = next(r for r in tcp_diag().value if r.local == (tun.server, port) and r.state == "LISTEN")
        return {"send_q": row.wqueue, "recv_q": row.rqueue, "answered": answered,
                "counters": _moved(before, counters())}


EXPERIMENTS = {f.__name__: f for f in (syn_queue, synack_retransmissions, syn_retransmissions, accept_overflow,
                                       accept_queue)}


def _run(groups: list) -> dict:
    """Each group of experiments on a TUN device of its own, the groups at once (threads), the experiments of a
    group one after another. The experiments of different groups read no counter another one moves."""
    if not 1 <= len(groups) <= len(NETWORKS):
        raise ValueError(f"1 to {len(NETWORKS)} groups of experiments, one per TUN device")
    from pyroute2 import IPRoute
    from scapy.layers.inet import IP, TCP
    with IPRoute() as ipr:
        tuns = [Tun(ipr, i, (IP, TCP)) for i in range(len(groups))]
    try:
        with ThreadPoolExecutor(max_workers=len(groups)) as pool:
            runs = [pool.submit(lambda tun, group: [EXPERIMENTS[name](tun, **params) for name, params in group],
                                tun, group) for tun, group in zip(tuns, groups)]
            return {"results": [run.result() for run in runs]}
    finally:
        for tun in tuns:
            os.close(tun.fd)


if __name__ == "__main__":      # the child of netns_lab; its namespace ends when it exits
    child_reply(lambda: _run(json.loads(own_net.enter(sys.argv[1:])[0])))
