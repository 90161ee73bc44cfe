"""TCP send: from send() to IP, and the ACK that lets the kernel forget the data.

Models net/ipv4/tcp.c (``tcp_sendmsg``), net/ipv4/tcp_output.c (``tcp_write_xmit``, ``__tcp_transmit_skb``,
``tcp_send_ack``, ``tcp_send_fin``, ``tcp_send_active_reset``), net/ipv4/tcp_timer.c (``tcp_delack_timer_handler``),
net/ipv4/tcp_input.c (``tcp_ack``, ``tcp_clean_rtx_queue``), include/net/tcp.h, include/net/sock.h
(``skb_copy_to_page_nocache``) and the payload helpers of net/core/skbuff.c (``skb_splice_from_iter``,
``skb_zerocopy_iter_stream``) in Linux 6.12.

1. ``tcp_sendmsg_locked`` fills skbs of up to ``size_goal`` bytes (one MSS without GSO; many MSS with GSO, which
   TCP always has in 6.12: ``sk_setup_caps`` adds NETIF_F_GSO for TCP). The user's bytes are **copied** into page
   fragments (``skb_copy_to_page_nocache``: copy 1) unless the caller passes pages: ``MSG_SPLICE_PAGES``
   (sendfile, splice: page-cache pages referenced) or ``MSG_ZEROCOPY`` (the user's pages pinned).
2. ``tcp_push`` → ``__tcp_push_pending_frames`` → ``tcp_write_xmit`` checks the congestion window
   (``tcp_cwnd_test``), the receiver's window (``tcp_snd_wnd_test``) and Nagle (``tcp_nagle_test``), may split an
   skb (``tso_fragment``: page references move, bytes do not), and transmits.
3. ``__tcp_transmit_skb`` **clones** the skb (copy 2, a shallow one: a new sk_buff head, the data shared,
   ``dataref`` = 2) and sends the clone down to IP. The original stays on the retransmit queue.
4. The clone is freed when the NIC has sent it (TX completion); the original only when the ACK covers it
   (``tcp_ack`` → ``tcp_clean_rtx_queue``): then ``dataref`` reaches 0 and the data is freed.

5. Segments without data: a pure ACK (``tcp_send_ack``; a due ACK may wait, ``tcp_send_delayed_ack``, and rides
   on the next segment out, ``tcp_event_ack_sent``), the FIN (``tcp_send_fin``: one sequence number, sent and
   retransmit-queued like data) and the RST of an abort (``tcp_send_active_reset``).

The sending fields of ``struct tcp_sock`` (windows, queues, offload flags) are in
:class:`netlab.kernel.inet_connection_sock.TcpSock`, next to those of the handshake.

Left out: TCP small queues, TSO autosizing from the pacing rate (``max_segs`` is ``sk_gso_max_size / mss``),
``tcp_tso_should_defer``, autocorking, SACK and retransmission, and waiting for send-buffer space.
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from netlab import check
from netlab.check import Port
from netlab.kernel.copies import account_copy, account_head, account_refs
from netlab.kernel.inet_connection_sock import MS, TcpSock, endpoint
from netlab.kernel.ip_output import ip_queue_xmit
from netlab.kernel.netns import Net
from netlab.kernel.skbuff import MAX_SKB_FRAGS, SIZEOF_SK_BUFF, SKBFL_SHARED_FRAG, SKBFL_ZEROCOPY_ENABLE, SkBuff, \
    __kfree_skb, alloc_skb_fclone, skb_add_frag, skb_clone, skb_push, skb_reserve
from netlab.kernel.timer import TimerList
from netlab.trace import kernel_function, trace_printk

TCP_NAGLE_OFF, TCP_NAGLE_CORK, TCP_NAGLE_PUSH = 1, 2, 4
MSG_MORE, MSG_ZEROCOPY, MSG_SPLICE_PAGES = 0x8000, 0x4000000, 0x8000000
MAX_TCP_HEADER = 320          # L1_CACHE_ALIGN(128 + MAX_HEADER) with Debian's config
GSO_MAX_SEGS = 65535          # include/linux/netdevice.h: sk_gso_max_segs of a device that sets none (both kernels)
TCP_HLEN = 32                 # 20 bytes + 12 of timestamp option
TCP_SYN_HLEN = 40             # a SYN's or SYN-ACK's: MSS 4, SACK-permitted 2, timestamps 10, NOP 1, window scale 3
PURE_ACK_LEN = 20 + TCP_HLEN  # an IP packet carrying only a TCP header
TCP_INIT_CWND = 10
SK_PAGE_FRAG_SIZE = 32768     # sk_page_frag refills with order-3 (32 KiB) pages
PAGE_SIZE = 4096
TCP_DELACK_MIN = 40 * MS      # include/net/tcp.h: HZ/25, also TCP_ATO_MIN: the first delayed-ACK timeout


@dataclass(eq=False)
class MsgHdr:
    """``struct msghdr``: ``size`` bytes with ``flags``. For MSG_SPLICE_PAGES and MSG_ZEROCOPY, ``pages`` names
    the pages holding the bytes as (page, bytes) pairs (the iov_iter's bio_vec or the user's pages). ``name`` is
    what a trace calls the message (``request``): the skbs ``tcp_sendmsg`` starts for it are named ``request``,
    ``request 2``, … instead of the socket's ``skb1``, ``skb2``, …"""

    size: int
    flags: int = 0
    pages: list[tuple[str, int]] | None = None
    name: str = ""

    def __post_init__(self):
        check.fields(self)
        if not isinstance(self.size, int) or self.size < 0:
            raise ValueError("size must be an int >= 0")
        if self.pages is not None and sum(n for _, n in self.pages) < self.size:
            raise ValueError("pages must hold at least size bytes")
        self._left = deque(self.pages or [])

    @check.arguments
    def take(self, maxsize: int) -> list[tuple[str, int]]:
        """Extract up to ``maxsize`` bytes as (page, bytes) pieces (``iov_iter_extract_pages``)."""
        pieces = []
        while maxsize and self._left:
            page, n = self._left[0]
            k = min(n, maxsize)
            pieces.append((page, k))
            maxsize -= k
            if k == n:
                self._left.popleft()
            else:
                self._left[0] = (page, n - k)
        return pieces

    @check.arguments
    def give_back(self, page: str, nbytes: int) -> None:
        """Put bytes taken by :meth:`take` back at the front (``iov_iter_revert``)."""
        self._left.appendleft((page, nbytes))


