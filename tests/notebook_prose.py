"""What a chapter notebook's markdown says, for the tests that hold the numbers in its prose to the model."""
import ast
import json
import re
from pathlib import Path

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"


def _sources(notebook: str, cell_type: str) -> list[str]:
    cells = json.loads((NOTEBOOKS / notebook).read_text())["cells"]
    return ["".join(c["source"]) for c in cells if c["cell_type"] == cell_type]


def prose(notebook: str) -> str:
    """The markdown cells of ``notebooks/<notebook>``, one text, every run of whitespace one space."""
    return " ".join(" ".join(_sources(notebook, "markdown")).split())


def stated(pattern: str, text: str) -> tuple[str, ...]:
    """The groups of ``pattern`` where ``text`` says it; fails, naming the pattern, where it no longer does."""
    match = re.search(pattern, text)
    assert match, f"the notebook no longer says {pattern!r}: update this test with its new sentence"
    return match.groups()


def says(sentence: str, text: str) -> None:
    """Fails, naming ``sentence``, where ``text`` no longer says it word for word."""
    assert sentence in text, f"the notebook no longer says {sentence!r}: update this test with its new sentence"


def integer(text: str) -> int:
    """A number as the prose writes it: ``28 232``, ``7 200``, ``1,021`` or ``five``."""
    words = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8}
    return words[text.lower()] if text.lower() in words else int(re.sub(r"[\s,\u202f\u2009]", "", text))


def strings(notebook: str) -> str:
    """The string literals of ``notebooks/<notebook>``'s code cells (an exercise's question, hint and why), each
    whole as Python joins adjacent literals, one text as :func:`prose` gives."""
    literals = [node.value for source in _sources(notebook, "code") for node in ast.walk(ast.parse(source))
                if isinstance(node, ast.Constant) and isinstance(node.value, str)]
    return " ".join(" ".join(literals).split())
