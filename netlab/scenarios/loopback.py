"""Local networking, traced: one TCP segment to 127.0.0.1 (or 127.0.0.2, or the host's own address) beside one
that arrives from another host through the NIC.

Both run on a chapter-01 :class:`netlab.scenarios.receive.Host` (eth0 with 10.0.0.2/24, ``lo`` with 127.0.0.1/8, a
default route) with the kernel models of :mod:`netlab.kernel.route` and :mod:`netlab.kernel.loopback`:

* **local**: the sender's route lookup (``ip_route_output_key`` → RTN_LOCAL → ``lo``), then, with bottom halves
  disabled as ``__dev_queue_xmit`` has them, ``loopback_xmit`` → ``__netif_rx`` → the backlog; the NET_RX
  softirq runs at ``local_bh_enable`` on the sending CPU: ``process_backlog`` → IP → TCP → the socket.
* **from the NIC**: the packet is DMA'd into the RX ring, a hard IRQ schedules NAPI, ``igb_poll`` → GRO → IP →
  TCP → the socket (chapter 01).

The sending half above the device (``tcp_sendmsg`` … ``dev_queue_xmit``) is chapter 03's and is the same for
both; it is not repeated here.

    local, nic = local_path(PROFILES["6.12"]), nic_path(PROFILES["6.12"])
    print(nic.compare(local))      # what loopback skips, and what only it does
"""
from __future__ import annotations

from netlab import check
from netlab.kernel.dev_hard_xmit import ETH_HLEN
from netlab.kernel.ip_output import IP_HLEN
from netlab.kernel.loopback import loopback_dev_init, loopback_xmit
from netlab.kernel.nic import Packet
from netlab.kernel.profiles import KernelProfile
from netlab.kernel.route import RTN_LOCAL, Flowi4, Rtable, fib_add_ifaddr, ip_route_add_default, ip_route_output_key
from netlab.kernel.skbuff import SkBuff
from netlab.kernel.softirq import local_bh_disable, local_bh_enable
from netlab.kernel.tcp_output import TCP_HLEN
from netlab.scenarios.receive import Host
from netlab.trace import Trace

HOST_ADDR, GATEWAY, PEER = "10.0.0.2", "10.0.0.1", "10.0.0.1"
PORT, PEER_PORT, PAYLOAD = 80, 40000, 100


@check.arguments
def host(profile: KernelProfile) -> Host:
    """A one-CPU host with eth0 (10.0.0.2/24, default route via 10.0.0.1) and lo (127.0.0.1/8)."""
    h = Host(profile, address=HOST_ADDR)
    lo = loopback_dev_init(h.net)
    with h.cpus[0].running("process"):
        fib_add_ifaddr(h.net, lo, "127.0.0.1/8", loopback=True)
        fib_add_ifaddr(h.net, h.dev, f"{HOST_ADDR}/24")
    ip_route_add_default(h.net, GATEWAY, h.dev)
    return h


@check.arguments
def route(profile: KernelProfile, daddr: str) -> tuple[Rtable | str, Flowi4]:
    """``ip route get DADDR`` on the model host: the route, and the flow with the source address it chose."""
    h = host(profile)
    fl4 = Flowi4(daddr)
    with h.cpus[0].running("process"):
        return ip_route_output_key(h.net, fl4), fl4


@check.arguments
def local_path(profile: KernelProfile, daddr: str = "127.0.0.1") -> Trace:
    """A 100-byte TCP segment from a local client to a local server on ``daddr``: route, lo, backlog, NET_RX."""
    h = host(profile)
    rt, fl4 = route(profile, daddr)
    if isinstance(rt, str) or rt.rt_type != RTN_LOCAL:
        raise ValueError(f"{daddr} is not a local address of the model host (route: {rt})")
    h.tcp_socket(PORT, peer=(fl4.saddr, PEER_PORT), name="server", local=daddr)

    def send() -> None:
        out = Flowi4(daddr)
        ip_route_output_key(h.net, out)
        frame = ETH_HLEN + IP_HLEN + TCP_HLEN + PAYLOAD    # as neigh_hh_output hands it to the device
        skb = SkBuff(end=2048, name="data", len=frame, tail=frame,
                     meta=dict(protocol="tcp", saddr=out.saddr, daddr=daddr, sport=PEER_PORT, dport=PORT,
                               seq=1, ack_seq=1, flags=("ACK", "PSH")))
        local_bh_disable()            # __dev_queue_xmit: rcu_read_lock_bh()
        loopback_xmit(skb, h.net.loopback_dev)
        local_bh_enable()             # rcu_read_unlock_bh(): NET_RX runs here, on this CPU, in this task's time

    return h.record(lambda: (h.run_process(0, send), h.run()))


@check.arguments
def nic_path(profile: KernelProfile) -> Trace:
    """The same segment arriving from another host (10.0.0.1) through eth0's RX ring (chapter 01's path)."""
    h = host(profile)
    h.tcp_socket(PORT, peer=(PEER, PEER_PORT), name="server")
    h.receive([Packet(0, saddr=PEER, daddr=HOST_ADDR, sport=PEER_PORT, dport=PORT, length=IP_HLEN + TCP_HLEN + PAYLOAD,
                      name="data")])
    return h.record()
