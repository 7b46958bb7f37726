# The two commands of the quick start: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
BASE := $(VENV)/.installed-base
DEV := $(VENV)/.installed-dev
WEB := $(VENV)/.installed-web
# two workers; `loadgroup`: tests one by one, except the groups in tests/conftest.py (the
# generated worlds, Spark) that stay on one worker each
PYTEST := $(BIN)/pytest -q -n 2 --dist loadgroup

.PHONY: demo serve test test-all test-slow fuzz lint clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

# What the demo needs: the package and its dependencies (no PySpark, no test tools).
$(BASE): pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e .
	touch $(BASE)

# What the tests need besides: the dev extras (pytest, ruff, hypothesis, xdist, PySpark).
$(DEV): pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e '.[dev]'
	touch $(BASE) $(DEV)

# Set up, generate the demo world, analyse it, write the report.
demo: $(BASE)
	$(BIN)/rareflow demo --out demo

# The web application (docs/serve.md) on the demo store, with a demo officer and a demo
# importer (of VN-IMP-01) whose new passwords are printed; the demo is made if need be.
$(WEB): pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e '.[web]'
	touch $(BASE) $(WEB)

serve: $(WEB)
	test -f demo/rareflow.duckdb || $(BIN)/rareflow demo --out demo
	$(BIN)/rareflow users add demo-officer --role officer --db demo/rareflow.duckdb --generate --replace
	$(BIN)/rareflow users add demo-importer --role importer --party VN-IMP-01 --db demo/rareflow.duckdb --generate --replace
	$(BIN)/rareflow serve --db demo/rareflow.duckdb

# Set up with the dev extras, lint, and run the test suite but its `slow` tests.
test: $(DEV)
	$(BIN)/ruff check src tests benchmarks
	$(PYTEST) -m "not slow"

# Everything: the `slow` tests too (the whole demo world on Spark), and the property tests
# with more examples (RAREFLOW_HYPOTHESIS_PROFILE=all).
test-all: $(DEV)
	$(BIN)/ruff check src tests benchmarks
	RAREFLOW_HYPOTHESIS_PROFILE=all $(PYTEST)

# What `test-all` adds to `test` (for CI after `make test`; .ci/run with RAREFLOW_CI_ALL=1).
test-slow: $(DEV)
	$(PYTEST) -m slow
	RAREFLOW_HYPOTHESIS_PROFILE=all $(PYTEST) tests/test_properties.py

# Property tests (thousands of generated worlds, ~4-6 s each) and reader fuzzing at length.
fuzz: $(DEV)
	RAREFLOW_HYPOTHESIS_PROFILE=fuzz $(BIN)/pytest -q tests/test_properties.py tests/test_fuzz_readers.py

lint: $(DEV)
	$(BIN)/ruff check src tests benchmarks

clean:
	rm -rf $(VENV) demo out .pytest_cache
