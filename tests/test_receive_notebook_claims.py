"""Chapter 01's claims, with the notebook's own scenarios and parameters (they were assert cells there), and the
numbers its prose states, read from its markdown and held to the model."""
from netlab.kernel.nic import IGB_RETA_SIZE, RSS_KEY, WIRE_OVERHEAD, Packet
from netlab.kernel.profiles import LINUX_3_10, LINUX_6_12
from netlab.kernel.source_index import linux_6_12
from netlab.load.receive import run, sweep
from netlab.scenarios.receive import Host
from notebook_prose import integer, prose, stated, strings

N = 20_000   # the notebook's packets per load-model run
TEXT = prose("01-receive.ipynb")
EXERCISES = strings("01-receive.ipynb")
ETH_ZLEN = 60                # include/uapi/linux/if_ether.h: the shortest frame, FCS not counted


def test_one_tcp_packet_calls_only_functions_of_linux_6_12_and_wakes_the_reader():
    host = Host("6.12", ring_size=64)
    sock = host.tcp_socket(80, peer=("10.0.0.1", 40000))
    reader = host.blocked_reader(sock)
    host.tcpdump()
    host.receive([Packet(1000, name="p0", length=1000)])
    one = host.record()
    assert set(one.functions()) <= set(linux_6_12())
    assert reader.state == "TASK_RUNNING" and [s.name for s in sock.sk.sk_receive_queue] == ["p0"]
    calls = {c: len(one.filter(context=c, kind="call")) for c in ("hardirq", "softirq")}
    assert 0 < calls["hardirq"] < calls["softirq"] / 4      # §8 q2: the softirq does the packet's work


def burst(count: int, ring_size: int = 64, gap_ns: int = 67) -> Host:
    h = Host("6.12", ring_size=ring_size)
    h.udp_socket(80, rcvbuf=16 << 20)
    h.receive([Packet(1000 + gap_ns * i, protocol="udp", name=f"p{i}") for i in range(count)])
    h.run()
    return h


def test_a_line_rate_burst_overflows_the_ring_and_only_the_driver_counts_it():
    for count in (100, 300):                               # §2's burst and the exercise's
        h = burst(count)
        s = h.summary()
        assert s.ring_drops == count - s.delivered > 0 and s.backlog_drops == [0]
        assert h.dev.stats["rx_missed_errors"] == s.ring_drops


def test_an_idle_ring_of_256_descriptors_takes_255_packets_of_a_burst():
    assert burst(400, ring_size=256, gap_ns=1).summary().delivered == 255


def test_four_queues_on_four_cpus_drop_less_than_one_queue():
    one_q, four_q = run(6e6, N, queues=1, cpus=4), run(6e6, N, queues=4)
    assert four_q.ring_drops < one_q.ring_drops and min(four_q.processed) > 0 and one_q.processed[1:] == [0, 0, 0]


def test_tcpdump_captures_both_packets_iptables_input_drops():
    fw = Host("6.12")
    sock = fw.tcp_socket(80, peer=("10.0.0.1", 40000))
    rule = fw.iptables("INPUT", "DROP", protocol="tcp", dport=80)
    tap = fw.tcpdump()
    fw.receive([Packet(1000, name="p0"), Packet(3000, name="p1")])
    trace = fw.record()
    funcs = trace.functions()
    assert tap.seen == [("p0", "in"), ("p1", "in")] and rule.pkts == 2 and not sock.sk.sk_receive_queue
    assert funcs.index("packet_rcv") < funcs.index("nf_hook_slow")
    graph = trace.filter(["deliver_skb", "packet_rcv", "NF_HOOK", "nf_hook_slow", "ipt_do_table", "kfree_skb"])
    calls = [line.split("|", 1)[1].strip() for line in graph.function_graph().splitlines()][:4]
    assert calls == ["deliver_skb() {", "packet_rcv();", "}", "NF_HOOK() {"]    # the tap returns before netfilter


