"""Every public function, constructor and method of netlab refuses bad input (issue 11).

The API is found by walking the package: every public name a netlab module defines (functions, class
constructors, public methods), so a function added tomorrow is swept the day it is added. Each parameter's
annotation says what it takes; the sweep feeds it values of other kinds and expects a ``ValueError`` or
``TypeError`` that names the parameter:

- ``int`` (a count: whole, ≥ 0, at most a 64-bit kernel integer): NaN, ±inf, 2.5, "3", True, -1, 10**30;
- ``float`` (an amount: finite, ≥ 0): NaN, ±inf, "3", True, -1, and 1e30 (refused, or a sane answer);
- ``Annotated[int | float, Range(...)]`` (:mod:`netlab.check`): the same, with the stated range instead of ≥ 0;
- ``bool``: 1, "yes", NaN; ``str``: 3, NaN, True, b"x"; ``Literal[...]``: a value not listed;
- a netlab class (``KernelProfile``, ``SkBuff``, …): 3, "x", NaN, and for ``str | KernelProfile`` an unknown name;
- ``Counts`` / ``Amounts`` (a number or an array of them): the scalar values above, and an array holding one;
- a container, ``bytes`` or a callable: 3, NaN, True (its contents are the function's own business).

A refused value must be refused before any I/O (sockets, processes, files outside the Python installation are
guarded), within two seconds, without a numpy ``RuntimeWarning``. A huge value may instead give an answer, but then
one without negative or non-finite numbers in it. The edge values fail one test case per parameter; hypothesis
draws further bad values per kind and lists every function of that kind that accepted one. The other parameters
get valid examples: their defaults, values by name or by type, or the short EXAMPLES and FACTORIES tables.

Left out, each with its reason: the modules in EXCLUDED_MODULES, the constructors of records (:func:`is_record`),
parameters whose name starts with ``_``, and the parameters in UNANNOTATED and UNRESOLVED;
:func:`test_every_public_parameter_says_what_it_takes` keeps those lists from growing silently.
"""
from __future__ import annotations

import builtins
import collections.abc as abc
import dataclasses
import enum
import errno
import importlib
import inspect
import io
import math
import os
import pathlib
import pkgutil
import re
import signal
import socket
import subprocess
import sys
import types
import typing
import warnings
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import netlab
from netlab.check import Amounts, Counts, Range
from netlab.kernel.profiles import KernelProfile, profile

# --- what the sweep leaves out, and why ------------------------------------------------------------------------

EXCLUDED_MODULES = {
    "netlab.check": "the checks themselves: they take any value by design, and their other arguments are written "
                    "by netlab's own code",
    "netlab.live.sched_child": "the program a live experiment runs in a child process; its arguments are argv "
                               "strings the checked parent function built",
    "netlab.live.sendfile_child": "the program a live experiment runs in a child process; its arguments are argv "
                                  "strings the checked parent function built",
    "netlab.live.netns_child": "the program a live experiment runs in a child process, in a namespace of its own; "
                               "its argument is the JSON plan the checked parent function built",
}


def is_record(cls: type) -> bool:
    """A frozen dataclass without ``__post_init__`` is a record netlab fills in (a reading, an outcome, a trace
    event) from values it has already checked; a learner reads it and never builds one, so its constructor is
    not an entry point. Its methods are still swept. An Enum's "constructor" only looks a member up by value, and
    refuses any other value with the Enum's own ValueError."""
    return issubclass(cls, enum.Enum) or (dataclasses.is_dataclass(cls) and cls.__dataclass_params__.frozen
                                          and "__post_init__" not in vars(cls))


# --- discovering the public API --------------------------------------------------------------------------------

@dataclass(frozen=True)
class Entry:
    """One public callable: a module function, a class (its constructor) or a method of a class."""

    name: str
    function: Callable
    owner: type | None = None       # the class, for a method

    @property
    def module(self):
        return sys.modules[(self.owner or self.function).__module__]


def _modules():
    for info in pkgutil.walk_packages(netlab.__path__, "netlab."):
        if info.name not in EXCLUDED_MODULES:
            yield importlib.import_module(info.name)


