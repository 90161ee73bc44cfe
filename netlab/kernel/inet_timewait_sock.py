"""TIME_WAIT socks: the small socket that stands in for a closed connection, and the timer that ends it.

Models net/ipv4/inet_timewait_sock.c and include/net/inet_timewait_sock.h (Linux 6.12; the profile's
``twsk_timer`` selects 3.10's death row). When the full ``tcp_sock`` of an actively closed connection goes
(``tcp_time_wait`` in :mod:`netlab.kernel.tcp_minisocks`), an ``inet_timewait_sock`` (slab ``tw_sock_TCP``, 248
bytes instead of ~2.3 KiB) keeps what a late segment needs: the 4-tuple, ``rcv_nxt`` and ``snd_nxt``.

``inet_twsk_hashdance_schedule`` puts it in the socket's place in the established hash (so ``__inet_lookup_skb``
finds it and hands a late segment to ``tcp_timewait_state_process``) and on the port's bind bucket (the port stays
in use), then arms its ``tw_timer``; ``tw_timer_handler`` → ``inet_twsk_kill`` unhashes it and frees it, and the
port with it if it was the last owner.

3.10 (``twsk_timer = "inet_twdr_hangman"``): ``__inet_twsk_hashdance`` does the hashing and ``inet_twsk_schedule``
files the sock in one of the 8 slots of ``tcp_death_row``, whose one timer runs every TCP_TIMEWAIT_LEN / 8 = 7.5 s
(``inet_twdr_hangman``) and kills the socks of one slot (``__inet_twsk_kill``): a sock filed for 60 s dies at the
slot's turn, 52.5–60 s later. Modelled: the slot arithmetic for timeouts of at least TCP_TIMEWAIT_LEN (the only
ones a default TCP makes), not the fast "recycle" wheel of tcp_tw_recycle.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from netlab import check
from netlab.check import Port
from netlab.kernel.inet_connection_sock import SEC, Bind2Bucket, BindBucket, TcpSock, leave_buckets
from netlab.kernel.netns import Net
from netlab.kernel.slub import slab_alloc, slab_free
from netlab.kernel.timer import TimerList
from netlab.trace import kernel_function, trace_printk

INET_TWDR_TWKILL_SLOTS = 8      # 3.10 include/net/inet_timewait_sock.h
TCP_MAX_TW_BUCKETS = 262144
"""net.ipv4.tcp_max_tw_buckets: half the established hash's size at boot (``tcp_init``, 6.12 ``tcp_set_hashinfo``);
262144 with a 524288-bucket ehash."""


@check.arguments
def tcp_timewait_len(net: Net) -> int:
    """TCP_TIMEWAIT_LEN (include/net/tcp.h: 60*HZ) in ns."""
    return net.profile.tcp_timewait_s * SEC


@dataclass(eq=False)
class InetTimewaitSock:
    """``struct inet_timewait_sock`` with its ``tcp_timewait_sock`` part: a closed connection's 4-tuple and
    sequence numbers. ``sk_state`` is ``tw_state`` (the shared ``sock_common``): always TCP_TIME_WAIT, while
    ``tw_substate`` says FIN_WAIT2 (our FIN is acknowledged, the peer's is still due) or TIME_WAIT."""

    name: str
    net: Net
    tw_rcv_saddr: str
    tw_num: Port
    tw_daddr: str
    tw_dport: Port
    tw_substate: str = "TCP_TIME_WAIT"
    tw_rcv_nxt: int = 0
    tw_snd_nxt: int = 0
    tw_tb: BindBucket | None = None
    tw_tb2: Bind2Bucket | None = None         # 6.1+
    tw_timer: TimerList | None = None
    tw_last_oow_ack_ns: int | None = None     # tw_last_oow_ack_time: rate limit of out-of-window ACKs
    tw_ts_recent_stamp: int | None = None     # second of the peer's last timestamp (None: no timestamps)
    sk_state: str = "TCP_TIME_WAIT"
    slab_objects: list = field(default_factory=list, repr=False)

    def __post_init__(self):
        check.fields(self)
        check.choice("tw_substate", self.tw_substate, ("TCP_FIN_WAIT2", "TCP_TIME_WAIT"))

    def four_tuple(self) -> tuple:
        return (self.tw_rcv_saddr, self.tw_num, self.tw_daddr, self.tw_dport)


@dataclass(eq=False)
class InetTimewaitDeathRow:
    """``struct inet_timewait_death_row`` (``tcp_death_row``; per namespace since 4.x): the cap on TIME_WAIT socks
    (``sysctl_max_tw_buckets``) and how many there are — 6.12 counts them in ``tw_refcount`` (the kernel's is one
    higher), 3.10 in ``tw_count``, the socks filed in its 8 slots (``cells``), which the one timer kills slot by
    slot (``slot``: the next to go)."""

    net: Net
    sysctl_max_tw_buckets: int = TCP_MAX_TW_BUCKETS
    tw_refcount: int = 0
    slot: int = 0
    cells: list = field(default_factory=lambda: [[] for _ in range(INET_TWDR_TWKILL_SLOTS)])
    tw_count: int = 0
    tw_timer: TimerList | None = None

    def __post_init__(self):
        check.fields(self)
        check.count("sysctl_max_tw_buckets", self.sysctl_max_tw_buckets, 0)
        if self.net.profile.twsk_timer == "inet_twdr_hangman" and self.tw_timer is None:
            self.tw_timer = TimerList(lambda t: _inet_twdr_hangman(t.data), name="tcp_death_row", data=self,
                                      host=self.net.host)

    @property
    def period(self) -> int:
        return tcp_timewait_len(self.net) // INET_TWDR_TWKILL_SLOTS


@kernel_function("net/ipv4/inet_timewait_sock.c",
                 lambda sk, state: f"a TIME_WAIT sock (tw_sock_{sk.sk_prot.name}) for {sk.name}, substate {state}")
def inet_twsk_alloc(sk: TcpSock, state: str) -> InetTimewaitSock | None:
    """``kmem_cache_alloc`` of the protocol's timewait sock (TCP: struct tcp_timewait_sock from tw_sock_TCP), with
    the connection's identity (the 4-tuple) and ``tw_substate``. 6.12 refuses (None) while tcp_max_tw_buckets
    socks exist; 3.10's caller, ``tcp_time_wait``, checks that itself."""
    twdr = _death_row(sk.net)
    if sk.net.profile.twsk_timer == "tw_timer":
        if twdr.tw_refcount >= twdr.sysctl_max_tw_buckets:
            return None
        twdr.tw_refcount += 1
    obj = slab_alloc(f"tw_sock_{sk.sk_prot.name}", f"{sk.name}: struct tcp_timewait_sock")
    tw = InetTimewaitSock(name=sk.name, net=sk.net, tw_rcv_saddr=sk.inet_rcv_saddr, tw_num=sk.inet_num,
                          tw_daddr=sk.inet_daddr, tw_dport=sk.inet_dport, tw_substate=state)
    if obj is not None:
        tw.slab_objects.append(obj)
    return tw


@check.arguments
def tw_buckets_full(net: Net) -> bool:
    """3.10 ``tcp_time_wait``: are tcp_max_tw_buckets TIME_WAIT socks in the death row already?"""
    twdr = _death_row(net)
    return twdr.tw_count >= twdr.sysctl_max_tw_buckets


def _hashdance_text(tw: InetTimewaitSock, sk: TcpSock, timeo: int) -> str:
    if tw.net.profile.twsk_timer == "inet_twdr_hangman":
        return (f"3.10 __inet_twsk_hashdance: {tw.name}'s TIME_WAIT sock takes its place in ehash and on port "
                f"{tw.tw_num}; inet_twsk_schedule files it in the death row for {timeo / SEC:g} s")
    return (f"{tw.name}'s TIME_WAIT sock takes its place in ehash and on port {tw.tw_num}; "
            f"tw_timer in {timeo / SEC:g} s")


@kernel_function("net/ipv4/inet_timewait_sock.c", _hashdance_text)
def inet_twsk_hashdance_schedule(tw: InetTimewaitSock, sk: TcpSock, timeo: int) -> None:
    """Add the tw sock to the port's bind bucket, replace the socket by it in the established hash, arm its timer.
    From here on a segment for the 4-tuple finds the tw sock."""
    net = tw.net
    tw.tw_tb, tw.tw_tb2 = sk.icsk_bind_hash, sk.icsk_bind2_hash
    if tw.tw_tb is not None:
        tw.tw_tb.owners.append(tw)                              # sk_add_bind_node
    if tw.tw_tb2 is not None:
        tw.tw_tb2.owners.append(tw)
    if net.tcp_ehash.get(sk.four_tuple()) is sk:                # hlist_nulls_replace_init_rcu
        net.tcp_ehash[sk.four_tuple()] = tw
    _schedule(tw, timeo)


def _schedule(tw: InetTimewaitSock, timeo: int) -> None:
    """Arm (or re-arm) what will kill ``tw`` ``timeo`` ns from now: its tw_timer (6.12 ``__inet_twsk_schedule``),
    or a slot of the death row (3.10 ``inet_twsk_schedule``)."""
    net = tw.net
    if net.profile.twsk_timer == "tw_timer":
        if tw.tw_timer is None:
            tw.tw_timer = TimerList(lambda t: tw_timer_handler(t.data), name=f"tw_timer {tw.name}", data=tw,
                                    host=net.host)
        net.sched.mod_timer(tw.tw_timer, net.sched.clock + timeo)
        return
    twdr = _death_row(net)
    for cell in twdr.cells:                                     # inet_twsk_del_dead_node
        if tw in cell:
            cell.remove(tw)
            twdr.tw_count -= 1
    slot = INET_TWDR_TWKILL_SLOTS - 1 if timeo >= tcp_timewait_len(net) else \
        min(-(-timeo // twdr.period), INET_TWDR_TWKILL_SLOTS - 1)
    twdr.cells[(twdr.slot + slot) % INET_TWDR_TWKILL_SLOTS].append(tw)
    twdr.tw_count += 1
    if twdr.tw_count == 1:
        net.sched.mod_timer(twdr.tw_timer, net.sched.clock + twdr.period)


def _death_row(net: Net) -> InetTimewaitDeathRow:
    """The namespace's ``tcp_death_row`` (global in 3.10), made when first used."""
    if net.tcp_death_row is None:
        net.tcp_death_row = InetTimewaitDeathRow(net)
    return net.tcp_death_row


def _inet_twdr_hangman(twdr: InetTimewaitDeathRow) -> None:
    """3.10's death-row tick (``inet_twdr_hangman`` → ``inet_twdr_do_twkill_work``): kill this slot's socks, move
    on to the next slot, re-arm while socks remain."""
    cell, twdr.cells[twdr.slot] = twdr.cells[twdr.slot], []
    for tw in cell:
        twdr.tw_count -= 1
        inet_twsk_kill(tw)
        inet_twsk_put(tw)
    twdr.slot = (twdr.slot + 1) % INET_TWDR_TWKILL_SLOTS
    if twdr.tw_count:
        twdr.net.sched.mod_timer(twdr.tw_timer, twdr.net.sched.clock + twdr.period)


@check.arguments
def inet_twsk_reschedule(tw: InetTimewaitSock, timeo: int) -> None:
    """include/net/inet_timewait_sock.h: restart the TIME_WAIT clock (``__inet_twsk_schedule(tw, timeo, true)``;
    3.10 ``inet_twsk_schedule``)."""
    trace_printk(f"{tw.name}: the TIME_WAIT clock restarts: {timeo / SEC:g} s")
    _schedule(tw, timeo)


@kernel_function("net/ipv4/inet_timewait_sock.c", "{tw.name}'s TIME_WAIT is over")
def tw_timer_handler(tw: InetTimewaitSock) -> None:
    """The tw sock's own timer fired (TIMER_SOFTIRQ): kill it."""
    inet_twsk_kill(tw)


@kernel_function("net/ipv4/inet_timewait_sock.c",
                 lambda tw: f"unhash {tw.name}'s TIME_WAIT sock and free it"
                            + (" (3.10: __inet_twsk_kill, from the death row)"
                               if tw.net.profile.twsk_timer == "inet_twdr_hangman" else ""))
def inet_twsk_kill(tw: InetTimewaitSock) -> None:
    """Take the tw sock out of the established hash and off its port (``inet_twsk_bind_unhash``), then drop the
    last reference: 6.12 ``inet_twsk_put`` here, 3.10 in the caller (the death row, ``inet_twsk_deschedule``)."""
    net = tw.net
    if net.tcp_ehash.get(tw.four_tuple()) is tw:
        del net.tcp_ehash[tw.four_tuple()]
    inet_twsk_bind_unhash(tw)
    if net.profile.twsk_timer == "tw_timer":
        _death_row(net).tw_refcount -= 1
        inet_twsk_put(tw)


@kernel_function("net/ipv4/inet_timewait_sock.c", "{tw.name}'s TIME_WAIT sock lets go of port {tw.tw_num}")
def inet_twsk_bind_unhash(tw: InetTimewaitSock) -> None:
    """Off the port's buckets; a bucket with no owner left is freed (``inet_bind2_bucket_destroy``,
    ``inet_bind_bucket_destroy``)."""
    tb, tb2 = tw.tw_tb, tw.tw_tb2
    if tb is None:
        return
    tw.tw_tb = tw.tw_tb2 = None
    leave_buckets(tw.net, tw, tb, tb2)


@kernel_function("net/ipv4/inet_timewait_sock.c", "the last reference to {tw.name}'s TIME_WAIT sock: free it")
def inet_twsk_put(tw: InetTimewaitSock) -> None:
    """``tw_refcnt``'s last reference (the model drops only that one): ``inet_twsk_free``."""
    inet_twsk_free(tw)


@kernel_function("net/ipv4/inet_timewait_sock.c", "{tw.name}'s TIME_WAIT sock goes back to its cache")
def inet_twsk_free(tw: InetTimewaitSock) -> None:
    """``kmem_cache_free(tw->tw_prot->twsk_prot->twsk_slab, tw)``."""
    slab_free(tw.slab_objects)


@kernel_function("net/ipv4/inet_timewait_sock.c", "{tw.name}: TIME_WAIT ends early")
def inet_twsk_deschedule_put(tw: InetTimewaitSock) -> None:
    """Stop the timer and kill the tw sock now (a RST in TIME_WAIT with tcp_rfc1337 = 0, or a new SYN reusing
    the 4-tuple)."""
    net = tw.net
    if net.profile.twsk_timer == "tw_timer":
        if tw.tw_timer is not None:
            net.sched.del_timer(tw.tw_timer)
        inet_twsk_kill(tw)
        return
    twdr = _death_row(net)
    for cell in twdr.cells:
        if tw in cell:
            cell.remove(tw)
            twdr.tw_count -= 1
    inet_twsk_kill(tw)
    inet_twsk_put(tw)
