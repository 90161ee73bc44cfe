"""Chapter 06's world: connections opened and closed on hosts that model their kernel memory, object by object.

:class:`MemoryLab` is a client host and a server host on a link (``over="link"``), or one host (``over="loopback"``),
each allocating from its own slab allocator (:class:`netlab.kernel.slub.Slub`), with a server program listening on
port 80 and a client program. Everything a connection is made of comes from the packet-level kernel: ``socket()``,
``connect()`` and the handshake, ``accept()``, ``close()`` with its FIN, TIME_WAIT and its timer, every sk_buff on the
way. The lab opens connection ends one after another and then takes each on (:meth:`MemoryLab.open`,
:meth:`MemoryLab.move`), giving each of its steps :data:`WINDOW_NS` of simulated time to settle; the allocator logs
every allocation and free under the end's label, from which :mod:`netlab.load.memory` reads the memory of any number
of ends.

:func:`connection_trace` follows one end from nothing to a state, step by step; :func:`fd_limit_trace` shows the
order of the fd checks (EMFILE at socket() and accept()); :func:`connections_memory` runs N ends;
:func:`footprint` reads the exact memory of N ends off a few; :func:`modelled` is the model's side of the live
experiment (:func:`netlab.live.connection_memory.measure_connection_memory`), and :func:`compare` puts the two side
by side.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, Mapping

from netlab import check
from netlab.kernel import limits, tcp_handshake
from netlab.kernel.fdtable import FdTableState
from netlab.kernel.fs import EPOLLIN, fdget
from netlab.kernel.inet_connection_sock import (TcpSock, accept_queue_capacity, find_request, inet_bind,
                                                syn_queue_capacity)
from netlab.kernel.inet_timewait_sock import InetTimewaitSock
from netlab.kernel.profiles import LINUX_6_12, KernelProfile
from netlab.kernel.route import Rtable
from netlab.kernel.sched import Body, Rlimit, Scheduler
from netlab.kernel.slub import CacheState, Slub, slab_layouts
from netlab.kernel.sock import AF_INET, SOCK_STREAM, __sys_accept4, __sys_socket
from netlab.live.connection_memory import MAX_CONNECTIONS, STEPS, ConnectionMemory
from netlab.load.memory import Footprint, live_objects, row_pattern, slab_templates
from netlab.scenarios.link import client_and_server
from netlab.scenarios.userspace import Process, accept, close, epoll_create1, epoll_ctl, socket
from netlab.trace import Tracer

MS = 1_000_000
WINDOW_NS = 100 * MS
"""How long the lab lets each step of an end settle (simulated): a handshake, a delayed ACK (40 ms) and a close are
over well within it, and a request's first SYN-ACK retransmission (1 s) and TIME_WAIT's end (60 s) come only ten and
six hundred windows later."""
SERVER_PORT = 80
STATES = ("ESTABLISHED", "SYN_RECV", "ACCEPT_QUEUE", "CLOSE_WAIT", "FIN_WAIT2", "TIME_WAIT")
"""ACCEPT_QUEUE: established by the kernel but not yet accept()ed; SYN_RECV: the client's ACK never came (its host
drops what the server sends). FIN_WAIT2 and TIME_WAIT: after this side's close() (the peer has not closed; the peer
closed too); CLOSE_WAIT: the peer closed, this side has not."""
SIDES = ("client", "server")
SAMPLE_ENDS = 4
"""How many ends :func:`footprint` traces: the first, and three that show the later ones repeat each other."""
OBJECT_STRUCT = {"TCP": "tcp_sock", "sock_inode_cache": "socket_alloc (socket + inode)", "socket_wq": "socket_wq",
                 "dentry": "dentry", "filp": "file", "tcp_bind_bucket": "inet_bind_bucket",
                 "tcp_bind2_bucket": "inet_bind2_bucket", "tw_sock_TCP": "tcp_timewait_sock",
                 "request_sock_TCP": "tcp_request_sock", "skbuff_head_cache": "sk_buff",
                 "skbuff_fclone_cache": "sk_buff_fclones (an skb and its clone)", "skbuff_small_head": "an skb's head",
                 "eventpoll_epi": "epitem", "eventpoll_pwq": "eppoll_entry", "ep_head": "epitems_head",
                 "lsm_inode_cache": "LSM inode blob", "lsm_file_cache": "LSM file blob"}
"""What struct each cache holds, for tables (a kmalloc-N cache holds whatever was kmalloc'ed at that size)."""


@check.arguments
def check_side_state(side: str, state: str) -> None:
    """Raise ValueError unless ``side`` is one of SIDES and ``state`` one of STATES that side can be in."""
    check.choice("side", side, SIDES)
    check.choice("state", state, STATES)
    if side == "client" and state in ("SYN_RECV", "ACCEPT_QUEUE"):
        raise ValueError(f"{state} is a server-side state (a request or child of a listener)")


@dataclass(eq=False)
class End:
    """One connection: its number, each side's fd while that side has it open, and each side's tcp_sock."""

    number: int
    fds: dict = field(default_factory=dict)         # side -> fd
    socks: dict = field(default_factory=dict)       # side -> TcpSock

    def __post_init__(self):
        check.fields(self)


class MemoryLab:
    """A client and a server program on hosts that model their memory (``over``: "link", two hosts; "loopback",
    one), with ``epoll`` each side watches its connections with an epoll instance. ``syn_only``: the client's host
    drops what the server sends, so handshakes stop at SYN_RECV. ``nr_cpus``: lay the slabs out for a machine with
    that many CPUs (default: the profile's); ``nofile`` is both programs' RLIMIT_NOFILE, ``max_files`` each host's
    fs.file-max. The server's listener (backlog ``somaxconn``) and epoll instances are the world's own objects,
    allocated before the first end. :attr:`label` is what the slab log files the next steps under: ("setup",
    None), or (phase, connection number) as :meth:`open` and :meth:`move` set it."""

    @check.arguments
    def __init__(self, profile: KernelProfile = LINUX_6_12, over: str = "link", epoll: bool = False,
                 syn_only: bool = False, nr_cpus: check.Cpus | None = None,
                 nofile: Annotated[int, check.Range(4, 10 ** 9)] | None = None,
                 max_files: Annotated[int, check.Range(1, check.INT64_MAX)] = check.INT64_MAX):
        if nr_cpus is not None:
            profile = profile.replace(slab=slab_layouts(profile, nr_cpus))
        self.profile, self.over, self.epoll, self.syn_only = profile, over, epoll, syn_only
        self.sched = Scheduler(nr_cpus=0, profile=profile)
        hosts = client_and_server(profile, self.sched, over, memory=True, max_files=max_files)
        self.client, self.server = hosts.client, hosts.server
        self.server_addr, self.client_addr, self.client_dev = hosts.server_addr, hosts.client_addr, hosts.client_dev
        if syn_only:
            self.client.net.nf.append("INPUT", "DROP", protocol="tcp", sport=SERVER_PORT)
        soft = profile.nofile_soft if nofile is None else nofile
        limit = Rlimit(soft, max(soft, profile.nofile_hard))
        self.programs = {"server": Process("server", pid=1000, nofile=limit),
                         "client": Process("client", pid=2000, nofile=limit)}
        for program in self.programs.values():              # stdin, stdout and stderr
            for fd in range(3):
                limits.fd_install(program, limits.get_unused_fd_flags(program, profile.nr_open), f"stdio {fd}")
        self.epfd: dict[str, int] = {}
        self.ends: list[End] = []
        self.label: tuple[str, int | None] | None = ("setup", None)
        self.do("server", "listen", self._listen())
        if epoll:
            self.do("client", "epoll", self._epoll_create("client"))

    # --- the programs' steps --------------------------------------------------------------------------------
    def _listen(self):
        self.listen_fd = socket(self.server.net, "listener")
        self.listener = fdget(self.programs["server"], self.listen_fd).private_data.sk
        inet_bind(self.server.net, self.listener, self.server_addr, SERVER_PORT)
        getattr(tcp_handshake, "__sys_listen")(self.listener, self.profile.somaxconn)
        if self.epoll:
            yield from self._epoll_create("server")
            yield from epoll_ctl(self.epfd["server"], 1, self.listen_fd, EPOLLIN)

    def _epoll_create(self, side: str):
        self.epfd[side] = epoll_create1()
        return
        yield

    def _connect(self, end: End):
        fd = end.fds["client"] = socket(self.client.net, f"client{end.number}")
        sk = end.socks["client"] = fdget(self.programs["client"], fd).private_data.sk
        sk.inet_rcv_saddr, sk.dst = self.client_addr, Rtable(self.client_dev)     # its address and route
        getattr(tcp_handshake, "__inet_stream_connect")(sk, self.server_addr, SERVER_PORT)   # non-blocking
        if self.epoll:
            yield from epoll_ctl(self.epfd["client"], 1, fd, EPOLLIN)

    def _accept(self, end: End):
        fd = end.fds["server"] = yield from accept(self.listen_fd)
        sk = end.socks["server"] = fdget(self.programs["server"], fd).private_data.sk
        sk.dst = Rtable(self.server.net.loopback_dev if self.over == "loopback" else self.server.dev)   # its route
        if self.epoll:
            yield from epoll_ctl(self.epfd["server"], 1, fd, EPOLLIN)

    def _close(self, end: End, side: str):
        close(end.fds.pop(side))
        return
        yield

    @check.arguments
    def do(self, side: str, what: str, body: Body) -> None:
        """Run ``body`` (a generator: one step of ``side``'s program, ``what`` it does) as a thread of that program,
        "client:connect", on its host's CPU 0, then let the hosts settle for :data:`WINDOW_NS`, the slab log
        labelling what happens with :attr:`label`. The thread ends with the step; the program (its fds) lives on."""
        check.choice("side", side, SIDES)
        if not what or len(f"{side}:{what}") > 15:
            raise ValueError(f"what must be a word short enough for a thread's name (15 characters), got {what!r}")
        host = self.server if side == "server" else self.client
        for h in {self.client, self.server}:
            h.slab.label = self.label
        self.sched.spawn(f"{side}:{what}", body, cpu=0, process=self.programs[side], host=host.name)
        self.sched.run(until_ns=self.sched.clock + WINDOW_NS)

    # --- ends -------------------------------------------------------------------------------------------------
    @check.arguments
    def open(self, until: str = "ESTABLISHED") -> End:
        """A new connection: the client's socket() and connect(); the server's accept() unless ``until`` is
        "SYN_RECV" (the lab must be ``syn_only``: the client's host drops the SYN-ACK) or "ACCEPT_QUEUE"."""
        check.choice("until", until, ("ESTABLISHED", "SYN_RECV", "ACCEPT_QUEUE"))
        if (until == "SYN_RECV") != self.syn_only:
            raise ValueError("SYN_RECV needs a syn_only lab (the client's host drops the SYN-ACK), and a syn_only "
                             "lab's connections stop there")
        end = End(len(self.ends))
        self.ends.append(end)
        self.label = ("open", end.number)
        self.do("client", "connect", self._connect(end))
        if until == "ESTABLISHED":
            self.do("server", "accept", self._accept(end))
        return end

    @check.arguments
    def close(self, end: End, side: str) -> None:
        """``side`` closes its end of ``end``."""
        check.choice("side", side, SIDES)
        if side not in end.fds:
            raise ValueError(f"connection {end.number}'s {side} end is not open")
        self.do(side, "close", self._close(end, side))

    @check.arguments
    def move(self, end: End, side: str, state: str) -> None:
        """Take an open ESTABLISHED connection's ``side`` end to ``state``: the peer closes (CLOSE_WAIT), this side
        closes (FIN_WAIT2), this side and then the peer (TIME_WAIT)."""
        check_side_state(side, state)
        self.label = ("move", end.number)
        peer = "client" if side == "server" else "server"
        if state == "CLOSE_WAIT":
            self.close(end, peer)
        elif state in ("FIN_WAIT2", "TIME_WAIT"):
            self.close(end, side)
            if state == "TIME_WAIT":
                self.close(end, peer)

    @check.arguments
    def state_of(self, end: End, side: str) -> str:
        """The TCP state of ``side``'s end of ``end`` as chapter 06 names it (:data:`STATES`, "SYN_SENT", "LAST_ACK",
        "CLOSE" for a new socket and once nothing is left of it …; "-" for a server end before its SYN). A server end
        not accept()ed yet is a request (SYN_RECV) or a child waiting in the accept queue (ACCEPT_QUEUE)."""
        check.choice("side", side, SIDES)
        sk, client = end.socks.get(side), end.socks.get("client")
        host = self.server if side == "server" else self.client
        if sk is None and side == "server" and client is not None and client.inet_num:
            key = (self.server_addr, SERVER_PORT, self.client_addr, client.inet_num)
            if any(req.key == key for req in self.listener.icsk_accept_queue.rskq_accept):
                return "ACCEPT_QUEUE"
            child = host.net.tcp_ehash.get(key)
            if isinstance(child, TcpSock):                  # made, not yet on the accept queue
                return child.sk_state.removeprefix("TCP_")
            return "SYN_RECV" if find_request(self.listener, key) is not None else "-"
        if sk is None:                                      # the client's socket() is still running
            return "CLOSE" if side == "client" else "-"
        entry = host.net.tcp_ehash.get(sk.four_tuple())
        if isinstance(entry, InetTimewaitSock):
            return entry.tw_substate.removeprefix("TCP_")
        return sk.sk_state.removeprefix("TCP_")

    @check.arguments
    def slab_of(self, side: str) -> Slub:
        """The slab allocator of ``side``'s host."""
        check.choice("side", side, SIDES)
        return (self.server if side == "server" else self.client).slab


# --------------------------------------------------------------------------------------------------------------
# Traces of one end

@dataclass(frozen=True)
class ConnectionMemoryState:
    """One connection end's host at a step: the host, its slab caches in use (by /proc/slabinfo row), their bytes, the
    cache the step touched, the slab objects the end holds, its TCP state ("-" before the connection reaches this
    host), the program's open fds."""

    host: str
    slab: Mapping[str, CacheState]
    slab_bytes: int
    touched: str | None
    objects: tuple[str, ...]
    state: str
    fds: int


@dataclass(frozen=True)
class FdLimitState:
    """A process at its fd limit, at a step: RLIMIT_NOFILE (soft, hard), its fd table, the slab objects and bytes."""

    nofile: tuple[int, int]
    fdtable: FdTableState
    slab_objects: int
    slab_bytes: int


def _until(state: str) -> str:
    return state if state in ("SYN_RECV", "ACCEPT_QUEUE") else "ESTABLISHED"


@check.arguments
def connection_trace(profile: KernelProfile, side: str = "client", state: str = "TIME_WAIT", epoll: bool = False,
                     nr_cpus: check.Cpus | None = None, expire: bool = False):
    """The trace of one connection end from nothing to ``state`` (and, with ``expire``, past TIME_WAIT's 60 s), on a
    lab over a link: every kernel function both hosts ran, with the ``side`` host's slab caches and the end's objects
    after each step."""
    check_side_state(side, state)
    lab = MemoryLab(profile, epoll=epoll, syn_only=state == "SYN_RECV", nr_cpus=nr_cpus)
    slub = lab.slab_of(side)
    program = lab.programs[side]

    def snapshot():                                   # once per step: touched is what this step touched
        touched, slub.last_row = slub.last_row, None
        held = live_objects(slub.log, 0) if lab.ends else ()
        return ConnectionMemoryState(side, slub.snapshot(), slub.bytes, touched, tuple(sorted(o.cache for o in held)),
                                     lab.state_of(lab.ends[0], side) if lab.ends else "-", len(program.files.fd))

    slub.last_row = None                              # what the lab's setup touched is before the trace
    with Tracer(clock=lab.sched.now, snapshot=snapshot, renamed=profile.renamed) as tracer:
        end = lab.open(_until(state))
        lab.move(end, side, state)
        if expire:
            lab.sched.run(until_ns=lab.sched.clock + (profile.tcp_timewait_s + 1) * 1000 * MS)
    return tracer.trace


@check.arguments
def fd_limit_trace(nofile: Annotated[int, check.Range(5, 64)] = 5, nr_open: int = 1048576,
                   profile: KernelProfile | None = None):
    """A server with ``ulimit -n nofile`` (fds 0–2 taken, its listener at fd 3) and a connection waiting in its
    accept queue calls socket() until EMFILE, then accept(), which fails with EMFILE too and leaves the connection
    queued: the order of the checks."""
    lab = MemoryLab((profile or LINUX_6_12).replace(nr_open=nr_open), nofile=nofile)
    lab.open("ACCEPT_QUEUE")
    server = lab.programs["server"]
    slub = lab.slab_of("server")

    def snapshot():
        objects = sum(c.nr_objects for c in slub.caches.values())
        return FdLimitState((server.nofile.rlim_cur, server.nofile.rlim_max), server.files.snapshot(), objects,
                            slub.bytes)

    def until_emfile():
        while __sys_socket(lab.server.net, AF_INET, SOCK_STREAM, 0, f"sock{len(server.files.fd)}") >= 0:
            pass
        yield from __sys_accept4(lab.listen_fd)

    with Tracer(clock=lab.sched.now, snapshot=snapshot, renamed=lab.profile.renamed) as tracer:
        lab.do("server", "socket", until_emfile())
    return tracer.trace


@check.arguments
def sockets_before_emfile(profile: KernelProfile, nofile: Annotated[int, check.Range(4, 4096)] = 1024) -> int:
    """How many sockets a process with ``ulimit -n nofile`` and fds 0–2 open makes with socket() before EMFILE."""
    lab = MemoryLab(profile, nofile=nofile)
    made = []

    def until_emfile():
        while __sys_socket(lab.client.net, AF_INET, SOCK_STREAM, 0, f"s{len(made)}") >= 0:
            made.append(True)
        return
        yield

    lab.do("client", "socket", until_emfile())
    return len(made)


# --------------------------------------------------------------------------------------------------------------
# N ends

def _run_ends(lab: MemoryLab, side: str, state: str, n: int) -> None:
    """Open ``n`` connections one after another, then take each one's ``side`` end to ``state``."""
    opened = [lab.open(_until(state)) for _ in range(n)]
    for end in opened:
        lab.move(end, side, state)


@check.arguments
def connections_memory(profile: KernelProfile, n: Annotated[int, check.Range(1, 1000)], side: str = "server",
                       state: str = "ESTABLISHED", epoll: bool = False,
                       nr_cpus: check.Cpus | None = None) -> dict[str, int]:
    """Slab bytes per cache (after merging) that ``n`` connection ends opened then moved to ``state`` add to their
    host, by running them all (exact and slow: use :func:`footprint` for large ``n``)."""
    check_side_state(side, state)
    lab = MemoryLab(profile, epoll=epoll, syn_only=state == "SYN_RECV", nr_cpus=nr_cpus)
    slub = lab.slab_of(side)
    before = {row: c.bytes for row, c in slub.caches.items()}
    _run_ends(lab, side, state, n)
    return {row: c.bytes - before[row] for row, c in sorted(slub.caches.items()) if c.bytes != before[row]}


@check.arguments
def footprint(profile: KernelProfile, state: str = "ESTABLISHED", side: str = "server", epoll: bool = False,
              nr_cpus: check.Cpus | None = None) -> Footprint:
    """The exact slab memory of any number of ``side`` ends in ``state``, read off :data:`SAMPLE_ENDS` traced ones
    (:mod:`netlab.load.memory`), up to what the listener's queues hold (SYN_RECV, ACCEPT_QUEUE). SYN_RECV counts the
    requests as their SYN-ACKs first go out: the retransmissions a second later (and the sk_buffs NAPI's per-CPU
    cache keeps from them, at most 64 per CPU) are traffic, not the requests' memory."""
    check_side_state(side, state)
    lab = MemoryLab(profile, epoll=epoll, syn_only=state == "SYN_RECV", nr_cpus=nr_cpus)
    _run_ends(lab, side, state, SAMPLE_ENDS)
    slub = lab.slab_of(side)
    rows = {row: row_pattern(template) for row, template in slab_templates(slub, slub.log).items()}
    held = tuple(obj.cache for obj in live_objects(slub.log, 1))
    limit = {"SYN_RECV": syn_queue_capacity, "ACCEPT_QUEUE": accept_queue_capacity}.get(state)
    return Footprint(lab.profile.name, side, state, epoll, lab.profile.page_size, rows, held,
                     dict(lab.profile.slab_aliases), OBJECT_STRUCT,
                     limit(lab.profile, lab.profile.somaxconn) if limit else None)


# --------------------------------------------------------------------------------------------------------------
# The live experiment's model

@dataclass(frozen=True)
class ModelReading:
    """The model's side of one reading of the live experiment: bytes per connection (both ends), in all and by
    /proc/slabinfo row."""

    step: str
    per_connection: float
    rows: Mapping[str, float]


@check.arguments
def modelled(profile: KernelProfile, n: Annotated[int, check.Range(1, MAX_CONNECTIONS)] = 1000,
             first_closer: str = "client", epoll: bool = False) -> tuple[ModelReading, ...]:
    """The live experiment (:func:`netlab.live.connection_memory.measure_connection_memory`) on a loopback lab:
    ``n`` connections opened one after another (both ends on one host, their objects side by side in the same
    slabs, as on the machine), then the ``first_closer``'s ends closed (FIN_WAIT2, the others CLOSE_WAIT, each
    holding the FIN its peer sent over loopback), then the others' (the first closer's ends in TIME_WAIT, the
    others freed). Slab bytes per connection after each step, replayed for ``n`` from :data:`SAMPLE_ENDS` traced
    connections: a slab goes back only when every object in it is free, so after the first close the freed ends'
    tcp_socks and inodes still cost what their slabs cost."""
    check.choice("first_closer", first_closer, tuple(STEPS))
    other = "server" if first_closer == "client" else "client"
    lab = MemoryLab(profile, over="loopback", epoll=epoll)
    ends = [lab.open() for _ in range(SAMPLE_ENDS)]
    for phase, side in (("first close", first_closer), ("second close", other)):
        for end in ends:
            lab.label = (phase, end.number)
            lab.close(end, side)
    slub = lab.slab_of("server")
    bytes_by_row = {row: template.replay(n) for row, template in slab_templates(slub, slub.log).items()}
    setup = {row: template.replay(0)[0] for row, template in slab_templates(slub, slub.log).items()}
    readings = []
    for step in range(3):
        rows = {row: (after[step] - setup[row]) / n for row, after in sorted(bytes_by_row.items())
                if after[step] != setup[row]}
        readings.append(ModelReading(STEPS[first_closer][step], sum(rows.values()), rows))
    return tuple(readings)


@dataclass(frozen=True)
class ComparisonRow:
    """One line of :func:`compare`: a step (``cache`` empty: the sum of the model's caches) or one cache of it,
    measured and modelled bytes per connection (``model`` None: not modelled)."""

    step: str
    cache: str
    measured: float
    model: float | None

    @property
    def label(self) -> str:
        """The step, or the cache indented under it."""
        return f"  {self.cache}" if self.cache else self.step


@check.arguments
def compare(measured: ConnectionMemory, profile: KernelProfile) -> tuple[ComparisonRow, ...]:
    """The live experiment beside :func:`modelled` (run for the same ``n`` and closing order on ``profile``), step by
    step in bytes per connection: first the slab caches the model allocates from, their sum on the step's line, each
    named by the cache the model uses and, where SLUB merged it, the /proc/slabinfo row that counts it; then, on a
    line of its own, what the other caches moved meanwhile (the machine's other activity: not the experiment's).
    Measured with meminfo (no per-cache rows), one line per step."""
    n = measured.n
    rows = []
    for reading, model in zip(measured.readings, modelled(profile, n, measured.first_closer, measured.epoll)):
        if measured.method != "slabinfo":
            rows.append(ComparisonRow(reading.step, "", reading.per_connection(n), model.per_connection))
            continue
        mine = {row: reading.rows.get(row, (0, 0))[1] / n for row in model.rows}
        rows.append(ComparisonRow(reading.step, "", sum(mine.values()), model.per_connection))
        for row in sorted(model.rows, key=lambda r: -model.rows[r]):
            caches = [c for c, r in profile.slab_aliases.items() if r == row]
            label = (f"{row} (+ {', '.join(caches)})" if row in OBJECT_STRUCT and caches
                     else f"{', '.join(caches)} (slabinfo: {row})" if caches else row)
            rows.append(ComparisonRow(reading.step, label, mine[row], model.rows[row]))
        other = sum(b for row, (_, b) in reading.rows.items() if row not in model.rows) / n
        if abs(other) >= 1:
            rows.append(ComparisonRow(reading.step, "other caches (the machine's other activity)", other, None))
    return tuple(rows)
