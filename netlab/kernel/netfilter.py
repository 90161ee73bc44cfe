"""Netfilter hooks and iptables-like rules: where a firewall looks at a packet.

Models include/linux/netfilter.h (``NF_HOOK``, ``NF_HOOK_LIST``), net/netfilter/core.c (``nf_hook_slow``,
``nf_hook_slow_list``) and net/ipv4/netfilter/ip_tables.c (``ipt_do_table``, the filter table's rule walk), Linux
6.12. The IP layer calls ``NF_HOOK`` at five points; iptables chains hang off them:

=================  ====================  ==========================================
hook               iptables chain        where
=================  ====================  ==========================================
NF_INET_PRE_ROUTING   PREROUTING         ``ip_rcv``, before routing (receive)
NF_INET_LOCAL_IN      INPUT              ``ip_local_deliver``, for this host (receive)
NF_INET_FORWARD       FORWARD            routed through (not modelled)
NF_INET_LOCAL_OUT     OUTPUT             ``__ip_local_out`` (send)
NF_INET_POST_ROUTING  POSTROUTING        ``ip_output`` (send)
=================  ====================  ==========================================

A packet tap (tcpdump) sits in ``__netif_receive_skb_core`` on receive, *before* PRE_ROUTING, and in
``dev_queue_xmit_nit`` on send, *after* POST_ROUTING; that is why tcpdump sees incoming packets that INPUT drops
but never sees outgoing packets that OUTPUT drops. A drop at OUTPUT is the sender's error: ``nf_hook_slow``'s
-EPERM comes back through ``ip_local_out`` and ``ip_send_skb``, so ``sendto()`` of a UDP datagram fails with
EPERM (3.10 and 6.12 alike; ``IP_RECVERR`` only changes what ENOBUFS does).

Rules match on protocol, addresses and ports and end in ACCEPT or DROP (the first matching rule decides; the
chain policy is ACCEPT). Each rule counts the packets it matched, like ``iptables -L -v``.
"""
from __future__ import annotations

import errno
from dataclasses import dataclass, field
from typing import Any, Callable

from netlab import check
from netlab.kernel.skbuff import SkBuff, kfree_skb
from netlab.units import plural
from netlab.trace import kernel_function, trace_printk

NFPROTO_IPV4 = 2
NF_INET_PRE_ROUTING, NF_INET_LOCAL_IN, NF_INET_FORWARD, NF_INET_LOCAL_OUT, NF_INET_POST_ROUTING = range(5)
HOOK_NAMES = ("NF_INET_PRE_ROUTING", "NF_INET_LOCAL_IN", "NF_INET_FORWARD", "NF_INET_LOCAL_OUT",
              "NF_INET_POST_ROUTING")
CHAINS = {"PREROUTING": NF_INET_PRE_ROUTING, "INPUT": NF_INET_LOCAL_IN, "FORWARD": NF_INET_FORWARD,
          "OUTPUT": NF_INET_LOCAL_OUT, "POSTROUTING": NF_INET_POST_ROUTING}
NF_DROP, NF_ACCEPT = 0, 1
TARGETS = {"DROP": NF_DROP, "ACCEPT": NF_ACCEPT}
MATCH_FIELDS = ("protocol", "saddr", "daddr", "sport", "dport")


@dataclass(eq=False)
class Rule:
    """One rule, e.g. ``Rule("INPUT", "DROP", protocol="tcp", dport=80)``; ``pkts`` counts matches."""

    chain: str
    target: str
    match: dict[str, Any] = field(default_factory=dict)
    pkts: int = 0

    def __post_init__(self):
        check.fields(self)
        if self.chain not in CHAINS:
            raise ValueError(f"chain must be one of {sorted(CHAINS)}, got {self.chain!r}")
        if self.target not in TARGETS:
            raise ValueError(f"target must be one of {sorted(TARGETS)}, got {self.target!r}")
        unknown = set(self.match) - set(MATCH_FIELDS)
        if unknown:
            raise ValueError(f"a rule matches on {MATCH_FIELDS}, not {sorted(unknown)}")
        if self.match.get("protocol") not in (None, "tcp", "udp"):
            raise ValueError("protocol must be 'tcp', 'udp' or omitted")

    @check.arguments
    def matches(self, skb: SkBuff) -> bool:
        return all(skb.meta.get(k) == v for k, v in self.match.items())

    def __str__(self) -> str:
        opts = " ".join(f"--{k} {v}" if k != "protocol" else f"-p {v}" for k, v in self.match.items())
        return f"-A {self.chain} {opts} -j {self.target}".replace("  ", " ")


