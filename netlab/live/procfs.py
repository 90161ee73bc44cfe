"""Every procfs file netlab reads, parsed into plain named data. The one place that knows their layouts.

Each ``parse_*`` takes the file's text or its path (so tests feed other kernels' files); each wrapper of the same
name without ``parse_`` reads the live file and returns a :class:`LiveResult`, "not available here, because …"
when the file is missing, unreadable or laid out in a way netlab does not know. Nothing here ever writes.

Print formats, from the 6.12 source unless noted:
``/proc/net/softnet_stat`` net/core/net-procfs.c ``softnet_seq_show`` · ``/proc/softirqs`` fs/proc/softirqs.c
``show_softirqs`` · ``/proc/interrupts`` kernel/irq/proc.c ``show_interrupts`` · ``/proc/net/netstat``,
``/proc/net/snmp``, ``/proc/net/sockstat`` net/ipv4/proc.c · ``/proc/slabinfo`` mm/slab_common.c ``cache_show``
· ``/sys/kernel/slab`` mm/slub.c (``sysfs_slab_alias``) · ``/proc/net/fib_trie`` net/ipv4/fib_trie.c
``fib_trie_seq_show`` · ``/proc/net/tcp`` net/ipv4/tcp_ipv4.c ``get_tcp4_sock``, ``/proc/net/tcp6``
net/ipv6/tcp_ipv6.c ``get_tcp6_sock``.
"""
from __future__ import annotations

import ipaddress
import os
import re
import sys
from dataclasses import dataclass, fields
from typing import Callable, Iterable, Mapping

from netlab import check
from netlab.kernel.profiles import SlabCache
from netlab.live.result import LiveResult, Why, probe, read_text


@check.arguments
def live_file(what: str, path: str, parse: Callable[[str], object]) -> LiveResult:
    """Read ``path`` with ``parse``; a missing/unreadable file or an unknown layout becomes a reason (other
    errors surface: see :func:`netlab.live.result.probe`)."""
    if not isinstance(path, str) or not path.startswith("/"):
        raise ValueError(f"path must be an absolute path str, got {path!r}")
    how = f"reading {path}"
    try:
        return probe(what, how, lambda: parse(read_text(path)))
    except ValueError as e:
        return LiveResult.unavailable(what, how, Why.UNKNOWN_FORMAT,
                                      f"{path} is laid out in a way netlab does not know ({e})")


def _int_fields(line: str, base: int = 10) -> list[int]:
    try:
        return [int(x, base) for x in line.split()]
    except ValueError:
        raise ValueError(f"expected numbers, got {line.strip()!r}") from None


@check.arguments
def parse_cpu_list(source: str) -> tuple[int, ...]:
    """A kernel CPU list such as ``0-3,8,10-11`` (``/sys/devices/system/cpu/online``, ``smp_affinity_list``)."""
    text = read_text(source).strip()
    cpus: list[int] = []
    for part in filter(None, text.split(",")):
        lo, _, hi = part.partition("-")
        try:
            first, last = int(lo), int(hi or lo)
        except ValueError:
            raise ValueError(f"a CPU list looks like '0-3,8', got {text!r}") from None
        if first > last or first < 0:
            raise ValueError(f"bad CPU range {part!r}")
        cpus.extend(range(first, last + 1))
    return tuple(cpus)


@check.arguments
def parse_cpu_mask(source: str) -> tuple[int, ...]:
    """A kernel CPU bitmap in hex, 32-bit words separated by commas, most significant first, such as
    ``00000000,0000000e`` (``/sys/class/net/*/queues/rx-*/rps_cpus``, ``net.core.flow_limit_cpu_bitmap``)."""
    text = read_text(source).strip()
    if not re.fullmatch(r"[0-9a-fA-F]+(,[0-9a-fA-F]+)*", text):
        raise ValueError(f"a CPU mask looks like '00000000,0000000e', got {text!r}")
    mask = int(text.replace(",", ""), 16)
    return tuple(c for c in range(mask.bit_length()) if mask >> c & 1)


