import os
import pickle
from pathlib import Path

import pytest
from hypothesis import given, strategies as st

from netlab.kernel.profiles import LINUX_3_10, SlabCache
from netlab.live import procfs
from netlab.live.result import LiveProbeError, Why
from netlab.live.procfs import (
    SOFTNET_COLUMNS, nic_queue_irqs, parse_cpu_list, parse_file_nr, parse_interrupts, parse_limits,
    parse_meminfo, parse_netstat, parse_proc_stat, parse_slabinfo, parse_sockstat, parse_softirqs,
    parse_softnet_stat, parse_sysctl_value, parse_tcp, slab_caches, sysctl, sysctl_path,
)

FIXTURES = Path(__file__).parent / "fixtures"


def fixture(name: str) -> str:
    return str(FIXTURES / name)


# --- softnet_stat --------------------------------------------------------------------------------------------

def test_softnet_3_10_has_ten_columns_and_row_numbers_as_cpus():
    s = parse_softnet_stat(fixture("softnet_stat_3.10_10col.txt"))
    assert s.columns == 10 and not s.cpu_from_column and "offline" in s.note
    assert [r.cpu for r in s.rows] == [0, 1]
    assert s.rows[0].processed == 0x0A3B5C11 and s.rows[0].time_squeeze == 0x2F
    assert s.rows[1].dropped == 3 and s.rows[1].cpu_collision == 2
    assert s.rows[0].flow_limit_count is None and s.rows[0].backlog_len is None
    with pytest.raises(ValueError, match="does not print flow_limit_count"):
        s.total("flow_limit_count")


def test_softnet_11_columns_add_flow_limit():
    s = parse_softnet_stat(fixture("softnet_stat_4.x_11col.txt"))
    assert s.columns == 11 and s.total("flow_limit_count") == 2 and s.total("received_rps") == 17
    assert s.rows[1].backlog_len is None


def test_softnet_13_columns_take_cpu_ids_from_the_file_so_offline_cpus_do_not_shift_them():
    s = parse_softnet_stat(fixture("softnet_stat_5.10_13col.txt"))
    assert s.columns == 13 and s.cpu_from_column
    assert [r.cpu for r in s.rows] == [0, 1, 3]
    assert s.rows[2].backlog_len == 4 and s.rows[2].input_qlen is None
    assert s.total("time_squeeze") == 11


def test_softnet_15_columns_split_the_backlog():
    s = parse_softnet_stat(fixture("softnet_stat_6.12_15col.txt"))
    assert s.columns == 15 and [r.cpu for r in s.rows] == [0, 1]
    r = s.rows[1]
    assert (r.processed, r.dropped, r.time_squeeze, r.flow_limit_count) == (0x65F6, 7, 3, 1)
    assert r.backlog_len == r.input_qlen + r.process_qlen == 5


@given(st.sampled_from(sorted(SOFTNET_COLUMNS)),
       st.lists(st.integers(0, 2**32 - 1), min_size=3, max_size=3), st.integers(1, 8))
def test_softnet_reads_back_what_the_kernel_format_prints(columns, counters, cpus):
    rows = []
    for cpu in range(cpus):
        values = [0] * columns
        values[:3] = counters
        if columns >= 13:
            values[12] = cpu * 2
        rows.append(" ".join("%08x" % v for v in values))
    s = parse_softnet_stat("\n".join(rows) + "\n")
    assert s.total("processed") == counters[0] * cpus and s.total("time_squeeze") == counters[2] * cpus
    assert [r.cpu for r in s.rows] == [c * 2 if columns >= 13 else c for c in range(cpus)]


def test_softnet_rejects_unknown_and_ragged_layouts():
    with pytest.raises(ValueError, match="12 columns"):
        parse_softnet_stat(" ".join(["00000000"] * 12) + "\n")
    with pytest.raises(ValueError, match="row 1"):
        parse_softnet_stat(" ".join(["0"] * 10) + "\n" + " ".join(["0"] * 11) + "\n")
    with pytest.raises(ValueError, match="empty"):
        parse_softnet_stat("\n")
    with pytest.raises(ValueError, match="field must be"):
        parse_softnet_stat(fixture("softnet_stat_6.12_15col.txt")).total("cpu")


# --- softirqs, interrupts, stat -------------------------------------------------------------------------------

def test_softirqs_per_cpu():
    s = parse_softirqs(fixture("softirqs_6.12_4cpu.txt"))
    assert s.cpus == (0, 1, 2, 3) and len(s.counts) == 10
    assert s.per_cpu("NET_RX") == {0: 9277, 1: 16586, 2: 912345, 3: 4}
    assert s.total("NET_TX") == 709
    with pytest.raises(ValueError, match="softirq must be one of"):
        s.total("NET_RXX")


