# Two commands for a newcomer: `make run` and `make test`. Both work as the first command typed on
# a machine with only Python >= 3.11 and make: they create .venv, install the project, and (for
# tests) install the system tools the integration tests use.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
# Debian packages the tests and benchmarks need: prometheus (prometheus + promtool), wrk, and
# valgrind (valgrind + callgrind_control: `bench overhead` counts instructions per request);
# postgresql (the tests run throwaway clusters of their own; Debian keeps initdb and pg_ctl in
# /usr/lib/postgresql/<version>/bin, off PATH, and the install is told not to create a main cluster).
SYSTEM_PACKAGES := prometheus wrk valgrind postgresql
SYSTEM_COMMANDS := prometheus promtool wrk valgrind callgrind_control
POSTGRES_INITDB := /usr/lib/postgresql/*/bin/initdb

.PHONY: run test lint-imports system-tools bench clean

run: $(VENV)/.installed
	$(BIN)/trading-engine

test: $(VENV)/.installed-test system-tools
	$(BIN)/lint-imports --no-cache
	$(BIN)/python -m pytest

bench: $(VENV)/.installed-test system-tools
	$(BIN)/python -m pip install --quiet -e '.[test,bench]'
	$(BIN)/python -m bench

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python >= 3.11 is required, found " + sys.version.split()[0])'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# The package is installed editable; its bytecode is written here, as pip does for a wheel, so that
# no process compiles it again where PYTHONDONTWRITEBYTECODE is set.
$(VENV)/.installed: setup.cfg pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	$(BIN)/python -m compileall -q trading_engine
	touch $@

# The example strategy distribution (examples/donchian) is installed as a user's plug-in would be.
$(VENV)/.installed-test: setup.cfg pyproject.toml examples/donchian/pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test]' -e examples/donchian
	$(BIN)/python -m compileall -q trading_engine
	touch $@ $(VENV)/.installed

system-tools:
	@missing=""; for c in $(SYSTEM_COMMANDS); do command -v $$c >/dev/null 2>&1 || missing="$$missing $$c"; done; \
	ls $(POSTGRES_INITDB) >/dev/null 2>&1 || command -v initdb >/dev/null 2>&1 || missing="$$missing initdb"; \
	if [ -n "$$missing" ]; then \
	  echo "installing system packages for:$$missing"; \
	  if [ "$$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi; \
	  $$SUDO mkdir -p /etc/postgresql-common/createcluster.d && \
	  echo "create_main_cluster = false" | $$SUDO tee /etc/postgresql-common/createcluster.d/no-main-cluster.conf >/dev/null && \
	  $$SUDO apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $(SYSTEM_PACKAGES) >/dev/null; \
	fi

clean:
	rm -rf $(VENV) .pytest_cache *.egg-info
