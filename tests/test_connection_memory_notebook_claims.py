"""The numbers chapter 06 (notebooks/06-connection-memory.ipynb) states in its prose, read from its markdown and
held to the slab model (the book's own measurements, quoted as such, are the model's to reproduce)."""
import pytest

from netlab.kernel import slub
from netlab.kernel.profiles import LINUX_3_10, LINUX_6_12
from netlab.scenarios.connection_memory import connection_trace, footprint
from notebook_prose import integer, prose, says, stated, strings

TEXT = prose("06-connection-memory.ipynb")
EXERCISES = strings("06-connection-memory.ipynb")
KIB = 1024


def test_a_640_byte_socket_alloc_costs_683_or_655_bytes_with_2_or_4_cpus():
    size, few, many = stated(r"a (\d+)-byte object really costs (\d+) or (\d+) bytes depending on the number of "
                             r"CPUs", TEXT)
    layouts = [slub.slab_layouts(LINUX_3_10, nr_cpus=c)["sock_inode_cache"] for c in (4, 2)]
    assert {layout.object_size for layout in layouts} == {int(size)}
    assert [round(layout.bytes_per_object()) for layout in layouts] == [int(few), int(many)]


def test_the_books_two_slab_sizes_are_the_2_cpu_client_and_the_4_cpu_server():
    client, client_pages, server, server_pages = stated(
        r"The book's client showed `sock_inode_cache` at (\d+) objects per (\d+)-page slab, its server at (\d+) per "
        r"(\d+) pages", TEXT)
    for cpus, objects, pages in ((2, client, client_pages), (4, server, server_pages)):
        layout = slub.slab_layouts(LINUX_3_10, nr_cpus=cpus)["sock_inode_cache"]
        assert (layout.objs_per_slab, layout.pages_per_slab) == (int(objects), int(pages))


def test_the_timewait_sock_takes_a_256_byte_slot_for_60_s_and_6_12_hashes_two_bind_buckets():
    (tw,) = stated(r"trades it for a (\d+)-byte `tcp_timewait_sock`, which keeps the bind buckets for (?:\d+) s", TEXT)
    (seconds,) = stated(r"which keeps the bind buckets for (\d+) s", TEXT)
    for profile in (LINUX_3_10, LINUX_6_12):
        assert slub.slab_layouts(profile)["tw_sock_TCP"].object_size == int(tw)
        assert profile.tcp_timewait_s == int(seconds)
    assert "A TIME_WAIT is a 256-byte `tcp_timewait_sock`" in TEXT and "the port's bind buckets (two on 6.12)" in TEXT
    (since,) = stated(r"hashes the socket into that port's \*bind buckets\* \((\w+) since 6\.1\)", TEXT)
    buckets = [row[0] for row in footprint(LINUX_6_12, "TIME_WAIT", "client").table() if "bind" in row[0]]
    assert len(buckets) == integer(since)
    assert [row[0] for row in footprint(LINUX_3_10, "TIME_WAIT", "client").table() if "bind" in row[0]] == \
        ["tcp_bind_bucket"]


def test_13_tcp_sock_slots_of_2432_bytes_leave_1152_bytes_of_a_32_kib_slab():
    (free_pointer,) = stated(r"`calculate_sizes` adds (\d+) bytes for the free pointer", TEXT)
    tw = slub.SIZEOF_6_12["tcp_timewait_sock"]
    assert slub.calculate_sizes(tw, slub.SLAB_TYPESAFE_BY_RCU) - slub.calculate_sizes(tw, 0) == int(free_pointer)
    (line,) = stated(r"`SLAB_HWCACHE_ALIGN` rounds to a (\d+)-byte cache line", TEXT)
    assert slub.CACHE_LINE_SIZE == int(line)
    assert slub.calculate_sizes(2368, slub.KMEM_CACHE_CREATE["TCP"].flags) == 2368 + int(line)   # 2376, rounded up
    objects, slot, kib, unused = stated(r"(\d+) slots of (\d+) bytes in a (\d+) KiB slab leave (\d+) bytes unused", TEXT)
    tcp_sock, in_slot = stated(r"6\.12's `tcp_sock` grew to (\d+) bytes and sits in a (\d+)-byte slot", TEXT)
    assert slub.SIZEOF_6_12["tcp_sock"] == int(tcp_sock) and in_slot == slot
    layout = slub.kmem_cache_create(slub.KMEM_CACHE_CREATE["TCP"], int(tcp_sock), nr_cpus=4)
    assert (layout.objs_per_slab, layout.object_size) == (int(objects), int(slot))
    assert layout.pages_per_slab * LINUX_6_12.page_size == int(kib) * KIB
    assert int(kib) * KIB - layout.objs_per_slab * layout.object_size == int(unused)


def test_a_3_10_time_wait_costs_0_375_kib_because_32_bind_buckets_pin_each_kmalloc_64_slab():
    (kib,) = stated(r"Why is a 3\.10 TIME_WAIT ([\d.]+) KiB when", TEXT)
    per_connection = int(footprint(LINUX_3_10, "TIME_WAIT", "client", nr_cpus=2).bytes(50_000)) / 50_000
    assert per_connection / KIB == pytest.approx(float(kib), abs=0.0005)
    (live,) = stated(r"but every slab still holds (\d+) live bind buckets", TEXT)
    assert slub.slab_layouts(LINUX_3_10)["kmalloc-64"].objs_per_slab == 2 * int(live)


