"""NIC facts without the ethtool binary: the ``SIOCETHTOOL`` ioctl from Python, plus sysfs and /proc/irq.

The ioctl goes to a plain ``AF_INET``/``SOCK_DGRAM`` socket that never sends anything (net/ethtool/ioctl.c
``dev_ethtool`` answers the GET commands without privilege). Structures from include/uapi/linux/ethtool.h:
``ethtool_drvinfo`` (ETHTOOL_GDRVINFO), ``ethtool_ringparam`` (ETHTOOL_GRINGPARAM), ``ethtool_channels``
(ETHTOOL_GCHANNELS), ``ethtool_coalesce`` (ETHTOOL_GCOALESCE). RPS settings come from sysfs
(net/core/net-sysfs.c ``show_rps_map``, ``show_rps_dev_flow_table_cnt``).
"""
from __future__ import annotations

import array
import errno
import os
import re
import socket
import struct
import sys
from dataclasses import dataclass

from netlab import check
from netlab.live.procfs import live_file, parse_cpu_list, parse_cpu_mask
from netlab.live.result import LiveProbeError, LiveResult, Unavailable, Why, errno_name, probe, read_text

SIOCETHTOOL = 0x8946            # include/uapi/linux/sockios.h
ETHTOOL_GDRVINFO = 0x03
ETHTOOL_GCOALESCE = 0x0E
ETHTOOL_GRINGPARAM = 0x10
ETHTOOL_GCHANNELS = 0x3C
IFNAMSIZ = 16
_IFREQ_SIZE = 40                # struct ifreq on 64-bit: 16-byte name + 24-byte union (ifr_data pointer)
_DRVINFO = struct.Struct("=I32s32s32s32s32s12s5I")
_NINE_U32 = struct.Struct("=9I")
_COALESCE = struct.Struct("=23I")   # cmd + 22 u32 fields, rx_coalesce_usecs first, rate_sample_interval last


@dataclass(frozen=True)
class DriverInfo:
    driver: str
    version: str
    fw_version: str
    bus_info: str


@dataclass(frozen=True)
class RingParams:
    """Descriptor ring sizes: ``ethtool -g``. ``rx`` is the RX RingBuffer length a model's ``rx_ring_size`` means."""

    rx: int
    rx_max: int
    tx: int
    tx_max: int


@dataclass(frozen=True)
class Channels:
    """Queue counts: ``ethtool -l``. Most NICs report combined (RX+TX) channels; virtio_net reports combined."""

    rx: int
    tx: int
    other: int
    combined: int
    max_rx: int
    max_tx: int
    max_other: int
    max_combined: int


@dataclass(frozen=True)
class Coalescing:
    """Interrupt moderation: ``ethtool -c``. igb reports its ``rx_itr_setting`` as ``rx_usecs`` exactly as the
    model's ``rx_usecs`` means it (0 none, 1 and 3 adaptive, else the shortest µs between two interrupts,
    ``igb_get_coalesce``); other drivers report µs, frames and an adaptive flag (virtio_net without the
    NOTF_COAL feature: rx_frames 1, an interrupt per frame)."""

    rx_usecs: int
    rx_frames: int
    adaptive_rx: bool
    tx_usecs: int
    tx_frames: int
    adaptive_tx: bool


@dataclass(frozen=True)
class RpsQueue:
    """One RX queue's RPS settings in sysfs: the CPUs its packets may be steered to (``rps_cpus``, none: RPS off)
    and its RFS flow table size (``rps_flow_cnt``, 0: RFS off for this queue)."""

    queue: str
    cpus: tuple[int, ...]
    flow_cnt: int


@check.arguments
def check_device(dev: str) -> str:
    if not isinstance(dev, str) or not 0 < len(dev) < IFNAMSIZ or re.search(r"[\s/:]", dev):
        raise ValueError(f"an interface name is 1-15 characters without spaces, '/' or ':', got {dev!r}")
    return dev


