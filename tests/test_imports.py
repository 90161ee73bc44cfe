"""How the package's modules depend on each other: no cycle, no arrow the wrong way, no rewiring at import.

Every module's imports are read with ``ast``, those inside functions included. ``from netlab.live import procfs``
is an arrow to ``netlab.live.procfs``; ``from netlab.kernel.dev import NetDevice`` one to ``netlab.kernel.dev``.
The map (a module may import its own folder and what its rule lists; :data:`MAY_IMPORT`):

- ``netlab.check``: nothing of netlab. ``netlab.trace``, ``netlab.units`` (numbers for a person) and
  ``netlab.exercises``: ``check`` (and ``units``). Every part below may also import ``trace``, ``check`` and ``units``.
- ``netlab.kernel.*`` (the models): ``kernel``, ``trace``, ``check``.
- ``netlab.live.*`` (the learner's kernel): ``live``, ``kernel``, ``trace``, ``check``; never a scenario, so a probe
  measures and the scenario that runs the model for it compares.
- ``netlab.load.*`` (vectorised models): ``load``, ``kernel``, ``trace``, ``check``.
- ``netlab.view.*`` (drawings, Stepper): ``view``, ``trace``, ``check``, and four things that run no model:
  ``live.result`` and ``live.claims`` (the result types a view shows), ``live.kallsyms`` (the Stepper's "is it in your kernel") and
  ``kernel.source_index`` (the Stepper's link to the kernel source). Views read traces, snapshots and results;
  they never import a scenario, a load model or a kernel model.
- ``netlab.scenarios.*`` (each chapter's world): anything but ``view``.
- ``netlab`` (public names only) and ``netlab.check.__main__`` (the command ``python -m netlab.check``, which runs
  the live checks and prints their table): unrestricted.
"""
from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "netlab"

BASE = ("netlab.trace", "netlab.check", "netlab.units")
MAY_IMPORT = {
    "netlab.check.__main__": ("netlab",),
    "netlab.check": (),
    "netlab.units": ("netlab.check",),
    "netlab.trace": ("netlab.check", "netlab.units"),
    "netlab.exercises": ("netlab.check", "netlab.units"),
    "netlab.kernel": ("netlab.kernel", *BASE),
    "netlab.live": ("netlab.live", "netlab.kernel", *BASE),
    "netlab.load": ("netlab.load", "netlab.kernel", *BASE),
    "netlab.view": ("netlab.view", *BASE, "netlab.live.result", "netlab.live.claims", "netlab.live.kallsyms",
                    "netlab.kernel.source_index"),
    "netlab.scenarios": ("netlab.scenarios", "netlab.kernel", "netlab.live", "netlab.load", *BASE),
}
"""Which modules (a name and everything under it) each part of the package may import."""

KNOWN: dict[tuple[str, str], str] = {}
"""Wrong-way arrows that are known and on their way out: (module, imported module) -> why it is still here."""


