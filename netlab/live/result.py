"""The one result type of every live probe: what was measured, how, and the value, or why it could not be.

A probe answers "not available here" only for a reason it recognises, one of the closed list :class:`Why`, each
with a sentence naming the real cause (the file, the errno, the kernel version). Anything else is a
:class:`LiveProbeError` that surfaces: a child process that crashed (its stderr comes with the error), an errno
the probe did not expect, an option the running kernel should have but refused, a bounded experiment that ran out
of time (:class:`LiveProbeTimeout`). A timeout is not "not available here": the machine can do the experiment,
which ran at least ten times longer than it takes on a loaded two-core machine; that is a hang (a bug) or a
machine too busy to measure anything, and either way the learner has to see it rather than a quiet skip.
"""
from __future__ import annotations

import errno
import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from enum import Enum
from typing import Any, Callable

from netlab import check
from netlab.units import plain


class Why(Enum):
    """Every reason a probe may give for measuring nothing here. The value is a short label for tables."""

    NOT_LINUX = "not Linux"
    NO_ENTRY = "no such file or interface"
    PERMISSION = "needs a privilege this process lacks"
    KERNEL_LACKS = "the running kernel lacks it"
    DEVICE_LACKS = "the device or its driver does not offer it"
    NAMESPACES_REFUSED = "new namespaces are refused"
    UNKNOWN_FORMAT = "a file layout netlab does not know"


@dataclass(frozen=True)
class LiveResult:
    """A reading of the running kernel. ``why`` and ``reason`` are set exactly when nothing could be measured."""

    what: str
    how: str
    value: Any = None
    reason: str | None = None
    why: Why | None = None

    def __post_init__(self):
        check.fields(self)
        if not isinstance(self.what, str) or not self.what or not isinstance(self.how, str) or not self.how:
            raise ValueError("a LiveResult needs a non-empty 'what' and 'how'")
        if self.reason is not None and (not isinstance(self.reason, str) or not self.reason):
            raise ValueError("reason must be a non-empty str or None")
        if (self.why is None) != (self.reason is None):
            raise ValueError("an unavailable result needs both a kind (why) and a sentence (reason)")

    @classmethod
    @check.arguments
    def unavailable(cls, what: str, how: str, why: Why, reason: str) -> "LiveResult":
        return cls(what=what, how=how, value=None, reason=reason, why=why)

    @property
    def available(self) -> bool:
        return self.reason is None

    def __str__(self) -> str:
        if not self.available:
            return f"{self.what}: not available here, because {self.reason} (tried: {self.how})"
        return f"{self.what}: {plain(self.value)} (measured by {self.how})"


class Unavailable(Exception):
    """Raised inside a probe (or its child process) for a recognised reason; :func:`probe` and
    :func:`run_child` turn it into an unavailable :class:`LiveResult`."""

    @check.arguments
    def __init__(self, why: Why, reason: str):
        super().__init__(reason)
        self.why, self.reason = why, reason


class LiveProbeError(RuntimeError):
    """A live probe failed for a reason it does not recognise: a bug here, or a kernel doing something new."""

    @check.arguments
    def __init__(self, what: str, how: str, detail: str):
        super().__init__(f"{what}: the probe failed, and not for a reason netlab recognises: {detail} "
                         f"(tried: {how})")
        self.what, self.how, self.detail = what, how, detail


class LiveProbeTimeout(LiveProbeError):
    """A bounded experiment ran out of time (see the module text for why this is an error)."""




@check.arguments
def errno_name(error: OSError) -> str:
    return errno.errorcode.get(error.errno, str(error.errno)) if error.errno else str(error)




@check.arguments
def stderr_tail(text: str, limit: int = 800) -> str:
    """The last whole lines of a child's stderr, at most ``limit`` characters: where its traceback ends."""
    tail: list[str] = []
    for line in reversed(text.strip().splitlines()):
        if tail and sum(len(kept) + 1 for kept in tail) + len(line) > limit:
            break
        tail.insert(0, line)
    return "\n".join(tail)[-limit:] or "no output"




@check.arguments
def file_unavailable(error: OSError, path: str | None = None) -> Unavailable | None:
    """The recognised reasons a file cannot be read: it is absent, or it needs privilege. None otherwise."""
    name = error.filename or path or "the file"
    if error.errno in (errno.ENOENT, errno.ENOTDIR):
        return Unavailable(Why.NO_ENTRY, f"{name} does not exist (not Linux, or a kernel without it)")
    if error.errno in (errno.EACCES, errno.EPERM):
        return Unavailable(Why.PERMISSION, f"{name} is not readable without more privilege "
                                           f"({errno_name(error)})")
    return None




@check.arguments
def kernel_version(release: str) -> tuple[int, int]:
    """``"6.18.44-fc-v669"`` → ``(6, 18)``; ``"3.10.0-1160.el7.x86_64"`` → ``(3, 10)``."""
    m = re.match(r"(\d+)\.(\d+)", release)
    if not m:
        raise ValueError(f"a kernel release starts with 'major.minor', got {release!r}")
    return int(m.group(1)), int(m.group(2))




