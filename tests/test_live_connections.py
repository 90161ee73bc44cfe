"""Live connection experiments (chapters 06, 07): they measure, they fall back with a reason, they leave nothing."""
import errno
import os
import socket
import struct
import subprocess
import sys
from pathlib import Path

import pytest

from netlab.kernel.limits import IP_LOCAL_PORT_RANGE
from netlab.kernel.memory import queued_data_memory
from netlab.kernel.profiles import LINUX_3_10, LINUX_6_12
from netlab.live.profile import this_machine
from netlab.live import connection_memory as cm, limits as ll, procfs
from netlab.scenarios import connection_memory
from netlab.live.result import LiveProbeError, LiveResult, Unavailable, Why, kernel_lacks

FIXTURES = Path(__file__).parent / "fixtures"
LINUX = pytest.mark.skipif(not sys.platform.startswith("linux") or not os.path.exists("/proc/net/tcp"),
                           reason="needs Linux with /proc")


def fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def children() -> set[int]:
    path = f"/proc/self/task/{os.getpid()}/children"
    return set(map(int, Path(path).read_text().split())) if os.path.exists(path) else set()


# --- chapter 06 ---------------------------------------------------------------------------------------------------

@pytest.mark.live
@LINUX
def test_idle_connections_cost_what_the_slab_model_says_and_nothing_is_left(skip_unless_expected):
    before_fds, before_children = fds(), children()
    # 1,200 connections, so that the free slots a real cache starts with (the model's caches start empty) are a
    # small share of the 2,400 objects of each kind
    r = skip_unless_expected(cm.measure_connection_memory(1200, "client", progress=None), Why.PERMISSION)
    assert (fds(), children()) == (before_fds, before_children)
    assert [x.step for x in r.readings] == list(cm.STEPS["client"]) and all(x.settled for x in r.readings)
    est, _, tw = (x.per_connection(r.n) for x in r.readings)
    model = connection_memory.modelled(this_machine(), r.n, "client")
    assert 0.2 < est / model[0].per_connection < 5      # a shared machine frees and allocates too: magnitude only
    if r.method == "slabinfo":     # per cache: other sessions' sockets (and their TIME_WAITs expiring) move totals
        tcp_objects, tcp_bytes = r.readings[0].rows["TCP"]
        assert 0.8 * r.n < tcp_objects < 3 * r.n          # one tcp_sock per end, both ends here (2n on a quiet
        #                                                   machine; other sessions' sockets come and go meanwhile)
        assert r.readings[2].rows.get("TCP", (0, 0))[1] < tcp_bytes / 2    # the tcp_socks are gone
        # after the first close: the slab pages stay, as modelled; each CLOSE_WAIT end holds its peer's FIN head
        for row in ("TCP", "sock_inode_cache", *(["skbuff_small_head"] if "skbuff_small_head" in model[1].rows
                                                 else [])):
            measured = r.readings[1].rows.get(row, (0, 0))[1] / r.n
            assert measured == pytest.approx(model[1].rows[row], rel=0.2), row
    else:
        assert tw < est                                   # TIME_WAIT keeps less than an open connection


@pytest.mark.live
@LINUX
def test_meminfo_fallback_without_slabinfo(tmp_path, skip_unless_expected):
    r = skip_unless_expected(cm.measure_connection_memory(100, "server", progress=None,
                                                          slabinfo_path=str(tmp_path / "none")), Why.PERMISSION)
    assert r.method == "meminfo"
    assert set(r.readings[0].rows) == {"Slab"} and "root-only" in r.notes[0]


def test_connection_memory_says_which_file_is_missing_or_that_this_is_not_linux(tmp_path, monkeypatch):
    missing = cm.measure_connection_memory(100, progress=None, tcp_path=str(tmp_path / "tcp"),
                                           slabinfo_path=str(tmp_path / "s"), meminfo_path=str(tmp_path / "m"))
    assert missing.why is Why.NO_ENTRY and missing.reason.startswith(f"{tmp_path / 'm'} does not exist")
    monkeypatch.setattr(sys, "platform", "darwin")
    off_linux = cm.measure_connection_memory(100, progress=None)
    assert off_linux.why is Why.NOT_LINUX and "darwin" in off_linux.reason
    with pytest.raises(ValueError, match=r"n must be an int in 10\.\.20000"):
        cm.measure_connection_memory(5)
    with pytest.raises(ValueError, match="first_closer must be 'client' or 'server'"):
        cm.measure_connection_memory(100, "peer")


