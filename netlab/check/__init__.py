"""Argument checks for every public function: a bad value is refused with a message that says what is allowed.
(``python -m netlab.check``, this package's ``__main__``, is the learner's command that checks the course's claims
against the running kernel; it is a package only so that the command has that name.)

Each check returns the value it accepted, so a function can write ``users = check.count("users", users, 1)``.
A value of the wrong kind (a str, a bool, a float where a whole number is meant) raises ``TypeError``; a value of
the right kind outside what is allowed (NaN, ±inf, a negative count, a number past the stated maximum) raises
``ValueError``. Messages say what is allowed: "users must be a whole number ≥ 1, got nan".

Most checks are read from annotations: :func:`arguments` (a decorator on every public function and method),
``kernel_function`` (every modelled kernel function) and :func:`fields` (every model struct's ``__post_init__``)
check each argument against its annotation. A plain ``int`` is a count (≥ 0, at most a 64-bit integer), a plain
``float`` a finite amount ≥ 0; ``Annotated[int, Range(…)]`` and the aliases below state other ranges.

Only the outermost checked call checks: what a checked function passes on to another was computed by netlab's own
code from values it accepted, and checking it again would only slow the models down (the receive step model by
a quarter).
"""
from __future__ import annotations

import collections.abc as abc
import dataclasses
import functools
import inspect
import math
import numbers
import sys
import threading
import types
import typing
from dataclasses import dataclass
from typing import Annotated, Any, Callable, Sequence, Union

import numpy as np

INT64_MAX = 2 ** 63 - 1
"""The largest count any model holds: a kernel ``s64`` and numpy's ``int64``."""


@dataclass(frozen=True)
class Range:
    """Annotation metadata: the values an ``int`` or ``float`` parameter allows, where that is not the default
    of a count or an amount (≥ 0): ``Annotated[int, Range(1, 65535)]``."""

    minimum: float | None
    maximum: float | None


CInt = Annotated[int, Range(-2 ** 31, 2 ** 31 - 1)]
"""A C ``int`` the kernel takes as it is, negative values included (``listen()``'s backlog)."""
U32 = Annotated[int, Range(0, 2 ** 32 - 1)]
"""A kernel ``u32`` (a netlink sequence number, a bit mask)."""
U64 = Annotated[int, Range(0, 2 ** 64 - 1)]
"""A kernel ``u64`` (a hash)."""
NR_CPUS = 8192
"""CONFIG_NR_CPUS of Debian's x86_64 kernel: the most CPUs a kernel (and so a model) has."""
Cpus = Annotated[int, Range(1, NR_CPUS)]
"""A number of CPUs."""
Port = Annotated[int, Range(0, 65535)]
"""A TCP or UDP port (a ``__be16``; 0 asks the kernel to pick one)."""
Timeout = Annotated[float, Range(0, 3600)]
"""How long a live experiment may take, in seconds: at most an hour."""
Coordinate = Annotated[float, Range(None, None)]
"""A position in a drawing: any finite number."""
Counts = Union[int, Sequence[int], np.ndarray]
"""A whole number ≥ 0 or an array of them (vectorised models)."""
Amounts = Union[float, Sequence[float], np.ndarray]
"""A finite number ≥ 0 or an array of them (vectorised models)."""


def _number(value: float) -> str:
    return f"{value:,}" if isinstance(value, int) else f"{value:,g}"


def _range(minimum, maximum, value: Any = None) -> str:
    """" from 1 to 65,535", " ≥ 0" …; the 64-bit ceiling of a count only when ``value`` is past it."""
    if maximum == INT64_MAX and not (isinstance(value, numbers.Real) and value > maximum):
        maximum = None
    if minimum is not None and maximum is not None:
        return f" from {_number(minimum)} to {_number(maximum)}"
    if minimum is not None:
        return f" ≥ {_number(minimum)}"
    if maximum is not None:
        return f" ≤ {_number(maximum)}"
    return ""


def _a(noun: str) -> str:
    return f"an {noun}" if noun[0] in "AEIOUaeiou" else f"a {noun}"


def _got(value: Any) -> str:
    return f"got {value!r}"


def count(name: str, value: Any, minimum: int | None = 0, maximum: int | None = INT64_MAX) -> int:
    """A whole number (an ``int`` or numpy integer, never a bool) in ``[minimum, maximum]``."""
    if type(value) is not int:          # the common case skips the slower checks below
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
            raise TypeError(f"{name} must be a whole number{_range(minimum, maximum)}, {_got(value)}")
        value = int(value)
    if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        raise ValueError(f"{name} must be a whole number{_range(minimum, maximum, value)}, {_got(value)}")
    return value


