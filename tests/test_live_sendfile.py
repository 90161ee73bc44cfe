"""The live sendfile experiment: it measures on Linux, cleans up after itself, and says why when it cannot."""
import glob
import os
import sys
import tempfile

import pytest

from netlab.live import sendfile as live
from netlab.live.result import LiveProbeError, Why
from netlab.scenarios.send import file_send_counts, model_file_send

linux = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="sendfile() to a socket is Linux's")


def _leftovers() -> list[str]:
    return glob.glob(os.path.join(tempfile.gettempdir(), "netlab-sendfile-*"))


@pytest.mark.live
@linux
def test_sendfile_uses_one_syscall_and_less_system_cpu_than_read_plus_send(skip_unless_expected):
    before = set(_leftovers())
    seen = []
    reading = skip_unless_expected(live.file_send(32, repeats=2, progress=seen.append), Why.NOT_LINUX)
    runs = reading.runs
    assert runs["sendfile"].syscalls <= 2 and runs["read+send"].syscalls == 2 * (32 << 20) // 65536
    assert all(r.bytes == 32 << 20 and r.wall_s > 0 for r in runs.values())
    # getrusage here is sampled by 4 ms scheduler ticks (CONFIG_TICK_CPU_ACCOUNTING, HZ=250) and 32 MiB takes
    # only a few ticks of system time (0-5 ms measured for read+send): a direction with 2.5 ticks of slack
    assert runs["sendfile"].sys_s <= runs["read+send"].sys_s * 1.5 + 0.01
    assert len(seen) == 5 and set(_leftovers()) == before
    if reading.net_tx is not None:
        assert reading.net_rx > reading.net_tx          # loopback: no qdisc, NET_RX does it all (chapter 03, § 5)


@linux
def test_a_child_that_cannot_run_is_an_error_and_nothing_is_left(monkeypatch):
    before = set(_leftovers())
    monkeypatch.setattr(live, "CHILD", live.CHILD.with_name("no_such_child.py"))
    with pytest.raises(LiveProbeError, match="the sending child exited with status 2: .*no_such_child.py"):
        live.file_send(1, repeats=1, timeout_s=10)
    with pytest.raises(LiveProbeError, match="the child process exited with status 2: .*no_such_child.py"):
        live.calibrate()
    assert set(_leftovers()) == before


def test_not_linux_is_not_available(monkeypatch):
    monkeypatch.setattr(live.sys, "platform", "darwin")
    for result in (live.file_send(1), live.calibrate()):
        assert result.why is Why.NOT_LINUX and "darwin" in result.reason


@pytest.mark.live
@linux
def test_missing_softirqs_file_leaves_the_counts_unknown(skip_unless_expected):
    reading = skip_unless_expected(live.file_send(1, methods=("sendfile",), repeats=1,
                                                  softirqs_path="/nonexistent/softirqs"), Why.NOT_LINUX)
    assert reading.net_tx is None and reading.net_rx is None


def test_bad_parameters_are_refused():
    with pytest.raises(ValueError, match=r"size_mb must be an int in 1\.\.512"):
        live.file_send(0)
    with pytest.raises(ValueError, match=r"methods must be some of \('read\+send', 'sendfile'\)"):
        live.file_send(1, methods=("telnet",))
    with pytest.raises(ValueError, match=r"repeats must be an int in 1\.\.5"):
        live.file_send(1, repeats=9)
    with pytest.raises(TypeError, match="progress must be a callable, got 'yes'"):
        live.file_send(1, progress="yes")
    with pytest.raises(ValueError, match=r"chunk must be an int in 4096\.\.16 MiB"):
        live.calibrate(chunk=1)
    with pytest.raises(ValueError, match=r"copies and syscalls_per_gb need 'read\+send' and 'sendfile'"):
        live.predict({"sendfile": 0}, {"sendfile": 1}, 10, 1e-7)


