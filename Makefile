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
	$(PY) -m pip install --quiet -c constraints.txt -e ".[dev,onnx,stores]"
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
	$(VENV)/bin/mypy components pipelines

.PHONY: format
format: $(STAMP) ## format the code with ruff
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

.PHONY: compile
compile: $(STAMP) ## compile every pipeline to IR YAML in build/pipelines (IMAGE=... to choose the image)
	$(MLOPS) compile --output-dir $(COMPILED) --image $(IMAGE)

.PHONY: components
components: $(STAMP) ## rewrite components/<name>/component.yaml, one reusable file per component
	$(MLOPS) compile --components --output-dir components

.PHONY: golden
golden: $(STAMP) ## rewrite the golden YAML files after an intended change to a pipeline
	$(MLOPS) compile --output-dir tests/golden

.PHONY: bench
bench: $(STAMP) ## every benchmark, one table of figures beside baselines (~30 min; BENCH_SCALE, BENCH_<NAME> set sizes)
	$(PY) bench/run_all.py

.PHONY: bench-quick
bench-quick: $(STAMP) ## the same benchmarks at 1% of the rows, in a few minutes
	BENCH_SCALE=0.01 $(PY) bench/run_all.py

.PHONY: bench-nannyml
bench-nannyml: $(STAMP) ## install NannyML (the bench extra) in build/bench-nannyml for the CBPE comparison
	$(PY) bench/cbpe_bench.py --install-nannyml

.PHONY: apiserver
apiserver: ## build kube-apiserver 1.20 once per machine for the apiserver tests (Debian; ~12 min)
	bash scripts/build-apiserver.sh

CLUSTER_NAME   ?= kfp-mlops-suite
# docker or podman: builds the image and runs the kind node (kind's podman provider).
CONTAINER_TOOL ?= docker
KIND           := $(if $(filter podman,$(CONTAINER_TOOL)),KIND_EXPERIMENTAL_PROVIDER=podman )kind
IMAGE_ARCHIVE  := build/component-image.tar

.PHONY: image
image: ## build the component image with CONTAINER_TOOL (docker|podman) and load it into the kind cluster
	@case "$(CONTAINER_TOOL)" in docker|podman) ;; *) \
	  echo "CONTAINER_TOOL=$(CONTAINER_TOOL) is not supported; use docker or podman." >&2; exit 1;; esac
	$(CONTAINER_TOOL) build -t $(IMAGE) --build-arg GIT_COMMIT=$$(git rev-parse HEAD 2>/dev/null || echo unknown) .
	@if $(KIND) get clusters 2>/dev/null | grep -qx $(CLUSTER_NAME); then \
	  mkdir -p $(dir $(IMAGE_ARCHIVE)) \
	  && $(CONTAINER_TOOL) save $(if $(filter podman,$(CONTAINER_TOOL)),--format docker-archive) -o $(IMAGE_ARCHIVE) $(IMAGE) \
	  && $(KIND) load image-archive $(IMAGE_ARCHIVE) --name $(CLUSTER_NAME) \
	  && rm -f $(IMAGE_ARCHIVE); \
	else echo "no kind cluster $(CLUSTER_NAME): image built, not loaded (make kind-up)"; fi

.PHONY: kind-up
kind-up: ## kind cluster + cert-manager + KServe (RawDeployment) + Kubeflow Pipelines (CONTAINER_TOOL=docker|podman)
	CLUSTER_NAME=$(CLUSTER_NAME) CONTAINER_TOOL=$(CONTAINER_TOOL) bash scripts/kind-up.sh

.PHONY: kind-e2e
kind-e2e: $(STAMP) ## submit the training pipeline to KFP on kind with deploy=true, then predict
	CLUSTER_NAME=$(CLUSTER_NAME) IMAGE=$(IMAGE) bash scripts/kind-e2e.sh

.PHONY: kind-down
kind-down: ## delete the kind cluster
	CLUSTER_NAME=$(CLUSTER_NAME) CONTAINER_TOOL=$(CONTAINER_TOOL) bash scripts/kind-down.sh

# checkov lives in its own virtualenv: its many dependencies never touch .venv's pins.
CHECKOV_VENV  ?= .venv-checkov
CHECKOV_STAMP := $(CHECKOV_VENV)/.installed-stamp

$(CHECKOV_STAMP): .ci/checkov-requirements.txt
	rm -rf $(CHECKOV_VENV)
	$(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/python -m pip install --quiet -r .ci/checkov-requirements.txt
	touch $(CHECKOV_STAMP)

.PHONY: checkov
checkov: $(STAMP) $(CHECKOV_STAMP) ## checkov (pinned, in .venv-checkov) on every rendered overlay and `mlops manifest` output
	CHECKOV=$(CHECKOV_VENV)/bin/checkov MLOPS=$(MLOPS) bash scripts/checkov-manifests.sh

.PHONY: clean
clean: ## remove the demo outputs and build files (keeps .venv and .venv-checkov)
	rm -rf $(DEMO_DIR) build .pytest_cache .mypy_cache .ruff_cache
