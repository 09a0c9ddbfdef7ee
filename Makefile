# Two commands set a fresh machine up: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: run run-check serve-site test lint bench bench-attacks bench-startup bench-idle bench-websocket clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e .
	touch $@

$(VENV)/.test-installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e '.[test]'
	touch $@ $(VENV)/.installed

$(VENV)/.bench-installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e '.[bench]'
	touch $@ $(VENV)/.installed

# The teams example: its migrations first (a fresh machine gets examples/teams/app.db, seeded).
run: $(VENV)/.installed
	$(BIN)/porch db --app app:app --app-dir examples/teams migrate
	$(BIN)/porch run app:app --app-dir examples/teams

# `make run` as a fresh machine gets it: porch alone in a new virtual environment (.ci/run-check).
run-check:
	bash .ci/run-check

serve-site: $(VENV)/.installed
	$(BIN)/porch serve examples/site

lint: $(VENV)/.test-installed
	$(BIN)/ruff check src tests bench examples
	$(BIN)/ruff format --check src tests bench examples
	$(BIN)/mypy --strict src/porch

test: lint
	$(BIN)/python -m pytest $(PYTEST_ARGS)

bench: $(VENV)/.bench-installed
	$(BIN)/python -m bench $(BENCH_ARGS)

# A pipelined client that reads nothing, and slow bodies, against porch and its peers.
bench-attacks: $(VENV)/.bench-installed
	$(BIN)/python -m bench.attacks

# 300 typed routes in porch and FastAPI: import and route table, and the OpenAPI document.
bench-startup: $(VENV)/.bench-installed
	$(BIN)/python -m bench.startup

# 10,000 idle keep-alive connections: resident memory per connection, porch beside its peers.
bench-idle: $(VENV)/.bench-installed
	$(BIN)/python -m bench.idle

# WebSocket echo round trips (64 clients) and 10,000 idle WebSocket connections, beside peers.
bench-websocket: $(VENV)/.bench-installed
	$(BIN)/python -m bench.websocket

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache tests/.cache
