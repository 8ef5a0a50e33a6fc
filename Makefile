# Two commands on a fresh machine with Python >= 3.11:
#   make demo   sets up .venv and runs the demo on the embedded SQLite store
#   make test   sets up .venv and runs the test suite
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: install demo demo-once test check audit bench clean

# setup.py and the detector's sources: the compiled replay is built again when they change.
DETECTOR := src/vigie/rules/detectors
$(BIN)/.installed: pyproject.toml setup.py $(DETECTOR)/batch.py $(DETECTOR)/batch.pxd $(DETECTOR)/seasonal.py
	$(PY) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Vigie needs Python >= 3.11")'
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e . --group dev
	touch $@

install: $(BIN)/.installed

demo: install
	$(BIN)/vigie demo

demo-once: install
	$(BIN)/vigie demo --once

test: install
	$(BIN)/pytest

check: install
	$(BIN)/ruff check src tests
	$(BIN)/ruff format --check src tests
	$(BIN)/mypy
	$(BIN)/lint-imports

# Known vulnerabilities in the installed dependencies. pip-audit asks PyPI's vulnerability
# service, so it needs the network: it is not part of `make check`, which runs offline.
audit: install
	$(BIN)/pip-audit --progress-spinner off

bench: install
	$(BIN)/vigie bench ingest

clean:
	rm -rf $(VENV) vigie-data .pytest_cache .mypy_cache .ruff_cache build src/vigie/rules/detectors/_*_c.*.so
