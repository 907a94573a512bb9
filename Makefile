# The two set-up commands of the README: `make demo` and `make test`.
# Each builds the virtual environment it needs in .venv (only when pyproject.toml changed).
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin

.PHONY: demo test bench clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e .
	touch $@

# torch==2.13.0 (the training extra) is the CPU build; see pyproject.toml.
$(VENV)/.installed-dev: $(VENV)/.installed
	$(BIN)/pip install --quiet -e '.[dev,training]'
	touch $@

demo: $(VENV)/.installed
	$(BIN)/inversynth demo

test: $(VENV)/.installed-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python -m pytest

bench: $(VENV)/.installed
	$(BIN)/inversynth bench render

clean:
	rm -rf $(VENV) inversynth-demo .pytest_cache .ruff_cache