@LINUX
def test_a_child_that_crashes_is_an_error_with_its_traceback(monkeypatch):
    real = cm.subprocess.Popen
    monkeypatch.setattr(cm.subprocess, "Popen", lambda args, **kw: real(
        [sys.executable, "-c", "raise SystemExit('the child broke')"], **kw))
    with pytest.raises(LiveProbeError, match="the child exited with status 1: the child broke"):
        cm.measure_connection_memory(100, progress=None)


def test_the_model_runs_the_experiment_in_its_order():
    established, first_close, time_wait = connection_memory.modelled(LINUX_6_12, 500, "client")
    assert [r.step for r in (established, first_close, time_wait)] == list(cm.STEPS["client"])
    # both ends of chapter 06's table (client 4029 B with its bind buckets, server 3773 B), give or take the slabs
    # the last connections leave partly used
    assert established.per_connection == pytest.approx(4029 + 3773, rel=0.02)
    # the clients' close frees half of every TCP and inode slab, and gives none of them back: the servers' objects
    # sit in the same slabs (measured on 6.18 with 1,200 connections: TCP 4,888 B, sock_inode_cache 1,556 B)
    for row in ("TCP", "sock_inode_cache", "filp", "dentry"):
        assert first_close.rows[row] == established.rows[row]
    # the servers' CLOSE_WAIT ends hold the FIN their client sent over loopback: tcp_send_fin's fclone pair (512 B)
    # and its head (skbuff_small_head, 704 B in 23-object slabs of 4 pages)
    assert first_close.rows["skbuff_fclone_cache"] == -(-500 // 16) * 2 * 4096 / 500
    assert first_close.rows["skbuff_small_head"] == -(-500 // 23) * 4 * 4096 / 500
    assert "skbuff_head_cache" not in first_close.rows
    assert time_wait.rows == pytest.approx({"tw_sock_TCP": 256, "eventpoll_epi": 256}, rel=0.05)  # tw sock, buckets
    # 3.10: kmalloc-64 got three objects per connection (the client's socket_wq and bind bucket, the server's
    # socket_wq); only the bind bucket is left, so every slab stays a third full: 3 × 64 B per connection
    assert connection_memory.modelled(LINUX_3_10, 2000, "client")[2].rows == pytest.approx(
        {"tw_sock_TCP": 256, "kmalloc-64": 192}, rel=0.05)
    with pytest.raises(ValueError, match="first_closer must be"):
        connection_memory.modelled(LINUX_6_12, 10, "peer")


def test_the_comparison_names_the_models_caches_and_sets_the_machines_other_activity_apart():
    """A machine where SLUB merged skbuff_fclone_cache into pool_workqueue (as on 6.18 here): the FIN's fclone row
    is named by the model's cache, the step's line sums only the model's caches, other rows go on a line apart."""
    from types import MappingProxyType
    from netlab.kernel.profiles import SlabCache
    profile = LINUX_6_12.replace(
        slab=MappingProxyType({**LINUX_6_12.slab, "pool_workqueue": SlabCache("pool_workqueue", 512, 16, 2)}),
        slab_aliases=MappingProxyType({**LINUX_6_12.slab_aliases, "skbuff_fclone_cache": "pool_workqueue"}))
    n = 100
    model = connection_memory.modelled(profile, n, "client")
    readings = tuple(cm.Reading(m.step, {**{row: (n, round(b * n)) for row, b in m.rows.items()},
                                         "ext4_inode_cache": (5, 7 * n)}, 0, True) for m in model)
    measured = cm.ConnectionMemory(n, "client", False, "slabinfo", readings, 1.0)
    rows = connection_memory.compare(measured, profile)
    steps = [r for r in rows if not r.cache]
    assert [r.step for r in steps] == list(cm.STEPS["client"])
    assert all(r.measured == pytest.approx(r.model, abs=1) for r in steps)      # the model's caches only
    first_close = [r.cache for r in rows if r.step == cm.STEPS["client"][1]]
    assert "skbuff_fclone_cache (slabinfo: pool_workqueue)" in first_close
    assert "eventpoll_epi (+ tcp_bind_bucket, tcp_bind2_bucket)" in first_close
    assert [(r.measured, r.model) for r in rows if r.cache.startswith("other")] == [(7, None)] * 3
    assert rows[1].label.startswith("  ") and rows[0].label == "ESTABLISHED"


# --- chapter 07 ---------------------------------------------------------------------------------------------------

@pytest.mark.live
@LINUX
def test_emfile_in_a_child_with_a_small_soft_limit(skip_unless_expected):
    before = fds()
    r = skip_unless_expected(ll.emfile(16), Why.NOT_LINUX)
    assert r.socket_error == "EMFILE" and r.accept_error == "EMFILE"
    # fewer sockets than the limit: the child's stdio, listener, client and /proc/net/tcp hold fds too
    assert r.queued_while_failing == 1 and r.accepted_after_close and 1 <= r.sockets_opened < 16
    assert r.open_before + r.sockets_opened == 16 and f"the child held {r.open_before} fds already" in str(r)
    assert fds() == before


@pytest.mark.live
@LINUX
def test_port_exhaustion_and_what_a_second_address_or_port_buys(skip_unless_expected):
    r = skip_unless_expected(ll.port_exhaustion(4), Why.KERNEL_LACKS)
    assert r.error == "EADDRNOTAVAIL" and 1 <= r.first <= 4   # 4 ports, fewer if other sockets hold some
    assert r.second_source >= 1 and r.second_server_port >= 1
    assert r.port_range[1] - r.port_range[0] == 3


@pytest.mark.live
@LINUX
def test_the_port_range_option_reads_back_as_the_kernel_decodes_it(skip_unless_expected):
    def set_and_read():
        with socket.socket() as s:
            try:
                ll.set_local_port_range(s, 40000, 40009)
            except Unavailable as e:
                return LiveResult.unavailable("IP_LOCAL_PORT_RANGE", "setsockopt", e.why, e.reason)
            value = struct.unpack("I", s.getsockopt(socket.IPPROTO_IP, IP_LOCAL_PORT_RANGE, 4))[0]
        return LiveResult("IP_LOCAL_PORT_RANGE", "getsockopt", (value & 0xFFFF, value >> 16))
    assert skip_unless_expected(set_and_read(), Why.KERNEL_LACKS) == (40000, 40009)   # ip_sockglue.c: u16 lo, hi


def test_only_enoprotoopt_from_a_kernel_before_6_3_means_the_option_is_missing():
    missing = OSError(errno.ENOPROTOOPT, os.strerror(errno.ENOPROTOOPT))
    lacking = kernel_lacks("IP_LOCAL_PORT_RANGE", (6, 3), missing, errno.ENOPROTOOPT, release="6.1.0-18-amd64")
    assert lacking.why is Why.KERNEL_LACKS
    assert lacking.reason == "IP_LOCAL_PORT_RANGE needs Linux 6.3 or later and this kernel is 6.1.0-18-amd64 " \
                             "(ENOPROTOOPT)"
    with pytest.raises(LiveProbeError, match=r"ENOPROTOOPT .* from a kernel that has it \(since Linux 6\.3\)"):
        kernel_lacks("IP_LOCAL_PORT_RANGE", (6, 3), missing, errno.ENOPROTOOPT, release="6.18.44")
    misencoded = OSError(errno.EINVAL, os.strerror(errno.EINVAL))
    for release, has in (("6.18.44", "has"), ("5.10.0", "predates")):
        with pytest.raises(LiveProbeError, match=f"EINVAL .* from a kernel that {has} it"):
            kernel_lacks("IP_LOCAL_PORT_RANGE", (6, 3), misencoded, errno.ENOPROTOOPT, release=release)


def test_limits_say_why_off_linux(monkeypatch):
    monkeypatch.setattr(sys, "platform", "win32")
    for r in (ll.emfile(16), ll.port_exhaustion(4)):
        assert r.why is Why.NOT_LINUX and "win32" in r.reason
    with pytest.raises(ValueError, match=r"soft must be an int in 8\.\.1024"):
        ll.emfile(4)
    with pytest.raises(ValueError, match=r"ports must be an int in 2\.\.64"):
        ll.port_exhaustion(100)


def test_your_limits_from_a_fixture_proc(tmp_path):
    (tmp_path / "self/fd").mkdir(parents=True)
    (tmp_path / "self/fd/0").write_text("")
    (tmp_path / "self/limits").write_text("Limit                     Soft Limit           Hard Limit           Units\n"
                                          "Max open files            1024                 4096                 files\n")
    (tmp_path / "sys/fs").mkdir(parents=True)
    (tmp_path / "sys/fs/nr_open").write_text("1048576\n")
    (tmp_path / "sys/fs/file-nr").write_text("2272\t0\t9223372036854775807\n")
    (tmp_path / "sys/net/ipv4").mkdir(parents=True)
    (tmp_path / "sys/net/ipv4/ip_local_port_range").write_text("32768\t60999\n")
    r = ll.your_limits(str(tmp_path)).value
    assert r.nofile == (1024, 4096) and r.nr_open == 1048576 and r.ports == 28232 and r.fds_here == 1
    assert r.file_max == 9223372036854775807 and r.files_open == 2272
    missing = ll.your_limits(str(tmp_path / "none"))
    assert missing.why is Why.NO_ENTRY and missing.reason.startswith(f"{tmp_path / 'none'}/self/limits does not")


@LINUX
def test_your_limits_here():
    r = ll.your_limits()
    assert r.available and r.value.nofile[0] >= 1 and r.value.fds_here >= 3


def test_the_child_entry_points_refuse_bad_arguments():
    for module in ("netlab.live.limits", "netlab.live.connection_memory"):
        done = subprocess.run([sys.executable, "-m", module, "bogus"], capture_output=True, text=True, timeout=30)
        assert done.returncode != 0 and "usage" in done.stderr


# --- slab aliases and this machine's slab caches ---------------------------------------------------------------

def test_merged_caches_are_found_through_sysfs_symlinks(tmp_path):
    links = {"eventpoll_epi": ":A-0000128", "tcp_bind_bucket": ":A-0000128", "tcp_bind2_bucket": ":A-0000128",
             "eventpoll_pwq": ":A-0000064", "anon_vma_chain": ":A-0000064", "lonely": ":0000008"}
    rows = procfs.parse_slabinfo(str(FIXTURES / "slabinfo_2.1_6.18.txt"))
    merged = procfs.merged_slab_caches(links, rows)
    assert merged == {"tcp_bind_bucket": "eventpoll_epi", "tcp_bind2_bucket": "eventpoll_epi",
                      "eventpoll_pwq": "anon_vma_chain"}
    (tmp_path / "slab").mkdir()
    for name, target in links.items():
        (tmp_path / "slab" / name).symlink_to(target)
    (tmp_path / "slab" / "TCP").mkdir()
    assert procfs.slab_links(str(tmp_path / "slab")).value == links
    assert not procfs.slab_links(str(tmp_path / "none")).available


def test_this_machine_takes_slab_sizes_from_slabinfo(tmp_path):
    (tmp_path / "slab").mkdir()
    for name in ("tcp_bind_bucket", "tcp_bind2_bucket", "eventpoll_epi"):
        (tmp_path / "slab" / name).symlink_to(":A-0000128")
    p = this_machine(str(tmp_path / "nosys"), str(tmp_path / "none"), str(FIXTURES / "slabinfo_2.1_6.18.txt"),
                     str(tmp_path / "slab"))
    assert p.slab["TCP"].object_size == 2368 and p.slab["request_sock_TCP"].objs_per_slab == 12
    assert p.slab_aliases["tcp_bind_bucket"] == "eventpoll_epi" and "lsm_file_cache" in p.slab
    assert {"slab", "slab_aliases"} <= p.live
    without = this_machine(str(tmp_path / "nosys"), str(tmp_path / "none"), str(tmp_path / "none"))
    assert without.slab == LINUX_6_12.slab and "slab" not in without.live


def test_profiles_refuse_aliases_to_unknown_caches():
    with pytest.raises(ValueError, match="slab_aliases"):
        LINUX_6_12.replace(slab_aliases={"filp": "kmalloc-4096"})


@pytest.mark.live
@LINUX
def test_buffers_are_charged_only_while_data_waits(skip_unless_expected):
    before = fds()
    v = skip_unless_expected(cm.buffer_memory(30_000), Why.KERNEL_LACKS)
    assert v["idle"]["rmem_alloc"] == 0 and v["drained"]["rmem_alloc"] == 0
    modelled = queued_data_memory(LINUX_6_12, 30_000).truesize
    # SKB_TRUESIZE of one 30 000-byte skb: 30 592 B modelled, 30 832 B charged on 6.18; split into MSS-sized
    # skbs (1448 B each) the same bytes would cost 42 624 B (39 % more), which this bound would catch
    assert 0.8 * modelled < v["data waiting"]["rmem_alloc"] < 1.3 * modelled
    assert (v["data waiting"]["rmem_alloc"] + v["data waiting"]["fwd_alloc"]) % 4096 == 0   # whole pages
    assert fds() == before
    with pytest.raises(ValueError, match=r"payload must be an int in 1\.\.4000000 bytes"):
        cm.buffer_memory(0)
