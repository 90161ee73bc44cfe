"""bench/mutants.py stays runnable: every planted bug still finds its snippet exactly once and its test files exist
(a refactor that moves the code must update the list, not leave `make bench` to find out)."""
import importlib.util
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("mutants", ROOT / "bench" / "mutants.py")
mutants = importlib.util.module_from_spec(spec)
sys.modules["mutants"] = mutants        # its dataclasses look their module up there
spec.loader.exec_module(mutants)


@pytest.mark.parametrize("mutant", mutants.MUTANTS, ids=[m.name for m in mutants.MUTANTS])
def test_each_mutant_plants_its_bug_once_and_names_existing_tests(mutant):
    assert mutants.mutated_source(mutant) != (ROOT / mutant.file).read_text()
    assert mutant.tests and all((ROOT / t).is_file() for t in mutant.tests)
