"""Compile sizeof() of every struct the models size against a configured kernel tree; compare with the models.

    .venv/bin/python tools/kernel_sizes.py          (Debian's linux-source-6.12 with its amd64 config)
    .venv/bin/python tools/kernel_sizes.py --tarball T --config C

The tree is unpacked under .cache/linux-source (once), configured with the stated config (``make olddefconfig``)
and prepared for external modules (``make modules_prepare``). Two probe files are then compiled as an external
module to assembly only: nothing is linked, loaded or run. <linux/kbuild.h>'s DEFINE() writes each sizeof() into the
.s file, the way the kernel makes asm-offsets.h. struct eventpoll, epitem, eppoll_entry and epitems_head are
private to fs/eventpoll.c, so their probe #includes fs/eventpoll.c itself and reads the real definitions. Takes
about 2 minutes the first time (unpack, prepare), 10 s after. Exits 1 when a size differs from the models' tables.
"""
from __future__ import annotations

import argparse
import lzma
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Iterable, Mapping

from netlab.kernel.eventpoll import SIZEOF_EVENTPOLL
from netlab.kernel.profiles import SIZEOF_TASK_STRUCT_6_12
from netlab.kernel.slub import SIZEOF_6_12
from netlab.kernel.source_index import tree_release, unpack

CACHE = Path(__file__).resolve().parents[1] / ".cache" / "linux-source"
TARBALL = Path("/usr/src/linux-source-6.12.tar.xz")
CONFIG = Path("/usr/src/linux-config-6.12/config.amd64_none_amd64.xz")

PROBES = {
    "netlab_sizes": (("linux/tcp.h", "linux/fs.h", "linux/dcache.h", "linux/skbuff.h", "linux/sched.h",
                      "net/sock.h", "net/inet_hashtables.h"),
                     ("tcp_sock", "socket_alloc", "file", "dentry", "tcp_timewait_sock", "tcp_request_sock",
                      "sk_buff", "inet_bind_bucket", "inet_bind2_bucket", "task_struct")),
    "netlab_eventpoll_sizes": (('"fs/eventpoll.c"',), ("eventpoll", "epitem", "eppoll_entry", "epitems_head")),
}
"""Probe file -> (what it includes, the structs it sizes)."""

MODELS = {**{name: (size, "netlab.kernel.slub.SIZEOF_6_12") for name, size in SIZEOF_6_12.items()},
          "eventpoll": (SIZEOF_EVENTPOLL, "netlab.kernel.eventpoll.SIZEOF_EVENTPOLL"),
          "task_struct": (SIZEOF_TASK_STRUCT_6_12, "netlab.kernel.profiles.SIZEOF_TASK_STRUCT_6_12")}
"""struct -> (the size a model uses, where)."""

_DEFINE = re.compile(r'"->(\w+) \$?(-?\d+) ')


def probe_source(includes: Iterable[str], structs: Iterable[str]) -> str:
    """C source that makes the compiler write ``sizeof(struct s)`` for each of ``structs`` into its assembly."""
    structs = tuple(structs)
    if not structs or not all(isinstance(s, str) and s.isidentifier() for s in structs):
        raise ValueError("structs must be one or more C identifiers")
    head = [f"#include {h}" if h.startswith('"') else f"#include <{h}>" for h in includes]
    body = [f"\tDEFINE({s}, sizeof(struct {s}));" for s in structs]
    return "\n".join([*head, "#include <linux/kbuild.h>", "", "void netlab_sizes(void);", "void netlab_sizes(void)",
                      "{", *body, "}", ""])


def parse_defines(asm: str) -> dict[str, int]:
    """The ``DEFINE(name, value)`` constants in compiler assembly output: ``.ascii "->name $value text"``."""
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


def table(compiled: Mapping[str, int], models: Mapping[str, tuple[int, str]] = MODELS) -> tuple[str, list[str]]:
    """The compiled sizes beside the models' and where the models keep them; and every struct that differs."""
    rows, wrong = [f"{'struct':<20}{'compiled':>9}{'model':>7}  where the model keeps it"], []
    for name, size in compiled.items():
        model, where = models.get(name, (None, "(no model table)"))
        rows.append(f"{name:<20}{size:>9}{'—' if model is None else model:>7}  {where}")
        if model is not None and model != size:
            wrong.append(f"{name}: compiled {size}, model {model}")
    wrong += [f"{name}: the model has {model} but no probe compiles it" for name, (model, _) in models.items()
              if name not in compiled]
    return "\n".join(rows), wrong


def _make(tree: Path, *args: str) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MAKELEVEL", "MFLAGS")}
    done = subprocess.run(["make", "-C", str(tree), f"-j{os.cpu_count() or 1}", *args], env=env,
                          capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"make {' '.join(args)} failed in {tree}:\n{done.stderr[-2000:]}")


def prepare(tree: Path, config: Path) -> list[str]:
    """Configure ``tree`` with ``config`` and prepare it for external modules (skipped when already done with the
    same config); return the options olddefconfig changed for this toolchain."""
    stated = (lzma.open(config, "rt") if config.suffix == ".xz" else config.open()).read()
    stamp, key = tree / ".netlab-prepared", f"{config.resolve()} {config.stat().st_size} {config.stat().st_mtime}"
    if not (stamp.is_file() and stamp.read_text() == key):
        (tree / ".config").write_text(stated)
        _make(tree, "olddefconfig")
        _make(tree, "modules_prepare")
        stamp.write_text(key)
    return changed_options(stated, (tree / ".config").read_text())


def compile_sizes(tree: Path) -> dict[str, int]:
    """Compile the probes against a prepared ``tree``: struct -> sizeof in bytes."""
    with tempfile.TemporaryDirectory(prefix="netlab-sizes-") as work:
        work = Path(work)
        (work / "Kbuild").write_text(f"obj-m := {' '.join(f'{p}.o' for p in PROBES)}\nccflags-y := -I$(srctree)\n")
        for probe, (includes, structs) in PROBES.items():
            (work / f"{probe}.c").write_text(probe_source(includes, structs))
        _make(tree, f"M={work}", *(f"{probe}.s" for probe in PROBES))
        sizes = {}
        for probe in PROBES:
            sizes.update(parse_defines((work / f"{probe}.s").read_text()))
    return sizes


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tarball", type=Path, default=TARBALL, help=f"kernel source tarball (default {TARBALL})")
    parser.add_argument("--config", type=Path, default=CONFIG, help=f"kernel config (default {CONFIG})")
    args = parser.parse_args(argv)
    if not args.config.is_file():
        parser.error(f"no config at {args.config} (apt-get install linux-config-6.12)")
    started = time.monotonic()
    tree = unpack(args.tarball, CACHE)
    changed = prepare(tree, args.config)
    text, wrong = table(compile_sizes(tree))
    print(f"sizeof() in Linux {tree_release(tree)} ({args.tarball.name}), x86_64, configured with {args.config.name}")
    print(f"olddefconfig changed {len(changed)} options for this toolchain: {', '.join(changed) or 'none'}")
    print(text)
    print(f"{time.monotonic() - started:.0f} s")
    for line in wrong:
        print("DIFFERS:", line)
    return 1 if wrong else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
