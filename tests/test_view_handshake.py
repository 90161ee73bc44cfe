"""The handshake sequence diagram: drawn from each step's state, in SVG and in text, inside a Stepper."""
import pytest

from netlab.scenarios.handshake import HandshakeLab
from netlab.kernel.profiles import PROFILES
from netlab.trace import Trace
from netlab.view.handshake import HandshakeDiagram
from netlab.view.stepper import Stepper


@pytest.fixture(scope="module")
def lab():
    lab = HandshakeLab(PROFILES["6.12"], 1, loopback=False, one_way_us=5_000)
    lab.connect(3, every_ms=20)
    lab.run(until_ms=1100)
    return lab


def test_every_step_draws_the_segments_sent_so_far(lab):
    diagram = HandshakeDiagram(lab.trace)
    assert diagram.lanes == ["c1", "c2", "c3", "server"]
    first, last = diagram.draw(lab.trace[0]), diagram.draw(lab.trace[-1])
    assert first.startswith("<svg") and first.count("<line") < last.count("<line")
    assert "dropped" in last and "✕" in last                 # c3's SYN found the accept queue full
    assert "ListenOverflows 2" in last                       # its SYN and the retransmission at 1 s


def test_in_flight_segments_are_dashed(lab):
    diagram = HandshakeDiagram(lab.trace)
    sent = next(e for e in lab.trace if e.state.segments)     # the first SYN, just sent
    assert 'stroke-dasharray="4,3"' in diagram.draw(sent)


def test_the_text_form_tells_the_queues(lab):
    diagram = HandshakeDiagram(lab.trace)
    text = diagram.text(lab.trace[-1])
    assert "accept queue 2/2: c1, c2" in text and "c3 SYN_SENT" in text and "ListenOverflows 2" in text


def test_a_syn_flood_gets_one_lane():
    lab = HandshakeLab(PROFILES["6.12"], 2)
    lab.syn_flood(5)
    lab.run(until_ms=5)
    diagram = HandshakeDiagram(lab.trace)
    assert diagram.lanes == ["spoofed", "server"] and "lost" in diagram.draw(lab.trace[-1])


def test_it_drives_a_stepper(lab):
    diagram = HandshakeDiagram(lab.trace)
    stepper = Stepper(lab.trace, draw=diagram.draw, check_kernel=False)
    stepper.last()
    assert "accept queue" in stepper.drawing.value and f"{lab.trace[-1].function}()" in stepper.text()


def test_bad_input_is_refused(lab):
    with pytest.raises(TypeError, match="Trace"):
        HandshakeDiagram([1, 2])
    with pytest.raises(ValueError, match="handshake state"):
        HandshakeDiagram(Trace([]))
    with pytest.raises(TypeError, match="Event"):
        HandshakeDiagram(lab.trace).draw("step 3")
