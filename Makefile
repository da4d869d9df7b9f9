# Garrison's two commands: `make demo` runs it with demo data; `make test` installs what the tests need and runs them.
PY ?= python3
VENV ?= .venv
BIN = $(VENV)/bin

.PHONY: demo test install bench

$(BIN)/garrison: pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	touch $(BIN)/garrison

install: $(BIN)/garrison

demo: install
	$(BIN)/garrison --data-dir ./garrison-data serve --demo

test: install
	$(BIN)/python -m pytest -q

bench: install
	$(BIN)/python bench/ingest/run.py
