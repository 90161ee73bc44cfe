"""TCP's own slab objects on the packet-level kernel: request socks (request_sock_TCP), bind buckets
(tcp_bind_bucket, 6.1+ tcp_bind2_bucket), TIME_WAIT socks (tw_sock_TCP) and the server's child (TCP) are allocated
and freed in the kernel functions that do it in Linux, on hosts that model memory, and each end holds in each state
what chapter 06 says it holds."""
from collections import Counter

import pytest

from netlab.kernel import sock as socket_c
from netlab.kernel import tcp_handshake
from netlab.kernel.inet_connection_sock import TcpSock, inet_bind, inet_csk_accept
from netlab.kernel.inet_timewait_sock import InetTimewaitDeathRow, InetTimewaitSock
from netlab.kernel.profiles import PROFILES
from netlab.kernel.route import Rtable
from netlab.kernel.sched import nonblocking
from netlab.kernel.tcp_output import tcp_segment
from netlab.scenarios.journey import SERVER_PORT, Journey
from netlab.scenarios.link import CLIENT_ADDR, SERVER_ADDR
from netlab.trace import Tracer

MINE = ("request_sock_TCP", "tcp_bind_bucket", "tcp_bind2_bucket", "tw_sock_TCP", "TCP")
"""The caches whose objects these models allocate and free."""
MS, SEC = 1_000_000, 1_000_000_000
inet_stream_connect = getattr(tcp_handshake, "__inet_stream_connect")
sys_listen = getattr(tcp_handshake, "__sys_listen")
sock_release = getattr(socket_c, "__sock_release")
KILL = {"inet_twsk_kill", "__inet_twsk_kill"}        # 6.12's name, 3.10's


def request_owner(allocs):
    """The name a request sock was given (the client's address and port, as the server sees them)."""
    return next(owner for cache, owner, *_ in allocs if cache == "request_sock_TCP").split(": ")[0]


def slab_events(trace, function):
    """(cache, owner, the functions on the stack from the caller outwards, time) of each kmem_cache_alloc or
    kmem_cache_free in ``trace``."""
    events = list(trace)
    out = []
    for i, e in enumerate(events):
        if e.kind != "call" or e.function != function:
            continue
        if function == "kmem_cache_alloc":          # "a {cache} object for {owner}[ (SLUB merged …)]"
            cache, owner = e.text.split()[1], e.text.split(" object for ", 1)[1].split(" (SLUB merged")[0]
        else:                                       # "free {owner} ({cache})"
            owner, cache = e.text[len("free "):].rsplit(" (", 1)
            cache = cache[:-1]
        stack, depth = [], e.depth
        for prev in reversed(events[:i]):
            if depth == 0:
                break
            if prev.kind == "call" and prev.depth == depth - 1 and (prev.host, prev.cpu) == (e.host, e.cpu):
                stack.append(prev.function)
                depth -= 1
        out.append((cache, owner, stack, e.time_ns))
    return [x for x in out if x[0] in MINE]


def live(slab):
    """The objects of MINE a host's slab holds now, as (cache, owner)."""
    return Counter((o.cache, o.owner) for c in slab.caches.values() for slots in c.slabs.values() for o in slots
                   if o is not None and o.cache in MINE)


def has_bhash2(profile):
    return "tcp_bind2_bucket" in PROFILES[profile].slab


