"""Every modelled kernel function exists in the release the index names, in the file the model names, at the line we
link to; when the installed source is another point release, the drift is reported, not failed."""
import os
import re
import subprocess
import warnings
from pathlib import Path

import pytest

from netlab.kernel.profiles import SOURCES
from netlab.kernel.source_index import (BROWSER, build_index, kernel_index, modelled_functions, series_of,
                                        source_url, tree_release, unpack)

ROOT = Path(__file__).resolve().parents[1]
TARBALL = Path("/usr/src/linux-source-6.12.tar.xz")
CACHE = ROOT / ".cache" / "linux-source"


def check_against_tree(tree: Path, index: dict, functions: dict[str, str], rebuild_from: Path) -> dict:
    """Every function is defined in its file in ``tree`` (else ``LookupError``). In the index's own release every
    line must match (else ``AssertionError``); in another release the lines that moved are returned and warned
    about, with the command that rebuilds the index."""
    found = build_index(tree, functions, index["not_in_release"])
    moved = {name: (index["functions"].get(name, {}).get("line"), where["line"])
             for name, where in found.items() if index["functions"].get(name) != where}
    release, rebuild = tree_release(tree), f"python tools/index_kernel_sources.py {rebuild_from}"
    if release == index["release"]:
        assert not moved, f"the index disagrees with Linux {release} (indexed, here): {moved}; run `{rebuild}`"
    elif moved:
        example = ", ".join(f"{name} {a} → {b}" for name, (a, b) in sorted(moved.items())[:3])
        warnings.warn(f"the index is Linux {index['release']}, the source here is {release}: {len(moved)} of "
                      f"{len(found)} lines moved ({example}, …); every function is still where the model says. "
                      f"To link to {release} instead, run `{rebuild}`", stacklevel=2)
    return moved


@pytest.mark.parametrize("series", ["6.12", "3.10"])
def test_every_modelled_function_is_in_the_committed_index_or_listed_absent(series):
    index = kernel_index(series)
    wrong = {name: source for name, source in modelled_functions(series).items()
             if index["functions"].get(name, {}).get("file") != source and name not in index["absent"]}
    assert not wrong, f"run `python tools/index_kernel_sources.py <a Linux {series} tree>`; not indexed: {wrong}"
    assert not set(index["absent"]) & set(index["functions"])


def test_the_models_name_every_function_as_6_12_does():
    assert kernel_index("6.12")["absent"] == []


@pytest.mark.parametrize("series", ["6.12", "3.10"])
def test_the_committed_index_names_its_exact_release_and_source(series):
    index = kernel_index(series)
    assert series_of(index["release"]) == series and index["release"].count(".") == 2
    assert index["release"] in index["source"]


PROFILE_SOURCE = re.compile(r"([\w/.-]+/[\w.-]+\.[ch]):(\w+)")
"""A ``path/file.c:symbol`` the profiles' source table names."""


def profile_sources(series: str = "6.12") -> set[tuple[str, str]]:
    """What the profiles' source table cites for ``series``: 6.12 before " / 3.10", 3.10 after it, or 6.12's
    where an entry names no 3.10 place of its own (none where it says 3.10 has no such thing)."""
    cited = set()
    for text in SOURCES.values():
        new, _, old = text.partition(" / 3.10 ")
        part = new if series == "6.12" else old or ("" if "none in 3.10" in new else new)
        cited |= set(PROFILE_SOURCE.findall(part))
    return cited


def not_in(tree: Path, cited: set[tuple[str, str]]) -> list[str]:
    """Each ``file:symbol`` whose file ``tree`` lacks or whose file does not name the symbol."""
    return [f"{path}:{symbol}" for path, symbol in sorted(cited) if not (tree / path).is_file()
            or not re.search(rf"\b{symbol}\b", (tree / path).read_text(errors="ignore"))]


def _source_tree() -> tuple[Path, Path] | None:
    if os.environ.get("NETLAB_LINUX_SRC"):
        tree = Path(os.environ["NETLAB_LINUX_SRC"])
        return tree, tree
    if not TARBALL.is_file():
        return None
    files = set(modelled_functions().values()) | {path for path, _ in profile_sources()}
    return unpack(TARBALL, CACHE, files), TARBALL


def _tree_or_skip() -> tuple[Path, Path]:
    found = _source_tree()
    if found is None:
        reason = f"no Linux 6.12 source here ({TARBALL}; `apt-get install linux-source-6.12`)"
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    return found


