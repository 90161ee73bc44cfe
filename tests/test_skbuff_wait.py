import pytest

from netlab.kernel.sched import TASK_INTERRUPTIBLE, TASK_RUNNING, Task, default_wake_function
from netlab.kernel.skbuff import (SKB_TRUESIZE, alloc_skb, alloc_skb_fclone, consume_skb, kfree_skb, skb_add_frag,
                                  skb_clone, skb_copy, skb_pull, skb_push, skb_put, skb_reserve)
from netlab.kernel.sock import Sock, Socket, sock_def_readable
from netlab.kernel.wait import WaitQueueEntry, WaitQueueHead, add_wait_queue, add_wait_queue_exclusive


def test_headers_go_into_headroom_and_come_off_on_receive():
    skb = alloc_skb(2048)
    skb_reserve(skb, 64)
    skb_put(skb, 1000)
    skb_push(skb, 20)
    assert (skb.data, skb.tail, skb.len) == (44, 1064, 1020)
    skb_pull(skb, 20)
    assert (skb.data, skb.len) == (64, 1000)
    assert skb.truesize == SKB_TRUESIZE(2048) == 2048 + 256 + 320
    with pytest.raises(ValueError, match="does not fit"):
        skb_put(skb, 5000)


def test_clone_shares_data_until_the_last_user_goes():
    orig = alloc_skb_fclone(256, name="orig")
    skb_add_frag(orig, 1448)
    clone = skb_clone(orig)
    assert clone.shinfo is orig.shinfo and orig.shinfo.dataref == 2 and clone.fclone == "clone"
    assert consume_skb(clone) and not orig.shinfo.freed      # transmitted: the retransmit copy keeps the data
    assert consume_skb(orig) and orig.shinfo.freed            # ACKed: now the data goes
    with pytest.raises(ValueError, match="already freed"):
        kfree_skb(orig)


def test_copy_owns_its_data():
    orig = alloc_skb(128)
    skb_put(orig, 100)
    copy = skb_copy(orig)
    assert copy.shinfo is not orig.shinfo and orig.shinfo.dataref == 1 and copy.len == 100


def test_wake_up_runs_non_exclusive_then_one_exclusive():
    wq = WaitQueueHead()
    a, b, c = Task("a", state=TASK_INTERRUPTIBLE), Task("b", state=TASK_INTERRUPTIBLE), Task("c",
                                                                                            state=TASK_INTERRUPTIBLE)
    add_wait_queue_exclusive(wq, WaitQueueEntry(default_wake_function, b, name="b"))
    add_wait_queue_exclusive(wq, WaitQueueEntry(default_wake_function, c, name="c"))
    add_wait_queue(wq, WaitQueueEntry(default_wake_function, a, name="a"))
    assert wq.snapshot() == ["a", "b (exclusive)", "c (exclusive)"]
    sk = Sock()
    Socket(sk, wq=wq)
    sock_def_readable(sk)
    assert (a.state, b.state, c.state) == (TASK_RUNNING, TASK_RUNNING, TASK_INTERRUPTIBLE)
