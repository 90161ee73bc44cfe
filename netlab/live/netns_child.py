"""The child-process side of :mod:`netlab.live.netns_lab`: ``python -m netlab.live.netns_child JSON`` in a fresh
user + network namespace (``run_child(…, unshare=CLONE_NEWUSER | CLONE_NEWNET)``).

JSON is a list of ``[experiment, parameters]``; the child runs them one after another in its namespace and prints
``{"results": [reply, …]}``. The namespace has ``lo`` and a TUN device ``tun0`` holding 198.51.100.1/24; the
child plays every other address of that network (the peers) by writing IPv4 packets into the TUN and reading what
the kernel writes back. It writes only this namespace's sysctls, and everything (devices, sockets, requests) dies
with the child. Every wait has a deadline. pyroute2 (netlink) and scapy (packets) are imported here only.
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

from netlab.live import procfs
from netlab.live.loopback import namespaces_refused
from netlab.live.result import Unavailable, Why, child_reply, unshare_errno

SERVER = "198.51.100.1"          # the namespace's own address on tun0 (RFC 5737 TEST-NET-2)
PREFIX = 24
SILENT_PEER = "198.51.100.2"     # a peer on the TUN that never answers
TUNSETIFF, IFF_TUN, IFF_NO_PI = 0x400454CA, 0x0001, 0x1000    # include/uapi/linux/if_tun.h
COUNTERS = ("ListenOverflows", "ListenDrops", "TCPReqQFullDrop", "TCPReqQFullDoCookies", "EmbryonicRsts")


def peer(i: int) -> tuple[str, int]:
    """The i-th peer's address and port (198.51.100.10 …)."""
    return f"198.51.100.{10 + i % 240}", 40000 + i


class Namespace:
    """The child's namespace: ``lo`` and ``tun0`` up, the TUN's file descriptor, sysctls, packets, counters."""

    def __init__(self):
        if unshare_errno():
            raise namespaces_refused(unshare_errno())
        from pyroute2 import IPRoute
        try:
            self.tun = os.open("/dev/net/tun", os.O_RDWR | os.O_NONBLOCK)
        except OSError as e:
            raise Unavailable(Why.NO_ENTRY, f"/dev/net/tun cannot be opened ({errno.errorcode.get(e.errno)}): "
                                            f"no TUN driver here") from None
        fcntl.ioctl(self.tun, TUNSETIFF, struct.pack("16sH22x", b"tun0", IFF_TUN | IFF_NO_PI))
        with IPRoute() as ipr:
            lo, tun = ipr.link_lookup(ifname="lo")[0], ipr.link_lookup(ifname="tun0")[0]
            ipr.link("set", index=lo, state="up")
            ipr.addr("add", index=tun, address=SERVER, prefixlen=PREFIX)
            ipr.link("set", index=tun, state="up")
        from scapy.layers.inet import IP, TCP
        self.IP, self.TCP = IP, TCP
        self.start = time.monotonic()
        self.ports = iter(range(8000, 9000))

    def port(self) -> int:
        """A port no earlier experiment of this child listened on (its requests may still be pending)."""
        return next(self.ports)

    def sysctl(self, name: str, value: int) -> bool:
        """Set this namespace's sysctl ``name``; False when this kernel has no such sysctl."""
        try:
            with open(procfs.sysctl_path(name), "w") as f:
                f.write(str(value))
        except FileNotFoundError:
            return False
        return True

    def sysctls(self, values: dict) -> None:
        """Set these sysctls of this namespace (each must exist here)."""
        for name, value in values.items():
            if not self.sysctl(name, value):
                raise Unavailable(Why.KERNEL_LACKS, f"this kernel has no sysctl {name}")

    def now(self) -> float:
        return time.monotonic() - self.start

    def send(self, src: tuple[str, int], flags: str, seq: int, ack: int = 0, dport: int = 8080) -> None:
        """Write one segment from the peer ``src`` to the namespace's address into the TUN."""
        packet = self.IP(src=src[0], dst=SERVER) / self.TCP(sport=src[1], dport=dport, flags=flags, seq=seq,
                                                            ack=ack, window=64240, options=[("MSS", 1460)])
        os.write(self.tun, bytes(packet))

    def capture(self, port: int, seconds: float, until=None) -> list[dict]:
        """The TCP segments the kernel writes into the TUN from or to its ``port`` for ``seconds`` (or until
        ``until(segments)``): an earlier experiment's retransmissions do not count."""
        got, deadline = [], time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0 and not (until and until(got)):
            if not select.select([self.tun], [], [], left)[0]:
                break
            raw = os.read(self.tun, 65535)
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
        src = peer(i)
        self.send(src, "S", 1000 * i, dport=port)
        answer = self.capture(port, 0.2, lambda got: any(s["dport"] == src[1] for s in got))
        synack = next((s for s in answer if s["dport"] == src[1] and s["flags"] == "SA"), None)
        if synack and ack:
            self.send(src, "A", 1000 * i + 1, synack["seq"] + 1, dport=port)
        return synack

    @staticmethod
    def counters() -> dict[str, int]:
        tcpext = procfs.netstat("/proc/net/netstat").value["TcpExt"]
        return {name: tcpext.get(name, 0) for name in COUNTERS}

    @staticmethod
    def states(port: int) -> dict[str, int]:
        rows = procfs.tcp_sockets("/proc/net/tcp").value
        return dict(Counter(r.state for r in rows if r.local == (SERVER, port)))

    def listener(self, port: int, backlog: int) -> socket.socket:
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((SERVER, port))
        s.listen(backlog)
        return s