@check.arguments
def online_cpus(path: str = "/sys/devices/system/cpu/online") -> LiveResult:
    return live_file("online CPUs", path, parse_cpu_list)


# ---------------------------------------------------------------------------------------------------------------
# /proc/net/softnet_stat: one row per online CPU (struct softnet_data), hex columns.

SOFTNET_COLUMNS: Mapping[int, tuple[str | None, ...]] = {
    # 3.10 (CentOS 7's 3.10.0-1160 too): processed, dropped, time_squeeze, 0, 0 ×4 (was fastroute),
    # cpu_collision, received_rps.
    10: ("processed", "dropped", "time_squeeze", None, None, None, None, None, "cpu_collision", "received_rps"),
    # 3.11: + flow_limit_count (RPS flow limit).
    11: ("processed", "dropped", "time_squeeze", None, None, None, None, None, "cpu_collision", "received_rps",
         "flow_limit_count"),
    # 5.10: + backlog length and the CPU id (seq->index), so offline CPUs no longer shift the mapping.
    13: ("processed", "dropped", "time_squeeze", None, None, None, None, None, "cpu_collision", "received_rps",
         "flow_limit_count", "backlog_len", "cpu"),
    # 6.x (6.12): + input_qlen and process_qlen, whose sum is backlog_len.
    15: ("processed", "dropped", "time_squeeze", None, None, None, None, None, "cpu_collision", "received_rps",
         "flow_limit_count", "backlog_len", "cpu", "input_qlen", "process_qlen"),
}
"""Column layouts by column count; ``None`` marks columns printed as a constant 0."""


@dataclass(frozen=True)
class SoftnetRow:
    """One CPU's ``softnet_data`` counters. Fields the kernel does not print are None.

    ``dropped`` counts only backlog drops (``enqueue_to_backlog``: input_pkt_queue over netdev_max_backlog), not
    NIC ring overflows. ``cpu_collision`` is always 0 on current kernels ("was cpu_collision").
    """

    cpu: int
    processed: int
    dropped: int
    time_squeeze: int
    cpu_collision: int
    received_rps: int
    flow_limit_count: int | None = None
    backlog_len: int | None = None
    input_qlen: int | None = None
    process_qlen: int | None = None


@dataclass(frozen=True)
class SoftnetStat:
    columns: int
    rows: tuple[SoftnetRow, ...]
    cpu_from_column: bool
    """True when the kernel printed the CPU id (13+ columns); otherwise ``cpu`` is the row number."""

    @property
    def note(self) -> str:
        if self.cpu_from_column:
            return "CPU ids read from column 13"
        return "CPU id = row number: this kernel skips offline CPUs, so after one the numbers shift"

    @check.arguments
    def total(self, field: str) -> int:
        """The sum of one counter over all CPUs, e.g. ``total("time_squeeze")``."""
        names = {f.name for f in fields(SoftnetRow)} - {"cpu"}
        if field not in names:
            raise ValueError(f"field must be one of {sorted(names)}")
        values = [getattr(r, field) for r in self.rows]
        if any(v is None for v in values):
            raise ValueError(f"a {self.columns}-column softnet_stat does not print {field}")
        return sum(values)


@check.arguments
def parse_softnet_stat(source: str) -> SoftnetStat:
    """Parse softnet_stat of a 10-, 11-, 13- or 15-column kernel (the layout is chosen by column count)."""
    rows = []
    columns = None
    for number, line in enumerate(l for l in read_text(source).splitlines() if l.strip()):
        values = _int_fields(line, 16)
        if columns is None:
            columns = len(values)
            if columns not in SOFTNET_COLUMNS:
                raise ValueError(f"softnet_stat with {columns} columns; known: {sorted(SOFTNET_COLUMNS)}")
        elif len(values) != columns:
            raise ValueError(f"row {number} has {len(values)} columns, the first had {columns}")
        named = {name: v for name, v in zip(SOFTNET_COLUMNS[columns], values) if name}
        named.setdefault("cpu", number)
        rows.append(SoftnetRow(**named))
    if columns is None:
        raise ValueError("softnet_stat is empty")
    return SoftnetStat(columns, tuple(rows), cpu_from_column=columns >= 13)


