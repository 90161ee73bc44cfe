"""Chapter 05's kernel lab in a private namespace: the model's answers, the kernel's (live), and the answer where
namespaces are refused (the model's answer beside the reason)."""
import json
import shutil
import subprocess
import sys

import pytest

from netlab.live import netns_lab
from netlab.scenarios import handshake_claims as lab
from netlab.live.claims import Claim
from netlab.live.result import LiveResult, Why

linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="network namespaces of Linux")


# --- the model's side --------------------------------------------------------------------------------------------

def test_the_model_answers_each_syn_queue_case():
    e = lab.syn_queue_experiment()
    answers = [e.model(case) for case in e.cases]
    assert [(a["requests in SYN_RECV"], a["SYN-ACKs sent"]) for a in answers] == [(17, 40), (9, 40), (17, 17),
                                                                                  (25, 25), (1, 1)]
    assert [(a["ListenDrops"], a["TCPReqQFullDrop"], a["TCPReqQFullDoCookies"]) for a in answers] == [
        (0, 0, 23), (0, 0, 31), (23, 23, 0), (15, 0, 0), (39, 39, 0)]
    assert e.parameters(e.cases[1]) == {"backlog": 16, "syns": 40, "somaxconn": 8, "tcp_max_syn_backlog": 2048,
                                        "tcp_syncookies": 1}


def test_the_model_times_the_retransmissions():
    synack = lab.synack_experiment(1)
    assert synack.model(synack.cases[0]) == {"SYN-ACKs sent at": [0.0, 1.0],
                                             "request dropped at": 3.0}
    syn = lab.syn_experiment(1, 1)
    assert syn.model(syn.cases[0]) == {"SYNs sent at": [0.0, 1.0, 2.0], "connect() says": "ETIMEDOUT",
                                       "connect() gives up at": 4.0}
    assert syn.cases[0]["seconds"] == 4.5
    assert lab.syn_experiment(1, 0).model(lab.syn_experiment(1, 0).cases[0])["connect() gives up at"] == 3.0


def test_the_model_answers_the_last_ack_and_the_clamp():
    overflow = lab.accept_overflow_experiment()
    assert [overflow.model(c) for c in overflow.cases] == [
        {"the last ACK gets back": [], "ListenOverflows": 1, "ListenDrops": 1, "EmbryonicRsts": 0},
        {"the last ACK gets back": ["RST"], "ListenOverflows": 1, "ListenDrops": 1, "EmbryonicRsts": 1}]
    clamp = lab.accept_queue_experiment(somaxconn=8, backlog=1000)
    assert clamp.model(clamp.cases[0]) == {"accept queue limit (Send-Q)": 8, "accept queue (Recv-Q)": 9,
                                           "peers answered": 9, "ListenOverflows": 3}


def test_times_agree_within_the_timer_slack_and_counts_exactly():
    model = {"SYNs sent at": [0.0, 1.0], "connect() says": "ETIMEDOUT", "connect() gives up at": 3.0}

    def kernel(syns, says="ETIMEDOUT", at=3.0):
        return {"SYNs sent at": syns, "connect() says": says, "connect() gives up at": at}
    assert lab._times_agree(kernel([0.002, 1.2], at=3.1), model)
    assert not lab._times_agree(kernel([0.0, 1.4]), model)
    assert not lab._times_agree(kernel([0.0]), model)
    assert not lab._times_agree(kernel([0.0, 1.0], None, None), model)


def test_a_comparison_reads_as_prose():
    c = lab.Comparison({"backlog": 16}, {"SYN-ACKs at": [0.001, 1.02], "connect() says": None, "drops": 1234},
                       {"SYN-ACKs at": [0.0, 1.0], "connect() says": "ETIMEDOUT", "drops": 1234}, False)
    assert c.rows() == [("SYN-ACKs at", "0.001 s, 1.02 s", "0 s, 1 s"), ("connect() says", "none", "ETIMEDOUT"),
                        ("drops", "1,234", "1,234")]
    with pytest.raises(ValueError, match="kernel and model must give the same quantities"):
        lab.Comparison({}, {"a": 1}, {"b": 1}, True)


def test_a_claim_reads_as_a_sentence_with_its_verdict():
    row = Claim.unmeasured("listen() clamps", "05", "backlog 1,000", "8", "namespaces are refused")
    assert str(row) == ("[05] listen() clamps (backlog 1,000). Model: 8; your kernel: not measured — not measurable "
                        "here, because namespaces are refused.")
    assert str(Claim("c", "05", "p", "8", "8", True)).endswith("your kernel: 8 — agrees.")
    assert Claim("c", "05", "p", "8", "9", False).verdict == "disagrees"


def test_chapter_05s_rows_come_only_for_chapter_05():
    assert lab.claims(["07"], quick=True) == []
    with pytest.raises(TypeError, match="not one str"):
        lab.claims("05")


