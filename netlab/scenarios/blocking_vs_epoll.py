"""Chapter 02 scenarios: a blocking recv, epoll step by step, LT/ET/ONESHOT, wake-one, and two servers.

:class:`Lab` is a server host built from the models: a :class:`~netlab.kernel.sched.Scheduler` (CPUs, run
queues, context switches), the chapter-01 network namespace and receive path, a server process, and connections.
Its sockets are made by system calls in a short-lived task of the server process before a story starts: the
listener by ``socket()``, ``bind()`` and ``listen()``; an ESTABLISHED connection as ``accept()`` makes its socket and
file, the connection itself hashed as the handshake leaves it (:meth:`Lab.connections`).
Data for a connection arrives as a packet handed to ``ip_rcv`` in softirq context; from there the chapter-01
models carry it (``ip_rcv`` → ``ip_local_deliver`` → ``tcp_v4_rcv`` → ``tcp_rcv_established`` →
``tcp_queue_rcv`` → ``tcp_data_ready`` → ``sock_def_readable``) to this chapter's wait queues. The NIC, hard IRQ and
NAPI part before ``ip_rcv`` is chapter 01's and is not repeated here. A connection that ``accept`` takes is made
by chapter 05's three-way handshake (:meth:`Lab.connect`): the client's SYN reaches ``ip_rcv``, the listener
answers with a SYN-ACK (``tcp_v4_send_synack``; the segment leaves through ``Net.xmit`` to the client, which is
not simulated beyond its answers and is :data:`CLIENT_RTT_NS` away), and the client's ACK reaches ``ip_rcv`` one
round trip later: ``tcp_check_req`` → ``tcp_create_openreq_child`` → ``inet_csk_complete_hashdance`` puts the
child on the accept queue and ``tcp_child_process`` wakes the listener's waiters (``sk_data_ready``).

The stories (:func:`blocking_recv`, :func:`epoll_story`, :func:`trigger_modes`, :func:`accept_wake_one`,
:func:`epoll_lifo`, :func:`epoll_exclusive`) return a trace to step through plus the numbers they show;
:func:`serve` runs thread-per-connection or one epoll loop on the same traffic and reports what it cost.
"""
from __future__ import annotations

import random
from dataclasses import dataclass, field, fields
from typing import Annotated, Any, Callable, Mapping

from netlab import check
from netlab.check import CInt
from netlab.kernel.dev_hard_xmit import ETH_HLEN
from netlab.kernel.eventpoll import (EPOLL_CTL_ADD, EPOLL_CTL_MOD, EPOLLET, EPOLLEXCLUSIVE, EPOLLONESHOT, EpollState,
                                     Eventpoll)
from netlab.kernel.fs import EPOLLIN, File, fdget
from netlab.kernel import tcp_handshake
from netlab.kernel.inet_connection_sock import TcpSock, inet_bind, tcp_prot
from netlab.kernel.inet_stream import inet_init, inet_stream_ops
from netlab.kernel.ip_output import IP_HLEN
from netlab.kernel.ip_input import IP_PACKET_TYPE, ip_rcv
from netlab.kernel.limits import fd_install, get_unused_fd_flags, put_unused_fd
from netlab.kernel.netns import Net
from netlab.kernel.profiles import KernelProfile, profile as get_profile
from netlab.kernel.sched import (CONTEXT_SWITCH_NS, TASK_DEAD, Rlimit, RqState, Scheduler, Task, TaskState,
                                 get_current, spend, thread_memory)
from netlab.kernel.skbuff import SKB_DATA_ALIGN, SKB_TRUESIZE, SkBuff, skb_reset_network_header
from netlab.kernel.sock import Socket, sk_alloc, sock_alloc, sock_alloc_file, sock_graft
from netlab.kernel.tcp_ipv4 import TCP_ESTABLISHED, TCP_LISTEN
from netlab.kernel.tcp_output import TCP_HLEN
from netlab.trace import Trace, Tracer, trace_printk
from netlab.scenarios.userspace import (Process, accept, epoll_create1, epoll_ctl, epoll_wait, recv, set_nonblocking,
                                        socket)

SERVER_ADDR, SERVER_PORT, CLIENT_ADDR = "10.0.0.2", 8080, "10.0.0.1"
CLIENT_RTT_NS = 20_000
"""The round trip between the server and its clients: 20 µs, two hosts on one switched LAN. A client answers the
SYN-ACK at once, so its ACK reaches ``ip_rcv`` one round trip after the SYN-ACK left; :class:`Workload`'s
clients send their next request one round trip after a response."""
_sys_listen = getattr(tcp_handshake, "__sys_listen")  # the kernel's name starts with "__", which Python would
#                                                       mangle inside a class body


def _profile(p: str | KernelProfile) -> KernelProfile:
    if isinstance(p, KernelProfile):
        return p
    if not isinstance(p, str):
        raise TypeError("profile must be '3.10', '6.12' or a KernelProfile (e.g. netlab.this_machine())")
    return get_profile(p)


