"""The vectorised receive model agrees exactly with the step model (netlab.scenarios.receive.Host) in every load
regime and through the run()/sweep() entry points the notebooks call; the numbers the README and chapter 01 state
are the model's; bad input is refused."""
import json
import re
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings, strategies as st

from netlab.kernel.cpu import Costs
from netlab.kernel.nic import IGB_MAX_RXD, Packet
from netlab.kernel.profiles import PROFILES
from netlab.load import receive as load_receive
from netlab.load.receive import arrivals, rss_hashes, rss_queues, run, simulate, sweep, tcp_segments
from netlab.scenarios.receive import Host

ROOT = Path(__file__).resolve().parents[1]
NAPI_WEIGHT = 64  # igb's netif_napi_add: NAPI_POLL_WEIGHT
LINE_RATE = 14_880_952  # 10GbE, 64-byte frames: 1e10 / ((64 + 20) * 8)


def step_model(times, sports, profile, length=64, **host_args):
    host = Host(profile, **host_args)
    host.udp_socket(80, rcvbuf=10**12)
    host.receive([Packet(int(t), sport=int(p), protocol="udp", length=length, name=f"p{i}") for i, (t, p) in
                  enumerate(zip(times, sports))])
    host.run()
    return host.summary()


def both(times, sports, profile, cpus=1, queues=1, ring_size=64, costs=None, rx_usecs=0, length=64):
    q = rss_queues(["10.0.0.1"] * len(times), ["10.0.0.2"] * len(times), sports, [80] * len(times), queues)
    kw = dict(cpus=cpus, queues=queues, ring_size=ring_size, costs=costs, rx_usecs=rx_usecs)
    return step_model(times, sports, profile, length, **kw), simulate(times, q, profile=profile, length=length, **kw)


def step_run(rate_pps, n=20_000, *, burst=1, jitter=False, seed=0, flows=256, queues=1, cpus=None, ring_size=None,
             netdev_budget=None, netdev_budget_usecs=None, profile="6.12", costs=None, rx_usecs=0, length=64):
    """What :func:`run` promises, built on the step model: ``n`` UDP packets of ``flows`` flows taken round robin
    (10.0.0.1:1024+f → 10.0.0.2:80), spread by the NIC's own RSS, queue q's IRQ on CPU q mod ``cpus``."""
    p = PROFILES[profile] if isinstance(profile, str) else profile
    sysctls = {"netdev_budget": netdev_budget, "netdev_budget_usecs": netdev_budget_usecs}
    p = p.replace(**{k: v for k, v in sysctls.items() if v is not None})
    sports = 1024 + np.arange(n) % flows
    return step_model(arrivals(rate_pps, n, burst=burst, jitter=jitter, seed=seed), sports, p, length,
                      cpus=cpus or queues, queues=queues, ring_size=ring_size, costs=costs, rx_usecs=rx_usecs)


