# One check command for people, hooks and CI: `make check`.
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: check setup lint test bench clean

# System packages (.ci/apt-packages), installed where missing: the first `make check` on a
# fresh Debian/Ubuntu machine sets itself up.
setup:
	.ci/setup

$(VENV)/.installed: pyproject.toml | setup
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $@

lint: setup $(VENV)/.installed
	shellcheck .ci/setup .ci/run .ci/kind-scenario run-local.sh
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	$(VENV)/bin/actionlint
	$(VENV)/bin/lint-imports --no-cache
	$(PY) -m ouro.deploy.kubecheck

test: setup $(VENV)/.installed
	$(VENV)/bin/pytest $(PYTEST_ARGS)

check: lint test

# Every benchmark in turn; each prints its figures (docs/<component>.md records them).
bench: $(VENV)/.installed
	set -e; for script in benchmarks/*.py; do echo "== $$script"; $(PY) $$script; done

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache
