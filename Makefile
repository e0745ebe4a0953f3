# The two commands a new machine needs: `make serve` and `make test`. Everything else is a helper for them.
PYTHON ?= python3.11
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
# The runtime extra: `make serve RUNTIME=gpu` installs onnxruntime-gpu instead of onnxruntime.
RUNTIME ?= cpu

.PHONY: serve test system-deps lint typecheck pytest models clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip

# onnxruntime and onnxruntime-gpu share one import name and must never sit side by side: switching runtimes
# removes the other one first.
OTHER_RUNTIME := $(if $(filter gpu,$(RUNTIME)),onnxruntime,onnxruntime-gpu)

# Stamp files record which extras the venv holds, so repeated runs skip pip entirely.
$(VENV)/.serve-$(RUNTIME): pyproject.toml | $(PY)
	$(PIP) uninstall --quiet --yes $(OTHER_RUNTIME) 2>/dev/null || true
	$(PIP) install --quiet -e ".[$(RUNTIME)]"
	rm -f $(if $(filter gpu,$(RUNTIME)),$(VENV)/.serve-cpu $(VENV)/.dev,$(VENV)/.serve-gpu)
	touch $@

$(VENV)/.dev: pyproject.toml | $(PY)
	$(PIP) uninstall --quiet --yes onnxruntime-gpu 2>/dev/null || true
	$(PIP) install --quiet -e ".[cpu,train,dev]"
	rm -f $(VENV)/.serve-gpu
	touch $@

serve: $(VENV)/.serve-$(RUNTIME)
	$(PY) -m service

test: $(VENV)/.dev system-deps lint typecheck pytest

# Headless Chromium for the browser tests (Debian's package; a no-op when it is already installed).
system-deps:
	bash scripts/install-test-deps.sh

lint: $(VENV)/.dev
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: $(VENV)/.dev
	$(VENV)/bin/mypy

pytest: $(VENV)/.dev
	$(VENV)/bin/pytest

# The demo repository, rebuilt from configs/ on CPU. pose_cnn comes first: the sequence model starts from it.
DEMO_MODELS := pose_cnn sequence_pose_convlstm motion_transformer digits_convlstm
models: $(VENV)/.dev
	rm -rf model_repository.new
	for name in $(DEMO_MODELS); do \
		$(PY) -m training fit --config configs/$$name.toml --export model_repository.new || exit 1; \
	done
	rm -rf model_repository && mv model_repository.new model_repository
	$(PY) -m training evaluate --model model_repository/*/1

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
