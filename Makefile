# Entry points a newcomer sees: make run, make test, make lint, make bench (and make fuzz,
# make chaos).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
HOST ?= 127.0.0.1
PORT ?= 8080
DEMO_DIR ?= .demo
FUZZ_EXAMPLES ?= 300

.PHONY: install run test fuzz chaos lint bench demo-axis clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)

# Runs the router on the embedded SQLite store with a demo province; prints tokens and a curl.
run: $(STAMP)
	LIENTHONG_OPERATOR_TOKEN="$${LIENTHONG_OPERATOR_TOKEN:-$$($(BIN)/python -c 'import secrets; print(secrets.token_urlsafe(32))')}" \
		$(BIN)/lienthong serve --host $(HOST) --port $(PORT) --data $(DEMO_DIR) --demo --log-format console

# Unit, integration (SQLite and PostgreSQL) and end-to-end tests.
test: $(STAMP)
	ops/run-tests.sh $(BIN)/python -m pytest $(PYTEST_ARGS)

# The schemathesis fuzzing of every operation and caller, with FUZZ_EXAMPLES examples each
# (make test runs the same tests with 25; see docs/reliability.md).
fuzz: $(STAMP)
	LIENTHONG_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) $(BIN)/python -m pytest tests/integration/test_fuzz.py $(PYTEST_ARGS)

# The long chaos run (docs/reliability.md); make test runs the bounded one.
# LIENTHONG_CHAOS_SEED=N replays a run.
chaos: $(STAMP)
	LIENTHONG_CHAOS=long ops/run-tests.sh $(BIN)/python -m pytest tests/chaos $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports
	@command -v promtool >/dev/null || { echo "promtool is missing: apt-get install prometheus"; exit 1; }
	promtool check rules ops/prometheus/alerts.yml
	cd ops/prometheus && promtool test rules alerts_test.yml

bench: $(STAMP)
	ops/run-tests.sh $(BIN)/python -m ops.bench $(BENCH_ARGS)

# Two provinces and the axis simulator on loopback (docs/axis.md): a clean run of 20 documents,
# then 200 with every fault at 20% and H41's router killed (kill -9) halfway.
demo-axis: $(STAMP)
	$(BIN)/python -m ops.demo_axis --documents 20 --poll-interval 1 $(DEMO_AXIS_ARGS)
	$(BIN)/python -m ops.demo_axis --documents 200 --faults 0.2 --poll-interval 1 --kill $(DEMO_AXIS_ARGS)

clean:
	rm -rf $(VENV) $(DEMO_DIR) .pytest_cache .mypy_cache .ruff_cache
