"""The vectorised receive model agrees exactly with the step model (netlab.machine.Host) and checks its input."""
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from netlab.kernel.cpu import Costs
from netlab.kernel.nic import Packet
from netlab.kernel.profiles import PROFILES
from netlab.load.receive import arrivals, rss_queues, simulate
from netlab.machine import Host


def step_model(times, sports, profile, **host_args):
    host = Host(profile, **host_args)
    host.udp_socket(80, rcvbuf=10**12)
    host.receive([Packet(int(t), sport=int(p), protocol="udp", name=f"p{i}") for i, (t, p) in
                  enumerate(zip(times, sports))])
    host.run()
    return host.summary()


def both(times, sports, profile, cpus=1, queues=1, ring_size=64, costs=None):
    q = rss_queues(["10.0.0.1"] * len(times), ["10.0.0.2"] * len(times), sports, [80] * len(times), queues)
    kw = dict(cpus=cpus, queues=queues, ring_size=ring_size, costs=costs)
    return step_model(times, sports, profile, **kw), simulate(times, q, profile=profile, **kw)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(profile=st.sampled_from(["3.10", "6.12"]), cpus=st.integers(1, 2), queues=st.integers(1, 5),
       ring=st.sampled_from([64, 128]), n=st.integers(0, 900), rate=st.floats(2e5, 1.2e7),
       burst=st.integers(1, 40), jitter=st.booleans(), flows=st.integers(1, 40),
       budget=st.sampled_from([64, 100, 300]), usecs=st.sampled_from([1, 50, 2000, 8000]),
       restart=st.sampled_from([1, 2, 10]), hz=st.sampled_from([100, 250, 1000]),
       packet_ns=st.sampled_from([0, 150, 400, 3000]), seed=st.integers(0, 1000))
def test_load_model_equals_step_model(profile, cpus, queues, ring, n, rate, burst, jitter, flows, budget, usecs,
                                      restart, hz, packet_ns, seed):
    p = PROFILES[profile].replace(netdev_budget=budget, netdev_budget_usecs=usecs, max_softirq_restart=restart,
                                  hz=hz)
    try:
        times = arrivals(rate, n, burst=burst, jitter=jitter, seed=seed)
    except ValueError:
        return  # bursts that do not fit the rate
    sports = 40000 + np.random.default_rng(seed).integers(0, flows, n)
    step, load = both(times, sports, p, cpus, queues, ring, Costs(packet_ns=packet_ns, poll_ns=100))
    assert load == step


@pytest.mark.parametrize("profile", ["3.10", "6.12"])
@pytest.mark.parametrize("rate", [3e5, 1e6, 2.4e6, 6e6])
def test_agreement_across_load_regimes(profile, rate):
    times = arrivals(rate, 4000, burst=4)
    step, load = both(times, np.full(4000, 40000), profile, ring_size=256)
    assert load == step
    assert load.delivered + load.ring_drops == 4000


def test_rss_queues_match_the_nic():
    host = Host("6.12", queues=4)
    sports = np.arange(40000, 40200)
    q = rss_queues(["10.0.0.1"] * 200, ["10.0.0.2"] * 200, sports, [80] * 200, 4)
    assert list(q) == [host.nic.rss_queue("10.0.0.1", "10.0.0.2", int(s), 80) for s in sports]
    assert set(q) == {0, 1, 2, 3}


def test_arrivals_have_the_rate_and_bursts():
    t = arrivals(1e6, 10_000, burst=8)
    assert np.all(np.diff(t) >= 0) and abs((t[-1] - t[0]) / 1e9 - 0.01) < 1e-4
    assert np.all(np.diff(t[:8]) == 67)
    assert len(arrivals(1e6, 1000, jitter=True, seed=3)) == 1000 and len(arrivals(1e6, 0, jitter=True)) == 0
    assert np.array_equal(arrivals(1e6, 100, jitter=True, seed=3), arrivals(1e6, 100, jitter=True, seed=3))


@pytest.mark.parametrize("call", [
    lambda: arrivals(0, 10), lambda: arrivals(1e6, -1), lambda: arrivals(1e6, 10, burst=0),
    lambda: arrivals(2e7, 10, burst=100), lambda: simulate(np.array([5, 3])),
    lambda: simulate(np.array([1.5])), lambda: simulate(np.array([1, 2]), np.array([0, 1])),
    lambda: simulate(np.array([1]), cpus=0), lambda: simulate(np.array([1]), queues=2, affinity=[0]),
    lambda: simulate(np.array([1]), ring_size=100), lambda: simulate(np.array([1]), profile="2.6"),
    lambda: rss_queues(["10.0.0.1"], ["10.0.0.2", "10.0.0.3"], [1], [2], 2),
])
def test_bad_input_is_refused(call):
    with pytest.raises((ValueError, TypeError)):
        call()


def test_line_rate_on_one_cpu_mostly_drops_and_runs_in_ksoftirqd():
    s = simulate(arrivals(14.88e6, 200_000))
    assert s.ring_drops > s.delivered > 0 and s.ksoftirqd_share() > 0.9
    assert s.delivered + s.ring_drops == s.arrived
