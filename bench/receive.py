"""How fast the receive load model simulates traffic, against the step model it agrees with.

    python bench/receive.py

Prints one row per scenario (simulated traffic, what the kernel did with it — ``segs/skb``: packets per sk_buff GRO
passed up, 1.0 where nothing merges (UDP); hard IRQs per second —, wall time and simulated packets per wall second,
arrival generation included, best of three runs). The RPS and RFS rows are the regimes chapter 01's explorer visits:
a reading CPU that steers every skb away, keeps some or keeps all (RFS: every flow read there), quiet, busy or
flooded, and targets that keep up or are flooded. It checks that the load model equals the step model on samples
(with and without interrupt coalescing), and ends with the line
``receive-load: slowest scenario <X> Mpps, headline <Y> Mpps, step model <Z> Mpps``:
X the slowest row, Y one second of 10GbE line rate (14.88 Mpps of 64-byte frames) into one queue on one CPU, Z the
step model.
"""
from __future__ import annotations

import time

import numpy as np

from netlab.kernel.nic import Packet
from netlab.load.receive import arrivals, rss_hashes, rss_queues, simulate, tcp_segments
from netlab.scenarios.receive import Host

LINE_RATE = 14.88e6


def timed(fn, repeat=1):
    """``fn()`` and its shortest wall time over ``repeat`` calls (other processes on the machine only add time)."""
    walls = []
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        walls.append(time.perf_counter() - start)
    return result, min(walls)


def load_run(rate, seconds, burst=1, cpus=1, queues=1, flows=1, tcp=False, rps_cpus=None, rfs_cpu=None, rx_usecs=0):
    n = int(rate * seconds)

    def run():
        times = arrivals(rate, n, burst=burst)
        if tcp:  # bulk TCP streams of 1448-byte segments, flows round robin: GRO merges them
            rxhash = rss_hashes(["10.0.0.1"] * flows, ["10.0.0.2"] * flows, 40000 + np.arange(flows), [80] * flows)
            return simulate(times, segments=tcp_segments(np.arange(n) % flows, rxhash))
        if rps_cpus is not None:      # one queue, its IRQ on CPU 0, RPS over rps_cpus; RFS: every flow read on rfs_cpu
            hashes = rss_hashes(["10.0.0.1"] * flows, ["10.0.0.2"] * flows, 40000 + np.arange(flows), [80] * flows)
            rfs = {} if rfs_cpu is None else dict(rps_sock_flow_entries=32768, rps_flow_cnt=32768,
                                                  read_on=dict.fromkeys(hashes.tolist(), rfs_cpu))
            return simulate(times, cpus=cpus, rps_cpus=[rps_cpus], hash_of_packet=np.resize(hashes, n),  # round robin
                            rx_usecs=rx_usecs, **rfs)
        if queues == 1:
            return simulate(times, cpus=cpus, rx_usecs=rx_usecs)
        flow_queue = rss_queues(["10.0.0.1"] * flows, ["10.0.0.2"] * flows, 40000 + np.arange(flows), [80] * flows,
                                queues)
        return simulate(times, np.resize(flow_queue, n), cpus=cpus, queues=queues,  # flows round robin
                        rx_usecs=rx_usecs)
    return (*timed(run, repeat=3), n)


def step_run(rate, n, rx_usecs=0):
    times = arrivals(rate, n)

    def run():
        host = Host("6.12", rx_usecs=rx_usecs)
        host.udp_socket(80, rcvbuf=10**12)
        host.receive([Packet(int(t), protocol="udp", name=f"p{i}") for i, t in enumerate(times)])
        host.run()
        return host.summary()
    summary, wall = timed(run)
    assert summary == simulate(times, rx_usecs=rx_usecs), "load model and step model disagree"
    return summary, wall


