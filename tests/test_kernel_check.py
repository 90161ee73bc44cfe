"""python -m netlab.check: the claim rows, their table and summary line, the collector, each live experiment on this
machine, and the "not measurable here" paths (namespaces refused, no nft)."""
import os
import shutil
import subprocess
import sys

import pytest

from netlab.live import accept_balance, limits, packet_tap, time_wait
from netlab.live.claims import Claim
from netlab.live.result import LiveResult, Unavailable, Why
from netlab.scenarios import handshake_claims, kernel_check
from netlab.scenarios.blocking_vs_epoll import workers_turns
from netlab.view.claims import claims_table, summary_line

linux = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="live experiments need Linux")
SUMMARY = "netlab check: {} of {} claims agree with this kernel, {} disagree, {} not measurable here"


def _rows():
    return [Claim("a", "07", "p", "1", "1", True), Claim("b", "02", "p", "1", "2", False),
            Claim.unmeasured("c", "01", "p", "m", "new namespaces are refused")]


def test_a_claim_is_measured_or_says_why_not():
    with pytest.raises(ValueError):
        Claim("a", "07", "p", "m", None, True)
    with pytest.raises(ValueError):
        Claim("a", "07", "p", "m", "k", True, "a reason as well")
    with pytest.raises(ValueError):
        Claim("a", "7", "p", "m", "k", True)
    refused = LiveResult.unavailable("w", "h", Why.NAMESPACES_REFUSED, "unshare answered EPERM")
    row = Claim.from_result("a", "07", "p", "m", refused)
    assert (row.kernel, row.agrees, row.reason) == (None, None, "unshare answered EPERM")


def test_the_table_and_its_one_summary_line():
    rows = _rows()
    assert summary_line(rows) == SUMMARY.format(1, 3, 1, 1)
    html = claims_table(rows)._repr_html_()
    assert "<table" in html and "not measurable here, because new namespaces are refused" in html
    text = str(claims_table(rows))
    assert "NO" in text and max(map(len, text.splitlines())) <= 140      # cells wrap within their columns
    with pytest.raises(TypeError):
        summary_line(["a"])


def test_the_collector_calls_every_source_and_reports_progress(monkeypatch):
    asked = []

    def source(chapters=None, quick=False):
        asked.append((chapters, quick))
        yield from _rows()

    monkeypatch.setattr(kernel_check, "SOURCES", (source, source))
    seen = []
    rows = kernel_check.collect(["07"], quick=True, progress=lambda row, s: seen.append(row.claim))
    assert len(rows) == 6 and seen == ["a", "b", "c"] * 2 and asked == [(["07"], True)] * 2
    assert [row.chapter for row in rows] == ["01", "01", "02", "02", "07", "07"]     # the table goes by chapter
    monkeypatch.setattr(kernel_check, "SOURCES", (lambda chapters=None, quick=False: ["not a claim"],))
    with pytest.raises(TypeError):
        kernel_check.collect()


def test_chapter_05s_namespace_lab_is_a_source():
    assert handshake_claims.claims in kernel_check.SOURCES


def test_the_claims_of_a_chapter_run_only_its_experiments(monkeypatch):
    ran = []
    monkeypatch.setattr(kernel_check, "EXPERIMENTS", tuple(
        kernel_check.Experiment(e.name, e.chapters, lambda quick, name=e.name: ran.append(name) or [])
        for e in kernel_check.EXPERIMENTS))
    list(kernel_check.claims(["07"]))
    assert ran == ["TIME_WAIT", "ports", "EMFILE"]
    list(kernel_check.claims(["02"], experiments=["accept balancing"]))
    assert ran[3:] == ["accept balancing"]
    with pytest.raises(ValueError, match="experiments must be names"):
        list(kernel_check.claims(experiments=["no such experiment"]))


@linux
def test_a_chapter_gets_only_its_own_rows():
    assert [row.chapter for row in kernel_check.claims(["06"], quick=True)] == ["06"]