# --- your kernel -------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def measured():
    return lab.measure_all()


@pytest.mark.live
@linux_only
def test_every_experiment_agrees_with_the_model_in_a_namespace_of_its_own(measured, skip_unless_expected):
    for result in measured:
        for comparison in skip_unless_expected(result, Why.NAMESPACES_REFUSED, Why.KERNEL_LACKS, Why.NO_ENTRY):
            assert comparison.agrees, comparison.rows()
    rows = lab.claims(results=measured)
    assert len(rows) == 10 and all(r.agrees for r in rows) and {r.chapter for r in rows} == {"05"}


@pytest.mark.live
@linux_only
def test_the_namespace_counters_are_the_experiments_own(measured, skip_unless_expected):
    """40 SYNs, 23 cookies, exactly: nothing else on the machine moves a private namespace's counters."""
    first = skip_unless_expected(measured[0], Why.NAMESPACES_REFUSED, Why.KERNEL_LACKS, Why.NO_ENTRY)[0]
    assert first.kernel["TCPReqQFullDoCookies"] == 23 and first.kernel["requests in SYN_RECV"] == 17


# --- where namespaces are refused --------------------------------------------------------------------------------

REFUSED_INSIDE = ("from netlab.scenarios import handshake_claims; import json; "
                  "print(json.dumps([[c.agrees, c.model, c.reason] for c in handshake_claims.claims()]))")


@pytest.mark.live
@linux_only
@pytest.mark.skipif(shutil.which("unshare") is None, reason="no util-linux unshare here")
def test_refused_namespaces_leave_the_model_answer_and_the_reason(measured, skip_unless_expected):
    """user.max_user_namespaces 0 in a user namespace of our own: the lab's nested unshare fails (ENOSPC)."""
    skip_unless_expected(measured[0], Why.NAMESPACES_REFUSED, Why.KERNEL_LACKS)
    done = subprocess.run(["unshare", "--user", "--map-root-user", "sh", "-c",
                           f"echo 0 > /proc/sys/user/max_user_namespaces && exec {sys.executable} -c "
                           f"'{REFUSED_INSIDE}'"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    rows = json.loads(done.stdout)
    assert len(rows) == 10 and all(agrees is None for agrees, _, _ in rows)
    assert {reason for _, _, reason in rows} == {
        "unshare(CLONE_NEWUSER|CLONE_NEWNET) answered ENOSPC: user.max_user_namespaces is 0"}
    assert rows[0][1] == ("requests in SYN_RECV 17; SYN-ACKs sent 40; ListenDrops 0; TCPReqQFullDrop 0; "
                          "TCPReqQFullDoCookies 23")


def test_a_refusal_from_the_child_is_a_reason_for_every_experiment(monkeypatch):
    monkeypatch.setattr(subprocess, "run", lambda *a, **k: subprocess.CompletedProcess(
        a, 0, '{"unavailable": "unshare(CLONE_NEWUSER|CLONE_NEWNET) answered EPERM: a seccomp filter on this '
              'process (a container\'s) refuses it", "why": "NAMESPACES_REFUSED"}\n', ""))
    monkeypatch.setattr(sys, "platform", "linux")
    results = lab.measure_all()
    assert all(r.why is Why.NAMESPACES_REFUSED for r in results)
    assert str(results[4]).startswith("listen(backlog) is clamped to somaxconn, and the accept queue holds one "
                                      "connection more than that: not available here, because unshare(")
    rows = lab.claims(results=results)
    assert {r.verdict.split(",")[0] for r in rows} == {"not measurable here"} and len(rows) == 10
    assert rows[-1].model == ("accept queue limit (Send-Q) 8; accept queue (Recv-Q) 9; peers answered 9; "
                              "ListenOverflows 3")


def test_off_linux_every_experiment_says_so(monkeypatch):
    monkeypatch.setattr(sys, "platform", "darwin")
    results = lab.measure([lab.syn_queue_experiment(), lab.synack_experiment()])
    assert [r.why for r in results] == [Why.NOT_LINUX] * 2 and "darwin" in results[0].reason
    with pytest.raises(ValueError, match="results must hold one LiveResult per experiment"):
        lab.claims(results=results, experiments=lab.chapter_experiments())
    with pytest.raises(TypeError, match="experiments must be a non-empty list of Experiment"):
        lab.measure([])
    assert isinstance(results[0], LiveResult)
    with pytest.raises(ValueError, match="groups must be 1 to 3 non-empty lists"):
        netns_lab.run([[("syn_queue", {})]] * 4, "four groups")
    with pytest.raises(ValueError, match="experiment must be one of"):
        netns_lab.run([[("nothing", {})]], "an unknown experiment")