@pytest.mark.parametrize("over", ["link", "loopback"])
@pytest.mark.parametrize("profile", ["6.12", "3.10"])
def test_the_journey_allocates_and_frees_tcps_objects_where_the_kernel_does(profile, over):
    j = Journey(profile=profile, over=over, memory=True)
    trace = j.run()
    allocs, frees = slab_events(trace, "kmem_cache_alloc"), slab_events(trace, "kmem_cache_free")
    where = {(cache, owner.split(": ")[0]): stack for cache, owner, stack, _ in allocs}
    # the listener's port (bind() → inet_csk_get_port), the client's (connect() → __inet_hash_connect)
    assert where["tcp_bind_bucket", "listener"][:2] == ["inet_bind_bucket_create", "inet_csk_get_port"]
    assert where["tcp_bind_bucket", "client"][:2] == ["inet_bind_bucket_create", "__inet_hash_connect"]
    if has_bhash2(profile):
        assert where["tcp_bind2_bucket", "client"][:2] == ["inet_bind2_bucket_create", "__inet_hash_connect"]
        assert where["tcp_bind2_bucket", "listener"][:2] == ["inet_bind2_bucket_create", "inet_csk_get_port"]
    else:
        assert not any(cache == "tcp_bind2_bucket" for cache, *_ in allocs)
    # the SYN: a request sock; the ACK: the child, cloned from the listener; the client's close: a TIME_WAIT sock
    request = next(stack for (cache, _), stack in where.items() if cache == "request_sock_TCP")
    assert request[:2] == ["reqsk_alloc", "inet_reqsk_alloc"]
    assert "tcp_v4_conn_request" in request
    assert where["TCP", "server's connection for " + request_owner(allocs)][:3] == \
        ["sk_prot_alloc", "sk_clone_lock", "tcp_create_openreq_child"]                # the child
    assert where["TCP", "listener"][:3] == where["TCP", "client"][:3] == ["sk_prot_alloc", "sk_alloc", "inet_create"]
    assert where["tw_sock_TCP", "client"][:2] == ["inet_twsk_alloc", "tcp_time_wait"]
    assert len(allocs) == 7 + 2 * has_bhash2(profile)

    freed = {cache: stack for cache, owner, stack, _ in frees if not owner.startswith("listener")}
    assert freed["request_sock_TCP"][0] == "__reqsk_free" and "inet_csk_accept" in freed["request_sock_TCP"]
    if profile == "6.12":
        assert freed["request_sock_TCP"][1] == "reqsk_put"          # accept()'s reference is the last one
    socks = [stack for cache, _, stack, _ in frees if cache == "TCP"]       # the child's and the client's
    assert len(socks) == 2 and all(stack[:3] == ["sk_prot_free", "sk_free", "inet_csk_destroy_sock"] for stack in socks)
    assert freed["tw_sock_TCP"][:2] == ["inet_twsk_free", "inet_twsk_put"]
    assert freed["tcp_bind_bucket"][0] == "inet_bind_bucket_destroy"     # the TIME_WAIT sock held the port
    assert KILL & set(freed["tcp_bind_bucket"]) and "inet_twsk_bind_unhash" in freed["tcp_bind_bucket"]
    if has_bhash2(profile):
        assert freed["tcp_bind2_bucket"][:2] == ["inet_bind2_bucket_destroy", "inet_twsk_bind_unhash"]
    assert len(frees) == len(allocs) - 2 - has_bhash2(profile)        # all but the listener's sock and port


@pytest.mark.parametrize("over", ["link", "loopback"])
@pytest.mark.parametrize("profile", ["6.12", "3.10"])
def test_after_the_journey_only_the_listeners_sock_and_port_are_left(profile, over):
    """Everything the closed connection held is freed: the request, the child, the client's tcp_sock, its TIME_WAIT
    sock and bind buckets. What remains is the listener's own: its tcp_sock and its port."""
    j = Journey(profile=profile, over=over, memory=True)
    j.run()
    left = sum((live(host.slab) for host in {j.client, j.server}), Counter())
    expected = Counter({("tcp_bind_bucket", "listener: struct inet_bind_bucket"): 1,
                        ("TCP", "listener: struct tcp_sock"): 1})
    if has_bhash2(profile):
        expected[("tcp_bind2_bucket", "listener: struct inet_bind2_bucket")] = 1
    assert left == expected


