import pytest

from netlab.exercises import Exercise
from netlab.kernel.sched import TASK_INTERRUPTIBLE, Task, default_wake_function
from netlab.kernel.sock import Sock, Socket, sock_def_readable
from netlab.kernel.source_index import kernel_index
from netlab.kernel.wait import WaitQueueEntry, add_wait_queue
from netlab.live.kallsyms import ABSENT, FOUND
from netlab.live.result import LiveResult, Why
from netlab.trace import Tracer
from netlab.view import svg
from netlab.view.callgraph import MAX_ROWS, CallGraph
from netlab.view.overview import Overview
from netlab.view.stepper import Stepper
from netlab.view.text import MAX_CHANGES, changes, step_text
from netlab.kernel.nic import Packet
from netlab.scenarios.receive import Host


def wake_trace():
    task = Task("reader", state=TASK_INTERRUPTIBLE)
    sk = Sock(name="sk")
    sock = Socket(sk)
    with Tracer(snapshot=lambda: {"reader": task.state, "waiters": sock.wq.snapshot()}) as t:
        add_wait_queue(sock.wq, WaitQueueEntry(default_wake_function, task, name="reader"))
        sock_def_readable(sk)
    return t.trace


def test_stepper_steps_and_shows_the_current_function():
    trace = wake_trace()
    s = Stepper(trace, draw=lambda e: f"<svg>{e.state['reader']}</svg>", title="wake-up")
    assert "netlab-stepper" in s.widget._dom_classes  # what a notebook displays; it renders the current step
    assert s.index == 0 and "add_wait_queue" in s.explanation.value
    s.next(); s.next()
    assert s.event.function == "__wake_up_common" and "__wake_up_common" in s.explanation.value
    s.buttons["last"].click()
    assert s.index == len(trace) - 1 and "TASK_RUNNING" in s.drawing.value
    s.buttons["back"].click()
    assert s.index == len(trace) - 2
    s.buttons["first"].click()
    assert s.index == 0
    s.slider.value = 3                                      # the slider counts steps as the header does
    assert 'data-step="2"' in s.explanation.value and "step 3/" in s.explanation.value
    release = kernel_index("6.12")["release"]
    assert f"elixir.bootlin.com/linux/v{release}/source/kernel/sched/wait.c#L" in s.explanation.value


def test_building_a_stepper_reads_no_kallsyms_until_a_step_is_shown_then_reads_once(monkeypatch):
    reads = []

    def kallsyms(functions):
        reads.append(list(functions))
        return LiveResult("modelled functions in your kernel", "a fixture",
                          {f: ABSENT if f == "__wake_up_common" else FOUND for f in functions})

    monkeypatch.setattr("netlab.view.stepper.in_your_kernel", kallsyms)
    s = Stepper(wake_trace())
    assert reads == [] and s.explanation.value == ""
    s.widget
    assert "add_wait_queue" in s.explanation.value and "✓ in your kernel" in s.explanation.value
    s.next(); s.next()
    assert s.event.function == "__wake_up_common" and "not in your kallsyms" in s.explanation.value
    assert "(not in your kallsyms: inlined?)" in s.text() and len(reads) == 1


def test_a_stepper_says_when_kallsyms_cannot_be_read(monkeypatch):
    monkeypatch.setattr("netlab.view.stepper.in_your_kernel", lambda functions: LiveResult.unavailable(
        "modelled functions in your kernel", "names in /proc/kallsyms", Why.NO_ENTRY,
        "/proc/kallsyms does not exist"))
    s = Stepper(wake_trace())
    s.first()
    assert "kallsyms not readable" in s.explanation.value and "does not exist" in s.explanation.value
    assert "in your kernel" not in s.text()


def test_stepper_text_tells_the_same_step():
    s = Stepper(wake_trace(), check_kernel=False)
    s.last()
    text = s.text()
    assert text.startswith(f"step {len(s.trace)}/{len(s.trace)}") and "try_to_wake_up" in text
    assert "reader: TASK_INTERRUPTIBLE → TASK_RUNNING" in text
    assert s._repr_mimebundle_()["text/plain"] == text


def test_call_graph_lights_the_call_stack():
    trace = wake_trace()
    graph = CallGraph(trace)
    index = next(k for k, e in enumerate(trace) if e.function == "try_to_wake_up")
    assert graph.stack(index) == ("sock_def_readable", "__wake_up_common", "default_wake_function", "try_to_wake_up")
    picture = graph.svg(index)
    assert picture.count(svg.LIT) == 1 and picture.count("#fff3bf") == 3      # the current call, its 3 callers
    assert picture.count("<rect") == sum(e.kind == "call" for e in trace)     # a short trace is drawn whole
    with pytest.raises(ValueError, match="index must be"):
        graph.svg(len(trace))


def calls_trace(calls):
    """A trace of (function, depth, task) calls on CPU 0: softirq where there is no task."""
    from netlab.trace import Event, Trace
    return Trace(Event(seq=i, time_ns=i, cpu=0, context="process" if t else "softirq", function=f, source="x.c",
                       depth=d, text=f, task=t) for i, (f, d, t) in enumerate(calls))


def test_call_graph_draws_calls_not_names():
    # tcpdump's packet_rcv and TCP both run; only TCP's path calls sock_def_readable
    trace = calls_trace([("__netif_receive_skb", 0, ""), ("packet_rcv", 1, ""), ("skb_clone", 2, ""),
                         ("ip_rcv", 1, ""), ("tcp_v4_rcv", 2, ""), ("skb_clone", 3, ""),
                         ("sock_def_readable", 3, "")])
    graph = CallGraph(trace)
    (root,) = graph.roots
    packet, ip = root.children
    assert [c.function for c in packet.children] == ["skb_clone"]
    assert [c.function for c in ip.children[0].children] == ["skb_clone", "sock_def_readable"]
    assert "sock_def_readable" not in graph.svg(2) and "ip_rcv  ▸ 3 calls" in graph.svg(2)
    rows = graph._rows(graph.paths[6])
    assert [r.label for r in rows] == ["__netif_receive_skb", "packet_rcv  ▸ 1 call", "ip_rcv", "tcp_v4_rcv",
                                       "skb_clone", "sock_def_readable"]


def test_call_graph_folds_and_windows_a_long_trace():
    calls = [("net_rx_action", 0, ""), ("igb_poll", 1, "")]
    for _ in range(64):
        calls += [("napi_gro_receive", 2, ""), ("dev_gro_receive", 3, "")]
    calls += [("napi_complete_done", 2, ""), ("gro_normal_list", 3, "")]
    calls += [(f"syscall{i}", 0, "app") for i in range(40)]
    trace = calls_trace(calls)
    graph = CallGraph(trace)
    last_gro = max(i for i, e in enumerate(trace) if e.function == "napi_gro_receive")
    labels = [r.label for r in graph._rows(graph.paths[last_gro])]
    assert labels[:4] == ["net_rx_action", "igb_poll", "napi_gro_receive × 63  ▸ 63 calls", "napi_gro_receive"]
    assert len(labels) == 4 + 2 + 40
    picture = graph.svg(last_gro)
    assert picture.count("<rect") <= MAX_ROWS and "more rows" in picture and svg.LIT in picture
    heights = {graph.svg(i).split('height="')[1].split('"')[0] for i in range(len(trace))}
    assert len(heights) == 1                                  # the Stepper does not jump from step to step
    deep = graph.svg(len(trace) - 1)
    assert "syscall39" in deep and deep.index("more rows") < deep.index(">syscall39<")   # the start: a gap above


def test_stepper_refuses_bad_input():
    with pytest.raises(TypeError, match="Trace"):
        Stepper([1, 2])
    with pytest.raises(ValueError, match="version"):
        Stepper(wake_trace(), version="2.6")
    with pytest.raises(TypeError, match="check_kernel must be True or False"):
        Stepper(wake_trace(), check_kernel="yes")
    with pytest.raises(ValueError, match="step must be"):
        Stepper(wake_trace(), check_kernel=False).go(99)
    with pytest.raises(TypeError, match="label must be a callable"):
        Stepper(wake_trace(), label="chapter 02")
    with pytest.raises(TypeError, match="label\\(event\\) must return a str"):
        Stepper(wake_trace(), check_kernel=False, label=lambda e: 2).text()
    with pytest.raises(ValueError, match="step must be"):
        Stepper(wake_trace(), check_kernel=False, label=lambda e: "x").text(99)


def test_stepper_shows_a_scenario_label_in_its_header():
    s = Stepper(wake_trace(), check_kernel=False, label=lambda e: f"about {e.function}")
    assert s.text().splitlines()[0].endswith(f" t = 0 ns · about {s.event.function}")
    assert s.widget and f"0 ns · about {s.event.function}" in s.explanation.value
    assert " 0 ns\n" in Stepper(wake_trace(), check_kernel=False).text()