def flooded_pps(profile, costs):
    """What one CPU carries when packets never stop: on 6.12 each net_rx_action run polls the one NAPI once (64
    packets); on 3.10 it polls it again until netdev_budget is spent (ceil(300 / 64) = 5 polls, 320 packets)."""
    p = PROFILES[profile]
    polls = 1 if p.napi_repoll_list else -(-p.netdev_budget // NAPI_WEIGHT)
    packets = polls * NAPI_WEIGHT
    return packets * 1e9 / (costs.net_rx_action_ns + polls * costs.poll_ns + packets * costs.packet_ns)


# --- the load model equals the step model, in every regime ----------------------------------------------------------
COSTS = st.builds(Costs, driver_ns=st.sampled_from([0, 100, 600]), stack_ns=st.sampled_from([150, 300, 2400]),
                  poll_ns=st.sampled_from([100, 200]))
RINGS = st.sampled_from([64, 128, 256, 512, 1024, IGB_MAX_RXD])


REGIMES = ["overload", "knee", "bursts", "bursts into idle", "many queues", "own CPUs", "budget", "time limit",
           "coalescing", "anything"]
RX_USECS = st.sampled_from([0, 1, 3, 10, 50, 250])  # none, adaptive, adaptive conservative (igb's default), fixed


@st.composite
def load_case(draw, regime):
    """One example of ``regime``, one of the load regimes the notebooks show, built so that it reaches it:

    * ``overload``: one queue on one CPU at 1.5-8x what the CPU carries, long enough to fill any ring size up to
      igb's 4096 (the ring fills at rate - capacity);
    * ``knee``: one queue on one CPU at 0.9-1.6x what the CPU carries, rings of 128-512 — busy periods of many
      polls, ksoftirqd polling a ring that fills slowly and rarely runs short;
    * ``bursts``: bursts of one to three ring sizes, back to back, below capacity, on small rings;
    * ``bursts into idle``: bursts of 2-64 packets (regular or Poisson) into one queue on an idle CPU, below
      capacity — each burst one busy period of one poll, or two when it brings 64 or more;
    * ``many queues``: 4-8 RSS queues on 2-8 CPUs over many flows, around capacity;
    * ``own CPUs``: 2-4 RSS queues, each on its own CPU, each overloaded or near capacity, on rings of 128-512;
    * ``budget``: 2-6 queues on one CPU, overloaded, netdev_budget 1-64 (one full poll spends it) —
      net_rx_action runs out of budget;
    * ``time limit``: 4-8 slow queues on one CPU (a poll of 64 takes 192 µs), netdev_budget that never runs out,
      one-jiffy netdev_budget_usecs at HZ 1000, one softirq restart — net_rx_action runs out of time, ksoftirqd runs;
    * ``coalescing``: interrupt moderation (``rx_usecs`` fixed or adaptive) on 1-3 queues and 1-2 CPUs, packets of
      64 bytes to jumbo frames (adaptive moderation counts bytes), from light load to past capacity;
    * ``anything``: the whole parameter space, mostly light load.

    Besides the times, ports and the Host's settings it draws ``rx_usecs`` and each packet's length.
    """
    base = draw(st.sampled_from(["3.10", "6.12"]))
    costs, ring, cpus, queues, burst, jitter = draw(COSTS), 64, 1, 1, 1, draw(st.booleans())
    sysctls = {"hz": draw(st.sampled_from([100, 250, 1000]))}
    rx_usecs, length = 0, 64
    if regime == "overload":
        ring = draw(RINGS)
        cap = flooded_pps(base, costs)
        factor = draw(st.floats(1.5, max(1.5, min(8.0, 14e6 / cap))))
        n = int(ring * factor / (factor - 1)) + draw(st.integers(64, 600))
        rate, jitter = factor * cap, False
    elif regime == "knee":
        ring, jitter = draw(st.sampled_from([128, 256, 512])), False
        n, rate = draw(st.integers(2000, 6000)), draw(st.floats(0.9, 1.6)) * flooded_pps(base, costs)
    elif regime == "bursts into idle":
        ring, burst, n = draw(RINGS), draw(st.integers(2, 64)), draw(st.integers(200, 3000))
        rate = draw(st.floats(0.1, 0.9)) * flooded_pps(base, costs)
    elif regime == "bursts":
        ring = draw(st.sampled_from([64, 128, 256]))
        burst, n = draw(st.integers(ring, 3 * ring)), draw(st.integers(200, 1500))
        rate, cpus = draw(st.floats(0.2, 0.9)) * flooded_pps(base, costs), draw(st.integers(1, 2))
    elif regime == "many queues":
        ring = draw(st.sampled_from([64, 128, 256]))
        queues, cpus, n = draw(st.integers(4, 8)), draw(st.integers(2, 8)), draw(st.integers(300, 1500))
        rate = min(draw(st.floats(0.5, 3.0)) * cpus * flooded_pps(base, costs), 14e6)
    elif regime == "own CPUs":
        ring, jitter = draw(st.sampled_from([128, 256, 512])), False
        queues, n = draw(st.integers(2, 4)), draw(st.integers(1000, 4000))
        cpus = queues
        rate = min(draw(st.floats(0.9, 3.0)) * queues * flooded_pps(base, costs), 14e6)
    elif regime == "budget":
        queues, n = draw(st.integers(2, 6)), draw(st.integers(400, 1500))
        rate = min(draw(st.floats(1.5, 4.0)) * flooded_pps(base, costs), 14e6)
        sysctls["netdev_budget"] = draw(st.sampled_from([1, 8, 32, 64]))
    elif regime == "time limit":
        costs = Costs(driver_ns=1000, stack_ns=2000)
        queues, n, jitter = draw(st.integers(4, 8)), draw(st.integers(1000, 1500)), False
        rate = draw(st.floats(1.5, 3.0)) * flooded_pps(base, costs)
        sysctls.update(hz=1000, netdev_budget=100_000, netdev_budget_usecs=draw(st.integers(1, 1000)),
                       max_softirq_restart=1)
    elif regime == "coalescing":
        ring, queues, rx_usecs = draw(RINGS), draw(st.integers(1, 3)), draw(RX_USECS)
        cpus, length, n = draw(st.integers(1, min(2, queues))), draw(st.sampled_from([64, 600, 1500, 9000])), \
            draw(st.integers(300, 4000))
        rate, burst = draw(st.floats(0.02, 1.3)) * flooded_pps(base, costs), draw(st.sampled_from([1, 1, 4, 32]))
    else:
        rx_usecs = draw(RX_USECS)
        ring, cpus, queues = draw(st.sampled_from([64, 128])), draw(st.integers(1, 2)), draw(st.integers(1, 5))
        n, rate, burst = draw(st.integers(0, 900)), draw(st.floats(2e5, 1.2e7)), draw(st.integers(1, 40))
        costs = Costs(driver_ns=draw(st.sampled_from([0, 100])), stack_ns=draw(st.sampled_from([0, 50, 300, 2900])),
                      poll_ns=100)
        sysctls.update(netdev_budget=draw(st.sampled_from([64, 100, 300])),
                       netdev_budget_usecs=draw(st.sampled_from([1, 50, 2000, 8000])),
                       max_softirq_restart=draw(st.sampled_from([1, 2, 10])))
    if burst > 1 and (burst - 1) * 67 >= burst * 1e9 / rate:
        burst = 1  # back-to-back bursts that would overlap at this rate
    times = arrivals(rate, n, burst=burst, jitter=jitter, seed=draw(st.integers(0, 1000)))
    flows = draw(st.integers(8, 64) if regime in ("many queues", "own CPUs") else st.integers(1, 40))
    sports = 40000 + np.random.default_rng(n).integers(0, flows, n)
    return times, sports, PROFILES[base].replace(**sysctls), cpus, queues, ring, costs, rx_usecs, length


@pytest.mark.parametrize("regime", REGIMES)
@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(data=st.data())
def test_load_model_equals_step_model(regime, data):
    times, sports, profile, cpus, queues, ring, costs, rx_usecs, length = data.draw(load_case(regime))
    step, load = both(times, sports, profile, cpus, queues, ring, costs, rx_usecs, length)
    assert load == step
    assert step.delivered + step.ring_drops == step.arrived
    # each regime reached what it is there for
    squeezed, ksoftirqd = sum(step.time_squeeze), sum(b["ksoftirqd"] for b in step.busy_ns)
    if regime == "overload":
        assert step.ring_drops > 0
    elif regime == "budget":
        assert squeezed > 0
    elif regime == "time limit":
        assert squeezed > 0 and ksoftirqd > 0
    event(f"{regime}: ring drops {'yes' if step.ring_drops else 'no'}, time_squeeze {'yes' if squeezed else 'no'}, "
          f"ksoftirqd {'yes' if ksoftirqd else 'no'}")


@pytest.mark.parametrize("profile", ["3.10", "6.12"])
@pytest.mark.parametrize("rate", [3e5, 1e6, 2.4e6, 6e6])
def test_agreement_across_load_regimes(profile, rate):
    times = arrivals(rate, 4000, burst=4)
    step, load = both(times, np.full(4000, 40000), profile, ring_size=256)
    assert load == step
    assert load.delivered + load.ring_drops == 4000


# --- GRO: TCP segments merge the same in both models ------------------------------------------------------------------
def tcp_step_model(times, sports, segments, profile, **host_args):
    """The step model with packet i a TCP segment of ``segments`` from port ``sports[i]`` (a UDP packet where its
    flow is -1), ACK 1 and PSH as given."""
    host = Host(profile, **host_args)
    host.udp_socket(80, rcvbuf=10**12)
    host.tcp_socket(80, rcvbuf=10**12)
    host.receive([Packet(int(t), sport=int(port), protocol="udp", name=f"p{i}") if segments.flow[i] < 0 else
                  Packet(int(t), sport=int(port), length=52 + int(segments.payload[i]), seq=int(segments.seq[i]),
                         ack=1, flags=("ACK", "PSH") if segments.push[i] else ("ACK",), name=f"p{i}")
                  for i, (t, port) in enumerate(zip(times, sports))])
    host.run()
    return host.summary()


@st.composite
def gro_case(draw):
    """TCP bulk streams of 1-20 flows (a few UDP packets among them, some segments short, PSH every k-th), from
    light load to overload (ring drops break a flow's sequence), on 1-3 queues, 3.10 (one gro_list of 8) and 6.12
    (8 buckets; at HZ 1000 a NAPI that stays scheduled flushes only what is older than the jiffy)."""
    base = draw(st.sampled_from(["3.10", "6.12"]))
    profile = PROFILES[base].replace(hz=draw(st.sampled_from([100, 250, 1000])))
    costs = Costs(driver_ns=draw(st.sampled_from([100, 600])), stack_ns=draw(st.sampled_from([300, 2400])),
                  poll_ns=draw(st.sampled_from([100, 200])))
    queues = draw(st.integers(1, 3))
    n, flows = draw(st.integers(100, 1500)), draw(st.integers(1, 20))
    rate = draw(st.floats(0.2, 6.0)) * 1e9 / costs.packet_ns
    times = arrivals(min(rate, 14e6), n, jitter=draw(st.booleans()), seed=draw(st.integers(0, 1000)))
    rng = np.random.default_rng(draw(st.integers(0, 1000)))
    flow = rng.integers(0, flows, n)
    sports = 40000 + flow
    rxhash = rss_hashes(["10.0.0.1"] * flows, ["10.0.0.2"] * flows, 40000 + np.arange(flows), [80] * flows)
    segments = tcp_segments(flow, rxhash, mss=draw(st.sampled_from([100, 1448, 8948])),
                            push_every=draw(st.sampled_from([0, 3, 40])))
    segments.flow[rng.random(n) < draw(st.sampled_from([0.0, 0.1]))] = -1                       # UDP packets
    segments.payload[rng.random(n) < draw(st.sampled_from([0.0, 0.05]))] //= 2                   # short segments
    return times, sports, segments, profile, costs, queues, draw(st.sampled_from([64, 128, 256]))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(case=gro_case())
def test_gro_load_model_equals_step_model(case):
    times, sports, segments, profile, costs, queues, ring = case
    kw = dict(cpus=queues, queues=queues, ring_size=ring, costs=costs)
    step = tcp_step_model(times, sports, segments, profile, **kw)
    q = rss_queues(["10.0.0.1"] * len(times), ["10.0.0.2"] * len(times), sports, [80] * len(times), queues)
    assert simulate(times, q, profile=profile, segments=segments, **kw) == step
    assert sum(step.gro_skbs) <= step.delivered
    event(f"merged: {'yes' if sum(step.gro_skbs) < step.delivered else 'no'}, "
          f"ring drops: {'yes' if step.ring_drops else 'no'}")


@settings(max_examples=60, deadline=None)
@given(flows=st.integers(1, 5), n=st.integers(0, 60), mss=st.sampled_from([1, 100, 1448]),
       push_every=st.integers(0, 4), seed=st.integers(0, 1000))
def test_tcp_segments_numbers_each_flows_segments_in_arrival_order(flows, n, mss, push_every, seed):
    """Packet i is the next segment of its flow: sequence numbers from 1, ``mss`` apart, PSH on every
    ``push_every``-th — one flow (its own shortcut) or several, as a plain loop counts them."""
    flow = np.random.default_rng(seed).integers(0, flows, n)
    rxhash = np.arange(flows) * 7 + 3
    segments = tcp_segments(flow, rxhash, mss=mss, push_every=push_every)
    sent = [0] * flows
    for i, f in enumerate(flow.tolist()):
        sent[f] += 1
        assert (segments.seq[i], segments.payload[i], segments.rxhash[i]) == (1 + (sent[f] - 1) * mss, mss, rxhash[f])
        assert segments.push[i] == (push_every > 0 and sent[f] % push_every == 0)


@st.composite
def gro_shortcut_case(draw, regime):
    """One queue of TCP segments in the regimes the load model's GRO shortcuts serve (none or a fixed interrupt
    moderation, ``rx_usecs``):

    * ``busy``: 1-3 bulk flows near what GRO lets one CPU carry (``driver_ns`` a packet, ``stack_ns`` per merged
      skb), rings of 256-1024 — long polls that no arrival finds the ring full in (``gro_clean_rx_irq``);
    * ``cycles``: 1-3 bulk flows at 7.7-8 Mpps on 6.12 with the default costs, a whole number of ns apart and long
      enough for the machine to come back to a state shifted in time, packets and ring entries within a jiffy
      (``gro_repeats``: about half the examples);
    * ``chains``: 64-400 flows round robin or at random (nothing merges), 6.12, at a rate where each poll takes a
      few packets and the next one arrives while GRO passes them on — chains of small polls, each next one's hard
      IRQ nested in net_rx_action, until the budget or time runs out (``gro_poll_chain``), evenly spaced or not;
    * ``squeezed chains``: the same, longer and mostly evenly spaced: ksoftirqd's runs each spend the budget in such
      a chain, which goes on across runs (``gro_poll_chain``: equal turns, and cycles of runs that began alike);
    * ``flood``: one bulk flow (now and then a PSH, or a second flow) at 1.5-6x what a CPU carries with GRO, HZ
      100-1000, segments of 100 bytes to jumbo (64 KB: 7 of 8948 bytes in an skb), rings of 128-1024 — ksoftirqd
      polls a ring that drops between refills, which breaks the flow every 16 entries (``gro_flooded_runs``).
    """
    costs = Costs(driver_ns=draw(st.sampled_from([50, 100, 600])), stack_ns=draw(st.sampled_from([150, 300, 2400])),
                  poll_ns=draw(st.sampled_from([100, 200])))
    jitter, seed = draw(st.booleans()), draw(st.integers(0, 1000))
    if regime in ("busy", "cycles"):
        profile = PROFILES[draw(st.sampled_from(["3.10", "6.12"]))].replace(hz=draw(st.sampled_from([100, 250, 1000])))
        flows, ring, n = draw(st.integers(1, 3)), draw(st.sampled_from([256, 512, 1024])), draw(st.integers(2000, 8000))
        rate = draw(st.floats(0.5, 1.2)) * 1e9 / (costs.driver_ns + costs.stack_ns / 16)
        if regime == "cycles":   # whole ns apart, long enough for the machine to repeat itself within a jiffy
            costs, profile = Costs(), PROFILES["6.12"].replace(hz=draw(st.sampled_from([100, 250])))
            rate, jitter, n = 1e9 / draw(st.sampled_from([125, 128, 130])), False, draw(st.integers(15_000, 20_000))
        flow = np.arange(n) % flows
        mss, push_every = 1448, draw(st.sampled_from([0, 0, 7]))
    elif regime in ("chains", "squeezed chains"):
        profile = PROFILES["6.12"].replace(hz=draw(st.sampled_from([100, 250, 1000])),
                                           netdev_budget=draw(st.sampled_from([16, 64, 300])))
        flows, ring, n = draw(st.integers(64, 400)), draw(st.sampled_from([64, 256, 1024])), draw(st.integers(1000, 4000))
        if regime == "squeezed chains":   # long enough for ksoftirqd to take over, mostly evenly spaced
            n, jitter = draw(st.integers(4000, 12_000)), draw(st.sampled_from([False, False, True]))
            costs = Costs() if draw(st.booleans()) else costs
        k = draw(st.integers(1, 6))                              # packets a poll takes
        factor = draw(st.sampled_from([1.0, 1.0, 1.02]) | st.floats(0.9, 1.5) if regime == "squeezed chains"
                      else st.floats(0.9, 1.5))                  # (squeezed: often whole ns apart, as the benchmark)
        rate = factor * k * 1e9 / (costs.hardirq_ns + costs.poll_ns + k * costs.packet_ns)
        flow = (np.arange(n) % flows if draw(st.booleans())
                else np.random.default_rng(seed).integers(0, flows, n))
        mss, push_every = 1448, draw(st.sampled_from([0, 0, 7]))
    else:
        profile = PROFILES[draw(st.sampled_from(["3.10", "6.12"]))].replace(hz=draw(st.sampled_from([100, 250, 1000])))
        costs = Costs(driver_ns=draw(st.sampled_from([100, 600])), stack_ns=costs.stack_ns, poll_ns=costs.poll_ns)
        ring, n = draw(st.sampled_from([128, 256, 512, 1024])), draw(st.integers(8000, 25_000))
        rate = draw(st.floats(1.5, 6.0)) * 1e9 / (costs.driver_ns + costs.stack_ns / 12)
        flows, flow = 2, np.zeros(n, dtype=np.int64)
        flow[np.random.default_rng(seed).random(n) < draw(st.sampled_from([0.0, 0.0, 0.001]))] = 1
        mss, push_every = draw(st.sampled_from([100, 1448, 8948])), draw(st.sampled_from([0, 0, 0, 500]))
    times = arrivals(min(rate, 14e6), n, jitter=jitter, seed=seed)
    rxhash = rss_hashes(["10.0.0.1"] * flows, ["10.0.0.2"] * flows, 40000 + np.arange(flows), [80] * flows)
    return times, 40000 + flow, tcp_segments(flow, rxhash, mss=mss, push_every=push_every), profile, \
        costs, ring, draw(st.sampled_from({"cycles": [0, 10], "squeezed chains": [0, 0, 0, 10]}.get(
            regime, [0, 10, 50, 250])))                                                    # none or fixed


@pytest.mark.parametrize("regime", ["busy", "cycles", "chains", "squeezed chains", "flood"])
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(data=st.data())
def test_gro_shortcuts_equal_the_step_model(regime, data):
    times, sports, segments, profile, costs, ring, rx_usecs = data.draw(gro_shortcut_case(regime))
    kw = dict(ring_size=ring, costs=costs, rx_usecs=rx_usecs)
    step = tcp_step_model(times, sports, segments, profile, cpus=1, queues=1, **kw)
    assert simulate(times, profile=profile, segments=segments, **kw) == step
    nested = sum(step.hard_irqs) > sum(step.net_rx_softirqs)   # hard IRQs taken inside net_rx_action
    event(f"{regime}: ring drops {'yes' if step.ring_drops else 'no'}, nested IRQs {'yes' if nested else 'no'}, "
          f"ksoftirqd {'yes' if step.ksoftirqd_share() else 'no'}")


@pytest.mark.parametrize("profile", ["3.10", "6.12"])
def test_one_bulk_flow_merges_up_to_64_kb_on_6_12_and_18_segments_on_3_10(profile):
    """Busy but below what GRO lets one CPU carry (no ring drop, which would break the flow's sequence): 6.12 merges
    up to 45 segments of 1448 bytes (64 KB: 52 + 45 x 1448 < 65536), cut where a poll ends; 3.10 at most 1 +
    MAX_SKB_FRAGS = 18, and (HZ 1000) keeps the skb it holds from one poll to the next within a jiffy. Every
    segment is in one of them."""
    s = run(8e6, 20_000, flows=1, tcp=True, profile=profile)
    assert s.ring_drops == 0
    assert (30 < s.segments_per_skb() <= 45) if profile == "6.12" else (16 < s.segments_per_skb() <= 18)
    assert s == step_run_tcp(8e6, 20_000, profile=profile)


def step_run_tcp(rate_pps, n, profile="6.12", flows=1, mss=1448, push_every=0):
    """:func:`run` with ``tcp=True``, on the step model."""
    sports = 1024 + np.arange(n) % flows
    rxhash = rss_hashes(["10.0.0.1"] * flows, ["10.0.0.2"] * flows, 1024 + np.arange(flows), [80] * flows)
    segments = tcp_segments(np.arange(n) % flows, rxhash, mss=mss, push_every=push_every)
    return tcp_step_model(arrivals(rate_pps, n), sports, segments, profile, cpus=1, queues=1)


def test_run_with_tcp_equals_the_step_model_with_many_flows():
    assert run(1e6, 3000, flows=64, tcp=True, push_every=8) == step_run_tcp(1e6, 3000, flows=64, push_every=8)


@pytest.mark.parametrize("rate, flows", [(LINE_RATE, 1), (1e6, 256)])
def test_the_benchmarks_gro_floods_and_chains_equal_the_step_model(rate, flows):
    """bench/receive.py's GRO rows, shorter: one flow at line rate (ksoftirqd polls a ring that drops between
    refills: gro_flooded_runs) and 256 flows at 1 Mpps (chains of polls of 2-3 packets across ksoftirqd's squeezed
    runs, in cycles of runs: gro_poll_chain)."""
    s = run(rate, 12_000, flows=flows, tcp=True)
    assert (s.ring_drops > 0) if flows == 1 else (sum(s.time_squeeze) > 0 and s.ksoftirqd_share() > 0.5)
    assert s == step_run_tcp(rate, 12_000, flows=flows)


# --- run() and sweep(), as the notebooks call them -------------------------------------------------------------------
@pytest.mark.parametrize("kw", [
    dict(rate_pps=6e6, queues=1, cpus=4), dict(rate_pps=6e6, queues=4),                    # chapter 01, §4
    dict(rate_pps=6e6, profile="3.10", netdev_budget=3000), dict(rate_pps=0.3e6),          # §8 exercises
    dict(rate_pps=1e6, burst=64, ring_size=64), dict(rate_pps=LINE_RATE),                  # §3, §6
    dict(rate_pps=1e6, rx_usecs=100), dict(rate_pps=2e6, rx_usecs=3, queues=2),            # coalescing
    dict(rate_pps=5e4, rx_usecs=3, length=1500), dict(rate_pps=0.3e6, rx_usecs=1),
], ids=str)
def test_run_equals_the_step_model_on_the_notebooks_settings(kw):
    assert run(n=3000, **kw) == step_run(n=3000, **kw)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(parameter=st.sampled_from(["rate_pps", "burst", "ring_size", "netdev_budget", "queues", "rx_usecs"]),
       base=st.fixed_dictionaries({"rate_pps": st.floats(0.5e6, LINE_RATE), "n": st.integers(100, 1200),
                                   "burst": st.integers(1, 64), "ring_size": st.sampled_from([64, 256, 1024]),
                                   "netdev_budget": st.sampled_from([64, 150, 300, 3000]),
                                   "queues": st.integers(1, 8), "profile": st.sampled_from(["3.10", "6.12"]),
                                   "flows": st.sampled_from([1, 16, 256]), "rx_usecs": RX_USECS}),
       data=st.data())
def test_sweep_equals_the_step_model_for_the_explorers_sliders(parameter, base, data):
    """receive_explorer's sliders: each sweep value is one step-model run with that value."""
    values = data.draw(st.lists({"rate_pps": st.floats(0.5e6, 14e6), "burst": st.integers(1, 8),
                                 "ring_size": st.sampled_from([64, 128, 512]), "queues": st.integers(1, 8),
                                 "netdev_budget": st.sampled_from([1, 64, 600]), "rx_usecs": RX_USECS}[parameter],
                                min_size=1, max_size=2))
    base["burst"] = min(base["burst"], 8)  # bursts of 67 ns gaps must fit the rate's period
    assert sweep(parameter, values, **base) == [step_run(**{**base, parameter: v}) for v in values]


# --- the numbers the text states ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("costs", [Costs(), Costs(stack_ns=400), Costs(driver_ns=50, stack_ns=100, poll_ns=1000,
                                                                       net_rx_action_ns=3000)], ids=repr)
