import pytest

from netlab.kernel.profiles import PROFILES, SOURCES, KernelProfile, SlabCache, profile
from netlab.live.profile import this_machine


def test_the_two_kernels_differ_where_the_facts_say():
    old, new = PROFILES["3.10"], PROFILES["6.12"]
    diff = old.differences(new)
    assert diff["somaxconn"] == (128, 4096)
    assert diff["ip_local_port_range"] == ((32768, 61000), (32768, 60999))
    assert diff["syn_queue"] == ("listen_sock", "ehash")
    assert diff["slub_slab_order"] == ("slab_order", "calc_slab_order")
    assert new.local_ports == 28232


def test_this_machine_reads_what_it_can(tmp_path):
    (tmp_path / "net/core").mkdir(parents=True)
    (tmp_path / "net/ipv4").mkdir(parents=True)
    (tmp_path / "net/core/somaxconn").write_text("1024\n")
    (tmp_path / "net/ipv4/ip_local_port_range").write_text("10000\t10999\n")
    (tmp_path / "net/core/netdev_budget_usecs").write_text("2000\n")
    p = this_machine(str(tmp_path), str(tmp_path / "none"))
    assert p.somaxconn == 1024 and p.local_ports == 1000 and p.hz == 1000
    assert {"somaxconn", "ip_local_port_range", "hz"} <= p.live and "tcp_syncookies" not in p.live
    assert p.tcp_syncookies == PROFILES["6.12"].tcp_syncookies


def test_this_machine_with_no_proc_falls_back(tmp_path):
    p = this_machine(str(tmp_path / "none"), str(tmp_path / "none"))
    assert p.somaxconn == PROFILES["6.12"].somaxconn and "somaxconn" not in p.live


def test_slab_cost_includes_overhead():
    assert SlabCache("TCP", 1984, 16, 8).bytes_per_object() == 8 * 4096 // 16   # 16 slots share 8 pages


def test_bad_names_and_values_are_refused():
    with pytest.raises(ValueError, match="profile must be one of"):
        profile("2.6")
    with pytest.raises(ValueError, match="unknown profile fields"):
        PROFILES["6.12"].replace(somaxcon=1)
    with pytest.raises(ValueError, match="ip_local_port_range"):
        PROFILES["6.12"].replace(ip_local_port_range=(5, 1))
    with pytest.raises(ValueError, match="object_size"):
        SlabCache("x", 0, 1, 1)


def test_every_profile_field_names_its_kernel_source():
    import dataclasses
    assert set(SOURCES) == {f.name for f in dataclasses.fields(KernelProfile)}
    assert all(isinstance(v, str) and v for v in SOURCES.values())
