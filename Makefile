# `make demo`: set up .venv, make the synthetic set, train, export and classify.
# `make test`: set up .venv and run the whole test suite.
VENV ?= .venv
PY := $(VENV)/bin/python
BIN := $(VENV)/bin
STAMP := $(VENV)/.lrcn-installed
DEMO_DATA ?= artifacts/data/synth

.PHONY: demo test setup clean-artifacts

setup: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[train,dev]'
	@touch $(STAMP)

$(DEMO_DATA)/.done: | $(STAMP)
	$(BIN)/vc-data synth $(DEMO_DATA) --seed 1
	@touch $@

demo: $(STAMP) $(DEMO_DATA)/.done
	$(BIN)/vc-train --data $(DEMO_DATA) --model convlstm

test: $(STAMP)
	$(PY) -m pytest -q

clean-artifacts:
	rm -rf artifacts/runs artifacts/models artifacts/cache artifacts/data
