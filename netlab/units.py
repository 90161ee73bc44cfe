"""Numbers as a person reads them, in one place: thousands separators, a unit that fits, a few significant digits,
never ``4.00349e+06`` or ``1086000.000 µs``.

    duration(2_800)          -> '2.8 µs'         number(4003490.0)   -> '4,003,490'
    duration(1_086_000_000)  -> '1.086 s'        number(0.000123)    -> '0.000123'
    size(212_992)            -> '208 KiB'        number(2 / 3)       -> '0.667'
"""
from __future__ import annotations

import math
from typing import Annotated

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
