"""The numbers chapter 03 (notebooks/03-send.ipynb) states in its prose, read from its markdown and held to the
model, so the text cannot drift from what the notebook's cells compute."""
from netlab.kernel.ip_output import IP_HLEN
from netlab.kernel.profiles import LINUX_3_10, LINUX_6_12
from netlab.kernel.skbuff import SIZEOF_SK_BUFF
from netlab.kernel.tcp_output import TCP_HLEN
from netlab.kernel.zerocopy import PIPE_DEF_BUFFERS
from netlab.scenarios.send import SendHost, copy_ledgers, file_send_counts, one_send, segmentation
from notebook_prose import integer, prose, says, stated, strings

TEXT = prose("03-send.ipynb")
EXERCISES = strings("03-send.ipynb")


def test_the_model_host_has_a_1_gbit_igb_with_256_tx_descriptors_50_us_from_its_peer():
    gbps, ring, rtt = stated(r"an igb NIC \((\d+) Gbit/s, a (\d+)-descriptor TX ring, a `pfifo_fast` qdisc\) and one "
                             r"established TCP connection to 10\.0\.0\.1, (\d+) µs away", TEXT)
    host = SendHost()
    assert host.nic.ns_per_byte == 8 / int(gbps) and host.nic.q_vectors[0].tx_ring.count == int(ring)
    assert LINUX_3_10.tx_ring_size == LINUX_6_12.tx_ring_size == int(ring) and host.rtt_ns == int(rtt) * 1000


def test_the_nic_interrupts_about_9_us_after_the_driver_hands_it_the_packet():
    (us,) = stated(r"About (\d+) µs later the NIC has sent it and raises its interrupt", TEXT)
    trace = one_send(1000)[1].trace
    handed = trace.filter(function="igb_tx_map")[0].time_ns
    irq = next(e for e in trace if e.context == "hardirq" and e.time_ns > handed)
    assert round((irq.time_ns - handed) / 1000) == int(us)


def test_a_clone_is_one_sk_buff_head_and_shares_the_data():
    heads = {int(stated(pattern, TEXT)[0]) for pattern in (r"a new sk_buff head \((\d+) bytes\)",
                                                           r"one (\d+)-byte head per skb",
                                                           r"copies the (\d+)-byte sk_buff head")}
    assert heads == {SIZEOF_SK_BUFF}
    assert "`dataref` becomes 2" in TEXT and "(`dataref` 2)" in TEXT
    trace = one_send(1000)[1].trace
    assert max(p.skb.dataref for e in trace if e.state for p in e.state.skbs) == 2


def test_the_heads_follow_how_tcp_cuts_the_stream_not_the_method():
    (mss,) = stated(r"each 64 KiB `send\(\)` or `write\(\)` is a little more than one ([\d,]+)-byte MSS", TEXT)
    assert SendHost(device="lo").sk.mss_cache == integer(mss) < 64 * 1024
    says("a full skb and a small tail — two heads per call", TEXT)
    mib = 1 << 20
    assert len({ledger.summary(mib)["sk_buff heads copied"] for ledger in copy_ledgers(mib).values()}) == 1
    lo = copy_ledgers(mib, device="lo")
    heads = {method: ledger.summary(mib)["sk_buff heads copied"] for method, ledger in lo.items()}
    assert heads["read+send"] == 2 * lo["read+send"].syscalls.count("sendto")
    assert heads["sendfile"] < heads["read+send"]


def test_a_6000_byte_send_is_five_segments_of_one_mss():
    nbytes, count, mss, mtu, ip, tcp = stated(r"A `send\(\)` of (\d+) bytes needs (\w+) (\d+)-byte segments "
                                              r"\(MSS = MTU (\d+) − (\d+) IP − (\d+) TCP with timestamps\)", TEXT)
    assert (int(mss), int(mtu), int(ip), int(tcp)) == (SendHost().sk.mss_cache, LINUX_6_12.eth_mtu, IP_HLEN, TCP_HLEN)
    assert "Where is the data cut into 1448-byte segments?" in EXERCISES and "gso_size 1448" in EXERCISES
    assert "one 6000-byte skb with `gso_size` 1448 goes down the stack *once*" in TEXT
    rows = segmentation(int(nbytes))
    assert {row["frames on the wire"] for row in rows.values()} == {integer(count)}
    (off,) = stated(r"TCP itself cuts at the MSS in `tcp_sendmsg` — (\w+) skbs, \1 clones, \1 trips through IP", TEXT)
    gso_off = rows["GSO off"]
    assert gso_off["skbs built by TCP"] == gso_off["clones"] == gso_off["trips through IP"] == integer(off)
    (frames,) = stated(r"the NIC cuts it into (\w+) frames", TEXT)
    assert rows["GSO + TSO (NIC cuts)"]["trips through IP"] == 1 and integer(frames) == integer(count)
    heads, header = stated(r"`skb_segment`: (\w+) new heads, each with a copy of the (\d+) header bytes", TEXT)
    software = rows["GSO, no TSO (software GSO)"]
    assert software["sk_buff heads"] - software["clones"] == integer(heads)
    assert software["header bytes copied"] == integer(heads) * int(header)


def test_the_qdisc_runs_at_most_dev_tx_weight_packets():
    (weight,) = stated(r"at most `dev_tx_weight` \((\d+)\) packets per run", TEXT)
    assert LINUX_3_10.dev_tx_weight == LINUX_6_12.dev_tx_weight == int(weight)


def test_the_model_has_no_bql_so_a_bulk_send_raises_net_tx_only_when_the_ring_fills():
    says("The model has no BQL.", TEXT)
    bulk = SendHost()
    bulk.send(1 << 20)
    bulk.run()
    assert bulk.softirqs()["NET_TX"] == 0
    busy, recording = one_send(32768, gso=False, cwnd=100, tx_ring=64)
    assert busy.softirqs()["NET_TX"] >= 1
    assert not {"netdev_tx_sent_queue", "netdev_tx_completed_queue"} & set(recording.trace.functions())


def test_loopback_raises_thousands_of_net_rx_per_gb_and_the_pipe_holds_16_pages():
    assert "NET_RX grows by thousands per GB" in TEXT
    for counts in file_send_counts(8 << 20).values():
        assert 1000 <= counts["NET_RX"] < 1_000_000 and counts["NET_TX"] == 0
    (pages,) = stated(r"every (\d+) pages go through the internal pipe", TEXT)
    assert int(pages) == PIPE_DEF_BUFFERS


def test_sendfile_moves_each_byte_once_by_dma_and_twice_from_disk():
    (cold,) = stated(r"the NIC still fetches each byte by DMA \((\d+) if the file must first be read from disk\)",
                     EXERCISES)
    mib = 1 << 20
    assert copy_ledgers(mib)["sendfile"].copies_of(mib, "dma") == 1
    assert copy_ledgers(mib, cached=False)["sendfile"].copies_of(mib, "dma") == int(cold)