def public_api() -> list[Entry]:
    entries = []
    for module in _modules():
        for name, obj in vars(module).items():
            if name.startswith("_") or getattr(obj, "__module__", None) != module.__name__:
                continue
            qualname = f"{module.__name__}.{name}"
            if inspect.isclass(obj):
                if not is_record(obj):
                    entries.append(Entry(qualname, obj))
                for member_name, member in vars(obj).items():
                    function = getattr(member, "__func__", member)
                    if not member_name.startswith("_") and inspect.isfunction(function):
                        entries.append(Entry(f"{qualname}.{member_name}", function, obj))
            elif inspect.isfunction(obj):
                entries.append(Entry(qualname, obj))
    return entries


UNANNOTATED = {
    ("netlab.scenarios.handshake.SegmentLog", "iterable"): "a tuple of the segments HandshakeLab logged, built by it "
                                                          "alone",
    ("netlab.view.memory.plot_memory_curves", "ax"): "a matplotlib Axes: netlab imports matplotlib only to draw",
    ("netlab.view.memory.plot_per_state", "ax"): "a matplotlib Axes",
    ("netlab.view.receive.plot_sweep", "ax"): "a matplotlib Axes",
    ("netlab.view.receive.plot_cpu_time", "ax"): "a matplotlib Axes",
    ("netlab.view.receive.plot_coalescing", "fig"): "a matplotlib Figure",
    ("netlab.view.live.plot_round_trips", "ax"): "a matplotlib Axes",
    ("netlab.view.epoll.plot_connections_sweep", "switches_ax"): "a matplotlib Axes",
    ("netlab.view.epoll.plot_connections_sweep", "memory_ax"): "a matplotlib Axes",
    ("netlab.view.receive.plot_cpu_time", "summary"): "a netlab.load.receive.Summary: views import no model",
    ("netlab.view.receive.softnet_text", "stat"): "a netlab.live.procfs.SoftnetStat: views import no probe",
    ("netlab.view.receive.coalescing_text", "c"): "a netlab.live.ethtool.Coalescing: views import no probe",
    ("netlab.view.live.file_send_text", "reading"): "a netlab.live.sendfile.FileSendReading: views import no probe",
}
"""Parameters without an annotation, so the sweep cannot tell what they take; each says why it has none."""

UNRESOLVED: dict[tuple[str, str], str] = {}
"""Parameters whose annotation cannot be resolved at run time, so the sweep cannot tell what they take."""


def _hints(entry: Entry) -> dict[str, Any]:
    target = entry.function
    if inspect.isclass(target) and not dataclasses.is_dataclass(target):
        target = target.__init__
    try:
        return typing.get_type_hints(target, include_extras=True)
    except NameError:
        namespace = vars(entry.module)
        hints = {}
        for parameter in _parameters(entry):
            if (entry.name, parameter.name) in UNRESOLVED:
                continue
            annotation = parameter.annotation
            hints[parameter.name] = eval(annotation, namespace) if isinstance(annotation, str) else annotation
        return hints


def _signature(entry: Entry) -> inspect.Signature:
    return inspect.signature(entry.function)


def _parameters(entry: Entry) -> list[inspect.Parameter]:
    return [p for p in _signature(entry).parameters.values()
            if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD) and not (entry.owner and p.name in ("self", "cls"))
            and not p.name.startswith("_")]


# --- what each annotation allows, and the bad values for it ----------------------------------------------------

@dataclass(frozen=True)
class Kind:
    """What a parameter takes, read from its annotation."""

    base: str                           # "int", "float", "bool", "str", "class", "literal", "counts", "amounts"
    optional: bool = False
    minimum: float | None = 0
    maximum: float | None = 2 ** 63 - 1
    classes: tuple = ()
    accepts_str: bool = False           # a ``str | SomeClass`` union: a name stands for an object
    options: tuple = ()


