"""The receive-path models: ring, RSS, NAPI/softirq, netfilter vs taps, sockets, backlog, the Host event loop."""
import pytest
from hypothesis import given, settings, strategies as st

from netlab.kernel.cpu import NET_RX_SOFTIRQ, Costs, Cpu, this_cpu
from netlab.kernel.dev import softnet_stat_values
from netlab.kernel.dev_hard_xmit import ETH_HLEN
from netlab.kernel.inet_stream import tcp_recvmsg
from netlab.kernel.ip_output import IP_HLEN
from netlab.kernel.nic import (BULK_LATENCY, IGB_4K_ITR, IGB_20K_ITR, IGB_70K_ITR, IGB_RETA_SIZE, RSS_KEY,
                               RX_SKB_TRUESIZE, Nic, Packet, RingBuffer, igb_indirection_table, rss_input, toeplitz_hash)
from netlab.kernel.profiles import PROFILES
from netlab.kernel.renamed import named
from netlab.kernel.sched import nonblocking
from netlab.kernel.skbuff import SkBuff
from netlab.kernel.sock import MSG_DONTWAIT
from netlab.kernel.softirq import local_bh_disable, local_bh_enable, wakeup_softirqd
from netlab.kernel.tcp_output import TCP_HLEN
from netlab.kernel.udp import udp_recvmsg
from netlab.kernel.udp_output import UDP_HLEN
from netlab.scenarios.receive import Host


def udp_flood(n, gap_ns, flows=1, start=1000, length=64):
    return [Packet(start + i * gap_ns, sport=40000 + i % flows, protocol="udp", name=f"p{i}", length=length)
            for i in range(n)]


# --- ring ---------------------------------------------------------------------------------------------------
def test_ring_holds_count_minus_one_and_drops_when_full():
    ring = RingBuffer(8)
    while ring.unused():
        ring.give()
    assert ring.device_owned() == 7
    assert [ring.complete(f"p{i}") for i in range(9)] == [True] * 7 + [False] * 2
    assert ring.clean() == "p0" and ring.done() == 6 and ring.unused() == 1
    ring.give()
    assert ring.complete("p7") and ring.snapshot().slots.count("drv") == 1


def test_ring_refuses_bad_use():
    with pytest.raises(ValueError, match="count"):
        RingBuffer(1)
    ring = RingBuffer(4)
    for _ in range(3):
        ring.give()
    with pytest.raises(ValueError, match="unused"):
        ring.give()


@given(st.lists(st.sampled_from(["give", "complete", "clean"]), max_size=200), st.integers(2, 16))
def test_ring_invariants_hold_under_any_sequence(ops, count):
    ring, sent, got = RingBuffer(count), 0, []
    for op in ops:
        if op == "give" and ring.unused():
            ring.give()
        elif op == "complete":
            if ring.complete(sent):
                sent += 1
        elif op == "clean":
            item = ring.clean()
            if item is not None:
                got.append(item)
        assert ring.unused() + ring.device_owned() + ring.done() == count - 1
        assert min(ring.unused(), ring.device_owned(), ring.done()) >= 0
    assert got == list(range(len(got)))  # FIFO, nothing lost or reordered


# --- RSS ----------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("src, dst, sport, dport, expected", [
    # Microsoft RSS specification, "Verifying the RSS hash calculation", IPv4 with TCP ports
    ("66.9.149.187", "161.142.100.80", 2794, 1766, 0x51CCC178),
    ("199.92.111.2", "65.69.140.83", 14230, 4739, 0xC626B0EA),
    ("24.19.198.95", "12.22.207.184", 12898, 38024, 0x5C2B394A),
    ("38.27.205.30", "209.142.163.6", 48228, 2217, 0xAFC7327F),
    ("153.39.163.191", "202.188.127.2", 44251, 1303, 0x10E828A2),
])
def test_toeplitz_matches_the_published_vectors(src, dst, sport, dport, expected):
    assert toeplitz_hash(rss_input(src, dst, sport, dport), RSS_KEY) == expected


