"""A sending host wired from the kernel models: one TCP socket, an igb NIC with a qdisc, the wire, the peer's ACKs.

:class:`SendHost` drives the models the way the kernel's contexts would: ``send()`` runs in process context; the
NIC sends what is on its TX ring at the link rate; each time it finishes (or an ACK arrives) it raises its
interrupt, and the NET_RX softirq cleans the TX ring and processes the ACK, which may push more data; a qdisc left
with work raises NET_TX. Simulated time only: the wire and the round trip move the clock, kernel code takes none.

    host = SendHost(mtu=1500, gso=True)
    with host.record() as rec:
        host.send(8000)
        host.run()
    rec.trace, rec.ledger

:func:`send_file` sends a file the four ways a program can (read+send, mmap+write, sendfile, MSG_ZEROCOPY), and
:func:`copy_ledgers` returns the copy ledger of each: the numbers behind "what does zero copy save".
"""
from __future__ import annotations

import heapq
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Iterator

from netlab.kernel.copies import CopyLedger, account_syscall
from netlab.kernel.dev_xmit import FEATURES, NET_RX_SOFTIRQ, NETDEV_TX_OK, NETIF_F_TSO, NetDevice, PacketTap, \
    net_tx_action
from netlab.kernel.igb_tx import igb_clean_tx_irq, igb_setup, igb_tx_hw_done
from netlab.kernel.ip_output import IP_HLEN, Rtable
from netlab.kernel.profiles import PROFILES, KernelProfile
from netlab.kernel.sch_generic import Qdisc
from netlab.kernel.skbuff import SkBuff, consume_skb, skb_orphan_frags_rx
from netlab.kernel.tcp_output import TCP_HLEN, TCP_INIT_CWND, TCP_NAGLE_OFF, MsgHdr, TcpSock, tcp_ack, \
    tcp_data_snd_check
from netlab.kernel.zerocopy import CachedFile, __sys_sendto, do_sendfile, ksys_mmap_pgoff, ksys_read, \
    send_zerocopy, write_from_mapping
from netlab.trace import Trace, Tracer, on_cpu, trace_printk

WIRE_OVERHEAD = 14 + 4 + 8 + 12   # Ethernet header, FCS, preamble, inter-frame gap


@dataclass
class Recording:
    """What :meth:`SendHost.record` captured: the trace and the copy ledger."""

    trace: Trace | None = None
    ledger: CopyLedger = field(default_factory=CopyLedger)


DEVICES = ("igb", "lo")


