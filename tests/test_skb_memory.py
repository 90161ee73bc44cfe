"""sk_buffs on a host that models memory: each is charged to the slab caches the kernel takes it from, in the kernel
function that takes it, and given back where the kernel frees it — the FIN a CLOSE_WAIT socket holds is what chapter
06's model says, and a whole journey leaves nothing behind but NAPI's per-CPU cache of free sk_buffs."""
import re

import pytest

from netlab.kernel import tcp_input
from netlab.kernel.profiles import PROFILES
from netlab.kernel.source_index import kernel_index
from netlab.kernel.skbuff import (FCLONE_CLONE, FCLONE_UNAVAILABLE, NAPI_SKB_CACHE_BULK, NAPI_SKB_CACHE_HALF,
                                  NAPI_SKB_CACHE_SIZE, alloc_skb, alloc_skb_fclone, consume_skb, kfree_skb,
                                  kmalloc_cache, napi_alloc_cache, napi_build_skb, napi_consume_skb,
                                  napi_skb_cache_put, skb_clone)
from netlab.scenarios.journey import Journey, chapter_of
from netlab.scenarios.receive import Host

SKB_CACHES = ("skbuff_head_cache", "skbuff_fclone_cache", "skbuff_small_head")
FIN_HEAD_3_10 = "kmalloc-1024"
"""3.10's head of an skb with MAX_TCP_HEADER (a FIN, an ACK): 320 + 320 B (tools/kernel_sizes.py checks it)."""
ALLOCATED_BY = {"skbuff_head_cache": {"__alloc_skb", "skb_clone", "build_skb"}, "skbuff_fclone_cache": {"__alloc_skb"},
                "skbuff_small_head": {"__alloc_skb"}, "kmalloc": {"__alloc_skb"}}
"""The kernel function each cache's sk_buff objects come from (kmalloc: a kmalloc'd head, ``kmalloc_reserve``)."""
FREED_BY = {"skbuff_head_cache": "kfree_skbmem", "skbuff_fclone_cache": "kfree_skbmem",
            "skbuff_small_head": "skb_free_head", "kmalloc": "skb_free_head"}


def _is_skb_cache(cache: str) -> bool:
    return cache in SKB_CACHES or cache.startswith("kmalloc-")


def _skb_objects(host: Host) -> list:
    """The sk_buff objects (sk_buffs, fclone pairs, heads) allocated on ``host`` now."""
    return [o for c in host.slab.caches.values() for slots in c.slabs.values() for o in slots
            if o is not None and _is_skb_cache(o.cache)]


def _run(profile: str, over: str) -> Journey:
    journey = Journey(profile=profile, over=over, memory=True)
    journey.run()
    return journey


def _slab_steps(trace):
    """(event, its caller's function, cache) for every slab allocation and free of an sk_buff object."""
    callers: dict[int, str] = {}
    steps = []
    for e in trace:
        if e.kind != "call":
            continue
        callers[e.depth] = e.function
        if e.function in ("kmem_cache_alloc", "kmem_cache_free"):
            cache = (re.match(r"a (\S+) object for", e.text) if e.function == "kmem_cache_alloc"
                     else re.search(r"\((\S+)\)$", e.text)).group(1)
        elif e.function in ("kmem_cache_alloc_bulk", "kmem_cache_free_bulk"):
            cache = "skbuff_head_cache" if "skbuff_head_cache" in e.text else ""
        else:
            continue
        if _is_skb_cache(cache):
            steps.append((e, callers[e.depth - 1], cache))
    return steps


@pytest.mark.parametrize("over", ["link", "loopback"])
@pytest.mark.parametrize("profile", ["6.12", "3.10"])
def test_a_journey_frees_every_skb_it_allocated_but_what_napi_keeps_for_the_next_packets(profile, over):
    """After the whole story (TIME_WAIT over) no sk_buff, fclone pair or head is left on either host, except the free
    sk_buffs in each CPU's napi_alloc_cache (6.12 only: 3.10 has none)."""
    journey = _run(profile, over)
    for host in dict.fromkeys((journey.client, journey.server)):
        cached = [o for cpu in host.cpus for o in napi_alloc_cache(cpu).skb_cache]
        assert sorted(map(id, _skb_objects(host))) == sorted(map(id, cached)), host.name
        assert all(o.cache == "skbuff_head_cache" for o in cached)
        assert all(len(napi_alloc_cache(cpu).skb_cache) < NAPI_SKB_CACHE_SIZE for cpu in host.cpus)
        if not PROFILES[profile].napi_skb_cache:
            assert not cached
    if over == "link" and PROFILES[profile].napi_skb_cache:
        assert any(napi_alloc_cache(cpu).skb_cache for cpu in journey.server.cpus)   # the receive side's cache


