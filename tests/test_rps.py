"""RPS in the step model: get_rps_cpu's placement, the IPI per net_rx_action, the target's backlog and counters."""
import os
from dataclasses import replace
from functools import partial

import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings, strategies as st

from netlab.kernel.cpu import Costs
from netlab.kernel.dev import (RPS_NO_CPU, NetdevRxQueue, RpsSockFlowTable, get_rps_cpu, hash_32, reciprocal_scale,
                               sock_rps_record_flow, softnet_stat_values)
from netlab.kernel.inet_stream import inet_recvmsg
from netlab.kernel.skbuff import alloc_skb
from netlab.kernel.sock import Sock
from netlab.kernel.tcp_ipv4 import TCP_ESTABLISHED
from netlab.kernel.nic import Packet, rss_input, toeplitz_hash
from netlab.kernel.profiles import PROFILES
from netlab.load import receive as load_receive
from netlab.load.receive import (arrivals, get_rps_cpus, rfs_tables, rps_maps, rss_hashes, rss_queues, run, simulate,
                                 tcp_segments)
from netlab.scenarios.receive import Host, rps_handoff

PROFILE_NAMES = ["3.10", "6.12"]


def udp(times, flows=1, first_port=40000):
    return [Packet(int(t), sport=first_port + i % flows, protocol="udp", name=f"p{i}") for i, t in enumerate(times)]


def rps_host(profile, rps_cpus, cpus=4, **kw):
    host = Host(profile, cpus=cpus, queues=1, rps_cpus=[rps_cpus], **kw)
    host.udp_socket(80, rcvbuf=1 << 30)
    return host


def left_in_backlogs(host):
    return sum(len(c.softnet_data.input_pkt_queue) + len(c.softnet_data.process_queue) for c in host.cpus)