def test_igb_indirection_table_is_in_blocks():
    table = igb_indirection_table(4)
    assert len(table) == IGB_RETA_SIZE and table[:32] == [0] * 32 and table[-1] == 3
    with pytest.raises(ValueError, match="queues"):
        igb_indirection_table(9)


def test_rss_spreads_flows_over_queues_and_cpus():
    host = Host("6.12", cpus=4, queues=4)
    host.udp_socket(80, rcvbuf=10**9)
    host.receive(udp_flood(400, 2000, flows=64))
    host.run()
    processed = host.summary().processed
    assert sum(processed) == 400 and all(p > 40 for p in processed)


# --- the path of one packet ------------------------------------------------------------------------------------------
def one_tcp_packet(profile):
    host = Host(profile)
    sock = host.tcp_socket(80, peer=("10.0.0.1", 40000))
    reader = host.blocked_reader(sock)
    host.receive([Packet(1000, name="p0")])
    return host, sock, reader, host.record()


@pytest.mark.parametrize("profile", ["3.10", "6.12"])
def test_a_tcp_packet_goes_from_irq_to_the_reader(profile):
    host, sock, reader, trace = one_tcp_packet(profile)
    order = ["igb_msix_ring", "napi_schedule", "irq_exit", "net_rx_action", "igb_poll", "igb_clean_rx_irq",
             "napi_gro_receive", "__netif_receive_skb_core", "ip_local_deliver", "tcp_v4_rcv", "tcp_v4_do_rcv",
             "tcp_rcv_established", "tcp_queue_rcv", "tcp_data_ready", "sock_def_readable", "try_to_wake_up"]
    order = named(PROFILES[profile].renamed, order)
    names = trace.functions()
    assert [n for n in names if n in order] == order
    assert trace.filter("igb_msix_ring")[0].context == "hardirq"
    assert trace.filter("net_rx_action")[0].context == "softirq"
    assert reader.state == "TASK_RUNNING" and [s.name for s in sock.sk.sk_receive_queue] == ["p0"]
    assert sock.sk.sk_rmem_alloc == RX_SKB_TRUESIZE
    assert trace[-1].state.queues[0].irq_state == "enabled"


def test_6_12_batches_through_gro_and_ip_list_rcv_but_3_10_does_not():
    *_, new = one_tcp_packet("6.12")
    *_, old = one_tcp_packet("3.10")
    assert {"gro_normal_one", "ip_list_rcv", "napi_poll"} <= set(new.functions())
    assert not {"gro_normal_one", "ip_list_rcv", "napi_poll"} & set(old.functions())
    assert "ip_rcv" in old.functions()


@pytest.mark.parametrize("profile", ["3.10", "6.12"])
def test_a_packet_no_protocol_wants_is_dropped_and_counted_in_rx_dropped(profile):
    """net/core/dev.c __netif_receive_skb_core: without a handler the drop counts in rx_dropped (rx_nohandler only
    behind a bonding slave's RX_HANDLER_EXACT)."""
    host = Host(profile)
    host.net.ptype_base.clear()                 # no ip_rcv: as if the packet were of a protocol nobody registered
    host.receive([Packet(1000, name="p0")])
    trace = host.record()
    assert any("no protocol handler for p0" in e.text for e in trace)
    assert host.dev.stats["rx_dropped"] == 1 and host.dev.stats["rx_nohandler"] == 0


def test_receiving_a_packet_is_deterministic():
    assert list(one_tcp_packet("6.12")[3]) == list(one_tcp_packet("6.12")[3])


