"""Compile sizeof() of every struct the models size against a configured kernel tree; compare with the models.

    .venv/bin/python tools/kernel_sizes.py          (Debian's linux-source-6.12 with its amd64 config)
    .venv/bin/python tools/kernel_sizes.py --tarball T --config C
    .venv/bin/python tools/kernel_sizes.py --series 3.10 --source S [--config C]

6.12: the numbers in netlab.kernel.slub.SIZEOF_6_12, eventpoll.SIZEOF_EVENTPOLL, profiles.SIZEOF_TASK_STRUCT_6_12
and LINUX_6_12.thread_size (THREAD_SIZE) are what Linux 6.12.118 (Debian's linux-source-6.12) compiles with Debian's
config.amd64_none_amd64 (linux-config-6.12).

3.10: the profile stands for the book's CentOS 7 kernel, so its sizes are compiled from a CentOS 7 kernel tree with
CentOS's own x86_64 config. ``--source`` is a git repository of one (its HEAD is archived; github
spacex/kernel-centos7, whose HEAD is kernel-3.10.0-229.14.1.el7) or a source tarball; ``--config`` defaults to the
tree's configs/kernel-3.10.0-x86_64.config. That gives LINUX_3_10.task_struct_size (2912; RHEL 7's kABI keeps
task_struct's size through 7.x, so the book's 3.10.0-957 has it too), LINUX_3_10.thread_size (THREAD_SIZE 16 KiB:
RHEL 7 took 3.15's 16 KiB kernel stacks; vanilla 3.10 has 8 KiB) and, through mm/slub.c calculate_sizes with
each cache's 3.10 kmem_cache_create flags (SLAB_3_10), the slot of every LINUX_3_10.slab row a struct fills. The
TCP row is the book's slabtop on 3.10.0-957 (1984; 229 compiles 1920): printed, not checked. (Vanilla 3.10.65,
github Original-Linux/Linux-3.10, with the same config compiles task_struct 2600: RHEL adds fields of its own.)
3.10 predates this gcc, so the build takes three workarounds, none of which changes a struct: compiler-gcc4.h stands
in for the missing compiler-gcc<N>.h, KCFLAGS=-fno-pie (Debian's gcc makes position-independent code, which the
kernel's code model rejects) and HOSTCFLAGS=-fcommon (arch/x86/tools/relocs defines one variable in two files).

The tree is unpacked (or archived) under .cache/linux-source (once), configured with the stated config (``make
olddefconfig``) and prepared for external modules (``make modules_prepare``). Probe files are then compiled as an
external module to assembly only: nothing is linked, loaded or run. <linux/kbuild.h>'s DEFINE() writes each sizeof()
into the .s file, the way the kernel makes asm-offsets.h. fs/eventpoll.c's structs are private to it, so their probe
#includes fs/eventpoll.c itself and reads the real definitions. Takes about 2 minutes the first time for 6.12
(unpack, prepare), 40 s for 3.10, 10 s after. Exits 1 when a size differs from the models' tables.
"""
from __future__ import annotations

import argparse
import lzma
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Iterable, Mapping

from netlab.kernel.eventpoll import SIZEOF_EVENTPOLL
from netlab.kernel.tcp_output import MAX_TCP_HEADER
from netlab.kernel.profiles import LINUX_3_10, LINUX_6_12, SIZEOF_TASK_STRUCT_6_12
from netlab.kernel.slub import (SIZEOF_6_12, SLAB_HWCACHE_ALIGN, SLAB_PANIC, SLAB_RECLAIM_ACCOUNT,
                                SLAB_TYPESAFE_BY_RCU, calculate_sizes)
from netlab.kernel.skbuff import SIZEOF_SKB_SHARED_INFO, SKB_DATA_ALIGN, SKB_HEAD_ALIGN, kmalloc_cache
from netlab.kernel.source_index import tree_release, unpack
from netlab.kernel.tcp_output import MAX_TCP_HEADER

