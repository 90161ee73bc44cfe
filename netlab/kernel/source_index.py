"""Where each modelled function is defined in the real kernel tree, and a link a learner can click.

``linux-6.12.json`` (beside this file) maps every function marked with ``kernel_function`` to its file and line in
Linux 6.12. It is written by ``python tools/index_kernel_sources.py <linux-6.12 tree>`` and checked against the
tree by the tests, so a model cannot name a function the kernel does not have.
"""
from __future__ import annotations

import json
import re
from functools import lru_cache
from pathlib import Path

from netlab import check

INDEX_PATH = Path(__file__).with_name("linux-6.12.json")
BROWSER = "https://elixir.bootlin.com/linux"


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
    for pattern in patterns:
        match = pattern.search(text)
        if match:
            return text.count("\n", 0, match.start()) + 1
    return None


@check.arguments
def build_index(tree: Path, functions: dict[str, str]) -> dict[str, dict[str, object]]:
    """Find each ``name -> file`` in ``tree``; raise ``LookupError`` listing every name not defined there."""
    tree = Path(tree)
    if not (tree / "Makefile").is_file():
        raise ValueError(f"{tree} is not a kernel source tree (no top-level Makefile)")
    index, missing = {}, []
    for name, source in sorted(functions.items()):
        path = tree / source
        line = definition_line(path.read_text(errors="replace"), name) if path.is_file() else None
        if line is None:
            missing.append(f"{name} ({source})")
        else:
            index[name] = {"file": source, "line": line}
    if missing:
        raise LookupError("not defined where the model says: " + ", ".join(missing))
    return index


@lru_cache(maxsize=1)
def linux_6_12() -> dict[str, dict[str, object]]:
    """The committed index: function -> {file, line} in Linux 6.12."""
    return json.loads(INDEX_PATH.read_text()) if INDEX_PATH.is_file() else {}


@check.arguments
def source_url(function: str, version: str = "6.12") -> str:
    """A link to ``function`` in an online kernel source browser: the exact line for 6.12, else the identifier."""
    if not isinstance(function, str) or not function.isidentifier():
        raise ValueError(f"function must be a C identifier, got {function!r}")
    if not isinstance(version, str) or not re.fullmatch(r"\d+\.\d+", version):
        raise ValueError(f"version must look like '6.12' or '3.10', got {version!r}")
    where = linux_6_12().get(function) if version == "6.12" else None
    if where:
        return f"{BROWSER}/v6.12/source/{where['file']}#L{where['line']}"
    return f"{BROWSER}/v{version}/A/ident/{function}"


def modelled_functions() -> dict[str, str]:
    """Every kernel function the models in ``netlab.kernel`` mark: name -> source file."""
    from netlab.kernel import import_all
    from netlab.trace import KERNEL_FUNCTIONS

    import_all()
    return {name: fn.kernel_source for name, fn in KERNEL_FUNCTIONS.items()
            if fn.__module__.startswith("netlab.kernel.")}