@check.arguments
def softnet_stat(path: str = "/proc/net/softnet_stat") -> LiveResult:
    return live_file("per-CPU softnet_data counters", path, parse_softnet_stat)


# ---------------------------------------------------------------------------------------------------------------
# /proc/softirqs and /proc/interrupts: a "CPUn" header, then one line per softirq / IRQ.

def _cpu_header(line: str) -> tuple[int, ...]:
    names = line.split()
    if not names or not all(re.fullmatch(r"CPU\d+", n) for n in names):
        raise ValueError(f"expected a header of CPUn names, got {line.strip()!r}")
    return tuple(int(n[3:]) for n in names)


@dataclass(frozen=True)
class Softirqs:
    """How often each softirq ran on each CPU (``/proc/softirqs`` lists possible CPUs, online or not)."""

    cpus: tuple[int, ...]
    counts: Mapping[str, tuple[int, ...]]

    @check.arguments
    def per_cpu(self, name: str) -> dict[int, int]:
        if name not in self.counts:
            raise ValueError(f"softirq must be one of {sorted(self.counts)}")
        return dict(zip(self.cpus, self.counts[name]))

    @check.arguments
    def total(self, name: str) -> int:
        return sum(self.per_cpu(name).values())


@check.arguments
def parse_softirqs(source: str) -> Softirqs:
    lines = [l for l in read_text(source).splitlines() if l.strip()]
    if not lines:
        raise ValueError("softirqs is empty")
    cpus = _cpu_header(lines[0])
    counts = {}
    for line in lines[1:]:
        name, sep, rest = line.partition(":")
        values = _int_fields(rest)
        if not sep or len(values) != len(cpus):
            raise ValueError(f"expected 'NAME: {len(cpus)} counts', got {line.strip()!r}")
        counts[name.strip()] = tuple(values)
    return Softirqs(cpus, counts)


@check.arguments
def softirqs(path: str = "/proc/softirqs") -> LiveResult:
    return live_file("softirqs run per CPU", path, parse_softirqs)


@dataclass(frozen=True)
class IrqLine:
    """One line of /proc/interrupts. ``irq`` is the number ("38") or an arch counter ("NMI", "LOC")."""

    irq: str
    counts: tuple[int, ...]
    chip: str
    """For a device IRQ: chip name, hwirq and flow (``PCI-MSIX-0000:00:03.0 1-edge``; 3.10: ``IR-PCI-MSI-edge``)."""
    actions: tuple[str, ...]
    """The handlers' names (``virtio2-input.0``, ``eth0-TxRx-0``); for an arch counter, its description."""

    @property
    def is_device(self) -> bool:
        return self.irq.isdigit()


@dataclass(frozen=True)
class Interrupts:
    """Hard-IRQ counts per online CPU (``/proc/interrupts`` lists online CPUs only)."""

    cpus: tuple[int, ...]
    lines: tuple[IrqLine, ...]

    def by_irq(self) -> dict[str, IrqLine]:
        return {l.irq: l for l in self.lines}


