"""The send path: copies per scenario, the clone and the original, GSO/TSO, the qdisc and NET_TX, taps, zero copy."""
import errno
import math

import pytest
from hypothesis import given, settings, strategies as st

from netlab.kernel.copies import CopyLedger, account_copy
from netlab.kernel.ip_output import IP_HLEN
from netlab.kernel.nic import DESC_NEEDED
from netlab.kernel.skbuff import CLONED, SIZEOF_SK_BUFF
from netlab.kernel.tcp_output import TCP_HLEN, MsgHdr, tcp_ack, tcp_cwnd_test, user_pages
from netlab.kernel.zerocopy import FAULT_AROUND_PAGES, CachedFile
from netlab.scenarios.send import METHODS, SendHost, copy_ledgers, model_file_send, one_send, segmentation, send_file
from netlab.view.send import skb_lifetime

MB = 1 << 20
CHUNK = 65536


def ledgers(**kw):
    return copy_ledgers(MB, CHUNK, **kw)


# --- the copy ledger of each way of sending a file ------------------------------------------------------------

def test_read_plus_send_is_two_cpu_copies_and_two_syscalls_per_chunk():
    ledger = ledgers()["read+send"]
    chunks = MB // CHUNK
    assert ledger.copies_of(MB, "cpu") == 2.0
    assert ledger.by_function("cpu") == {"copy_page_to_iter": MB, "skb_copy_to_page_nocache": MB}
    assert ledger.copies_of(MB, "dma") == 1.0                       # memory → NIC (the file was cached)
    assert ledger.syscalls == ["read", "sendto"] * chunks
    assert ledger.transitions == 4 * chunks


def test_a_cold_file_adds_the_disk_dma_and_nothing_else():
    cold, warm = ledgers(cached=False), ledgers()
    for method in METHODS:
        assert cold[method].copies_of(MB, "dma") == 2.0              # disk → page cache → NIC
        assert cold[method].bytes("cpu") == warm[method].bytes("cpu")


def test_sendfile_never_copies_through_user_space():
    ledger = ledgers()["sendfile"]
    assert ledger.bytes("cpu", payload=None) == 0
    assert ledger.syscalls == ["sendfile"] and ledger.transitions == 2
    assert not any("user" in m.src or "user" in m.dst for m in ledger.movements)
    assert ledger.refs >= MB // 4096                                 # page-cache pages referenced instead
    assert ledger.copies_of(MB, "dma") == 1.0