CACHE = Path(__file__).resolve().parents[1] / ".cache" / "linux-source"
TARBALL = Path("/usr/src/linux-source-6.12.tar.xz")
CONFIG = Path("/usr/src/linux-config-6.12/config.amd64_none_amd64.xz")
CONFIG_3_10 = "configs/kernel-3.10.0-x86_64.config"
"""CentOS 7's x86_64 config, inside its kernel tree."""
MAKE_3_10 = ("KCFLAGS=-fno-pie", "HOSTCFLAGS=-O2 -fcommon")
"""What 3.10's build needs from a current gcc (see the module docstring)."""

PROBES = {
    "netlab_sizes": (("linux/tcp.h", "linux/fs.h", "linux/dcache.h", "linux/skbuff.h", "linux/sched.h",
                      "net/sock.h", "net/tcp.h", "net/inet_hashtables.h"),
                     ("tcp_sock", "socket_alloc", "file", "dentry", "tcp_timewait_sock", "tcp_request_sock",
                      "sk_buff", "sk_buff_fclones", "skb_shared_info", "inet_bind_bucket", "inet_bind2_bucket",
                      "task_struct", "THREAD_SIZE", "MAX_TCP_HEADER")),
    "netlab_eventpoll_sizes": (('"fs/eventpoll.c"',), ("eventpoll", "epitem", "eppoll_entry", "epitems_head")),
    "netlab_skbuff_sizes": (('"net/core/skbuff.c"',), ("SKB_SMALL_HEAD_CACHE_SIZE",)),
}
"""Probe file -> (what it includes, the structs it sizes and the macros it evaluates)."""

MODELS = {**{name: (size, "netlab.kernel.slub.SIZEOF_6_12") for name, size in SIZEOF_6_12.items()},
          "eventpoll": (SIZEOF_EVENTPOLL, "netlab.kernel.eventpoll.SIZEOF_EVENTPOLL"),
          "task_struct": (SIZEOF_TASK_STRUCT_6_12, "netlab.kernel.profiles.SIZEOF_TASK_STRUCT_6_12"),
          "THREAD_SIZE": (LINUX_6_12.thread_size, "netlab.kernel.profiles.LINUX_6_12.thread_size"),
          "skb_shared_info": (SIZEOF_SKB_SHARED_INFO, "netlab.kernel.skbuff.SIZEOF_SKB_SHARED_INFO"),
          "MAX_TCP_HEADER": (MAX_TCP_HEADER, "netlab.kernel.tcp_output.MAX_TCP_HEADER")}
"""struct -> (the size a model uses, where)."""

PROBES_3_10 = {
    "netlab_sizes": (("linux/tcp.h", "linux/fs.h", "linux/dcache.h", "linux/skbuff.h", "linux/sched.h",
                      "linux/net.h", "net/sock.h", "net/tcp.h", "net/inet_hashtables.h"),
                     ("tcp_sock", "socket_alloc", "file", "dentry", "tcp_timewait_sock", "tcp_request_sock",
                      "sk_buff", "skb_shared_info", "inet_bind_bucket", "socket_wq", "task_struct", "THREAD_SIZE",
                      "MAX_TCP_HEADER")),
    "netlab_eventpoll_sizes": (('"fs/eventpoll.c"',), ("epitem", "eppoll_entry")),
}
"""The 3.10 probes: probe file -> (what it includes, the structs it sizes)."""

