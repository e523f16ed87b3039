# Two commands for a fresh machine: `make run` (embedded default) and `make test` (everything).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8000
export PORT

.PHONY: run test lint install install-dev browser services bench bench-burst

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.installed: requirements.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.installed-dev: requirements.txt requirements-dev.txt $(VENV)/.installed
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $@

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

run: $(VENV)/.installed
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py collectstatic --noinput -v0
	$(BIN)/python manage.py sync_providers
	$(BIN)/python manage.py ensure_demo_user
	$(BIN)/python manage.py sweep_runs --all
	@echo ""
	@echo "  Prism is running at http://127.0.0.1:$(PORT)/"
	@echo "  Sign in as demo / demo (a local account for this machine only)."
	@echo ""
	$(BIN)/uvicorn config.asgi:application --host 127.0.0.1 --port $(PORT) --ws websockets-sansio --log-level warning

# Two test processes, each handed whole files, so that a module's live stack starts once (tests/stack.py).
PYTEST_ARGS ?= -n 2 --dist loadfile

# Installs what the tests need (Python packages, Chromium), starts PostgreSQL and Redis if they are
# not running, then runs every test.
test: $(VENV)/.installed-dev
	scripts/ensure_test_services.sh
	$(BIN)/ruff check .
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

bench: $(VENV)/.installed-dev
	$(BIN)/python bench/relay.py

# Issue 17's figures: bursts of 10 and 100 prompts in services, embedded and 2-web-process services,
# then a prompt POST's CPU in the web process.
bench-burst: $(VENV)/.installed-dev
	$(BIN)/python bench/burst.py
	$(BIN)/python bench/post_cpu.py