def test_reciprocal_scale_maps_a_u32_hash_onto_the_map():
    assert [reciprocal_scale(h, 3) for h in (0, (1 << 32) // 3 - 1, (1 << 32) // 3 + 1, (1 << 32) - 1)] == [0, 0, 1, 2]
    assert reciprocal_scale(0xFFFFFFFF, 1) == 0
    for bad in ((-1, 3), (1 << 32, 3), (5, 1 << 32)):
        with pytest.raises(ValueError, match="u32|whole number"):
            reciprocal_scale(*bad)


@pytest.mark.parametrize("profile", PROFILE_NAMES)
def test_each_flow_goes_to_the_cpu_its_hash_picks(profile):
    """rps_map->cpus[reciprocal_scale(hash, len)]: the RSS hash of the flow, so a flow stays on one CPU."""
    rps, flows = [1, 2, 3], 24
    host = rps_host(profile, rps)
    packets = udp(1000 + 5000 * np.arange(96), flows=flows)
    host.receive(packets)
    host.run()
    expected = [0] * 4
    for p in packets:
        expected[rps[reciprocal_scale(toeplitz_hash(rss_input(*p.flow)), len(rps))]] += 1
    s = host.summary()
    assert s.processed == expected and expected[0] == 0 and all(expected[1:])
    assert s.backlog_drops == [0] * 4 and left_in_backlogs(host) == 0
    assert len(host.sockets["udp:80"].sk.sk_receive_queue) == len(packets)


def test_get_rps_cpus_scales_each_hash_onto_the_map_and_leaves_a_hash_of_0_where_it_was_read():
    """rps_map->cpus[reciprocal_scale(hash, len)] for u32 hashes however given; a hash of 0 (none): -1, as
    get_rps_cpu's ``if (!hash)`` says."""
    hashes = [0, 1, (1 << 31) - 1, 1 << 31, (1 << 32) - 1]
    expected = [-1] + [[1, 3][reciprocal_scale(h, 2)] for h in hashes[1:]]
    for dtype in (np.int64, np.uint64, np.uint32):
        assert get_rps_cpus(np.array(hashes, dtype=dtype), [1, 3], 4).tolist() == expected == [-1, 1, 1, 3, 3]
    assert get_rps_cpus(np.array(hashes[1:]), [], 4).tolist() == [-1] * 4



@pytest.mark.parametrize("hash_bits", [True, False])
def test_the_sock_flow_table_keeps_the_last_reader_of_each_bucket(hash_bits):
    """rps_record_sock_flow: 6.12 keeps the hash's upper bits beside the CPU, 3.10 the CPU alone; a later flow of the
    same bucket overwrites an earlier one, a hash of 0 records nothing; record_flows records in order, as one record
    each does."""
    one, many = (RpsSockFlowTable(16, 3, hash_bits=hash_bits) for _ in range(2))
    flows = {0x12345678: 2, 0: 1, 0xABCDEF08: 1, 0x00000003: 3}     # the first two of bucket 8
    for h, c in flows.items():
        one.record(h, c)
    many.record_flows(flows)
    assert one.ents == many.ents
    upper = (0xABCDEF09, 0x00000003) if hash_bits else (1, 3)
    assert (many.ents[8], many.ents[3]) == upper
    assert [e for i, e in enumerate(many.ents) if i not in (3, 8)] == [RPS_NO_CPU] * 14
    assert many.next_cpu(0xABCDEF08) == 1 and many.next_cpu(0x12345678) == (None if hash_bits else 1)
    with pytest.raises(TypeError, match="flows must map"):
        many.record_flows({1.5: 0})
    with pytest.raises(ValueError, match="flows must map"):
        many.record_flows({1: RPS_NO_CPU})


HASHES = st.one_of(st.integers(0, (1 << 32) - 1), st.sampled_from([0, 1, 0xFFFC, 0xFFFF, 0x1000_0001, 0x8000_0002]),
                   st.builds(lambda hi, lo: hi << 28 | lo, st.integers(0, 15), st.integers(0, 15)))   # shared buckets


@settings(max_examples=300, deadline=None)
@given(profile=st.sampled_from(PROFILE_NAMES), cpus=st.integers(1, 8), entries=st.sampled_from([1, 4, 16, 4096]),
       flow_cnt=st.sampled_from([1, 2, 8, 16, 4096]), sorted_buckets=st.booleans(), data=st.data())
def test_get_rps_cpus_steers_each_skb_where_the_sock_flow_table_or_the_map_says(profile, cpus, entries, flow_cnt,
                                                                               sorted_buckets, data):
    """Per skb: a flow whose bucket is its own (RpsSockFlowTable.next_cpu, one hash at a time) goes to its recorded
    CPU if there is one, else rps_map[reciprocal_scale(hash, len)] (or -1), a hash of 0 to -1; refused where flows of
    the queue that share an rps_dev_flow entry want different CPUs. Both ways of finding the buckets used: a count,
    and (large tables) a sort."""
    flows = data.draw(st.lists(HASHES, min_size=1, max_size=12, unique=True))
    read_on = data.draw(st.dictionaries(st.sampled_from(flows), st.integers(0, cpus - 1)))
    hashes = np.array(data.draw(st.lists(st.sampled_from(flows), min_size=1, max_size=40)))
    rps_map = data.draw(st.lists(st.integers(0, cpus - 1), max_size=4))
    table, cnt = rfs_tables(entries, flow_cnt, cpus, PROFILES[profile])
    for h, c in read_on.items():
        table.record(h, c)
    want = {h: table.next_cpu(h) for h in set(hashes.tolist()) if h}
    wanted = {}                                         # rps_dev_flow entry → the CPUs its flows want
    for h, c in want.items():
        if c is not None:
            wanted.setdefault(h & (cnt - 1), set()).add(c)
    with pytest.MonkeyPatch.context() as mp:
        if sorted_buckets:
            mp.setattr(load_receive, "_DENSE_BUCKETS", 0)
        if any(len(cs) > 1 for cs in wanted.values()):
            with pytest.raises(ValueError, match="share rps_dev_flow entry"):
                get_rps_cpus(hashes, rps_map, cpus, table, cnt)
            return
        got = get_rps_cpus(hashes, rps_map, cpus, table, cnt).tolist()
    expected = [-1 if not h else want[h] if want[h] is not None and want[h] < cpus
                else rps_map[reciprocal_scale(h, len(rps_map))] if rps_map else -1 for h in hashes.tolist()]
    assert got == expected

@pytest.mark.parametrize("profile", PROFILE_NAMES)
def test_one_ipi_per_net_rx_action_not_per_packet(profile):
    """Eight packets of one flow read in one NET_RX run: one IPI, one received_rps, eight processed there."""
    host = rps_host(profile, [2])
    host.receive(udp(1000 + 67 * np.arange(8)))   # back to back: the poll finds them all
    host.run()
    s = host.summary()
    assert s.received_rps == [0, 0, 1, 0] and host.cpus[2].kstat_irqs == {"CAL": 1}
    assert s.processed == [0, 0, 8, 0] and s.hard_irqs == [1, 0, 0, 0]
    assert s.net_rx_softirqs[0] >= 1 and s.net_rx_softirqs[2] == 1


@pytest.mark.parametrize("profile", PROFILE_NAMES)
def test_a_packet_that_finds_the_target_idle_costs_an_ipi_each(profile):
    host = rps_host(profile, [1])
    host.receive(udp(1000 + 20_000 * np.arange(5)))
    host.run()
    s = host.summary()
    assert s.received_rps == [0, 5, 0, 0] and s.processed == [0, 5, 0, 0] and s.hard_irqs == [5, 0, 0, 0]
    assert softnet_stat_values(host.cpus[1].softnet_data)[9] == 5     # the received_rps column


@pytest.mark.parametrize("profile", PROFILE_NAMES)
def test_the_reader_pays_driver_ns_and_the_target_stack_ns(profile):
    costs = Costs()
    host = rps_host(profile, [1], cpus=2, costs=costs)
    host.receive(udp([1000]))
    host.run()
    busy = host.summary().busy_ns
    assert busy[0]["softirq"] == costs.net_rx_action_ns + costs.poll_ns + costs.driver_ns
    assert busy[1]["hardirq"] == costs.hardirq_ns                          # the IPI
    assert busy[1]["softirq"] == costs.net_rx_action_ns + costs.poll_ns + costs.stack_ns


@pytest.mark.parametrize("profile", PROFILE_NAMES)
def test_the_targets_backlog_drops_beyond_netdev_max_backlog(profile):
    """One target slower than the reader (300 ns a packet against 100): its input_pkt_queue fills, and what finds
    more than netdev_max_backlog queued is dropped there (softnet_data.dropped on the target, rx_dropped)."""
    prof = PROFILES[profile].replace(netdev_max_backlog=40)
    host = rps_host(prof, [1], cpus=2, ring_size=256)
    host.receive(udp(1000 + 120 * np.arange(3000), flows=4))
    host.run()
    s = host.summary()
    assert s.backlog_drops[0] == 0 and s.backlog_drops[1] > 0
    assert s.delivered == s.processed[1] + s.backlog_drops[1] and s.processed[0] == 0
    assert host.dev.stats["rx_dropped"] == s.backlog_drops[1]
    assert left_in_backlogs(host) == 0


@pytest.mark.parametrize("profile", PROFILE_NAMES)
def test_an_ipi_sent_from_ksoftirqd_reaches_its_target(profile):
    """A flooded reader runs NET_RX in ksoftirqd; the IPIs its net_rx_action sends there are taken too, so no
    packet stays in a backlog."""
    host = rps_host(profile, [1, 2, 3])
    host.receive(udp(1000 + 60 * np.arange(8000), flows=16))
    host.run()
    s = host.summary()
    assert s.busy_ns[0]["ksoftirqd"] > 0 and s.ring_drops > 0
    assert sum(s.processed) + sum(s.backlog_drops) == s.delivered and left_in_backlogs(host) == 0
    assert all(s.received_rps[1:]) and s.received_rps[0] == 0


@pytest.mark.parametrize("profile", PROFILE_NAMES)
def test_the_reading_cpu_may_be_one_of_the_rps_cpus(profile):
    """A packet steered to the CPU that read it goes through its own backlog: no IPI for it."""
    host = rps_host(profile, [0, 1], cpus=2)
    packets = udp(1000 + 5000 * np.arange(40), flows=8)
    host.receive(packets)
    host.run()
    s = host.summary()
    own = sum(1 for p in packets if reciprocal_scale(toeplitz_hash(rss_input(*p.flow)), 2) == 0)
    assert 0 < own < len(packets) and s.processed == [own, len(packets) - own]
    assert s.received_rps[0] == 0 and s.received_rps[1] == len(packets) - own


def test_the_reading_cpu_does_not_depend_on_how_many_cpus_it_steers_to():
    """Two queues on CPU 0, ksoftirqd waking on it: its hard IRQs are the same with one RPS target or two (the
    targets' runs once re-queued CPU 0's IRQ timer behind its ksoftirqd, at a tie), and the load model agrees."""
    prof, costs = PROFILES["3.10"].replace(netdev_max_backlog=10, max_softirq_restart=1), Costs(driver_ns=0)
    times = arrivals(2e6, 50, jitter=True, seed=2)
    sports = 40000 + np.arange(50) % 8
    runs = [step_and_load(times, sports, prof, 3, 2, [0, 0], [rps, rps], costs, 256) for rps in ([1], [1, 2])]
    assert runs[0][0].hard_irqs == runs[1][0].hard_irqs
    assert all(step == load for step, load in runs)


@pytest.mark.parametrize("profile", PROFILE_NAMES)
def test_rps_handoff_is_read_on_cpu_0_and_processed_on_cpu_1(profile):
    trace = rps_handoff(profile)
    calls = [(e.cpu, e.function) for e in trace if e.kind == "call"]
    order = [(0, "get_rps_cpu"), (0, "enqueue_to_backlog"), (0, "net_rps_action_and_irq_enable"),
             (1, "napi_schedule_prep"), (1, "generic_smp_call_function_single_interrupt"), (1, "rps_trigger_softirq"), (1, "process_backlog"),
             (1, "udp_queue_rcv_skb" if (1, "udp_queue_rcv_skb") in calls else "__udp_queue_rcv_skb")]
    positions = [calls.index(c) for c in order]
    assert positions == sorted(positions)
    assert (0, "process_backlog") not in calls and (1, "igb_poll") not in calls
    assert trace[-1].state.cpus[1].softnet.processed == 1 and trace[-1].state.cpus[0].softnet.processed == 0


def test_rps_settings_are_checked():
    assert rps_maps(None, 2, 4) == [(), ()]
    assert rps_maps([[3, 1, 1], []], 2, 4) == [(1, 3), ()]
    for bad, match in (([[1]], "one list of CPUs per RX queue"), ([[4], []], r"CPUs in 0\.\.3"),
                       (["12", []], "must list CPUs"), ([[True], []], "must list CPUs"), ("0", "one list")):
        with pytest.raises(ValueError, match=match):
            rps_maps(bad, 2, 4)
    with pytest.raises(ValueError, match="one list"):
        Host(cpus=2, queues=2, rps_cpus=[[1]])
    with pytest.raises(ValueError, match="ascending distinct"):
        NetdevRxQueue(0, (2, 1))


# --- the load model agrees ----------------------------------------------------------------------------------------
COSTS = st.builds(Costs, driver_ns=st.sampled_from([0, 100, 600]), stack_ns=st.sampled_from([150, 300, 2400]),
                  poll_ns=st.sampled_from([100, 200]), hardirq_ns=st.sampled_from([500, 1000]))


@st.composite
def traffic(draw, flows: int, flow_limit: bool, most: int):
    """The sysctls, costs, arrival times (up to ``most`` packets) and source ports (``flows`` flows) of an RPS
    case, from idle to a flood; with a flow limit: fast, to a slow CPU with a short backlog, one flow may hog it.
    Also the random generator the case goes on with."""
    costs = draw(COSTS)
    sysctls = dict(netdev_max_backlog=draw(st.sampled_from([10, 100, 1000])), hz=draw(st.sampled_from([250, 1000])),
                   netdev_budget=draw(st.sampled_from([64, 300])), max_softirq_restart=draw(st.sampled_from([1, 10])))
    n = draw(st.integers(50, most) if not flow_limit else st.integers(600, 2000))
    if flow_limit:
        sysctls["netdev_max_backlog"] = draw(st.sampled_from([40, 100]))
        costs = replace(costs, stack_ns=2400)
    rate = draw(st.floats(2e6 if flow_limit else 1e5, 1.4e7))
    burst = draw(st.integers(1, 32))
    if burst > 1 and (burst - 1) * 67 >= burst * 1e9 / rate:
        burst = 1
    times = arrivals(rate, n, burst=burst, jitter=draw(st.booleans()), seed=draw(st.integers(0, 100)))
    rng = np.random.default_rng(n)
    sports = 40000 + rng.integers(0, flows, n)
    if flow_limit:
        sports[rng.random(n) < draw(st.sampled_from([0.5, 0.9]))] = 40000
    return sysctls, costs, times, sports, rng


@st.composite
def rps_case(draw):
    """One reading CPU (CPU 0: every queue's IRQ, or queue 1's on CPU 1 without RPS), RPS over any CPUs — the
    reading CPU among them or not —, from idle to a flood that fills the ring and the backlogs; interrupts moderated
    or not; UDP, or TCP segments GRO merges (a few UDP packets and short segments among them). Returns
    :func:`step_and_load`'s arguments and its keywords."""
    profile = PROFILES[draw(st.sampled_from(PROFILE_NAMES))]
    cpus, queues = draw(st.integers(2, 4)), draw(st.integers(1, 2))
    mask = draw(st.integers(1, (1 << cpus) - 1))   # a non-empty set of CPUs, drawn directly (no filtered draws)
    rps = [c for c in range(cpus) if mask >> c & 1]
    flow_limit = profile.softnet_stat_columns >= 11 and draw(st.booleans())
    if flow_limit:                                  # (the load model's flow limit: a reader steers to one CPU)
        rps = rps[-1:]
    affinity, rps_cpus = [0] * queues, [rps] * queues
    if queues == 2 and draw(st.booleans()):          # a second queue without RPS on a CPU of its own, not a target
        affinity, rps_cpus = [0, 1], [[c for c in rps if c != 1] or [0], []]
    flows = draw(st.integers(1, 4 if flow_limit else 40))
    sysctls, costs, times, sports, rng = draw(traffic(flows, flow_limit, 1200))
    n = len(times)
    kw = dict(rx_usecs=draw(st.sampled_from([0, 0, 1, 3, 10, 50, 250])))
    if flow_limit:
        kw["flow_limit_cpus"] = draw(st.sampled_from([(0,), (0,), (0, 1), (1,)]))
    if draw(st.booleans()):
        kw["rx_usecs"] = kw["rx_usecs"] if kw["rx_usecs"] not in (1, 3) else 0   # (adaptive: UDP only)
        rxhash = rss_hashes(["10.0.0.1"] * flows, ["10.0.0.2"] * flows, 40000 + np.arange(flows), [80] * flows)
        segments = tcp_segments(sports - 40000, rxhash, mss=draw(st.sampled_from([100, 1448])),
                                push_every=draw(st.sampled_from([0, 3, 40])))
        segments.flow[rng.random(n) < draw(st.sampled_from([0.0, 0.1]))] = -1                   # UDP packets
        segments.payload[rng.random(n) < draw(st.sampled_from([0.0, 0.05]))] //= 2               # short segments
        kw["segments"] = segments
    return (times, sports, profile.replace(**sysctls), cpus, queues, affinity, rps_cpus, costs,
            draw(st.sampled_from([64, 128, 256])), kw)


def step_and_load(times, sports, profile, cpus, queues, affinity, rps_cpus, costs, ring, rx_usecs=0, segments=None,
                  flow_limit_cpus=(), rps_sock_flow_entries=0, rps_flow_cnt=0, read_on=None):
    """Both models on UDP packets from ports ``sports`` (with ``segments``: TCP segments, UDP where its flow is -1);
    RFS's table written before the traffic as ``read_on`` says (:func:`read_flows`)."""
    n = len(times)
    host = Host(profile, cpus=cpus, queues=queues, ring_size=ring, affinity=affinity, rps_cpus=rps_cpus, costs=costs,
                rx_usecs=rx_usecs, flow_limit_cpus=flow_limit_cpus, rps_sock_flow_entries=rps_sock_flow_entries,
                rps_flow_cnt=rps_flow_cnt)
    read_flows(host, read_on or {})
    host.udp_socket(80, rcvbuf=1 << 40)
    if segments is not None:
        host.tcp_socket(80, rcvbuf=1 << 40)
    host.receive([Packet(int(t), sport=int(p), protocol="udp", name=f"p{i}")
                  if segments is None or segments.flow[i] < 0 else
                  Packet(int(t), sport=int(p), length=52 + int(segments.payload[i]), seq=int(segments.seq[i]), ack=1,
                         flags=("ACK", "PSH") if segments.push[i] else ("ACK",), name=f"p{i}")
                  for i, (t, p) in enumerate(zip(times, sports))])
    host.run()
    flows = (["10.0.0.1"] * n, ["10.0.0.2"] * n, sports, [80] * n)
    load = simulate(times, rss_queues(*flows, queues), profile=profile, cpus=cpus, queues=queues, ring_size=ring,
                    affinity=affinity, costs=costs, rps_cpus=rps_cpus, hash_of_packet=rss_hashes(*flows),
                    rx_usecs=rx_usecs, segments=segments, flow_limit_cpus=flow_limit_cpus,
                    rps_sock_flow_entries=rps_sock_flow_entries, rps_flow_cnt=rps_flow_cnt, read_on=read_on)
    return host.summary(), load


@pytest.mark.parametrize("profile", PROFILE_NAMES)
def test_an_skb_rps_leaves_on_the_reading_cpu_pays_its_trip_up_the_stack_there(profile):
    """A queue with an RFS flow table but no RPS map, and flows nobody read: get_rps_cpu returns -1 for each skb, so
    each goes up the stack on the CPU that read it and costs what it costs without RPS — in both models."""
    times, sports = 1000 + 3000 * np.arange(30), 40000 + np.arange(30) % 3
    plain = step_and_load(times, sports, PROFILES[profile], 2, 1, [0], [[]], Costs(), 256)
    unread = step_and_load(times, sports, PROFILES[profile], 2, 1, [0], [[]], Costs(), 256, rps_sock_flow_entries=64,
                           rps_flow_cnt=8)
    assert plain[0] == plain[1] and unread[0] == unread[1]
    assert unread[0].busy_ns == plain[0].busy_ns and unread[0].processed == plain[0].processed == [30, 0]


def read_flows(host, read_on):
    """Before any traffic, each flow's reader reads it once on its CPU, in ``read_on``'s order (flow hash → CPU):
    ``inet_recvmsg`` → ``sock_rps_record_flow`` of the flow's socket, whose ``sk_rxhash`` is the flow's hash (as its
    first skb set it: ``sock_rps_save_rxhash``). The sockets are connected (TCP, or connected UDP, which is
    TCP_ESTABLISHED too: 6.12 records only those); the packets themselves go to the host's own sockets."""
    for h, cpu in read_on.items():
        reader = Sock(name=f"reader of {h:#010x}", protocol="udp", sk_state=TCP_ESTABLISHED, sk_rxhash=h)
        host.run_process(cpu, partial(sock_rps_record_flow, reader))


@settings(max_examples=int(os.environ.get("RPS_EXAMPLES", 60)), deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(case=rps_case())
def test_the_load_model_equals_the_step_model_with_rps(case):
    *args, kw = case
    step, load = step_and_load(*args, **kw)
    assert load == step
    assert sum(step.processed) + sum(step.backlog_drops) == sum(step.gro_skbs)
    event(f"backlog drops {'yes' if sum(step.backlog_drops) else 'no'}, ring drops {'yes' if step.ring_drops else 'no'}"
          f", ksoftirqd {'yes' if sum(b['ksoftirqd'] for b in step.busy_ns) else 'no'}, "
          f"{'TCP, merged' if sum(step.gro_skbs) < step.delivered else 'TCP' if 'segments' in kw else 'UDP'}, "
          f"rx_usecs {'yes' if kw['rx_usecs'] else 'no'}, "
          f"flow limit drops {'yes' if sum(step.flow_limit_count) else 'no'}")


@st.composite
def rps_bulk_case(draw, flood=False, periodic=False):
    """One queue on CPU 0 and the regimes of the load model's RPS shortcuts: a reader that steers everything away
    (isolated_packets, quiet_cycles) or keeps some skbs (rps_quiet_cycles: nested IRQs while its backlog runs, its
    backlog full, restarts on 3.10), targets idle or busy (backlog_cycles), squeezes at a jiffy's end; with
    ``flood``, 6.12 readers flooded in ksoftirqd with ring drops (flooded_runs); with ``periodic``, arrivals without
    jitter and flows round robin, a reader that keeps some skbs, across jiffies: its busy periods repeat
    (rps_quiet_cycles' repeats)."""
    profile = PROFILES["6.12" if flood else draw(st.sampled_from(PROFILE_NAMES))]
    cpus = draw(st.integers(2, 4))
    rps = draw(st.lists(st.integers(0, cpus - 1), min_size=1, max_size=cpus, unique=True))
    if periodic and 0 not in rps:
        rps.append(0)
    costs = draw(COSTS)
    sysctls = dict(netdev_max_backlog=draw(st.sampled_from([0, 2, 1000])), hz=draw(st.sampled_from([250, 1000])),
                   netdev_budget=draw(st.sampled_from([65, 100, 300])),
                   netdev_budget_usecs=draw(st.sampled_from([1000, 4000])),
                   max_softirq_restart=draw(st.sampled_from([1, 2, 10])))
    n = draw(st.integers(2000, 6000) if flood else st.integers(100, 2500))
    rate = draw(st.floats(4e6, 1.4e7) if flood else st.floats(2e5, 6e6))
    burst = draw(st.integers(1, 3))
    if burst > 1 and (burst - 1) * 67 >= burst * 1e9 / rate:
        burst = 1
    times = arrivals(rate, n, burst=burst, jitter=not periodic and draw(st.booleans()), seed=draw(st.integers(0, 100)),
                     start_ns=draw(st.sampled_from([1000, 999_000, 3_998_000])))     # (a jiffy ends early: squeezes)
    if periodic:
        n = len(times)
        sports = 40000 + np.arange(n) % draw(st.integers(1, 16))
    else:
        sports = 40000 + np.random.default_rng(n).integers(0, draw(st.integers(1, 64)), n)
    return times, sports, profile.replace(**sysctls), cpus, 1, [0], [rps], costs, \
        draw(st.sampled_from([64, 128, 256] if flood else [128, 256]))


@settings(max_examples=int(os.environ.get("RPS_EXAMPLES", 40)), deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(case=st.one_of(rps_bulk_case(), rps_bulk_case(flood=True), rps_bulk_case(periodic=True)))
def test_the_load_models_rps_shortcuts_equal_the_step_model(case):
    step, load = step_and_load(*case)
    assert load == step
    yes = {True: "yes", False: "no"}
    event(f"reader keeps skbs: {yes[0 in case[6][0]]}, squeezed {yes[sum(step.time_squeeze) > 0]}, "
          f"backlog drops {yes[sum(step.backlog_drops) > 0]}")


@pytest.mark.parametrize("profile", PROFILE_NAMES)
@pytest.mark.parametrize("rps", [[1, 2], [0, 1, 2]])
@pytest.mark.parametrize("rate", [2e6, 6e6])
def test_a_target_takes_its_runs_of_ipis_the_same_a_few_at_a_time(monkeypatch, profile, rps, rate):
    """The load model's targets take the runs of skbs that one IPI announces a few at a time (here from 3 on, with
    ring drops at 6 Mpps, and runs a cycle took part of): they see what the step model's do."""
    monkeypatch.setattr(load_receive, "_FIRST_RUNS", 3)
    step, load = step_and_load(arrivals(rate, 3000), 40000 + np.arange(3000) % 16, PROFILES[profile], 3, 1, [0],
                               [rps], Costs(), 256)
    assert load == step


@st.composite
def steered_runs(draw):
    """What reading CPUs steer to a target: runs of skbs (one enqueued each 100 ns, or a GRO batch at once), each
    run's IPI with or after its last skb, the next run from then on; on a 100 ns grid, so that skbs, IPIs and the
    target's cycles often meet at one instant (near a 1 ms jiffy's end). The target, idle from ``now`` on, starts
    inside the first run (a cycle before took the skbs ahead of ``start``)."""
    clock = draw(st.sampled_from([1000, 990_000, 997_000, 998_600]))
    t, ipi = [], []
    for _ in range(draw(st.integers(1, 40))):
        clock += 100 * draw(st.sampled_from([0, 0, 1, 10, 30]))
        k, step = draw(st.sampled_from([1, 1, 2, 3, 8, 63, 64])), draw(st.sampled_from([0, 100]))
        t += [clock + step * i for i in range(k)]
        clock = t[-1] + 100 * draw(st.sampled_from([0, 1, 10]))
        ipi += [clock] * k
    start = draw(st.integers(0, ipi.count(ipi[0]) - 1))
    return (np.array(t), np.array(ipi), start, t[start] + 100 * draw(st.integers(-5, 40)),
            draw(st.sampled_from(PROFILE_NAMES)))


class OneCycleAtATime(load_receive._RpsCpu):
    """A target that takes each cycle with a bisect (:meth:`_RpsCpu.backlog_cycles`' way without group_cycles)."""

    def group_cycles(self, end, size, head, most):
        return 0, 0, 0, 0


@settings(max_examples=int(os.environ.get("RPS_EXAMPLES", 60)) * 5, deadline=None)
@given(case=steered_runs())
def test_a_targets_cycles_in_numpy_equal_its_cycles_one_at_a_time(case):
    """group_cycles (runs of equal IPI times, the first begun in a cycle before; a max-plus recursion) gives what
    taking each cycle with a bisect gives: cycles, squeezes, CPU time, the end, how many skbs — where the next skb
    comes exactly at a cycle's start, a run's last exactly then, a cycle takes 63 or 64, a jiffy ends in one."""
    t, ipi, start, now, profile = case
    prof = PROFILES[profile].replace(hz=1000, netdev_budget_usecs=1000)
    targets = []
    for kind in (load_receive._RpsCpu, OneCycleAtATime):
        target = kind([], prof, Costs(), 256)
        target.cpu, target.steered, target.steered_ipi = 1, load_receive._Feed(t), ipi
        target.steered.skip(start)
        target.now = target.busy_until = now
        target.backlog_cycles()
        targets.append((target.steered.pos, target.now, target.time_squeeze, target.busy_ns, target.received_rps,
                        target.net_rx_softirqs, target.processed_rps))
    assert targets[0] == targets[1]
    event(f"cycles {'none' if not targets[0][4] else 'some'}, skbs left {'yes' if targets[0][0] < len(t) else 'no'}, "
          f"squeezed {'yes' if targets[0][2] else 'no'}")


@st.composite
def steered_bursts(draw):
    """What a flooded reading CPU steers to a target: runs of skbs (one each 100 ns), each run's IPI at its last skb,
    the next run at once or a little later, on a 100 ns grid near a 1 ms jiffy's end; the target free from ``now``
    on, ksoftirqd perhaps still its current task (asleep); sysctls that make its bursts restart, squeeze, drop or
    wake ksoftirqd."""
    clock = draw(st.sampled_from([1000, 990_000, 997_000, 999_000]))
    t, ipi = [], []
    for _ in range(draw(st.integers(1, 60))):
        clock += 100 * draw(st.sampled_from([0, 0, 1, 5, 30, 200]))
        k = draw(st.sampled_from([1, 20, 63, 64, 65, 130]))
        t += [clock + 100 * i for i in range(k)]
        clock = t[-1]
        ipi += [clock] * k
    sysctls = dict(netdev_max_backlog=draw(st.sampled_from([50, 1000])), max_softirq_restart=draw(st.sampled_from(
        [1, 2, 10])), netdev_budget=draw(st.sampled_from([64, 128, 300])), netdev_budget_usecs=draw(st.sampled_from(
            [1000, 2000])))
    now = t[0] + 100 * draw(st.sampled_from([-5, 0, 0, 19, 40, 63]))      # (often an IPI's own instant)
    return (np.array(t), np.array(ipi), now, draw(st.booleans()),
            PROFILES[draw(st.sampled_from(PROFILE_NAMES))].replace(hz=1000, **sysctls))


class EngineOnly(load_receive._RpsCpu):
    """A target that takes each IPI and ksoftirqd run step by step (:meth:`_Cpu.engine_step`), nothing in bulk."""

    def backlog_cycles(self):
        pass

    def backlog_flood(self):
        pass


@settings(max_examples=int(os.environ.get("RPS_EXAMPLES", 60)) * 3, deadline=None)
@given(case=steered_bursts())
def test_a_targets_bursts_in_bulk_equal_its_engine_step_by_step(case):
    """backlog_cycles with bursts of 64 skbs and more (backlog_burst), and ksoftirqd asleep but still current when it
    starts, gives what the engine gives step by step: the same counters, clock and task."""
    t, ipi, now, current, prof = case
    targets = []
    for kind in (load_receive._RpsCpu, EngineOnly):
        target = kind([], prof, Costs(), 256)
        target.cpu, target.steered, target.steered_ipi = 1, load_receive._Feed(t), ipi
        target.now = target.busy_until = now
        target.ksoftirqd_current = current
        target.run()
        targets.append((target.now, target.time_squeeze, target.busy_ns, target.received_rps, target.net_rx_softirqs,
                        target.processed_rps, target.dropped, target.ksoftirqd_current))
    assert targets[0] == targets[1]
    event(f"ksoftirqd {'yes' if targets[0][2]['ksoftirqd'] else 'no'}, drops {'yes' if targets[0][6] else 'no'}, "
          f"squeezed {'yes' if targets[0][1] else 'no'}")


@pytest.mark.parametrize("profile, gap, run", [("3.10", 340, 100), ("6.12", 400, 70), ("6.12", 330, 128)])
def test_a_targets_bursts_of_as_many_skbs_take_as_long_within_a_jiffy(monkeypatch, profile, gap, run):
    """A target busy with bursts of 64 skbs and more, 20 ms of them on 1 ms jiffies: backlog_cycles works out a burst
    of so many skbs once and reuses it wherever it stays within a jiffy — not where it crosses one (a squeeze there,
    or handle_softirqs' time up): the same as the engine step by step."""
    calls = []
    backlog_burst = load_receive._RpsCpu.backlog_burst
    monkeypatch.setattr(load_receive._RpsCpu, "backlog_burst",
                        lambda self, fire, k: calls.append(k) or backlog_burst(self, fire, k))
    t = 990_000 + gap * np.arange(20000)
    ipi = np.minimum(t // (gap * run) * (gap * run) + gap * (run - 1), t[-1])    # a reader's run's skbs, an IPI each
    targets = []
    for kind in (load_receive._RpsCpu, EngineOnly):
        target = kind([], PROFILES[profile].replace(hz=1000, netdev_budget_usecs=1000), Costs(), 256)
        target.cpu, target.steered, target.steered_ipi = 1, load_receive._Feed(t), ipi
        target.now = target.busy_until = int(t[0])
        target.run()
        targets.append((target.now, target.time_squeeze, target.busy_ns, target.received_rps, target.net_rx_softirqs,
                        target.processed_rps, target.dropped))
    assert targets[0] == targets[1] and targets[0][1] and len(calls) < targets[0][3] // 4


@st.composite
def steered_floods(draw):
    """What reading CPUs steer to a target faster than it takes them (``stack_ns`` 300, or 2000: calls that span
    jiffies): runs of skbs, one each ``gap`` ns (often 100: 10 Mpps, a flood for good; 250 or 400: one that ksoftirqd
    may catch up with), each run's IPI at its last skb, now and then a pause that lets the backlog empty; near a 1 ms
    jiffy's end, with sysctls that make the flood squeeze (a spent budget, a jiffy's end), restart or not, drop at
    netdev_max_backlog."""
    clock = draw(st.sampled_from([1000, 990_000, 998_000]))
    gap = draw(st.sampled_from([100, 100, 100, 250, 400]))
    t, ipi = [], []
    pattern = draw(st.lists(st.tuples(st.sampled_from([0, 0, 0, 1, 100, 50_000]), st.sampled_from(
        [1, 20, 63, 64, 65, 130])), min_size=1, max_size=6))           # (pause, skbs) per run, repeated
    for _ in range(draw(st.sampled_from([1, 10, 100, 300]))):
        for pause, k in pattern:
            clock += pause
            t += [clock + gap * i for i in range(k)]
            clock = t[-1]
            ipi += [clock] * k
    sysctls = dict(netdev_max_backlog=draw(st.sampled_from([63, 64, 300, 1000, 1000])), max_softirq_restart=draw(
        st.sampled_from([1, 2, 10])), netdev_budget=draw(st.sampled_from([64, 65, 128, 300])),
        netdev_budget_usecs=draw(st.sampled_from([1000, 2000])), max_softirq_time_us=draw(st.sampled_from(
            [1000, 2000])))
    costs = Costs(stack_ns=draw(st.sampled_from([300, 300, 2000])))
    return (np.array(t), np.array(ipi), PROFILES[draw(st.sampled_from(PROFILE_NAMES))].replace(
        hz=draw(st.sampled_from([1000, 250])), **sysctls), costs)


class NoFlood(load_receive._RpsCpu):
    """A target whose ksoftirqd runs a call a step (the engine's way), its cycles from idle still in bulk."""

    def backlog_flood(self):
        pass


class Flood(load_receive._RpsCpu):
    """A target that counts the calls :meth:`_RpsCpu.backlog_flood` took in bulk (``bulk``, a class attribute)."""

    bulk = [0]

    def backlog_flood(self):
        runs = self.net_rx_softirqs
        load_receive._RpsCpu.backlog_flood(self)
        Flood.bulk[0] += self.net_rx_softirqs > runs


@settings(max_examples=int(os.environ.get("RPS_EXAMPLES", 60)) * 3, deadline=None)
@given(case=steered_floods())
def test_a_flooded_targets_ksoftirqd_calls_in_bulk_equal_them_a_call_at_a_time(case):
    """backlog_flood (ksoftirqd's calls back to back on a flooded backlog, each taking in what was steered by its
    start) gives what the engine gives a call at a time, on 3.10 and 6.12: the same counters, clock and task —
    where a call squeezes, runs out of restarts or of MAX_SOFTIRQ_TIME, drops, splices input_pkt_queue in the middle
    of a poll, empties the backlog with exactly 64, or the flood ends and begins again."""
    t, ipi, prof, costs = case
    targets = []
    Flood.bulk[0] = 0
    for kind in (Flood, NoFlood):
        target = kind([], prof, costs, 256)
        target.cpu, target.steered, target.steered_ipi = 1, load_receive._Feed(t), ipi
        target.now = target.busy_until = int(t[0])
        target.run()
        targets.append((target.now, target.time_squeeze, target.busy_ns, target.received_rps, target.net_rx_softirqs,
                        target.processed_rps, target.dropped, target.ksoftirqd_current, target.ksoftirqd_running,
                        target.backlog.input_q, target.backlog.process_q, target.in_net_rx_action))
    assert targets[0] == targets[1]
    event(f"ksoftirqd {'yes' if targets[0][2]['ksoftirqd'] else 'no'}, calls in bulk "
          f"{'yes' if Flood.bulk[0] else 'no'}, drops {'yes' if targets[0][6] else 'no'}, "
          f"squeezed {'yes' if targets[0][1] else 'no'}")


@pytest.mark.parametrize("profile, rate, rps, rfs, sysctls", [
    ("6.12", 4e6, [1, 2, 3], 3, {}), ("6.12", 6e6, [1, 2, 3], 3, dict(netdev_max_backlog=300, max_softirq_restart=3)),
    ("6.12", 1e7, [1, 2], None, dict(hz=1000)), ("6.12", 1e7, [1, 2], None, dict(netdev_budget_usecs=1000, hz=1000)),
    ("3.10", 4e6, [1, 2, 3], 3, dict(max_softirq_restart=1)), ("3.10", 1e7, [1, 2], None, dict(netdev_budget=64))])
def test_a_flooded_target_runs_its_ksoftirqd_calls_in_bulk(monkeypatch, profile, rate, rps, rfs, sysctls):
    """A target flooded for good (every flow read on CPU 3 at 4-6 Mpps, RPS to two CPUs at 10 Mpps): ksoftirqd takes
    what was steered at each call's start and polls the backlog until the restarts or the time run out; the load
    model runs those calls in bulk (backlog_flood) and equals the step model."""
    bulk = []
    flood = load_receive._RpsCpu.backlog_flood

    def counted(self):
        runs = self.net_rx_softirqs
        flood(self)
        bulk.append(self.net_rx_softirqs - runs)
    monkeypatch.setattr(load_receive._RpsCpu, "backlog_flood", counted)
    n, flows = 6000, 16
    sports = 40000 + np.arange(n) % flows
    read_on = None
    if rfs is not None:
        hashes = rss_hashes(["10.0.0.1"] * flows, ["10.0.0.2"] * flows, 40000 + np.arange(flows), [80] * flows)
        read_on = {int(h): rfs for h in hashes.tolist()}
    step, load = step_and_load(arrivals(rate, n, start_ns=990_000), sports, PROFILES[profile].replace(**sysctls), 4,
                               1, [0], [rps], Costs(), 256, rps_sock_flow_entries=32768 if rfs else 0,
                               rps_flow_cnt=32768 if rfs else 0, read_on=read_on)
    assert load == step and sum(load.busy_ns[c]["ksoftirqd"] for c in rps) and sum(bulk) >= 10


@pytest.mark.parametrize("profile", PROFILE_NAMES)
@pytest.mark.parametrize("rps", [[1, 2], [0, 1]])
@pytest.mark.parametrize("rate", [3e5, 1e6, 2.5e6])
def test_the_rps_shortcuts_squeeze_where_the_step_model_does(profile, rps, rate):
    """Across 1 ms jiffies with netdev_budget_usecs 1000 a NET_RX run that crosses one is squeezed (6.12): on the
    reading CPU (quiet or with its own backlog) and on the targets, in bulk as step by step."""
    prof = PROFILES[profile].replace(hz=1000, netdev_budget_usecs=1000)
    step, load = step_and_load(arrivals(rate, 3000), 40000 + np.arange(3000) % 16, prof, 3, 1, [0], [rps], Costs(),
                               256)
    assert load == step


@pytest.mark.parametrize("profile, rate, start", [("3.10", 4e5, 990_000), ("6.12", 5e5, 994_700),
                                                  ("6.12", 1e6, 990_000), ("6.12", 2e6, 990_000)])
def test_a_reader_that_keeps_skbs_repeats_its_busy_periods_across_jiffies(monkeypatch, profile, rate, start):
    """Periodic arrivals, 8 flows round robin, RPS over CPUs 0-3 on 1 ms jiffies: CPU 0's busy periods (nested IRQs,
    its backlog) repeat every few flows' rounds; the load model applies them at once, up to a busy period a jiffy
    boundary falls in, and still equals the step model (at 0.5 Mpps the first cycle has one: a squeeze that must not
    repeat)."""
    repeats = []
    rps_repeats = load_receive._RpsCpu.rps_repeats
    monkeypatch.setattr(load_receive._RpsCpu, "rps_repeats",
                        lambda self, *a: repeats.append(rps_repeats(self, *a)) or repeats[-1])
    prof = PROFILES[profile].replace(hz=1000, netdev_budget_usecs=1000)
    step, load = step_and_load(arrivals(rate, 6000, start_ns=start), 40000 + np.arange(6000) % 8, prof, 4, 1, [0],
                               [[0, 1, 2, 3]], Costs(), 256)
    assert load == step and sum(repeats) > 100


@pytest.mark.parametrize("start, at_boundary", [(989_400, True), (989_399, False)])
def test_a_repeat_stops_at_a_busy_period_whose_last_instant_is_a_jiffy_boundary(monkeypatch, start, at_boundary):
    """2 Mpps, 8 flows round robin, RPS over CPUs 0-3, 6.12 at HZ 1000 with a 1 ms budget: from 989.4 µs on, a busy
    period of CPU 0 ends exactly at 2 ms (and 3, 4 ms): its NET_RX run ends in the next jiffy and is squeezed, so the
    repeats stop there; 1 ns earlier it ends within its jiffy and they go on."""
    stops = []
    rps_repeats = load_receive._RpsCpu.rps_repeats

    def spy(self, cycle, i, at, most):
        g = rps_repeats(self, cycle, i, at, most)
        r, k = divmod(g, len(cycle.lo))
        stops.append((at + r * cycle.time[-1] + int(cycle.hi[k])) % self.tick_ns == 0)
        return g
    monkeypatch.setattr(load_receive._RpsCpu, "rps_repeats", spy)
    prof = PROFILES["6.12"].replace(hz=1000, netdev_budget_usecs=1000)
    step, load = step_and_load(arrivals(2e6, 6000, start_ns=start), 40000 + np.arange(6000) % 8, prof, 4, 1, [0],
                               [[0, 1, 2, 3]], Costs(), 256)
    assert load == step and any(stops) == at_boundary
    assert step.time_squeeze[0] == (3 if at_boundary else 1)


def test_a_reader_repeats_its_busy_periods_only_where_the_arrivals_repeat_to_the_last():
    """2 Mpps, 8 flows round robin, RPS over CPUs 0-3: CPU 0's busy periods repeat every 40 packets, up to the one the
    last (2983rd) packet would start. Here it arrives 450 ns early, during the period before: the arrivals' gaps do
    not repeat to the last one, so nothing is repeated (the period is found among the first arrivals, and checked
    over all)."""
    times = arrivals(2e6, 2983)
    assert load_receive._stream_period(times, None) == (1, 0)
    times[-1] -= 450
    assert load_receive._stream_period(times, None) == (0, 2983)
    step, load = step_and_load(times, 40000 + np.arange(2983) % 8, PROFILES["6.12"], 4, 1, [0], [[0, 1, 2, 3]],
                               Costs(), 256)
    assert load == step


def test_arrivals_repeat_from_the_second_where_the_first_gap_is_rounded_down():
    """arrivals() rounds k * period down: at 3 Mpps the first 3 packets take 999 ns, every later 3 take 1000 ns, so
    the gaps repeat every 3 packets from the second on (a reader may repeat its cycles from there); at 2 Mpps from the
    first; a late last packet: nowhere."""
    assert load_receive._stream_period(arrivals(3e6, 3000), None) == (3, 1)
    assert load_receive._stream_period(arrivals(2e6, 3000), None) == (1, 0)
    own = load_receive._running_count(np.arange(3000) % 8 < 2)
    assert load_receive._stream_period(arrivals(3e6, 3000), own) == (24, 1)
    times = arrivals(3e6, 3000)
    times[-1] += 1
    assert load_receive._stream_period(times, None) == (0, 3000)


@pytest.mark.parametrize("budget", [65, 300])
def test_a_flooded_reader_that_keeps_skbs_equals_the_step_model(budget):
    """6 Mpps into one queue, RPS over CPUs 0-3: CPU 0 floods in ksoftirqd, drops at the ring, polls its own backlog
    between its polls of the queue (flooded_runs); with netdev_budget 65 each run is squeezed."""
    prof = PROFILES["6.12"].replace(netdev_budget=budget, hz=1000, netdev_budget_usecs=1000)
    step, load = step_and_load(arrivals(6e6, 6000), 40000 + np.arange(6000) % 64, prof, 4, 1, [0], [[0, 1, 2, 3]],
                               Costs(), 256)
    assert load == step and step.ring_drops and step.busy_ns[0]["ksoftirqd"]


@pytest.mark.parametrize("sysctls, rate, flows", [
    ({}, 6e6, 8), ({}, 8e6, 12), (dict(netdev_budget=80), 6e6, 8), (dict(netdev_budget=80), 8e6, 16),
    (dict(netdev_budget_usecs=1000, max_softirq_restart=1), 6e6, 8),
    (dict(netdev_budget_usecs=1000, max_softirq_restart=1, netdev_max_backlog=10), 1e7, 16)])
def test_a_flooded_reader_repeats_its_runs_across_jiffies(monkeypatch, sysctls, rate, flows):
    """Periodic arrivals, flows round robin, RPS over CPUs 0-3 on 1 ms jiffies: CPU 0's flooded runs come back to a
    state they were in; the load model repeats them at once (flood_repeats) across jiffies and still equals the step
    model: handle_softirqs calls of 10 runs or one, runs squeezed when they kept 16 skbs or more (netdev_budget 80),
    a squeeze before the queue's poll that cuts a cycle short (netdev_budget_usecs 1000), backlog drops."""
    repeated = []                                    # the ends of the runs repeated
    flood_repeats = load_receive._RpsCpu.flood_repeats

    def counted(self, rows, *args):
        runs = flood_repeats(self, rows, *args)
        repeated.append(runs[0][len(rows):, 0])
        return runs
    monkeypatch.setattr(load_receive._RpsCpu, "flood_repeats", counted)
    prof = PROFILES["6.12"].replace(hz=1000, **sysctls)
    step, load = step_and_load(arrivals(rate, 20000), 40000 + np.arange(20000) % flows, prof, 4, 1, [0],
                               [[0, 1, 2, 3]], Costs(), 256)
    assert load == step and step.ring_drops
    ends = np.concatenate(repeated)
    assert len(ends) > 100 and ends[-1] // 1_000_000 > ends[0] // 1_000_000


@pytest.mark.parametrize("sysctls, rate", [({}, 6e6), (dict(netdev_budget=128), 6e6), (dict(netdev_budget=129), 4e6),
                                           (dict(netdev_budget_usecs=1000, max_softirq_restart=1), 1e7)])
def test_a_flooded_reader_that_keeps_every_skb_repeats_its_runs(monkeypatch, sysctls, rate):
    """RFS with every flow read on CPU 0, the reading CPU: each flooded run keeps all its 64 skbs, so the backlog's
    poll uses its weight and stays scheduled before the queue's; the load model repeats these runs (flood_repeats)
    across 1 ms jiffies and equals the step model — squeezed each run where netdev_budget is 128 (64 + 64), not at
    129."""
    repeated = []
    flood_repeats = load_receive._RpsCpu.flood_repeats

    def counted(self, rows, *args):
        runs = flood_repeats(self, rows, *args)
        repeated.append(len(runs[0]) - len(rows))
        return runs
    monkeypatch.setattr(load_receive._RpsCpu, "flood_repeats", counted)
    prof = PROFILES["6.12"].replace(hz=1000, **sysctls)
    rxhash = rss_hashes(["10.0.0.1"] * 8, ["10.0.0.2"] * 8, 40000 + np.arange(8), [80] * 8)
    step, load = step_and_load(arrivals(rate, 20000), 40000 + np.arange(20000) % 8, prof, 4, 1, [0], [[1, 2, 3]],
                               Costs(), 256, rps_sock_flow_entries=4096, rps_flow_cnt=4096,
                               read_on={int(h): 0 for h in rxhash})
    assert load == step and step.ring_drops and step.processed[1:] == [0, 0, 0]
    assert sum(repeated) > 30 and (step.time_squeeze[0] > 100) == (sysctls.get("netdev_budget") == 128)


@pytest.mark.parametrize("profile, sysctls, rate, flows, rps, rfs", [
    ("6.12", {}, 1e6, 8, [1, 2, 3], True), ("6.12", dict(hz=1000), 1.5e6, 8, [1, 2, 3], True),
    ("6.12", dict(hz=1000, max_softirq_restart=3), 2e6, 8, [1, 2, 3], True),
    ("6.12", dict(hz=1000, netdev_budget_usecs=1000), 2e6, 8, [1, 2, 3], True),
    ("3.10", {}, 1e6, 8, [1, 2, 3], True), ("3.10", dict(netdev_budget=100), 1.5e6, 4, [1, 2, 3], True),
    ("6.12", {}, 4e6, 16, [0, 1, 2, 3], False), ("6.12", dict(hz=1000), 3e6, 16, [0, 1, 2, 3], False),
    ("3.10", {}, 4e6, 16, [0, 1, 2, 3], False)])
def test_a_busy_reader_that_keeps_skbs_repeats_its_runs(monkeypatch, profile, sysctls, rate, flows, rps, rfs):
    """A reader busy but not flooded — RFS with every flow read on CPU 0, the reading CPU, or RPS over CPUs 0-3:
    its long NET_RX runs of queue and backlog polls with nested IRQs, squeezed, in ksoftirqd — come back to a state
    they began in; the load model repeats the runs since then at once (repeat_runs), across jiffies and
    handle_softirqs' calls, and equals the step model."""
    jumps = []                                       # (from, to) of each repeat
    jump_runs = load_receive._RpsCpu.jump_runs

    def spy(self, *args):
        start = self.now
        jump_runs(self, *args)
        if self.now > start:
            jumps.append((start, self.now))
    monkeypatch.setattr(load_receive._RpsCpu, "jump_runs", spy)
    prof = PROFILES[profile].replace(**sysctls)
    n = int(rate * 0.012)
    rxhash = rss_hashes(["10.0.0.1"] * flows, ["10.0.0.2"] * flows, 40000 + np.arange(flows), [80] * flows)
    rfs_kw = dict(rps_sock_flow_entries=4096, rps_flow_cnt=4096, read_on={int(h): 0 for h in rxhash}) if rfs else {}
    step, load = step_and_load(arrivals(rate, n), 40000 + np.arange(n) % flows, prof, 4, 1, [0], [rps], Costs(), 256,
                               **rfs_kw)
    assert load == step and step.busy_ns[0]["ksoftirqd"] and not step.ring_drops
    tick = 10**9 // prof.hz
    assert sum(b - a for a, b in jumps) > 0.4 * n / rate * 1e9 and jumps[-1][1] // tick > jumps[0][0] // tick


def spy_jump_runs(monkeypatch) -> list[tuple]:
    """Record each repeat ``_RpsCpu.jump_runs`` made: the context it ran in, the cycle's size and the run it entered
    the cycle at, the runs it skipped, the restarts ``handle_softirqs`` had left after it, whether the cycle was
    logged in softirq context (its busy time went there) and whether one cycle more would end after softirq_end."""
    jumps, jump_runs = [], load_receive._RpsCpu.jump_runs

    def spy(self, starts, ends, keys, p, values):
        before, softirqs = self.now, self.net_rx_softirqs
        jump_runs(self, starts, ends, keys, p, values)
        if self.now > before:
            jumps.append((self.context, len(ends), p, self.net_rx_softirqs - softirqs, self.softirq_restart,
                          starts[-1]["softirq"] > starts[0]["softirq"],
                          (self.now + starts[-1]["now"] - starts[0]["now"]) // self.tick_ns >= self.softirq_end))
    monkeypatch.setattr(load_receive._RpsCpu, "jump_runs", spy)
    return jumps


def busy_at_irq_exit(times, profile, costs=Costs(), ring=256, flows=16, rfs=True, rps=(0, 1, 2, 3)):
    """One queue on CPU 0, ``flows`` flows round robin: RFS with every flow read on CPU 0 (every skb kept there), or
    RPS over ``rps`` (some kept). Both models' summaries."""
    if rfs:
        return reader_keeps_all(times, flows, profile, costs, ring)
    return step_and_load(times, 40000 + np.arange(len(times)) % flows, profile, 4, 1, [0], [list(rps)], costs, ring)


@pytest.mark.parametrize("profile, sysctls, rate, start, rfs, bound, other, inside", [
    ("6.12", {}, 2e6, 1000, True, "restarts", False, False), ("3.10", {}, 2e6, 1000, True, "restarts", False, False),
    ("6.12", {}, 3e6, 1000, False, "restarts", False, False), ("3.10", {}, 3e6, 1000, False, "restarts", False, False),
    ("6.12", dict(max_softirq_restart=30), 2e6, 2_000_000, True, "jiffy", False, False),
    ("3.10", dict(max_softirq_restart=30), 2e6, 2_000_000, True, "jiffy", False, False),
    ("6.12", dict(max_softirq_restart=30), 3e6, 2_000_000, False, "jiffy", False, False),
    ("6.12", dict(max_softirq_restart=30, hz=1000), 1e6, 1000, True, "jiffy", True, True),
    ("6.12", dict(max_softirq_restart=30), 1e6, 2_000_000, True, "jiffy", True, True),
    ("6.12", {}, 1e6, 1000, True, "restarts", True, True), ("3.10", {}, 1e6, 1000, True, None, False, False)])
def test_a_busy_reader_repeats_its_runs_at_irq_exit_and_across_contexts(monkeypatch, profile, sysctls, rate, start,
                                                                        rfs, bound, other, inside):
    """A reader busy at irq_exit (RFS, every flow read on CPU 0, or RPS over CPUs 0-3): handle_softirqs restarts after
    each squeezed NET_RX run until MAX_SOFTIRQ_RESTART or MAX_SOFTIRQ_TIME runs out, then ksoftirqd takes over. Where
    the runs come back to a state, repeat_runs repeats them in softirq context too, up to the run whose end uses the
    last restart or comes after softirq_end (``bound``), at 1 Mpps (a cycle of 4 runs) into the middle of a cycle
    (``inside``); a cycle logged in softirq context repeats in ksoftirqd (``other``), where ksoftirqd's runs pass
    through one of its states. Both equal the step model."""
    jumps = spy_jump_runs(monkeypatch)
    step, load = busy_at_irq_exit(arrivals(rate, 6000, start_ns=start), PROFILES[profile].replace(**sysctls), rfs=rfs)
    assert load == step and step.busy_ns[0]["softirq"]
    soft = [j for j in jumps if j[0] == "softirq"]
    if bound is not None:
        assert soft and all(j[5] for j in soft)
        assert min(j[4] for j in soft) == 1 if bound == "restarts" else all(j[4] > 1 and j[6] for j in soft)
    assert any(j[0] == "ksoftirqd" and j[5] for j in jumps) == other and any(j[3] % j[1] for j in soft) == inside


@st.composite
def softirq_runs_case(draw):
    """A reading CPU busy at irq_exit: RFS with every flow read on CPU 0 (every skb kept there, 1-2.5 Mpps) or RPS over
    CPUs with 0 among them (some kept, 2-4 Mpps), periodic (mostly) arrivals from early or late in a jiffy, so that
    handle_softirqs' restarts or softirq_end (HZ 100, 250, 1000) run out inside a cycle of runs; budgets, time limits,
    backlogs and rings that run short, 3.10 and 6.12."""
    profile = PROFILES[draw(st.sampled_from(PROFILE_NAMES))]
    sysctls = dict(hz=draw(st.sampled_from([250, 1000, 100])),
                   netdev_budget=draw(st.sampled_from([300, 600, 100])),
                   netdev_budget_usecs=draw(st.sampled_from([1000, 2000, 8000])),
                   max_softirq_restart=draw(st.sampled_from([30, 10, 3])),
                   netdev_max_backlog=draw(st.sampled_from([1000, 30])))
    rfs = draw(st.booleans())
    rate = draw(st.sampled_from([1e6, 2e6, 2.5e6, None] if rfs else [3e6, 4e6, 2e6, None]))
    rate = rate or draw(st.floats(5e5, 3e6))        # (mostly whole periods: the arrivals repeat)
    tick = 10**9 // sysctls["hz"]                   # (softirq_end 0.4-1.5 ms after the start: inside the runs)
    start = draw(st.sampled_from([900_000, 1_500_000, 400_000]).map(lambda lead: max(1000, tick - lead))
                 | st.sampled_from([1000, 3_300_000, 9_000_000]))
    times = arrivals(rate, draw(st.integers(2000, 5000)), jitter=draw(st.sampled_from([False] * 5 + [True])),
                     start_ns=start)
    rps = draw(st.sampled_from([[0, 1, 2, 3], [0, 1, 2, 3], [0, 1], [0, 2, 3]]))
    return (times, profile.replace(**sysctls), draw(st.sampled_from([Costs()]) | COSTS),
            draw(st.sampled_from([256, 128, 64])), draw(st.sampled_from([16, 8]) | st.integers(1, 16)), rfs, rps)


@settings(max_examples=int(os.environ.get("RPS_EXAMPLES", 40)), deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(case=softirq_runs_case())
def test_a_reader_busy_at_irq_exit_equals_the_step_model(case):
    with pytest.MonkeyPatch.context() as monkeypatch:
        jumps = spy_jump_runs(monkeypatch)
        step, load = busy_at_irq_exit(*case)
    assert load == step
    yes = {True: "yes", False: "no"}
    soft = [j for j in jumps if j[0] == "softirq"]
    event(f"softirq jumps: {yes[bool(soft)]}, to the last restart {yes[any(j[4] == 1 for j in soft)]}, "
          f"up to softirq_end {yes[any(j[4] > 1 and j[6] for j in soft)]}; into a cycle's middle "
          f"{yes[any(j[3] % j[1] for j in jumps)]}; ksoftirqd jumps on a softirq cycle: "
          f"{yes[any(j[0] == 'ksoftirqd' and j[5] for j in jumps)]}")


@st.composite
def busy_reader_case(draw):
    """One queue on CPU 0, RPS over CPUs with 0 among them: a reader that keeps some skbs, from quiet to flooded, most
    often busy in long NET_RX runs of queue and backlog polls with nested IRQs; budget and time squeezes (jiffies that
    end early), polls of 64 (no driver cost, bursts), a full backlog (netdev_max_backlog 2, a slow stack), a short ring
    the NIC finds full; arrivals periodic or not, flows round robin or random."""
    profile = PROFILES[draw(st.sampled_from(PROFILE_NAMES))]
    costs = draw(COSTS)
    sysctls = dict(netdev_max_backlog=draw(st.sampled_from([2, 30, 1000])), hz=draw(st.sampled_from([100, 250, 1000])),
                   netdev_budget=draw(st.sampled_from([65, 120, 300])),
                   netdev_budget_usecs=draw(st.sampled_from([500, 2000, 8000])),
                   max_softirq_restart=draw(st.sampled_from([1, 10])))
    n = draw(st.integers(300, 3000))
    rate = draw(st.floats(1.5e6, 8e6) | st.sampled_from([2e6, 4e6, 5e6]))   # (whole periods: arrivals at a poll's end)
    burst = draw(st.sampled_from([1, 1, 2, 8]))
    if burst > 1 and (burst - 1) * 67 >= burst * 1e9 / rate:
        burst = 1
    times = arrivals(rate, n, burst=burst, jitter=draw(st.booleans()), seed=draw(st.integers(0, 100)),
                     start_ns=draw(st.sampled_from([1000, 999_000, 3_998_000, 9_999_000])))
    flows = draw(st.integers(1, 24))
    sports = (40000 + np.arange(n) % flows if draw(st.booleans())
              else 40000 + np.random.default_rng(n).integers(0, flows, n))
    rps = sorted({0, *draw(st.lists(st.integers(1, 3), max_size=3))})
    return times, sports, profile.replace(**sysctls), 4, 1, [0], [rps], costs, draw(st.sampled_from([64, 128, 256]))


def spy_rps_net_rx_action(monkeypatch) -> list[bool]:
    """Record, per call of ``_RpsCpu.rps_net_rx_action``, whether it ran the NET_RX run in bulk (False: refused)."""
    runs, bulk = [], load_receive._RpsCpu.rps_net_rx_action
    monkeypatch.setattr(load_receive._RpsCpu, "rps_net_rx_action", lambda self: runs.append(bulk(self)) or runs[-1])
    return runs


@settings(max_examples=int(os.environ.get("RPS_EXAMPLES", 60)) * 2, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(case=busy_reader_case())
def test_a_busy_reader_that_keeps_skbs_runs_its_net_rx_runs_in_bulk(case):
    """A reader that keeps some of its skbs, 3.10 and 6.12: its NET_RX runs a bisect per poll (rps_net_rx_action)
    equal the step model's, whatever ends them (budget, time, an empty poll_list) and whatever they meet (nested IRQs
    held by the throttle timer or due the instant a poll ends, polls of 64, backlog drops; a ring the NIC finds full:
    refused)."""
    with pytest.MonkeyPatch.context() as m:
        runs = spy_rps_net_rx_action(m)
        step, load = step_and_load(*case)
    assert load == step
    yes = {True: "yes", False: "no"}
    event(f"runs in bulk: {yes[any(runs)]}, refused: {yes[not all(runs)]}, squeezed {yes[sum(step.time_squeeze) > 0]}, "
          f"backlog drops {yes[sum(step.backlog_drops) > 0]}, ring drops {yes[step.ring_drops > 0]}")


@pytest.mark.parametrize("profile, sysctls, costs, rate, start, rps, ring", [
    ("6.12", {}, Costs(), 3.5e6, 1000, [0, 1, 2, 3], 256), ("3.10", {}, Costs(), 3.5e6, 1000, [0, 1, 2, 3], 256),
    ("6.12", dict(hz=1000, netdev_budget_usecs=500), Costs(), 4.5e6, 1000, [0, 1, 2, 3], 256),
    ("6.12", dict(netdev_budget=65), Costs(), 3e6, 1000, [0, 1, 2, 3], 256),
    ("6.12", dict(netdev_max_backlog=2), Costs(stack_ns=600), 3e6, 1000, [0, 1, 2, 3], 256),
    ("6.12", {}, Costs(driver_ns=0, stack_ns=600), 2e6, 1000, [0, 1, 2, 3], 256),
    ("6.12", {}, Costs(driver_ns=0, stack_ns=1200), 4e6, 1000, [0, 1, 2, 3], 256),
    ("6.12", {}, Costs(driver_ns=0, stack_ns=150), 6e6, 1000, [0, 1], 256),
    ("3.10", {}, Costs(driver_ns=0, stack_ns=150), 6e6, 1000, [0], 256),
    ("6.12", {}, Costs(), 3.5e6, 1000, [0, 1, 2, 3], 64),
    ("6.12", dict(hz=100), Costs(hardirq_ns=500, poll_ns=100), 5e6, 1000, [0, 1, 2, 3], 128),
    ("6.12", dict(hz=1000, netdev_budget_usecs=500, netdev_budget=3000), Costs(), 2.5e6, 3100, [0, 1, 2, 3], 256),
    ("3.10", dict(netdev_budget_usecs=500, netdev_budget=3000), Costs(), 2.5e6, 3100, [0, 1, 2, 3], 256)])
def test_a_busy_reader_runs_its_net_rx_runs_in_bulk(monkeypatch, profile, sysctls, costs, rate, start, rps, ring):
    """One queue, RPS over CPUs with the reader among them, 16 flows round robin, busy but not flooded: the reader's
    NET_RX runs go a bisect per poll (rps_net_rx_action) — through time squeezes (at a poll's end the instant a jiffy
    ends: 2.5 Mpps from 3.1 µs on, 1 ms jiffies), small budgets, backlog drops, polls of 64 of the queue (no driver
    cost) and, on 3.10, of the backlog (every skb kept, a fast stack; on 6.12 such a reader takes ``reader_turns``),
    a short ring — and equal the step model."""
    runs = spy_rps_net_rx_action(monkeypatch)
    n = 6000 if start == 1000 else 3000       # (the jiffy's end: 3000 packets put a poll's end on it on 3.10 too)
    step, load = step_and_load(arrivals(rate, n, start_ns=start), 40000 + np.arange(n) % 16,
                               PROFILES[profile].replace(**sysctls), 4, 1, [0], [rps], costs, ring)
    assert load == step and sum(runs) >= 3


def spy_reader_turns(monkeypatch) -> tuple[list[int], list[tuple[int, int]]]:
    """Record how many packets each call of ``_RpsCpu.reader_turns`` read in its turns, and what ``turn_repeats``
    allowed each time: whole repeats of a cycle of turns, then how many of its first turns."""
    read, repeats = [], []
    reader_turns, turn_repeats = load_receive._RpsCpu.reader_turns, load_receive._RpsCpu.turn_repeats
    monkeypatch.setattr(load_receive._RpsCpu, "turn_repeats",
                        lambda self, *args: repeats.append(turn_repeats(self, *args)) or repeats[-1])

    def spy(self, budget, time_limit):
        before = self.queues[0].rx_packets
        left = reader_turns(self, budget, time_limit)
        read.append(self.queues[0].rx_packets - before)
        return left
    monkeypatch.setattr(load_receive._RpsCpu, "reader_turns", spy)
    return read, repeats


def reader_keeps_all(times, flows, profile, costs=Costs(), ring=256, rfs=True):
    """One queue on CPU 0, ``flows`` flows round robin, every skb kept on CPU 0: RFS with every flow read there and
    RPS over CPUs 1-3, or (``rfs`` False) RPS over CPU 0 alone. Both models' summaries."""
    n = len(times)
    rxhash = rss_hashes(["10.0.0.1"] * flows, ["10.0.0.2"] * flows, 40000 + np.arange(flows), [80] * flows)
    rfs_kw = dict(rps_sock_flow_entries=4096, rps_flow_cnt=4096, read_on={int(h): 0 for h in rxhash}) if rfs else {}
    return step_and_load(times, 40000 + np.arange(n) % flows, profile, 4, 1, [0], [[1, 2, 3] if rfs else [0]], costs,
                         ring, **rfs_kw)


@pytest.mark.parametrize("sysctls, rate, costs", [
    ({}, 1e6, Costs()), (dict(hz=1000), 1.5e6, Costs()), (dict(netdev_budget=100), 2e6, Costs()),
    (dict(hz=1000, netdev_budget_usecs=1000), 1e6, Costs()), (dict(netdev_max_backlog=10), 2e6, Costs()),
    (dict(max_softirq_restart=2), 1.2e6, Costs(hardirq_ns=500)), ({}, 1e6, Costs(stack_ns=150, driver_ns=600)),
    (dict(hz=1000), 1.3e6, Costs(poll_ns=100))])
def test_a_busy_reader_that_keeps_every_skb_takes_its_turns_in_one_loop(monkeypatch, sysctls, rate, costs):
    """RFS with every flow read on CPU 0, the reading CPU, busy but not flooded: its long NET_RX runs alternate the
    backlog's poll and the queue's, whose IRQ nests in net_rx_action after the backlog's poll (goto start);
    reader_turns takes those turns in one loop up to the run's squeeze (the budget, netdev_budget_usecs at a 1 ms
    jiffy's end), across backlog drops, and repeats the turns since one that began in the same state (turn_repeats)
    — and the model still equals the step model. (IRQs the throttle timer holds back: the property test below.)"""
    read, repeats = spy_reader_turns(monkeypatch)
    n = int(rate * 0.008)
    step, load = reader_keeps_all(arrivals(rate, n), 16, PROFILES["6.12"].replace(**sysctls), costs)
    assert load == step and step.busy_ns[0]["ksoftirqd"] and not step.ring_drops
    assert step.processed[1:] == [0, 0, 0] and (sum(step.backlog_drops) > 0) == ("netdev_max_backlog" in sysctls)
    assert sum(read) > 300 and max(r for r, _ in repeats) > 0


def test_a_flooded_reader_that_keeps_every_skb_reads_no_arrivals_from_before_a_ring_drop_again():
    """Random arrivals at 10 Mpps into one queue, RPS over CPU 0 alone (every skb kept), a one-skb backlog, a short
    ring: the ring drops between NET_RX runs. reader_turns may go on with the arrivals its last call read only where
    the NIC dropped none since (a dropped packet was never read: the running maximum over them would be wrong)."""
    profile = PROFILES["6.12"].replace(hz=250, netdev_budget=65, netdev_max_backlog=0, max_softirq_restart=1)
    costs = Costs(hardirq_ns=500, net_rx_action_ns=200, poll_ns=100, driver_ns=100, stack_ns=150)
    step, load = step_and_load(arrivals(1e7, 2000, jitter=True, seed=2), 40000 + np.arange(2000) % 16, profile, 2, 1,
                               [0], [[0]], costs, 64)
    assert load == step and step.ring_drops and step.time_squeeze[0]


@st.composite
def keeps_all_case(draw):
    """A reading CPU that keeps every skb (RFS, every flow read on CPU 0; or RPS over CPU 0 alone), from quiet to
    flooded: periodic or random arrivals, the jiffy's end early or late, budgets, time limits, restarts, backlogs and
    rings that run short, IRQs the throttle timer holds back (hardirq_ns 500), 3.10 and (mostly) 6.12."""
    profile = PROFILES[draw(st.sampled_from(["3.10", "6.12", "6.12", "6.12"]))]
    sysctls = dict(netdev_max_backlog=draw(st.sampled_from([2, 30, 1000])), hz=draw(st.sampled_from([250, 1000])),
                   netdev_budget=draw(st.sampled_from([65, 100, 300])),
                   netdev_budget_usecs=draw(st.sampled_from([1000, 8000])),
                   max_softirq_restart=draw(st.sampled_from([1, 2, 10])))
    rate, n = draw(st.floats(5e5, 4e6)), draw(st.integers(300, 3000))
    times = arrivals(rate, n, jitter=draw(st.booleans()), seed=draw(st.integers(0, 100)),
                     start_ns=draw(st.sampled_from([1000, 999_000, 3_998_000])))
    return (times, draw(st.integers(1, 16)), profile.replace(**sysctls), draw(COSTS),
            draw(st.sampled_from([64, 128, 256])), draw(st.booleans()))


@settings(max_examples=int(os.environ.get("RPS_EXAMPLES", 40)), deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(case=keeps_all_case())
def test_a_reader_that_keeps_every_skb_equals_the_step_model(case):
    with pytest.MonkeyPatch.context() as monkeypatch:
        read, repeats = spy_reader_turns(monkeypatch)
        step, load = reader_keeps_all(*case)
    assert load == step
    yes = {True: "yes", False: "no"}
    event(f"reader_turns: {yes[sum(read) > 0]}, repeated {yes[any(r for r, _ in repeats)]}, "
          f"then part of a cycle {yes[any(m for _, m in repeats)]}, "
          f"squeezed {yes[step.time_squeeze[0] > 0]}, backlog drops {yes[sum(step.backlog_drops) > 0]}, "
          f"ring drops {yes[step.ring_drops > 0]}")


@settings(max_examples=int(os.environ.get("RPS_EXAMPLES", 40)), deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(n=st.integers(1500, 5000), flows=st.sampled_from([1, 4, 16]), start=st.sampled_from([1000, 999_000, 3_998_000]),
       costs=COSTS, ring=st.sampled_from([128, 256]), load_=st.floats(0.5, 1.0), grain=st.sampled_from([1, 50, 100]),
       sysctls=st.fixed_dictionaries(dict(hz=st.sampled_from([100, 250, 1000]),
                                          netdev_budget=st.sampled_from([100, 300, 600]),
                                          netdev_budget_usecs=st.sampled_from([1000, 2000, 8000]),
                                          netdev_max_backlog=st.sampled_from([30, 1000]),
                                          max_softirq_restart=st.sampled_from([2, 10]))))
def test_a_busy_reader_that_keeps_every_skb_repeats_its_turns_as_the_step_model_runs_them(n, flows, start, costs,
                                                                                         ring, load_, grain,
                                                                                         sysctls):
    """Periodic arrivals (a whole number of ns apart, loading the CPU's driver and stack half to fully; a multiple of
    ``grain`` ns: the phase of the turns' costs against them comes back sooner or later) into a 6.12 reader that
    keeps every skb (RFS, every flow read there), busy: its NET_RX runs repeat cycles of turns (``turn_repeats``:
    whole cycles, then the first turns of one, up to the budget, the time limit or the last arrivals), cycles met
    in earlier runs too, from any of their turns — and equal the step model."""
    period = int((costs.driver_ns + costs.stack_ns) / load_)
    times = start + (period - period % grain) * np.arange(n)
    with pytest.MonkeyPatch.context() as monkeypatch:
        read, repeats = spy_reader_turns(monkeypatch)
        step, load = reader_keeps_all(times, flows, PROFILES["6.12"].replace(**sysctls), costs, ring)
    assert load == step
    yes = {True: "yes", False: "no"}
    event(f"repeated {yes[any(r for r, _ in repeats)]}, then part of a cycle {yes[any(m for _, m in repeats)]}, "
          f"squeezed {yes[step.time_squeeze[0] > 0]}, backlog drops {yes[sum(step.backlog_drops) > 0]}")


@pytest.mark.parametrize("profile, rate", [("3.10", 1e7), ("6.12", 1e7), ("6.12", 1.488e7)])
def test_a_flooded_reader_that_steers_every_skb_away_runs_in_bulk(monkeypatch, profile, rate):
    """10 and 14.88 Mpps into one queue, RPS over CPUs 1-3 on 1 ms jiffies: CPU 0 floods in ksoftirqd and drops at
    the ring. It runs as a plain CPU (_Cpu.flooded_runs; 3.10: runs of five polls, whose IPIs leave at each run's
    end) and records its polls and where the NIC's writes between drops began; its targets see what the step
    model's do."""
    flooded = []
    record_polls = load_receive._RpsCpu.record_polls

    def spy(self, q, counts, starts, ipi_at=None, writes=None):
        if writes is not None:
            flooded.append(int(counts.sum()))
        record_polls(self, q, counts, starts, ipi_at, writes)
    monkeypatch.setattr(load_receive._RpsCpu, "record_polls", spy)
    step, load = step_and_load(arrivals(rate, 8000, start_ns=990_000), 40000 + np.arange(8000) % 16,
                               PROFILES[profile].replace(hz=1000), 4, 1, [0], [[1, 2, 3]], Costs(), 256)
    assert load == step and step.ring_drops and sum(flooded) > 1000


@pytest.mark.parametrize("rate, sysctls", [(8.5e6, {}), (7e6, dict(netdev_budget_usecs=1000))])
def test_a_busy_reader_that_steers_every_skb_away_records_its_polls_of_64_in_bulk(monkeypatch, rate, sysctls):
    """Random arrivals at 7 and 8.5 Mpps into one queue, RPS over CPUs 1-3 on 1 ms jiffies: CPU 0's busy periods
    poll 64 packets and more, NET_RX restarted by handle_softirqs (throttled_cycles), squeezed at a jiffy's end; it
    records those polls in bulk, and its targets see what the step model's do."""
    polls = []
    record_polls = load_receive._RpsCpu.record_polls

    def spy(self, q, counts, *args):
        polls.append(int(counts.max()))
        record_polls(self, q, counts, *args)
    monkeypatch.setattr(load_receive._RpsCpu, "record_polls", spy)
    step, load = step_and_load(arrivals(rate, 6000, start_ns=990_000, jitter=True), 40000 + np.arange(6000) % 16,
                               PROFILES["6.12"].replace(hz=1000, **sysctls), 4, 1, [0], [[1, 2, 3]], Costs(), 256)
    assert load == step and max(polls) == 64


@pytest.mark.parametrize("rate, jitter, sysctls", [(9e6, True, {}), (9.3e6, False, dict(netdev_budget_usecs=1000)),
                                                   (8.5e6, True, dict(max_softirq_restart=2))])
def test_a_reader_whose_busy_periods_go_on_in_ksoftirqd_runs_them_in_bulk(monkeypatch, rate, jitter, sysctls):
    """Just under what CPU 0 can read (about 9.4 Mpps), RPS over CPUs 1-3 on 1 ms jiffies: its busy periods poll 64
    packets run after run, handle_softirqs wakes ksoftirqd (restarts or the jiffy run out), which polls on back to
    back up to the poll that empties the ring and switches out. throttled_cycles takes them whole: the engine never
    runs CPU 0's ksoftirqd, and the counters are the step model's."""
    ksoftirqd_runs = []
    run_ksoftirqd = load_receive._Cpu.run_ksoftirqd
    monkeypatch.setattr(load_receive._Cpu, "run_ksoftirqd",
                        lambda self: ksoftirqd_runs.append(self.queues) or run_ksoftirqd(self))
    step, load = step_and_load(arrivals(rate, 6000, start_ns=990_000, jitter=jitter), 40000 + np.arange(6000) % 16,
                               PROFILES["6.12"].replace(hz=1000, **sysctls), 4, 1, [0], [[1, 2, 3]], Costs(), 256)
    assert load == step and step.busy_ns[0]["ksoftirqd"] and not any(ksoftirqd_runs)


@pytest.mark.parametrize("profile, rps, sysctls", [
    ("6.12", [1, 2, 3], dict(netdev_budget_usecs=1000)), ("3.10", [1, 2, 3], {}), ("3.10", [1, 2, 3],
                                                                                    dict(netdev_budget=128)),
    ("6.12", [1, 2, 3], dict(netdev_max_backlog=100)), ("3.10", [1, 2, 3], dict(netdev_max_backlog=100)),
    ("6.12", [1, 2, 3], dict(max_softirq_restart=2, netdev_budget=64)), ("6.12", [1, 2], {})])
def test_a_busy_target_takes_its_bursts_of_64_skbs_and_more_in_bulk(monkeypatch, profile, rps, sysctls):
    """10 Mpps into one queue read on CPU 0 (flooded), RPS over CPUs 1-3 (or 1-2) on 1 ms jiffies: each IPI a target
    takes finds what was steered during its burst before, often 64 skbs or more (backlog_burst): handle_softirqs
    restarts NET_RX (6.12: one poll a run) or net_rx_action polls again (3.10, until the budget is spent), squeezes
    at a jiffy's end or a spent budget, drops beyond netdev_max_backlog, wakes ksoftirqd where a jiffy ends or the
    restarts run out, and the next IPI finds ksoftirqd asleep but not yet switched out. The same as the step
    model."""
    bursts = []
    backlog_burst = load_receive._RpsCpu.backlog_burst
    monkeypatch.setattr(load_receive._RpsCpu, "backlog_burst",
                        lambda self, fire, k: bursts.append(k) or backlog_burst(self, fire, k))
    step, load = step_and_load(arrivals(1e7, 8000, start_ns=990_000), 40000 + np.arange(8000) % 16,
                               PROFILES[profile].replace(hz=1000, **sysctls), 4, 1, [0], [rps], Costs(), 256)
    assert load == step and len(bursts) > 10 and max(bursts) > 100


def test_the_load_model_refuses_what_it_cannot_do_exactly():
    times, hashes = np.arange(10), np.arange(1, 11) << 20
    with pytest.raises(ValueError, match="hash_of_packet"):
        simulate(times, cpus=2, rps_cpus=[[1]])
    with pytest.raises(ValueError, match="CPUs 0, 1 have NIC queues of their own and would take in steered skbs"):
        simulate(times, np.arange(10) % 2, cpus=2, queues=2, affinity=[0, 1], rps_cpus=[[1], [0]],
                 hash_of_packet=hashes)
    with pytest.raises(ValueError, match="dev_weight"):
        simulate(times, cpus=2, rps_cpus=[[1]], hash_of_packet=hashes, profile=PROFILES["6.12"].replace(dev_weight=8))
    segments = tcp_segments(np.zeros(10, dtype=np.int64), np.array([5 << 20]))
    with pytest.raises(ValueError, match="hash_of_packet must be segments.rxhash"):
        simulate(times, cpus=2, rps_cpus=[[1]], hash_of_packet=hashes, segments=segments)
    assert simulate(times, cpus=2, rps_cpus=[[1]], segments=segments).processed == [0, 1]   # one merged skb
    assert simulate(times, cpus=2, rps_cpus=[[]]).processed == [10, 0]


@pytest.mark.parametrize("profile", PROFILE_NAMES)
def test_interrupt_moderation_throttles_the_nic_vector_not_the_ipis(profile):
    """rx-usecs 250 holds CPU 0's NIC interrupts 250 µs apart (5 for 50 packets 20 µs apart, not 50); each of their
    NET_RX runs sends CPU 1 one IPI, which no throttle holds back."""
    times = 1000 + 20_000 * np.arange(50)                     # a packet every 20 µs for 1 ms
    host = rps_host(profile, [1], cpus=2, rx_usecs=250)
    host.receive(udp(times))
    host.run()
    s = host.summary()
    assert s.delivered == s.processed[1] == 50
    assert s.hard_irqs == [5, 0] and s.received_rps == [0, 5] and host.cpus[1].kstat_irqs == {"CAL": 5}


# --- the flow limit (6.12; 3.10 has none) -------------------------------------------------------------------------
def test_the_flow_limit_drops_the_flow_that_hogs_a_backlog():
    """One flow at 4 of 5 packets, four light ones, all steered to one slow CPU: once its backlog is half full the
    heavy flow holds more than 64 of CPU 0's last 128 enqueues and is dropped there (flow_limit_count on CPU 0,
    dropped on CPU 1); most light packets get through, where without the limit most are dropped."""
    prof = PROFILES["6.12"].replace(netdev_max_backlog=100)
    sports = [40000 if i % 5 else 40001 + (i // 5) % 4 for i in range(4000)]
    packets = [Packet(1000 + 80 * i, sport=p, protocol="udp", name=f"p{i}") for i, p in enumerate(sports)]
    hosts = {}
    for limit in ((), (0,)):
        host = hosts[limit] = Host(prof, cpus=2, rps_cpus=[[1]], flow_limit_cpus=limit)
        host.udp_socket(80, rcvbuf=1 << 40)
        host.receive(packets)
        host.run()
    off, on = hosts[()].summary(), hosts[(0,)].summary()
    assert off.flow_limit_count == [0, 0] and off.backlog_drops[1] > 0
    assert on.flow_limit_count[0] > 0 and on.flow_limit_count[1] == 0 and on.backlog_drops[1] >= on.flow_limit_count[0]
    light = lambda host: sum(1 for s in host.sockets["udp:80"].sk.sk_receive_queue if s.meta["sport"] != 40000)  # noqa: E731
    sent_light = len(sports) - sports.count(40000)
    assert light(hosts[(0,)]) > 0.7 * sent_light and light(hosts[(0,)]) > 2 * light(hosts[()])
    assert softnet_stat_values(hosts[(0,)].cpus[0].softnet_data)[10] == on.flow_limit_count[0]


@pytest.mark.parametrize("kw", [{}, {"rx_usecs": 50}, {"tcp": True}])
def test_the_load_model_has_the_flow_limit(kw):
    """The hog of test_the_flow_limit_drops_the_flow_that_hogs_a_backlog in both models, alike; the load model's
    flow-limited reading CPU steers to one CPU."""
    prof, n = PROFILES["6.12"].replace(netdev_max_backlog=100), 3000
    sports = np.array([40000 if i % 5 else 40001 + (i // 5) % 4 for i in range(n)])
    segments = None
    if kw.pop("tcp", False):
        rxhash = rss_hashes(["10.0.0.1"] * 5, ["10.0.0.2"] * 5, 40000 + np.arange(5), [80] * 5)
        segments = tcp_segments(sports - 40000, rxhash, mss=100, push_every=2)
    step, load = step_and_load(1000 + 80 * np.arange(n), sports, prof, 2, 1, [0], [[1]], Costs(), 256,
                               flow_limit_cpus=[0], segments=segments, **kw)
    assert load == step and step.flow_limit_count[0] > 0
    with pytest.raises(ValueError, match="steer to one CPU"):
        simulate(np.arange(10), cpus=3, rps_cpus=[[1, 2]], hash_of_packet=np.arange(1, 11) << 28, flow_limit_cpus=[0])
    assert simulate(np.arange(10), cpus=3, rps_cpus=[[1, 2]], hash_of_packet=np.arange(1, 11) << 20,
                    flow_limit_cpus=[0]).processed == [0, 10, 0]       # (every hash picks CPU 1: it steers to one)
    with pytest.raises(ValueError, match="3.11"):
        simulate(np.arange(10), cpus=2, profile="3.10", flow_limit_cpus=[0])
    with pytest.raises(ValueError, match="flow_limit_cpus"):
        simulate(np.arange(10), cpus=2, flow_limit_cpus=[2])


def test_the_flow_limit_hashes_like_the_kernel():
    assert hash_32(0, 12) == 0 and hash_32(1, 12) == 0x61C88647 >> 20 and hash_32(0xFFFFFFFF, 32) == (
        0xFFFFFFFF * 0x61C88647) & 0xFFFFFFFF
    with pytest.raises(ValueError, match="3.11"):
        Host("3.10", cpus=2, flow_limit_cpus=[0])
    with pytest.raises(ValueError, match="flow_limit_cpus"):
        Host(cpus=2, flow_limit_cpus=[2])


# --- RFS -----------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("profile", PROFILE_NAMES)
def test_rfs_steers_a_flow_to_the_cpu_that_reads_it(profile):
    """The first segment goes where RPS's hash puts it (CPU 1); the reader on CPU 3 records its CPU in
    rps_sock_flow_table (inet_recvmsg → sock_rps_record_flow), and the flow's next segments go to CPU 3."""
    host = Host(profile, cpus=4, rps_cpus=[[1, 2]], rps_sock_flow_entries=4000, rps_flow_cnt=200)
    sock = host.tcp_socket(80, peer=("10.0.0.1", 40000))

    def reader():
        while True:
            yield from inet_recvmsg(sock, 1 << 20, 0)
    host.sched.spawn("reader", reader(), cpu=3, host=host.name)
    segments = [Packet(1000 + 20_000 * i, seq=1 + 100 * i, length=152, ack=1, name=f"p{i}") for i in range(6)]
    assert [1, 2][reciprocal_scale(toeplitz_hash(rss_input(*segments[0].flow)), 2)] == 1
    host.receive(segments)
    host.run(until_ns=200_000)
    s = host.summary()
    assert s.processed == [0, 1, 0, 5] and s.received_rps == [0, 1, 0, 5]
    table = host.cpus[0].softnet_data.rps_sock_flow_table
    assert table.entries == 4096 and len(host.dev.rx_queues[0].rps_flow_table) == 256
    assert len(sock.sk.sk_receive_queue) == 0


@pytest.mark.parametrize("profile", PROFILE_NAMES)
def test_rfs_moves_a_flow_only_once_its_old_backlog_has_taken_its_last_skb(profile):
    host = Host(profile, cpus=4, rps_cpus=[[1, 2]], rps_sock_flow_entries=64, rps_flow_cnt=8)
    h = 0x9E3779B1
    table = host.cpus[0].softnet_data.rps_sock_flow_table
    table.ents[h & 63] = (h & ~table.rps_cpu_mask & 0xFFFFFFFF) | 3 if profile == "6.12" else 3
    rflow = host.dev.rx_queues[0].rps_flow_table[h & 7]
    rflow.cpu, rflow.last_qtail = 1, 5
    host.cpus[1].softnet_data.input_queue_head = 3      # two of the flow's skbs still queued on CPU 1
    host.cpus[3].softnet_data.input_queue_head = 40
    with host.cpus[0].running("softirq"):
        skb = alloc_skb(64, name="p")
        skb.meta.update(dev=host.dev, queue=0, hash=h)
        assert get_rps_cpu(host.dev, skb) == (1, rflow)
        host.cpus[1].softnet_data.input_queue_head = 5
        assert get_rps_cpu(host.dev, skb) == (3, rflow) and (rflow.cpu, rflow.last_qtail) == (3, 40)
        table.ents[h & 63] = RPS_NO_CPU       # nobody reads the flow (6.12: nor do its hash bits match): RPS
        assert get_rps_cpu(host.dev, skb) == ([1, 2][reciprocal_scale(h, 2)], None)


# --- RFS in the load model: the sock table written before the traffic ------------------------------------------------
@st.composite
def rfs_case(draw):
    """:func:`rps_case`'s traffic with RFS: a few flows, some read before the traffic, in a random order, on CPUs
    without a NIC queue or on the one CPU of all queues (the reading CPU 0); small tables, so flows collide in
    ``rps_sock_flow_table`` (the last reader wins; 6.12's hash bits then send the other flow to RPS) and in the
    queue's ``rps_dev_flow`` table (refused when the flows want different CPUs); RPS maps or none; with a flow limit
    on the reading CPU (6.12) every flow is read on, and RPS steers to, one CPU."""
    profile = PROFILES[draw(st.sampled_from(PROFILE_NAMES))]
    cpus, queues = draw(st.integers(2, 4)), draw(st.integers(1, 2))
    own_queue = queues == 2 and draw(st.booleans())      # queue 1 on CPU 1, which nothing is steered to
    allowed = [c for c in range(cpus) if not (own_queue and c == 1)]
    mask = draw(st.integers(0, (1 << len(allowed)) - 1))
    rps = [c for i, c in enumerate(allowed) if mask >> i & 1]
    affinity, rps_cpus = ([0, 1], [rps, []]) if own_queue else ([0] * queues, [rps] * queues)
    flows = draw(st.integers(1, 8))
    readers = [c for c in allowed if not own_queue or c > 1]   # (queue 1's flows must not go to CPU 0 either)
    read = draw(st.lists(st.sampled_from(readers + [None]), min_size=flows, max_size=flows))   # None: not read
    flow_limit = not own_queue and profile.softnet_stat_columns >= 11 and draw(st.booleans())
    if flow_limit:                      # (the load model's flow limit: the reading CPU steers to one CPU)
        one = draw(st.sampled_from(allowed))
        rps_cpus, read = [[one]] * queues, [one if c is not None else None for c in read[:4]]
        flows = len(read)
    order = draw(st.permutations(range(flows)))
    rxhash = rss_hashes(["10.0.0.1"] * flows, ["10.0.0.2"] * flows, 40000 + np.arange(flows), [80] * flows)
    read_on = {int(rxhash[f]): read[f] for f in order if read[f] is not None}
    sysctls, costs, times, sports, rng = draw(traffic(flows, flow_limit, 1000))
    n = len(times)
    kw = dict(rx_usecs=draw(st.sampled_from([0, 0, 1, 3, 10, 50, 250])), read_on=read_on,
              rps_sock_flow_entries=draw(st.sampled_from([1, 2, 4, 16, 4096, 0])),
              rps_flow_cnt=draw(st.sampled_from([1, 2, 3, 8, 4096, 0])))
    if flow_limit:
        kw["flow_limit_cpus"] = (0,)
    if draw(st.booleans()):
        kw["rx_usecs"] = kw["rx_usecs"] if kw["rx_usecs"] not in (1, 3) else 0   # (adaptive: UDP only)
        segments = tcp_segments(sports - 40000, rxhash, mss=draw(st.sampled_from([100, 1448])),
                                push_every=draw(st.sampled_from([0, 3, 40])))
        segments.flow[rng.random(n) < draw(st.sampled_from([0.0, 0.1]))] = -1                   # UDP packets
        kw["segments"] = segments
    return (times, sports, profile.replace(**sysctls), cpus, queues, affinity, rps_cpus, costs,
            draw(st.sampled_from([64, 128, 256])), kw)


@settings(max_examples=int(os.environ.get("RPS_EXAMPLES", 60)), deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(case=rfs_case())
def test_the_load_model_equals_the_step_model_with_rfs(case):
    """Equal, or refused with the reason (two flows of one rps_dev_flow entry that want different CPUs)."""
    *args, kw = case
    try:
        step, load = step_and_load(*args, **kw)
    except ValueError as e:
        assert "share rps_dev_flow entry" in str(e)
        event("refused: flows share an rps_dev_flow entry")
        return
    assert load == step
    yes = {True: "yes", False: "no"}
    read_on, entries = kw["read_on"], kw["rps_sock_flow_entries"]
    buckets = {h & ((1 << (entries - 1).bit_length()) - 1) for h in read_on} if entries else set()
    times, sports, profile, cpus, queues, affinity, rps_cpus = args[:7]
    table, flow_cnt = rfs_tables(entries, kw["rps_flow_cnt"], cpus, profile)
    for h, c in read_on.items() if table is not None else ():
        table.record(h, c)
    n = len(times)
    flows = (["10.0.0.1"] * n, ["10.0.0.2"] * n, sports, [80] * n)
    hashes, queue_of = rss_hashes(*flows), rss_queues(*flows, queues)
    left_here = any((get_rps_cpus(hashes[queue_of == q], rps_cpus[q], cpus, table, flow_cnt) < 0).any()
                    for q in range(queues))
    for name, seen in (("RFS on", entries and kw["rps_flow_cnt"]), ("an RPS map", any(rps_cpus)),
                       ("skbs get_rps_cpu leaves on the reading CPU", left_here),
                       ("TCP", "segments" in kw),
                       ("a flow read on the reading CPU", 0 in read_on.values()),
                       ("a flow read on another CPU", set(read_on.values()) - {0}),
                       ("readers collide in the sock table", entries and len(buckets) < len(read_on)),
                       ("backlog drops", sum(step.backlog_drops)), ("flow limit drops", sum(step.flow_limit_count))):
        event(f"{name}: {yes[bool(seen)]}")


@pytest.mark.parametrize("profile", PROFILE_NAMES)
def test_rfs_in_the_load_model_sends_each_flow_where_it_is_read(profile):
    """16 flows into CPU 0's queue, RPS over CPUs 1-2; flows 0-3 are read on CPU 3, flow 4 on CPU 0 (its own
    backlog): those go there in both models, the others where RPS's hash puts them."""
    n, flows = 1600, 16
    rxhash = rss_hashes(["10.0.0.1"] * flows, ["10.0.0.2"] * flows, 40000 + np.arange(flows), [80] * flows)
    read_on = {int(h): 3 for h in rxhash[:4]} | {int(rxhash[4]): 0}
    sports = 40000 + np.arange(n) % flows
    step, load = step_and_load(arrivals(1e6, n), sports, PROFILES[profile], 4, 1, [0], [[1, 2]], Costs(), 256,
                               rps_sock_flow_entries=4096, rps_flow_cnt=4096, read_on=read_on)
    assert load == step
    by_rps = [[1, 2][reciprocal_scale(int(h), 2)] for h in rxhash[5:]]
    assert step.processed == [100, 100 * by_rps.count(1), 100 * by_rps.count(2), 400]
    assert get_rps_cpus(rxhash, [1, 2], 4, *rfs_tables(0, 4096, 4, PROFILES[profile])).tolist() == [
        [1, 2][reciprocal_scale(int(h), 2)] for h in rxhash]      # no sock table: RPS alone


def test_the_load_models_rfs_refuses_flows_of_one_rps_dev_flow_entry_that_want_different_cpus():
    """rps_flow_cnt 1: every flow of the queue shares one rps_dev_flow. Read on one CPU: exact. On two, or (3.10)
    one flow read and another read nowhere (RPS_NO_CPU in its bucket): refused. 6.12 sends the unread flow to RPS
    (its hash bits do not match), which leaves the entry alone."""
    times, hashes = 1000 + 10_000 * np.arange(40), np.array([0x1000_0001, 0x8000_0002] * 20)
    kw = dict(cpus=4, rps_cpus=[[1]], hash_of_packet=hashes, rps_sock_flow_entries=64, rps_flow_cnt=1)
    for profile in PROFILE_NAMES:
        assert simulate(times, profile=profile, read_on={0x1000_0001: 3, 0x8000_0002: 3}, **kw).processed == [0, 0, 0,
                                                                                                            40]
        with pytest.raises(ValueError, match=r"flows 0x10000001 on CPU 2, 0x80000002 on CPU 3 share rps_dev_flow "
                                             r"entry 0 \(rps_flow_cnt 1\).*larger rps_flow_cnt.*Host"):
            simulate(times, profile=profile, read_on={0x1000_0001: 2, 0x8000_0002: 3}, **kw)
    assert simulate(times, read_on={0x1000_0001: 3}, **kw).processed == [0, 20, 0, 20]
    with pytest.raises(ValueError, match="0x80000002 on no CPU"):
        simulate(times, profile="3.10", read_on={0x1000_0001: 3}, **kw)


def test_rfs_settings_are_checked():
    times, hashes = np.arange(10), np.arange(1, 11) << 20
    for bad in ({1: 2}, {-1: 0}, {1 << 32: 0}, {1: True}, {"1": 0}):
        with pytest.raises(ValueError, match=r"read_on must map u32 flow hashes to CPUs in 0\.\.1"):
            simulate(times, cpus=2, hash_of_packet=hashes, rps_sock_flow_entries=64, rps_flow_cnt=8, read_on=bad)
    with pytest.raises(TypeError, match="read_on"):
        simulate(times, cpus=2, hash_of_packet=hashes, read_on=[(1, 0)])
    for sysctl in ("rps_sock_flow_entries", "rps_flow_cnt"):
        with pytest.raises(ValueError, match=rf"{sysctl} must be an int in 0\.\.2\*\*26"):
            simulate(times, cpus=2, hash_of_packet=hashes, **{sysctl: (1 << 26) + 1})
    with pytest.raises(ValueError, match="with rps_cpus or RFS give hash_of_packet"):
        simulate(times, cpus=2, rps_sock_flow_entries=64, rps_flow_cnt=8)
    with pytest.raises(ValueError, match="CPU 1 has NIC queues of its own and would take in steered skbs"):
        simulate(times, np.arange(10) % 2, cpus=2, queues=2, hash_of_packet=hashes, rps_sock_flow_entries=64,
                 rps_flow_cnt=8, read_on={int(hashes[0]): 1})
    with pytest.raises(ValueError, match="rps_flow_cnt must be 0 or a power of 2"):
        get_rps_cpus(hashes, [1], 2, None, 3)
    with pytest.raises(ValueError, match="u32 flow hashes"):
        get_rps_cpus(np.array([-1]), [1], 2)
    with pytest.raises(ValueError, match=r"rps_map must list CPUs in 0\.\.1"):
        get_rps_cpus(hashes, [2], 2)
    assert simulate(times, cpus=2, hash_of_packet=hashes, rps_flow_cnt=8, read_on={1: 1}).processed == [10, 0]


def test_run_reads_each_flow_on_the_rfs_cpus_round_robin():
    """Every flow read on CPU 3: every skb ends there, RPS or not; read on CPUs 1-3 round robin: a third each."""
    assert run(2e6, 3000, cpus=4, rfs_cpus=[3]).processed == [0, 0, 0, 3000]
    assert run(2e6, 3000, cpus=4, rps_cpus=[1, 2], rfs_cpus=[3]).processed == [0, 0, 0, 3000]
    assert run(2e6, 3000, flows=3, cpus=4, rfs_cpus=[1, 2, 3]).processed == [0, 1000, 1000, 1000]
    for bad in ("3", []):
        with pytest.raises(ValueError, match="rfs_cpus must be None or a non-empty list of CPUs"):
            run(2e6, 100, cpus=4, rfs_cpus=bad)
    with pytest.raises(ValueError, match=r"read_on must map u32 flow hashes to CPUs in 0\.\.3"):
        run(2e6, 100, cpus=4, rfs_cpus=[4])