@check.arguments
def parse_interrupts(source: str) -> Interrupts:
    lines = [l for l in read_text(source).splitlines() if l.strip()]
    if not lines:
        raise ValueError("interrupts is empty")
    cpus = _cpu_header(lines[0])
    out = []
    for line in lines[1:]:
        irq, sep, rest = line.partition(":")
        if not sep:
            raise ValueError(f"expected 'IRQ: counts …', got {line.strip()!r}")
        counts, end = [], 0
        for m in re.finditer(r"\S+", rest):
            if len(counts) == len(cpus) or not m.group().isdigit():
                break
            counts.append(int(m.group()))
            end = m.end()
        tail = rest[end:].strip()
        if irq.strip().isdigit():
            # " %8s" chip, " %*lu" hwirq, "-%-8s" flow name, then "  %s" action names joined by ", ":
            # the action names are what follows the last run of two or more spaces.
            parts = re.split(r"\s{2,}", tail)
            chip = " ".join(" ".join(parts[:-1]).split())
            actions = tuple(a.strip() for a in parts[-1].split(",")) if parts[-1] else ()
        else:
            chip, actions = "", (tail,) if tail else ()
        out.append(IrqLine(irq.strip(), tuple(counts), chip, actions))
    return Interrupts(cpus, tuple(out))


@check.arguments
def interrupts(path: str = "/proc/interrupts") -> LiveResult:
    return live_file("hard IRQs per CPU", path, parse_interrupts)


@dataclass(frozen=True)
class QueueIrq:
    """A NIC queue's IRQ picked out of /proc/interrupts by its handler name."""

    irq: int
    name: str
    direction: str      # "rx", "tx" or "rx+tx"
    queue: int
    counts: Mapping[int, int]   # CPU -> count


_QUEUE_NAME = re.compile(r"(?i)[-_](txrx|rxtx|combined|input|output|rx|tx)[-._]?(\d+)$")
_DIRECTION = {"txrx": "rx+tx", "rxtx": "rx+tx", "combined": "rx+tx", "input": "rx", "output": "tx",
              "rx": "rx", "tx": "tx"}


@check.arguments
def nic_queue_irqs(table: Interrupts, name_prefix: str = "") -> list[QueueIrq]:
    """Per-queue NIC IRQs: ``virtio2-input.0`` (virtio_net), ``eth0-TxRx-3`` (igb, ixgbe), ``eth0-rx-1``.

    ``name_prefix`` keeps only handlers whose name starts with it (``"eth0"``, ``"virtio2"``).
    """
    if not isinstance(table, Interrupts):
        raise TypeError("pass the Interrupts from parse_interrupts")
    if not isinstance(name_prefix, str):
        raise TypeError("name_prefix must be a str")
    found = []
    for line in table.lines:
        if not line.is_device:
            continue
        for name in line.actions:
            m = _QUEUE_NAME.search(name)
            if m and name.startswith(name_prefix):
                found.append(QueueIrq(int(line.irq), name, _DIRECTION[m.group(1).lower()], int(m.group(2)),
                                      dict(zip(table.cpus, line.counts))))
    return found


# ---------------------------------------------------------------------------------------------------------------
# /proc/stat: CPU time per state, and softirq totals.

CPU_TIME_FIELDS = ("user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal", "guest", "guest_nice")


@dataclass(frozen=True)
class ProcStat:
    """``cpu`` maps "cpu" (all) and "cpu0", "cpu1"… to times in USER_HZ ticks (usually 1/100 s)."""

    cpu: Mapping[str, Mapping[str, int]]
    softirq: Mapping[str, int]
    """Softirqs raised since boot, in kernel/softirq.c ``softirq_to_name`` order."""


SOFTIRQ_NAMES = ("HI", "TIMER", "NET_TX", "NET_RX", "BLOCK", "IRQ_POLL", "TASKLET", "SCHED", "HRTIMER", "RCU")
"""kernel/softirq.c ``softirq_to_name`` (6.12; 3.10 had BLOCK_IOPOLL where 6.12 has IRQ_POLL)."""


