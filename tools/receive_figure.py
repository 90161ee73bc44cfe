"""Write docs/receive-load.png: the receive load model's picture of overload, for the README.

    .venv/bin/python tools/receive_figure.py
"""
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from netlab.load.receive import run, sweep  # noqa: E402
from netlab.view.receive import plot_cpu_time, plot_sweep  # noqa: E402

OUT = Path(__file__).resolve().parents[1] / "docs" / "receive-load.png"


def main() -> None:
    rates = [0.3, 0.6, 1, 1.5, 2, 2.4, 3, 4, 6, 9, 14.88]
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.6), gridspec_kw={"width_ratios": [2, 1, 1.3]})
    plot_sweep(axes[0], rates, sweep("rate_pps", [r * 1e6 for r in rates], n=50_000), "packet rate (Mpps)",
               title="one RX queue on one CPU (Linux 6.12, load model)")
    one, four = run(6e6, 50_000, queues=1, cpus=4), run(6e6, 50_000, queues=4)
    plot_cpu_time(axes[1], one, title=f"6 Mpps, 1 queue: {one.ring_drops / one.arrived:.0%} dropped")
    plot_cpu_time(axes[2], four, title=f"6 Mpps, 4 queues (RSS): {four.ring_drops / four.arrived:.0%} dropped")
    fig.tight_layout()
    fig.savefig(OUT, dpi=80)
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
