"""Chapter 05's claims checked on the learner's kernel: each handshake experiment of the namespace lab
(:mod:`netlab.live.netns_lab`) beside the handshake model's answer for the same parameters.

Bounded in packets and seconds, an :class:`Experiment` each:

* :func:`syn_queue_experiment` — SYNs that never finish, for several (backlog, somaxconn, tcp_max_syn_backlog,
  tcp_syncookies): requests in SYN_RECV, SYN-ACKs, ListenDrops, TCPReqQFullDrop, TCPReqQFullDoCookies.
* :func:`synack_experiment` — one SYN never ACKed: the SYN-ACKs' times and when the request is dropped.
* :func:`syn_experiment` — ``connect()`` to a silent peer: the SYNs' times and the ETIMEDOUT.
* :func:`accept_overflow_experiment` — the last ACK finds the accept queue full, tcp_abort_on_overflow 0 and 1.
* :func:`accept_queue_experiment` — ``listen(1000)`` under a namespace somaxconn of 8, peers handshake, nobody
  accepts: Send-Q (the clamp), Recv-Q (somaxconn + 1), how many got a SYN-ACK.

:func:`measure` and :func:`measure_all` run them: a :class:`~netlab.live.result.LiveResult` each, whose value is
a list of :class:`Comparison` (kernel and model side by side, one per case), or "not available here, because …".
:func:`claims` gives one :class:`~netlab.live.claims.Claim` row per case — with the model's answer also where
nothing could be measured. The model is :class:`HandshakeLab` on :data:`MODEL_PROFILE` with the same sysctls.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, Callable, Iterable, Mapping

from netlab import check
from netlab.kernel.profiles import PROFILES, KernelProfile
from netlab.live import netns_lab
from netlab.live.claims import Claim
from netlab.live.result import LiveResult
from netlab.scenarios.handshake import HandshakeLab
from netlab.units import number

MODEL_PROFILE = PROFILES["6.12"]
CHAPTER = "05"
SYN_QUEUE_COUNTERS = ("ListenDrops", "TCPReqQFullDrop", "TCPReqQFullDoCookies")
OVERFLOW_COUNTERS = ("ListenOverflows", "ListenDrops", "EmbryonicRsts")
TIME_TOLERANCE_S = 0.25   # timer slack (jiffies, a busy machine) between the kernel's times and the model's
NAMES = {"S": "SYN", "SA": "SYN-ACK", "A": "ACK", "R": "RST", "RA": "RST"}


@dataclass(frozen=True)
class Comparison:
    """One case of an experiment: its parameters, and {quantity: value} as the kernel and the model give them."""

    parameters: Mapping[str, int]
    kernel: Mapping[str, Any]
    model: Mapping[str, Any]
    agrees: bool

    def __post_init__(self):
        check.fields(self)
        if set(self.kernel) != set(self.model):
            raise ValueError("kernel and model must give the same quantities")

    def rows(self) -> list[tuple[str, str, str]]:
        """(quantity, your kernel, the model) as prose, for a table."""
        return [(q, _words(self.kernel[q]), _words(self.model[q])) for q in self.model]


def _words(value: Any) -> str:
    """A quantity in prose; a float is always a time in seconds after the first packet."""
    if value is None:
        return "none"
    if isinstance(value, (list, tuple)):
        return ", ".join(map(_words, value)) or "nothing"
    if isinstance(value, float):
        return f"{number(value)} s"
    return number(value) if isinstance(value, int) else str(value)


def _profile(sysctls: Mapping[str, int]) -> KernelProfile:
    """The model profile with these sysctls (``net.core.somaxconn`` → ``somaxconn``, …)."""
    return MODEL_PROFILE.replace(**{name.rsplit(".", 1)[1]: value for name, value in sysctls.items()})


def _params_in_words(parameters: Mapping[str, int]) -> str:
    return ", ".join(f"{name} {number(value)}" for name, value in parameters.items())


def _close(kernel: list[float], model: list[float]) -> bool:
    return len(kernel) == len(model) and all(abs(k - m) <= TIME_TOLERANCE_S for k, m in zip(kernel, model))


# --- the experiments: for each case, its parameters, the model's answer and the kernel's, in the same words ------

@dataclass(frozen=True)
class Experiment:
    """One experiment: the claim it checks, its cases (the child's parameters, ``sysctls`` among them), the
    model's answer for a case and the kernel's reply in the same quantities, and when the two agree."""

    name: str                                    # the child's function (netlab.live.netns_child)
    claim: str
    cases: tuple[Mapping[str, Any], ...]
    model: Callable[[Mapping[str, Any]], dict]
    kernel: Callable[[dict], dict]
    agree: Callable[[dict, dict], bool] | None = None       # None: they agree when they are equal

    def __post_init__(self):
        check.fields(self)
        if not self.cases:
            raise ValueError("an experiment needs at least one case")

    @staticmethod
    @check.arguments
    def parameters(case: Mapping[str, Any]) -> dict[str, Any]:
        """A case's parameters, its sysctls by their short names; a child's time bound is not one."""
        return {**{k: v for k, v in case.items() if k not in ("sysctls", "seconds", "window")},
                **{name.rsplit(".", 1)[1]: v for name, v in case["sysctls"].items()}}

    @check.arguments
    def compare(self, replies: list[dict]) -> list[Comparison]:
        """The kernel's replies (one per case, from the child) beside the model's answers."""
        out = []
        for case, reply in zip(self.cases, replies):
            kernel, model = self.kernel(reply), self.model(case)
            agrees = kernel == model if self.agree is None else self.agree(kernel, model)
            out.append(Comparison(self.parameters(case), kernel, model, agrees))
        return out


def _syn_queue_model(case: Mapping[str, Any]) -> dict:
    lab = HandshakeLab(_profile(case["sysctls"]), case["backlog"], loopback=False, record=False)
    lab.syn_flood(case["syns"], every_ms=0.01)
    o = lab.run(until_ms=100)
    return {"requests in SYN_RECV": len(o.syn_queue),
            "SYN-ACKs sent": sum(s.name == "SYN-ACK" for s in lab.segment_log()),
            **{c: o.counters[c] for c in SYN_QUEUE_COUNTERS}}


def _syn_queue_kernel(reply: dict) -> dict:
    return {"requests in SYN_RECV": reply["syn_recv"], "SYN-ACKs sent": reply["synacks"],
            **{c: reply["counters"][c] for c in SYN_QUEUE_COUNTERS}}


def _synack_model(case: Mapping[str, Any]) -> dict:
    lab = HandshakeLab(_profile(case["sysctls"]), 8, loopback=False)
    lab.syn_flood(1)
    lab.run(until_ms=case["seconds"] * 1000)
    arrived = lab.segment_log()[0].arrive_ns
    drops = lab.trace.filter(function="inet_csk_reqsk_queue_drop")
    return {"SYN-ACKs sent at": [round((s.sent_ns - arrived) / 1e9, 3) for s in lab.segment_log()
                                 if s.name == "SYN-ACK"],
            "request dropped at": round((drops[0].time_ns - arrived) / 1e9, 3) if drops else None}


def _synack_kernel(reply: dict) -> dict:
    return {"SYN-ACKs sent at": reply["synacks"], "request dropped at": reply["request_gone"]}


def _times_agree(kernel: dict, model: dict) -> bool:
    for q, m in model.items():
        k = kernel[q]
        if isinstance(m, list) and not _close(k, m):
            return False
        if isinstance(m, float) and (k is None or abs(k - m) > TIME_TOLERANCE_S):
            return False
        if not isinstance(m, (list, float)) and k != m:
            return False
    return True


def _syn_model(case: Mapping[str, Any]) -> dict:
    lab = HandshakeLab(_profile(case["sysctls"]), 0, loopback=False)
    del lab.nets[lab.server_addr]                 # a silent peer: every SYN is lost
    lab.connect(1)
    o = lab.run(until_ms=case["seconds"] * 1000)
    gave_up = lab.trace.filter(function="tcp_write_err")
    return {"SYNs sent at": [round(s.sent_ns / 1e9, 3) for s in lab.segment_log() if s.name == "SYN"],
            "connect() says": o.errors.get("c1"),
            "connect() gives up at": round(gave_up[0].time_ns / 1e9, 3) if gave_up else None}


def _syn_kernel(reply: dict) -> dict:
    return {"SYNs sent at": reply["syns"], "connect() says": reply["error"],
            "connect() gives up at": reply["error_at"]}


def _overflow_model(case: Mapping[str, Any]) -> dict:
    backlog, window_ms = case["backlog"], case["window"] * 1000
    lab = HandshakeLab(_profile(case["sysctls"]), backlog, loopback=False, one_way_us=50_000, record=False)
    if backlog:
        lab.connect(backlog, every_ms=1)
    last = lab.connect(2, at_ms=200, every_ms=0.1)[-1]
    o = lab.run(until_ms=400.1 + window_ms)
    acked = next(s.arrive_ns for s in lab.segment_log() if s.name == "ACK" and s.src == last)
    answer = [s.name for s in lab.segment_log()
              if s.dst == last and s.name != "SYN-ACK" and acked <= s.sent_ns <= acked + window_ms * 1e6]
    return {"the last ACK gets back": answer, **{c: o.counters[c] for c in OVERFLOW_COUNTERS}}


def _overflow_kernel(reply: dict) -> dict:
    return {"the last ACK gets back": [NAMES.get(f, f) for f in reply["answer"]],
            **{c: reply["counters"][c] for c in OVERFLOW_COUNTERS}}


def _accept_queue_model(case: Mapping[str, Any]) -> dict:
    lab = HandshakeLab(_profile(case["sysctls"]), case["backlog"], loopback=False, record=False)
    lab.connect(case["peers"], every_ms=1)
    o = lab.run(until_ms=case["peers"] + 10)
    return {"accept queue limit (Send-Q)": o.backlog, "accept queue (Recv-Q)": len(o.accept_queue),
            "peers answered": o.established_clients, "ListenOverflows": o.counters["ListenOverflows"]}


def _accept_queue_kernel(reply: dict) -> dict:
    return {"accept queue limit (Send-Q)": reply["send_q"], "accept queue (Recv-Q)": reply["recv_q"],
            "peers answered": reply["answered"], "ListenOverflows": reply["counters"]["ListenOverflows"]}


SYN_QUEUE_CASES = ((16, 4096, 2048, 1), (16, 8, 2048, 1), (16, 4096, 2048, 0), (64, 4096, 32, 0), (0, 4096, 2048, 0))
"""(backlog, somaxconn, tcp_max_syn_backlog, tcp_syncookies) of :func:`syn_queue_experiment`."""
SmallCount = Annotated[int, check.Range(1, 3)]


def syn_queue_experiment() -> Experiment:
    """Experiment 1: 40 SYNs that never finish, for each of :data:`SYN_QUEUE_CASES`."""
    cases = tuple({"backlog": b, "syns": 40, "sysctls": {"net.core.somaxconn": somaxconn,
                                                         "net.ipv4.tcp_max_syn_backlog": max_syn,
                                                         "net.ipv4.tcp_syncookies": cookies}}
                  for b, somaxconn, max_syn, cookies in SYN_QUEUE_CASES)
    return Experiment("syn_queue", "SYNs that never finish fill the SYN queue to its limit; the rest get a SYN "
                      "cookie or are dropped", cases, _syn_queue_model, _syn_queue_kernel)


@check.arguments
def synack_experiment(synack_retries: SmallCount = 1) -> Experiment:
    """Experiment 2: one SYN never ACKed under a small tcp_synack_retries; watched until the request is
    dropped (2**(retries+1) - 1 s) and half a second more."""
    seconds = 2 ** (synack_retries + 1) - 0.5
    return Experiment("synack_retransmissions", "an unanswered SYN-ACK is sent again 1 s, 3 s, 7 s … after the "
                      "SYN; after tcp_synack_retries timeouts the request is dropped",
                      ({"seconds": seconds, "sysctls": {"net.ipv4.tcp_synack_retries": synack_retries}},),
                      _synack_model, _synack_kernel, _times_agree)


@check.arguments
def syn_experiment(syn_retries: SmallCount = 1, linear_timeouts: Annotated[int, check.Range(0, 2)] = 1
                   ) -> Experiment:
    """Experiment 3: connect() to a silent peer under a small tcp_syn_retries and tcp_syn_linear_timeouts (a
    kernel before 6.5 has no such sysctl and doubles from the start: there the claim disagrees unless it is 0)."""
    rto, total = 1, 0                            # the waits: 1 s linear_timeouts times, then doubling
    for k in range(syn_retries + linear_timeouts + 1):
        total += rto
        rto = rto if k < linear_timeouts else 2 * rto
    return Experiment("syn_retransmissions", "a SYN nobody answers is sent again after 1 s (linearly "
                      "tcp_syn_linear_timeouts times), then with doubling waits; after tcp_syn_retries + "
                      "tcp_syn_linear_timeouts retransmissions connect() fails with ETIMEDOUT",
                      ({"seconds": total + 0.5, "sysctls": {"net.ipv4.tcp_syn_retries": syn_retries,
                                                            "net.ipv4.tcp_syn_linear_timeouts": linear_timeouts}},),
                      _syn_model, _syn_kernel, _times_agree)


def accept_overflow_experiment() -> Experiment:
    """Experiment 4: listen(1); the last ACK finds the accept queue full, tcp_abort_on_overflow 0 and 1."""
    cases = tuple({"backlog": 1, "window": 0.3, "sysctls": {"net.ipv4.tcp_abort_on_overflow": abort,
                                                            "net.ipv4.tcp_syncookies": 1}} for abort in (0, 1))
    return Experiment("accept_overflow", "an ACK that finds the accept queue full is ignored (the client believes "
                      "it is connected); with tcp_abort_on_overflow 1 it is answered with a RST", cases,
                      _overflow_model, _overflow_kernel)


@check.arguments
def accept_queue_experiment(somaxconn: Annotated[int, check.Range(1, 64)] = 8,
                            backlog: Annotated[int, check.Range(0, 65535)] = 1000) -> Experiment:
    """Experiment 5: listen(backlog) under a namespace somaxconn; min(backlog, somaxconn) + 4 peers handshake."""
    peers = min(backlog, somaxconn) + 4
    return Experiment("accept_queue", "listen(backlog) is clamped to somaxconn, and the accept queue holds one "
                      "connection more than that", ({"backlog": backlog, "peers": peers,
                                                     "sysctls": {"net.core.somaxconn": somaxconn}},),
                      _accept_queue_model, _accept_queue_kernel)


@check.arguments
def chapter_experiments(quick: bool = False) -> list[Experiment]:
    """Chapter 05's five experiments with their default parameters; ``quick`` (for CI) sets
    tcp_syn_linear_timeouts 0, so that the longest one, the SYN's, ends after 3 s instead of 4 s."""
    return [syn_queue_experiment(), synack_experiment(), syn_experiment(linear_timeouts=0 if quick else 1),
            accept_overflow_experiment(), accept_queue_experiment()]


# --- running them ------------------------------------------------------------------------------------------------

def _measure_groups(groups: list[list[Experiment]], timeout_s: float) -> list[list[LiveResult]]:
    """The lab runs each group on a TUN device of its own, the groups at once, a group's experiments one after
    another: a LiveResult per experiment, its value a list of :class:`Comparison` (one per case)."""
    plan = [[(e.name, case) for e in group for case in e.cases] for group in groups]
    reading = netns_lab.run(plan, "; ".join(e.claim for group in groups for e in group), timeout_s)
    if not reading.available:
        return [[LiveResult.unavailable(e.claim, reading.how, reading.why, reading.reason) for e in group]
                for group in groups]
    out = []
    for group, replies in zip(groups, reading.value):
        replies = iter(replies)
        out.append([LiveResult(e.claim, reading.how, e.compare([next(replies) for _ in e.cases])) for e in group])
    return out


@check.arguments
def measure(experiments: list[Experiment], timeout_s: check.Timeout = netns_lab.TIMEOUT_S) -> list[LiveResult]:
    """Run ``experiments`` one after another in one child process and namespace: a LiveResult each."""
    if not experiments or not all(isinstance(e, Experiment) for e in experiments):
        raise TypeError("experiments must be a non-empty list of Experiment")
    return _measure_groups([experiments], timeout_s)[0]


@check.arguments
def measure_all(experiments: list[Experiment] | None = None, timeout_s: check.Timeout = netns_lab.TIMEOUT_S
                ) -> list[LiveResult]:
    """Every experiment (default: :func:`chapter_experiments`) in one child and namespace: the first two that
    wait on retransmission timers each on a TUN device of its own, all the others together on a third, the three
    at once — so the whole takes about as long as the longest one. The results come in the order of
    ``experiments``."""
    experiments = chapter_experiments() if experiments is None else experiments
    if not experiments or not all(isinstance(e, Experiment) for e in experiments):
        raise TypeError("experiments must be a non-empty list of Experiment")
    slow = [e for e in experiments if any("seconds" in case for case in e.cases)][:2]
    rest = [e for e in experiments if e not in slow]
    groups = [[e] for e in slow] + ([rest] if rest else [])
    done = {id(e): r for group, rs in zip(groups, _measure_groups(groups, timeout_s)) for e, r in zip(group, rs)}
    return [done[id(e)] for e in experiments]


@check.arguments
def claims(chapters: Iterable[str] | None = None, quick: bool = False, *, results: list[LiveResult] | None = None,
           experiments: list[Experiment] | None = None) -> list[Claim]:
    """One claim row per experiment case — none unless ``chapters`` (None: all) holds "05": the model's answer
    and this kernel's, and whether they agree. Runs :func:`measure_all` on :func:`chapter_experiments` (``quick``
    for CI) unless ``results`` for ``experiments`` are given; where nothing could be measured the rows still carry
    the model's answer and say why. One of ``python -m netlab.check``'s sources
    (:data:`netlab.scenarios.kernel_check.SOURCES`)."""
    if isinstance(chapters, str):
        raise TypeError("pass a list such as ['05'], not one str")
    if chapters is not None and CHAPTER not in chapters:
        return []
    experiments = chapter_experiments(quick) if experiments is None else experiments
    results = measure_all(experiments) if results is None else results
    if len(results) != len(experiments):
        raise ValueError("results must hold one LiveResult per experiment")
    rows = []
    for e, r in zip(experiments, results):
        for i, case in enumerate(e.cases):
            model = _answer(e.model(case))
            if r.available:
                c = r.value[i]
                rows.append(Claim(e.claim, CHAPTER, _params_in_words(c.parameters), model, _answer(c.kernel),
                                  c.agrees))
            else:
                rows.append(Claim.unmeasured(e.claim, CHAPTER, _params_in_words(e.parameters(case)), model,
                                             r.reason))
    return rows


@check.arguments
def side_by_side(experiment: Experiment, result: LiveResult) -> list[tuple[str, list[tuple[str, str, str]]]]:
    """For a table per case: the case's parameters in words, and its (quantity, your kernel, the model) rows; the
    kernel's column says "not measured" where nothing could be (``str(result)`` says why)."""
    out = []
    for i, case in enumerate(experiment.cases):
        if result.available:
            c = result.value[i]
            out.append((_params_in_words(c.parameters), c.rows()))
        else:
            out.append((_params_in_words(experiment.parameters(case)),
                        [(q, "not measured", _words(v)) for q, v in experiment.model(case).items()]))
    return out


def _answer(quantities: Mapping[str, Any]) -> str:
    return "; ".join(f"{q} {_words(v)}" for q, v in quantities.items())