@check.arguments
def parse_proc_stat(source: str) -> ProcStat:
    cpu, softirq = {}, {}
    for line in read_text(source).splitlines():
        words = line.split()
        if not words:
            continue
        if re.fullmatch(r"cpu\d*", words[0]):
            cpu[words[0]] = dict(zip(CPU_TIME_FIELDS, _int_fields(" ".join(words[1:]))))
        elif words[0] == "softirq":
            values = _int_fields(" ".join(words[1:]))
            softirq = {"total": values[0], **dict(zip(SOFTIRQ_NAMES, values[1:]))}
    if "cpu" not in cpu:
        raise ValueError("no 'cpu' line")
    return ProcStat(cpu, softirq)


@check.arguments
def proc_stat(path: str = "/proc/stat") -> LiveResult:
    return live_file("CPU time and softirq totals", path, parse_proc_stat)


# ---------------------------------------------------------------------------------------------------------------
# sysctls (read only).

_SYSCTL_NAME = re.compile(r"[A-Za-z0-9_\-]+([./][A-Za-z0-9_\-]+)*")


@check.arguments
def parse_sysctl_value(source: str) -> int | tuple[int, ...] | str:
    """An int, a tuple of ints (``tcp_rmem``: ``4096 131072 6291456``), or the text itself."""
    text = read_text(source).strip()
    try:
        numbers = tuple(int(x) for x in text.split())
    except ValueError:
        return text
    if not numbers:
        return text
    return numbers[0] if len(numbers) == 1 else numbers


@check.arguments
def sysctl_path(name: str, root: str = "/proc/sys") -> str:
    """``net.core.somaxconn`` (or ``net/core/somaxconn``) → ``/proc/sys/net/core/somaxconn``."""
    if not isinstance(name, str) or not _SYSCTL_NAME.fullmatch(name):
        raise ValueError(f"a sysctl name looks like 'net.core.somaxconn', got {name!r}")
    if not isinstance(root, str) or not root.startswith("/"):
        raise ValueError("root must be an absolute path str")
    return f"{root.rstrip('/')}/{name.replace('.', '/') if '/' not in name else name}"


@check.arguments
def sysctl(name: str, root: str = "/proc/sys") -> LiveResult:
    """Read one sysctl, e.g. ``sysctl("net.core.netdev_budget").value == 300``. Never writes."""
    path = sysctl_path(name, root)
    return live_file(name.replace("/", "."), path, parse_sysctl_value)


# ---------------------------------------------------------------------------------------------------------------
# /proc/net/netstat and /proc/net/snmp: pairs of "Group: names…" / "Group: values…" lines.

@check.arguments
def parse_netstat(source: str) -> dict[str, dict[str, int]]:
    """``{"TcpExt": {"ListenOverflows": 0, …}, "IpExt": {…}}``; the same layout as /proc/net/snmp."""
    groups: dict[str, dict[str, int]] = {}
    lines = [l for l in read_text(source).splitlines() if l.strip()]
    if len(lines) % 2:
        raise ValueError("expected pairs of header and value lines")
    for header, values in zip(lines[::2], lines[1::2]):
        group, _, names = header.partition(":")
        group2, _, numbers = values.partition(":")
        names_, numbers_ = names.split(), _int_fields(numbers)
        if group != group2 or len(names_) != len(numbers_):
            raise ValueError(f"header and value lines of {group!r} do not match")
        groups[group] = dict(zip(names_, numbers_))
    return groups


@check.arguments
def netstat(path: str = "/proc/net/netstat") -> LiveResult:
    """Extended counters (TcpExt ListenOverflows, ListenDrops, TCPBacklogDrop …) of this network namespace."""
    return live_file("TCP/IP extended counters", path, parse_netstat)


@check.arguments
def snmp(path: str = "/proc/net/snmp") -> LiveResult:
    """RFC counters (Tcp ActiveOpens, CurrEstab, Udp RcvbufErrors …) of this network namespace."""
    return live_file("TCP/IP SNMP counters", path, parse_netstat)


