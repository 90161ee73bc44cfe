"""Kernel profiles: the defaults and behaviours that differ between the book's kernel and a current one.

``PROFILES["3.10"]`` is the kernel of 《深入理解Linux网络》 (CentOS 7), ``PROFILES["6.12"]`` a current long-term
kernel; :func:`netlab.live.profile.this_machine` starts from 6.12 and replaces every value the running kernel
exposes. Every model takes a profile, so no kernel version is hard-coded anywhere else.

Sources (6.12): net/core/hotdata.c (budgets, backlog), include/linux/netdevice.h (NAPI_POLL_WEIGHT),
kernel/softirq.c (MAX_SOFTIRQ_*), include/linux/socket.h (SOMAXCONN), net/ipv4/tcp_ipv4.c (tcp_sk_init),
net/ipv4/af_inet.c (inet_init_net: ip_local_port_range), drivers/net/loopback.c (lo MTU), fs/file_table.c
(sysctl_nr_open), include/uapi/linux/fs.h (INR_OPEN_*), drivers/net/ethernet/intel/igb/igb.h (IGB_DEFAULT_RXD),
net/ipv4/tcp_input.c (tcp_conn_request: accept queue full → drop the SYN), net/ipv4/inet_hashtables.c
(__inet_hash_connect: even ports first), net/ipv4/fib_frontend.c (fib_new_table: the local table is an alias of
main's trie). 3.10: tcp_v4_conn_request drops that SYN only if
inet_csk_reqsk_queue_young(sk) > 1, and __inet_hash_connect walks ``low + (i + offset) % remaining`` (3.10
net/ipv4/tcp_ipv4.c and net/ipv4/inet_hashtables.c). Send (chapter 03): drivers/net/ethernet/intel/igb/igb.h
(IGB_DEFAULT_TXD), net/core/sock.c (sk_setup_caps), net/ipv4/tcp.c (tcp_xmit_size_goal, tcp_sendmsg_locked),
fs/splice.c (splice_to_socket).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Annotated, Mapping

from netlab import check
from netlab.kernel.renamed import IN_3_10, IN_6_12, KernelName


INT_MAX = 2 ** 31 - 1
U8 = Annotated[int, check.Range(0, 255)]
"""A sysctl the kernel stores in a u8 (``proc_dou8vec_minmax``)."""
TCP_MIN_RCVBUF = 4096          # net/ipv4/sysctl_net_ipv4.c: the least tcp_rmem value
MAX_TCP_SYNCNT = 127           # include/net/tcp.h
CHOICES = {
    "udp_rcvbuf_drop": ("rmem >= rcvbuf", "rmem > rcvbuf"),
    "sk_sleep_wake": ("autoremove_wake_function", "woken_wake_function"),
    "sendfile_via": ("sendpage", "MSG_SPLICE_PAGES"),
    "syn_queue": ("listen_sock", "ehash"),
    "acceptq_full_syn_drop": ("young>1", "always"),
    "slub_slab_order": ("slab_order", "calc_slab_order"),
    "twsk_timer": ("inet_twdr_hangman", "tw_timer"),
    "tw_reuse_age": ("more than 1 s", "a later second"),
    "ep_send_events_scan": ("ep_scan_ready_list", "ep_start_scan"),
    "ep_poll_wake": ("default_wake_function", "ep_autoremove_wake_function"),
    "softirq_loop": ("__do_softirq", "handle_softirqs"),
    "cwnd_limited": ("in_flight", "cwnd_validate"),
}
"""The profile fields that name one of a few kernel behaviours."""


def _int_tuple(name: str, value, shape: str, minimum: int, maximum: int) -> tuple[int, ...]:
    """A tuple of whole numbers in ``[minimum, maximum]`` shaped like ``shape``, e.g. ``"(low, high)"``."""
    if not isinstance(value, tuple) or len(value) != shape.count(",") + 1:
        raise TypeError(f"{name} must be a tuple {shape}, got {value!r}")
    return tuple(check.count(name, v, minimum, maximum) for v in value)


@dataclass(frozen=True)
class SlabCache:
    """One slab cache as ``/proc/slabinfo`` describes it: object size, objects per slab, pages per slab."""

    name: str
    object_size: int
    objs_per_slab: int
    pages_per_slab: int

    def __post_init__(self):
        check.fields(self)
        for f in ("object_size", "objs_per_slab", "pages_per_slab"):
            if not isinstance(getattr(self, f), int) or getattr(self, f) < 1:
                raise ValueError(f"{f} must be a positive int")

    @check.arguments
    def bytes_per_object(self, page_size: int = 4096) -> float:
        """Memory one object really costs, slab overhead included."""
        return self.pages_per_slab * page_size / self.objs_per_slab


@dataclass(frozen=True)
class KernelProfile:
    """Kernel defaults a model needs. ``live`` names the fields read from the running kernel."""

    name: str
    version: str                    # for source links, "3.10" or "6.12"
    hz: int
    # receive (chapter 01)
    netdev_budget: int
    netdev_budget_usecs: int        # 3.10 has no sysctl: net_rx_action stops after 2 jiffies
    dev_weight: int                 # NAPI_POLL_WEIGHT / dev_weight
    netdev_max_backlog: int
    gro_normal_batch: int | None    # None: no listified GRO delivery (before 5.4)
    # GRO's held skbs (net/core/gro.c): gro_hash_buckets lists chosen by the skb's hash (6.12: GRO_HASH_BUCKETS, 8;
    # 3.10: one napi->gro_list), MAX_GRO_SKBS (8) in each. A new skb that finds its list full: gro_flush_oldest
    # passes the oldest on and holds it (4.19+) — or, False (3.10 dev_gro_receive), it is GRO_NORMAL.
    gro_hash_buckets: int
    gro_flush_oldest: bool
    # skb_gro_receive with MAX_SKB_FRAGS fragments already: True (4.x+) chains the segment on the frag_list (the
    # merge goes on to 64 KB); False (3.10) refuses it (-E2BIG), so at most 1 + MAX_SKB_FRAGS segments merge.
    gro_frag_list: bool
    # True (5.12+): NAPI keeps a per-CPU cache of sk_buff structs (net/core/skbuff.c napi_alloc_cache): igb builds
    # its receive skbs with napi_build_skb from it, napi_consume_skb (TX completion) and skb_attempt_defer_free
    # (tcp_recvmsg) give theirs back to it. False (3.10): igb's netdev_alloc_skb_ip_align → build_skb takes each
    # from skbuff_head_cache, and every free goes straight back there.
    napi_skb_cache: bool
    # True (6.12): __netif_receive_skb_core hands the protocol handler it found back (*ppt_prev) and its caller
    # calls it, for one skb (__netif_receive_skb_one_core) or a list. False (3.10): __netif_receive_skb_core calls
    # pt_prev->func (ip_rcv) itself (net/core/dev.c).
    receive_core_returns_handler: bool
    rx_ring_size: int               # igb default descriptors per RX ring
    softnet_stat_columns: int
    max_softirq_time_us: int
    max_softirq_restart: int
    # net_rx_action's loop. True (4.0+): a NAPI that used its whole weight waits on a private repoll list for the
    # next run and the budget is checked after each poll. False (3.10): it goes back to the tail of poll_list,
    # can be polled again in the same run, and the budget is checked before each poll (net/core/dev.c).
    napi_repoll_list: bool
    # When UDP drops for a full receive buffer: "rmem >= rcvbuf" (3.10 sock_queue_rcv_skb) or "rmem > rcvbuf"
    # (6.12 __udp_enqueue_schedule_skb: a packet is accepted while rmem <= rcvbuf, even if it overshoots).
    udp_rcvbuf_drop: str
    # send (chapter 03) and loopback (chapter 04)
    dev_tx_weight: int
    eth_mtu: int
    lo_mtu: int
    tx_ring_size: int               # igb default descriptors per TX ring (IGB_DEFAULT_TXD)
    # True (6.12): sk_setup_caps() adds NETIF_F_GSO for every TCP socket, so TCP builds multi-MSS skbs even on a
    # device with "gso off" and software GSO cuts them at the device. False (3.10): tcp_xmit_size_goal() checks
    # sk_can_gso(), so with the device's GSO off TCP builds one-MSS skbs.
    tcp_gso_always: bool
    # How sendfile() hands page-cache pages to TCP: "sendpage" (3.10: splice → pipe_to_sendpage → sock_sendpage →
    # tcp_sendpage → do_tcp_sendpages) or "MSG_SPLICE_PAGES" (6.5+: splice_to_socket → tcp_sendmsg_locked).
    sendfile_via: str
    msg_zerocopy: bool              # send(MSG_ZEROCOPY) exists (4.14+)
    epoll_exclusive: bool           # epoll_ctl knows EPOLLEXCLUSIVE (4.5+); 3.10 keeps the bit and ignores it
    fib_local_main_merged: bool     # without custom rules the local table shares main's trie (4.1+, fib_new_table);
                                    # False: 3.10 looks up local, then main, by fib rules 0 and 32766
    # handshake (chapter 05)
    somaxconn: Annotated[int, check.Range(0, INT_MAX)]
    tcp_max_syn_backlog: int        # boot default for DEFAULTS_RAM (limits.tcp_max_syn_backlog_for_memory)
    syn_backlog_per_ehash: int      # that default is one per this many "TCP established" hash buckets, at least 128
    tcp_syncookies: U8
    tcp_abort_on_overflow: U8
    tcp_syn_retries: Annotated[int, check.Range(1, MAX_TCP_SYNCNT)]
    tcp_synack_retries: U8
    # SYN retries at a fixed 1 s before backing off (6.5+); 0 where absent
    tcp_syn_linear_timeouts: Annotated[int, check.Range(0, MAX_TCP_SYNCNT)]
    syn_queue: str                  # "listen_sock": 3.10's sized hash table; "ehash": requests in the ehash
    tcp_timeout_init_ms: int
    acceptq_full_syn_drop: str      # a SYN to a full accept queue is dropped "always" (6.12), or only when more
                                    # than one young request waits, "young>1" (3.10 tcp_v4_conn_request)
    # connections (chapters 06 and 07)
    ip_local_port_range: tuple[int, int]
    connect_port_parity: bool       # connect() tries ports of the range start's parity first, bind(0) the other
                                    # (since 4.6); False: 3.10 walks the range from a hashed offset
    tcp_timewait_s: int
    # connect() may take over a TIME_WAIT sock of the same 4-tuple (tcp_twsk_unique): 0 never, 1 always, 2 (4.x+)
    # only where one end is a loopback address
    tcp_tw_reuse: Annotated[int, check.Range(0, 2)]
    # ... once the sock's last timestamp (tw_ts_recent_stamp, in whole seconds) is "more than 1 s" old (3.10:
    # get_seconds() - stamp > 1), or from "a later second" on (6.12: time_after32(ktime_get_seconds(), stamp)), where
    # a sock still in substate FIN_WAIT2 is never taken and tcp_tw_reuse 2 means loopback only
    tw_reuse_age: str
    # keepalive (include/net/tcp.h TCP_KEEPALIVE_*): an idle SO_KEEPALIVE socket probes after tcp_keepalive_time s
    # without receiving, then every tcp_keepalive_intvl s, and resets after tcp_keepalive_probes unanswered ones
    tcp_keepalive_time: Annotated[int, check.Range(1, INT_MAX)]
    tcp_keepalive_intvl: Annotated[int, check.Range(1, INT_MAX)]
    tcp_keepalive_probes: U8
    # What ends a TIME_WAIT sock. "inet_twdr_hangman" (3.10 net/ipv4/inet_timewait_sock.c): tcp_time_wait calls
    # __inet_twsk_hashdance, then inet_twsk_schedule files the sock in one of the death row's 8 slots, whose one
    # timer (every TCP_TIMEWAIT_LEN / 8 = 7.5 s) kills a slot at a time. "tw_timer" (since 4.3): each sock has its
    # own tw_timer, armed by inet_twsk_hashdance_schedule (6.12), and tw_timer_handler kills it.
    twsk_timer: str
    nr_open: int
    nofile_soft: int
    nofile_hard: int
    rmem_default: int
    wmem_default: int
    tcp_rmem: tuple[int, int, int]
    tcp_wmem: tuple[int, int, int]
    page_size: int
    thread_size: int                # kernel stack of every task/thread (THREAD_SIZE, x86_64), resident
    # task_struct slab object of every task/thread without its FPU register state (that is sched.XSTATE_SIZE, the
    # same CPU-sized area in both kernels: 3.10 allocates it from task_xstate, 6.12 puts it at the object's end)
    task_struct_size: int
    sk_sleep_wake: str              # the wake function a task sleeping on a socket waits with (recv, connect)
    # How epoll_wait's ep_send_events scans the ready list (fs/eventpoll.c). "ep_scan_ready_list" (3.10): it hands
    # its loop (ep_send_events_proc) to ep_scan_ready_list, which takes ep->mtx, splices rdllist off, calls the
    # loop, then appends the ovflist items to rdllist. "ep_start_scan" (6.12): ep_send_events takes ep->mtx, calls
    # ep_start_scan, delivers each item (ep_deliver_event), then ep_done_scan puts the ovflist items at the head.
    ep_send_events_scan: str
    # How epoll_wait sleeps on ep->wq (fs/eventpoll.c ep_poll). "default_wake_function" (3.10,
    # init_waitqueue_entry): the entry stays queued after a wake-up until ep_poll takes it off, and ep_poll checks for
    # events again before it sleeps again. "ep_autoremove_wake_function" (6.12, init_wait): the wake-up takes the
    # entry off ep->wq at once, so the next wake-up goes to another waiter.
    ep_poll_wake: str
    # The function that runs the pending softirqs' loop (kernel/softirq.c). "__do_softirq" (3.10): irq_exit's path
    # and run_ksoftirqd both call it. "handle_softirqs" (6.10+): __do_softirq and run_ksoftirqd both call it.
    softirq_loop: str
    # When an ACK may grow cwnd: only while the sender is cwnd-limited (RFC 2861; cubic's cong_avoid returns
    # otherwise). "in_flight" (3.10 net/ipv4/tcp_cong.c tcp_is_cwnd_limited): the packets in flight before the ACK
    # fill cwnd, or leave at most 3 MSS (or too little for a TSO frame) free. "cwnd_validate" (6.12
    # include/net/tcp.h): the last window filled cwnd (tcp_cwnd_validate), or, in slow start, cwnd is under twice
    # the most packets it had in flight.
    cwnd_limited: str
    # How mm/slub.c calculate_order backs off when no slab order up to slub_max_order holds min_objects objects
    # with at most 1/16 waste. "slab_order" (3.10): accept 1/8, then 1/4 waste, then ask for one object fewer and
    # try again. "calc_slab_order" (6.12): keep min_objects and accept 1/8, 1/4, 1/2 waste (min_order from
    # get_order(min_objects * size)).
    slub_slab_order: str
    slab: Mapping[str, SlabCache]
    slab_aliases: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    # cache -> the cache SLUB merged it into (its objects are counted in that /proc/slabinfo row)
    renamed: Mapping[str, KernelName] = field(default_factory=lambda: MappingProxyType({}))
    # a modelled function -> this kernel's (name, source file[, step text]), or None where this kernel has no such
    # function (its caller does the work): the Tracer records each call as this kernel names and explains it
    live: frozenset[str] = field(default=frozenset())

    def __post_init__(self):
        check.fields(self)
        for name, options in CHOICES.items():
            check.choice(name, getattr(self, name), options)
        if self.gro_hash_buckets not in (1, 2, 4, 8):
            raise ValueError(f"gro_hash_buckets must be 1 (3.10's one gro_list) or a power of two up to "
                             f"GRO_HASH_BUCKETS = 8, got {self.gro_hash_buckets!r}")
        lo, hi = _int_tuple("ip_local_port_range", self.ip_local_port_range, "(low, high)", 1, 65535)
        if lo > hi:
            raise ValueError(f"ip_local_port_range must be (low, high) with low ≤ high (ipv4_local_port_range), "
                             f"got {self.ip_local_port_range!r}")
        _int_tuple("tcp_rmem", self.tcp_rmem, "(min, default, max)", TCP_MIN_RCVBUF, INT_MAX)
        _int_tuple("tcp_wmem", self.tcp_wmem, "(min, default, max)", 1, INT_MAX)
        for name, cache in self.slab.items():
            check.text("slab", name)
            check.instance(f"slab[{name!r}]", cache, SlabCache)
        unknown = set(self.live) - {f.name for f in dataclasses.fields(self)}
        if unknown:
            raise ValueError(f"live must name fields of the profile, got {sorted(unknown)}")
        strays = {k: v for k, v in self.slab_aliases.items() if k not in self.slab or v not in self.slab}
        if strays:
            raise ValueError(f"slab_aliases must map one slab cache of the profile to another, got {strays}")

    @property
    def local_ports(self) -> int:
        """How many ephemeral ports a client has per (source IP, destination IP, destination port)."""
        lo, hi = self.ip_local_port_range
        return hi - lo + 1

    def replace(self, **changes) -> "KernelProfile":
        """A copy with some values changed, e.g. ``profile.replace(somaxconn=128)`` for a what-if."""
        unknown = set(changes) - {f.name for f in dataclasses.fields(self)}
        if unknown:
            raise ValueError(f"unknown profile fields: {sorted(unknown)}")
        return dataclasses.replace(self, **changes)

    @check.arguments
    def differences(self, other: "KernelProfile") -> dict[str, tuple[object, object]]:
        """Field -> (this value, other value) for every default the two kernels do not share."""
        skip = {"name", "version", "live", "slab", "slab_aliases", "renamed"}
        return {f.name: (getattr(self, f.name), getattr(other, f.name)) for f in dataclasses.fields(self)
                if f.name not in skip and getattr(self, f.name) != getattr(other, f.name)}


DEFAULTS_RAM = 8 * 2 ** 30
"""The RAM of the machine the profiles' memory-scaled boot defaults are computed for (tcp_max_syn_backlog)."""
SIZEOF_TASK_STRUCT_6_12 = 9792
"""sizeof(struct task_struct) in 6.12.118 x86_64 with Debian's config.amd64_none_amd64, as tools/kernel_sizes.py
compiles it (with its 4 KiB static FPU register area)."""


