# radiorisk: the two set-up commands are `make demo` and `make test`.
# Both create .venv at the repository root when it is missing and install everything.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip
STAMP  := $(VENV)/.radiorisk-installed
DEMO_OUT ?= demo_output

.PHONY: install lock demo test test-all lint layers bench clean

# Installs come from the hashed lock files, so every machine gets the same versions
# (pyproject keeps the ranges for people installing into their own environment).
LOCK       := requirements.lock
BUILD_LOCK := requirements-build.lock
LOCK_ARGS  := --generate-hashes --python-version 3.11 --python-platform x86_64-unknown-linux-gnu
UV_VERSION := 0.13.9

$(STAMP): pyproject.toml $(LOCK) $(BUILD_LOCK)
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	# pyradiomics-bhklab is sdist-only and needs its build tools present (no build isolation);
	# hatchling builds radiorisk itself. Both sets are pinned and hashed in $(BUILD_LOCK).
	$(PIP) install --quiet --require-hashes -r $(BUILD_LOCK)
	$(PIP) install --quiet --require-hashes --no-build-isolation -r $(LOCK)
	$(PIP) install --quiet --no-deps --no-build-isolation -e .
	touch $(STAMP)

# Refresh the locks after changing a range in pyproject.toml (needs PyPI): `make lock`.
lock:
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet "uv==$(UV_VERSION)"
	$(VENV)/bin/uv pip compile pyproject.toml --extra dev $(LOCK_ARGS) -o $(LOCK)
	$(VENV)/bin/uv pip compile requirements-build.in -c $(LOCK) $(LOCK_ARGS) -o $(BUILD_LOCK)

install: $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/radiorisk demo --out $(DEMO_OUT)

test: $(STAMP)
	$(PY) -m pytest -m "not slow" -q --hypothesis-profile=ci --doctest-modules radiorisk tests

test-all: $(STAMP)
	$(PY) -m pytest -q --hypothesis-profile=ci --doctest-modules radiorisk tests

lint: $(STAMP)
	$(VENV)/bin/ruff check radiorisk tests benchmarks
	$(VENV)/bin/lint-imports

# The layer contracts of docs/architecture.md (import-linter, configured in pyproject.toml).
layers: $(STAMP)
	$(VENV)/bin/lint-imports

bench: $(STAMP)
	$(PY) benchmarks/bench_synth.py

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache $(DEMO_OUT)
