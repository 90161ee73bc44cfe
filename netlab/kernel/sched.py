"""Tasks, run queues and context switches: what it means for a process to block, and what waking it costs.

Models include/linux/sched.h (``struct task_struct``: state, ``nvcsw``/``nivcsw``, ``files``, the open-file limit
of ``signal->rlim`` and the capabilities of ``cred``), kernel/sched/core.c
(``schedule``, ``__schedule``, ``try_to_block_task``, ``pick_next_task``, ``context_switch``, ``try_to_wake_up``,
``default_wake_function``, ``wake_up_process``, ``do_task_dead``, ``schedule_idle``) and kernel/time/timer.c
(``schedule_timeout``) and kernel/time/hrtimer.c (``schedule_hrtimeout_range``), Linux 6.12.

A task's code is a Python generator: a kernel function that may sleep is a generator function and calls
``yield from schedule()``; everything else is an ordinary function (the kernel's "might_sleep" rule, made visible).

:class:`Scheduler` is the engine every model runs on, in the spirit of simpy's single ``Environment``: one queue
of timed events, one simulated clock, one ``struct rq`` per CPU of every host on it (a host boots its CPUs on the
engine with :meth:`Scheduler.add_cpus`; two hosts never share a run queue, and a task, a timer or an event names
its host and that host's CPU number). Its events are task bursts (a task resumes when
its CPU time is spent) and timers (:class:`netlab.kernel.timer.TimerList`, armed with :meth:`Scheduler.mod_timer`,
disarmed with :meth:`Scheduler.del_timer`; :meth:`Scheduler.at` is a one-shot interrupt on a timer): an interrupt,
a packet arriving, a kernel timer, a scenario's "at t, the program calls connect()". Events run in time order;
same-time events in the order they were queued. It counts what the kernel counts and charges what a switch
costs:

- ``__schedule`` bumps ``rq->nr_switches`` and the outgoing task's ``nvcsw`` (it blocked: voluntary) or
  ``nivcsw`` (it was preempted: involuntary) — ``getrusage`` reports the sums of these over a process's threads;
- every switch costs ``context_switch_ns`` of CPU (default :data:`CONTEXT_SWITCH_NS`), during which the next
  task does not run yet (the run queue is ``busy_until`` its end).

A machine that runs interrupt work on a CPU (``netlab.scenarios.receive.Host``) marks that CPU busy until the work
is done (``Rq.busy_until``): a task due to resume meanwhile resumes after it. Per-CPU kernel threads such as
``ksoftirqd/N`` are tasks too (:meth:`Scheduler.kthread_create_on_cpu`), bound to their CPU.

Simplifications, all deterministic: a woken task goes to its previous CPU if that CPU is idle, else to the
lowest-numbered idle CPU of its host, else back to its previous CPU's queue (no load balancing); the queue is FIFO
(EEVDF's deadlines are not modelled); a running task is preempted only at the end of a CPU burst once it has used
its slice (``base_slice_ns``) and someone waits; interrupt work that lands inside a task's burst does not lengthen
it. Events due at one time run in the order queued, but a task's resume after the timers: an interrupt due when a
burst ends (or the idle task leaves idle) is taken before the task goes on, whenever its timer was armed; a task
just switched in goes first, the interrupts that came due during the switch wait for it.
"""
from __future__ import annotations

import errno
import heapq
from collections import deque
from dataclasses import dataclass, field
from typing import Annotated, Any, Callable, Generator, Iterable

from netlab import check
from netlab.kernel.fdtable import FilesStruct
from netlab.kernel.profiles import LINUX_6_12, KernelProfile
from netlab.kernel.timer import TimerList
from netlab.trace import call_stack, kernel_function, on_cpu, recording, trace_printk

TASK_RUNNING, TASK_INTERRUPTIBLE, TASK_DEAD = "TASK_RUNNING", "TASK_INTERRUPTIBLE", "TASK_DEAD"
TASK_UNINTERRUPTIBLE = "TASK_UNINTERRUPTIBLE"
MAX_SCHEDULE_TIMEOUT = None  # "sleep until woken": include/linux/sched.h uses LONG_MAX
SM_NONE, SM_PREEMPT, SM_IDLE = "SM_NONE", "SM_PREEMPT", "SM_IDLE"
INR_OPEN_CUR, INR_OPEN_MAX = 1024, 4096  # include/uapi/linux/fs.h: RLIMIT_NOFILE at boot (INIT_RLIMITS)
CAPABILITIES = frozenset({"CAP_SYS_ADMIN", "CAP_SYS_RESOURCE"})  # the ones the limits chapter checks

#: What one context switch costs by default, in ns. A pipe ping-pong between two processes pinned to one CPU
#: measured 2.5 µs per switch in C and 2.9 µs from Python on the machine this course was built on (a 2-core VM,
#: Linux 6.18); the book quotes 3–5 µs. Measure yours with ``netlab.live.sched_experiments.context_switch_cost``.
CONTEXT_SWITCH_NS = 3_000
#: ``sysctl_sched_base_slice`` (kernel/sched/fair.c, 6.12.117: 0.70 ms, scaled by 1 + ilog2(CPUs) at boot).
BASE_SLICE_NS = 700_000

Body = Generator[Any, Any, Any]


@dataclass(frozen=True)
class Run:
    """What a task's generator yields to spend ``ns`` of CPU time (user code, or kernel work such as a copy)."""

    ns: int
    what: str = "work"


@dataclass(frozen=True)
class _Switch:
    """Yielded by ``context_switch``: the CPU now runs ``next``; the yielding task continues when switched back in."""

    next: "Task"


_HALT = object()  # the idle task waits for a wake-up


@check.arguments
def spend(ns: int, what: str = "work") -> Body:
    """Use the CPU for ``ns`` nanoseconds (``yield from spend(2000, "parse the request")``)."""
    if not isinstance(ns, int) or ns < 0:
        raise ValueError(f"ns must be an int >= 0, got {ns!r}")
    if ns:
        yield Run(ns, what)


@dataclass
class Rlimit:
    """``struct rlimit`` for RLIMIT_NOFILE: the soft limit (``ulimit -n``) and the hard ceiling for it."""

    rlim_cur: int
    rlim_max: int

    def __post_init__(self):
        check.fields(self)
        check.count("rlim_cur", self.rlim_cur, 0)
        check.count("rlim_max", self.rlim_max, 0)


@dataclass(eq=False)
class Task:
    """``struct task_struct``, reduced to what the networking chapters need.

    ``tgid`` is the process a thread belongs to. ``files`` (``current->files``), ``nofile``
    (``current->signal->rlim[RLIMIT_NOFILE]``) and ``capabilities`` (``current_cred()``) are the same objects in
    every thread of a process (:meth:`Scheduler.spawn` with ``process``). ``frames`` is the task's own call stack in
    the trace (its kernel stack while it sleeps).
    """

    comm: str
    pid: int = 1
    state: str = TASK_RUNNING
    cpu: int = 0
    nvcsw: int = 0   # voluntary context switches: the task blocked
    nivcsw: int = 0  # involuntary ones: it was preempted
    wakeups: int = 0
    tgid: int | None = None
    files: FilesStruct = field(default_factory=FilesStruct, repr=False)
    nofile: Rlimit = field(default_factory=lambda: Rlimit(INR_OPEN_CUR, INR_OPEN_MAX))
    capabilities: frozenset = frozenset()
    sum_exec_runtime: int = 0  # ns on a CPU (se.sum_exec_runtime)
    frames: list = field(default_factory=list, repr=False)
    on_rq: bool = False
    pinned: bool = False  # kthread_bind: it runs on its CPU only (a per-CPU kernel thread)
    rq: "Rq | None" = field(default=None, repr=False)
    _gens: list = field(default_factory=list, repr=False)
    _slice_used: int = 0

    def __post_init__(self):
        check.fields(self)
        if not isinstance(self.comm, str) or not self.comm:
            raise ValueError("comm must be a non-empty str")
        if not isinstance(self.pid, int) or self.pid < 0:
            raise ValueError("pid must be an int >= 0")
        unknown = set(self.capabilities) - CAPABILITIES
        if unknown:
            raise ValueError(f"capabilities must be among {sorted(CAPABILITIES)}, got {sorted(unknown)}")
        if self.tgid is None:
            self.tgid = self.pid

    def snapshot(self) -> "TaskState":
        return TaskState(self.comm, self.state, self.nvcsw, self.nivcsw, self.wakeups)


@dataclass(frozen=True)
class TaskState:
    """A task at a step: its name, state (``TASK_RUNNING`` …), voluntary and involuntary switches, wake-ups."""

    comm: str
    state: str
    nvcsw: int
    nivcsw: int
    wakeups: int


