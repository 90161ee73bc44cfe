"""Live: what a context switch costs here, what a thread costs, and thread-per-connection vs epoll on loopback.

Each experiment runs in child processes (``python -m netlab.live.sched_child``), is bounded in time and
count, talks only over 127.0.0.1, changes no setting of the machine and cleans up every process it started, also
on error or interrupt. Each returns a :class:`~netlab.live.result.LiveResult`; where it cannot run (not Linux, no
``select.epoll``, no ``fork``) the result says why.

- :func:`context_switch_cost`: two processes bounce a byte through two pipes (pinned to one CPU when the kernel
  lets us): every round trip is two switches. The same writes and reads without a partner give the syscall
  part, which the per-switch figure also reports separately.
- :func:`thread_memory`: VmSize and VmRSS of a process before and after starting N threads blocked in recv().
- :func:`echo_servers`: an echo server on 127.0.0.1, first with one blocking thread per connection, then with one
  ``select.epoll`` loop, each loaded by the same closed-loop clients for the same time; the server reports
  ``getrusage(RUSAGE_SELF)`` (all its threads) and requests served.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from typing import Annotated, Callable

from netlab import check
from netlab.live.result import LiveProbeError, LiveProbeTimeout, LiveResult, Why, run_child, stderr_tail
from netlab.units import number

CHILD_MODULE = "netlab.live.sched_child"
Progress = Callable[[str], None]


def _quiet(_: str) -> None:
    pass


def _why_not(need_epoll: bool = False) -> str | None:
    """Why these experiments cannot run here (all are Linux-only: fork, epoll, Linux's switch counters)."""
    if not sys.platform.startswith("linux"):
        return f"this is {sys.platform}, not Linux (the experiment reads Linux's context-switch counters)"
    if not hasattr(os, "fork"):
        return "this Python cannot fork, which only Linux's (and other Unix) Pythons can"
    if need_epoll:
        import select
        if not hasattr(select, "epoll"):
            return "this Python has no select.epoll, which exists only on Linux"
    return None


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.kill()
    proc.wait(timeout=5)
    for stream in (proc.stdout, proc.stderr):
        if stream is not None:
            stream.close()


def _child(*args: str) -> list[str]:
    return [sys.executable, "-m", CHILD_MODULE, *args]


def _pingpong_value(r: dict) -> dict:
    return {**r, "switch_ns": r["round_trip_ns"] / 2,  # two switches per round trip
            "switch_ns_without_syscalls": max(0.0, (r["round_trip_ns"] - r["syscalls_ns"]) / 2)}


@check.arguments
def context_switch_cost(rounds: int = 20_000, pin: bool = True, timeout_s: check.Timeout = 20.0) -> LiveResult:
    """ns per context switch from a pipe ping-pong between two processes (``rounds`` round trips)."""
    if not isinstance(rounds, int) or not 100 <= rounds <= 1_000_000:
        raise ValueError("rounds must be an int in 100..1000000")
    what, how = "one context switch", f"a pipe ping-pong between two processes, {number(rounds)} round trips"
    reason = _why_not()
    if reason:
        return LiveResult.unavailable(what, how, Why.NOT_LINUX, reason)
    return run_child(what, how + (" on one CPU (if the kernel lets us pin)" if pin else ""), CHILD_MODULE,
                     ["pingpong", str(rounds), "1" if pin else "0"], timeout_s, _pingpong_value)


def _thread_value(threads: int) -> Callable[[dict], dict]:
    return lambda r: {**r, "vmsize_kb_per_thread": r["vmsize_kb"] / threads,
                      "vmrss_kb_per_thread": r["vmrss_kb"] / threads}


@check.arguments
def thread_memory(threads: int = 100, timeout_s: check.Timeout = 20.0) -> LiveResult:
    """Per thread: address space (VmSize) and resident memory (VmRSS) of threads blocked in recv()."""
    if not isinstance(threads, int) or not 1 <= threads <= 2000:
        raise ValueError("threads must be an int in 1..2000")
    what, how = "memory of one thread", f"/proc/self/status of a child before and after {threads} threads"
    reason = _why_not()
    if reason:
        return LiveResult.unavailable(what, how, Why.NOT_LINUX, reason)
    return run_child(what, how, CHILD_MODULE, ["threads", str(threads)], timeout_s, _thread_value(threads))


@check.arguments
def echo_server(model: str, connections: int = 100, seconds: Annotated[float, check.Range(0.1, 10)] = 2.0,
                size: int = 100, progress: Progress = _quiet) -> dict:
    """One run: a server child (``model``) and a client child; returns the server's report. Raises on failure."""
    server = subprocess.Popen(_child("serve", model, str(connections), str(seconds)), stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
    client = None
    try:
        port = int(server.stdout.readline().strip() or 0)
        if not port:
            raise RuntimeError(f"the {model} server did not start: {stderr_tail(server.stderr.read())}")
        progress(f"{model}: {connections} clients for {seconds:g} s …")
        client = subprocess.Popen(_child("clients", str(port), str(connections), str(seconds), str(size)),
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        _, client_err = client.communicate(timeout=seconds + 15)
        if client.returncode != 0:
            raise RuntimeError(f"the clients of the {model} server failed: {stderr_tail(client_err)}")
        out, err = server.communicate(timeout=15)
        if server.returncode != 0:
            raise RuntimeError(f"the {model} server failed: {stderr_tail(err)}")
        report = json.loads(out.strip().splitlines()[-1])
    finally:
        for proc in (client, server):
            if proc is not None:
                _stop(proc)
    report["requests_per_s"] = report["requests"] / report["seconds"] if report["seconds"] else 0.0
    switches = report["nvcsw"] + report["nivcsw"]
    report["switches_per_request"] = switches / report["requests"] if report["requests"] else float("nan")
    # only the voluntary ones (the server blocked) belong to the server model: other load adds involuntary ones
    report["voluntary_per_request"] = report["nvcsw"] / report["requests"] if report["requests"] else float("nan")
    progress(f"{model}: {number(report['requests'])} requests, {number(switches)} context switches")
    return report


@check.arguments
def echo_servers(connections: int = 100, seconds: Annotated[float, check.Range(0.1, 10)] = 2.0,
                 size: int = 100, progress: Progress = _quiet) -> LiveResult:
    """Thread-per-connection vs one epoll loop, the same clients: requests/s and switches per request."""
    if not isinstance(connections, int) or not 1 <= connections <= 1000:
        raise ValueError("connections must be an int in 1..1000")
    if not isinstance(seconds, (int, float)) or not 0.1 <= seconds <= 10:
        raise ValueError("seconds must be between 0.1 and 10")
    if not isinstance(size, int) or not 1 <= size <= 4096:
        raise ValueError("size must be an int in 1..4096 (bytes per request)")
    if not callable(progress):
        raise TypeError("progress must be a callable(str)")
    what = "context switches per request: thread-per-connection vs epoll"
    how = (f"loopback echo server in a child process, {connections} closed-loop clients × {seconds:g} s each, "
           f"getrusage(RUSAGE_SELF) in the server")
    reason = _why_not(need_epoll=True)
    if reason:
        return LiveResult.unavailable(what, how, Why.NOT_LINUX, reason)
    results = {}
    start = time.monotonic()
    try:
        for model in ("threads", "epoll"):
            results[model] = echo_server(model, connections, seconds, size, progress)
    except subprocess.TimeoutExpired as e:
        raise LiveProbeTimeout(what, how, f"a child process took longer than {e.timeout:g} s and was killed") \
            from None
    except RuntimeError as e:
        raise LiveProbeError(what, how, str(e)) from None
    progress(f"done in {time.monotonic() - start:.1f} s")
    return LiveResult(what, how, results)
