# One check command for people, hooks and CI: `make check`.
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: check lint test bench clean

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $@

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	$(VENV)/bin/actionlint
	$(VENV)/bin/lint-imports --no-cache

test: $(VENV)/.installed
	$(VENV)/bin/pytest $(PYTEST_ARGS)

check: lint test

# Every benchmark in turn; each prints its figures (docs/<component>.md records them).
bench: $(VENV)/.installed
	set -e; for script in benchmarks/*.py; do echo "== $$script"; $(PY) $$script; done

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache
