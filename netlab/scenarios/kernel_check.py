"""The course's claims checked on the learner's kernel: each live experiment beside the model's answer, as
:class:`~netlab.live.claims.Claim` rows.

:data:`EXPERIMENTS` lists this module's experiments, each with its chapter; :func:`claims` runs those of the
chapters asked for. :data:`SOURCES` is the one list of every ``claims(chapters, quick)`` the command
``python -m netlab.check`` collects (:func:`collect`); another module offers its rows by joining that list.
``quick`` makes every experiment smaller (for CI). The models' answers come from the chapters' scenarios
(the comparisons live here because a live probe imports no scenario).
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable, Iterable, Iterator

from netlab import check
from netlab.live import accept_balance, limits, loopback, packet_tap, sched_experiments, time_wait
from netlab.live.accept_queue import listen_limit
from netlab.live.claims import Claim
from netlab.live.profile import this_machine
from netlab.scenarios import handshake_claims, loopback as loopback_model
from netlab.scenarios.blocking_vs_epoll import Workload, compare_servers, workers_turns
from netlab.scenarios.handshake import predict_accept_queue
from netlab.scenarios.journey import Journey
from netlab.scenarios.receive import Host, Packet
from netlab.scenarios.send import SendHost
from netlab.kernel.inet_connection_sock import TcpSock
from netlab.kernel.inet_hashtables import inet_hash_connect
from netlab.kernel.inet_timewait_sock import tcp_timewait_len
from netlab.kernel.limits import client_connections, errno_name
from netlab.kernel.netns import Net
from netlab.kernel.sched import Scheduler
from netlab.kernel.tcp_minisocks import tcp_time_wait
from netlab.kernel.profiles import PROFILES
from netlab.kernel.sched import thread_memory
from netlab.units import number, plural, size


def _yes(seen: bool, what: str) -> str:
    return f"{what}: {'yes' if seen else 'no'}"


def _tap(quick: bool) -> list[Claim]:
    host = Host("6.12")
    sock = host.tcp_socket(80, peer=("10.0.0.1", 40000))
    host.iptables("INPUT", "DROP", protocol="tcp", dport=80)
    tap = host.tcpdump()
    host.receive([Packet(1000, name="p0")])
    host.run()
    model_in = bool(tap.seen) and not sock.sk.sk_receive_queue
    sender = SendHost(device="lo", taps=1)
    sender.iptables("OUTPUT", "DROP", protocol="udp")
    sent = sender.send_datagram(100)
    sender.run()
    model_out = any(t.seen for t in sender.taps)
    model_error = errno_name(sent) if sent < 0 else "none"
    result = packet_tap.tap_vs_netfilter()
    r = result.value
    rows = [("tcpdump captures an incoming packet that an INPUT rule drops", "one datagram to a port an nft INPUT "
             "rule drops, an AF_PACKET socket on lo",
             _yes(model_in, "captured, socket got nothing"),
             r and _yes(r.input_captured_in and not r.input_delivered and r.input_dropped == 1,
                        "captured, socket got nothing"),
             r and model_in == (r.input_captured_in and not r.input_delivered and r.input_dropped == 1)),
            ("tcpdump never captures an outgoing packet that an OUTPUT rule drops, and sendto() fails with EPERM",
             "one datagram to a port an nft OUTPUT rule drops, the same AF_PACKET socket",
             f"{_yes(model_out, 'captured')}; sendto() → {model_error}",
             r and f"{_yes(r.output_captured, 'captured')}; sendto() → {r.output_send_error}",
             r and (model_out, model_error) == (r.output_captured, r.output_send_error))]
    return [Claim.from_result(c, "01", p, m, result, k, a) for c, p, m, k, a in rows]


def _accept_balance(quick: bool) -> list[Claim]:
    out = []
    for way, claim in (("accept", "workers blocked in accept() on one listener take the connections in turn"),
                       ("epoll_exclusive", "workers each with an epoll on one listener (EPOLLEXCLUSIVE): the "
                                           "first one waiting gets every connection")):
        model = workers_turns(way, 3, 6)
        result = accept_balance.accept_balance(way, 3, 6)
        order = lambda turns: "workers " + ", ".join(str(w + 1) for w in turns)        # noqa: E731
        out.append(Claim.from_result(claim, "02", "3 workers, 6 connections one at a time over 127.0.0.1",
                                     order(model["order"]), result, result.value and order(result.value.order),
                                     result.value and list(result.value.order) == model["order"]))
    return out


def _time_wait(quick: bool) -> list[Claim]:
    trace = Journey(over="loopback").run()
    sides = [e.text.split(":")[0] for e in trace.filter(["tcp_time_wait"])]
    model = f"client {sides.count('client')}, server {sides.count('server')} per connection"
    result = time_wait.time_wait(2 if quick else 4)
    r = result.value
    kernel = r and (f"client {number(r.client_time_wait / r.connections)}, server "
                    f"{number(r.server_time_wait / r.connections)} per connection")
    agrees = r and (r.client_time_wait, r.server_time_wait) == (sides.count("client") * r.connections,
                                                              sides.count("server") * r.connections)
    rows = [Claim.from_result("the side that closes first keeps TIME_WAIT; the other keeps none", "06",
                              f"{plural(r.connections if r else 4, 'connection')} over 127.0.0.1 closed by the "
                              f"client, the namespace's /proc/net/tcp", model, result, kernel, agrees)]
    parameters = "ip_local_port_range of one port, that port in TIME_WAIT; connect() again to the same peer"
    model_error, _ = _connect_after_time_wait(0, 0)
    rows.append(Claim.from_result("without tcp_tw_reuse a port held in TIME_WAIT is not taken again for the same "
                                  "peer", "07", parameters + ", tcp_tw_reuse 0", f"connect() → {model_error}",
                                  result, r and f"connect() → {r.without_reuse}", r and r.without_reuse == model_error))
    said = lambda error, port: f"connected from port {port}" if error == "none" else f"connect() → {error}"  # noqa
    model = said(*_connect_after_time_wait(1, REUSE_AFTER_NS))
    rows.append(Claim.from_result("with tcp_tw_reuse 1 a new connection to the same peer takes the port held in "
                                  "TIME_WAIT", "07", f"{parameters}, tcp_tw_reuse 1, once the TIME_WAIT's last "
                                  f"timestamp is old enough (the model: 1.1 s later; Linux 6.13+: "
                                  f"tcp_tw_reuse_delay 1 ms)", model, result,
                                  r and said(r.with_reuse, r.reused_port),
                                  r and said(r.with_reuse, r.reused_port) == model))
    return rows


REUSE_AFTER_NS = 1_100_000_000
"""When the model connects again with tcp_tw_reuse 1: after a second boundary, as the live child does before 6.13."""


def _connect_after_time_wait(tcp_tw_reuse: int, after_ns: int) -> tuple[str, int | None]:
    """The model's connect() to a peer whose one local port a TIME_WAIT sock of the same 4-tuple holds, ``after_ns``
    after ``tcp_time_wait`` (``__inet_hash_connect`` → ``__inet_check_established`` → ``tcp_twsk_unique``): the
    errno's name or "none", and the local port."""
    net = Net(profile=PROFILES["6.12"].replace(ip_local_port_range=(time_wait.ONE_PORT, time_wait.ONE_PORT),
                                               tcp_tw_reuse=tcp_tw_reuse))
    net.sched = Scheduler(nr_cpus=1)
    peer = dict(inet_rcv_saddr=time_wait.LOOPBACK, inet_daddr=time_wait.LOOPBACK, inet_dport=time_wait.REUSE_PORT)
    first = TcpSock(name="client", net=net, sk_state="TCP_FIN_WAIT2", **peer)
    if inet_hash_connect(net, first):
        raise RuntimeError("the model's first connect() found no port")
    tcp_time_wait(first, "TCP_TIME_WAIT", tcp_timewait_len(net))
    net.sched.run(until_ns=after_ns)
    again = TcpSock(name="again", net=net, **peer)
    error = inet_hash_connect(net, again)
    return (errno_name(error), None) if error else ("none", again.inet_num)


def _ports(quick: bool) -> list[Claim]:
    out = []
    ports = 6 if quick else 10
    result = limits.namespace_port_exhaustion(ports)
    r = result.value
    lo, hi = limits.NAMESPACE_PORTS_LOW, limits.NAMESPACE_PORTS_LOW + ports - 1
    one, two = client_connections((lo, hi)), client_connections((lo, hi), server_endpoints=2)
    parameters = f"the namespace's ip_local_port_range {lo}–{hi} ({plural(ports, 'port')}), 127.0.0.1"
    out.append(Claim.from_result("connect() fails with EADDRNOTAVAIL once every port of the range is in use", "07",
                                 parameters, f"{number(one)} connections, then EADDRNOTAVAIL", result,
                                 r and f"{number(r.first)} connections, then {r.error}",
                                 r and (r.first, r.error) == (one, "EADDRNOTAVAIL")))
    out.append(Claim.from_result("a second server port doubles the connections (the 4-tuple)", "07", parameters,
                                 f"{number(two)} connections to two server ports", result,
                                 r and f"{number(r.first + r.second_server_port)} connections to two server ports",
                                 r and r.first + r.second_server_port == two))
    sock = limits.port_exhaustion(8)
    s = sock.value
    out.append(Claim.from_result("a socket's own IP_LOCAL_PORT_RANGE of N ports allows N connections per server",
                                 "07", "IP_LOCAL_PORT_RANGE of 8 ports on one socket at a time, 127.0.0.1",
                                 f"{number(client_connections((1, 8)))} connections", sock,
                                 s and f"{number(s.first)} connections, then {s.error}",
                                 s and s.first == client_connections((1, 8))))
    return out


def _emfile(quick: bool) -> list[Claim]:
    result = limits.emfile(32)
    r = result.value
    model = "socket() fails with EMFILE at the soft limit; accept() too, the connection stays queued"
    return [Claim.from_result("at the open-file limit socket() and accept() fail with EMFILE", "07",
                              "a child with ulimit -n 32", model, result,
                              r and f"{number(r.open_before + r.sockets_opened)} fds, then socket() → "
                                    f"{r.socket_error}, accept() → {r.accept_error} with "
                                    f"{plural(r.queued_while_failing, 'connection')} queued",
                              r and (r.open_before + r.sockets_opened, r.socket_error, r.accept_error) ==
                              (32, "EMFILE", "EMFILE") and r.queued_while_failing == 1)]


def _servers(quick: bool) -> list[Claim]:
    connections = 50 if quick else 100
    model = compare_servers(Workload(connections=connections, duration_ns=12_000_000, warmup_ns=2_000_000))
    per = {name: run.switches_per_request for name, run in model.items()}
    result = sched_experiments.echo_servers(connections=connections, seconds=0.4 if quick else 1.0)
    said = lambda p: f"thread per connection {number(p['threads'])}, epoll {number(p['epoll'])}"  # noqa: E731
    measured = result.value and {name: run["switches_per_request"] for name, run in result.value.items()}
    rows = [Claim.from_result("one epoll loop serves the same clients with fewer context switches per request than "
                              "a thread per connection", "02", f"{connections} closed-loop clients over 127.0.0.1, "
                              "switches per request (getrusage)", said(per), result, measured and said(measured),
                              measured and (measured["epoll"] < measured["threads"]) ==
                              (per["epoll"] < per["threads"]))]
    threads = 50 if quick else 100
    model_thread = thread_memory(PROFILES["6.12"])
    tm = sched_experiments.thread_memory(threads=threads)
    resident = tm.value and tm.value["vmrss_kb_per_thread"] * 1024
    rows.append(Claim.from_result("a thread blocked in recv() keeps only a few pages of its stack resident", "02",
                                  f"{threads} threads in a child, VmRSS per thread; agrees within a factor of 2",
                                  size(model_thread.resident), tm, resident and size(resident),
                                  resident and model_thread.resident / 2 <= resident <= model_thread.resident * 2))
    return rows


