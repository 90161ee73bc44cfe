"""The NIC and its driver: descriptor rings, RSS, one IRQ per queue, and igb's NAPI poll.

Models drivers/net/ethernet/intel/igb/igb_main.c and igb.h (Linux 6.12; the book's driver) and the RSS hash of
Documentation/networking/scaling.rst:

* :class:`RingBuffer` — a descriptor ring, for RX and TX alike. Slots pass from the driver to the device and
  back: the driver gives a slot (RX: an empty buffer; TX: a packet to send), the device completes it (RX: DMA
  writes a received packet and sets the Descriptor Done bit; TX: the packet went out), the driver cleans it.
  One slot always stays unused so that "full" and "empty" differ (``igb_desc_unused``), so a 256-descriptor RX
  ring holds at most 255 packets. A packet that finds no empty RX buffer is dropped by the NIC and counted like
  igb's ``rx_missed_errors`` (``ip -s link``: "missed"; ``ifconfig``: "overruns"), never in softnet_stat.
* RSS: the NIC hashes each packet's (source address, destination address, source port, destination port) with
  the Toeplitz hash and a 40-byte key; the low 7 bits of the hash index a 128-entry indirection table whose
  entries are queue numbers (igb fills it in blocks: entry j → queue j·N/128).
* Each queue has its own MSI-X vector (IRQ ``eth0-TxRx-N``) with an affinity CPU. ``igb_msix_ring`` (the hard
  IRQ handler) only calls ``napi_schedule``; the vector stays masked until ``igb_poll`` finishes with work to
  spare and calls ``napi_complete_done`` and ``igb_ring_irq_enable``.
* ``igb_clean_rx_irq`` reads up to ``budget`` descriptors whose DD bit is set, builds an skb from each (the whole
  frame, headers included; ``eth_type_trans`` pulls the Ethernet header) and hands it to GRO, and gives cleaned
  buffers back to the NIC 16 at a time (``IGB_RX_BUFFER_WRITE``) and at the end.
* Transmit (``tx_ring_size`` given): ``igb_xmit_frame`` → ``igb_xmit_frame_ring`` takes one descriptor per
  buffer (linear part, each page fragment ≤ ``IGB_MAX_DATA_PER_TXD``) plus a context descriptor for checksum/TSO
  offload, stops the queue when fewer than ``DESC_NEEDED`` stay free, and ``igb_tx_map`` DMA-maps the buffers and
  writes the tail register. The NIC then sends the packet at the link rate (cutting a TSO skb into MSS-sized
  frames itself) and, when done, marks the descriptors and raises the vector's interrupt. The cleanup runs in the
  **NET_RX** softirq: ``igb_poll`` calls ``igb_clean_tx_irq`` first, which frees the sent skbs and wakes a stopped
  queue once ``TX_WAKE_THRESHOLD`` descriptors are free.

* Interrupt moderation (``ethtool -C eth0 rx-usecs N``; igb_main.c, igb_ethtool.c ``igb_set_coalesce``): each
  vector's EITR register holds the shortest interval between two of its interrupts. The NIC starts a throttle timer
  when the vector fires; a packet that comes earlier waits in the ring until the timer runs out, so at a high rate
  one interrupt brings many packets. ``rx_usecs`` 10..10000 fixes the interval; 0 writes the smallest (1 µs); 3
  (igb's default, "dynamic conservative") and 1 ("dynamic") let the driver pick it: each time a poll finishes,
  ``igb_ring_irq_enable`` calls ``igb_set_itr`` (one vector: ``igb_update_itr`` sorts the packets and bytes since
  the last time into lowest_latency / low_latency / bulk_latency → 70000 / 20000 / 4000 interrupts a second;
  conservative mode never picks lowest_latency) or ``igb_update_ring_itr`` (several vectors: from the average wire
  size of a packet), and ``igb_write_itr`` writes the new value at the vector's next interrupt. The value the
  kernel would write at the first interrupt is in EITR from the start here. The link counts as gigabit (igb's fixed
  4000 interrupts a second below 1 Gb/s is not modelled).

Not modelled: XDP, and the 16-byte descriptor layout itself.

The NIC writes descriptors at each packet's arrival time. The model does this lazily: before the driver looks at
a ring at simulated time t, :meth:`Nic.dma_until` writes every packet that arrived up to t — the same result,
because only the device fills a ring and only the CPU its IRQ points to cleans it.
"""
from __future__ import annotations

import functools
import ipaddress
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

from netlab import check
from netlab.kernel.cpu import this_cpu
from netlab.kernel.dev import NapiStruct, NetDevice, napi_complete_done, napi_schedule
from netlab.kernel.gro import napi_gro_receive
from netlab.kernel.copies import account_dma
from netlab.kernel.dev_hard_xmit import ETH_HLEN, NETDEV_TX_BUSY, NETDEV_TX_OK
from netlab.kernel.eth import eth_type_trans
from netlab.kernel.ip_output import IP_HLEN
from netlab.kernel.sch_generic import netif_tx_wake_queue
from netlab.kernel.skbuff import SKB_DATA_ALIGN, SKB_TRUESIZE, SIZEOF_SKB_SHARED_INFO, MAX_SKB_FRAGS, SkBuff, \
    __netdev_alloc_skb, napi_build_skb, napi_consume_skb
from netlab.kernel.tcp_output import TCP_HLEN
from netlab.kernel.udp_output import UDP_HLEN
from netlab.units import number, plural
from netlab.trace import kernel_function, trace_printk

