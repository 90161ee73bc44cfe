"""The whole journey: a client on one host connects to a server on another and sends it a request.

Two :class:`~netlab.scenarios.receive.Host` objects on one engine, cabled by a
:class:`~netlab.scenarios.link.Link`, each with its own CPU, NIC, namespace and sockets. Every segment takes the
real way: the sender's TCP (chapter 05's handshake, chapter 03's ``tcp_sendmsg``) → IP → netfilter → qdisc →
igb's TX ring, the wire, the receiver's RX ring → hard IRQ → NET_RX → NAPI → IP → ``tcp_v4_rcv`` (chapter 01).

The programs (each system call runs in process context on CPU 0 of its host, when that CPU is free):

1. the server: ``listen()`` on port 80;
2. the client: non-blocking ``connect()`` — SYN, SYN-ACK, ACK; the connection waits in the accept queue;
3. once the client is ESTABLISHED, it ``send()``s the request; once the connection is queued, the server
   ``accept()``s it;
4. once the request is in the accepted socket's receive queue, the server ``recv()``s it.

Each program step waits for what it needs (``Scheduler.run`` with ``stop``), as a blocked call would be woken then.
Not in it yet: the server's reply, close and TIME_WAIT, epoll, and the tasks' own scheduling on the hosts' CPUs.
"""
from __future__ import annotations

from typing import Annotated, Callable

from netlab import check
from netlab.kernel import tcp_handshake
from netlab.kernel.cpu import current_cpu
from netlab.kernel.inet_connection_sock import TcpSock, inet_bind, inet_csk_accept
from netlab.kernel.inet_stream import tcp_recvmsg
from netlab.kernel.ip_output import Rtable
from netlab.kernel.profiles import KernelProfile, profile as get_profile
from netlab.kernel.sched import Scheduler, nonblocking
from netlab.kernel.sock import MSG_DONTWAIT, Socket
from netlab.kernel.tcp_output import MsgHdr
from netlab.kernel.zerocopy import __sys_sendto as sys_sendto
from netlab.scenarios.link import MAX_DELAY_US, Link
from netlab.scenarios.receive import Host
from netlab.trace import Trace, Tracer

CLIENT_ADDR, SERVER_ADDR, SERVER_PORT = "10.0.0.1", "10.0.0.2", 80
MAX_REQUEST = 1400
"""The largest request: one segment (the server reads it in one recv())."""
LIMIT_NS = 10_000_000_000
"""The journey gives up after 10 s of simulated time (a handshake that never finishes)."""
sys_listen = getattr(tcp_handshake, "__sys_listen")          # the kernel's names start with "__", which Python
inet_stream_connect = getattr(tcp_handshake, "__inet_stream_connect")  # would mangle inside a class body


class Journey:
    """The two hosts, the link and the sockets of the journey: ``client`` sends ``request`` bytes to ``server``,
    ``delay_us`` of wire apart. :meth:`run` plays it once and returns its trace."""

    @check.arguments
    def __init__(self, request: Annotated[int, check.Range(1, MAX_REQUEST)] = 100,
                 profile: str | KernelProfile = "6.12",
                 delay_us: Annotated[float, check.Range(0, MAX_DELAY_US)] = 5.0):
        prof = get_profile(profile) if isinstance(profile, str) else profile
        if not isinstance(prof, KernelProfile):
            raise TypeError("profile must be '3.10', '6.12' or a KernelProfile")
        self.request = request
        self.sched = Scheduler(profile=prof)
        self.client = Host(prof, address=CLIENT_ADDR, tx_ring_size=prof.tx_ring_size, sched=self.sched,
                           name="client")
        self.server = Host(prof, address=SERVER_ADDR, tx_ring_size=prof.tx_ring_size, sched=self.sched,
                           name="server")
        self.link = Link(self.client, self.server, delay_us)
        self.listener = TcpSock(name="listener", net=self.server.net)
        Socket(self.listener)
        self.sk = TcpSock(name="client", net=self.client.net, inet_rcv_saddr=CLIENT_ADDR, dst=Rtable(self.client.dev))
        Socket(self.sk)
        self.accepted: TcpSock | None = None
        self.received: int | None = None     # what the server's recv() returned

    def run(self) -> Trace:
        """Play the programs (see the module's docstring) and return the trace of both kernels."""
        if self.received is not None:
            raise ValueError("this journey has run already: make a new Journey")
        client, server, listener = self.client, self.server, self.listener
        with Tracer(clock=self._clock) as tracer:
            inet_bind(server.net, listener, SERVER_ADDR, SERVER_PORT)
            self._syscall(server, lambda: sys_listen(listener, 128))
            self._syscall(client, lambda: inet_stream_connect(self.sk, SERVER_ADDR, SERVER_PORT))
            self._wait_for(lambda: self.sk.sk_state == "TCP_ESTABLISHED", "the client's connect()")
            self._syscall(client, lambda: sys_sendto(self.sk, MsgHdr(self.request)))
            self._wait_for(lambda: bool(listener.icsk_accept_queue.rskq_accept), "the connection's arrival")
            self._syscall(server, self._accept)
            self._wait_for(lambda: bool(self.accepted.sk_receive_queue), "the request's arrival")
            self._syscall(server, self._recv)
            self._wait_for(lambda: not any(qv.tx_ring.device_owned() or qv.tx_ring.done() or qv.tx_wire
                                           for host in (client, server) for qv in host.nic.q_vectors),
                           "the TX completions")
        return tracer.trace

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

    def _syscall(self, host: Host, call: Callable[[], object]) -> object:
        """A program's system call on ``host``'s CPU 0, as soon as the engine's clock and that CPU allow."""
        return host.run_process(0, call, at_ns=self.sched.clock)

    def _accept(self) -> None:
        got = nonblocking(inet_csk_accept(self.listener))
        if not isinstance(got, TcpSock):
            raise RuntimeError(f"accept() failed: {got}")
        Socket(got)
        self.accepted = got

    def _recv(self) -> None:
        self.received = nonblocking(tcp_recvmsg(self.accepted, MAX_REQUEST, MSG_DONTWAIT))


@check.arguments
def journey(request: Annotated[int, check.Range(1, MAX_REQUEST)] = 100, profile: str | KernelProfile = "6.12",
            delay_us: Annotated[float, check.Range(0, MAX_DELAY_US)] = 5.0) -> Trace:
    """Client ``connect()`` + ``send(request bytes)`` on one host, server ``listen()`` + ``accept()`` + ``recv()``
    on another, ``delay_us`` of wire apart: the trace of everything both kernels did (:class:`Journey` keeps the
    hosts)."""
    return Journey(request, profile, delay_us).run()
