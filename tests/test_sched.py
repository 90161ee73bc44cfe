"""The scheduler model: blocking is a voluntary switch, preemption an involuntary one, and each costs CPU time."""
import pytest

from netlab.kernel.mutex import Mutex, mutex_lock, mutex_unlock
from netlab.kernel.sched import (TASK_INTERRUPTIBLE, Scheduler, default_wake_function, get_current, schedule,
                                 schedule_hrtimeout_range, schedule_timeout, spend, thread_memory, wake_up_process)
from netlab.kernel.profiles import PROFILES
from netlab.kernel.timer import TimerList
from netlab.kernel.wait import (WaitQueueEntry, WaitQueueHead, __add_wait_queue_exclusive, __wake_up,
                                add_wait_queue_exclusive)
from netlab.trace import Tracer


def sleeper(wq, log, name, exclusive_at_head=False):
    me = get_current()
    me.state = TASK_INTERRUPTIBLE
    entry = WaitQueueEntry(default_wake_function, me, name=name)
    (__add_wait_queue_exclusive if exclusive_at_head else add_wait_queue_exclusive)(wq, entry)
    yield from schedule()
    log.append((name, get_current().rq.scheduler.clock))


def test_a_sleep_and_a_wake_up_cost_two_switches_on_an_idle_cpu():
    s = Scheduler(nr_cpus=1, context_switch_ns=3_000)
    wq, log = WaitQueueHead(), []
    t = s.spawn("a", sleeper(wq, log, "a"))
    s.run(10_000)
    before = s.counts()["nr_switches"]
    s.at(20_000, lambda: __wake_up(wq, 1))
    s.run()
    assert log == [("a", 23_000)]  # woken at 20 µs, runs after one 3 µs switch
    assert t.nvcsw == 2 and t.nivcsw == 0  # blocked in schedule(), then exited
    assert s.counts()["nr_switches"] - before == 2  # idle -> a, a -> idle (exit)
    assert s.counts()["switch_ns"] == 4 * 3_000


def test_lifo_and_fifo_exclusive_waiters():
    for at_head, expected in ((True, "c"), (False, "a")):
        s = Scheduler()
        wq, log = WaitQueueHead(), []
        for name in "abc":
            s.spawn(name, sleeper(wq, log, name, exclusive_at_head=at_head))
        s.run(50_000)
        s.at(60_000, lambda: __wake_up(wq, 1))
        s.run()
        assert [n for n, _ in log] == [expected]


def test_cpu_hogs_are_preempted_involuntarily_after_their_slice():
    s = Scheduler(nr_cpus=1, base_slice_ns=100_000)

    def hog():
        for _ in range(50):
            yield from spend(10_000)

    a, b = s.spawn("a", hog()), s.spawn("b", hog())
    s.run()
    assert a.nivcsw >= 4 and b.nivcsw >= 4
    assert a.sum_exec_runtime == b.sum_exec_runtime == 500_000


def test_two_cpus_run_two_tasks_at_once():
    s = Scheduler(nr_cpus=2, context_switch_ns=1_000)
    done = {}

    def work(name):
        yield from spend(100_000)
        done[name] = s.clock

    s.spawn("a", work("a"), cpu=0)
    s.spawn("b", work("b"), cpu=0)  # the second goes to the idle CPU 1
    s.run()
    assert done == {"a": 101_000, "b": 101_000}


def test_timeouts_fire_and_cancelled_timers_do_not_wake_later():
    s = Scheduler()
    log = []

    def waiter():
        get_current().state = TASK_INTERRUPTIBLE
        left = yield from schedule_timeout(50_000)
        log.append(("timeout", s.clock, left))
        get_current().state = TASK_INTERRUPTIBLE
        ret = yield from schedule_hrtimeout_range(s.clock + 1_000_000)
        log.append(("hrtimer", s.clock, ret))
        get_current().state = TASK_INTERRUPTIBLE
        yield from schedule_timeout(None)  # forever: nothing may wake this one
        log.append(("woken", s.clock))

    t = s.spawn("w", waiter())
    s.run(200_000)
    s.at(300_000, lambda: wake_up_process(t))
    s.run(5_000_000)
    assert log[0][0] == "timeout" and log[0][2] == 0 and log[0][1] >= 50_000
    assert log[1][0] == "hrtimer" and log[1][2] < 0 and log[1][1] == 303_000  # woken early: -EINTR
    assert len(log) == 2  # the cancelled hrtimer (due at ~1.05 ms) did not wake the last sleep


