"""Local networking, traced: one TCP send to 127.0.0.1 (or 127.0.0.2, or the host's own address) beside the same
segment arriving from another host through the NIC.

* **local**: chapter 03's :class:`~netlab.scenarios.send.SendHost` over ``lo``: ``send()`` → ``tcp_sendmsg`` →
  ``tcp_write_xmit`` → ``__ip_queue_xmit``, whose route lookup (``ip_route_output_ports`` → ``fib_lookup``) says
  RTN_LOCAL → ``lo``; netfilter OUTPUT and POSTROUTING; ``__dev_queue_xmit`` finds no qdisc (noqueue) and calls
  ``loopback_xmit`` → ``__netif_rx`` → this CPU's backlog. With bottom halves disabled there, the NET_RX softirq
  runs at ``local_bh_enable`` on the sending CPU, in the sender's system call: ``process_backlog`` → IP → TCP →
  the receiving socket. Its ACK comes back at ``release_sock``.
* **from the NIC**: a chapter-01 :class:`~netlab.scenarios.receive.Host`: the packet is DMA'd into the RX ring, a
  hard IRQ schedules NAPI, ``igb_poll`` → GRO → IP → TCP → the socket.

Both hosts have eth0 with 10.0.0.2/24, ``lo`` with 127.0.0.1/8 and a default route
(:func:`~netlab.scenarios.send.configure_addresses`).

    local, nic = local_path(PROFILES["6.12"]), nic_path(PROFILES["6.12"])
    print(nic.compare(local))      # what loopback skips, and what only it does
"""
from __future__ import annotations

from netlab import check
from netlab.kernel.ip_output import IP_HLEN
from netlab.kernel.nic import Packet
from netlab.kernel.profiles import KernelProfile
from netlab.kernel.route import Flowi4, Rtable, ip_route_output_key
from netlab.kernel.tcp_output import TCP_HLEN
from netlab.scenarios.receive import Host
from netlab.scenarios.send import PEER, SendHost, configure_addresses
from netlab.trace import Trace

HOST_ADDR = "10.0.0.2"
PORT, PEER_PORT, PAYLOAD = 80, 40000, 100


@check.arguments
def host(profile: KernelProfile) -> Host:
    """A one-CPU host with eth0 (10.0.0.2/24, default route via 10.0.0.1) and lo (127.0.0.1/8)."""
    h = Host(profile, address=HOST_ADDR)
    configure_addresses(h)
    return h


@check.arguments
def route(profile: KernelProfile, daddr: str) -> tuple[Rtable | str, Flowi4]:
    """``ip route get DADDR`` on the model host: the route, and the flow with the source address it chose."""
    h = host(profile)
    fl4 = Flowi4(daddr)
    with h.cpus[0].running("process"):
        return ip_route_output_key(h.net, fl4), fl4


@check.arguments
def route_lookup(profile: KernelProfile, daddr: str) -> Trace:
    """The trace of one ``ip_route_output_key`` for ``daddr`` in a process on the model host: its ``fib_lookup``
    and the table lookups it takes (two on 3.10 for a remote address, one on 6.12)."""
    h = host(profile)
    return h.record(lambda: h.run_process(0, lambda: ip_route_output_key(h.net, Flowi4(daddr))))


@check.arguments
def local_path(profile: KernelProfile, daddr: str = "127.0.0.1") -> Trace:
    """``send()`` of 100 bytes from a local client to a local server on ``daddr``: chapter 03's send path into
    ``lo``, the backlog and NET_RX on the sending CPU, up to the server's socket (``receiver``)."""
    h = SendHost(profile, device="lo", daddr=daddr)
    return h.capture(lambda: (h.send(PAYLOAD), h.run())).trace


@check.arguments
def nic_path(profile: KernelProfile) -> Trace:
    """The same segment arriving from another host (10.0.0.1) through eth0's RX ring (chapter 01's path)."""
    h = host(profile)
    h.tcp_socket(PORT, peer=(PEER, PEER_PORT), name="receiver")
    h.receive([Packet(0, saddr=PEER, daddr=HOST_ADDR, sport=PEER_PORT, dport=PORT, length=IP_HLEN + TCP_HLEN + PAYLOAD,
                      name="data")])
    return h.record()