@dataclass(eq=False)
class Client:
    """The far end of a connection: its address and port, the CPU its segments reach (RSS hashes the flow there),
    the next sequence number it sends (``snd_nxt``) and the next it expects from the server (``rcv_nxt``)."""

    addr: str
    port: check.Port
    cpu: int
    snd_nxt: int
    rcv_nxt: int = 0

    def __post_init__(self):
        check.fields(self)


@dataclass(frozen=True)
class SocketWaitState:
    """A socket of the lab at a step: bytes queued to read, who waits on its wait queue, connections to accept."""

    queued: int
    waiters: tuple[str, ...]
    accept_queue: int


@dataclass(frozen=True)
class LabState:
    """A :class:`Lab` at a step: each CPU's run queue, each thread, each socket by name and each epoll instance by
    its fd (``fd 10``: the step text then reads ``epoll fd 10 · rdllist``)."""

    cpus: tuple[RqState, ...]
    threads: Mapping[str, TaskState]
    sockets: Mapping[str, SocketWaitState]
    epolls: Mapping[str, EpollState]


class Lab:
    """One server host: ``nr_cpus`` CPUs, a server process (``nofile`` fds at most), connections, and packets that
    arrive on time."""

    @check.arguments
    def __init__(self, nr_cpus: check.Cpus = 1, profile: str | KernelProfile = "6.12",
                 context_switch_ns: Nanoseconds = CONTEXT_SWITCH_NS, nofile: int | None = None):
        self.profile = _profile(profile)
        self.sched = Scheduler(nr_cpus=nr_cpus, context_switch_ns=context_switch_ns, profile=self.profile)
        self.net = Net(self.profile, local_addrs={SERVER_ADDR}, sched=self.sched, xmit=self._wire)
        inet_init()                                   # the host boots: AF_INET can make sockets
        # a server with many connections raises RLIMIT_NOFILE (ulimit -n); up to fs.nr_open by default (chapter 07)
        limit = self.profile.nr_open if nofile is None else nofile
        self.process = Process("server", pid=1000, nofile=Rlimit(limit, limit))
        for name in ("stdin", "stdout", "stderr"):  # fds 0, 1, 2
            fd_install(self.process, get_unused_fd_flags(self.process, self.profile.nr_open), name)
        self.sockets: dict[str, Socket] = {}
        self.arrivals: list[tuple[int, int, str]] = []  # (time, cpu, what) for timelines
        self.clients: dict[tuple[str, int], Client] = {}  # (address, port) -> the client at the other end
        self.sent: list[SkBuff] = []  # the segments the server sent (the SYN-ACKs), in order
        self._client_isn = random.Random(CLIENT_ADDR)  # the clients' secure_tcp_seq
        self._next_port = 40000

    # --- building ------------------------------------------------------------------------------------------
    def _setup(self, step: Callable[[], Any]) -> Any:
        """Run ``step`` now in a task of the server process and return what it returns (or raise what it raised,
        once the task has ended): a story's sockets are made by system calls, which run in a task of the process
        (``current``: its fd table and RLIMIT_NOFILE). The task is not one of the process's story threads."""
        out: dict[str, Any] = {}

        def body():
            try:
                out["value"] = step()
            except OSError as e:
                out["error"] = e
            return
            yield

        task = self.sched.spawn("setup", body(), cpu=0, tgid=self.process.pid, process=self.process)
        self.sched.run(stop=lambda: task.state == TASK_DEAD)
        if "error" in out:
            raise out["error"]
        return out["value"]

    def _new_name(self, name: str) -> str:
        if name in self.sockets:
            raise ValueError(f"a socket named {name!r} exists already")
        return name

    def _client(self, cpu: int, isn: int) -> Client:
        port, self._next_port = self._next_port, self._next_port + 1
        client = Client(CLIENT_ADDR, port, cpu, snd_nxt=isn)
        self.clients[(client.addr, client.port)] = client
        return client

    @check.arguments
    def connections(self, names: list[str]) -> list[int]:
        """ESTABLISHED connections from new clients to the server's port, made before the story starts in one task
        of the server process (:meth:`_established`); returns their fds."""
        if len(set(names)) != len(names):
            raise ValueError("the connections' names must differ")
        for name in names:
            self._new_name(name)
        return self._setup(lambda: [self._established(name) for name in names])

    @check.arguments
    def connection(self, name: str | None = None) -> int:
        """One connection as :meth:`connections` makes them; returns its fd."""
        return self.connections([name or f"conn{len(self.sockets)}"])[0]

    def _established(self, name: str) -> int:
        """The server's end of a connection as ``accept()`` (``__sys_accept4_file``, ``do_accept``) returns it: an fd
        first (EMFILE), a socket (``sock_alloc``) and its file (``sock_alloc_file``), then the connection grafted
        on it and the fd installed. The connection is a tcp_sock in ESTABLISHED (``sk_alloc``) hashed in ehash
        under its four-tuple, as the handshake leaves it; the handshake itself is left out (it would put a listener
        and a client round trip before every story), so the sequence numbers are the ISNs a handshake would have
        chosen, and no listener's port bucket is shared."""
        me = get_current()
        fd = get_unused_fd_flags(me, self.profile.nr_open)
        if fd < 0:
            raise OSError(-fd, f"no fd for {name} (RLIMIT_NOFILE {self.process.nofile.rlim_cur})")
        sock = sock_alloc(name)
        sock.ops = inet_stream_ops
        file = sock_alloc_file(sock, 0, tcp_prot.name)
        if not isinstance(file, File):
            put_unused_fd(me, fd)
            raise OSError(-file, f"no file for {name}")
        client = self._client(0, isn=self._client_isn.getrandbits(32))
        sk = sk_alloc(self.net, tcp_prot, name, sk_state=TCP_ESTABLISHED, inet_rcv_saddr=SERVER_ADDR,
                      inet_num=SERVER_PORT, inet_daddr=client.addr, inet_dport=client.port, rcv_nxt=client.snd_nxt)
        self.net.tcp_ehash[sk.four_tuple()] = sk
        sock_graft(sk, sock)
        fd_install(me, fd, file)
        self.sockets[name] = sock
        return fd

    @check.arguments
    def listener(self, name: str = "listener", backlog: CInt = 128) -> int:
        """``socket()``, ``bind()`` to the server's port and ``listen(backlog)``, as the server program makes its
        listener (in a task of the process); returns its fd."""
        self._new_name(name)

        def listen() -> int:
            fd = socket(self.net, name)
            sk = self.sock_of(fd).sk
            if inet_bind(self.net, sk, SERVER_ADDR, SERVER_PORT) or _sys_listen(sk, backlog):
                raise OSError(98, f"port {SERVER_PORT} is in use (EADDRINUSE)")
            self.sockets[name] = sk.sk_socket
            return fd

        return self._setup(listen)

    @check.arguments
    def thread(self, comm: str, body: Any, cpu: int | None = None) -> Task:
        """A thread of the server process running ``body`` (a generator)."""
        task = self.sched.spawn(comm, body, cpu=cpu, tgid=self.process.pid, process=self.process)
        self.process.threads.append(task)
        return task

    @check.arguments
    def sock_of(self, fd: int) -> Socket:
        file = fdget(self.process, fd)
        if file is None or not isinstance(file.private_data, Socket):
            raise ValueError(f"fd {fd} is not a socket of the server process")
        return file.private_data

    def _ip_rcv(self, client: Client, name: str, flags: tuple[str, ...], nbytes: int = 0) -> None:
        """A segment from ``client`` with ``nbytes`` of data reaches ``ip_rcv`` as chapter 01 hands it there: the
        frame in the buffer, the Ethernet header already pulled (``eth_type_trans``), ``data`` at the IP header,
        the IP and TCP headers still in its length. Its ``seq`` is the client's ``snd_nxt`` (a SYN and the data
        move it on), its ``ack_seq`` the client's ``rcv_nxt`` (everything the server sent)."""
        frame = ETH_HLEN + IP_HLEN + TCP_HLEN + nbytes
        size = SKB_DATA_ALIGN(frame)
        skb = SkBuff(end=size, name=name, data=ETH_HLEN, len=frame - ETH_HLEN, tail=frame,
                     truesize=SKB_TRUESIZE(size),
                     meta={"net": self.net, "protocol": "tcp", "saddr": client.addr, "sport": client.port,
                           "daddr": SERVER_ADDR, "dport": SERVER_PORT, "flags": flags, "seq": client.snd_nxt,
                           "ack_seq": client.rcv_nxt, "payload": nbytes, "fate": None})
        client.snd_nxt = (client.snd_nxt + nbytes + ("SYN" in flags)) & 0xFFFFFFFF
        skb_reset_network_header(skb)     # __netif_receive_skb_core
        ip_rcv(skb, None, IP_PACKET_TYPE, None)

    @check.arguments
    def deliver(self, fd: int, nbytes: int) -> None:
        """Now, in softirq context: a segment with ``nbytes`` of data for connection ``fd`` reaches ``ip_rcv``."""
        sk = self.sock_of(fd).sk
        self._ip_rcv(self.clients[(sk.inet_daddr, sk.inet_dport)], f"skb({sk.name})", ("ACK", "PSH"), nbytes)

    @check.arguments
    def send_data(self, at_ns: int, fd: int, nbytes: int, cpu: int = 0) -> None:
        """A segment with ``nbytes`` of data for connection ``fd`` reaches ``ip_rcv`` on ``cpu`` at ``at_ns``."""
        check.count("nbytes", nbytes, 1)
        self.arrivals.append((at_ns, cpu, f"{nbytes} B for {self.sock_of(fd).sk.name}"))
        self.sched.at(at_ns, lambda: self.deliver(fd, nbytes), cpu=cpu, context="softirq", label="packet")

    @check.arguments
    def connect(self, at_ns: int, listen_fd: int, cpu: int = 0) -> None:
        """A new client's SYN for listener ``listen_fd`` reaches ``ip_rcv`` on ``cpu`` at ``at_ns``: chapter 05's
        three-way handshake runs (the listener's SYN-ACK goes out at once, the client's ACK arrives
        :data:`CLIENT_RTT_NS` later on the same CPU), and the connection joins the accept queue."""
        lsk = self.sock_of(listen_fd).sk
        if not isinstance(lsk, TcpSock) or lsk.sk_state != TCP_LISTEN:
            raise ValueError(f"fd {listen_fd} is not a listening socket")
        if not 0 <= cpu < len(self.sched.rqs):
            raise ValueError(f"cpu must be in 0..{len(self.sched.rqs) - 1}, got {cpu}")
        client = self._client(cpu, isn=self._client_isn.getrandbits(32))
        self.arrivals.append((at_ns, cpu, f"SYN from port {client.port}"))
        self.sched.at(at_ns, lambda: self._ip_rcv(client, "SYN", ("SYN",)), cpu=cpu, context="softirq",
                      label="SYN")

    def _wire(self, net: Net, skb: SkBuff) -> None:
        """``Net.xmit``: a segment the server sent reaches its client, which answers a SYN-ACK with the ACK that
        completes the handshake; it reaches ``ip_rcv`` one round trip after the SYN-ACK left."""
        self.sent.append(skb)
        m = skb.meta
        client = self.clients.get((m["daddr"], m["dport"]))
        if client is None or m["flags"] != ("SYN", "ACK"):
            trace_printk(f"{skb.name} to {m['daddr']}:{m['dport']}: the client does not answer it")
            return
        client.rcv_nxt = (m["seq"] + 1) & 0xFFFFFFFF     # tcp_rcv_synsent_state_process on the client
        at_ns = self.sched.clock + CLIENT_RTT_NS
        trace_printk(f"on the wire to the client, which answers with an ACK (seq {client.snd_nxt}, ack "
                     f"{client.rcv_nxt}): it reaches ip_rcv one round trip ({CLIENT_RTT_NS} ns) later, at {at_ns} ns")
        self.arrivals.append((at_ns, client.cpu, f"ACK from port {client.port}"))
        self.sched.at(at_ns, lambda: self._ip_rcv(client, "ACK", ("ACK",)), cpu=client.cpu, context="softirq",
                      label="ACK")

    # --- running -------------------------------------------------------------------------------------------
    @check.arguments
    def run(self, until_ns: int | None = None) -> int:
        return self.sched.run(until_ns)

    @check.arguments
    def record(self, until_ns: int | None = None, max_events: int = 20_000) -> Trace:
        """Run under a Tracer whose events carry :meth:`snapshot`."""
        with Tracer(clock=self.sched.now, snapshot=self.snapshot, max_events=max_events,
                    renamed=self.profile.renamed) as tracer:
            self.sched.run(until_ns)
        return tracer.trace

    def sock_files(self) -> list[Socket]:
        """The sockets of the server process's fds, the accepted ones included, in fd order."""
        return [f.private_data for _, f in sorted(self.process.files.fd.items())
                if isinstance(f, File) and isinstance(f.private_data, Socket)]

    def epolls(self) -> list[Eventpoll]:
        return [f.private_data for f in self.process.files.fd.values()
                if isinstance(f, File) and isinstance(f.private_data, Eventpoll)]

    def snapshot(self) -> "LabState":
        """The state for traces and drawings (see :class:`LabState`): every socket the server process holds."""
        sockets = {}
        for sock in self.sock_files():
            sk = sock.sk
            sockets[sk.name] = SocketWaitState(sum(s.len for s in sk.sk_receive_queue),
                                               tuple(sock.wq.snapshot()), len(sk.icsk_accept_queue.rskq_accept))
        return LabState(tuple([rq.snapshot() for rq in self.sched.rqs]),
                        {t.comm: t.snapshot() for t in self.process.threads}, sockets,
                        {f"fd {fd}": f.private_data.snapshot() for fd, f in sorted(self.process.files.fd.items())
                         if isinstance(f, File) and isinstance(f.private_data, Eventpoll)})

    @check.arguments
    def timeline(self, start_ns: int = 0) -> dict:
        """Who ran when on each CPU from ``start_ns`` on (from the context switches), the switches, the packets; all
        times on the simulated clock, the trace's (a Stepper's) own."""
        end, cost = self.sched.clock, self.sched.context_switch_ns
        runs = []
        for rq in self.sched.rqs:
            recs = [s for s in self.sched.switches if (s.host, s.cpu) == (rq.host, rq.cpu)]
            for i, s in enumerate(recs):
                stop = recs[i + 1].time_ns if i + 1 < len(recs) else end
                begin = max(s.time_ns + cost, start_ns)
                if stop > begin:
                    runs.append({"cpu": rq.cpu, "comm": s.next, "start": begin, "end": stop})
        return {"runs": runs, "start": start_ns, "end": end,
                "switches": [{"cpu": s.cpu, "time": s.time_ns, "cost": cost, "prev": s.prev,
                              "next": s.next, "voluntary": s.voluntary}
                             for s in self.sched.switches if s.time_ns >= start_ns],
                "arrivals": [{"time": t, "cpu": c, "what": w} for t, c, w in self.arrivals if t >= start_ns]}


