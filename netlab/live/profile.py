"""This machine's kernel profile: the 6.12 profile with every value the running kernel exposes read live.

:func:`this_machine` reads the sysctls of :data:`SYSCTLS`, the softnet_stat layout, this process's open-file limit
and, when /proc/slabinfo is readable, the slab caches; the static profiles live in :mod:`netlab.kernel.profiles`.
"""
from __future__ import annotations

import os
from types import MappingProxyType

from netlab import check
from netlab.kernel.profiles import LINUX_6_12, KernelProfile, SlabCache
from netlab.live import procfs

# sysctl file under /proc/sys -> profile field; values with several numbers become tuples.
SYSCTLS = {
    "net/core/netdev_budget": "netdev_budget",
    "net/core/netdev_budget_usecs": "netdev_budget_usecs",
    "net/core/dev_weight": "dev_weight",
    "net/core/netdev_max_backlog": "netdev_max_backlog",
    "net/core/gro_normal_batch": "gro_normal_batch",
    "net/core/somaxconn": "somaxconn",
    "net/core/rmem_default": "rmem_default",
    "net/core/wmem_default": "wmem_default",
    "net/ipv4/tcp_max_syn_backlog": "tcp_max_syn_backlog",
    "net/ipv4/tcp_syncookies": "tcp_syncookies",
    "net/ipv4/tcp_abort_on_overflow": "tcp_abort_on_overflow",
    "net/ipv4/tcp_syn_retries": "tcp_syn_retries",
    "net/ipv4/tcp_synack_retries": "tcp_synack_retries",
    "net/ipv4/tcp_syn_linear_timeouts": "tcp_syn_linear_timeouts",
    "net/ipv4/tcp_tw_reuse": "tcp_tw_reuse",
    "net/ipv4/ip_local_port_range": "ip_local_port_range",
    "net/ipv4/tcp_rmem": "tcp_rmem",
    "net/ipv4/tcp_wmem": "tcp_wmem",
    "net/ipv4/tcp_keepalive_time": "tcp_keepalive_time",
    "net/ipv4/tcp_keepalive_intvl": "tcp_keepalive_intvl",
    "net/ipv4/tcp_keepalive_probes": "tcp_keepalive_probes",
    "fs/nr_open": "nr_open",
}

LIVE_ONLY_CACHES = ("lsm_inode_cache", "lsm_file_cache")
"""LSM blobs a socket's inode and file get when the LSMs booted use them (security/security.c): read live only."""


@check.arguments
def this_machine(proc_sys: str = "/proc/sys", softnet_path: str = "/proc/net/softnet_stat",
                 slabinfo_path: str = "/proc/slabinfo", sys_slab: str = "/sys/kernel/slab") -> KernelProfile:
    """The 6.12 profile with every value the running kernel exposes read live (the sysctls, the softnet_stat
    layout, this process's open-file limit, the slab caches when /proc/slabinfo is readable); ``live`` names the
    fields that were read."""
    if not all(isinstance(p, str) for p in (proc_sys, softnet_path, slabinfo_path, sys_slab)):
        raise TypeError("proc_sys, softnet_path, slabinfo_path and sys_slab must be path strs")
    changes: dict[str, object] = {}
    for path, name in SYSCTLS.items():
        reading = procfs.sysctl(path, root=proc_sys)
        if reading.available and not isinstance(reading.value, str):
            changes[name] = reading.value
    if changes.get("netdev_budget_usecs") in (2000, 6666, 8000, 20000):
        changes["hz"] = 2_000_000 // changes["netdev_budget_usecs"]  # the default is 2 * USEC_PER_SEC / HZ
    softnet = procfs.softnet_stat(softnet_path)
    if softnet.available:
        changes["softnet_stat_columns"] = softnet.value.columns
    page = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else None
    if page:
        changes["page_size"] = page
    try:
        import resource
        changes["nofile_soft"], changes["nofile_hard"] = resource.getrlimit(resource.RLIMIT_NOFILE)
    except (ImportError, OSError):
        pass
    changes.update(_live_slab(slabinfo_path, sys_slab))
    return LINUX_6_12.replace(name="this machine", live=frozenset(changes), **changes)


def _live_slab(slabinfo_path: str, sys_slab: str) -> dict[str, object]:
    """``slab`` and ``slab_aliases`` from /proc/slabinfo (root only) and /sys/kernel/slab's symlinks."""
    rows = procfs.slabinfo(slabinfo_path)
    if not rows.available:
        return {}
    links = procfs.slab_links(sys_slab)
    merged = procfs.merged_slab_caches(links.value, rows.value) if links.available else {}
    slab, aliases = dict(LINUX_6_12.slab), {}
    for name in (*LINUX_6_12.slab, *LIVE_ONLY_CACHES):
        row = rows.value.get(merged.get(name, name))
        if row is None:
            continue
        slab[name] = SlabCache(name, row.objsize, row.objperslab, row.pagesperslab)
        if row.name != name:
            slab.setdefault(row.name, SlabCache(row.name, row.objsize, row.objperslab, row.pagesperslab))
            aliases[name] = row.name
    return {"slab": MappingProxyType(slab), "slab_aliases": MappingProxyType(aliases)}