# --- tcpdump vs iptables ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("chain", ["INPUT", "PREROUTING"])
def test_tcpdump_sees_what_iptables_drops_on_ingress(chain):
    host = Host("6.12")
    sock = host.tcp_socket(80)
    rule = host.iptables(chain, "DROP", protocol="tcp", dport=80)
    tap = host.tcpdump()
    host.receive([Packet(1000, name="p0"), Packet(5000, dport=80, name="p1")])
    trace = host.record()
    assert tap.seen == [("p0", "in"), ("p1", "in")]
    assert not sock.sk.sk_receive_queue and rule.pkts == 2
    first_tap = trace.functions().index("packet_rcv")
    assert first_tap < trace.functions().index("nf_hook_slow")


def test_netfilter_rules_check_their_input():
    host = Host("6.12")
    with pytest.raises(ValueError, match="chain"):
        host.iptables("INCOMING", "DROP")
    with pytest.raises(ValueError, match="target"):
        host.iptables("INPUT", "REJECTED")
    with pytest.raises(ValueError, match="matches on"):
        host.iptables("INPUT", "DROP", port=80)


# --- UDP receive buffer ------------------------------------------------------------------------------------------------
# with sk_rcvbuf = 2 truesizes, 6.12 queues while sk_rmem_alloc <= sk_rcvbuf (0, 1, 2 truesizes charged: 3 packets),
# 3.10 while sk_rmem_alloc < sk_rcvbuf (0, 1 truesize: 2 packets)
@pytest.mark.parametrize("profile, kept", [("6.12", 3), ("3.10", 2)])
def test_udp_rcvbuf_rule_differs_between_kernels(profile, kept):
    host = Host(profile)
    sock = host.udp_socket(80, rcvbuf=2 * RX_SKB_TRUESIZE)
    host.receive(udp_flood(5, 10_000))
    host.run()
    assert len(sock.sk.sk_receive_queue) == kept and sock.sk.sk_drops == 5 - kept
    assert host.net.mib["UdpRcvbufErrors"] == 5 - kept
    assert host.summary().backlog_drops == [0]  # not a softnet_stat drop


def test_udp_default_rcvbuf_holds_one_packet_more_than_fits():
    host = Host("6.12")
    sock = host.udp_socket(80)
    host.receive(udp_flood(120, 5000))
    host.run()
    # net.core.rmem_default 212992 / 2304-byte truesize = 92 packets fit; 6.12 admits one more (rmem <= rcvbuf): 93
    assert len(sock.sk.sk_receive_queue) == PROFILES["6.12"].rmem_default // RX_SKB_TRUESIZE + 1 == 93


# --- overload: ring drops, time_squeeze, ksoftirqd ------------------------------------------------------------------
def flood(profile, rate_mpps, n=3000, **host_args):
    host = Host(profile, **host_args)
    host.udp_socket(80, rcvbuf=10**12)
    host.receive(udp_flood(n, int(1000 / rate_mpps), flows=32))
    host.run()
    return host, host.summary()


def test_ring_overflow_is_counted_by_the_driver_not_softnet_stat():
    host, s = flood("6.12", 5.0, ring_size=64)
    assert s.ring_drops > 0 and s.ring_drops == host.dev.stats["rx_missed_errors"]
    assert s.backlog_drops == [0] and s.delivered + s.ring_drops == s.arrived


def test_one_busy_queue_squeezes_on_3_10_but_not_on_6_12():
    assert flood("3.10", 5.0)[1].time_squeeze[0] > 0
    assert flood("6.12", 5.0)[1].time_squeeze[0] == 0
    assert flood("6.12", 5.0, queues=6)[1].time_squeeze[0] > 0  # six NAPIs on one CPU: 6 x 64 > 300


def test_ksoftirqd_takes_over_only_under_overload():
    assert flood("6.12", 0.2)[1].ksoftirqd_share() == 0
    assert flood("6.12", 5.0)[1].ksoftirqd_share() > 0.5