def real(name: str, value: Any, minimum: float | None = None, maximum: float | None = None, *,
         above: float | None = None) -> float:
    """A finite number (int or float, never a bool) in ``[minimum, maximum]``, and ``> above`` if given."""
    if type(value) not in (float, int) and (isinstance(value, (bool, np.bool_))
                                            or not isinstance(value, numbers.Real)):
        raise TypeError(f"{name} must be {_allowed_real(minimum, maximum, above)}, {_got(value)}")
    value = float(value)
    if (not math.isfinite(value) or (minimum is not None and value < minimum)
            or (maximum is not None and value > maximum) or (above is not None and value <= above)):
        raise ValueError(f"{name} must be {_allowed_real(minimum, maximum, above)}, {_got(value)}")
    return value


def _allowed_real(minimum, maximum, above) -> str:
    return f"a finite number{_range(minimum, maximum)}" + (f" above {_number(above)}" if above is not None else "")


def flag(name: str, value: Any) -> bool:
    """``True`` or ``False`` (not 0, 1 or a string)."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False, {_got(value)}")
    return bool(value)


def text(name: str, value: Any, *, empty: bool = True) -> str:
    """A ``str`` (non-empty unless ``empty``)."""
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a string, {_got(value)}")
    if not empty and not value:
        raise ValueError(f"{name} must be a non-empty string")
    return value


def choice(name: str, value: Any, options: Sequence) -> Any:
    """One of ``options``."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, typing.Hashable) or value not in options:
        raise ValueError(f"{name} must be one of {', '.join(repr(o) for o in options)}; {_got(value)}")
    return value


_KIND_NAMES = {bool: "True or False", int: "a whole number", float: "a number", str: "a string", bytes: "bytes",
               list: "a list", tuple: "a tuple", dict: "a dict", set: "a set", frozenset: "a frozenset",
               abc.Callable: "a callable", abc.Generator: "a generator (a function that yields)",
               abc.Iterator: "an iterator", abc.Iterable: "an iterable", abc.Sequence: "a sequence",
               abc.Mapping: "a mapping", np.ndarray: "a numpy array"}


def _is(kind: type | tuple[type, ...]) -> Callable[[str, Any], None]:
    """A check that ``value`` is a ``kind`` (isinstance first: this runs on every call of a model function)."""
    def check_value(name: str, value: Any) -> None:
        if not isinstance(value, kind):
            instance(name, value, kind)
    return check_value


def instance(name: str, value: Any, kind: type | tuple[type, ...]) -> Any:
    """An instance of ``kind``."""
    if not isinstance(value, kind):
        kinds = kind if isinstance(kind, tuple) else (kind,)
        names = " or ".join(_KIND_NAMES.get(k) or _a(k.__name__) for k in kinds if k is not type(None))
        raise TypeError(f"{name} must be {names}{' or None' if type(None) in kinds else ''}, {_got(value)}")
    return value


def counts(name: str, values: Any, minimum: int = 0, maximum: int = INT64_MAX) -> np.ndarray:
    """A whole number or an array of them, each in ``[minimum, maximum]``, as an int64 array. A float counts when
    it is whole (``1e8`` users); NaN, ±inf and 2.5 do not."""
    allowed = f"a whole number{_range(minimum, maximum)} or an array of them"
    array = np.asarray(values)
    if isinstance(values, (bool, np.bool_)) or array.dtype.kind not in "iufO":
        raise TypeError(f"{name} must be {allowed}, {_got(values)}")
    if array.dtype.kind == "f" and (not np.isfinite(array).all() or (array != np.floor(array)).any()):
        raise ValueError(f"{name} must be {allowed}, {_got(values)}")
    if array.dtype.kind in "fO":       # Python ints compare exactly, whatever their size
        whole = [v for v in array.flat if not isinstance(v, (bool, np.bool_)) and isinstance(v, numbers.Real)]
        if len(whole) < array.size or any(v != int(v) for v in whole):
            raise TypeError(f"{name} must be {allowed}, {_got(values)}")
        array = np.array([int(v) for v in whole], dtype=object).reshape(array.shape)
    if array.size and (array.min() < minimum or array.max() > maximum):
        raise ValueError(f"{name} must be a whole number{_range(minimum, maximum, array.max())} or an array of "
                         f"them, {_got(values)}")
    return array.astype(np.int64)


def reals(name: str, values: Any, minimum: float | None = None, maximum: float | None = None, *,
          above: float | None = None) -> np.ndarray:
    """A finite number or an array of them, each in ``[minimum, maximum]`` (and ``> above``), as a float64 array."""
    array = np.asarray(values)
    allowed = _allowed_real(minimum, maximum, above) + " or an array of them"
    if isinstance(values, (bool, np.bool_)) or array.dtype.kind not in "iuf":
        raise TypeError(f"{name} must be {allowed}, {_got(values)}")
    array = array.astype(np.float64)
    if array.size and (not np.isfinite(array).all() or (minimum is not None and array.min() < minimum)
                       or (maximum is not None and array.max() > maximum)
                       or (above is not None and array.min() <= above)):
        raise ValueError(f"{name} must be {allowed}, {_got(values)}")
    return array


