"""Plain-text renderings of a trace step, so a notebook reads well where widgets do not render."""
from __future__ import annotations

import dataclasses
from typing import Any, Mapping

from netlab import check
from netlab.trace import Event, Trace


@check.arguments
def header(trace: Trace, index: int, label: str = "") -> str:
    """Where and when step ``index`` of ``trace`` runs, and the scenario's ``label`` for it (e.g. its chapter).
    Steps count in this trace (a few steps chosen from a longer run read "step 3/7")."""
    if not 0 <= index < len(trace):
        raise ValueError(f"index must be in 0..{len(trace) - 1}, got {index}")
    event = trace[index]
    return (f"step {index + 1:,}/{len(trace):,} · {event.host + ' · ' if event.host else ''}CPU {event.cpu} · "
            f"{event.context} · t = {event.time_ns / 1000:.3f} µs{' · ' + label if label else ''}")


def _plain(value: Any) -> str:
    """A snapshot value as a learner reads it: ``p0, p1`` for a queue, ``empty``, ``-`` for nothing, a snapshot
    dataclass as ``field value · …``, a value with its own ``__str__`` in its own words; never a Python repr."""
    if value is None:
        return "-"
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "yes" if value else "no"
    if type(value).__str__ is not object.__str__:      # a type that words itself (a SegmentLog, …)
        return str(value)
    if isinstance(value, (list, tuple, set, frozenset)):
        return ", ".join(v if isinstance(v, str) else _plain(v) for v in value) or "empty"
    if dataclasses.is_dataclass(value):
        return " · ".join(f"{f.name} {_plain(getattr(value, f.name))}" for f in dataclasses.fields(value))
    if isinstance(value, Mapping):
        return ", ".join(f"{k} {_plain(v)}" for k, v in value.items()) or "empty"
    return str(value)


@check.arguments
def short(value: Any, limit: int = 60) -> str:
    """``value`` (a snapshot field) in plain words, never a Python repr, cut to ``limit`` characters."""
    s = _plain(value)
    return s if len(s) <= limit else s[: limit - 1] + "…"


@check.arguments
def step_text(trace: Trace, index: int, kernel: Mapping[str, str] | None = None, label: str = "") -> str:
    """Step ``index`` as text: where it runs (with ``label``), the kernel function and file, what it does, what
    changed."""
    if not isinstance(index, int) or not 0 <= index < len(trace):
        raise ValueError(f"index must be an int in 0..{len(trace) - 1}")
    e = trace[index]
    mark = ""
    if kernel is not None and e.function in kernel:
        mark = "  ✓ in your kernel" if kernel[e.function] == "found" else "  (not in your kallsyms: inlined?)"
    lines = [header(trace, index, label), f"{'  ' * e.depth}{e.function}()  [{e.source}]{mark}", f"  {e.text}"]
    for key, (before, after) in trace.diff(index).items():
        lines.append(f"  {key}: {short(before)} → {short(after)}")
    return "\n".join(lines)
