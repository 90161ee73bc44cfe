"""Where each modelled function is defined in the real kernel tree, and a link a learner can click.

One JSON file per kernel series beside this module (``linux-6.12.json``, ``linux-3.10.json``) holds:

- ``release``: the exact release the index was built from (VERSION.PATCHLEVEL.SUBLEVEL of the tree's Makefile,
  spelled like its tag: ``6.12.118``, or ``6.12`` for SUBLEVEL 0);
- ``source``: where that tree came from (e.g. Debian's ``linux-source-6.12`` package and its version);
- ``not_in_release``: lines the tree has that the release does not (a distribution's patches), per file; a
  function's line below such a line is counted without it;
- ``functions``: every function marked with ``kernel_function``, as that series' profile names it in a trace
  (``KernelProfile.renamed``: 3.10 has some under older names or in other files) -> its file and its line in that
  release, so the link to the online browser (which shows the release itself) opens on the definition;
- ``absent``: the modelled functions the release does not define (another kernel's code paths, which that
  series' traces never reach: tests/test_trace_names.py).

``python tools/index_kernel_sources.py <tree or linux-source tarball>`` writes it; the tests check it against the
tree, so a model cannot name a function the kernel does not have.
"""
from __future__ import annotations

import json
import re
import shutil
import subprocess
import tarfile
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterable, Mapping

from netlab import check
from netlab.kernel import import_all
from netlab.kernel.profiles import profile
from netlab.trace import KERNEL_FUNCTIONS

INDEX_DIR = Path(__file__).parent
BROWSER = "https://elixir.bootlin.com/linux"
_SERIES = re.compile(r"\d+\.\d+")


@check.arguments
def index_path(series: str) -> Path:
    """The index file of a kernel series such as ``'6.12'``."""
    if not isinstance(series, str) or not _SERIES.fullmatch(series):
        raise ValueError(f"series must look like '6.12' or '3.10', got {series!r}")
    return INDEX_DIR / f"linux-{series}.json"


@check.arguments
def definition_line(text: str, function: str) -> int | None:
    """The 1-based line where ``function`` is defined in C source ``text`` (function or function-like macro)."""
    if not isinstance(text, str) or not isinstance(function, str) or not function.isidentifier():
        raise ValueError("pass the C source text and a C identifier")
    name = re.escape(function)
    patterns = (
        # a definition: the name at the start of a line or after a return type, then "(", and no ";" before "{"
        re.compile(rf"^(?:[A-Za-z_][\w \t\*]*[ \t\*])?{name}\((?:[^;{{}}]|\n)*?\)\s*\{{", re.M),
        re.compile(rf"^#define[ \t]+{name}\(", re.M),
        re.compile(rf"^[A-Z_]+\((?:[^()]*,\s*)?{name}\b", re.M),  # e.g. INDIRECT_CALLABLE_SCOPE or SYSCALL-like
    )
    if function.startswith("sys_"):  # a system call: SYSCALL_DEFINEn(listen, ...) defines sys_listen
        patterns += (re.compile(rf"^SYSCALL_DEFINE\d\({re.escape(function[4:])},", re.M),)
    for pattern in patterns:
        match = pattern.search(text)
        if match:
            return text.count("\n", 0, match.start()) + 1
    return None


@check.arguments
def tree_release(tree: Path) -> str:
    """The release a kernel tree holds, from its top-level Makefile: ``6.12.118`` (``6.12`` when SUBLEVEL is 0)."""
    makefile = Path(tree) / "Makefile"
    if not makefile.is_file():
        raise ValueError(f"{tree} is not a kernel source tree (no top-level Makefile)")
    text = makefile.read_text(errors="replace")
    fields = {k: v.strip() for k, v in re.findall(r"^(VERSION|PATCHLEVEL|SUBLEVEL|EXTRAVERSION)\s*=[ \t]*(.*)$",
                                                  text, re.M)}
    if not (fields.get("VERSION", "").isdigit() and fields.get("PATCHLEVEL", "").isdigit()):
        raise ValueError(f"{makefile} names no VERSION and PATCHLEVEL")
    sublevel = fields.get("SUBLEVEL", "")
    release = f"{fields['VERSION']}.{fields['PATCHLEVEL']}" + (f".{sublevel}" if sublevel not in ("", "0") else "")
    return release + fields.get("EXTRAVERSION", "")