@check.arguments
def kernel_lacks(feature: str, since: tuple[int, int], error: OSError, lacking_errno: int,
                 release: str | None = None) -> Unavailable:
    """The recognised reason for ``error`` when the running kernel (``release``, default ``uname -r``) predates
    ``feature`` and answered ``lacking_errno``, the errno a kernel without it gives. Any other errno, or that
    errno from a kernel that has the feature, raises :class:`LiveProbeError`: the call itself is wrong."""
    release = os.uname().release if release is None else release
    version = kernel_version(release)
    needs = ".".join(map(str, since))
    if error.errno == lacking_errno and version < since:
        return Unavailable(Why.KERNEL_LACKS, f"{feature} needs Linux {needs} or later and this kernel is "
                                             f"{release} ({errno_name(error)})")
    has = "has" if version >= since else "predates"
    raise LiveProbeError(feature, f"the call on Linux {release}",
                         f"{errno_name(error)} ({error.strerror or error}) from a kernel that {has} it (since Linux "
                         f"{needs}); only a kernel without it answers {errno.errorcode[lacking_errno]}") from error


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
    """Run ``read()`` and wrap its value. An :class:`Unavailable`, a missing file or a refused permission
    becomes the reason; any other OSError is a :class:`LiveProbeError`."""
    try:
        return LiveResult(what, how, read())
    except Unavailable as e:
        return LiveResult.unavailable(what, how, e.why, e.reason)
    except OSError as e:
        known = file_unavailable(e)
        if known is None:
            raise LiveProbeError(what, how, f"{errno_name(e)}: {e.strerror or e}") from e
        return LiveResult.unavailable(what, how, known.why, known.reason)


# unshare(2) refuses CLONE_NEWUSER to a process with more than one thread (EINVAL), and importing netlab starts
# threads (numpy's BLAS pool), so a child that needs new namespaces unshares first, then imports the module.
_UNSHARE_FIRST = """\
import ctypes, os, runpy, sys
libc = ctypes.CDLL(None, use_errno=True)
os.environ["NETLAB_UNSHARE_ERRNO"] = "0" if libc.unshare(int(sys.argv[1])) == 0 else str(ctypes.get_errno())
sys.argv = sys.argv[2:]
runpy.run_module(sys.argv[0], run_name="__main__", alter_sys=True)
"""


@check.arguments
def run_child(what: str, how: str, module: str, args: list[str], timeout_s: check.Timeout,
              build: Callable[[dict], Any], unshare: check.U32 = 0) -> LiveResult:
    """Run ``python -m module args…`` as a child process and wrap its reply.

    The child prints one JSON object as its last line (see :func:`child_reply`): the measurement, which ``build``
    turns into the value, or a recognised reason. A child that crashes raises :class:`LiveProbeError` with the
    end of its stderr; one that hangs past ``timeout_s`` is killed and raises :class:`LiveProbeTimeout`.
    Everything the child opened (sockets, fds, namespaces) dies with it. With ``unshare`` flags (``CLONE_NEW*``)
    the child calls ``unshare(unshare)`` before it imports anything; :func:`unshare_errno` tells it the outcome.
    """
    command = ([sys.executable, "-c", _UNSHARE_FIRST, str(unshare), module, *args] if unshare
               else [sys.executable, "-m", module, *args])
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout_s)
    except subprocess.TimeoutExpired:
        raise LiveProbeTimeout(what, how, f"the child process took longer than {timeout_s} s and was killed "
                                          f"(a hang, or a machine too busy to measure)") from None
    lines = done.stdout.strip().splitlines()
    try:
        reply = json.loads(lines[-1]) if done.returncode == 0 and lines else None
    except ValueError:
        reply = None
    if not isinstance(reply, dict):
        raise LiveProbeError(what, how, f"the child process exited with status {done.returncode}: "
                                        f"{stderr_tail(done.stderr)}")
    if "unavailable" in reply:
        if reply.get("why") not in Why.__members__:
            raise LiveProbeError(what, how, f"the child gave an unrecognised reason: {reply}")
        return LiveResult.unavailable(what, how, Why[reply["why"]], reply["unavailable"])
    return LiveResult(what, how, build(reply))


def unshare_errno() -> int:
    """In a child of ``run_child(…, unshare=flags)``: 0 when its ``unshare(flags)`` worked, else the errno."""
    answer = os.environ.get("NETLAB_UNSHARE_ERRNO")
    if answer is None:
        raise RuntimeError("unshare_errno() is for a child started by run_child(…, unshare=flags)")
    return int(answer)


@check.arguments
def child_reply(work: Callable[[], dict]) -> None:
    """The child side of :func:`run_child`: print ``work()``'s measurement as one JSON line, or its recognised
    reason. Anything else crashes the child with a traceback on stderr and a non-zero status."""
    try:
        reply = work()
    except Unavailable as e:
        reply = {"unavailable": e.reason, "why": e.why.name}
    print(json.dumps(reply), flush=True)