def _moved(before: dict, after: dict) -> dict[str, int]:
    return {name: after[name] - before[name] for name in after}


def syn_queue(ns: Namespace, sysctls: dict, backlog: int, syns: int) -> dict:
    """listen(backlog) under these sysctls; SYNs from ``syns`` peers that never finish."""
    ns.sysctls(sysctls)
    port = ns.port()
    with ns.listener(port, backlog):
        before = ns.counters()
        for i in range(syns):
            ns.send(peer(i), "S", i, dport=port)
        answers = ns.capture(port, 0.3, lambda got: len(got) >= syns)
        return {"syn_recv": ns.states(port).get("SYN_RECV", 0), "counters": _moved(before, ns.counters()),
                "synacks": sum(s["flags"] == "SA" for s in answers)}


def synack_retransmissions(ns: Namespace, sysctls: dict, seconds: float) -> dict:
    """One SYN, never an ACK: when do SYN-ACKs come, and when does the request leave /proc/net/tcp?"""
    ns.sysctls(sysctls)
    port = ns.port()
    with ns.listener(port, 8):
        sent = ns.now()
        ns.send(peer(0), "S", 0, dport=port)
        synacks, gone = [], None
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline and gone is None:
            synacks += [s["t"] - sent for s in ns.capture(port, 0.05) if s["flags"] == "SA"]
            if synacks and not ns.states(port).get("SYN_RECV"):
                gone = ns.now() - sent
        return {"synacks": [round(t, 3) for t in synacks], "request_gone": gone and round(gone, 3)}


def syn_retransmissions(ns: Namespace, sysctls: dict, seconds: float) -> dict:
    """connect() to a silent peer on the TUN: the SYNs' times and what connect() finally says.
    ``net.ipv4.tcp_syn_linear_timeouts`` is set where the kernel has it (6.5+); the reply says whether it did."""
    linear = "net.ipv4.tcp_syn_linear_timeouts"
    has_linear = ns.sysctl(linear, sysctls[linear])
    ns.sysctls({k: v for k, v in sysctls.items() if k != linear})
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as client:
        client.setblocking(False)
        sent = ns.now()
        client.connect_ex((SILENT_PEER, 80))
        syns, error, at = [], None, None
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline and error is None:
            syns += [s["t"] - sent for s in ns.capture(80, 0.05) if s["flags"] == "S"]
            code = client.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if code:
                error, at = errno.errorcode.get(code, str(code)), round(ns.now() - sent, 3)
    return {"syns": [round(t, 3) for t in syns], "error": error, "error_at": at, "has_linear": has_linear}


def accept_overflow(ns: Namespace, sysctls: dict, backlog: int, window: float) -> dict:
    """``backlog`` peers finish their handshakes; two more send SYNs (both answered: the accept queue is not full
    yet); the first ACKs and fills it; the last ACK finds it full. What comes back to that peer within ``window``?"""
    ns.sysctls(sysctls)
    port = ns.port()
    with ns.listener(port, backlog):
        before = ns.counters()
        done = sum(ns.handshake(i, port) is not None for i in range(backlog))
        synacks = [ns.handshake(i, port, ack=False) for i in (backlog, backlog + 1)]
        if done < backlog or not all(synacks):
            raise RuntimeError(f"only {done + sum(map(bool, synacks))} of {backlog + 2} SYNs were answered")
        (first, last), (a, b) = (peer(backlog), peer(backlog + 1)), synacks
        ns.send(first, "A", 1000 * backlog + 1, a["seq"] + 1, dport=port)
        time.sleep(0.02)
        ns.send(last, "A", 1000 * (backlog + 1) + 1, b["seq"] + 1, dport=port)
        sent = ns.now()
        answer = [s for s in ns.capture(port, window) if s["dport"] == last[1]]
        return {"synacks": backlog + 2, "answer": [s["flags"] for s in answer],
                "answer_after": [round(s["t"] - sent, 3) for s in answer],
                "counters": _moved(before, ns.counters()), "states": ns.states(port)}


def accept_queue(ns: Namespace, sysctls: dict, backlog: int, peers: int) -> dict:
    """listen(backlog) under these sysctls; ``peers`` handshakes one after another, nobody accepts."""
    from netlab.live.sock_diag import tcp_diag
    ns.sysctls(sysctls)
    port = ns.port()
    with ns.listener(port, backlog):
        before = ns.counters()
        answered = sum(ns.handshake(i, port) is not None for i in range(peers))
        time.sleep(0.01)
        row = next(r for r in tcp_diag().value if r.local == (SERVER, port) and r.state == "LISTEN")
        return {"send_q": row.wqueue, "recv_q": row.rqueue, "answered": answered,
                "counters": _moved(before, ns.counters())}


EXPERIMENTS = {f.__name__: f for f in (syn_queue, synack_retransmissions, syn_retransmissions, accept_overflow,
                                       accept_queue)}


def _run(plan: list) -> dict:
    ns = Namespace()
    try:
        return {"results": [EXPERIMENTS[name](ns, **params) for name, params in plan]}
    finally:
        os.close(ns.tun)


if __name__ == "__main__":      # the child of netns_lab; its namespace ends when it exits
    child_reply(lambda: _run(json.loads(sys.argv[1])))
