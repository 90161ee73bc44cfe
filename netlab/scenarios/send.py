"""A sending host: chapter 01's receive :class:`~netlab.scenarios.receive.Host` with a TCP connection going out,
and its peer.

:class:`SendHost` adds what sending needs to the receive host: the NIC's TX ring, a qdisc, a connected
:class:`~netlab.kernel.tcp_output.TcpSock` (and a UDP socket), and a model of the peer, which answers every
segment the NIC puts on the wire with an ACK one round trip later. Those ACKs come in through the NIC's RX ring and
the whole receive path (``igb_poll`` → … → ``tcp_v4_rcv`` → ``tcp_rcv_established`` → ``tcp_ack``); the TX
completions are cleaned in the same NET_RX softirq (``igb_poll`` → ``igb_clean_tx_irq``). The peer ACKs each
packet the NIC sent once, when its last byte arrived (a real receiver ACKs every other segment or delays). With
``device="lo"`` the connection goes to a local address (``daddr``: 127.0.0.1, any 127.x.y.z or the host's own
address): the route lookup says RTN_LOCAL, and the host sends through chapter 04's ``loopback_xmit``: no qdisc, no
ring, no DMA; the receiving socket is on this host, and its ACK waits in the sender's socket backlog until
``release_sock``.

    host = SendHost()
    rec = host.capture(lambda: (host.send(6000), host.run()))
    rec.trace, rec.ledger

:func:`send_file` sends a file the four ways a program can (read+send, mmap+write, sendfile, MSG_ZEROCOPY), and
:func:`copy_ledgers` returns the copy ledger of each: the numbers behind "what does zero copy save".
:func:`file_send_counts` is the model's side of :mod:`netlab.live.sendfile`'s measurement.
"""
from __future__ import annotations

import sys
from dataclasses import dataclass, field
from typing import Annotated, Callable, Mapping

from netlab import check
from netlab.kernel.copies import CopyLedger, account_syscall
from netlab.kernel.cpu import NET_RX_SOFTIRQ, NET_TX_SOFTIRQ, Costs
from netlab.kernel.dev import ETH_P_IP, NetDevice
from netlab.kernel.dev_hard_xmit import FEATURES, NETIF_F_TSO
from netlab.kernel.inet_connection_sock import TcpSendState, TcpSock
from netlab.kernel.ip_output import IP_HLEN, LL_RESERVED_SPACE, dst_output
from netlab.kernel.loopback import loopback_dev_init, loopback_xmit
from netlab.kernel.nic import Packet
from netlab.kernel.profiles import KernelProfile, profile as get_profile
from netlab.kernel.route import RTN_LOCAL, Flowi4, Rtable, fib_add_ifaddr, ip_route_add_default, ip_route_output_key
from netlab.kernel.sch_generic import Qdisc, QdiscState
from netlab.kernel.sched import Scheduler
from netlab.kernel.skbuff import SkBuff, SkbState, alloc_skb, skb_put, skb_reserve
from netlab.kernel.sock import Sock
from netlab.kernel.tcp_ipv4 import TCP_ESTABLISHED, tcp_v4_do_rcv
from netlab.kernel.tcp_output import PURE_ACK_LEN, TCP_HLEN, TCP_INIT_CWND, TCP_NAGLE_OFF, MsgHdr
from netlab.kernel.udp_output import UdpSock, udp_sendmsg
from netlab.kernel.zerocopy import CachedFile, __sys_sendto, do_sendfile, ksys_mmap_pgoff, ksys_read, \
    send_zerocopy, write_from_mapping
from netlab.live.sendfile import GB, LIVE_METHODS
from netlab.scenarios.receive import Host, ReceiveState
from netlab.trace import Trace, trace_printk

DEVICES = ("igb", "lo")
METHODS = ("read+send", "mmap+write", "sendfile", "MSG_ZEROCOPY")
MAX_BYTES = 1 << 30
"""The largest send or file the model simulates (it follows every page)."""
Bytes = Annotated[int, check.Range(1, MAX_BYTES)]
MAX_TAPS = 64
PEER, SPORT, DPORT = "10.0.0.1", 40000, 80
GATEWAY, LOCALHOST = PEER, "127.0.0.1"
sys_sendto = __sys_sendto        # a name that class bodies do not mangle


