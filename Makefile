# The two set-up commands of the README: `make demo` and `make test`.
# Each builds the virtual environment it needs in .venv (only when pyproject.toml changed).
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
# setuptools warns that the top-level folder inversynth/ shares the package's name: it is that package
# (package-dir in pyproject.toml), on purpose; the warning alone is silenced, every other one stays.
PIP    := PYTHONWARNINGS="ignore:Editable installation" $(BIN)/pip

.PHONY: demo test test-fast typecheck bench clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet -e .
	touch $@

# torch==2.13.0 (the training extra) is the CPU build; see pyproject.toml.
$(VENV)/.installed-dev: $(VENV)/.installed
	$(PIP) install --quiet -e '.[dev,training]'
	touch $@

demo: $(VENV)/.installed
	$(BIN)/inversynth demo

test: $(VENV)/.installed-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python .ci/typecheck.py
	$(BIN)/python -m pytest

# The loop while editing (under a minute): no JACK server, no serve process, no training, nothing slow.
test-fast: $(VENV)/.installed-dev
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -q -m "not live and not training and not slow"

typecheck: $(VENV)/.installed-dev
	$(BIN)/python .ci/typecheck.py

bench: $(VENV)/.installed
	$(BIN)/inversynth bench render

clean:
	rm -rf $(VENV) inversynth-demo build .pytest_cache .ruff_cache .mypy_cache