@dataclass(eq=False)
class Rq:
    """``struct rq``: the run queue of ``host``'s CPU ``cpu``: the running task, the idle task, who waits, and
    ``nr_switches``. ``enter``, when the host's machine sets it, is a context manager factory that puts a task's code
    on that machine's CPU while it runs (``netlab.scenarios.receive.Host`` does); ``timer_enter`` does the same for a
    kernel timer's handler (softirq context, TIMER_SOFTIRQ). ``busy_until``: the CPU is busy
    until then (a context switch, or interrupt work the machine ran on it): no task resumes on it earlier."""

    cpu: int
    idle: Task
    curr: Task
    host: str = ""
    queue: deque = field(default_factory=deque)
    nr_switches: int = 0
    switch_ns: int = 0   # CPU time spent switching
    busy_ns: int = 0     # CPU time tasks ran (their bursts)
    halted: bool = False  # the idle task sleeps in cpuidle until a wake-up
    busy_until: int = 0
    scheduler: "Scheduler | None" = field(default=None, repr=False)
    enter: Callable[[], Any] | None = field(default=None, repr=False)
    timer_enter: Callable[[], Any] | None = field(default=None, repr=False)

    def __post_init__(self):
        check.fields(self)

    def is_idle(self) -> bool:
        return self.curr is self.idle and not self.queue

    def snapshot(self) -> "RqState":
        return RqState(self.curr.comm, tuple([t.comm for t in self.queue]), self.nr_switches)


@dataclass(frozen=True)
class RqState:
    """A CPU's run queue at a step: the task running, the tasks waiting to run, ``nr_switches``."""

    curr: str
    queue: tuple[str, ...]
    nr_switches: int


_current: Task | None = None


def get_current() -> Task:
    """``current``: the task whose code is running now (raises in interrupt context, where there is none)."""
    if _current is None:
        raise RuntimeError("no current task: this code runs in interrupt context (or outside a Scheduler)")
    return _current


def running_profile() -> KernelProfile:
    """The kernel profile of the machine the current task runs on (6.12 outside a Scheduler)."""
    task = get_current()
    return task.rq.scheduler.profile if task.rq is not None and task.rq.scheduler is not None else LINUX_6_12


def ktime_get() -> int:
    """The current task's machine clock in ns (kernel/time/timekeeping.c ``ktime_get``, simulated)."""
    return _scheduler_of(get_current()).clock


@check.arguments
def nonblocking(call: Body) -> Any:
    """Run a kernel function that may sleep (a generator) where it must not: return its value, or raise
    ``RuntimeError`` if it tried to sleep (e.g. ``nonblocking(inet_csk_accept(sk))``)."""
    if not hasattr(call, "send"):
        raise TypeError("nonblocking takes the generator a sleeping kernel function returned")
    try:
        msg = call.send(None)
    except StopIteration as done:
        return done.value
    call.close()
    raise RuntimeError(f"the call tried to sleep ({msg!r}) where it must not: run it in a task of a Scheduler")


# --- going to sleep ------------------------------------------------------------------------------------------
@kernel_function("kernel/sched/core.c", lambda: f"{get_current().comm} calls schedule(): "
                                                f"{'it sleeps' if get_current().state != TASK_RUNNING else 'yield'}")
def schedule() -> Body:
    """Give up the CPU. Returns when this task runs again."""
    yield from __schedule(SM_NONE)


@kernel_function("kernel/sched/core.c", lambda sched_mode: f"pick the next task on this CPU ({sched_mode})")
def __schedule(sched_mode: str) -> Body:
    """Block ``prev`` if it is not running, pick the next task, switch to it (counting the switch)."""
    prev = get_current()
    rq = prev.rq
    if rq is None:
        raise RuntimeError(f"{prev.comm} is not on a Scheduler: nothing to switch to")
    preempt = sched_mode == SM_PREEMPT
    voluntary = False
    if sched_mode == SM_IDLE:
        if not rq.queue:
            return
    elif not preempt and prev.state != TASK_RUNNING:
        try_to_block_task(rq, prev)
        voluntary = True
    nxt = pick_next_task(rq, prev)
    if nxt is not prev:
        rq.nr_switches += 1
        if prev is not rq.idle:
            if voluntary:
                prev.nvcsw += 1
            else:
                prev.nivcsw += 1
        yield from context_switch(rq, prev, nxt)


@kernel_function("kernel/sched/core.c", "{p.comm} is not TASK_RUNNING: take it off the run queue")
def try_to_block_task(rq: Rq, p: Task) -> None:
    """``deactivate_task``: a sleeping task is on no run queue until ``try_to_wake_up``."""
    p.on_rq = False