def _slabs(*caches: SlabCache) -> Mapping[str, SlabCache]:
    return MappingProxyType({c.name: c for c in caches})


LINUX_3_10 = KernelProfile(
    name="3.10", version="3.10", hz=1000,
    netdev_budget=300, netdev_budget_usecs=2000, dev_weight=64, netdev_max_backlog=1000, gro_normal_batch=None,
    gro_hash_buckets=1, gro_flush_oldest=False, gro_frag_list=False,
    napi_skb_cache=False,
    receive_core_returns_handler=False,
    rx_ring_size=256, softnet_stat_columns=10, max_softirq_time_us=2000, max_softirq_restart=10,
    napi_repoll_list=False, udp_rcvbuf_drop="rmem >= rcvbuf",
    dev_tx_weight=64, eth_mtu=1500, lo_mtu=65536, tx_ring_size=256, tcp_gso_always=False, sendfile_via="sendpage",
    msg_zerocopy=False, epoll_exclusive=False, fib_local_main_merged=False,
    somaxconn=128, tcp_max_syn_backlog=256, syn_backlog_per_ehash=256,
    tcp_syncookies=1, tcp_abort_on_overflow=0, tcp_syn_retries=6,
    tcp_synack_retries=5, tcp_syn_linear_timeouts=0, syn_queue="listen_sock", tcp_timeout_init_ms=1000,
    acceptq_full_syn_drop="young>1",
    ip_local_port_range=(32768, 61000), connect_port_parity=False,
    tcp_keepalive_time=7200, tcp_keepalive_intvl=75, tcp_keepalive_probes=9,
    tcp_timewait_s=60, tcp_tw_reuse=0, tw_reuse_age="more than 1 s", twsk_timer="inet_twdr_hangman",
    nr_open=1048576, nofile_soft=1024, nofile_hard=4096,
    rmem_default=212992, wmem_default=212992, tcp_rmem=(4096, 87380, 6291456), tcp_wmem=(4096, 16384, 4194304),
    page_size=4096,
    # CentOS 7 arch/x86/include/asm/page_64_types.h: THREAD_SIZE_ORDER 2 (16 KiB), RHEL 7's backport of 3.15's
    # 6538b8ea886e "x86_64: expand kernel stack to 16K"; vanilla 3.10 has order 1 (8 KiB). tools/kernel_sizes.py
    # --series 3.10 compiles it.
    thread_size=16384,
    # sizeof(struct task_struct) (kernel/fork.c fork_init: the task_struct cache, ARCH_MIN_TASKALIGN 16) in CentOS
    # 7.1's kernel-3.10.0-229.14.1.el7 with its configs/kernel-3.10.0-x86_64.config, as `tools/kernel_sizes.py
    # --series 3.10 --source <github spacex/kernel-centos7>` compiles it (and checks it, with the slab rows below).
    # The book's 3.10.0-957 keeps RHEL 7's kABI, which freezes task_struct's size (not compiled here).
    task_struct_size=2912,
    # 3.10 net/core/sock.c: DEFINE_WAIT + prepare_to_wait + schedule_timeout; wait_woken since d9dc8b0f8b4e (2016)
    sk_sleep_wake="autoremove_wake_function",
    ep_send_events_scan="ep_scan_ready_list",
    ep_poll_wake="default_wake_function",
    softirq_loop="__do_softirq",
    cwnd_limited="in_flight",
    slub_slab_order="slab_order",
    # Slab caches (objsize = the slot SLUB gives each object; objects and pages per slab). The book's CentOS 7
    # (3.10.0-957) slabtop, yanfeizhang/deep_linux_network_tests chapter-07/7.4/test-01/testdata.md: TCP 1.94K
    # 16/slab 32 KiB; sock_inode_cache 0.62K 25/slab 16 KiB on the server (12/slab 8 KiB on the client: SLUB's
    # calculate_order picks the order from nr_cpu_ids, see netlab.kernel.slub); dentry 0.19K 21; tw_sock_TCP
    # 0.25K 16; kmalloc-64 and kmalloc-256 grow by one object per socket. Caches without a row of their own were
    # merged by SLUB: filp (struct file ~216 B, HWCACHE-aligned) and skbuff_head_cache are counted in kmalloc-256
    # (a CLOSE_WAIT socket adds one kmalloc-256 object: its queued FIN); tcp_bind_bucket (48 B → 64) and the
    # kmalloc'd struct socket_wq (48 B, cacheline-aligned) in kmalloc-64 (the client grows by two per socket, the
    # server by one). request_sock_TCP: struct tcp_request_sock 224 B (SLAB_HWCACHE_ALIGN → 256); the book shows
    # no row for it (SLUB merged it into a 256-B cache), kept as a row of its own here because netlab.load.memory
    # cannot replay a SYN's object freed in the phase kmalloc-256 objects are allocated. Every row but TCP is also
    # the slot SLUB gives the struct CentOS 7's 3.10.0-229 compiles (tools/kernel_sizes.py --series 3.10 checks
    # them): file 216, socket_alloc 632, tcp_timewait_sock 192, inet_bind_bucket 48, socket_wq 64, sk_buff 248,
    # fs/eventpoll.c's epitem 128 and eppoll_entry 72; 229's tcp_sock is 1888 (slot 1920), the book's 957 has grown
    # it to 1.94K.
    slab=_slabs(SlabCache("TCP", 1984, 16, 8), SlabCache("sock_inode_cache", 640, 25, 4),
                SlabCache("socket_wq", 64, 64, 1), SlabCache("dentry", 192, 21, 1), SlabCache("filp", 256, 16, 1),
                SlabCache("tcp_bind_bucket", 64, 64, 1), SlabCache("tw_sock_TCP", 256, 16, 1),
                SlabCache("request_sock_TCP", 256, 16, 1), SlabCache("skbuff_head_cache", 256, 16, 1),
                SlabCache("eventpoll_epi", 128, 32, 1), SlabCache("eventpoll_pwq", 72, 56, 1),
                SlabCache("kmalloc-64", 64, 64, 1), SlabCache("kmalloc-256", 256, 16, 1),
                SlabCache("skbuff_fclone_cache", 512, 16, 2), SlabCache("kmalloc-512", 512, 16, 2),
                SlabCache("kmalloc-1024", 1024, 16, 4)),
    # A FIN sent over loopback is queued at the receiver as tcp_send_fin's own skb: alloc_skb_fclone, one
    # skbuff_fclone_cache object of 2 × sizeof(struct sk_buff) + 4 = 500 B (HWCACHE-aligned: 512, merged into
    # kmalloc-512), and its head kmalloc'd by __alloc_skb: SKB_DATA_ALIGN(MAX_TCP_HEADER) + the aligned
    # skb_shared_info, 320 + 320 B with CentOS 7's config (MAX_TCP_HEADER = 128 + 96 + 48 = 272) → kmalloc-1024.
    slab_aliases=MappingProxyType({"socket_wq": "kmalloc-64", "tcp_bind_bucket": "kmalloc-64",
                                   "filp": "kmalloc-256", "skbuff_head_cache": "kmalloc-256",
                                   "skbuff_fclone_cache": "kmalloc-512"}),
    renamed=IN_3_10,
)

