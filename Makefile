# kfp-mlops-suite — `make help` lists the targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
MLOPS  := $(VENV)/bin/mlops
STAMP  := $(VENV)/.installed-stamp

VERSION   := $(shell sed -n 's/^__version__ = "\(.*\)"/\1/p' mlops_suite/__init__.py)
IMAGE     ?= ghcr.io/kfp-mlops-suite/components:$(VERSION)
DEMO_DIR  ?= .mlops
COMPILED  ?= build/pipelines

.PHONY: help
help: ## list the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z0-9_-]+:.*## / {printf "  \033[36m%-14s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c constraints.txt -e ".[dev]"
	touch $(STAMP)

.PHONY: install
install: $(STAMP) ## create .venv and install the suite with its pinned dependencies

.PHONY: demo
demo: $(STAMP) ## set up, then train, approve and register a model on the penguins data
	$(MLOPS) run training --data "$$($(MLOPS) demo-data)" --label species \
	  --model-name penguins --registry $(DEMO_DIR)/registry \
	  --pipeline-root $(DEMO_DIR)/pipeline-root --slice-column island
	@echo
	@echo "Model:    $(DEMO_DIR)/registry/penguins/v<N>/ (model.joblib + metadata.json; champion.json names N)"
	@echo "Lineage:  $(MLOPS) registry show --registry $(DEMO_DIR)/registry --model-name penguins"
	@echo "Serve it: $(MLOPS) serve --registry $(DEMO_DIR)/registry --model-name penguins --port 8080"

.PHONY: test
test: $(STAMP) ## run the test suite (unit, components, pipelines, end-to-end locally)
	$(PY) -m pytest

.PHONY: test-fast
test-fast: $(STAMP) ## run the tests that do not run whole pipelines
	$(PY) -m pytest -m "not slow"

.PHONY: lint
lint: $(STAMP) ## ruff (format check + lint) and mypy
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy -p mlops_suite

.PHONY: format
format: $(STAMP) ## format the code with ruff
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

.PHONY: compile
compile: $(STAMP) ## compile every pipeline to IR YAML in build/pipelines (IMAGE=... to choose the image)
	$(MLOPS) compile --output-dir $(COMPILED) --image $(IMAGE)

.PHONY: golden
golden: $(STAMP) ## rewrite the golden YAML files after an intended change to a pipeline
	$(MLOPS) compile --output-dir tests/golden

.PHONY: bench
bench: $(STAMP) ## drift report on 1M x 20 vs a plain pyarrow read (ratio); peak memory at 10M rows
	$(PY) bench/drift_bench.py
	$(PY) bench/drift_bench.py --memory-rows 10000000

.PHONY: apiserver
apiserver: ## build kube-apiserver 1.20 once per machine for the apiserver tests (Debian; ~12 min)
	bash scripts/build-apiserver.sh

CLUSTER_NAME ?= kfp-mlops-suite

.PHONY: image
image: ## build the component image and load it into the kind cluster (needs Docker, kind)
	docker build -t $(IMAGE) --build-arg GIT_COMMIT=$$(git rev-parse HEAD 2>/dev/null || echo unknown) .
	@if kind get clusters 2>/dev/null | grep -qx $(CLUSTER_NAME); then \
	  kind load docker-image $(IMAGE) --name $(CLUSTER_NAME); \
	else echo "no kind cluster $(CLUSTER_NAME): image built, not loaded (make kind-up)"; fi

.PHONY: kind-up
kind-up: ## kind cluster + cert-manager + KServe (RawDeployment) + Kubeflow Pipelines (needs Docker)
	CLUSTER_NAME=$(CLUSTER_NAME) bash scripts/kind-up.sh

.PHONY: kind-e2e
kind-e2e: $(STAMP) ## submit the training pipeline to KFP on kind with deploy=true, then predict
	CLUSTER_NAME=$(CLUSTER_NAME) IMAGE=$(IMAGE) bash scripts/kind-e2e.sh

.PHONY: kind-down
kind-down: ## delete the kind cluster
	CLUSTER_NAME=$(CLUSTER_NAME) bash scripts/kind-down.sh

.PHONY: clean
clean: ## remove the demo outputs and build files (keeps .venv)
	rm -rf $(DEMO_DIR) build .pytest_cache .mypy_cache .ruff_cache