@pytest.mark.parametrize("profile", ["3.10", "6.12"])
def test_a_flooded_cpu_carries_what_its_costs_allow(profile, costs):
    s = run(LINE_RATE, 200_000, profile=profile, costs=costs)
    assert s.delivered * 1e9 / s.elapsed_ns == pytest.approx(flooded_pps(profile, costs), rel=0.005)


def _stated(pattern, text):
    match = re.search(pattern, text)
    assert match, f"the text no longer says {pattern!r}: update this test with it"
    return float(match[1])


def test_the_readme_and_costs_state_what_one_cpu_carries_with_the_default_costs():
    readme = " ".join((ROOT / "README.md").read_text().split())
    knee = _stated(r"past ~([\d.]+) Mpps one RX queue on one CPU drops a growing share of packets", readme)
    assert _stated(r"one CPU carries about ([\d.]+) Mpps", " ".join(Costs.__doc__.split())) == knee
    assert round(flooded_pps("6.12", Costs()) / 1e6, 1) == knee   # 64 / (200 + 200 + 64 x 400 ns) = 2.46 Mpps
    below, above, *more = sweep("rate_pps", [(knee - 0.1) * 1e6, (knee + 0.1) * 1e6, 2 * knee * 1e6, 6e6, LINE_RATE])
    assert below.ring_drops == 0 < above.ring_drops
    shares = [s.ring_drops / s.arrived for s in [above, *more]]
    assert shares == sorted(shares) and len(set(shares)) == len(shares)          # a growing share
    assert below.ksoftirqd_share() < 0.1 and min(s.ksoftirqd_share() for s in [above, *more]) > 0.5