@check.arguments
def parse_sockstat(source: str) -> dict[str, dict[str, int]]:
    """``{"TCP": {"inuse": 1, "orphan": 0, "tw": 0, "alloc": 1, "mem": 23}, …}`` (TCP mem is in pages)."""
    groups = {}
    for line in read_text(source).splitlines():
        group, sep, rest = line.partition(":")
        if not sep:
            continue
        words = rest.split()
        if len(words) % 2:
            raise ValueError(f"expected 'name value' pairs, got {line.strip()!r}")
        groups[group.strip()] = {k: int(v) for k, v in zip(words[::2], words[1::2])}
    if not groups:
        raise ValueError("sockstat is empty")
    return groups


@check.arguments
def sockstat(path: str = "/proc/net/sockstat") -> LiveResult:
    return live_file("sockets in use", path, parse_sockstat)


# ---------------------------------------------------------------------------------------------------------------
# /proc/slabinfo (version 2.1; mode 0400, root only) and /proc/meminfo.

@dataclass(frozen=True)
class SlabInfoRow:
    name: str
    active_objs: int
    num_objs: int
    objsize: int
    objperslab: int
    pagesperslab: int
    active_slabs: int
    num_slabs: int


@check.arguments
def parse_slabinfo(source: str) -> dict[str, SlabInfoRow]:
    lines = read_text(source).splitlines()
    if not lines or not lines[0].startswith("slabinfo - version: 2."):
        raise ValueError("expected a 'slabinfo - version: 2.x' first line")
    rows = {}
    for line in lines[1:]:
        if not line.strip() or line.startswith("#"):
            continue
        head, _, rest = line.partition(" : tunables")
        words = head.split()
        slabdata = rest.partition(" : slabdata")[2].split()
        if len(words) != 6 or len(slabdata) < 2:
            raise ValueError(f"unexpected slabinfo line {line.strip()!r}")
        numbers = _int_fields(" ".join(words[1:] + slabdata[:2]))
        rows[words[0]] = SlabInfoRow(words[0], *numbers)
    return rows


@check.arguments
def slabinfo(path: str = "/proc/slabinfo") -> LiveResult:
    """Slab caches; usually root only (mode 0400). Without root use ``meminfo()["Slab"]`` deltas instead."""
    return live_file("slab caches", path, parse_slabinfo)


@check.arguments
def slab_caches(rows: Mapping[str, SlabInfoRow], names: Iterable[str] | None = None) -> dict[str, SlabCache]:
    """The rows as :class:`netlab.kernel.profiles.SlabCache` (object size, objects and pages per slab)."""
    if not isinstance(rows, Mapping):
        raise TypeError("pass the dict from parse_slabinfo")
    wanted = list(rows) if names is None else list(names)
    missing = [n for n in wanted if n not in rows]
    if missing:
        raise ValueError(f"no such slab caches here: {missing} (SLUB may have merged them into another cache)")
    return {n: SlabCache(n, rows[n].objsize, rows[n].objperslab, rows[n].pagesperslab) for n in wanted}


@check.arguments
def merged_slab_caches(links: Mapping[str, str], rows: Mapping[str, SlabInfoRow]) -> dict[str, str]:
    """Cache name → the /proc/slabinfo row that counts its objects, for every cache SLUB merged into another.

    ``links`` maps the symlinks of ``/sys/kernel/slab`` to their targets (``tcp_bind_bucket → :A-0000128``):
    caches sharing a target share slabs, and slabinfo prints the group once, under the name of the cache that
    was created first.
    """
    if not isinstance(links, Mapping) or not isinstance(rows, Mapping):
        raise TypeError("pass the symlink → target mapping and the dict from parse_slabinfo")
    groups: dict[str, list[str]] = {}
    for name, target in links.items():
        groups.setdefault(target, []).append(name)
    merged = {}
    for members in groups.values():
        shown = [m for m in members if m in rows]
        if len(shown) == 1:
            merged.update({m: shown[0] for m in members if m != shown[0]})
    return merged