@dataclass(frozen=True)
class SkbPlace:
    """An sk_buff head at a step and where it is (write queue, retransmit queue, qdisc, TX ring, backlog, receive
    queue, freed, or "in transit": held only by the kernel functions running now, like the clone on its way down
    through IP and a bypassed qdisc to the driver, GSO segments before the driver, an ACK on its way up); ``buffer``
    numbers the data buffers the heads point at, so clones sharing one show the same number."""

    skb: SkbState
    where: str
    buffer: int
    buffer_freed: bool


@dataclass(frozen=True)
class SendHostState(ReceiveState):
    """A :class:`SendHost` at a step: chapter 01's state plus the device it sends through (``eth0`` or ``lo``), every
    skb head seen since the last step, the TCP socket's sending side, the qdisc (None on ``lo``), whether the TX
    queue is stopped, NET_TX/NET_RX counts."""

    device: str
    skbs: tuple[SkbPlace, ...]
    sock: TcpSendState
    qdisc: QdiscState | None
    queue_stopped: bool
    softirqs: Mapping[str, int]


@dataclass
class Recording:
    """What :meth:`SendHost.capture` recorded: the trace (None if not traced) and the copy ledger."""

    trace: Trace | None = None
    ledger: CopyLedger = field(default_factory=CopyLedger)

    def __post_init__(self):
        check.fields(self)


class SendHost(Host):
    """A host sending on one TCP connection (and a UDP socket) through ``device``: ``"igb"`` (the NIC, with a
    qdisc and a TX ring, to the peer 10.0.0.1) or ``"lo"`` (to ``daddr``, a local address, default 127.0.0.1: the
    host gets its addresses and routes, :func:`configure_addresses`; the source address is the one the route
    lookup picks, and as ``connect()`` is not modelled, the socket has no route cached: its first segment looks
    the route up in ``__ip_queue_xmit``).

    ``gso``: the socket builds multi-MSS skbs (``sk_can_gso``; in 6.12 only TCP-MD5/AO turn it off, in 3.10 also
    ``ethtool -K eth0 gso off``); ``tso``: the NIC segments them itself (otherwise software GSO does, at the
    device); ``taps``: AF_PACKET listeners (tcpdump); ``cwnd``/``rwnd``: the congestion window (segments) and the
    peer's receive window (bytes); ``rtt_us``: the round trip to the peer; ``sched``: the engine to share (see
    :class:`~netlab.scenarios.receive.Host`).
    """

    @check.arguments
    def __init__(self, profile: str | KernelProfile = "6.12", *, device: str = "igb", mtu: int | None = None,
                 gso: bool = True, tso: bool = True, cwnd: int = TCP_INIT_CWND, rwnd: int = 262144,
                 nodelay: bool = False, taps: Annotated[int, check.Range(0, MAX_TAPS)] = 0, daddr: str | None = None,
                 tx_ring: int | None = None, tx_queue_len: int = 1000, link_gbps: float = 1.0, rtt_us: float = 50.0,
                 costs: Costs | None = None, sched: Scheduler | None = None):
        prof = get_profile(profile) if isinstance(profile, str) else profile
        if device not in DEVICES:
            raise ValueError(f"device must be one of {DEVICES}, got {device!r}")
        if daddr is not None and device != "lo":
            raise ValueError(f"daddr is for device='lo' (over igb the peer is {PEER})")
        check.real("rtt_us", rtt_us, above=0)
        super().__init__(prof, tx_ring_size=tx_ring if tx_ring is not None else getattr(prof, "tx_ring_size", 256),
                         link_gbps=link_gbps, costs=costs, sched=sched)
        self.loopback = device == "lo"
        self.rtt_ns = int(rtt_us * 1000)
        if self.loopback:
            self.out = configure_addresses(self)
            self.out.mtu = mtu or self.out.mtu
            self.out.features, self.out.ndo_start_xmit = frozenset(FEATURES), self._loopback_xmit
            fl4 = Flowi4(daddr or LOCALHOST)
            with self.cpus[0].running("process"):
                route = ip_route_output_key(self.net, fl4)       # connect()'s lookup: it picks the source address
            if isinstance(route, str) or route.rt_type != RTN_LOCAL:
                raise ValueError(f"daddr {fl4.daddr} is not a local address of this host (route: {route})")
            peer, local = fl4.daddr, fl4.saddr
            self._receiver = Sock(name="receiver", sk_state=TCP_ESTABLISHED, sk_rcvbuf=1 << 30)
            self._bind(self.net.tcp_ehash, (peer, DPORT, local, SPORT), self._receiver)
            self._socket(self._receiver, "SOCK_STREAM")
        else:
            self.out = self.dev
            self.dev.mtu = mtu or self.profile.eth_mtu
            self.dev.features = frozenset(f for f in FEATURES if tso or f != NETIF_F_TSO)
            self.dev.qdisc = Qdisc(self.dev, limit=tx_queue_len)
            self.nic.on_transmit = self._peer_answers
            peer, local = PEER, self.address
            route = Rtable(self.out)
        self.sk = TcpSock(name="sk", net=self.net, sk_state=TCP_ESTABLISHED, dst=None if self.loopback else route,
                          inet_rcv_saddr=local, inet_num=SPORT, inet_daddr=peer, inet_dport=DPORT,
                          mss_cache=self.out.mtu - IP_HLEN - TCP_HLEN, snd_cwnd=cwnd, snd_wnd=rwnd,
                          max_window=rwnd, gso=gso, nonagle=TCP_NAGLE_OFF if nodelay else 0)
        self._bind(self.net.tcp_ehash, (local, SPORT, peer, DPORT), self.sk)
        self._socket(self.sk, "SOCK_STREAM")
        self.udp = UdpSock(name="udp", dst=route, inet_rcv_saddr=local, inet_daddr=peer)
        for i in range(taps):
            self.tcpdump(f"tcpdump{i or ''}")
        self._pending_acks: list[int] = []
        self._acks_sent = 0
        self._skbs: dict[int, tuple[SkBuff, str]] = {}        # skbs to show, by id (the dict keeps them alive)
        self._buffers: dict[int, tuple[int, object]] = {}     # data buffers (shinfo) numbered in order seen

    # --- process context ------------------------------------------------------------------------------------
    @check.arguments
    def syscall(self, entry: Callable, *args):
        """Run a system call's kernel entry (``__sys_sendto``, ``do_sendfile``, …) in process context on CPU 0.
        Softirqs it raised run at its ``local_bh_enable``; ACKs that arrived while it held the socket
        (loopback) are processed at ``release_sock``. Call :meth:`run` to let the NIC and the peer proceed."""
        result = self.run_process(0, lambda: entry(*args))
        if self._pending_acks:
            self.run_process(0, self._release_sock)
        return result

    @check.arguments
    def send(self, nbytes: Bytes, flags: int = 0, pages: list[tuple[str, int]] | None = None) -> int:
        """``send(fd, buf, nbytes, flags)`` on the TCP socket; returns the bytes queued."""
        return self.syscall(sys_sendto, self.sk, MsgHdr(nbytes, flags, pages))

    @check.arguments
    def send_datagram(self, nbytes: int) -> int:
        """``sendto(udp_fd, buf, nbytes)``: a UDP datagram, IP-fragmented when longer than the MTU."""
        return self.syscall(udp_sendmsg, self.udp, nbytes)

    @check.arguments
    def forward(self, nbytes: int) -> None:
        """A packet with ``nbytes`` of IP payload (DF clear) is routed out of this host, as if it had arrived for
        another host: when it is longer than the MTU, ``ip_do_fragment`` has no pieces to reuse and copies."""
        if not isinstance(nbytes, int) or not 0 < nbytes <= 65515:
            raise ValueError("nbytes must be an int in 1..65515")

        def routed() -> None:
            skb = alloc_skb(LL_RESERVED_SPACE + IP_HLEN + nbytes, name="fwd")
            skb_reserve(skb, LL_RESERVED_SPACE)
            skb_put(skb, IP_HLEN + nbytes)
            skb.meta.update(dst=Rtable(self.out), dev=self.out, net=self.net, ethertype=ETH_P_IP,
                            protocol="udp", saddr="192.0.2.9", daddr=PEER, sport=5000, dport=5000, hdr_len=IP_HLEN,
                            payload=nbytes, df=False)
            trace_printk(f"a {IP_HLEN + nbytes}-byte packet for {PEER} arrived: ip_rcv → ip_forward → dst_output")
            dst_output(self.net, None, skb)

        with self.cpus[0].running("softirq"):
            routed()

    # --- the peer --------------------------------------------------------------------------------------------
    def _peer_answers(self, skb: SkBuff, done_ns: int) -> None:
        """The peer receives a data segment when the NIC has sent it and ACKs it one round trip later."""
        if skb.meta.get("protocol") != "tcp" or "seq" not in skb.meta:
            return
        self._acks_sent += 1
        ack = skb.meta["seq"] + skb.meta.get("payload", 0)
        self.receive([Packet(done_ns + self.rtt_ns, PEER, self.address, DPORT, SPORT, "tcp", PURE_ACK_LEN,
                             f"ack{self._acks_sent}", ack=ack)])

    def _loopback_xmit(self, skb: SkBuff, dev: NetDevice) -> int:
        """Chapter 04's ``loopback_xmit``: the skb goes to this CPU's backlog and comes up the receive path to the
        receiving socket in this same system call (NET_RX runs at the ``local_bh_enable`` of
        ``__dev_queue_xmit``). The receiver's ACK waits in the sender's socket backlog until ``release_sock``."""
        ack = skb.meta["seq"] + skb.meta.get("payload", 0) if "seq" in skb.meta else None
        rc = loopback_xmit(skb, dev)
        if ack is not None:
            self._pending_acks.append(ack)
        return rc

    def _release_sock(self) -> None:
        """``release_sock`` → ``__release_sock``: the ACKs queued on the socket backlog meanwhile are processed."""
        for ack in self._pending_acks:
            skb = SkBuff(end=TCP_HLEN, name=f"ack{self._acks_sent + 1}", len=TCP_HLEN, tail=TCP_HLEN)  # IP pulled
            self._acks_sent += 1
            skb.meta.update(dev=self.out, net=self.net, protocol="tcp", flags=("ACK",), ack_seq=ack)
            trace_printk(f"release_sock: the receiver's ACK (up to {ack}) waited in the socket backlog")
            tcp_v4_do_rcv(self.sk, skb)
        self._pending_acks.clear()

    # --- what the views see ---------------------------------------------------------------------------------
    @check.arguments
    def capture(self, scenario: Callable[[], object], trace: bool = True, max_events: int = 100_000) -> Recording:
        """Run ``scenario`` recording the copy ledger and (unless ``trace=False``, for large scenarios) a trace."""
        if not callable(scenario):
            raise TypeError("scenario must be a callable")
        rec = Recording()
        with rec.ledger:
            if trace:
                rec.trace = self.record(scenario, max_events)
            else:
                scenario()
        return rec

    def softirqs(self) -> dict[str, int]:
        """NET_TX and NET_RX as ``/proc/softirqs`` would count them on this host (all CPUs)."""
        return {"NET_TX": sum(c.kstat_softirqs[NET_TX_SOFTIRQ] for c in self.cpus),
                "NET_RX": sum(c.kstat_softirqs[NET_RX_SOFTIRQ] for c in self.cpus)}

    def _note(self, skb: SkBuff, where: str) -> None:
        self._skbs[id(skb)] = (skb, where)

    def snapshot(self) -> SendHostState:
        """Chapter 01's state plus the send side (see :class:`SendHostState`)."""
        for skb in _in_transit():
            self._note(skb, "in transit")
        for skb in self.sk.sk_write_queue:
            self._note(skb, "write queue")
        for skb in self.sk.tcp_rtx_queue:
            self._note(skb, "retransmit queue")
        qdisc = self.out.qdisc
        if qdisc is not None:
            for skb in list(qdisc.gso_skb) + list(qdisc.q):
                self._note(skb, "qdisc")
        for qv in self.nic.q_vectors:
            for item in qv.tx_ring.slots if qv.tx_ring is not None else ():
                if isinstance(item, SkBuff):
                    self._note(item, "TX ring")
        for cpu in self.cpus:                   # what loopback handed to a CPU's backlog (netif_rx)
            for skb in list(cpu.softnet_data.input_pkt_queue) + list(cpu.softnet_data.process_queue):
                self._note(skb, f"backlog, CPU {cpu.id}")
        for sock in self.sockets.values():
            for skb in sock.sk.sk_receive_queue:
                self._note(skb, "receive queue")
        skbs = []
        for key, (skb, where) in list(self._skbs.items()):
            buffer = self._buffers.setdefault(id(skb.shinfo), (len(self._buffers) + 1, skb.shinfo))[0]
            skbs.append(SkbPlace(skb.snapshot(), "freed" if skb.freed else where, buffer, skb.shinfo.freed))
            if skb.freed:          # shown once, at the step that freed it
                del self._skbs[key]
        received = super().snapshot()
        return SendHostState(**vars(received), device=self.out.name, skbs=tuple(skbs), sock=self.sk.send_state(),
                             qdisc=qdisc.snapshot() if qdisc is not None else None,
                             queue_stopped=self.out.queue_stopped, softirqs=self.softirqs())