SLAB_3_10 = {
    "TCP": ("tcp_sock", SLAB_HWCACHE_ALIGN | SLAB_TYPESAFE_BY_RCU, False),
    "tw_sock_TCP": ("tcp_timewait_sock", SLAB_HWCACHE_ALIGN | SLAB_TYPESAFE_BY_RCU, False),
    "request_sock_TCP": ("tcp_request_sock", SLAB_HWCACHE_ALIGN, False),
    "sock_inode_cache": ("socket_alloc", SLAB_HWCACHE_ALIGN | SLAB_RECLAIM_ACCOUNT, True),
    "filp": ("file", SLAB_HWCACHE_ALIGN | SLAB_PANIC, False),
    "dentry": ("dentry", SLAB_RECLAIM_ACCOUNT | SLAB_PANIC, False),
    "tcp_bind_bucket": ("inet_bind_bucket", SLAB_HWCACHE_ALIGN | SLAB_PANIC, False),
    "skbuff_head_cache": ("sk_buff", SLAB_HWCACHE_ALIGN | SLAB_PANIC, False),
    "eventpoll_epi": ("epitem", SLAB_HWCACHE_ALIGN | SLAB_PANIC, False),
    "eventpoll_pwq": ("eppoll_entry", SLAB_PANIC, False),
    "socket_wq": ("socket_wq", None, False),
}
"""LINUX_3_10.slab row -> (the struct it holds, its kmem_cache_create flags in 3.10 or None for a kmalloc, whether
it has a constructor). Created in net/core/sock.c proto_register (TCP and tw_sock_TCP add tcp_prot.slab_flags,
SLAB_DESTROY_BY_RCU; request_sock_TCP does not), net/socket.c init_inodecache (constructor init_once) and
sock_alloc_inode (kmalloc), fs/file_table.c files_init, fs/dcache.c dcache_init, net/ipv4/tcp.c tcp_init,
net/core/skbuff.c skb_init, fs/eventpoll.c eventpoll_init. SLAB_MEM_SPREAD changes no size and is left out."""

KMALLOC_SIZES = (8, 16, 32, 64, 96, 128, 192, 256, 512, 1024, 2048, 4096, 8192)
"""The kmalloc caches' slots (include/linux/slab.h, mm/slab_common.c kmalloc_caches)."""

MEASURED_3_10 = {"TCP": "LINUX_3_10.slab (the book's slabtop, 3.10.0-957; not checked)"}
"""Rows the 3.10 profile keeps from a measurement of the book's own kernel rather than from this tree."""


def _kmalloc_slot(size: int) -> int:
    return min(s for s in KMALLOC_SIZES if s >= size)


def slots_3_10(compiled: Mapping[str, int]) -> dict[str, int]:
    """The 3.10 profile's sizes from compiled sizeof()s: task_struct, THREAD_SIZE, the slot SLUB gives each slab
    row, and the two objects of a FIN sent over loopback (net/core/skbuff.c: skb_init's skbuff_fclone_cache holds
    2 × sizeof(struct sk_buff) + sizeof(atomic_t); __alloc_skb kmallocs the head, SKB_DATA_ALIGN(MAX_TCP_HEADER) +
    SKB_DATA_ALIGN(sizeof(struct skb_shared_info)))."""
    slots = {"task_struct": compiled["task_struct"], "THREAD_SIZE": compiled["THREAD_SIZE"]}
    for cache, (struct, flags, ctor) in SLAB_3_10.items():
        size = compiled[struct]
        slots[cache] = _kmalloc_slot(size) if flags is None else calculate_sizes(size, flags, ctor=ctor)
    slots["skbuff_fclone_cache"] = calculate_sizes(2 * compiled["sk_buff"] + 4, SLAB_HWCACHE_ALIGN | SLAB_PANIC)
    slots["FIN head"] = _kmalloc_slot(SKB_DATA_ALIGN(compiled["MAX_TCP_HEADER"])
                                      + SKB_DATA_ALIGN(compiled["skb_shared_info"]))
    return slots


MODELS_3_10 = {"task_struct": (LINUX_3_10.task_struct_size, "netlab.kernel.profiles.LINUX_3_10.task_struct_size"),
               "THREAD_SIZE": (LINUX_3_10.thread_size, "netlab.kernel.profiles.LINUX_3_10.thread_size"),
               **{cache: (LINUX_3_10.slab[cache].object_size, MEASURED_3_10.get(cache, "LINUX_3_10.slab (slot)"))
                  for cache in (*SLAB_3_10, "skbuff_fclone_cache")},
               "FIN head": (int(kmalloc_cache(SKB_HEAD_ALIGN(MAX_TCP_HEADER)).removeprefix("kmalloc-")),
                            "netlab.kernel.skbuff.kmalloc_cache(SKB_HEAD_ALIGN(MAX_TCP_HEADER))")}
"""3.10 size -> (the size the profile holds, where)."""

_DEFINE = re.compile(r'(?:^|")->(\w+) \$?(-?\d+) ', re.M)