def kind_of(hint: Any) -> Kind | None:
    """The kind a parameter annotated ``hint`` takes, or None when its annotation says nothing to sweep."""
    if hint == Counts:
        return Kind("counts")
    if hint == Amounts:
        return Kind("amounts", maximum=None)
    optional = False
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        members = [m for m in typing.get_args(hint) if m is not type(None)]
        optional = len(members) < len(typing.get_args(hint))
        if len(members) > 1:
            classes = tuple(m for m in members if isinstance(m, type) and m.__module__.startswith("netlab."))
            if classes and all(m is str or m in classes for m in members):
                return Kind("class", optional, classes=classes, accepts_str=str in members)
            if set(members) == {int, float}:
                return Kind("float", optional, maximum=None)
            return None
        hint = members[0]
    if typing.get_origin(hint) is typing.Annotated:
        base, *metadata = typing.get_args(hint)
        ranges = [m for m in metadata if isinstance(m, Range)]
        names = {int: "int", float: "float", Counts: "counts", Amounts: "amounts"}
        if base in names and ranges:
            return Kind(names[base], optional, ranges[0].minimum, ranges[0].maximum)
        return None
    if typing.get_origin(hint) is typing.Literal:
        return Kind("literal", optional, options=typing.get_args(hint))
    if hint in (int, float, bool, str):
        return Kind(hint.__name__, optional, maximum=None if hint is float else 2 ** 63 - 1)
    if isinstance(hint, type) and hint.__module__.startswith("netlab."):
        return Kind("class", optional, classes=(hint,))
    container = typing.get_origin(hint) or hint
    if container in CONTAINERS:
        return Kind("container", optional, classes=(container,))
    return None


CONTAINERS = (list, tuple, dict, set, frozenset, bytes, abc.Sequence, abc.Mapping, abc.Iterable, abc.Callable)
"""Annotations the sweep checks for their kind only: a number in their place must be refused."""


HUGE = object()     # marks the values that may instead get a sane answer


def edge_values(kind: Kind) -> list:
    """The bad values every parameter of this kind must refuse (HUGE-marked ones may get a sane answer)."""
    not_none = [] if kind.optional else [None]
    if kind.base in ("int", "counts"):
        values = [math.nan, math.inf, -math.inf, 2.5, "3", True, b"1"] + not_none
        if kind.minimum is not None:
            values.append(int(kind.minimum) - 1)
        if kind.maximum is not None:
            values.append(int(kind.maximum) + 1)
        values.append((HUGE, 10 ** 30))
        if kind.base == "counts":     # 10**16 connections overflowed numpy's int64 into negative bytes (issue 11)
            values += [np.array([1, -1]), np.array([1.0, math.nan]), np.array([1.5]), ["1"], (HUGE, 10 ** 16),
                       (HUGE, np.array([1, 10 ** 16]))]
        return values
    if kind.base in ("float", "amounts"):
        values = [math.nan, math.inf, -math.inf, "3", True, b"1"] + not_none
        if kind.minimum is not None:
            values.append(kind.minimum - 1)
        if kind.maximum is not None:
            values.append(kind.maximum + 1)
        else:
            values.append((HUGE, 1e30))
        if kind.base == "amounts":
            values += [np.array([1.0, math.nan]), np.array([1.0, -1.0]), ["1"]]
        return values
    if kind.base == "bool":
        return [1, 0, "yes", math.nan] + not_none
    if kind.base == "str":
        return [3, math.nan, True, b"x"] + not_none
    if kind.base == "literal":
        return ["no such choice", 3, math.nan] + not_none
    if kind.base == "class":
        return [3, math.nan, True] + (["no such name"] if kind.accepts_str else ["x"]) + not_none
    if kind.base == "container":
        return [3, math.nan, True] + not_none
    raise AssertionError(kind)


def generated_values(kind: Kind) -> st.SearchStrategy:
    """Hypothesis strategy of further bad values for this kind."""
    text = st.text(max_size=5)
    floats = st.floats(allow_nan=True, allow_infinity=True)
    if kind.base in ("int", "counts"):
        below = st.integers(max_value=int(kind.minimum) - 1) if kind.minimum is not None else st.nothing()
        above = st.integers(min_value=int(kind.maximum) + 1) if kind.maximum is not None else st.nothing()
        fractions = floats.filter(lambda x: not (math.isfinite(x) and x == int(x)))
        return st.one_of(below, above, fractions, text, st.booleans())
    if kind.base in ("float", "amounts"):
        below = st.floats(max_value=kind.minimum, exclude_max=True) if kind.minimum is not None else st.nothing()
        above = st.floats(min_value=kind.maximum, exclude_min=True) if kind.maximum is not None else st.nothing()
        return st.one_of(below, above, st.sampled_from([math.nan, math.inf, -math.inf]), text, st.booleans())
    if kind.base == "bool":
        return st.one_of(st.integers(), text, floats)
    if kind.base == "str":
        return st.one_of(st.integers(), floats, st.booleans(), st.binary(max_size=3))
    if kind.base == "literal":
        return st.one_of(text.filter(lambda s: s not in kind.options), st.integers(), floats)
    if kind.base == "container":
        return st.one_of(st.integers(), floats, st.booleans())
    return st.one_of(st.integers(), floats, st.booleans(), text if kind.accepts_str else st.nothing())


