# Two commands matter: `make lab` opens the course, `make test` runs every test.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
ROOT_FLAG := $(if $(filter 0,$(shell id -u)),--allow-root,)
export UV_COMPILE_BYTECODE := 1

.PHONY: lab test bench strip clean

$(STAMP): pyproject.toml
	$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 10) and "netlab needs Python >= 3.10")'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip uv
	$(BIN)/uv pip install --python $(BIN)/python --quiet -e ".[dev]"
	touch $(STAMP)

lab: $(STAMP)
	$(BIN)/jupyter lab $(ROOT_FLAG) notebooks/00-start-here.ipynb

test: $(STAMP)
	$(BIN)/python -m pytest

# bench/mutants.py runs last: it is the slowest, and it exits 1 when a planted bug survives the tests
bench: $(STAMP)
	for b in $(filter-out bench/mutants.py,$(wildcard bench/*.py)) bench/mutants.py; do $(BIN)/python $$b || exit 1; done

strip: $(STAMP)
	$(BIN)/nbstripout notebooks/*.ipynb

clean:
	rm -rf $(VENV) .cache build *.egg-info
