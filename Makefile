# Two entry points (README quick start): `make demo` and `make test`. Each creates .venv and installs.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
export FLWR_TELEMETRY_ENABLED := 0
export FLWR_DISABLE_UPDATE_CHECK := 1

.PHONY: demo test venv venv-infer lint typecheck apt-test-deps bench clean

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

# Runtime only (what a camera node needs): no torch.
$(VENV)/.infer-stamp: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e '.[infer]'
	touch $@

# Everything: training, export, dev tools. torch first so the CPU wheel is taken.
$(VENV)/.all-stamp: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q 'torch==2.13.0'
	$(BIN)/pip install -q -e '.[all]'
	touch $@ $(VENV)/.infer-stamp

venv-infer: $(VENV)/.infer-stamp
venv: $(VENV)/.all-stamp

# Ctrl-C stops the node cleanly with exit code 3 (INTERRUPTED): not a failure of the demo.
demo: $(VENV)/.infer-stamp
	$(BIN)/aiotwin-device start --demo || [ $$? -eq 3 ]

# Debian packages the tests need (GStreamer RTSP server for the RTSP source test, libcoap coap-client for CoAP interop).
apt-test-deps:
	@scripts/apt_test_deps.sh

# The README's test command: set-up, static checks, the default suite, then a bounded sample of slow tests.
test: $(VENV)/.all-stamp apt-test-deps
	$(BIN)/ruff check aiotwin device_runtime gateway cloud_coordinator hw_profiles tests benchmarks scripts
	$(BIN)/mypy
	$(BIN)/python scripts/lint_architecture.py
	$(BIN)/python -m pytest -m "not slow and not gpu" $(PYTEST_ARGS)
	$(BIN)/python -m pytest -m "slow and not gpu" --timeout=600 $(PYTEST_ARGS) || [ $$? -eq 5 ]

lint: $(VENV)/.all-stamp
	$(BIN)/ruff check aiotwin device_runtime gateway cloud_coordinator hw_profiles tests benchmarks scripts
	$(BIN)/mypy
	$(BIN)/python scripts/lint_architecture.py

bench: $(VENV)/.all-stamp
	$(BIN)/python benchmarks/serving.py
	$(BIN)/python benchmarks/pipeline.py
	$(BIN)/python benchmarks/counting.py
	$(BIN)/python benchmarks/streams.py
	$(BIN)/python benchmarks/memory.py
	$(BIN)/python benchmarks/qos_routing.py

clean:
	rm -rf $(VENV) build *.egg-info