def test_the_index_agrees_with_the_installed_linux_6_12_source():
    tree, rebuild_from = _tree_or_skip()
    check_against_tree(tree, kernel_index("6.12"), modelled_functions(), rebuild_from)


def test_every_file_and_symbol_the_profiles_cite_is_in_linux_6_12():
    tree, _ = _tree_or_skip()
    cited = profile_sources()
    assert len(cited) > 40
    missing = not_in(tree, cited)
    assert not missing, f"the profiles' source table cites what Linux 6.12 does not have there: {missing}"


def test_every_3_10_place_the_profiles_cite_names_its_file():
    bare = [field for field, text in SOURCES.items()
            if " / 3.10 " in text and not PROFILE_SOURCE.search(text.partition(" / 3.10 ")[2])]
    assert not bare, f"these entries' 3.10 part names no path/file.c:symbol: {bare}"


def _3_10_tree_or_skip() -> Path:
    """NETLAB_LINUX_3_10_SRC: an unpacked vanilla 3.10 tree (e.g. ``git archive`` of a 3.10.65 repository); CI has
    none, so there the committed index is what the trace-name test holds the models to."""
    if not os.environ.get("NETLAB_LINUX_3_10_SRC"):
        pytest.skip("no Linux 3.10 tree here (set NETLAB_LINUX_3_10_SRC to an unpacked vanilla 3.10 tree)")
    return Path(os.environ["NETLAB_LINUX_3_10_SRC"])


def test_every_file_and_symbol_the_profiles_cite_is_in_linux_3_10():
    tree = _3_10_tree_or_skip()
    cited = profile_sources("3.10")
    assert len(cited) > 40 and cited != profile_sources()
    missing = not_in(tree, cited)
    assert not missing, f"the profiles' source table cites what Linux 3.10 does not have there: {missing}"


def test_the_3_10_index_agrees_with_a_vanilla_3_10_tree():
    tree = _3_10_tree_or_skip()
    index = kernel_index("3.10")
    present = {name: source for name, source in modelled_functions("3.10").items() if name not in index["absent"]}
    check_against_tree(tree, index, present, tree)


# --- the check itself, on a small fake tree -----------------------------------------------------------------------
ADDED = "EXPORT_SYMBOL_GPL(__wake_up_pollfree);"
FAKE_INDEX = {"release": "6.12.118", "source": "a test", "not_in_release": {"kernel/sched/wait.c": [ADDED]},
              "functions": {"net_rx_action": {"file": "net/core/dev.c", "line": 3},
                            "finish_wait": {"file": "kernel/sched/wait.c", "line": 2}}}
FUNCTIONS = {"net_rx_action": "net/core/dev.c", "finish_wait": "kernel/sched/wait.c"}


def fake_tree(root: Path, sublevel: int, dev_c_padding: int = 2) -> Path:
    (root / "net/core").mkdir(parents=True)
    (root / "kernel/sched").mkdir(parents=True)
    (root / "Makefile").write_text(f"VERSION = 6\nPATCHLEVEL = 12\nSUBLEVEL = {sublevel}\nEXTRAVERSION =\n")
    (root / "net/core/dev.c").write_text("\n" * dev_c_padding + "static void net_rx_action(void)\n{\n}\n")
    (root / "kernel/sched/wait.c").write_text(f"/* Generic waiting primitives. */\n{ADDED}\n"
                                              "void finish_wait(struct wait_queue_head *wq_head)\n{\n}\n")
    return root


def test_in_the_indexed_release_every_line_matches_and_distribution_lines_are_not_counted(tmp_path):
    tree = fake_tree(tmp_path, 118)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert check_against_tree(tree, FAKE_INDEX, FUNCTIONS, tree) == {}


def test_in_the_indexed_release_a_moved_line_fails(tmp_path):
    tree = fake_tree(tmp_path, 118, dev_c_padding=5)
    with pytest.raises(AssertionError, match=r"net_rx_action.*\(3, 6\).*index_kernel_sources.py"):
        check_against_tree(tree, FAKE_INDEX, FUNCTIONS, tree)


def test_in_another_point_release_moved_lines_are_reported_with_the_rebuild_command(tmp_path):
    tree = fake_tree(tmp_path, 119, dev_c_padding=5)
    with pytest.warns(UserWarning, match=rf"1 of 2 lines moved \(net_rx_action 3 → 6.*"
                                         rf"python tools/index_kernel_sources.py {tree}"):
        assert check_against_tree(tree, FAKE_INDEX, FUNCTIONS, tree) == {"net_rx_action": (3, 6)}


