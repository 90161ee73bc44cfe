"""The loopback UDP burst: bounded, cleaned up, and honest where /proc is missing."""
import pytest

from netlab.live.receive import loopback_udp_burst


def test_missing_proc_is_not_available_here(tmp_path):
    r = loopback_udp_burst(10, proc=str(tmp_path))
    assert not r.available and "does not exist" in r.reason


@pytest.mark.parametrize("bad", [0, 10**6, 1.5, True])
def test_bad_counts_are_refused(bad):
    with pytest.raises(ValueError):
        loopback_udp_burst(bad)


@pytest.mark.live
def test_a_burst_moves_softnet_processed_and_udp_drops_not_softnet_dropped():
    r = loopback_udp_burst(3000)
    if not r.available:
        pytest.skip(r.reason)
    b = r.value
    assert b.sent == 3000 and sum(b.processed.values()) >= 3000
    assert b.queued < b.sent and b.udp_rcvbuf_errors >= b.sent - b.queued - 10
    assert sum(b.dropped.values()) <= 10 and sum(b.net_rx.values()) >= 1