@check.arguments
def series_of(release: str) -> str:
    """``'6.12'`` for ``'6.12.118'``."""
    match = re.match(r"(\d+\.\d+)(?:\.\d+)?(?:-\S+)?$", release) if isinstance(release, str) else None
    if not match:
        raise ValueError(f"release must look like '6.12.118', got {release!r}")
    return match.group(1)


@check.arguments
def build_index(tree: Path, functions: Mapping[str, str],
                not_in_release: Mapping[str, Iterable[str]] | None = None,
                strict: bool = True) -> dict[str, dict[str, Any]]:
    """Find each ``name -> file`` in ``tree``: ``{name: {file, line}}``, the line counted without the lines
    ``not_in_release`` lists for that file. Raise ``LookupError`` listing every name not defined there (unless
    ``strict`` is False: such names are left out)."""
    tree = Path(tree)
    tree_release(tree)  # refuses a directory that is not a kernel tree
    extra = {source: set(lines) for source, lines in (not_in_release or {}).items()}
    index, missing = {}, []
    for name, source in sorted(functions.items()):
        path = tree / source
        text = path.read_text(errors="replace") if path.is_file() else ""
        line = definition_line(text, name)
        if line is None:
            missing.append(f"{name} ({source})")
            continue
        above = text.splitlines()[:line - 1]
        index[name] = {"file": source, "line": line - sum(row.strip() in extra.get(source, ()) for row in above)}
    if missing and strict:
        raise LookupError("not defined where the model says: " + ", ".join(missing))
    return index


@lru_cache(maxsize=None)
def kernel_index(series: str) -> Mapping[str, Any] | None:
    """The committed index of a kernel series (``release``, ``source``, ``not_in_release``, ``functions``), or
    ``None`` when there is none."""
    path = index_path(series)
    return json.loads(path.read_text()) if path.is_file() else None


def linux_6_12() -> dict[str, dict[str, Any]]:
    """The functions of the committed 6.12 index: name -> {file, line}."""
    return kernel_index("6.12")["functions"]


@check.arguments
def source_url(function: str, version: str = "6.12") -> str:
    """A link to ``function`` in an online kernel source browser: its line in the release the series' index was
    built from, else a search for the identifier in that release (or in the series, when it has no index). A
    trace names only functions of its series' index; the search is for a name asked for by hand (a 6.12 name in
    3.10 finds nothing there, which is the answer)."""
    if not isinstance(function, str) or not function.isidentifier():
        raise ValueError(f"function must be a C identifier, got {function!r}")
    index = kernel_index(version)  # checks the version's form
    if index is None:
        return f"{BROWSER}/v{version}/A/ident/{function}"
    where = index["functions"].get(function)
    if where:
        return f"{BROWSER}/v{index['release']}/source/{where['file']}#L{where['line']}"
    return f"{BROWSER}/v{index['release']}/A/ident/{function}"