IGB_RX_BUFFER_WRITE = 16      # igb.h: give buffers back to the hardware in batches of 16
IGB_RETA_SIZE = 128           # igb.h: RSS indirection table entries
IGB_MIN_RXD, IGB_MAX_RXD = 64, 4096
IGB_MAX_RX_QUEUES = 8
IGB_DEFAULT_TX_WORK = 128     # igb.h: TX packets cleaned per poll (tx_work_limit)
IGB_MIN_TXD, IGB_MAX_TXD = 64, 4096
IGB_MAX_DATA_PER_TXD = 1 << 15  # igb.h: one TX descriptor carries at most 32 KiB
DESC_NEEDED = MAX_SKB_FRAGS + 4
TX_WAKE_THRESHOLD = DESC_NEEDED * 2
TCP_FLAGS = frozenset({"SYN", "ACK", "RST", "FIN", "PSH"})
WIRE_OVERHEAD = 4 + 8 + 12      # per frame on the wire besides its bytes: FCS, preamble, inter-frame gap
IGB_START_ITR = 648           # igb.h: EITR values (bits 14:2: µs): ~6000 interrupts/s until the driver picks one
IGB_4K_ITR, IGB_20K_ITR, IGB_70K_ITR = 980, 196, 56
IGB_MIN_ITR_USECS, IGB_MAX_ITR_USECS = 10, 10000
LOWEST_LATENCY, LOW_LATENCY, BULK_LATENCY = 0, 1, 2   # igb.h: enum latency_range (lowest_latency …)
IGB_RX_FRAME_TRUESIZE = 2048  # half a 4 KiB page per RX buffer (igb_rx_frame_truesize)
IGB_RX_HDR_LEN = 256          # igb.h: the linear part 3.10's igb allocates per receive skb
IGB_SKB_PAD = 64              # igb.h: NET_SKB_PAD (64, a cache line) + NET_IP_ALIGN (0 on x86) of headroom
RX_SKB_TRUESIZE = SKB_TRUESIZE(IGB_RX_FRAME_TRUESIZE - SKB_DATA_ALIGN(SIZEOF_SKB_SHARED_INFO))  # napi_build_skb: 2304

RSS_KEY = bytes.fromhex("6d5a56da255b0ec24167253d43a38fb0d0ca2bcbae7b30b477cb2da38030f20c6a42b73bbeac01fa")
"""The 40-byte key of Microsoft's RSS specification, whose published test vectors check the hash. (Linux fills a
random key at boot, ``netdev_rss_key_fill``; ``ethtool -x eth0`` shows yours.)"""


# --- descriptor ring ---------------------------------------------------------------------------------------------
class RingBuffer:
    """A descriptor ring of ``count`` slots, shared by a driver and a device (RX or TX).

    Three positions move forward around the ring: ``next_to_use`` (the driver gives the next slot to the device
    here — the tail register), ``head`` (the device completes the next slot here), ``next_to_clean`` (the driver
    cleans the next completed slot here). Slots in [next_to_clean, head) are done, [head, next_to_use) belong to
    the device, the rest (at least one) to the driver.
    """

    @check.arguments
    def __init__(self, count: int, name: str = "ring"):
        if not isinstance(count, int) or isinstance(count, bool) or count < 2:
            raise ValueError(f"a ring needs an int count >= 2 descriptors, got {count!r}")
        self.count, self.name = count, name
        self.slots: list[Any] = [None] * count
        self._use = self._head = self._clean = 0  # ever-increasing; slot index = position % count

    @property
    def next_to_use(self) -> int:
        return self._use % self.count

    @property
    def next_to_clean(self) -> int:
        return self._clean % self.count

    @property
    def head(self) -> int:
        return self._head % self.count

    def unused(self) -> int:
        """Slots the driver holds and could give (``igb_desc_unused``): count - 1 - given-but-not-cleaned."""
        return self.count - 1 - (self._use - self._clean)

    def device_owned(self) -> int:
        """Slots given to the device and not completed: RX buffers free for DMA / TX packets not yet sent."""
        return self._use - self._head

    def done(self) -> int:
        """Completed slots waiting for the driver to clean (RX: received packets)."""
        return self._head - self._clean

    def give(self, item: Any = None) -> None:
        """Driver → device: one slot (RX: an empty buffer, ``item`` None; TX: the packet to send)."""
        if not self.unused():
            raise ValueError(f"{self.name}: no unused descriptor to give (one slot always stays unused)")
        self.slots[self._use % self.count] = item
        self._use += 1

    def complete(self, item: Any = None) -> bool:
        """Device: complete the slot at ``head`` (RX: write the received ``item`` there). False if the device owns
        no slot — for RX, the packet is dropped."""
        if not self.device_owned():
            return False
        if item is not None:
            self.slots[self._head % self.count] = item
        self._head += 1
        return True

    def clean(self) -> Any:
        """Driver: take the item of the next completed slot, or None if none is done yet (DD bit clear)."""
        if not self.done():
            return None
        i = self._clean % self.count
        item, self.slots[i] = self.slots[i], None
        self._clean += 1
        return item

    def snapshot(self) -> "RingState":
        """Per slot: ``"hw"`` (device owns it, empty), ``"drv"`` (driver holds it), ``"done"`` (completed, no packet
        of its own: a TX packet's later descriptors) or the name of the packet in it."""
        state = ["drv"] * self.count
        for p in range(self._head, self._use):
            state[p % self.count] = "hw" if self.slots[p % self.count] is None else _label(self.slots[p % self.count])
        for p in range(self._clean, self._head):
            state[p % self.count] = "done" if self.slots[p % self.count] is None else _label(self.slots[p % self.count])
        return RingState(tuple(state), self.next_to_use, self.head, self.next_to_clean)


@dataclass(frozen=True)
class RingState:
    """A descriptor ring at a step: each slot (``"hw"``: empty, the device may fill it; ``"drv"``: the driver
    holds it; ``"done"``: completed without a packet of its own; else the name of the packet in it) and the three
    indexes."""

    slots: tuple[str, ...]
    next_to_use: int
    head: int
    next_to_clean: int


def _label(item: Any) -> str:
    name = getattr(item, "name", None)  # not getattr(item, "name", str(item)): that formats a whole skb every time
    return name if name is not None else str(item)