def interfaces() -> list[str]:
    """Names of this network namespace's interfaces (``socket.if_nameindex``); empty where unsupported."""
    if not hasattr(socket, "if_nameindex"):
        return []
    return [name for _, name in socket.if_nameindex()]


def _ethtool(dev: str, buffer: bytes) -> bytes:
    """Send one ethtool GET command for ``dev``; returns the buffer the kernel filled in."""
    import fcntl
    data = array.array("B", buffer)
    address, _ = data.buffer_info()
    ifreq = struct.pack("16sP", dev.encode(), address).ljust(_IFREQ_SIZE, b"\0")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        fcntl.ioctl(s.fileno(), SIOCETHTOOL, ifreq)
    return data.tobytes()


def _query(what: str, dev: str, cmd_name: str, buffer: bytes, decode) -> LiveResult:
    check_device(dev)
    how = f"ioctl(SIOCETHTOOL, {cmd_name}) on {dev}"
    if not sys.platform.startswith("linux"):
        return LiveResult.unavailable(what, how, Why.NOT_LINUX,
                                      f"the SIOCETHTOOL ioctl exists only on Linux ({sys.platform})")
    try:
        return LiveResult(what, how, decode(_ethtool(dev, buffer)))
    except OSError as e:
        # net/ethtool/ioctl.c: ENODEV for an unknown name, EOPNOTSUPP for an op the driver lacks, EPERM for
        # commands that need CAP_NET_ADMIN (none of these GETs); anything else is not ours to explain away
        code = errno_name(e)
        if e.errno == errno.ENODEV:
            return LiveResult.unavailable(what, how, Why.NO_ENTRY, f"there is no interface {dev!r} here ({code})")
        if e.errno == errno.EOPNOTSUPP:
            return LiveResult.unavailable(what, how, Why.DEVICE_LACKS,
                                          f"the {dev} driver does not report this ({code}: {os.strerror(e.errno)})")
        if e.errno in (errno.EPERM, errno.EACCES):
            return LiveResult.unavailable(what, how, Why.PERMISSION, f"this needs more privilege here ({code})")
        raise LiveProbeError(what, how, f"{code}: {e.strerror or e}") from e


def _text(raw: bytes) -> str:
    return raw.split(b"\0", 1)[0].decode("utf-8", "replace")


@check.arguments
def driver_info(dev: str) -> LiveResult:
    """The driver behind ``dev`` (``ethtool -i``): ``virtio_net``, ``igb``, ``loopback`` …"""
    def decode(raw: bytes) -> DriverInfo:
        _, driver, version, fw, bus, *_ = _DRVINFO.unpack(raw)
        return DriverInfo(_text(driver), _text(version), _text(fw), _text(bus))
    return _query(f"driver of {dev}", dev, "ETHTOOL_GDRVINFO",
                  _DRVINFO.pack(ETHTOOL_GDRVINFO, *[b""] * 6, *[0] * 5), decode)


@check.arguments
def ring_sizes(dev: str) -> LiveResult:
    """RX/TX descriptor ring sizes and their maxima (``ethtool -g``)."""
    def decode(raw: bytes) -> RingParams:
        _, rx_max, _, _, tx_max, rx, _, _, tx = _NINE_U32.unpack(raw)
        return RingParams(rx, rx_max, tx, tx_max)
    return _query(f"ring sizes of {dev}", dev, "ETHTOOL_GRINGPARAM",
                  _NINE_U32.pack(ETHTOOL_GRINGPARAM, *[0] * 8), decode)


@check.arguments
def channels(dev: str) -> LiveResult:
    """How many RX/TX/combined queues ``dev`` uses and supports (``ethtool -l``)."""
    def decode(raw: bytes) -> Channels:
        _, max_rx, max_tx, max_other, max_combined, rx, tx, other, combined = _NINE_U32.unpack(raw)
        return Channels(rx, tx, other, combined, max_rx, max_tx, max_other, max_combined)
    return _query(f"queues of {dev}", dev, "ETHTOOL_GCHANNELS",
                  _NINE_U32.pack(ETHTOOL_GCHANNELS, *[0] * 8), decode)


