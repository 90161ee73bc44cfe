"""Chapter 00's course map lists every question of the reader's notes, and each link leads to the section that
quotes it (and answers it, as the chapter tests check)."""
import json
import re
from pathlib import Path

from notebook_prose import stated

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
ROW = re.compile(r"^\| (\d+) \| (.+?) \| \[(\d\d) · (.+?)\]\((0\d-[\w-]+\.ipynb)\) \|$")


def markdown(name: str) -> list[str]:
    cells = json.loads((NOTEBOOKS / name).read_text())["cells"]
    return ["".join(c["source"]) for c in cells if c["cell_type"] == "markdown"]


def quoted_questions() -> dict[str, tuple[str, str]]:
    """Every question the chapters quote from the notes -> (notebook, the ## heading it sits under)."""
    found = {}
    for path in sorted(NOTEBOOKS.glob("0[1-7]-*.ipynb")):
        heading = None
        for text in markdown(path.name):
            for line in text.splitlines():
                if line.startswith("## "):
                    heading = line[3:].strip()
                if line.startswith(">") and re.search(r"[\u4e00-\u9fff]", line) and "?" in line:
                    found[re.sub(r"^>\s*(\*\*)?(\d\.\s*)?", "", line).replace("**", "").strip()] = (path.name, heading)
    return found


def test_the_course_map_links_every_question_of_the_notes_to_its_section():
    rows = [m.groups() for text in markdown("00-start-here.ipynb") for line in text.splitlines()
            for m in [ROW.match(line)] if m]
    (count,) = stated(r"## The course map: the (\d+) questions of the notes",
                      "\n".join(markdown("00-start-here.ipynb")))
    assert [int(r[0]) for r in rows] == list(range(1, int(count) + 1)), "the map counts the notes' questions"
    quoted = quoted_questions()
    assert {r[1] for r in rows} == set(quoted), "the map and the chapters quote the same questions"
    for _, question, chapter, heading, notebook in rows:
        assert notebook.startswith(chapter) and quoted[question] == (notebook, heading), question
