"""Chapter 04: routing to local addresses, the loopback device's path, and the parsers of the live readings
(the live experiments themselves: test_live_loopback.py)."""
import socket
import struct
from pathlib import Path

import pytest

from netlab.kernel.dev_hard_xmit import ETH_HLEN
from netlab.kernel.inet_stream import tcp_recvmsg
from netlab.kernel.ip_output import IP_HLEN
from netlab.kernel.loopback import loopback_xmit
from netlab.kernel.profiles import PROFILES
from netlab.kernel.route import RT_TABLE_LOCAL, RT_TABLE_MAIN, Flowi4, Rtable, fib_lookup, fib_new_table, \
    ip_route_output_key, show_table
from netlab.kernel.sched import nonblocking
from netlab.kernel.skbuff import SkBuff
from netlab.kernel.sock import MSG_DONTWAIT
from netlab.kernel.softirq import local_bh_disable, local_bh_enable
from netlab.kernel.tcp_output import TCP_HLEN
from netlab.live import loopback as live
from netlab.live import rtnetlink
from netlab.live.procfs import parse_fib_trie
from netlab.scenarios.loopback import host, local_path, nic_path, route

OLD, NEW = PROFILES["3.10"], PROFILES["6.12"]
FIXTURES = Path(__file__).parent / "fixtures"


# --- the model ---------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("profile", [OLD, NEW], ids=["3.10", "6.12"])
@pytest.mark.parametrize("daddr, kind, dev, src", [
    ("127.0.0.1", "local", "lo", "127.0.0.1"), ("127.0.0.2", "local", "lo", "127.0.0.1"),
    ("127.255.0.9", "local", "lo", "127.0.0.1"), ("10.0.0.2", "local", "lo", "10.0.0.2"),
    ("10.0.0.7", "unicast", "eth0", "10.0.0.2"), ("8.8.8.8", "unicast", "eth0", "10.0.0.2")])
def test_every_local_address_routes_through_lo(profile, daddr, kind, dev, src):
    rt, fl4 = route(profile, daddr)
    assert (rt.rt_type, rt.dev.name, fl4.saddr) == (kind, dev, src)


def test_the_host_address_is_a_local_route_of_eth0_but_leaves_through_lo():
    h = host(NEW)
    with h.cpus[0].running("process"):
        matched, rt = fib_lookup(h.net, "10.0.0.2"), ip_route_output_key(h.net, Flowi4("10.0.0.2"))
    assert matched.dev is h.dev and h.dev.name == "eth0" and rt.dev is h.net.loopback_dev and rt.dev.name == "lo"


def test_a_route_via_the_gateway_keeps_its_address_and_a_learned_pmtu_wins_over_the_device_mtu():
    assert route(NEW, "8.8.8.8")[0].rt_gw4 == "10.0.0.1" and route(NEW, "10.0.0.7")[0].rt_gw4 is None
    dev = host(NEW).dev
    assert Rtable(dev).mtu == dev.mtu == 1500 and Rtable(dev, rt_pmtu=1400).mtu == 1400


def test_the_local_table_reads_like_ip_route_show_table_local():
    h = host(NEW)
    assert show_table(h.net, RT_TABLE_LOCAL) == [
        "local 127.0.0.1 dev lo scope host src 127.0.0.1", "local 127.0.0.0/8 dev lo scope host src 127.0.0.1",
        "broadcast 127.255.255.255 dev lo scope link src 127.0.0.1", "local 10.0.0.2 dev eth0 scope host src 10.0.0.2",
        "broadcast 10.0.0.255 dev eth0 scope link src 10.0.0.2"]
    assert show_table(h.net, RT_TABLE_MAIN) == ["10.0.0.0/24 dev eth0 scope link src 10.0.0.2",
                                                "default via 10.0.0.1 dev eth0"]


def test_6_12_keeps_local_and_main_in_one_trie_3_10_in_two():
    new, old = host(NEW).net, host(OLD).net
    assert fib_new_table(new, RT_TABLE_LOCAL) is fib_new_table(new, RT_TABLE_MAIN)
    assert fib_new_table(old, RT_TABLE_LOCAL) is not fib_new_table(old, RT_TABLE_MAIN)


@pytest.mark.parametrize("profile", [OLD, NEW], ids=["3.10", "6.12"])
def test_a_segment_through_lo_reaches_the_reader_without_its_headers(profile):
    """The send path hands lo the whole frame; eth_type_trans, IP and TCP pull their headers as for a NIC."""
    h = host(profile)
    sk = h.tcp_socket(80, peer=("127.0.0.1", 40000), local="127.0.0.1").sk
    headers = IP_HLEN + TCP_HLEN

    def send():
        skb = SkBuff(end=2048, name="data", len=ETH_HLEN + headers + 100, tail=ETH_HLEN + headers + 100,
                     meta=dict(protocol="tcp", saddr="127.0.0.1", daddr="127.0.0.1", sport=40000, dport=80, seq=1,
                               ack_seq=1, flags=("ACK", "PSH")))
        local_bh_disable()
        loopback_xmit(skb, h.net.loopback_dev)
        local_bh_enable()

    h.run_process(0, send)
    h.run()
    assert h.net.loopback_dev.stats["rx_bytes"] == headers + 100       # dev_lstats_add: after eth_type_trans
    assert h.run_process(0, lambda: nonblocking(tcp_recvmsg(sk, 4096, MSG_DONTWAIT))) == 100