LINUX_6_12 = KernelProfile(
    name="6.12", version="6.12", hz=250,
    netdev_budget=300, netdev_budget_usecs=8000, dev_weight=64, netdev_max_backlog=1000, gro_normal_batch=8,
    gro_hash_buckets=8, gro_flush_oldest=True, gro_frag_list=True,
    napi_skb_cache=True,
    receive_core_returns_handler=True,
    rx_ring_size=256, softnet_stat_columns=15, max_softirq_time_us=2000, max_softirq_restart=10,
    napi_repoll_list=True, udp_rcvbuf_drop="rmem > rcvbuf",
    dev_tx_weight=64, eth_mtu=1500, lo_mtu=65536, tx_ring_size=256, tcp_gso_always=True,
    sendfile_via="MSG_SPLICE_PAGES", msg_zerocopy=True, epoll_exclusive=True, fib_local_main_merged=True,
    somaxconn=4096, tcp_max_syn_backlog=512, syn_backlog_per_ehash=128,
    tcp_syncookies=1, tcp_abort_on_overflow=0, tcp_syn_retries=6,
    tcp_synack_retries=5, tcp_syn_linear_timeouts=4, syn_queue="ehash", tcp_timeout_init_ms=1000,
    acceptq_full_syn_drop="always",
    ip_local_port_range=(32768, 60999), connect_port_parity=True,
    tcp_keepalive_time=7200, tcp_keepalive_intvl=75, tcp_keepalive_probes=9,
    tcp_timewait_s=60, tcp_tw_reuse=2, tw_reuse_age="a later second", twsk_timer="tw_timer",
    nr_open=1048576, nofile_soft=1024, nofile_hard=4096,
    rmem_default=212992, wmem_default=212992, tcp_rmem=(4096, 131072, 6291456), tcp_wmem=(4096, 16384, 4194304),
    page_size=4096,
    thread_size=16384,  # arch/x86/include/asm/page_64_types.h: PAGE_SIZE << (2 + KASAN_STACK_ORDER), no KASAN
    # arch/x86/kernel/fpu/init.c fpu__init_task_struct_size: sizeof(struct task_struct) less the static
    # union fpregs_state (PAGE_SIZE) it ends with; the CPU's xstate is added back (sched.XSTATE_SIZE)
    task_struct_size=SIZEOF_TASK_STRUCT_6_12 - 4096,
    sk_sleep_wake="woken_wake_function",  # net/core/sock.c: DEFINE_WAIT_FUNC(wait, woken_wake_function)
    ep_send_events_scan="ep_start_scan",
    ep_poll_wake="ep_autoremove_wake_function",
    softirq_loop="handle_softirqs",
    cwnd_limited="cwnd_validate",
    slub_slab_order="calc_slab_order",
    # Slot sizes from sizeof() (netlab.kernel.slub.SIZEOF_6_12, compiled by tools/kernel_sizes.py against 6.12.118
    # with Debian's amd64 config) through mm/slub.c calculate_sizes: a cache with a constructor or
    # SLAB_TYPESAFE_BY_RCU keeps its free pointer after the object (+8), then
    # SLAB_HWCACHE_ALIGN rounds to 64: tcp_sock 2368 → 2432, socket_alloc 768 → 832, tcp_request_sock 304 → 312,
    # tcp_timewait_sock 248 → 256; struct file 184 → 192 (its free pointer lives inside, f_freeptr); dentry 192;
    # inet_bind_bucket and inet_bind2_bucket 72 → 128; epitem 120 → 128; eppoll_entry 64; epitems_head 24;
    # sk_buff 232 → 256; sk_buff_fclones 472 → 512; skbuff_small_head (SKB_SMALL_HEAD_CACHE_SIZE:
    # SKB_HEAD_ALIGN(max(MAX_TCP_HEADER 320, GRO_MAX_HEAD + NET_SKB_PAD 368)) = 384 + 320) 704. Objects and
    # pages per slab from calculate_order for 4 CPUs, like the 3.10 server (netlab.kernel.slub derives every row;
    # a 6.18 machine here shows the same rules). socket_wq is part of
    # struct socket since 5.x. tcp_bind_bucket and tcp_bind2_bucket have eventpoll_epi's size and flags, so SLUB
    # merges them into it (seen on 6.18). LSM blobs (lsm_inode_cache, lsm_file_cache) depend on the LSMs
    # enabled at boot: not listed here, read live on this machine.
    slab=_slabs(SlabCache("TCP", 2432, 13, 8), SlabCache("sock_inode_cache", 832, 19, 4),
                SlabCache("dentry", 192, 21, 1), SlabCache("filp", 192, 21, 1),
                SlabCache("tcp_bind_bucket", 128, 32, 1), SlabCache("tcp_bind2_bucket", 128, 32, 1),
                SlabCache("tw_sock_TCP", 256, 16, 1), SlabCache("request_sock_TCP", 312, 26, 2),
                SlabCache("skbuff_head_cache", 256, 16, 1), SlabCache("eventpoll_epi", 128, 32, 1),
                SlabCache("eventpoll_pwq", 64, 64, 1), SlabCache("ep_head", 24, 170, 1),
                SlabCache("skbuff_fclone_cache", 512, 16, 2), SlabCache("skbuff_small_head", 704, 23, 4)),
    slab_aliases=MappingProxyType({"tcp_bind_bucket": "eventpoll_epi", "tcp_bind2_bucket": "eventpoll_epi"}),
    renamed=IN_6_12,
)

