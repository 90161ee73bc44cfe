"""The slab model of a TCP connection: SLUB's layout rules, the book's figures under 3.10, and N connections."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from netlab.kernel import memory, slub
from netlab.kernel.limits import EMFILE, ENFILE
from netlab.kernel.profiles import LINUX_3_10, LINUX_6_12, PROFILES, SlabCache
from netlab.kernel.sock import AF_INET, SOCK_STREAM, __sys_socket
from netlab.scenarios import connection_memory as story
from netlab.scenarios.connection_memory import footprint
from netlab.trace import Tracer

KIB = 1024
BOOK_N = 50_000   # the book's experiment: deep_linux_network_tests chapter-07/7.4/test-01/testdata.md


def per_connection(profile, state, side, n=BOOK_N, nr_cpus=None):
    """Bytes per connection the way the book computed it: slab growth / N."""
    return int(footprint(profile, state, side, nr_cpus=nr_cpus).bytes(n)) / n


# --- SLUB layout -----------------------------------------------------------------------------------------------

def test_calculate_sizes_reproduces_the_6_12_slots_from_the_compiled_struct_sizes():
    for name, spec in slub.KMEM_CACHE_CREATE.items():
        assert slub.kmem_cache_create(spec, slub.SIZEOF_6_12[spec.struct], nr_cpus=4) == LINUX_6_12.slab[name], name


def test_a_constructor_or_rcu_puts_the_free_pointer_after_the_object():
    hw = slub.SLAB_HWCACHE_ALIGN
    assert slub.calculate_sizes(768, hw, ctor=True) == 832                    # socket_alloc
    assert slub.calculate_sizes(768, hw) == 768
    assert slub.calculate_sizes(2368, hw | slub.SLAB_TYPESAFE_BY_RCU) == 2432     # tcp_sock, 6.12
    assert slub.calculate_sizes(184, hw | slub.SLAB_TYPESAFE_BY_RCU, freeptr_in_object=True) == 192   # struct file
    assert slub.calculate_alignment(hw, 0, 24) == 32 and slub.calculate_alignment(0, 0, 24) == 8


# What /sys/kernel/slab/<cache>/{object_size,slab_size,objs_per_slab,order} said on a 2-CPU Linux 6.18 machine.
SYSFS_6_18 = {"TCP": (2304, 2368, 13, 3, slub.KMEM_CACHE_CREATE["TCP"]),
              "sock_inode_cache": (768, 832, 19, 2, slub.KMEM_CACHE_CREATE["sock_inode_cache"]),
              "request_sock_TCP": (312, 320, 12, 0, slub.KMEM_CACHE_CREATE["request_sock_TCP"]),
              "tw_sock_TCP": (248, 256, 16, 0, slub.KMEM_CACHE_CREATE["tw_sock_TCP"]),
              "filp": (184, 192, 21, 0, slub.KMEM_CACHE_CREATE["filp"]),
              "skbuff_head_cache": (224, 256, 16, 0, slub.KMEM_CACHE_CREATE["skbuff_head_cache"])}


@pytest.mark.parametrize("cache", sorted(SYSFS_6_18))
def test_the_layout_rules_match_a_real_6_18_kernel(cache):
    object_size, slot, per, order, spec = SYSFS_6_18[cache]
    layout = slub.kmem_cache_create(spec, object_size, nr_cpus=2)
    assert (layout.object_size, layout.objs_per_slab, layout.pages_per_slab) == (slot, per, 1 << order)


def test_calculate_order_explains_the_books_two_machines():
    """sock_inode_cache (640 B) had 12 objects per 2-page slab on the book's client, 25 per 4 pages on its server:
    min_objects = 4 * (fls(nr_cpu_ids) + 1) is 12 with 2 CPUs, 16 with 4."""
    assert slub.calculate_order(640, 2, LINUX_3_10) == 1 and slub.calculate_order(640, 4, LINUX_3_10) == 2
    for name, cache in LINUX_3_10.slab.items():
        order = slub.calculate_order(cache.object_size, 4, LINUX_3_10)
        assert (cache.objs_per_slab, cache.pages_per_slab) == ((4096 << order) // cache.object_size, 1 << order)
    assert slub.slab_layouts(LINUX_3_10, nr_cpus=2)["sock_inode_cache"] == SlabCache("sock_inode_cache", 640, 12, 2)


@given(size=st.integers(8, 8192), cpus=st.integers(1, 512), profile=st.sampled_from([LINUX_3_10, LINUX_6_12]))
def test_a_slab_always_holds_at_least_one_object_and_at_most_order_3_unless_huge(size, cpus, profile):
    order = slub.calculate_order(size, cpus, profile)
    assert (4096 << order) >= size and 0 <= order <= 3


def test_bad_layout_inputs_are_refused():
    with pytest.raises(ValueError, match="nr_cpus"):
        slub.calculate_order(64, 0)
    with pytest.raises(TypeError, match="profile"):
        slub.calculate_order(64, 2, "4.19")
    with pytest.raises(TypeError, match="CacheSpec"):
        slub.kmem_cache_create("TCP", 2368, 2)


# --- the book's figures under 3.10 ------------------------------------------------------------------------------

@pytest.mark.parametrize("state,side,cpus,book_kib", [
    ("ESTABLISHED", "client", 2, 3.34),     # (206896-39848)/50000
    ("ESTABLISHED", "server", None, 3.05),  # (206032-53512)/50000
    ("CLOSE_WAIT", "server", None, 3.3),    # (219084-53512)/50000
    ("FIN_WAIT2", "client", 2, 0.396),      # (59684-39848)/50000
    ("TIME_WAIT", "client", 2, 0.41),       # (60692-39848)/50000
])
def test_3_10_reproduces_the_books_measurements_within_10_percent(state, side, cpus, book_kib):
    assert per_connection(LINUX_3_10, state, side, nr_cpus=cpus) / KIB == pytest.approx(book_kib, rel=0.10)


def test_the_books_headlines_about_3_3_kib_idle_and_0_4_kib_time_wait():
    assert per_connection(LINUX_3_10, "ESTABLISHED", "client", nr_cpus=2) / KIB == pytest.approx(3.3, rel=0.10)
    assert per_connection(LINUX_3_10, "TIME_WAIT", "client", nr_cpus=2) / KIB == pytest.approx(0.4, rel=0.10)
    # "30 000 TIME_WAIT take 12 MB"
    assert footprint(LINUX_3_10, "TIME_WAIT", "client").bytes(30_000) / 1e6 == pytest.approx(12, rel=0.10)


def test_time_wait_on_3_10_pins_the_freed_socket_wq_next_to_each_bind_bucket():
    """kmalloc-64 held a socket_wq and a bind bucket per connection; after close only the bucket lives, but every
    slab keeps 32 of them, so no page comes back: 128 B per TIME_WAIT, not 64."""
    fp = footprint(LINUX_3_10, "TIME_WAIT", "client")
    row = fp.rows["kmalloc-64"]
    assert row.live == 1 and row.per_end == 4096 / 32
    assert row.bytes(6400) == 200 * 4096
    assert any("pinned" in struct for _, struct, _, _ in fp.table())


def test_each_state_holds_the_objects_the_kernel_allocates():
    held = {state: set(footprint(LINUX_6_12, state, "server").objects) for state in story.STATES}
    assert held["ESTABLISHED"] == {"sock_inode_cache", "TCP", "dentry", "filp"}
    assert held["SYN_RECV"] == {"request_sock_TCP"}
    assert held["ACCEPT_QUEUE"] == {"request_sock_TCP", "TCP"}
    assert held["CLOSE_WAIT"] == held["ESTABLISHED"] | {"skbuff_head_cache"}
    assert held["TIME_WAIT"] == held["FIN_WAIT2"] == {"tw_sock_TCP"}
    client = set(footprint(LINUX_6_12, "TIME_WAIT", "client").objects)
    assert client == {"tw_sock_TCP", "tcp_bind_bucket", "tcp_bind2_bucket"}
    assert "socket_wq" in footprint(LINUX_3_10, "ESTABLISHED", "server").objects
    epoll = set(footprint(LINUX_6_12, "ESTABLISHED", "server", epoll=True).objects) - held["ESTABLISHED"]
    assert epoll == {"eventpoll_epi", "eventpoll_pwq", "ep_head"}
    assert footprint(LINUX_6_12, "ESTABLISHED", "server", epoll=True).per_connection - \
        footprint(LINUX_6_12, "ESTABLISHED", "server").per_connection == pytest.approx(128 + 64 + 4096 / 170)


def test_6_12_costs_more_than_3_10():
    for state, side in (("ESTABLISHED", "server"), ("TIME_WAIT", "client")):
        assert footprint(LINUX_6_12, state, side).per_connection > footprint(LINUX_3_10, state, side).per_connection


# --- the allocator and N connections ----------------------------------------------------------------------------

def test_a_slab_goes_back_only_when_its_last_object_is_freed():
    cache = slub.KmemCache(SlabCache("x", 1024, 4, 1), 4096)
    objs = [cache.alloc("x", f"o{i}") for i in range(5)]
    assert len(cache.slabs) == 2 and cache.bytes == 8192
    for o in objs[:3]:
        cache.free(o)
    assert len(cache.slabs) == 2
    cache.free(objs[3])
    assert len(cache.slabs) == 1 and cache.nr_objects == 1
    again = cache.alloc("x", "again")
    assert again.slab == objs[4].slab
    with pytest.raises(ValueError, match="double free"):
        cache.free(objs[0])


@settings(max_examples=40, deadline=None)
@given(n=st.integers(1, 150), profile=st.sampled_from(["3.10", "6.12"]), side=st.sampled_from(story.SIDES),
       state=st.sampled_from(story.STATES), epoll=st.booleans(), cpus=st.sampled_from([None, 2, 64]))
def test_the_footprint_of_n_connections_equals_running_them_all(n, profile, side, state, epoll, cpus):
    """The replay of a few ends equals N ends run through the packet-level kernel. Requests (SYN_RECV) only while
    the run is shorter than the first SYN-ACK retransmission (1 s: ten ends): later, the retransmissions' freed
    sk_buffs fill NAPI's per-CPU cache, which the footprint leaves out (see its docstring)."""
    if side == "client" and state in ("SYN_RECV", "ACCEPT_QUEUE"):
        return
    p = PROFILES[profile]
    fp = footprint(p, state, side, epoll, cpus)
    n = min(n, fp.max_n, 9 if state == "SYN_RECV" else n)
    assert int(fp.bytes(n)) == sum(story.connections_memory(p, n, side, state, epoll, cpus).values())


