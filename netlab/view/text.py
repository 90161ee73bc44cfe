"""Plain-text renderings of a trace step, so a notebook reads well where widgets do not render."""
from __future__ import annotations

import re
from collections import Counter
from typing import Annotated, Any, Mapping

from netlab import check
from netlab.check import Range
from netlab.trace import Event, Trace
from netlab.units import duration, plain

MAX_CHANGES = 6
"""Changes listed under a step; more are summed up in one line (the drawing shows them all)."""


@check.arguments
def on_the_nic(event: Event) -> bool:
    """Is ``event`` the NIC's? A line printed outside any kernel function in hard-IRQ context is a frame reaching
    a NIC (its DMA into the RX ring) before any CPU runs code for it."""
    return event.source == "-" and event.context == "hardirq"


@check.arguments
def runs(event: Event) -> str:
    """Who does ``event``: the kernel function (``tcp_v4_rcv()``, ``… · trace_printk`` for a line it printed), the
    NIC, or user space (a line printed outside any kernel function by a task)."""
    if event.source != "-":
        return f"{event.function}(){'' if event.kind == 'call' else ' · trace_printk'}"
    if on_the_nic(event):
        return "NIC (DMA) · no CPU yet"
    return "user space · trace_printk" if event.context == "process" else f"{event.context} · trace_printk"


@check.arguments
def header(trace: Trace, index: int, label: str = "") -> str:
    """Where and when step ``index`` of ``trace`` runs, and the scenario's ``label`` for it (e.g. its chapter).
    Steps count in this trace (a few steps chosen from a longer run read "step 3/7")."""
    if not 0 <= index < len(trace):
        raise ValueError(f"index must be in 0..{len(trace) - 1}, got {index}")
    event = trace[index]
    where = "NIC" if on_the_nic(event) else f"CPU {event.cpu} · {event.context}"
    return (f"step {index + 1:,}/{len(trace):,} · {event.host + ' · ' if event.host else ''}{where} · "
            f"t = {duration(event.time_ns)}{' · ' + label if label else ''}")


@check.arguments
def short(value: Any, limit: int = 60) -> str:
    """``value`` (a snapshot field) in plain words, never a Python repr, cut to ``limit`` characters."""
    s = plain(value)
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
    source = f"  [{e.source}]" if e.source != "-" else ""
    depth = f"  (call depth {e.depth})" if e.depth else ""     # the Stepper draws the calls around it
    lines = [header(trace, index, label), f"{runs(e)}{source}{mark}{depth}", f"  {e.text}"]
    lines += [f"  {where}: {before} → {after}" for where, before, after in changes(trace, index)]
    return "\n".join(lines)


SCENARIO_WORDS = ((r"^hosts\[localhost\]", "localhost"), (r"^hosts\[([^\]]+)\]", r"\1 host"),
                  (r"^run_queues\[([^\]]+)\]\[(\d+)\]\.curr$", r"\1 host · CPU \2 run queue · running"),
                  (r"^run_queues\[([^\]]+)\]\[(\d+)\]\.nr_switches$", r"\1 host · CPU \2 · context switches"),
                  (r"^run_queues\[([^\]]+)\]\[(\d+)\]\.queue$", r"\1 host · CPU \2 run queue · waiting to run"),
                  (r"^tcp\[(.+)\]$", r"\1 · TCP state"),
                  (r"^accept_queue$", "listener's accept queue"),
                  (r"^timewait$", "TIME_WAIT socks"),
                  (r"^slab_bytes$", "slab memory (bytes)"), (r"^slab_objects$", "slab objects"),
                  (r"^touched$", "cache this step used"), (r"^objects$", "objects held"),
                  (r"^state$", "TCP state"), (r"^fds$", "open fds"), (r"^nofile$", "RLIMIT_NOFILE (soft, hard)"),
                  (r"^fdtable\.", "fd table."))
"""Snapshot paths of a scenario's own state (the journey's hosts, run queues, TCP states; chapter 06's slab memory
and objects, chapter 07's fd limit) and their words."""