# --- RSS -------------------------------------------------------------------------------------------------------------
@functools.lru_cache(maxsize=65536)        # a flow's address is parsed once, not once per packet
def _packed(address: str) -> bytes:
    try:
        return ipaddress.IPv4Address(address).packed
    except ipaddress.AddressValueError as e:
        raise ValueError(f"addresses must be IPv4 dotted quads: {e}") from None


@check.arguments
def rss_input(saddr: str, daddr: str, sport: check.Port, dport: check.Port) -> bytes:
    """The 12 bytes the NIC hashes for TCP/UDP over IPv4: source, destination address, source, destination port."""
    return _packed(saddr) + _packed(daddr) + sport.to_bytes(2, "big") + dport.to_bytes(2, "big")


@check.arguments
def toeplitz_hash(data: bytes, key: bytes = RSS_KEY) -> int:
    """The Toeplitz hash: for every set bit i of the input (MSB first), XOR in the 32 key bits starting at bit i."""
    if len(key) < len(data) + 4:
        raise ValueError(f"a {len(data)}-byte input needs a key of at least {len(data) + 4} bytes")
    return _toeplitz(bytes(data), bytes(key))


@functools.lru_cache(maxsize=65536)        # the NIC hashes every packet; a model need hash each flow only once
def _toeplitz(data: bytes, key: bytes) -> int:
    k = int.from_bytes(key, "big")
    nbits = len(key) * 8
    result = 0
    for i, byte in enumerate(data):
        for b in range(8):
            if byte & (0x80 >> b):
                result ^= (k >> (nbits - 32 - (i * 8 + b))) & 0xFFFFFFFF
    return result