class SendHost:
    """One sending host. ``device``: ``"igb"`` (a NIC with a qdisc and a TX ring) or ``"lo"`` (loopback: no
    qdisc, no ring, no DMA; the receiving socket is on this host). ``gso``: the socket builds multi-MSS skbs;
    ``tso``: the NIC segments them (otherwise software GSO does, at the device); ``taps``: AF_PACKET listeners
    (tcpdump) on the device."""

    def __init__(self, profile: KernelProfile | None = None, *, device: str = "igb", mtu: int | None = None,
                 gso: bool = True, tso: bool = True, cwnd: int = TCP_INIT_CWND, rwnd: int = 262144,
                 nodelay: bool = False, taps: int = 0, tx_ring: int = 256, tx_queue_len: int = 1000,
                 link_gbps: float = 1.0, rtt_us: float | None = None):
        profile = PROFILES["6.12"] if profile is None else profile
        if not isinstance(profile, KernelProfile):
            raise TypeError("profile must be a KernelProfile (netlab.profile('6.12'))")
        if device not in DEVICES:
            raise ValueError(f"device must be one of {DEVICES}, got {device!r}")
        self.loopback = device == "lo"
        mtu = (profile.lo_mtu if self.loopback else profile.eth_mtu) if mtu is None else mtu
        rtt_us = (10.0 if self.loopback else 50.0) if rtt_us is None else rtt_us
        for name, value in (("link_gbps", link_gbps), ("rtt_us", rtt_us)):
            if not isinstance(value, (int, float)) or value <= 0:
                raise ValueError(f"{name} must be a positive number")
        if not isinstance(taps, int) or taps < 0:
            raise ValueError("taps must be an int >= 0")
        self.profile = profile
        features = frozenset(f for f in FEATURES if tso or f != NETIF_F_TSO)
        self.dev = NetDevice("lo" if self.loopback else "eth0", mtu=mtu, features=features,
                             dev_tx_weight=profile.dev_tx_weight,
                             ptype_all=[PacketTap(f"tcpdump{i or ''}") for i in range(taps)])
        if self.loopback:
            self.ring = None
            self.dev.ndo_start_xmit = self._loopback_xmit
        else:
            self.dev.qdisc = Qdisc(self.dev, limit=tx_queue_len)
            self.ring = igb_setup(self.dev, tx_ring)
        self.route = Rtable(self.dev)
        self.sk = TcpSock(name="sk", dst=self.route, mss_cache=mtu - IP_HLEN - TCP_HLEN, snd_cwnd=cwnd,
                          snd_wnd=rwnd, max_window=rwnd, gso=gso, nonagle=TCP_NAGLE_OFF if nodelay else 0)
        self.ns_per_byte = 8 / link_gbps
        self.rtt_ns = int(rtt_us * 1000)
        self.now = 0
        self._wire_free_at = 0
        self._events: list[tuple[int, int, str, object]] = []   # (time, order, kind, data)
        self._order = 0
        self._skbs: dict[int, tuple[SkBuff, str]] = {}            # every skb seen, for the drawings
        self.interrupts = 0

    # --- process context ----------------------------------------------------------------------------------
    def send(self, nbytes: int, flags: int = 0, pages: list[tuple[str, int]] | None = None) -> int:
        """``send(fd, buf, nbytes, flags)`` from the process on CPU 0; returns the bytes queued."""
        if not isinstance(nbytes, int) or nbytes <= 0:
            raise ValueError("nbytes must be a positive int")
        return self.syscall(__sys_sendto, self.sk, MsgHdr(nbytes, flags, pages))

    def syscall(self, entry, *args):
        """Run a system call's kernel entry (``__sys_sendto``, ``do_sendfile``, …) in process context on CPU 0,
        then the softirqs it raised (they run at ``local_bh_enable``); let the NIC pick up new descriptors."""
        with on_cpu(0, "process"):
            result = entry(*args)
        with on_cpu(0, "softirq"):
            self._net_tx()
        self._nic_start()
        return result

    def _loopback_xmit(self, skb: SkBuff, dev: NetDevice) -> int:
        """What chapter 04 steps through (``loopback_xmit`` → ``__netif_rx`` → the backlog → NET_RX →
        ``__netif_receive_skb_core``), reduced to what matters for copies: before the skb reaches the receiving
        socket, pinned user pages are copied (``skb_orphan_frags_rx``). The receiver's ACK comes back later."""
        trace_printk("loopback_xmit → __netif_rx → NET_RX → __netif_receive_skb_core → skb_orphan_frags_rx")
        skb_orphan_frags_rx(skb)
        trace_printk("the receiving socket queues it; its recv() copies it out and frees it")
        consume_skb(skb)
        if "seq" in skb.meta:
            self._push(self.now + self.rtt_ns, "ack", skb.meta["seq"] + skb.meta.get("payload", 0))
        return NETDEV_TX_OK

    # --- the NIC, the wire and the peer ---------------------------------------------------------------------
    def _push(self, when: int, kind: str, data: object) -> None:
        self._order += 1
        heapq.heappush(self._events, (when, self._order, kind, data))

    def _nic_start(self) -> None:
        """The NIC takes new descriptors in ring order and sends them back to back at the link rate."""
        for buf in self.ring.buffers if self.ring else ():
            if buf.fetched:
                continue
            buf.fetched = True
            segs = buf.gso_segs
            payload = buf.skb.meta.get("payload", buf.skb.len)
            hdr = buf.skb.meta.get("hdr_len", 0) - 14
            wire = payload + segs * (hdr + WIRE_OVERHEAD)
            start = max(self.now, self._wire_free_at)
            self._wire_free_at = start + int(wire * self.ns_per_byte)
            self._push(self._wire_free_at, "tx_done", buf)
            if "seq" in buf.skb.meta:
                self._push(self._wire_free_at + self.rtt_ns, "ack", buf.skb.meta["seq"] + payload)

    def run(self, until_ns: int | None = None, max_interrupts: int = 100_000) -> None:
        """Let time pass: TX completions and ACKs arrive as interrupts, each handled by a NET_RX softirq."""
        while self._events and (until_ns is None or self._events[0][0] <= until_ns):
            if self.interrupts >= max_interrupts:
                raise RuntimeError(f"more than {max_interrupts} interrupts: is the scenario too large?")
            self.now = self._events[0][0]
            done, acks = 0, []
            while self._events and self._events[0][0] == self.now:
                _, _, kind, data = heapq.heappop(self._events)
                if kind == "tx_done":
                    done += 1
                else:
                    acks.append(data)
            self._interrupt(done, acks)
            self._nic_start()

    def _interrupt(self, done: int, acks: list[int]) -> None:
        self.dev.sd.raise_softirq(NET_RX_SOFTIRQ)
        if self.loopback:
            with on_cpu(0, "softirq"):
                trace_printk("NET_RX: process_backlog → … → tcp_v4_rcv: the receiver's ACK")
        else:
            self.interrupts += 1
            if done:
                igb_tx_hw_done(self.ring, done)
            with on_cpu(0, "hardirq"):
                trace_printk(f"IRQ: {'TX done' if done else ''}{' + ' if done and acks else ''}"
                             f"{'ACK arrived' if acks else ''} → igb_msix_ring → napi_schedule, NET_RX_SOFTIRQ")
        with on_cpu(0, "softirq"):
            if not self.loopback:
                igb_clean_tx_irq(self.ring, self.dev, self.profile.dev_weight)
            for ack in acks:
                trace_printk("igb_clean_rx_irq → … → tcp_v4_rcv → tcp_rcv_established (the receive path)")
                if tcp_ack(self.sk, ack, self.sk.snd_wnd):
                    tcp_data_snd_check(self.sk)
            self._net_tx()

    def _net_tx(self) -> None:
        while self.dev.sd.output_queue:
            net_tx_action(self.dev.sd)

    # --- what the views see ---------------------------------------------------------------------------------
    def _note(self, skb: SkBuff, where: str) -> None:
        self._skbs[id(skb)] = (skb, where)

    def state(self) -> dict:
        """Plain data for a trace step: the skbs and where they are, the queues, the ring, the counters."""
        for skb in self.sk.sk_write_queue:
            self._note(skb, "write queue")
        for skb in self.sk.tcp_rtx_queue:
            self._note(skb, "retransmit queue")
        if self.dev.qdisc is not None:
            for skb in list(self.dev.qdisc.gso_skb) + list(self.dev.qdisc.q):
                self._note(skb, "qdisc")
        for buf in self.ring.buffers if self.ring else ():
            self._note(buf.skb, "TX ring" + (" (sent)" if buf.done else ""))
        skbs = []
        for skb, where in self._skbs.values():
            snap = skb.snapshot()
            snap["where"] = "freed" if skb.freed else where
            snap["data_freed"] = skb.shinfo.freed
            skbs.append(snap)
        return {"t_us": self.now / 1000, "skbs": skbs, "sock": self.sk.snapshot(),
                "qdisc": self.dev.qdisc.snapshot() if self.dev.qdisc else None,
                "ring": self.ring.snapshot() if self.ring else None, "softirqs": dict(self.dev.sd.raised),
                "tap": [s for t in self.dev.ptype_all for s in t.seen], "queue_stopped": self.dev.queue_stopped}

    @contextmanager
    def record(self, trace: bool = True) -> Iterator[Recording]:
        """Record a trace (unless ``trace=False``, for large scenarios) and the copy ledger of what runs inside."""
        rec = Recording()
        with rec.ledger:
            if trace:
                with Tracer(clock=lambda: self.now, snapshot=self.state) as tracer:
                    yield rec
                rec.trace = tracer.trace
            else:
                yield rec