def test_a_step_says_what_changed_in_words():
    host = Host("6.12")
    host.tcp_socket(80, peer=("10.0.0.1", 40000))
    host.receive([Packet(1_086_000_000, saddr="10.0.0.1", daddr=host.address, sport=40000, dport=80, length=140,
                         name="p0")])
    trace = host.record()
    assert changes(trace, 0) == []                      # the starting state is the drawing, not a list
    i = next(k for k, e in enumerate(trace) if e.function == "____napi_schedule")
    assert changes(trace, i) == [("CPU 0 · softnet · poll_list", "empty", "eth0-rx0")]
    text = step_text(trace, i)
    assert "t = 1.086 s" in text and "1086000" not in text
    dma = next(k for k, e in enumerate(trace) if any("slots [0]" in w for w, _, _ in changes(trace, k)))
    assert changes(trace, dma) == [("queue 0 · rx_ring · slots [0]", "p0", "the driver's"),    # one slot, not 256
                                   ("queue 0 · rx_ring · next_to_clean", "0", "1")]
    assert all(len(changes(trace, k)) <= MAX_CHANGES for k in range(len(trace)))


def test_exercise_gives_a_hint_and_a_second_try_before_the_answer():
    ex = Exercise("How many?", answer=lambda: 5, hint="Count backlog+1.", why="Because backlog+1.", tolerance=0.1,
                  unit="connections")
    assert ex.check(5).correct and ex.check("5.4").correct
    first = ex.check(7)
    assert not first.correct and not first.answer_shown and "Hint: Count backlog+1." in first.message
    assert "5" not in first.message.replace("you said 7", "")               # the hint keeps the answer back
    second = ex.check(8)
    assert second.answer_shown and "the answer is 5 connections. Because backlog+1." in second.message
    big = Exercise("How many per second?", answer=lambda: 4003490.0, hint="h", why="", unit="packets")
    big.check(1)
    assert "the answer is 4,003,490 packets" in big.check(1).message
    choice = Exercise("What then?", answer=lambda: "It keeps growing", choices=["It stops", "It keeps growing"],
                      hint="h", why="")
    assert "Right: the answer is it keeps growing." in choice.check("It keeps growing").message   # mid-sentence
    named = Exercise("Which?", answer=lambda: "UDP RcvbufErrors", choices=["UDP RcvbufErrors", "none"], hint="h",
                     why="")
    assert "the answer is UDP RcvbufErrors" in named.check("UDP RcvbufErrors").message    # a name keeps its case
    ex = Exercise("How many?", answer=lambda: 5, hint="Count backlog+1.", why="Because backlog+1.")
    ex.widget  # built on first use
    ex.entry.value = "4"
    ex.button.click()
    assert "Hint" in ex.result.value and "#e67700" in ex.result.value
    ex.entry.value = "5"
    ex.button.click()
    assert "Right" in ex.result.value
    ex.entry.value = "five"
    ex.button.click()
    assert "type a number" in ex.result.value


def test_multiple_choice_and_bad_exercises():
    ex = Exercise("Which?", answer=lambda: "drop", hint="Where is it dropped?", why=lambda a: f"{a}.",
                  choices=["RST", "drop"])
    assert ex.check("drop").correct and not ex.check("RST").correct
    with pytest.raises(ValueError, match="choose one of"):
        ex.check("maybe")
    with pytest.raises(TypeError, match="callable"):
        Exercise("q", answer=5, hint="h", why="x")
    with pytest.raises(ValueError, match="hint must be"):
        Exercise("q", answer=lambda: 1, hint=" ", why="x")
    with pytest.raises(ValueError, match="not one of the choices"):
        Exercise("q", answer=lambda: "x", hint="h", why="", choices=["a", "b"]).check("a")


def test_call_graph_keeps_each_tasks_stack_across_a_sleep():
    calls = [("recv", 0, "reader"), ("schedule", 1, "reader"), ("ip_rcv", 0, ""), ("tcp_v4_rcv", 1, ""),
             ("skb_copy", 2, "reader")]  # the reader resumes inside recv -> schedule's caller chain
    graph = CallGraph(calls_trace(calls))
    assert graph.stack(4) == ("recv", "schedule", "skb_copy")
    assert [c.function for c in graph.roots[1].children] == ["tcp_v4_rcv"]
    assert not graph.roots[1].children[0].children