def _in_transit() -> list[SkBuff]:
    """The live skbs the kernel functions running now hold in their arguments and locals (an skb, or a list of
    them: GSO's segments), outermost caller first. A queue the skb is also on names its place instead."""
    frames, frame = [], sys._getframe(1)
    while frame is not None:
        if frame.f_globals.get("__name__", "").startswith("netlab.kernel."):
            frames.append(frame)
        frame = frame.f_back
    held: dict[int, SkBuff] = {}
    for frame in reversed(frames):
        for value in frame.f_locals.values():
            for skb in value if isinstance(value, list) else (value,):
                if isinstance(skb, SkBuff) and not skb.freed:
                    held.setdefault(id(skb), skb)
    return list(held.values())


@check.arguments
def configure_addresses(host: Host) -> NetDevice:
    """What a booted host's network configuration gives ``host``: ``lo`` with 127.0.0.1/8, its address on eth0
    (/24) and a default route via 10.0.0.1, each address with the routes it brings (``fib_add_ifaddr``). Returns
    ``lo``."""
    lo = loopback_dev_init(host.net)
    with host.cpus[0].running("process"):
        fib_add_ifaddr(host.net, lo, f"{LOCALHOST}/8", loopback=True)
        fib_add_ifaddr(host.net, host.dev, f"{host.address}/24")
    ip_route_add_default(host.net, GATEWAY, host.dev)
    return lo