def annotated(hint: Any) -> Callable[[str, Any], None] | None:
    """A check for values of type ``hint``, or None where the annotation says nothing checkable (``Any``, a
    callable). ``int`` is a count ≥ 0, ``float`` a finite amount ≥ 0, unless a :class:`Range` says otherwise;
    ``X | None`` allows None."""
    if hint is typing.Any or hint is object:
        return None
    if hint == Counts:
        return counts
    if hint == Amounts:
        return lambda name, value: reals(name, value, 0)
    if typing.get_origin(hint) is Annotated:
        base, *metadata = typing.get_args(hint)
        checks = {int: count, float: real, Counts: counts, Amounts: reals}
        for limits in metadata:
            if isinstance(limits, Range) and base in checks:
                check_number = checks[base]
                return lambda name, value: check_number(name, value, limits.minimum, limits.maximum)
        return annotated(base)
    if hint is bool:
        return flag
    if hint is int:
        return count
    if hint is float:
        return lambda name, value: real(name, value, 0)
    if hint is str:
        return _is(str)
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        members = typing.get_args(hint)
        optional = type(None) in members
        rest = [m for m in members if m is not type(None)]
        if len(rest) == 1:
            one = annotated(rest[0])
            if one is None:
                return None
            if not optional:
                return one

            def optional_check(name: str, value: Any) -> None:
                if value is not None:
                    one(name, value)
            return optional_check
        kinds = tuple(typing.get_origin(m) or m for m in rest)
        kinds += (np.ndarray,) if abc.Sequence in kinds else ()
        if not all(isinstance(k, type) for k in kinds):
            return None
        kinds += (type(None),) if optional else ()
        return _is(kinds)
    if origin is not None:
        hint = origin
    if hint is abc.Sequence:            # a numpy array is a sequence too, though it is not registered as one
        return _is((abc.Sequence, np.ndarray))
    if isinstance(hint, type) and not vars(hint).get("_is_protocol", False):
        return _is(hint)
    return None


def resolve(annotation: Any, namespace: dict) -> Any:
    """The type an annotation names (a string under ``from __future__ import annotations``), or None when it names
    something imported for type checking only."""
    if annotation is inspect.Parameter.empty:
        return None
    try:
        while isinstance(annotation, str):     # a quoted forward reference under the future import: "'Socket'"
            annotation = eval(annotation, namespace)
    except NameError:
        return None
    return annotation


_FIELD_CHECKS: dict[type, list[tuple[str, Callable[[str, Any], None]]]] = {}


_running = threading.local()
"""``_running.checked`` is True while a checked call runs in this thread (see the module text)."""


def outermost() -> bool:
    """Is no checked call running in this thread, so that the caller is the learner's (or a test's) code?"""
    return not getattr(_running, "checked", False)


def fields(obj: Any) -> None:
    """Check every public field of the dataclass ``obj`` against its annotation, unless netlab's own checked code
    is building it; call it first in ``__post_init__``."""
    if not outermost():
        return
    cls = type(obj)
    checks = _FIELD_CHECKS.get(cls)
    if checks is None:
        checks = []
        for field in dataclasses.fields(cls):
            owner = next(c for c in cls.__mro__ if field.name in vars(c).get("__annotations__", {}))
            hint = resolve(field.type, vars(sys.modules[owner.__module__]))
            check_value = annotated(hint) if field.init and not field.name.startswith("_") else None
            if check_value is not None:
                checks.append((field.name, check_value))
        _FIELD_CHECKS[cls] = checks
    for name, check_value in checks:
        check_value(name, getattr(obj, name))


def argument_checker(fn: Callable) -> Callable[[tuple, dict], None]:
    """A function that checks a call's ``(args, kwargs)`` against the annotations of ``fn`` (resolved at the first
    call, when the classes they name are defined). Defaults are not checked."""
    signature = inspect.signature(fn)
    checks: list[tuple[int, str, Callable[[str, Any], None]]] | None = None

    def check_call(args: tuple, kwargs: dict) -> None:
        nonlocal checks
        if checks is None:
            namespace = vars(sys.modules[fn.__module__])
            checks = []
            for position, parameter in enumerate(signature.parameters.values()):
                if parameter.kind not in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD):
                    check_value = annotated(resolve(parameter.annotation, namespace))
                    if check_value is not None:
                        checks.append((position, parameter.name, check_value))
        for position, name, check_value in checks:
            if position < len(args):
                check_value(name, args[position])
            elif name in kwargs:
                check_value(name, kwargs[name])

    return check_call


def arguments(fn: Callable) -> Callable:
    """Decorator: check every argument of ``fn`` against its annotation when it is the outermost checked call."""
    check_call = argument_checker(fn)

    @functools.wraps(fn)
    def checked(*args, **kwargs):
        if getattr(_running, "checked", False):
            return fn(*args, **kwargs)
        check_call(args, kwargs)
        _running.checked = True
        try:
            return fn(*args, **kwargs)
        finally:
            _running.checked = False

    return checked
