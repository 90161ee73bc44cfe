"""GRO for TCP over IPv4: which held skb a segment continues, and when a merge must end.

Models net/ipv4/tcp_offload.c (Linux 6.12: ``tcp4_gro_receive``, ``tcp_gro_receive``, ``tcp4_gro_complete``,
``tcp_gro_complete``; 3.10 has the first and third in net/ipv4/tcp_ipv4.c, the others in net/ipv4/tcp.c).

``tcp_gro_receive`` finds the held skb of the segment's ports among those ``inet_gro_receive`` left as its flow
(``tcp_gro_lookup``). It merges the segment (``skb_gro_receive``) only if nothing forces a flush: CWR, any other
flag different (all but CWR, FIN and PSH), a different ACK number or options, more payload than the held skb's
``gso_size`` (the first segment's: the mss) or none at all, a sequence number that does not continue the held skb.
Then — merged or not — a segment shorter than the mss, or with URG, PSH, RST, SYN or FIN, ends it: the held skb
goes on (returned to ``dev_gro_receive``), and a segment that did not merge is not held (GRO_NORMAL). A flushed
held skb makes room: the segment, if nothing ends it, starts a new one. ``tcp_gro_complete`` records how many
segments the merged skb carries (``gso_segs``) for the stack above: TCP counts them for its ACKs, ``tcpdump`` sees
one big packet.

The model's segments carry no TCP option values (every segment has the same timestamp option) and no checksum
errors (``tcp4_gro_receive``'s checksum check passes), so those never flush.
"""
from __future__ import annotations

from netlab.kernel.dev import NAPI_GRO_CB, skb_gro_len
from netlab.kernel.gro import skb_gro_receive
from netlab.kernel.skbuff import SkBuff
from netlab.kernel.tcp_output import TCP_HLEN
from netlab.trace import kernel_function, trace_printk

TCP_FLUSH_FLAGS = frozenset({"URG", "PSH", "RST", "SYN", "FIN"})
"""Flags that end a merge (``tcp_gro_receive``'s ``out_check_final``)."""


def _seq(x: int) -> int:
    return x & 0xFFFFFFFF


@kernel_function("net/ipv4/tcp_offload.c", "GRO, TCP layer: check {skb.name}'s checksum, read its header")
def tcp4_gro_receive(head: list[SkBuff], skb: SkBuff) -> SkBuff | None:
    """The checksum (valid here), ``tcp_gro_pull_header`` (GRO reads past the TCP header), ``tcp_gro_receive``."""
    NAPI_GRO_CB(skb).data_offset += TCP_HLEN
    return tcp_gro_receive(head, skb)


@kernel_function("net/ipv4/tcp_offload.c", lambda head, skb: f"GRO: does {skb.name} (seq {_seq(skb.meta['seq'])}, "
                 f"{skb_gro_len(skb)} bytes) continue a held skb of its flow?")
def tcp_gro_receive(head: list[SkBuff], skb: SkBuff) -> SkBuff | None:
    """Merge into the flow's held skb if nothing flushes; returns the held skb to pass on now (the merge ended,
    or it could not take this segment), else None. Sets ``NAPI_GRO_CB(skb)->flush`` if this segment must not be
    held."""
    m, cb = skb.meta, NAPI_GRO_CB(skb)
    length = skb_gro_len(skb)
    flags = frozenset(m.get("flags", ()))
    mss = 1
    p = None
    for held in head:                                     # tcp_gro_lookup
        hcb = NAPI_GRO_CB(held)
        if not hcb.same_flow:
            continue
        if (held.meta["sport"], held.meta["dport"]) != (m["sport"], m["dport"]):
            hcb.same_flow = False
            continue
        p = held
        break
    if p is not None:
        pm = p.meta
        pflags = frozenset(pm.get("flags", ()))
        why = ("CWR" if "CWR" in flags else
               "other flags" if (flags ^ pflags) - {"CWR", "FIN", "PSH"} else
               "another ACK number" if m.get("ack_seq") != pm.get("ack_seq") else
               f"more than the mss ({p.shinfo.gso_size})" if (length - 1) & 0xFFFFFFFF >= p.shinfo.gso_size else
               "a gap in the sequence" if _seq(pm["seq"] + skb_gro_len(p)) != _seq(m["seq"]) else "")
        mss = p.shinfo.gso_size
        if why:
            trace_printk(f"{skb.name} cannot join {p.name}: {why}; {p.name} goes on")
        if why or skb_gro_receive(p, skb):
            mss = 1
        else:
            pm["flags"] = tuple(sorted(pflags | (flags & {"FIN", "PSH"})))
    flush = length < mss or bool(flags & TCP_FLUSH_FLAGS)
    if flush and cb.same_flow:
        trace_printk(f"{skb.name} ends the merge (" + ("shorter than the mss" if length < mss else
                     "/".join(sorted(flags & TCP_FLUSH_FLAGS))) + f"): {p.name} goes on")
    cb.flush |= flush
    return p if p is not None and (not cb.same_flow or flush) else None


@kernel_function("net/ipv4/tcp_offload.c", "{skb.name}: fix the TCP header of the merged skb")
def tcp4_gro_complete(skb: SkBuff, thoff: int) -> int:
    """The pseudo-header checksum of the whole, then ``tcp_gro_complete``."""
    return tcp_gro_complete(skb)


@kernel_function("net/ipv4/tcp_offload.c", lambda skb: f"{skb.name} carries {NAPI_GRO_CB(skb).count} segments "
                 "(gso_segs)")
def tcp_gro_complete(skb: SkBuff) -> int:
    """``CHECKSUM_PARTIAL`` and ``gso_segs = NAPI_GRO_CB(skb)->count``: the stack sees one skb of that many segments of
    ``gso_size`` bytes each."""
    skb.meta["gso_segs"] = NAPI_GRO_CB(skb).count
    return 0