@check.arguments
def slab_links(root: str = "/sys/kernel/slab") -> LiveResult:
    """The symlinks of SLUB's sysfs directory (merged caches → their shared cache); readable without root."""
    def read():
        with os.scandir(root) as entries:
            return {e.name: os.path.basename(os.readlink(e.path)) for e in entries if e.is_symlink()}
    if not isinstance(root, str) or not root.startswith("/"):
        raise ValueError(f"root must be an absolute path str, got {root!r}")
    return probe("merged slab caches", f"listing the symlinks in {root}", read)


@check.arguments
def parse_meminfo(source: str) -> dict[str, int]:
    """``{"Slab": 468204, "SReclaimable": …}`` in kB as printed (HugePages_* are counts)."""
    out = {}
    for line in read_text(source).splitlines():
        name, sep, rest = line.partition(":")
        if sep and rest.split():
            out[name.strip()] = _int_fields(rest.split()[0])[0]
    if not out:
        raise ValueError("meminfo is empty")
    return out


@check.arguments
def meminfo(path: str = "/proc/meminfo") -> LiveResult:
    return live_file("memory use (kB)", path, parse_meminfo)


# ---------------------------------------------------------------------------------------------------------------
# /proc/net/fib_trie: the IPv4 routing tables as tries (net/ipv4/fib_trie.c fib_trie_seq_show).

@dataclass(frozen=True)
class FibTrieRoute:
    """One leaf entry: ``prefix`` ("127.0.0.0/8"), its scope ("host", "link", "universe") and type ("LOCAL" …)."""

    prefix: str
    scope: str
    type: str


@check.arguments
def parse_fib_trie(source: str) -> dict[str, list[FibTrieRoute]]:
    """``{"Main": [...], "Local": [...]}``: every table the file prints ("Id 100:" for others) and its routes.

    On 4.1+ without custom rules Main and Local print the same (merged) trie."""
    tables: dict[str, list[FibTrieRoute]] = {}
    current, leaf = None, None
    for line in read_text(source).splitlines():
        if not line.strip():
            continue
        if not line.startswith(" "):
            current, leaf = line.rstrip(":").strip(), None
            tables[current] = []
            continue
        text = line.strip()
        if text.startswith("|--"):
            leaf = text[3:].strip()
        elif text.startswith("/") and leaf is not None and current is not None:
            words = text.split()
            if len(words) < 3:
                raise ValueError(f"unexpected fib_trie entry {text!r}")
            tables[current].append(FibTrieRoute(f"{leaf}{words[0]}", words[1], words[2]))
        elif not text.startswith("+--"):
            raise ValueError(f"unexpected fib_trie line {text!r}")
    if not tables:
        raise ValueError("no table found")
    return tables


@check.arguments
def fib_trie(path: str = "/proc/net/fib_trie") -> LiveResult:
    """The IPv4 routing tables of this network namespace, local and main."""
    return live_file("IPv4 routing tables (fib_trie)", path, parse_fib_trie)


# ---------------------------------------------------------------------------------------------------------------
# /proc/net/tcp and /proc/net/tcp6.

TCP_STATES = {1: "ESTABLISHED", 2: "SYN_SENT", 3: "SYN_RECV", 4: "FIN_WAIT1", 5: "FIN_WAIT2", 6: "TIME_WAIT",
              7: "CLOSE", 8: "CLOSE_WAIT", 9: "LAST_ACK", 10: "LISTEN", 11: "CLOSING", 12: "NEW_SYN_RECV",
              13: "BOUND_INACTIVE"}
"""include/net/tcp_states.h."""


@dataclass(frozen=True)
class TcpSocket:
    local: tuple[str, int]
    remote: tuple[str, int]
    state: str
    tx_queue: int
    """Bytes sent but not yet acknowledged (write_seq - snd_una)."""
    rx_queue: int
    """Bytes received, not yet read; for a LISTEN socket the accept-queue length (sk_ack_backlog)."""
    uid: int
    inode: int

    @property
    def accept_queue(self) -> int | None:
        return self.rx_queue if self.state == "LISTEN" else None


