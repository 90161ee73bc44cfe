"""Live tests skip only for a reason a probe recognises, and under CI only for what this machine really lacks.

What the machine lacks is decided here, without netlab's probes (which are what the tests check): Linux, a /proc,
a kernel with IP_LOCAL_PORT_RANGE (6.3+), root (for /proc/slabinfo), and an unprivileged user + network namespace
that a plain ``unshare()`` really creates. Where it lacks nothing — the machine kind CI runs on — every live
experiment can run, so under ``CI`` a skipped ``live`` test is a failure.
"""
import os
import re
import subprocess
import sys

import pytest

from netlab.live.result import LiveResult, Why

UNSHARE_USER_NET = ("import ctypes, sys; libc = ctypes.CDLL(None, use_errno=True); "
                    "sys.exit(libc.unshare(0x10000000 | 0x40000000) and ctypes.get_errno())")
"""CLONE_NEWUSER | CLONE_NEWNET (include/uapi/linux/sched.h), in a throw-away child."""


def _machine_lacks() -> dict[Why, str]:
    if not sys.platform.startswith("linux"):
        return {Why.NOT_LINUX: f"this is {sys.platform}"}
    lacks = {}
    if not os.path.isdir("/proc/self/net"):
        lacks[Why.NO_ENTRY] = "no /proc"
    release = os.uname().release
    if tuple(map(int, re.match(r"(\d+)\.(\d+)", release).groups())) < (6, 3):
        lacks[Why.KERNEL_LACKS] = f"kernel {release} predates IP_LOCAL_PORT_RANGE (6.3)"
    if os.geteuid() != 0:
        lacks[Why.PERMISSION] = "not root: /proc/slabinfo is unreadable"
    refused = subprocess.run([sys.executable, "-c", UNSHARE_USER_NET], timeout=30).returncode
    if refused:
        lacks[Why.NAMESPACES_REFUSED] = f"unshare(CLONE_NEWUSER|CLONE_NEWNET) fails with errno {refused}"
    return lacks


MACHINE_LACKS = _machine_lacks()
UNDER_CI = os.environ.get("CI", "").lower() not in ("", "0", "false", "no")
TAG = re.compile(r"\[(\w+)\] ")


def pytest_report_header(config):
    lacks = "; ".join(MACHINE_LACKS.values()) or "nothing: every live experiment can run"
    rule = "a skipped live test fails unless the machine lacks its reason" if UNDER_CI else "live tests may skip"
    return f"this machine lacks {lacks} ({'CI' if UNDER_CI else 'not CI'}: {rule})"


@pytest.fixture
def skip_unless_expected():
    """``skip_unless_expected(result, *kinds)``: the value of an available ``LiveResult``; otherwise a skip, if
    its reason is one of ``kinds`` (any :class:`Why` when none are given), and a failure if it is not."""
    def check(result: LiveResult, *kinds: Why):
        assert isinstance(result, LiveResult), f"expected a LiveResult, got {type(result).__name__}"
        if result.available:
            return result.value
        if kinds and result.why not in kinds:
            pytest.fail(f"unavailable for an unexpected reason ({result.why.name}, expected "
                        f"{', '.join(k.name for k in kinds)}): {result}")
        pytest.skip(f"[{result.why.name}] {result}")
    return check


def _allowed_under_ci(reason: str) -> bool:
    """A skip is allowed under CI only where the machine lacks something, and only for what it lacks."""
    tag = TAG.search(reason)
    if tag is None:                 # a skipif marker or a bare pytest.skip: no recognised reason attached
        return bool(MACHINE_LACKS)
    return tag.group(1) in Why.__members__ and Why[tag.group(1)] in MACHINE_LACKS


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if not (UNDER_CI and report.skipped and item.get_closest_marker("live")):
        return
    reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
    if not _allowed_under_ci(reason):
        lacks = "; ".join(MACHINE_LACKS.values()) or "nothing"
        report.outcome = "failed"
        report.longrepr = (f"a live test skipped under CI on a machine that lacks {lacks}, so the experiment "
                           f"should have run: {reason}")