@kernel_function("kernel/sched/core.c", lambda rq, prev: f"CPU {rq.cpu} run queue: "
                 f"{', '.join(t.comm for t in rq.queue) or 'empty'}; pick the next task")
def pick_next_task(rq: Rq, prev: Task) -> Task:
    """The next task to run: the head of the queue (a still-runnable ``prev`` goes to the tail), else idle."""
    if prev.state == TASK_RUNNING and prev is not rq.idle:
        rq.queue.append(prev)
        prev.on_rq = True
    if rq.queue:
        nxt = rq.queue.popleft()
        nxt.on_rq = True
        return nxt
    return rq.idle


@kernel_function("kernel/sched/core.c", lambda rq, prev, next: f"switch CPU {rq.cpu}: {prev.comm} → {next.comm}")
def context_switch(rq: Rq, prev: Task, next: Task) -> Body:  # noqa: A002 (the kernel's parameter name)
    """Switch address space and registers (``switch_mm``, ``switch_to``); costs ``context_switch_ns`` of CPU."""
    rq.curr = next
    yield _Switch(next)
    if prev.pid != 0:  # not an idle task
        trace_printk(f"{prev.comm} is back on CPU {prev.cpu}: schedule() returns")


@kernel_function("kernel/sched/core.c", "{prev.comm} exits: TASK_DEAD, never runs again")
def do_task_dead(prev: Task) -> Body:
    """The last schedule() of an exiting task."""
    prev.state = TASK_DEAD
    yield from __schedule(SM_NONE)


@kernel_function("kernel/sched/core.c", "the idle task sees a runnable task: schedule it")
def schedule_idle() -> Body:
    """Called from the idle loop (``do_idle``) when a wake-up made a task runnable on this CPU."""
    yield from __schedule(SM_IDLE)


@kernel_function("kernel/time/timer.c", lambda timeout: "sleep until woken" if timeout is None
                 else f"sleep at most {timeout} ns")
def schedule_timeout(timeout: int | None) -> Body:
    """Sleep until woken (``MAX_SCHEDULE_TIMEOUT``) or until ``timeout`` ns passed; returns the time left."""
    if timeout is not None and (not isinstance(timeout, int) or timeout < 0):
        raise ValueError("timeout must be None (forever) or an int >= 0 (ns)")
    task = get_current()
    if timeout is None:
        yield from schedule()
        return None
    sched = _scheduler_of(task)
    expires = sched.clock + timeout
    timer = TimerList(lambda t: wake_up_process(t.data), name="process_timeout", data=task, cpu=task.cpu,
                      host=task.rq.host)
    sched.mod_timer(timer, expires)
    yield from schedule()
    sched.del_timer(timer)  # del_timer_sync()
    return max(0, expires - sched.clock)


@kernel_function("kernel/time/hrtimer.c", lambda expires: "sleep until woken" if expires is None
                 else f"sleep until woken or t = {expires / 1000:.3f} µs")
def schedule_hrtimeout_range(expires: int | None) -> Body:
    """Sleep until woken or until the absolute time ``expires`` (ns). Returns 0 if the timer fired, else -EINTR."""
    if expires is not None and (not isinstance(expires, int) or expires < 0):
        raise ValueError("expires must be None (forever) or an absolute time in ns")
    task = get_current()
    if expires is None:
        yield from schedule()
        return -errno.EINTR
    sched = _scheduler_of(task)
    timer = TimerList(lambda t: wake_up_process(t.data), name="hrtimer_wakeup", data=task, cpu=task.cpu,
                      context="hardirq", host=task.rq.host)
    sched.mod_timer(timer, max(expires, sched.clock))
    yield from schedule()
    fired = not sched.del_timer(timer)  # hrtimer_cancel(): a timer no longer pending has fired
    return 0 if fired else -errno.EINTR


# --- waking up -----------------------------------------------------------------------------------------------
@kernel_function("kernel/sched/core.c", "wake {p.comm}: TASK_RUNNING, back on a run queue")
def try_to_wake_up(p: Task) -> int:
    """Make a sleeping task runnable. Returns 1 if it was asleep, 0 if it was already running."""
    if p.state in (TASK_RUNNING, TASK_DEAD):
        return 0
    p.state = TASK_RUNNING
    p.wakeups += 1
    if p.rq is not None:
        _scheduler_of(p)._activate(p)
    return 1


@kernel_function("kernel/sched/core.c", "the wait entry's owner is a task: wake it")
def default_wake_function(curr: Any, key: Any = None) -> int:
    """The usual ``wait_queue_entry.func``: wake the task in ``curr.private``."""
    return try_to_wake_up(curr.private)