# --- stories to step through -------------------------------------------------------------------------------------
@dataclass
class Story:
    """A recorded scenario: the trace, the lab it ran in, and the facts it shows."""

    trace: Trace
    lab: Lab
    facts: dict = field(default_factory=dict)

    def __post_init__(self):
        check.fields(self)


MAX_STORY = 1000
"""The most threads, connections or events in one story: a story is for stepping through."""
StoryCount = Annotated[int, check.Range(1, MAX_STORY)]
MAX_NS = 3_600_000_000_000
"""The longest a scenario runs: an hour of simulated time."""
Nanoseconds = Annotated[int, check.Range(0, MAX_NS)]
Bytes = Annotated[int, check.Range(0, 2 ** 31 - 1)]
MAX_CONNECTIONS = 100_000
"""The most clients a server scenario simulates."""
"""What one send() or recv() moves: at most INT_MAX bytes (the kernel's MAX_RW_COUNT is smaller still)."""


@check.arguments
def blocking_recv(profile: str | KernelProfile = "6.12", data_at_ns: Nanoseconds = 40_000, nbytes: Bytes = 100,
                  context_switch_ns: Nanoseconds = CONTEXT_SWITCH_NS) -> Story:
    """A running thread calls recv() on an empty connection, sleeps, and is woken when data arrives.

    The recording starts with the thread already on the CPU and ends while it handles the data, so the timeline
    (``story.lab.timeline(story.facts["start_ns"])``) shows exactly the recv's own switches.
    """
    check.count("data_at_ns", data_at_ns, 10_000)
    lab = Lab(profile=profile, context_switch_ns=context_switch_ns)
    fd = lab.connection("conn")
    got = {}

    def server():
        got["on_cpu"] = lab.sched.clock
        yield from spend(2_000, "user code before recv()")
        got["called_at"] = lab.sched.clock
        got["n"] = yield from recv(fd, 4096)
        got["returned_at"] = lab.sched.clock
        yield from spend(20_000, "handle the request")

    task = lab.thread("server", server())
    lab.send_data(data_at_ns, fd, nbytes)
    lab.sched.run(stop=lambda: "on_cpu" in got)
    start_ns = got["on_cpu"] + 1_000
    lab.run(start_ns)
    trace = lab.record(until_ns=data_at_ns + 10_000)
    recv_switches = [s for s in lab.sched.switches if got["called_at"] <= s.time_ns <= got["returned_at"]]
    return Story(trace, lab, {"bytes": got["n"], "called_at_ns": got["called_at"], "returned_at_ns": got["returned_at"],
                              "start_ns": start_ns, "nvcsw": task.nvcsw, "recv_switches": len(recv_switches),
                              "switch_cpu_ns": len(recv_switches) * context_switch_ns,
                              "sleep_ns": got["returned_at"] - got["called_at"]})


