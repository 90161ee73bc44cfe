"""GRO, the receive half: merging consecutive TCP segments of one flow into one held sk_buff.

Models net/core/gro.c (Linux 6.12; 3.10: net/core/dev.c and net/core/skbuff.c). The driver offers each skb to
``napi_gro_receive`` → ``dev_gro_receive``:

* ``gro_list_prepare`` marks the held skbs of the skb's bucket that may be its flow (6.12: same hash, device and
  MAC header; 3.10: device and MAC header, in its one ``gro_list``); the protocol's ``gro_receive`` narrows that
  down (``inet_gro_receive``: addresses and protocol; ``tcp4_gro_receive`` → ``tcp_gro_receive``: ports) and decides.
* ``tcp_gro_receive`` merges the segment into its flow's held skb (``skb_gro_receive``: its data becomes a page
  fragment of the held skb, or, past ``MAX_SKB_FRAGS``, 6.12 chains it on the frag_list) only if it continues it:
  the next sequence number, the same ACK number, flags and options, no CWR, no more payload than the first
  segment's (the held skb's ``gso_size``, the mss), and the whole stays under 64 KB (``GRO_LEGACY_MAX_SIZE``, the
  default ``gro_max_size``; 3.10 also stops at ``MAX_SKB_FRAGS`` fragments). Otherwise the held skb is passed on
  (``napi_gro_complete``) and the segment may start a new one. A segment with PSH, FIN, URG, RST or SYN, or shorter
  than the mss, ends the merge: the held skb goes on with it. A segment that ends a merge without a held skb, a
  pure ACK (no payload), and any packet without a GRO handler (UDP without a UDP GRO socket, ``udp4_gro_receive``)
  is GRO_NORMAL.
* A new held skb goes to the head of its bucket's list; a bucket holds at most ``MAX_GRO_SKBS`` (8): 6.12 passes
  its oldest on (``gro_flush_oldest``), 3.10 (one list of 8 for all flows) lets the new skb go on as GRO_NORMAL.
* ``napi_skb_finish`` passes a GRO_NORMAL skb on, and frees what a merge left of a GRO_MERGED_FREE one.

The hand-off half — ``napi_gro_complete``, ``napi_gro_flush`` (at the end of every poll: ``napi_complete_done``
passes everything on, a NAPI that stays scheduled what is older than this jiffy) and the rx_list batch — is in
:mod:`netlab.kernel.dev`, beside the NAPI code that calls it.

Costs: the driver's ``Costs.driver_ns`` per descriptor covers offering the skb to GRO; ``Costs.stack_ns`` is
charged once per skb when GRO passes it on (here for GRO_NORMAL, in ``napi_gro_complete`` for a held skb, however
many segments it carries), so a merged segment costs only its ``driver_ns``.
"""
from __future__ import annotations

from netlab.kernel.cpu import this_cpu
from netlab.kernel.dev import (ETH_P_IP, GRO_HELD, GRO_MERGED, GRO_MERGED_FREE, GRO_NORMAL, NAPI_GRO_CB, NapiStruct,
                               goes_up_here, gro_normal_one, napi_gro_complete, netif_receive_skb, offload_base,
                               skb_gro_len)
from netlab.kernel.skbuff import MAX_SKB_FRAGS, SIZEOF_SK_BUFF, SKB_DATA_ALIGN, SkBuff, napi_skb_free_stolen_head
from netlab.trace import kernel_function, trace_printk

MAX_GRO_SKBS = 8                # net/core/gro.c (3.10: net/core/dev.c): held skbs per bucket (3.10: in all)
GRO_LEGACY_MAX_SIZE = 65536     # include/linux/netdevice.h: a merged skb stays below it (dev->gro_max_size)
E2BIG = 7


