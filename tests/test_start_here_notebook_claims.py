"""The numbers chapter 00 (notebooks/00-start-here.ipynb) states in its prose — the chapters' results it announces
and the journey's timers — read from its markdown and held to the model."""
from netlab.kernel.profiles import LINUX_3_10, PROFILES
from netlab.kernel.renamed import named
from netlab.scenarios.capacity import GIB, connections_that_fit, plan
from netlab.scenarios.connection_memory import footprint
from netlab.scenarios.blocking_vs_epoll import blocking_recv
from netlab.scenarios.journey import Journey
from netlab.scenarios.link import CLIENT_ADDR, SERVER_ADDR
from notebook_prose import integer, prose, stated

TEXT = prose("00-start-here.ipynb")
KIB = 1024


def test_chapter_02s_blocking_recv_costs_two_context_switches():
    (switches,) = stated(r"a blocking recv that sleeps and is woken \((\w+) context switches\)", TEXT)
    assert blocking_recv().facts["recv_switches"] == integer(switches)


def test_chapter_06s_idle_and_time_wait_costs_on_3_10():
    idle, tw = stated(r"\(3\.10: ([\d.]+) KiB an idle server connection, ([\d.]+) KiB a client's TIME_WAIT\)", TEXT)
    assert round(footprint(LINUX_3_10, "ESTABLISHED", "server").per_connection / KIB, 1) == float(idle)
    assert round(footprint(LINUX_3_10, "TIME_WAIT", "client").per_connection / KIB, 1) == float(tw)


def test_chapter_07s_planner_fits_1m_in_4_gb_5m_in_128_gb_and_needs_20_machines():
    small, gb, big, large_gb, machines = stated(r"the capacity planner \((\d+)M on (\d+) GB, (\d+)M on (\d+) GB, "
                                                r"(\d+) machines\)", TEXT)
    assert round(int(connections_that_fit(int(gb) * GIB, LINUX_3_10)) / 1e6) == int(small)
    push = plan(100e6, int(large_gb), LINUX_3_10, scenario="push")
    assert round(int(push.connections_per_machine) / 1e6) == int(big)
    assert int(push.machines) == int(machines)


def test_the_journey_runs_between_its_two_hosts():
    client, server = stated(r"A client process on one host \(([\d.]+)\) connects to a server on another host "
                            r"\(([\d.]+)\)", TEXT)
    assert (CLIENT_ADDR, SERVER_ADDR) == (client, server)


def test_the_delayed_ack_waits_up_to_40_ms_and_time_wait_lasts_60_s():
    (ms,) = stated(r"because TCP holds that ACK back for up to (\d+) ms", TEXT)
    (seconds,) = stated(r"(\d+) s later a timer frees that sock", TEXT)
    for profile in ("3.10", "6.12"):
        slow = Journey(profile=profile, server_close_ns=10 ** 9).run()      # a server slower than the delayed ACK
        held = slow.filter("tcp_delack_timer_handler")[0].time_ns - slow.filter("tcp_fin")[0].time_ns
        assert round(held / 1e6) == int(ms)
        trace = Journey(profile=profile).run()
        born = trace.filter("tcp_time_wait")[0].time_ns
        gone = trace.filter(named(PROFILES[profile].renamed, ["inet_twsk_kill"]))[0].time_ns
        assert round((gone - born) / 1e9) == int(seconds) == PROFILES[profile].tcp_timewait_s