@check.arguments
def one_send(nbytes: Bytes, **host_options) -> tuple[SendHost, Recording]:
    """A fresh :class:`SendHost` (``host_options``), one ``send(nbytes)`` and everything that follows (TX
    completion, ACKs), traced."""
    host = SendHost(**host_options)
    return host, host.capture(lambda: (host.send(nbytes), host.run()))


SEGMENTATION = {"GSO off": {"gso": False}, "GSO + TSO (NIC cuts)": {}, "GSO, no TSO (software GSO)": {"tso": False}}


@check.arguments
def segmentation(nbytes: Bytes = 6000, profile: str | KernelProfile = "6.12") -> dict[str, dict[str, int]]:
    """One ``send(nbytes)`` larger than the MTU in the three ways of :data:`SEGMENTATION`: skbs TCP built, skb
    clones, trips through IP, frames on the wire, payload and header bytes copied by the CPU, sk_buff heads."""
    rows = {}
    for name, options in SEGMENTATION.items():
        host, rec = one_send(nbytes, profile=profile, **options)
        calls = lambda f: len(rec.trace.filter(function=f, kind="call"))  # noqa: E731
        alloc, _ = host.profile.renamed.get("tcp_stream_alloc_skb", ("tcp_stream_alloc_skb", ""))  # 3.10's name
        rows[name] = {"skbs built by TCP": calls(alloc), "clones": calls("skb_clone"),
                      "trips through IP": calls("ip_output"), "frames on the wire": host.nic.q_vectors[0].tx_packets,
                      "payload bytes copied": rec.ledger.bytes("cpu"),
                      "header bytes copied": rec.ledger.bytes("cpu", payload=False),
                      "sk_buff heads": rec.ledger.count("shallow", payload=None)}
    return rows