@kernel_function("net/core/gro.c", "hand {skb.name} to GRO")
def napi_gro_receive(napi: NapiStruct, skb: SkBuff) -> str:
    """``napi_skb_finish(napi, skb, dev_gro_receive(napi, skb))``; returns the ``gro_result``."""
    skb.meta.pop("napi_gro_cb", None)      # skb_gro_reset_offset: GRO has read no header yet
    return napi_skb_finish(napi, skb, dev_gro_receive(napi, skb))


@kernel_function("net/core/gro.c", lambda napi, skb: f"{skb.name}: merge, hold or pass on? (GRO bucket "
                 f"{_bucket(skb)}, {len(napi.gro_hash[_bucket(skb)])} held)")
def dev_gro_receive(napi: NapiStruct, skb: SkBuff) -> str:
    """Mark the bucket's candidates (``gro_list_prepare``), let the protocol decide (``inet_gro_receive``), pass on
    the held skb it returns (``napi_gro_complete``); then a merged skb is done, a flushed one is GRO_NORMAL, and any
    other is held — at the head of its bucket, with ``age`` = jiffies and ``gso_size`` = its payload (the mss later
    segments must not exceed)."""
    cpu = this_cpu()
    gro_list = napi.gro_hash[_bucket(skb)]
    ptype = offload_base.get(skb.meta.get("ethertype", ETH_P_IP))
    if ptype is None:
        return GRO_NORMAL
    gro_list_prepare(gro_list, skb)
    cb = NAPI_GRO_CB(skb)
    pp = ptype.gro_receive(gro_list, skb)
    ret = GRO_MERGED_FREE if cb.free else GRO_MERGED
    if pp is not None:
        gro_list.remove(pp)
        napi_gro_complete(napi, pp)
    if cb.same_flow:
        return ret
    if cb.flush:
        return GRO_NORMAL
    if len(gro_list) >= MAX_GRO_SKBS:
        if not cpu.profile.gro_flush_oldest:
            trace_printk(f"gro_count = MAX_GRO_SKBS = {MAX_GRO_SKBS}: no room to hold {skb.name}, GRO_NORMAL")
            return GRO_NORMAL
        gro_flush_oldest(napi, gro_list)
    cb.age = cpu.jiffies
    skb.shinfo.gso_size = skb_gro_len(skb)
    gro_list.insert(0, skb)
    return GRO_HELD


def _bucket(skb: SkBuff) -> int:
    """``skb_get_hash_raw(skb) & (GRO_HASH_BUCKETS - 1)``; 3.10 (one bucket): 0."""
    return skb.meta.get("hash", 0) & (this_cpu().profile.gro_hash_buckets - 1)


@kernel_function("net/core/gro.c", lambda head, skb: f"which of the {len(head)} held skbs may be {skb.name}'s flow?")
def gro_list_prepare(head: list[SkBuff], skb: SkBuff) -> None:
    """``same_flow`` for each held skb: 6.12 the same hash (``skb_get_hash_raw``), device and Ethernet header; 3.10
    compares no hash (and clears each one's ``flush``). The protocol layers narrow it down."""
    hashed = this_cpu().profile.gro_hash_buckets > 1
    for p in head:
        cb = NAPI_GRO_CB(p)
        cb.same_flow = ((not hashed or p.meta.get("hash", 0) == skb.meta.get("hash", 0))
                        and p.meta.get("dev") is skb.meta.get("dev"))
        cb.flush = False


@kernel_function("net/core/gro.c", lambda napi, head: f"bucket full ({MAX_GRO_SKBS} held): pass the oldest, "
                 f"{head[-1].name}, on")
def gro_flush_oldest(napi: NapiStruct, head: list[SkBuff]) -> None:
    """6.12: make room for a new held skb by passing the bucket's oldest on."""
    napi_gro_complete(napi, head.pop())


