# The two commands: `make run` and `make test`. Everything else is for developers and CI.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PY := $(BIN)/python
export PATH := $(abspath $(BIN)):$(PATH)

.PHONY: install run test check lint format bench clean

$(VENV)/.installed: requirements.txt requirements-dev.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $@

install: $(VENV)/.installed

## make run: create the database if missing, migrate, load the demo church, and run web + worker + beat on
## http://127.0.0.1:$(PORT) (Ctrl-C stops all; koinonia/devrun.py is honcho with a grace period the worker keeps).
PORT ?= 8000
BROKER_DIR := $(or $(CELERY_FILESYSTEM_BROKER_DIR),var/celery-broker)
run: install
	mkdir -p $(BROKER_DIR)/processed $(BROKER_DIR)/control var/media
	$(PY) manage.py ensure_database
	$(PY) manage.py migrate --noinput
	$(PY) manage.py seed_demo
	$(PY) -m koinonia.devrun start -p $(PORT)

## make test: the whole suite (PostgreSQL + Redis when DATABASE_URL / REDIS_URL are set; else SQLite),
## in parallel: PYTEST_XDIST processes (pytest-xdist), a test file's tests together. PYTEST_XDIST= : serial.
PYTEST_XDIST ?= -n 2 --dist loadfile
test: install
	$(BIN)/pytest $(PYTEST_XDIST) $(PYTEST_ARGS)

## make check: every gate CI runs.
check: install lint
	$(PY) manage.py makemigrations --check --dry-run
	$(PY) manage.py check
	DJANGO_SETTINGS_MODULE=koinonia.settings.test $(PY) manage.py check --fail-level WARNING
	$(BIN)/pytest $(PYTEST_XDIST) $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

format: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

## make bench: benchmark scenarios on PostgreSQL + Redis; results in bench/results/.
bench: install
	$(PY) -m bench.run $(BENCH_ARGS)

clean:
	rm -rf $(VENV) db.sqlite3 var staticfiles