@kernel_function("kernel/sched/core.c", "wake {p.comm}")
def wake_up_process(p: Task) -> int:
    """Wake a task directly (timers use this)."""
    return try_to_wake_up(p)


# --- the machine ---------------------------------------------------------------------------------------------
def _scheduler_of(task: Task) -> "Scheduler":
    if task.rq is None or task.rq.scheduler is None:
        raise RuntimeError(f"{task.comm} does not run on a Scheduler")
    return task.rq.scheduler


def _idle_loop() -> Body:
    """``do_idle``: halt until a wake-up, then let ``schedule_idle`` switch to the woken task."""
    while True:
        yield _HALT
        yield from schedule_idle()


@dataclass(frozen=True)
class SwitchRecord:
    """One context switch, for timelines: when, on which host's CPU, from whom to whom, and whether prev blocked."""

    time_ns: int
    host: str
    cpu: int
    prev: str
    next: str
    voluntary: bool


class Scheduler:
    """The engine: the CPUs of every host on it with their run queues, one simulated clock and one queue of timed
    events (task bursts, timers, interrupts); runs tasks and counts their switches. ``nr_cpus`` CPUs belong to the
    unnamed host ``""`` (0: none; hosts bring theirs with :meth:`add_cpus`).

        sched = Scheduler(nr_cpus=2)
        sched.spawn("server", server_body)           # a generator function's generator
        sched.at(10_000, lambda: deliver(...))       # an interrupt at t = 10 µs
        sched.run(until_ns=1_000_000)
    """

    @check.arguments
    def __init__(self, nr_cpus: Annotated[int, check.Range(0, check.NR_CPUS)] = 1,
                 context_switch_ns: int = CONTEXT_SWITCH_NS, base_slice_ns: int = BASE_SLICE_NS,
                 profile: KernelProfile = LINUX_6_12, max_events: int = 2_000_000):
        for name, value, low in (("nr_cpus", nr_cpus, 0), ("context_switch_ns", context_switch_ns, 0),
                                 ("base_slice_ns", base_slice_ns, 1), ("max_events", max_events, 1)):
            if not isinstance(value, int) or isinstance(value, bool) or value < low:
                raise ValueError(f"{name} must be an int >= {low}, got {value!r}")
        self.profile = profile
        self.context_switch_ns, self.base_slice_ns, self.max_events = context_switch_ns, base_slice_ns, max_events
        self.clock = 0
        self.tasks: list[Task] = []
        self.switches: list[SwitchRecord] = []
        self.record_switches = True
        self._events: list = []
        self._seq = 0
        self._next_pid = 100
        self.rqs: list[Rq] = []                    # every CPU's, host by host
        self.host_rqs: dict[str, list[Rq]] = {}    # host -> its CPUs' run queues, by CPU number
        if nr_cpus:
            self.add_cpus(nr_cpus)

    @check.arguments
    def add_cpus(self, nr_cpus: check.Cpus, host: str = "") -> list[Rq]:
        """Boot ``host``'s CPUs 0..``nr_cpus``-1 on this engine, each with its own run queue and idle task
        (``swapper/N``); returns their run queues. Hosts that share the engine need names of their own."""
        if host in self.host_rqs:
            raise ValueError(f"host {host!r} has its CPUs on this engine already: give each host its own name")
        rqs = []
        for cpu in range(nr_cpus):
            idle = Task(f"swapper/{cpu}", pid=0, cpu=cpu)
            rq = Rq(cpu=cpu, idle=idle, curr=idle, host=host, halted=True)
            rq.scheduler = self
            idle.rq = rq
            idle._gens.append(_idle_loop())
            self._send(rq, idle)  # start the idle loop: it halts at once
            rqs.append(rq)
        self.host_rqs[host] = rqs
        self.rqs += rqs
        return rqs

    @check.arguments
    def cpu_rq(self, cpu: int, host: str = "") -> Rq:
        """``cpu_rq()``: the run queue of ``host``'s CPU ``cpu``."""
        rqs = self.host_rqs.get(host)
        if rqs is None:
            raise ValueError(f"no host {host!r} on this engine (hosts: {', '.join(map(repr, self.host_rqs))})")
        if not 0 <= cpu < len(rqs):
            raise ValueError(f"cpu must be an int in 0..{len(rqs) - 1} (host {host!r}), got {cpu!r}")
        return rqs[cpu]

    # --- building a scenario ---------------------------------------------------------------------------------
    def now(self) -> int:
        """The simulated time in ns (pass as a Tracer's clock)."""
        return self.clock

    @check.arguments
    def spawn(self, comm: str, body: Body, cpu: int | None = None, tgid: int | None = None,
              process: Task | None = None, host: str = "") -> Task:
        """Create a runnable task (``clone`` + ``wake_up_new_task``) that runs ``body`` on ``host``'s CPU ``cpu``
        (default: its pid modulo the host's CPUs) and then exits; with ``process`` it is a thread of that process
        (``CLONE_FILES | CLONE_THREAD``): it shares its fd table, its open-file limit and its capabilities."""
        if not hasattr(body, "send"):
            raise TypeError("body must be a generator (call your generator function: spawn('t', server(sk)))")
        self.cpu_rq(cpu or 0, host)  # raises unless the host has that CPU
        rqs = self.host_rqs[host]
        pid = self._next_pid
        self._next_pid += 1
        if tgid is None and process is not None:
            tgid = process.tgid
        task = Task(comm, pid=pid, cpu=cpu if cpu is not None else pid % len(rqs), tgid=tgid)
        if process is not None:
            task.files, task.nofile, task.capabilities = process.files, process.nofile, process.capabilities
        task.rq = rqs[task.cpu]
        task._gens.append(_exit_after(body, task))
        self.tasks.append(task)
        self._activate(task)
        return task

    @check.arguments
    def kthread_create_on_cpu(self, comm: str, body: Body, cpu: int, host: str = "", pid: int | None = None) -> Task:
        """A per-CPU kernel thread (kernel/kthread.c ``kthread_create_on_cpu``): bound to ``host``'s CPU ``cpu``,
        asleep until the first ``wake_up_process``, then running ``body``; not one of the user tasks
        :meth:`counts` sums."""
        if not hasattr(body, "send"):
            raise TypeError("body must be a generator")
        rq = self.cpu_rq(cpu, host)
        if pid is None:
            pid, self._next_pid = self._next_pid, self._next_pid + 1
        task = Task(comm, pid=pid, state=TASK_INTERRUPTIBLE, cpu=cpu, pinned=True)
        task.rq = rq
        task._gens.append(_exit_after(body, task))
        return task

    @check.arguments
    def at(self, time_ns: int, fn: Callable[[], Any], cpu: int = 0, context: str = "softirq",
           label: str = "event", host: str = "") -> None:
        """Run ``fn`` at ``time_ns`` on ``host``'s ``cpu`` in interrupt ``context`` (a packet arriving, a timer
        firing)."""
        if not isinstance(time_ns, int) or time_ns < self.clock:
            raise ValueError(f"time_ns must be an int >= now ({self.clock}), got {time_ns!r}")
        if not callable(fn):
            raise TypeError("fn must be callable")
        if context not in ("hardirq", "softirq", "ksoftirqd"):
            raise ValueError("context must be 'hardirq', 'softirq' or 'ksoftirqd'")
        self.mod_timer(TimerList(lambda timer: fn(), name=label, cpu=cpu, context=context, host=host), time_ns)

    # --- timers (kernel/time/timer.c) ----------------------------------------------------------------------------
    @check.arguments
    def mod_timer(self, timer: TimerList, expires_ns: int) -> bool:
        """(Re)arm ``timer`` to expire at ``expires_ns``; returns whether it was pending before."""
        if not isinstance(expires_ns, int) or expires_ns < self.clock:
            raise ValueError(f"expires_ns must be an int >= now ({self.clock}), got {expires_ns!r}")
        rqs = self.host_rqs.get(timer.host)
        if rqs is None or not 0 <= timer.cpu < len(rqs):
            self.cpu_rq(timer.cpu, timer.host)  # raises: says which hosts and CPUs there are
        was_pending = timer.expires_ns is not None
        self._push(expires_ns, "timer", None, timer)
        timer.expires_ns, timer._armed = expires_ns, self._seq
        return was_pending

    @check.arguments
    def del_timer(self, timer: TimerList) -> bool:
        """Disarm ``timer`` (its event stays queued and is skipped); returns whether it was pending."""
        was_pending = timer.expires_ns is not None
        timer.expires_ns, timer._armed = None, 0
        return was_pending

    @staticmethod
    @check.arguments
    def timer_pending(timer: TimerList) -> bool:
        return timer.expires_ns is not None

    @check.arguments
    def run(self, until_ns: int | None = None, stop: Callable[[], bool] | None = None) -> int:
        """Process events in time order until none is left or the next is after ``until_ns`` — or, with ``stop``,
        as soon as ``stop()`` is true after an event (what a program waits for has happened; the clock stays at
        that event). Returns the clock."""
        if until_ns is not None and (not isinstance(until_ns, int) or until_ns < self.clock):
            raise ValueError(f"until_ns must be None or an int >= now ({self.clock}), got {until_ns!r}")
        if stop is not None and not callable(stop):
            raise TypeError("stop must be None or a callable() -> bool")
        events = self._events
        steps = 0
        while events and (until_ns is None or events[0][0] <= until_ns):
            time_ns, _, seq, kind, rq, payload = heapq.heappop(events)
            if kind == "timer":
                if payload._armed != seq:   # deleted or re-armed since: a stale event
                    continue
                payload.expires_ns, payload._armed = None, 0
            self.clock = time_ns
            steps += 1
            if steps > self.max_events:
                raise RuntimeError(f"more than max_events={self.max_events} events: a task may loop forever")
            if kind == "timer":
                enter = self._timer_enter(payload)
                if enter is not None:
                    with enter(), call_stack([]):
                        payload.function(payload)
                elif recording():
                    with on_cpu(payload.cpu, payload.context, payload.host), call_stack([]):
                        payload.function(payload)
                else:
                    payload.function(payload)
            elif payload is rq.curr:
                if rq.busy_until > time_ns:      # interrupt work holds the CPU: the task resumes after it
                    self._push(rq.busy_until, "resume", rq, payload)
                    continue
                self._resume(rq)
            if stop is not None and stop():
                return self.clock
        if until_ns is not None:
            self.clock = until_ns
        return self.clock

    def _timer_enter(self, timer: TimerList) -> Callable[[], Any] | None:
        """How a kernel timer (softirq context) gets onto its host's CPU, where that machine has one."""
        rqs = self.host_rqs.get(timer.host)
        if timer.context != "softirq" or not rqs or not 0 <= timer.cpu < len(rqs):
            return None
        return rqs[timer.cpu].timer_enter

    # --- what the counters say ---------------------------------------------------------------------------------
    @check.arguments
    def counts(self, tasks: Iterable[Task] | None = None) -> dict[str, int]:
        """nvcsw, nivcsw (summed over ``tasks``, default all user tasks), and nr_switches over every CPU."""
        chosen = list(self.tasks if tasks is None else tasks)
        return {"nvcsw": sum(t.nvcsw for t in chosen), "nivcsw": sum(t.nivcsw for t in chosen),
                "nr_switches": sum(rq.nr_switches for rq in self.rqs),
                "switch_ns": sum(rq.switch_ns for rq in self.rqs)}

    # --- the engine --------------------------------------------------------------------------------------------
    def _push(self, time_ns: int, kind: str, rq: Rq | None, payload: Any, switched_in: bool = False) -> None:
        """Queue an event; at one time in the order queued, but a task's resume after the timers (an interrupt due
        when a burst ends is taken before the task goes on) — unless a switch to it ends then (``switched_in``: the
        interrupts that came due during the switch wait for it)."""
        self._seq += 1
        heapq.heappush(self._events, (time_ns, kind == "resume" and not switched_in, self._seq, kind, rq, payload))

    def _select_task_rq(self, p: Task) -> Rq:
        prev = p.rq
        if p.pinned or prev.is_idle():
            return prev
        return next((rq for rq in self.host_rqs[prev.host] if rq.is_idle()), prev)

    def _activate(self, p: Task) -> None:
        """``ttwu_do_activate``: queue ``p`` on a CPU; kick that CPU out of idle."""
        rq = self._select_task_rq(p)
        p.cpu, p.rq, p.on_rq = rq.cpu, rq, True
        if rq.curr is p:  # woken before it got switched out: keeps running
            return
        rq.queue.append(p)
        if rq.curr is rq.idle and rq.halted:
            rq.halted = False
            self._push(self.clock, "resume", rq, rq.idle)

    def _resume(self, rq: Rq) -> None:
        task = rq.curr
        if (task is not rq.idle and task.state == TASK_RUNNING and rq.queue
                and task._slice_used >= self.base_slice_ns):
            task._gens.append(_preempt_schedule())  # need_resched at the end of the burst
        self._send(rq, task)

    def _send(self, rq: Rq, task: Task, value: Any = None) -> None:
        """Run ``task`` until it yields: a burst of CPU, a switch to another task, or (idle) a halt."""
        global _current
        while True:
            gen = task._gens[-1]
            _current = task
            enter = rq.enter
            try:
                if enter is not None:
                    with enter(), call_stack(task.frames, task.comm):
                        msg = gen.send(value)
                elif recording():
                    with on_cpu(rq.cpu, "process", rq.host), call_stack(task.frames, task.comm):
                        msg = gen.send(value)
                else:
                    msg = gen.send(value)
            except StopIteration as stop:
                task._gens.pop()
                value = stop.value
                if task._gens:
                    continue
                raise RuntimeError(f"{task.comm} ran off the end of its code") from None
            finally:
                _current = None
            break
        if isinstance(msg, Run):
            task.sum_exec_runtime += msg.ns
            task._slice_used += msg.ns
            rq.busy_ns += msg.ns
            self._push(self.clock + msg.ns, "resume", rq, task)
        elif isinstance(msg, _Switch):
            nxt = msg.next
            if self.record_switches:
                self.switches.append(SwitchRecord(self.clock, rq.host, rq.cpu, task.comm, nxt.comm,
                                                  task.state != TASK_RUNNING))
            rq.switch_ns += self.context_switch_ns
            rq.busy_until = self.clock + self.context_switch_ns
            nxt._slice_used = 0
            self._push(self.clock + self.context_switch_ns, "resume", rq, nxt, switched_in=nxt is not rq.idle)
        elif msg is _HALT:
            rq.halted = True
            if rq.queue:  # something became runnable while the idle task was switching in
                rq.halted = False
                self._push(self.clock, "resume", rq, task)
        else:
            raise TypeError(f"{task.comm} yielded {msg!r}: yield only from spend(), schedule() or other models")


