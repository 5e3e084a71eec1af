# shipyard — the two commands a new user needs: `make demo` and `make test`.
VENV   := .venv
BIN    := $(VENV)/bin
PYTHON ?= python3

.PHONY: setup demo test lint services test-only bench reliability clean lock

setup: $(VENV)/.installed  ## create .venv with shipyard and its dev tools (idempotent)

# constraints.txt pins every package to the versions CI passed with: a fresh machine installs
# exactly those (`make lock` refreshes them after an upgrade has passed the tests).
$(VENV)/.installed: pyproject.toml constraints.txt
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "shipyard needs Python 3.11+"'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[dev]'
	touch $@

lock: setup  ## re-pin constraints.txt to what is installed (after upgrading and passing the tests)
	$(BIN)/python -m pip freeze --exclude-editable | grep -v '^shipyard' > constraints.txt

demo: setup  ## run the platform on the embedded default: key, URL, smoke calls
	@$(BIN)/shipyard models versions bike-demand >/dev/null 2>&1 || { $(BIN)/shipyard models train examples/bike.py \
		&& $(BIN)/shipyard models train examples/bike.py -- --max-iter 50; }
	$(BIN)/shipyard demo

services: setup  ## start the local PostgreSQL and Redis, and PostgreSQL 16 + pgvector (pgserver)
	@scripts/services.sh
	@scripts/pgvector.sh start

lint: setup  ## ruff, mypy --strict, and the import boundaries
	$(BIN)/ruff check src tests bench scripts examples
	$(BIN)/ruff format --check src tests bench scripts examples
	$(BIN)/mypy
	$(BIN)/lint-imports

test: setup services lint test-only  ## everything CI runs

test-only: setup  ## the tests alone, on every core (pytest-xdist; each test has its own schema, home and ports)
	$(BIN)/pytest -n auto -m "not alone"
	$(BIN)/pytest -n 0 -m alone  # latency-stability checks, with the machine to themselves

reliability: setup services  ## the reliability scenarios at full size (~25 min); figures in bench/results/reliability/
	SHIPYARD_RELIABILITY=full $(BIN)/pytest -n 0 -s tests/reliability tests/api/test_tenant_isolation.py

bench: setup services  ## benchmarks against peers (not part of CI, ~60 min); results in bench/results/
	command -v wrk >/dev/null || (apt-get update -qq && apt-get install -y -qq wrk)
	bench/peers.sh
	$(BIN)/python bench/api_overhead.py
	PYTHONPATH=. $(BIN)/python bench/retrieval_beir.py
	PYTHONPATH=. $(BIN)/python -m bench.tune_retrieval
	PYTHONPATH=. $(BIN)/python bench/ingest_throughput.py
	PYTHONPATH=. $(BIN)/python bench/search_latency.py
	PYTHONPATH=. $(BIN)/python bench/gateway_overhead.py
	PYTHONPATH=. $(BIN)/python bench/rag_latency.py
	PYTHONPATH=. $(BIN)/python bench/tracing_overhead.py
	PYTHONPATH=. $(BIN)/python bench/serving.py
	PYTHONPATH=. $(BIN)/python bench/drift.py
	PYTHONPATH=. $(BIN)/python bench/nab.py
	PYTHONPATH=. $(BIN)/python bench/alert_evaluation.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