def test_the_model_takes_turns_in_accept_and_keeps_the_first_with_epollexclusive():
    assert workers_turns("accept", 3, 6)["order"] == [0, 1, 2, 0, 1, 2]
    assert workers_turns("epoll_exclusive", 3, 6) == {"order": [0] * 6, "wakeups": [6, 0, 0]}


@linux
def test_every_experiment_live_here():
    taps = packet_tap.tap_vs_netfilter()
    if taps.available:
        r = taps.value
        assert (r.input_captured_in, r.input_delivered, r.input_dropped) == (True, False, 1)
        assert (r.output_captured, r.output_send_error, r.output_dropped) == (False, "EPERM", 1)
    ports = limits.namespace_port_exhaustion(6)
    if ports.available:
        assert (ports.value.first, ports.value.error, ports.value.second_server_port) == (6, "EADDRNOTAVAIL", 6)
    tw = time_wait.time_wait(2)
    if tw.available:
        r = tw.value
        assert (r.client_time_wait, r.server_time_wait, r.without_reuse, r.with_reuse, r.reused_port) == \
               (2, 0, "EADDRNOTAVAIL", "none", time_wait.ONE_PORT)
    assert accept_balance.accept_balance("accept").value.order == (0, 1, 2, 0, 1, 2)
    assert accept_balance.accept_balance("epoll_exclusive").value.order == (0,) * 6


def test_the_experiments_refuse_bad_arguments():
    with pytest.raises(ValueError):
        accept_balance.accept_balance("select")
    with pytest.raises(ValueError):
        limits.namespace_port_exhaustion(1)
    with pytest.raises(ValueError):
        time_wait.time_wait(0)


def test_without_nft_the_tap_experiment_says_so(monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda *a, **k: None)
    with pytest.raises(Unavailable, match="nft is not installed"):
        packet_tap.nft_path()


def _run_check(prefix: list[str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*prefix, sys.executable, "-m", "netlab.check", "--quick", *args], capture_output=True,
                          text=True, timeout=120, env={**os.environ, "PYTHONWARNINGS": "error::RuntimeWarning"})


@linux
def test_the_command_exits_0_and_ends_with_the_summary_line():
    done = _run_check([])
    assert done.returncode == 0, done.stderr
    last = done.stdout.strip().splitlines()[-1]
    assert last.startswith("netlab check: ") and last.endswith(" not measurable here")
    assert "chapter 01: tcpdump captures" in done.stderr          # progress, one line per claim
    assert "chapter 05: SYNs that never finish" in done.stderr


@linux
@pytest.mark.skipif(shutil.which("unshare") is None, reason="needs util-linux unshare")
def test_where_namespaces_are_refused_the_command_still_exits_0():
    """FIELD_NOTES: inside ``unshare -U -r``, max_user_namespaces 0 makes a nested unshare(CLONE_NEWUSER) fail."""
    refuse = ["unshare", "-U", "-r", "sh", "-c", 'echo 0 > /proc/sys/user/max_user_namespaces && exec "$@"', "sh"]
    probe = subprocess.run(refuse + ["true"], capture_output=True, timeout=10)
    if probe.returncode:
        pytest.skip("this machine refuses the outer user namespace already")
    done = _run_check(refuse, *[arg for chapter in ("01", "05", "07") for arg in ("--chapter", chapter)])
    # the chapters with namespace experiments
    assert done.returncode == 0, done.stderr
    assert "chapter 01: tcpdump captures an incoming packet that an INPUT rule drops (one datagram to a port an " \
           "nft INPUT rule drops, an AF_PACKET socket on lo) — not measurable here, because " \
           "unshare(CLONE_NEWUSER|CLONE_NEWNET) answered ENOSPC" in done.stderr
    assert "chapter 05: SYNs that never finish" in done.stderr
    rows = done.stdout.strip().splitlines()
    assert rows[-1].startswith("netlab check: ") and " 0 disagree, " in rows[-1]
