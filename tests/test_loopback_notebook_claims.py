"""The numbers chapter 04 (notebooks/04-loopback.ipynb) states in its prose, read from its markdown and held to the
model."""
from netlab.kernel.profiles import LINUX_3_10, LINUX_6_12
from netlab.scenarios.loopback import route_lookup
from netlab.units import size
from notebook_prose import integer, prose, stated, strings

TEXT = prose("04-loopback.ipynb")
EXERCISES = strings("04-loopback.ipynb")


def lookups(profile, daddr):
    return len(route_lookup(profile, daddr).filter(function="fib_table_lookup"))


def test_3_10_looks_up_local_then_main_and_6_12_once():
    assert "3.10 looks up table local, then table main" in TEXT
    assert lookups(LINUX_3_10, "8.8.8.8") == 2 and lookups(LINUX_3_10, "127.0.0.2") == 1
    (once,) = stated(r"so 6\.12 does (\w+) lookup", TEXT)
    assert lookups(LINUX_6_12, "8.8.8.8") == lookups(LINUX_6_12, "127.0.0.2") == integer(once)
    one, two = stated(r"(\w+): while no custom rule exists, .*?\(3\.10 needs (\w+) for 8\.8\.8\.8", EXERCISES)
    assert (integer(one), integer(two)) == (lookups(LINUX_6_12, "8.8.8.8"), lookups(LINUX_3_10, "8.8.8.8"))


def test_local_and_main_share_one_trie_since_4_1():
    assert "Since 4.1 it answers `table 254` — main, not local" in TEXT
    assert "`fib_local_main_merged` in the profile" in TEXT
    assert LINUX_6_12.fib_local_main_merged and not LINUX_3_10.fib_local_main_merged


def test_lo_mtu_is_64_kib():
    (mtu,) = stated(r"`lo`'s MTU is (\d+ KiB)", TEXT)
    assert size(LINUX_3_10.lo_mtu) == size(LINUX_6_12.lo_mtu) == mtu
