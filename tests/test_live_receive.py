"""The loopback UDP burst: bounded, cleaned up, and honest where /proc is missing."""
import pytest

from netlab.live.receive import loopback_udp_burst
from netlab.live.result import Why


def test_missing_proc_is_not_available_here(tmp_path):
    r = loopback_udp_burst(10, proc=str(tmp_path))
    assert r.why is Why.NO_ENTRY and r.reason.startswith(f"{tmp_path}/net/softnet_stat does not exist")


@pytest.mark.parametrize("bad, error, message", [(0, ValueError, r"n must be an int in 1\.\.200000"),
                                                 (10**6, ValueError, r"n must be an int in 1\.\.200000"),
                                                 (1.5, TypeError, "n must be a whole number"),
                                                 (True, TypeError, "n must be a whole number")])
def test_bad_counts_are_refused(bad, error, message):
    with pytest.raises(error, match=message):
        loopback_udp_burst(bad)


@pytest.mark.live
def test_a_burst_moves_softnet_processed_and_udp_drops_not_softnet_dropped(skip_unless_expected):
    b = skip_unless_expected(loopback_udp_burst(3000), Why.NO_ENTRY, Why.UNKNOWN_FORMAT)
    assert b.sent == 3000 and sum(b.processed.values()) >= 3000
    # every datagram the socket did not keep was dropped at its full receive buffer (RcvbufErrors), not at the
    # per-CPU backlog (softnet dropped): loopback runs the softirq after each send. The slack of 10 lets a few
    # fall at the backlog when other load delays the softirq; then they count there instead
    assert b.queued < b.sent and b.udp_rcvbuf_errors >= b.sent - b.queued - 10
    assert sum(b.dropped.values()) <= 10 and sum(b.net_rx.values()) >= 1
