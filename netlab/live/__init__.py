"""Live probes: read and measure the learner's own kernel. Every probe returns a :class:`LiveResult`;
:func:`netlab.live.profile.this_machine` reads the learner's kernel into a profile."""
from netlab.live.result import LiveResult

__all__ = ["LiveResult"]
