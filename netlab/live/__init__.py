"""Live probes: read and measure the learner's own kernel. Every probe returns a :class:`LiveResult`."""
from netlab.live.result import LiveResult

__all__ = ["LiveResult"]