@check.arguments
def epoll_story(connections: StoryCount = 3, ready: int = 1, profile: str | KernelProfile = "6.12",
                data_at_ns: Nanoseconds = 40_000, nbytes: Bytes = 100) -> Story:
    """epoll_create, ADD ``connections`` sockets, epoll_wait sleeps; data arrives on connection ``ready``."""
    if ready >= connections:
        raise ValueError(f"ready must be an index in 0..{connections - 1}")
    lab = Lab(profile=profile)
    fds = lab.connections([f"conn{i}" for i in range(connections)])
    out: dict = {}

    def server():
        epfd = epoll_create1()
        for fd in fds:
            yield from epoll_ctl(epfd, EPOLL_CTL_ADD, fd, EPOLLIN)
        events = yield from epoll_wait(epfd, 16)
        out["events"] = [(e.data, e.events) for e in events]
        for e in events:
            out["read"] = yield from recv(e.data, 4096)

    task = lab.thread("server", server())
    lab.send_data(data_at_ns, fds[ready], nbytes)
    trace = lab.record()
    return Story(trace, lab, {"fds": fds, "ready_fd": fds[ready], **out, "nvcsw": task.nvcsw})


TRIGGER_MODES = {"LT": 0, "ET": EPOLLET, "ONESHOT": EPOLLONESHOT}


