import os
from pathlib import Path

import pytest

from netlab.live.overview import nic_devices, what_you_can_see
from netlab.live.result import LiveResult, Why, kernel_version
from netlab.view.live import live_table_html, live_table_text

FIXTURES = Path(__file__).parent / "fixtures"


def test_kernel_version():
    assert kernel_version("6.18.44-fc-v669") == (6, 18)
    assert kernel_version("3.10.0-1160.el7.x86_64") == (3, 10)
    with pytest.raises(ValueError, match="a kernel release starts with 'major.minor', got 'vmlinuz'"):
        kernel_version("vmlinuz")
    with pytest.raises(TypeError, match="release must be a string, got 6.12"):
        kernel_version(6.12)


def fake_3_10(tmp_path: Path, userns: str = "0") -> tuple[str, str]:
    """A /proc and /sys of a CentOS 7 machine: 3.10, 10-column softnet_stat, userns off, no NIC device."""
    proc, sys_root = tmp_path / "proc", tmp_path / "sys"
    (proc / "sys" / "kernel").mkdir(parents=True)
    (proc / "sys" / "user").mkdir()
    (proc / "net").mkdir()
    (proc / "sys" / "kernel" / "osrelease").write_text("3.10.0-1160.el7.x86_64\n")
    (proc / "sys" / "user" / "max_user_namespaces").write_text(userns + "\n")
    (proc / "net" / "softnet_stat").write_text((FIXTURES / "softnet_stat_3.10_10col.txt").read_text())
    (proc / "kallsyms").write_text("ffffffff81000000 T net_rx_action\n")
    (proc / "slabinfo").write_text((FIXTURES / "slabinfo_2.1_book.txt").read_text())
    (sys_root / "devices" / "system" / "cpu").mkdir(parents=True)
    (sys_root / "devices" / "system" / "cpu" / "online").write_text("0-1,3\n")
    (sys_root / "class" / "net" / "lo").mkdir(parents=True)
    return str(proc), str(sys_root)


def test_overview_of_a_fake_3_10_machine(tmp_path):
    results = {r.what: r for r in what_you_can_see(*fake_3_10(tmp_path))}
    assert results["kernel release"].value.startswith("3.10.0")
    assert results["online CPUs"].value == "3 (CPU 0, 1, 3)"
    assert results["kernel function names (kallsyms)"].value.startswith("1 function names")
    assert "10 columns" in results["softnet_stat layout"].value and "row number" in results["softnet_stat layout"].value
    assert results["per-cache slab memory (slabinfo)"].value == "readable (5 caches)"
    userns = results["unprivileged user + network namespaces"]
    assert (userns.why, userns.reason) == (Why.NAMESPACES_REFUSED, "user.max_user_namespaces is 0")
    nic = results["NIC queues and rings"]
    assert nic.why is Why.DEVICE_LACKS and "only virtual" in nic.reason
    assert "IP_LOCAL_PORT_RANGE socket option" in results


def test_overview_of_a_machine_without_proc(tmp_path):
    results = what_you_can_see(str(tmp_path / "no-proc"), str(tmp_path / "no-sys"))
    unavailable = {r.what: r for r in results if not r.available}
    assert unavailable["kernel release"].reason == f"{tmp_path}/no-proc/sys/kernel/osrelease does not exist " \
                                                   f"(not Linux, or a kernel without it)"
    for what in ("kernel release", "online CPUs", "kernel function names (kallsyms)", "softnet_stat layout",
                 "per-cache slab memory (slabinfo)", "unprivileged user + network namespaces"):
        assert unavailable[what].why is Why.NO_ENTRY and str(tmp_path) in unavailable[what].reason
        assert str(unavailable[what]).startswith(f"{what}: not available here, because ")
    assert unavailable["NIC queues and rings"].why is Why.DEVICE_LACKS


def test_userns_clone_switch(tmp_path):
    proc, sys_root = fake_3_10(tmp_path, userns="1000")
    (Path(proc) / "sys" / "kernel" / "unprivileged_userns_clone").write_text("0\n")
    results = {r.what: r for r in what_you_can_see(proc, sys_root)}
    userns = results["unprivileged user + network namespaces"]
    assert (userns.why, userns.reason) == (Why.NAMESPACES_REFUSED, "kernel.unprivileged_userns_clone is 0")
    (Path(proc) / "sys" / "kernel" / "unprivileged_userns_clone").write_text("1\n")
    results = {r.what: r for r in what_you_can_see(proc, sys_root)}
    assert results["unprivileged user + network namespaces"].available


def test_bad_roots():
    with pytest.raises(ValueError, match="proc must be an absolute path str, got 'proc'"):
        what_you_can_see("proc")


@pytest.mark.skipif(not os.path.exists("/proc/sys/kernel/osrelease"), reason="no Linux procfs here")
def test_overview_on_this_machine():
    results = what_you_can_see()
    release = results[0]
    assert release.available and release.value == os.uname().release
    port_range = next(r for r in results if r.what.startswith("IP_LOCAL_PORT_RANGE"))
    if kernel_version(os.uname().release) >= (6, 3):
        assert port_range.value.startswith("supported")
    else:
        assert port_range.why is Why.KERNEL_LACKS and "needs Linux 6.3 or later" in port_range.reason
    for dev in nic_devices():
        assert any(r.what == f"NIC {dev}" for r in results)


def test_table_renderings():
    results = [LiveResult("kernel release", "reading osrelease", "6.12.0"),
               LiveResult.unavailable("slabinfo", "reading /proc/slabinfo", Why.PERMISSION, "it is <root> only")]
    text = live_table_text(results)
    assert text.splitlines() == ["✓ kernel release: 6.12.0",
                                 "— slabinfo: not available here, because it is <root> only"]
    html = live_table_html(results)
    assert html.count("<tr") == 3 and "&lt;root&gt;" in html and 'title="measured by reading osrelease"' in html
    with pytest.raises(TypeError, match="expected LiveResults, got str"):
        live_table_text(["not a result"])
