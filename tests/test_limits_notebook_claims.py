"""What chapter 07 (notebooks/07-connection-limits.ipynb) tells the learner, checked with the same calls."""
import pytest

from netlab.kernel import limits
from netlab.kernel.profiles import LINUX_3_10, LINUX_6_12
from netlab.live.limits import IP_LOCAL_PORT_RANGE_SINCE
from netlab.scenarios.capacity import EXCHANGE_PACKETS, GIB, ROUND_TRIP_CPU_US, connections_that_fit, plan
from netlab.scenarios.connection_memory import fd_limit_trace, sockets_before_emfile
from netlab.units import size
from notebook_prose import integer, prose, stated, strings

TEXT = prose("07-connection-limits.ipynb")
EXERCISES = strings("07-connection-limits.ipynb")


def test_socket_then_accept_fail_with_emfile_and_the_built_socket_is_freed_again():
    trace = fd_limit_trace(6)
    failures = [e for e in trace if e.kind == "printk" and "EMFILE" in e.text]
    assert len(failures) == 2 and trace.filter("sock_release")


def test_at_the_fd_limit_the_connection_stays_in_the_accept_queue():
    assert any("stays in the accept queue" in e.text for e in fd_limit_trace(5))


def test_ulimit_1024_with_fds_0_to_2_open_leaves_1021_sockets():
    assert sockets_before_emfile(LINUX_6_12, 1024) == 1021


def test_a_server_port_serves_2_to_the_48_clients():
    assert "one server port can serve up to 2³² × 2¹⁶ clients" in TEXT and "The 4-tuple allows 2³² × 2¹⁶" in TEXT
    assert limits.server_connections_bound() == 2 ** 32 * 2 ** 16


def test_client_ports_per_destination():
    new, old = stated(r"(\d[\d ]*\d) per \(source IP, server IP, server port\) with 6\.12's default range "
                      r"\((\d[\d ]*\d) on 3\.10\)", TEXT)
    assert (LINUX_6_12.local_ports, LINUX_3_10.local_ports) == (integer(new), integer(old))
    (about,) = stated(r"so a child process exhausts \d+ ports instead of (\d[\d ]*\d),", TEXT)
    assert round(LINUX_6_12.local_ports, -3) == integer(about)
    since, option = stated(r"since Linux (\d+\.\d+) a socket can narrow its own range with `IP_LOCAL_PORT_RANGE` "
                           r"\(option (\d+),", TEXT)
    assert (IP_LOCAL_PORT_RANGE_SINCE, limits.IP_LOCAL_PORT_RANGE) == (tuple(map(int, since.split("."))), int(option))
    assert LINUX_6_12.local_ports == 28_232 and LINUX_3_10.local_ports == 28_233
    (per_destination,) = stated(r"(\d[\d ]*\d) ports per destination", EXERCISES)
    assert integer(per_destination) == LINUX_6_12.local_ports
    assert limits.client_connections(LINUX_6_12.ip_local_port_range, 1, 5) == 5 * 28_232
    assert limits.client_connections((5000, 65000), client_ips=20) == 1_200_020


def test_about_a_million_idle_connections_in_4_gb_and_four_in_16():
    assert "About a million on 4 GB" in TEXT
    assert int(connections_that_fit(4 * GIB, LINUX_3_10)) == pytest.approx(1_000_000, rel=0.01)
    assert int(connections_that_fit(16 * GIB, LINUX_3_10)) == pytest.approx(4_000_000, rel=0.01)
    (kib,) = stated(r"0\.75 × 16 GiB over about ([\d.]+) KiB per accepted socket", EXERCISES)
    assert round(0.75 * 16 * GIB / int(connections_that_fit(16 * GIB, LINUX_3_10)) / 1024, 1) == float(kib)


def test_the_push_planner_budgets_tcp_wmem_1_of_16_kib():
    (wmem,) = stated(r"`tcp_wmem\[1\]` = (\d+ KiB)", TEXT)
    (budget,) = stated(r"and a (\d+ KiB) send buffer budgeted per connection for a burst", TEXT)
    assert size(LINUX_3_10.tcp_wmem[1]) == size(LINUX_6_12.tcp_wmem[1]) == wmem == budget
    assert plan(100e6, 128, LINUX_6_12).buffer_per_connection == LINUX_6_12.tcp_wmem[1]


def test_heartbeats_every_few_minutes_cost_a_fraction_of_a_core_and_every_few_seconds_the_cpu_decides():
    machines, millions, gb = stated(r"About (\d+): memory decides\. .*? a 128 GB machine takes about (\d+) million "
                                    r"connections, under (\d+) GB of it sockets", TEXT)
    every_5_min = plan(100e6, 128, LINUX_6_12, heartbeat_s=300)
    assert float(every_5_min.cores_busy) < 1 and str(every_5_min.bottleneck) == "memory"
    assert int(every_5_min.machines) == int(machines)
    assert round(int(every_5_min.connections_per_machine), -6) == int(millions) * 10 ** 6
    assert float(every_5_min.socket_memory) < int(gb) * 1e9
    assert ("Heartbeats every few minutes cost tens of thousands of packets a second and a fraction of one core"
            in TEXT and 10_000 <= float(every_5_min.packets_per_s) < 100_000)
    (packets,) = stated(r"the client's delayed ACK — (\w+) packets through the server", TEXT)
    assert EXCHANGE_PACKETS == integer(packets)
    (full,) = stated(r"A 128 GiB, 16-core push server is full \(about (\d+) million connections\)", EXERCISES)
    connections, per_second, rtt_us, cpu = stated(r"([\d.]+) million ÷ 300 s ≈ (\d[\d ]*\d) heartbeats a second × "
                                                  r"(\d+) µs ≈ ([\d.]+) s of CPU per second", EXERCISES)
    per_machine = int(every_5_min.connections_per_machine)
    assert round(per_machine, -6) == int(full) * 10 ** 6 and round(per_machine / 1e6, 1) == float(connections)
    assert round(per_machine / 300, -3) == integer(per_second) and ROUND_TRIP_CPU_US == int(rtt_us)
    assert round(per_machine / 300 * ROUND_TRIP_CPU_US / 1e6, 2) == float(cpu)
    assert str(plan(100e6, 128, LINUX_6_12, heartbeat_s=30).bottleneck) == "memory"
    assert str(plan(100e6, 128, LINUX_6_12, heartbeat_s=2).bottleneck) == "CPU"


def test_so_keepalive_notices_a_vanished_peer_after_two_hours_and_eleven_minutes():
    (idle,) = stated(r"it probes only after `tcp_keepalive_time` \((\d[\d ]*\d) s\)", TEXT)
    assert LINUX_3_10.tcp_keepalive_time == LINUX_6_12.tcp_keepalive_time == integer(idle)
    p = LINUX_6_12
    assert p.tcp_keepalive_time + p.tcp_keepalive_probes * p.tcp_keepalive_intvl == 7875