@check.arguments
def unpack(tarball: Path, into: Path, members: Iterable[str] | None = None) -> Path:
    """Unpack a kernel source tarball (all of it, or only ``members``, paths inside the tree) under ``into`` and
    return the tree. Kept per tarball (name, size, time) and reused; an older unpacking of the same tarball name is
    removed."""
    tarball, into = Path(tarball), Path(into)
    if not tarball.is_file():
        raise ValueError(f"no tarball at {tarball}")
    wanted = None if members is None else sorted(set(members) | {"Makefile"})
    stat = tarball.stat()
    name = tarball.name.split(".tar")[0]
    home = into / f"{name}-{stat.st_size}-{int(stat.st_mtime)}"
    if (home / "complete").is_file() or (wanted and all((home / "tree" / m).is_file() for m in wanted)):
        return home / "tree"
    with tarfile.open(tarball) as archive:
        top = archive.next().name.split("/", 1)[0]  # reads only the archive's start
    partial = home.with_name(home.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    (partial / "tree").mkdir(parents=True)
    paths = [] if wanted is None else [f"{top}/{m}" for m in wanted]
    subprocess.run(["tar", "-xf", str(tarball), "-C", str(partial / "tree"), "--strip-components=1", *paths],
                   check=True)
    if wanted is None:
        (partial / "complete").touch()
    for old in into.glob(f"{name}-*"):
        if old != partial:
            shutil.rmtree(old, ignore_errors=True)
    partial.rename(home)
    return home / "tree"


@check.arguments
def modelled_functions(series: str = "6.12") -> dict[str, str]:
    """Every kernel function the models in ``netlab.kernel`` mark, as the series' profile names it in a trace
    (:attr:`~netlab.kernel.profiles.KernelProfile.renamed`): name -> source file. A function the series does not
    have is left out."""
    renamed = profile(series).renamed
    import_all()
    found = {}
    for name, fn in KERNEL_FUNCTIONS.items():
        if fn.__module__.startswith("netlab.kernel."):
            where = renamed.get(name, (name, fn.kernel_source))
            if where is not None:
                found[where[0]] = where[1]
    return found


LAYERS = (
    ("system calls and sockets", ("net/socket.c", "fs/", "include/linux/poll.h", "net/ipv4/af_inet.c",
                                  "net/core/sock.c", "include/net/sock.h")),
    ("epoll", ("fs/eventpoll.c", "include/linux/rbtree.h", "lib/rbtree.c")),
    ("TCP", ("net/ipv4/tcp", "net/ipv4/inet_", "include/net/inet_", "net/core/request_sock.c",
             "include/net/request_sock.h")),
    ("IP", ("net/ipv4/ip_", "net/ipv4/route.c", "include/net/dst.h", "include/net/neighbour.h")),
    ("netfilter", ("include/linux/netfilter.h", "net/netfilter/")),
    ("device, Ethernet, GRO and qdisc", ("net/core/dev.c", "net/ethernet/", "net/core/gro.c", "include/net/gro.h",
                                         "net/sched/", "include/linux/netdevice.h",
                                         # GRO's protocol layers (3.10's in tcp_ipv4.c, tcp.c, skbuff.c)
                                         "net/ipv4/af_inet.c:inet_gro_", "net/ipv4/tcp_offload.c",
                                         "net/ipv4/udp_offload.c", "net/ipv4/tcp_ipv4.c:tcp4_gro_",
                                         "net/ipv4/tcp.c:tcp_gro_", "net/core/skbuff.c:skb_gro_receive",
                                         "net/core/skbuff.c:napi_skb_free_stolen_head")),
    ("driver", ("drivers/",)),
    ("sk_buffs", ("net/core/skbuff.c",)),
    ("slab allocator", ("mm/", "include/linux/slab.h")),
    ("interrupts and softirqs", ("kernel/softirq.c", "kernel/irq/", "include/linux/bottom_half.h")),
    ("wait queues, locks and the scheduler", ("kernel/sched/", "include/linux/wait.h", "kernel/locking/",
                                              "kernel/time/", "kernel/wait.c", "kernel/mutex.c", "kernel/timer.c",
                                              "kernel/hrtimer.c", "kernel/exit.c")),
)
"""The layers of the stack, top down, by kernel source file: a function belongs to the layer with the longest prefix
of its ``source:function`` (anything else is "other"); 3.10's own files are listed beside 6.12's. The journey's
summary counts calls by layer; the Stepper's bookmarks mark where a trace enters one."""


@check.arguments
def layer_of(source: str, function: str = "") -> str:
    """The layer of the stack a kernel function (or, without ``function``, its source file) belongs to (see
    :data:`LAYERS`)."""
    where = f"{source}:{function}"
    matches = [(len(prefix), name) for name, prefixes in LAYERS for prefix in prefixes if where.startswith(prefix)]
    return max(matches)[1] if matches else "other"
