"""tcpdump vs iptables on your kernel, in a network namespace of the experiment's own.

:func:`tap_vs_netfilter` starts a child in its own user+network namespace (:mod:`netlab.live.own_net`) that adds
two nftables rules there with Debian's ``nft`` (an INPUT rule dropping UDP to port 5001, an OUTPUT rule dropping
UDP to port 5002, each with a counter), opens an ``AF_PACKET`` socket on ``lo`` (what tcpdump opens) and sends one
datagram to each port over 127.0.0.1. On ``lo`` a packet passes the tap twice: on the way out
(``dev_queue_xmit_nit``, after OUTPUT: ``PACKET_OUTGOING``) and on the way in (``__netif_receive_skb_core``,
before INPUT: ``PACKET_HOST``). The child reports what the tap saw of each, what the sockets received, what the
rules counted and what ``sendto`` answered. Without ``nft`` it says so; the rules die with the namespace.
"""
from __future__ import annotations

import errno
import os
import re
import select
import shutil
import socket
import subprocess
import sys
import time
from dataclasses import dataclass

from netlab import check
from netlab.live import own_net
from netlab.live.result import LiveResult, Unavailable, Why, child_reply

LOOPBACK, INPUT_PORT, OUTPUT_PORT = "127.0.0.1", 5001, 5002
ETH_P_ALL, PACKET_HOST, PACKET_OUTGOING = 0x0003, 0, 4          # include/uapi/linux/if_ether.h, if_packet.h
RULES = f"""table inet netlab {{
  chain input {{ type filter hook input priority 0; udp dport {INPUT_PORT} counter drop; }}
  chain output {{ type filter hook output priority 0; udp dport {OUTPUT_PORT} counter drop; }}
}}
"""


@dataclass(frozen=True)
class TapReading:
    """What an AF_PACKET tap on ``lo`` and the sockets saw of one datagram dropped at INPUT and one at OUTPUT."""

    input_captured_in: bool       # the tap saw the INPUT-dropped datagram arrive (PACKET_HOST)
    input_captured_out: bool      # … and leave (PACKET_OUTGOING)
    input_delivered: bool         # the receiving socket got it
    input_dropped: int            # the INPUT rule's counter
    output_captured: bool         # the tap saw the OUTPUT-dropped datagram at all
    output_send_error: str        # what sendto() answered ("none" when it succeeded)
    output_dropped: int           # the OUTPUT rule's counter


@check.arguments
def tap_vs_netfilter(timeout_s: check.Timeout = 15.0) -> LiveResult:
    """Run the experiment of the module text in a private namespace."""
    return own_net.run_in_own_net("tcpdump vs iptables", f"a child in its own network namespace: nft INPUT and "
                                  f"OUTPUT drop rules, an AF_PACKET socket on lo, one UDP datagram to each of "
                                  f"{INPUT_PORT} and {OUTPUT_PORT}", "netlab.live.packet_tap", [], timeout_s,
                                  lambda v: TapReading(**v))


def _udp_dport(packet: bytes) -> int | None:
    if len(packet) < 20 or packet[0] >> 4 != 4 or packet[9] != socket.IPPROTO_UDP:
        return None
    ihl = (packet[0] & 0x0F) * 4
    return int.from_bytes(packet[ihl + 2:ihl + 4], "big") if len(packet) >= ihl + 4 else None


def _counters(nft: str) -> dict[str, int]:
    listing = subprocess.run([nft, "list", "table", "inet", "netlab"], capture_output=True, text=True, timeout=5,
                             check=True).stdout
    chains = re.findall(r"chain (\w+) \{.*?counter packets (\d+)", listing, re.S)
    return {name: int(packets) for name, packets in chains}


def nft_path() -> str:
    """Where the ``nft`` program is (on the PATH, or in /usr/sbin or /sbin, which an ordinary user's PATH may
    lack); :class:`Unavailable` when it is not installed."""
    found = shutil.which("nft", path=os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/sbin"]))
    if found is None:
        raise Unavailable(Why.NO_ENTRY, "nft is not installed (Debian's nftables package)")
    return found


def _child(argv: list[str]) -> dict:
    own_net.enter(argv)
    nft = nft_path()
    added = subprocess.run([nft, "-f", "-"], input=RULES, capture_output=True, text=True, timeout=5)
    if added.returncode:
        said = added.stderr.strip().splitlines()[0] if added.stderr.strip() else f"status {added.returncode}"
        if "Operation not supported" in added.stderr or "No such file or directory" in added.stderr:
            raise Unavailable(Why.KERNEL_LACKS, f"this kernel has no nf_tables (CONFIG_NF_TABLES): nft said {said}")
        raise RuntimeError(f"nft refused the rules: {added.stderr.strip()}")
    try:
        tap = socket.socket(socket.AF_PACKET, socket.SOCK_DGRAM, socket.htons(ETH_P_ALL))
    except OSError as e:
        if e.errno != errno.EAFNOSUPPORT:
            raise
        raise Unavailable(Why.KERNEL_LACKS, "this kernel has no packet sockets (CONFIG_PACKET): socket(AF_PACKET) "
                                            "answered EAFNOSUPPORT") from None
    tap.bind(("lo", ETH_P_ALL))
    receivers = {}
    for port in (INPUT_PORT, OUTPUT_PORT):
        receivers[port] = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        receivers[port].bind((LOOPBACK, port))
    sender = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sender.sendto(b"netlab input", (LOOPBACK, INPUT_PORT))
    try:
        sender.sendto(b"netlab output", (LOOPBACK, OUTPUT_PORT))
        output_error = "none"
    except OSError as e:
        output_error = errno.errorcode.get(e.errno, str(e.errno))
    seen: set[tuple[int, int]] = set()
    end = time.monotonic() + 0.3
    while (left := end - time.monotonic()) > 0 and select.select([tap], [], [], left)[0]:
        packet, address = tap.recvfrom(65535)
        if (port := _udp_dport(packet)) is not None:
            seen.add((port, address[2]))
    delivered = bool(select.select([receivers[INPUT_PORT]], [], [], 0)[0])
    counted = _counters(nft)
    return {"input_captured_in": (INPUT_PORT, PACKET_HOST) in seen,
            "input_captured_out": (INPUT_PORT, PACKET_OUTGOING) in seen, "input_delivered": delivered,
            "input_dropped": counted.get("input", 0), "output_captured": any(p == OUTPUT_PORT for p, _ in seen),
            "output_send_error": output_error, "output_dropped": counted.get("output", 0)}


if __name__ == "__main__":      # the child of tap_vs_netfilter(); its namespace (and its rules) end when it exits
    child_reply(lambda: _child(sys.argv[1:]))