@pytest.mark.parametrize("profile, loop", [("3.10", "__do_softirq"), ("6.12", "handle_softirqs")])
def test_ksoftirqd_runs_its_kernels_softirq_loop(profile, loop):
    """kernel/softirq.c run_ksoftirqd: 3.10 calls __do_softirq, 6.12 handle_softirqs(true)."""
    host = Host(profile)

    def leave_net_rx_to_ksoftirqd():
        this_cpu().softirq_pending |= 1 << NET_RX_SOFTIRQ
        wakeup_softirqd()
    trace = host.record(lambda: (host.run_process(0, leave_net_rx_to_ksoftirqd), host.run()))
    calls = [e for e in trace if e.kind == "call"]
    (i,) = [i for i, e in enumerate(calls) if e.function == "run_ksoftirqd"]
    assert calls[i + 1].function == loop and calls[i + 1].depth == calls[i].depth + 1


def test_ksoftirqd_is_a_task_the_scheduler_switches_to_and_away_from():
    """wakeup_softirqd wakes ksoftirqd/0, a task bound to CPU 0's run queue: the idle task switches to it (one
    context switch), it runs the softirqs left pending, and switches back to idle when none are left."""
    quiet, _ = flood("6.12", 0.2)
    assert quiet.rqs[0].nr_switches == 0 and quiet.cpus[0].ksoftirqd.wakeups == 0
    host, _ = flood("6.12", 5.0)
    ksoftirqd, rq = host.cpus[0].ksoftirqd, host.rqs[0]
    assert ksoftirqd.rq is rq and ksoftirqd.pinned and ksoftirqd.comm == "ksoftirqd/0"
    assert [(s.prev, s.next) for s in host.sched.switches] == [("swapper/0", "ksoftirqd/0"),
                                                               ("ksoftirqd/0", "swapper/0")] * ksoftirqd.wakeups
    assert rq.switch_ns == 2 * ksoftirqd.wakeups * host.sched.context_switch_ns and ksoftirqd.state != "TASK_RUNNING"


def test_more_queues_on_more_cpus_drop_less():
    one = flood("6.12", 4.0, n=6000)[1]
    four = flood("6.12", 4.0, n=6000, cpus=4, queues=4)[1]
    assert four.ring_drops < one.ring_drops and min(four.processed) > 0


# --- the backlog (netif_rx) ------------------------------------------------------------------------------------------
def test_backlog_keeps_max_backlog_plus_one_and_counts_drops_in_softnet_data():
    from netlab.kernel.dev import __netif_rx
    host = Host(PROFILES["6.12"].replace(netdev_max_backlog=10))
    sock = host.udp_socket(80, rcvbuf=10**9)

    def send_burst():
        local_bh_disable()
        for i in range(15):
            skb = SkBuff(end=2048, name=f"lo{i}", len=64, truesize=1024)
            skb.meta.update(net=host.net, protocol="udp", saddr="127.0.0.1", daddr="127.0.0.1", sport=1,
                            dport=80)
            __netif_rx(skb)
        local_bh_enable()
    host.run_process(0, send_burst)
    sd = host.cpus[0].softnet_data
    kept = 10 + 1  # enqueue_to_backlog refuses only when qlen > netdev_max_backlog
    assert sd.dropped == 15 - kept and len(sock.sk.sk_receive_queue) == kept and sd.processed == kept
    assert host.softnet_stat().split()[1] == f"{15 - kept:08x}"


def test_the_hosts_cpu_runs_are_events_of_its_engine_in_time_order_with_the_others():
    host = Host("6.12")
    host.udp_socket(80)
    host.receive(udp_flood(3, gap_ns=100_000, start=0))
    seen = []
    for at in (50_000, 150_000):
        host.sched.at(at, lambda: seen.append((host.sched.clock, host.cpus[0].kstat_softirqs[3])), context="softirq")
    host.run(until_ns=120_000)
    assert host.sched.clock == 120_000 and host.summary().delivered == 2
    host.run()
    assert seen == [(50_000, 1), (150_000, 2)]    # each between the NET_RX runs of the packets around it
    assert host.summary().delivered == 3
    with pytest.raises(ValueError, match="until_ns"):
        host.run(until_ns=1)                       # the engine's clock does not go back


