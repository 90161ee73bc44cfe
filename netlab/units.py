"""Numbers and values as a person reads them, in one place: thousands separators, a unit that fits, a few
significant digits, never ``4.00349e+06`` or ``1086000.000 µs``, never a Python repr.

    duration(2_800)          -> '2.8 µs'         number(4003490.0)   -> '4,003,490'
    duration(1_086_000_000)  -> '1.086 s'        number(0.000123)    -> '0.000123'
    size(212_992)            -> '208 KiB'        number(2 / 3)       -> '0.667'
    plural(1, "packet")      -> '1 packet'       plural(2, "switch") -> '2 switches'
    percent(0.44)            -> '44.0 %'
"""
from __future__ import annotations

import dataclasses
import math
import numbers
from typing import Annotated, Any, Mapping

from netlab import check
from netlab.check import Range

Real = Annotated[float, Range(None, None)]
"""Any finite number, negative too."""


@check.arguments
def number(x: Real, digits: Annotated[int, Range(1, 15)] = 3) -> str:
    """``x`` with thousands separators; a fraction to ``digits`` significant digits, trailing zeros dropped."""
    if x == int(x) and (isinstance(x, int) or abs(x) >= 1):
        return f"{round(x):,}"
    if x == 0:
        return "0"
    decimals = max(0, digits - 1 - math.floor(math.log10(abs(x))))
    text = f"{x:,.{decimals}f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


@check.arguments
def plural(n: Real, word: str, many: str | None = None) -> str:
    """``n`` and ``word``, in the plural unless ``n`` is 1: ``1 packet``, ``2 packets``, ``3 switches``,
    ``20,000 hard IRQs``; ``many`` for an irregular plural (``plural(2, "entry", "entries")``)."""
    if n == 1:
        return f"{number(n)} {word}"
    if many is None:
        many = word + ("es" if word.endswith(("s", "sh", "ch", "x")) else "s")
    return f"{number(n)} {many}"


@check.arguments
def percent(share: Real) -> str:
    """A share as a percentage with one decimal, so that neighbours line up: ``0.451`` → ``45.1 %``, ``0.44`` →
    ``44.0 %``."""
    return f"{100 * share:,.1f} %"


@check.arguments
def duration(ns: Real) -> str:
    """A time in ns in the unit that fits: ns, µs, ms or s, to a nanosecond below a millisecond and to a
    microsecond above."""
    size = abs(ns)
    for unit, scale in (("s", 1e9), ("ms", 1e6), ("µs", 1e3)):
        if size >= scale:
            return f"{number(round(ns / scale, 3), 15)} {unit}"
    return f"{number(round(ns, 1), 15)} ns"


@check.arguments
def size(nbytes: float) -> str:
    """Bytes in B, KiB, MiB or GiB, three significant digits (``212,992`` → ``208 KiB``)."""
    for unit, scale in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if nbytes >= scale:
            return f"{number(nbytes / scale)} {unit}"
    return f"{number(nbytes)} B"


def plain(value: Any) -> str:
    """Any value as a learner reads it: a number with separators, ``p0, p1`` for a queue, ``empty``, ``-`` for
    nothing, a dataclass as ``field value · …``, a mapping as ``key value, …``, a value with its own ``__str__`` in
    its own words; never a Python repr."""
    if value is None:
        return "-"
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, numbers.Integral):
        return number(int(value))
    if isinstance(value, numbers.Real):
        return number(float(value)) if math.isfinite(value) else str(value)
    if type(value).__str__ is not object.__str__:      # a type that words itself (a SegmentLog, …)
        return str(value)
    if isinstance(value, (list, tuple, set, frozenset)):
        return ", ".join(v if isinstance(v, str) else plain(v) for v in value) or "empty"
    if dataclasses.is_dataclass(value):
        return " · ".join(f"{f.name} {plain(getattr(value, f.name))}" for f in dataclasses.fields(value))
    if isinstance(value, Mapping):
        return ", ".join(f"{k} {plain(v)}" for k, v in value.items()) or "empty"
    return str(value)