class Watched(Journey):
    """A journey that notes, at the first step each state holds, the caches of the objects one end holds."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.seen = {}

    def snapshot(self):
        listener, sk = self.listener, self.sk
        if listener is None or sk is None:                  # the programs have not made their sockets yet
            return super().snapshot()
        q = listener.icsk_accept_queue
        if "SYN_RECV" not in self.seen and q.qlen:
            req = next(r for r in self.server.net.tcp_ehash.values() if hasattr(r, "rsk_refcnt")) \
                if q.listen_opt is None else q.listen_opt.syn_table[0]
            self.seen["SYN_RECV"] = held(req)
        if "ACCEPT_QUEUE" not in self.seen and q.rskq_accept:
            req = q.rskq_accept[0]
            self.seen["ACCEPT_QUEUE"] = held(req) + held(req.sk)
        if "ESTABLISHED" not in self.seen and sk.sk_state == "TCP_ESTABLISHED":
            self.seen["ESTABLISHED"] = held(sk, sk.icsk_bind_hash, sk.icsk_bind2_hash)
        for tw in self.client.net.tcp_ehash.values():
            state = tw.tw_substate[len("TCP_"):] if isinstance(tw, InetTimewaitSock) else None
            if state and state not in self.seen and not sk.slab_objects:     # once the tw sock took its place
                self.seen[state] = held(tw, tw.tw_tb, tw.tw_tb2, sk)
        return super().snapshot()


def held(*objects):
    return Counter(o.cache for obj in objects if obj is not None for o in obj.slab_objects)


def modelled(profile, side, state):
    """The caches of MINE one end holds in ``state`` (chapter 06's table): a request; the request and the child;
    the client's tcp_sock and port; once closed, a TIME_WAIT sock and the port (6.1+: two bind buckets)."""
    port = Counter({"tcp_bind_bucket": 1, **({"tcp_bind2_bucket": 1} if has_bhash2(profile) else {})})
    return {("server", "SYN_RECV"): Counter({"request_sock_TCP": 1}),
            ("server", "ACCEPT_QUEUE"): Counter({"request_sock_TCP": 1, "TCP": 1}),
            ("client", "ESTABLISHED"): Counter({"TCP": 1}) + port,
            ("client", "FIN_WAIT2"): Counter({"tw_sock_TCP": 1}) + port,
            ("client", "TIME_WAIT"): Counter({"tw_sock_TCP": 1}) + port}[side, state]


@pytest.mark.parametrize("over", ["link", "loopback"])
@pytest.mark.parametrize("profile", ["6.12", "3.10"])
def test_each_end_holds_what_chapter_06_says_state_by_state(profile, over):
    """Server: SYN_RECV (a request sock), ACCEPT_QUEUE (the request and the child); client: ESTABLISHED (its
    tcp_sock and bind buckets), FIN_WAIT2 and TIME_WAIT (a TIME_WAIT sock and the bind buckets, no tcp_sock). A
    server closing after the delayed ACK makes the client pass FIN_WAIT2 as a tw sock."""
    j = Watched(profile=profile, over=over, memory=True, server_close_ns=100 * MS)
    j.run()
    for side, state in (("server", "SYN_RECV"), ("server", "ACCEPT_QUEUE"), ("client", "ESTABLISHED"),
                        ("client", "FIN_WAIT2"), ("client", "TIME_WAIT")):
        assert j.seen[state] == modelled(profile, side, state), (side, state)


# --- the other ways a request, a child, a port or a TIME_WAIT sock end -----------------------------------------

def world(profile, backlog=128, addr=SERVER_ADDR):
    """A journey's two memory hosts, linked, and a listener (a sock without a socket: its own objects are not
    counted) bound to ``addr`` and listening: clients connect by hand."""
    j = Journey(profile=profile, memory=True)
    j.listener = TcpSock(name="listener", net=j.server.net)
    j.server.run_process(0, lambda: (inet_bind(j.server.net, j.listener, addr, SERVER_PORT),
                                     sys_listen(j.listener, backlog)))
    return j


def connect(j, name):
    sk = TcpSock(name=name, net=j.client.net, inet_rcv_saddr=CLIENT_ADDR, dst=Rtable(j.client.dev))
    j.client.run_process(0, lambda: inet_stream_connect(sk, SERVER_ADDR, SERVER_PORT), at_ns=j.sched.clock)
    return sk


def run(j, ns):
    with Tracer(clock=j._clock, renamed=j.sched.profile.renamed) as tracer:
        j.sched.run(until_ns=j.sched.clock + ns)
    return tracer.trace


def requests(j):
    return sum(n for (cache, _), n in live(j.server.slab).items() if cache == "request_sock_TCP")


def overflow(profile):
    """backlog 1 (two children fit): c0 and c1 connect, c0 is accepted, then c2 and c3 connect at once — c2's child
    fills the accept queue again before c3's ACK comes. (SYNs that find the queue full are dropped or, on 6.12, get
    a cookie: the queues must fill between a SYN and its ACK.)"""
    j = world(profile, backlog=1)
    connect(j, "c0"), connect(j, "c1")
    run(j, 10 * MS)
    run_accept(j)
    connect(j, "c2"), connect(j, "c3")
    trace = run(j, 10 * MS)
    assert j.server.net.mib["ListenOverflows"] and not j.server.net.mib["SyncookiesSent"]
    return j, trace


def run_accept(j):
    return j.server.run_process(0, lambda: nonblocking(inet_csk_accept(j.listener)), at_ns=j.sched.clock)


def server_caches(j):
    return Counter(cache for cache, _ in live(j.server.slab).elements())


@pytest.mark.parametrize("profile", ["6.12", "3.10"])
def test_a_full_accept_queue_keeps_the_request_until_its_syn_acks_run_out(profile):
    """tcp_abort_on_overflow = 0: c3's ACK is ignored; its request stays, without a child, until the SYN-ACK timer
    gives up; accept() frees the queued children's requests."""
    j, _ = overflow(profile)
    assert server_caches(j)["request_sock_TCP"] == 3 and server_caches(j)["TCP"] == 3    # c0's child is accepted
    trace = run(j, 200 * SEC)
    frees = [stack for cache, _, stack, _ in slab_events(trace, "kmem_cache_free") if cache == "request_sock_TCP"]
    assert len(frees) == 1 and requests(j) == 2
    giving_up = "inet_csk_reqsk_queue_drop_and_put" if profile == "6.12" else "inet_csk_reqsk_queue_drop"
    assert giving_up in frees[0]
    run_accept(j), run_accept(j)
    assert requests(j) == 0 and server_caches(j)["TCP"] == 3


@pytest.mark.parametrize("profile", ["6.12", "3.10"])
def test_tcp_abort_on_overflow_frees_the_request_when_the_ack_comes(profile):
    """c3's ACK is answered with a RST and its request goes at once (3.10: inet_csk_reqsk_queue_drop frees it;
    6.12: that drops the SYN queue's references, tcp_v4_rcv then the lookup's, the last)."""
    j, trace = overflow(PROFILES[profile].replace(tcp_abort_on_overflow=1))
    frees = [stack for cache, _, stack, _ in slab_events(trace, "kmem_cache_free") if cache == "request_sock_TCP"]
    assert len(frees) == 1 and "tcp_v4_rcv" in frees[0] and requests(j) == 2
    assert ("reqsk_put" in frees[0]) == (profile == "6.12")
    assert server_caches(j)["TCP"] == 3


@pytest.mark.parametrize("profile", ["6.12", "3.10"])
def test_unanswered_syn_acks_free_the_request_and_a_timed_out_connect_frees_its_port(profile):
    j = world(profile)
    j.client.net.nf.append("INPUT", "DROP", protocol="tcp", sport=SERVER_PORT)   # SYN-ACKs never arrive
    sk = connect(j, "c0")
    run(j, 10 * MS)
    j.client.net.nf.append("OUTPUT", "DROP", protocol="tcp", dport=SERVER_PORT)  # nor do SYN retransmissions
    assert requests(j) == 1 and live(j.client.slab)
    trace = run(j, 300 * SEC)
    frees = slab_events(trace, "kmem_cache_free")
    assert requests(j) == 0 and not live(j.client.slab) and sk.connect_errno == "ETIMEDOUT"
    ports = [stack for cache, _, stack, _ in frees if cache.startswith("tcp_bind")]
    assert ports and all({"inet_put_port", "tcp_write_err"} <= set(stack) for stack in ports)


@pytest.mark.parametrize("profile", ["6.12", "3.10"])
def test_a_syn_cookie_keeps_no_request_until_its_ack_rebuilds_one(profile):
    """tcp_syncookies = 2: the SYN's request is freed as soon as the cookie SYN-ACK is out; the ACK allocates a
    request again (cookie_v4_check), which waits with the child in the accept queue until accept()."""
    j = world(PROFILES[profile].replace(tcp_syncookies=2))
    connect(j, "c0")
    trace = run(j, 10 * MS)
    allocs = [stack for cache, _, stack, _ in slab_events(trace, "kmem_cache_alloc") if cache == "request_sock_TCP"]
    frees = [stack for cache, _, stack, _ in slab_events(trace, "kmem_cache_free") if cache == "request_sock_TCP"]
    conn_request = "tcp_conn_request" if profile == "6.12" else "tcp_v4_conn_request"
    assert conn_request in allocs[0] and "cookie_v4_check" in allocs[1] and len(allocs) == 2
    assert len(frees) == 1 and conn_request in frees[0]
    assert requests(j) == 1 and j.listener.icsk_accept_queue.rskq_accept
    run_accept(j)
    assert requests(j) == 0


@pytest.mark.parametrize("profile", ["6.12", "3.10"])
def test_with_tcp_max_tw_buckets_in_use_the_port_goes_at_once(profile):
    """No TIME_WAIT sock ("time wait bucket table overflow"): the client's bind buckets are freed with its socket."""
    j = Journey(profile=profile, memory=True)
    j.client.net.tcp_death_row = InetTimewaitDeathRow(j.client.net, sysctl_max_tw_buckets=0)
    trace = j.run()
    frees = slab_events(trace, "kmem_cache_free")
    assert not any(cache == "tw_sock_TCP" for cache, *_ in slab_events(trace, "kmem_cache_alloc"))
    ports = [stack for cache, owner, stack, _ in frees if cache.startswith("tcp_bind") and owner.startswith("client")]
    assert len(ports) == 1 + has_bhash2(profile)
    assert all({"inet_put_port", "tcp_done", "tcp_time_wait"} <= set(stack) for stack in ports)
    assert j.client.net.mib["TCPTimeWaitOverflow"] == 1 and not live(j.client.slab)


def test_a_child_of_a_listener_on_inaddr_any_gets_its_own_bhash2_bucket():
    """6.1+ ``__inet_inherit_port``: the listener's (0.0.0.0, port) bucket does not match the child's address, so
    the child's (address, port) gets a tcp_bind2_bucket of its own, freed when the child gives the port back."""
    j = world("6.12", addr="0.0.0.0")
    connect(j, "c0")
    trace = run(j, 10 * MS)
    allocs = [stack for cache, _, stack, _ in slab_events(trace, "kmem_cache_alloc") if cache == "tcp_bind2_bucket"]
    server = [stack for stack in allocs if "__inet_inherit_port" in stack]
    assert len(server) == 1 and "tcp_v4_syn_recv_sock" in server[0]
    child = run_accept(j)
    assert child.icsk_bind2_hash is not j.listener.icsk_bind2_hash
    assert child.icsk_bind2_hash.rcv_saddr == SERVER_ADDR and child.icsk_bind_hash is j.listener.icsk_bind_hash


@pytest.mark.parametrize("profile", ["6.12", "3.10"])
def test_a_rst_in_time_wait_frees_the_tw_sock_and_the_port_at_once(profile):
    """RFC 1337 with tcp_rfc1337 = 0: ``inet_twsk_deschedule_put`` (3.10 ``inet_twsk_deschedule``) kills the TIME_WAIT
    sock now — the sock and the client's bind buckets are freed on the RST's arrival, not 60 s later."""
    j = Journey(profile=profile, memory=True, close=False)
    j.run()
    j.client.run_process(0, lambda: sock_release(j.sk.sk_socket), at_ns=j.sched.clock)
    run(j, MS)
    j.server.run_process(0, lambda: sock_release(j.accepted.sk_socket), at_ns=j.sched.clock)
    run(j, MS)
    (tw,) = [s for s in j.client.net.tcp_ehash.values() if isinstance(s, InetTimewaitSock)]
    assert Counter(c for c, _ in live(j.client.slab).elements()) == modelled(profile, "client", "TIME_WAIT")
    rst = tcp_segment(SERVER_ADDR, SERVER_PORT, CLIENT_ADDR, tw.tw_num, ("RST",), tw.tw_rcv_nxt)
    j.server.run_process(0, lambda: j.server.xmit_segment(j.server.net, rst), at_ns=j.sched.clock)
    trace = run(j, MS)
    frees = slab_events(trace, "kmem_cache_free")
    assert Counter(cache for cache, *_ in frees) == modelled(profile, "client", "TIME_WAIT")
    assert all({"inet_twsk_deschedule_put", "inet_twsk_deschedule"} & set(stack) for *_, stack, _ in frees)
    assert not live(j.client.slab)
