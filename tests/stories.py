"""Every chapter's stories, as the notebooks run them: name -> (make(profile) -> Trace, the Stepper's draw for a
trace). The tests that read every step of every story (step text, drawings, kernel names) share this list."""
from netlab.kernel.nic import Packet
from netlab.kernel.profiles import PROFILES
from netlab.scenarios import blocking_vs_epoll as ch02
from netlab.scenarios.connection_memory import connection_trace, fd_limit_trace
from netlab.scenarios.handshake import HandshakeLab
from netlab.scenarios.journey import journey
from netlab.scenarios.loopback import local_path, nic_path
from netlab.scenarios.receive import Host
from netlab.scenarios.send import SendHost, one_send
from netlab.view.epoll import draw_step
from netlab.view.handshake import HandshakeDiagram
from netlab.view.journey import draw_journey
from netlab.view.memory import draw_fd_table, draw_slabs
from netlab.view.receive import draw_receive
from netlab.view.send import draw_send


def receive(profile):
    host = Host(profile)
    host.tcp_socket(80, peer=("10.0.0.1", 40000))
    host.receive([Packet(1000 + 500 * i, saddr="10.0.0.1", daddr=host.address, sport=40000, dport=80, length=140,
                         name=f"p{i}") for i in range(3)])
    return host.record()


def handshake(profile):
    lab = HandshakeLab(PROFILES[profile], backlog=1)
    lab.connect(3)
    lab.run(until_ms=3000)
    return lab.trace


def gso(profile):
    host = SendHost(profile, tso=False)
    return host.capture(lambda: host.send(6000)).trace


STORIES = {
    "00 journey": (lambda p: journey(profile=p), lambda t: draw_journey),
    "00 journey over loopback": (lambda p: journey(profile=p, over="loopback"), lambda t: draw_journey),
    "01 receive": (receive, lambda t: draw_receive),
    "02 blocking recv": (lambda p: ch02.blocking_recv(p).trace, lambda t: draw_step),
    "02 epoll": (lambda p: ch02.epoll_story(profile=p).trace, lambda t: draw_step),
    "02 accept": (lambda p: ch02.accept_wake_one(profile=p).trace, lambda t: draw_step),
    "03 send": (lambda p: one_send(1000, profile=p)[1].trace, lambda t: draw_send),
    "03 GSO": (gso, lambda t: draw_send),
    "04 loopback": (lambda p: local_path(PROFILES[p]), lambda t: draw_send),       # a SendHost over lo
    "04 from the NIC": (lambda p: nic_path(PROFILES[p]), lambda t: draw_receive),
    "05 handshake": (handshake, lambda t: HandshakeDiagram(t).draw),
    "06 TIME_WAIT": (lambda p: connection_trace(PROFILES[p], "client", "TIME_WAIT", expire=True),
                     lambda t: draw_slabs),
    "07 fd limit": (lambda p: fd_limit_trace(5, profile=PROFILES[p]), lambda t: draw_fd_table),
}
