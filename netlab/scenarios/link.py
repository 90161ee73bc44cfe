"""A cable between two hosts: what one NIC puts on the wire arrives in the other's RX ring.

Both :class:`~netlab.scenarios.receive.Host` objects run on one engine (the same
:class:`~netlab.kernel.sched.Scheduler`) and can send (built with ``tx_ring_size``). When a NIC has sent a frame
(``Nic.transmit``, after ``igb_xmit_frame`` → ``igb_tx_map``: the serialisation time at the NIC's link rate is
already in its ``done_at``), the frame's last bit reaches the other end ``delay_us`` of propagation later; at that
moment (an engine event) it becomes a :class:`~netlab.kernel.nic.Packet` on the other NIC, whose RSS, DMA, hard IRQ
and NAPI poll take it from there. A TSO skb arrives as the ``gso_segs`` frames the NIC cut it into, each when its
own last bit is there. The link is full duplex: each direction has its own wire (each NIC its ``wire_free_at``).

The link also gives each host's TCP handshake its way out (``Net.xmit`` = :meth:`Host.xmit_segment`), so a
``connect()`` on one host reaches a listener on the other through both hosts' send and receive paths.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from netlab import check
from netlab.kernel.dev import NetDevice
from netlab.kernel.dev_hard_xmit import ETH_HLEN
from netlab.kernel.loopback import loopback_dev_init
from netlab.kernel.profiles import KernelProfile
from netlab.kernel.route import fib_add_ifaddr
from netlab.kernel.sched import Scheduler
from netlab.kernel.nic import WIRE_OVERHEAD, Packet
from netlab.kernel.skbuff import CLONED, SkBuff
from netlab.kernel.timer import TimerList
from netlab.scenarios.receive import Host
from netlab.trace import on_cpu, trace_printk

MAX_DELAY_US = 1_000_000.0
"""The longest propagation delay a link may have: one second (a cable round the Earth takes 0.2 s)."""
CLIENT_ADDR, SERVER_ADDR, LOCALHOST = "10.0.0.1", "10.0.0.2", "127.0.0.1"
"""The addresses of :func:`client_and_server`'s hosts."""


class Link:
    """A full-duplex cable between ``a`` and ``b`` with ``delay_us`` of propagation each way."""

    @check.arguments
    def __init__(self, a: Host, b: Host, delay_us: float = 5.0):
        check.real("delay_us", delay_us, maximum=MAX_DELAY_US)
        if a is b:
            raise ValueError("a link joins two different hosts")
        if a.sched is not b.sched:
            raise ValueError("both hosts must run on one engine: build them with the same sched=Scheduler(...)")
        for host in (a, b):
            if host.dev.ndo_start_xmit is None:
                raise ValueError(f"{host.address} cannot send: build the Host with tx_ring_size")
            if host.nic.on_transmit is not None:
                raise ValueError(f"{host.address}'s NIC is already cabled")
        self.a, self.b, self.delay_ns = a, b, int(delay_us * 1000)
        self.frames = 0
        a.nic.on_transmit = lambda skb, done_ns: self._carry(skb, done_ns, a, b)
        b.nic.on_transmit = lambda skb, done_ns: self._carry(skb, done_ns, b, a)
        a.net.xmit, b.net.xmit = a.xmit_segment, b.xmit_segment

    def _carry(self, skb: SkBuff, done_ns: int, src: Host, dst: Host) -> None:
        """The frames of ``skb`` (sent by ``src``'s NIC by ``done_ns``) arrive at ``dst`` one delay later."""
        for packet in self._frames(skb, done_ns, src):
            timer = TimerList(lambda t, p=packet: self._arrive(p, src, dst), name=f"{packet.name} on the wire",
                              context="hardirq", host=dst.name)
            dst.sched.mod_timer(timer, packet.time_ns)

    def _frames(self, skb: SkBuff, done_ns: int, src: Host) -> list[Packet]:
        """One Packet per frame on the wire (TSO: ``gso_segs``), each timed by its last bit's arrival and named
        after the skb TCP built (not its transmit clone)."""
        m = skb.meta
        segs = m.get("gso_segs", 1)
        ip_len = skb.len - ETH_HLEN
        headers = m.get("hdr_len", ETH_HLEN) - ETH_HLEN
        payload = ip_len - headers
        sizes = [ip_len] if segs == 1 else \
            [headers + min(skb.shinfo.gso_size, payload - i * skb.shinfo.gso_size) for i in range(segs)]
        tcp = m.get("protocol") == "tcp"
        seq = m.get("seq", 0)
        ends, end = [], done_ns
        for size in reversed(sizes):         # the NIC finished the last frame at done_ns
            ends.append(end)
            end -= int((size + ETH_HLEN + WIRE_OVERHEAD) * src.nic.ns_per_byte)
        packets = []
        name = skb.name.removesuffix(CLONED)
        for i, (size, end) in enumerate(zip(sizes, reversed(ends))):
            self.frames += 1
            packets.append(Packet(end + self.delay_ns, m["saddr"], m["daddr"], m["sport"], m["dport"],
                                  m["protocol"], size, name if segs == 1 else f"{name}.{i}",
                                  seq=seq if tcp else 0, ack=m.get("ack_seq") if tcp else None,
                                  flags=tuple(m.get("flags", ())) if tcp else ()))
            seq += size - headers
        return packets

    @staticmethod
    def _arrive(packet: Packet, src: Host, dst: Host) -> None:
        with on_cpu(0, "hardirq", dst.name):
            trace_printk(f"{packet.name} ({packet.length} B) arrives at {dst.address}'s {dst.dev.name} from "
                         f"{src.address}")
        dst.receive([packet])


@dataclass(frozen=True)
class ClientServer:
    """A client host and a server host on one engine, and the addresses the programs use: two hosts on a
    :class:`Link` (``link`` set), or one host over loopback (client and server the same, ``link`` None)."""

    client: Host
    server: Host
    link: Link | None
    client_addr: str
    server_addr: str
    client_dev: NetDevice



@check.arguments
def client_and_server(profile: KernelProfile, sched: Scheduler, over: str = "link", delay_us: float = 5.0,
                      memory: bool = False, max_files: Annotated[int, check.Range(1, check.INT64_MAX)]
                      = check.INT64_MAX) -> ClientServer:
    """Over a link: hosts "client" (10.0.0.1) and "server" (10.0.0.2), ``delay_us`` of wire apart. Over loopback: one
    host, "localhost", with two CPUs and ``lo`` (127.0.0.1/8), where client and server are both at 127.0.0.1.
    ``memory`` and ``max_files`` as :class:`Host` takes them."""
    check.choice("over", over, ("link", "loopback"))
    if over == "link":
        client, server = (Host(profile, address=address, tx_ring_size=profile.tx_ring_size, sched=sched, name=name,
                               memory=memory, max_files=max_files)
                          for name, address in (("client", CLIENT_ADDR), ("server", SERVER_ADDR)))
        return ClientServer(client, server, Link(client, server, delay_us), CLIENT_ADDR, SERVER_ADDR, client.dev)
    host = Host(profile, cpus=2, address=SERVER_ADDR, sched=sched, name="localhost", memory=memory,
                max_files=max_files)
    lo = loopback_dev_init(host.net)
    with host.cpus[0].running("process"):
        fib_add_ifaddr(host.net, lo, "127.0.0.1/8", loopback=True)
    host.net.xmit = host.xmit_segment
    return ClientServer(host, host, None, LOCALHOST, LOCALHOST, lo)

