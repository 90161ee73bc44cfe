"""A TCP segment to a port with no socket is answered with a RST, whatever was imported before (issue 11)."""
import json
import subprocess
import sys

import pytest

CLOSED_PORT_RECEIVE = """
import json, sys
if sys.argv[1] == "handshake first":
    import netlab.kernel.tcp_handshake  # chapter 05's model, imported before chapter 01's host
from netlab.kernel.nic import Packet
from netlab.scenarios.receive import Host

host = Host("6.12")
sent = []
host.net.xmit = lambda net, skb: sent.append(skb)
host.receive([Packet(1000, dport=9, seq=7, length=64, name="data")])
trace = host.record()
print(json.dumps({"functions": [e.function for e in trace], "mib": dict(host.net.mib),
                  "replies": [[s.meta["flags"], s.meta["seq"], s.meta["ack_seq"], s.meta["dport"]] for s in sent]}))
"""


def _closed_port_receive(order: str) -> dict:
    done = subprocess.run([sys.executable, "-c", CLOSED_PORT_RECEIVE, order], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


@pytest.fixture(scope="module")
def both_orders():
    return {order: _closed_port_receive(order) for order in ("chapter 01 alone", "handshake first")}


def test_a_segment_to_a_closed_port_is_answered_with_a_reset(both_orders):
    result = both_orders["chapter 01 alone"]
    assert "tcp_v4_send_reset" in result["functions"]
    # a segment without ACK is answered RST|ACK acknowledging its sequence number (tcp_v4_send_reset)
    assert result["replies"] == [[["RST", "ACK"], 0, 7, 40000]]
    assert result["mib"]["TcpInSegs"] == 1


def test_the_closed_port_reply_does_not_depend_on_import_order(both_orders):
    assert both_orders["chapter 01 alone"] == both_orders["handshake first"]
