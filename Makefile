# The two commands: `make demo` and `make test`. Both set up .venv from PyPI on a fresh clone.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
PYTEST_ARGS ?=

.PHONY: demo test install clean bench fuzz lock lint

# the exact versions of requirements.lock, then the project itself (editable, no further resolution)
$(STAMP): pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip uv
	$(BIN)/uv pip install -q --python $(BIN)/python -r requirements.lock
	$(BIN)/uv pip install -q --python $(BIN)/python --no-deps -e .
	touch $(STAMP)

# after a change of dependencies in pyproject.toml: pin them again (tests/test_lock.py checks it)
lock: install
	$(BIN)/uv pip compile -q pyproject.toml --extra dev --python-version 3.11 --no-header -o requirements.lock.new
	{ printf '%s\n' '# Pinned versions of every dependency (with dev extras), resolved by uv: `make lock` rewrites it' \
	  '# after a change to pyproject.toml; `make install` installs exactly these.'; cat requirements.lock.new; } > requirements.lock
	rm requirements.lock.new

# ruff on everything; mypy --strict on the modules [tool.mypy] lists (pyproject.toml)
lint: install
	$(BIN)/ruff check .
	$(BIN)/mypy

install: $(STAMP)

demo: install
	$(BIN)/relance demo

test: install
	$(BIN)/python -m pytest -n 2 --dist loadfile -q $(PYTEST_ARGS)

# schemathesis over every operation, real server, SQLite (and PostgreSQL with TEST_DATABASE_URL)
fuzz: install
	$(BIN)/python -m tests.fuzz.run

# the quick version of every benchmark (each under a minute), each ending with one JSON line;
# full sizes: run a script without --quick (benchmarks/README.md)
bench: install
	for script in benchmarks/[a-z]*.py; do echo "== $$script" >&2; $(BIN)/python $$script --quick || exit 1; done

clean:
	rm -rf $(VENV) relance.db demo-ledger fuzz-report
