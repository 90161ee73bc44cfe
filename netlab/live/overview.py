"""What the live parts of the course can see on this machine: one :class:`LiveResult` per capability.

Nothing here changes the system: files are read, the NIC is asked through read-only ethtool ioctls, and one
unconnected TCP socket is created (and closed) to test ``IP_LOCAL_PORT_RANGE``. No namespace is created.
"""
from __future__ import annotations

import dataclasses
import os
import socket
import sys

from netlab import check
from netlab.live import ethtool
from netlab.live.kallsyms import kallsyms_names
from netlab.live.limits import IP_LOCAL_PORT_RANGE_SINCE, set_local_port_range
from netlab.live.procfs import online_cpus, parse_slabinfo, live_file, softnet_stat, sysctl
from netlab.live.result import LiveResult, Why, probe
from netlab.units import number


def _kernel(proc: str) -> LiveResult:
    return dataclasses.replace(sysctl("kernel.osrelease", root=f"{proc}/sys"), what="kernel release")


def _kallsyms(proc: str) -> LiveResult:
    path = f"{proc}/kallsyms"
    r = probe("kernel function names (kallsyms)", f"reading {path}", lambda: len(kallsyms_names(path)))
    if r.available and not r.value:
        return LiveResult.unavailable(r.what, r.how, Why.UNKNOWN_FORMAT, f"{path} lists no functions here")
    if not r.available:
        return r
    return LiveResult(r.what, r.how, f"{number(r.value)} function names: steps can say '✓ in your kernel'")


def _softnet(proc: str) -> LiveResult:
    r = dataclasses.replace(softnet_stat(f"{proc}/net/softnet_stat"), what="softnet_stat layout")
    if not r.available:
        return r
    return LiveResult(r.what, r.how, f"{r.value.columns} columns, {len(r.value.rows)} CPUs; "
                                                     f"{r.value.note}")


def _slabinfo(proc: str) -> LiveResult:
    r = live_file("per-cache slab memory (slabinfo)", f"{proc}/slabinfo", parse_slabinfo)
    if r.available:
        return LiveResult(r.what, r.how, f"readable ({number(len(r.value))} caches)")
    if r.why is Why.PERMISSION:
        return LiveResult.unavailable(r.what, r.how, r.why, f"{r.reason} (root only, mode 0400); memory chapters "
                                                            f"use /proc/meminfo Slab deltas instead")
    return r


def _userns(proc: str) -> LiveResult:
    what = "unprivileged user + network namespaces"
    how = "reading user.max_user_namespaces, kernel.unprivileged_userns_clone, " \
          "kernel.apparmor_restrict_unprivileged_userns"
    limit = sysctl("user.max_user_namespaces", root=f"{proc}/sys")
    if not limit.available:
        return LiveResult.unavailable(what, how, limit.why, limit.reason)
    if limit.value == 0:
        return LiveResult.unavailable(what, how, Why.NAMESPACES_REFUSED, "user.max_user_namespaces is 0")
    for name, bad in (("kernel.unprivileged_userns_clone", 0), ("kernel.apparmor_restrict_unprivileged_userns", 1)):
        knob = sysctl(name, root=f"{proc}/sys")
        if knob.available and knob.value == bad:
            return LiveResult.unavailable(what, how, Why.NAMESPACES_REFUSED, f"{name} is {bad}")
    return LiveResult(what, how, f"allowed by the sysctls (max_user_namespaces {number(limit.value)}); "
                                 f"experiments can build their own network")


@check.arguments
def nic_devices(sys_root: str = "/sys") -> list[str]:
    """Interfaces with a device behind them (a real or virtio NIC), not virtual ones such as lo, veth, ifb."""
    base = f"{sys_root}/class/net"
    try:
        names = sorted(os.listdir(base))
    except OSError:
        return []
    return [n for n in names if os.path.exists(f"{base}/{n}/device")]


def _nic(dev: str, sys_root: str) -> LiveResult:
    what, how = f"NIC {dev}", "SIOCETHTOOL ioctls (GDRVINFO, GCHANNELS, GRINGPARAM, GCOALESCE) and sysfs queues"
    driver, chans, rings = ethtool.driver_info(dev), ethtool.channels(dev), ethtool.ring_sizes(dev)
    coalescing = ethtool.coalescing(dev)
    queues = ethtool.sysfs_queues(dev, f"{sys_root}/class/net")
    parts = []
    if driver.available:
        parts.append(driver.value.driver)
    if queues.available:
        parts.append(f"{queues.value['rx']} RX / {queues.value['tx']} TX queues")
    elif chans.available:
        c = chans.value
        parts.append(f"{c.combined or c.rx} RX queues")
    if rings.available:
        parts.append(f"RX ring {rings.value.rx} (max {rings.value.rx_max})")
    else:
        parts.append(f"ring size unknown: {rings.reason}")
    if coalescing.available:
        c = coalescing.value
        parts.append(f"rx-usecs {c.rx_usecs}" + (", adaptive" if c.adaptive_rx else ""))
    if not driver.available and not queues.available and not rings.available:
        return LiveResult.unavailable(what, how, driver.why, driver.reason)
    return LiveResult(what, how, ", ".join(parts))


def _nics(sys_root: str) -> list[LiveResult]:
    devices = nic_devices(sys_root)
    if not devices:
        return [LiveResult.unavailable("NIC queues and rings", f"listing {sys_root}/class/net/*/device",
                                       Why.DEVICE_LACKS, "no interface here has a device behind it (only virtual "
                                                         "ones)")]
    return [_nic(d, sys_root) for d in devices]


def _port_range() -> LiveResult:
    what = "IP_LOCAL_PORT_RANGE socket option"
    how = f"setsockopt on an unbound socket (the option exists since Linux " \
          f"{'.'.join(map(str, IP_LOCAL_PORT_RANGE_SINCE))})"

    if not sys.platform.startswith("linux"):
        return LiveResult.unavailable(what, how, Why.NOT_LINUX, f"it is a Linux option (this is {sys.platform})")

    def read():
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            set_local_port_range(s, 40000, 40009)
        return "supported: port exhaustion can be shown with 10 ports, not 28,000"
    return probe(what, how, read)


@check.arguments
def what_you_can_see(proc: str = "/proc", sys_root: str = "/sys") -> list[LiveResult]:
    """Kernel, CPUs, kallsyms, softnet_stat, slabinfo, namespaces, NICs, IP_LOCAL_PORT_RANGE: each a LiveResult."""
    for name, value in (("proc", proc), ("sys_root", sys_root)):
        if not isinstance(value, str) or not value.startswith("/"):
            raise ValueError(f"{name} must be an absolute path str, got {value!r}")
    kernel = _kernel(proc)
    cpus = online_cpus(f"{sys_root}/devices/system/cpu/online")
    if cpus.available:
        cpus = dataclasses.replace(cpus, value=f"{len(cpus.value)} (CPU {', '.join(map(str, cpus.value))})")
    return [kernel, cpus, _kallsyms(proc), _softnet(proc), _slabinfo(proc), _userns(proc), *_nics(sys_root),
            _port_range()]
