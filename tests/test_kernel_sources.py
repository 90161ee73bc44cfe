"""Every modelled kernel function exists in Linux 6.12, in the file the model names, at the line we link to."""
import os
import subprocess
from pathlib import Path

import pytest

from netlab.kernel.source_index import build_index, linux_6_12, modelled_functions

ROOT = Path(__file__).resolve().parents[1]
TARBALL = Path("/usr/src/linux-source-6.12.tar.xz")
CACHE = ROOT / ".cache" / "linux-6.12"


def test_every_modelled_function_is_in_the_committed_index():
    index = linux_6_12()
    wrong = {name: source for name, source in modelled_functions().items()
             if index.get(name, {}).get("file") != source}
    assert not wrong, f"run `python tools/index_kernel_sources.py <linux-6.12 tree>`; not indexed: {wrong}"


def _source_tree() -> Path | None:
    if os.environ.get("NETLAB_LINUX_SRC"):
        return Path(os.environ["NETLAB_LINUX_SRC"])
    if not TARBALL.is_file():
        return None
    wanted = sorted({source for source in modelled_functions().values()} | {"Makefile"})
    missing = [w for w in wanted if not (CACHE / w).is_file()]
    if missing:
        CACHE.mkdir(parents=True, exist_ok=True)
        top = "linux-source-6.12"
        subprocess.run(["tar", "-xJf", str(TARBALL), "-C", str(CACHE), "--strip-components=1",
                        *[f"{top}/{w}" for w in wanted]], check=True)
    return CACHE


def test_the_index_agrees_with_the_linux_6_12_source():
    tree = _source_tree()
    if tree is None:
        reason = f"no Linux 6.12 source here ({TARBALL}; `apt-get install linux-source-6.12`)"
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    assert build_index(tree, modelled_functions()) == linux_6_12()