@kernel_function("kernel/sched/core.c", "the slice is used up and others wait: preempt")
def preempt_schedule_irq() -> Body:
    """On return from the timer interrupt with ``need_resched`` set: an involuntary switch."""
    trace_printk(f"{get_current().comm} used its slice; the next runnable task gets the CPU")
    yield from __schedule(SM_PREEMPT)


def _preempt_schedule() -> Body:
    yield from preempt_schedule_irq()


def _exit_after(body: Body, task: Task) -> Body:
    yield from body
    yield from do_task_dead(task)


# --- what a thread costs in memory -------------------------------------------------------------------------------
#: glibc's default pthread stack size: the soft RLIMIT_STACK (``ulimit -s``), 8 MiB on common distributions. It is
#: reserved address space (one mmap per thread, plus a 4 KiB guard page); only pages the thread touches are resident.
PTHREAD_STACK_SIZE = 8 * 1024 * 1024
PTHREAD_GUARD_SIZE = 4096
#: Resident user stack of a Python thread blocked in recv(): 200 such threads raised VmRSS by 16.3 KiB each on the
#: machine this course was built on. A C thread touches less. Measure yours with ``sched_experiments.thread_memory``.
THREAD_STACK_RESIDENT = 16 * 1024
#: FPU register state (XSAVE area) of every task that used the FPU, as every thread of a process that did: 512 B
#: legacy + 64 B header + 256 B AVX on an x86-64 CPU with AVX2 and no AVX-512 (fpu_kernel_cfg.default_size in
#: 6.12, the end of the task_struct object; xstate_size in 3.10, a task_xstate object of its own). AVX-512 CPUs
#: need about 2.7 KiB.
XSTATE_SIZE = 832


@dataclass(frozen=True)
class ThreadMemory:
    """Memory of one thread. ``virtual``: address space reserved (shows in VmSize); ``resident``: user-stack pages
    actually touched (in VmRSS); ``kernel``: its kernel stack, task_struct and FPU state (not in VmRSS, always
    resident)."""

    virtual: int
    resident: int
    kernel: int


@check.arguments
def thread_memory(profile: KernelProfile = LINUX_6_12, resident: int = THREAD_STACK_RESIDENT,
                  xstate: int = XSTATE_SIZE, stack_size: int = PTHREAD_STACK_SIZE) -> ThreadMemory:
    """What one more thread costs: stack reservation, touched stack pages, and in the kernel its stack
    (``profile.thread_size``), its task_struct (``profile.task_struct_size``) and its FPU state (``xstate``)."""
    for name, value in (("resident", resident), ("xstate", xstate), ("stack_size", stack_size)):
        if not isinstance(value, int) or value < 0:
            raise ValueError(f"{name} must be an int >= 0 (bytes)")
    return ThreadMemory(virtual=stack_size + PTHREAD_GUARD_SIZE, resident=resident,
                        kernel=profile.thread_size + profile.task_struct_size + xstate)
