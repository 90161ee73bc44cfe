"""The functions 3.10 has under another name or in another file than 6.12, for the 3.10 profile's traces.

The models name each kernel function as 6.12 does (``kernel_function``). :data:`IN_3_10` maps a 6.12 name to
3.10's own ``(name, source file)`` (vanilla 3.10.65, ``linux-3.10.json``), or to ``None`` where 3.10 has no
such function because the caller does that work itself (a 3.10 trace then shows the calls it makes one level up,
in that caller). Where the 6.12 step text would be wrong for 3.10, a third item is 3.10's own: a format string
over the model's arguments, like :func:`netlab.trace.kernel_function`'s ``explain``.

Where a 3.10 code path is built differently, not just named differently, the models have it under 3.10's own
names (``ep_scan_ready_list`` and ``ep_send_events_proc``, only on a 3.10 profile's path): :data:`IN_6_12` maps
those to ``None``. :attr:`netlab.kernel.profiles.KernelProfile.renamed` holds a profile's map; the Tracer
applies it.
"""
from __future__ import annotations

from types import MappingProxyType
from typing import Callable, Mapping, Sequence

from netlab import check

KernelName = tuple[str, str] | tuple[str, str, str | Callable[..., str]] | None
"""How a kernel names a modelled function: (name, source file), optionally its own step text; None: not at all."""

_SCHED = "kernel/sched/core.c"