def _address(hex_addr: str, byteorder: str) -> str:
    # The kernel prints each 32-bit word of the network-order address as a host-order integer.
    words = [int(hex_addr[i:i + 8], 16).to_bytes(4, byteorder) for i in range(0, len(hex_addr), 8)]
    address = ipaddress.ip_address(b"".join(words))
    mapped = getattr(address, "ipv4_mapped", None)
    return f"::ffff:{mapped}" if mapped else str(address)    # the same spelling on every Python version


@check.arguments
def parse_tcp(source: str, byteorder: str = sys.byteorder) -> list[TcpSocket]:
    """Rows of /proc/net/tcp or tcp6. ``byteorder`` is the printing machine's (``"little"`` on x86)."""
    if byteorder not in ("little", "big"):
        raise ValueError("byteorder must be 'little' or 'big'")
    lines = read_text(source).splitlines()
    if not lines or not lines[0].split()[:2] == ["sl", "local_address"]:
        raise ValueError("expected the '  sl  local_address …' header")
    out = []
    for line in lines[1:]:
        w = line.split()
        if not w:
            continue
        try:
            (la, lp), (ra, rp) = (x.split(":") for x in w[1:3])
            tx, rx = (int(x, 16) for x in w[4].split(":"))
            out.append(TcpSocket((_address(la, byteorder), int(lp, 16)), (_address(ra, byteorder), int(rp, 16)),
                                 TCP_STATES.get(int(w[3], 16), f"state {int(w[3], 16)}"), tx, rx, int(w[7]),
                                 int(w[9])))
        except (ValueError, IndexError):
            raise ValueError(f"unexpected tcp line {line.strip()!r}") from None
    return out


@check.arguments
def tcp_sockets(path: str = "/proc/net/tcp") -> LiveResult:
    """TCP sockets of this network namespace (``/proc/net/tcp6`` for IPv6)."""
    return live_file("TCP sockets", path, parse_tcp)


# ---------------------------------------------------------------------------------------------------------------
# File descriptors: /proc/sys/fs/file-nr and RLIMIT_NOFILE.

@dataclass(frozen=True)
class FileNr:
    allocated: int
    unused: int     # always 0 since 2.6
    max: int        # fs.file-max


@check.arguments
def parse_file_nr(source: str) -> FileNr:
    values = _int_fields(read_text(source))
    if len(values) != 3:
        raise ValueError("file-nr has three numbers: allocated, unused, max")
    return FileNr(*values)


@check.arguments
def file_nr(path: str = "/proc/sys/fs/file-nr") -> LiveResult:
    return live_file("open files system-wide", path, parse_file_nr)


@check.arguments
def parse_limits(source: str) -> dict[str, tuple[int | None, int | None]]:
    """``/proc/<pid>/limits`` → ``{"Max open files": (1024, 4096), …}``; None means unlimited."""
    lines = read_text(source).splitlines()
    if not lines or not lines[0].startswith("Limit"):
        raise ValueError("expected the 'Limit  Soft Limit  Hard Limit  Units' header")
    out = {}
    for line in lines[1:]:
        m = re.match(r"(.+?)\s{2,}(\S+)\s+(\S+)", line)
        if m:
            soft, hard = (None if v == "unlimited" else int(v) for v in m.group(2, 3))
            out[m.group(1).strip()] = (soft, hard)
    return out


@check.arguments
def nofile(path: str = "/proc/self/limits") -> LiveResult:
    """This process's RLIMIT_NOFILE as (soft, hard)."""
    def parse(text):
        limits = parse_limits(text)
        if "Max open files" not in limits:
            raise ValueError("no 'Max open files' line")
        return limits["Max open files"]
    return live_file("open-file limit (soft, hard)", path, parse)