def test_interrupts_3_10_igb_queues_and_shared_actions():
    t = parse_interrupts(fixture("interrupts_3.10_igb.txt"))
    assert t.cpus == (0, 1, 2, 3)
    lines = t.by_irq()
    assert lines["16"].actions == ("ehci_hcd:usb1", "uhci_hcd:usb2") and lines["16"].chip == "IO-APIC-fasteoi"
    assert lines["46"].chip == "IR-PCI-MSI-edge" and lines["46"].counts == (81237482, 0, 0, 0)
    assert lines["LOC"].actions == ("Local timer interrupts",) and not lines["LOC"].is_device
    assert lines["ERR"].counts == (0,)
    queues = nic_queue_irqs(t)
    assert [(q.irq, q.queue, q.direction) for q in queues] == [(46 + i, i, "rx+tx") for i in range(4)]
    assert [max(q.counts, key=q.counts.get) for q in queues] == [0, 1, 2, 3]    # one queue per CPU
    assert nic_queue_irqs(t, "eth1") == []


def test_interrupts_6_12_virtio_queues():
    t = parse_interrupts(fixture("interrupts_6.12_virtio.txt"))
    assert t.by_irq()["25"].chip == "PCI-MSIX-0000:00:03.0 1-edge"
    queues = nic_queue_irqs(t, "virtio0")
    assert [(q.name, q.direction, q.queue) for q in queues] == [
        ("virtio0-input.0", "rx", 0), ("virtio0-output.0", "tx", 0),
        ("virtio0-input.1", "rx", 1), ("virtio0-output.1", "tx", 1)]
    assert queues[2].counts == {0: 0, 1: 15002}
    with pytest.raises(TypeError, match="table must be an Interrupts, got 'not a table'"):
        nic_queue_irqs("not a table")


def test_proc_stat_times_and_softirq_totals():
    s = parse_proc_stat("cpu  19336 0 7194 175600 678 0 140 41 0 0\ncpu0 7510 0 2804 90941 164 0 14 18 0 0\n"
                        "intr 1 2 3\nsoftirq 100 0 10 1 60 0 0 4 20 0 5\n")
    assert s.cpu["cpu"]["softirq"] == 140 and s.cpu["cpu0"]["system"] == 2804
    assert s.softirq["total"] == 100 and s.softirq["NET_RX"] == 60
    with pytest.raises(ValueError, match="no 'cpu' line"):
        parse_proc_stat("intr 1\n")


def test_cpu_lists():
    assert parse_cpu_list("0-3,8,10-11\n") == (0, 1, 2, 3, 8, 10, 11)
    assert parse_cpu_list("") == ()
    with pytest.raises(ValueError, match="bad CPU range '3-1'"):
        parse_cpu_list("3-1")
    for bad in ("a", "1-b"):
        with pytest.raises(ValueError, match=f"a CPU list looks like '0-3,8', got '{bad}'"):
            parse_cpu_list(bad)


# --- sysctl ---------------------------------------------------------------------------------------------------

def test_sysctl_values_and_paths(tmp_path):
    assert parse_sysctl_value("300\n") == 300
    assert parse_sysctl_value("4096\t131072\t6291456\n") == (4096, 131072, 6291456)
    assert parse_sysctl_value("cubic reno\n") == "cubic reno"
    assert sysctl_path("net.core.somaxconn") == "/proc/sys/net/core/somaxconn"
    assert sysctl_path("net/ipv4/conf/eth0.100/rp_filter", "/x") == "/x/net/ipv4/conf/eth0.100/rp_filter"
    for bad in ("../etc/passwd", "net..core", "", "net.core.somaxconn; rm"):
        with pytest.raises(ValueError, match="a sysctl name looks like 'net.core.somaxconn'"):
            sysctl_path(bad)
    (tmp_path / "net" / "core").mkdir(parents=True)
    (tmp_path / "net" / "core" / "somaxconn").write_text("4096\n")
    r = sysctl("net.core.somaxconn", root=str(tmp_path))
    assert r.available and r.value == 4096 and r.what == "net.core.somaxconn"
    nope = sysctl("net.core.nope", root=str(tmp_path))
    assert nope.why is Why.NO_ENTRY and nope.reason.startswith(f"{tmp_path}/net/core/nope does not exist")


# --- counters, memory, sockets ----------------------------------------------------------------------------------

