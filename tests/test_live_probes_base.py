from netlab.live.kallsyms import ABSENT, FOUND, in_your_kernel, kallsyms_names
import errno
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from netlab.live.result import (LiveProbeError, LiveProbeTimeout, LiveResult, Unavailable, Why, child_reply, probe,
                                run_child)

KALLSYMS = """ffffffff81000000 T _stext
ffffffff81a0b2c0 T net_rx_action
ffffffff81a0b400 t __napi_poll.constprop.0
ffffffff81a0b500 d some_data
"""


def test_kallsyms_names_strip_compiler_suffixes_and_skip_data():
    assert kallsyms_names(KALLSYMS) == {"_stext", "net_rx_action", "__napi_poll"}


def test_in_your_kernel_marks_inlined_functions(tmp_path):
    f = tmp_path / "kallsyms"
    f.write_text(KALLSYMS)
    result = in_your_kernel(["net_rx_action", "napi_schedule"], path=str(f))
    assert result.available and result.value == {"net_rx_action": FOUND, "napi_schedule": ABSENT}


def test_in_your_kernel_says_why_not(tmp_path):
    missing = in_your_kernel(["x"], path=str(tmp_path / "nope"))
    assert missing.why is Why.NO_ENTRY and "not available here, because" in str(missing)
    empty = tmp_path / "empty"
    empty.write_text("")
    nothing = in_your_kernel(["x"], path=str(empty))
    assert (nothing.why, nothing.reason) == (Why.UNKNOWN_FORMAT, f"{empty} lists no functions here")


def _raising(error: BaseException):
    def read():
        raise error
    return read


def test_probe_names_the_recognised_reasons_and_raises_on_the_rest():
    denied = probe("slab", "reading /proc/slabinfo", _raising(PermissionError(13, "Permission denied",
                                                                              "/proc/slabinfo")))
    assert denied == LiveResult("slab", "reading /proc/slabinfo", None, "/proc/slabinfo is not readable without "
                                "more privilege (EACCES)", Why.PERMISSION)
    gone = probe("x", "reading /proc/x", _raising(FileNotFoundError(errno.ENOENT, "No such file", "/proc/x")))
    assert gone.why is Why.NO_ENTRY and gone.reason.startswith("/proc/x does not exist")
    told = probe("x", "y", _raising(Unavailable(Why.KERNEL_LACKS, "this kernel has no x")))
    assert (told.why, told.reason) == (Why.KERNEL_LACKS, "this kernel has no x")
    with pytest.raises(LiveProbeError, match=r"x: the probe failed, and not for a reason netlab recognises: EIO"):
        probe("x", "y", _raising(OSError(errno.EIO, "Input/output error")))
    with pytest.raises(StopIteration, match="no such row"):         # not an OSError: never a reason
        probe("x", "y", _raising(StopIteration("no such row")))


def test_a_result_is_either_a_value_or_a_kind_and_a_sentence():
    with pytest.raises(ValueError, match="needs both a kind"):
        LiveResult("x", "y", None, "a sentence without a kind")
    with pytest.raises(ValueError, match="needs both a kind"):
        LiveResult("x", "y", None, None, Why.PERMISSION)
    with pytest.raises(TypeError, match="why must be a Why, got 'PERMISSION'"):
        LiveResult.unavailable("x", "y", "PERMISSION", "a str is not a kind")
    with pytest.raises(TypeError, match="why must be a Why, got 'no kind'"):
        Unavailable("no kind", "a sentence")
    with pytest.raises(ValueError, match="non-empty 'what' and 'how'"):
        LiveResult("", "y", 1)


def _child_module(tmp_path, monkeypatch, code: str) -> str:
    (tmp_path / "netlab_test_child.py").write_text(code)
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))
    return "netlab_test_child"


CHILD_REPLY = "from netlab.live.result import Unavailable, Why, child_reply\n"