PROFILES: Mapping[str, KernelProfile] = MappingProxyType({"3.10": LINUX_3_10, "6.12": LINUX_6_12})

SOURCES: Mapping[str, str] = MappingProxyType({
    "name": "(label)", "version": "(the release a profile links its source lines to)",
    "hz": "kernel/Kconfig.hz:HZ (the distribution's config: CentOS 7 1000, Debian 250)",
    "netdev_budget": "net/core/hotdata.c:net_hotdata / 3.10 net/core/dev.c:netdev_budget",
    "netdev_budget_usecs": "net/core/hotdata.c:net_hotdata / 3.10 net/core/dev.c:net_rx_action (2 jiffies)",
    "dev_weight": "net/core/dev.c:weight_p (net.core.dev_weight: the backlog NAPI's weight, which 6.12's "
                  "process_backlog reads as net_hotdata.dev_rx_weight)",
    "netdev_max_backlog": "net/core/hotdata.c:net_hotdata / 3.10 net/core/dev.c:netdev_max_backlog",
    "gro_normal_batch": "net/core/hotdata.c:net_hotdata (none in 3.10)",
    "gro_hash_buckets": "include/linux/netdevice.h:GRO_HASH_BUCKETS / 3.10 include/linux/netdevice.h:napi_struct "
                        "(one gro_list)",
    "gro_flush_oldest": "net/core/gro.c:dev_gro_receive / 3.10 net/core/dev.c:dev_gro_receive",
    "gro_frag_list": "net/core/gro.c:skb_gro_receive / 3.10 net/core/skbuff.c:skb_gro_receive",
    "napi_skb_cache": "net/core/skbuff.c:napi_skb_cache_get, napi_skb_cache_put (none in 3.10)",
    "receive_core_returns_handler": "net/core/dev.c:__netif_receive_skb_core",
    "rx_ring_size": "drivers/net/ethernet/intel/igb/igb.h:IGB_DEFAULT_RXD",
    "softnet_stat_columns": "net/core/net-procfs.c:softnet_seq_show",
    "max_softirq_time_us": "kernel/softirq.c:MAX_SOFTIRQ_TIME",
    "max_softirq_restart": "kernel/softirq.c:MAX_SOFTIRQ_RESTART",
    "napi_repoll_list": "net/core/dev.c:net_rx_action",
    "udp_rcvbuf_drop": "net/ipv4/udp.c:__udp_enqueue_schedule_skb / 3.10 net/core/sock.c:sock_queue_rcv_skb",
    "dev_tx_weight": "net/core/hotdata.c:net_hotdata / 3.10 net/core/dev.c:weight_p",
    "eth_mtu": "net/ethernet/eth.c:ether_setup (ETH_DATA_LEN)",
    "lo_mtu": "drivers/net/loopback.c:loopback_setup",
    "tx_ring_size": "drivers/net/ethernet/intel/igb/igb.h:IGB_DEFAULT_TXD",
    "tcp_gso_always": "net/core/sock.c:sk_setup_caps / 3.10 net/ipv4/tcp.c:tcp_xmit_size_goal",
    "sendfile_via": "fs/splice.c:splice_to_socket / 3.10 net/socket.c:sock_sendpage",
    "msg_zerocopy": "net/core/sock.c:sk_setsockopt (SO_ZEROCOPY, 4.14+; none in 3.10)",
    "epoll_exclusive": "fs/eventpoll.c:ep_ptable_queue_proc (EPOLLEXCLUSIVE, 4.5+; none in 3.10)",
    "fib_local_main_merged": "net/ipv4/fib_frontend.c:fib_new_table",
    "somaxconn": "include/linux/socket.h:SOMAXCONN, set by net/core/net_namespace.c:preinit_net_sysctl / 3.10 "
                 "include/linux/socket.h:SOMAXCONN, set by net/core/sysctl_net_core.c:sysctl_core_net_init",
    "tcp_max_syn_backlog": "net/ipv4/tcp_ipv4.c:tcp_set_hashinfo / 3.10 net/ipv4/tcp.c:tcp_init",
    "syn_backlog_per_ehash": "net/ipv4/tcp_ipv4.c:tcp_set_hashinfo / 3.10 net/ipv4/tcp.c:tcp_init",
    "tcp_syncookies": "net/ipv4/tcp_ipv4.c:tcp_sk_init / 3.10 net/ipv4/tcp_minisocks.c:sysctl_tcp_syncookies",
    "tcp_abort_on_overflow": "0: never set (struct net starts zeroed); read in net/ipv4/tcp_minisocks.c:"
                             "tcp_check_req / 3.10 net/ipv4/tcp_minisocks.c:sysctl_tcp_abort_on_overflow",
    "tcp_syn_retries": "include/net/tcp.h:TCP_SYN_RETRIES",
    "tcp_synack_retries": "include/net/tcp.h:TCP_SYNACK_RETRIES",
    "tcp_syn_linear_timeouts": "net/ipv4/tcp_ipv4.c:tcp_sk_init (none in 3.10)",
    "syn_queue": "net/ipv4/inet_connection_sock.c:inet_csk_reqsk_queue_hash_add / 3.10 "
                 "net/core/request_sock.c:reqsk_queue_alloc",
    "tcp_timeout_init_ms": "include/net/tcp.h:TCP_TIMEOUT_INIT",
    "acceptq_full_syn_drop": "net/ipv4/tcp_input.c:tcp_conn_request / 3.10 net/ipv4/tcp_ipv4.c:tcp_v4_conn_request",
    "ip_local_port_range": "net/ipv4/af_inet.c:inet_init_net / 3.10 net/ipv4/inet_connection_sock.c:"
                           "sysctl_local_ports",
    "connect_port_parity": "net/ipv4/inet_hashtables.c:__inet_hash_connect",
    "tcp_timewait_s": "include/net/tcp.h:TCP_TIMEWAIT_LEN",
    "tcp_tw_reuse": "net/ipv4/tcp_ipv4.c:tcp_sk_init / 3.10 net/ipv4/tcp_ipv4.c:sysctl_tcp_tw_reuse",
    "tw_reuse_age": "net/ipv4/tcp_ipv4.c:tcp_twsk_unique",
    "tcp_keepalive_time": "include/net/tcp.h:TCP_KEEPALIVE_TIME",
    "tcp_keepalive_intvl": "include/net/tcp.h:TCP_KEEPALIVE_INTVL",
    "tcp_keepalive_probes": "include/net/tcp.h:TCP_KEEPALIVE_PROBES",
    "twsk_timer": "net/ipv4/inet_timewait_sock.c:inet_twsk_hashdance_schedule / 3.10 "
                  "net/ipv4/inet_timewait_sock.c:inet_twdr_hangman",
    "nr_open": "fs/file.c:sysctl_nr_open (1024 * 1024)",
    "nofile_soft": "include/asm-generic/resource.h:INIT_RLIMITS (INR_OPEN_CUR)",
    "nofile_hard": "include/asm-generic/resource.h:INIT_RLIMITS (INR_OPEN_MAX)",
    "rmem_default": "net/core/sock.c:sysctl_rmem_default (SK_RMEM_MAX)",
    "wmem_default": "net/core/sock.c:sysctl_wmem_default (SK_WMEM_MAX)",
    "tcp_rmem": "net/ipv4/tcp.c:tcp_init (init_net's; tcp_ipv4.c:tcp_sk_init copies them) / 3.10 net/ipv4/tcp.c:"
                "tcp_init",
    "tcp_wmem": "net/ipv4/tcp.c:tcp_init (init_net's; tcp_ipv4.c:tcp_sk_init copies them) / 3.10 net/ipv4/tcp.c:"
                "tcp_init",
    "page_size": "arch/x86/include/asm/page_types.h:PAGE_SHIFT",
    "thread_size": "arch/x86/include/asm/page_64_types.h:THREAD_SIZE (tools/kernel_sizes.py; 3.10: CentOS 7's, "
                   "16 KiB like 3.15+, not vanilla 3.10's 8 KiB)",
    "task_struct_size": "kernel/fork.c:fork_init, arch/x86/kernel/fpu/init.c:fpu__init_task_struct_size "
                        "(sizeof from tools/kernel_sizes.py) / 3.10 kernel/fork.c:fork_init (sizeof from "
                        "tools/kernel_sizes.py --series 3.10: CentOS 7's 3.10.0-229 and config; the FPU state is "
                        "arch/x86/kernel/process.c:task_xstate_cachep's)",
    "sk_sleep_wake": "net/core/sock.c:sk_wait_data, net/ipv4/af_inet.c:inet_wait_for_connect",
    "ep_send_events_scan": "fs/eventpoll.c:ep_send_events / 3.10 fs/eventpoll.c:ep_scan_ready_list",
    "ep_poll_wake": "fs/eventpoll.c:ep_poll",
    "softirq_loop": "kernel/softirq.c:run_ksoftirqd",
    "cwnd_limited": "include/net/tcp.h:tcp_is_cwnd_limited / 3.10 net/ipv4/tcp_cong.c:tcp_is_cwnd_limited",
    "slub_slab_order": "mm/slub.c:calculate_order",
    "slab": "mm/slub.c:calculate_sizes (sizes: netlab.kernel.slub.SIZEOF_6_12; 3.10: the book's slabtop, every "
            "slot but TCP's also compiled by tools/kernel_sizes.py --series 3.10)",
    "slab_aliases": "mm/slab_common.c:find_mergeable / 3.10 mm/slub.c:find_mergeable",
    "live": "(which fields netlab.live.profile read from the running kernel)",
    "renamed": "(this kernel's names, files and step texts for the modelled functions: netlab.kernel.renamed, "
               "checked against linux-3.10.json and linux-6.12.json)",
})
"""Profile field -> where the kernel sets it, ``file:function`` (6.12; ``/ 3.10 …`` where 3.10 keeps it elsewhere,
"none in 3.10" where 3.10 has no such thing; else 3.10 has it in the same place)."""


@check.arguments
def profile(name: str) -> KernelProfile:
    """``"3.10"`` or ``"6.12"``; this machine's profile is :func:`netlab.live.profile.this_machine`."""
    if name not in PROFILES:
        raise ValueError(f"profile must be one of {sorted(PROFILES)} (this machine's: netlab.this_machine()), "
                         f"got {name!r}")
    return PROFILES[name]
