"""The whole journey: a client process sends a request to an epoll server, which replies.

Over a link (``over="link"``): two :class:`~netlab.scenarios.receive.Host` objects, ``client`` and ``server``, on
one engine, cabled by a :class:`~netlab.scenarios.link.Link`, each with its own CPU, NIC, namespace and sockets.
Every segment takes the real way: the sender's TCP (chapter 05's handshake, chapter 03's ``tcp_sendmsg``) → IP →
netfilter → qdisc → igb's TX ring, the wire, the receiver's RX ring → hard IRQ → NET_RX → NAPI → IP →
``tcp_v4_rcv`` (chapter 01) → the socket's wait queue → ``ep_poll_callback`` → the ready list (chapter 02).

Over loopback (``over="loopback"``): both programs on one host, ``localhost``, the client connecting to
127.0.0.1. Each segment goes TCP → IP → netfilter → ``lo`` (no qdisc) → ``loopback_xmit`` → ``__netif_rx`` → this
CPU's backlog, and the NET_RX softirq runs when the sender re-enables bottom halves, in its own time (chapter 04):
no NIC, no ring, no hard IRQ: the whole handshake happens inside the client's own ``connect()``.

Both programs are tasks of the engine, each on its host's CPU 0 (that host's own run queue; over loopback the one
host has two CPUs): the server sleeps in ``epoll_wait`` until ``ep_poll_callback`` wakes it, the client sleeps in
``connect()`` and ``recv()`` until its socket's wait queue wakes it (``try_to_wake_up``, a context switch each time);
its CPU runs the idle task in between. The client starts once the server sleeps in ``epoll_wait``:

1. the server: ``socket()``, ``bind()`` and ``listen()`` on port 80, ``epoll_create1()``, ``epoll_ctl(ADD)`` of
   the listener, ``epoll_wait()``: it sleeps;
2. the client: a blocking ``connect()`` — the SYN goes out and it sleeps (``inet_wait_for_connect``); SYN-ACK, ACK:
   ``sk_state_change`` wakes it; the connection joins the accept queue, the listener's wake-up runs
   ``ep_poll_callback``: the listener's epitem goes on the ready list, the server wakes;
3. the server ``accept()``s the connection, ``epoll_ctl(ADD)``s it (EPOLLIN | EPOLLRDHUP) and sleeps in
   ``epoll_wait()`` again;
4. after :data:`CLIENT_THINK_NS` of its own user code, the client ``send()``s the request and sleeps in ``recv()``;
5. the request is queued, ``ep_poll_callback`` puts the connection on the ready list and wakes the server, which
   ``recv()``s the request, ``send()``s the response and sleeps in ``epoll_wait()`` again;
6. the response wakes the client, whose ``recv()`` returns it; it ``close()``s its socket: ESTABLISHED →
   FIN_WAIT1, its FIN goes out (``tcp_send_fin``), the socket is orphaned and the client exits;
7. the FIN reaches the server's connection: ``tcp_fin`` moves it to CLOSE_WAIT, ``sk_state_change`` runs
   ``ep_poll_callback``, the server wakes with EPOLLIN | EPOLLRDHUP and its ``recv()`` returns 0. The FIN's ACK is
   delayed (``tcp_send_delayed_ack``, 40 ms), so when the server ``close()``s (after :attr:`Journey.server_close_ns`
   of user code) its FIN carries it: CLOSE_WAIT → LAST_ACK; ``__fput`` takes the connection out of the epoll
   (``eventpoll_release_file``), and the server sleeps in ``epoll_wait()`` for the next client;
8. the client's socket gets FIN and ACK together: FIN_WAIT1 → FIN_WAIT2, then its ACK and ``tcp_time_wait``: a
   TIME_WAIT sock takes the place of the freed ``tcp_sock``; the ACK moves the server's connection LAST_ACK →
   CLOSE (``tcp_done``: freed);
9. 60 s later (TCP_TIMEWAIT_LEN) the TIME_WAIT sock's timer runs ``inet_twsk_kill``: the client's port is free.

A server that closes later than the 40 ms delayed-ACK timeout makes it four segments (FIN, ACK, FIN, ACK): the
client's orphan then becomes a TIME_WAIT sock in substate FIN_WAIT2 already when its FIN is ACKed, and the server's
FIN finds that sock (``tcp_timewait_state_process``).

Each event carries a :class:`JourneyState`: every host's chapter-01 state (rings, IRQs, CPUs' poll_list and
backlog, the sockets' receive queues), each socket's TCP state and the listener's accept queue, the TIME_WAIT socks
and the server's epoll instance (red-black tree, ready list, who waits); ``netlab.view.journey.draw_journey``
draws the step's host from it.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, replace
from typing import Annotated, Callable, Mapping

from netlab import check
from netlab.kernel import tcp_handshake
from netlab.kernel.cpu import current_cpu
from netlab.kernel.eventpoll import EPOLL_CTL_ADD, EpollState, Eventpoll
from netlab.kernel.fs import EPOLLIN, EPOLLRDHUP, fdget
from netlab.kernel.inet_connection_sock import TcpSock, inet_bind
from netlab.kernel.inet_timewait_sock import InetTimewaitSock
from netlab.kernel.profiles import KernelProfile, profile as get_profile
from netlab.kernel.route import Rtable
from netlab.kernel.sched import (MAX_SCHEDULE_TIMEOUT, TASK_DEAD, TASK_INTERRUPTIBLE, RqState, Scheduler, TaskState,
                                 spend)
from netlab.kernel.source_index import LAYERS, layer_of
from netlab.kernel.tcp_output import MsgHdr
from netlab.kernel.zerocopy import __sys_sendto as sys_sendto
from netlab.scenarios.link import MAX_DELAY_US, client_and_server
from netlab.scenarios.receive import ReceiveState
from netlab.scenarios.userspace import Process, accept, close, epoll_create1, epoll_ctl, epoll_wait, recv, socket
from netlab.trace import Event, Trace, Tracer

SERVER_PORT = 80
WAYS = ("link", "loopback")
MAX_MESSAGE = 1400
"""The largest request or response: one segment (read in one recv())."""
CLIENT_THINK_NS = 20_000
"""The client's user code between ``connect()`` and ``send()`` (building the request): 20 µs, time enough for the
server to accept the connection and watch it before the request arrives."""
LIMIT_NS = 120_000_000_000
"""The journey gives up after 120 s of simulated time, twice TIME_WAIT (a handshake or close that never
finishes)."""
sys_listen = getattr(tcp_handshake, "__sys_listen")          # the kernel's names start with "__", which Python
inet_stream_connect = getattr(tcp_handshake, "__inet_stream_connect")  # would mangle inside a class body
Message = Annotated[int, check.Range(1, MAX_MESSAGE)]

CHAPTERS = (
    ("01", "receive", ("-", "drivers/net/ethernet/", "kernel/softirq.c", "include/linux/bottom_half.h",
                       "include/linux/netdevice.h", "net/core/dev.c", "net/core/gro.c", "include/net/gro.h",
                       "net/ethernet/", "include/linux/netfilter.h", "net/ipv4/ip_input.c", "include/net/dst.h",
                       "include/net/inet_hashtables.h", "net/ipv4/tcp_ipv4.c:tcp_v4_rcv",
                       "net/ipv4/tcp_ipv4.c:tcp_v4_do_rcv", "net/ipv4/tcp_input.c:tcp_rcv_established",
                       "net/ipv4/tcp_input.c:tcp_queue_rcv", "net/ipv4/tcp_input.c:tcp_data_ready",
                       "net/ipv4/tcp_input.c:tcp_data_queue", "net/ipv4/tcp_ipv4.c:tcp_add_backlog",
                       "include/net/sock.h:sk_add_backlog", "net/core/sock.c:__release_sock",
                       "net/core/skbuff.c:napi_build_skb", "net/core/skbuff.c:build_skb",
                       "net/core/skbuff.c:__netdev_alloc_skb", "net/ipv4/af_inet.c:inet_gro_",
                       "net/ipv4/tcp_offload.c", "net/ipv4/udp_offload.c", "net/ipv4/tcp_ipv4.c:tcp4_gro_",
                       "net/ipv4/tcp.c:tcp_gro_", "net/core/skbuff.c:skb_gro_receive",
                       "net/core/skbuff.c:napi_skb_free_stolen_head")),
    ("02", "blocking vs epoll", ("fs/eventpoll.c", "net/core/sock.c:sk_wait_data", "include/linux/poll.h",
                                 "include/linux/rbtree.h", "lib/rbtree.c",
                                 "include/linux/wait.h", "kernel/sched/", "kernel/time/", "kernel/locking/",
                                 "kernel/wait.c", "kernel/mutex.c", "kernel/hrtimer.c", "kernel/timer.c",
                                 "kernel/exit.c", "net/socket.c:sys_recvfrom",
                                 "net/core/sock.c:sock_def_readable", "net/core/sock.c:sock_def_wakeup",
                                 "net/socket.c:sock_poll",
                                 "net/ipv4/tcp.c:tcp_poll", "net/socket.c:__sys_recvfrom", "net/socket.c:sock_recvmsg",
                                 "net/ipv4/af_inet.c:inet_recvmsg", "net/ipv4/tcp.c:tcp_recvmsg",
                                 "net/core/skbuff.c:skb_attempt_defer_free", "include/net/sock.h:sk_eat_skb")),
    ("03", "send", ("net/socket.c:__sys_sendto", "net/socket.c:sys_sendto", "net/core/dev.c:dev_queue_xmit",
                    "net/core/dev.c:dev_kfree_skb_any", "net/socket.c:sock_sendmsg", "net/ipv4/tcp.c", "net/ipv4/tcp_output.c",
                    "include/net/sock.h:skb_copy_to_page_nocache", "net/core/skbuff.c", "net/ipv4/ip_output.c",
                    "include/net/neighbour.h", "net/core/dev.c:__dev_queue_xmit", "net/core/dev.c:__dev_xmit_skb",
                    "net/core/dev.c:validate_xmit_skb", "net/core/dev.c:dev_hard_start_xmit", "net/core/dev.c:xmit_one",
                    "net/sched/", "drivers/net/ethernet/intel/igb/igb_main.c:igb_xmit_frame",
                    "drivers/net/ethernet/intel/igb/igb_main.c:igb_tx_map",
                    "drivers/net/ethernet/intel/igb/igb_main.c:igb_clean_tx_irq",
                    "net/ipv4/tcp_input.c:__tcp_ack_snd_check", "net/ipv4/tcp_timer.c:tcp_delack_timer_handler")),
    ("04", "loopback", ("drivers/net/loopback.c", "net/core/dev.c:netif_rx", "net/core/dev.c:__netif_rx",
                        "net/core/dev.c:enqueue_to_backlog", "net/core/dev.c:napi_schedule_rps",
                        "net/core/dev.c:process_backlog")),
    ("05", "handshake", ("net/socket.c", "net/ipv4/af_inet.c", "include/net/sock.h", "net/ipv4/tcp_ipv4.c",
                         "include/net/inet_sock.h:inet_reqsk_alloc",
                         "net/ipv4/tcp_input.c", "net/ipv4/tcp_minisocks.c", "net/ipv4/inet_connection_sock.c",
                         "include/net/inet_connection_sock.h", "net/core/request_sock.c",
                         "net/ipv4/tcp_output.c:tcp_connect", "net/ipv4/tcp_output.c:tcp_send_ack",
                         "net/ipv4/ip_output.c:ip_build_and_send_pkt")),
    ("06", "connection memory", ("net/socket.c:sock_alloc", "net/socket.c:sock_map_fd", "net/socket.c:sock_free_inode",
                                 "net/socket.c:sock_destroy_inode", "fs/inode.c", "fs/anon_inodes.c",
                                 "net/core/sock.c:sk_alloc", "net/core/sock.c:sk_prot_alloc",
                                 "net/core/sock.c:sk_clone_lock", "net/core/sock.c:sk_free",
                                 "net/core/sock.c:sk_prot_free",
                                 "fs/dcache.c", "fs/file_table.c", "mm/", "include/linux/slab.h",
                                 "net/core/skbuff.c:kfree_skbmem", "net/core/skbuff.c:skb_free_head",
                                 "net/core/skbuff.c:napi_skb_cache_get", "net/core/skbuff.c:napi_skb_cache_put",
                                 # TCP's own objects: request socks, bind buckets (TIME_WAIT socks: below)
                                 "include/net/request_sock.h", "net/ipv4/inet_connection_sock.c:reqsk_alloc",
                                 "net/ipv4/inet_hashtables.c:inet_bind_bucket_",
                                 "net/ipv4/inet_hashtables.c:inet_bind2_bucket_",
                                 # the close: which states a connection passes, and what it keeps in each
                                 "net/socket.c:__sock_release", "net/socket.c:sock_release",
                                 "net/ipv4/af_inet.c:inet_release",
                                 "net/ipv4/af_inet.c:inet_shutdown", "net/ipv4/tcp.c:tcp_close",
                                 "net/ipv4/tcp.c:__tcp_close", "net/ipv4/tcp.c:tcp_shutdown",
                                 "net/ipv4/tcp.c:tcp_set_state", "net/ipv4/tcp.c:tcp_done",
                                 "net/ipv4/tcp_output.c:tcp_send_fin", "net/ipv4/tcp_output.c:tcp_send_active_reset",
                                 "net/ipv4/tcp_input.c:tcp_fin", "net/ipv4/tcp_minisocks.c:tcp_time_wait",
                                 "net/ipv4/tcp_minisocks.c:tcp_timewait", "net/ipv4/inet_timewait_sock.c",
                                 "net/ipv4/tcp_ipv4.c:tcp_v4_timewait_ack")),
    ("07", "connection limits", ("fs/file.c", "net/ipv4/inet_hashtables.c",
                                 "net/ipv4/inet_connection_sock.c:inet_csk_get_port")),
)
"""The chapter of this course that explains a kernel function: ``(number, name, prefixes)``, each prefix of
``source:function`` (``"-"``, outside any function: a frame reaching the NIC; 3.10's own names and files beside
6.12's). The longest prefix wins, as in :data:`LAYERS`; a chapter's notebook is ``notebooks/NN-name-with-dashes.ipynb``."""


@check.arguments
def chapter_of(event: Event) -> str:
    """``chapter 05 · handshake``: the chapter that explains ``event`` (see :data:`CHAPTERS`), or ``""``."""
    where = f"{event.source}:{event.function}"
    matches = [(len(prefix), number, name) for number, name, prefixes in CHAPTERS for prefix in prefixes
               if where.startswith(prefix)]
    if not matches:
        return ""
    _, number, name = max(matches)
    return f"chapter {number} · {name}"


@dataclass(frozen=True)
class JourneyState:
    """The journey at a step: each host's receive-side state (its sockets included), its CPUs' run queues and its
    programs' tasks, each socket's TCP state by name, the listener's accept queue, the TIME_WAIT socks (by
    4-tuple) and the server's epoll instance."""

    hosts: Mapping[str, ReceiveState]
    run_queues: Mapping[str, tuple[RqState, ...]]
    tasks: Mapping[str, tuple[TaskState, ...]]
    tcp: Mapping[str, str]
    accept_queue: tuple[str, ...]
    timewait: tuple[str, ...]
    epoll: EpollState | None


