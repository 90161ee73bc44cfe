"""The socket and its file on the packet-level kernel: socket(), accept() and close() allocate and free the socket's
inode (sock_inode_cache; 3.10's socket_wq), its dentry and struct file (filp) and epoll's per-file objects
(eventpoll_epi, eventpoll_pwq, 6.x's ep_head) in the functions where Linux does, on both kernels, over a link and
over loopback; a whole journey leaks none of them; and an ESTABLISHED end holds what chapter 06's model says."""
import re

import pytest

from netlab.kernel.profiles import PROFILES
from netlab.kernel.renamed import named
from netlab.scenarios.journey import Journey

CACHES = ("sock_inode_cache", "socket_wq", "lsm_inode_cache", "lsm_file_cache", "dentry", "filp", "eventpoll_epi",
          "eventpoll_pwq", "ep_head")
"""The slab caches this part of the kernel allocates from."""
ALLOCATED_IN = {"sock_inode_cache": ["sock_alloc_inode"], "socket_wq": ["sock_alloc_inode"],
                "lsm_inode_cache": ["sock_alloc"], "dentry": ["d_alloc_pseudo"], "filp": ["alloc_empty_file"],
                "lsm_file_cache": ["alloc_empty_file"], "eventpoll_epi": ["ep_alloc_epitem", "ep_insert"],
                "eventpoll_pwq": ["ep_ptable_queue_proc"], "ep_head": ["ep_register_epitem"]}
FREED_IN = {"sock_inode_cache": ["sock_free_inode"], "socket_wq": ["sock_free_inode"],
            "lsm_inode_cache": ["sock_free_inode"], "dentry": ["dentry_free"], "filp": ["file_free"],
            "lsm_file_cache": ["file_free"], "eventpoll_epi": ["ep_remove"],
            "eventpoll_pwq": ["ep_unregister_pollwait"], "ep_head": ["ep_remove"]}
"""Each cache → the function (6.12's name, then its callers) that allocates or frees its objects: 3.10 shows the
first one it has (its ep_insert allocates the epitem itself)."""
WAYS = [(p, over) for p in ("6.12", "3.10") for over in ("link", "loopback")]


def _calls(trace):
    """(function, its caller, the cache) of every slab allocation and free."""
    calls = [e for e in trace if e.kind == "call"]
    out = []
    for i, e in enumerate(calls):
        alloc = e.function == "kmem_cache_alloc" and re.match(r"a (\S+) object for", e.text)
        free = e.function == "kmem_cache_free" and re.search(r"\((\S+)\)$", e.text)
        if alloc or free:
            caller = next(c.function for c in reversed(calls[:i]) if c.depth == e.depth - 1)
            out.append((e.function, caller, (alloc or free).group(1)))
    return out


@pytest.mark.parametrize("profile, over", WAYS)
def test_objects_are_allocated_and_freed_where_the_kernel_does(profile, over):
    prof = PROFILES[profile]
    seen = {}
    for function, caller, cache in _calls(Journey(memory=True, over=over, profile=profile).run()):
        if cache in CACHES:
            seen.setdefault((function, cache), set()).add(caller)
    for (function, cache), callers in seen.items():
        where = (ALLOCATED_IN if function == "kmem_cache_alloc" else FREED_IN)[cache]
        assert callers == {named(prof.renamed, where)[0]}, (function, cache, callers)
    caches = {cache for _, cache in seen}
    assert {"sock_inode_cache", "dentry", "filp", "eventpoll_epi", "eventpoll_pwq"} <= caches
    assert ("socket_wq" in caches) == ("socket_wq" in prof.slab) and ("ep_head" in caches) == ("ep_head" in prof.slab)
    assert {c for f, c in seen if f == "kmem_cache_free"} == caches     # every kind is freed as well


def _run(profile, over, close=True):
    """A journey on hosts that log every slab allocation and free: (the journey, each host's live objects)."""
    j = Journey(memory=True, over=over, profile=profile, close=close)
    hosts = list(dict.fromkeys((j.client, j.server)))
    for host in hosts:
        host.slab.label = ("journey", None)
    j.run()
    live = {}
    for host in hosts:
        objects = {}
        for _, what, _, obj, _ in host.slab.log:
            if what in ("alloc", "bulk alloc"):
                objects[id(obj)] = obj
            elif what in ("free", "bulk free"):
                del objects[id(obj)]
        live[host.name] = [o for o in objects.values() if o.cache in CACHES]
    return j, live


@pytest.mark.parametrize("profile, over", WAYS)
def test_a_journey_leaks_nothing_only_the_listener_and_the_epoll_remain(profile, over):
    """After both ends closed, what remains is the server's: the listener's socket and file, the epoll instance's
    file, and the listener's registration with it. The client's socket and the server's connection are gone."""
    prof = PROFILES[profile]
    j, live = _run(profile, over)
    server = sorted((o.owner, o.cache) for o in live[j.server.name])
    if over == "link":
        assert live[j.client.name] == []
    inode = [("listener: struct socket_alloc", "sock_inode_cache")] + (
        [("listener: struct socket_wq", "socket_wq")] if "socket_wq" in prof.slab else [])
    files = [(f"{name}: struct {struct}", struct if struct == "dentry" else "filp")
             for name in ("[eventpoll]", "socket:listener") for struct in ("dentry", "file")]
    epoll = [("socket:listener: struct eppoll_entry", "eventpoll_pwq"), ("socket:listener: struct epitem",
                                                                         "eventpoll_epi")] + (
        [("socket:listener: struct epitems_head", "ep_head")] if "ep_head" in prof.slab else [])
    assert server == sorted(inode + files + epoll)
    assert j.server.cpus[0].files_stat.nr_files == 2                  # the listener's file and the epoll's
    assert over == "loopback" or j.client.cpus[0].files_stat.nr_files == 0


@pytest.mark.parametrize("profile, over", WAYS)
def test_an_established_end_holds_what_chapter_06_counts(profile, over):
    """With close=False both ends stay ESTABLISHED: the client's socket (no epoll) and the server's accepted
    connection (watched by epoll) hold what chapter 06 counts for an open socket: its inode (3.10: and socket_wq),
    dentry and file (with their LSM blobs where the kernel has them), and with epoll an epitem, an eppoll_entry
    and (6.12) an epitems_head."""
    prof = PROFILES[profile]
    j, live = _run(profile, over, close=False)
    objects = [o for host in live.values() for o in host]

    def caches(*owners):
        return sorted(o.cache for o in objects if o.owner.split(": ")[0] in owners)

    socket = ["sock_inode_cache", "dentry", "filp"] + [c for c in ("socket_wq", "lsm_inode_cache", "lsm_file_cache")
                                                       if c in prof.slab]
    epoll = ["eventpoll_epi", "eventpoll_pwq"] + (["ep_head"] if "ep_head" in prof.slab else [])
    assert caches("client", "socket:client") == sorted(socket)
    assert caches("listener's new socket", "socket:listener's new socket") == sorted(socket + epoll)
