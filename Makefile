# spikeport — two commands on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3.11
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip --disable-pip-version-check
STAMP  := $(VENV)/.setup-stamp

.PHONY: setup test demo bench lint fuzz clean

# Re-runs only when the dependency declarations change, so a second `make setup` is instant.
$(STAMP): pyproject.toml Makefile
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q torch==2.13.0
	$(PIP) install -q -e '.[dev,interop,lava]'
	@# Lava is archived and declares Python<3.11 / numpy<2: install it without its pins
	@# (spikeport.deploy.lava.compat makes it run). Never install unittest2.
	$(PIP) install -q --no-deps --ignore-requires-python lava-nc==0.10.0 lava-dl==0.6.0
	@# These declare torchvision/torchaudio, which would pull another torch: --no-deps.
	$(PIP) install -q --no-deps spikingjelly==2.0.0 neurobench==2.3.0
	@touch $(STAMP)

setup: $(STAMP)

test: setup
	$(PY) -m pytest -q -n 2

demo: setup
	$(PY) -m spikeport demo

bench: setup
	$(PY) benchmarks/run_all.py

lint: setup
	$(PY) -m ruff check spikeport tests benchmarks

# Coverage-guided fuzzing of every reader of untrusted files, FUZZ_SECONDS per target
# (`make test` runs a few seconds of it). Findings leave crash-* files to replay.
FUZZ_SECONDS ?= 60
fuzz: setup
	$(PY) tests/fuzz_main.py --each --seconds $(FUZZ_SECONDS)

clean:
	rm -rf $(VENV) out .pytest_cache
