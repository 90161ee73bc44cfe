"""Chapter 04: routing to local addresses, the loopback device's path, and the parsers of the live readings
(the live experiments themselves: test_live_loopback.py)."""
from pathlib import Path

import pytest

from netlab.kernel.inet_stream import tcp_recvmsg
from netlab.kernel.ip_output import IP_HLEN
from netlab.kernel.profiles import PROFILES
from netlab.kernel.renamed import named
from netlab.kernel.route import RT_TABLE_LOCAL, RT_TABLE_MAIN, Flowi4, Rtable, fib_lookup, fib_new_table, \
    ip_route_output_key, show_table
from netlab.kernel.sched import nonblocking
from netlab.kernel.sock import MSG_DONTWAIT
from netlab.kernel.tcp_output import TCP_HLEN
from netlab.live import loopback as live
from netlab.live.procfs import parse_fib_trie
from netlab.scenarios.loopback import host, local_path, nic_path, route, route_lookup
from netlab.scenarios.send import SendHost

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


@pytest.mark.parametrize("profile, daddr, lookups", [(OLD, "127.0.0.2", 1), (OLD, "8.8.8.8", 2),
                                                    (NEW, "127.0.0.2", 1), (NEW, "8.8.8.8", 1)])
def test_a_remote_route_takes_two_table_lookups_on_3_10_and_one_on_6_12(profile, daddr, lookups):
    """Chapter 04 §1 and its exercise: table local, then main on 3.10; one shared trie on 6.12."""
    trace = route_lookup(profile, daddr)
    assert len(trace.filter(function="fib_table_lookup")) == lookups
    assert [e.function for e in trace if e.kind == "call"][:3] == named(profile.renamed, [
        "ip_route_output_key", "ip_route_output_key_hash_rcu", "fib_lookup"])


def test_a_segment_to_127_0_0_1_waits_only_in_the_backlog_and_tcp_receives_it_in_net_rx_on_the_sending_cpu():
    """Chapter 04 §2's exercises: of the TX ring, the qdisc, the backlog and the RX ring, only the backlog's
    enqueue runs; tcp_v4_rcv runs in NET_RX (softirq) on the CPU that ran loopback_xmit."""
    local = local_path(NEW, "127.0.0.1")
    functions = set(local.functions())
    assert "enqueue_to_backlog" in functions and not functions & {"igb_tx_map", "pfifo_fast_enqueue",
                                                                  "igb_clean_rx_irq"}
    rcv, xmit = local.filter(function="tcp_v4_rcv")[0], local.filter(function="loopback_xmit")[0]
    assert rcv.context == "softirq" and rcv.cpu == xmit.cpu and "net_rx_action" in functions


@pytest.mark.parametrize("profile", [OLD, NEW], ids=["3.10", "6.12"])
def test_a_segment_through_lo_reaches_the_reader_without_its_headers(profile):
    """The send path hands lo the whole frame; eth_type_trans, IP and TCP pull their headers as for a NIC."""
    h = SendHost(profile, device="lo")
    h.send(100)
    h.run()
    assert h.out.stats["rx_bytes"] == IP_HLEN + TCP_HLEN + 100       # dev_lstats_add: after eth_type_trans
    sk = h.sockets["receiver"].sk
    assert h.run_process(0, lambda: nonblocking(tcp_recvmsg(sk, 4096, MSG_DONTWAIT))) == 100


@pytest.mark.parametrize("profile", [OLD, NEW], ids=["3.10", "6.12"])
def test_the_local_path_is_chapter_03s_send_path_into_lo_and_up_through_the_backlog(profile):
    local = local_path(profile)
    calls = [e for e in local if e.kind == "call"]
    first = {}
    for i, e in enumerate(calls):
        first.setdefault(e.function, i)
    path = named(profile.renamed, ["__sys_sendto", "tcp_sendmsg", "tcp_write_xmit", "__tcp_transmit_skb", "__ip_queue_xmit",
            "ip_route_output_ports", "fib_lookup", "sk_setup_caps", "__ip_local_out", "ip_output", "__dev_queue_xmit",
            "loopback_xmit", "__netif_rx", "enqueue_to_backlog", "local_bh_enable", "net_rx_action",
            "process_backlog", "ip_rcv", "tcp_v4_rcv", "tcp_rcv_established", "tcp_queue_rcv", "tcp_ack"])
    assert [first[f] for f in path] == sorted(first[f] for f in path)
    assert {e.cpu for e in local} == {0} and not {e.context for e in local} & {"hardirq", "ksoftirqd"}
    assert local.filter(function="process_backlog")[0].context == "softirq"
    hooks = [e.text.split()[2] for e in local.filter(function="NF_HOOK")]
    assert hooks == ["NF_INET_LOCAL_OUT", "NF_INET_POST_ROUTING", "NF_INET_PRE_ROUTING", "NF_INET_LOCAL_IN"]
    functions = set(local.functions())
    assert not any(f.startswith(("igb_", "pfifo_fast", "__qdisc", "qdisc_")) for f in functions)
    assert not functions & {"irq_enter", "napi_gro_receive", "__dev_xmit_skb", "net_tx_action"}
    assert "noqueue" in local.filter(function=named(profile.renamed, ["__dev_queue_xmit"]), kind="printk")[0].text
    assert local[-1].state.sockets["receiver"].queue == ("skb1 (clone)",)
    assert local[-1].state.sock.snd_una == 100          # the receiver's ACK, at release_sock


@pytest.mark.parametrize("daddr, saddr", [("127.0.0.1", "127.0.0.1"), ("127.0.0.2", "127.0.0.1"),
                                          ("10.0.0.2", "10.0.0.2")])
def test_the_send_path_routes_a_local_address_as_local_through_lo(daddr, saddr):
    local = local_path(NEW, daddr)
    lookup = local.filter(function="ip_route_output_ports")[0]
    assert lookup.text == f"the route of the socket's flow, {saddr} → {daddr}"
    assert "RTN_LOCAL" in " ".join(e.text for e in local if e.kind == "printk")
    assert local.filter(function="sk_setup_caps")[0].text.startswith("cache the route (local dev lo)")
    h = SendHost(NEW, device="lo", daddr=daddr)
    h.send(100)
    assert (h.sk.dst.rt_type, h.sk.dst.dev.name, h.sk.inet_rcv_saddr) == ("local", "lo", saddr)


def test_a_route_out_of_lo_is_local_unless_it_says_otherwise():
    lo = host(NEW).net.loopback_dev
    assert Rtable(lo).rt_type == "local" and Rtable(host(NEW).dev).rt_type == "unicast"


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
    with pytest.raises(ValueError, match="daddr is for device='lo'"):
        SendHost(NEW, daddr="127.0.0.1")
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


def test_an_rtnetlink_route_reply_becomes_a_route():
    from pyroute2.netlink.rtnl.rtmsg import rtmsg
    reply = rtmsg()
    reply["type"], reply["table"] = 2, 254
    reply["attrs"] = [("RTA_OIF", 1), ("RTA_PREFSRC", "127.0.0.1"), ("RTA_TABLE", 254)]
    rt = live.route_from_reply(reply, "127.0.0.2", ifname=lambda i: {1: "lo"}[i])
    assert (rt.type, rt.dev, rt.src, rt.table) == ("local", "lo", "127.0.0.1", 254)
    assert str(rt) == "local 127.0.0.2 dev lo src 127.0.0.1 table 254"
    reply["type"], reply["attrs"] = 1, [("RTA_OIF", 2)]
    assert str(live.route_from_reply(reply, "192.0.2.1", ifname=lambda i: "eth0")) == "192.0.2.1 dev eth0 table 254"
