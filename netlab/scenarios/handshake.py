"""A handshake lab: clients connect to one listener on simulated time, and every step can be traced.

It builds the network namespaces (one, for loopback; or a client and a server joined by a wire with a one-way
delay), a listener and its clients, schedules what the programs do (``listen``, ``connect``, ``accept``, or a
SYN flood from spoofed addresses), and runs the kernel models of :mod:`netlab.kernel.tcp_handshake`. Each traced
step's state holds the two queues, every client's TCP state, the TcpExt counters and the segments sent so far,
which is what :mod:`netlab.view.handshake` draws. :func:`predict_accept_queue` answers "how many of these clients
complete?"; :mod:`netlab.live.netns_lab` runs the lab beside the learner's kernel.

    lab = HandshakeLab(PROFILES["6.12"], backlog=2)
    lab.connect(5)
    outcome = lab.run(until_ms=10)
    outcome.accept_queue        # ('c1', 'c2', 'c3'): backlog+1 finished handshakes wait for accept()
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from types import MappingProxyType
from typing import Annotated, Mapping, NamedTuple

from netlab import check
from netlab.check import CInt
from netlab.kernel import tcp_handshake
from netlab.kernel.inet_connection_sock import (
    MS, TCPEXT_COUNTERS, RequestSock, TcpSock, accept_queue_capacity, inet_bind, inet_csk_accept,
    syn_queue_capacity, tcpext)
from netlab.kernel.netns import Net
from netlab.kernel.profiles import MAX_TCP_SYNCNT, KernelProfile
from netlab.kernel.sched import Scheduler, nonblocking
from netlab.kernel.skbuff import SkBuff
from netlab.kernel.tcp_handshake import tcp_segment
from netlab.kernel.tcp_ipv4 import tcp_v4_rcv
from netlab.kernel.timer import TimerList
from netlab.trace import Trace, Tracer
from netlab.units import duration

LOOPBACK = "127.0.0.1"
CLIENT_ADDR, SERVER_ADDR = "192.0.2.10", "198.51.100.7"   # documentation addresses (RFC 5737)
MAX_MS = 3_600_000
"""The longest a handshake scenario runs: an hour of simulated time."""
Milliseconds = Annotated[float, check.Range(0, MAX_MS)]
MAX_CLIENTS = 100_000
MAX_EVENTS = 100 * MAX_CLIENTS
"""A guard against a runaway model: more engine events than any allowed scenario needs in one run."""
SPOOFED_NET = "203.0.113."                                # where a SYN flood pretends to come from


class Segment(NamedTuple):
    """One segment the lab sent: from, to, which (SYN, SYN-ACK …), when it left and arrives, what became of it."""

    src: str
    dst: str
    name: str
    sent_ns: int
    arrive_ns: int
    fate: str | None

    def __str__(self) -> str:
        return (f"{self.fate or 'on the wire'}: {self.name} {self.src} → {self.dst} (sent at "
                f"{duration(self.sent_ns)}, arrives at {duration(self.arrive_ns)})")


class SegmentLog(tuple):
    """Every :class:`Segment` sent so far; short in a Stepper's diff."""

    def __str__(self) -> str:
        if not self:
            return "no segments"
        src, dst, name, *_ = self[-1]
        return f"{len(self):,} segment{'s' if len(self) != 1 else ''}, the last {name} {src}→{dst}"


@dataclass(frozen=True)
class HandshakeState:
    """A :class:`HandshakeLab` at a step: the listener's state and backlog, the SYN queue (half-open requests,
    "(acked)" once the client's ACK found the accept queue full) and the accept queue with their capacities (None
    while not listening), each client's TCP state, the server's non-zero TcpExt counters, every segment so far."""

    listener: str
    syn_queue: tuple[str, ...]
    accept_queue: tuple[str, ...]
    syn_queue_max: int | None
    accept_queue_max: int | None
    clients: Mapping[str, str]
    counters: Mapping[str, int]
    segments: SegmentLog


