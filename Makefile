# Two commands for a newcomer: `make run` and `make test`. Both work as the first command typed on
# a machine with only Python >= 3.11 and make: they create .venv, install the project, and (for
# tests) install the system tools the integration tests use.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
# Debian packages the tests and benchmarks need: prometheus (prometheus + promtool), wrk, and
# valgrind (valgrind + callgrind_control: `bench overhead` counts instructions per request).
SYSTEM_PACKAGES := prometheus wrk valgrind
SYSTEM_COMMANDS := prometheus promtool wrk valgrind callgrind_control

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

$(VENV)/.installed: setup.cfg pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

# The example strategy distribution (examples/donchian) is installed as a user's plug-in would be.
$(VENV)/.installed-test: setup.cfg pyproject.toml examples/donchian/pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test]' -e examples/donchian
	touch $@ $(VENV)/.installed

system-tools:
	@missing=""; for c in $(SYSTEM_COMMANDS); do command -v $$c >/dev/null 2>&1 || missing="$$missing $$c"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing system packages for:$$missing"; \
	  if [ "$$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi; \
	  $$SUDO apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $(SYSTEM_PACKAGES) >/dev/null; \
	fi

clean:
	rm -rf $(VENV) .pytest_cache *.egg-info
