# The two commands a new machine needs: `make serve` and `make test`. Everything else is a helper for them.
PYTHON ?= python3.11
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
# The runtime extra: `make serve RUNTIME=gpu` installs onnxruntime-gpu instead of onnxruntime.
RUNTIME ?= cpu

.PHONY: serve test system-deps lint typecheck pytest models lock clean

$(PY):
	$(PYTHON) -m venv $(VENV)

# Every install goes through a lock in requirements/ (scripts/lock.py): exactly its pinned versions, pip and the
# build backend included, then posecast itself with no dependencies of its own. The dev lock pins the CPU build of
# torch (torch==X+cpu): pip finds it in a local wheel cache (CI) or in PyTorch's CPU index, given as
# `make test TORCH_INDEX=https://download.pytorch.org/whl/cpu`.
TORCH_INDEX ?=
define install_lock
	$(PIP) install --quiet $(if $(TORCH_INDEX),--extra-index-url $(TORCH_INDEX)) -r requirements/$(1).txt
	$(PIP) install --quiet --no-deps --no-build-isolation -e .
	$(PIP) check
endef

# onnxruntime and onnxruntime-gpu share one import name and must never sit side by side: switching runtimes
# removes the other one first.
OTHER_RUNTIME := $(if $(filter gpu,$(RUNTIME)),onnxruntime,onnxruntime-gpu)

# Stamp files record which extras the venv holds, so repeated runs skip pip entirely.
$(VENV)/.serve-$(RUNTIME): pyproject.toml requirements/serve-$(RUNTIME).txt | $(PY)
	$(PIP) uninstall --quiet --yes $(OTHER_RUNTIME) 2>/dev/null || true
	$(call install_lock,serve-$(RUNTIME))
	rm -f $(if $(filter gpu,$(RUNTIME)),$(VENV)/.serve-cpu $(VENV)/.dev,$(VENV)/.serve-gpu)
	touch $@

$(VENV)/.dev: pyproject.toml requirements/dev.txt | $(PY)
	$(PIP) uninstall --quiet --yes onnxruntime-gpu 2>/dev/null || true
	$(call install_lock,dev)
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
DEMO_MODELS := pose_cnn sequence_pose_convlstm motion_transformer co2_transformer digits_convlstm
models: $(VENV)/.dev
	rm -rf model_repository.new
	for name in $(DEMO_MODELS); do \
		$(PY) -m training fit --config configs/$$name.toml --export model_repository.new || exit 1; \
	done
	rm -rf model_repository && mv model_repository.new model_repository
	$(PY) -m training evaluate --model model_repository/*/1

# Re-resolves every lock against today's releases (pip-tools): run it to upgrade on purpose or after editing the
# dependencies in pyproject.toml (KEEP=1 keeps the current pins where they still fit), then commit the diff.
lock: $(VENV)/.dev
	$(PY) scripts/lock.py $(if $(KEEP),--keep) $(if $(TORCH_INDEX),--torch-index $(TORCH_INDEX))

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
