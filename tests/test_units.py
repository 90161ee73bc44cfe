import pytest
from hypothesis import given, strategies as st

from netlab.units import duration, number, percent, plain, plural, size


@pytest.mark.parametrize("ns, text", [(0, "0 ns"), (999, "999 ns"), (2_800, "2.8 µs"), (27_600, "27.6 µs"),
                                      (999_999, "999.999 µs"), (1_086_000_000, "1.086 s"), (60e9, "60 s"),
                                      (3_600e9, "3,600 s"), (1_500_000, "1.5 ms")])
def test_a_time_reads_in_the_unit_that_fits(ns, text):
    assert duration(ns) == text


@pytest.mark.parametrize("x, text", [(4003490.0, "4,003,490"), (2 / 3, "0.667"), (0.000123, "0.000123"),
                                     (131072, "131,072"), (-3.5, "-3.5"), (12.345, "12.3"), (0, "0")])
def test_a_number_has_separators_and_a_few_digits(x, text):
    assert number(x) == text


@given(st.floats(min_value=-1e18, max_value=1e18, allow_nan=False))
def test_no_number_is_written_in_e_notation(x):
    assert "e" not in number(x) and "e" not in duration(abs(x))


@pytest.mark.parametrize("n, word, text", [(1, "packet", "1 packet"), (0, "packet", "0 packets"),
                                           (2, "switch", "2 switches"), (20_000, "hard IRQ", "20,000 hard IRQs"),
                                           (1.5, "packet", "1.5 packets")])
def test_plural_agrees_with_its_number(n, word, text):
    assert plural(n, word) == text
    assert plural(1, "entry", "entries") == "1 entry" and plural(3, "entry", "entries") == "3 entries"


def test_percentages_share_one_decimal():
    assert [percent(x) for x in (0.451, 0.44, 0.006, 12.345)] == ["45.1 %", "44.0 %", "0.6 %", "1,234.5 %"]


def test_sizes_and_bad_input():
    assert size(212_992) == "208 KiB" and size(100) == "100 B" and size(9_792) == "9.56 KiB"
    with pytest.raises(TypeError, match="finite number"):
        number(True)
    with pytest.raises(ValueError, match="finite"):
        duration(float("nan"))
    with pytest.raises(ValueError):
        size(-1)


def test_a_value_reads_as_words_never_as_a_repr():
    import numpy as np
    from netlab.live.result import LiveResult
    assert plain({"NET_RX": 123456789, "ratio": 0.123456789123}) == "NET_RX 123,456,789, ratio 0.123"
    assert plain([np.int64(5), 2.5, None]) == "5, 2.5, -" and plain(()) == "empty" and plain(True) == "yes"
    shown = str(LiveResult("softirqs", "/proc/softirqs", {"NET_RX": 4003490.0}))
    assert shown == "softirqs: NET_RX 4,003,490 (measured by /proc/softirqs)"
