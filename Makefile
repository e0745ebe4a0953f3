# The two commands a new machine needs: `make serve` and `make test`. Everything else is a helper for them.
PYTHON ?= python3.11
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
# The runtime extra: `make serve RUNTIME=gpu` installs onnxruntime-gpu instead of onnxruntime.
RUNTIME ?= cpu

.PHONY: serve test lint typecheck pytest models benchmark clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip

# Stamp files record which extras the venv holds, so repeated runs skip pip entirely.
$(VENV)/.serve-$(RUNTIME): pyproject.toml | $(PY)
	$(PIP) install --quiet -e ".[$(RUNTIME)]"
	touch $@

$(VENV)/.dev: pyproject.toml | $(PY)
	$(PIP) install --quiet -e ".[cpu,train,dev]"
	touch $@

serve: $(VENV)/.serve-$(RUNTIME)
	$(PY) -m service

test: $(VENV)/.dev lint typecheck pytest

lint: $(VENV)/.dev
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: $(VENV)/.dev
	$(VENV)/bin/mypy

pytest: $(VENV)/.dev
	$(VENV)/bin/pytest

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
