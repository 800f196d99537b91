# mmx: `make up` runs the local stack, `make test` runs everything CI runs.
# Both create .venv and install what they need on a fresh machine.

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-$(shell cksum pyproject.toml | cut -d' ' -f1)

.PHONY: up test lint typecheck unit integration bench bench-e2e bench-freeze setup system-deps clean

setup: $(STAMP) system-deps

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev,embedded]'
	rm -f $(VENV)/.installed-*
	touch $@

# redis-server: the Redis-backed tests and `mmx up` (embedded Redis).
# promtool: the Prometheus rule tests (Debian's `prometheus` package).
# chromium: the console's browser tests (tests/browser/, Playwright drives /usr/bin/chromium).
system-deps:
	@command -v redis-server >/dev/null 2>&1 || { \
	  echo "installing redis-server"; \
	  (apt-get update -qq && apt-get install -y -qq redis-server) >/dev/null || \
	  { echo "redis-server is missing and could not be installed"; exit 1; }; }
	@test -x /usr/bin/chromium || { \
	  echo "installing chromium"; \
	  (apt-get update -qq && apt-get install -y -qq chromium) >/dev/null || \
	  { echo "chromium is missing and could not be installed"; exit 1; }; }
	@bash scripts/ensure_promtool.sh >/dev/null

up: setup
	$(VENV)/bin/mmx up

lint: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

typecheck: $(STAMP)
	$(PY) -m mypy

test: setup lint typecheck
	$(PY) -m pytest

unit: $(STAMP)
	$(PY) -m pytest tests/unit

integration: setup
	$(PY) -m pytest tests/integration

bench: setup
	$(PY) -m bench.venue_adapter

# The whole stack under load on free ports (its own redis-server): one table of figures.
bench-e2e: setup
	$(PY) -m bench.e2e

# Freeze at scale: 1,000 resting on 10 symbols, 3 routers, sim at 0 and 200 ms: one table.
bench-freeze: setup
	$(PY) -m bench.freeze

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .hypothesis
