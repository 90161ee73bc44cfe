import os
import sys

import pytest

from netlab.live import ethtool
from netlab.live.ethtool import Channels, Coalescing, DriverInfo, RingParams, RpsQueue
from netlab.live.procfs import parse_cpu_mask
from netlab.live.result import LiveProbeError, Why

LINUX = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="SIOCETHTOOL is Linux only")


def test_device_names_are_checked():
    for bad in ("", "x" * 16, "eth 0", "../eth0", "eth0:1"):
        with pytest.raises(ValueError, match="an interface name is 1-15 characters without spaces"):
            ethtool.check_device(bad)
    with pytest.raises(TypeError, match="dev must be a string, got 3"):
        ethtool.check_device(3)
    with pytest.raises(ValueError, match="irq must be a whole number ≥ 0, got -1"):
        ethtool.irq_affinity(-1)
    with pytest.raises(TypeError, match="irq must be a whole number ≥ 0, got True"):
        ethtool.irq_affinity(True)


@LINUX
def test_lo_has_no_rings_and_says_why():
    r = ethtool.ring_sizes("lo")      # drivers/net/loopback.c has no get_ringparam: dev_ethtool says EOPNOTSUPP
    assert r.why is Why.DEVICE_LACKS and r.reason.startswith("the lo driver does not report this (")
    assert "SIOCETHTOOL" in r.how


@LINUX
def test_a_missing_interface_is_reported_as_such():
    for query in (ethtool.driver_info, ethtool.ring_sizes, ethtool.channels):
        r = query("netlab-nope0")
        assert r.why is Why.NO_ENTRY and "no interface 'netlab-nope0'" in r.reason


def test_an_errno_the_probe_does_not_expect_is_an_error(monkeypatch):
    def busy(dev, buffer):
        raise OSError(16, "Device or resource busy")
    monkeypatch.setattr(ethtool, "_ethtool", busy)
    monkeypatch.setattr(ethtool.sys, "platform", "linux")
    with pytest.raises(LiveProbeError, match="EBUSY: Device or resource busy"):
        ethtool.ring_sizes("eth0")


def test_non_linux_is_unavailable(monkeypatch):
    monkeypatch.setattr(ethtool.sys, "platform", "darwin")
    r = ethtool.driver_info("lo")
    assert r.why is Why.NOT_LINUX and "only on Linux" in r.reason


def test_the_ioctl_buffers_are_decoded_field_by_field(monkeypatch):
    def fake(dev, buffer):
        cmd = int.from_bytes(buffer[:4], sys.byteorder)
        if cmd == ethtool.ETHTOOL_GDRVINFO:
            return ethtool._DRVINFO.pack(cmd, b"igb", b"5.6.0-k", b"1.63, 0x800009fa", b"0000:01:00.0", b"",
                                         b"", 0, 0, 0, 0, 0)
        if cmd == ethtool.ETHTOOL_GRINGPARAM:
            return ethtool._NINE_U32.pack(cmd, 4096, 0, 0, 4096, 256, 0, 0, 512)
        if cmd == ethtool.ETHTOOL_GCOALESCE:      # rx 3 (igb's adaptive), 0 frames; tx 50 µs, 8 frames, adaptive
            return ethtool._COALESCE.pack(cmd, 3, 0, 0, 0, 50, 8, 0, 0, 0, 0, 1, *[0] * 11)
        return ethtool._NINE_U32.pack(cmd, 0, 0, 1, 8, 0, 0, 1, 4)
    monkeypatch.setattr(ethtool, "_ethtool", fake)
    monkeypatch.setattr(ethtool.sys, "platform", "linux")
    assert ethtool.driver_info("eth0").value == DriverInfo("igb", "5.6.0-k", "1.63, 0x800009fa", "0000:01:00.0")
    assert ethtool.ring_sizes("eth0").value == RingParams(rx=256, rx_max=4096, tx=512, tx_max=4096)
    assert ethtool.channels("eth0").value == Channels(0, 0, 1, 4, 0, 0, 1, 8)
    assert ethtool.coalescing("eth0").value == Coalescing(rx_usecs=3, rx_frames=0, adaptive_rx=False, tx_usecs=50,
                                                          tx_frames=8, adaptive_tx=True)


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
    virtual = ethtool.msi_irqs("lo", str(net))
    assert virtual.why is Why.DEVICE_LACKS and "no device" in virtual.reason
    (net / "eth0" / "queues" / "rx-1" / "rps_cpus").write_text("00000000,0000000e\n")
    (net / "eth0" / "queues" / "rx-1" / "rps_flow_cnt").write_text("2048\n")
    (net / "eth0" / "queues" / "rx-0" / "rps_cpus").write_text("0\n")
    (net / "eth0" / "queues" / "rx-0" / "rps_flow_cnt").write_text("0\n")
    assert ethtool.rps_queues("eth0", str(net)).value == [RpsQueue("rx-0", (), 0), RpsQueue("rx-1", (1, 2, 3), 2048)]
    without_rps = ethtool.rps_queues("lo", str(net))      # no rps_cpus file: a kernel built without CONFIG_RPS
    assert without_rps.why is Why.DEVICE_LACKS and "CONFIG_RPS" in without_rps.reason
    absent = ethtool.sysfs_queues("eth9", str(net))
    assert absent.why is Why.NO_ENTRY and absent.reason.startswith(f"{net}/eth9/queues does not exist")
    (tmp_path / "irq" / "38").mkdir(parents=True)
    (tmp_path / "irq" / "38" / "smp_affinity_list").write_text("0-1,3\n")
    assert ethtool.irq_affinity(38, str(tmp_path / "irq")).value == (0, 1, 3)
    assert ethtool.irq_affinity(39, str(tmp_path / "irq")).why is Why.NO_ENTRY


@LINUX
def test_this_machines_interfaces_answer_or_say_their_driver_lacks_the_query():
    names = ethtool.interfaces()
    assert "lo" in names
    for dev in names:             # an errno the probe does not recognise would raise here
        for query in (ethtool.driver_info, ethtool.ring_sizes, ethtool.channels, ethtool.coalescing):
            r = query(dev)
            assert r.available or r.why is Why.DEVICE_LACKS, r
            if r.available and isinstance(r.value, RingParams):
                assert 0 < r.value.rx <= r.value.rx_max
        q = ethtool.sysfs_queues(dev)
        assert q.value["rx"] >= 1 and q.value["tx"] >= 1          # every netdev has at least one queue each


def test_cpu_masks_are_read_as_the_kernel_prints_them():
    assert parse_cpu_mask("0\n") == ()
    assert parse_cpu_mask("e") == (1, 2, 3)
    assert parse_cpu_mask("00000001,00000000") == (32,)
    assert parse_cpu_mask("ff,00000001") == (0, *range(32, 40))
    for bad in ("", "0x3", "1-3", "e,,1"):
        with pytest.raises(ValueError, match="a CPU mask looks like"):
            parse_cpu_mask(bad)
