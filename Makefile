# Every target that needs Python depends on .venv, so a fresh clone needs nothing else.
SHELL := /bin/bash
.DEFAULT_GOAL := help
PY := .venv/bin/python
FS := .venv/bin/featurestore
VENV_STAMP := .venv/.installed
export SPARK_LOCAL_IP ?= 127.0.0.1
export PYTHONUNBUFFERED := 1
# The checkout keeps its caches in .cache (a project's default is ~/.cache/featurestore).
export FS_IVY_DIR ?= $(CURDIR)/.cache/ivy
export FS_FRONT_BINARY ?= $(CURDIR)/.cache/go/bin/fs-front
# uv's cache too, pruned after each install: an index that sends no cache headers
# makes uv keep a fresh copy of every sdist (pyspark: ~1 GB) per install. Only this
# checkout's own cache is pruned (not one UV_CACHE_DIR names), and a prune that
# fails or waits over a minute for another uv leaves the cache as it is.
UV_OWN_CACHE := $(CURDIR)/.cache/uv
export UV_CACHE_DIR ?= $(UV_OWN_CACHE)
UV_PRUNE := $(if $(filter $(UV_OWN_CACHE),$(UV_CACHE_DIR)),UV_LOCK_TIMEOUT=60 .venv/bin/uv cache prune -q || echo "uv cache prune failed: $(UV_OWN_CACHE) left as it is",true)
DEMO_ARGS ?=

help: ## List the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-16s %s\n", $$1, $$2}'

