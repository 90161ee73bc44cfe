"""The capacity planner reproduces the book's answers and agrees exactly with the slab model."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from netlab.scenarios.connection_memory import footprint
from netlab.kernel.profiles import LINUX_3_10, LINUX_6_12
from netlab.scenarios.capacity import (EXCHANGE_PACKETS, GIB, KEEPALIVE_PACKETS, ROUND_TRIP_CPU_US, buffer_per_connection,
                                  connections_that_fit, idle_traffic, memory_for, plan)


def test_four_gb_holds_about_a_million_idle_connections():
    assert int(connections_that_fit(4 * GIB, LINUX_3_10)) == pytest.approx(1_000_000, rel=0.10)


def test_a_128_gb_push_server_holds_about_five_million_and_100_million_users_need_about_20_machines():
    p = plan(100e6, 128, LINUX_3_10, scenario="push")
    assert int(p.connections_per_machine) == pytest.approx(5_000_000, rel=0.10)
    assert int(p.machines) == pytest.approx(20, rel=0.10)
    assert p.socket_memory < 20e9                              # "不到20GB" for the sockets
    assert str(p.bottleneck) == "memory" and int(p.processes_needed) > 1   # more than fs.nr_open fds


def test_the_answer_is_exact_the_next_connection_would_not_fit():
    for memory in (4 * GIB, 128 * GIB, 3 * GIB + 12345):
        n = int(connections_that_fit(memory, LINUX_6_12, buffer=1000))
        budget = int(memory * 0.75)
        fp = footprint(LINUX_6_12)
        assert fp.peak(n) + n * 1000 <= budget < fp.peak(n + 1) + (n + 1) * 1000


@settings(max_examples=30, deadline=None)
@given(gib=st.floats(0.01, 4096), buffer=st.integers(0, 100_000), reserve=st.floats(0, 0.9))
def test_capacity_property(gib, buffer, reserve):
    n = int(connections_that_fit(gib * GIB, LINUX_3_10, buffer=buffer, reserve=reserve))
    budget = np.floor(gib * GIB * (1 - reserve))
    total = lambda k: int(footprint(LINUX_3_10).peak(k)) + k * buffer   # noqa: E731
    assert total(n) <= budget < total(n + 1)


def test_a_grid_of_machines_in_one_call():
    grid = connections_that_fit(np.array([1, 2, 4, 8]) * GIB, LINUX_6_12)
    assert grid.shape == (4,) and (np.diff(grid) > 0).all()
    assert grid[1] == pytest.approx(2 * grid[0], rel=0.01)
    p = plan(1e8, [64, 128, 256], LINUX_6_12)
    assert p.machines.tolist() == sorted(p.machines.tolist(), reverse=True)


def test_memory_for_matches_the_footprint_and_grows_linearly():
    n = np.array([0, 1, 1000, 10 ** 6])
    m = memory_for(n, LINUX_3_10, state="TIME_WAIT", side="client")
    slot = {name: LINUX_3_10.slab[name].bytes_per_object() for name in ("tw_sock_TCP", "kmalloc-64")}
    # a tw_sock, and both kmalloc-64 slots the connection took: its bind bucket lives on and the freed socket_wq
    # beside it cannot be given back (test_memory: the pinned socket_wq)
    assert m[0] == 0 and m[-1] / 10 ** 6 == pytest.approx(slot["tw_sock_TCP"] + 2 * slot["kmalloc-64"], rel=0.001)


def test_cpu_can_be_the_bottleneck_for_a_chatty_service():
    p = plan(1e6, 128, LINUX_6_12, scenario="idle", messages_per_user_per_day=86_400 * 10, cpu_cores=4,
             cpu_us_per_exchange=50.0)
    # 4 cores give 4e6 µs of CPU a second; a user sends 10 messages a second at 50 µs each
    assert str(p.bottleneck) == "CPU" and int(p.connections_per_machine) == int(4 * 1e6 / 50 / 10)


def test_keepalive_probes_only_where_no_heartbeat_comes_first():
    assert LINUX_6_12.tcp_keepalive_time == 7200 and LINUX_6_12.tcp_keepalive_intvl == 75 \
        and LINUX_6_12.tcp_keepalive_probes == 9                      # include/net/tcp.h TCP_KEEPALIVE_*
    assert idle_traffic(LINUX_6_12, 0).packets_per_s == 0                   # SO_KEEPALIVE is off by default
    bare = idle_traffic(LINUX_6_12, 0, so_keepalive=True)
    assert bare.keepalive_probes_per_s == pytest.approx(1 / 7200) and bare.packets_per_s == pytest.approx(2 / 7200)
    assert idle_traffic(LINUX_6_12, 0, 300, so_keepalive=True).keepalive_probes_per_s == 0
    # a heartbeat every 5 h: probes at 2 h and 4 h after each one
    assert idle_traffic(LINUX_6_12, 0, 5 * 3600, so_keepalive=True).keepalive_probes_per_s == pytest.approx(2 / 18000)


def test_heartbeats_bound_the_cpu_of_a_push_server():
    """07: with two messages a day and nothing else the CPU would allow billions of connections; a heartbeat every
    5 minutes at one loopback round trip each brings that to a few hundred million, still far above memory."""
    quiet = plan(100e6, 128, LINUX_6_12)
    assert int(quiet.cpu_bound) > 1e10
    p = plan(100e6, 128, LINUX_6_12, heartbeat_s=300)
    per_s = 2 / 86_400 + 1 / 300
    assert int(p.cpu_bound) == int(16e6 / ROUND_TRIP_CPU_US / per_s)
    assert str(p.bottleneck) == "memory" and int(p.machines) == int(quiet.machines)
    assert float(p.packets_per_s) == pytest.approx(int(p.connections_per_machine) * per_s * EXCHANGE_PACKETS)
    assert float(p.cores_busy) < 1 and KEEPALIVE_PACKETS == 2
    chatty = plan(100e6, 128, LINUX_6_12, heartbeat_s=1)
    assert str(chatty.bottleneck) == "CPU" and int(chatty.machines) > int(p.machines)


def test_bad_inputs():
    with pytest.raises(ValueError, match="memory_bytes"):
        connections_that_fit(0, LINUX_6_12)
    with pytest.raises(ValueError, match="reserve"):
        connections_that_fit(GIB, LINUX_6_12, reserve=1.0)
    with pytest.raises(ValueError, match="scenario"):
        buffer_per_connection(LINUX_6_12, "bursty")
    with pytest.raises(ValueError, match="users"):
        plan(0, 128, LINUX_6_12)
    with pytest.raises(ValueError, match="not even one"):
        plan(10, 1e-9, LINUX_6_12)
    with pytest.raises(ValueError, match="heartbeat_s"):
        idle_traffic(LINUX_6_12, heartbeat_s=0)
    with pytest.raises(ValueError, match="cpu_cores"):
        plan(10, 1, LINUX_6_12, cpu_cores=0)
    with pytest.raises(TypeError, match="KernelProfile"):
        memory_for(10, "6.12")