# --- valid values for the other parameters ---------------------------------------------------------------------

def _trace():
    from netlab.scenarios.blocking_vs_epoll import blocking_recv
    return blocking_recv().trace


def _handshake_outcome():
    from netlab.scenarios.handshake import predict_accept_queue
    return predict_accept_queue(profile("6.12"), 2, 3)


def _host():
    from netlab.scenarios.send import SendHost
    return SendHost()


def _footprint():
    from netlab.scenarios.connection_memory import footprint
    return footprint(profile("6.12"))


def _file_operations():
    from netlab.kernel.fs import FileOperations
    return FileOperations("socket_file_ops")


def _ring():
    from netlab.kernel.nic import RingBuffer
    return RingBuffer(8)


def _handshake_trace():
    from netlab.scenarios.handshake import HandshakeLab
    lab = HandshakeLab(profile("6.12"), 2)
    lab.connect(3)
    lab.run(until_ms=5)
    return lab.trace


def _handshake_diagram():
    from netlab.view.handshake import HandshakeDiagram
    return HandshakeDiagram(_handshake_trace())


_AXES = []


def _axes():
    """One matplotlib Axes (Agg), made before any call is guarded (matplotlib reads its rc file once)."""
    if not _AXES:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        _AXES.append(plt.figure().add_subplot())
    return _AXES[0]


FACTORIES: dict[str, Callable[[], Any]] = {
    "HandshakeDiagram": _handshake_diagram,
    "KernelProfile": lambda: profile("6.12"),
    "FileOperations": _file_operations,
    "RingBuffer": _ring,
    "Trace": _trace,
    "Event": lambda: _trace()[0],
    "HandshakeOutcome": _handshake_outcome,
    "Experiment": lambda: importlib.import_module("netlab.scenarios.handshake_claims").syn_queue_experiment(),
    "Footprint": _footprint,
    "RowPattern": lambda: _footprint().rows["TCP"],
    "Proto": lambda: importlib.import_module("netlab.kernel.inet_connection_sock").tcp_prot,
}
"""Examples of classes whose constructor the generic builder cannot fill in."""

def _file_send_reading():
    from netlab.live.sendfile import GB, FileSendReading, SendRun
    runs = {m: SendRun(m, GB, 1.0, 0.1, 0.5, calls) for m, calls in (("read+send", 32768), ("sendfile", 16384))}
    return FileSendReading(runs, 1000, 1000, 2 * GB, 2.0)


_MODEL_COUNTS = {m: {"syscalls": calls, "copies": copies, "NET_RX": 100.0, "NET_TX": 100.0}
                 for m, calls, copies in (("read+send", 32768, 2.0), ("sendfile", 16384, 1.0))}

EXAMPLES: dict[tuple[str, str], Callable[[], Any]] = {
    ("netlab.live.sendfile.predict", "copies"): lambda: {"read+send": 2.0, "sendfile": 1.0},
    ("netlab.live.sendfile.predict", "syscalls_per_gb"): lambda: {"read+send": 32768.0, "sendfile": 16384.0},
    ("netlab.live.sendfile.compare", "reading"): _file_send_reading,
    ("netlab.live.sendfile.compare", "model"): lambda: _MODEL_COUNTS,
    ("netlab.view.handshake.HandshakeDiagram", "trace"): _handshake_trace,
    ("netlab.view.send.plot_live", "measured_s_per_gb"): lambda: {"read+send": 0.4, "sendfile": 0.2},
}
"""Valid values for parameters of one function that no generic example fits."""