# --compile-bytecode: uv writes no .pyc by default, and where PYTHONDONTWRITEBYTECODE
# is set (CI here) every process would compile Feast, pandas, SQLAlchemy ... from
# source again: ~2.5 s of CPU per CLI command, server worker or Spark job.
$(VENV_STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv .venv
	$(PY) -m pip install -q --upgrade pip uv
	.venv/bin/uv pip install --python $(PY) -q --compile-bytecode -e ".[dev]"
	$(UV_PRUNE)
	touch $(VENV_STAMP)

venv: $(VENV_STAMP) ## Create .venv and install the project with dev tools

demo: $(VENV_STAMP) ## Generate data, run the Spark jobs, feast apply/materialize, serve, query
	$(PY) -m featurestore.services.demo $(DEMO_ARGS)

serve: $(VENV_STAMP) ## Run the gRPC server (FS_ADDRESS, default 127.0.0.1:6566)
	$(FS) serve

serve-front: $(VENV_STAMP) front ## The same behind the compiled front: fs-front + 2 server processes
	$(FS) serve --front --workers 2

ui: $(VENV_STAMP) ## The web console (featurestore ui; FS_UI_ADDRESS, default 127.0.0.1:8765)
	$(FS) ui

test: $(VENV_STAMP) contracts-check proto-check loadgen-test front front-test grpcurl oidc-provider lowest ## Run every test (unit, Spark, integration, lowest versions, the wheel end to end)
	$(PY) -m pytest -q --durations=60

contracts-check: $(VENV_STAMP) ## Every contract vs its previous version; views vs contracts
	$(FS) contracts check
	$(FS) contracts check-feast

test-fast: $(VENV_STAMP) ## Unit tests only: no Spark, no servers
	$(PY) -m pytest -q -m "not spark and not integration"

LOWEST := .cache/lowest-venv
lowest: $(VENV_STAMP) ## Fast + Redis client tests on the lowest versions pyproject allows (uv lowest-direct)
	test -x $(LOWEST)/bin/python || .venv/bin/uv venv -q --python "$$($(PY) -c 'import sys; print(sys._base_executable)')" $(LOWEST)
	.venv/bin/uv pip install -q --python $(LOWEST)/bin/python --compile-bytecode --resolution lowest-direct -e ".[dev]"
	$(UV_PRUNE)
	$(LOWEST)/bin/python -m pytest -q -p no:cacheprovider -m "not spark and not integration"
	$(LOWEST)/bin/python -m pytest -q -p no:cacheprovider tests/integration/online/test_online_redis_reader.py \
		tests/integration/online/test_online_writer_redis.py

test-integration: $(VENV_STAMP) ## Spark and integration tests only
	$(PY) -m pytest -q -m "spark or integration"

bench: $(VENV_STAMP) load-tools front ## Run the benchmarks; results in benchmarks/results/
	$(PY) -m benchmarks

GO_BIN := $(CURDIR)/.cache/go/bin
GO_ENV := GOBIN=$(GO_BIN) GOPATH=$(CURDIR)/.cache/go/path GOMODCACHE=$(CURDIR)/.cache/go/mod
load-tools: $(GO_BIN)/fs-loadgen $(GO_BIN)/vegeta ## Load generators for bench_online_load (Go, cached)

$(GO_BIN)/fs-loadgen: $(wildcard benchmarks/loadgen/*.go) benchmarks/loadgen/go.mod
	cd benchmarks/loadgen && $(GO_ENV) go build -o $@ .

front: $(GO_BIN)/fs-front ## Build the compiled gRPC front (services/front, Go, cached)

$(GO_BIN)/fs-front: $(wildcard services/front/*.go) services/front/go.mod
	cd services/front && $(GO_ENV) go build -o $@ .

front-test: ## The front's own tests (Go)
	cd services/front && $(GO_ENV) go vet ./... && $(GO_ENV) go test ./...

loadgen-test: ## The load generator's own tests (Go)
	cd benchmarks/loadgen && $(GO_ENV) go test ./...

$(GO_BIN)/vegeta:
	$(GO_ENV) go install github.com/tsenart/vegeta/v12@v12.13.0

grpcurl: $(GO_BIN)/grpcurl ## grpcurl (Go, cached): the README's examples are run with it

$(GO_BIN)/grpcurl:
	$(GO_ENV) go install github.com/fullstorydev/grpcurl/cmd/grpcurl@v1.9.3

OIDC_DIR := tests/oidc_provider
OIDC_STAMP := $(OIDC_DIR)/node_modules/.installed
oidc-provider: $(OIDC_STAMP) ## The OpenID Provider the OIDC tests start (npm oidc-provider, cached)

# npm ci empties node_modules first; the stamp is written only once it succeeded.
$(OIDC_STAMP): $(OIDC_DIR)/package.json $(OIDC_DIR)/package-lock.json
	npm ci --prefix $(OIDC_DIR) --no-audit --no-fund
	touch $@

proto: $(VENV_STAMP) ## Regenerate the gRPC stubs from proto/
	$(PY) -m grpc_tools.protoc -I proto --python_out=proto --pyi_out=proto \
		--grpc_python_out=proto proto/featurestore/v1/*.proto

proto-check: $(VENV_STAMP) ## Fail when committed stubs differ from the .proto files
	tmp=$$(mktemp -d) && $(PY) -m grpc_tools.protoc -I proto --python_out=$$tmp \
		--pyi_out=$$tmp --grpc_python_out=$$tmp proto/featurestore/v1/*.proto && \
		for f in $$tmp/featurestore/v1/*; do cmp -s $$f proto/featurestore/v1/$$(basename $$f) \
		|| { echo "stale stub: $$(basename $$f) (run make proto)"; exit 1; }; done

lint: $(VENV_STAMP) ## ruff and buf lint
	.venv/bin/ruff check spark_jobs services tests benchmarks
	cd proto && ../.venv/bin/buf lint

type: $(VENV_STAMP) ## mypy --strict on the packages, as installed (featurestore.*)
	rm -rf .cache/typecheck && mkdir -p .cache/typecheck/featurestore
	ln -s $(CURDIR)/proto/featurestore/__init__.py $(CURDIR)/proto/featurestore/v1 \
		$(CURDIR)/services $(CURDIR)/spark_jobs .cache/typecheck/featurestore/
	cd .cache/typecheck && $(CURDIR)/.venv/bin/mypy --config-file $(CURDIR)/pyproject.toml \
		-p featurestore.services -p featurestore.spark_jobs

clean-data: ## Remove generated data (data/)
	rm -rf data

.PHONY: help venv demo serve serve-front ui front front-test test contracts-check test-fast lowest test-integration bench load-tools loadgen-test oidc-provider proto proto-check lint type clean-data
