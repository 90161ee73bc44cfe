"""What a chapter notebook's markdown says, for the tests that hold the numbers in its prose to the model."""
import json
import re
from pathlib import Path

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"


def prose(notebook: str) -> str:
    """The markdown cells of ``notebooks/<notebook>``, one text, every run of whitespace one space."""
    cells = json.loads((NOTEBOOKS / notebook).read_text())["cells"]
    return " ".join(" ".join("".join(c["source"]) for c in cells if c["cell_type"] == "markdown").split())


def stated(pattern: str, text: str) -> tuple[str, ...]:
    """The groups of ``pattern`` where ``text`` says it; fails, naming the pattern, where it no longer does."""
    match = re.search(pattern, text)
    assert match, f"the notebook no longer says {pattern!r}: update this test with its new sentence"
    return match.groups()


def integer(text: str) -> int:
    """A number as the prose writes it: ``28 232``, ``144 640`` or ``7 200`` (thin spaces too), ``five``."""
    words = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8}
    return words[text.lower()] if text.lower() in words else int(re.sub(r"[\s,\u202f\u2009]", "", text))
