"""netlab.check: the outermost checked call checks its arguments; what checked code passes on is not checked again."""
import threading

import pytest

from netlab import check
from netlab.kernel.nic import Packet, rss_input
from netlab.kernel.skbuff import skb_clone
from netlab.trace import Tracer


@check.arguments
def _inner(n: int) -> int:
    return n


@check.arguments
def _outer(n: int, inner_gets: object) -> object:
    return _inner(inner_gets)


def test_a_learners_call_is_checked_and_what_checked_code_passes_on_is_not():
    with pytest.raises(ValueError, match="n must be a whole number ≥ 0, got -1"):
        _inner(-1)
    with pytest.raises(ValueError, match="n must be a whole number ≥ 0, got -1"):
        _outer(-1, 0)
    assert _outer(0, -1) == -1                  # netlab's own code vouches for what it passes on
    assert check.outermost()                    # and the mark is gone once the call returns …
    with pytest.raises(ValueError, match="n must be"):
        _outer(-1, 0)
    with pytest.raises(ValueError, match="n must be"):
        _inner(-1)                              # … even after a refused call


def test_a_kernel_function_checks_when_outermost_traced_or_not():
    """Traced, the check comes before the step's text is formatted from the arguments ("clone {skb.name}")."""
    with pytest.raises(TypeError, match="skb must be a SkBuff, got 3"):
        skb_clone(3)
    with Tracer():
        with pytest.raises(TypeError, match="skb must be a SkBuff, got 3"):
            skb_clone(3)
    assert check.outermost()


def test_records_built_by_checked_code_are_not_checked_again_but_a_learners_are():
    with pytest.raises(ValueError, match="sport must be a whole number from 0 to 65,535, got 70000"):
        Packet(0, sport=70000)
    with pytest.raises(ValueError, match="addresses must be IPv4 dotted quads"):
        rss_input("10.0.0.300", "10.0.0.2", 1, 2)


def test_another_threads_call_is_checked_while_this_thread_runs_checked_code():
    refused = []

    def from_another_thread():
        try:
            _inner(-1)
        except ValueError as e:
            refused.append(str(e))

    @check.arguments
    def runs_a_thread(n: int) -> None:
        thread = threading.Thread(target=from_another_thread)
        thread.start()
        thread.join()

    runs_a_thread(1)
    assert refused == ["n must be a whole number ≥ 0, got -1"]