@pytest.mark.parametrize("over", ["link", "loopback"])
@pytest.mark.parametrize("profile", ["6.12", "3.10"])
def test_each_skb_object_is_allocated_and_freed_by_the_kernel_function_that_does_it(profile, over):
    journey = Journey(profile=profile, over=over, memory=True)
    steps = _slab_steps(journey.run())
    allocs = [(e, caller, cache) for e, caller, cache in steps if "alloc" in e.function]
    frees = [(e, caller, cache) for e, caller, cache in steps if "free" in e.function]
    assert allocs and frees
    for e, caller, cache in allocs:
        if e.function == "kmem_cache_alloc_bulk":
            assert caller == "napi_skb_cache_get"
        else:
            assert caller in ALLOCATED_BY["kmalloc" if cache.startswith("kmalloc-") else cache], (caller, e.text)
    for e, caller, cache in frees:
        if e.function == "kmem_cache_free_bulk":
            assert caller == "napi_skb_cache_put"
        else:
            assert caller == FREED_BY["kmalloc" if cache.startswith("kmalloc-") else cache], (caller, e.text)
    heads = {cache for _, _, cache in allocs if cache not in ("skbuff_head_cache", "skbuff_fclone_cache")}
    assert heads == ({"skbuff_small_head"} if profile == "6.12" else {FIN_HEAD_3_10})


@pytest.mark.parametrize("over", ["link", "loopback"])
@pytest.mark.parametrize("profile", ["6.12", "3.10"])
def test_every_function_a_memory_journey_names_is_where_its_kernel_defines_it(profile, over):
    index = kernel_index(profile)["functions"]
    named = Journey(profile=profile, over=over, memory=True).run().sources()
    assert not {f: source for f, source in named.items() if index.get(f, {}).get("file") != source}


@pytest.mark.parametrize("over", ["link", "loopback"])
@pytest.mark.parametrize("profile", ["6.12", "3.10"])
def test_the_fin_a_close_wait_socket_holds_is_what_chapter_06_counts(profile, over, monkeypatch):
    """Right after ``tcp_fin`` (CLOSE_WAIT), the FIN waiting in the server connection's receive queue holds the
    caches chapter 06 counts: over loopback the client's own FIN (its fclone pair and its head: 6.12's small head,
    3.10's kmalloc-1024), from a NIC an sk_buff around a page-fragment head."""
    held = []
    tcp_fin = tcp_input.tcp_fin

    def spy(sk):
        tcp_fin(sk)
        if sk.name == "server's connection":
            fin = sk.sk_receive_queue[-1]
            held.append((fin, {o.cache for o in fin.slab_objects + fin.shinfo.slab_objects}, fin.head_frag))

    monkeypatch.setattr(tcp_input, "tcp_fin", spy)
    _run(profile, over)
    (fin, caches, head_frag), = held
    head = "skbuff_small_head" if profile == "6.12" else FIN_HEAD_3_10
    assert caches == ({"skbuff_fclone_cache", head} if over == "loopback" else {"skbuff_head_cache"})
    assert head_frag == (over == "link")
    assert fin.freed and not fin.slab_objects and not fin.shinfo.slab_objects      # recv() read it: freed


@pytest.mark.parametrize("profile", ["6.12", "3.10"])
def test_the_receive_skb_comes_from_the_drivers_build_function(profile):
    """igb: 6.12 ``napi_build_skb`` (the sk_buff from the NAPI cache, refilled in bulk); 3.10
    ``netdev_alloc_skb_ip_align`` → ``__netdev_alloc_skb`` → ``build_skb`` (skbuff_head_cache)."""
    trace = Journey(profile=profile, over="link", memory=True).run()
    callers: dict[int, str] = {}
    built = []
    for e in trace:
        if e.kind == "call":
            callers[e.depth] = e.function
            if e.function in ("napi_build_skb", "build_skb"):
                built.append((callers[e.depth - 1], e.function))
    expected = ("igb_clean_rx_irq", "napi_build_skb") if profile == "6.12" else ("__netdev_alloc_skb", "build_skb")
    assert built and set(built) == {expected}


@pytest.mark.parametrize("profile", ["6.12", "3.10"])
def test_over_loopback_the_receiver_gets_the_senders_skb_itself(profile):
    """``loopback_xmit`` hands the sender's skb on: no receive skb is built, every skb comes from the senders'
    ``__alloc_skb``, and every step belongs to a chapter of the course."""
    trace = Journey(profile=profile, over="loopback", memory=True).run()
    functions = {e.function for e in trace if e.kind == "call"}
    assert "loopback_xmit" in functions and not functions & {"napi_build_skb", "build_skb", "__netdev_alloc_skb"}
    # and every clone TCP sends is its fclone pair's second half: skb_clone allocates nothing
    assert {caller for e, caller, _ in _slab_steps(trace) if "alloc" in e.function} == {"__alloc_skb"}
    assert all(chapter_of(e) for e in trace if e.kind == "call")


