# Two entry points for a fresh machine: `make run` (the viewer) and `make test` (every test).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python

.PHONY: run test bench bench-viewer lint clean

$(VENV)/.installed-%: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[$*]'
	touch $@

run: $(VENV)/.installed-viewer
	$(PY) -m viewer

test: $(VENV)/.installed-test
	$(VENV)/bin/lint-imports
	$(PY) -m pytest

bench: $(VENV)/.installed-test
	$(PY) -m benchmarks.engine_bench
	$(PY) -m benchmarks.viewer_bench

bench-viewer: $(VENV)/.installed-test
	$(PY) -m benchmarks.viewer_bench

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache
