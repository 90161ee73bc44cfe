"""The send-side drawings replay traces and plot numbers; they draw what the state says."""
import matplotlib

matplotlib.use("Agg")

import pytest  # noqa: E402

from netlab.scenarios.send import copy_ledgers, one_send  # noqa: E402
from netlab.view.send import draw_send, ledger_table, lifetime_table, plot_ledgers, plot_live, \
    skb_lifetime  # noqa: E402


@pytest.fixture(scope="module")
def small():
    return one_send(1000)[1].trace


def test_the_drawing_shows_the_clone_and_the_original_sharing_one_data_buffer(small):
    step = next(e for e in small if e.function == "tcp_event_new_data_sent")
    svg = draw_send(step)
    assert svg.startswith("<svg") and "skb1 (clone)" in svg and "retransmit queue" in svg
    assert "data #1: dataref 2" in svg and "TX ring (256 descriptors)" in svg


def test_heads_between_two_queues_are_drawn_in_transit(small):
    """The clone on its way down (IP, netfilter, the bypassed qdisc, the driver) and GSO's segments before the
    driver are held by no queue, only by the running kernel functions: the drawing shows them in transit."""
    step = next(e for e in small if e.function == "ip_output")
    assert ">skb1 (clone)  users 1" in draw_send(step) and "in transit" in draw_send(step)
    host, rec = one_send(6000, tso=False)
    step = next(e for e in rec.trace if e.function == "consume_skb")       # validate_xmit_skb frees the clone
    places = {p.skb.name: p.where for p in step.state.skbs}
    assert places == {"skb1": "write queue", "skb1 (clone)": "freed",
                      **{f"skb1/seg{i}": "in transit" for i in range(5)}}
    assert all(f">skb1/seg{i}  users 1" in draw_send(step) for i in range(5))


def test_over_lo_only_lo_is_drawn():
    """A send to 127.0.0.1 uses lo, which has no qdisc and no ring: the NIC's TX ring and IRQ are not drawn."""
    host, rec = one_send(1000, device="lo")
    assert all(e.state.device == "lo" for e in rec.trace)
    for e in rec.trace:
        picture = draw_send(e)
        assert "lo: no qdisc (noqueue), no TX ring" in picture
        assert "TX ring (" not in picture and "eth0" not in picture and "IRQ" not in picture


def test_after_the_ack_the_data_is_shown_freed(small):
    step = next(e for e in small if e.function == "__kfree_skb" and e.text.startswith("free skb1 "))
    assert "freed (dataref 0)" in draw_send(step)


def test_every_step_draws(small):
    assert all(draw_send(e).endswith("</svg>") for e in small)


def test_lifetime_follows_users_and_dataref(small):
    rows = skb_lifetime(small, ["skb1", "skb1 (clone)"])
    assert [(r[3], r[5]) for r in rows if r[2] == "skb1"] == [
        ("in transit", 1), ("write queue", 1), ("write queue", 2), ("retransmit queue", 2), ("retransmit queue", 1),
        ("in transit", 1), ("freed", 0)]      # allocated, queued, cloned, sent, clone freed, taken off by the ACK
    assert [r[3] for r in rows if r[2] == "skb1 (clone)"] == ["in transit", "TX ring", "in transit", "freed"]
    table = lifetime_table(rows)
    assert "napi_consume_skb" in str(table) and table.header[:2] == ["step", "kernel function"]


def test_ledger_table_and_plots():
    summaries = {m: l.summary(1 << 20) for m, l in copy_ledgers(1 << 20).items()}
    text = str(ledger_table(summaries, title="over the NIC"))
    assert text.splitlines()[1].split()[:2] == ["cpu", "copies"] and "sendfile" in text and "2.0" not in text
    fig = plot_ledgers(summaries, title="t")
    assert [b.get_height() for b in fig.axes[0].patches][:4] == [2, 1, 0, 1]
    fig2 = plot_live({"read+send": 0.2, "sendfile": 0.1}, 0.15)
    assert [round(b.get_height(), 3) for b in fig2.axes[1].patches] == [0.1, 0.15]


def test_views_refuse_bad_input(small):
    with pytest.raises(TypeError, match="Event"):
        draw_send("step 3")
    with pytest.raises(ValueError, match="ledgers"):
        ledger_table({})
    with pytest.raises(ValueError, match=r"read\+send"):
        plot_live({"sendfile": 1.0}, 0.1)
    with pytest.raises(ValueError, match="names"):
        skb_lifetime(small, "skb1")
    with pytest.raises(TypeError, match="Trace"):
        skb_lifetime([], ["skb1"])