def test_a_full_accept_queue_ends_the_footprint():
    fp = footprint(LINUX_3_10, "ACCEPT_QUEUE", "server")
    assert fp.max_n == 129                                   # min(backlog, somaxconn 128) + 1
    with pytest.raises(ValueError, match="n must"):
        fp.bytes(130)


def test_footprint_bytes_work_on_arrays_and_grow_with_n():
    fp = footprint(LINUX_6_12)
    n = np.arange(0, 2000)
    b = fp.bytes(n)
    assert b[0] == 0 and (b >= 0).all() and b.shape == n.shape    # not monotonic: NAPI's cache refills in bulk
    assert b[-1] / 1999 == pytest.approx(fp.per_connection, rel=0.01)
    with pytest.raises(ValueError, match="n must"):
        fp.bytes(np.array([1.5]))
    with pytest.raises(ValueError, match="n must"):
        fp.bytes(-1)


def test_bad_states_and_sides_are_refused():
    with pytest.raises(ValueError, match="server-side"):
        footprint(LINUX_6_12, "SYN_RECV", "client")
    with pytest.raises(ValueError, match="state must be"):
        footprint(LINUX_6_12, "LISTEN")
    with pytest.raises(ValueError, match="side must be"):
        story.connection_trace(LINUX_6_12, "peer")
    with pytest.raises(TypeError, match="profile"):
        story.MemoryLab("6.12")