@dataclass(eq=False)
class Netfilter:
    """The rules of one network namespace, by hook."""

    rules: list[Rule] = field(default_factory=list)

    def __post_init__(self):
        check.fields(self)

    @check.arguments
    def append(self, chain: str, target: str, **match) -> Rule:
        """Like ``iptables -A CHAIN [match] -j TARGET``: ``append("INPUT", "DROP", protocol="tcp", dport=80)``."""
        rule = Rule(chain, target, dict(match))
        self.rules.append(rule)
        return rule

    def flush(self) -> None:
        """``iptables -F``: remove every rule."""
        self.rules.clear()

    @check.arguments
    def hook_entries(self, hook: int) -> list[Rule]:
        """The rules registered at ``hook`` (empty: ``NF_HOOK`` goes straight to ``okfn``)."""
        return [r for r in self.rules if CHAINS[r.chain] == hook]

    def snapshot(self) -> list[str]:
        return [f"{r} ({r.pkts} pkts)" for r in self.rules]


def _check_hook(hook: int) -> None:
    if hook not in range(5):
        raise ValueError(f"hook must be one of NF_INET_* 0..4 ({', '.join(HOOK_NAMES)}), got {hook!r}")


@kernel_function("net/ipv4/netfilter/ip_tables.c", lambda skb, hook, rules: f"walk the filter table's "
                 f"{HOOK_NAMES[hook]} rules for {skb.name}")
def ipt_do_table(skb: SkBuff, hook: int, rules: list[Rule]) -> int:
    """The first rule that matches decides; no match → the chain policy (ACCEPT)."""
    for rule in rules:
        if rule.matches(skb):
            rule.pkts += 1
            trace_printk(f"{skb.name} matches `iptables {rule}`")
            return TARGETS[rule.target]
    return NF_ACCEPT


@kernel_function("net/netfilter/core.c", lambda skb, hook, rules: f"run the hooks at {HOOK_NAMES[hook]}")
def nf_hook_slow(skb: SkBuff, hook: int, rules: list[Rule]) -> int:
    """Call each registered hook; NF_DROP frees the skb and returns -EPERM, NF_ACCEPT returns 1 (go on)."""
    verdict = ipt_do_table(skb, hook, rules)
    if verdict == NF_DROP:
        trace_printk(f"NF_DROP: {skb.name} is freed here")
        kfree_skb(skb)
        return -errno.EPERM
    return 1


@kernel_function("include/linux/netfilter.h", lambda pf, hook, net, sk, skb, okfn: f"netfilter hook "
                 f"{HOOK_NAMES[hook]} for {skb.name}")
def NF_HOOK(pf: int, hook: int, net: Any, sk: Any, skb: SkBuff,  # noqa: N802
            okfn: Callable[[Any, Any, SkBuff], int]) -> int:
    """Run the hook's rules; if the packet is accepted, continue with ``okfn(net, sk, skb)``; else
    ``nf_hook_slow``'s -EPERM (dropped), which the sender's path returns to its caller."""
    _check_hook(hook)
    rules = net.nf.hook_entries(hook)
    verdict = nf_hook_slow(skb, hook, rules) if rules else 1
    return okfn(net, sk, skb) if verdict == 1 else verdict


@kernel_function("net/netfilter/core.c", lambda skbs, hook, rules: f"run the hooks at {HOOK_NAMES[hook]} for "
                 f"{plural(len(skbs), 'packet')}")
def nf_hook_slow_list(skbs: list[SkBuff], hook: int, rules: list[Rule]) -> list[SkBuff]:
    """``nf_hook_slow`` for each packet of a list; the dropped ones leave the list."""
    return [skb for skb in skbs if nf_hook_slow(skb, hook, rules) == 1]


@kernel_function("include/linux/netfilter.h", lambda pf, hook, net, skbs: f"netfilter hook {HOOK_NAMES[hook]} "
                 f"for a list of {plural(len(skbs), 'packet')}")
def NF_HOOK_LIST(pf: int, hook: int, net: Any, skbs: list[SkBuff]) -> list[SkBuff]:  # noqa: N802
    """The list form used by ``ip_list_rcv``: returns the packets that may go on."""
    _check_hook(hook)
    rules = net.nf.hook_entries(hook)
    return nf_hook_slow_list(skbs, hook, rules) if rules else list(skbs)
