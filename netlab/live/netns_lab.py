"""A kernel lab without root: experiments in a private network namespace, with remote peers played through TUN
devices.

:func:`run` starts a child process (:mod:`netlab.live.netns_child`) in a user and a network namespace of its own
(:func:`netlab.live.own_net.run_in_own_net`: no root needed where the kernel allows it), brings up ``lo`` and a
TUN device per group of experiments, sets that namespace's own sysctls (never the learner's), plays the remote
peers by writing packets into a TUN and reading what the kernel writes back (pyroute2 for netlink, scapy for the
packets, both imported in the child only), and reads the namespace's own counters (``/proc/net/netstat``,
``/proc/net/tcp``, sock_diag): nothing else on the machine moves them. Every experiment is bounded in packets and
seconds; everything dies with the child. What the experiments claim, and the model's answer beside each reading,
is the scenarios' part (:mod:`netlab.scenarios.handshake_claims` for chapter 05).
"""
from __future__ import annotations

import json

from netlab import check
from netlab.live.netns_child import EXPERIMENTS, NETWORKS
from netlab.live.own_net import run_in_own_net
from netlab.live.result import LiveResult

HOW = ("a child process in a user and network namespace of its own: lo and TUN devices up, its own sysctls, "
       "peers played through a TUN, its own /proc/net counters")
TIMEOUT_S = 30.0
MAX_GROUPS = len(NETWORKS)
"""Groups of experiments that run at once, one per TUN device (one per RFC 5737 TEST-NET)."""


@check.arguments
def run(groups: list[list[tuple[str, dict]]], what: str, timeout_s: check.Timeout = TIMEOUT_S) -> LiveResult:
    """Run ``groups`` of (experiment, parameters) in one child and namespace: each group on a TUN device of its
    own, the groups at once, a group's experiments one after another. The value: the child's replies, a list per
    group; "not available here, because …" where namespaces are refused (or this is not Linux)."""
    if not 1 <= len(groups) <= MAX_GROUPS or not all(groups):
        raise ValueError(f"groups must be 1 to {MAX_GROUPS} non-empty lists of (experiment, parameters)")
    for name, _ in (step for group in groups for step in group):
        check.choice("experiment", name, list(EXPERIMENTS))
    return run_in_own_net(what, HOW, "netlab.live.netns_child", [json.dumps(groups)], timeout_s,
                          lambda reply: reply["results"])
