# `make demo`: set up .venv, make the synthetic set, train, export and classify.
# `make test`: set up .venv (from the lock) and run the whole test suite.
# `make test-fast`: the same without the tests marked `slow` (54 s on the idle 2-core machine, 2026-11-30).
# `make lint`: ruff (lint + format check) and mypy over the runtime and the service, as CI runs them.
# `make lock`: re-resolve requirements.lock from pyproject.toml (newest releases the ranges allow).
# `make test-latest`: the suite in a fresh .venv-latest with no lock, to see what an upgrade would break.
#
# Our own commands install requirements.lock (every package pinned, with hashes), never the newest
# releases: pyproject.toml keeps ranges for people who `pip install lrcn` into their own environment.
VENV ?= .venv
PY := $(VENV)/bin/python
BIN := $(VENV)/bin
STAMP := $(VENV)/.lrcn-installed
DEMO_DATA ?= artifacts/data/synth
LOCK := requirements.lock
# The extras our commands install; `make lock` resolves the same list.
EXTRAS := train dev serve sinks media cluster
LATEST_VENV ?= .venv-latest
comma := ,
PIP := --quiet --disable-pip-version-check

.PHONY: demo test test-fast test-latest lint lock versions setup clean-artifacts

setup: $(STAMP)

# The lock's packages with their hashes and nothing else (--no-deps: a package the lock lacks is an
# error in `pip check`, not a silent download of today's release), then lrcn itself, editable, built
# with the lock's setuptools.
$(STAMP): pyproject.toml $(LOCK)
	@test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install $(PIP) --require-hashes --no-deps -r $(LOCK)
	$(PY) -m pip install $(PIP) --no-deps --no-build-isolation -e .
	$(PY) -m pip check
	@touch $(STAMP)

# One line naming every installed version (CI prints it, so a failing run names them).
versions: $(STAMP)
	@echo "installed: $$($(PY) -m pip freeze --exclude-editable --disable-pip-version-check | tr '\n' ' ')"

# uv resolves one universal lock (every platform and Python >= 3.11, with markers) from PyPI's
# metadata in seconds; pip then installs it, which also takes torch from a local wheel store.
lock: $(STAMP)
	$(BIN)/uv pip compile pyproject.toml $(addprefix --extra ,$(EXTRAS)) --universal --python-version 3.11 \
		--generate-hashes --quiet --custom-compile-command "make lock" -o $(LOCK)
	@echo "$(LOCK) refreshed; run make test-latest first and say in the commit what moved (git diff $(LOCK))"

# The same suite against the newest releases pyproject.toml allows, in a venv of its own, no lock.
test-latest:
	rm -rf $(LATEST_VENV)
	python3 -m venv $(LATEST_VENV)
	$(LATEST_VENV)/bin/pip install $(PIP) -e '.[$(subst $(eval) ,$(comma),$(EXTRAS))]'
	@echo "installed: $$($(LATEST_VENV)/bin/pip freeze --exclude-editable --disable-pip-version-check | tr '\n' ' ')"
	LRCN_UNLOCKED=1 $(LATEST_VENV)/bin/python -m pytest -q

$(DEMO_DATA)/.done: | $(STAMP)
	$(BIN)/vc-data synth $(DEMO_DATA) --seed 1
	@touch $@

DEMO_RUN ?= artifacts/runs/demo-convlstm

demo: $(STAMP) $(DEMO_DATA)/.done
	$(BIN)/vc-train --data $(DEMO_DATA) --model convlstm --out $(DEMO_RUN)
	$(BIN)/vc-export --run $(DEMO_RUN)
	$(BIN)/vc-inspect artifacts/models/convlstm.onnx --summary-only
	$(BIN)/vc-run --model artifacts/models/convlstm.onnx \
		"$$($(PY) -c "import json; print(json.load(open('$(DEMO_RUN)/splits.json'))['test'][0]['path'])")"

# --durations: CI's log names the 20 slowest tests, so a run over its time says where the time went.
test: $(STAMP)
	$(PY) -m pytest -q --durations=20

# Lint and format (ruff), and types over the torch-free runtime (mypy); .ci/run runs it before the tests.
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy lrcn/runtime lrcn/core lrcn/serve

test-fast: $(STAMP)
	$(PY) -m pytest -q -m "not slow"

clean-artifacts:
	rm -rf artifacts/runs artifacts/models artifacts/cache artifacts/data
