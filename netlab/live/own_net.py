"""A network of the experiment's own: a child process in a fresh user and network namespace, root there only.

:func:`run_in_own_net` starts ``python -m module args…`` through :func:`netlab.live.result.run_child` with
``unshare(CLONE_NEWUSER | CLONE_NEWNET)``; the child calls :func:`enter` first, which maps the caller's user and
group to root of the new user namespace (so a program it runs, such as ``nft``, keeps the namespace's
capabilities across ``execve``) and brings the namespace's ``lo`` up. :func:`set_sysctl` then writes the
namespace's **own** sysctls (``/proc/sys/net/…`` as seen inside it); the learner's are never touched. Every
namespace experiment's child starts this way (:mod:`netlab.live.netns_child`, :mod:`netlab.live.limits`,
:mod:`netlab.live.packet_tap`, :mod:`netlab.live.time_wait`). Everything —
sockets, rules, sysctls, devices — ends with the child.
"""
from __future__ import annotations

import fcntl
import os
import socket
import struct
import sys
from typing import Any, Callable

from netlab import check
from netlab.live import procfs
from netlab.live.loopback import CLONE_NEWUSER, CLONE_NEWNET, namespaces_refused
from netlab.live.result import LiveResult, Unavailable, Why, run_child, unshare_errno

SIOCGIFFLAGS, SIOCSIFFLAGS, IFF_UP = 0x8913, 0x8914, 0x1       # include/uapi/linux/sockios.h, linux/if.h


@check.arguments
def run_in_own_net(what: str, how: str, module: str, args: list[str], timeout_s: check.Timeout,
                   build: Callable[[dict], Any]) -> LiveResult:
    """Run ``module``'s child in its own user+network namespace (the child starts with :func:`enter`)."""
    if not sys.platform.startswith("linux"):
        return LiveResult.unavailable(what, how, Why.NOT_LINUX, f"network namespaces are Linux's (this is "
                                                                f"{sys.platform})")
    return run_child(what, how, module, [str(os.getuid()), str(os.getgid()), *args], timeout_s, build,
                     unshare=CLONE_NEWUSER | CLONE_NEWNET)


@check.arguments
def enter(argv: list[str]) -> list[str]:
    """In the child: stop with the recognised reason if the namespaces were refused, become root of the new user
    namespace, bring ``lo`` up. ``argv`` is the child's ``sys.argv[1:]``; returns it without the user and group
    :func:`run_in_own_net` put first."""
    error = unshare_errno()
    if error:
        raise namespaces_refused(error)
    uid, gid, *rest = argv
    with open("/proc/self/setgroups", "w") as f:     # an unprivileged gid_map needs setgroups denied first
        f.write("deny")
    with open("/proc/self/uid_map", "w") as f:
        f.write(f"0 {int(uid)} 1")
    with open("/proc/self/gid_map", "w") as f:
        f.write(f"0 {int(gid)} 1")
    _set_up("lo")
    return rest


def _set_up(device: str) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        request = struct.pack("16sH", device.encode(), 0)
        flags = struct.unpack("16sH", fcntl.ioctl(s, SIOCGIFFLAGS, request)[:18])[1]
        fcntl.ioctl(s, SIOCSIFFLAGS, struct.pack("16sH", device.encode(), flags | IFF_UP))


@check.arguments
def has_sysctl(name: str) -> bool:
    """Whether this kernel has the sysctl ``name`` (some are newer than others, e.g.
    ``net.ipv4.tcp_syn_linear_timeouts``, 6.5+)."""
    return os.path.exists(procfs.sysctl_path(name))


@check.arguments
def set_sysctl(name: str, value: str | int) -> None:
    """In the child, after :func:`enter`: write the namespace's own sysctl ``name`` (e.g.
    ``net.ipv4.ip_local_port_range``, ``"40000 40009"``); :class:`Unavailable` when this kernel lacks it."""
    if os.environ.get("NETLAB_UNSHARE_ERRNO") != "0":
        raise RuntimeError("set_sysctl is for a child in its own namespace (run_in_own_net), never the learner's")
    if not has_sysctl(name):
        raise Unavailable(Why.KERNEL_LACKS, f"this kernel has no sysctl {name}")
    with open(procfs.sysctl_path(name), "w") as f:
        f.write(str(value))