NAMED: dict[str, Any] = {
    "side": "server", "state": "ESTABLISHED", "scenario": "push", "model": "epoll", "method": "sendfile",
    "first_closer": "client", "dev": "lo", "daddr": "127.0.0.1", "saddr": "10.0.0.1", "address": "127.0.0.1",
    "source": "net/core/dev.c", "comm": "app", "kind": "cpu", "context": "process", "parameter": "cpus",
    "version": "6.12", "byteorder": "little", "chain": "INPUT", "target": "DROP", "mode": "TASK_INTERRUPTIBLE",
    "profile": "6.12", "release": "6.12.0", "text": "", "what": "a reading", "how": "by a test",
}
"""Valid values for parameters whose name says more than their annotation (a str that is one of a few)."""


def _strip_optional(hint):
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        members = [m for m in typing.get_args(hint) if m is not type(None)]
        if len(members) < len(typing.get_args(hint)):
            return None, True
        return members[0], False
    return hint, False


def example(entry: Entry, parameter: inspect.Parameter, hint: Any, depth: int = 0) -> Any:
    """A valid value for a required parameter."""
    if (entry.name, parameter.name) in EXAMPLES:
        return EXAMPLES[entry.name, parameter.name]()
    if parameter.name == "ax":
        return _axes()
    if parameter.name in NAMED and (hint in (str, inspect.Parameter.empty) or kind_of(hint) is not None and (
            kind_of(hint).base == "str" or kind_of(hint).accepts_str)):
        return NAMED[parameter.name]
    if hint in (Counts, Amounts):
        return 1
    hint, optional = _strip_optional(hint)
    if optional:
        return None
    if typing.get_origin(hint) is typing.Annotated:
        base, *metadata = typing.get_args(hint)
        ranges = [m for m in metadata if isinstance(m, Range)]
        if not ranges or base not in (int, float):
            return example(entry, parameter, base, depth)
        low, high = ranges[0].minimum, ranges[0].maximum
        value = 1 if low is None else max(low, 1)
        return base(value if high is None else min(value, high))
    if typing.get_origin(hint) is typing.Literal:
        return typing.get_args(hint)[0]
    simple = {int: 1, float: 1.0, bool: False, str: "x", bytes: b""}
    if hint in simple:
        return simple[hint]
    origin = typing.get_origin(hint) or hint
    containers = {list: [], tuple: (), dict: {}, set: set(), frozenset: frozenset()}
    if origin in containers:
        return containers[origin]
    if origin in (abc.Sequence, abc.Iterable):
        return ()
    if origin is abc.Mapping:
        return {}
    if origin is abc.Callable:
        return lambda *args, **kwargs: None
    if origin in (abc.Generator, abc.Iterator):
        return (x for x in ())
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        return next(iter(hint))
    if isinstance(hint, type) and hint.__module__.startswith("netlab."):
        return instance_of(hint, depth + 1)
    if hint is np.ndarray:
        return np.array([1])
    if hint is pathlib.Path:
        return pathlib.Path("/nonexistent")
    if hint is OSError:
        return OSError(errno.EIO, "an example error")
    if hint is socket.socket:
        return _CLOSED_SOCKET
    return None


_CLOSED_SOCKET = socket.socket()
_CLOSED_SOCKET.close()      # a socket, made before the guards refuse new ones; any use of it fails with EBADF

_INSTANCES: dict[type, Any] = {}


def instance_of(cls: type, depth: int = 0) -> Any:
    """An example object of a netlab class: from FACTORIES, or built from examples of its required arguments.
    Built once: every call the sweep makes with it is refused before it could change the object."""
    if cls not in _INSTANCES:
        if cls.__name__ in FACTORIES:
            _INSTANCES[cls] = FACTORIES[cls.__name__]()
        elif depth > 4:
            raise AssertionError(f"no example {cls.__name__}: add one to FACTORIES")
        else:
            _INSTANCES[cls] = cls(**baseline(Entry(f"{cls.__module__}.{cls.__name__}", cls), depth))
    return _INSTANCES[cls]


def baseline(entry: Entry, depth: int = 0) -> dict[str, Any]:
    """Keyword arguments for a call of ``entry``: an example for every required parameter."""
    hints = _hints(entry)
    return {p.name: example(entry, p, hints.get(p.name, p.annotation), depth) for p in _parameters(entry)
            if p.default is p.empty}


# --- the guards around each call -------------------------------------------------------------------------------

class ReachedIO(Exception):
    """A call with a bad argument got as far as I/O."""


LIBRARY = tuple({sys.prefix, sys.base_prefix})
"""Files a library reads for itself (matplotlib's fonts) are not the learner's machine."""