@kernel_function("net/core/gro.c", lambda p, skb: f"merge {skb.name}'s {skb_gro_len(skb)} bytes into {p.name}")
def skb_gro_receive(p: SkBuff, skb: SkBuff) -> int:
    """The merge: -E2BIG if the whole would reach ``GRO_LEGACY_MAX_SIZE``. Else the segment's payload, in the head
    the driver built around its page buffer, becomes a page fragment of the held skb (or of the last skb on its
    frag_list), whose sk_buff is freed (``NAPI_GRO_FREE_STOLEN_HEAD``); past ``MAX_SKB_FRAGS`` fragments 6.12 chains
    the segment itself on the frag_list (``NAPI_GRO_CB(p)->last``), 3.10 refuses (-E2BIG). ``count``, ``len``,
    ``data_len`` and ``truesize`` of the held skb grow."""
    length = skb_gro_len(skb)
    pcb, cb = NAPI_GRO_CB(p), NAPI_GRO_CB(skb)
    if p.len + length >= GRO_LEGACY_MAX_SIZE or cb.flush:
        trace_printk(f"{p.len} + {length} bytes would reach GRO_LEGACY_MAX_SIZE ({GRO_LEGACY_MAX_SIZE}): -E2BIG")
        return -E2BIG
    lp = pcb.last or p
    if lp.shinfo.nr_frags + 1 <= MAX_SKB_FRAGS:
        lp.shinfo.frags.append(length)
        lp.shinfo.frag_pages.append(f"{skb.name}'s page")
        delta_truesize = skb.truesize - SKB_DATA_ALIGN(SIZEOF_SK_BUFF)
        skb.truesize = SKB_DATA_ALIGN(SIZEOF_SK_BUFF)
        cb.free = "NAPI_GRO_FREE_STOLEN_HEAD"
    elif not this_cpu().profile.gro_frag_list:
        trace_printk(f"{p.name} has MAX_SKB_FRAGS = {MAX_SKB_FRAGS} fragments: -E2BIG")
        return -E2BIG
    else:
        trace_printk(f"{lp.name} has MAX_SKB_FRAGS = {MAX_SKB_FRAGS} fragments: chain {skb.name} on the frag_list")
        p.meta.setdefault("frag_list", []).append(skb)
        skb.data += cb.data_offset          # __skb_pull(skb, offset): only its payload stays
        skb.len -= cb.data_offset
        delta_truesize = skb.truesize
        pcb.last, lp = skb, p
    pcb.count += cb.count
    for held in (p,) if lp is p else (p, lp):
        held.len += length
        held.data_len += length
        held.truesize += delta_truesize
    cb.same_flow = True
    return 0


@kernel_function("net/core/gro.c", lambda napi, skb, ret: f"{ret}: " + {
    GRO_NORMAL: f"pass {skb.name} on", GRO_HELD: f"GRO holds {skb.name}",
    GRO_MERGED: f"{skb.name} is on a held skb's frag_list", GRO_MERGED_FREE: f"free {skb.name}'s sk_buff"}[ret])
def napi_skb_finish(napi: NapiStruct, skb: SkBuff, ret: str) -> str:
    """GRO_NORMAL: 6.12 batches the skb (``gro_normal_one``), 3.10 sends it straight up (``netif_receive_skb``); its
    trip up the stack costs ``Costs.stack_ns``, charged here (when RPS steers it: where ``process_backlog`` takes
    it, :func:`~netlab.kernel.dev.goes_up_here`). GRO_MERGED_FREE: its data went into the held skb, the sk_buff
    itself goes (``napi_skb_free_stolen_head``: 6.12 to this CPU's NAPI cache, 3.10 to skbuff_head_cache).
    GRO_HELD, GRO_MERGED: GRO keeps it."""
    if ret == GRO_NORMAL:
        cpu = this_cpu()
        if goes_up_here(skb):
            cpu.charge(cpu.costs.stack_ns)
        napi.gro_passed += 1
        if cpu.profile.gro_normal_batch is None:
            netif_receive_skb(skb)
        else:
            gro_normal_one(napi, skb, 1)
    elif ret == GRO_MERGED_FREE:
        napi_skb_free_stolen_head(skb)
    return ret