@check.arguments
def trigger_modes(message: Bytes = 300, read_size: Bytes = 100, second_message: Bytes = 100,
                  second_at_ns: Nanoseconds = 600_000, waits: StoryCount = 6, timeout_ns: Nanoseconds = 200_000,
                  rearm_oneshot: bool = False, profile: str | KernelProfile = "6.12") -> dict[str, list[dict]]:
    """The same traffic under LT, EPOLLET and EPOLLONESHOT: a ``message`` arrives, later a ``second_message``.

    The program calls epoll_wait (with ``timeout_ns``) ``waits`` times and, for each event, reads ``read_size``
    bytes once. Returns, per mode, one row per epoll_wait: when it returned, how many events, what was read and
    what stayed in the socket's receive queue.
    """
    for name, value in (("message", message), ("read_size", read_size), ("second_at_ns", second_at_ns),
                        ("timeout_ns", timeout_ns)):
        check.count(name, value, 1)
    return {mode: _trigger_rows(flag, message, read_size, second_message, second_at_ns, waits, timeout_ns,
                                rearm_oneshot, profile) for mode, flag in TRIGGER_MODES.items()}


def _trigger_rows(flag: int, message: int, read_size: int, second_message: int, second_at_ns: int, waits: int,
                  timeout_ns: int, rearm: bool, profile) -> list[dict]:
    lab = Lab(profile=profile)
    fd = lab.connection("conn")
    sk = lab.sock_of(fd).sk
    rows: list[dict] = []

    def reader():
        epfd = epoll_create1()
        set_nonblocking(fd)
        yield from epoll_ctl(epfd, EPOLL_CTL_ADD, fd, EPOLLIN | flag)
        for i in range(waits):
            events = yield from epoll_wait(epfd, 8, timeout_ns)
            read = 0
            for _ in events:
                try:
                    read += yield from recv(fd, read_size)
                except BlockingIOError:
                    pass
            if flag == EPOLLONESHOT and rearm and events:
                yield from epoll_ctl(epfd, EPOLL_CTL_MOD, fd, EPOLLIN | EPOLLONESHOT)
            rows.append({"wait": i + 1, "time_us": lab.sched.clock / 1000, "events": len(events), "read": read,
                         "left": sum(s.len for s in sk.sk_receive_queue)})
            yield from spend(1_000, "handle")

    lab.thread("reader", reader())
    lab.send_data(10_000, fd, message)
    if second_message:
        lab.send_data(second_at_ns, fd, second_message)
    lab.run()
    return rows


