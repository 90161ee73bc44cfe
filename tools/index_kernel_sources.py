"""Write netlab/kernel/linux-X.Y.json: the file and line of every modelled kernel function in one exact release.

    python tools/index_kernel_sources.py /usr/src/linux-source-6.12.tar.xz    (apt-get install linux-source-6.12)
    python tools/index_kernel_sources.py /path/to/linux-3.10.65 --source "vanilla 3.10.65 from kernel.org"

A tree in a git repository is indexed from a checkout or an export of it:
``git --git-dir=REPO archive HEAD Makefile net kernel fs include drivers/net lib mm | tar -x -C /tmp/linux``.
Each series is indexed under the names its profile's traces use (``KernelProfile.renamed``); the modelled
functions the release does not define (code paths of another kernel, which its traces never reach) are listed
under ``absent``.

A tarball is unpacked (only the files the models name, in 6.12) under .cache/linux-source. Debian's tarball carries Debian's
patches; the lines they add to the files the models name are listed in DEBIAN_ADDED_LINES and recorded in the
index, so its line numbers are those of the release itself, the one the online source browser shows.
"""
import argparse
import json
import subprocess
import sys
from pathlib import Path

from netlab.kernel.source_index import build_index, index_path, modelled_functions, series_of, tree_release, unpack

CACHE = Path(__file__).resolve().parents[1] / ".cache" / "linux-source"

DEBIAN_ADDED_LINES = {"6.12": {
    "fs/file.c": ["EXPORT_SYMBOL_GPL(file_close_fd);"],
    "kernel/sched/wait.c": ["EXPORT_SYMBOL_GPL(__wake_up_pollfree);"],
}}
"""Per series, the lines Debian's linux-source adds to files the models name: in 6.12, two exports from
debian/patches/debian/export-symbols-needed-by-android-drivers.patch (so binder can be built as a module); the
upstream 6.12.y releases have neither."""


def debian_lines(tree: Path) -> dict[str, list[str]]:
    """The lines of DEBIAN_ADDED_LINES that ``tree`` has, per file."""
    found = {}
    for source, lines in DEBIAN_ADDED_LINES.get(series_of(tree_release(tree)), {}).items():
        rows = (tree / source).read_text(errors="replace").splitlines() if (tree / source).is_file() else []
        if any(line in rows for line in lines):
            found[source] = [line for line in lines if line in rows]
    return found


def debian_package(tarball: Path) -> str | None:
    """``Debian linux-source-6.12 6.12.118-1~deb12u1`` when dpkg installed ``tarball``, else None."""
    owner = subprocess.run(["dpkg-query", "-S", str(tarball.resolve())], capture_output=True, text=True, check=False)
    if owner.returncode != 0:
        return None
    package = owner.stdout.split(":", 1)[0]
    version = subprocess.run(["dpkg-query", "-W", "-f=${Version}", package], capture_output=True, text=True,
                             check=True).stdout
    return f"Debian {package} {version}"


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("tree", type=Path, help="a kernel source tarball, or an unpacked vanilla tree")
    parser.add_argument("--source", help="where the tree came from, recorded in the index")
    args = parser.parse_args(argv)
    added: dict[str, list[str]] = {}
    if args.tree.is_file():
        tree = unpack(args.tree, CACHE, set(modelled_functions().values()))  # the files the models name
        package = debian_package(args.tree)
        origin = args.source or package or args.tree.name
        if package:
            added = debian_lines(tree)
    else:
        tree = args.tree
        origin = args.source or f"Linux {tree_release(tree)} source tree"
        if debian_lines(tree):
            parser.error(f"{tree} carries Debian's patches: index Debian's tarball instead, so they are accounted for")
    release = tree_release(tree)
    functions = modelled_functions(series_of(release))
    found = build_index(tree, functions, added, strict=False)
    index = {"release": release, "source": origin, "not_in_release": added, "functions": found,
             "absent": sorted(set(functions) - set(found))}
    path = index_path(series_of(release))
    before = json.loads(path.read_text())["functions"] if path.is_file() else {}
    moved = sum(before.get(name) != where for name, where in index["functions"].items())
    path.write_text(json.dumps(index, indent=1) + "\n")
    print(f"wrote {len(index['functions'])} functions of Linux {release} ({origin}) to {path}; "
          f"{moved} differ from the index it replaces; {len(index['absent'])} modelled functions absent")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