def _loopback(quick: bool) -> list[Claim]:
    model_route, _ = loopback_model.route(PROFILES["6.12"], loopback_model.HOST_ADDR)
    model_dev = model_route if isinstance(model_route, str) else model_route.dev.name
    result = loopback.namespace_latency(300 if quick else 1000)
    r = result.value
    route = r and r["route"]
    rows = [Claim.from_result("a packet to the host's own address goes through lo, not the device that has it", "04",
                              "ip route get for an address on a veth, in a namespace of its own", f"dev {model_dev}",
                              result, route and f"{route.type} dev {route.dev}",
                              route and route.dev == model_dev and route.type == "local")]
    trips = r and r["trips"]
    rows.append(Claim.from_result("127.0.0.1, 127.0.0.2 and the host's own address take the same path, so the same "
                                  "time", "04", "1-byte TCP ping-pongs on each in turn; the medians' 95 % "
                                  "intervals", "the same path (lo) for all three", result,
                                  trips and ", ".join(f"{t.address} {number(t.median_us)} µs" for t in trips),
                                  trips and not any(a.differs_from(b) for a in trips for b in trips)))
    return rows


def _listen_limit(quick: bool) -> list[Claim]:
    mine = this_machine()
    model = predict_accept_queue(mine, 8192, 1)
    result = listen_limit(8192)
    return [Claim.from_result("listen()'s backlog is capped at net.core.somaxconn", "05",
                              f"listen(8192), somaxconn {number(mine.somaxconn)}; the listener's Send-Q (sock_diag)",
                              f"limit {number(model.backlog)}", result, result.value and
                              f"limit {number(result.value)}", result.value == model.backlog)]


@dataclass(frozen=True)
class Experiment:
    """One experiment of this module: its ``name``, the ``chapters`` its rows belong to, and ``run(quick)``."""

    name: str
    chapters: tuple[str, ...]
    run: Callable[[bool], list[Claim]]


EXPERIMENTS = (
    Experiment("tcpdump vs iptables", ("01",), _tap),
    Experiment("accept balancing", ("02",), _accept_balance),
    Experiment("threads vs epoll", ("02",), _servers),
    Experiment("loopback", ("04",), _loopback),
    Experiment("listen limit", ("05",), _listen_limit),
    Experiment("TIME_WAIT", ("06", "07"), _time_wait),
    Experiment("ports", ("07",), _ports),
    Experiment("EMFILE", ("07",), _emfile),
)


def _chapters(chapters: Iterable[str] | None) -> set[str] | None:
    """A list of names (chapters such as ['07'], or experiments) as a set; None stays None (all)."""
    if chapters is None:
        return None
    if isinstance(chapters, str):
        raise TypeError("pass a list such as ['07'], not one str")
    return set(chapters)


@check.arguments
def claims(chapters: Iterable[str] | None = None, quick: bool = False,
           experiments: Iterable[str] | None = None) -> Iterator[Claim]:
    """The rows of this module's experiments for ``chapters`` (all when None), each experiment run as it is
    reached; ``experiments`` (names from :data:`EXPERIMENTS`) narrows them further, e.g. for a notebook that
    measured the others in cells of its own."""
    wanted = _chapters(chapters)
    names = _chapters(experiments)
    if names is not None and names - {e.name for e in EXPERIMENTS}:
        raise ValueError(f"experiments must be names from {[e.name for e in EXPERIMENTS]}, got {sorted(names)}")
    for experiment in EXPERIMENTS:
        if names is not None and experiment.name not in names:
            continue
        if wanted is None or wanted & set(experiment.chapters):
            yield from (row for row in experiment.run(quick) if wanted is None or row.chapter in wanted)


SOURCES: tuple[Callable[..., Iterable[Claim]], ...] = (claims, handshake_claims.claims)
"""Every ``claims(chapters, quick)`` that ``python -m netlab.check`` collects: this module's and chapter 05's
namespace lab (:mod:`netlab.scenarios.handshake_claims`)."""


@check.arguments
def collect(chapters: Iterable[str] | None = None, quick: bool = False,
            progress: Callable[[Claim, float], None] | None = None) -> list[Claim]:
    """Every source's rows for ``chapters``, in the order of the chapters (a source's own order within one);
    ``progress(row, seconds since the start)`` as each row arrives, in the order the sources measure them."""
    wanted = _chapters(chapters)
    start, rows = time.monotonic(), []
    for source in SOURCES:
        for row in source(chapters=None if wanted is None else sorted(wanted), quick=quick):
            if not isinstance(row, Claim):
                raise TypeError(f"{source.__module__}.{source.__name__} gave {type(row).__name__}, not a Claim")
            rows.append(row)
            if progress is not None:
                progress(row, time.monotonic() - start)
    return sorted(rows, key=lambda row: row.chapter)