def probe_source(includes: Iterable[str], structs: Iterable[str]) -> str:
    """C source that makes the compiler write ``sizeof(struct s)`` for each of ``structs`` into its assembly (the
    value itself for a name in capitals, a macro such as THREAD_SIZE)."""
    structs = tuple(structs)
    if not structs or not all(isinstance(s, str) and s.isidentifier() for s in structs):
        raise ValueError("structs must be one or more C identifiers")
    head = [f"#include {h}" if h.startswith('"') else f"#include <{h}>" for h in includes]
    body = [f"\tDEFINE({s}, {s if s.isupper() else f'sizeof(struct {s})'});" for s in structs]
    return "\n".join([*head, "#include <linux/kbuild.h>", "", "void netlab_sizes(void);", "void netlab_sizes(void)",
                      "{", *body, "}", ""])


def parse_defines(asm: str) -> dict[str, int]:
    """The ``DEFINE(name, value)`` constants in compiler assembly output: ``.ascii "->name $value text"`` (3.10:
    ``->name $value text`` on a line of its own)."""
    if not isinstance(asm, str):
        raise TypeError("pass the assembly text")
    return {name: int(value) for name, value in _DEFINE.findall(asm)}


def config_options(text: str) -> dict[str, str]:
    """A .config's options: name -> value, ``n`` for "is not set"."""
    options = dict(re.findall(r"^CONFIG_(\w+)=(.*)$", text, re.M))
    options.update({name: "n" for name in re.findall(r"^# CONFIG_(\w+) is not set$", text, re.M)})
    return options


def changed_options(stated: str, used: str) -> list[str]:
    """Options whose value differs between the stated config and the one the build used."""
    a, b = config_options(stated), config_options(used)
    return sorted(name for name in a.keys() | b.keys() if a.get(name, "n") != b.get(name, "n"))


def table(compiled: Mapping[str, int], models: Mapping[str, tuple[int, str]] = MODELS,
          measured: Iterable[str] = ()) -> tuple[str, list[str]]:
    """The compiled sizes beside the models' and where the models keep them; and every struct that differs (but
    those the models keep from a ``measured`` kernel)."""
    rows, wrong = [f"{'struct or cache':<26}{'compiled':>9}{'model':>7}  where the model keeps it"], []
    measured = set(measured)
    for name, size in compiled.items():
        model, where = models.get(name, (None, "(no model table)"))
        rows.append(f"{name:<26}{size:>9}{'—' if model is None else model:>7}  {where}")
        if model is not None and model != size and name not in measured:
            wrong.append(f"{name}: compiled {size}, model {model}")
    wrong += [f"{name}: the model has {model} but no probe compiles it" for name, (model, _) in models.items()
              if name not in compiled]
    return "\n".join(rows), wrong


def archive(git_dir: Path, into: Path) -> Path:
    """``git archive`` the HEAD of a kernel repository under ``into`` (once per commit) and return the tree."""
    def git(*args: str) -> str:
        return subprocess.run(["git", "--git-dir", str(git_dir), *args], check=True, capture_output=True,
                              text=True).stdout.strip()
    home = into / f"git-{git('rev-parse', 'HEAD')[:12]}"
    if not (home / "complete").is_file():
        partial = home.with_name(home.name + ".partial")
        shutil.rmtree(partial, ignore_errors=True)
        (partial / "tree").mkdir(parents=True)
        git("archive", "-o", str(partial / "tree.tar"), "HEAD")
        subprocess.run(["tar", "-xf", str(partial / "tree.tar"), "-C", str(partial / "tree")], check=True)
        (partial / "tree.tar").unlink()
        (partial / "complete").write_text(git("log", "-1", "--format=%s"))
        partial.rename(home)
    return home / "tree"


def gcc_header_for_3_10(tree: Path) -> None:
    """3.10's <linux/compiler-gcc.h> includes compiler-gcc<major>.h, which it has only up to gcc 4: let gcc 4's
    stand for the gcc here."""
    version = subprocess.run(["gcc", "-dumpversion"], check=True, capture_output=True, text=True).stdout
    major = version.strip().split(".")[0]
    wanted = tree / "include/linux" / f"compiler-gcc{major}.h"
    if not wanted.exists():
        shutil.copy(tree / "include/linux/compiler-gcc4.h", wanted)