class Journey:
    """The hosts, the programs and the sockets of the journey: the client sends ``request`` bytes to an epoll server
    that replies ``response`` bytes, ``over`` a link (``delay_us`` of wire) or loopback; then both close (the server
    ``server_close_ns`` after it saw the end of the stream) and the run ends with the client's TIME_WAIT — or, with
    ``close=False``, both keep the connection ESTABLISHED after the response; with ``memory`` the hosts model their
    kernel memory (slab objects, chapter 06). :meth:`run` plays it once and returns its trace."""

    @check.arguments
    def __init__(self, request: Message = 100, profile: str | KernelProfile = "6.12",
                 delay_us: Annotated[float, check.Range(0, MAX_DELAY_US)] = 5.0, response: Message = 200,
                 over: str = "link", server_close_ns: Annotated[int, check.Range(0, 10 * 1_000_000_000)] = 0,
                 close: bool = True, memory: bool = False):
        check.choice("over", over, WAYS)
        prof = get_profile(profile) if isinstance(profile, str) else profile
        if not isinstance(prof, KernelProfile):
            raise TypeError("profile must be '3.10', '6.12' or a KernelProfile")
        self.request, self.response, self.over = request, response, over
        self.server_close_ns, self.close = server_close_ns, close
        self.sched = Scheduler(nr_cpus=0, profile=prof)
        hosts = client_and_server(prof, self.sched, over, delay_us, memory)
        self.client, self.server, self.link = hosts.client, hosts.server, hosts.link
        self.server_addr, self.client_addr, self.client_dev = hosts.server_addr, hosts.client_addr, hosts.client_dev
        self.program = Process("server", pid=1000)
        self.client_program = Process("client", pid=2000)
        self.listener: TcpSock | None = None      # each program makes its socket (socket()) when it runs
        self.listen_fd: int | None = None
        self.sk: TcpSock | None = None
        self.client_fd: int | None = None
        self.socks: dict[str, TcpSock] = {}       # by name: what the snapshots show
        self.epoll: Eventpoll | None = None
        self.accepted: TcpSock | None = None
        self.ready: list[list[int]] = []      # the fds each epoll_wait() reported
        self.revents: list[list[int]] = []    # and the events it reported for them
        self.received: int | None = None      # what the server's recv() returned
        self.answered: int | None = None      # what the client's recv() of the response returned
        self.eof: int | None = None           # what the server's recv() after the client's FIN returned
        self.server_closed = False            # the server closed its connection (and waits for the next client)
        self.trace: Trace | None = None

    def run(self) -> Trace:
        """Play the programs (see the module's docstring) and return the trace of every kernel."""
        if self.trace is not None:
            raise ValueError("this journey has run already: make a new Journey")
        client, server = self.client, self.server
        with Tracer(clock=self._clock, snapshot=self.snapshot, renamed=self.sched.profile.renamed) as tracer:
            task = self.sched.spawn(self.program.comm, self._server(), cpu=0, process=self.program,
                                    host=server.name)
            self._wait_for(lambda: self.ready == [] and task.state == TASK_INTERRUPTIBLE, "the server's epoll_wait()")
            me = self.sched.spawn(self.client_program.comm, self._client(), cpu=0, process=self.client_program,
                                  host=client.name)
            server_done = ((lambda: task.state == TASK_DEAD) if not self.close else   # back in epoll_wait after close
                           (lambda: self.server_closed and task.state == TASK_INTERRUPTIBLE))
            self._wait_for(lambda: server_done() and me.state == TASK_DEAD and (not self.close or (
                           self.sk.sk_state == self.accepted.sk_state == "TCP_CLOSE"
                           and not any(isinstance(s, InetTimewaitSock) for s in client.net.tcp_ehash.values())))
                           and not any(
                qv.tx_ring.device_owned() or qv.tx_ring.done() or qv.tx_wire
                for host in {client, server} for qv in host.nic.q_vectors if qv.tx_ring), "the end of TIME_WAIT")
        self.trace = tracer.trace
        return self.trace

    def _client(self):
        """The client program, a task: socket, connect, think, send the request, read the response, close."""
        self.client_fd = socket(self.client.net, "client")
        sk = self.sk = fdget(self.client_program, self.client_fd).private_data.sk
        sk.inet_rcv_saddr, sk.dst = self.client_addr, Rtable(self.client_dev)    # its address and route
        self.socks[sk.name] = sk
        if inet_stream_connect(sk, self.server_addr, SERVER_PORT) == tcp_handshake.EINPROGRESS:
            yield from tcp_handshake.inet_wait_for_connect(sk, MAX_SCHEDULE_TIMEOUT)   # the rest of connect()
        yield from spend(CLIENT_THINK_NS, "build the request")
        sys_sendto(sk, MsgHdr(self.request, name="request"))
        self.answered = yield from recv(self.client_fd, MAX_MESSAGE)
        if self.close:
            close(self.client_fd)                                                    # FIN_WAIT1

    def _server(self):
        """The server program, a task: socket, bind, listen, then an epoll loop that accepts the connection, reads
        the request, sends the response, reads the end of the stream, closes, and sleeps in epoll_wait for the next
        client."""
        self.listen_fd = socket(self.server.net, "listener")
        self.listener = fdget(self.program, self.listen_fd).private_data.sk
        self.socks[self.listener.name] = self.listener
        inet_bind(self.server.net, self.listener, self.server_addr, SERVER_PORT)
        sys_listen(self.listener, 128)
        epfd = epoll_create1()
        self.epoll = fdget(self.program, epfd).private_data
        yield from epoll_ctl(epfd, EPOLL_CTL_ADD, self.listen_fd, EPOLLIN)
        yield from self._epoll_wait(epfd)
        conn = yield from accept(self.listen_fd)
        self.accepted = fdget(self.program, conn).private_data.sk
        self.accepted.name = "server's connection"    # not the client's address and port it was named after
        self.socks[self.accepted.name] = self.accepted
        self.accepted.dst = Rtable(self.server.dev if self.link else self.server.net.loopback_dev)  # its route
        yield from epoll_ctl(epfd, EPOLL_CTL_ADD, conn, EPOLLIN | EPOLLRDHUP)
        yield from self._epoll_wait(epfd)
        self.received = yield from recv(conn, MAX_MESSAGE)
        sys_sendto(self.accepted, MsgHdr(self.response, name="response"))
        if not self.close:
            return
        yield from self._epoll_wait(epfd)
        self.eof = yield from recv(conn, MAX_MESSAGE)
        yield from spend(self.server_close_ns, "user code before close()")
        close(conn)
        self.server_closed = True
        yield from epoll_wait(epfd, 16)     # and back to waiting for the next client: a server does not exit

    def _epoll_wait(self, epfd: int):
        """``epoll_wait()``, sleeping until something is ready; note which fds and events it reported."""
        events = yield from epoll_wait(epfd, 16)
        self.ready.append([event.data for event in events])
        self.revents.append([event.events for event in events])

    def snapshot(self) -> JourneyState:
        """The state every event of the trace carries."""
        machines = dict.fromkeys((self.client, self.server))
        hosts = {host.name: replace(host.snapshot(), sockets={name: sk.snapshot() for name, sk in self.socks.items()
                                                              if sk.net is host.net}) for host in machines}
        timewait = tuple(sorted(f"{k[0]}:{k[1]} ↔ {k[2]}:{k[3]}" for host in machines
                                for k, s in host.net.tcp_ehash.items() if isinstance(s, InetTimewaitSock)))
        run_queues = {host.name: tuple([rq.snapshot() for rq in self.sched.host_rqs[host.name]]) for host in machines}
        tasks = {host.name: tuple([t.snapshot() for t in self.sched.tasks if t.rq.host == host.name])
                 for host in machines}
        return JourneyState(hosts, run_queues, tasks, {name: sk.sk_state for name, sk in self.socks.items()},
                            tuple(r.sk.name for r in self.listener.icsk_accept_queue.rskq_accept)
                            if self.listener is not None else (), timewait,
                            self.epoll.snapshot() if self.epoll is not None else None)

    def _clock(self) -> int:
        """The trace's clock: the running CPU's time, else the engine's."""
        cpu = current_cpu()
        return cpu.now if cpu is not None else self.sched.clock

    def _wait_for(self, condition: Callable[[], bool], what: str) -> None:
        """Run the engine until ``condition()`` holds, as a program blocked in a system call waits."""
        if not condition():
            self.sched.run(stop=lambda: condition() or self.sched.clock > LIMIT_NS)
        if not condition():
            raise RuntimeError(f"the journey stalled: {what} did not happen")

    def summary(self) -> str:
        """What ran where, in prose: per host and context, the kernel functions each layer called."""
        if self.trace is None:
            raise ValueError("run the journey first")
        return layers(self.trace)