def test_an_idle_server_connection_costs_close_to_the_books_on_3_10_and_more_on_6_12():
    server, client = stated(r"The cell above prints it: on the book's kernel close to the book's own ([\d.]+) KiB "
                            r"measured on its server \(([\d.]+) on its client, which also holds a bind bucket\), more "
                            r"on 6\.12", TEXT)
    old = footprint(LINUX_3_10, "ESTABLISHED", "server").per_connection / KIB
    assert old == pytest.approx(float(server), rel=0.05) and float(client) > float(server)
    assert footprint(LINUX_6_12, "ESTABLISHED", "server").per_connection / KIB > old


def test_keepalive_probes_an_idle_connection_after_two_hours():
    (hours,) = stated(r"every `tcp_keepalive_time` \((\w+) hours by default\)", TEXT)
    assert LINUX_3_10.tcp_keepalive_time == LINUX_6_12.tcp_keepalive_time == integer(hours) * 3600


def test_30_000_time_waits_take_8_to_12_mb_on_3_10_and_8_to_15_on_6_12():
    old_low, old_high, new_low, new_high = stated(r"No: (\d+)–(\d+) MB on 3\.10 .*?, (\d+)–(\d+) MB on 6\.12", TEXT)
    for profile, low, high in ((LINUX_3_10, old_low, old_high), (LINUX_6_12, new_low, new_high)):
        mb = sorted(int(footprint(profile, "TIME_WAIT", side).bytes(30_000)) / 1e6 for side in ("server", "client"))
        assert [round(m) for m in mb] == [int(low), int(high)]


def test_64_cpus_want_32_objects_and_get_an_order_3_slab_of_51():
    wanted, order, objects = stated(r"grows with the CPUs \((\d+) at 64 CPUs\), so calculate_order picks a bigger slab "
                                    r"\(order (\d+), (\d+) objects\)", EXERCISES)
    assert 4 * (slub.fls(64) + 1) == int(wanted)
    layout = slub.slab_layouts(LINUX_3_10, nr_cpus=64)["sock_inode_cache"]
    assert (layout.pages_per_slab, layout.objs_per_slab) == (1 << int(order), int(objects))


def test_a_3_10_time_wait_is_not_the_320_bytes_of_its_two_objects():
    tw, bucket = stated(r"a client's TIME_WAIT keeps a (\d+)-byte tcp_timewait_sock and a (\d+)-byte bind bucket",
                        EXERCISES)
    (objects,) = stated(r"About B, not (\d+): each connection also had a 64-byte socket_wq", EXERCISES)
    layouts = slub.slab_layouts(LINUX_3_10)
    assert (layouts["tw_sock_TCP"].object_size, layouts["tcp_bind_bucket"].object_size) == (int(tw), int(bucket))
    assert int(tw) + int(bucket) == int(objects)
    assert layouts["socket_wq"].object_size == 64


def test_an_epoll_registration_costs_an_epitem_an_eppoll_entry_and_an_epitems_head():
    epi, pwq, head, total = stated(r"Per socket an epitem \((\d+) B\), an eppoll_entry \((\d+) B\) and an epitems_head "
                                   r"\((\d+) B\): about (\d+) B", EXERCISES)
    layouts = slub.slab_layouts(LINUX_6_12)
    assert [layouts[c].object_size for c in ("eventpoll_epi", "eventpoll_pwq", "ep_head")] == \
        [int(epi), int(pwq), int(head)]
    added = (footprint(LINUX_6_12, "ESTABLISHED", "server", epoll=True).per_connection
             - footprint(LINUX_6_12, "ESTABLISHED", "server").per_connection)
    assert round(added) == int(total) == int(epi) + int(pwq) + int(head)


def test_calculate_order_wastes_at_most_a_sixteenth_of_the_slab_for_the_min_objects_it_wants():
    (fraction,) = stated(r"`calculate_order` wants at least `4 × \(fls\(nr_cpus\) \+ 1\)` objects per slab \(more CPUs, "
                         r"bigger slabs\), wasting at most 1/(\d+) of the slab", TEXT)
    for cpus in (2, 4, 64):
        layout = slub.slab_layouts(LINUX_3_10, nr_cpus=cpus)["sock_inode_cache"]
        slab = layout.pages_per_slab * LINUX_3_10.page_size
        assert layout.objs_per_slab >= 4 * (slub.fls(cpus) + 1)
        assert slab - layout.objs_per_slab * layout.object_size <= slab / int(fraction)


def test_the_server_steppers_first_hundred_or_so_steps_are_the_clients():
    says("the first hundred or so are the client's `socket()` and `connect()`", TEXT)
    trace = connection_trace(LINUX_6_12, side="server", state="ESTABLISHED")
    assert 80 <= next(i for i, e in enumerate(trace) if e.host == "server") <= 120
