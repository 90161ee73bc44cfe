"""Receive drawings and plots: they draw what the trace/summaries say and refuse other input."""
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402

from netlab.kernel.nic import Packet  # noqa: E402
from netlab.load.receive import sweep  # noqa: E402
from netlab.scenarios.receive import Host  # noqa: E402
from netlab.view.receive import draw_receive, plot_coalescing, plot_cpu_time, plot_sweep  # noqa: E402
from netlab.view.stepper import Stepper  # noqa: E402


def traced():
    host = Host("6.12", ring_size=64, queues=2, cpus=2)
    host.udp_socket(80)
    host.tcpdump()
    host.iptables("INPUT", "DROP", protocol="udp", dport=81)
    host.receive([Packet(1000 + 300 * i, protocol="udp", sport=40000 + i, name=f"p{i}") for i in range(6)])
    return host.record()


def test_drawing_shows_every_slot_ring_marks_cpus_and_sockets():
    trace = traced()
    i = next(k for k, e in enumerate(trace) if e.function == "igb_clean_rx_irq")
    svg = draw_receive(trace[i])
    assert svg.startswith("<svg") and svg.count("<rect") > 2 * 64
    assert "RX ring 0" in svg and "RX ring 1" in svg and "CPU 1" in svg and "socket udp:80" in svg
    assert "(DD set)" in svg and "tcpdump captured" in svg and "iptables -A INPUT" in svg


def test_last_step_shows_the_delivered_packets():
    trace = traced()
    svg = draw_receive(trace[-1])
    assert all(f">p{i}<" in svg for i in range(6)) and "no packet waiting" in svg


def test_stepper_uses_the_drawing():
    trace = traced()
    s = Stepper(trace, draw=draw_receive, check_kernel=False)
    s.last()
    assert "socket udp:80" in s.drawing.value


def test_plots_draw_the_summaries():
    rates = [1e6, 3e6]
    results = sweep("rate_pps", rates, n=2000)
    fig, (a, b) = plt.subplots(1, 2)
    plot_sweep(a, rates, results, "rate")
    plot_cpu_time(b, results[-1])
    assert len(a.get_lines()) == 2 and len(b.patches) == 4
    plt.close(fig)
    with pytest.raises(ValueError, match="one summary per x value"):
        plot_sweep(a, [1], results, "rate")
    with pytest.raises(TypeError, match="Event"):
        draw_receive({"rx0.ring": {}})


def test_the_coalescing_plot_draws_each_setting():
    rates = [2e5, 1e6, 3e6]
    by_setting = {f"rx-usecs {us}": sweep("rate_pps", rates, n=2000, rx_usecs=us) for us in (0, 50, 3)}
    fig = plt.figure()
    plot_coalescing(fig, [r / 1e6 for r in rates], by_setting)
    irqs, waits, *cpu = fig.axes
    assert len(irqs.get_lines()) == len(waits.get_lines()) == 3 and len(cpu) == 3
    assert irqs.get_lines()[0].get_ydata()[0] > 5 * irqs.get_lines()[1].get_ydata()[0]    # moderation: fewer IRQs
    assert waits.get_lines()[0].get_ydata()[0] < waits.get_lines()[1].get_ydata()[0]       # … and longer waits
    plt.close(fig)
    with pytest.raises(ValueError, match="one summary per rate"):
        plot_coalescing(plt.figure(), [1], by_setting)