def test_netstat_groups():
    n = parse_netstat(fixture("netstat_6.12.txt"))
    assert n["TcpExt"]["ListenOverflows"] == 12 and n["TcpExt"]["ListenDrops"] == 12
    assert n["IpExt"]["InOctets"] == 711064465
    snmp = parse_netstat("Tcp: RtoAlgorithm MaxConn CurrEstab\nTcp: 1 -1 6\n")
    assert snmp["Tcp"] == {"RtoAlgorithm": 1, "MaxConn": -1, "CurrEstab": 6}
    with pytest.raises(ValueError, match="do not match"):
        parse_netstat("Tcp: A B\nTcp: 1\n")
    with pytest.raises(ValueError, match="pairs"):
        parse_netstat("Tcp: A B\n")


def test_sockstat():
    s = parse_sockstat("sockets: used 16\nTCP: inuse 1 orphan 0 tw 2 alloc 3 mem 23\nUDP: inuse 0 mem 0\n")
    assert s["TCP"] == {"inuse": 1, "orphan": 0, "tw": 2, "alloc": 3, "mem": 23} and s["sockets"]["used"] == 16


def test_slabinfo_and_slab_caches_match_the_book_profile():
    rows = parse_slabinfo(fixture("slabinfo_2.1_book.txt"))
    assert rows["TCP"].objsize == 1984 and rows["TCP"].num_slabs == 3127 and rows["dentry"].active_objs == 120351
    caches = slab_caches(rows, ["TCP", "sock_inode_cache", "dentry", "tw_sock_TCP"])
    for name, cache in caches.items():
        assert isinstance(cache, SlabCache) and cache == LINUX_3_10.slab[name]
    with pytest.raises(ValueError, match="filp"):
        slab_caches(rows, ["filp"])
    with pytest.raises(ValueError, match="version"):
        parse_slabinfo("name 1 2 3\n")


def test_meminfo():
    m = parse_meminfo("MemTotal:       24684084 kB\nSlab:             468204 kB\nHugePages_Total:       0\n")
    assert m == {"MemTotal": 24684084, "Slab": 468204, "HugePages_Total": 0}


def test_tcp_rows_decode_addresses_states_and_accept_queue():
    rows = parse_tcp(fixture("tcp_6.12.txt"), byteorder="little")
    listen, server, client, tw = rows
    assert listen.state == "LISTEN" and listen.local == ("127.0.0.1", 8080) and listen.accept_queue == 3
    assert server.state == "ESTABLISHED" and server.remote == ("127.0.0.1", 40002) and server.rx_queue == 512
    assert server.accept_queue is None and server.inode == 41240 and server.uid == 1000
    assert client.tx_queue == 1448
    assert tw.state == "TIME_WAIT" and tw.local == ("127.0.0.2", 40004)


def test_tcp6_rows():
    listen, mapped = parse_tcp(fixture("tcp6_6.12.txt"), byteorder="little")
    assert listen.local == ("::1", 8443) and listen.remote == ("::", 0) and listen.state == "LISTEN"
    assert mapped.local == ("::ffff:127.0.0.1", 9000) and mapped.rx_queue == 20
    with pytest.raises(ValueError, match="byteorder"):
        parse_tcp(fixture("tcp6_6.12.txt"), byteorder="middle")
    with pytest.raises(ValueError, match="header"):
        parse_tcp("nothing here\n")


def test_file_nr_and_limits():
    assert parse_file_nr("781\t0\t2466170\n").max == 2466170
    with pytest.raises(ValueError, match="file-nr has three numbers: allocated, unused, max"):
        parse_file_nr("1 2\n")
    limits = parse_limits("Limit                     Soft Limit           Hard Limit           Units     \n"
                          "Max cpu time              unlimited            unlimited            seconds   \n"
                          "Max open files            1024                 4096                 files     \n")
    assert limits == {"Max cpu time": (None, None), "Max open files": (1024, 4096)}


# --- wrappers: the fallbacks ------------------------------------------------------------------------------------

WRAPPERS = [procfs.softnet_stat, procfs.softirqs, procfs.interrupts, procfs.proc_stat, procfs.netstat,
            procfs.snmp, procfs.sockstat, procfs.slabinfo, procfs.meminfo, procfs.tcp_sockets, procfs.file_nr,
            procfs.nofile, procfs.online_cpus]


