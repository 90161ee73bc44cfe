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


def test_the_nics_moderation_and_rps_in_words():
    from netlab.live.ethtool import Coalescing, RpsQueue
    from netlab.view.receive import coalescing_text, rps_text

    def coal(usecs, frames=0, adaptive=False):
        return Coalescing(rx_usecs=usecs, rx_frames=frames, adaptive_rx=adaptive, tx_usecs=0, tx_frames=0,
                          adaptive_tx=False)
    assert coalescing_text("eth0", "igb", coal(3)).endswith("conservative (igb's default: at most 20,000 "
                                                            "interrupts a second while packets are small) — the "
                                                            "model's rx_usecs 3")
    assert "at most one interrupt every 100 µs (10,000 a second) — the model's rx_usecs 100" in \
        coalescing_text("eth0", "igb", coal(100))
    assert "no moderation" in coalescing_text("eth0", "igb", coal(0))
    assert "no moderation" in coalescing_text("eth0", "virtio_net", coal(0, 1))
    assert "adaptive moderation (the driver's own algorithm" in coalescing_text("eth0", "mlx5_core", coal(8, 128, True))
    assert "an interrupt after 8 µs or 32 frames, whichever comes first" in coalescing_text("eth0", "ixgbe",
                                                                                            coal(8, 32))
    off = rps_text("eth0", [RpsQueue("rx-0", (), 0)], 0)
    assert off.splitlines() == [
        "eth0 rx-0: RPS off (rps_cpus empty): the CPU that takes this queue's interrupt carries each packet up the "
        "stack",
        "RFS off (net.core.rps_sock_flow_entries 0, rps_flow_cnt 0 on every queue): where RPS is on, a flow goes "
        "where its hash points, not where its reader runs"]
    on = rps_text("eth0", [RpsQueue("rx-0", (1, 2, 3), 2048)], 32768)
    assert "RPS to CPUs 1, 2, 3" in on and "an RFS flow table of 2,048 entries" in on and "RFS on (" in on
    assert "not readable here" in rps_text("eth0", [], None)


def test_the_explorer_offers_gro_and_rps_and_says_what_the_load_model_does_not_run(capsys):
    from netlab.view.receive import receive_explorer
    bases = []

    def recording_sweep(parameter, values, **base):
        bases.append(base)
        return sweep(parameter, values, **base)

    explorer = receive_explorer(recording_sweep, rates_mpps=(1, 3), n=200)
    plt.close("all")
    widgets = {w.description: w for w in explorer.children if hasattr(w, "description")}
    widgets["traffic"].value = "TCP, 1 flow"
    plt.close("all")
    assert bases[-1]["tcp"] and bases[-1]["flows"] == 1 and "rps_cpus" not in bases[-1]
    widgets["traffic"].value = "UDP, 256 flows"
    widgets["NIC queues, one CPU each"].value = 2
    widgets["RPS: more CPUs for the stack"].value = 2
    plt.close("all")
    assert bases[-1]["cpus"] == 4 and bases[-1]["rps_cpus"] == [2, 3] and not bases[-1].get("tcp")
    widgets["RFS: flows"].value = "all read on the last CPU"
    plt.close("all")
    assert bases[-1]["rfs_cpus"] == [3] and bases[-1]["rps_cpus"] == [2, 3]
    assert "does not run" not in capsys.readouterr().out
    widgets["RFS: flows"].value = "all read on CPU 0"        # queue 1's flows to CPU 0, which has a queue of its own
    assert "The load model does not run this combination: CPU 0 has NIC queues of its own and would take in steered skbs too" in capsys.readouterr().out
    widgets["RFS: flows"].value = "off"
    plt.close("all")
    assert "rfs_cpus" not in bases[-1]
    widgets["ethtool -C rx-usecs (1, 3: adaptive)"].value = 3
    widgets["traffic"].value = "TCP, 1 flow"
    assert "The load model does not run this combination: " in capsys.readouterr().out
    plt.close("all")