@check.arguments
def user_pages(size: int, name: str = "user page") -> list[tuple[str, int]]:
    """The 4 KiB pages of a user buffer of ``size`` bytes, as MSG_ZEROCOPY pins them."""
    if not isinstance(size, int) or size < 0:
        raise ValueError("size must be an int >= 0")
    return [(f"{name} {i}", min(PAGE_SIZE, size - i * PAGE_SIZE)) for i in range(-(-size // PAGE_SIZE))]


def _check_sk(sk: TcpSock) -> None:
    if not isinstance(sk, TcpSock):
        raise TypeError(f"expected a TcpSock, got {type(sk).__name__}")


def _payload(skb: SkBuff) -> int:
    return skb.meta["end_seq"] - skb.meta["seq"]


# --- 1. send(): bytes into skbs ---------------------------------------------------------------------------------

@kernel_function("net/ipv4/tcp.c", "send(): {msg.size} bytes on {sk.name}")
def tcp_sendmsg(sk: TcpSock, msg: MsgHdr) -> int:
    """``lock_sock``, ``tcp_sendmsg_locked``, ``release_sock``. Returns the bytes queued."""
    _check_sk(sk)
    return tcp_sendmsg_locked(sk, msg)


@check.arguments
def tcp_send_mss(sk: TcpSock) -> tuple[int, int]:
    """net/ipv4/tcp.c: the current MSS and ``size_goal``, how many bytes one skb may collect
    (``tcp_xmit_size_goal``: up to half the peer's largest window, at most ``sk_gso_max_size``)."""
    mss = sk.mss_cache
    if not sk.gso:
        return mss, mss
    goal = min(sk.sk_gso_max_size, max(sk.max_window // 2, mss))
    return mss, max(goal // mss * mss, mss)


@kernel_function("net/ipv4/tcp.c", "queue {msg.size} bytes in skbs of up to size_goal bytes")
def tcp_sendmsg_locked(sk: TcpSock, msg: MsgHdr) -> int:
    """Append to the last unsent skb or start a new one; copy (or reference) the bytes; push full skbs out."""
    _check_sk(sk)
    zc = 0
    if msg.flags & MSG_ZEROCOPY and msg.size:
        if msg.pages is None:
            raise ValueError("MSG_ZEROCOPY needs the user's pages (MsgHdr.pages, see user_pages)")
        if sk.zerocopy and sk.sg:
            trace_printk("msg_zerocopy_realloc: a ubuf_info tracks the pinned pages for the completion notice")
            zc = MSG_ZEROCOPY
        else:
            trace_printk("MSG_ZEROCOPY without SO_ZEROCOPY (or without scatter-gather): plain copy")
    elif msg.flags & MSG_SPLICE_PAGES and msg.size:
        if msg.pages is None:
            raise ValueError("MSG_SPLICE_PAGES needs the pages (MsgHdr.pages)")
        zc = MSG_SPLICE_PAGES if sk.sg else 0
    mss_now, size_goal = tcp_send_mss(sk)
    trace_printk(f"mss {mss_now}, size_goal {size_goal} ({'GSO' if sk.gso else 'no GSO: one MSS per skb'})")
    copied, left, started = 0, msg.size, 0

    def new_skb() -> SkBuff:
        nonlocal started
        started += 1
        skb = tcp_stream_alloc_skb(sk, msg.name and msg.name + ("" if started == 1 else f" {started}"))
        tcp_skb_entail(sk, skb)
        return skb

    while left:
        skb = sk.sk_write_queue[-1] if sk.sk_write_queue else None
        copy = size_goal - _payload(skb) if skb is not None else 0
        if copy <= 0:
            skb = new_skb()
            copy = size_goal
        copy = min(copy, left)
        if zc == 0:
            if sk.pfrag_offset == SK_PAGE_FRAG_SIZE:   # sk_page_frag_refill
                sk.pfrag_pages, sk.pfrag_offset = sk.pfrag_pages + 1, 0
            page = f"{sk.name} page_frag {sk.pfrag_pages}"
            can_merge = bool(skb.shinfo.frag_pages) and skb.shinfo.frag_pages[-1] == page
            if not can_merge and skb.shinfo.nr_frags >= MAX_SKB_FRAGS:
                new_skb()
                continue
            copy = min(copy, SK_PAGE_FRAG_SIZE - sk.pfrag_offset)
            skb_copy_to_page_nocache(sk, skb, page, copy, merge=can_merge)
            sk.pfrag_offset += copy
        else:
            copy = (skb_zerocopy_iter_stream if zc == MSG_ZEROCOPY else skb_splice_from_iter)(skb, msg, copy)
            if copy == 0:                                # -EMSGSIZE: the skb's frags are full
                new_skb()
                continue
        sk.write_seq += copy
        skb.meta["end_seq"] += copy
        copied += copy
        left -= copy
        if not left:
            break
        if _payload(skb) < size_goal:
            continue
        if sk.write_seq - sk.pushed_seq > sk.max_window // 2:            # forced_push()
            sk.pushed_seq = sk.write_seq
            __tcp_push_pending_frames(sk, mss_now, TCP_NAGLE_PUSH)
        elif sk.sk_write_queue and skb is sk.sk_write_queue[0]:
            tcp_push_one(sk, mss_now)
    if copied:
        tcp_push(sk, msg.flags, mss_now, sk.nonagle)
    return copied


@kernel_function("net/ipv4/tcp.c", "allocate an skb (fclone) with room for all headers, no data yet")
def tcp_stream_alloc_skb(sk: TcpSock, name: str = "") -> SkBuff:
    """``alloc_skb_fclone(MAX_TCP_HEADER)``: the head comes with a spare clone slot; the payload will live in
    page fragments, the linear part keeps only headroom for the headers. Named ``name`` (the message's, see
    :class:`MsgHdr`), else ``skb<n>``, the socket's n-th."""
    sk.skbs_made += 1
    skb = alloc_skb_fclone(MAX_TCP_HEADER, name=name or f"skb{sk.skbs_made}")
    skb_reserve(skb, MAX_TCP_HEADER)
    return skb


@kernel_function("net/ipv4/tcp.c", "put {skb.name} at the tail of the write queue")
def tcp_skb_entail(sk: TcpSock, skb: SkBuff) -> None:
    """The new skb starts at ``write_seq`` with the ACK flag (``TCPHDR_ACK``); its memory is charged to the socket
    (``sk_wmem_queued``)."""
    skb.meta.update(seq=sk.write_seq, end_seq=sk.write_seq, flags=("ACK",))
    sk.sk_write_queue.append(skb)
    sk.sk_wmem_queued += skb.truesize


@kernel_function("include/net/sock.h", "copy {copy} bytes from the user buffer into {skb.name}'s page fragment")
def skb_copy_to_page_nocache(sk: TcpSock, skb: SkBuff, page: str, copy: int, merge: bool = False) -> None:
    """Copy 1: ``copy_from_user`` into the socket's page fragment (non-temporal stores), then attach or grow
    the fragment. The CPU moves every byte."""
    account_copy(copy, "skb_copy_to_page_nocache", "user buffer", skb.name)
    if merge:                                   # skb_frag_size_add on the last fragment
        skb.shinfo.frags[-1] += copy
        skb.len += copy
        skb.data_len += copy
        skb.truesize += copy
    else:
        skb_add_frag(skb, copy, page=page)
    sk.sk_wmem_queued += copy


def _attach_pages(skb: SkBuff, msg: MsgHdr, maxsize: int, flag: str, by: str) -> int:
    room = MAX_SKB_FRAGS - skb.shinfo.nr_frags
    taken = 0
    for page, n in msg.take(maxsize):
        if skb.shinfo.frag_pages and skb.shinfo.frag_pages[-1] == page:
            skb.shinfo.frags[-1] += n
            skb.len, skb.data_len, skb.truesize = skb.len + n, skb.data_len + n, skb.truesize + n
        elif room:
            skb_add_frag(skb, n, page=page)
            account_refs(1)
            room -= 1
        else:
            msg.give_back(page, n)                  # this skb is full
            continue
        taken += n
    skb.shinfo.flags.add(flag)
    if taken:
        trace_printk(f"{by}: {taken} bytes by reference to {skb.shinfo.nr_frags} pages, 0 bytes copied")
    return taken


@kernel_function("net/core/skbuff.c", "reference the pages of {skb.name}'s payload: no copy")
def skb_splice_from_iter(skb: SkBuff, msg: MsgHdr, maxsize: int) -> int:
    """MSG_SPLICE_PAGES: take a reference (``get_page``) on each page of the iterator and attach it as a
    fragment, up to MAX_SKB_FRAGS; 0 means the skb is full (the caller starts a new one)."""
    return _attach_pages(skb, msg, maxsize, SKBFL_SHARED_FRAG, "skb_splice_from_iter")


@kernel_function("net/core/skbuff.c", "pin the user's pages into {skb.name}: no copy")
def skb_zerocopy_iter_stream(skb: SkBuff, msg: MsgHdr, maxsize: int) -> int:
    """MSG_ZEROCOPY: pin the user's pages (``zerocopy_fill_skb_from_iter``) and mark the skb
    SKBFL_ZEROCOPY_ENABLE; the process may reuse its buffer only after the completion notification."""
    return _attach_pages(skb, msg, maxsize, SKBFL_ZEROCOPY_ENABLE, "skb_zerocopy_iter_stream")


# --- 2. push: the checks of tcp_write_xmit ------------------------------------------------------------------------

@kernel_function("net/ipv4/tcp.c", "push what send() queued (nonagle={nonagle})")
def tcp_push(sk: TcpSock, flags: int, mss_now: int, nonagle: int) -> None:
    """Mark the tail skb PSH unless MSG_MORE (which corks); then ``__tcp_push_pending_frames``."""
    if not sk.sk_write_queue:
        return
    if not flags & MSG_MORE:
        sk.pushed_seq = sk.write_seq
    else:
        nonagle = TCP_NAGLE_CORK
    __tcp_push_pending_frames(sk, mss_now, nonagle)


@kernel_function("net/ipv4/tcp_output.c", "send what the windows allow")
def __tcp_push_pending_frames(sk: TcpSock, cur_mss: int, nonagle: int) -> None:
    """``tcp_write_xmit`` on all pending skbs."""
    tcp_write_xmit(sk, cur_mss, nonagle, 0)


@kernel_function("net/ipv4/tcp_output.c", "send the one full skb at the send head")
def tcp_push_one(sk: TcpSock, mss_now: int) -> None:
    """``tcp_write_xmit`` with ``push_one``: send the head skb now, Nagle does not apply."""
    tcp_write_xmit(sk, mss_now, TCP_NAGLE_PUSH, 1)


@check.arguments
def tcp_push_pending_frames(sk: TcpSock) -> None:
    """include/net/tcp.h: push with the socket's own Nagle setting, if anything waits."""
    if sk.sk_write_queue:
        __tcp_push_pending_frames(sk, sk.mss_cache, sk.nonagle)


@kernel_function("net/ipv4/tcp_output.c",
                 lambda sk, mss_now, nonagle, push_one: f"walk the write queue ({len(sk.sk_write_queue)} skb"
                 f"{'' if len(sk.sk_write_queue) == 1 else 's'}): cwnd, receive window, Nagle")
def tcp_write_xmit(sk: TcpSock, mss_now: int, nonagle: int, push_one: int) -> bool:
    """For each unsent skb: stop when the congestion window or the peer's window is full, or Nagle holds a
    small segment back; split what does not fit; transmit a clone; move the skb to the retransmit queue."""
    _check_sk(sk)
    max_segs = max(sk.sk_gso_max_size // mss_now, 1) if sk.gso else 1
    sent = 0
    while sk.sk_write_queue:
        skb = sk.sk_write_queue[0]
        cwnd_quota = tcp_cwnd_test(sk)
        if not cwnd_quota:
            trace_printk(f"cwnd full: {sk.packets_out} packets in flight = cwnd {sk.snd_cwnd}; wait for ACKs")
            break
        cwnd_quota = min(cwnd_quota, max_segs)
        tso_segs = tcp_set_skb_tso_segs(skb, mss_now)
        if not tcp_snd_wnd_test(sk, skb, mss_now):
            trace_printk("the peer's receive window is full: wait for it to open")
            break
        if tso_segs == 1:
            last = skb is sk.sk_write_queue[-1]
            if not tcp_nagle_test(sk, skb, mss_now, nonagle if last else TCP_NAGLE_PUSH):
                trace_printk("Nagle: a small segment waits while earlier data is unacknowledged")
                break
        limit = mss_now
        if tso_segs > 1:
            limit = tcp_mss_split_point(sk, skb, mss_now, cwnd_quota, nonagle)
        if _payload(skb) > limit:
            tso_fragment(sk, skb, limit, mss_now)
        tcp_transmit_skb(sk, skb, 1)
        tcp_event_new_data_sent(sk, skb)
        if _payload(skb) < mss_now:
            sk.snd_sml = skb.meta["end_seq"]                          # tcp_minshall_update
        sent += skb.meta["gso_segs"]
        if push_one:
            break
    is_cwnd_limited = sk.packets_out >= sk.snd_cwnd
    if sent or is_cwnd_limited:
        tcp_cwnd_validate(sk, is_cwnd_limited)
    return not sent and bool(sk.sk_write_queue)


@check.arguments
def tcp_cwnd_validate(sk: TcpSock, is_cwnd_limited: bool) -> None:
    """net/ipv4/tcp_output.c (6.12): remember whether this window filled cwnd, or else the most segments in
    flight, until ``snd_una`` passes ``cwnd_usage_seq`` (what ``tcp_is_cwnd_limited`` reads)."""
    if (sk.snd_una >= sk.cwnd_usage_seq or is_cwnd_limited
            or (not sk.is_cwnd_limited and sk.packets_out > sk.max_packets_out)):
        sk.is_cwnd_limited, sk.max_packets_out, sk.cwnd_usage_seq = is_cwnd_limited, sk.packets_out, sk.snd_nxt


@check.arguments
def tcp_is_cwnd_limited(sk: TcpSock, prior_in_flight: int) -> bool:
    """Is the sender using its congestion window (RFC 2861)? Cubic grows cwnd only then. 6.12
    (include/net/tcp.h): the last window filled it, or, in slow start, cwnd < 2 × the most packets in flight.
    3.10 (net/ipv4/tcp_cong.c): the packets in flight before the ACK fill cwnd, or leave too little free for a
    TSO frame (``left × tcp_tso_win_divisor`` (3) ``< cwnd``, ``left × MSS < sk_gso_max_size``, ``left <
    sk_gso_max_segs``), or at most 3 MSS (``tcp_max_tso_deferred_mss``)."""
    if sk.net.profile.cwnd_limited == "cwnd_validate":
        return sk.is_cwnd_limited or (sk.snd_cwnd < sk.snd_ssthresh and sk.snd_cwnd < 2 * sk.max_packets_out)
    if prior_in_flight >= sk.snd_cwnd:
        return True
    left = sk.snd_cwnd - prior_in_flight
    if sk.gso and left * 3 < sk.snd_cwnd and left * sk.mss_cache < sk.sk_gso_max_size and left < GSO_MAX_SEGS:
        return True
    return left <= 3


@kernel_function("net/ipv4/tcp_output.c",
                 lambda tp: f"congestion window: {tp.packets_out} in flight of cwnd {tp.snd_cwnd}")
def tcp_cwnd_test(tp: TcpSock) -> int:
    """How many more segments may go out now: ``min(cwnd/2, cwnd - in_flight)``, 0 when full."""
    in_flight, cwnd = tp.packets_out, tp.snd_cwnd
    if in_flight >= cwnd:
        return 0
    return min(max(cwnd >> 1, 1), cwnd - in_flight)


@check.arguments
def tcp_set_skb_tso_segs(skb: SkBuff, mss_now: int) -> int:
    """net/ipv4/tcp_output.c: how many MSS-sized segments the skb makes (``gso_segs``), its ``gso_size``."""
    segs = max(-(-_payload(skb) // mss_now), 1)
    skb.meta["gso_segs"] = segs
    skb.shinfo.gso_size = mss_now if segs > 1 else 0
    return segs


@kernel_function("net/ipv4/tcp_output.c", "receive window: does the first segment of {skb.name} fit?")
def tcp_snd_wnd_test(tp: TcpSock, skb: SkBuff, cur_mss: int) -> bool:
    """The first MSS of the skb must end before ``snd_una + snd_wnd``."""
    end_seq = skb.meta["end_seq"] if _payload(skb) <= cur_mss else skb.meta["seq"] + cur_mss
    return end_seq <= tp.snd_una + tp.snd_wnd


@check.arguments
def tcp_nagle_check(partial: bool, tp: TcpSock, nonagle: int) -> bool:
    """net/ipv4/tcp_output.c: hold a partial segment when corked, or (Nagle on) while a small one is unacked."""
    return partial and (bool(nonagle & TCP_NAGLE_CORK) or
                        (not nonagle and tp.packets_out > 0 and tp.snd_sml > tp.snd_una))


@kernel_function("net/ipv4/tcp_output.c", "Nagle: may {skb.name} (up to sequence number {skb.meta[end_seq]}) go now?")
def tcp_nagle_test(tp: TcpSock, skb: SkBuff, cur_mss: int, nonagle: int) -> bool:
    """Full segments, pushed ones and the FIN always go; a small one waits while an earlier small one is unacked."""
    if nonagle & TCP_NAGLE_PUSH or "FIN" in skb.meta.get("flags", ()):   # nor is the final FIN
        return True
    return not tcp_nagle_check(_payload(skb) < cur_mss, tp, nonagle)


@check.arguments
def tcp_mss_split_point(sk: TcpSock, skb: SkBuff, mss_now: int, max_segs: int, nonagle: int) -> int:
    """net/ipv4/tcp_output.c: how much of a large skb to send now: the cwnd quota and the peer's window."""
    window = sk.snd_una + sk.snd_wnd - skb.meta["seq"]
    max_len = mss_now * max_segs
    if max_len <= window and skb is not sk.sk_write_queue[-1]:
        return max_len
    needed = min(_payload(skb), window)
    if max_len <= needed:
        return max_len
    partial = needed % mss_now
    return needed - partial if tcp_nagle_check(partial != 0, sk, nonagle) else needed


@kernel_function("net/ipv4/tcp_output.c", "split {skb.name} after {len} bytes: the rest waits in a new skb")
def tso_fragment(sk: TcpSock, skb: SkBuff, len: int, mss_now: int) -> None:  # noqa: A002 (the kernel's name)
    """A new skb takes the page fragments past ``len`` (``skb_split``): page references move, no byte is
    copied. It goes right after ``skb`` in the write queue."""
    buff = tcp_stream_alloc_skb(sk)
    account_head(SIZEOF_SK_BUFF, "tso_fragment", skb.name)
    keep, frags, pages = len, skb.shinfo.frags, skb.shinfo.frag_pages
    i = 0
    while i < frags.__len__() and keep >= frags[i]:
        keep -= frags[i]
        i += 1
    moved = list(zip(pages[i:], frags[i:]))
    if keep and moved:                          # a fragment straddles the split: both skbs point into it
        moved[0] = (moved[0][0], moved[0][1] - keep)
        frags[i] = keep
        i += 1
    del frags[i:], pages[i:]
    for page, n in moved:
        skb_add_frag(buff, n, page=page)
    moved_bytes = sum(n for _, n in moved)
    skb.len, skb.data_len, skb.truesize = skb.len - moved_bytes, skb.data_len - moved_bytes, skb.truesize - moved_bytes
    buff.shinfo.flags |= skb.shinfo.flags
    buff.meta.update(seq=skb.meta["seq"] + len, end_seq=skb.meta["end_seq"])
    skb.meta["end_seq"] = skb.meta["seq"] + len
    sk.sk_write_queue.insert(1, buff)
    tcp_set_skb_tso_segs(skb, mss_now)


# --- 3. transmit a clone, keep the original -------------------------------------------------------------------

@kernel_function("net/ipv4/tcp_output.c", lambda sk, skb, clone_it: f"transmit {skb.name}: " + (
    "send a clone (clone_it), keep the original for a retransmission" if clone_it else "send it itself (no clone)"))
def tcp_transmit_skb(sk: TcpSock, skb: SkBuff, clone_it: int) -> int:
    """``__tcp_transmit_skb`` with the receiver's next expected sequence for the ACK field."""
    return __tcp_transmit_skb(sk, skb, clone_it)


@kernel_function("net/ipv4/tcp_output.c", "clone {skb.name}, build the TCP header on the clone, pass it to IP")
def __tcp_transmit_skb(sk: TcpSock, skb: SkBuff, clone_it: int) -> int:
    """Copy 2 is shallow: ``skb_clone`` gives IP a new sk_buff head over the same data (``dataref`` 2), so the
    original can stay on the retransmit queue. Then the TCP header is pushed and ``ip_queue_xmit`` called."""
    _check_sk(sk)
    payload = skb.len
    if clone_it:
        if skb.cloned:
            raise ValueError(f"{skb.name} is still cloned (a retransmit before TX completion uses pskb_copy)")
        skb = skb_clone(skb)
    skb_push(skb, TCP_HLEN)
    skb.meta.update(hdr_len=TCP_HLEN, payload=payload, sk=sk.name, ack_seq=sk.rcv_nxt)
    if sk.icsk_ack_pending:
        tcp_event_ack_sent(sk)
    return ip_queue_xmit(sk, skb)


@kernel_function("net/ipv4/tcp_output.c", "{skb.name} is out: move it to the retransmit queue")
def tcp_event_new_data_sent(sk: TcpSock, skb: SkBuff) -> None:
    """Advance ``snd_nxt``, count the segments in flight, keep the original until it is ACKed."""
    sk.sk_write_queue.popleft()
    sk.tcp_rtx_queue.append(skb)
    sk.snd_nxt = skb.meta["end_seq"]
    sk.packets_out += skb.meta["gso_segs"]


# --- 4. the ACK ---------------------------------------------------------------------------------------------------

@kernel_function("net/ipv4/tcp_input.c", lambda sk, ack, rwnd=None: f"ACK up to {ack} arrived"
                 f"{'' if rwnd is None else f', window {rwnd:,} B'}")
def tcp_ack(sk: TcpSock, ack: int, rwnd: int | None = None) -> int:
    """Update the peer's window, free what the ACK covers (``tcp_clean_rtx_queue``), grow cwnd in slow start if
    the sender is cwnd-limited (``tcp_cong_avoid`` → cubic). Returns the segments newly acknowledged."""
    _check_sk(sk)
    if not isinstance(ack, int) or isinstance(ack, bool):
        raise TypeError(f"ack must be an int sequence number, got {ack!r}")
    if ack > sk.snd_nxt:
        trace_printk(f"ACK {ack} is for data never sent (snd_nxt {sk.snd_nxt}): ignored")
        return 0
    if ack <= sk.snd_una:
        return 0
    if rwnd is not None:
        sk.snd_wnd = rwnd
        sk.max_window = max(sk.max_window, rwnd)
    prior_in_flight = sk.packets_out
    acked = tcp_clean_rtx_queue(sk, ack)
    sk.snd_una = ack
    if sk.snd_cwnd < sk.snd_ssthresh:
        if tcp_is_cwnd_limited(sk, prior_in_flight):
            trace_printk(f"tcp_cong_avoid → tcp_slow_start: cwnd {sk.snd_cwnd} + {acked} acked")
            sk.snd_cwnd += acked
        else:
            trace_printk(f"tcp_cong_avoid: not cwnd-limited ({prior_in_flight} in flight of cwnd {sk.snd_cwnd}): "
                         f"cwnd stays {sk.snd_cwnd}")
    return acked


@kernel_function("net/ipv4/tcp_input.c", "free the retransmit-queue skbs the ACK covers")
def tcp_clean_rtx_queue(sk: TcpSock, ack: int) -> int:
    """``tcp_rtx_queue_unlink_and_free`` → ``tcp_wmem_free_skb`` → ``__kfree_skb`` for every skb that ends at or
    before ``ack``: its clone is long gone, so the data itself is freed now (a partial ACK of a TSO skb only
    trims it, not modelled)."""
    acked = 0
    while sk.tcp_rtx_queue and sk.tcp_rtx_queue[0].meta["end_seq"] <= ack:
        skb = sk.tcp_rtx_queue.popleft()
        acked += skb.meta["gso_segs"]
        sk.packets_out -= skb.meta["gso_segs"]
        sk.sk_wmem_queued -= skb.truesize
        __kfree_skb(skb)
    return acked


@check.arguments
def tcp_data_snd_check(sk: TcpSock) -> None:
    """net/ipv4/tcp_input.c: after an ACK opened the windows, push what still waits."""
    tcp_push_pending_frames(sk)


# --- 5. segments without data: ACK, FIN, RST ----------------------------------------------------------------------

@check.arguments
def tcp_segment(saddr: str, sport: Port, daddr: str, dport: Port, flags: tuple[str, ...], seq: int,
                ack_seq: int = 0) -> SkBuff:
    """A TCP segment without payload as an sk_buff; ``meta`` holds the header fields the handshake reads."""
    if not flags or not set(flags) <= {"SYN", "ACK", "RST", "FIN", "PSH"}:
        raise ValueError(f"flags must be a non-empty tuple of SYN, ACK, RST, FIN, PSH; got {flags!r}")
    if not all(isinstance(p, int) and 0 <= p < 65536 for p in (sport, dport)):
        raise ValueError("ports must be ints in 0..65535")
    name = "-".join(flags)
    return SkBuff(end=0, name=name, meta=dict(saddr=saddr, sport=sport, daddr=daddr, dport=dport, flags=flags,
                                              seq=seq & 0xFFFFFFFF, ack_seq=ack_seq & 0xFFFFFFFF, fate=None))


@kernel_function("net/ipv4/tcp_output.c", "{sk.name} queues its SYN on the retransmit queue until it is ACKed")
def tcp_connect_queue_skb(sk: TcpSock, skb: SkBuff) -> None:
    """``tcp_connect``'s SYN waits on the retransmit queue (``tcp_rbtree_insert``) for the SYN-ACK that
    acknowledges it (``tcp_clean_rtx_queue``): charged to the socket's send memory, one packet in flight."""
    _check_sk(sk)
    sk.tcp_rtx_queue.append(skb)
    sk.sk_wmem_queued += skb.truesize
    sk.packets_out += skb.meta["gso_segs"]


@check.arguments
def send_segment(net: Net, skb: SkBuff) -> None:
    """Send a segment without payload the way ``net`` sends (``Net.xmit``: the host's send path, or a test's
    callback)."""
    trace_printk(f"{skb.name} → {endpoint(net, skb.meta['daddr'], skb.meta['dport'])} "
                 "(tcp_transmit_skb → ip_queue_xmit → dev_queue_xmit: chapter 03)")
    if net.xmit is not None:
        net.xmit(net, skb)


@kernel_function("net/ipv4/tcp_output.c", lambda sk: f"{sk.name} sends an ACK")
def tcp_send_ack(sk: TcpSock) -> None:
    """Send a pure ACK (the third segment of the handshake, or the ACK of a FIN)."""
    if sk.icsk_ack_pending:
        tcp_event_ack_sent(sk)
    send_segment(sk.net, tcp_segment(sk.inet_rcv_saddr, sk.inet_num, sk.inet_daddr, sk.inet_dport, ("ACK",),
                                     sk.write_seq, sk.rcv_nxt))


@kernel_function("net/ipv4/tcp_output.c", "{sk.name}: this segment carries the due ACK: stop the delayed-ACK timer")
def tcp_event_ack_sent(sk: TcpSock) -> None:
    """``inet_csk_clear_xmit_timer(sk, ICSK_TIME_DACK)``: no ACK is pending any more."""
    sk.icsk_ack_pending = False
    if sk.icsk_delack_timer is not None:
        sk.net.sched.del_timer(sk.icsk_delack_timer)


@kernel_function("net/ipv4/tcp_output.c",
                 lambda sk: f"{sk.name} delays its ACK by up to {TCP_DELACK_MIN // MS} ms (ato = TCP_ATO_MIN)")
def tcp_send_delayed_ack(sk: TcpSock) -> None:
    """Arm the delayed-ACK timer: a segment sent before it fires carries the ACK instead."""
    if sk.icsk_delack_timer is None:
        sk.icsk_delack_timer = TimerList(lambda t: tcp_delack_timer_handler(t.data), name=f"delack {sk.name}",
                                         data=sk, host=sk.net.host)
    sk.net.sched.mod_timer(sk.icsk_delack_timer, sk.net.sched.clock + TCP_DELACK_MIN)


@kernel_function("net/ipv4/tcp_timer.c", "{sk.name}: the delayed-ACK timer fired")
def tcp_delack_timer_handler(sk: TcpSock) -> None:
    """Send the ACK that is still pending (a closed socket sends none)."""
    if sk.sk_state != "TCP_CLOSE" and sk.icsk_ack_pending:
        tcp_send_ack(sk)


@kernel_function("net/ipv4/tcp_output.c",
                 lambda sk: f"{sk.name} sends its FIN (seq {sk.write_seq}) "
                            + ("on the last unsent skb" if sk.sk_write_queue else "in a new skb"))
def tcp_send_fin(sk: TcpSock) -> None:
    """Set FIN on the unsent tail of the write queue, or queue a new data-less skb with ACK|FIN; either way the FIN
    takes one sequence number (``write_seq++``) and leaves through ``__tcp_push_pending_frames`` (TCP_NAGLE_OFF),
    ``tcp_write_xmit`` and ``__tcp_transmit_skb`` like data, and waits on the retransmit queue for its ACK."""
    _check_sk(sk)
    if sk.sk_write_queue:
        tail = sk.sk_write_queue[-1]
        tail.meta["flags"] += ("FIN",)
        tail.meta["end_seq"] += 1
        sk.write_seq += 1
    else:
        skb = alloc_skb_fclone(MAX_TCP_HEADER, name=f"{sk.name} FIN")
        skb_reserve(skb, MAX_TCP_HEADER)
        skb.meta.update(seq=sk.write_seq, end_seq=sk.write_seq + 1, flags=("ACK", "FIN"))   # tcp_init_nondata_skb
        sk.write_seq += 1                                                                    # tcp_queue_skb
        sk.sk_write_queue.append(skb)
        sk.sk_wmem_queued += skb.truesize
    __tcp_push_pending_frames(sk, sk.mss_cache, TCP_NAGLE_OFF)


@kernel_function("net/ipv4/tcp_output.c", "{sk.name} resets the connection: RST, never retransmitted")
def tcp_send_active_reset(sk: TcpSock) -> None:
    """An ACK|RST with ``seq = snd_nxt`` (``tcp_acceptable_seq``), sent once; OutRsts++."""
    _check_sk(sk)
    sk.net.snmp_inc("TcpOutRsts")
    send_segment(sk.net, tcp_segment(sk.inet_rcv_saddr, sk.inet_num, sk.inet_daddr, sk.inet_dport, ("ACK", "RST"),
                                     sk.snd_nxt, sk.rcv_nxt))