def test_the_readme_states_that_four_queues_drop_nothing():
    readme = " ".join((ROOT / "README.md").read_text().split())
    rate = _stated(r"four RSS queues on four CPUs drop nothing at ([\d.]+) Mpps", readme) * 1e6
    assert run(rate, queues=4).ring_drops == 0 < run(rate, queues=1).ring_drops


def _chapter_01_text():
    cells = json.loads((ROOT / "notebooks" / "01-receive.ipynb").read_text())["cells"]
    return " ".join(" ".join("".join(c["source"]) for c in cells if c["cell_type"] == "markdown").split())


def test_chapter_01s_things_to_try_hold_in_the_model():
    text = _chapter_01_text()
    match = re.search(r"bursts of (\d+) overflow a (\d+)-slot ring \(it holds (\d+)\) even at ([\d.]+) Mpps, a "
                      r"(\d+)-slot ring does not", text)
    assert match, "chapter 01's burst sentence changed: update this test with it"
    burst, small, holds, mpps, large = (float(g) for g in match.groups())
    assert holds == small - 1 and burst > holds
    assert run(mpps * 1e6, burst=int(burst), ring_size=int(small)).ring_drops > 0
    assert run(mpps * 1e6, burst=int(burst), ring_size=int(large)).ring_drops == 0
    assert "On 6.12 a single busy queue never counts `time_squeeze`" in text
    assert run(6e6).time_squeeze == [0]
    assert "3.10 loops on the same queue until the budget is gone and squeezes on nearly every run" in text
    old = run(6e6, profile="3.10")
    assert old.time_squeeze[0] >= 0.9 * old.net_rx_softirqs[0]
    assert "Raising `netdev_budget` changes the squeeze counter, hardly the drops" in text
    raised = run(6e6, profile="3.10", netdev_budget=3000)
    assert raised.time_squeeze[0] < old.time_squeeze[0] and raised.ring_drops == pytest.approx(old.ring_drops, rel=0.01)


