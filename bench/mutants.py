"""Does the test suite notice a real bug? Plant a fixed list of meaningful bugs, one at a time, and count the kills.

    python bench/mutants.py                  # every mutant, 2 at a time
    python bench/mutants.py NAME …           # only these (see --list)

Each mutant replaces one snippet of one model file. The snippet must occur exactly once in its file; when the code
moves, the run stops before testing anything and names the entry to update. Every run copies the repository's files
(``git ls-files``, working-tree contents) into a temporary directory and plants the bug there, so the working tree
is never edited and an interrupt cannot leave a bug behind. The copy is imported through ``PYTHONPATH`` (checked
before the run), and its tests run with this venv's Python: the mutant's test files, ``-m "not browser" -x``. A
mutant is killed when a test fails; a run longer than ``--timeout`` counts as killed and says so.

First the unmutated copy runs every named test file: if one fails, the counts would mean nothing and the run stops.

Prints one row per mutant (chapter, verdict, the test that killed it, seconds) and ends with the line
``mutants: <K> of <N> killed``. Exits 1 if a mutant survived (the aim is all of them), 2 if the list or the
baseline is broken.

To add a mutant: append a ``Mutant`` to ``MUTANTS`` with a short kebab-case name, its chapter, the file, the exact
snippet (copy it from the file, whitespace included, long enough to be unique), the buggy replacement, the bug in
one sentence, and the test files that should catch it; then run ``python bench/mutants.py <name>``.
"""
from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYTEST = ["-m", "pytest", "-m", "not browser", "-x", "-q", "-p", "no:cacheprovider"]

RECEIVE = ("tests/test_receive_models.py", "tests/test_load_receive.py", "tests/test_receive_views.py")
EPOLL = ("tests/test_epoll.py", "tests/test_blocking_vs_epoll.py", "tests/test_skbuff_wait.py")
SEND = ("tests/test_send.py", "tests/test_skbuff_wait.py", "tests/test_send_views.py")
LOOPBACK = ("tests/test_loopback.py", "tests/test_live_loopback.py")
HANDSHAKE = ("tests/test_handshake.py", "tests/test_view_handshake.py", "tests/test_live_accept_queue.py")
MEMORY = ("tests/test_memory.py", "tests/test_view_memory.py", "tests/test_live_connections.py")
LIMITS = ("tests/test_limits.py", "tests/test_live_connections.py", "tests/test_memory.py")


@dataclass(frozen=True)
class Mutant:
    name: str
    chapter: str
    file: str
    original: str
    replacement: str
    bug: str
    tests: tuple[str, ...]


MUTANTS = (
    # 01 receive
    Mutant("rx-ring-holds-count", "01", "netlab/kernel/nic.py",
           "return self.count - 1 - (self._use - self._clean)", "return self.count - (self._use - self._clean)",
           "the RX ring lets the driver give all count descriptors (the kernel keeps one unused)", RECEIVE),
    Mutant("net-rx-action-ignores-budget", "01", "netlab/kernel/dev.py",
           "budget -= napi_poll(todo[0], repoll)", "napi_poll(todo[0], repoll)",
           "net_rx_action never charges the packets polled against netdev_budget", RECEIVE),
    Mutant("softirq-jump-uses-last-restart", "01", "netlab/load/receive.py",
           "(k - p < self.softirq_restart - 1)", "(k - p < self.softirq_restart)",
           "the load model repeats a busy reader's NET_RX runs at irq_exit up to handle_softirqs' last restart, whose "
           "run's end wakes ksoftirqd instead", ("tests/test_rps.py",)),
    Mutant("rps-quiet-chunk-grows-own-one-early", "01", "netlab/load/receive.py",
           "q.rps.own[pos + m + 1:pos + m + len(more) + 1]", "q.rps.own[pos + m:pos + m + len(more)]",
           "where a quiet reader's poll reads past its chunk, the load model counts the skbs it keeps one packet "
           "early", ("tests/test_rps.py",)),
    Mutant("rps-310-squeeze-drops-a-napi", "01", "netlab/load/receive.py",
           "                plist = todo[i:]\n", "                plist = todo[i + 1:]\n",
           "after a 3.10 squeeze the load model's busy reader forgets the NAPI it had not polled yet",
           ("tests/test_rps.py",)),
    Mutant("stack-cost-400-ns", "01", "netlab/kernel/cpu.py",
           "stack_ns: int = 300 ", "stack_ns: int = 400 ",
           "the shared per-skb stack cost of the receive models is 400 ns instead of 300 ns", RECEIVE),
    # 02 blocking vs epoll
    Mutant("ep-poll-callback-ignores-event-mask", "02", "netlab/kernel/eventpoll.py",
           "    elif pollflags and not pollflags & epi.event.events:\n"
           "        trace_printk(f\"{epi.name} did not ask for {event_names(pollflags)}\")\n", "",
           "ep_poll_callback queues the epitem for any event, also one it did not ask for", EPOLL),
    Mutant("ep-poll-callback-requeues-linked-item", "02", "netlab/kernel/eventpoll.py",
           "elif not ep_is_linked(epi):", "elif True:",
           "ep_poll_callback adds the epitem to rdllist even when it is on it already", EPOLL),
    Mutant("epoll-wait-ignores-maxevents", "02", "netlab/kernel/eventpoll.py",
           "        if res >= maxevents:\n            break\n", "",
           "ep_send_events delivers every ready item, more than maxevents", EPOLL),
    Mutant("wake-up-wakes-every-exclusive-waiter", "02", "netlab/kernel/wait.py",
           "            if nr_exclusive == 0:\n                break\n", "",
           "__wake_up_common wakes all exclusive waiters instead of nr_exclusive (wake-one becomes wake-all)",
           EPOLL),
    # 03 send
    Mutant("skb-clone-does-not-count-dataref", "03", "netlab/kernel/skbuff.py",
           "    skb.cloned = True\n    skb.shinfo.dataref += 1\n", "    skb.cloned = True\n",
           "skb_clone shares the data without dataref++, so freeing either head frees the shared data", SEND),
    Mutant("qdisc-ignores-dev-tx-weight", "03", "netlab/kernel/sch_generic.py",
           "        quota -= 1\n", "",
           "__qdisc_run never uses up its dev_tx_weight quota, so it never defers to NET_TX", SEND),
    # 04 loopback
    Mutant("lo-prefix-not-local", "04", "netlab/kernel/route.py",
           "kind = RTN_LOCAL if loopback else RTN_UNICAST", "kind = RTN_UNICAST",
           "127.0.0.0/8 becomes a unicast route of table main instead of a local route", LOOPBACK),
    Mutant("own-address-leaves-through-its-nic", "04", "netlab/kernel/route.py",
           "        return Rtable(net.loopback_dev, RTN_LOCAL)", "        return Rtable(res.dev, RTN_LOCAL)",
           "a local address leaves through the device that holds it (the NIC) instead of lo", LOOPBACK),
    Mutant("veth-never-set-up", "04", "netlab/live/loopback.py",
           '        ipr.link("set", index=index["veth0"], state="up")\n', "",
           "the namespace experiment never sets veth0 up (no `ip link set veth0 up`)", LOOPBACK),
    # 05 handshake
    Mutant("accept-queue-full-at-backlog", "05", "netlab/kernel/inet_connection_sock.py",
           "return sk.sk_ack_backlog > sk.sk_max_ack_backlog", "return sk.sk_ack_backlog >= sk.sk_max_ack_backlog",
           "sk_acceptq_is_full tests >= instead of >: the accept queue holds backlog, not backlog+1", HANDSHAKE),
    Mutant("syn-queue-full-at-backlog", "05", "netlab/kernel/inet_connection_sock.py",
           "return q.qlen > sk.sk_max_ack_backlog", "return q.qlen >= sk.sk_max_ack_backlog",
           "inet_csk_reqsk_queue_is_full tests >= instead of >: SYN cookies start one request early", HANDSHAKE),
    Mutant("one-synack-retry-too-many", "05", "netlab/kernel/inet_connection_sock.py",
           "return req.num_timeout >= max_syn_ack_retries, True",
           "return req.num_timeout > max_syn_ack_retries, True",
           "syn_ack_recalc gives up after tcp_synack_retries + 1 SYN-ACK timeouts", HANDSHAKE),
    # 06 connection memory
    Mutant("slub-min-objects-off-by-one", "06", "netlab/kernel/slub.py",
           "min_objects = min(4 * (fls(nr_cpus) + 1),", "min_objects = min(4 * fls(nr_cpus),",
           "calculate_order asks for 4 * fls(nr_cpus) objects per slab instead of 4 * (fls(nr_cpus) + 1)", MEMORY),
    Mutant("slub-forgets-the-rcu-free-pointer", "06", "netlab/kernel/slub.py",
           "if (flags & SLAB_TYPESAFE_BY_RCU and not freeptr_in_object) or ctor:", "if ctor:",
           "calculate_sizes puts no free pointer after SLAB_TYPESAFE_BY_RCU objects (tw_sock_TCP 248 B, not 256)",
           MEMORY),
    Mutant("time-wait-keeps-the-full-socket", "06", "netlab/kernel/inet_timewait_sock.py",
           'obj = slab_alloc(f"tw_sock_{sk.sk_prot.name}",', 'obj = slab_alloc(sk.sk_prot.name,',
           "inet_twsk_alloc takes a whole tcp_sock from the TCP cache instead of a tcp_timewait_sock", MEMORY),
    # 07 connection limits
    Mutant("emfile-one-fd-too-late", "07", "netlab/kernel/limits.py",
           "    if fd >= end:\n", "    if fd > end:\n",
           "alloc_fd hands out fd == RLIMIT_NOFILE before it says EMFILE", LIMITS),
    Mutant("connect-ignores-port-parity", "07", "netlab/kernel/inet_hashtables.py",
           "        offset &= ~1\n", "",
           "__inet_hash_connect starts its walk at an odd offset too, so connect() no longer prefers even ports",
           HANDSHAKE + ("tests/test_limits.py",)),
    Mutant("port-range-option-wrong-size", "07", "netlab/live/limits.py",
           'struct.pack("I", ip_local_port_range_value(lo, hi))',
           'struct.pack("Q", ip_local_port_range_value(lo, hi))',
           "IP_LOCAL_PORT_RANGE is passed as 8 bytes, which the kernel refuses (EINVAL, as if before Linux 6.3)",
           LIMITS),
)


