"""The copy ledger: every time the bytes of a send move, who moved them, and how.

Not a kernel structure: an accountant that the send-path models report to while a :class:`CopyLedger` is
active (like a :class:`~netlab.trace.Tracer`, it is a context manager, and models run unchanged without one).

Three kinds of movement:

- ``cpu``: a deep copy, the CPU reads and writes every byte (``copy_page_to_iter`` from the page cache into a
  user buffer, ``skb_copy_to_page_nocache`` from a user buffer into an skb, ``skb_copy_bits`` when IP fragments
  the slow way, ``skb_copy_ubufs`` when loopback cancels MSG_ZEROCOPY). ``payload=False`` marks header bytes.
- ``shallow``: a new ``struct sk_buff`` head for data that already exists (``skb_clone``, ``tso_fragment``,
  ``skb_segment``): the head's size (232 bytes on x86_64), whatever the payload size.
- ``dma``: a device moves the bytes while the CPU does something else (disk → page cache, memory → NIC).

Page references (``get_page`` on a page-cache page spliced into an skb) move nothing and are counted as
``refs``. System calls are counted with their user/kernel transitions (two each: enter and return). Page faults
are counted apart: those of mmap()+write() happen inside the kernel's own copy, so they switch no mode.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from netlab import check

KINDS = ("cpu", "shallow", "dma")

_active: "CopyLedger | None" = None


@dataclass(frozen=True)
class Movement:
    """One entry: ``nbytes`` moved by ``kind`` in kernel function ``by``, from ``src`` to ``dst``."""

    kind: str
    nbytes: int
    by: str
    src: str
    dst: str
    payload: bool = True

    def __str__(self) -> str:
        what = "" if self.payload else " (headers)"
        return f"{self.kind:7} {self.nbytes:>10,} B  {self.src} → {self.dst}{what}  [{self.by}]"


@dataclass
class CopyLedger:
    """Everything a scenario moved. Use as ``with CopyLedger() as ledger: ...`` around the models."""

    movements: list[Movement] = field(default_factory=list)
    syscalls: list[str] = field(default_factory=list)
    page_faults: int = 0
    refs: int = 0                       # pages referenced instead of copied
    _outer: "CopyLedger | None" = field(default=None, repr=False)

    def __post_init__(self):
        check.fields(self)

    def __enter__(self) -> "CopyLedger":
        global _active
        self._outer, _active = _active, self
        return self

    def __exit__(self, *exc) -> None:
        global _active
        _active = self._outer

    # --- what the scenario did -----------------------------------------------------------------------------
    @check.arguments
    def bytes(self, kind: str, payload: bool | None = True) -> int:
        """Bytes moved by ``kind``; ``payload=None`` counts header bytes too."""
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
        return sum(m.nbytes for m in self.movements
                   if m.kind == kind and (payload is None or m.payload == payload))

    @check.arguments
    def count(self, kind: str, payload: bool | None = True) -> int:
        """How many separate movements of ``kind`` were made."""
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
        return sum(1 for m in self.movements if m.kind == kind and (payload is None or m.payload == payload))

    @check.arguments
    def copies_of(self, payload_bytes: int, kind: str = "cpu") -> float:
        """How many times the payload went through ``kind``: payload bytes moved / ``payload_bytes``."""
        if not isinstance(payload_bytes, int) or payload_bytes <= 0:
            raise ValueError("payload_bytes must be a positive int")
        return self.bytes(kind) / payload_bytes

    @property
    def transitions(self) -> int:
        """User/kernel mode switches: each system call enters and leaves the kernel."""
        return 2 * len(self.syscalls)

    @check.arguments
    def by_function(self, kind: str) -> dict[str, int]:
        """Bytes of ``kind`` per kernel function that moved them (payload and headers)."""
        totals: Counter[str] = Counter()
        for m in self.movements:
            if m.kind == kind:
                totals[m.by] += m.nbytes
        return dict(totals)

    @check.arguments
    def summary(self, payload_bytes: int) -> dict[str, float | int]:
        """The numbers a chapter compares: copies of the payload per kind, heads, syscalls, transitions."""
        return {"cpu copies": self.copies_of(payload_bytes, "cpu"), "dma transfers": self.copies_of(payload_bytes,
                "dma"), "header bytes copied": self.bytes("cpu", payload=False), "sk_buff heads copied":
                self.count("shallow", payload=None), "pages referenced": self.refs, "syscalls": len(self.syscalls),
                "transitions": self.transitions, "page faults": self.page_faults}

    def __str__(self) -> str:
        lines = [str(m) for m in self.movements]
        lines.append(f"syscalls: {len(self.syscalls)} ({', '.join(dict.fromkeys(self.syscalls)) or '-'}), "
                     f"page faults: {self.page_faults}, pages referenced: {self.refs}")
        return "\n".join(lines)


def _check(nbytes: int, by: str, src: str, dst: str) -> None:
    if not isinstance(nbytes, int) or isinstance(nbytes, bool) or nbytes < 0:
        raise ValueError(f"nbytes must be an int >= 0, got {nbytes!r}")
    if not all(isinstance(s, str) and s for s in (by, src, dst)):
        raise ValueError("by, src and dst must be non-empty str")


@check.arguments
def account_copy(nbytes: int, by: str, src: str, dst: str, payload: bool = True) -> None:
    """The CPU copied ``nbytes`` from ``src`` to ``dst`` in kernel function ``by``."""
    _check(nbytes, by, src, dst)
    if _active is not None and nbytes:
        _active.movements.append(Movement("cpu", nbytes, by, src, dst, payload))


@check.arguments
def account_dma(nbytes: int, by: str, src: str, dst: str) -> None:
    """A device moved ``nbytes`` by DMA (the CPU only wrote a descriptor)."""
    _check(nbytes, by, src, dst)
    if _active is not None and nbytes:
        _active.movements.append(Movement("dma", nbytes, by, src, dst))


@check.arguments
def account_head(nbytes: int, by: str, what: str) -> None:
    """A new ``struct sk_buff`` head of ``nbytes`` was made for data that already exists (data shared)."""
    _check(nbytes, by, what, "new sk_buff head")
    if _active is not None:
        _active.movements.append(Movement("shallow", nbytes, by, what, "new sk_buff head", payload=False))


@check.arguments
def account_refs(pages: int) -> None:
    """``pages`` pages were referenced (``get_page``) instead of copied."""
    if not isinstance(pages, int) or pages < 0:
        raise ValueError("pages must be an int >= 0")
    if _active is not None:
        _active.refs += pages


@check.arguments
def account_syscall(name: str) -> None:
    """A system call: two user/kernel transitions."""
    if not isinstance(name, str) or not name:
        raise ValueError("name the system call")
    if _active is not None:
        _active.syscalls.append(name)


@check.arguments
def account_page_fault(n: int = 1) -> None:
    """``n`` page faults (a fault maps pages; it copies nothing)."""
    if not isinstance(n, int) or n < 0:
        raise ValueError("n must be an int >= 0")
    if _active is not None:
        _active.page_faults += n
