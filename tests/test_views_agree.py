"""Every drawing agrees with its step: an object the step's text names (an skb, a socket, a request, a packet, a
CPU) that the model holds at that step is in that step's drawing, for every step of every chapter's stories."""
import dataclasses
import html
import re

import pytest

from stories import STORIES

WORD = re.compile(r"[A-Za-z_][\w'.-]*[\w']|CPU \d+")


def names_in(state) -> set[str]:
    """Every name a snapshot holds (skbs, sockets, queues, tasks …), wherever it sits in it."""
    out: set[str] = set()

    def walk(v):
        if isinstance(v, str):
            out.add(v)
        elif dataclasses.is_dataclass(v):
            for f in dataclasses.fields(v):
                walk(getattr(v, f.name))
        elif isinstance(v, dict):
            for k, x in v.items():
                walk(k)
                walk(x)
        elif isinstance(v, (list, tuple, set, frozenset)):
            for x in v:
                walk(x)

    walk(state)
    return out


def missing(trace, draw) -> list[tuple[int, str, str]]:
    """(step, name, text) for each name a step's text gives that its state holds and its drawing lacks."""
    out = []
    for i, e in enumerate(trace):
        held = names_in(e.state)
        named = {w for w in WORD.findall(e.text) if w in held and len(w) > 1}
        picture = html.unescape(draw(e))
        out += [(i, name, e.text) for name in sorted(named) if name not in picture]
    return out


@pytest.mark.parametrize("profile", ["3.10", "6.12"])
@pytest.mark.parametrize("story", STORIES)
def test_every_drawing_shows_what_its_step_names(story, profile):
    make, drawer = STORIES[story]
    trace = make(profile)
    gaps = missing(trace, drawer(trace))
    assert not gaps, (f"{story} ({profile}): {len(gaps)} steps name what their drawing lacks, e.g. step "
                      f"{gaps[0][0] + 1} names {gaps[0][1]!r}: {gaps[0][2]!r}")
