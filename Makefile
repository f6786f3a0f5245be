# Two set-up commands: `make demo` and `make test`. Both create .venv when it is missing.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test lint bench check-grids clean docs

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[test,lint]"
	touch $(STAMP)

demo: $(STAMP)
	$(PY) -m cotation demo

# One worker process per core (pytest-xdist): most of the suite's time is Numba compiling kernels.
test: $(STAMP)
	$(PY) -m pytest -q -p no:cacheprovider -n auto --dist worksteal

# ruff (lint and format) over the code and its tests, mypy over the package (settings in pyproject.toml).
lint: $(STAMP)
	$(PY) -m ruff check cotation tests benchmarks docs examples
	$(PY) -m ruff format --check cotation tests benchmarks docs examples
	$(PY) -m mypy cotation

bench: $(STAMP)
	$(PY) -m pip install --quiet -e ".[bench]"
	$(PY) -m benchmarks.summary
	$(PY) -m benchmarks.simulate

check-grids: $(STAMP)
	$(PY) -m cotation check grids/exemple-metropole.yaml
	$(PY) -m cotation test grids/*.tests.yaml

docs: $(STAMP)
	$(PY) docs/build_docs.py

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis build *.egg-info