@contextmanager
def guarded(seconds: float = 2.0):
    """No I/O (sockets, processes, files outside the Python installation), no numpy RuntimeWarning, at most
    ``seconds``."""
    def guard(attr, original):
        def refuse(*args, **kwargs):
            path = args[0] if args else None
            if attr in ("open", "listdir", "scandir") and isinstance(path, (str, os.PathLike)) and \
                    os.path.abspath(path).startswith(LIBRARY) and "w" not in str(args[1:2]):
                return original(*args, **kwargs)
            raise ReachedIO(f"I/O attempted: {args[:2]!r}")
        return refuse

    def too_long(signum, frame):
        raise TimeoutError(f"still running after {seconds} s")

    patches = [(socket, "socket"), (socket, "socketpair"), (subprocess, "Popen"), (os, "fork"), (os, "open"),
               (builtins, "open"), (io, "open"), (os, "listdir"), (os, "scandir")]
    saved = [(obj, attr, getattr(obj, attr)) for obj, attr in patches]
    previous = signal.signal(signal.SIGALRM, too_long)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        for obj, attr, original in saved:
            setattr(obj, attr, guard(attr, original))
        with warnings.catch_warnings():
            warnings.simplefilter("error", RuntimeWarning)
            yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        for obj, attr, value in saved:
            setattr(obj, attr, value)


def _insane(result: Any, depth: int = 0) -> str | None:
    """A negative or non-finite number in an answer (a wrapped int64, a NaN that leaked through), or None."""
    if depth > 3:
        return None
    if isinstance(result, np.ndarray) and result.dtype.kind in "iuf":
        if result.size and (not np.isfinite(result).all() or (result < 0).any()):
            return f"an array with {result.min()!r}"
        return None
    if isinstance(result, (int, float, np.number)) and not isinstance(result, bool):
        return f"{result!r}" if not math.isfinite(result) or result < 0 else None
    if dataclasses.is_dataclass(result) and not isinstance(result, type):
        parts = [getattr(result, f.name) for f in dataclasses.fields(result)]
    elif isinstance(result, dict):
        parts = list(result.values())
    elif isinstance(result, (list, tuple)):
        parts = list(result)[:50]
    else:
        return None
    for part in parts:
        found = _insane(part, depth + 1)
        if found:
            return found
    return None


def call_with(entry: Entry, parameter: str, bad: Any) -> str | None:
    """Call ``entry`` with ``parameter=bad`` and valid examples for the rest: None when the bad value was refused
    as it should be, else what went wrong."""
    huge = isinstance(bad, tuple) and len(bad) == 2 and bad[0] is HUGE
    value = bad[1] if huge else bad
    try:
        arguments = baseline(entry)
        target = entry.function
        if entry.owner is not None:
            static = isinstance(inspect.getattr_static(entry.owner, entry.function.__name__),
                                (staticmethod, classmethod))
            target = getattr(entry.owner if static else instance_of(entry.owner), entry.function.__name__)
    except Exception as error:    # the examples themselves failed: say so, it is a gap in this test
        return f"could not build valid arguments: {type(error).__name__}: {error}"
    arguments[parameter] = value
    try:
        with guarded():
            result = target(**arguments)
            if inspect.isgenerator(result):
                next(result, None)
    except (ValueError, TypeError) as error:
        if re.search(rf"(?<![\w.]){re.escape(parameter)}(?!\w)", str(error)):
            return None
        return f"refused {value!r} but the message does not name {parameter!r}: {type(error).__name__}: {error}"
    except (ReachedIO, TimeoutError) as error:
        return f"accepted {value!r}: {error}"
    except Exception as error:
        return f"{value!r} raised {type(error).__name__} instead of ValueError/TypeError: {error}"
    if huge:
        found = _insane(result)
        return f"accepted {value!r} and answered {found}" if found else None
    return f"accepted {value!r} and returned {type(result).__name__}"


# --- the sweep -------------------------------------------------------------------------------------------------

def swept_parameters() -> list[tuple[Entry, str, Kind]]:
    swept = []
    for entry in public_api():
        hints = _hints(entry)
        for parameter in _parameters(entry):
            kind = kind_of(hints.get(parameter.name, parameter.annotation))
            if kind is not None:
                swept.append((entry, parameter.name, kind))
    return swept


