# Every command a person needs. `make serve` and `make test` set everything up first.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 8000
# `make serve TODAY=2026-11-25`: run as if today were that day (csba serve --today).
TODAY ?=
PYTEST_ARGS ?=

# The embedding model ships in a package; nothing may reach a model hub.
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1

.PHONY: install system-deps serve test test-a-year-later lint bench bench-scales eval eval-conversations ingest-demo clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	# torch first and pinned: this release's CPU build installs from local wheels.
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

# The web chat's browser test drives Debian's Chromium (no browser download at run time).
# The storage, replay, crash and multi-worker tests also run on PostgreSQL: the test session
# starts a throwaway cluster on loopback with the server programs of Debian's package
# (tests/support/postgres.py), so only the package is needed here. The shared rate limits'
# tests start a throwaway Redis the same way (tests/support/redis.py).
system-deps:
	@command -v chromium >/dev/null 2>&1 || \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null)
	@command -v initdb >/dev/null 2>&1 || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null)
	@command -v redis-server >/dev/null 2>&1 || \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null)

serve: install
	$(VENV)/bin/csba serve --host $(HOST) --port $(PORT) $(if $(TODAY),--today $(TODAY))

ingest-demo: install
	$(VENV)/bin/csba ingest --catalog data/demo/catalog.jsonl \
		--orders data/demo/orders.jsonl --sellers data/demo/sellers.jsonl

# Here PostgreSQL and Redis are required: their tests fail rather than skip when they
# cannot start.
test: install system-deps
	CSBA_TEST_REQUIRE_POSTGRES=1 CSBA_TEST_REQUIRE_REDIS=1 $(PY) -m pytest $(PYTEST_ARGS)

# The whole suite with the machine's clock a year ahead (libfaketime): it proves that no test
# depends on the day it runs, since every service a test builds runs on a clock the test sets.
test-a-year-later: install system-deps
	@command -v faketime >/dev/null 2>&1 || \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq faketime >/dev/null)
	CSBA_TEST_REQUIRE_POSTGRES=1 CSBA_TEST_REQUIRE_REDIS=1 faketime -f '+365d' $(PY) -m pytest $(PYTEST_ARGS)

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports

# The dev eval with the held-out public product questions beside it (long: the public part
# loads about 1,000 pages); reports in eval-out/. EVAL_ARGS adds options, e.g.
# EVAL_ARGS='--public-limit 100'.
EVAL_ARGS ?=
# The dev set, the customers' questions on pages of their own, and the held-out public part.
CUSTOMERS := evals/datasets/customers
CONVERSATIONS := evals/datasets/conversations
eval: install
	$(VENV)/bin/csba eval --dataset evals/datasets/dev.jsonl --catalog data/demo/catalog.jsonl \
		--orders data/demo/orders.jsonl --sellers data/demo/sellers.jsonl \
		$(foreach l,de es en,--dataset $(CUSTOMERS)/cases_$(l).jsonl \
			--catalog $(CUSTOMERS)/catalog_$(l).jsonl --orders $(CUSTOMERS)/orders_$(l).jsonl) \
		$(foreach l,de es en,--conversations $(CONVERSATIONS)/$(l).jsonl) \
		--out eval-out --public held-out $(EVAL_ARGS)

# The conversation eval alone (whole conversations through every channel); reports in
# eval-conversations-out/.
eval-conversations: install
	$(VENV)/bin/csba eval --catalog data/demo/catalog.jsonl --orders data/demo/orders.jsonl \
		--sellers data/demo/sellers.jsonl \
		$(foreach l,de es en,--conversations $(CONVERSATIONS)/$(l).jsonl) \
		--out eval-conversations-out $(EVAL_ARGS)

# `make bench SCALES=1000,100000,1000000`: the scales of benchmarks.run (sections b, c) and of
# benchmarks.scales (section h), which then runs too; without SCALES, `make bench` measures
# benchmarks.run's default scales and leaves section h as it was.
SCALES ?=
bench: install
	$(PY) -m benchmarks.run $(if $(SCALES),--scales $(SCALES))
	$(PY) -m benchmarks.agent_turn
	$(PY) -m benchmarks.channels
	$(PY) -m benchmarks.serve_workers
	$(PY) -m benchmarks.models
	$(PY) -m benchmarks.lexical
	$(PY) -m benchmarks.cross_encoder
	$(if $(SCALES),$(PY) -m benchmarks.scales --scales $(SCALES))

# Section h alone: every scale from a thousand to a million chunks (SCALES picks others). The
# first run builds the million-chunk catalog (long; cached under var/bench/), later ones
# measure the cache again.
bench-scales: install
	$(PY) -m benchmarks.scales $(if $(SCALES),--scales $(SCALES))

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