@check.arguments
def ethtool_gso_off(profile: str | KernelProfile = "6.12") -> dict[str, bool]:
    """The :class:`SendHost` options that ``ethtool -K eth0 gso off tso off`` amounts to on ``profile``: on 3.10
    TCP then builds one-MSS skbs; since ``sk_setup_caps`` forces NETIF_F_GSO for TCP (6.12), TCP still builds
    large skbs and software GSO cuts them at the device (``profile.tcp_gso_always``)."""
    prof = get_profile(profile) if isinstance(profile, str) else profile
    if not isinstance(prof, KernelProfile):
        raise TypeError("profile must be '3.10', '6.12' or a KernelProfile (e.g. netlab.this_machine())")
    return {"gso": prof.tcp_gso_always, "tso": False}


@check.arguments
def send_file(host: SendHost, f: CachedFile, method: str, chunk: Bytes = 65536) -> int:
    """Send all of ``f`` over ``host``'s TCP socket with ``method`` (one of ``METHODS``), ``chunk`` bytes per read
    or write (sendfile takes one call), then let the transfer finish. Returns the bytes sent."""
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    host.sk.zerocopy = method == "MSG_ZEROCOPY"
    sent = 0
    if method == "sendfile":
        sent = host.syscall(do_sendfile, host.sk, f, f.size)
    elif method == "mmap+write":
        host.syscall(ksys_mmap_pgoff, f, f.size)
        mapped = 0
        for pos in range(0, f.size, chunk):
            n, mapped = host.syscall(write_from_mapping, host.sk, f, pos, min(chunk, f.size - pos), mapped)
            sent += n
        account_syscall("munmap")
    else:
        while f.pos < f.size:
            n = host.syscall(ksys_read, f, chunk)
            if method == "MSG_ZEROCOPY":
                sent += host.syscall(send_zerocopy, host.sk, n)
            else:
                sent += host.syscall(sys_sendto, host.sk, MsgHdr(n))
    host.run()
    return sent


@check.arguments
def model_file_send(method: str, size: Bytes = 1 << 20, chunk: Bytes = 65536, *, device: str = "igb",
                    cached: bool = True, profile: str | KernelProfile = "6.12") -> tuple[CopyLedger, dict[str, int]]:
    """Send a ``size``-byte file with ``method`` on a fresh host (no trace: fast): its copy ledger and the NET_TX
    and NET_RX softirqs it raised."""
    host = SendHost(profile, device=device)
    f = CachedFile("file", size)
    if cached:
        f.warm()
    ledger = host.capture(lambda: send_file(host, f, method, chunk), trace=False).ledger
    return ledger, host.softirqs()


@check.arguments
def copy_ledgers(size: Bytes = 1 << 20, chunk: Bytes = 65536, *, device: str = "igb", cached: bool = True,
                 profile: str | KernelProfile = "6.12") -> dict[str, CopyLedger]:
    """The copy ledger of sending a ``size``-byte file each way in ``METHODS``."""
    return {m: model_file_send(m, size, chunk, device=device, cached=cached, profile=profile)[0] for m in METHODS}


@check.arguments
def file_send_counts(size: int, profile: str | KernelProfile = "6.12") -> dict[str, dict[str, float]]:
    """What the model does sending a ``size``-byte file over loopback with each method
    :func:`netlab.live.sendfile.file_send` measures: CPU copies of each byte, system calls for the file, NET_RX and
    NET_TX softirqs raised per GB (for :func:`netlab.live.sendfile.compare`)."""
    if not isinstance(size, int) or size <= 0:
        raise ValueError("size must be a positive int (bytes)")
    out = {}
    for method in LIVE_METHODS:
        ledger, soft = model_file_send(method, size, device="lo", profile=profile)
        out[method] = {"copies": ledger.copies_of(size), "syscalls": len(ledger.syscalls),
                       "NET_RX": soft["NET_RX"] * GB / size, "NET_TX": soft["NET_TX"] * GB / size}
    return out