# --- traces: what socket(), accept() and close() allocate -------------------------------------------------------

def test_the_time_wait_trace_allocates_then_trades_the_socket_for_a_timewait_sock():
    trace = story.connection_trace(LINUX_6_12, "client", "TIME_WAIT", expire=True)
    names = trace.functions()
    assert names.index("sk_prot_alloc") < names.index("inet_bind_bucket_create") < names.index("tcp_time_wait")
    allocs = [e.text for e in trace.filter("kmem_cache_alloc")]
    assert any("tw_sock_TCP" in t for t in allocs) and any("tcp_bind2_bucket" in t for t in allocs)
    states = [e.state.state for e in trace]
    assert "ESTABLISHED" in states and "TIME_WAIT" in states and states[-1] == "CLOSE"
    assert trace[-1].state.objects == ()                # after 60 s the end holds nothing
    assert trace.filter("inet_twsk_kill")[0].time_ns >= 60 * 10 ** 9


def test_socket_at_the_fd_limit_builds_the_socket_then_frees_it_and_accept_leaves_the_connection_queued():
    trace = story.fd_limit_trace(6)
    calls = trace.filter(kind="call")
    sockets = [e for e in calls if e.function == "__sys_socket"]
    assert len(sockets) == 3                            # fds 4 and 5, then EMFILE (3 is the listener)
    last, accept = sockets[-1], trace.filter("__sys_accept4")[0]
    objects = [e.state.slab_objects for e in trace[last.seq:accept.seq]]
    assert max(objects) > objects[0] and objects[-1] == trace[last.seq - 1].state.slab_objects   # built, freed
    assert trace.filter("sock_release")
    assert trace[-1].state.fdtable.open_fds == 6
    assert not trace.filter("inet_csk_accept")         # EMFILE before the queue is touched: the connection waits


