# Two commands after cloning: `make demo` and `make test`. Both create the environment when
# missing, from the lock files in requirements/ (hashes checked). `make` alone lists the targets.
.DEFAULT_GOAL := help
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
UV := $(VENV)/bin/uv
STAMP := $(VENV)/.installed
CHECKOV_VENV := .venv-checkov
CHECKOV_STAMP := $(CHECKOV_VENV)/.installed
AWSCLI_VENV := .venv-awscli
AWSCLI_STAMP := $(AWSCLI_VENV)/.installed
# One resolution for every platform, from the oldest Python we support (checkov needs 3.11.5).
LOCK := $(UV) pip compile --universal --generate-hashes --custom-compile-command "make lock" \
	$(if $(UPGRADE),--upgrade,)
export AWS_EC2_METADATA_DISABLED := true
export TF_CLI_CONFIG_FILE := /dev/null

.PHONY: help setup setup-local test unit lint demo rehearse local-aws bench docs lock bootstrap-outputs clean

help: ## list the targets (the default)
	@echo "Targets (make <target>):"
	@awk 'BEGIN {FS = ":.*## "} /^[a-z-]+:.*## / {printf "  %-17s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

setup: $(STAMP) $(CHECKOV_STAMP) $(AWSCLI_STAMP) ## create .venv, .venv-checkov and .venv-awscli from the locks

# uv (itself pinned with hashes) installs the locked set in a few seconds once cached; a changed
# lock rebuilds the environment from scratch, so it holds exactly what the lock says. Compiled at
# install, as pip does: hundreds of test, demo and rehearsal processes import boto3, pandas and
# the SageMaker SDK, and where PYTHONDONTWRITEBYTECODE is set each would compile them again.
setup-local: $(STAMP) ## the local runner's serving packages (in .venv already: requirements/local.txt)
	$(UV) pip install --python $(PY) --require-hashes -r requirements/local.txt

$(STAMP): requirements/dev.txt requirements/uv.txt
	$(PYTHON) -m venv --clear $(VENV)
	$(VENV)/bin/pip install --disable-pip-version-check --require-hashes --no-deps -r requirements/uv.txt
	$(UV) pip install --python $(PY) --compile-bytecode --require-hashes -r requirements/dev.txt
	touch $@

# checkov ships its own `hcl2` that would overwrite python-hcl2: it lives in its own environment.
$(CHECKOV_STAMP): requirements/checkov.txt $(STAMP)
	$(PYTHON) -m venv --clear $(CHECKOV_VENV)
	$(UV) pip install --python $(CHECKOV_VENV)/bin/python --compile-bytecode --require-hashes -r requirements/checkov.txt
	touch $@

# The AWS CLI (v1, from PyPI) the going-live rehearsal runs the guide's `aws` commands with; it
# pins its own botocore, so it lives apart too.
$(AWSCLI_STAMP): requirements/awscli.txt $(STAMP)
	$(PYTHON) -m venv --clear --without-pip $(AWSCLI_VENV)
	$(UV) pip install --python $(AWSCLI_VENV)/bin/python --compile-bytecode --require-hashes -r requirements/awscli.txt
	touch $@

test: setup ## lint, then every test (what CI runs)
	$(MAKE) lint
	$(MAKE) unit

# One worker more than the cores: the going-live rehearsal, on a worker of its own, spends much of
# its time waiting on the AWS provider's sleeps (docs/benchmarks.md, "make test").
TEST_WORKERS ?= $(shell $(PYTHON) -c "import os; print((os.cpu_count() or 1) + 1)")

unit: $(STAMP) ## the tests only (pytest)
	$(PY) -m pytest -n $(TEST_WORKERS)

lint: setup ## ruff, mypy, terraform fmt, checkov, zizmor, actionlint, IAM policies, template, conflicts
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m mypy .
	$(PY) scripts/lint_infra.py
	$(PY) scripts/aws_image_registries.py
	$(PY) scripts/lint_policies.py
	$(PY) scripts/template_self.py
	$(PY) scripts/fleet.py conflicts

demo: $(STAMP) ## the whole story on an embedded AWS (no account needed)
	$(PY) -m demo

rehearse: setup ## play docs/going-live.md on the embedded AWS with the real Terraform
	$(PY) -m demo.rehearsal

local-aws: $(STAMP) ## the demo, then keep its embedded AWS running to try the commands against
	$(PY) -m demo --serve

bench: $(STAMP) ## promotion and pipeline benchmarks (prints figures)
	$(PY) -m bench

docs: $(STAMP) ## regenerate the Terraform tables, the stage-file schema, IAM's condition keys, .jinja files
	$(PY) scripts/tf_docs.py --write
	$(PY) scripts/stage_schema.py --write
	$(PY) scripts/aws_image_registries.py --write
	$(PY) scripts/lint_policies.py --write-docs
	$(PY) scripts/template_self.py --write

lock: $(STAMP) ## re-resolve requirements/*.txt from pyproject.toml (UPGRADE=1 to upgrade all)
	$(LOCK) --python-version 3.11 pyproject.toml -o requirements/runtime.txt
	$(LOCK) --python-version 3.11 --extra dev pyproject.toml -o requirements/dev.txt
	$(LOCK) --python-version 3.11 --extra local-xgboost --extra local-toolkit pyproject.toml \
		-c requirements/dev.txt -o requirements/local.txt
	$(LOCK) --python-version 3.11.5 requirements/checkov.in -o requirements/checkov.txt
	$(LOCK) --python-version 3.11 requirements/uv.in -o requirements/uv.txt
	$(LOCK) --python-version 3.11 requirements/awscli.in -o requirements/awscli.txt
	$(LOCK) --python-version 3.11 requirements/copier.in -o requirements/copier.txt

bootstrap-outputs: ## print a bootstrap root's outputs to paste (STAGE=dev|pre-prod|prod)
	@$(PYTHON) scripts/bootstrap_outputs.py $(STAGE)

clean: ## remove generated files (build/, demo-output/, caches); keeps the environments
	rm -rf build demo-output .pytest_cache .mypy_cache .ruff_cache
