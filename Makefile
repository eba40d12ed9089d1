# Two commands after cloning: `make demo` and `make test`. Both create the environment when missing.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
CHECKOV_VENV := .venv-checkov
CHECKOV_STAMP := $(CHECKOV_VENV)/.installed
CHECKOV_VERSION := 3.3.30
export AWS_EC2_METADATA_DISABLED := true
export TF_CLI_CONFIG_FILE := /dev/null

.PHONY: setup test lint unit demo bench docs clean bootstrap-outputs

setup: $(STAMP) $(CHECKOV_STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $@

# checkov ships its own `hcl2` that would overwrite python-hcl2: it lives in its own environment.
$(CHECKOV_STAMP):
	$(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/pip install --quiet --upgrade pip
	$(CHECKOV_VENV)/bin/pip install --quiet 'checkov==$(CHECKOV_VERSION)'
	touch $@

test: setup
	$(MAKE) lint
	$(MAKE) unit

unit: $(STAMP)
	$(PY) -m pytest

lint: setup
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m mypy .
	$(PY) scripts/lint_infra.py

demo: $(STAMP)
	$(PY) -m demo

bench: $(STAMP)
	$(PY) -m bench

docs: $(STAMP)
	$(PY) scripts/tf_docs.py --write
	$(PY) scripts/stage_schema.py --write

# The bootstrap outputs to paste into the stage file and GitHub: make bootstrap-outputs STAGE=pre-prod
bootstrap-outputs: $(STAMP)
	$(PY) scripts/bootstrap_outputs.py $(STAGE)

clean:
	rm -rf build demo-output .pytest_cache .mypy_cache .ruff_cache