def _on(host: Host, fn):
    return host.run_process(0, fn)


@pytest.mark.parametrize("profile", ["6.12", "3.10"])
def test_an_fclone_pairs_one_object_goes_when_both_halves_are_free(profile):
    host = Host(profile, memory=True)

    def story():
        skb = alloc_skb_fclone(320, name="data")
        pair, = skb.slab_objects
        clone = skb_clone(skb)                          # the pair's second half: no new object
        assert clone.fclone == FCLONE_CLONE and clone.slab_objects == [pair] and skb.fclones.fclone_ref == 2
        again = skb_clone(skb, name="tap")              # the second half is taken: a new sk_buff
        assert again.fclone == FCLONE_UNAVAILABLE and again.slab_objects[0].cache == "skbuff_head_cache"
        head, = skb.shinfo.slab_objects
        consume_skb(again)
        consume_skb(clone)                              # TX completion first: the pair stays for the original
        assert skb.fclones.fclone_ref == 1 and skb.slab_objects == [pair] and skb.shinfo.slab_objects == [head]
        consume_skb(skb)                                # the ACK: the pair and the head go
        return pair, head

    pair, head = _on(host, story)
    assert pair.cache == "skbuff_fclone_cache"
    assert head.cache == ("skbuff_small_head" if profile == "6.12" else FIN_HEAD_3_10)
    assert not _skb_objects(host)


def test_a_head_too_big_for_skbuff_small_head_is_kmalloced_and_the_profile_must_have_that_cache():
    assert kmalloc_cache(640) == "kmalloc-1024" and kmalloc_cache(96) == "kmalloc-96"
    host = Host("3.10", memory=True)
    assert _on(host, lambda: alloc_skb(320).shinfo.slab_objects[0].cache) == "kmalloc-1024"
    assert _on(host, lambda: alloc_skb(1024 - 320).shinfo.slab_objects[0].cache) == "kmalloc-1024"
    with pytest.raises(ValueError, match="kmalloc-2048"):          # neither profile has a kmalloc-2048 row
        _on(Host("6.12", memory=True), lambda: alloc_skb(1500))
    with pytest.raises(ValueError, match="whole pages"):
        kmalloc_cache(10_000)


def test_napis_cache_takes_sk_buffs_in_bulk_and_gives_half_back_when_full():
    host = Host("6.12", memory=True)
    nc = napi_alloc_cache(host.cpus[0])

    def story():
        skbs = [napi_build_skb(2048, name=f"rx{i}") for i in range(NAPI_SKB_CACHE_SIZE + 1)]
        assert len(nc.skb_cache) == NAPI_SKB_CACHE_BULK - 1 - (NAPI_SKB_CACHE_SIZE % NAPI_SKB_CACHE_BULK)
        assert all(s.head_frag and not s.shinfo.slab_objects for s in skbs)
        for skb in skbs:
            napi_consume_skb(skb, 64)
        return skbs

    skbs = _on(host, story)
    allocated = (NAPI_SKB_CACHE_SIZE // NAPI_SKB_CACHE_BULK + 1) * NAPI_SKB_CACHE_BULK
    freed_in_bulk = allocated - len(nc.skb_cache)
    assert freed_in_bulk % NAPI_SKB_CACHE_HALF == 0 and len(nc.skb_cache) < NAPI_SKB_CACHE_SIZE
    assert sorted(map(id, _skb_objects(host))) == sorted(map(id, nc.skb_cache))
    assert all(not s.slab_objects for s in skbs)


def test_napi_skb_cache_put_keeps_a_dropped_skb_for_the_next_receive():
    host = Host("6.12", memory=True)

    def story():
        skb = napi_build_skb(2048, name="rx")
        obj, = skb.slab_objects
        kfree_skb(skb)                                   # not NAPI's free: straight back to skbuff_head_cache
        other = napi_build_skb(2048, name="rx2")
        napi_consume_skb(other, 64)
        return obj

    obj = _on(host, story)
    assert obj not in napi_alloc_cache(host.cpus[0]).skb_cache
    assert len(napi_alloc_cache(host.cpus[0]).skb_cache) == NAPI_SKB_CACHE_BULK - 1
    with pytest.raises(TypeError):
        napi_skb_cache_put("rx")


def test_without_memory_no_skb_step_of_the_allocator_is_taken():
    """A host that does not model memory (every other chapter): no slab objects, no memory steps."""
    host = Host("6.12")

    def story():
        skb = alloc_skb_fclone(320)
        clone = skb_clone(skb)
        consume_skb(clone)
        consume_skb(skb)
        return skb, clone

    skb, clone = _on(host, story)
    assert not skb.slab_objects and not skb.shinfo.slab_objects and not clone.slab_objects
    assert skb.fclones.fclone_ref == 0 and skb.freed and clone.freed