def _sockets(lab, side, count):
    """Run ``count`` socket() calls as ``side``'s program; their return values."""
    out = []

    def body():
        for i in range(count):
            out.append(__sys_socket(lab.client.net, AF_INET, SOCK_STREAM, 0, f"s{i}"))
        return
        yield

    lab.do(side, "socket", body())
    return out


def test_enfile_when_the_system_holds_file_max_files():
    lab = story.MemoryLab(LINUX_6_12, max_files=2)
    before = lab.client.slab.caches["TCP"].nr_objects
    with Tracer() as tracer:
        a, b, c = _sockets(lab, "client", 3)
    assert a >= 0 and b >= 0 and c == -ENFILE
    assert any("file-max" in e.text for e in tracer.trace)
    assert lab.client.slab.caches["TCP"].nr_objects == before + 2 and lab.client.cpus[0].files_stat.nr_files == 2


def test_emfile_before_enfile():
    lab = story.MemoryLab(LINUX_6_12, nofile=4, max_files=3)
    assert _sockets(lab, "client", 2)[1] == -EMFILE       # fds 0–2 are taken in a process, 3 is the first socket


# --- buffers ----------------------------------------------------------------------------------------------------

def test_buffers_cost_only_while_data_waits():
    assert memory.queued_data_memory(LINUX_6_12, 0).bytes == 0
    q = memory.queued_data_memory(LINUX_6_12, 100_000, per_skb=1448)
    assert q.skbs == 70 and q.truesize > 100_000 and q.bytes >= q.truesize and q.bytes % 4096 == 0
    assert memory.queued_data_memory(LINUX_6_12, 10 ** 7).over_limit
    with pytest.raises(ValueError, match="payload"):
        memory.queued_data_memory(LINUX_6_12, -1)


def test_chapter_06s_exercises_have_the_answers_their_explanations_give():
    few, many = (slub.slab_layouts(LINUX_3_10, nr_cpus=c)["sock_inode_cache"].objs_per_slab for c in (2, 64))
    assert many > few and many == 51
    per_tw = int(footprint(LINUX_3_10, "TIME_WAIT", "client", nr_cpus=2).bytes(50_000)) / 50_000
    assert 350 < per_tw < 420 and per_tw > 256 + 64      # more than its own objects: kmalloc-64 stays half full


@pytest.mark.parametrize("profile, parent", [(LINUX_6_12, "alloc_file_pseudo"), (LINUX_3_10, "sock_alloc_file")])
def test_the_socket_files_dentry_is_made_where_each_kernel_makes_it(profile, parent):
    """6.12: sock_alloc_file → alloc_file_pseudo → d_alloc_pseudo, alloc_file; 3.10 (net/socket.c): sock_alloc_file
    calls d_alloc_pseudo and alloc_file itself, and alloc_file calls get_empty_filp."""
    calls = [e for e in story.connection_trace(profile, "client", "ESTABLISHED") if e.kind == "call"]
    def caller(name):
        i = next(i for i, e in enumerate(calls) if e.function == name)
        return next(e.function for e in reversed(calls[:i]) if e.depth == calls[i].depth - 1)
    assert caller("d_alloc_pseudo") == parent
    assert caller("alloc_file") == parent
    assert caller(profile.renamed.get("alloc_empty_file", ("alloc_empty_file",))[0]) == "alloc_file"
