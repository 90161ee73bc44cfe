"""The child-process side of ``netlab.live.sched_experiments``: ``python -m netlab.live.sched_child CMD …`` prints
one JSON line (standard library only):

    pingpong ROUNDS PIN        context-switch cost by a pipe ping-pong between two processes
    threads N                  memory of N threads blocked in recv()
    serve MODEL N SECONDS      echo server on 127.0.0.1 (MODEL: threads | epoll); prints the port first, then the
                               JSON result when the N clients are gone
    clients PORT N SECONDS SIZE  N closed-loop echo clients for SECONDS

Every socket, thread and process it makes ends before it exits; every wait has a deadline.
"""
import json
import os
import resource
import select
import socket
import sys
import threading
import time


def _rusage():
    r = resource.getrusage(resource.RUSAGE_SELF)  # every thread of this process (Linux)
    return r.ru_nvcsw, r.ru_nivcsw


def pingpong(rounds, pin):
    pinned = False
    if pin and hasattr(os, "sched_setaffinity"):
        cpu = min(os.sched_getaffinity(0))
        os.sched_setaffinity(0, {cpu})  # this child process only; the fork below inherits it
        pinned = True
    # the same syscalls without a partner: what a round costs when nobody has to be switched in
    r, w = os.pipe()
    t0 = time.perf_counter()
    for _ in range(rounds):
        os.write(w, b"x")
        os.read(r, 1)
    syscall_s = (time.perf_counter() - t0) / rounds
    os.close(r)
    os.close(w)
    a_r, a_w = os.pipe()
    b_r, b_w = os.pipe()
    pid = os.fork()
    if pid == 0:  # the partner: echo each byte back, then leave without cleanup handlers
        try:
            for _ in range(rounds):
                os.read(a_r, 1)
                os.write(b_w, b"x")
        finally:
            os._exit(0)
    try:
        nv0, ni0 = _rusage()
        t0 = time.perf_counter()
        for _ in range(rounds):
            os.write(a_w, b"x")
            os.read(b_r, 1)
        elapsed = time.perf_counter() - t0
        nv1, ni1 = _rusage()
    finally:
        os.waitpid(pid, 0)
        for fd in (a_r, a_w, b_r, b_w):
            os.close(fd)
    return {"rounds": rounds, "pinned": pinned, "round_trip_ns": elapsed / rounds * 1e9,
            "syscalls_ns": syscall_s * 1e9, "nvcsw": nv1 - nv0, "nivcsw": ni1 - ni0}


def _status():
    out = {}
    with open("/proc/self/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key in ("VmSize", "VmRSS", "Threads"):
                out[key] = int(value.split()[0])
    return out


def threads(n):
    pairs = [socket.socketpair() for _ in range(n)]
    before = _status()
    workers = [threading.Thread(target=a.recv, args=(1,), daemon=True) for a, _ in pairs]
    for t in workers:
        t.start()
    deadline = time.monotonic() + 5
    while _status()["Threads"] < n + 1 and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.05)
    after = _status()
    for _, b in pairs:
        b.send(b"x")
    for t in workers:
        t.join(5)
    for a, b in pairs:
        a.close()
        b.close()
    return {"threads": n, "vmsize_kb": after["VmSize"] - before["VmSize"],
            "vmrss_kb": after["VmRSS"] - before["VmRSS"], "stack_kb": resource.getrlimit(resource.RLIMIT_STACK)[0]
            // 1024 if resource.getrlimit(resource.RLIMIT_STACK)[0] > 0 else -1}


def _accept_all(lsock, n, deadline):
    conns = []
    lsock.settimeout(max(0.1, deadline - time.monotonic()))
    while len(conns) < n:
        c, _ = lsock.accept()
        c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        conns.append(c)
    return conns


def serve(model, n, seconds):
    lsock = socket.socket()
    lsock.bind(("127.0.0.1", 0))
    lsock.listen(n)
    print(lsock.getsockname()[1], flush=True)
    deadline = time.monotonic() + seconds + 10
    conns = _accept_all(lsock, n, deadline)
    lsock.close()
    count = [0] * n
    nv0, ni0 = _rusage()
    t0 = time.perf_counter()
    if model == "threads":
        def handle(i, c):  # a blocking socket: recv() sleeps in sk_wait_data until data comes
            try:
                while True:
                    data = c.recv(4096)
                    if not data:
                        return
                    c.sendall(data)
                    count[i] += 1
            except OSError:
                return
        workers = [threading.Thread(target=handle, args=(i, c), daemon=True) for i, c in enumerate(conns)]
        for t in workers:
            t.start()
        for t in workers:
            t.join(max(0.1, deadline - time.monotonic()))
    else:
        ep = select.epoll()
        try:
            index = {}
            for i, c in enumerate(conns):
                c.setblocking(False)
                ep.register(c.fileno(), select.EPOLLIN)
                index[c.fileno()] = i
            open_fds = set(index)
            while open_fds and time.monotonic() < deadline:
                for fd, _ in ep.poll(1.0):
                    c = conns[index[fd]]
                    try:
                        data = c.recv(4096)
                        if data:
                            c.sendall(data)
                    except BlockingIOError:
                        continue
                    except OSError:  # the client closed with a reply in flight: a reset
                        data = b""
                    if not data:
                        ep.unregister(fd)
                        open_fds.discard(fd)
                        continue
                    count[index[fd]] += 1
        finally:
            ep.close()
    elapsed = time.perf_counter() - t0
    nv1, ni1 = _rusage()
    for c in conns:
        c.close()
    return {"model": model, "connections": n, "requests": sum(count), "seconds": elapsed,
            "nvcsw": nv1 - nv0, "nivcsw": ni1 - ni0}


def clients(port, n, seconds, size):
    socks = []
    try:
        for _ in range(n):
            s = socket.create_connection(("127.0.0.1", port), timeout=5)
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            s.setblocking(False)
            socks.append(s)
        msg = b"x" * size
        ep = select.epoll()
        try:
            pending = {}
            for s in socks:
                ep.register(s.fileno(), select.EPOLLIN)
                s.send(msg)
                pending[s.fileno()] = (s, 0)
            done = 0
            stop = time.monotonic() + seconds
            while time.monotonic() < stop:
                for fd, _ in ep.poll(0.2):
                    s, got = pending[fd]
                    try:
                        got += len(s.recv(65536))
                    except BlockingIOError:
                        continue
                    if got >= size:
                        done += 1
                        got = 0
                        s.send(msg)
                    pending[fd] = (s, got)
        finally:
            ep.close()
    finally:
        for s in socks:
            s.close()
    return {"requests": done}


def main(argv):
    cmd = argv[0]
    if cmd == "pingpong":
        out = pingpong(int(argv[1]), argv[2] == "1")
    elif cmd == "threads":
        out = threads(int(argv[1]))
    elif cmd == "serve":
        out = serve(argv[1], int(argv[2]), float(argv[3]))
    elif cmd == "clients":
        out = clients(int(argv[1]), int(argv[2]), float(argv[3]), int(argv[4]))
    else:
        raise SystemExit(f"unknown command {cmd!r}")
    print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