@check.arguments
def accept_wake_one(threads: StoryCount = 3, profile: str | KernelProfile = "6.12") -> Story:
    """``threads`` threads block in accept() on one listener; one connection arrives: how many wake?"""
    lab = Lab(profile=profile)
    lfd = lab.listener()
    accepted: dict[str, int] = {}

    def acceptor(name):
        accepted[name] = yield from accept(lfd)

    tasks = [lab.thread(f"acceptor{i}", acceptor(f"acceptor{i}")) for i in range(threads)]
    lab.connect(50_000, lfd)
    trace = lab.record()
    return Story(trace, lab, {"woken": sum(t.wakeups for t in tasks), "accepted_by": sorted(accepted),
                              "still_waiting": [t.comm for t in tasks if t.state != "TASK_DEAD"]})


@check.arguments
def epoll_lifo(workers: StoryCount = 3, events: StoryCount = 6, gap_ns: Nanoseconds = 100_000,
               work_ns: Nanoseconds = 10_000, profile: str | KernelProfile = "6.12") -> Story:
    """``workers`` threads share one epoll; ``events`` requests arrive ``gap_ns`` apart. Who handles each?"""
    check.count("gap_ns", gap_ns, 1)
    lab = Lab(profile=profile)
    fds = lab.connections([f"conn{i}" for i in range(events)])
    handled: list[str] = []
    shared: dict = {}

    def worker(name, first):
        if first:
            shared["epfd"] = epoll_create1()
            for fd in fds:
                set_nonblocking(fd)
                yield from epoll_ctl(shared["epfd"], EPOLL_CTL_ADD, fd, EPOLLIN | EPOLLET)
        for _ in range(events):
            evs = yield from epoll_wait(shared["epfd"], 1)
            for e in evs:
                yield from recv(e.data, 4096)
                handled.append(name)
                yield from spend(work_ns, "handle the request")

    tasks = [lab.thread(f"worker{i}", worker(f"worker{i}", i == 0)) for i in range(workers)]
    for i, fd in enumerate(fds):
        lab.send_data(50_000 + i * gap_ns, fd, 100)
    trace = lab.record(until_ns=50_000 + events * gap_ns + 10 * work_ns)
    return Story(trace, lab, {"handled_by": handled, "wakeups": {t.comm: t.wakeups for t in tasks}})


@check.arguments
def epoll_exclusive(workers: StoryCount = 3, exclusive: bool = True, profile: str | KernelProfile = "6.12") -> Story:
    """``workers`` threads, each with its own epoll, all watch one listener; a connection arrives: who wakes?"""
    lab = Lab(profile=profile)
    lfd = lab.listener()

    def worker():
        epfd = epoll_create1()
        yield from epoll_ctl(epfd, EPOLL_CTL_ADD, lfd, EPOLLIN | (EPOLLEXCLUSIVE if exclusive else 0))
        yield from epoll_wait(epfd, 1)

    tasks = [lab.thread(f"worker{i}", worker()) for i in range(workers)]
    lab.connect(50_000, lfd)
    trace = lab.record(until_ns=100_000)
    return Story(trace, lab, {"woken": sum(t.wakeups for t in tasks)})


