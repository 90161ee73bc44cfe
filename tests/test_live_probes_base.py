from netlab.live.kallsyms import ABSENT, FOUND, in_your_kernel, kallsyms_names
from netlab.live.result import LiveResult, probe

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
    assert not missing.available and "does not exist" in missing.reason and "not available here" in str(missing)
    empty = tmp_path / "empty"
    empty.write_text("")
    assert "lists no functions" in in_your_kernel(["x"], path=str(empty)).reason


def test_probe_turns_permission_errors_into_reasons():
    def deny():
        raise PermissionError(13, "Permission denied", "/proc/slabinfo")
    r = probe("slab", "reading /proc/slabinfo", deny)
    assert r == LiveResult("slab", "reading /proc/slabinfo", None, r.reason) and "privilege" in r.reason