# --- inputs ------------------------------------------------------------------------------------------------------------
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
    assert not np.array_equal(arrivals(1e6, 100, jitter=True, seed=3), arrivals(1e6, 100, jitter=True, seed=4))


@pytest.mark.parametrize("call, error, message", [
    (lambda: arrivals(0, 10), ValueError, "rate_pps"), (lambda: arrivals(1e6, -1), ValueError, "n must"),
    (lambda: arrivals(1e6, 10, burst=0), ValueError, "burst must"),
    (lambda: arrivals(2e7, 10, burst=100), ValueError, "overlap"),
    (lambda: simulate(np.array([5, 3])), ValueError, "sorted"),
    (lambda: simulate(np.array([1.5])), ValueError, "times_ns"),
    (lambda: simulate(np.array([1, 2]), np.array([0, 1])), ValueError, "queue_of_packet"),
    (lambda: simulate(np.array([1]), cpus=0), ValueError, "cpus"),
    (lambda: simulate(np.array([1]), queues=2, affinity=[0]), ValueError, "affinity"),
    (lambda: simulate(np.array([1]), ring_size=100), ValueError, "ring_size"),
    (lambda: simulate(np.array([1]), profile="2.6"), ValueError, "profile"),
    (lambda: simulate(np.array([1]), costs="fast"), TypeError, "costs"),
    (lambda: rss_queues(["10.0.0.1"], ["10.0.0.2", "10.0.0.3"], [1], [2], 2), ValueError, "same length"),
    (lambda: run(1e6, flows=0), ValueError, "flows"), (lambda: run(1e6, netdev_budget=-1), ValueError, "netdev_budget must be"),
    (lambda: sweep("colour", [1]), ValueError, "parameter"), (lambda: sweep("rate_pps", []), ValueError, "value"),
])
def test_bad_input_is_refused(call, error, message):
    with pytest.raises(error, match=message):
        call()