@check.arguments
def workers_turns(way: str = "accept", workers: StoryCount = 3, connections: StoryCount = 6, gap_ns: Nanoseconds = 200_000,
                  profile: str | KernelProfile = "6.12") -> dict[str, list[int]]:
    """``workers`` threads on one listener, started in order, waiting ``way``: ``"accept"`` (each blocks in
    accept(): exclusive, at the tail of the listener's queue, so they take turns) or ``"epoll_exclusive"`` (each its
    own epoll watching the listener with EPOLLEXCLUSIVE: the entries stay in place, so the first one, back waiting,
    gets every connection). ``connections`` arrive ``gap_ns`` apart. Returns {"order": the worker that accepted
    each connection, "wakeups": per worker} — what :func:`netlab.live.accept_balance.accept_balance` measures."""
    check.choice("way", way, ("accept", "epoll_exclusive"))
    check.count("gap_ns", gap_ns, 1)
    lab = Lab(profile=profile)
    lfd = lab.listener()
    order: list[int] = []

    def blocking(i):
        while True:
            yield from accept(lfd)
            order.append(i)

    def exclusive(i):
        epfd = epoll_create1()
        yield from epoll_ctl(epfd, EPOLL_CTL_ADD, lfd, EPOLLIN | EPOLLEXCLUSIVE)
        while True:
            if (yield from epoll_wait(epfd, 1)):
                yield from accept(lfd)
                order.append(i)

    tasks = [lab.thread(f"worker{i}", (blocking if way == "accept" else exclusive)(i)) for i in range(workers)]
    for k in range(connections):
        lab.connect(50_000 + k * gap_ns, lfd)
    lab.record(until_ns=50_000 + connections * gap_ns)
    return {"order": order, "wakeups": [t.wakeups for t in tasks]}


# --- two servers, the same traffic ----------------------------------------------------------------------------
@dataclass(frozen=True)
class Workload:
    """The clients. Closed loop (``interval_ns`` None): each client sends its next request ``think_ns`` after the
    previous response reached it; open loop: each client sends one request every ``interval_ns``."""

    connections: Annotated[int, check.Range(1, MAX_CONNECTIONS)] = 100
    request_bytes: Bytes = 100
    interval_ns: Nanoseconds | None = None
    think_ns: Nanoseconds = 0
    rtt_ns: Nanoseconds = CLIENT_RTT_NS
    duration_ns: Nanoseconds = 20_000_000
    warmup_ns: Nanoseconds = 2_000_000
    seed: int = 1

    def __post_init__(self):
        check.fields(self)
        for name in ("request_bytes", "interval_ns", "rtt_ns", "duration_ns"):
            if getattr(self, name) is not None:
                check.count(name, getattr(self, name), 1)
        if self.warmup_ns >= self.duration_ns:
            raise ValueError("warmup_ns must be shorter than duration_ns")


@dataclass(frozen=True)
class ServerCosts:
    """CPU time the server's own code costs, in simulated ns (illustrative defaults, not measurements)."""

    syscall_ns: Nanoseconds = 300   # entering and leaving the kernel once (recv, epoll_wait, epoll_ctl)
    work_ns: Nanoseconds = 5_000    # the application's work per request
    send_ns: Nanoseconds = 2_000    # send(): tcp_sendmsg down to the driver (chapter 03)

    def __post_init__(self):
        check.fields(self)


@dataclass(frozen=True)
class ServerRun:
    """What one server did in the measured window (after warm-up)."""

    model: str
    connections: int
    threads: int
    requests: int
    window_ns: int
    cpus: int               # CPUs of the machine, each of them for the whole window
    nvcsw: int              # the server process's voluntary switches (getrusage ru_nvcsw)
    nivcsw: int             # and involuntary ones (ru_nivcsw)
    cpu_switches: int       # every switch on every CPU, idle included (rq->nr_switches)
    switch_cpu_ns: int      # CPU time spent switching
    busy_ns: int            # CPU time the server's code ran
    stack_virtual: int      # bytes of address space reserved for thread stacks
    stack_resident: int     # bytes of user stack actually touched
    kernel_bytes: int       # kernel stacks + task_structs (+ epoll's epitems)

    @property
    def requests_per_s(self) -> float:
        return self.requests * 1e9 / self.window_ns

    @property
    def switches_per_request(self) -> float:
        """(nvcsw + nivcsw) / requests, the number the live experiment measures with getrusage."""
        return (self.nvcsw + self.nivcsw) / self.requests if self.requests else float("nan")

    @property
    def switch_share_of_busy(self) -> float:
        """Fraction of the busy CPU time (server code + switching) that went into switching."""
        total = self.switch_cpu_ns + self.busy_ns
        return self.switch_cpu_ns / total if total else 0.0

    @property
    def switch_share_of_cpu(self) -> float:
        """Fraction of all the CPU time there was (every CPU, the whole window, idle included) spent switching."""
        return self.switch_cpu_ns / (self.cpus * self.window_ns)


SERVER_MODELS = ("threads", "epoll")