@check.arguments
def coalescing(dev: str) -> LiveResult:
    """How ``dev`` moderates its interrupts (``ethtool -c``)."""
    def decode(raw: bytes) -> Coalescing:
        f = _COALESCE.unpack(raw)
        return Coalescing(rx_usecs=f[1], rx_frames=f[2], adaptive_rx=bool(f[10]), tx_usecs=f[5], tx_frames=f[6],
                          adaptive_tx=bool(f[11]))
    return _query(f"interrupt coalescing of {dev}", dev, "ETHTOOL_GCOALESCE",
                  _COALESCE.pack(ETHTOOL_GCOALESCE, *[0] * 22), decode)


# ---------------------------------------------------------------------------------------------------------------
# sysfs and /proc/irq

@check.arguments
def sysfs_queues(dev: str, sys_class_net: str = "/sys/class/net") -> LiveResult:
    """``{"rx": n, "tx": m}`` from ``/sys/class/net/<dev>/queues/rx-*`` and ``tx-*`` (what the stack uses)."""
    check_device(dev)
    path = f"{sys_class_net}/{dev}/queues"

    def read():
        names = os.listdir(path)
        return {"rx": sum(n.startswith("rx-") for n in names), "tx": sum(n.startswith("tx-") for n in names)}
    return probe(f"queues of {dev} (sysfs)", f"listing {path}", read)


@check.arguments
def rps_queues(dev: str, sys_class_net: str = "/sys/class/net") -> LiveResult:
    """Each RX queue's RPS CPUs and RFS flow count (``queues/rx-*/rps_cpus``, ``rps_flow_cnt``; a kernel built
    without CONFIG_RPS has neither file)."""
    check_device(dev)
    path = f"{sys_class_net}/{dev}/queues"

    def read():
        names = sorted((n for n in os.listdir(path) if n.startswith("rx-")), key=lambda n: int(n[3:]))
        if names and not os.path.exists(f"{path}/{names[0]}/rps_cpus"):
            raise Unavailable(Why.DEVICE_LACKS, "this kernel has no RPS (built without CONFIG_RPS)")
        return [RpsQueue(n, parse_cpu_mask(f"{path}/{n}/rps_cpus"),
                         int(read_text(f"{path}/{n}/rps_flow_cnt").strip())) for n in names]
    return probe(f"RPS of {dev}", f"reading {path}/rx-*/rps_cpus and rps_flow_cnt", read)


@check.arguments
def msi_irqs(dev: str, sys_class_net: str = "/sys/class/net") -> LiveResult:
    """The MSI/MSI-X IRQ numbers of the PCI device behind ``dev`` (``device/msi_irqs``, or its parent's for
    virtio, whose ``device`` is a virtio bus device under the PCI function)."""
    check_device(dev)
    device = f"{sys_class_net}/{dev}/device"
    what, how = f"MSI IRQs of {dev}", f"listing {device}/msi_irqs (or the parent's)"
    if not os.path.exists(device):
        return LiveResult.unavailable(what, how, Why.DEVICE_LACKS, f"{dev} has no device in sysfs (a virtual "
                                                                   f"interface?)")
    for candidate in (f"{device}/msi_irqs", f"{device}/../msi_irqs"):
        if os.path.isdir(candidate):
            return probe(what, how, lambda c=candidate: sorted(int(n) for n in os.listdir(c) if n.isdigit()))
    return LiveResult.unavailable(what, how, Why.DEVICE_LACKS, f"{dev}'s device uses no MSI interrupts")


@check.arguments
def irq_affinity(irq: int, proc_irq: str = "/proc/irq") -> LiveResult:
    """The CPUs allowed to take hard IRQ ``irq`` (``/proc/irq/N/smp_affinity_list``)."""
    return live_file(f"CPUs for IRQ {irq}", f"{proc_irq}/{irq}/smp_affinity_list", parse_cpu_list)
