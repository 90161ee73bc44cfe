"""What chapter 07 (notebooks/07-connection-limits.ipynb) tells the learner, checked with the same calls."""
import pytest

from netlab.kernel import limits, memory
from netlab.kernel.profiles import LINUX_3_10, LINUX_6_12
from netlab.load.capacity import GIB, connections_that_fit, plan
from netlab.scenarios.connection_memory import fd_limit_trace


def test_socket_then_accept_fail_with_emfile_and_the_built_socket_is_freed_again():
    trace = fd_limit_trace(6)
    failures = [e for e in trace if e.kind == "printk" and "EMFILE" in e.text]
    assert len(failures) == 2 and trace.filter("sock_release")


def test_at_the_fd_limit_the_connection_stays_in_the_accept_queue():
    assert any("stays in the accept queue" in e.text for e in fd_limit_trace(5))


def test_ulimit_1024_with_fds_0_to_2_open_leaves_1021_sockets():
    kernel = memory.Kernel(LINUX_6_12)
    task = kernel.task("app", 1024)
    count = 0
    while isinstance(memory.__sys_socket(kernel, task, f"s{count}"), memory.Connection):
        count += 1
    assert count == 1021


def test_client_ports_per_destination():
    assert LINUX_6_12.local_ports == 28_232 and LINUX_3_10.local_ports == 28_233
    assert limits.client_connections(LINUX_6_12.ip_local_port_range, 1, 5) == 5 * 28_232
    assert limits.client_connections((5000, 65000), client_ips=20) == 1_200_020


def test_about_a_million_idle_connections_in_4_gb_and_four_in_16():
    assert int(connections_that_fit(4 * GIB, LINUX_3_10)) == pytest.approx(1_000_000, rel=0.01)
    assert int(connections_that_fit(16 * GIB, LINUX_3_10)) == pytest.approx(4_000_000, rel=0.01)


def test_heartbeats_every_few_minutes_cost_a_fraction_of_a_core_and_every_few_seconds_the_cpu_decides():
    every_5_min = plan(100e6, 128, LINUX_6_12, heartbeat_s=300)
    assert float(every_5_min.cores_busy) < 1 and str(every_5_min.bottleneck) == "memory"
    assert int(every_5_min.machines) == 20
    assert str(plan(100e6, 128, LINUX_6_12, heartbeat_s=30).bottleneck) == "memory"
    assert str(plan(100e6, 128, LINUX_6_12, heartbeat_s=2).bottleneck) == "CPU"


def test_so_keepalive_notices_a_vanished_peer_after_two_hours_and_eleven_minutes():
    p = LINUX_6_12
    assert p.tcp_keepalive_time + p.tcp_keepalive_probes * p.tcp_keepalive_intvl == 7875
