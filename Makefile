# The template repository: render a demo project, run the template's tests, benchmarks.
# `make` alone lists the targets.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

# uv from PATH, or bootstrapped into .tools/ with the system Python on first use.
UV ?= $(or $(shell command -v uv 2>/dev/null),$(CURDIR)/.tools/bin/uv)
export PATH := $(dir $(UV)):$(PATH)
export MLFLOW_DISABLE_TELEMETRY := true
export DO_NOT_TRACK := true
# The tests start hundreds of Python processes (the renders' commands, servers, workers), each
# importing pandas, scikit-learn and MLflow. A machine whose environment forbids bytecode
# caches (some CI images set this) compiles those from source in every one: `import src.cli`
# of a render took 14 s of CPU instead of 4.
unexport PYTHONDONTWRITEBYTECODE

.PHONY: help
help: ## List the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z0-9_-]+:.*## / {printf "  %-12s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

$(CURDIR)/.tools/bin/uv:
	python3 -m venv .tools
	.tools/bin/python -m pip install --quiet --disable-pip-version-check uv

.PHONY: demo
demo: $(UV) ## Render a project with the defaults into build/demo and run its loop
	tools/demo.sh build/demo

.PHONY: test
test: $(UV) ## Run every test: rendering, hooks, and the generated project's setup, suite and loop
	$(UV) run pytest --numprocesses 2 --dist loadgroup --no-loadscope-reorder

.PHONY: test-fast
test-fast: $(UV) ## Run the template tests that do not set up a generated project
	$(UV) run pytest -m "not slow"

.PHONY: lock
lock: $(UV) ## Re-resolve the shipped uv.lock of every project variant [UPGRADE=yes: newest versions]
	$(UV) lock
	$(UV) run python tools/lock.py $(if $(filter yes,$(UPGRADE)),--upgrade)

.PHONY: lint
lint: $(UV) ## Ruff on the template's own code (the generated project is linted by the tests)
	$(UV) run ruff check hooks tests tools benchmarks
	$(UV) run ruff format --check hooks tests tools benchmarks

.PHONY: format
format: $(UV) ## Format the template's own code and the generated project's Python files
	$(UV) run ruff format hooks tests tools benchmarks
	$(UV) run python tools/format_template.py

.PHONY: bench
bench: $(UV) ## Run the benchmarks and print their ratios (writes benchmarks/results/)
	tools/bench.sh

.PHONY: clean
clean: ## Remove rendered projects and caches
	rm -rf build .pytest_cache .ruff_cache