def _words(path: str, state: Any = None) -> str:
    """A snapshot path as words: ``cpus[0].softnet.poll_list`` → ``CPU 0 · softnet · poll_list``; a scenario's own
    fields as :data:`SCENARIO_WORDS` says; a task by its name (``tasks[client][0].state`` → ``client task · state``,
    ``state`` the step's snapshot)."""
    def task(m: re.Match) -> str:
        tasks = getattr(state, "tasks", None)
        try:
            return f"{tasks[m.group(1)][int(m.group(2))].comm} task"
        except (TypeError, KeyError, IndexError, AttributeError):
            return f"{m.group(1)} host · task {m.group(2)}"

    path = re.sub(r"^tasks\[([^\]]+)\]\[(\d+)\]", task, path)
    for pattern, words in SCENARIO_WORDS:
        path = re.sub(pattern, words, path)

    def item(m: re.Match) -> str:
        name = m.group(1)
        one = "CPU" if name == "cpus" else name[:-3] + "y" if name.endswith("ies") else name.rstrip("s")
        return f"{one} {m.group(2)}"
    return re.sub(r"(\w+)\[([^\]]+)\]", item, path).replace(".", " · ")


def _grown(before: Any, after: Any) -> tuple[str, str]:
    """``before`` and ``after`` in words; a sequence too long for a line as its length and what came and went
    (``5 → 6: + tcp_bind2_bucket``)."""
    if not (isinstance(before, (tuple, list)) and isinstance(after, (tuple, list))) \
            or len(plain(before)) <= 60 and len(plain(after)) <= 60:
        return short(before), short(after)
    came, went = Counter(after), Counter(before)
    came, went = came - went, went - came
    what = ", ".join([f"+ {plain(v)}" for v in came.elements()] + [f"− {plain(v)}" for v in went.elements()])
    return f"{len(before):,}", short(f"{len(after):,}: {what}" if what else f"{len(after):,}")


NIC_DONE = re.compile(r"queues\[\d+\]\.(irq_state|(rx|tx)_ring\.(head|slots))$")
"""What only the NIC changes, on its own time: a ring's ``head`` and the slots it completes (``hw`` → a packet or
``done``), a queue's IRQ when it asserts it. Such a change in another step's diff happened meanwhile."""


SLOT_WORDS = {"hw": "the NIC's", "drv": "the driver's", "done": "done"}
"""A descriptor ring slot's state (``netlab.kernel.nic.RingState``) in words."""


@check.arguments
def changes(trace: Trace, index: int, limit: Annotated[int, Range(1, 1000)] = MAX_CHANGES) \
        -> list[tuple[str, str, str]]:
    """What step ``index`` changed, in words: (where, before, after). A sequence of the same length names the
    slots that changed (``slots [0]: the NIC's → p0``); what the NIC did in the meantime (:data:`NIC_DONE`) says
    so; the first step has none (it is the starting state)."""
    if not 0 <= index < len(trace):
        raise ValueError(f"index must be in 0..{len(trace) - 1}, got {index}")
    if index == 0:
        return []
    out: list[tuple[str, str, str]] = []
    event = trace[index]
    meanwhile = "" if on_the_nic(event) else "the NIC, meanwhile · "
    for path, (before, after) in trace.diff(index).items():
        where = _words(path, event.state)
        before, after = ("none" if v is None else v for v in (before, after))   # nothing yet, or no more
        if isinstance(before, (tuple, list)) and isinstance(after, (tuple, list)) and len(before) == len(after):
            slots = [i for i, (b, a) in enumerate(zip(before, after)) if b != a]
            if len(slots) <= 3:
                out += [(f"{meanwhile if NIC_DONE.search(path) and before[i] == 'hw' else ''}{where} [{i}]",
                         short(SLOT_WORDS.get(before[i], before[i])), short(SLOT_WORDS.get(after[i], after[i])))
                        for i in slots]
                continue
        nic = NIC_DONE.search(path) and (not path.endswith("irq_state") or after == "asserted")
        out.append((f"{meanwhile if nic else ''}{where}", *_grown(before, after)))
    if len(out) > limit:
        out[limit - 1:] = [(f"and {len(out) - limit + 1} more changes", "", "in the drawing")]
    return out
