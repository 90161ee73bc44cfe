"""sendfile() vs read()+send() on your kernel: throughput and the sender's system CPU per GB, over loopback.

:func:`file_send` writes a temporary file, listens on 127.0.0.1, and for each method starts a **child process**
(``sendfile_child.py``, standard library only) that connects and sends the file while this process receives and
discards it. The child measures its own CPU with ``getrusage`` around the sending loop only, so the receiver's work
(and the softirq time, which the kernel books apart) is not counted. Runs alternate between the methods and each
method keeps its best run (the least disturbed by other work on the machine). ``/proc/softirqs`` is read before
and after. The file, the sockets and the children are cleaned up even on error.

:func:`predict` turns the chapter's copy ledgers (:func:`netlab.scenarios.send.file_send_counts`) into the
saving the model expects: sendfile avoids the two CPU copies per byte and all but one system call of
read()+send(), priced with this machine's memory-copy speed and system-call cost (:func:`calibrate`). What is left
of sendfile's CPU time — TCP, IP, the loopback device — both methods pay alike.
"""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

from netlab import check
from netlab.live import procfs
from netlab.live.result import LiveProbeError, LiveProbeTimeout, LiveResult, Why, stderr_tail

CHILD = Path(__file__).with_name("sendfile_child.py")
LIVE_METHODS = ("read+send", "sendfile")
GB = 1e9


@dataclass(frozen=True)
class SendRun:
    """One transfer as the sending child measured it."""

    method: str
    bytes: int
    wall_s: float
    user_s: float
    sys_s: float
    syscalls: int

    @property
    def gbytes_per_s(self) -> float:
        return self.bytes / self.wall_s / GB if self.wall_s else float("inf")

    @property
    def sys_s_per_gb(self) -> float:
        return self.sys_s / (self.bytes / GB)


@dataclass(frozen=True)
class FileSendReading:
    """The best run of each method and how /proc/softirqs moved over the whole experiment (all CPUs)."""

    runs: dict[str, SendRun]
    net_tx: int | None
    net_rx: int | None
    bytes_sent: int              # by all runs, while the softirqs were counted
    seconds: float


def _run_child(args: Sequence[str], timeout_s: float, what: str, how: str) -> dict:
    try:
        done = subprocess.run([sys.executable, "-I", str(CHILD), *args], capture_output=True, text=True,
                              timeout=timeout_s)
    except subprocess.TimeoutExpired:
        raise LiveProbeTimeout(what, how, f"the child process took longer than {timeout_s:g} s and was killed") \
            from None
    try:
        return json.loads(done.stdout.strip().splitlines()[-1])
    except (IndexError, ValueError):
        raise LiveProbeError(what, how, f"the child process exited with status {done.returncode}: "
                                        f"{stderr_tail(done.stderr)}") from None


@check.arguments
def calibrate(chunk: int = 65536, timeout_s: check.Timeout = 20.0) -> LiveResult:
    """This machine's memory copy speed in GB/s (32 MiB copied through a ``chunk``-byte buffer, the way read()
    copies a file into a program's buffer) and the cost of a trivial system call in seconds: ``{"copy_gbs",
    "syscall_s"}``."""
    what, how = "memory copy speed and system call cost", "a child copying 32 MiB and calling getppid()"
    if not isinstance(chunk, int) or not 4096 <= chunk <= 1 << 24:
        raise ValueError("chunk must be an int in 4096..16 MiB")
    if not sys.platform.startswith("linux"):
        return LiveResult.unavailable(what, how, Why.NOT_LINUX, f"the chapter compares it with Linux's sendfile() "
                                                                f"(this is {sys.platform})")
    return LiveResult(what, how, _run_child(["calibrate", str(chunk)], timeout_s, what, how))


def _softirq_totals(path: str) -> tuple[int, int] | None:
    reading = procfs.softirqs(path)
    if not reading.available or not {"NET_TX", "NET_RX"} <= set(reading.value.counts):
        return None
    return reading.value.total("NET_TX"), reading.value.total("NET_RX")


@check.arguments
def file_send(size_mb: int = 64, *, methods: Sequence[str] = LIVE_METHODS, repeats: int = 2, chunk: int = 65536,
              timeout_s: check.Timeout = 30.0, softirqs_path: str = "/proc/softirqs",
              progress: Callable[[str], None] | None = None) -> LiveResult:
    """Send a ``size_mb`` MiB file over loopback ``repeats`` times with each of ``methods``; see the module text.

    The value is a :class:`FileSendReading`.
    """
    what = "sending a file over loopback: read()+send() vs sendfile()"
    how = "a child process sends a temporary file to 127.0.0.1; getrusage in the child, /proc/softirqs around it"
    if not isinstance(size_mb, int) or not 1 <= size_mb <= 512:
        raise ValueError("size_mb must be an int in 1..512")
    if not methods or any(m not in LIVE_METHODS for m in methods):
        raise ValueError(f"methods must be some of {LIVE_METHODS}")
    if not isinstance(repeats, int) or not 1 <= repeats <= 5:
        raise ValueError("repeats must be an int in 1..5")
    if not isinstance(chunk, int) or not 4096 <= chunk <= 1 << 24:
        raise ValueError("chunk must be an int in 4096..16 MiB")
    if progress is not None and not callable(progress):
        raise TypeError("progress must be a callable(str) or None")
    if not sys.platform.startswith("linux") or not hasattr(os, "sendfile"):
        return LiveResult.unavailable(what, how, Why.NOT_LINUX, f"sendfile() to a socket is Linux's (this is "
                                                                f"{sys.platform})")
    report = progress or (lambda text: None)
    start = time.monotonic()
    with ExitStack() as stack:
        path = _temp_file(stack, size_mb)
        before = _softirq_totals(softirqs_path)
        best: dict[str, SendRun] = {}
        plan = [m for _ in range(repeats) for m in methods]
        for i, method in enumerate(plan, 1):
            report(f"run {i}/{len(plan)}: {method}, {size_mb} MiB …")
            run = _one_run(path, method, chunk, timeout_s, what, how)
            if method not in best or run.sys_s < best[method].sys_s:
                best[method] = run
        after = _softirq_totals(softirqs_path)
    report(f"done in {time.monotonic() - start:.1f} s")
    tx, rx = (after[0] - before[0], after[1] - before[1]) if before and after else (None, None)
    total = size_mb * (1 << 20) * len(plan)
    return LiveResult(what, how, FileSendReading(best, tx, rx, total, time.monotonic() - start))