def test_line_rate_on_one_cpu_mostly_drops_and_runs_in_ksoftirqd():
    s = simulate(arrivals(LINE_RATE, 200_000))
    assert s.ring_drops > s.delivered > 0 and s.ksoftirqd_share() > 0.9
    assert s.delivered + s.ring_drops == s.arrived


@pytest.mark.parametrize("ring", [256, 512])
@pytest.mark.parametrize("restarts", [1, 10])
def test_ksoftirqds_polls_of_64_at_once_equal_them_one_at_a_time(ring, restarts):
    """throttled_cycles takes ksoftirqd's NET_RX runs back to back many at once (back_to_back: full polls, a free
    descriptor for every arrival): the same as taking each poll with a bisect. Arrivals about as fast as one CPU
    reads them (400 ns a packet; at 385 ns its ring fills up) after a burst that fills half its ring, on 1 ms jiffies
    (a run that crosses one is squeezed), from instants that put a jiffy's end anywhere in its busy periods; and a
    pause of 20 µs after any of 64 packets in a row, where the back-to-back runs stop. (Testing 63 packets of a poll
    instead of 64 is not caught: no input found makes the two differ.)"""
    prof = PROFILES["6.12"].replace(hz=1000, netdev_budget_usecs=1000, max_softirq_restart=restarts)
    taken = []
    back_to_back = load_receive._Cpu.back_to_back
    cases = [(gap, start, None) for gap in (385, 402, 410) for start in range(500_000, 1_000_000, 25_300)]
    for gap, start, pause in cases + [(402, 700_000, at) for at in range(1500, 1564)]:
        gaps = np.concatenate((np.zeros(ring // 2, dtype=np.int64), np.full(3000, gap)))
        if pause is not None:
            gaps[pause] += 20_000
        times = start + np.cumsum(gaps)
        with pytest.MonkeyPatch.context() as spy:
            spy.setattr(load_receive._Cpu, "back_to_back",
                        lambda self, *args: taken.append(back_to_back(self, *args)[0]) or back_to_back(self, *args))
            at_once = simulate(times, profile=prof, ring_size=ring)
        with pytest.MonkeyPatch.context() as one_at_a_time:
            one_at_a_time.setattr(load_receive._Cpu, "back_to_back", lambda self, chunk, *args: (0, chunk[:0]))
            assert simulate(times, profile=prof, ring_size=ring) == at_once, (gap, start, pause)
    assert sum(taken) > 500