@check.arguments
def igb_indirection_table(num_queues: int) -> list[int]:
    """igb's default RSS table (``igb_setup_mrqc``): entry j → queue j·N/128, in blocks."""
    if not isinstance(num_queues, int) or not 1 <= num_queues <= IGB_MAX_RX_QUEUES:
        raise ValueError(f"igb has 1..{IGB_MAX_RX_QUEUES} RX queues, got {num_queues!r}")
    return [j * num_queues // IGB_RETA_SIZE for j in range(IGB_RETA_SIZE)]


# --- interrupt moderation ---------------------------------------------------------------------------------------------
@check.arguments
def rx_itr_setting(rx_usecs: int) -> int:
    """What ``igb_set_coalesce`` (igb_ethtool.c) stores for ``ethtool -C eth0 rx-usecs N``: 0 (no moderation), 1
    (dynamic), 3 (dynamic conservative, igb's default) as they are, 10..10000 µs as N << 2 (EITR's units)."""
    if not (rx_usecs in (0, 1, 3) or IGB_MIN_ITR_USECS <= rx_usecs <= IGB_MAX_ITR_USECS):
        raise ValueError(f"igb takes rx_usecs 0 (no moderation), 1 (adaptive), 3 (adaptive, conservative: the "
                         f"default) or {IGB_MIN_ITR_USECS}..{IGB_MAX_ITR_USECS} µs (a fixed interval), got {rx_usecs!r}")
    return rx_usecs if rx_usecs <= 3 else rx_usecs << 2


def _eitr_ns(itr_val: int) -> int:
    """The interval EITR enforces for the value ``igb_write_itr`` writes: ``itr_val & 0x7FFC`` (0 → 0x4), whose bits
    14:2 count µs."""
    return (((itr_val & 0x7FFC) or 0x4) >> 2) * 1000


def _latency_range(itrval: int, packets: int, nbytes: int) -> int:
    """``igb_update_itr``'s table: the next latency range from the current one and the packets and bytes since."""
    if itrval == LOWEST_LATENCY:
        if nbytes // packets > 8000:
            return BULK_LATENCY
        if packets < 5 and nbytes > 512:
            return LOW_LATENCY
    elif itrval == LOW_LATENCY:
        if nbytes > 10000:
            if nbytes // packets > 8000 or packets < 10 or nbytes // packets > 1200:
                return BULK_LATENCY
            if packets > 35:
                return LOWEST_LATENCY
        elif nbytes // packets > 2000:
            return BULK_LATENCY
        elif packets <= 2 and nbytes < 512:
            return LOWEST_LATENCY
    elif nbytes > 25000:
        if packets > 35:
            return LOW_LATENCY
    elif nbytes < 1500:
        return LOW_LATENCY
    return itrval


def _set_itr_value(current_itr: int, itr_val: int, conservative: bool) -> int:
    """``igb_set_itr``'s choice: the range's EITR value (conservative mode never takes lowest_latency); the
    intermediate step the kernel computes when the interval grows, ``max(new · old / (new + old / 4), new)``, always
    comes out as ``new``."""
    if current_itr == LOWEST_LATENCY and conservative:
        current_itr = LOW_LATENCY
    new_itr = (IGB_70K_ITR, IGB_20K_ITR, IGB_4K_ITR)[current_itr]
    if new_itr > itr_val:
        new_itr = max(new_itr * itr_val // (new_itr + (itr_val >> 2)), new_itr)
    return new_itr


def _ring_itr_value(avg_wire_size: int, conservative: bool) -> int:
    """``igb_update_ring_itr``'s choice from the average bytes of a packet on the wire (24 bytes of FCS, preamble
    and gap added, at most 3000): a third of it for mid-size frames, else half; conservative: at least 196."""
    avg_wire_size = min(avg_wire_size + 24, 3000)
    new_val = avg_wire_size // 3 if 300 < avg_wire_size < 1200 else avg_wire_size // 2
    return IGB_20K_ITR if conservative and new_val < IGB_20K_ITR else new_val


# --- packets on the wire ----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Packet:
    """A frame arriving on the wire at ``time_ns``: an IPv4 TCP/UDP packet of ``length`` bytes, its IP header
    (``IP_HLEN``) and TCP header (``TCP_HLEN``, with timestamps) or UDP header (``UDP_HLEN``) included; the
    Ethernet header comes on top."""

    time_ns: int
    saddr: str = "10.0.0.1"
    daddr: str = "10.0.0.2"
    sport: check.Port = 40000
    dport: check.Port = 80
    protocol: str = "tcp"
    length: int = 64
    name: str = "p"
    seq: int = 0
    ack: int | None = None        # TCP: the acknowledgement number, for a segment that carries one
    flags: tuple[str, ...] = ()   # TCP: the header's flags (default: ACK if ``ack`` is given, else none)

    def __post_init__(self):
        check.fields(self)
        if not isinstance(self.time_ns, int) or isinstance(self.time_ns, bool) or self.time_ns < 0:
            raise ValueError(f"time_ns must be an int >= 0, got {self.time_ns!r}")
        if self.protocol not in ("tcp", "udp"):
            raise ValueError(f"protocol must be 'tcp' or 'udp', got {self.protocol!r}")
        headers = IP_HLEN + (TCP_HLEN if self.protocol == "tcp" else UDP_HLEN)
        if not isinstance(self.length, int) or not headers <= self.length <= 9000:
            raise ValueError(f"length (IP packet, headers included) must be an int in {headers}..9000 bytes for "
                             f"{self.protocol}, got {self.length!r}")
        rss_input(self.saddr, self.daddr, self.sport, self.dport)
        if not set(self.flags) <= TCP_FLAGS or (self.flags and self.protocol != "tcp"):
            raise ValueError(f"flags must be TCP flags among {sorted(TCP_FLAGS)} (TCP only), got {self.flags!r}")

    @property
    def flow(self) -> tuple[str, str, int, int]:
        return self.saddr, self.daddr, self.sport, self.dport


# --- the adapter -------------------------------------------------------------------------------------------------------
@dataclass(eq=False)
class QVector:
    """``struct igb_q_vector``: one queue pair's MSI-X vector, its NAPI, its rings and its IRQ affinity."""

    index: int
    nic: "Nic"
    rx_ring: RingBuffer
    cpu: int
    napi: NapiStruct | None = None
    tx_ring: RingBuffer | None = None
    irq_enabled: bool = True
    irq_asserted_at: int | None = None
    waiting: deque = field(default_factory=deque)  # packets on the wire, not yet written to the ring
    rx_packets: int = 0
    rx_missed: int = 0
    tx_wire: deque = field(default_factory=deque)  # (time the NIC finishes, descriptors) of packets being sent
    tx_packets: int = 0
    itr_val: int = 0               # the EITR value the driver chose, written at the next interrupt if set_itr
    set_itr: bool = False
    eitr_ns: int = 1000            # the NIC: the interval EITR holds now
    throttled_until: int = 0       # the NIC: its throttle timer, started when the vector last fired
    rx_itr: int = LOWEST_LATENCY   # q_vector->rx (struct igb_ring_container): latency range and work since the
    rx_total_packets: int = 0      # last ITR update
    rx_total_bytes: int = 0
    tx_itr: int = LOWEST_LATENCY   # q_vector->tx: the same for sent packets
    tx_total_packets: int = 0
    tx_total_bytes: int = 0
    rx_latency_ns: int = 0         # summed over the packets read: when the driver read each, less when it arrived

    def __post_init__(self):
        check.fields(self)

    @property
    def irq(self) -> str:
        return f"{self.nic.dev.name}-TxRx-{self.index}"

    def next_irq_time(self) -> int | None:
        """When this vector's interrupt fires next, if nothing else changes: now pending, the next arrival, or the
        end of the packet being sent — not before its throttle timer runs out."""
        if not self.irq_enabled:
            return None
        if self.irq_asserted_at is not None:
            return max(self.irq_asserted_at, self.throttled_until)
        times = ([self.waiting[0].time_ns] if self.waiting else []) + ([self.tx_wire[0][0]] if self.tx_wire else [])
        return max(min(times), self.throttled_until) if times else None

    @check.arguments
    def fire(self, t: int) -> None:
        """The NIC sends the vector's interrupt at ``t`` (when its CPU takes it, here): the throttle timer starts
        with the interval EITR holds."""
        self.throttled_until = t + self.eitr_ns


class Nic:
    """An igb-like adapter: ``num_queues`` RX queues of ``ring_size`` descriptors, RSS, one vector per queue, each
    vector's interrupts moderated as ``ethtool -C eth0 rx-usecs`` says (``rx_usecs``: see :func:`rx_itr_setting`).

    With ``tx_ring_size`` each vector also gets a TX ring and the adapter becomes ``dev``'s driver for sending
    (``ndo_start_xmit`` = ``igb_xmit_frame``) on a ``link_gbps`` link; ``on_transmit(skb, done_ns)`` is told of
    every packet put on the wire (a model of the peer uses it to answer)."""

    @check.arguments
    def __init__(self, dev: NetDevice, num_queues: int = 1, ring_size: int = 256, affinity: Sequence[int] = (0,),
                 rss_key: bytes = RSS_KEY, tx_ring_size: int | None = None, link_gbps: float = 1.0,
                 on_transmit: Callable[[SkBuff, int], None] | None = None, rx_usecs: int = 0):
        if not isinstance(ring_size, int) or not IGB_MIN_RXD <= ring_size <= IGB_MAX_RXD or ring_size % 8:
            raise ValueError(f"igb rings hold {IGB_MIN_RXD}..{IGB_MAX_RXD} descriptors in multiples of 8 "
                             f"(ethtool -G rx N), got {ring_size!r}")
        indir = igb_indirection_table(num_queues)
        if len(affinity) != num_queues or not all(isinstance(c, int) and c >= 0 for c in affinity):
            raise ValueError(f"affinity must give one CPU number per queue ({num_queues}), got {list(affinity)!r}")
        if not isinstance(rss_key, (bytes, bytearray)) or len(rss_key) != 40:
            raise ValueError("rss_key must be 40 bytes")
        self.dev, self.rss_key, self.rss_indir_tbl = dev, bytes(rss_key), indir
        self.rx_itr_setting = rx_itr_setting(rx_usecs)
        self.q_vectors = [QVector(i, self, RingBuffer(ring_size, f"rx{i}"), affinity[i]) for i in range(num_queues)]
        for qv in self.q_vectors:                     # igb_alloc_q_vector, igb_configure_msix
            qv.itr_val = IGB_START_ITR if self.rx_itr_setting in (1, 3) else self.rx_itr_setting
            qv.eitr_ns = _eitr_ns(qv.itr_val)
            qv.napi = NapiStruct(f"{dev.name}-rx{qv.index}", igb_poll, weight=64, dev=dev, owner=qv)
            while qv.rx_ring.unused():     # igb_configure_rx_ring → igb_alloc_rx_buffers(ring, igb_desc_unused)
                qv.rx_ring.give()
        if tx_ring_size is not None:
            if not isinstance(tx_ring_size, int) or not IGB_MIN_TXD <= tx_ring_size <= IGB_MAX_TXD or tx_ring_size % 8:
                raise ValueError(f"igb TX rings hold {IGB_MIN_TXD}..{IGB_MAX_TXD} descriptors in multiples of 8 "
                                 f"(ethtool -G tx N), got {tx_ring_size!r}")
            if not isinstance(link_gbps, (int, float)) or link_gbps <= 0:
                raise ValueError("link_gbps must be a positive number")
            if on_transmit is not None and not callable(on_transmit):
                raise TypeError("on_transmit must be callable(skb, done_ns) or None")
            for qv in self.q_vectors:
                qv.tx_ring = RingBuffer(tx_ring_size, f"tx{qv.index}")
            dev.priv, dev.ndo_start_xmit = self, igb_xmit_frame
        self.ns_per_byte, self.on_transmit, self.wire_free_at = 8 / link_gbps, on_transmit, 0

    @property
    def num_queues(self) -> int:
        return len(self.q_vectors)

    @check.arguments
    def rss_hash(self, saddr: str, daddr: str, sport: check.Port, dport: check.Port) -> int:
        """A flow's RSS hash, which the NIC writes into each descriptor (``igb_rx_hash``: ``skb->hash``, GRO's
        bucket)."""
        return toeplitz_hash(rss_input(saddr, daddr, sport, dport), self.rss_key)

    @check.arguments
    def rss_queue(self, saddr: str, daddr: str, sport: check.Port, dport: check.Port) -> int:
        """The RX queue RSS picks for a flow."""
        return self.rss_indir_tbl[self.rss_hash(saddr, daddr, sport, dport) & (IGB_RETA_SIZE - 1)]

    @check.arguments
    def receive(self, packets: Sequence[Packet]) -> None:
        """Packets arrive on the wire (in time order per flow); RSS chooses each one's queue."""
        if not all(isinstance(p, Packet) for p in packets):
            raise TypeError("receive takes Packet objects")
        for p in sorted(packets, key=lambda p: p.time_ns):
            qv = self.q_vectors[self.rss_queue(*p.flow)]
            if qv.waiting and qv.waiting[-1].time_ns > p.time_ns:
                raise ValueError("packets must be given in time order (later batches after earlier ones)")
            qv.waiting.append(p)

    @check.arguments
    def dma_until(self, qv: QVector, t: int) -> None:
        """The device writes every packet that arrived by ``t`` into the ring (or drops it: no free buffer), and
        asserts the queue's interrupt if it is enabled."""
        while qv.waiting and qv.waiting[0].time_ns <= t:
            p = qv.waiting.popleft()
            if qv.rx_ring.complete(p):
                if qv.irq_enabled and qv.irq_asserted_at is None:
                    qv.irq_asserted_at = p.time_ns
            else:
                qv.rx_missed += 1
                self.dev.stats["rx_missed_errors"] += 1
        while qv.tx_wire and qv.tx_wire[0][0] <= t:
            done_at, descriptors = qv.tx_wire.popleft()
            for _ in range(descriptors):
                qv.tx_ring.complete()
            if qv.irq_enabled and qv.irq_asserted_at is None:
                qv.irq_asserted_at = done_at

    @check.arguments
    def transmit(self, qv: QVector, skb: SkBuff, descriptors: int) -> int:
        """The hardware after the tail write: fetch the packet by DMA and send it when the wire is free (TSO: as
        ``gso_segs`` frames). Returns when it is done; its descriptors complete then."""
        segs = skb.meta.get("gso_segs", 1)
        wire_bytes = skb.len + (segs - 1) * skb.meta.get("hdr_len", 0) + segs * WIRE_OVERHEAD
        start = max(this_cpu().now, self.wire_free_at)
        self.wire_free_at = done_at = start + int(wire_bytes * self.ns_per_byte)
        qv.tx_wire.append((done_at, descriptors))
        qv.tx_packets += segs
        if self.on_transmit is not None:
            self.on_transmit(skb, done_at)
        return done_at

    @property
    def rx_missed_errors(self) -> int:
        return self.dev.stats["rx_missed_errors"]

    def snapshot(self) -> tuple["QueueState", ...]:
        return tuple(QueueState(qv.rx_ring.snapshot(), qv.irq, qv.cpu,
                                "masked (NAPI polling)" if not qv.irq_enabled else
                                "asserted" if qv.irq_asserted_at is not None else "enabled",
                                qv.rx_missed, tuple(skb.name for skb in qv.napi.rx_list),
                                qv.tx_ring.snapshot() if qv.tx_ring is not None else None,
                                tuple(f"{skb.name} ({plural(skb.meta['napi_gro_cb'].count, 'segment')}, "
                                      f"{number(skb.len)} B)"
                                      for bucket in qv.napi.gro_hash for skb in bucket))
                     for qv in self.q_vectors)


@dataclass(frozen=True)
class QueueState:
    """One queue pair (``igb_q_vector``) at a step: its RX ring, its IRQ (name, CPU, enabled / asserted / masked
    while NAPI polls), packets missed because the ring was full, the GRO batch (``rx_list``), its TX ring if it has
    one, and the skbs GRO holds to merge into (name, segments, bytes)."""

    rx_ring: RingState
    irq: str
    cpu: int
    irq_state: str
    missed: int
    gro_batch: tuple[str, ...]
    tx_ring: RingState | None
    gro_held: tuple[str, ...] = ()


# --- the driver ------------------------------------------------------------------------------------------------------
@kernel_function("drivers/net/ethernet/intel/igb/igb_main.c", lambda q_vector: f"hard IRQ {q_vector.irq}: "
                 "schedule NAPI, nothing more")
def igb_msix_ring(q_vector: QVector) -> str:
    """The MSI-X handler: write the interval chosen since the last interrupt (``igb_write_itr``, which returns at
    once if there is none), ``napi_schedule``. The vector stays masked while NAPI polls."""
    if q_vector.set_itr:
        igb_write_itr(q_vector)
    q_vector.irq_enabled = False
    q_vector.irq_asserted_at = None
    napi_schedule(q_vector.napi)
    return "IRQ_HANDLED"


@kernel_function("drivers/net/ethernet/intel/igb/igb_main.c", lambda q_vector: f"write {q_vector.itr_val & 0x7FFC or 4}"
                 f" to {q_vector.irq}'s EITR: from the next interrupt on, at least {_eitr_ns(q_vector.itr_val) // 1000}"
                 " µs between two")
def igb_write_itr(q_vector: QVector) -> None:
    """Write ``itr_val`` to the vector's EITR register (the NIC keeps the timer already running)."""
    q_vector.eitr_ns = _eitr_ns(q_vector.itr_val)
    q_vector.set_itr = False


@kernel_function("drivers/net/ethernet/intel/igb/igb_main.c", lambda napi, budget: f"NAPI poll of {napi.name}, "
                 f"budget {budget}")
def igb_poll(napi: NapiStruct, budget: int) -> int:
    """Clean TX completions, then up to ``budget`` RX packets. Less than budget: done, complete and unmask IRQ."""
    q_vector: QVector = napi.owner
    cpu = this_cpu()
    cpu.charge(cpu.costs.poll_ns)
    clean_complete = True
    if q_vector.tx_ring is not None:
        clean_complete = igb_clean_tx_irq(q_vector, budget)
    cleaned = igb_clean_rx_irq(q_vector, budget)
    if cleaned >= budget:
        clean_complete = False
    if not clean_complete:
        return budget
    if napi_complete_done(napi, cleaned):
        igb_ring_irq_enable(q_vector)
    return cleaned


@kernel_function("drivers/net/ethernet/intel/igb/igb_main.c", lambda q_vector, budget: f"read up to {budget} "
                 f"descriptors of {q_vector.rx_ring.name}")
def igb_clean_rx_irq(q_vector: QVector, budget: int) -> int:
    """For each descriptor with DD set: build an skb, ``napi_gro_receive``; refill buffers 16 at a time."""
    cpu = this_cpu()
    ring, nic = q_vector.rx_ring, q_vector.nic
    cleaned_count = ring.unused()
    total_packets = total_bytes = 0
    while total_packets < budget:
        if cleaned_count >= IGB_RX_BUFFER_WRITE:
            nic.dma_until(q_vector, cpu.now)
            igb_alloc_rx_buffers(q_vector, cleaned_count)
            cleaned_count = 0
        nic.dma_until(q_vector, cpu.now)
        packet = ring.clean()
        if packet is None:
            trace_printk(f"descriptor {ring.next_to_clean}: DD bit clear, nothing more to read")
            break
        q_vector.rx_latency_ns += cpu.now - packet.time_ns
        cleaned_count += 1
        cpu.charge(cpu.costs.driver_ns)
        skb = _build_skb(packet, q_vector)
        total_packets += 1
        q_vector.rx_packets += 1
        nic.dev.stats["rx_packets"] += 1
        nic.dev.stats["rx_bytes"] += skb.len          # the whole frame: counted before eth_type_trans
        total_bytes += skb.len
        skb.meta["ethertype"] = eth_type_trans(skb, nic.dev)   # igb_process_skb_fields
        napi_gro_receive(q_vector.napi, skb)
    q_vector.rx_total_packets += total_packets
    q_vector.rx_total_bytes += total_bytes
    if cleaned_count:
        nic.dma_until(q_vector, cpu.now)
        igb_alloc_rx_buffers(q_vector, cleaned_count)
    return total_packets


def _build_skb(p: Packet, q_vector: QVector) -> SkBuff:
    """``igb_build_skb``: an sk_buff around the half-page buffer the NIC wrote (``napi_build_skb``: the sk_buff from
    this CPU's NAPI cache, the head that page fragment), ``IGB_SKB_PAD`` of headroom, then the whole frame —
    Ethernet, IP and TCP/UDP headers and the payload — in its length (header fields parsed into meta). 3.10's
    ``igb_fetch_rx_buffer`` takes its skb from ``netdev_alloc_skb_ip_align(IGB_RX_HDR_LEN)`` instead (the sk_buff from
    skbuff_head_cache, the head a page fragment too) and copies a small frame into it or attaches the buffer's page
    as a fragment; its buffer layout is kept as 6.12's here. ``meta["hash"]`` is the RSS hash (``igb_rx_hash``:
    ``skb_set_hash`` from the descriptor), which RPS reads with ``skb_get_hash``."""
    frame = ETH_HLEN + p.length
    if this_cpu().profile.napi_skb_cache:
        skb = napi_build_skb(IGB_RX_FRAME_TRUESIZE, p.name)
    else:
        skb = __netdev_alloc_skb(q_vector.nic.dev, IGB_RX_HDR_LEN, p.name)
        skb.end, skb.truesize = IGB_RX_FRAME_TRUESIZE - SKB_DATA_ALIGN(SIZEOF_SKB_SHARED_INFO), RX_SKB_TRUESIZE
    skb.data, skb.tail, skb.len = IGB_SKB_PAD, IGB_SKB_PAD + frame, frame
    skb.meta.update(protocol=p.protocol, saddr=p.saddr, daddr=p.daddr, sport=p.sport, dport=p.dport, seq=p.seq,
                    flags=p.flags or (("ACK",) if p.ack is not None else ()), ack_seq=p.ack, queue=q_vector.index,
                    arrived_ns=p.time_ns, hash=q_vector.nic.rss_hash(*p.flow))
    return skb


@kernel_function("drivers/net/ethernet/intel/igb/igb_main.c", lambda q_vector, cleaned_count:
                 f"give {plural(cleaned_count, 'fresh buffer')} back to the NIC ({q_vector.rx_ring.name} tail "
                 "register)")
def igb_alloc_rx_buffers(q_vector: QVector, cleaned_count: int) -> None:
    """Attach new buffers to cleaned descriptors and move the tail: the NIC may fill them again."""
    for _ in range(cleaned_count):
        q_vector.rx_ring.give()


@kernel_function("drivers/net/ethernet/intel/igb/igb_main.c", lambda q_vector: f"unmask {q_vector.irq}")
def igb_ring_irq_enable(q_vector: QVector) -> None:
    """Adaptive moderation (rx-usecs 1 or 3): choose the next interval (``igb_set_itr`` with one vector, else
    ``igb_update_ring_itr``). Then re-enable the vector's interrupt; descriptors written meanwhile make it fire as
    soon as the throttle timer lets it."""
    nic = q_vector.nic
    if nic.rx_itr_setting & 3:
        if nic.num_queues == 1:
            igb_set_itr(q_vector)
        else:
            igb_update_ring_itr(q_vector)
    nic.dma_until(q_vector, this_cpu().now)
    q_vector.irq_enabled = True
    if q_vector.rx_ring.done() or (q_vector.tx_ring is not None and q_vector.tx_ring.done()):
        q_vector.irq_asserted_at = this_cpu().now


_RANGES = ("lowest_latency", "low_latency", "bulk_latency")


@kernel_function("drivers/net/ethernet/intel/igb/igb_main.c", lambda q_vector: "adaptive moderation: "
                 f"{q_vector.rx_total_packets} packets, {q_vector.rx_total_bytes} bytes since the last choice")
def igb_set_itr(q_vector: QVector) -> None:
    """One vector: sort the work since the last call into a latency range (``igb_update_itr``, for sent and for
    received packets; the busier one counts), and choose its EITR value; conservative mode (rx-usecs 3) stops at
    low_latency. A new value is written at the next interrupt (``set_itr``)."""
    igb_update_itr(q_vector, "tx")
    igb_update_itr(q_vector, "rx")
    current_itr = max(q_vector.rx_itr, q_vector.tx_itr)
    conservative = q_vector.nic.rx_itr_setting == 3
    new_itr = _set_itr_value(current_itr, q_vector.itr_val, conservative)
    chosen = (f"{_RANGES[current_itr]}{' (conservative mode: low_latency)' if conservative and not current_itr else ''}"
              f" → EITR {new_itr}: at least {_eitr_ns(new_itr) // 1000} µs between two interrupts, "
              f"{number(1_000_000_000 // _eitr_ns(new_itr))} a second at most")
    if new_itr == q_vector.itr_val:
        trace_printk(f"{chosen}, as now")
    else:
        trace_printk(f"{chosen}, from the next interrupt on")
        q_vector.itr_val, q_vector.set_itr = new_itr, True


def _work_since(q_vector: QVector, ring_container: str) -> str:
    """``igb_update_itr``'s step line: the work it sorts and the range it picks."""
    if ring_container not in ("rx", "tx"):
        return f"ring_container {ring_container!r}?"
    packets, nbytes = getattr(q_vector, f"{ring_container}_total_packets"), getattr(q_vector,
                                                                                 f"{ring_container}_total_bytes")
    verb = "received" if ring_container == "rx" else "sent"
    if not packets:
        return f"nothing {verb} since the last choice: the range stays"
    picked = _latency_range(getattr(q_vector, f"{ring_container}_itr"), packets, nbytes)
    return f"{verb} {packets} packets, {nbytes} bytes since the last choice: {_RANGES[picked]}"


@kernel_function("drivers/net/ethernet/intel/igb/igb_main.c", lambda q_vector, ring_container: _work_since(
                 q_vector, ring_container))
def igb_update_itr(q_vector: QVector, ring_container: str) -> None:
    """The latency range of ``q_vector->rx`` or ``->tx`` (``ring_container``) from its packets and bytes since the
    last call: few small packets → lower latency, many or big ones → bulk; then clear the counts."""
    if ring_container not in ("rx", "tx"):
        raise ValueError(f"ring_container is 'rx' or 'tx', got {ring_container!r}")
    packets, nbytes = getattr(q_vector, f"{ring_container}_total_packets"), getattr(q_vector, f"{ring_container}_total_bytes")
    if not packets:
        return
    setattr(q_vector, f"{ring_container}_itr", _latency_range(getattr(q_vector, f"{ring_container}_itr"), packets, nbytes))
    setattr(q_vector, f"{ring_container}_total_packets", 0)
    setattr(q_vector, f"{ring_container}_total_bytes", 0)


@kernel_function("drivers/net/ethernet/intel/igb/igb_main.c", lambda q_vector: "adaptive moderation (several "
                 "vectors): from the average size of a packet")
def igb_update_ring_itr(q_vector: QVector) -> None:
    """Several vectors: the EITR value from the average wire size of the packets since the last call (the larger
    of received and sent), written at the next interrupt; then clear the counts."""
    avg_wire_size = max(q_vector.rx_total_bytes // q_vector.rx_total_packets if q_vector.rx_total_packets else 0,
                        q_vector.tx_total_bytes // q_vector.tx_total_packets if q_vector.tx_total_packets else 0)
    if avg_wire_size:
        new_val = _ring_itr_value(avg_wire_size, q_vector.nic.rx_itr_setting == 3)
        if new_val != q_vector.itr_val:
            trace_printk(f"{avg_wire_size} bytes a packet: EITR {q_vector.itr_val} → {new_val}, at least "
                         f"{_eitr_ns(new_val) // 1000} µs between two interrupts from the next one on")
            q_vector.itr_val, q_vector.set_itr = new_val, True
    q_vector.rx_total_packets = q_vector.rx_total_bytes = q_vector.tx_total_packets = q_vector.tx_total_bytes = 0


@kernel_function("drivers/net/ethernet/intel/igb/igb_main.c", lambda q_vector, napi_budget: "TX completion: "
                 f"free what the NIC has sent ({q_vector.tx_ring.done()} descriptors done)")
def igb_clean_tx_irq(q_vector: QVector, napi_budget: int) -> bool:
    """Free the skb of each sent packet (``napi_consume_skb``, at most ``IGB_DEFAULT_TX_WORK`` packets), then wake
    the TX queue if the driver had stopped it and ``TX_WAKE_THRESHOLD`` descriptors are free again. True if the
    ring is clean."""
    ring = q_vector.tx_ring
    budget = IGB_DEFAULT_TX_WORK
    while budget and ring.done():
        skb = ring.clean()           # the first descriptor of a packet holds its skb, the others nothing
        if isinstance(skb, SkBuff):
            segs = skb.meta.get("gso_segs", 1)
            q_vector.tx_total_packets += segs
            q_vector.tx_total_bytes += skb.len + (segs - 1) * skb.meta.get("hdr_len", 0)
            napi_consume_skb(skb, napi_budget)
            budget -= 1
    dev = q_vector.nic.dev
    if dev.queue_stopped and ring.unused() >= TX_WAKE_THRESHOLD:
        trace_printk(f"{ring.unused()} descriptors free (≥ TX_WAKE_THRESHOLD = {TX_WAKE_THRESHOLD}): wake the queue")
        netif_tx_wake_queue(dev)
    return budget > 0


@kernel_function("drivers/net/ethernet/intel/igb/igb_main.c", "igb: transmit {skb.name} on {netdev.name}")
def igb_xmit_frame(skb: SkBuff, netdev: NetDevice) -> int:
    """``ndo_start_xmit``: pad tiny frames, pick the TX ring of the skb's queue (``igb_tx_queue_mapping``)."""
    nic: Nic = netdev.priv
    if not isinstance(nic, Nic) or nic.q_vectors[0].tx_ring is None:
        raise ValueError(f"{netdev.name} has no igb TX ring (build the Nic with tx_ring_size)")
    return igb_xmit_frame_ring(skb, nic.q_vectors[skb.meta.get("queue_mapping", 0) % nic.num_queues])


def _tx_descriptors(skb: SkBuff) -> int:
    """``TXD_USE_COUNT`` of the linear part plus one per page fragment."""
    use = lambda size: -(-size // IGB_MAX_DATA_PER_TXD)  # noqa: E731
    return use(skb.len - skb.data_len) + sum(use(f) for f in skb.shinfo.frags)


@kernel_function("drivers/net/ethernet/intel/igb/igb_main.c",
                 lambda skb, q_vector: f"put {skb.name} on {q_vector.tx_ring.name} "
                                       f"({q_vector.tx_ring.unused()} descriptors free)")
def igb_xmit_frame_ring(skb: SkBuff, q_vector: QVector) -> int:
    """Reserve descriptors (too few: stop the queue, NETDEV_TX_BUSY), describe the offload in a context
    descriptor (TSO: the NIC makes ``gso_segs`` frames; else checksum offload), map the buffers."""
    ring, dev = q_vector.tx_ring, q_vector.nic.dev
    count = _tx_descriptors(skb)
    if ring.unused() < count + 3:
        dev.queue_stopped = True
        trace_printk(f"{ring.unused()} descriptors free, {count + 3} needed: stop the queue, NETDEV_TX_BUSY")
        return NETDEV_TX_BUSY
    segs = skb.meta.get("gso_segs", 1)
    if segs > 1:
        trace_printk(f"igb_tso: a context descriptor with MSS {skb.shinfo.gso_size}: the NIC makes {segs} frames")
    else:
        trace_printk("igb_tx_csum: a context descriptor, the NIC computes the TCP checksum")
    igb_tx_map(q_vector, skb, count + 1)
    if ring.unused() < DESC_NEEDED:
        dev.queue_stopped = True
        trace_printk(f"fewer than DESC_NEEDED = {DESC_NEEDED} descriptors left: stop the queue")
    return NETDEV_TX_OK


@kernel_function("drivers/net/ethernet/intel/igb/igb_main.c",
                 "DMA-map {skb.name}, fill {descriptors} descriptors, write the tail register")
def igb_tx_map(q_vector: QVector, skb: SkBuff, descriptors: int) -> None:
    """``dma_map_single`` the headers, ``skb_frag_dma_map`` each page fragment, fill the descriptors, write the
    tail: the NIC fetches the bytes by DMA while it sends. The CPU copies nothing."""
    ring = q_vector.tx_ring
    ring.give(skb)
    for _ in range(descriptors - 1):
        ring.give(None)
    account_dma(skb.meta.get("payload", skb.len), "igb_tx_map", "skb data in memory", "NIC")
    done_at = q_vector.nic.transmit(q_vector, skb, descriptors)
    trace_printk(f"the NIC sends {skb.name} by {done_at / 1000:.3f} µs")
