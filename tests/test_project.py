"""The project's promises to a newcomer: stripped notebooks, Binder in sync with pyproject, two commands."""
import json
import re
try:
    import tomllib
except ImportError:  # Python 3.10
    import tomli as tomllib
from pathlib import Path

import yaml
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


def test_there_are_notebooks():
    assert (ROOT / "notebooks" / "00-start-here.ipynb") in NOTEBOOKS


def test_notebooks_are_stored_without_outputs_or_widget_state():
    for path in NOTEBOOKS:
        nb = json.loads(path.read_text())
        assert "widgets" not in nb["metadata"], f"{path.name} stores widget state: run `make strip`"
        for cell in nb["cells"]:
            if cell["cell_type"] == "code":
                assert cell["outputs"] == [] and cell["execution_count"] is None, \
                    f"{path.name} stores outputs: run `make strip`"


def _names(requirements):
    return {Requirement(r).name.lower(): Requirement(r).specifier for r in requirements}


def test_environment_yml_matches_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    conda = [d for d in env["dependencies"] if isinstance(d, str)]
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    conda_reqs = _names(re.sub(r"^(\S+?)(>=|==|<)", r"\1\2", d) for d in conda if not d.startswith(("python", "pip")))
    assert conda_reqs == _names(project["dependencies"]), "environment.yml and pyproject.toml list other runtime deps"
    python = next(d for d in conda if d.startswith("python"))
    assert python.replace("python", "") == project["requires-python"]
    assert "-e ." in pip, "Binder must install netlab itself"


def test_readme_shows_exactly_the_two_commands():
    readme = (ROOT / "README.md").read_text()
    commands = re.findall(r"^\s*make (\w+)\s*$", readme, re.M)
    assert commands[:2] == ["lab", "test"], "README must show `make lab` then `make test` first"
    for path in NOTEBOOKS:
        assert f"notebooks/{path.name}" in readme, f"README does not link {path.name}"


def test_ci_runs_the_readme_command():
    assert "make test" in (ROOT / ".ci" / "run").read_text()