@pytest.mark.parametrize("wrapper", WRAPPERS, ids=lambda w: w.__name__)
def test_wrappers_say_why_when_the_file_is_missing(wrapper, tmp_path):
    r = wrapper(str(tmp_path / "missing"))
    assert r.why is Why.NO_ENTRY and r.reason == f"{tmp_path / 'missing'} does not exist (not Linux, or a kernel " \
                                                  f"without it)"
    assert str(r).startswith(f"{r.what}: not available here, because {r.reason}")


@pytest.mark.parametrize("wrapper", WRAPPERS, ids=lambda w: w.__name__)
def test_wrappers_say_why_when_the_layout_is_unknown(wrapper, tmp_path):
    f = tmp_path / "garbage"
    f.write_text("x y z\n1 2\n")
    r = wrapper(str(f))
    assert r.why is Why.UNKNOWN_FORMAT and r.reason.startswith(f"{f} is laid out in a way netlab does not know")


def _as_nobody(work):
    """``work()`` in a forked child that has dropped to uid/gid 65534 when this process is root, so that a
    permission check is the kernel's own; an unprivileged process is refused already."""
    if os.geteuid() != 0:
        return work()
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(read_end)
            os.setgroups([])
            os.setgid(65534)
            os.setuid(65534)
            os.write(write_end, pickle.dumps(work()))
        finally:
            os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as answer:
        data = answer.read()
    os.waitpid(pid, 0)
    return pickle.loads(data)


@pytest.mark.live
@pytest.mark.skipif(not os.path.exists("/proc/slabinfo"), reason="no /proc/slabinfo here")
def test_an_unprivileged_reader_is_told_slabinfo_needs_privilege():
    r = _as_nobody(procfs.slabinfo)           # /proc/slabinfo is mode 0400 (mm/slab_common.c)
    assert r.why is Why.PERMISSION
    assert r.reason == "/proc/slabinfo is not readable without more privilege (EACCES)"


def test_an_unexpected_errno_while_reading_is_an_error(tmp_path):
    with pytest.raises(LiveProbeError, match="EISDIR: Is a directory"):
        procfs.meminfo(str(tmp_path))


def test_wrappers_read_fixture_files():
    r = procfs.softnet_stat(fixture("softnet_stat_3.10_10col.txt"))
    assert r.available and r.value.columns == 10 and r.how.endswith("softnet_stat_3.10_10col.txt")
    with pytest.raises(ValueError, match="absolute"):
        procfs.softnet_stat("relative/path")


# --- this machine -----------------------------------------------------------------------------------------------

LIVE = pytest.mark.skipif(not os.path.exists("/proc/net/softnet_stat"), reason="no Linux procfs here")


@LIVE
def test_live_files_parse_on_this_machine():
    s = procfs.softnet_stat()
    assert s.available and s.value.columns in SOFTNET_COLUMNS and s.value.total("processed") >= 0
    soft = procfs.softirqs()
    assert soft.available and "NET_RX" in soft.value.counts
    irqs = procfs.interrupts()
    assert irqs.available and irqs.value.cpus
    assert len(irqs.value.cpus) == len(s.value.rows)        # both list online CPUs
    assert procfs.netstat().value["TcpExt"]["ListenOverflows"] >= 0
    assert procfs.snmp().value["Tcp"]["ActiveOpens"] >= 0
    assert procfs.sockstat().value["TCP"]["inuse"] >= 0
    assert procfs.meminfo().value["Slab"] > 0
    assert procfs.file_nr().value.allocated > 0
    assert procfs.tcp_sockets().available
    tcp6 = procfs.tcp_sockets("/proc/net/tcp6")          # absent only in a kernel without IPv6
    assert tcp6.available or (tcp6.why is Why.NO_ENTRY and not os.path.exists("/proc/sys/net/ipv6"))
    import resource
    assert procfs.nofile().value == tuple(None if v == resource.RLIM_INFINITY else v
                                          for v in resource.getrlimit(resource.RLIMIT_NOFILE))
    assert procfs.sysctl("net.core.netdev_budget").value > 0
    slab = procfs.slabinfo()
    assert slab.available == os.access("/proc/slabinfo", os.R_OK)


@LIVE
def test_live_listen_socket_shows_its_accept_queue():
    import socket
    import time
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(4)
        port = server.getsockname()[1]
        clients = [socket.create_connection(("127.0.0.1", port), timeout=2) for _ in range(2)]
        try:
            for _ in range(50):
                rows = [r for r in procfs.tcp_sockets().value if r.local == ("127.0.0.1", port)
                        and r.state == "LISTEN"]
                if rows and rows[0].accept_queue == 2:
                    break
                time.sleep(0.01)
            assert rows and rows[0].accept_queue == 2
        finally:
            for c in clients:
                c.close()