def test_ksoftirqd_takes_none_of_the_softirq_time_at_0_3_mpps_and_most_at_line_rate():
    by_rate = sweep("rate_pps", [0.3e6, 14.88e6], n=N)
    assert by_rate[0].ksoftirqd_share() == 0 and by_rate[-1].ksoftirqd_share() > 0.5


def test_on_3_10_a_bigger_netdev_budget_squeezes_less_but_still_squeezes():
    squeezes = {b: run(6e6, N, profile="3.10", netdev_budget=b).time_squeeze[0] for b in (300, 3000)}
    assert 0 < squeezes[3000] < squeezes[300]


def test_6_12s_gro_batches_up_to_8_skbs_and_3_10_has_no_batch():
    (batch,) = stated(r"GRO collects up to `gro_normal_batch` \((\d+)\) skbs", TEXT)
    assert LINUX_6_12.gro_normal_batch == int(batch) and LINUX_3_10.gro_normal_batch is None


def test_a_64_descriptor_ring_holds_63_packets():
    ring, holds = stated(r"so a (\d+)-descriptor ring holds (\d+) packets", TEXT)
    assert burst(100, ring_size=int(ring), gap_ns=1).summary().delivered == int(holds)


def test_10gbe_line_rate_is_one_shortest_frame_every_67_ns():
    (gap,) = stated(r"at 10GbE line rate \(one packet every (\d+) ns\)", TEXT)
    assert round((ETH_ZLEN + WIRE_OVERHEAD) * 8 / 10) == int(gap)     # bits at 10 bits per ns


def test_rss_hashes_with_a_40_byte_key_and_its_low_7_bits_pick_one_of_128_entries():
    key, bits, entries = stated(r"Toeplitz hash, (\d+)-byte key\), the low (\d+) bits pick one of (\d+) entries", TEXT)
    assert len(RSS_KEY) == int(key) and IGB_RETA_SIZE == int(entries) == 1 << int(bits)


def test_softirqs_restart_at_most_10_times_within_2_ms_then_wake_ksoftirqd():
    restarts, ms = stated(r"at most (\d+) times and for at most (\d+) ms \(`MAX_SOFTIRQ_RESTART`, `MAX_SOFTIRQ_TIME`\)",
                          TEXT)
    assert (restarts, ms) == stated(r"Only when a softirq run has restarted (\d+) times or for (\d+) ms", TEXT)
    for profile in (LINUX_3_10, LINUX_6_12):
        assert (profile.max_softirq_restart, profile.max_softirq_time_us) == (int(restarts), 1000 * int(ms))


def test_net_rx_action_polls_64_packets_a_napi_300_in_all_or_2_jiffies():
    weight, budget, jiffies = stated(r"at most (\d+) packets each, (\d+) in total or (\d+) jiffies per run", TEXT)
    (also,) = stated(r"net_rx_action also stops after (\d+) jiffies \(netdev_budget_usecs on newer kernels\)",
                     EXERCISES)
    assert also == jiffies
    for profile in (LINUX_3_10, LINUX_6_12):
        assert (profile.dev_weight, profile.netdev_budget) == (int(weight), int(budget))
        assert profile.netdev_budget_usecs == int(jiffies) * 1_000_000 // profile.hz


def test_a_udp_sockets_default_buffer_is_212_992_bytes():
    (rcvbuf,) = stated(r"The socket's ([\d  ,]+)-byte buffer fills", TEXT)
    assert LINUX_3_10.rmem_default == LINUX_6_12.rmem_default == integer(rcvbuf)


def test_gro_and_rps_move_the_knee_as_section_3_says():
    """§3's things to try: one TCP flow drops nothing up to about 8.5 Mpps, nearly four times the UDP rate; 256
    interleaved flows merge almost nothing; RPS to three more CPUs moves the knee from under 2.5 to past 9 Mpps."""
    tcp_knee, = stated(r"One TCP flow drops nothing up to about ([\d.]+) Mpps, nearly four times the UDP rate", TEXT)
    old, new = stated(r"RPS to three more CPUs moves the knee from under ([\d.]+) to past (\d+) Mpps", TEXT)
    rates = [r / 4 * 1e6 for r in range(8, 60)]               # 2 .. 14.75 Mpps, a quarter apart

    def knee(**kw):                                            # the highest rate that drops nothing
        dropping = [s.ring_drops + sum(s.backlog_drops) > 0 for s in sweep("rate_pps", rates, n=N, **kw)]
        return rates[dropping.index(True) - 1] if True in dropping else rates[-1]
    udp, tcp = knee(), knee(tcp=True, flows=1)
    assert udp < float(old) * 1e6 and tcp == float(tcp_knee) * 1e6 and 3.5 <= tcp / udp < 4
    assert knee(cpus=4, rps_cpus=[1, 2, 3]) > int(new) * 1e6
    assert run(4e6, N, tcp=True).segments_per_skb() < 1.05  # 256 flows round robin: almost nothing merges


def test_rfs_with_every_flow_read_on_one_cpu_moves_the_knee_as_section_3_says():
    """§3's things to try: RFS with every flow read on the last CPU (RPS to three more) drops in that CPU's backlog
    past about 3.25 Mpps; read on CPU 0, the knee is where it is without RPS."""
    last, = stated(r"that CPU carries every packet up the stack alone and its backlog drops past about ([\d.]+) Mpps",
                   TEXT)
    assert "read on CPU 0, the knee is back where it was without RPS" in TEXT
    rates = [r / 4 * 1e6 for r in range(8, 60)]

    def knee(**kw):
        dropping = [s.ring_drops + sum(s.backlog_drops) > 0 for s in sweep("rate_pps", rates, n=N, **kw)]
        return rates[dropping.index(True) - 1]
    rfs = dict(cpus=4, rps_cpus=[1, 2, 3])
    assert knee(rfs_cpus=[3], **rfs) == float(last) * 1e6
    beyond = run(float(last) * 1e6 + 0.5e6, N, rfs_cpus=[3], **rfs)
    assert beyond.backlog_drops[3] > 0 and not beyond.ring_drops and beyond.processed[:3] == [0, 0, 0]
    assert knee(rfs_cpus=[0], **rfs) == knee()


def test_rfs_exercise_readers_on_one_cpu_drop_in_its_backlog_where_rps_alone_dropped_nothing():
    """§5's RFS exercise: 4 Mpps with RPS over CPUs 1-3 drops nothing; with every flow's reader on CPU 3 RFS sends
    every skb there and its backlog drops, CPUs 1 and 2 take none."""
    assert "RPS over CPUs 1-3, which dropped nothing" in EXERCISES
    rps = run(4e6, N, cpus=4, rps_cpus=[1, 2, 3])
    assert not rps.ring_drops and not sum(rps.backlog_drops)
    rfs = run(4e6, N, cpus=4, rps_cpus=[1, 2, 3], rfs_cpus=[3])
    assert rfs.backlog_drops[3] > rfs.ring_drops == 0 and rfs.processed[1] == rfs.processed[2] == 0


def test_rfs_to_the_reading_cpu_makes_it_poll_two_napis_as_section_3_says():
    """§3: RFS with every flow read on CPU 0 — CPU 0 polls its NIC's NAPI and its own backlog's, and from about
    1 Mpps NET_RX is squeezed and ksoftirqd does most of the work, where without RPS neither happens."""
    assert "from about 1 Mpps NET_RX runs out of budget or time (time_squeeze) and ksoftirqd does most" in TEXT
    for rate in (1e6, 2e6):
        alone, rfs = run(rate, N), run(rate, N, cpus=4, rps_cpus=[1, 2, 3], rfs_cpus=[0])
        assert not sum(alone.time_squeeze) and alone.ksoftirqd_share() == 0
        assert rfs.time_squeeze[0] > 0 and rfs.ksoftirqd_share() > 0.5 and rfs.processed == [N, 0, 0, 0]
    assert run(0.5e6, N, cpus=4, rps_cpus=[1, 2, 3], rfs_cpus=[0]).ksoftirqd_share() == 0
