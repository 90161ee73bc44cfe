"""The one result type of every live probe: what was measured, how, and the value, or why it could not be."""
from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from typing import Any, Callable

from netlab import check


@dataclass(frozen=True)
class LiveResult:
    """A reading of the running kernel. ``reason`` is set exactly when nothing could be measured here."""

    what: str
    how: str
    value: Any = None
    reason: str | None = None

    def __post_init__(self):
        check.fields(self)
        if not isinstance(self.what, str) or not self.what or not isinstance(self.how, str) or not self.how:
            raise ValueError("a LiveResult needs a non-empty 'what' and 'how'")
        if self.reason is not None and (not isinstance(self.reason, str) or not self.reason):
            raise ValueError("reason must be a non-empty str or None")

    @classmethod
    @check.arguments
    def unavailable(cls, what: str, how: str, reason: str) -> "LiveResult":
        return cls(what=what, how=how, value=None, reason=reason)

    @property
    def available(self) -> bool:
        return self.reason is None

    def __str__(self) -> str:
        if not self.available:
            return f"{self.what}: not available here, because {self.reason} (tried: {self.how})"
        return f"{self.what}: {self.value} (measured by {self.how})"


@check.arguments
def read_text(source: str) -> str:
    """The text of a procfs/sysfs file, or ``source`` itself when it is already the text (for fixtures)."""
    if not isinstance(source, str):
        raise TypeError("pass the file's text or its path as a str")
    if "\n" in source or not source.startswith("/"):
        return source
    with open(source, encoding="utf-8", errors="replace") as f:
        return f.read()


@check.arguments
def probe(what: str, how: str, read: Callable[[], Any]) -> LiveResult:
    """Run ``read()`` and wrap its value, turning the usual 'not here' failures into a reason."""
    try:
        return LiveResult(what, how, read())
    except FileNotFoundError as e:
        return LiveResult.unavailable(what, how, f"{e.filename or 'the file'} does not exist (not Linux, or an "
                                                 f"older kernel)")
    except PermissionError as e:
        return LiveResult.unavailable(what, how, f"{e.filename or 'it'} is not readable without more privilege")
    except OSError as e:
        return LiveResult.unavailable(what, how, f"the kernel refused: {e.strerror or e}")


@check.arguments
def run_child(what: str, how: str, module: str, args: list[str], timeout_s: check.Timeout,
              build: Callable[[dict], Any]) -> LiveResult:
    """Run ``python -m module args…`` as a child process and wrap its reply.

    The child prints one JSON object as its last line: ``{"unavailable": reason}`` or the measurement, which
    ``build`` turns into the value. A child that hangs past ``timeout_s`` is killed; one that crashes becomes a
    reason. Everything the child opened (sockets, fds, namespaces) dies with it.
    """
    try:
        done = subprocess.run([sys.executable, "-m", module, *args], capture_output=True, text=True,
                              timeout=timeout_s)
    except subprocess.TimeoutExpired:
        return LiveResult.unavailable(what, how, f"the child took longer than {timeout_s} s (it was killed)")
    try:
        reply = json.loads(done.stdout.strip().splitlines()[-1])
    except (IndexError, ValueError):
        return LiveResult.unavailable(what, how, f"the child failed: {done.stderr.strip()[-300:] or 'no output'}")
    if "unavailable" in reply:
        return LiveResult.unavailable(what, how, reply["unavailable"])
    return LiveResult(what, how, build(reply))