def fail(message: str) -> None:
    """Stop: the mutant list or the baseline is broken, so no count would mean anything."""
    print(message, file=sys.stderr)
    raise SystemExit(2)


def tracked_files() -> list[str]:
    """The files a fresh clone plus this working tree's untracked (not ignored) files would hold."""
    out = subprocess.run(["git", "-C", str(ROOT), "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                         capture_output=True, text=True, check=True).stdout
    return sorted({f for f in out.split("\0") if f and (ROOT / f).is_file()})


def mutated_source(m: Mutant) -> str:
    """The file's text with the bug planted; SystemExit naming the entry if the snippet is not there exactly once."""
    path = ROOT / m.file
    if not path.is_file():
        fail(f"mutant {m.name!r}: {m.file} does not exist any more; update its entry in bench/mutants.py")
    text = path.read_text()
    count = text.count(m.original)
    if count != 1:
        fail(f"mutant {m.name!r}: its snippet occurs {count} times in {m.file} (it must occur once); the code "
             f"moved, so update the entry's original/replacement in bench/mutants.py:\n{m.original}")
    mutated = text.replace(m.original, m.replacement)
    try:
        compile(mutated, m.file, "exec")
    except SyntaxError as e:
        fail(f"mutant {m.name!r}: the mutated {m.file} is not valid Python ({e}); fix its replacement")
    return mutated


def copy_tree(files: list[str], dest: Path) -> None:
    for f in files:
        target = dest / f
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(ROOT / f, target)


class Runner:
    """Runs pytest in copies of the repository; kills every child it started when interrupted."""

    def __init__(self, files: list[str], workdir: Path, timeout_s: float):
        self.files, self.workdir, self.timeout_s = files, workdir, timeout_s
        self._procs: set[subprocess.Popen] = set()
        self._lock = threading.Lock()
        self._stopped = False

    def copy(self, name: str, mutant: Mutant | None = None, source: str | None = None) -> Path:
        dest = self.workdir / name
        copy_tree(self.files, dest)
        if mutant is not None:
            (dest / mutant.file).write_text(source)
        return dest

    @staticmethod
    def env(copy: Path) -> dict[str, str]:
        return {**os.environ, "PYTHONPATH": str(copy), "PYTHONDONTWRITEBYTECODE": "1"}

    def run(self, copy: Path, args: list[str]) -> tuple[int | None, str, float]:
        """(returncode or None on timeout, output, seconds)."""
        start = time.monotonic()
        with self._lock:
            if self._stopped:
                raise RuntimeError("the run was stopped")
            proc = subprocess.Popen([sys.executable, *args], cwd=copy, env=self.env(copy), stdout=subprocess.PIPE,
                                    stderr=subprocess.STDOUT, text=True, start_new_session=True)
            self._procs.add(proc)
        try:
            out, _ = proc.communicate(timeout=self.timeout_s)
            code = proc.returncode
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            out, _ = proc.communicate()
            code = None
        finally:
            with self._lock:
                self._procs.discard(proc)
        return code, out, time.monotonic() - start

    def stop(self) -> None:
        """Kill every running pytest (and what it started) and start no more."""
        with self._lock:
            self._stopped = True
            for proc in self._procs:
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass


def first_failure(output: str) -> str | None:
    """The test id of pytest's first FAILED/ERROR summary line."""
    match = re.search(r"^(?:FAILED|ERROR) (\S+)", output, re.MULTILINE)
    return match.group(1) if match else None


def preflight(runner: Runner, tests: list[str]) -> None:
    """The copy must be what Python imports, and its unmutated tests must pass."""
    base = runner.copy("unmutated")
    code, out, _ = runner.run(base, ["-c", "import netlab, netlab.live.limits; print(netlab.__file__)"])
    imported = Path(out.strip().splitlines()[-1]) if code == 0 and out.strip() else None
    if imported is None or base.resolve() not in imported.resolve().parents:
        fail(f"pre-flight: the copy's netlab is not the one imported (got {out.strip()!r}): something on "
             "sys.path comes before PYTHONPATH")
    code, out, seconds = runner.run(base, PYTEST + tests)
    if code != 0:
        tail = "\n".join(out.strip().splitlines()[-15:])
        fail(f"pre-flight: the unmutated tests do not pass ({'timeout' if code is None else f'exit {code}'}), "
             f"so no mutant can be judged:\n{tail}")
    print(f"unmutated copy: {len(tests)} test files pass ({seconds:.0f} s)", file=sys.stderr)


def judge(runner: Runner, m: Mutant, source: str) -> tuple[str, str, float]:
    """(verdict, killed by, seconds) for one mutant."""
    code, out, seconds = runner.run(runner.copy(m.name, m, source), PYTEST + list(m.tests))
    if code is None:
        return "killed", f"timeout after {runner.timeout_s:.0f} s", seconds
    if code == 0:
        return "SURVIVED", "-", seconds
    failed = first_failure(out)
    if failed is None:
        tail = out.strip().splitlines()[-1] if out.strip() else "no output"
        return "ERROR", f"pytest exit {code}: {tail}", seconds
    return "killed", failed, seconds


def _interrupt(signum, frame):
    raise KeyboardInterrupt(f"signal {signum}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help="run only these mutants")
    parser.add_argument("--list", action="store_true", help="list the mutants and exit")
    parser.add_argument("--workers", type=int, default=2, help="mutants tested at once (default 2)")
    parser.add_argument("--timeout", type=float, default=300, help="seconds per pytest run (default 300)")
    args = parser.parse_args()
    if args.list:
        for m in MUTANTS:
            print(f"{m.name}  ({m.chapter}, {m.file}): {m.bug}")
        return 0
    if args.workers < 1 or args.timeout <= 0:
        parser.error("--workers must be >= 1 and --timeout > 0")
    unknown = set(args.names) - {m.name for m in MUTANTS}
    if unknown:
        parser.error(f"unknown mutants: {', '.join(sorted(unknown))} (see --list)")
    chosen = [m for m in MUTANTS if not args.names or m.name in args.names]

    files = tracked_files()
    sources = {m.name: mutated_source(m) for m in chosen}
    tests = sorted({t for m in chosen for t in m.tests})
    missing = [t for t in tests if t not in files]
    if missing:
        fail(f"test files named by a mutant do not exist: {', '.join(missing)}; update bench/mutants.py")

    signal.signal(signal.SIGTERM, _interrupt)
    start = time.monotonic()
    results: dict[str, tuple[str, str, float]] = {}
    with tempfile.TemporaryDirectory(prefix="netlab-mutants-") as workdir:
        runner = Runner(files, Path(workdir), args.timeout)
        pool = ThreadPoolExecutor(max_workers=args.workers)
        try:
            preflight(runner, tests)
            futures = {pool.submit(judge, runner, m, sources[m.name]): m for m in chosen}
            for future in as_completed(futures):
                m = futures[future]
                results[m.name] = future.result()
                print(f"[{len(results)}/{len(chosen)}] {m.name}: {results[m.name][0]} "
                      f"({results[m.name][2]:.0f} s)", file=sys.stderr)
        except BaseException:
            runner.stop()
            raise
        finally:
            pool.shutdown(wait=True, cancel_futures=True)

    width = max(len(m.name) for m in chosen)
    print(f"{'mutant':{width}}  ch  {'verdict':8}  {'s':>4}  killed by")
    for m in chosen:
        verdict, by, seconds = results[m.name]
        print(f"{m.name:{width}}  {m.chapter}  {verdict:8}  {seconds:4.0f}  {by}")
    killed = sum(results[m.name][0] == "killed" for m in chosen)
    print(f"total {time.monotonic() - start:.0f} s with {args.workers} workers, unmutated baseline included")
    print(f"mutants: {killed} of {len(chosen)} killed")
    return 0 if killed == len(chosen) else 1


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit("interrupted: the copies with the bugs are deleted, the working tree was never changed")
