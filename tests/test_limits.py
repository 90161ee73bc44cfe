"""File-descriptor and port limits: the kernel's checks in order, and what the 4-tuple allows."""
import numpy as np
import pytest
from hypothesis import given, strategies as st

from netlab.kernel import limits as L
from netlab.kernel.fdtable import FilesStruct
from netlab.kernel.profiles import LINUX_3_10, LINUX_6_12
from netlab.kernel.sched import Rlimit, Task
from netlab.trace import Tracer


def task(soft=8, hard=16, caps=()):
    return Task("app", nofile=Rlimit(soft, hard), capabilities=frozenset(caps))


def test_alloc_fd_takes_the_lowest_free_fd_and_stops_at_the_soft_limit():
    t = task(soft=4)
    assert [L.get_unused_fd_flags(t, 1 << 20) for _ in range(5)] == [0, 1, 2, 3, -L.EMFILE]
    L.fd_install(t, 1, "x")
    assert L.close_fd(t, 1) == "x" and L.close_fd(t, 1) == -L.EBADF
    assert L.get_unused_fd_flags(t, 1 << 20) == 1          # the hole is reused first
    L.put_unused_fd(t, 0)
    assert L.get_unused_fd_flags(t, 1 << 20) == 0


def test_the_fd_table_grows_in_powers_of_two_and_never_past_nr_open():
    files = FilesStruct()
    assert L.expand_files(files, 10, 1 << 20) == 0 and files.max_fds == 64
    assert L.expand_files(files, 64, 1 << 20) == 1 and files.max_fds == 128
    assert L.expand_files(files, 1000, 1 << 20) == 1 and files.max_fds == 1024
    assert L.expand_files(files, 5000, 5000) == -L.EMFILE
    t = task(soft=200, hard=200)
    t.files.open_fds.update(range(100))
    t.files.next_fd = 100
    assert L.get_unused_fd_flags(t, nr_open=100) == -L.EMFILE   # soft limit fine, fs.nr_open not


def test_install_needs_a_reserved_fd():
    with pytest.raises(ValueError, match="reserved"):
        L.fd_install(task(), 5, "x")


def test_prlimit_rules():
    t = task(soft=8, hard=16)
    assert L.do_prlimit(t, Rlimit(16, 16), 1 << 20) == 0 and t.nofile.rlim_cur == 16
    assert L.do_prlimit(t, Rlimit(17, 16), 1 << 20) == -L.EINVAL
    assert L.do_prlimit(t, Rlimit(8, 32), 1 << 20) == -L.EPERM       # raising hard needs CAP_SYS_RESOURCE
    root = task(caps=["CAP_SYS_RESOURCE"])
    assert L.do_prlimit(root, Rlimit(8, 32), 1 << 20) == 0
    with Tracer() as tracer:
        assert L.do_prlimit(root, Rlimit(8, 2 << 20), 1 << 20) == -L.EPERM   # never above fs.nr_open
    assert "nr_open" in tracer.trace[-1].text


def test_default_file_max_is_about_one_file_per_10_kib():
    pages = 4 * 2 ** 30 // 4096
    assert L.files_maxfiles_init(pages, pages, LINUX_3_10) == 4 * 2 ** 20 // 10
    # both kernels first set aside 1.5× the pages in use at boot: 3.10 vfs_caches_init, 6.12 files_maxfiles_init
    for profile in (LINUX_3_10, LINUX_6_12):
        assert L.files_maxfiles_init(pages, pages // 2, profile) == pages // 4 * 4 // 10
        assert L.files_maxfiles_init(pages, pages * 9 // 10, profile) == (pages - (pages - pages * 9 // 10) * 3 // 2) * 4 // 10
    assert L.files_maxfiles_init(1000, 1000) == L.NR_FILE
    with pytest.raises(ValueError, match="free_pages"):
        L.files_maxfiles_init(10, 20)


def test_port_ranges():
    assert LINUX_6_12.local_ports == 60999 - 32768 + 1 and LINUX_3_10.local_ports == 61000 - 32768 + 1
    assert L.inet_sk_get_local_port_range((32768, 60999)) == (32768, 60999)
    assert L.inet_sk_get_local_port_range((32768, 60999), (40000, 40009)) == (40000, 40009)
    assert L.inet_sk_get_local_port_range((32768, 60999), (1000, 40009)) == (32768, 40009)   # low end outside
    assert L.ip_local_port_range_value(40000, 40009) == 40000 | 40009 << 16
    with pytest.raises(ValueError, match="net_range"):
        L.inet_sk_get_local_port_range((5, 1))


def test_what_more_client_ips_or_server_ports_buy():
    r = LINUX_6_12.ip_local_port_range
    ports = r[1] - r[0] + 1
    assert L.client_connections(r) == ports
    assert L.client_connections(r, client_ips=20) == 20 * ports             # the book's 20 IPs × 50 000 idea
    assert L.client_connections(r, server_endpoints=20) == 20 * ports
    # bind() before connect() picks the port without the 4-tuple: each port once per client IP, whatever the server
    assert L.client_connections(r, client_ips=2, server_endpoints=20, bind_before_connect=True) == 2 * ports
    grid = L.client_connections((5000, 65000), np.arange(1, 21), 1)
    assert grid[-1] == 20 * 60001
    assert L.server_connections_bound() == 2 ** 48


@given(ips=st.integers(1, 100), servers=st.integers(1, 100))
def test_client_connections_scale_with_every_part_of_the_4_tuple(ips, servers):
    r = (32768, 60999)
    assert L.client_connections(r, ips, servers) == L.client_connections(r) * ips * servers


def test_bad_inputs():
    with pytest.raises(ValueError, match="rlim_cur"):
        Rlimit(-1, 5)
    with pytest.raises(ValueError, match="capabilities"):
        task(caps=["CAP_NET_ADMIN"])
    with pytest.raises(ValueError, match="client_ips"):
        L.client_connections((1, 2), client_ips=0)
    with pytest.raises(ValueError, match=r"error must be a whole number ≤ -1, got 24"):
        L.errno_name(24)
    assert L.errno_name(-24) == "EMFILE"


def test_tcp_max_syn_backlog_scales_with_memory_like_each_kernel():
    from netlab.kernel.profiles import DEFAULTS_RAM
    gib = 2 ** 30 // 4096
    # 3.10 tcp_init: max(128, ehash / 256); 6.12 tcp_set_hashinfo: max(128, ehash / 128); one bucket per 128 KiB
    assert [L.tcp_max_syn_backlog_for_memory(n * gib * 95 // 100, LINUX_3_10) for n in (1, 8, 64, 1024)] \
        == [128, 256, 2048, 2048]
    assert [L.tcp_max_syn_backlog_for_memory(n * gib * 95 // 100, LINUX_6_12) for n in (1, 8, 64, 1024)] \
        == [128, 512, 4096, 4096]
    assert L.tcp_max_syn_backlog_for_memory(8 * gib + 1, LINUX_6_12) == 1024      # rounded up to a power of two
    for profile in (LINUX_3_10, LINUX_6_12):
        assert L.tcp_max_syn_backlog_for_memory(DEFAULTS_RAM // 4096 * 95 // 100, profile) \
            == profile.tcp_max_syn_backlog
    with pytest.raises(ValueError):
        L.tcp_max_syn_backlog_for_memory(0)