IN_3_10 = MappingProxyType({
    # interrupts and softirqs (kernel/softirq.c): __do_softirq runs the pending softirqs' loop itself
    "__do_softirq": ("__do_softirq", "kernel/softirq.c",
                     "run every pending softirq; restart while more are raised, within MAX_SOFTIRQ_TIME and "
                     "MAX_SOFTIRQ_RESTART and unless need_resched(), else wake ksoftirqd"),
    "handle_softirqs": None,
    "__local_bh_enable_ip": ("_local_bh_enable_ip", "kernel/softirq.c"),
    "local_bh_disable": ("local_bh_disable", "kernel/softirq.c"),
    "local_bh_enable": ("local_bh_enable", "kernel/softirq.c"),
    # receive (net/core/dev.c, drivers): the driver calls napi_complete; GRO lives in dev.c
    "napi_complete_done": ("napi_complete", "net/core/dev.c",
                           "{n.name} is done: flush GRO, leave the poll_list, clear NAPI_STATE_SCHED"),
    "napi_schedule_prep": ("napi_schedule_prep", "include/linux/netdevice.h"),
    "napi_gro_receive": ("napi_gro_receive", "net/core/dev.c"),
    "napi_skb_finish": ("napi_skb_finish", "net/core/dev.c"),
    # GRO (net/core/dev.c, net/core/skbuff.c, net/ipv4/tcp_ipv4.c, net/ipv4/tcp.c): one gro_list, no UDP GRO
    "dev_gro_receive": ("dev_gro_receive", "net/core/dev.c"),
    "gro_list_prepare": ("gro_list_prepare", "net/core/dev.c"),
    "gro_flush_oldest": None,                   # never reached: a full gro_list makes the skb GRO_NORMAL
    "napi_gro_complete": ("napi_gro_complete", "net/core/dev.c"),
    "napi_gro_flush": ("napi_gro_flush", "net/core/dev.c"),
    "skb_gro_receive": ("skb_gro_receive", "net/core/skbuff.c"),
    "napi_skb_free_stolen_head": None,          # napi_skb_finish frees the sk_buff itself (kmem_cache_free)
    "tcp4_gro_receive": ("tcp4_gro_receive", "net/ipv4/tcp_ipv4.c"),
    "tcp_gro_receive": ("tcp_gro_receive", "net/ipv4/tcp.c"),
    "tcp4_gro_complete": ("tcp4_gro_complete", "net/ipv4/tcp_ipv4.c"),
    "tcp_gro_complete": ("tcp_gro_complete", "net/ipv4/tcp.c"),
    "udp4_gro_receive": None,                   # UDP has no gro_receive: inet_gro_receive flushes the packet itself
    "__netif_receive_skb_one_core": None,       # __netif_receive_skb_core delivers to ip_rcv itself
    "__netif_receive_skb_core": ("__netif_receive_skb_core", "net/core/dev.c",
                                 "{skb.name}: give every tap a copy, then call its protocol handler"),
    "ip_rcv_core": None,                        # ip_rcv checks the header itself
    "ip_rcv_finish_core": None,                 # ip_rcv_finish routes the packet itself
    "ip_protocol_deliver_rcu": None,            # ip_local_deliver_finish calls the protocol's handler
    "napi_poll": None,                          # net_rx_action calls n->poll itself
    "__napi_poll": None,
    "kfree_skb": ("kfree_skb", "net/core/skbuff.c"),
    "sock_queue_rcv_skb": ("sock_queue_rcv_skb", "net/core/sock.c"),
    "tcp_add_backlog": ("sk_add_backlog", "include/net/sock.h"),  # tcp_v4_rcv: sk_add_backlog(sk, skb, limit)
    "tcp_data_ready": None,                     # tcp_rcv_established and tcp_data_queue call sk->sk_data_ready
    # loopback (net/core/dev.c): netif_rx is the body; enqueue_to_backlog schedules the backlog NAPI itself
    "__netif_rx": ("netif_rx", "net/core/dev.c",
                   "queue {skb.name} on this CPU's backlog (from any context: enqueue_to_backlog on get_cpu())"),
    "napi_schedule_rps": None,
    "sock_rps_record_flow": ("sock_rps_record_flow", "include/net/sock.h"),   # 6.12 moved it to net/rps.h
    "skb_flow_limit": None,                     # the flow limit came in 3.11: enqueue_to_backlog tests qlen only
    "__napi_schedule_irqoff": None,
    # send (net/ipv4/tcp.c, tcp_output.c, ip_output.c, net/core/dev.c)
    "tcp_sendmsg_locked": None,                 # tcp_sendmsg does the work under lock_sock itself
    "tcp_recvmsg_locked": None,                 # tcp_recvmsg does the work under lock_sock itself
    "tcp_stream_alloc_skb": ("sk_stream_alloc_skb", "net/ipv4/tcp.c"),
    "tcp_skb_entail": ("skb_entail", "net/ipv4/tcp.c"),
    "__tcp_transmit_skb": None,                 # tcp_transmit_skb is the body
    "__ip_queue_xmit": ("ip_queue_xmit", "net/ipv4/ip_output.c"),
    "ip_route_output_key_hash_rcu": ("__ip_route_output_key", "net/ipv4/route.c"),
    "__ip_finish_output": None,                 # ip_finish_output checks for fragmentation itself
    "ip_finish_output_gso": None,
    "__dev_queue_xmit": ("dev_queue_xmit", "net/core/dev.c"),
    "validate_xmit_skb": None,                  # dev_hard_start_xmit segments a GSO skb itself
    "__skb_gso_segment": ("__skb_gso_segment", "net/core/dev.c"),
    "xmit_one": None,                           # dev_hard_start_xmit calls ndo_start_xmit itself
    "napi_consume_skb": ("dev_kfree_skb_any", "net/core/dev.c"),  # igb_clean_tx_irq
    "skb_attempt_defer_free": ("sk_eat_skb", "include/net/sock.h",   # tcp_recvmsg
                               "{skb.name} was read: unlink and free it (__kfree_skb)"),
    # system calls (SYSCALL_DEFINEn bodies: sys_*)
    "__sys_socket": ("sys_socket", "net/socket.c"),
    "__sys_listen": ("sys_listen", "net/socket.c",
                     "listen(backlog {backlog}): find the socket, cap the backlog at net.core.somaxconn, then "
                     "sock->ops->listen"),
    "__sys_listen_socket": None,
    "__sys_accept4": ("sys_accept4", "net/socket.c"),
    "__sys_accept4_file": ("sys_accept4", "net/socket.c"),
    "do_accept": None,
    "__sys_recvfrom": ("sys_recvfrom", "net/socket.c"),
    "__sys_sendto": ("sys_sendto", "net/socket.c"),
    "__sock_release": ("sock_release", "net/socket.c"),
    "sock_free_inode": ("sock_destroy_inode", "net/socket.c",
                        "free the socket_wq (kfree_rcu) and put struct socket_alloc back in sock_inode_cache"),
    "close_fd": ("__close_fd", "fs/file.c"),
    "ksys_read": ("sys_read", "fs/read_write.c"),
    "ksys_write": ("sys_write", "fs/read_write.c"),
    "alloc_file_pseudo": None,                  # sock_alloc_file calls d_alloc_pseudo, then alloc_file
    "alloc_file": ("alloc_file", "fs/file_table.c",
                   "a struct file for the path: get_empty_filp, then set its path and ops"),
    "alloc_empty_file": ("get_empty_filp", "fs/file_table.c"),
    "dentry_free": ("d_free", "fs/dcache.c"),
    # epoll (fs/eventpoll.c)
    "do_epoll_create": ("sys_epoll_create1", "fs/eventpoll.c"),
    "do_epoll_ctl": ("sys_epoll_ctl", "fs/eventpoll.c"),
    "do_epoll_wait": ("sys_epoll_wait", "fs/eventpoll.c"),
    "ep_alloc_epitem": None,                    # ep_insert allocates and registers the epitem itself
    "ep_register_epitem": None,
    "rb_insert_color_cached": None,             # ep_rbtree_insert calls rb_insert_color
    "rb_erase_cached": ("rb_erase", "lib/rbtree.c",
                        "erase the node and rebalance (3.10's rbr keeps no cached leftmost node)"),
    "vfs_poll": None,                           # ep_item_poll calls file->f_op->poll
    "ep_start_scan": None,                      # ep_scan_ready_list splices rdllist off itself,
    "ep_deliver_event": None,                   # ep_send_events_proc delivers each item itself
    "ep_done_scan": None,                       # and ep_scan_ready_list splices the list back itself
    # TCP connections (net/ipv4)
    "__inet_listen_sk": None,                   # inet_listen starts listening itself
    "tcp_conn_request": None,                   # tcp_v4_conn_request handles the SYN itself
    "inet_reqsk_alloc": ("inet_reqsk_alloc", "include/net/inet_sock.h"),
    "reqsk_alloc": ("reqsk_alloc", "include/net/request_sock.h"),
    "reqsk_put": None,                          # no reference count: the callers free a request (reqsk_free)
    "tcp_get_cookie_sock": ("get_cookie_sock", "net/ipv4/syncookies.c"),
    "inet_csk_complete_hashdance": None,        # tcp_check_req unlinks the request and queues the child itself
    "inet_csk_reqsk_queue_add": ("inet_csk_reqsk_queue_add", "include/net/inet_connection_sock.h"),
    "inet_csk_reqsk_queue_drop": ("inet_csk_reqsk_queue_drop", "include/net/inet_connection_sock.h"),
    "tcp_rtx_synack": ("tcp_v4_rtx_synack", "net/ipv4/tcp_ipv4.c"),  # inet_rtx_syn_ack: rsk_ops->rtx_syn_ack
    "__tcp_close": None,                        # tcp_close is the body
    "inet_twsk_hashdance_schedule": ("__inet_twsk_hashdance", "net/ipv4/inet_timewait_sock.c"),
    "inet_twsk_kill": ("__inet_twsk_kill", "net/ipv4/inet_timewait_sock.c"),
    "inet_twsk_deschedule_put": ("inet_twsk_deschedule", "net/ipv4/inet_timewait_sock.c"),
    # wait queues, locks, timers, the scheduler (kernel/wait.c, kernel/mutex.c, kernel/timer.c, kernel/hrtimer.c)
    "__wake_up": ("__wake_up", _SCHED),
    "__wake_up_common": ("__wake_up_common", _SCHED),
    "add_wait_queue": ("add_wait_queue", "kernel/wait.c"),
    "add_wait_queue_exclusive": ("add_wait_queue_exclusive", "kernel/wait.c"),
    "autoremove_wake_function": ("autoremove_wake_function", "kernel/wait.c"),
    "prepare_to_wait": ("prepare_to_wait", "kernel/wait.c"),
    "prepare_to_wait_exclusive": ("prepare_to_wait_exclusive", "kernel/wait.c"),
    "finish_wait": ("finish_wait", "kernel/wait.c"),
    "remove_wait_queue": ("remove_wait_queue", "kernel/wait.c"),
    "mutex_lock": ("mutex_lock", "kernel/mutex.c"),
    "mutex_unlock": ("mutex_unlock", "kernel/mutex.c"),
    "schedule_timeout": ("schedule_timeout", "kernel/timer.c"),
    "schedule_hrtimeout_range": ("schedule_hrtimeout_range", "kernel/hrtimer.c"),
    "try_to_block_task": None,                  # __schedule dequeues the sleeping task itself
    "schedule_idle": ("schedule_preempt_disabled", _SCHED),  # the idle loop (kernel/cpu/idle.c)
    "do_task_dead": ("do_exit", "kernel/exit.c"),
    # memory (mm/slub.c)
    "kmem_cache_alloc": ("kmem_cache_alloc", "mm/slub.c"),
})
"""6.12 name -> 3.10's (name, source file[, step text]), or None: 3.10 has no such function, its caller does the
work."""

IN_6_12 = MappingProxyType({
    "ep_scan_ready_list": None,                 # ep_send_events scans between ep_start_scan and ep_done_scan
    "ep_send_events_proc": None,                # ep_send_events delivers each item (ep_deliver_event)
})
"""The functions modelled under 3.10's names for 3.10's own code paths -> None: 6.12 has none of them."""


@check.arguments
def named(renamed: Mapping[str, KernelName], functions: Sequence[str]) -> list[str]:
    """``functions`` (6.12 names) as a kernel whose profile has ``renamed`` names them, without those it lacks."""
    out = []
    for name in functions:
        where = renamed.get(name, (name, ""))
        if where is not None:
            out.append(where[0])
    return out
