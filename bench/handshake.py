"""How fast the handshake lab runs: untraced floods (the capacity questions) and traced small scenarios.

    python bench/handshake.py
"""
import time

from netlab.scenarios.handshake import HandshakeLab
from netlab.kernel.profiles import PROFILES
from netlab.view.handshake import HandshakeDiagram
from netlab.view.stepper import Stepper


def timed(fn):
    t0 = time.perf_counter()
    result = fn()
    return result, (time.perf_counter() - t0) * 1e3


def flood(n):
    lab = HandshakeLab(PROFILES["6.12"], 4096, record=False)
    lab.syn_flood(n)
    return lab.run(until_ms=n * 0.01 + 5)


def clients(n):
    lab = HandshakeLab(PROFILES["6.12"], 2, loopback=False, one_way_us=5_000)
    lab.connect(n, every_ms=20)
    lab.run(until_ms=2500)
    return lab


def main():
    print(f"{'scenario':>32} {'events':>7} {'ms':>8}")
    for n in (1_000, 4_000):
        out, ms = timed(lambda: flood(n))
        print(f"{f'{n} spoofed SYNs, untraced':>32} {'-':>7} {ms:>8.1f}   ({len(out.syn_queue)} queued)")
    for n in (5, 10):
        lab, ms = timed(lambda: clients(n))
        print(f"{f'{n} clients, traced, 2.5 s':>32} {len(lab.trace):>7} {ms:>8.1f}")
        _, ms = timed(lambda: Stepper(lab.trace, draw=HandshakeDiagram(lab.trace).draw, check_kernel=False))
        print(f"{'  + Stepper with the diagram':>32} {'':>7} {ms:>8.1f}")
        diagram = HandshakeDiagram(lab.trace)
        _, ms = timed(lambda: [diagram.draw(e) for e in lab.trace])
        print(f"{'  + every step drawn':>32} {'':>7} {ms:>8.1f}   ({ms / len(lab.trace):.2f} ms/step)")


if __name__ == "__main__":
    main()