def main() -> None:
    rows = [("0.3 Mpps, 1 queue", 0.3e6, 1.0, {}), ("1 Mpps, 1 queue", 1e6, 1.0, {}),
            ("2.5 Mpps (the knee), 1 queue", 2.5e6, 0.5, {}), ("6 Mpps, 1 queue", 6e6, 0.5, {}),
            ("1 Mpps in bursts of 32", 1e6, 1.0, {"burst": 32}),
            ("1 Mpps, rx-usecs 50", 1e6, 1.0, {"rx_usecs": 50}),
            ("1 Mpps, adaptive (rx-usecs 3)", 1e6, 1.0, {"rx_usecs": 3}),
            ("2.5 Mpps, rx-usecs 50", 2.5e6, 0.5, {"rx_usecs": 50}),
            ("2.5 Mpps, adaptive (rx-usecs 3)", 2.5e6, 0.5, {"rx_usecs": 3}),
            ("14.88 Mpps, 4 queues on 4 CPUs", LINE_RATE, 0.25, {"cpus": 4, "queues": 4, "flows": 256}),
            ("GRO: 1 TCP flow, 8 Mpps (busy)", 8e6, 0.1, {"tcp": True}),
            ("GRO: 1 TCP flow, 14.88 Mpps", LINE_RATE, 0.05, {"tcp": True}),
            ("GRO: 256 TCP flows, 1 Mpps", 1e6, 0.25, {"tcp": True, "flows": 256}),
            ("2 Mpps, 1 queue, RPS on CPUs 1-3", 2e6, 0.02, {"cpus": 4, "flows": 256, "rps_cpus": [1, 2, 3]}),
            ("2 Mpps, 1 queue, RPS on CPUs 0-3", 2e6, 0.02, {"cpus": 4, "flows": 256, "rps_cpus": [0, 1, 2, 3]}),
            ("6 Mpps, 1 queue, RPS on CPUs 1-3", 6e6, 0.02, {"cpus": 4, "flows": 256, "rps_cpus": [1, 2, 3]}),
            ("6 Mpps, 1 queue, RPS on CPUs 0-3", 6e6, 0.02, {"cpus": 4, "flows": 256, "rps_cpus": [0, 1, 2, 3]}),
            ("4 Mpps, 1 queue, RPS on CPUs 0-3", 4e6, 0.02, {"cpus": 4, "flows": 256, "rps_cpus": [0, 1, 2, 3]}),
            ("10 Mpps, 1 queue, RPS on CPUs 1-3", 10e6, 0.02, {"cpus": 4, "flows": 256, "rps_cpus": [1, 2, 3]}),
            ("14.88 Mpps, 1 queue, RPS on CPUs 1-3", LINE_RATE, 0.02, {"cpus": 4, "flows": 256, "rps_cpus": [1, 2, 3]}),
            ("1 Mpps, RPS 1-3, RFS: read on CPU 0", 1e6, 0.02, {"cpus": 4, "flows": 256, "rps_cpus": [1, 2, 3],
                                                              "rfs_cpu": 0}),
            ("2 Mpps, RPS 1-3, RFS: read on CPU 0", 2e6, 0.02, {"cpus": 4, "flows": 256, "rps_cpus": [1, 2, 3],
                                                              "rfs_cpu": 0}),
            ("4 Mpps, RPS 1-3, RFS: read on CPU 3", 4e6, 0.02, {"cpus": 4, "flows": 256, "rps_cpus": [1, 2, 3],
                                                              "rfs_cpu": 3}),
            ("14.88 Mpps, 1 queue (headline)", LINE_RATE, 1.0, {})]
    print(f"{'scenario':38} {'packets':>10} {'delivered':>10} {'ring drops':>10} {'squeeze':>8} "
          f"{'ksoftirqd':>9} {'segs/skb':>8} {'IRQs/s':>8} {'wall s':>7} {'Mpps sim':>9}")
    speeds = []
    for name, rate, seconds, kw in rows:
        s, wall, n = load_run(rate, seconds, **kw)
        mpps = n / wall / 1e6
        print(f"{name:38} {n:>10} {s.delivered:>10} {s.ring_drops:>10} {sum(s.time_squeeze):>8} "
              f"{s.ksoftirqd_share():>9.0%} {s.segments_per_skb():>8.1f} {s.irqs_per_second():>8.0f} {wall:>7.2f} "
              f"{mpps:>9.{1 if mpps >= 1 else 3}f}")
        speeds.append(mpps)
    n_step = 20_000
    step_run(1e6, 5000, rx_usecs=3)    # coalescing agrees too
    _, wall = step_run(LINE_RATE, n_step)
    step_mpps = n_step / wall / 1e6
    print(f"{'step model (Host), 14.88 Mpps':38} {n_step:>10} {'(equal to the load model on this input)':>66} "
          f"{wall:>7.2f} {step_mpps:>9.3f}")
    slowest = min(speeds)
    print(f"receive-load: slowest scenario {slowest:.{1 if slowest >= 1 else 3}f} Mpps, headline {speeds[-1]:.1f} Mpps, "
          f"step model {step_mpps:.3f} Mpps")


if __name__ == "__main__":
    main()
