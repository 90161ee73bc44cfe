"""Live context-switch experiments: they run here (bounded, loopback, child processes) or say why not."""
import shutil
import subprocess
import sys

import pytest

from netlab.live import sched_experiments as sx
from netlab.scenarios.blocking_vs_epoll import Workload, compare_servers

linux = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the experiments need Linux")


@pytest.mark.live
@linux
def test_context_switch_cost_is_microseconds():
    r = sx.context_switch_cost(rounds=3000)
    assert r.available, r.reason
    assert 200 < r.value["switch_ns"] < 500_000  # a switch costs µs: not ns, not ms
    assert r.value["nvcsw"] + r.value["nivcsw"] >= 0.5 * 3000  # the parent leaves the CPU about once per round


@pytest.mark.live
@linux
def test_thread_memory_reserves_a_stack_but_touches_little_of_it():
    r = sx.thread_memory(threads=20)
    assert r.available, r.reason
    if r.value["stack_kb"] > 0:
        assert r.value["vmsize_kb_per_thread"] >= r.value["stack_kb"]  # at least the whole stack is reserved
    assert 0 <= r.value["vmrss_kb_per_thread"] < 1024                  # but only KiBs of it are resident


@pytest.mark.live
@linux
def test_live_servers_switch_in_the_direction_the_model_predicts():
    lines = []
    r = sx.echo_servers(connections=20, seconds=0.4, progress=lines.append)
    assert r.available, r.reason
    live = {m: r.value[m]["switches_per_request"] for m in ("threads", "epoll")}
    model = {m: run.switches_per_request for m, run in compare_servers(
        Workload(connections=20, duration_ns=4_000_000, warmup_ns=1_000_000)).items()}
    assert live["threads"] > 2 * live["epoll"] and model["threads"] > 2 * model["epoll"]
    assert 0.3 < live["threads"] < 30  # the model's ~1 per request, within an order of magnitude
    assert any("threads:" in line for line in lines) and lines[-1].startswith("done")


def test_fallbacks_say_why(monkeypatch):
    monkeypatch.setattr(sys, "platform", "darwin")
    for result in (sx.context_switch_cost(rounds=100), sx.thread_memory(threads=1), sx.echo_servers(1, 0.1)):
        assert not result.available and "not Linux" in result.reason


def test_no_epoll_says_why(monkeypatch):
    import select
    monkeypatch.delattr(select, "epoll", raising=False)
    r = sx.echo_servers(1, 0.1)
    assert not r.available and "select.epoll" in r.reason


def _fake_child(monkeypatch, tmp_path, code: str) -> None:
    (tmp_path / "fake_sched_child.py").write_text(code)
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))
    monkeypatch.setattr(sx, "CHILD_MODULE", "fake_sched_child")


def test_a_failing_child_becomes_a_reason(monkeypatch, tmp_path):
    _fake_child(monkeypatch, tmp_path, "import sys; sys.exit('no pipes here')\n")
    r = sx.context_switch_cost(rounds=100)
    assert not r.available and "no pipes here" in r.reason
    r = sx.echo_servers(1, 0.1)
    assert not r.available and "did not start" in r.reason


@pytest.mark.skipif(shutil.which("pgrep") is None, reason="no pgrep here to look for left-over processes")
def test_a_hanging_child_is_killed(monkeypatch, tmp_path):
    _fake_child(monkeypatch, tmp_path, "import time; time.sleep(60)\n")
    r = sx.thread_memory(threads=1, timeout_s=0.5)
    assert not r.available and "killed" in r.reason
    left = subprocess.run(["pgrep", "-f", "fake_sched_child"], capture_output=True, text=True).stdout
    assert left == ""


def test_bad_input():
    with pytest.raises(ValueError):
        sx.context_switch_cost(rounds=5)
    with pytest.raises(ValueError):
        sx.echo_servers(connections=0)
    with pytest.raises(TypeError):
        sx.echo_servers(progress="print")
