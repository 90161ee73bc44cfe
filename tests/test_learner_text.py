"""No Python repr and no scientific notation in what a learner reads: every step's text of every chapter's stories
(header, what the function does, what changed), in both kernels."""
import re

import pytest

from netlab.view.text import step_text
from stories import STORIES

RAW = re.compile(r"\bNone\b|\{'|\[\{|\(\{|<[\w.]+ object at|\b\d+(\.\d+)?e[+-]?\d+\b|\d\.\d{7,}")
"""A dict or list repr, None (as a value or in a sentence: "window None"), an object's default repr, scientific
notation, a float's raw digits."""


@pytest.mark.parametrize("profile", ["3.10", "6.12"])
@pytest.mark.parametrize("story", STORIES)
def test_every_step_reads_as_words(story, profile):
    trace = STORIES[story][0](profile)
    raw = [(i, m.group(0), line) for i in range(len(trace)) for line in step_text(trace, i).splitlines()
           for m in [RAW.search(line)] if m]
    assert not raw, f"{story} ({profile}): {len(raw)} lines read as Python, e.g. step {raw[0][0] + 1}: {raw[0][2]!r}"


def test_the_pattern_catches_what_it_is_for():
    for text in ("rmem: None → 0", "ACK up to 7 arrived, window None", "{'curr': 'server'}", "[{'a': 1}]",
                 "rate 4.00349e+06", "t = 0.30000000000000004", "<netlab.kernel.sock.Sock object at 0x7f>"):
        assert RAW.search(text), text
    for text in ("t = 1.086 s", "CPU 0 · softnet · poll_list: empty → eth0-rx0", "ring 4,003,490", "tcp_v4_rcv()"):
        assert not RAW.search(text), text