def test_softnet_stat_has_the_profile_columns():
    host = Host("3.10", cpus=2)
    assert [len(line.split()) for line in host.softnet_stat().splitlines()] == [10, 10]   # 3.10: 10 columns
    sd = Host("6.12", cpus=2).cpus[1].softnet_data
    values = softnet_stat_values(sd)   # 6.12's 15 columns: ..., backlog length, the CPU's index, input/process qlen
    assert len(values) == PROFILES["6.12"].softnet_stat_columns == 15 and values[12] == sd.cpu == 1


# --- headers --------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("profile", ["3.10", "6.12"])
@pytest.mark.parametrize("protocol, headers", [("udp", IP_HLEN + UDP_HLEN), ("tcp", IP_HLEN + TCP_HLEN)])
def test_a_reader_gets_exactly_the_payload_every_layer_pulled_its_header(profile, protocol, headers):
    host = Host(profile)
    sk = (host.udp_socket(5000) if protocol == "udp" else host.tcp_socket(5000)).sk
    host.receive([Packet(1000, dport=5000, protocol=protocol, length=headers + 100, name="p0")])
    host.run()
    assert host.dev.stats["rx_bytes"] == ETH_HLEN + headers + 100     # igb counts the frame before eth_type_trans
    assert [skb.len for skb in sk.sk_receive_queue] == [100]
    assert sk.sk_rmem_alloc == RX_SKB_TRUESIZE                       # the charge is the buffer's, headers and all
    read = (lambda: udp_recvmsg(sk, 4096, MSG_DONTWAIT)) if protocol == "udp" else \
        (lambda: nonblocking(tcp_recvmsg(sk, 4096, MSG_DONTWAIT)))
    assert host.run_process(0, read) == 100 and sk.sk_rmem_alloc == 0


def test_a_short_udp_read_loses_the_rest_of_the_datagram():
    host = Host()
    sk = host.udp_socket(5000).sk
    host.receive([Packet(1000, dport=5000, protocol="udp", length=IP_HLEN + UDP_HLEN + 100, name="p0")])
    host.run()
    assert host.run_process(0, lambda: udp_recvmsg(sk, 60, MSG_DONTWAIT)) == 60
    assert host.run_process(0, lambda: udp_recvmsg(sk, 60, MSG_DONTWAIT)) == -11     # -EAGAIN: nothing left


# --- interrupt moderation (ethtool -C rx-usecs) ----------------------------------------------------------------------
def moderated(rx_usecs, gap_ns, n=400, length=64, queues=1, record=False):
    host = Host("6.12", rx_usecs=rx_usecs, queues=queues, ring_size=1024)
    host.udp_socket(80, rcvbuf=10**12)
    host.receive(udp_flood(n, gap_ns, flows=8, length=length))
    trace = host.record(max_events=1_000_000) if record else host.run()
    return host, host.summary(), trace


def irq_times(trace):
    return [e.time_ns for e in trace.filter("igb_msix_ring")]


@pytest.mark.parametrize("rx_usecs, interval_us", [(10, 10), (50, 50), (250, 250)])
def test_a_fixed_rx_usecs_keeps_that_long_between_two_interrupts(rx_usecs, interval_us):
    _, s, trace = moderated(rx_usecs, 1000, record=True)          # 1 Mpps
    gaps = {b - a for a, b in zip(irq_times(trace), irq_times(trace)[1:])}
    assert min(gaps) >= interval_us * 1000 and s.hard_irqs[0] == pytest.approx(400 / interval_us, abs=2)
    assert s.delivered == 400 and "igb_write_itr" not in trace.functions()   # the interval never changes


def test_without_moderation_every_packet_that_finds_napi_idle_raises_an_irq():
    _, s, _ = moderated(0, 3000)                                   # 0.33 Mpps: each packet alone
    assert s.hard_irqs == [400] and s.mean_latency_ns() < 2000
    _, s50, _ = moderated(50, 3000)
    assert s50.hard_irqs[0] < 30 and s50.mean_latency_ns() > 10 * s.mean_latency_ns()


