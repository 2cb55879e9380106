# make demo: the 4D pipeline on the embedded example experiment; make test: the test suite.
# Each creates .venv and installs what it needs, at the versions of constraints.txt.
# make test-latest: the suite on the newest versions (.venv-latest); make lock: renew constraints.txt.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test test-latest lock bench clean

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e ".[test]"
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/insitu4d demo -o demo_output

test: $(STAMP)
	$(BIN)/python -m pytest -q

test-latest:
	rm -rf .venv-latest
	$(PYTHON) -m venv .venv-latest
	.venv-latest/bin/python -m pip install --quiet --upgrade pip
	.venv-latest/bin/python -m pip install --quiet -e ".[test]"
	.venv-latest/bin/python -m pytest -q

lock:
	rm -rf .venv-lock
	$(PYTHON) -m venv .venv-lock
	.venv-lock/bin/python -m pip install --quiet --upgrade pip
	.venv-lock/bin/python -m pip install --quiet -e ".[test]"
	head -3 constraints.txt > constraints.txt.part
	.venv-lock/bin/python -m pip freeze --exclude-editable >> constraints.txt.part
	mv constraints.txt.part constraints.txt
	rm -rf .venv-lock

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_reconstruction.py

clean:
	rm -rf $(VENV) .venv-latest .venv-lock demo_output .pytest_cache
