"""tools/kernel_sizes.py: the sizes the models use are the sizes the kernel compiles.

The whole tool (``.venv/bin/python tools/kernel_sizes.py``) runs in the last test: ~80 s the first time (it unpacks
and prepares Debian's linux-source-6.12 under .cache/), ~10 s after. The other tests check its parts on a probe
the host compiler builds in a moment. Sizes must match exactly on the release the index names (6.12.118); when
Debian has moved to another 6.12.y, a difference is a warning with the command to re-measure, not a failure.
"""
import importlib.util
import os
import shutil
import subprocess
import warnings
from pathlib import Path

import pytest

from netlab.kernel.source_index import kernel_index, tree_release

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("kernel_sizes", ROOT / "tools" / "kernel_sizes.py")
kernel_sizes = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(kernel_sizes)


def _missing_or_fail(what: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"{what} is not installed (.ci/run installs it)")
    pytest.skip(f"{what} is not installed here")


def test_a_probe_makes_the_compiler_write_each_sizeof(tmp_path):
    if shutil.which("gcc") is None:
        _missing_or_fail("gcc")
    (tmp_path / "linux").mkdir()
    # the form of DEFINE() in the kernel's include/linux/kbuild.h: the constant lands in the assembly text
    (tmp_path / "linux/kbuild.h").write_text(
        '#define DEFINE(sym, val) asm volatile("\\n.ascii \\"->" #sym " %0 " #val "\\"" : : "i" (val))\n')
    (tmp_path / "pair.h").write_text("struct pair { char c; long l; };\nstruct three { char c[3]; };\n")
    (tmp_path / "probe.c").write_text(kernel_sizes.probe_source(['"pair.h"'], ["pair", "three"]))
    subprocess.run(["gcc", "-S", "-I", str(tmp_path), "-o", str(tmp_path / "probe.s"), str(tmp_path / "probe.c")],
                   check=True)
    assert kernel_sizes.parse_defines((tmp_path / "probe.s").read_text()) == {"pair": 16, "three": 3}


def test_parse_defines_reads_kbuild_lines_and_nothing_else():
    asm = ('\tmovq\t72(%rbx), %rdi\t# epi_31->ep\n.ascii "->epitem $120 sizeof(struct epitem)"\t#\n'
           '.ascii "->NEGATIVE $-4 -4"\t#\n')
    assert kernel_sizes.parse_defines(asm) == {"epitem": 120, "NEGATIVE": -4}
    with pytest.raises(TypeError, match="assembly text"):
        kernel_sizes.parse_defines(b".ascii")


def test_probe_source_refuses_what_is_not_a_struct_name():
    with pytest.raises(ValueError, match="one or more C identifiers"):
        kernel_sizes.probe_source(["linux/tcp.h"], ["tcp sock"])
    with pytest.raises(ValueError, match="one or more C identifiers"):
        kernel_sizes.probe_source(["linux/tcp.h"], [])


def test_the_table_names_every_size_that_differs_or_is_not_compiled():
    models = {"tcp_sock": (2368, "slub.SIZEOF_6_12"), "file": (184, "slub.SIZEOF_6_12")}
    text, wrong = kernel_sizes.table({"tcp_sock": 2400, "task_struct": 9792}, models)
    assert wrong == ["tcp_sock: compiled 2400, model 2368", "file: the model has 184 but no probe compiles it"]
    assert "task_struct" in text and "(no model table)" in text
    assert kernel_sizes.table({"tcp_sock": 2368, "file": 184}, models)[1] == []


def test_every_size_a_model_uses_has_a_probe():
    probed = {s for _, structs in kernel_sizes.PROBES.values() for s in structs}
    assert set(kernel_sizes.MODELS) <= probed


def test_changed_options_compares_values_and_not_set():
    stated = 'CONFIG_A=y\n# CONFIG_B is not set\nCONFIG_C="x"\nCONFIG_D=m\n'
    assert kernel_sizes.changed_options(stated, "CONFIG_A=y\nCONFIG_B=y\nCONFIG_D=m\n") == ["B", "C"]


def test_the_models_sizes_are_what_linux_6_12_compiles():
    for path in (kernel_sizes.TARBALL, kernel_sizes.CONFIG):
        if not path.is_file():
            _missing_or_fail(str(path))
    for tool in ("gcc", "make", "flex", "bison", "bc"):
        if shutil.which(tool) is None:
            _missing_or_fail(tool)
    tree = kernel_sizes.unpack(kernel_sizes.TARBALL, kernel_sizes.CACHE)
    kernel_sizes.prepare(tree, kernel_sizes.CONFIG)
    text, wrong = kernel_sizes.table(kernel_sizes.compile_sizes(tree))
    measured_on, installed = kernel_index("6.12")["release"], tree_release(tree)
    if installed != measured_on and wrong:
        # Debian moved to another 6.12.y: a struct may really have changed there; say so, do not fail CI for it
        warnings.warn(f"Linux {installed} compiles other sizes than {measured_on}, which the models use: {wrong}; "
                      f"check them and run .venv/bin/python tools/kernel_sizes.py")
        return
    assert not wrong, f"{wrong}\n{text}"
