"""How fast the connection-memory models scale: the exact slab memory of every count from 1 to 10 million, and the
capacity of a grid of machine sizes, per kernel profile. Prints a table; the last line is the headline.

    python bench/connections.py
"""
import time
import tracemalloc

import numpy as np

from netlab.scenarios.connection_memory import footprint
from netlab.kernel.profiles import PROFILES
from netlab.scenarios.capacity import GIB, connections_that_fit, memory_for, plan

TEN_MILLION = 10_000_000


def timed(fn):
    t0 = time.perf_counter()
    value = fn()
    return value, time.perf_counter() - t0


def main():
    print(f"{'kernel':>6} {'side':>6} {'state':>12} {'B/conn':>8} {'1M conns GiB':>13} {'4 GiB holds':>12} "
          f"{'128 GiB push':>13} {'machines/100M':>14}")
    for name in ("3.10", "6.12"):
        profile = PROFILES[name]
        for side, state in (("server", "ESTABLISHED"), ("client", "ESTABLISHED"), ("client", "TIME_WAIT"),
                            ("server", "CLOSE_WAIT")):
            fp = footprint(profile, state, side)
            idle = connections_that_fit(4 * GIB, profile, state=state, side=side)
            push = plan(100e6, 128, profile, state=state, side=side)
            print(f"{name:>6} {side:>6} {state:>12} {fp.per_connection:8.0f} {fp.bytes(10 ** 6) / GIB:13.2f} "
                  f"{int(idle):12,} {int(push.connections_per_machine):13,} {int(push.machines):14,}")

    print()
    print(f"{'sweep':>40} {'seconds':>8} {'peak MB':>8}")
    worst_s, worst_mb = 0.0, 0.0
    sweeps = (
        ("every count 1..10M, 3.10 server", lambda: memory_for(np.arange(1, TEN_MILLION + 1), PROFILES["3.10"])),
        ("every count 1..10M, 6.12 client+epoll",
         lambda: memory_for(np.arange(1, TEN_MILLION + 1), PROFILES["6.12"], side="client", epoll=True)),
        ("capacity of 10,000 machine sizes, 6.12",
         lambda: connections_that_fit(np.linspace(1, 2048, 10_000) * GIB, PROFILES["6.12"], buffer=16384)),
    )
    for label, fn in sweeps:
        tracemalloc.start()
        _, seconds = timed(fn)
        peak = tracemalloc.get_traced_memory()[1] / 1e6
        tracemalloc.stop()
        print(f"{label:>40} {seconds:8.3f} {peak:8.1f}")
        if "10M" in label:
            worst_s, worst_mb = max(worst_s, seconds), max(worst_mb, peak)
    print(f"connections: 10M modelled in {worst_s:.2f} s, peak {worst_mb:.0f} MB")


if __name__ == "__main__":
    main()
