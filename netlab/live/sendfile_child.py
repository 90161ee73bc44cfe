"""The sending child of :mod:`netlab.live.sendfile` (standard library only, started with ``python -I``).

``python -I sendfile_child.py send PORT PATH METHOD CHUNK``: connect to 127.0.0.1:PORT, send the file at PATH with
METHOD ("read+send" or "sendfile"), print one JSON line: bytes, wall seconds, user and system CPU seconds of this
process (getrusage around the sending loop only), system calls made.
``python -I sendfile_child.py calibrate CHUNK``: this machine's memory copy speed (32 MiB copied through a
CHUNK-byte buffer, as read() copies a file) and the cost of a trivial system call.
"""
import json
import os
import resource
import socket
import sys
import time


def send(port: int, path: str, method: str, chunk: int) -> dict:
    with open(path, "rb", buffering=0) as f, socket.create_connection(("127.0.0.1", port), timeout=30) as s:
        s.settimeout(None)                       # blocking: sendfile() then sends everything it is given
        size = os.fstat(f.fileno()).st_size
        buf = bytearray(chunk)
        view = memoryview(buf)
        calls = 0
        before, t0 = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
        if method == "sendfile":
            offset = 0
            while offset < size:
                offset += os.sendfile(s.fileno(), f.fileno(), offset, size - offset)
                calls += 1
        else:
            while n := f.readinto(buf):          # one read() per chunk
                s.sendall(view[:n])              # send() until all n bytes are queued
                calls += 2
        wall = time.perf_counter() - t0
        after = resource.getrusage(resource.RUSAGE_SELF)
        s.shutdown(socket.SHUT_WR)
        return {"bytes": size, "wall_s": wall, "user_s": after.ru_utime - before.ru_utime,
                "sys_s": after.ru_stime - before.ru_stime, "syscalls": calls}


def calibrate(chunk: int) -> dict:
    src = memoryview(bytearray(os.urandom(1 << 20)) * 32)   # 32 MiB: larger than the caches, like the file
    buf = bytearray(chunk)                                  # copied through one chunk-sized buffer, as read() does

    def copy_through() -> None:
        for i in range(0, len(src), chunk):
            buf[:] = src[i:i + chunk]

    best = min(_timed(copy_through) for _ in range(5))
    n = 20000
    syscall = min(_timed(lambda: [os.getppid() for _ in range(n)]) for _ in range(3)) / n
    return {"copy_gbs": len(src) / best / 1e9, "syscall_s": syscall}


def _timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


if __name__ == "__main__":
    if sys.argv[1] == "send":
        print(json.dumps(send(int(sys.argv[2]), sys.argv[3], sys.argv[4], int(sys.argv[5]))))
    else:
        print(json.dumps(calibrate(int(sys.argv[2]))))
