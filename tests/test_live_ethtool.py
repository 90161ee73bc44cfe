import os
import sys

import pytest

from netlab.live import ethtool
from netlab.live.ethtool import Channels, DriverInfo, RingParams

LINUX = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="SIOCETHTOOL is Linux only")


def test_device_names_are_checked():
    for bad in ("", "x" * 16, "eth 0", "../eth0", "eth0:1", 3):
        with pytest.raises(ValueError):
            ethtool.check_device(bad)
    with pytest.raises(ValueError):
        ethtool.irq_affinity(-1)
    with pytest.raises(ValueError):
        ethtool.irq_affinity(True)


@LINUX
def test_lo_has_no_rings_and_says_why():
    r = ethtool.ring_sizes("lo")
    if r.available:       # a kernel whose loopback reports rings: then the numbers must make sense
        assert isinstance(r.value, RingParams) and r.value.rx <= r.value.rx_max
    else:
        assert "lo" in r.reason and ("EOPNOTSUPP" in r.reason or "ENOTSUP" in r.reason or "EINVAL" in r.reason)
        assert "SIOCETHTOOL" in r.how


@LINUX
def test_a_missing_interface_is_reported_as_such():
    for query in (ethtool.driver_info, ethtool.ring_sizes, ethtool.channels):
        r = query("netlab-nope0")
        assert not r.available and "no interface 'netlab-nope0'" in r.reason


def test_non_linux_is_unavailable(monkeypatch):
    monkeypatch.setattr(ethtool.sys, "platform", "darwin")
    r = ethtool.driver_info("lo")
    assert not r.available and "only on Linux" in r.reason


def test_the_ioctl_buffers_are_decoded_field_by_field(monkeypatch):
    def fake(dev, buffer):
        cmd = int.from_bytes(buffer[:4], sys.byteorder)
        if cmd == ethtool.ETHTOOL_GDRVINFO:
            return ethtool._DRVINFO.pack(cmd, b"igb", b"5.6.0-k", b"1.63, 0x800009fa", b"0000:01:00.0", b"",
                                         b"", 0, 0, 0, 0, 0)
        if cmd == ethtool.ETHTOOL_GRINGPARAM:
            return ethtool._NINE_U32.pack(cmd, 4096, 0, 0, 4096, 256, 0, 0, 512)
        return ethtool._NINE_U32.pack(cmd, 0, 0, 1, 8, 0, 0, 1, 4)
    monkeypatch.setattr(ethtool, "_ethtool", fake)
    monkeypatch.setattr(ethtool.sys, "platform", "linux")
    assert ethtool.driver_info("eth0").value == DriverInfo("igb", "5.6.0-k", "1.63, 0x800009fa", "0000:01:00.0")
    assert ethtool.ring_sizes("eth0").value == RingParams(rx=256, rx_max=4096, tx=512, tx_max=4096)
    assert ethtool.channels("eth0").value == Channels(0, 0, 1, 4, 0, 0, 1, 8)


def test_sysfs_queues_msi_irqs_and_affinity_from_a_fake_tree(tmp_path):
    net = tmp_path / "class" / "net"
    pci = tmp_path / "devices" / "pci0000:00" / "0000:00:03.0"
    (pci / "msi_irqs").mkdir(parents=True)
    for irq in (37, 38, 39):
        (pci / "msi_irqs" / str(irq)).write_text("msix\n")
    (pci / "virtio2").mkdir()
    (net / "eth0" / "queues").mkdir(parents=True)
    for q in ("rx-0", "rx-1", "tx-0", "tx-1", "tx-2"):
        (net / "eth0" / "queues" / q).mkdir()
    os.symlink(pci / "virtio2", net / "eth0" / "device")
    (net / "lo" / "queues" / "rx-0").mkdir(parents=True)
    assert ethtool.sysfs_queues("eth0", str(net)).value == {"rx": 2, "tx": 3}
    assert ethtool.msi_irqs("eth0", str(net)).value == [37, 38, 39]
    assert "no device" in ethtool.msi_irqs("lo", str(net)).reason
    assert "does not exist" in ethtool.sysfs_queues("eth9", str(net)).reason
    (tmp_path / "irq" / "38").mkdir(parents=True)
    (tmp_path / "irq" / "38" / "smp_affinity_list").write_text("0-1,3\n")
    assert ethtool.irq_affinity(38, str(tmp_path / "irq")).value == (0, 1, 3)
    assert not ethtool.irq_affinity(39, str(tmp_path / "irq")).available


@LINUX
def test_this_machines_interfaces_answer_or_say_why():
    names = ethtool.interfaces()
    assert "lo" in names
    for dev in names:
        for query in (ethtool.driver_info, ethtool.ring_sizes, ethtool.channels):
            r = query(dev)
            assert r.available or r.reason
            if r.available and isinstance(r.value, RingParams):
                assert 0 < r.value.rx <= r.value.rx_max
        q = ethtool.sysfs_queues(dev)
        assert not q.available or q.value["rx"] >= 1
