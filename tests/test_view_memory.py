"""The chapter 06/07 drawings replay trace state; the tables and plots draw what they are given."""
import matplotlib
import pytest

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from netlab.scenarios.connection_memory import footprint  # noqa: E402
from netlab.scenarios.connection_memory import connection_trace, fd_limit_trace  # noqa: E402
from netlab.kernel.profiles import LINUX_3_10, LINUX_6_12  # noqa: E402
from netlab.view.memory import (draw_fd_table, draw_slabs, object_table_html, object_table_text,  # noqa: E402
                                plot_memory_curves, plot_per_state)
from netlab.view.stepper import Stepper  # noqa: E402
from netlab.view.text import changes  # noqa: E402


def test_slab_drawing_lights_the_touched_cache_and_lists_the_objects():
    trace = connection_trace(LINUX_6_12, "server", "ESTABLISHED")
    tcp = next(e for e in trace.filter("kmem_cache_alloc") if "a TCP object" in e.text and e.host == "server")
    drawing = draw_slabs(tcp)
    assert drawing.startswith("<svg") and "TCP · 2432 B × 13 per 8-page slab" in drawing
    assert "#ffd54a" in drawing and "SYN_RECV" in drawing       # the child is made while the request waits
    assert "ESTABLISHED" in draw_slabs(trace[-1])
    first = draw_slabs(trace[0])                                # the listener's caches, nothing touched yet
    assert "slab caches · no connection yet" in first and "#ffd54a" not in first
    stepper = Stepper(trace, draw_slabs, check_kernel=False)
    stepper.last()
    assert "svg" in stepper.drawing.value
    with pytest.raises(TypeError, match="Event"):
        draw_slabs("event")


def test_fd_table_drawing():
    trace = fd_limit_trace(5)
    drawing = draw_fd_table(trace[-1])
    assert "RLIMIT_NOFILE 5" in drawing and drawing.count("<rect") == 5


def test_object_tables_add_up():
    tw = footprint(LINUX_3_10, "TIME_WAIT", "client")
    text = object_table_text(tw.table(), tw.aliases)
    assert "tw_sock_TCP" in text and text.splitlines()[-1].endswith("384.0")
    assert "tcp_bind_bucket in kmalloc-64" in text                  # beside its freed neighbours in one row
    html = object_table_html(tw.table(), tw.aliases)
    assert "0.38 KiB" in html and "in <code>kmalloc-64</code>" in html


def test_plots_draw_what_they_are_given():
    fig, (a, b) = plt.subplots(1, 2)
    plot_per_state(a, {"ESTABLISHED": {"3.10": 3300, "6.12": 3900}, "TIME_WAIT": {"3.10": 384, "6.12": 512}})
    plot_memory_curves(b, [0, 10], {"3.10": [0, 2 ** 30]}, budget_bytes=3 * 2 ** 30, budget_label="¾ of 4 GiB")
    assert len(a.patches) == 4 and len(b.lines) == 2
    assert [t.get_text() for t in b.get_legend().get_texts()] == ["3.10", "3 GiB (¾ of 4 GiB)"]
    plt.close(fig)


def test_a_slab_step_says_its_changes_in_words():
    trace = connection_trace(LINUX_6_12, "client", "ESTABLISHED")
    i = next(e.seq for e in trace.filter("kmem_cache_alloc") if "tcp_bind2_bucket" in e.text)
    words = [where for where, _, _ in changes(trace, i)]
    assert "cache this step used" in words and "objects held" in words
    assert ("objects held", "5", "6: + tcp_bind2_bucket") in changes(trace, i)     # a long list: what came
