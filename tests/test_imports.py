"""How the package's modules depend on each other."""
import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "netlab"


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