def test_timers_interrupts_and_tasks_share_one_queue_and_same_time_events_run_in_queueing_order():
    s, log = Scheduler(), []

    def task():
        log.append(("task", s.clock))
        yield from spend(10)
        log.append(("task done", s.clock))

    late = TimerList(lambda t: log.append(("late", s.clock)), name="late")
    s.mod_timer(late, 10)
    s.at(10, lambda: log.append(("irq", s.clock)), context="hardirq")
    s.spawn("t", task())                          # runnable now: a switch (3 µs), then its burst
    s.mod_timer(late, 3_010)                      # re-armed: queued before the task's burst ends at 3 010
    gone = TimerList(lambda t: log.append(("gone", s.clock)))
    s.mod_timer(gone, 5)
    assert s.del_timer(gone) and not s.timer_pending(gone) and s.timer_pending(late)
    s.run()
    assert log == [("irq", 10), ("task", 3_000), ("late", 3_010), ("task done", 3_010)]
    assert not s.timer_pending(late)


def test_a_held_mutex_puts_the_second_task_to_sleep():
    s = Scheduler(nr_cpus=2)
    m, order = Mutex("m"), []

    def user(name, hold):
        yield from mutex_lock(m)
        order.append(name)
        yield from spend(hold)
        mutex_unlock(m)

    a = s.spawn("a", user("a", 50_000), cpu=0)
    b = s.spawn("b", user("b", 1_000), cpu=1)
    s.run()
    assert order == ["a", "b"] and b.nvcsw >= 2 and m.owner is None


def test_the_scheduler_is_deterministic():
    def record():
        s = Scheduler()
        wq, log = WaitQueueHead(), []
        with Tracer(clock=s.now) as t:
            s.spawn("a", sleeper(wq, log, "a"))
            s.at(5_000, lambda: __wake_up(wq, 1))
            s.run()
        return [(e.function, e.time_ns, e.depth, e.task) for e in t.trace]
    assert record() == record()


def test_thread_memory_and_bad_input():
    m6, m3 = thread_memory(PROFILES["6.12"]), thread_memory(PROFILES["3.10"])
    assert m6.virtual == 8 * 2**20 + 4096
    # kernel stack + task_struct without its FPU registers + the CPU's XSAVE area (832 B with AVX2)
    assert m6.kernel == 16384 + (9792 - 4096) + 832 and m3.kernel == 16384 + 2912 + 832
    assert thread_memory(PROFILES["6.12"], xstate=2696).kernel == m6.kernel + 2696 - 832
    with pytest.raises(ValueError, match="nr_cpus"):
        Scheduler(nr_cpus=-1)
    with pytest.raises(ValueError, match="time_ns"):
        Scheduler().at(-1, lambda: None)
    with pytest.raises(TypeError, match="generator"):
        Scheduler().spawn("x", lambda: None)
    with pytest.raises(ValueError, match="ns must"):
        list(spend(-5))
    with pytest.raises(RuntimeError, match="interrupt context"):
        get_current()


def test_nonblocking_runs_a_call_that_does_not_sleep_and_refuses_one_that_would():
    from netlab.kernel.sched import nonblocking

    def quick():
        return 7
        yield  # a generator, like every kernel function that may sleep

    def sleepy():
        yield from spend(10)

    assert nonblocking(quick()) == 7
    with pytest.raises(RuntimeError, match="tried to sleep"):
        nonblocking(sleepy())
    with pytest.raises(TypeError, match="generator"):
        nonblocking(lambda: 1)


def test_hosts_on_one_engine_have_their_own_run_queues():
    """Two hosts share the clock, never a run queue: a task woken on a busy CPU of its host waits there rather
    than moving to the other host's idle CPU, and its switches name its host."""
    s = Scheduler(nr_cpus=0, context_switch_ns=1_000)
    a, b = s.add_cpus(1, "a"), s.add_cpus(1, "b")
    assert [(rq.host, rq.cpu) for rq in s.rqs] == [("a", 0), ("b", 0)] and s.cpu_rq(0, "b") is b[0]
    done = {}

    def work(name):
        yield from spend(100_000)
        done[name] = s.clock

    s.spawn("x", work("x"), host="a")
    s.spawn("y", work("y"), host="a")
    s.run()
    assert done == {"x": 101_000, "y": 202_000}           # one after the other on a's CPU 0
    assert b[0].nr_switches == 0 and {r.host for r in s.switches} == {"a"}
    with pytest.raises(ValueError, match="already"):
        s.add_cpus(1, "a")
    with pytest.raises(ValueError, match="no host 'c'"):
        s.spawn("z", work("z"), host="c")
    with pytest.raises(ValueError, match="cpu must"):
        s.at(s.clock, lambda: None, cpu=1, host="b")