@dataclass(frozen=True)
class HandshakeOutcome:
    """Where everything stands when the lab stops."""

    backlog: int                       # sk_max_ack_backlog after the somaxconn clamp
    accept_queue: tuple[str, ...]      # finished connections waiting for accept()
    accepted: tuple[str, ...]          # taken by accept()
    syn_queue: tuple[str, ...]         # half-open requests
    clients: Mapping[str, str]         # client -> TCP state of its socket
    connect_results: Mapping[str, str] # client -> what a non-blocking connect() reports by now
    errors: Mapping[str, str]          # client -> the error its next call would see (ECONNRESET, ETIMEDOUT, …)
    ports: Mapping[str, int]           # client -> local port connect() chose
    counters: Mapping[str, int]        # TcpExt counters of the server's namespace
    syn_fates: Mapping[str, int]       # what became of every SYN the server received
    segments: int

    @property
    def established_clients(self) -> int:
        return sum(state == "TCP_ESTABLISHED" for state in self.clients.values())


class HandshakeLab:
    """Clients connecting to one listener with ``listen(backlog)``, on simulated time.

    ``loopback=True`` puts everything in one namespace on 127.0.0.1 (the live experiment's setting);
    otherwise a client host and a server host are ``one_way_us`` apart. ``listen_at_ms=None`` never calls
    ``listen()`` (the port is only bound). ``syncnt`` is the clients' TCP_SYNCNT (0: tcp_syn_retries).
    ``record`` keeps a :class:`~netlab.trace.Trace` of every kernel function (small scenarios only).
    """

    @check.arguments
    def __init__(self, profile: KernelProfile, backlog: CInt, *, loopback: bool = True, one_way_us: float = 20.0,
                 port: check.Port = 8080, listen_at_ms: Milliseconds | None = 0.0,
                 syncnt: Annotated[int, check.Range(0, MAX_TCP_SYNCNT)] = 0, seed: int = 0, record: bool = True,
                 max_events: int = 20_000):
        check.real("one_way_us", one_way_us, maximum=10_000_000, above=0)
        self.profile, self.backlog, self.syncnt = profile, backlog, syncnt
        self.one_way_ns = int(one_way_us * 1000)
        self.sched = Scheduler(profile=profile, max_events=MAX_EVENTS)
        labels: dict = {}
        server_addr = LOOPBACK if loopback else SERVER_ADDR
        self.client_addr = LOOPBACK if loopback else CLIENT_ADDR
        self.server_net = Net(profile, local_addrs={LOOPBACK, server_addr}, sched=self.sched, labels=labels,
                              seed=seed)
        self.client_net = self.server_net if loopback else Net(profile, local_addrs={LOOPBACK, self.client_addr},
                                                               sched=self.sched, labels=labels, seed=seed + 1)
        self.nets = {server_addr: self.server_net, self.client_addr: self.client_net}
        for net in self.nets.values():
            net.xmit = self._wire
        self.server_addr, self.port = server_addr, port
        self.listener = TcpSock(name="listener", net=self.server_net)
        inet_bind(self.server_net, self.listener, server_addr, port)
        labels[(server_addr, port)] = "server"
        self.clients: dict[str, TcpSock] = {}
        self.connect_results: dict[str, object] = {}
        self.accepted: list[str] = []
        self.segments: list[SkBuff] = []
        self._segment_times: list[tuple[int, int]] = []
        self._flooders = 0
        self.tracer = Tracer(clock=self.sched.now, snapshot=self.state, max_events=max_events,
                             renamed=profile.renamed) if record else None
        if listen_at_ms is not None:
            self._at(listen_at_ms, lambda: _sys_listen(self.listener, backlog), "listen()")

    # --- what the programs do ------------------------------------------------------------------------------------
    @check.arguments
    def connect(self, n: Annotated[int, check.Range(1, MAX_CLIENTS)] = 1, at_ms: Milliseconds = 0.0,
                every_ms: Milliseconds = 0.1) -> list[str]:
        """``n`` clients call non-blocking ``connect()``, the first at ``at_ms``, then every ``every_ms``."""
        names = []
        for i in range(n):
            name = f"c{len(self.clients) + 1}"
            sk = TcpSock(name=name, net=self.client_net, inet_rcv_saddr=self.client_addr,
                         icsk_syn_retries=self.syncnt)
            self.clients[name] = sk
            self._at(at_ms + i * every_ms, lambda sk=sk: self._connect(sk), f"connect() by {name}")
            names.append(name)
        return names

    @check.arguments
    def accept(self, at_ms: Milliseconds, count: Annotated[int, check.Range(1, MAX_CLIENTS)] = 1) -> None:
        """The server program calls non-blocking ``accept()`` ``count`` times at ``at_ms``."""
        self._at(at_ms, lambda: self._accept(count), "accept()")

    @check.arguments
    def syn_flood(self, n: Annotated[int, check.Range(1, MAX_CLIENTS)], at_ms: Milliseconds = 0.0,
                  every_ms: Milliseconds = 0.01) -> None:
        """``n`` SYNs from spoofed addresses that never answer (their SYN-ACKs go nowhere)."""
        for i in range(n):
            self._at(at_ms + i * every_ms, self._spoofed_syn, "a spoofed SYN")

    @check.arguments
    def run(self, until_ms: Milliseconds) -> HandshakeOutcome:
        """Run everything scheduled up to ``until_ms`` (simulated) and say where things stand."""
        until_ns = int(until_ms * MS)
        if until_ns < self.sched.clock:
            raise ValueError(f"until_ms must not be earlier than now ({self.sched.clock / MS:g} ms)")
        if self.tracer is None:
            self.sched.run(until_ns)
        else:
            with self.tracer:
                self.sched.run(until_ns)
        return self.outcome()

    @property
    def trace(self) -> Trace:
        if self.tracer is None:
            raise ValueError("this lab was made with record=False: no trace")
        return self.tracer.trace

    # --- results -------------------------------------------------------------------------------------------------
    def outcome(self) -> HandshakeOutcome:
        L = self.listener
        fates = Counter(s.meta["fate"] for s in self.segments
                        if s.meta["flags"] == ("SYN",) and s.meta["daddr"] == self.server_addr
                        and s.meta["dport"] == self.port and s.meta["fate"] is not None)
        counters = {c: self.server_net.mib[c] for c in TCPEXT_COUNTERS}
        return HandshakeOutcome(
            backlog=L.sk_max_ack_backlog, accept_queue=self._accept_queue(), accepted=tuple(self.accepted),
            syn_queue=tuple(r.name for r in self._requests()),
            clients=MappingProxyType({n: sk.sk_state for n, sk in self.clients.items()}),
            connect_results=MappingProxyType({n: str(self.connect_results.get(n, "not called yet"))
                                              if sk.connect_errno in (None, "EINPROGRESS") else sk.connect_errno
                                              for n, sk in self.clients.items()}),
            errors=MappingProxyType({n: sk.sk_err for n, sk in self.clients.items() if sk.sk_err}),
            ports=MappingProxyType({n: sk.inet_num for n, sk in self.clients.items() if sk.inet_num}),
            counters=MappingProxyType(counters), syn_fates=MappingProxyType(dict(fates)),
            segments=len(self.segments))

    def capacities(self) -> dict[str, int]:
        """What the two queues hold for this profile and backlog, from the full tests."""
        return {"SYN queue": syn_queue_capacity(self.profile, self.backlog),
                "accept queue": accept_queue_capacity(self.profile, self.backlog)}

    def state(self) -> "HandshakeState":
        """The scenario at this moment (each trace step's ``state``)."""
        L = self.listener
        listening = L.sk_state == "TCP_LISTEN"
        caps = self.capacities() if listening else {}
        return HandshakeState(f"{L.sk_state[4:]} backlog {L.sk_max_ack_backlog}" if listening else L.sk_state[4:],
                              tuple([r.name + (" (acked)" if r.acked else "") for r in self._requests()]),
                              self._accept_queue(), caps.get("SYN queue"), caps.get("accept queue"),
                              {n: sk.sk_state[4:] for n, sk in self.clients.items()}, tcpext(self.server_net),
                              self.segment_log())

    def segment_log(self) -> SegmentLog:
        labels = self.server_net.labels
        rows = []
        for skb, (sent, arrive) in zip(self.segments, self._segment_times):
            m = skb.meta
            rows.append(Segment(labels.get((m["saddr"], m["sport"]), m["saddr"]),
                                labels.get((m["daddr"], m["dport"]), m["daddr"]), skb.name, sent, arrive, m["fate"]))
        return SegmentLog(rows)

    def _accept_queue(self) -> tuple[str, ...]:
        return tuple(r.name for r in self.listener.icsk_accept_queue.rskq_accept)

    def _requests(self) -> list[RequestSock]:
        q = self.listener.icsk_accept_queue
        if q.listen_opt is not None:
            return list(q.listen_opt.syn_table)
        return [v for v in self.server_net.tcp_ehash.values()
                if isinstance(v, RequestSock) and v.rsk_listener is self.listener]

    # --- plumbing --------------------------------------------------------------------------------------------------
    def _at(self, at_ms: float, action, name: str) -> None:
        timer = TimerList(lambda t: action(), name=name, context="process")
        self.sched.mod_timer(timer, max(int(at_ms * MS), self.sched.clock))

    def _connect(self, sk: TcpSock) -> None:
        self.connect_results[sk.name] = _inet_stream_connect(sk, self.server_addr, self.port)

    def _accept(self, count: int) -> None:
        for _ in range(count):
            got = nonblocking(inet_csk_accept(self.listener))
            if isinstance(got, TcpSock):
                self.accepted.append(self.server_net.labels[(got.inet_daddr, got.inet_dport)])

    def _spoofed_syn(self) -> None:
        self._flooders += 1
        addr, sport = f"{SPOOFED_NET}{1 + self._flooders % 254}", 1024 + self._flooders
        self.server_net.labels[(addr, sport)] = f"f{self._flooders}"
        skb = tcp_segment(addr, sport, self.server_addr, self.port, ("SYN",), self.server_net.rng.getrandbits(32))
        self._wire(None, skb)

    def _wire(self, net: Net | None, skb: SkBuff) -> None:
        """The network: ``one_way_us`` later the segment arrives in the namespace that owns its address, at
        ``tcp_v4_rcv`` (chapter 01 shows the way there: NIC, softirq, IP; chapter 04 the loopback device)."""
        now = self.sched.clock
        self.segments.append(skb)
        self._segment_times.append((now, now + self.one_way_ns))
        target = self.nets.get(skb.meta["daddr"])
        if target is None:
            skb.meta["fate"] = "lost"
            return
        skb.meta["net"] = target
        self.sched.mod_timer(TimerList(lambda t: tcp_v4_rcv(skb), name=f"deliver {skb.name}"),
                              now + self.one_way_ns)


@check.arguments
def predict_accept_queue(profile: KernelProfile, backlog: int, clients: int, *,
                         wait_ms: Annotated[float, check.Range(0, 3_600_000)] = 200.0) -> HandshakeOutcome:
    """``clients`` connect one after another on loopback to ``listen(backlog)`` on ``profile``, nobody accepts;
    where things stand after ``wait_ms``."""
    lab = HandshakeLab(profile, backlog, loopback=True, syncnt=1, record=False)
    lab.connect(clients, every_ms=0.05)
    return lab.run(until_ms=wait_ms)


# The kernel's names start with "__", which Python would mangle inside the class body.
_sys_listen = getattr(tcp_handshake, "__sys_listen")
_inet_stream_connect = getattr(tcp_handshake, "__inet_stream_connect")