def test_in_another_point_release_a_function_missing_from_its_file_fails(tmp_path):
    tree = fake_tree(tmp_path, 119)
    (tree / "net/core/dev.c").write_text("/* moved away */\n")
    with pytest.raises(LookupError, match=r"not defined where the model says: net_rx_action \(net/core/dev.c\)"):
        check_against_tree(tree, FAKE_INDEX, FUNCTIONS, tree)


# --- releases, links, tarballs ------------------------------------------------------------------------------------
@pytest.mark.parametrize("fields, release", [("SUBLEVEL = 118\nEXTRAVERSION =", "6.12.118"),
                                             ("SUBLEVEL = 0\nEXTRAVERSION = -rc3", "6.12-rc3")])
def test_tree_release_is_spelled_like_the_release_tag(tmp_path, fields, release):
    (tmp_path / "Makefile").write_text(f"# SPDX\nVERSION = 6\nPATCHLEVEL = 12\n{fields}\nNAME = Baby Opossum Posse\n")
    assert tree_release(tmp_path) == release and series_of(release) == "6.12"


def test_tree_release_refuses_what_is_not_a_kernel_tree(tmp_path):
    with pytest.raises(ValueError, match="not a kernel source tree"):
        tree_release(tmp_path)
    (tmp_path / "Makefile").write_text("all:\n\ttrue\n")
    with pytest.raises(ValueError, match="names no VERSION and PATCHLEVEL"):
        tree_release(tmp_path)
    with pytest.raises(ValueError, match="release must look like"):
        series_of("six")


def test_links_open_the_indexed_release_at_the_line():
    index = kernel_index("6.12")
    where = index["functions"]["net_rx_action"]
    assert source_url("net_rx_action") == \
        f"{BROWSER}/v{index['release']}/source/net/core/dev.c#L{where['line']}"
    assert source_url("not_modelled_here") == f"{BROWSER}/v{index['release']}/A/ident/not_modelled_here"
    old = kernel_index("3.10")
    assert source_url("napi_complete", "3.10") == \
        f"{BROWSER}/v{old['release']}/source/net/core/dev.c#L{old['functions']['napi_complete']['line']}"
    assert source_url("napi_complete_done", "3.10") == f"{BROWSER}/v3.10.65/A/ident/napi_complete_done"
    assert source_url("tcp_v4_rcv", "2.6") == f"{BROWSER}/v2.6/A/ident/tcp_v4_rcv"  # a series with no index


def test_links_refuse_bad_names_and_versions():
    with pytest.raises(ValueError, match="C identifier"):
        source_url("net rx")
    with pytest.raises(ValueError, match="series must look like"):
        source_url("net_rx_action", "6.12.118")


def _tarball(tmp_path: Path, name: str, body: str) -> Path:
    top = tmp_path / "src" / "linux-source-6.12"
    (top / "net/core").mkdir(parents=True, exist_ok=True)
    (top / "Makefile").write_text("VERSION = 6\nPATCHLEVEL = 12\nSUBLEVEL = 118\n")
    (top / "net/core/dev.c").write_text(body)
    (top / "net/core/sock.c").write_text("int sock;\n")
    tarball = tmp_path / name
    subprocess.run(["tar", "-cJf", str(tarball), "-C", str(tmp_path / "src"), "linux-source-6.12"], check=True)
    return tarball


def test_unpack_keeps_the_members_asked_for_and_replaces_an_older_unpacking(tmp_path):
    tarball = _tarball(tmp_path, "linux-source-6.12.tar.xz", "int dev;\n")
    tree = unpack(tarball, tmp_path / "cache", ["net/core/dev.c"])
    assert (tree / "net/core/dev.c").read_text() == "int dev;\n" and tree_release(tree) == "6.12.118"
    assert not (tree / "net/core/sock.c").exists()
    assert unpack(tarball, tmp_path / "cache", ["net/core/dev.c"]) == tree
    tarball = _tarball(tmp_path, "linux-source-6.12.tar.xz", "int dev, newer;\n")  # another size: another tarball
    newer = unpack(tarball, tmp_path / "cache")
    assert (newer / "net/core/sock.c").is_file() and (newer / "net/core/dev.c").read_text() == "int dev, newer;\n"
    assert [p.name for p in (tmp_path / "cache").iterdir()] == [newer.parent.name]
    with pytest.raises(ValueError, match="no tarball at"):
        unpack(tmp_path / "missing.tar.xz", tmp_path / "cache")