def test_prediction_prices_the_model_copies_and_syscalls():
    copies, calls = {}, {}
    for method in ("read+send", "sendfile"):
        ledger, _ = model_file_send(method, 1 << 20, device="lo")
        copies[method] = ledger.copies_of(1 << 20)
        calls[method] = len(ledger.syscalls) / (1 << 20) * 1e9
    p = live.predict(copies, calls, copy_gbs=10.0, syscall_s=1e-7)
    assert p.copies_saved == 2.0
    assert p.saved_s_per_gb == pytest.approx(2 / 10 + p.syscalls_saved_per_gb * 1e-7)
    # read+send: 2 calls per 64 KiB chunk; sendfile: 1 call per 1 MiB file
    assert p.syscalls_saved_per_gb == pytest.approx(2 * 1e9 / 65536 - 1e9 / (1 << 20))


@pytest.mark.live
@linux
def test_calibration_gives_plausible_numbers(skip_unless_expected):
    v = skip_unless_expected(live.calibrate(), Why.NOT_LINUX)
    # plausibility by orders of magnitude: memory copies run at ~1-50 GB/s from a Raspberry Pi to a server, a
    # trivial system call from Python costs ~50 ns-5 µs; the bounds allow ten times more either way
    assert 0.1 < v["copy_gbs"] < 500 and 1e-9 < v["syscall_s"] < 1e-3


def test_compare_puts_measured_next_to_the_model_with_the_ratio():
    size = 4 << 20
    runs = {"read+send": live.SendRun("read+send", size, 0.01, 0.0, 0.002, 128),
            "sendfile": live.SendRun("sendfile", size, 0.01, 0.0, 0.001, 1)}
    model = file_send_counts(size)
    assert model["read+send"]["syscalls"] == 128 and model["sendfile"]["syscalls"] == 1
    assert model["sendfile"]["NET_TX"] == 0 == model["read+send"]["NET_TX"]
    rows = {q: (m, mod, r) for q, m, mod, r in
            live.compare(live.FileSendReading(runs, None, 40, 2 * size, 1.0), model, 10.0, 1e-7)}
    assert rows["read+send: system calls for the file"] == (128, 128, 1.0)
    saved, predicted, ratio = rows["system CPU s/GB saved by sendfile"]
    assert saved == pytest.approx(0.001 / (size / 1e9)) and ratio == pytest.approx(saved / predicted)
    assert rows["NET_TX softirqs per GB (all CPUs)"][0] is None          # not readable: no number, no ratio
    assert rows["NET_RX softirqs per GB (all CPUs)"][0] == pytest.approx(40 / (2 * size / 1e9))


def test_the_throughput_difference_is_explained_from_the_numbers_measured():
    from netlab.view.live import file_send_text
    size = 128 << 20
    close = live.FileSendReading({"read+send": live.SendRun("read+send", size, 0.052, 0.0, 0.026, 4096),
                                  "sendfile": live.SendRun("sendfile", size, 0.055, 0.0, 0.011, 1)}, 0, 4000,
                                 2 * size, 1.0)
    text = " ".join(file_send_text(close, copy_gbs=10.0, syscall_s=2e-7).split())
    assert "sendfile() 2.44 GB/s, read()+send() 2.58 GB/s — the same within 10 %" in text
    assert "made 1 system call instead of 4,096" in text and "(57.7 % less)" in text
    assert "the two copies cost 0.2 s per GB" in text and "the copies are most of the saving" in text
    assert "busy only 50.0 % of its run with read()+send() and 20.0 % with sendfile()" in text
    assert "not the sender's copies, sets the pace" in text and "The page cache was hot" in text
    assert "read them as rough" in text                       # 11 ms of system CPU: a few scheduler ticks
    bound = live.FileSendReading({"read+send": live.SendRun("read+send", size, 0.2, 0.05, 0.15, 4096),
                                  "sendfile": live.SendRun("sendfile", size, 0.1, 0.0, 0.05, 1)}, 0, 4000,
                                 2 * size, 1.0)
    text = " ".join(file_send_text(bound).split())
    assert "— sendfile() 100.0 % faster" in text and "busy 100.0 % of its run: its own work set the pace" in text
    assert "Priced" not in text and "as rough" not in text
    with pytest.raises(ValueError, match="both copy_gbs and syscall_s"):
        file_send_text(close, copy_gbs=10.0)
    with pytest.raises(ValueError, match="FileSendReading"):
        file_send_text({"sendfile": 1})
