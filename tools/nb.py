"""Write a notebook from a list of ("md" | "code", source) cells, stored stripped (no outputs, no widget state).

    from tools.nb import write
    write("notebooks/01-receive.ipynb", [("md", "# Title"), ("code", "import netlab")])
"""
import sys
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook


def write(path: str, cells: list[tuple[str, str]]) -> None:
    nb = new_notebook(cells=[new_markdown_cell(src.strip()) if kind == "md" else new_code_cell(src.strip())
                             for kind, src in cells])
    nb.metadata = {"kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
                   "language_info": {"name": "python"}}
    stem = Path(path).stem.split("-")[0]
    for i, cell in enumerate(nb.cells):
        cell.id = f"{stem}-{i:02d}"  # stable ids keep diffs small
    nbformat.validate(nb)
    Path(path).write_text(nbformat.writes(nb, version=4) + "\n")


if __name__ == "__main__":
    sys.exit("import tools.nb and call write(path, cells)")
