# CivicDesk: `make run` starts the portal on the embedded defaults (the demo city, or a real
# city's setup with CIVICDESK_DEMO=0), `make test` runs the suite.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run test lint imports typecheck venv messages bench chaos clean

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

venv: $(STAMP)

messages: $(STAMP)
	$(PY) scripts/compile_messages.py

# The demo city by default; CIVICDESK_DEMO=0 make run sets up a real city instead (setup_city,
# no demo data; docs/setting-up-a-city.md).
run: $(STAMP) messages
	$(PY) manage.py migrate --no-input
	@if [ "$${CIVICDESK_DEMO:-1}" = "0" ]; then \
	  echo "Real city (CIVICDESK_DEMO=0): running manage.py setup_city, no demo data."; \
	  $(PY) manage.py setup_city; \
	else \
	  echo "Demo city: running manage.py seed_demo (CIVICDESK_DEMO=0 make run sets up a real city)."; \
	  $(PY) manage.py seed_demo; \
	fi
	@bash scripts/run

lint: $(STAMP)
	$(PY) -m ruff check .

# The floors (docs/architecture.md): import-linter contracts in pyproject.toml.
imports: $(STAMP)
	$(VENV)/bin/lint-imports

typecheck: $(STAMP)
	$(PY) -m mypy core outbox services consent portal

test: $(STAMP) messages lint imports
	$(PY) -m pytest $(PYTEST_ARGS)

bench: $(STAMP)
	$(PY) bench/run_all.py

chaos: $(STAMP)
	bash scripts/chaos

clean:
	rm -rf $(VENV) db.sqlite3* var staticfiles
