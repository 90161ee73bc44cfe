"""RPS in the step model: get_rps_cpu's placement, the IPI per net_rx_action, the target's backlog and counters."""
import numpy as np
import pytest

from netlab.kernel.cpu import Costs
from netlab.kernel.dev import NetdevRxQueue, reciprocal_scale, softnet_stat_values
from netlab.kernel.nic import Packet, rss_input, toeplitz_hash
from netlab.kernel.profiles import PROFILES
from netlab.load.receive import rps_maps, simulate
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
    raised = profile == "3.10"   # 3.10's rps_ipi_queued raises NET_RX on the reader: one more, empty, run
    assert busy[0]["softirq"] == (1 + raised) * costs.net_rx_action_ns + costs.poll_ns + costs.driver_ns
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


@pytest.mark.parametrize("profile", PROFILE_NAMES)
def test_rps_handoff_is_read_on_cpu_0_and_processed_on_cpu_1(profile):
    trace = rps_handoff(profile)
    calls = [(e.cpu, e.function) for e in trace if e.kind == "call"]
    order = [(0, "get_rps_cpu"), (0, "enqueue_to_backlog"), (0, "net_rps_action_and_irq_enable"),
             (1, "generic_smp_call_function_single_interrupt"), (1, "rps_trigger_softirq"), (1, "process_backlog"),
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
    with pytest.raises(ValueError, match="has no RPS yet"):
        simulate(np.arange(10), cpus=2, rps_cpus=[[1]])
    assert simulate(np.arange(10), cpus=2, rps_cpus=[[]]).processed == [10, 0]