def _temp_file(stack: ExitStack, size_mb: int) -> str:
    fd, path = tempfile.mkstemp(prefix="netlab-sendfile-")
    stack.callback(os.unlink, path)
    block = bytes(range(256)) * 4096                     # 1 MiB
    with os.fdopen(fd, "wb") as f:
        for _ in range(size_mb):
            f.write(block)
    return path


def _one_run(path: str, method: str, chunk: int, timeout_s: float, what: str, how: str) -> SendRun:
    with ExitStack() as stack:
        listener = stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        listener.settimeout(0.1)
        child = subprocess.Popen([sys.executable, "-I", str(CHILD), "send", str(listener.getsockname()[1]), path,
                                  method, str(chunk)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        stack.callback(_reap, child)
        deadline = time.monotonic() + timeout_s
        while True:                                   # wait for the child to connect, or to die trying
            try:
                conn, _ = listener.accept()
                break
            except socket.timeout:
                if child.poll() is not None:
                    raise LiveProbeError(what, how, f"the sending child exited with status {child.returncode}: "
                                                    f"{stderr_tail(child.stderr.read())}") from None
                if time.monotonic() > deadline:
                    raise LiveProbeTimeout(what, how, f"the sending child did not connect within {timeout_s:g} s") \
                        from None
        stack.enter_context(conn)
        conn.settimeout(timeout_s)
        sink = bytearray(1 << 20)
        while conn.recv_into(sink):
            pass
        try:
            out, err = child.communicate(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            raise LiveProbeTimeout(what, how, f"the sending child took longer than {timeout_s:g} s") from None
        try:
            answer = json.loads(out.strip().splitlines()[-1])
        except (IndexError, ValueError):
            raise LiveProbeError(what, how, f"the sending child exited with status {child.returncode}: "
                                            f"{stderr_tail(err)}") from None
        return SendRun(method, **answer)


def _reap(child: subprocess.Popen) -> None:
    if child.poll() is None:
        child.kill()
    child.wait()
    for stream in (child.stdout, child.stderr):
        if stream is not None:
            stream.close()


@dataclass(frozen=True)
class Prediction:
    """What the model expects sendfile to save against read()+send(), per GB sent."""

    copies_saved: float          # CPU copies of each byte
    syscalls_saved_per_gb: float
    saved_s_per_gb: float        # system CPU seconds


@check.arguments
def predict(copies: dict[str, float], syscalls_per_gb: dict[str, float], copy_gbs: float,
            syscall_s: float) -> Prediction:
    """The saving of ``sendfile`` over ``read+send`` from the model's ``copies`` (CPU copies per byte) and
    ``syscalls_per_gb``, priced at ``copy_gbs`` (GB/s) per copy and ``syscall_s`` per system call."""
    check.real("copy_gbs", copy_gbs, above=0)
    for name in ("read+send", "sendfile"):
        if name not in copies or name not in syscalls_per_gb:
            raise ValueError("copies and syscalls_per_gb need 'read+send' and 'sendfile'")
    saved_copies = copies["read+send"] - copies["sendfile"]
    saved_calls = syscalls_per_gb["read+send"] - syscalls_per_gb["sendfile"]
    return Prediction(saved_copies, saved_calls, saved_copies / copy_gbs + saved_calls * syscall_s)


@check.arguments
def compare(reading: FileSendReading, model: dict[str, dict[str, float]], copy_gbs: float,
            syscall_s: float) -> list[tuple[str, float | None, float, float | None]]:
    """(quantity, measured, model, measured / model) for the numbers the chapter checks; ``model`` comes from
    :func:`netlab.scenarios.send.file_send_counts` for the same
    file size."""
    check.real("copy_gbs", copy_gbs, above=0)
    rows = []
    for method, run in reading.runs.items():
        rows.append((f"{method}: system calls for the file", run.syscalls, model[method]["syscalls"]))
    if {"read+send", "sendfile"} <= set(reading.runs):
        size_gb = reading.runs["sendfile"].bytes / GB
        p = predict({m: model[m]["copies"] for m in model}, {m: model[m]["syscalls"] / size_gb for m in model},
                    copy_gbs, syscall_s)
        saved = reading.runs["read+send"].sys_s_per_gb - reading.runs["sendfile"].sys_s_per_gb
        rows.append(("system CPU s/GB saved by sendfile", saved, p.saved_s_per_gb))
    gb = reading.bytes_sent / GB
    for name in ("NET_RX", "NET_TX"):
        measured = getattr(reading, name.lower())
        mean = sum(model[m][name] for m in reading.runs) / len(reading.runs)
        rows.append((f"{name} softirqs per GB (all CPUs)", None if measured is None else measured / gb, mean))
    return [(q, m, mod, (m / mod if m is not None and mod else None)) for q, m, mod in rows]
