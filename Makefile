# The two commands of the quick start: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test fuzz lint clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

# Set up, generate the demo world, analyse it, write the report.
demo: $(STAMP)
	$(BIN)/rareflow demo --out demo

# Set up with the dev extras and run the whole test suite.
test: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/pytest -q -n 2 --dist loadfile

# Property tests (thousands of generated worlds, ~4-6 s each) and reader fuzzing at length.
fuzz: $(STAMP)
	RAREFLOW_HYPOTHESIS_PROFILE=fuzz $(BIN)/pytest -q tests/test_properties.py tests/test_fuzz_readers.py

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks

clean:
	rm -rf $(VENV) demo out .pytest_cache