def _make(tree: Path, *args: str) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MAKELEVEL", "MFLAGS")}
    done = subprocess.run(["make", "-C", str(tree), f"-j{os.cpu_count() or 1}", *args], env=env,
                          capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"make {' '.join(args)} failed in {tree}:\n{done.stderr[-2000:]}")


def prepare(tree: Path, config: Path, make_args: Iterable[str] = ()) -> list[str]:
    """Configure ``tree`` with ``config`` and prepare it for external modules (skipped when already done with the
    same config); return the options olddefconfig changed for this toolchain."""
    stated = (lzma.open(config, "rt") if config.suffix == ".xz" else config.open()).read()
    stamp, key = tree / ".netlab-prepared", f"{config.resolve()} {config.stat().st_size} {config.stat().st_mtime}"
    if not (stamp.is_file() and stamp.read_text() == key):
        (tree / ".config").write_text(stated)
        _make(tree, "olddefconfig")
        _make(tree, *make_args, "modules_prepare")
        stamp.write_text(key)
    return changed_options(stated, (tree / ".config").read_text())


def compile_sizes(tree: Path, probes: Mapping[str, tuple[Iterable[str], Iterable[str]]] = PROBES,
                  make_args: Iterable[str] = ()) -> dict[str, int]:
    """Compile the ``probes`` against a prepared ``tree``: struct -> sizeof in bytes."""
    with tempfile.TemporaryDirectory(prefix="netlab-sizes-") as work:
        work = Path(work)
        (work / "Kbuild").write_text(f"obj-m := {' '.join(f'{p}.o' for p in probes)}\nccflags-y := -I$(srctree)\n")
        for probe, (includes, structs) in probes.items():
            (work / f"{probe}.c").write_text(probe_source(includes, structs))
        _make(tree, *make_args, f"M={work}", *(f"{probe}.s" for probe in probes))
        sizes = {}
        for probe in probes:
            sizes.update(parse_defines((work / f"{probe}.s").read_text()))
    return sizes


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--series", choices=("6.12", "3.10"), default="6.12", help="which profile to check")
    parser.add_argument("--tarball", type=Path, default=TARBALL, help=f"6.12 source tarball (default {TARBALL})")
    parser.add_argument("--source", type=Path, help="3.10: a CentOS 7 kernel git repository or source tarball")
    parser.add_argument("--config", type=Path, help=f"kernel config (default 6.12: {CONFIG}; 3.10: the tree's "
                                                    f"{CONFIG_3_10})")
    args = parser.parse_args(argv)
    started = time.monotonic()
    if args.series == "6.12":
        config = args.config or CONFIG
        if not config.is_file():
            parser.error(f"no config at {config} (apt-get install linux-config-6.12)")
        tree, source = unpack(args.tarball, CACHE), args.tarball.name
        changed = prepare(tree, config)
        text, wrong = table(compile_sizes(tree))
    else:
        if args.source is None:
            parser.error("--series 3.10 needs --source (a CentOS 7 kernel git repository or tarball)")
        if args.source.is_dir():
            tree = archive(args.source, CACHE)
            source = f"{args.source}, HEAD {(tree.parent / 'complete').read_text()}"
        else:
            tree, source = unpack(args.source, CACHE), args.source.name
        config = args.config or tree / CONFIG_3_10
        if not config.is_file():
            parser.error(f"no config at {config}")
        gcc_header_for_3_10(tree)
        changed = prepare(tree, config, MAKE_3_10)
        compiled = compile_sizes(tree, PROBES_3_10, MAKE_3_10)
        text, wrong = table(slots_3_10(compiled), MODELS_3_10, MEASURED_3_10)
        text += "\ncompiled: " + ", ".join(f"{name} {size}" for name, size in compiled.items())
    print(f"sizeof() in Linux {tree_release(tree)} ({source}), x86_64, configured with {config.name}")
    print(f"olddefconfig changed {len(changed)} options for this toolchain: {', '.join(changed) or 'none'}")
    print(text)
    print(f"{time.monotonic() - started:.0f} s")
    for line in wrong:
        print("DIFFERS:", line)
    return 1 if wrong else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