SWEPT = swept_parameters()
IDS = [f"{entry.name}({name})" for entry, name, _ in SWEPT]


@pytest.mark.parametrize("entry, parameter, kind", SWEPT, ids=IDS)
def test_every_parameter_refuses_the_edge_values_of_its_kind(entry, parameter, kind):
    failures = [f for bad in edge_values(kind) if (f := call_with(entry, parameter, bad))]
    assert not failures, f"{entry.name}({parameter}=…):\n  " + "\n  ".join(failures)


BY_KIND: dict[Kind, list[tuple[Entry, str]]] = {}
for _entry, _name, _kind in SWEPT:
    BY_KIND.setdefault(_kind, []).append((_entry, _name))


def _describe(kind: Kind) -> str:
    limits = f"{kind.minimum}..{kind.maximum}" if kind.base in ("int", "float", "counts", "amounts") else ""
    names = "|".join(c.__name__ for c in kind.classes) + ("|str" if kind.accepts_str else "")
    return f"{kind.base}{'?' if kind.optional else ''}{limits}{names}{kind.options or ''}"


@pytest.mark.parametrize("kind", list(BY_KIND), ids=[_describe(k) for k in BY_KIND])
@settings(max_examples=8, deadline=None, derandomize=True, database=None,
          suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_every_parameter_of_a_kind_refuses_generated_bad_values(kind, data):
    """Hypothesis draws further bad values of each kind; every parameter of that kind must refuse each one."""
    bad = data.draw(generated_values(kind), label="bad value")
    failures = [f"{entry.name}({name}=…): {f}" for entry, name in BY_KIND[kind]
                if (f := call_with(entry, name, bad))]
    assert not failures, "\n".join(failures)


def test_the_sweep_finds_the_api_by_walking_the_package():
    names = {entry.name for entry in public_api()}
    assert {"netlab.scenarios.capacity.plan", "netlab.scenarios.capacity.memory_for", "netlab.kernel.profiles.KernelProfile",
            "netlab.view.stepper.Stepper.go", "netlab.kernel.skbuff.skb_put"} <= names
    assert not any(name.startswith(tuple(EXCLUDED_MODULES)) for name in names)
    assert len(SWEPT) > 500


def test_every_public_parameter_says_what_it_takes():
    """An annotation is what the sweep (and ``check.arguments``) reads, so a parameter without one is unchecked."""
    missing = [f"{entry.name}({parameter.name})" for entry in public_api() for parameter in _parameters(entry)
               if parameter.annotation is parameter.empty and (entry.name, parameter.name) not in UNANNOTATED]
    assert not missing, "annotate these parameters (or list them in UNANNOTATED with a reason): " + ", ".join(missing)


@pytest.mark.parametrize("field", [f.name for f in dataclasses.fields(KernelProfile)])
def test_profile_replace_refuses_bad_values_for_every_field(field):
    hints = typing.get_type_hints(KernelProfile, include_extras=True)
    kind = kind_of(hints[field])
    if kind is None:
        pytest.skip(f"{field} is a {hints[field]}: see the test of tuples and mappings below")
    base = profile("6.12")
    for bad in edge_values(kind):
        value = bad[1] if isinstance(bad, tuple) and len(bad) == 2 and bad[0] is HUGE else bad
        with pytest.raises((ValueError, TypeError), match=rf"\b{field}\b"):
            base.replace(**{field: value})


@pytest.mark.parametrize("field, bad", [
    ("ip_local_port_range", (5, 1)), ("ip_local_port_range", (0, 100)), ("ip_local_port_range", (1000, 65536)),
    ("ip_local_port_range", (1000.0, 2000)), ("ip_local_port_range", (1000,)), ("ip_local_port_range", "1000 2000"),
    ("tcp_rmem", (4096, 131072)), ("tcp_rmem", (1, 2, 3)), ("tcp_wmem", (0, 16384, 4194304)),
    ("tcp_wmem", (4096, math.nan, 4194304)), ("slab", {"TCP": 2432}), ("live", frozenset({"no such field"})),
])
def test_profile_replace_refuses_bad_tuples_and_mappings(field, bad):
    with pytest.raises((ValueError, TypeError), match=rf"\b{field}\b"):
        profile("6.12").replace(**{field: bad})