@check.arguments
def layers(trace: Trace, limit: Annotated[int, check.Range(1, 1000)] = 6) -> str:
    """How the trace's steps divide into kernel function calls and notes (``trace_printk`` lines), then per host and
    execution context (in order of first appearance), the kernel functions each layer (:data:`LAYERS`) called: how
    many calls, and the first ``limit`` functions by name."""
    groups: dict[tuple[str, str], dict[str, dict[str, int]]] = defaultdict(lambda: defaultdict(dict))
    for e in trace:
        if e.kind == "call":
            functions = groups[e.host, e.context][layer_of(e.source, e.function)]
            functions[e.function] = functions.get(e.function, 0) + 1
    order = [name for name, _ in LAYERS] + ["other"]
    calls = len(trace.filter(kind="call"))
    lines = [f"{len(trace):,} steps: {_calls(calls)} of kernel functions and {_notes(len(trace) - calls)}, by host "
             f"and context:"]
    for (host, context), by_layer in groups.items():
        calls = sum(sum(f.values()) for f in by_layer.values())
        where = f"{host}, {context} context" if host else f"{context} context"
        lines.append(f"{where}: {_calls(calls)} of {sum(len(f) for f in by_layer.values()):,} functions")
        for layer in sorted(by_layer, key=order.index):
            functions = list(by_layer[layer])
            more = f" and {len(functions) - limit:,} more" if len(functions) > limit else ""
            lines.append(f"  {layer}: {_calls(sum(by_layer[layer].values()))} — {', '.join(functions[:limit])}{more}")
    return "\n".join(lines)


