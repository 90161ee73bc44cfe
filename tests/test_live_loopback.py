"""Chapter 04 live: routes and round trips on this kernel, in its namespace and in one of our own, and the
reasons a namespace can be refused."""
import asyncio
import errno
import json
import shutil
import subprocess
import sys

import pytest

from netlab.live import loopback as live
from netlab.live.result import LiveProbeError, Why
from netlab.view.live import plot_round_trips, round_trips_text

linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux networking")


@pytest.mark.live
@linux_only
def test_your_kernel_routes_127_0_0_2_through_lo():
    r = live.route_get("127.0.0.2").value
    assert (r.type, r.dev) == ("local", "lo")


@pytest.mark.live
@linux_only
def test_route_get_works_where_an_event_loop_runs_as_in_a_jupyter_kernel():
    async def in_a_running_loop():
        return live.route_get("127.0.0.2")
    assert asyncio.run(in_a_running_loop()).value.dev == "lo"


@pytest.mark.live
@linux_only
def test_127_0_0_1_and_127_0_0_2_are_equally_fast():
    a, b = live.loopback_latency(rounds=300).value
    assert (a.address, b.address, a.rounds) == ("127.0.0.1", "127.0.0.2", 300)
    assert all(0 < t.low_us <= t.median_us <= t.high_us < 10_000 for t in (a, b))
    # noisy: the same order of magnitude (with two or three CPU hogs running, the ratio stayed under 1.25 here)
    assert max(a.median_us, b.median_us) / min(a.median_us, b.median_us) < 3


@pytest.mark.live
@linux_only
def test_an_address_on_another_device_is_local_too_in_our_own_namespace(skip_unless_expected):
    """Chapter 04 §4: the namespace's own address routes through lo, and costs what 127.0.0.1 costs."""
    v = skip_unless_expected(live.namespace_latency(rounds=300), Why.NAMESPACES_REFUSED, Why.KERNEL_LACKS)
    assert v["up"] == {"lo": True, "veth0": True, "veth1": True}   # like a host's lo and eth0
    assert (v["route"].type, v["route"].dev) == ("local", "lo")
    medians = [t.median_us for t in v["trips"]]
    assert [t.address for t in v["trips"]] == ["127.0.0.1", "127.0.0.2", "198.51.100.7"]
    assert max(medians) / min(medians) < 3


def test_a_median_and_its_95_percent_interval_come_from_the_order_statistics():
    trip = live.median_interval("127.0.0.1", [float(x) for x in range(100, 0, -1)])
    assert (trip.rounds, trip.median_us, trip.low_us, trip.high_us) == (100, 50.5, 41.0, 61.0)  # ranks 40 and 60
    assert trip.differs_from(live.RoundTrip("127.0.0.2", 100, 70, 62, 80))
    assert not trip.differs_from(live.RoundTrip("127.0.0.2", 100, 60, 60.5, 70))


def test_the_text_and_the_plot_say_the_same_medians_and_intervals():
    """Chapter 04 §4 (issue 13): the sentence is computed from the measurement, with the plot's statistic."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    trips = [live.RoundTrip("127.0.0.1", 5000, 15.9, 15.8, 16.0), live.RoundTrip("127.0.0.2", 5000, 16, 15.9, 16.1),
             live.RoundTrip("198.51.100.7", 5000, 19.0, 18.9, 19.2)]
    text = round_trips_text(trips)
    assert "127.0.0.1     median 15.9 µs  (95 % interval 15.8–16 µs, 5,000 rounds)" in text
    assert "127.0.0.2 vs 127.0.0.1: the same within the noise" in text
    assert "198.51.100.7 vs 127.0.0.1: 3.1 µs (19.5 %) slower, and real in this run" in text
    assert "it is not the path" in text
    fig, ax = plt.subplots()
    plot_round_trips(ax, trips)
    assert [b.get_width() for b in ax.patches] == [15.9, 16, 19.0]
    assert [a.get_text() for a in ax.texts] == ["15.9 µs", "16 µs", "19 µs"]
    plt.close(fig)
    with pytest.raises(ValueError, match="trips must be a non-empty list of RoundTrip"):
        round_trips_text([])


REFUSED_INSIDE = ("from netlab.live.loopback import namespace_latency; import json; "
                  "r = namespace_latency(rounds=10); print(json.dumps([r.why and r.why.name, r.reason]))")


@pytest.mark.live
@linux_only
@pytest.mark.skipif(shutil.which("unshare") is None, reason="no util-linux unshare here")
def test_a_refused_namespace_is_named_with_the_sysctl_that_refuses_it(skip_unless_expected):
    """Inside a user namespace of our own, user.max_user_namespaces is that namespace's own: set to 0, the
    experiment's nested unshare(CLONE_NEWUSER) really fails (ENOSPC, kernel/user_namespace.c create_user_ns)."""
    skip_unless_expected(live.namespace_latency(rounds=10), Why.NAMESPACES_REFUSED, Why.KERNEL_LACKS)
    done = subprocess.run(["unshare", "--user", "--map-root-user", "sh", "-c",
                           f"echo 0 > /proc/sys/user/max_user_namespaces && exec {sys.executable} -c "
                           f"'{REFUSED_INSIDE}'"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    why, reason = json.loads(done.stdout)
    assert why == "NAMESPACES_REFUSED"
    assert reason == "unshare(CLONE_NEWUSER|CLONE_NEWNET) answered ENOSPC: user.max_user_namespaces is 0"


@linux_only
def test_only_known_errnos_of_unshare_are_reasons():
    for error in (errno.EPERM, errno.ENOSPC, errno.EUSERS):
        refused = live.namespaces_refused(error)
        assert refused.why is Why.NAMESPACES_REFUSED
        assert refused.reason.startswith(f"unshare(CLONE_NEWUSER|CLONE_NEWNET) answered {errno.errorcode[error]}: ")
    with pytest.raises(OSError, match=r"answered EINVAL \(Invalid argument\)"):    # e.g. a threaded caller
        live.namespaces_refused(errno.EINVAL)
    with pytest.raises(OSError, match="answered EIO"):
        live.namespaces_refused(errno.EIO)


def test_a_crashed_namespace_child_is_an_error_and_a_refusal_a_reason(monkeypatch):
    monkeypatch.setattr(subprocess, "run", lambda *a, **k: subprocess.CompletedProcess(a, 1, "", "boom"))
    if sys.platform.startswith("linux"):
        with pytest.raises(LiveProbeError, match="the child process exited with status 1: boom"):
            live.namespace_latency(rounds=10)
    monkeypatch.setattr(subprocess, "run", lambda *a, **k: subprocess.CompletedProcess(
        a, 0, '{"unavailable": "unshare answered EPERM: kernel.unprivileged_userns_clone is 0", '
              '"why": "NAMESPACES_REFUSED"}\n', ""))
    if sys.platform.startswith("linux"):
        r = live.namespace_latency(rounds=10)
        assert (r.why, r.reason) == (Why.NAMESPACES_REFUSED, "unshare answered EPERM: "
                                                              "kernel.unprivileged_userns_clone is 0")
    monkeypatch.setattr(sys, "platform", "darwin")
    for r in (live.namespace_latency(rounds=10), live.route_get("127.0.0.1")):
        assert r.why is Why.NOT_LINUX and "darwin" in r.reason
    with pytest.raises(ValueError, match=r"rounds must be an int in 10\.\.20000"):
        live.namespace_latency(rounds=1)
    with pytest.raises(ValueError, match="daddr must be an IPv4 address, got 'localhost'"):
        live.route_get("localhost")