def test_adaptive_moderation_picks_its_interval_from_packets_and_bytes():
    """igb's default (3, conservative) settles on low_latency, 20000 interrupts a second, for small packets; 1 may
    go to lowest_latency, 70000; full-size frames tip it into bulk_latency, 4000."""
    _, conservative, trace = moderated(3, 1000, n=600, record=True)
    assert {"igb_set_itr", "igb_update_itr", "igb_write_itr"} <= set(trace.functions())
    said = [e.text for e in trace.filter("igb_set_itr", kind="printk")]
    assert "lowest_latency (conservative mode: low_latency) → EITR 196: at least 49 µs between two interrupts, " \
           "20,408 a second at most, from the next interrupt on" in said
    assert irq_times(trace)[1] - irq_times(trace)[0] == 162_000    # IGB_START_ITR 648: 162 µs, until it chooses
    assert {b - a for a, b in zip(irq_times(trace)[-6:], irq_times(trace)[-5:])} == {49_000}
    assert conservative.delivered == 600
    dynamic = moderated(1, 1000, n=1000)[0].nic.q_vectors[0]
    assert (dynamic.itr_val, dynamic.eitr_ns) == (IGB_70K_ITR, 14_000)
    full_size = moderated(3, 20_000, n=300, length=1500)[0].nic.q_vectors[0]
    assert (full_size.rx_itr, full_size.itr_val, full_size.eitr_ns) == (BULK_LATENCY, IGB_4K_ITR, 245_000)


def test_several_vectors_choose_from_the_average_packet_size():
    host, _, trace = moderated(3, 500, n=800, queues=2, record=True)
    assert "igb_update_ring_itr" in trace.functions() and "igb_set_itr" not in trace.functions()
    assert [qv.itr_val for qv in host.nic.q_vectors] == [IGB_20K_ITR] * 2   # (78 + 24) / 2 < 196: conservative