def test_a_few_steps_chosen_from_a_long_run_keep_their_own_numbers_and_callers():
    trace = calls_trace([("igb_poll", 1, ""), ("igb_alloc_rx_buffers", 3, ""), ("igb_alloc_rx_buffers", 3, ""),
                         ("napi_complete_done", 2, "")])      # landmarks: the callers between are not in it
    graph = CallGraph(trace)
    (poll,) = graph.roots
    assert [c.function for c in poll.children] == ["igb_alloc_rx_buffers"] * 2 + ["napi_complete_done"]
    assert graph.stack(3) == ("igb_poll", "napi_complete_done")
    s = Stepper(trace, check_kernel=False)
    s.last()
    assert s.text().startswith("step 4/4 ·") and "step 4/4 ·" in s.explanation.value


def test_the_menus_jump_to_where_the_trace_next_enters_a_layer_or_calls_a_function():
    host = Host("6.12")
    host.tcp_socket(80, peer=("10.0.0.1", 40000))
    host.receive([Packet(1000 + 500 * i, saddr="10.0.0.1", daddr=host.address, sport=40000, dport=80, length=140,
                         name=f"p{i}") for i in range(2)])
    s = Stepper(host.record(), check_kernel=False)
    layers = s.landmarks["layers"]
    assert list(layers)[:3] == ["system calls and sockets", "TCP", "IP"]      # top down, as LAYERS lists them
    assert len(layers["TCP"]) == 2 and len(s.landmarks["functions"]["tcp_v4_rcv"]) == 2    # one per packet
    s.menus["layer"].value = "TCP"
    assert s.event.function == "tcp_v4_rcv" and s.menus["layer"].index == 0     # its prompt again, never blank
    assert s.menus["layer"].label == "layer of the stack…"
    first = s.index
    s.go_to_layer("TCP")
    assert s.index > first and s.event.function == "tcp_v4_rcv"
    s.go_to_layer("TCP")
    assert s.index == first                                 # past the last one: back to the first
    s.menus["function"].value = "napi_complete_done"
    assert s.event.function == "napi_complete_done" and s.menus["function"].label == "function…"
    assert ("tcp_v4_rcv (2 calls)", "tcp_v4_rcv") in s.menus["function"].options
    with pytest.raises(ValueError, match="layer must be one of"):
        s.go_to_layer("HTTP")
    with pytest.raises(ValueError, match="function must be one of"):
        s.go_to_function("printf")


def test_the_overview_lights_the_layer_of_the_step_on_its_host():
    from netlab.scenarios.journey import journey
    trace = journey()
    overview = Overview(trace)
    assert overview.hosts == ["server", "client"]
    graph = CallGraph(trace)       # every step's call path fits its drawing, gap lines included
    assert max(len(graph._window(graph._rows(p), p[-1] if p else None)) for p in graph.paths) <= MAX_ROWS
    i = next(k for k, e in enumerate(trace) if e.function == "tcp_v4_rcv" and e.host == "server")
    picture = overview.svg(i)
    assert picture.count(svg.LIT) == 1 and "current: TCP on server" in picture
    lit = picture.index(svg.LIT)
    assert picture.index(">server<") < lit < picture.index(">client<")     # in the server's column
    assert "driver" in overview.touched["client"] and "epoll" not in overview.touched["client"]
    one_host = Overview(Stepper(wake_trace(), check_kernel=False).trace)
    assert one_host.hosts == [""] and one_host.size[0] < overview.size[0]
    shown = Stepper(trace, check_kernel=False)
    assert shown.widget and 'class="netlab-overview"' in shown.drawing.value and 'class="netlab-path"' in \
        shown.drawing.value


@pytest.mark.parametrize("profile", ["3.10", "6.12"])
def test_the_call_path_of_every_story_is_legible_at_every_step(profile):
    """Deep stacks fold (levels left out take no room, indentation narrows, long labels are cut) instead of
    shrinking: every step's call path is at most WIDTH wide, all its text 11 px, and the Stepper gives it a
    column that wide without scaling it."""
    import re

    from stories import STORIES

    from netlab.view.callgraph import WIDTH
    from netlab.view.stepper import RIGHT_MIN_PX
    assert RIGHT_MIN_PX >= WIDTH
    for story, (make, _) in STORIES.items():
        trace = make(profile)
        graph = CallGraph(trace)
        for i in range(len(trace)):
            picture = graph.svg(i)
            width = float(re.search(r'width="([\d.]+)"', picture).group(1))
            assert width <= WIDTH, f"{story} ({profile}) step {i + 1}: the call path is {width:.0f} px wide"
            assert set(re.findall(r'font-size="(\d+)"', picture)) == {"11"}, f"{story} step {i + 1}"
    shown = Stepper(trace, check_kernel=False)
    shown.last()
    assert '<div class="netlab-path" style="overflow-x:auto"><svg xmlns' in shown.drawing.value   # not scaled
