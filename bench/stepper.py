"""How long a Stepper step takes on the Python side: building a step's HTML, and revisiting a cached step.

The browser test measures the whole click-to-DOM latency; this isolates the part netlab controls.
    python bench/stepper.py
"""
import statistics
import time

from netlab.kernel.sched import TASK_INTERRUPTIBLE, Task, default_wake_function
from netlab.kernel.sock import Sock, Socket, sock_def_readable
from netlab.kernel.wait import WaitQueueEntry, add_wait_queue, remove_wait_queue
from netlab.trace import Tracer
from netlab.view.stepper import Stepper


def wakeups(rounds: int):
    """A trace of ``rounds`` readers sleeping on a socket and being woken."""
    sock = Socket(Sock(name="sk"))
    tasks = []
    with Tracer(snapshot=lambda: {"waiters": sock.wq.snapshot(), "states": [t.state for t in tasks]}) as tracer:
        for i in range(rounds):
            task = Task(f"reader{i}", state=TASK_INTERRUPTIBLE)
            tasks.append(task)
            entry = WaitQueueEntry(default_wake_function, task, name=task.comm)
            add_wait_queue(sock.wq, entry)
            sock_def_readable(sock.sk)
            remove_wait_queue(sock.wq, entry)
    return tracer.trace


def percentile(values, q):
    return statistics.quantiles(values, n=100)[q - 1] if len(values) > 1 else values[0]


def main():
    print(f"{'trace':>12} {'events':>7} {'build ms':>9} {'step p50 ms':>12} {'step p95 ms':>12} {'cached p95 ms':>14}")
    for rounds in (10, 100, 400):
        trace = wakeups(rounds)
        t0 = time.perf_counter()
        stepper = Stepper(trace, title="bench")
        build = (time.perf_counter() - t0) * 1e3
        fresh, cached = [], []
        for timings in (fresh, cached):
            stepper.first()
            for _ in range(min(len(trace) - 1, 200)):
                t0 = time.perf_counter()
                stepper.next()
                timings.append((time.perf_counter() - t0) * 1e3)
        print(f"{rounds:>5} rounds {len(trace):>7} {build:>9.1f} {percentile(fresh, 50):>12.3f} "
              f"{percentile(fresh, 95):>12.3f} {percentile(cached, 95):>14.3f}")


if __name__ == "__main__":
    main()