# --- bad input -----------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("make, message", [
    (lambda: Host(cpus=0), "cpus"), (lambda: Host(queues=9), "queues"), (lambda: Host(ring_size=100), "descriptors"),
    (lambda: Host(profile="2.6"), "profile"), (lambda: Host(cpus=2, affinity=[5]), "affinity"),
    (lambda: Packet(-1), "time_ns"), (lambda: Packet(0, protocol="icmp"), "protocol"),
    (lambda: Packet(0, saddr="10.0.0.300"), "IPv4"), (lambda: Costs(stack_ns=-1), "stack_ns"),
    (lambda: Packet(0, length=40), "length"), (lambda: Packet(0, protocol="udp", length=27), "length"),
    (lambda: Costs(driver_ns=0, stack_ns=0, poll_ns=0), "poll_ns"), (lambda: Host().udp_socket(0), "port"),
    (lambda: Host().run(until_ns=-5), "until_ns"), (lambda: Host(rx_usecs=2), "rx_usecs"),
    (lambda: Host(rx_usecs=5), "rx_usecs"), (lambda: Host(rx_usecs=10_001), "rx_usecs"),
])
def test_bad_parameters_raise_clear_errors(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_models_need_a_current_cpu():
    from netlab.kernel.softirq import raise_softirq_irqoff
    with pytest.raises(RuntimeError, match="current CPU"):
        raise_softirq_irqoff(3)
    with pytest.raises(TypeError, match="KernelProfile"):
        Cpu(0, profile="6.12")


def test_nic_rejects_bad_affinity():
    host = Host()
    with pytest.raises(ValueError, match="affinity"):
        Nic(host.dev, 2, 256, affinity=[0])


@settings(max_examples=25, deadline=None)
@given(st.integers(1, 3), st.integers(200, 3000), st.sampled_from(["3.10", "6.12"]))
def test_every_arrival_is_delivered_or_counted_as_a_ring_drop(queues, gap, profile):
    host, s = flood(profile, 1000 / gap, n=300, cpus=2, queues=queues, ring_size=64)
    assert s.delivered + s.ring_drops == s.arrived == 300
    assert sum(s.processed) == s.delivered


@pytest.mark.parametrize("profile", ["3.10", "6.12"])
def test_netif_rx_from_process_context_runs_the_softirq_at_local_bh_enable(profile):
    from netlab.kernel.dev import netif_rx
    host = Host(profile)
    sock = host.udp_socket(80, rcvbuf=10**9)
    skb = SkBuff(end=2048, name="lo0", len=64, truesize=1024)
    skb.meta.update(net=host.net, protocol="udp", saddr="127.0.0.1", daddr="127.0.0.1", sport=1, dport=80)
    trace = host.record(lambda: host.run_process(0, lambda: netif_rx(skb)))
    names = trace.functions()
    assert names.index("local_bh_enable") < names.index("do_softirq") < names.index("process_backlog")
    assert trace.filter("process_backlog")[0].context == "softirq" and "wakeup_softirqd" not in names
    assert [s.name for s in sock.sk.sk_receive_queue] == ["lo0"] and host.cpus[0].ksoftirqd.state != "TASK_RUNNING"


# --- GRO ------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("profile", ["3.10", "6.12"])
@pytest.mark.parametrize("push_last", [False, True])
def test_gro_merges_one_flows_segments_into_one_skb_that_carries_every_byte(profile, push_last):
    from netlab.scenarios.receive import gro_merge
    trace = gro_merge(profile, segments=4, push_last=push_last)
    results = [e.text.split(":")[0] for e in trace.filter("napi_skb_finish")]
    assert results == ["GRO_HELD"] + ["GRO_MERGED_FREE"] * 3
    # the poll's end passes the held skb on, unless the PSH segment already did (then GRO holds nothing at the end)
    assert bool(trace.filter("napi_gro_flush")) != push_last
    assert len(trace.filter("napi_gro_complete")) == 1 and len(trace.filter("tcp_gro_complete")) == 1
    assert trace[-1].state.sockets["tcp:80"].queue == ("s0",)
    assert trace[-1].state.sockets["tcp:80"].rmem > 0


def test_gro_passes_a_merged_skb_up_with_its_segments_and_bytes():
    host = Host("6.12")
    sock = host.tcp_socket(80)
    host.receive([Packet(1000 + 300 * i, length=IP_HLEN + TCP_HLEN + 1448, seq=1 + 1448 * i, ack=1, name=f"s{i}")
                  for i in range(50)])
    host.run()
    queued = list(sock.sk.sk_receive_queue)
    assert sum(skb.len for skb in queued) == 50 * 1448                 # TCP got every byte, headers pulled
    assert all(skb.len <= 45 * 1448 for skb in queued)                 # below 64 KB: 52 + 45 x 1448 < 65536
    assert sum(skb.meta.get("gso_segs", 1) for skb in queued) == 50    # tcp_gro_complete: NAPI_GRO_CB()->count
    assert host.summary().gro_skbs == [len(queued)] == host.summary().processed


@pytest.mark.parametrize("profile", ["3.10", "6.12"])
def test_gro_never_merges_udp_a_gap_or_another_flow(profile):
    host = Host(profile)
    host.udp_socket(80, rcvbuf=10**9)
    host.tcp_socket(80, peer=("10.0.0.1", 40000))
    tcp = lambda t, seq, sport=40000: Packet(t, sport=sport, length=IP_HLEN + TCP_HLEN + 100, seq=seq, ack=1,  # noqa
                                           name=f"t{t}")
    host.receive([Packet(1000, protocol="udp", name="u0"), Packet(1100, protocol="udp", name="u1"),
                  tcp(1200, 1), tcp(1300, 301), tcp(1400, 101, sport=40001), tcp(1500, 401)])
    trace = host.record()
    assert len(trace.filter("skb_gro_receive")) == 1                   # only t1500 continues t1300 (301 + 100)
    assert host.summary().gro_skbs == [5]
