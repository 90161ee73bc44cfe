"""A listening socket's two queues, the hash tables that find sockets, and the ports' bind buckets.

Models include/net/request_sock.h, net/core/request_sock.c, include/net/inet_connection_sock.h,
net/ipv4/inet_connection_sock.c, net/ipv4/inet_hashtables.c and the accept-queue helpers of include/net/sock.h
(Linux 6.12; a profile whose ``syn_queue`` is ``"listen_sock"`` behaves like 3.10). The namespace's tables are
``netlab.kernel.netns.Net``'s: ``tcp_ehash``, ``tcp_lhash`` and ``tcp_bhash``. The client's choice of port
(``inet_hash_connect``) is :mod:`netlab.kernel.inet_hashtables`'s.

**SYN queue** (half-open connections). A SYN creates a small ``request_sock`` (``TCP_NEW_SYN_RECV``) that waits
for the client's ACK. 6.12 puts it in the established hash table, so the lookup of the third ACK finds it
directly; the "queue" is only the counter ``icsk_accept_queue.qlen``, full when ``qlen > sk_max_ack_backlog``.
3.10 kept requests in the listener's own table ``listen_sock.syn_table``, sized at ``listen()`` to
``roundup_pow_of_two(max(8, min(backlog, somaxconn, tcp_max_syn_backlog)) + 1)`` and full when ``qlen`` reaches it.

**Accept queue** (finished handshakes). When the ACK arrives the request becomes a full ``tcp_sock`` (the child)
on the list ``rskq_accept_head``…``rskq_accept_tail``; ``sk_ack_backlog`` counts it, ``accept()`` takes it off.
Full when ``sk_ack_backlog > sk_max_ack_backlog`` — the test is ``>``, so backlog+1 children fit. A blocking
``accept`` on an empty queue sleeps exclusively on the listener's wait queue (``inet_csk_wait_for_connect``).

**Memory** (chapter 06). On a host that models memory, a request sock (``reqsk_alloc``: request_sock_TCP), a
port's bind bucket (``inet_bind_bucket_create``: tcp_bind_bucket; 6.1+ also ``inet_bind2_bucket_create``:
tcp_bind2_bucket per address and port) keep their slab object in ``slab_objects``. A request is freed when its
last reference goes (6.12 ``reqsk_put``; 3.10 has no count, its callers free it): at ``accept()``, or when it is
dropped from the SYN queue; a bucket when its last owner gives the port back (``inet_put_port``, or a TIME_WAIT
sock's ``inet_twsk_bind_unhash``).

Simplification: the 3.10 SYN-ACK timer (``inet_csk_reqsk_queue_prune``, every 200 ms) walks the whole table at
each tick; the real one walks ``2 * nr_table_entries / 5`` buckets per tick, so a retransmission can be up to a
few ticks later than modelled here.
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any

from netlab import check
from netlab.check import CInt, Port
from netlab.kernel.fs import O_NONBLOCK
from netlab.kernel.netns import Net
from netlab.kernel.profiles import KernelProfile
from netlab.kernel.sched import MAX_SCHEDULE_TIMEOUT, TASK_INTERRUPTIBLE, get_current, schedule_timeout
from netlab.kernel.skbuff import SkBuff
from netlab.kernel.slub import slab_alloc, slab_free
from netlab.kernel.sock import Proto, Sock, sk_sleep
from netlab.kernel.timer import TimerList
from netlab.kernel.wait import WaitQueueEntry, autoremove_wake_function, finish_wait, prepare_to_wait_exclusive
from netlab.trace import kernel_function, trace_printk
from netlab.units import plural

MS = 1_000_000
SEC = 1_000 * MS
TCP_TIMEOUT_INIT = 1 * SEC          # include/net/tcp.h: 1*HZ, the first RTO of a SYN and of a SYN-ACK
TCP_RTO_MAX = 120 * SEC             # include/net/tcp.h: 120*HZ
TCP_SYNQ_INTERVAL = 200 * MS        # 3.10 include/net/tcp.h: HZ/5, the SYN-ACK prune timer's period
TCP_SYNCOOKIE_VALID = 120 * SEC     # include/net/tcp.h: MAX_SYNCOOKIE_AGE * TCP_SYNCOOKIE_PERIOD

#: The TcpExt counters of /proc/net/netstat a handshake moves (net/ipv4/proc.c names for LINUX_MIB_*).
TCPEXT_COUNTERS = ("ListenOverflows", "ListenDrops", "TCPReqQFullDoCookies", "TCPReqQFullDrop",
                   "SyncookiesSent", "SyncookiesRecv", "SyncookiesFailed", "EmbryonicRsts", "TCPTimeouts")


@check.arguments
def endpoint(net: Net, addr: str, port: Port) -> str:
    """A short name for (addr, port) in traces ("c3"), or "addr:port"."""
    return net.labels.get((addr, port), f"{addr}:{port}")


@check.arguments
def tcpext(net: Net) -> dict[str, int]:
    """The non-zero handshake counters of ``net`` (as /proc/net/netstat's TcpExt line names them)."""
    return {c: net.mib[c] for c in TCPEXT_COUNTERS if net.mib[c]}


@check.arguments
def NET_INC_STATS(net: Net, counter: str) -> None:  # noqa: N802 (the kernel's macro)
    if counter not in TCPEXT_COUNTERS:
        raise ValueError(f"unknown TcpExt counter {counter!r}")
    net.snmp_inc(counter)


@dataclass(eq=False)
class BindBucket:
    """``struct inet_bind_bucket``: one local port in use. ``fastreuse`` is -1 for ports connect() picked.
    ``owners``: the socks and TIME_WAIT socks on the port (3.10's ``tb->owners``; 6.1+ keep them on the
    address's :class:`Bind2Bucket`, listed in ``bhash2``). ``slab_objects``: its tcp_bind_bucket object."""

    port: Port
    fastreuse: CInt
    owners: list = field(default_factory=list)
    bhash2: list = field(default_factory=list)
    slab_objects: list = field(default_factory=list, repr=False)

    def __post_init__(self):
        check.fields(self)


@dataclass(eq=False)
class Bind2Bucket:
    """``struct inet_bind2_bucket`` (6.1+): one (local address, port) in use, with the socks bound to it;
    ``slab_objects``: its tcp_bind2_bucket object."""

    port: Port
    rcv_saddr: str
    owners: list = field(default_factory=list)
    slab_objects: list = field(default_factory=list, repr=False)

    def __post_init__(self):
        check.fields(self)


@dataclass(eq=False)
class RequestSock:
    """``struct request_sock`` (with ``inet_request_sock``/``tcp_request_sock``): one half-open connection."""

    name: str
    rsk_listener: "TcpSock"
    ir_loc_addr: str
    ir_num: Port                # local (listening) port
    ir_rmt_addr: str
    ir_rmt_port: Port
    rcv_isn: int                # the client's ISN, from its SYN
    snt_isn: int = 0            # our ISN, in the SYN-ACK
    rsk_ops: object = None      # struct request_sock_ops: rtx_syn_ack, send_reset, syn_ack_timeout
    num_timeout: int = 0        # SYN-ACK timeouts so far; a request is "young" until its first
    num_retrans: int = 0
    acked: bool = False         # the ACK came but the accept queue was full
    syncookie: bool = False
    rsk_timer: TimerList | None = None  # 6.12: one timer per request
    expires_ns: int | None = None       # 3.10: checked by the listener's prune timer
    sk: "TcpSock | None" = None         # the child, once on the accept queue
    sk_state: str = "TCP_NEW_SYN_RECV"
    rsk_refcnt: int = 0                 # 6.12: ehash, timer and lookups hold it; 3.10 has no count
    slab_objects: list = field(default_factory=list, repr=False)

    def __post_init__(self):
        check.fields(self)

    @property
    def key(self) -> tuple:
        return (self.ir_loc_addr, self.ir_num, self.ir_rmt_addr, self.ir_rmt_port)


@dataclass
class ListenSock:
    """3.10's ``struct listen_sock``: the SYN table of one listener (gone since 4.4)."""

    max_qlen_log: int
    nr_table_entries: int
    syn_table: list = field(default_factory=list)

    def __post_init__(self):
        check.fields(self)


@dataclass
class RequestSockQueue:
    """``struct request_sock_queue`` (``icsk_accept_queue``): the accept list and the SYN-queue counters."""

    rskq_accept: deque = field(default_factory=deque)  # rskq_accept_head .. rskq_accept_tail
    qlen: int = 0            # requests (SYN queue length); 3.10 keeps it in listen_opt
    young: int = 0           # requests whose SYN-ACK has not timed out yet
    listen_opt: ListenSock | None = None

    def __post_init__(self):
        check.fields(self)


@dataclass(frozen=True)
class TcpSendState:
    """A TCP socket's sending side at a step: the write and retransmit queues by skb name, the sequence numbers,
    the congestion window, the segments in flight and the peer's window."""

    write_queue: tuple[str, ...]
    rtx_queue: tuple[str, ...]
    snd_una: int
    snd_nxt: int
    write_seq: int
    cwnd: int
    packets_out: int
    snd_wnd: int


@dataclass(eq=False)
class TcpSock(Sock):
    """``struct tcp_sock`` with its ``inet_connection_sock`` and ``inet_sock`` parts, as far as a handshake needs."""

    net: Net | None = None
    inet_rcv_saddr: str = "0.0.0.0"
    inet_num: Port = 0              # local port
    inet_daddr: str = ""
    inet_dport: Port = 0
    icsk_bind_hash: BindBucket | None = None     # the port's bucket …
    icsk_bind2_hash: Bind2Bucket | None = None   # … and (6.1+) its (address, port) bucket
    sk_ack_backlog: int = 0
    sk_max_ack_backlog: int = 0
    icsk_accept_queue: RequestSockQueue = field(default_factory=RequestSockQueue)
    icsk_syn_retries: int = 0       # TCP_SYNCNT; 0 means the sysctl
    icsk_retransmits: int = 0
    icsk_rto_ns: int = TCP_TIMEOUT_INIT
    total_rto: int = 0
    retrans_stamp: int = 0          # when the first SYN went out
    icsk_retransmit_timer: TimerList | None = None
    sk_timer: TimerList | None = None   # 3.10 listener: the keepalive timer doubles as SYN-ACK timer
    write_seq: int = 0
    snd_una: int = 0
    rcv_nxt: int = 0
    sk_err: str | None = None
    last_synq_overflow_ns: int | None = None   # rx_opt.ts_recent_stamp on a listener: last SYN cookie sent
    connect_errno: str | None = None           # what a non-blocking connect() reports once it is decided
    # sending (chapter 03, netlab.kernel.tcp_output)
    dst: Any = None                  # the cached route (sk_dst_cache): a route.Rtable
    mss_cache: int = 1448
    snd_cwnd: int = 10               # TCP_INIT_CWND
    snd_ssthresh: int = 0x7fffffff   # TCP_INFINITE_SSTHRESH: slow start until the first loss
    snd_wnd: int = 262144            # the peer's receive window
    max_window: int = 262144
    snd_nxt: int = 0
    pushed_seq: int = 0
    snd_sml: int = 0                 # end of the last small segment sent (Minshall's Nagle)
    packets_out: int = 0
    is_cwnd_limited: bool = False    # 6.12 tcp_cwnd_validate: the last window filled cwnd …
    max_packets_out: int = 0         # … or, if not, the most segments it had in flight
    cwnd_usage_seq: int = 0          # … since this sequence number
    nonagle: int = 0                 # TCP_NAGLE_OFF with TCP_NODELAY
    gso: bool = True                 # sk_can_gso(); False after sk_gso_disable() (TCP-MD5, TCP-AO)
    sg: bool = True                  # NETIF_F_SG in sk_route_caps: needed to send from pages
    zerocopy: bool = False           # SO_ZEROCOPY was set
    sk_gso_max_size: int = 65536     # GSO_LEGACY_MAX_SIZE
    sk_write_queue: deque = field(default_factory=deque)   # not yet sent; the head is tcp_send_head()
    tcp_rtx_queue: deque = field(default_factory=deque)    # sent, waiting for an ACK (an rbtree in the kernel)
    sk_wmem_queued: int = 0
    pfrag_pages: int = 0             # sk_page_frag: pages used so far …
    pfrag_offset: int = 32768        # … and the offset in the current one (full: refill first)
    skbs_made: int = 0
    # closing (net/ipv4/tcp.c, tcp_input.c, tcp_minisocks.c: netlab.kernel.tcp, tcp_input, tcp_minisocks)
    sk_flags: set = field(default_factory=set)       # SOCK_DEAD once orphaned (close()), SOCK_DONE after a FIN
    icsk_ack_pending: bool = False                   # icsk_ack.pending: an ACK is due (inet_csk_schedule_ack)
    icsk_ack_quick: bool = False                     # quick-ACK mode (and not ping-pong): ACK at once
    icsk_delack_timer: TimerList | None = None       # the delayed-ACK timer (ICSK_TIME_DACK)
    sock_owned_by_user: bool = False                 # a process holds the socket lock (lock_sock) …
    sk_backlog: deque = field(default_factory=deque) # … so softirq queues segments here (tcp_add_backlog)

    def __post_init__(self):
        super().__post_init__()
        if self.sk_prot is None:
            self.sk_prot = tcp_prot

    def four_tuple(self) -> tuple:
        return (self.inet_rcv_saddr, self.inet_num, self.inet_daddr, self.inet_dport)

    def send_state(self) -> "TcpSendState":
        """The sending side, for traces and drawings."""
        return TcpSendState(tuple([s.name for s in self.sk_write_queue]), tuple([s.name for s in self.tcp_rtx_queue]),
                            self.snd_una, self.snd_nxt, self.write_seq, self.snd_cwnd, self.packets_out,
                            self.snd_wnd)


tcp_prot = Proto("TCP", "tcp_sock", TcpSock)
"""net/ipv4/tcp_ipv4.c ``tcp_prot``: TCP's socks are ``struct tcp_sock`` from the slab cache "TCP"."""


# --- the two full tests -----------------------------------------------------------------------------------------

def _syn_queue_full(sk: TcpSock) -> bool:
    q = sk.icsk_accept_queue
    if q.listen_opt is not None:
        return (q.qlen >> q.listen_opt.max_qlen_log) != 0
    return q.qlen > sk.sk_max_ack_backlog


def _syn_queue_full_text(sk: TcpSock) -> str:
    q, verdict = sk.icsk_accept_queue, "full" if _syn_queue_full(sk) else "room"
    if q.listen_opt is not None:
        return (f"SYN queue: qlen {q.qlen} >> max_qlen_log {q.listen_opt.max_qlen_log} "
                f"(full at {q.listen_opt.nr_table_entries})? → {verdict}")
    return f"SYN queue: qlen {q.qlen} > sk_max_ack_backlog {sk.sk_max_ack_backlog}? → {verdict}"


@kernel_function("include/net/inet_connection_sock.h", _syn_queue_full_text)
def inet_csk_reqsk_queue_is_full(sk: TcpSock) -> bool:
    """Is the SYN queue full? 6.12: ``qlen > sk_max_ack_backlog``; 3.10: ``qlen >> max_qlen_log``."""
    return _syn_queue_full(sk)


@kernel_function("include/net/sock.h",
                 lambda sk: f"accept queue: sk_ack_backlog {sk.sk_ack_backlog} > sk_max_ack_backlog "
                            f"{sk.sk_max_ack_backlog}? → {'full' if sk.sk_ack_backlog > sk.sk_max_ack_backlog else 'room'}")
def sk_acceptq_is_full(sk: TcpSock) -> bool:
    """Is the accept queue full? ``sk_ack_backlog > sk_max_ack_backlog``: backlog+1 children fit."""
    return sk.sk_ack_backlog > sk.sk_max_ack_backlog


@check.arguments
def accept_queue_capacity(profile: KernelProfile, backlog: CInt) -> int:
    """How many finished connections wait in the accept queue of ``listen(backlog)``: min(backlog, somaxconn)+1."""
    return _clamped_backlog(profile, backlog) + 1


@check.arguments
def syn_queue_capacity(profile: KernelProfile, backlog: CInt) -> int:
    """How many requests the SYN queue holds before it counts as full (then: cookies, or drop).

    6.12: ``qlen > sk_max_ack_backlog`` is full, so max_ack_backlog+1 requests fit. 3.10: the table size.
    """
    max_ack_backlog = _clamped_backlog(profile, backlog)
    if profile.syn_queue == "listen_sock":
        return _listen_sock_size(max_ack_backlog, profile.tcp_max_syn_backlog)[1]
    return max_ack_backlog + 1


def _clamped_backlog(profile: KernelProfile, backlog: int) -> int:
    if not isinstance(profile, KernelProfile):
        raise TypeError("profile must be a KernelProfile")
    if not isinstance(backlog, int) or isinstance(backlog, bool):
        raise TypeError("backlog must be an int")
    # __sys_listen_socket compares as unsigned: a negative backlog becomes somaxconn
    return profile.somaxconn if backlog < 0 or backlog > profile.somaxconn else backlog


def _listen_sock_size(nr_table_entries: int, max_syn_backlog: int) -> tuple[int, int]:
    """3.10 reqsk_queue_alloc: (max_qlen_log, nr_table_entries)."""
    n = min(nr_table_entries, max_syn_backlog)
    n = max(n, 8)
    n = 1 << n.bit_length()          # roundup_pow_of_two(n + 1)
    log = 3
    while (1 << log) < n:
        log += 1
    return log, n


# --- listen ------------------------------------------------------------------------------------------------------

@kernel_function("net/core/request_sock.c")
def reqsk_queue_alloc(queue: RequestSockQueue, sk: TcpSock) -> None:
    """Set up the listener's queues (3.10: allocate the SYN table, sized from backlog and tcp_max_syn_backlog)."""
    queue.rskq_accept.clear()
    queue.qlen = queue.young = 0
    if sk.net.profile.syn_queue == "listen_sock":
        log, n = _listen_sock_size(sk.sk_max_ack_backlog, sk.net.profile.tcp_max_syn_backlog)
        queue.listen_opt = ListenSock(max_qlen_log=log, nr_table_entries=n)
        trace_printk(f"3.10: syn_table of {n} entries (max_qlen_log {log}) for backlog {sk.sk_max_ack_backlog}")
    else:
        queue.listen_opt = None
        trace_printk("6.12: no table — requests go into the established hash; the SYN queue is a counter")


@kernel_function("net/ipv4/inet_connection_sock.c")
def inet_csk_listen_start(sk: TcpSock) -> int:
    """Create the queues, set TCP_LISTEN and hash the socket into the listening table."""
    reqsk_queue_alloc(sk.icsk_accept_queue, sk)
    if sk.icsk_accept_queue.listen_opt is not None and sk.sk_timer is None:
        sk.sk_timer = TimerList(lambda t: inet_csk_reqsk_queue_prune(t.data), name=f"synack {sk.name}", data=sk,
                                host=sk.net.host)
    sk.sk_ack_backlog = 0
    key = (sk.inet_rcv_saddr, sk.inet_num)
    if key in sk.net.tcp_lhash:
        return -98  # EADDRINUSE
    sk.sk_state = "TCP_LISTEN"
    sk.net.tcp_lhash[key] = sk
    return 0


# --- requests: into and out of the SYN queue ------------------------------------------------------------------

@kernel_function("net/ipv4/inet_connection_sock.c", lambda ops, sk, skb: "allocate a request_sock for "
                 f"{endpoint(sk.net, skb.meta['saddr'], skb.meta['sport'])}")
def inet_reqsk_alloc(ops: object, sk: TcpSock, skb: SkBuff) -> RequestSock:
    """A request sock for this SYN (``reqsk_alloc``), with the connection's addresses and ports."""
    m = skb.meta
    return reqsk_alloc(ops, sk, {"name": endpoint(sk.net, m["saddr"], m["sport"]), "ir_loc_addr": m["daddr"],
                                 "ir_num": m["dport"], "ir_rmt_addr": m["saddr"], "ir_rmt_port": m["sport"],
                                 "rcv_isn": m["seq"]})


@kernel_function("net/ipv4/inet_connection_sock.c", "{ops.slab} cache: a struct {ops.struct} for {fields[name]}")
def reqsk_alloc(ops: object, sk: TcpSock, fields: dict) -> RequestSock:
    """``kmem_cache_alloc(ops->slab)``: the whole request in one slab object (TCP's: struct tcp_request_sock in
    request_sock_TCP); no reference yet (``rsk_refcnt`` 0)."""
    obj = slab_alloc(ops.slab, f"{fields['name']}: struct {ops.struct}")
    req = RequestSock(rsk_listener=sk, rsk_ops=ops, **fields)
    if obj is not None:
        req.slab_objects.append(obj)
    return req


@kernel_function("include/net/request_sock.h", "{req.name}'s request sock goes back to {req.rsk_ops.slab}")
def __reqsk_free(req: RequestSock) -> None:
    """``kmem_cache_free(req->rsk_ops->slab, req)``."""
    slab_free(req.slab_objects)


@kernel_function("include/net/request_sock.h", "free {req.name}'s request sock")
def reqsk_free(req: RequestSock) -> None:
    """Free a request nobody holds (its ops' destructor, then ``__reqsk_free``)."""
    __reqsk_free(req)


@kernel_function("include/net/request_sock.h",
                 lambda req: f"drop a reference to {req.name}'s request sock"
                             + (": it was the last, free it" if req.rsk_refcnt == 1 else ""))
def reqsk_put(req: RequestSock) -> None:
    """``rsk_refcnt``--; the last reference frees the request (``__reqsk_free``). 6.12 only: 3.10's callers free
    a request themselves (``reqsk_free``, ``__reqsk_free``)."""
    req.rsk_refcnt -= 1
    if req.rsk_refcnt == 0:
        __reqsk_free(req)


@check.arguments
def reqsk_timeout(req: RequestSock, max_timeout: int) -> int:
    """include/net/inet_connection_sock.h: the SYN-ACK backs off exponentially, 1 s, 2 s, 4 s, …"""
    return min(TCP_TIMEOUT_INIT << req.num_timeout, max_timeout)


@kernel_function("net/ipv4/inet_connection_sock.c",
                 lambda sk, req, timeout_ns: f"{req.name} joins the SYN queue; SYN-ACK timer in "
                                             f"{timeout_ns / SEC:g} s")
def inet_csk_reqsk_queue_hash_add(sk: TcpSock, req: RequestSock, timeout_ns: int) -> bool:
    """Put the request where the ACK will find it and count it: qlen++ and young++ (6.12: ehash and the armed
    SYN-ACK timer each hold a reference)."""
    q, net = sk.icsk_accept_queue, sk.net
    if q.listen_opt is not None:        # 3.10: the listener's syn_table; its keepalive timer retransmits
        q.listen_opt.syn_table.append(req)
        req.expires_ns = net.sched.clock + timeout_ns
        first = q.qlen == 0
        q.qlen += 1
        q.young += 1
        if first:
            net.sched.mod_timer(sk.sk_timer, net.sched.clock + timeout_ns)
        return True
    if req.key in net.tcp_ehash:            # inet_ehash_insert found a duplicate
        return False
    net.tcp_ehash[req.key] = req
    req.rsk_timer = TimerList(reqsk_timer_handler, name=f"rsk_timer {req.name}", data=req, host=net.host)
    net.sched.mod_timer(req.rsk_timer, net.sched.clock + timeout_ns)
    req.rsk_refcnt = 2 + 1              # ehash, the timer, and the caller's (tcp_conn_request puts it)
    q.qlen += 1
    q.young += 1
    return True


@check.arguments
def reqsk_queue_removed(queue: RequestSockQueue, req: RequestSock) -> None:
    """include/net/request_sock.h: one request fewer (and one young fewer if it never timed out)."""
    if req.num_timeout == 0:
        queue.young -= 1
    queue.qlen -= 1


def _reqsk_queue_unlink(sk: TcpSock, req: RequestSock) -> bool:
    q = sk.icsk_accept_queue
    if q.listen_opt is not None:
        if req in q.listen_opt.syn_table:
            q.listen_opt.syn_table.remove(req)
            return True
        return False
    if sk.net.tcp_ehash.get(req.key) is req:
        del sk.net.tcp_ehash[req.key]
        return True
    return False


@kernel_function("net/ipv4/inet_connection_sock.c", lambda sk, req: f"{req.name} leaves the SYN queue")
def inet_csk_reqsk_queue_drop(sk: TcpSock, req: RequestSock) -> bool:
    """Unlink the request from the SYN queue, stop its timer, qlen--. 6.12: the timer's and ehash's references
    go (``reqsk_put``); 3.10 frees the request here (``reqsk_free``)."""
    q = sk.icsk_accept_queue
    unlinked = _reqsk_queue_unlink(sk, req)
    if q.listen_opt is not None:
        reqsk_queue_removed(q, req)
        reqsk_free(req)
        return unlinked
    if req.rsk_timer is not None and sk.net.sched.del_timer(req.rsk_timer):
        reqsk_put(req)
    if unlinked:
        reqsk_queue_removed(q, req)
        reqsk_put(req)
    return unlinked


@kernel_function("net/ipv4/inet_connection_sock.c", lambda sk, req: f"drop {req.name}'s request and its timer's "
                                                                       "reference")
def inet_csk_reqsk_queue_drop_and_put(sk: TcpSock, req: RequestSock) -> None:
    """The SYN-ACK timer gives up (6.12): drop the request from the SYN queue, then the timer's own reference —
    the last one: the request is freed."""
    inet_csk_reqsk_queue_drop(sk, req)
    reqsk_put(req)


@check.arguments
def find_request(sk: TcpSock, key: tuple) -> RequestSock | None:
    """The request of this 4-tuple: 6.12 looks in ehash (``__inet_lookup_skb``), 3.10 in the listener's
    syn_table (``inet_csk_search_req``)."""
    q = sk.icsk_accept_queue
    if q.listen_opt is not None:
        return next((r for r in q.listen_opt.syn_table if r.key == key), None)
    req = sk.net.tcp_ehash.get(key)
    return req if isinstance(req, RequestSock) else None


# --- the accept queue ----------------------------------------------------------------------------------------

@kernel_function("net/ipv4/inet_connection_sock.c",
                 lambda sk, req, child: f"{child.name} joins the accept queue "
                                        f"(sk_ack_backlog {sk.sk_ack_backlog} → {sk.sk_ack_backlog + 1})")
def inet_csk_reqsk_queue_add(sk: TcpSock, req: RequestSock, child: TcpSock) -> TcpSock | None:
    """Append the child to the accept queue: sk_acceptq_added (sk_ack_backlog++)."""
    if sk.sk_state != "TCP_LISTEN":
        return None
    req.sk = child
    sk.icsk_accept_queue.rskq_accept.append(req)
    sk.sk_ack_backlog += 1
    return child


@kernel_function("net/ipv4/inet_connection_sock.c")
def inet_csk_complete_hashdance(sk: TcpSock, child: TcpSock, req: RequestSock, own_req: bool) -> TcpSock | None:
    """Move the connection from the SYN queue to the accept queue: drop the request from the SYN queue (it lives
    on in the accept queue, pointing at the child, until accept()), queue the child."""
    if own_req:
        q = sk.icsk_accept_queue
        if q.listen_opt is not None:          # 3.10 tcp_check_req: inet_csk_reqsk_queue_unlink, _removed
            _reqsk_queue_unlink(sk, req)
            reqsk_queue_removed(q, req)
        elif not inet_csk_reqsk_queue_drop(sk, req):
            reqsk_queue_removed(q, req)       # 6.12: the child already took its place in ehash
        if inet_csk_reqsk_queue_add(sk, req, child) is not None:
            return child
    return None


@kernel_function("include/net/inet_connection_sock.h", "a listener is readable when its accept queue is not empty")
def inet_csk_listen_poll(sk: TcpSock) -> int:
    """What ``tcp_poll`` reports for a listener: EPOLLIN | EPOLLRDNORM if a connection waits to be accepted."""
    return 0x001 | 0x040 if sk.icsk_accept_queue.rskq_accept else 0


@kernel_function("net/ipv4/inet_connection_sock.c",
                 lambda sk, flags=O_NONBLOCK: f"accept on {sk.name}: "
                                              f"{plural(len(sk.icsk_accept_queue.rskq_accept), 'connection')} queued")
def inet_csk_accept(sk: TcpSock, flags: int = O_NONBLOCK):
    """accept(): take the oldest finished connection off the accept queue and free its request sock (6.12
    ``reqsk_put``, the last reference; 3.10 ``__reqsk_free``). With the queue empty: "EAGAIN" if ``flags`` has
    O_NONBLOCK, else sleep in ``inet_csk_wait_for_connect`` (so this is a generator; run a non-blocking call with
    ``netlab.kernel.sched.nonblocking``)."""
    if sk.sk_state != "TCP_LISTEN":
        return "EINVAL"
    q = sk.icsk_accept_queue
    if not q.rskq_accept:
        if flags & O_NONBLOCK:  # sock_rcvtimeo() == 0
            return "EAGAIN"
        error = yield from inet_csk_wait_for_connect(sk, MAX_SCHEDULE_TIMEOUT)
        if error:
            return error
    req = q.rskq_accept.popleft()
    sk.sk_ack_backlog -= 1               # sk_acceptq_removed
    if q.listen_opt is not None:
        __reqsk_free(req)
    else:
        reqsk_put(req)
    return req.sk


@kernel_function("net/ipv4/inet_connection_sock.c", "wait, exclusively, for a connection on {sk.name}")
def inet_csk_wait_for_connect(sk: TcpSock, timeo: int | None):
    """Wake-one: ``prepare_to_wait_exclusive`` queues this acceptor at the tail of the listener's wait queue;
    one connection (``sk_data_ready``) wakes one acceptor. Returns "" when a connection is queued, else why not."""
    me = get_current()
    wait = WaitQueueEntry(autoremove_wake_function, me, name=f"{me.comm} (accept)")
    while True:
        prepare_to_wait_exclusive(sk_sleep(sk), wait, TASK_INTERRUPTIBLE)
        if not sk.icsk_accept_queue.rskq_accept:
            timeo = yield from schedule_timeout(timeo)
        err = ""
        if sk.icsk_accept_queue.rskq_accept:
            break
        err = "EINVAL"
        if sk.sk_state != "TCP_LISTEN":
            break
        err = "EAGAIN"
        if timeo == 0:
            break
    finish_wait(sk_sleep(sk), wait)
    return err


# --- SYN-ACK retransmission -------------------------------------------------------------------------------------

@check.arguments
def syn_ack_recalc(req: RequestSock, max_syn_ack_retries: int) -> tuple[bool, bool]:
    """(expire, resend) without TCP_DEFER_ACCEPT: give up after ``max_syn_ack_retries`` timeouts."""
    return req.num_timeout >= max_syn_ack_retries, True


def _max_syn_ack_retries(sk: TcpSock) -> int:
    """tcp_synack_retries, lowered towards 2 while the SYN queue is more than half full of old requests."""
    q = sk.icsk_accept_queue
    retries = sk.icsk_syn_retries or sk.net.profile.tcp_synack_retries
    if q.listen_opt is not None:
        crowded = q.qlen >> (q.listen_opt.max_qlen_log - 1)
    else:
        crowded = (q.qlen << 1) > max(8, sk.sk_max_ack_backlog)
    if crowded:
        young = q.young << 1
        while retries > 2 and q.qlen >= young:
            retries -= 1
            young <<= 1
    return retries


def _reqsk_timeout_step(sk: TcpSock, req: RequestSock, max_retries: int) -> bool:
    """One SYN-ACK timeout of ``req``; True if it stays (SYN-ACK resent), False if it must be dropped."""
    expire, resend = syn_ack_recalc(req, max_retries)
    req.rsk_ops.syn_ack_timeout(req)
    if not expire and (not resend or inet_rtx_syn_ack(sk, req) == 0 or req.acked):
        if req.num_timeout == 0:
            sk.icsk_accept_queue.young -= 1
        req.num_timeout += 1
        return True
    return False


@kernel_function("net/ipv4/inet_connection_sock.c",
                 lambda t: f"SYN-ACK timer of {t.data.name} (timeout #{t.data.num_timeout + 1})")
def reqsk_timer_handler(t: TimerList) -> None:
    """A request's SYN-ACK went unanswered: retransmit it with backoff, or give up after tcp_synack_retries."""
    req: RequestSock = t.data
    sk = req.rsk_listener
    if _reqsk_timeout_step(sk, req, _max_syn_ack_retries(sk)):
        sk.net.sched.mod_timer(t, sk.net.sched.clock + reqsk_timeout(req, TCP_RTO_MAX))
        return
    trace_printk(f"{req.name}: tcp_synack_retries exhausted, the request is dropped")
    inet_csk_reqsk_queue_drop_and_put(sk, req)


@check.arguments
def inet_csk_reqsk_queue_prune(sk: TcpSock) -> None:
    """3.10 (the listener's keepalive timer → tcp_synack_timer): every TCP_SYNQ_INTERVAL (200 ms) walk the
    syn_table; an expired request gets its SYN-ACK again, or is dropped after tcp_synack_retries.

    Not a traced kernel function: it no longer exists in 6.12 (each request has its own timer there).
    """
    q, net = sk.icsk_accept_queue, sk.net
    if q.listen_opt is None or q.qlen == 0:
        return
    max_retries = _max_syn_ack_retries(sk)
    for req in list(q.listen_opt.syn_table):
        if net.sched.clock < req.expires_ns:
            continue
        if _reqsk_timeout_step(sk, req, max_retries):
            req.expires_ns = net.sched.clock + reqsk_timeout(req, TCP_RTO_MAX)
        else:
            inet_csk_reqsk_queue_drop(sk, req)   # tcp_synack_retries exhausted
    if q.qlen:
        net.sched.mod_timer(sk.sk_timer, net.sched.clock + TCP_SYNQ_INTERVAL)


@kernel_function("net/ipv4/inet_connection_sock.c", lambda sk, req: f"retransmit the SYN-ACK of {req.name}")
def inet_rtx_syn_ack(sk: TcpSock, req: RequestSock) -> int:
    """Resend the SYN-ACK through the request's ops (tcp_rtx_synack); num_retrans++ on success."""
    err = req.rsk_ops.rtx_syn_ack(sk, req)
    if not err:
        req.num_retrans += 1
    return err


# --- ports ---------------------------------------------------------------------------------------------------

def _has_bhash2(net: Net) -> bool:
    """Does this kernel keep a second bind hash by (address, port)? (6.1+: where its slab has tcp_bind2_bucket.)"""
    return "tcp_bind2_bucket" in net.profile.slab


@check.arguments
def inet_bind2_bucket_of(net: Net, tb: BindBucket, sk: TcpSock) -> Bind2Bucket | None:
    """``inet_bind2_bucket_find`` for the socket's address on ``tb``'s port, else ``inet_bind2_bucket_create``;
    None where the kernel has no bhash2."""
    if not _has_bhash2(net):
        return None
    return next((tb2 for tb2 in tb.bhash2 if tb2.rcv_saddr == sk.inet_rcv_saddr), None) or \
        inet_bind2_bucket_create(net, tb, sk)


@check.arguments
def inet_bind_hash(sk: TcpSock, tb: BindBucket, tb2: Bind2Bucket | None, port: Port) -> None:
    """net/ipv4/inet_hashtables.c ``inet_bind_hash``: the socket owns the port (and its (address, port))."""
    sk.inet_num = port
    sk.icsk_bind_hash, sk.icsk_bind2_hash = tb, tb2
    tb.owners.append(sk)
    if tb2 is not None:
        tb2.owners.append(sk)


@kernel_function("net/ipv4/inet_hashtables.c", lambda net, sk, port, fastreuse: f"port {port} gets a bind bucket "
                 "(tcp_bind_bucket)")
def inet_bind_bucket_create(net: Net, sk: TcpSock, port: Port, fastreuse: CInt) -> BindBucket:
    """A ``struct inet_bind_bucket`` for a port now in use (``kmem_cache_alloc`` from tcp_bind_bucket), hashed
    into bhash; ``sk`` is the socket taking the port."""
    obj = slab_alloc("tcp_bind_bucket", f"{sk.name}: struct inet_bind_bucket")
    tb = net.tcp_bhash[port] = BindBucket(port, fastreuse)
    if obj is not None:
        tb.slab_objects.append(obj)
    return tb


@kernel_function("net/ipv4/inet_hashtables.c", lambda net, tb, sk: f"{sk.inet_rcv_saddr}:{tb.port} gets a second "
                 "bucket (tcp_bind2_bucket, bhash2)")
def inet_bind2_bucket_create(net: Net, tb: BindBucket, sk: TcpSock) -> Bind2Bucket:
    """6.1+: a ``struct inet_bind2_bucket`` for the socket's (address, port), on ``tb``'s bhash2 list."""
    obj = slab_alloc("tcp_bind2_bucket", f"{sk.name}: struct inet_bind2_bucket")
    tb2 = Bind2Bucket(tb.port, sk.inet_rcv_saddr)
    tb.bhash2.append(tb2)
    if obj is not None:
        tb2.slab_objects.append(obj)
    return tb2


@kernel_function("net/ipv4/inet_hashtables.c",
                 lambda net, tb: f"port {tb.port}: " + ("no owner left, free its bind bucket" if _unused(tb)
                                                        else "still in use, its bind bucket stays"))
def inet_bind_bucket_destroy(net: Net, tb: BindBucket) -> None:
    """Free the port's bucket if nothing holds the port any more (3.10: no owner; 6.1+: no bhash2 bucket)."""
    if _unused(tb):
        if net.tcp_bhash.get(tb.port) is tb:
            del net.tcp_bhash[tb.port]
        slab_free(tb.slab_objects)


def _unused(tb: BindBucket) -> bool:
    return not tb.owners and not tb.bhash2


@kernel_function("net/ipv4/inet_hashtables.c",
                 lambda net, tb, tb2: f"{tb2.rcv_saddr}:{tb2.port}: " + ("no owner left, free its bhash2 bucket"
                                                                         if not tb2.owners else "still in use"))
def inet_bind2_bucket_destroy(net: Net, tb: BindBucket, tb2: Bind2Bucket) -> None:
    """6.1+: free the (address, port) bucket if no sock is bound to it any more."""
    if not tb2.owners:
        tb.bhash2.remove(tb2)
        slab_free(tb2.slab_objects)


@kernel_function("net/ipv4/inet_hashtables.c", "{sk.name} gives its port {sk.inet_num} back")
def inet_put_port(sk: TcpSock) -> None:
    """Take the socket off its port's buckets; a bucket with no owner left is freed (``inet_bind2_bucket_destroy``,
    ``inet_bind_bucket_destroy``) — unless a TIME_WAIT sock holds the port now."""
    tb, tb2 = sk.icsk_bind_hash, sk.icsk_bind2_hash
    sk.icsk_bind_hash = sk.icsk_bind2_hash = None
    leave_buckets(sk.net, sk, tb, tb2)


@check.arguments
def leave_buckets(net: Net, owner: Any, tb: BindBucket, tb2: Bind2Bucket | None) -> None:
    """``owner`` (a sock, or a TIME_WAIT sock) leaves its port's buckets; each bucket left with no owner is freed
    (``inet_bind2_bucket_destroy``, ``inet_bind_bucket_destroy``): what ``inet_put_port`` and
    ``inet_twsk_bind_unhash`` both do."""
    tb.owners.remove(owner)
    if tb2 is not None:
        tb2.owners.remove(owner)
        inet_bind2_bucket_destroy(net, tb, tb2)
    inet_bind_bucket_destroy(net, tb)


@kernel_function("net/ipv4/inet_hashtables.c", "{child.name} shares {sk.name}'s port")
def __inet_inherit_port(sk: TcpSock, child: TcpSock) -> None:
    """The child of a listener joins the listener's port bucket; 6.1+ also its (address, port) bucket, or — when
    the listener is bound to another address (INADDR_ANY) — the bucket of the child's own address, created if
    need be."""
    tb, tb2 = sk.icsk_bind_hash, sk.icsk_bind2_hash
    if tb is None:
        raise ValueError(f"{sk.name} has no port: bind it (inet_bind) before it listens")
    if tb2 is not None and tb2.rcv_saddr != child.inet_rcv_saddr:
        tb2 = inet_bind2_bucket_of(sk.net, tb, child)
    inet_bind_hash(child, tb, tb2, tb.port)


@check.arguments
def inet_bind(net: Net, sk: TcpSock, addr: str, port: Port) -> int:
    """bind(addr, port) for a server: a bucket with fastreuse >= 0, which connect() never shares."""
    if not isinstance(port, int) or not 0 < port < 65536:
        raise ValueError("port must be an int in 1..65535")
    sk.inet_rcv_saddr = addr
    err = inet_csk_get_port(net, sk, port)
    if err:
        sk.inet_rcv_saddr = "0.0.0.0"         # __inet_bind undoes the address
    return err


@kernel_function("net/ipv4/inet_connection_sock.c", "bind {sk.name} to port {port}")
def inet_csk_get_port(net: Net, sk: TcpSock, port: Port) -> int:
    """Take ``port`` for the socket: 0, or -EADDRINUSE (-98) if a socket has it already (no SO_REUSEADDR here);
    a new bucket (and 6.1+ an (address, port) bucket) for it."""
    if port in net.tcp_bhash:
        return -98
    tb = inet_bind_bucket_create(net, sk, port, 0)
    inet_bind_hash(sk, tb, inet_bind2_bucket_of(net, tb, sk), port)
    return 0
