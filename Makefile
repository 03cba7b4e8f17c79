# `make demo`: set up .venv, make the synthetic set, train, export and classify.
# `make test`: set up .venv (with the serve extra) and run the whole test suite.
# `make test-fast`: the same without the tests marked `slow` (54 s on the idle 2-core machine, 2026-11-30).
# `make lint`: ruff (lint + format check) and mypy over the runtime and the service, as CI runs them.
VENV ?= .venv
PY := $(VENV)/bin/python
BIN := $(VENV)/bin
STAMP := $(VENV)/.lrcn-installed
DEMO_DATA ?= artifacts/data/synth

.PHONY: demo test test-fast lint setup clean-artifacts

setup: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[train,dev,serve]'
	@touch $(STAMP)

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

test: $(STAMP)
	$(PY) -m pytest -q

# Lint and format (ruff), and types over the torch-free runtime (mypy); .ci/run runs it before the tests.
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy lrcn/runtime lrcn/core lrcn/serve

test-fast: $(STAMP)
	$(PY) -m pytest -q -m "not slow"

clean-artifacts:
	rm -rf artifacts/runs artifacts/models artifacts/cache artifacts/data