def test_the_local_path_skips_nic_ring_irq_and_lands_in_the_socket():
    local = local_path(NEW)
    functions = local.functions()
    assert functions.index("loopback_xmit") < functions.index("__netif_rx") < functions.index("process_backlog") \
        < functions.index("tcp_v4_rcv")
    assert not any(f.startswith("igb_") or f in ("irq_enter", "napi_gro_receive") for f in functions)
    assert local.filter(function="process_backlog")[0].context == "softirq"
    assert local[-1].state.sockets["server"].queue == ("data",)


def test_127_0_0_1_127_0_0_2_and_the_own_address_take_the_same_path():
    paths = {d: local_path(NEW, d).functions() for d in ("127.0.0.1", "127.0.0.2", "10.0.0.2")}
    assert paths["127.0.0.1"] == paths["127.0.0.2"] == paths["10.0.0.2"]


def test_compared_with_the_nic_path():
    comparison = nic_path(NEW).compare(local_path(NEW))
    assert {"igb_msix_ring", "igb_poll", "napi_gro_receive"} <= set(comparison.only_first)
    assert {"loopback_xmit", "enqueue_to_backlog", "process_backlog"} <= set(comparison.only_second)
    assert {"net_rx_action", "tcp_v4_rcv", "tcp_rcv_established"} <= set(comparison.both)


def test_bad_inputs_are_refused():
    with pytest.raises(ValueError, match="not a local address"):
        local_path(NEW, "10.0.0.7")
    with pytest.raises(ValueError, match="daddr"):
        Flowi4("not-an-ip")
    with pytest.raises(ValueError, match="rt_type"):
        Rtable(host(NEW).dev, "bogus")
    with pytest.raises(TypeError, match="KernelProfile"):
        host("6.12")
    with pytest.raises(ValueError, match="table"):
        show_table(host(NEW).net, 100)


# --- parsers --------------------------------------------------------------------------------------------------

def test_fib_trie_of_3_10_has_two_tables_and_of_6_12_one_printed_twice():
    old = parse_fib_trie((FIXTURES / "fib_trie_3.10.txt").read_text())
    assert [r.prefix for r in old["Local"] if r.type == "LOCAL"] == ["10.0.0.2/32", "127.0.0.0/8", "127.0.0.1/32"]
    assert all(r.type == "UNICAST" for r in old["Main"])
    new = parse_fib_trie((FIXTURES / "fib_trie_6.12.txt").read_text())
    assert new["Main"] == new["Local"] and ("127.0.0.0/8", "host", "LOCAL") in [tuple(r.__dict__.values())
                                                                               for r in new["Local"]]
    with pytest.raises(ValueError, match="fib_trie"):
        parse_fib_trie("Main:\n  ?? what\n")


def test_local_routes_falls_back_when_the_file_is_missing(tmp_path):
    r = live.local_routes(str(tmp_path / "nope"))
    assert not r.available and "does not exist" in r.reason
    r = live.local_routes(str(FIXTURES / "fib_trie_3.10.txt"))
    assert r.value == [("10.0.0.2/32", "host"), ("127.0.0.0/8", "host"), ("127.0.0.1/32", "host")]


def test_rtnetlink_messages():
    request = rtnetlink.route_request("127.0.0.2")
    assert struct.unpack_from("=IH", request) == (len(request), rtnetlink.RTM_GETROUTE)
    assert request.endswith(socket.inet_aton("127.0.0.2"))
    body = struct.pack("=BBBBBBBBI", socket.AF_INET, 32, 0, 0, 254, 2, 254, 2, 0)
    body += rtnetlink._attr(rtnetlink.RTA_OIF, struct.pack("=i", 1))
    body += rtnetlink._attr(rtnetlink.RTA_PREFSRC, socket.inet_aton("127.0.0.1"))
    reply = struct.pack("=IHHII", 16 + len(body), rtnetlink.RTM_NEWROUTE, 0, 1, 0) + body
    rt = rtnetlink.parse_route_reply(reply, "127.0.0.2", ifname=lambda i: {1: "lo"}[i])
    assert (rt.type, rt.dev, rt.src, rt.table) == ("local", "lo", "127.0.0.1", 254)
    assert str(rt) == "local 127.0.0.2 dev lo src 127.0.0.1 table 254"
    with pytest.raises(OSError, match="no route"):
        rtnetlink.parse_route_reply(struct.pack("=IHHIIi", 20, rtnetlink.NLMSG_ERROR, 0, 1, 0, -101), "x")
    veth = rtnetlink.veth_request("veth0", "veth1")
    assert struct.unpack_from("=I", veth)[0] == len(veth) and b"veth1\0" in veth and b"veth\0" not in veth[:20]
