"""Plain-text renderings of a trace step, so a notebook reads well where widgets do not render."""
from __future__ import annotations

from typing import Any, Mapping

from netlab import check
from netlab.trace import Event, Trace


@check.arguments
def header(event: Event, total: int) -> str:
    return (f"step {event.seq + 1}/{total} · {event.host + ' · ' if event.host else ''}CPU {event.cpu} · "
            f"{event.context} · t = {event.time_ns / 1000:.3f} µs")


@check.arguments
def short(value: Any, limit: int = 60) -> str:
    s = repr(value)
    return s if len(s) <= limit else s[: limit - 1] + "…"


@check.arguments
def step_text(trace: Trace, index: int, kernel: Mapping[str, str] | None = None) -> str:
    """Step ``index`` as text: where it runs, the kernel function and file, what it does, what changed."""
    if not isinstance(index, int) or not 0 <= index < len(trace):
        raise ValueError(f"index must be an int in 0..{len(trace) - 1}")
    e = trace[index]
    mark = ""
    if kernel is not None and e.function in kernel:
        mark = "  ✓ in your kernel" if kernel[e.function] == "found" else "  (not in your kallsyms: inlined?)"
    lines = [header(e, len(trace)), f"{'  ' * e.depth}{e.function}()  [{e.source}]{mark}", f"  {e.text}"]
    for key, (before, after) in sorted(trace.diff(index).items()):
        lines.append(f"  {key}: {short(before)} → {short(after)}")
    return "\n".join(lines)
