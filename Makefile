# ComfyWeb: `make run` serves the app on its embedded default; `make test` runs every test.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8000
# The ComfyUI-compatible listener of `make run` (docs/comfyui-endpoint.md); anonymous callers
# share one identity there. Elsewhere it is off unless COMFYWEB_COMFYUI_PORT is set.
COMFYUI_PORT ?= 8288
HOST ?= 127.0.0.1
STAMP := $(VENV)/.installed

.PHONY: run test lint bench profile ab soak install migrate translations axe clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

# axe-core for the accessibility browser test, pinned in tests/browser/axe/package-lock.json;
# `npm ci` runs again only when the lock file changes. Without npm the test skips, except
# under CI=true, where it fails.
AXE_DIR := tests/browser/axe
AXE := $(AXE_DIR)/node_modules/axe-core/axe.min.js

$(AXE): $(AXE_DIR)/package.json $(AXE_DIR)/package-lock.json
	@if command -v npm >/dev/null 2>&1; then \
	  npm ci --prefix $(AXE_DIR) --no-audit --no-fund --loglevel=error && touch $@; \
	elif [ "$$CI" = "true" ]; then \
	  echo "npm is missing: install Debian's nodejs and npm (.ci/run does)" >&2; exit 1; \
	else \
	  echo "npm not found: tests/browser/test_accessibility.py will skip (apt-get install npm)" >&2; \
	fi

axe: $(AXE)

migrate: install
	$(BIN)/python manage.py migrate --noinput

# The .mo files are built, not committed: msgfmt when present, else polib.
translations: install
	$(BIN)/python manage.py compiletranslations -v0

run: migrate translations
	COMFYWEB_COMFYUI_PORT=$${COMFYWEB_COMFYUI_PORT:-$(COMFYUI_PORT)} \
	COMFYWEB_COMFYUI_ANONYMOUS=$${COMFYWEB_COMFYUI_ANONYMOUS:-1} \
	exec $(BIN)/python manage.py serve --host $(HOST) --port $(PORT) --stop-with-parent

test: install translations axe
	$(BIN)/ruff check .
	$(BIN)/lint-imports --no-cache
	$(BIN)/mypy
	$(BIN)/python manage.py makemigrations --check --dry-run >/dev/null
	$(BIN)/pytest -n auto --dist loadgroup $(PYTEST_ARGS)

# The benchmark of issue 7: starts its own processes, prints a table, writes bench-results.json.
bench: install translations
	$(BIN)/python -m bench $(BENCH_ARGS)

# Where ComfyWeb's CPU goes per job (issue Y): py-spy samples the web process while one tab
# runs the bench's zero-delay jobs (PROFILE_ARGS, e.g. --tabs 16 --jobs 200).
profile: install translations
	$(BIN)/python -m bench.profile $(PROFILE_ARGS)

# This tree against another commit, one job each in turn (AB_ARGS, e.g. --base HEAD~1 --pairs 400).
ab: install translations
	$(BIN)/python -m bench.ab $(AB_ARGS)

# A long chaos run (tests/faults/chaos.py): three simulators and one web process under random
# faults. SOAK_ARGS: --minutes (30), --fault-rate (faults per minute, 6), --seed (random).
soak: install
	$(BIN)/python -m tests.faults.chaos $(SOAK_ARGS)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check . || true

clean:
	rm -rf $(VENV) var .pytest_cache
