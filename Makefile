# radiorisk: the two set-up commands are `make demo` and `make test`.
# Both create .venv at the repository root when it is missing and install everything.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip
STAMP  := $(VENV)/.radiorisk-installed
DEMO_OUT ?= demo_output

.PHONY: install demo test test-all lint bench clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	# pyradiomics-bhklab is sdist-only and needs its build tools present (no build isolation).
	$(PIP) install --quiet "numpy>=1.26,<2.5" setuptools wheel versioneer
	$(PIP) install --quiet --no-build-isolation "pyradiomics-bhklab==3.1.4"
	$(PIP) install --quiet -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/radiorisk demo --out $(DEMO_OUT)

test: $(STAMP)
	$(PY) -m pytest -m "not slow" -q --doctest-modules radiorisk tests

test-all: $(STAMP)
	$(PY) -m pytest -q --doctest-modules radiorisk tests

lint: $(STAMP)
	$(VENV)/bin/ruff check radiorisk tests benchmarks

bench: $(STAMP)
	$(PY) benchmarks/bench_synth.py

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache $(DEMO_OUT)