METHODS = ("read+send", "mmap+write", "sendfile", "MSG_ZEROCOPY")


def send_file(host: SendHost, f: CachedFile, method: str, chunk: int = 65536) -> int:
    """Send all of ``f`` over ``host``'s socket with ``method`` (see ``METHODS``), ``chunk`` bytes per read or
    write (sendfile needs a single call), then let the transfer finish. Returns the bytes sent."""
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    if not isinstance(chunk, int) or chunk <= 0:
        raise ValueError("chunk must be a positive int")
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
            sent += host.syscall(send_zerocopy if method == "MSG_ZEROCOPY" else __sys_sendto, host.sk,
                                 *((n,) if method == "MSG_ZEROCOPY" else (MsgHdr(n),)))
    host.run()
    return sent


def copy_ledgers(size: int = 1 << 20, chunk: int = 65536, *, device: str = "igb", cached: bool = True,
                 profile: KernelProfile | None = None) -> dict[str, CopyLedger]:
    """The copy ledger of sending a ``size``-byte file each way in ``METHODS`` (no trace: fast)."""
    ledgers = {}
    for method in METHODS:
        host = SendHost(profile, device=device)
        f = CachedFile("file", size)
        if cached:
            f.warm()
        with host.record(trace=False) as rec:
            send_file(host, f, method, chunk)
        ledgers[method] = rec.ledger
    return ledgers