@check.arguments
def serve(model: str, workload: Workload = Workload(), costs: ServerCosts = ServerCosts(), nr_cpus: check.Cpus = 1,
          profile: str | KernelProfile = "6.12", context_switch_ns: Nanoseconds = CONTEXT_SWITCH_NS,
          thread_resident: int | None = None) -> ServerRun:
    """Serve ``workload`` with one thread per connection (blocking recv) or one epoll loop (non-blocking)."""
    check.choice("model", model, SERVER_MODELS)
    lab = Lab(nr_cpus=nr_cpus, profile=profile, context_switch_ns=context_switch_ns)
    lab.sched.record_switches = False
    rng = random.Random(workload.seed)
    fds = lab.connections([f"conn{i}" for i in range(workload.connections)])
    start = lab.sched.clock  # the workload starts once the connections are made
    cpu_of = {fd: i % nr_cpus for i, fd in enumerate(fds)}  # RSS spreads the flows over the CPUs
    served = [0]

    def request_from(fd: int, at_ns: int) -> None:
        lab.sched.at(at_ns, lambda: _arrive(fd), cpu=cpu_of[fd], label="request")

    def _arrive(fd: int) -> None:
        lab.deliver(fd, workload.request_bytes)
        if workload.interval_ns is not None:
            request_from(fd, lab.sched.clock + workload.interval_ns)

    def respond(fd: int):
        yield from spend(costs.send_ns, "send() the response")
        if lab.sched.clock >= start + workload.warmup_ns:
            served[0] += 1
        if workload.interval_ns is None:
            request_from(fd, lab.sched.clock + workload.rtt_ns + workload.think_ns)

    def handle(fd: int, n: int):
        for _ in range(max(1, n // workload.request_bytes)):
            yield from spend(costs.work_ns, "handle the request")
            yield from respond(fd)

    def connection_thread(fd: int):
        while True:
            yield from spend(costs.syscall_ns, "recv() syscall")
            n = yield from recv(fd, 65536)
            yield from handle(fd, n)

    def epoll_loop():
        epfd = epoll_create1()
        for fd in fds:
            set_nonblocking(fd)
            yield from spend(costs.syscall_ns, "epoll_ctl() syscall")
            yield from epoll_ctl(epfd, EPOLL_CTL_ADD, fd, EPOLLIN)
        while True:
            yield from spend(costs.syscall_ns, "epoll_wait() syscall")
            events = yield from epoll_wait(epfd, 64)
            for e in events:
                yield from spend(costs.syscall_ns, "recv() syscall")
                try:
                    n = yield from recv(e.data, 65536)
                except BlockingIOError:
                    continue
                yield from handle(e.data, n)

    if model == "threads":
        for fd in fds:
            lab.thread(f"conn-thread-{fd}", connection_thread(fd))
    else:
        lab.thread("epoll-loop", epoll_loop())
    span = workload.interval_ns if workload.interval_ns is not None else workload.rtt_ns
    for fd in fds:
        request_from(fd, start + rng.randrange(span))
    lab.run(start + workload.warmup_ns)
    before = (lab.process.rusage(), lab.sched.counts([]), sum(t.sum_exec_runtime for t in lab.process.threads))
    lab.run(start + workload.duration_ns)
    after = (lab.process.rusage(), lab.sched.counts([]), sum(t.sum_exec_runtime for t in lab.process.threads))
    nthreads = len(lab.process.threads)
    mem = thread_memory(lab.profile, **({} if thread_resident is None else {"resident": thread_resident}))
    epoll_bytes = sum(ep.kernel_memory(lab.profile) for ep in lab.epolls())
    return ServerRun(model=model, connections=workload.connections, threads=nthreads, requests=served[0],
                     window_ns=workload.duration_ns - workload.warmup_ns, cpus=nr_cpus,
                     nvcsw=after[0]["ru_nvcsw"] - before[0]["ru_nvcsw"],
                     nivcsw=after[0]["ru_nivcsw"] - before[0]["ru_nivcsw"],
                     cpu_switches=after[1]["nr_switches"] - before[1]["nr_switches"],
                     switch_cpu_ns=after[1]["switch_ns"] - before[1]["switch_ns"], busy_ns=after[2] - before[2],
                     stack_virtual=nthreads * mem.virtual, stack_resident=nthreads * mem.resident,
                     kernel_bytes=nthreads * mem.kernel + epoll_bytes)


@check.arguments
def compare_servers(workload: Workload = Workload(), **kwargs) -> dict[str, ServerRun]:
    """:func:`serve` both models on the same workload."""
    return {model: serve(model, workload, **kwargs) for model in SERVER_MODELS}


@check.arguments
def sweep_connections(connections: list[int], workload: Workload = Workload(interval_ns=10_000_000),
                      **kwargs) -> dict[str, list[ServerRun]]:
    """Both models for each number of connections (other workload settings unchanged): for plots and sliders."""
    if not connections or not all(isinstance(n, int) and n >= 1 for n in connections):
        raise ValueError("connections must be a non-empty list of ints >= 1")
    out: dict[str, list[ServerRun]] = {m: [] for m in SERVER_MODELS}
    for n in connections:
        w = Workload(**{**{f.name: getattr(workload, f.name) for f in fields(workload)}, "connections": n})
        for model, run in compare_servers(w, **kwargs).items():
            out[model].append(run)
    return out

