"""Traces: what the kernel models did, step by step.

Models mark each modelled kernel function with :func:`kernel_function`, naming the kernel source file it stands
for. While a :class:`Tracer` records, every call of such a function appends an :class:`Event` (call depth, CPU,
execution context, host, simulated time, a plain-English line and a snapshot of the scenario's state: a frozen
dataclass the views read by attribute), so nested calls nest like ftrace's ``function_graph`` tracer. Outside a
recording the decorator only checks the arguments against the function's annotations (:mod:`netlab.check`), when
the call is not from checked code.

Views only ever see a :class:`Trace`; they never call a model.
"""
from __future__ import annotations

import dataclasses
import functools
import inspect
import re
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Iterator, Mapping, Sequence

from netlab import check
from netlab.units import number, plural

CONTEXTS = ("process", "hardirq", "softirq", "ksoftirqd")
"""Where kernel code runs: a task's syscall, a hard interrupt, a softirq at IRQ exit, or the ksoftirqd thread."""

KINDS = ("call", "printk")
"""An event is a function call, or a ``trace_printk`` line inside the current function."""

#: Every modelled kernel function by name (its ``kernel_source`` is the file, relative to the tree's top).
KERNEL_FUNCTIONS: dict[str, Callable] = {}

_active: "Tracer | None" = None

_OUTSIDE = ("(user space)", "-", -1)
"""The frame below every call: no kernel function (a ``trace_printk`` there is user space's), depth -1."""


@dataclass(frozen=True)
class Event:
    """One step: a modelled kernel function was called (or printed a line)."""

    seq: int
    time_ns: int
    cpu: int
    context: str
    function: str
    source: str
    depth: int
    text: str
    kind: str = "call"
    task: str = ""  # the task whose code this is ("" in interrupt context or without a scheduler model)
    host: str = ""  # the host whose CPU runs it ("" in a one-host scenario)
    state: Any = field(default=None, compare=False)  # the scenario's snapshot after this step

    @property
    def where(self) -> str:
        """``file:function``, the way a learner greps the kernel tree."""
        return f"{self.source}:{self.function}"


def _as_step_text(line: str) -> str:
    """A docstring's first line as a step's text: no ``literal`` marks, no closing full stop, a lower-case start
    (unless the first word is a name like NAPI)."""
    line = re.sub(r"``([^`]*)``", r"\1", line).rstrip(".")
    return line[0].lower() + line[1:] if line[:2].istitle() else line


@check.arguments
def kernel_function(source: str, explain: str | Callable[..., str] | None = None):
    """Mark a model function as the kernel function of the same name in ``source``.

    ``explain`` is the step's plain-English line: a format string over the call's arguments
    (``"queue {queue} raises IRQ"``), a callable taking the same arguments, or, by default, the first line of
    the docstring.
    """
    if not isinstance(source, str) or not source or source.startswith("/") or "." not in source.rsplit("/", 1)[-1]:
        raise ValueError(f"source must be a kernel source path like 'net/core/dev.c', got {source!r}")
    if explain is not None and not (isinstance(explain, str) or callable(explain)):
        raise TypeError("explain must be a format string, a callable, or None")

    def decorate(fn: Callable) -> Callable:
        name = fn.__name__
        signature = inspect.signature(fn)
        default_text = _as_step_text((inspect.getdoc(fn) or name).strip().splitlines()[0])

        check_arguments = check.argument_checker(fn)
        body = check.arguments(fn)

        def describe(args, kwargs, text=explain) -> str:
            if text is None:
                return default_text
            if callable(text):
                return text(*args, **kwargs)
            bound = signature.bind(*args, **kwargs)
            bound.apply_defaults()
            return text.format(**bound.arguments)

        if inspect.isgeneratorfunction(fn):
            # A function that may sleep is a generator: it yields to the scheduler model and is resumed later,
            # so its frame is popped from the call stack it was pushed on (the task's own), not the current one.
            # Its arguments are checked when it is created; its body runs later, resumed by the scheduler.
            @functools.wraps(fn)
            def wrapper(*args, **kwargs):
                tracer = _active
                if tracer is None:
                    return (yield from body(*args, **kwargs))
                if check.outermost():
                    check_arguments(args, kwargs)       # before describe() formats them
                tracer._enter(name, source, lambda *text: describe(args, kwargs, *text))
                frames = tracer._stack
                try:
                    return (yield from body(*args, **kwargs))
                finally:
                    if frames:
                        frames.pop()
        else:
            @functools.wraps(fn)
            def wrapper(*args, **kwargs):
                tracer = _active
                if tracer is None:
                    return body(*args, **kwargs)
                if check.outermost():
                    check_arguments(args, kwargs)       # before describe() formats them
                tracer._enter(name, source, lambda *text: describe(args, kwargs, *text))
                try:
                    return body(*args, **kwargs)
                finally:
                    tracer._stack.pop()

        wrapper.kernel_source = source
        known = KERNEL_FUNCTIONS.get(name)
        if known is not None and (known.__module__, known.__qualname__) != (fn.__module__, fn.__qualname__):
            raise ValueError(f"{name} is already modelled in {known.__module__}: model a kernel function once")
        KERNEL_FUNCTIONS[name] = wrapper
        return wrapper

    return decorate


def recording() -> bool:
    """Is a Tracer recording now? (Engines skip per-step bookkeeping when not.)"""
    return _active is not None


@check.arguments
def trace_printk(text: str) -> None:
    """Add a line inside the current kernel function, like the kernel's ``trace_printk``."""
    tracer = _active
    if tracer is not None:
        tracer._printk(text)


@contextmanager
@check.arguments
def on_cpu(cpu: int, context: str, host: str = "") -> Iterator[None]:
    """Run the enclosed model code on ``cpu`` (of ``host``, when several share the engine) in ``context``
    (restored afterwards)."""
    check.choice("context", context, CONTEXTS)
    tracer = _active
    if tracer is None:
        yield
        return
    saved = tracer.cpu, tracer.context, tracer.host
    tracer.cpu, tracer.context, tracer.host = cpu, context, host
    try:
        yield
    finally:
        tracer.cpu, tracer.context, tracer.host = saved


@contextmanager
@check.arguments
def call_stack(frames: list, task: str = "") -> Iterator[None]:
    """Run the enclosed model code on the call stack ``frames`` of ``task`` (both restored afterwards).

    Each task keeps its own kernel stack while it sleeps, and an interrupt starts on an empty one; the scheduler
    model installs the right one before it runs a task or an interrupt, so call depths nest per task as in
    ftrace's function_graph. ``frames`` is a list owned by the caller (e.g. ``Task.frames``); ``task`` names the
    task in the events (empty for an interrupt).
    """
    tracer = _active
    if tracer is None:
        yield
        return
    saved = tracer._stack, tracer.task
    tracer._stack, tracer.task = frames, task
    try:
        yield
    finally:
        tracer._stack, tracer.task = saved


class Tracer:
    """Records the events of the kernel functions called while it is active.

    ``clock`` returns the simulated time in ns; ``snapshot`` returns the scenario's state: a frozen dataclass
    (its fields are plain values, tuples, mappings and more such dataclasses) or a mapping of them. Each
    event's ``state`` is the snapshot taken when the next event starts (or when recording stops): the state after
    the step did its own work.

    ``renamed`` (a kernel profile's :attr:`~netlab.kernel.profiles.KernelProfile.renamed`) gives the modelled
    kernel's own name and file for a function the models name as 6.12 does, and optionally that kernel's own
    step text (an ``explain`` like :func:`kernel_function`'s, over the model's arguments): each call is recorded
    under that name, with that text; a call mapped to ``None`` (a function that kernel does not have) is no step
    at all: the calls it makes are recorded one level up, as if its body were its caller's.

        with Tracer(clock=host.now, snapshot=host.snapshot) as tracer:
            ...  # call models
        trace = tracer.trace
    """

    @check.arguments
    def __init__(self, clock: Callable[[], int] | None = None,
                 snapshot: Callable[[], Any] | None = None, max_events: int = 100_000,
                 renamed: Mapping[str, tuple[str, str] | tuple[str, str, str | Callable[..., str]] | None]
                 | None = None):
        if clock is not None and not callable(clock):
            raise TypeError("clock must be a callable returning simulated ns")
        if snapshot is not None and not callable(snapshot):
            raise TypeError("snapshot must be a callable returning the scenario state")
        if not isinstance(max_events, int) or max_events < 1:
            raise ValueError("max_events must be a positive int")
        self.clock = clock or (lambda: 0)
        self.snapshot = snapshot
        self.max_events = max_events
        self.renamed = renamed or {}
        self.cpu = 0
        self.context = "process"
        self.task = ""
        self.host = ""
        self._stack: list[tuple[str, str, int]] = []  # (function, source, depth) of the calls now running
        self._pending: dict[str, Any] | None = None
        self._events: list[Event] = []
        self._outer: Tracer | None = None

    def __enter__(self) -> "Tracer":
        global _active
        self._outer, _active = _active, self
        return self

    def __exit__(self, *exc) -> None:
        global _active
        self._flush()
        _active = self._outer

    @property
    def trace(self) -> "Trace":
        self._flush()
        return Trace(self._events)

    def _flush(self) -> None:
        if self._pending is not None:
            if self.snapshot is not None:
                self._pending["state"] = self.snapshot()
            self._events.append(Event(**self._pending))
            self._pending = None

    def _record(self, function: str, source: str, text: str, kind: str, depth: int) -> None:
        self._flush()
        if len(self._events) >= self.max_events:
            raise RuntimeError(f"trace longer than max_events={self.max_events}; record a smaller scenario")
        self._pending = dict(seq=len(self._events), time_ns=int(self.clock()), cpu=self.cpu,
                             context=self.context, function=function, source=source, depth=depth,
                             text=text, kind=kind, task=self.task, host=self.host)

    def _enter(self, function: str, source: str, describe: Callable[..., str]) -> None:
        """Push a call; ``describe(explain)`` formats a step text over its arguments (``describe()``: the model's)."""
        caller = self._stack[-1] if self._stack else _OUTSIDE
        where = self.renamed.get(function, (function, source))
        if where is None:                       # not a function of this kernel: its body is its caller's
            self._stack.append(caller)
            return
        name, file, *own_text = where
        self._record(name, file, describe(*own_text), "call", caller[2] + 1)
        self._stack.append((name, file, caller[2] + 1))

    def _printk(self, text: str) -> None:
        function, source, depth = self._stack[-1] if self._stack else _OUTSIDE
        self._record(function, source, text, "printk", depth + 1)


class Trace(Sequence[Event]):
    """An ordered, immutable list of events with the ways a learner looks at them."""

    @check.arguments
    def __init__(self, events: Iterable[Event]):
        self._events = tuple(events)
        if not all(isinstance(e, Event) for e in self._events):
            raise TypeError("a Trace holds Event objects only")
        self._floors: tuple[int | None, ...] = (None,) * len(self._events)
        """For each event of a filtered trace, the lowest depth of its task's calls that the filter dropped just
        before it (None: none dropped): a kept call whose block that reaches has ended there."""

    @classmethod
    def _kept(cls, events: list[Event], floors: list[int | None]) -> "Trace":
        trace = cls(events)
        trace._floors = tuple(floors)
        return trace

    def __len__(self) -> int:
        return len(self._events)

    def __getitem__(self, index):
        if isinstance(index, slice):
            return Trace._kept(list(self._events[index]), list(self._floors[index]))
        return self._events[index]

    def __repr__(self) -> str:
        return f"Trace({len(self)} events, {len(self.functions())} kernel functions)"

    @check.arguments
    def filter(self, function: str | Iterable[str] | None = None, context: str | None = None,
               cpu: int | None = None, kind: str | None = None) -> "Trace":
        """The events that match every given criterion."""
        if context is not None and context not in CONTEXTS:
            raise ValueError(f"context must be one of {CONTEXTS}, got {context!r}")
        if kind is not None and kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
        if cpu is not None and (not isinstance(cpu, int) or cpu < 0):
            raise ValueError(f"cpu must be an int >= 0, got {cpu!r}")
        names = {function} if isinstance(function, str) else None if function is None else set(function)
        kept: list[Event] = []
        floors: list[int | None] = []
        dropped: dict[str, int] = {}  # per task: the lowest depth dropped since its last kept event
        for e, floor in zip(self._events, self._floors):
            lowest = min((d for d in (floor, dropped.pop(e.task, None)) if d is not None), default=None)
            if ((names is None or e.function in names) and (context is None or e.context == context)
                    and (cpu is None or e.cpu == cpu) and (kind is None or e.kind == kind)):
                kept.append(e)
                floors.append(lowest)
            else:
                dropped[e.task] = e.depth if lowest is None else min(e.depth, lowest)
        return Trace._kept(kept, floors)

    @check.arguments
    def functions(self) -> list[str]:
        """The kernel functions called, in order of first call."""
        return list(dict.fromkeys(e.function for e in self._events if e.kind == "call"))

    @check.arguments
    def sources(self) -> dict[str, str]:
        """Function name -> kernel source file, for every function called."""
        return {e.function: e.source for e in self._events if e.kind == "call"}

    @check.arguments
    def diff(self, index: int) -> dict[str, tuple[Any, Any]]:
        """What the step at ``index`` changed: the path of each changed field (``cpus[0].softnet.poll_list``) ->
        (before, after), in the snapshot's field order."""
        if not isinstance(index, int) or not 0 <= index < len(self):
            raise ValueError(f"index must be an int in 0..{len(self) - 1}, got {index!r}")
        changes: dict[str, tuple[Any, Any]] = {}
        _changes("", self._events[index - 1].state if index else None, self._events[index].state, changes)
        return changes

    @check.arguments
    def function_graph(self, limit: int | None = None) -> str:
        """The trace as ftrace's function_graph tracer prints it: CPU, context, nested calls with braces."""
        if limit is not None and (not isinstance(limit, int) or limit < 1):
            raise ValueError("limit must be a positive int or None")
        events = self._events[:limit] if limit else self._events
        floors = self._floors
        lines: list[str] = []
        open_depths: list[int] = []
        blank = " " * 28 + "|  "  # the width of the "CPU) context time |" columns

        def close_to(depth: int) -> None:
            while open_depths and open_depths[-1] >= depth:
                lines.append(f"{blank}{'  ' * open_depths.pop()}}}")

        last_task: str = ""
        named: dict[tuple[str, int], str] = {}  # the last task seen on each CPU (of each host)
        for i, e in enumerate(events):
            if e.task != last_task:  # a context switch or an interrupt: another stack
                close_to(0)
                if e.task and named.get((e.host, e.cpu), e.task) != e.task:
                    lines += [f" {'-' * 42}", f"{e.cpu:>3}) {named[e.host, e.cpu]} => {e.task}", f" {'-' * 42}"]
                last_task = e.task
            if e.task:
                named[e.host, e.cpu] = e.task
            close_to(e.depth if floors[i] is None else min(e.depth, floors[i]))
            prefix = f"{e.cpu:>2}) {e.context:<9} {e.time_ns / 1000:>10.3f} us |  "
            indent = "  " * e.depth
            if e.kind == "printk":
                lines.append(f"{prefix}{indent}/* {e.text} */")
                continue
            following = events[i + 1] if i + 1 < len(events) else None
            ended = i + 1 < len(events) and floors[i + 1] is not None and floors[i + 1] <= e.depth
            if following is not None and following.depth > e.depth and following.task == e.task and not ended:
                lines.append(f"{prefix}{indent}{e.function}() {{")
                open_depths.append(e.depth)
            else:
                lines.append(f"{prefix}{indent}{e.function}();")
        close_to(0)
        return "\n".join(lines)

    @check.arguments
    def compare(self, other: "Trace", names: tuple[str, str] = ("the first", "the second")) -> "TraceComparison":
        """What two traces of the same story have in common and where they part (by kernel function); ``names``
        says what each trace is (``("6.12", "3.10")``) for the printed comparison."""
        mine, theirs = self.functions(), other.functions()
        return TraceComparison(only_first=[f for f in mine if f not in theirs],
                               only_second=[f for f in theirs if f not in mine],
                               both=[f for f in mine if f in theirs],
                               calls=(len(self.filter(kind="call")), len(other.filter(kind="call"))), names=names)


def _changes(path: str, before: Any, after: Any, out: dict[str, tuple[Any, Any]]) -> None:
    """Descend through snapshot dataclasses, mappings and tuples of dataclasses; record the leaves that differ."""
    if before == after:
        return
    node = after if after is not None else before
    if isinstance(node, (str, int, float, list)):        # a leaf: the common case, decided first
        out[path] = (before, after)
        return
    other = before if node is after else after
    if dataclasses.is_dataclass(node) and other is None and path:  # an object in the state appears or goes
        out[path] = (before, after)
    elif dataclasses.is_dataclass(node) and (other is None or type(other) is type(node)):
        for f in dataclasses.fields(node):
            _changes(f"{path}.{f.name}" if path else f.name, getattr(before, f.name, None),
                     getattr(after, f.name, None), out)
    elif isinstance(node, Mapping) and (other is None or isinstance(other, Mapping)):
        b, a = before or {}, after or {}
        for key in [*a, *(k for k in b if k not in a)]:
            _changes(f"{path}[{key}]" if path else str(key), b.get(key), a.get(key), out)
    elif (isinstance(node, tuple) and node and dataclasses.is_dataclass(node[0])
          and (other is None or isinstance(other, tuple))):
        b, a = before or (), after or ()
        for i in range(max(len(a), len(b))):
            _changes(f"{path}[{i}]", b[i] if i < len(b) else None, a[i] if i < len(a) else None, out)
    else:
        out[path] = (before, after)


@dataclass(frozen=True)
class TraceComparison:
    """The result of :meth:`Trace.compare`: kernel functions only in the first, only in the second, in both."""

    only_first: list[str]
    only_second: list[str]
    both: list[str]
    calls: tuple[int, int]
    names: tuple[str, str] = ("the first", "the second")

    def __str__(self) -> str:
        first, second = self.names
        width = max(map(len, self.names)) + 9
        return (f"calls: {number(self.calls[0])} in {first}, {number(self.calls[1])} in {second}\n"
                f"{f'only in {first}:':<{width}} {', '.join(self.only_first) or '-'}\n"
                f"{f'only in {second}:':<{width}} {', '.join(self.only_second) or '-'}\n"
                f"in both: {plural(len(self.both), 'function')}")