def test_a_child_passes_back_its_measurement_or_its_recognised_reason(tmp_path, monkeypatch):
    module = _child_module(tmp_path, monkeypatch, CHILD_REPLY + "child_reply(lambda: {'n': 3})\n")
    assert run_child("x", "y", module, [], 30, lambda v: v["n"] * 2).value == 6
    module = _child_module(tmp_path, monkeypatch, CHILD_REPLY + "def work():\n"
                           "    raise Unavailable(Why.NAMESPACES_REFUSED, 'unshare answered EPERM')\n"
                           "child_reply(work)\n")
    r = run_child("x", "y", module, [], 30, dict)
    assert (r.why, r.reason) == (Why.NAMESPACES_REFUSED, "unshare answered EPERM")


def test_a_crashed_child_is_an_error_carrying_its_stderr(tmp_path, monkeypatch):
    module = _child_module(tmp_path, monkeypatch, CHILD_REPLY + "child_reply(lambda: next(iter([])))\n")
    with pytest.raises(LiveProbeError, match=r"exited with status 1: Traceback(.|\n)*StopIteration"):
        run_child("x", "y", module, [], 30, dict)
    module = _child_module(tmp_path, monkeypatch, "print('{\"unavailable\": \"no kind given\"}')\n")
    with pytest.raises(LiveProbeError, match="the child gave an unrecognised reason"):
        run_child("x", "y", module, [], 30, dict)


def test_a_hanging_child_is_killed_and_the_timeout_is_an_error(tmp_path, monkeypatch):
    module = _child_module(tmp_path, monkeypatch, "import time; time.sleep(60)\n")
    with pytest.raises(LiveProbeTimeout, match=r"longer than 0\.5 s and was killed"):
        run_child("x", "y", module, [], 0.5, dict)


STRICT_CHECK = '''
import pytest
from netlab.live.result import LiveResult, Why

@pytest.mark.live
def test_through_the_fixture(skip_unless_expected):
    skip_unless_expected(LiveResult.unavailable("x", "y", Why.KERNEL_LACKS, "this kernel is old"))

@pytest.mark.live
def test_bare_skip():
    pytest.skip("no reason given")

def test_not_live():
    pytest.skip("not a live test")

@pytest.mark.live
def test_unexpected_kind(skip_unless_expected):
    skip_unless_expected(LiveResult.unavailable("x", "y", Why.KERNEL_LACKS, "old"), Why.PERMISSION)
'''


@pytest.mark.parametrize("ci", ["true", ""])
def test_a_skipped_live_test_fails_under_ci_where_the_machine_lacks_its_reason(tmp_path, ci):
    from conftest import MACHINE_LACKS

    (tmp_path / "conftest.py").write_text((Path(__file__).parent / "conftest.py").read_text())
    (tmp_path / "test_strict.py").write_text(STRICT_CHECK)
    done = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-v", "-rf", "-W",
                           "ignore::pytest.PytestUnknownMarkWarning", str(tmp_path)],
                          capture_output=True, text=True, timeout=120, cwd=tmp_path, env={**os.environ, "CI": ci})
    outcome = dict(re.findall(r"::(test_\w+) (PASSED|FAILED|SKIPPED)", done.stdout))
    assert outcome["test_unexpected_kind"] == "FAILED"
    assert outcome["test_not_live"] == "SKIPPED"
    if not ci:
        assert outcome["test_through_the_fixture"] == outcome["test_bare_skip"] == "SKIPPED"
    elif not MACHINE_LACKS:                   # this machine kind: every live experiment can run
        assert outcome["test_through_the_fixture"] == outcome["test_bare_skip"] == "FAILED"
        assert "a live test skipped under CI on a machine that lacks nothing" in done.stdout
    else:
        assert outcome["test_through_the_fixture"] == ("SKIPPED" if Why.KERNEL_LACKS in MACHINE_LACKS
                                                       else "FAILED")