def _within(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def module_name(path: Path, root: Path) -> str:
    """``netlab/kernel/dev.py`` → ``netlab.kernel.dev``; a package's ``__init__.py`` is the package."""
    parts = path.relative_to(root.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(source: str, name: str, is_package: bool, modules: set[str]) -> dict[str, int]:
    """The package's modules that ``source`` (module ``name``) imports anywhere in it: imported module -> line."""
    package = name if is_package else name.rpartition(".")[0]
    top = name.partition(".")[0]
    found: dict[str, int] = {}
    for node in ast.walk(ast.parse(source)):
        targets = []
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = package.split(".")[:len(package.split(".")) - node.level + 1]
                base = ".".join(up + ([node.module] if node.module else []))
            targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base for alias in node.names]
        for target in targets:
            if _within(target, top):
                found.setdefault(target, node.lineno)
    return found


def import_graph(root: Path = PACKAGE) -> dict[str, dict[str, int]]:
    """Every module of the package at ``root`` -> the package's modules it imports (and the line)."""
    paths = {module_name(p, root): p for p in sorted(root.rglob("*.py"))}
    return {name: imports_of(path.read_text(), name, path.name == "__init__.py", set(paths))
            for name, path in paths.items()}


def cycles(graph: dict[str, dict[str, int]]) -> list[list[str]]:
    """One cycle (a → b → … → a) through each strongly connected group of modules (Tarjan's algorithm)."""
    index, low, stack, on_stack, groups = {}, {}, [], set(), []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = set()
            while True:
                w = stack.pop()
                on_stack.discard(w)
                group.add(w)
                if w == v:
                    break
            if len(group) > 1 or v in graph.get(v, ()):
                groups.append(group)

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return [_cycle_in(sorted(group)[0], group, graph) for group in groups]


def _cycle_in(start: str, group: set[str], graph: dict[str, dict[str, int]]) -> list[str]:
    """The shortest path start → … → start inside ``group`` (breadth first)."""
    came_from, frontier = {}, [start]
    while frontier:
        nxt = []
        for v in frontier:
            for w in sorted(graph[v]):
                if w == start:
                    path = [v]
                    while path[-1] != start:
                        path.append(came_from[path[-1]])
                    return [start, *reversed(path[:-1]), start] if v != start else [start, start]
                if w in group and w not in came_from:
                    came_from[w] = v
                    nxt.append(w)
        frontier = nxt
    raise AssertionError(f"{start} is on no cycle")


def wrong_way(graph: dict[str, dict[str, int]]) -> list[tuple[str, str, int]]:
    """(module, imported module, line) for every arrow :data:`MAY_IMPORT` does not allow."""
    found = []
    for module, imported in sorted(graph.items()):
        rule = next((allowed for part, allowed in MAY_IMPORT.items() if _within(module, part)), None)
        if rule is None:
            continue
        found += [(module, target, line) for target, line in sorted(imported.items())
                  if not any(_within(target, allowed) for allowed in rule)]
    return found


def test_no_module_imports_itself_back():
    found = cycles(import_graph())
    assert not found, "import cycles: " + "; ".join(" → ".join(c) for c in found)


def test_every_arrow_runs_the_right_way():
    found = [f"{m} imports {t} (line {line})" for m, t, line in wrong_way(import_graph()) if (m, t) not in KNOWN]
    assert not found, "wrong-way imports (see this file's docstring for the map): " + "; ".join(found)


def test_the_known_wrong_arrows_still_exist():
    arrows = {(m, t) for m, t, _ in wrong_way(import_graph())}
    assert not set(KNOWN) - arrows, f"fixed, so delete from KNOWN: {sorted(set(KNOWN) - arrows)}"


def test_the_top_level_holds_only_what_every_part_shares():
    top = {m for m in import_graph() if m.count(".") == 1 and not (PACKAGE / m.split(".")[1]).is_dir()}
    top |= {"netlab.check"} if (PACKAGE / "check" / "__main__.py").is_file() else set()   # a package for its command
    assert top == {"netlab.check", "netlab.trace", "netlab.units", "netlab.exercises"}, \
        f"a module outside the folders (scenario code belongs in netlab/scenarios/): {sorted(top)}"


def test_every_part_of_the_package_has_a_rule():
    parts = {m for m in import_graph() if m.count(".") == 1 and (PACKAGE / m.split(".")[1]).is_dir()}
    assert parts <= set(MAY_IMPORT), f"folders without an import rule: {sorted(parts - set(MAY_IMPORT))}"


def _plant(tmp_path: Path, files: dict[str, str]) -> Path:
    root = tmp_path / "netlab"
    for relative, source in {"__init__.py": "", **files}.items():
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        (root / relative).write_text(source)
    return root


def test_the_checker_sees_a_planted_cycle_and_a_wrong_arrow(tmp_path):
    root = _plant(tmp_path, {
        "kernel/__init__.py": "",
        "kernel/a.py": "from netlab.kernel import b\n",
        "kernel/b.py": "def f():\n    from netlab.kernel.c import g   # inside a function: still an arrow\n",
        "kernel/c.py": "from . import a\nimport netlab.trace\n",
        "kernel/d.py": "def f():\n    from netlab.live import procfs\n",
        "live/__init__.py": "", "live/procfs.py": "from netlab.kernel.a import x\n",
        "view/__init__.py": "", "view/stepper.py": "from netlab.kernel.source_index import url\n",
        "view/bad.py": "from netlab.scenarios.receive import Host\nfrom netlab.kernel import dev\n",
        "scenarios/__init__.py": "", "scenarios/receive.py": "from netlab.view import stepper\n",
        "trace.py": "from netlab import check\n", "check.py": "",
    })
    graph = import_graph(root)
    assert graph["netlab.kernel.b"] == {"netlab.kernel.c": 2}
    assert cycles(graph) == [["netlab.kernel.a", "netlab.kernel.b", "netlab.kernel.c", "netlab.kernel.a"]]
    assert [(m, t) for m, t, _ in wrong_way(graph)] == [
        ("netlab.kernel.d", "netlab.live.procfs"), ("netlab.scenarios.receive", "netlab.view.stepper"),
        ("netlab.view.bad", "netlab.kernel"), ("netlab.view.bad", "netlab.scenarios.receive")]


def module_level_rewiring(source: str) -> list[int]:
    """Lines where a module's top level assigns to an attribute or item of another object, or calls setattr."""
    found = []
    for node in ast.parse(source).body:
        targets = (node.targets if isinstance(node, ast.Assign)
                   else [node.target] if isinstance(node, (ast.AugAssign, ast.AnnAssign)) else [])
        if any(isinstance(t, (ast.Attribute, ast.Subscript)) for t in targets):
            found.append(node.lineno)
        if (isinstance(node, ast.Expr) and isinstance(node.value, ast.Call)
                and getattr(node.value.func, "id", None) == "setattr"):
            found.append(node.lineno)
    return found


def test_no_module_changes_another_by_being_imported():
    rewired = [f"{path.relative_to(PACKAGE.parent)}:{line}" for path in sorted(PACKAGE.rglob("*.py"))
               for line in module_level_rewiring(path.read_text())]
    assert not rewired, f"top-level assignments to another object (behaviour would depend on import order): {rewired}"


def test_the_rewiring_check_sees_an_assignment_to_another_module():
    planted = "from netlab.kernel import tcp_ipv4\nX = 1\ntcp_ipv4.tcp_v4_rcv = print\nsetattr(tcp_ipv4, 'a', 1)\n"
    assert module_level_rewiring(planted) == [3, 4]
