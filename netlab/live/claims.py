"""One claim of the course checked on the learner's kernel: the model's answer beside the kernel's, and whether they
agree.

A :class:`Claim` is one row of ``python -m netlab.check`` and of each chapter's "your kernel" table. ``agrees`` is
True or False when the kernel was measured, None when it could not be here; ``reason`` then says why ("not
available here, because …"). Answers are prose with formatted numbers (``netlab.units``), never a repr.
"""
from __future__ import annotations

from dataclasses import dataclass

from netlab import check
from netlab.live.result import LiveResult


@dataclass(frozen=True)
class Claim:
    """``claim`` (a sentence), its ``chapter`` ("01" … "07"), the ``parameters`` in words, the ``model``'s answer,
    ``kernel``'s answer (None when not measured), ``agrees`` and, exactly when ``agrees`` is None, the ``reason``:
    why the kernel was not measured here, or (with a ``kernel`` answer) why the model has none to compare."""

    claim: str
    chapter: str
    parameters: str
    model: str
    kernel: str | None
    agrees: bool | None
    reason: str | None = None

    def __post_init__(self):
        check.fields(self)
        for name in ("claim", "parameters", "model"):
            if not getattr(self, name):
                raise ValueError(f"a Claim needs a non-empty {name}")
        if len(self.chapter) != 2 or not self.chapter.isdigit():
            raise ValueError(f"chapter must be two digits such as '07', got {self.chapter!r}")
        if (self.agrees is None) != (self.reason is not None) or (self.kernel is None and self.agrees is not None):
            raise ValueError("a compared claim has a kernel answer, agrees True/False and no reason; any other has "
                             "agrees None and a reason")

    @classmethod
    @check.arguments
    def unmeasured(cls, claim: str, chapter: str, parameters: str, model: str, reason: str) -> "Claim":
        """A claim the kernel could not be asked about here, with the sentence saying why."""
        return cls(claim, chapter, parameters, model, None, None, reason)

    @classmethod
    @check.arguments
    def from_result(cls, claim: str, chapter: str, parameters: str, model: str, result: LiveResult,
                    kernel: str | None = None, agrees: bool | None = None) -> "Claim":
        """The row for a live ``result``: its reason when it measured nothing, else ``kernel`` and ``agrees``."""
        if not result.available:
            return cls.unmeasured(claim, chapter, parameters, model, result.reason)
        if kernel is None or agrees is None:
            raise ValueError("a measured result needs the kernel's answer and whether it agrees")
        return cls(claim, chapter, parameters, model, kernel, agrees)

    @property
    def verdict(self) -> str:
        """"agrees", "disagrees", "not measurable here, because …" (no kernel answer) or "not compared, because
        …" (no model answer to compare with)."""
        if self.agrees is None:
            return f"{'not compared' if self.kernel is not None else 'not measurable here'}, because {self.reason}"
        return "agrees" if self.agrees else "disagrees"

    def __str__(self) -> str:
        return (f"[{self.chapter}] {self.claim} ({self.parameters}). Model: {self.model}; your kernel: "
                f"{self.kernel or 'not measured'} — {self.verdict}.")
