import pickle
from dataclasses import dataclass
from typing import Mapping

import pytest
from hypothesis import given, strategies as st

from netlab.trace import Event, Trace, Tracer, kernel_function, on_cpu, trace_printk


@kernel_function("net/core/dev.c", "outer with {n}")
def outer(n):
    trace_printk(f"calling inner {n} times")
    for i in range(n):
        inner(i)
    return n


@kernel_function("net/core/dev.c")
def inner(i):
    """Inner step with a ``literal``."""
    return i


def record(fn, *args, **kw):
    clock = iter(range(0, 10**9, 100))
    state = {"calls": 0}

    def snapshot():
        state["calls"] += 1
        return {"n": state["calls"]}

    with Tracer(clock=lambda: next(clock), snapshot=snapshot) as t:
        fn(*args, **kw)
    return t.trace


def test_nested_calls_record_depth_text_and_order():
    trace = record(outer, 2)
    assert [(e.function, e.depth, e.kind) for e in trace] == [
        ("outer", 0, "call"), ("outer", 1, "printk"), ("inner", 1, "call"), ("inner", 1, "call")]
    assert trace[0].text == "outer with 2" and trace[2].text == "inner step with a literal"   # a docstring as a step
    assert [e.seq for e in trace] == [0, 1, 2, 3]
    assert [e.time_ns for e in trace] == [0, 100, 200, 300]


def test_without_a_tracer_models_just_run():
    assert outer(3) == 3


def test_cpu_and_context_come_from_on_cpu():
    def scenario():
        with on_cpu(1, "softirq"):
            inner(1)
        inner(2)
    trace = record(scenario)
    assert [(e.cpu, e.context) for e in trace] == [(1, "softirq"), (0, "process")]
    assert len(trace.filter(context="softirq")) == 1 and len(trace.filter(cpu=0)) == 1


def test_function_graph_nests_like_ftrace():
    text = record(outer, 1).function_graph()
    lines = [line.split("|  ", 1)[1] for line in text.splitlines()]
    assert lines == ["outer() {", "  /* calling inner 1 times */", "  inner();", "}"]


@kernel_function("net/core/dev.c")
def tap(i):
    """A call that returns before its caller goes on."""
    inner(i)


@kernel_function("net/core/dev.c")
def protocol(i):
    """A sibling of tap whose callee sits deeper than tap."""
    outer(i)


@kernel_function("net/core/dev.c")
def receive(i):
    """Calls tap, then protocol."""
    tap(i)
    protocol(i)


def test_a_filtered_graph_closes_a_kept_call_where_it_really_ended():
    # receive { tap { inner } protocol { outer { inner } } }: keeping tap and outer must not put outer in tap
    trace = record(receive, 1)
    lines = [line.split("|  ", 1)[1].strip() for line in trace.filter(["tap", "outer"]).function_graph().splitlines()]
    assert lines == ["tap();", "outer() {", "/* calling inner 1 times */", "}"]
    kept = trace.filter(["tap", "inner", "outer"]).filter(["tap", "outer"])    # filtering twice keeps the gaps
    assert kept.function_graph() == trace.filter(["tap", "outer"]).function_graph()
    lines = [line.split("|  ", 1)[1].strip() for line in trace.filter(["tap", "inner"]).function_graph().splitlines()]
    assert lines == ["tap() {", "inner();", "}", "inner();"]


def test_state_is_taken_after_each_step_and_diffed():
    trace = record(outer, 1)
    assert [e.state["n"] for e in trace] == [1, 2, 3]
    assert trace.diff(1) == {"n": (1, 2)}


@dataclass(frozen=True)
class Queue:
    items: tuple[str, ...]
    drops: int


@dataclass(frozen=True)
class World:
    cpus: tuple[Queue, ...]
    sockets: Mapping[str, Queue]


def test_a_typed_snapshot_is_diffed_field_by_field_and_pickles():
    worlds = iter([World((Queue((), 0), Queue((), 0)), {}),
                   World((Queue((), 0), Queue(("p0",), 1)), {"server": Queue(("p1",), 0)})])
    with Tracer(snapshot=lambda: next(worlds)) as t:
        inner(1)
        inner(2)
    trace = t.trace
    assert trace.diff(1) == {"cpus[1].items": ((), ("p0",)), "cpus[1].drops": (0, 1),   # a new object: one change
                             "sockets[server]": (None, Queue(("p1",), 0))}
    assert list(trace.diff(0)) == ["cpus[0]", "cpus[1]"]
    copy = pickle.loads(pickle.dumps(trace[1]))
    assert copy == trace[1] and copy.state == trace[1].state


def test_compare_and_functions():
    a, b = record(outer, 1), record(inner, 5)
    c = a.compare(b)
    assert c.only_first == ["outer"] and c.only_second == [] and c.both == ["inner"]
    assert a.functions() == ["outer", "inner"] and a.sources() == {"outer": "net/core/dev.c",
                                                                    "inner": "net/core/dev.c"}


def test_a_recording_is_deterministic():
    assert list(record(outer, 3)) == list(record(outer, 3))


@given(st.lists(st.integers(min_value=0, max_value=4), max_size=6))
def test_function_graph_braces_balance(ns):
    def scenario():
        for n in ns:
            outer(n)
    text = record(scenario).function_graph()
    assert text.count("{") == text.count("}")


def test_bad_input_is_refused_with_a_reason():
    with pytest.raises(ValueError, match="kernel source path"):
        kernel_function("/abs/path.c")
    with pytest.raises(ValueError, match="context must be one of"):
        with on_cpu(0, "irq"):
            pass
    with pytest.raises(ValueError, match="cpu must be"):
        with on_cpu(-1, "softirq"):
            pass
    with pytest.raises(TypeError, match="Event"):
        Trace([1, 2])
    with pytest.raises(ValueError, match="index must be"):
        record(outer, 1).diff(99)
    with pytest.raises(ValueError, match="already modelled"):
        @kernel_function("net/core/sock.c")
        def inner(i):  # noqa: F811  (same kernel name, another model)
            return i


def test_max_events_bounds_a_recording():
    with pytest.raises(RuntimeError, match="max_events"):
        with Tracer(max_events=3):
            outer(5)
