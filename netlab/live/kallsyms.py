"""Which modelled kernel functions the learner's running kernel has, read from ``/proc/kallsyms``."""
from __future__ import annotations

from functools import lru_cache
from typing import Iterable

from netlab import check
from netlab.live.result import LiveResult, Why, probe, read_text

FOUND = "found"
ABSENT = "not in kallsyms"
"""Inlined, a static inline in a header, a macro, or not built into this kernel."""


@check.arguments
def kallsyms_names(text: str) -> set[str]:
    """Function names in kallsyms text, with compiler suffixes (``.constprop.0``, ``.isra.0``) removed."""
    names = set()
    for line in read_text(text).splitlines():
        parts = line.split()
        if len(parts) >= 3 and parts[1] in "tTwW":
            names.add(parts[2].split(".", 1)[0])
    return names


@lru_cache(maxsize=4)
def _names_at(path: str) -> frozenset[str]:
    return frozenset(kallsyms_names(path))  # 100k+ lines: read once per session


@check.arguments
def in_your_kernel(functions: Iterable[str], path: str = "/proc/kallsyms") -> LiveResult:
    """For each function name: ``found`` or ``not in kallsyms``; unavailable when kallsyms cannot be read."""
    names = list(functions)
    if not all(isinstance(n, str) and n for n in names):
        raise TypeError("functions must be non-empty str names")

    what, how = "modelled functions in your kernel", f"names in {path}"
    symbols = probe(what, how, lambda: _names_at(path))
    if not symbols.available:
        return symbols
    if not symbols.value:
        return LiveResult.unavailable(what, how, Why.UNKNOWN_FORMAT, f"{path} lists no functions here")
    return LiveResult(what, how, {n: FOUND if n in symbols.value else ABSENT for n in names})
