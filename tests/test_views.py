import pytest

from netlab.exercises import Exercise
from netlab.kernel.sched import TASK_INTERRUPTIBLE, Task, default_wake_function
from netlab.kernel.sock import Sock, Socket, sock_def_readable
from netlab.kernel.source_index import kernel_index
from netlab.kernel.wait import WaitQueueEntry, add_wait_queue
from netlab.live.kallsyms import ABSENT, FOUND
from netlab.live.result import LiveResult, Why
from netlab.trace import Tracer
from netlab.view.callgraph import CallGraph
from netlab.view.stepper import Stepper


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
    s.slider.value = 2
    assert 'data-step="2"' in s.explanation.value
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
    i = trace.functions().index("try_to_wake_up")
    index = next(k for k, e in enumerate(trace) if e.function == "try_to_wake_up")
    assert graph.stacks[index] == ("sock_def_readable", "__wake_up_common", "default_wake_function",
                                   "try_to_wake_up")
    assert graph.graph.has_edge("__wake_up_common", "default_wake_function") and i > 0
    assert graph.svg(index).count("<rect") == len(graph.positions) + 4


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
    assert s.text().splitlines()[0].endswith(f" µs · about {s.event.function}")
    assert f"µs · about {s.event.function}" in s.widget.children[1].value
    assert " µs\n" in Stepper(wake_trace(), check_kernel=False).text()


def test_exercise_checks_against_the_computed_answer():
    ex = Exercise("How many?", answer=lambda: 5, why="Because backlog+1.", tolerance=0.1, unit="connections")
    assert ex.check(5).correct and ex.check("5.4").correct and not ex.check(7).correct
    assert "the answer is 5 connections" in ex.check(7).message
    ex.widget  # built on first use
    ex.entry.value = "5"
    ex.button.click()
    assert "Right" in ex.result.value
    ex.entry.value = "five"
    ex.button.click()
    assert "type a number" in ex.result.value


def test_multiple_choice_and_bad_exercises():
    ex = Exercise("Which?", answer=lambda: "drop", why=lambda a: f"{a}.", choices=["RST", "drop"])
    assert ex.check("drop").correct and not ex.check("RST").correct
    with pytest.raises(ValueError, match="choose one of"):
        ex.check("maybe")
    with pytest.raises(TypeError, match="callable"):
        Exercise("q", answer=5, why="x")
    with pytest.raises(ValueError, match="not one of the choices"):
        Exercise("q", answer=lambda: "x", why="", choices=["a", "b"]).check("a")


def test_call_graph_keeps_each_tasks_stack_across_a_sleep():
    from netlab.trace import Event, Trace
    calls = [("recv", 0, "reader"), ("schedule", 1, "reader"), ("ip_rcv", 0, ""), ("tcp_v4_rcv", 1, ""),
             ("skb_copy", 2, "reader")]  # the reader resumes inside recv -> schedule's caller chain
    trace = Trace(Event(seq=i, time_ns=i, cpu=0, context="process" if t else "softirq", function=f, source="x.c",
                        depth=d, text=f, task=t) for i, (f, d, t) in enumerate(calls))
    graph = CallGraph(trace)
    assert graph.stacks[4] == ("recv", "schedule", "skb_copy")
    assert graph.graph.has_edge("schedule", "skb_copy") and not graph.graph.has_edge("tcp_v4_rcv", "skb_copy")