def _calls(n: int) -> str:
    return f"{n:,} call{'' if n == 1 else 's'}"


def _notes(n: int) -> str:
    return f"{n:,} note{'' if n == 1 else 's'} (trace_printk lines: what a function, a program or the NIC noted)"


@check.arguments
def compare(link: Trace, loopback: Trace) -> str:
    """One sentence: how many kernel function calls the journey took over a link and over loopback (the other
    steps of their traces are notes), and what only the link's path has."""
    difference = link.compare(loopback)
    link_calls, loopback_calls = difference.calls
    return (f"Over the link the journey took {link_calls:,} kernel function calls on two hosts (its other "
            f"{len(link) - link_calls:,} steps are notes), over loopback {loopback_calls:,} on one "
            f"({loopback_calls / link_calls:.0%} as many): loopback has no NIC, ring or "
            f"hard IRQ — {len(difference.only_first):,} functions run only over the link "
            f"({', '.join(difference.only_first[:3])}, …), {len(difference.only_second):,} only over loopback "
            f"({', '.join(difference.only_second[:3])}, …).")


@check.arguments
def journey(request: Message = 100, profile: str | KernelProfile = "6.12",
            delay_us: Annotated[float, check.Range(0, MAX_DELAY_US)] = 5.0, response: Message = 200,
            over: str = "link") -> Trace:
    """A client ``connect()`` + ``send(request bytes)`` to an epoll server that ``recv()``s and replies ``response``
    bytes, then both ``close()``, ``over`` a link (two hosts, ``delay_us`` of wire apart) or loopback (one host): the
    trace of everything the kernels did until the client's TIME_WAIT is over (:class:`Journey` keeps the hosts)."""
    return Journey(request, profile, delay_us, response, over).run()