def test_mmap_write_copies_once_and_faults_the_mapping_in():
    ledger = ledgers()["mmap+write"]
    assert ledger.copies_of(MB, "cpu") == 1.0
    assert ledger.by_function("cpu") == {"skb_copy_to_page_nocache": MB}
    assert ledger.page_faults == math.ceil(MB // 4096 / FAULT_AROUND_PAGES)
    assert ledger.syscalls == ["mmap"] + ["write"] * (MB // CHUNK) + ["munmap"]


def test_msg_zerocopy_saves_the_send_copy_except_on_loopback():
    nic, lo = ledgers()["MSG_ZEROCOPY"], ledgers(device="lo")["MSG_ZEROCOPY"]
    assert nic.by_function("cpu") == {"copy_page_to_iter": MB}                 # only read() copies
    assert lo.by_function("cpu") == {"copy_page_to_iter": MB, "skb_copy_ubufs": MB}  # looped back: copied anyway
    assert "recvmsg(MSG_ERRQUEUE)" in nic.syscalls
    assert ledgers(device="lo")["sendfile"].bytes("cpu") == 0         # page-cache pages need no such copy


def test_every_transmitted_skb_costs_one_shallow_head_copy_not_a_payload_copy():
    host = SendHost(gso=False)
    rec = host.capture(lambda: (host.send(6000), host.run()))
    clones = rec.trace.filter(function="skb_clone", kind="call")
    assert len(clones) == math.ceil(6000 / host.sk.mss_cache) == rec.ledger.count("shallow", payload=None)
    assert rec.ledger.bytes("shallow", payload=None) == len(clones) * SIZEOF_SK_BUFF
    assert rec.ledger.copies_of(6000, "cpu") == 1.0


# --- the clone and the original ----------------------------------------------------------------------------------

def test_clone_is_freed_at_tx_completion_and_the_original_with_its_data_at_the_ack():
    host = SendHost()
    host.send(1000)
    orig = host.sk.tcp_rtx_queue[0]
    clone = host.nic.q_vectors[0].tx_ring.slots[0]
    assert clone.shinfo is orig.shinfo and orig.shinfo.dataref == 2 and orig.users == clone.users == 1
    assert clone.cloned and orig.cloned and clone.name == orig.name + CLONED
    tx_done = host.nic.q_vectors[0].tx_wire[0][0]
    host.run(until_ns=tx_done)
    assert clone.freed and not orig.freed and orig.shinfo.dataref == 1 and not orig.shinfo.freed
    host.run()
    assert orig.freed and orig.shinfo.freed and host.sk.snd_una == 1000 and not host.sk.tcp_rtx_queue


def test_the_ack_comes_up_the_receive_path_and_tx_completion_runs_in_net_rx():
    host = SendHost()
    trace = host.record(lambda: (host.send(1000), host.run()))
    ack_path = ["igb_poll", "igb_clean_rx_irq", "ip_list_rcv", "tcp_v4_rcv", "tcp_rcv_established", "tcp_ack",
                "tcp_clean_rtx_queue"]
    assert all(f in trace.functions() for f in ack_path)
    assert {e.context for e in trace.filter(function="igb_clean_tx_irq")} == {"softirq"}
    assert host.softirqs() == {"NET_TX": 0, "NET_RX": 2}              # TX done, then the ACK


# --- GSO and TSO -------------------------------------------------------------------------------------------------

def test_gso_off_makes_one_mss_skbs_and_no_ip_fragments():
    host = SendHost(gso=False)
    trace = host.record(lambda: (host.send(6000), host.run()))
    maps = trace.filter(function="igb_tx_map", kind="call")
    segments = math.ceil(6000 / host.sk.mss_cache)                        # 1448-byte MSS: 5
    assert len(maps) == segments and "ip_fragment" not in trace.functions()
    assert host.nic.q_vectors[0].tx_packets == segments


def test_gso_with_tso_sends_one_skb_the_nic_cuts():
    host = SendHost()
    rec = host.capture(lambda: (host.send(6000), host.run()))
    assert len(rec.trace.filter(function="igb_tx_map", kind="call")) == 1
    assert len(rec.trace.filter(function="skb_clone", kind="call")) == 1
    segments = math.ceil(6000 / host.sk.mss_cache)
    assert host.nic.q_vectors[0].tx_packets == segments and "skb_segment" not in rec.trace.functions()


def test_gso_without_tso_segments_in_software_copying_headers_only():
    host = SendHost(tso=False)
    rec = host.capture(lambda: (host.send(6000), host.run()))
    segments = math.ceil(6000 / host.sk.mss_cache)
    assert len(rec.trace.filter(function="skb_segment", kind="call")) == 1
    assert len(rec.trace.filter(function="igb_tx_map", kind="call")) == segments
    assert rec.ledger.bytes("cpu", payload=False) == segments * (TCP_HLEN + IP_HLEN + 14)   # + Ethernet header
    assert rec.ledger.bytes("cpu") == 6000                                # the payload was copied once, in send()


def test_the_congestion_window_splits_a_large_skb_and_keeps_half_in_reserve():
    host = SendHost(cwnd=4)
    assert tcp_cwnd_test(host.sk) == 2                                    # min(cwnd/2, cwnd - in flight)
    trace = host.record(lambda: host.send(20000))
    assert "tso_fragment" in trace.functions()
    assert host.sk.packets_out == 4 and host.sk.sk_write_queue            # the rest waits for ACKs
    host.run()
    assert host.sk.snd_una == 20000


def test_nagle_holds_a_small_segment_while_one_is_unacknowledged():
    host = SendHost()
    host.send(100)
    host.send(100)
    assert len(host.sk.sk_write_queue) == 1 and host.sk.packets_out == 1
    host.run()
    assert host.sk.snd_una == 200
    quick = SendHost(nodelay=True)
    quick.send(100)
    quick.send(100)
    assert quick.sk.packets_out == 2


# --- IP fragmentation: the book's third copy ---------------------------------------------------------------------

def test_a_udp_datagram_is_fragmented_without_copying_its_payload_again():
    host = SendHost()
    rec = host.capture(lambda: (host.send_datagram(4000), host.run()))
    assert "ip_do_fragment" in rec.trace.functions() and "skb_copy_bits" not in rec.trace.functions()
    assert rec.ledger.by_function("cpu") == {"ip_generic_getfrag": 4000}
    assert host.nic.q_vectors[0].tx_packets == math.ceil((4000 + 8) / 1480)


def test_the_slow_path_copies_the_payload_into_new_fragments():
    host = SendHost()
    rec = host.capture(lambda: (host.forward(4000), host.run()))
    assert rec.ledger.by_function("cpu") == {"skb_copy_bits": 4000}
    per_fragment = (host.out.mtu - IP_HLEN) // 8 * 8                      # 1480: a multiple of 8 bytes
    assert len(rec.trace.filter(function="igb_tx_map", kind="call")) == math.ceil(4000 / per_fragment)


# --- qdisc, NET_TX, taps and netfilter ---------------------------------------------------------------------------

def test_an_idle_qdisc_is_bypassed_and_net_tx_is_never_raised():
    host = SendHost()
    host.send(MB // 4)
    host.run()
    assert host.dev.qdisc.bypassed > 0 and host.dev.qdisc.enqueued == 0
    assert host.softirqs()["NET_TX"] == 0


def test_a_full_tx_ring_stops_the_queue_and_net_tx_sends_the_backlog():
    host = SendHost(gso=False, cwnd=100, tx_ring=64)
    trace = host.record(lambda: (host.send(32768), host.run()))
    assert host.dev.qdisc.requeues >= 1
    assert "netif_tx_wake_queue" in trace.functions() and "net_tx_action" in trace.functions()
    assert host.softirqs()["NET_TX"] >= 1 and host.sk.snd_una == 32768
    assert host.nic.q_vectors[0].tx_ring.unused() >= DESC_NEEDED


def test_the_dev_tx_weight_quota_hands_the_rest_to_net_tx():
    host = SendHost(gso=False, cwnd=500, rwnd=1 << 22, tx_ring=4096)
    host.dev.queue_stopped = True                      # the driver is busy: everything waits in the qdisc
    host.send(200 * host.sk.mss_cache)
    assert host.dev.qdisc.qlen == 200
    from netlab.kernel.sch_generic import netif_tx_wake_queue
    from netlab.kernel.softirq import local_bh_disable, local_bh_enable

    trace = host.record(lambda: host.run_process(0, lambda: (local_bh_disable(), netif_tx_wake_queue(host.dev),
                                                             local_bh_enable())))
    quota = host.profile.dev_tx_weight
    printks = [e.text for e in trace.filter(function="__qdisc_run", kind="printk")]
    assert printks and all("quota used up" in t for t in printks)
    assert len(trace.filter(function="net_tx_action", kind="call")) == math.ceil(200 / quota)
    assert host.dev.qdisc.qlen == 0


def test_tcpdump_sees_outgoing_packets_only_after_output_rules():
    host = SendHost(taps=1)
    host.send(1000)
    host.run()
    assert ("skb1 (clone) (tap)", "out") in host.taps[0].seen
    blocked = SendHost(taps=1)
    rule = blocked.iptables("OUTPUT", "DROP", protocol="tcp", dport=80)
    rec = blocked.capture(lambda: blocked.send(1000))
    assert rule.pkts == 1 and blocked.taps[0].seen == []
    assert rec.ledger.bytes("dma") == 0 and "igb_xmit_frame" not in rec.trace.functions()


@pytest.mark.parametrize("profile", ["3.10", "6.12"])
@pytest.mark.parametrize("device", ["igb", "lo"])
def test_a_datagram_an_output_rule_drops_fails_sendto_with_eperm(profile, device):
    """nf_hook_slow's NF_DROP is -EPERM; ip_local_out, ip_send_skb and udp_send_skb hand it to sendto()."""
    host = SendHost(profile, device=device, taps=1)
    assert host.send_datagram(100) == 100 and host.send_datagram(3000) == 3000
    host.run()
    captured = len(host.taps[0].seen)
    rule = host.iptables("OUTPUT", "DROP", protocol="udp")
    assert host.send_datagram(100) == -errno.EPERM and host.send_datagram(3000) == -errno.EPERM
    host.run()
    assert rule.pkts == 2 and len(host.taps[0].seen) == captured      # the tap never saw the dropped ones


def test_loopback_has_no_qdisc_no_ring_no_dma_and_delivers_in_the_same_syscall():
    host = SendHost(device="lo")
    rec = host.capture(lambda: host.send(6000))
    assert rec.ledger.bytes("dma") == 0 and host.out.qdisc is None
    assert host.sk.snd_una == 6000 and len(host._receiver.sk_receive_queue) == 1
    assert host.softirqs() == {"NET_TX": 0, "NET_RX": 1}


# --- properties ------------------------------------------------------------------------------------------------------

@settings(max_examples=25, deadline=None)
@given(size=st.integers(1, 300_000), gso=st.booleans(), tso=st.booleans(), cwnd=st.integers(2, 40))
def test_everything_sent_is_acked_copied_once_and_freed(size, gso, tso, cwnd):
    host = SendHost(gso=gso, tso=tso, cwnd=cwnd)
    rec = host.capture(lambda: (host.send(size), host.run()), trace=False)
    assert host.sk.snd_una == host.sk.write_seq == size
    assert not host.sk.sk_write_queue and not host.sk.tcp_rtx_queue and host.sk.packets_out == 0
    assert rec.ledger.bytes("cpu") == size and rec.ledger.bytes("dma") == size
    assert host.nic.q_vectors[0].tx_ring.done() == 0
    assert host.nic.q_vectors[0].tx_packets == host.dev.stats["tx_packets"] >= math.ceil(size / host.sk.mss_cache)


def test_the_send_path_is_deterministic():
    def run():
        host = SendHost(tso=False)
        return host.record(lambda: (host.send(5000), host.run()))
    a, b = run(), run()
    assert [(e.function, e.text, e.time_ns) for e in a] == [(e.function, e.text, e.time_ns) for e in b]


# --- inputs ------------------------------------------------------------------------------------------------------------

def test_bad_inputs_are_refused_with_a_reason():
    with pytest.raises(ValueError, match="device"):
        SendHost(device="eth9")
    with pytest.raises(ValueError, match="size"):
        MsgHdr(-1)
    with pytest.raises(ValueError, match="pages"):
        MsgHdr(10, pages=user_pages(5))
    host = SendHost()
    with pytest.raises(ValueError, match="nbytes"):
        host.send(0)
    with pytest.raises(TypeError, match="ack"):
        tcp_ack(host.sk, "1")
    with pytest.raises(ValueError, match="method"):
        send_file(host, CachedFile("f", 10), "carrier pigeon")
    with pytest.raises(ValueError, match="size"):
        model_file_send("sendfile", 0)
    with pytest.raises(ValueError, match="size"):
        CachedFile("f", 0)
    with pytest.raises(ValueError, match="kind"):
        CopyLedger().bytes("telepathy")
    with pytest.raises(ValueError, match="nbytes"):
        account_copy(-1, "f", "a", "b")


# --- what chapter 03 says, with the notebook's parameters -----------------------------------------------------

def test_the_chapters_claims():
    host, rec = one_send(1000)
    by_step = {(r[2], r[1]): r for r in skb_lifetime(rec.trace, ["skb1", "skb1 (clone)"])}
    assert by_step[("skb1", "skb_clone")][5] == 2                       # the clone shares the data: dataref 2
    assert by_step[("skb1 (clone)", "napi_consume_skb")][3] == "freed"   # TX completion frees the clone …
    assert not by_step[("skb1 (clone)", "napi_consume_skb")][6]           # … but not the data, the original holds it
    assert by_step[("skb1", "__kfree_skb")][6]                           # the ACK frees the original and the data
    assert {e.context for e in rec.trace.filter(function="igb_clean_tx_irq")} == {"softirq"}
    assert host.softirqs() == {"NET_TX": 0, "NET_RX": 2}
    table = segmentation(6000)
    assert table["GSO off"]["trips through IP"] == 5 and table["GSO + TSO (NIC cuts)"]["trips through IP"] == 1
    assert all(row["payload bytes copied"] == 6000 and row["frames on the wire"] == 5 for row in table.values())
    dgram_host, fwd_host = SendHost(), SendHost()
    dgram = dgram_host.capture(lambda: (dgram_host.send_datagram(4000), dgram_host.run()))
    fwd = fwd_host.capture(lambda: (fwd_host.forward(4000), fwd_host.run()))
    assert "skb_copy_bits" not in dgram.trace.functions() and fwd.ledger.bytes("cpu") == 4000
    bulk = SendHost()
    bulk.send(MB)
    bulk.run()
    busy, _ = one_send(32768, gso=False, cwnd=100, tx_ring=64)
    assert bulk.softirqs()["NET_TX"] == 0 and busy.softirqs()["NET_TX"] >= 1
    seen, blocked = SendHost(taps=1), SendHost(taps=1)
    seen.send(1000)
    blocked.iptables("OUTPUT", "DROP", protocol="tcp", dport=80)
    blocked.send(1000)
    assert seen.taps[0].seen and not blocked.taps[0].seen
    nic = {m: led.summary(MB) for m, led in ledgers().items()}
    lo = {m: led.summary(MB) for m, led in ledgers(device="lo").items()}
    assert nic["read+send"]["cpu copies"] == 2 and nic["read+send"]["syscalls"] == 2 * MB // CHUNK
    assert nic["sendfile"]["cpu copies"] == 0 and nic["sendfile"]["syscalls"] == 1
    assert nic["mmap+write"]["cpu copies"] == 1 and nic["MSG_ZEROCOPY"]["cpu copies"] == 1
    assert lo["MSG_ZEROCOPY"]["cpu copies"] == 2 and lo["sendfile"]["cpu copies"] == 0
    assert all(row["dma transfers"] == 1 for row in nic.values())


def test_the_chapters_exercises_have_the_answers_their_explanations_give():
    _, rec = one_send(1000)
    before_ack = rec.trace[next(i for i, e in enumerate(rec.trace) if e.function == "tcp_ack") - 1]
    heads = {p.skb.name for p in before_ack.state.skbs if p.where != "freed" and p.skb.name.startswith("skb1")}
    assert heads == {"skb1"}   # only the original
    bulk = SendHost()
    bulk.send(MB)
    bulk.run()
    assert bulk.softirqs()["NET_RX"] > bulk.softirqs()["NET_TX"]
    sw = one_send(6000, tso=False)[1].trace
    assert len(sw.filter(function="ip_output", kind="call")) == 1 and "skb_segment" in sw.functions()
    sendfile = ledgers()["sendfile"].summary(MB)
    assert sendfile["cpu copies"] + sendfile["dma transfers"] == 1
    assert ledgers(device="lo")["MSG_ZEROCOPY"].by_function("cpu")["skb_copy_ubufs"] == MB   # one copy more
    assert ledgers(device="lo")["MSG_ZEROCOPY"].summary(MB)["cpu copies"] > \
        ledgers()["MSG_ZEROCOPY"].summary(MB)["cpu copies"]


@pytest.mark.parametrize("profile", ["3.10", "6.12"])
def test_cwnd_grows_only_while_the_sender_is_cwnd_limited(profile):
    """cubic's cong_avoid returns unless tcp_is_cwnd_limited: one 1,000-byte send (one segment in flight of cwnd
    10) leaves cwnd at 10; a bulk send that fills cwnd grows it in slow start."""
    host, rec = one_send(1000, profile=profile)
    assert host.sk.snd_cwnd == 10
    assert any("not cwnd-limited" in e.text for e in rec.trace)
    bulk = SendHost(profile)
    bulk.send(200_000)
    bulk.run()
    assert bulk.sk.snd_cwnd > 10
