"""Local networking on your machine: the local routing table, ``ip route get``, and round-trip times.

* :func:`local_routes` reads ``/proc/net/fib_trie``: every address of this host is a LOCAL route.
* :func:`route_get` is ``ip route get ADDR`` (RTM_GETROUTE over rtnetlink, read-only, no privilege needed).
* :func:`round_trips` times 1-byte TCP ping-pongs over several addresses in turn: each one's median and its 95 %
  confidence interval.
* :func:`loopback_latency` compares 127.0.0.1 with 127.0.0.2 in your own namespace (loopback only).
* :func:`namespace_latency` starts a child process that creates its **own** user and network namespace
  (``unshare(CLONE_NEWUSER | CLONE_NEWNET)``, no root needed where the kernel allows it), brings its ``lo`` up,
  adds a veth pair (over rtnetlink, with pyroute2) with the documentation address 198.51.100.7/24 — the stand-in
  for "the host's own Ethernet address" — asks ``ip route get`` there, and compares 127.0.0.1, 127.0.0.2 and
  198.51.100.7. The namespace, its devices and sockets die with the child. The learner's real interfaces and
  addresses are never touched.

Timing on a shared machine is noisy: the rounds alternate between the addresses so that other load hits all of
them alike, and two medians differ really only when their 95 % intervals do not overlap
(:meth:`RoundTrip.differs_from`).
"""
from __future__ import annotations

import errno
import ipaddress
import math
import os
import socket
import statistics
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any, Callable

from netlab import check
from netlab.live import procfs
from netlab.live.result import LiveResult, Unavailable, Why, child_reply, run_child, unshare_errno

NS_ADDRESS = "198.51.100.7/24"      # RFC 5737 TEST-NET-2
CLONE_NEWUSER, CLONE_NEWNET = 0x10000000, 0x40000000
MAX_ROUNDS = 20_000
RTN_TYPES = {1: "unicast", 2: "local", 3: "broadcast", 4: "anycast", 5: "multicast", 6: "blackhole",
             7: "unreachable", 8: "prohibit"}                     # include/uapi/linux/rtnetlink.h
IFF_UP = 0x1


@dataclass(frozen=True)
class Route:
    """The kernel's answer to ``ip route get``: route type, output device, source address, table."""

    daddr: str
    type: str
    dev: str
    src: str | None
    table: int | None

    def __str__(self) -> str:
        src = f" src {self.src}" if self.src else ""
        kind = "" if self.type == "unicast" else f"{self.type} "
        return f"{kind}{self.daddr} dev {self.dev}{src} table {self.table}"


@check.arguments
def route_from_reply(reply: Any, daddr: str, ifname: Callable[[int], str] = socket.if_indextoname) -> Route:
    """The :class:`Route` in an RTM_NEWROUTE reply as pyroute2 parses it (``IPRoute().route("get", …)[0]``)."""
    oif = reply.get_attr("RTA_OIF")
    table = reply.get_attr("RTA_TABLE")
    return Route(daddr, RTN_TYPES.get(reply["type"], str(reply["type"])), ifname(oif) if oif else "?",
                 reply.get_attr("RTA_PREFSRC"), reply["table"] if table is None else table)


@check.arguments
def route_get(daddr: str) -> LiveResult:
    """``ip route get DADDR`` in this process's network namespace."""
    what, how = f"the route to {daddr}", "RTM_GETROUTE over rtnetlink (pyroute2)"
    try:
        ipaddress.IPv4Address(daddr)
    except ValueError:
        raise ValueError(f"daddr must be an IPv4 address, got {daddr!r}") from None
    if not sys.platform.startswith("linux"):
        return LiveResult.unavailable(what, how, Why.NOT_LINUX, f"rtnetlink is Linux's (this is {sys.platform})")
    from pyroute2 import IPRoute

    def ask() -> Route:
        with IPRoute() as ipr:
            return route_from_reply(ipr.route("get", dst=daddr)[0], daddr)

    # pyroute2's synchronous IPRoute drives an asyncio loop of its own, which cannot run in a thread that already
    # runs one (a Jupyter kernel's): ask from a thread of its own
    with ThreadPoolExecutor(max_workers=1) as pool:
        return LiveResult(what, how, pool.submit(ask).result())


@dataclass(frozen=True)
class RoundTrip:
    """Round-trip times of a 1-byte TCP ping-pong over ``address``, in µs: the median and its 95 % confidence
    interval (``low_us``..``high_us``, distribution-free: the order statistics n/2 ± 0.98·√n)."""

    address: str
    rounds: int
    median_us: float
    low_us: float
    high_us: float

    def differs_from(self, other: RoundTrip) -> bool:
        """True when the two medians' 95 % intervals do not overlap: a difference this run really measured."""
        check.instance("other", other, RoundTrip)
        return self.high_us < other.low_us or other.high_us < self.low_us


@check.arguments
def median_interval(address: str, samples: list[float]) -> RoundTrip:
    """The median of ``samples`` (µs) and its 95 % confidence interval, for ``address``."""
    if not samples:
        raise ValueError("samples must hold at least one round trip")
    ordered, n = sorted(samples), len(samples)
    half = 0.98 * math.sqrt(n)                       # 1.96 standard deviations of a Binomial(n, 1/2) rank, halved
    low, high = max(0, math.floor(n / 2 - half)), min(n - 1, math.ceil(n / 2 + half))
    return RoundTrip(address, n, statistics.median(ordered), ordered[low], ordered[high])


@check.arguments
def local_routes(path: str = "/proc/net/fib_trie") -> LiveResult:
    """The LOCAL routes of your routing table: (prefix, scope) — 127.0.0.0/8 and every address of the host."""
    reading = procfs.fib_trie(path)
    if not reading.available:
        return reading
    tables = reading.value
    table = tables.get("Local") or next(iter(tables.values()))
    routes = [(r.prefix, r.scope) for r in table if r.type == "LOCAL"]
    return LiveResult("the local routes (table local)", f"reading {path}", routes)


@check.arguments
def round_trips(addresses: list[str], rounds: int = 2000) -> list[RoundTrip]:
    """``rounds`` 1-byte send/receive pairs over TCP on each of ``addresses`` (local addresses), taken in turn
    (round 1 on each address, then round 2 on each …, each round starting at the next address) so that whatever
    else the machine does hits every address alike.

    Both ends run on one CPU (this thread's affinity is narrowed for the measurement and restored): a wake-up on
    another CPU costs an IPI and an idle exit, which would measure where the scheduler put the threads rather than
    the path the packet takes.
    """
    if not isinstance(rounds, int) or not 10 <= rounds <= MAX_ROUNDS:
        raise ValueError(f"rounds must be an int in 10..{MAX_ROUNDS}")
    if not addresses:
        raise ValueError("addresses must name at least one local address")
    with ExitStack() as stack:
        if hasattr(os, "sched_setaffinity"):
            allowed = os.sched_getaffinity(0)
            os.sched_setaffinity(0, {min(allowed)})  # the echo threads below inherit it
            stack.callback(os.sched_setaffinity, 0, allowed)
        clients = [_echo_connection(stack, address) for address in addresses]
        samples = [[] for _ in addresses]
        for i in range(rounds + 50):
            for k in range(len(clients)):
                turn = (i + k) % len(clients)             # each round starts at the next address: no one goes first
                t0 = time.perf_counter_ns()
                clients[turn].sendall(b"x")
                clients[turn].recv(1)
                if i >= 50:                               # the first rounds warm caches up
                    samples[turn].append((time.perf_counter_ns() - t0) / 1000)
    return [median_interval(a, times) for a, times in zip(addresses, samples)]


def _echo_connection(stack: ExitStack, address: str) -> socket.socket:
    """A client connected to an echo thread listening on ``address``; both close when ``stack`` does."""
    server = stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
    server.bind((address, 0))
    server.listen(1)
    server.settimeout(5)

    def echo():
        conn, _ = server.accept()
        with conn:
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            while data := conn.recv(1):
                conn.sendall(data)

    thread = threading.Thread(target=echo, daemon=True)
    thread.start()
    stack.callback(thread.join, 5)
    client = stack.enter_context(socket.create_connection(server.getsockname(), timeout=5))
    client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return client


@check.arguments
def loopback_latency(rounds: int = 2000) -> LiveResult:
    """127.0.0.1 vs 127.0.0.2 in your own namespace."""
    what, how = "TCP round trips over 127.0.0.1 and 127.0.0.2", "a 1-byte ping-pong on each address, in turn"
    return LiveResult(what, how, round_trips(["127.0.0.1", "127.0.0.2"], rounds))


@check.arguments
def namespace_latency(rounds: int = 2000, timeout_s: check.Timeout = 30.0) -> LiveResult:
    """Run the experiment in a child that owns a fresh user+network namespace (see the module docstring).

    The value: {"route": ``ip route get 198.51.100.7`` there, "trips": [RoundTrip …], "up": {device: IFF_UP set}}.
    """
    what = "127.0.0.1 vs 127.0.0.2 vs an address on a veth, in a namespace of our own"
    how = "a child process: unshare(CLONE_NEWUSER|CLONE_NEWNET), a veth with 198.51.100.7/24, TCP ping-pongs"
    if not isinstance(rounds, int) or not 10 <= rounds <= MAX_ROUNDS:
        raise ValueError(f"rounds must be an int in 10..{MAX_ROUNDS}")
    if not sys.platform.startswith("linux"):
        return LiveResult.unavailable(what, how, Why.NOT_LINUX, f"network namespaces are Linux's (this is "
                                                                f"{sys.platform})")
    return run_child(what, how, "netlab.live.loopback", [str(rounds)], timeout_s,
                     lambda answer: {"route": Route(**answer["route"]),
                                     "trips": [RoundTrip(**t) for t in answer["trips"]], "up": answer["up"]},
                     unshare=CLONE_NEWUSER | CLONE_NEWNET)




@check.arguments
def userns_policy(proc: str = "/proc") -> str | None:
    """The sysctl that refuses unprivileged user namespaces here, as a sentence; None when none does."""
    limit = procfs.sysctl("user.max_user_namespaces", root=f"{proc}/sys")
    if limit.available and limit.value == 0:
        return "user.max_user_namespaces is 0"
    for name, refusing in (("kernel.unprivileged_userns_clone", 0),
                           ("kernel.apparmor_restrict_unprivileged_userns", 1)):
        knob = procfs.sysctl(name, root=f"{proc}/sys")
        if knob.available and knob.value == refusing:
            return f"{name} is {refusing}"
    return None


def _seccomp_filtered() -> bool:
    status = procfs.read_text("/proc/self/status")
    return any(line.split() == ["Seccomp:", "2"] for line in status.splitlines())




@check.arguments
def namespaces_refused(error: int) -> Unavailable:
    """The recognised reasons ``unshare(CLONE_NEWUSER | CLONE_NEWNET)`` fails with ``error`` (kernel/fork.c,
    kernel/user_namespace.c ``create_user_ns``); any other errno raises OSError."""
    said = f"unshare(CLONE_NEWUSER|CLONE_NEWNET) answered {errno.errorcode.get(error, error)}"
    if error in (errno.ENOSPC, errno.EUSERS):        # EUSERS: the same limits before Linux 4.9
        cause = userns_policy() or "the limit of user namespaces (user.max_user_namespaces) is reached"
        return Unavailable(Why.NAMESPACES_REFUSED, f"{said}: {cause}")
    if error == errno.EPERM:
        cause = userns_policy() or ("a seccomp filter on this process (a container's) refuses it"
                                    if _seccomp_filtered() else "a security module or a chroot refuses it")
        return Unavailable(Why.NAMESPACES_REFUSED, f"{said}: {cause}")
    if error == errno.EINVAL and not os.path.exists("/proc/self/ns/user"):
        return Unavailable(Why.KERNEL_LACKS, f"{said}: this kernel has no user namespaces (CONFIG_USER_NS)")
    raise OSError(error, f"{said} ({os.strerror(error)})")


def _in_own_namespace(rounds: int) -> dict:
    """The child's work, in the namespaces it unshared: lo and a veth up, the route, the three addresses timed."""
    if unshare_errno():
        raise namespaces_refused(unshare_errno())
    from pyroute2 import IPRoute
    from pyroute2.netlink.exceptions import NetlinkError
    address = NS_ADDRESS.split("/")[0]
    with IPRoute() as ipr:
        try:
            ipr.link("add", ifname="veth0", kind="veth", peer="veth1")
        except NetlinkError as e:
            if e.code != errno.EOPNOTSUPP:                 # net/core/rtnetlink.c: no "veth" link kind, even by module
                raise
            raise Unavailable(Why.KERNEL_LACKS, "this kernel has no veth devices (CONFIG_VETH): creating one "
                                                "answered EOPNOTSUPP") from None
        index = {dev: ipr.link_lookup(ifname=dev)[0] for dev in ("lo", "veth0", "veth1")}
        ipr.link("set", index=index["lo"], state="up")
        ipr.addr("add", index=index["veth0"], address=address, prefixlen=int(NS_ADDRESS.split("/")[1]))
        ipr.link("set", index=index["veth1"], state="up")
        ipr.link("set", index=index["veth0"], state="up")
        route = route_from_reply(ipr.route("get", dst=address)[0], address)
        up = {dev: bool(ipr.get_links(i)[0]["flags"] & IFF_UP) for dev, i in index.items()}
    trips = round_trips(["127.0.0.1", "127.0.0.2", address], rounds)
    return {"route": route.__dict__, "trips": [t.__dict__ for t in trips], "up": up}


if __name__ == "__main__":      # the child of namespace_latency(); its namespace ends when it exits
    child_reply(lambda: _in_own_namespace(int(sys.argv[1])))
